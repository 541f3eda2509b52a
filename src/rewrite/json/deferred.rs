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

use std::ops::Range;

use super::{Key, Outcome, RewriteError, Seg, Walker, decoded, escape, malformed, text_span};
use crate::detect::Class;
use crate::policy::{Action, Applied, DetectPolicy, LeafKind};

/// What the one pass leaves for its fill-in.
#[derive(Default)]
pub(super) struct Later<'p> {
    /// The texts, in input order.
    pub(super) texts: Vec<Deferred<'p>>,
    /// The field paths of unselected leaves (detection), each a range of this.
    segs: Vec<Seg>,
    /// Member names to look up in the selected values once they are all known (detection).
    pub(super) names: Vec<Key>,
}

impl Later<'_> {
    /// Keeps the path of a leaf whose frames were entered as `segs` and that is itself `own`.
    pub(super) fn path(&mut self, segs: &[Seg], own: Option<Seg>) -> Range<usize> {
        let start = self.segs.len();
        self.segs.extend_from_slice(segs);
        self.segs.extend(own);
        start..self.segs.len()
    }
}

/// How a left text is searched.
pub(super) enum Search<'p> {
    /// A leaf a rule's echoing `scrub` (this action, of this class) selects.
    Rule(&'p Action, Option<Class>),
    /// An unselected leaf detection found nothing in, with its field path.
    Echo(&'p DetectPolicy, Range<usize>),
}

/// A text the one pass leaves for its fill-in: the scalar at `start..end` of the input,
/// `at` in the output.
pub(super) struct Deferred<'p> {
    search: Search<'p>,
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
        search: Search<'p>,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
        out_len: usize,
        copied: usize,
    ) -> Self {
        Self {
            search,
            kind,
            start,
            end,
            escaped,
            field,
            at: out_len + start.saturating_sub(copied),
        }
    }
}

impl<'p> Walker<'_, 'p, '_, '_, '_> {
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
        // A member whose name echoes a selected value goes, which a fill-in of texts cannot
        // do: the document is redone in two passes.
        if let Some(detect) = self.detect
            && self.names_echo(detect, &later.names)?
        {
            self.cx.redo_in_two_passes();
            return Ok(outcome);
        }
        let mut filled: Option<Vec<u8>> = None;
        // Where the output up to which `filled` holds the document.
        let mut cursor = 0;
        for d in &later.texts {
            let applied = match d.search {
                Search::Rule(action, class) => {
                    self.apply_read(action, class, d.kind, d.start, d.end, d.escaped, d.field)?
                }
                Search::Echo(detect, ref path) => {
                    self.echoes(detect, d, &later.segs[path.clone()])?
                }
            };
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
                return Err(malformed(d.start, "text to scrub not where it was noted"));
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

impl<'p> Walker<'_, 'p, '_, '_, '_> {
    /// The search of an unselected leaf the one pass left (`Walker::echoed`, with the leaf's
    /// path as it was noted): its path counted under each echoed value's class, then each
    /// span counted `clear` (`observe`) or the leaf scrubbed of them (`enforce`, the
    /// replacement in `bufs.repl`).
    fn echoes(
        &mut self,
        detect: &'p DetectPolicy,
        d: &Deferred<'p>,
        path: &[Seg],
    ) -> Result<Applied, RewriteError> {
        let (ts, te) = text_span(d.kind, d.start, d.end);
        let input = self.input;
        let text = decoded(&input[ts..te], d.escaped, &mut self.bufs.text)
            .ok_or_else(|| malformed(d.start, "invalid UTF-8"))?;
        let Some(counts) = detect.echoes_in(text, self.cx) else {
            return Ok(Applied::Kept);
        };
        for class in counts.classes() {
            self.record_segs(detect, path, None, class)?;
        }
        match detect.echo_action() {
            None => {
                counts.spans().for_each(|c| self.cx.observe_value(c));
                Ok(Applied::Kept)
            }
            Some(action) => {
                self.apply_read(action, None, d.kind, d.start, d.end, d.escaped, d.field)
            }
        }
    }
}
