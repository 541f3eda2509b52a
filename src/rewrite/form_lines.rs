//! A text body of URL-encoded forms, one per line: gtag.js's batched `POST /g/collect`, whose
//! `text/plain` body carries one hit per line (`en=purchase&ep.x=…`, lines joined by CRLF)
//! while the parameters the hits share ride in the query string.
//!
//! Each line is a form of its own, policed by [`rewrite_form`] with the route's parameter
//! rules; line ends (CRLF or LF) and blank lines are kept as they came. A route reads its text
//! bodies this way only when it says so (`[routes.body_coding] text = "form_lines"`).
//!
//! One reading or none: a line may hold only printable ASCII (and spaces, which a form reads
//! as text). A lone CR, any other control character, or raw non-ASCII text (U+0085, U+2028
//! and U+2029 end lines for Python's `str.splitlines` and JavaScript's multi-line regexes;
//! a form serialiser percent-encodes all of them) is refused as ambiguous, so every line
//! splitter finds the lines piigate policed. A recipient that splits on CRLF only reads an
//! LF-only body as one line whose values hold the later lines: bytes piigate policed, under
//! fewer names, never a pair it did not see.

use super::form::rewrite_form;
use super::lines::rewrite_lines;
use super::{Limits, Outcome, RewriteError};
use crate::error::Ambiguity;
use crate::policy::ApplyCx;
use crate::policy::params::Params;

/// Rewrites every line, appending the result to `out` ([`Outcome::Unchanged`] leaves `out`
/// alone).
///
/// # Errors
/// [`RewriteError::Ambiguous`] ([`Ambiguity::LineBreak`]) for a byte line splitters disagree
/// on; a line's [`RewriteError`] from the form rewriter, its offset moved to the whole body.
pub(crate) fn rewrite_form_lines(
    input: &[u8],
    params: Params<'_>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    // Checked whole before any line is policed: a refusal must not depend on what came first.
    for (i, &b) in input.iter().enumerate() {
        let line_end = b == b'\n' || (b == b'\r' && input.get(i + 1) == Some(&b'\n'));
        if !line_end && !(b' '..=b'~').contains(&b) {
            return Err(RewriteError::Ambiguous(Ambiguity::LineBreak));
        }
    }
    rewrite_lines(
        input,
        input.len(),
        <[u8]>::is_empty,
        |line, _, line_out| rewrite_form(line, params, limits, cx, line_out),
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::OsNonces;
    use crate::policy::action::RedactAction;
    use crate::policy::{Action, FieldPlan, FieldRule, FieldTarget};

    fn plan() -> FieldPlan {
        FieldPlan {
            rules: vec![FieldRule {
                name: "uid".into(),
                target: FieldTarget::Whole(Action::Redact(RedactAction {
                    replacement: "R".into(),
                })),
                class: None,
            }],
            ..FieldPlan::default()
        }
    }

    fn rewrite(input: &[u8]) -> Result<(Outcome, Vec<u8>), RewriteError> {
        let plan = plan();
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        let mut out = b"kept".to_vec();
        let outcome = rewrite_form_lines(
            input,
            Params::only(&plan),
            &Limits { max_depth: 16 },
            &mut cx,
            &mut out,
        )?;
        assert!(out.starts_with(b"kept"), "appends to out");
        Ok((outcome, out.split_off(4)))
    }

    #[test]
    fn each_line_is_a_form_and_line_ends_are_kept() {
        let (outcome, out) =
            rewrite(b"en=a&uid=u1\r\n\r\nen=b\r\nuid=u2&en=c\nen=d&uid=x%20y\r\n").expect("ok");
        assert_eq!(outcome, Outcome::Rewritten);
        assert_eq!(out, b"en=a&uid=R\r\n\r\nen=b\r\nuid=R&en=c\nen=d&uid=R\r\n");
        assert_eq!(
            rewrite(b"en=a\r\nen=b").expect("ok"),
            (Outcome::Unchanged, Vec::new())
        );
    }

    #[test]
    fn bytes_line_splitters_disagree_on_are_refused() {
        for bad in [
            &b"en=a\ruid=u1"[..],
            b"en=a&x=\x0buid=u1",
            b"en=a\x0c\nuid=u1",
            b"en=a&x=\xe2\x80\xa8uid=u1",
            b"en=a&x=\xc2\x85",
            b"en=caf\xc3\xa9",
            b"en=a\r\r\nuid=u1",
            b"en=a\x00",
        ] {
            assert_eq!(
                rewrite(bad),
                Err(RewriteError::Ambiguous(Ambiguity::LineBreak)),
                "{bad:?}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the lines, an accepted body keeps its line structure byte for byte outside
        /// the values, and no line keeps a `uid` value but the rule's.
        #[test]
        fn accepted_bodies_keep_their_lines_and_lose_every_uid(
            lines in proptest::collection::vec(
                ("[a-z_.]{0,6}", "(uid|en|ep\\.x)", "[ -~]{0,12}", "(\r\n|\n)"),
                0..6,
            )
        ) {
            let mut body = Vec::new();
            for (pre, name, value, end) in &lines {
                body.extend_from_slice(format!("{pre}={value}&{name}=v{value}{end}").as_bytes());
            }
            let Ok((outcome, out)) = rewrite(&body) else {
                return Ok(());
            };
            let out = if outcome == Outcome::Unchanged { body.clone() } else { out };
            // (line ends, of which CRLF)
            let ends = |b: &[u8]| {
                (
                    b.iter().filter(|&&c| c == b'\n').count(),
                    b.windows(2).filter(|w| *w == b"\r\n").count(),
                )
            };
            proptest::prop_assert_eq!(ends(&out), ends(&body));
            for line in out.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                for pair in line.split(|&b| b == b'&') {
                    if let Some(v) = pair.strip_prefix(b"uid=") {
                        proptest::prop_assert_eq!(v, b"R");
                    }
                }
            }
        }
    }

    #[test]
    fn a_line_the_form_grammar_refuses_refuses_the_body_at_its_offset() {
        assert_eq!(
            rewrite(b"en=a\r\nen=b&uid=%zz"),
            Err(RewriteError::Malformed {
                offset: 15,
                reason: "invalid percent-escape"
            })
        );
        assert_eq!(
            rewrite(b"en=a\nen=b;uid=u1"),
            Err(RewriteError::Ambiguous(Ambiguity::FieldSeparator))
        );
    }
}
