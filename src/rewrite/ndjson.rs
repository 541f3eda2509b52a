//! Newline-delimited JSON (NDJSON / JSON Lines): one JSON document per line.
//!
//! Each non-blank line is validated and rewritten by the JSON engine with the route's plan;
//! line endings (`\n` or `\r\n`) and blank lines are kept as they came.

use super::json::rewrite_json;
use super::lines::rewrite_lines;
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
    rewrite_lines(
        input,
        input.len() + input.len() / 4,
        |line| line.iter().all(|b| matches!(b, b' ' | b'\t')),
        |line, start, line_out| {
            cx.offset_base = start;
            rewrite_json(line, plan, limits, cx, line_out)
        },
        out,
    )
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
