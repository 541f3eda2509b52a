//! Bodies of one document per line: NDJSON, and gtag.js's batches of one form per line. The
//! line loop both formats share.
//!
//! Each line that is not blank is rewritten on its own; line ends (LF or CRLF) and blank
//! lines are kept as they came, and nothing is copied before the first line that changes.

use super::{Outcome, RewriteError};

/// Rewrites every line `blank` does not pass over with `line(text, offset, line_out)`, which
/// appends the line's rewrite to `line_out` (cleared before each line), and appends the
/// whole body to `out`. `reserve` is the room taken in `out` at the first change.
///
/// Returns [`Outcome::Unchanged`] (and leaves `out` alone) when no line changed.
///
/// # Errors
/// The first failing line's [`RewriteError`], a [`RewriteError::Malformed`] offset moved
/// from the line to the whole body; `out` is left as it was.
pub(super) fn rewrite_lines(
    input: &[u8],
    reserve: usize,
    blank: impl Fn(&[u8]) -> bool,
    mut line: impl FnMut(&[u8], usize, &mut Vec<u8>) -> Result<Outcome, RewriteError>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    super::appending(out, |out| {
        let mut copied = 0;
        let mut changed = false;
        let mut line_buf = Vec::new();
        let mut start = 0;
        while start < input.len() {
            let nl = memchr::memchr(b'\n', &input[start..]).map_or(input.len(), |i| start + i);
            let end = if nl > start && input[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let text = &input[start..end];
            if !blank(text) {
                line_buf.clear();
                let outcome = line(text, start, &mut line_buf).map_err(|e| match e {
                    RewriteError::Malformed { offset, reason } => RewriteError::Malformed {
                        offset: start + offset,
                        reason,
                    },
                    other => other,
                })?;
                if outcome == Outcome::Rewritten {
                    if !changed {
                        out.reserve(reserve);
                        changed = true;
                    }
                    out.extend_from_slice(&input[copied..start]);
                    out.extend_from_slice(&line_buf);
                    copied = end;
                }
            }
            start = nl + 1;
        }
        if !changed {
            return Ok(Outcome::Unchanged);
        }
        out.extend_from_slice(&input[copied..]);
        Ok(Outcome::Rewritten)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upper-cases lines holding `x`, refuses lines holding `!` at the `!`.
    fn upper(input: &[u8], out: &mut Vec<u8>) -> Result<Outcome, RewriteError> {
        rewrite_lines(
            input,
            input.len(),
            |l| l.iter().all(|&b| b == b' '),
            |line, _, line_out| {
                if let Some(at) = line.iter().position(|&b| b == b'!') {
                    return Err(RewriteError::Malformed {
                        offset: at,
                        reason: "bang",
                    });
                }
                if !line.contains(&b'x') {
                    return Ok(Outcome::Unchanged);
                }
                line_out.extend(line.iter().map(u8::to_ascii_uppercase));
                Ok(Outcome::Rewritten)
            },
            out,
        )
    }

    #[test]
    fn changed_lines_are_spliced_between_the_line_ends_and_blank_lines_as_they_came() {
        let mut out = b"kept".to_vec();
        let got = upper(b"ab\r\n  \r\nxy\n\nax", &mut out);
        assert_eq!(got, Ok(Outcome::Rewritten));
        assert_eq!(out, b"keptab\r\n  \r\nXY\n\nAX");
        let mut out = b"kept".to_vec();
        assert_eq!(upper(b"ab\r\ncd\n", &mut out), Ok(Outcome::Unchanged));
        assert_eq!(out, b"kept");
    }

    #[test]
    fn a_refused_line_refuses_the_body_at_its_offset_and_leaves_out_alone() {
        let mut out = b"kept".to_vec();
        let got = upper(b"xa\r\nbc\nd!", &mut out);
        assert_eq!(
            got,
            Err(RewriteError::Malformed {
                offset: 8,
                reason: "bang"
            })
        );
        assert_eq!(out, b"kept");
    }
}
