//! One-pass, byte-faithful JSON rewriting.
//!
//! STUB: the engine work replaces this file.

use super::{Limits, Outcome, RewriteError};
use crate::policy::{ApplyCx, Plan};

/// Validates `input` and rewrites the values `plan` selects into `out`.
///
/// # Errors
/// [`RewriteError`] when the input is not valid JSON, too deep, or an action fails.
pub fn rewrite_json(
    input: &[u8],
    plan: &Plan,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    let _ = (input, plan, limits, cx, out);
    Err(RewriteError::Malformed {
        offset: 0,
        reason: "not implemented",
    })
}
