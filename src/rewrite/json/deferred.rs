//! The fill-in of the one pass over a document whose text a `scrub` searches for the values
//! the other rules select ([`ApplyCx::begin_one_pass`](crate::policy::ApplyCx::begin_one_pass)).
//!
//! Those values must all be known before any text is searched (a name may come after the text
//! that repeats it), so the walk leaves each echoing text as it came, notes where its bytes
//! land in the output, and polices everything else as usual while the values are collected.
//! Then each noted text is scrubbed with every value known, and the output is copied once
//! with the scrubbed texts in their places. The output's bytes before a noted text are only
//! ever copied from the input or written by earlier edits, so a noted text lands at the output
//! length when it was met plus the input not yet copied before it.

use super::{Key, Outcome, RewriteError, Walker, escape};
use crate::detect::Class;
use crate::policy::{Action, Applied, LeafKind};

/// A text the one pass leaves for its fill-in: the scalar at `start..end` of the input,
/// `at` in the output.
pub(super) struct Deferred<'p> {
    action: &'p Action,
    class: Option<Class>,
    kind: LeafKind,
    start: usize,
    end: usize,
    escaped: bool,
    field: Option<Key>,
    at: usize,
}

impl<'p> Deferred<'p> {
    /// The scalar at `start..end` met while the output was `out_len` long with the input up
    /// to `copied` in it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        action: &'p Action,
        class: Option<Class>,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
        out_len: usize,
        copied: usize,
    ) -> Self {
        Self {
            action,
            class,
            kind,
            start,
            end,
            escaped,
            field,
            at: out_len + start.saturating_sub(copied),
        }
    }
}

impl Walker<'_, '_, '_, '_, '_> {
    /// Completes the one pass (the values collected become the set searched for) and scrubs
    /// each text it left, into the document `outcome` says is the output: the rewritten one
    /// at `base` of `out`, or the input when nothing else changed.
    pub(super) fn fill_deferred(
        &mut self,
        outcome: Outcome,
        base: usize,
    ) -> Result<Outcome, RewriteError> {
        let Some(later) = self.deferred.take() else {
            return Ok(outcome);
        };
        self.cx.complete_one_pass();
        let mut filled: Option<Vec<u8>> = None;
        // Where the output up to which `filled` holds the document.
        let mut cursor = 0;
        for d in &later {
            let applied = self.apply_read(
                d.action, d.class, d.kind, d.start, d.end, d.escaped, d.field,
            )?;
            // A scrub keeps or replaces; a span it removes is a replacement (`repl` empty).
            if applied == Applied::Kept {
                continue;
            }
            let doc: &[u8] = match outcome {
                Outcome::Unchanged => self.input,
                Outcome::Rewritten => self.out.get(base..).unwrap_or_default(),
            };
            let at = match outcome {
                Outcome::Unchanged => d.start,
                Outcome::Rewritten => d.at - base,
            };
            // The bytes noted must be the text's own, or the fill-in would corrupt the
            // document: a slip here refuses it rather than forward it.
            if doc.get(at..at + (d.end - d.start)) != self.input.get(d.start..d.end) {
                return Err(super::malformed(
                    d.start,
                    "text to scrub not where it was noted",
                ));
            }
            let buf = filled.get_or_insert_with(|| {
                let n = doc.len();
                Vec::with_capacity(n + n / 4 + 256)
            });
            // Texts were noted in input order, which is output order.
            buf.extend_from_slice(doc.get(cursor..at).unwrap_or_default());
            escape::encode_string(&self.bufs.repl, buf);
            cursor = at + (d.end - d.start);
        }
        let Some(mut buf) = filled else {
            return Ok(outcome);
        };
        match outcome {
            Outcome::Unchanged => {
                buf.extend_from_slice(self.input.get(cursor..).unwrap_or_default());
                self.out.extend_from_slice(&buf);
            }
            Outcome::Rewritten => {
                buf.extend_from_slice(self.out.get(base + cursor..).unwrap_or_default());
                self.out.truncate(base);
                self.out.extend_from_slice(&buf);
            }
        }
        Ok(Outcome::Rewritten)
    }
}
