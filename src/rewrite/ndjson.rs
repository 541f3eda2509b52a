//! Newline-delimited JSON (NDJSON / JSON Lines): one JSON document per line.
//!
//! Each non-blank line is validated and rewritten by the JSON engine with the route's plan;
//! line endings (`\n` or `\r\n`) and blank lines are kept as they came.

use super::json::rewrite_json;
use super::{Limits, Outcome, RewriteError};
use crate::policy::{ApplyCx, Plan};

/// Rewrites every line, appending the result to `out` ([`Outcome::Unchanged`] leaves `out`
/// alone).
///
/// # Errors
/// The first line's [`RewriteError`], with its offset moved to the whole payload.
pub(crate) fn rewrite_ndjson(
    input: &[u8],
    plan: &Plan,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    let base = out.len();
    let mut copied = 0;
    let mut changed = false;
    let mut line_buf = Vec::new();
    let mut start = 0;
    while start < input.len() {
        let nl = memchr::memchr(b'\n', &input[start..]).map_or(input.len(), |i| start + i);
        let mut end = nl;
        if end > start && input[end - 1] == b'\r' {
            end -= 1;
        }
        let line = &input[start..end];
        if !line.iter().all(|b| matches!(b, b' ' | b'\t')) {
            line_buf.clear();
            cx.offset_base = start;
            let result = rewrite_json(line, plan, limits, cx, &mut line_buf).map_err(|e| match e {
                RewriteError::Malformed { offset, reason } => RewriteError::Malformed {
                    offset: start + offset,
                    reason,
                },
                other => other,
            });
            match result {
                Err(e) => {
                    out.truncate(base);
                    return Err(e);
                }
                Ok(Outcome::Unchanged) => {}
                Ok(Outcome::Rewritten) => {
                    if !changed {
                        out.reserve(input.len() + input.len() / 4);
                        changed = true;
                    }
                    out.extend_from_slice(&input[copied..start]);
                    out.extend_from_slice(&line_buf);
                    copied = end;
                }
            }
        }
        start = nl + 1;
    }
    if !changed {
        return Ok(Outcome::Unchanged);
    }
    out.extend_from_slice(&input[copied..]);
    Ok(Outcome::Rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::OsNonces;
    use crate::policy::action::RedactAction;
    use crate::policy::{Action, Automaton, Rule, selector};

    #[test]
    fn each_line_is_rewritten_and_endings_are_kept() {
        let path = selector::parse("$.email").expect("selector");
        let plan = Plan::new(
            Automaton::build(&[(path, 0)]).expect("automaton"),
            vec![Rule::new(Action::Redact(RedactAction {
                replacement: "R".into(),
            }))],
        );
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        let limits = Limits { max_depth: 16 };
        let input = b"{\"email\":\"a@b\"}\r\n\n{\"n\":1}\n{\"email\":\"c@d\", \"k\":2}";
        let mut out = Vec::new();
        assert_eq!(
            rewrite_ndjson(input, &plan, &limits, &mut cx, &mut out),
            Ok(Outcome::Rewritten)
        );
        assert_eq!(
            out,
            b"{\"email\":\"R\"}\r\n\n{\"n\":1}\n{\"email\":\"R\", \"k\":2}"
        );
        let mut out = Vec::new();
        let bad = rewrite_ndjson(b"{\"n\":1}\n{\"email\":", &plan, &limits, &mut cx, &mut out);
        assert!(matches!(bad, Err(RewriteError::Malformed { offset, .. }) if offset >= 8));
        assert!(out.is_empty());
    }
}
