//! One-pass, byte-faithful JSON rewriting.
//!
//! [`rewrite_json`] walks the document once, left to right, with an explicit stack (never the
//! call stack, so a nesting bomb cannot overflow it). It validates everything (RFC 8259: the
//! grammar, UTF-8, escapes, surrogate pairs) and, at each member or element, advances the
//! route's selector [`Automaton`](crate::policy::Automaton) by the node's label. Three things
//! can happen to a child:
//!
//! - **dead** (no selector can match at or below it): the subtree is validated by
//!   [`scan::skip_value`] — no frames, no key decoding, no automaton lookups, no output;
//! - **selected** by a rule: a `drop` removes the member or element; any other action is applied
//!   to every scalar leaf of the subtree (the outermost selected node decides);
//! - **live**: the walk descends with the child's state.
//!
//! Output is lazy. Until the first change nothing is written, so an unselected payload costs one
//! validating pass and the caller forwards the original bytes ([`Outcome::Unchanged`]). After
//! the first change, untouched input is copied in whole spans between edits.
//!
//! # Semantics decisions
//!
//! - **Leaves.** Strings are decoded before the action sees them; numbers are passed with their
//!   exact spelling, `true`/`false` as the literal. `null` is never passed to an action and stays
//!   (a `drop` still removes a `null` member). A replaced value is always a JSON string.
//! - **`Leaf::field`** is the decoded name of the nearest enclosing member: a member's own key,
//!   for an array element the key holding the (innermost keyed) array, `""` at the top level.
//! - **Precedence.** The lowest [`RuleId`](crate::policy::RuleId) wins among selectors matching
//!   the same node; a selected node's whole subtree belongs to its rule.
//! - **Drop layout.** A dropped member takes one separator with it and as little whitespace as
//!   possible, so pretty-printed documents keep their indentation:
//!   - if a kept member precedes it, the span from the end of that member's value to the end of
//!     the dropped value goes (`{"a":1, "b":2}` → `{"a":1}`);
//!   - otherwise, if a comma follows, the span from the start of the dropped member to the start
//!     of the next one goes (`{ "a":1, "b":2 }` → `{ "b":2 }`);
//!   - otherwise (it is the last one left) only the member goes, and the container's inner
//!     whitespace stays (`{ "a":1 }` → `{  }`).
//!
//!   Array elements follow the same rules.
//! - **Drop on the root** (`$` with `drop`; config refuses it, the engine still defines it):
//!   the document is replaced by an empty container of the same kind (`{}` or `[]`), or by
//!   `null` for a scalar document. Whitespace around the root is kept.
//! - **Duplicate keys** are each matched and handled; nothing is deduplicated.

mod escape;
#[doc(hidden)]
pub mod reference;
mod scan;
#[cfg(test)]
mod tests;

use scan::{KindStack, Scan, malformed, ws};

use super::{Limits, Outcome, RewriteError};
use crate::policy::{ActionKind, Applied, ApplyCx, Leaf, LeafKind, Plan, RuleId, StateId};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Validates `input` and rewrites the values `plan` selects, appending the result to `out`.
///
/// Returns [`Outcome::Unchanged`] when nothing was replaced or dropped: `out` is then untouched
/// and the caller forwards `input` as is. On [`Outcome::Rewritten`] the whole rewritten document
/// has been appended to `out`. On error `out` is restored to its length on entry.
///
/// # Allocation budget
///
/// Independent of the number of values in the payload:
/// - no rules, or nothing live below the root: **zero** allocations up to a nesting depth of
///   256 (deeper dead subtrees spill one word per 64 levels into a vector);
/// - otherwise: one frame stack (grown geometrically to the live nesting depth), one
///   reservation of `out` sized from `input` at the first change (it grows only if replacements
///   outgrow the slack), and four scratch buffers (key, value, field, replacement) that grow to
///   the largest decoded string. Actions add none once `cx`'s buffers have grown
///   ([`Action::apply`](crate::policy::Action::apply)).
///
/// `tests/alloc_budget.rs` checks these bounds with a counting allocator.
///
/// # Errors
/// - [`RewriteError::Malformed`] for anything RFC 8259 refuses (including invalid UTF-8, lone
///   surrogate escapes, a byte-order mark and trailing data), with the byte offset and a fixed
///   reason;
/// - [`RewriteError::TooDeep`] when arrays and objects nest deeper than `limits.max_depth`;
/// - [`RewriteError::Action`] when an action fails (e.g. the RNG).
pub fn rewrite_json(
    input: &[u8],
    plan: &Plan,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    if input.starts_with(BOM) {
        return Err(malformed(0, "byte order mark"));
    }
    let root = ws(input, 0);
    let automaton = &plan.automaton;
    if automaton.is_dead(automaton.start()) {
        let mut kinds = KindStack::new();
        let end = scan::skip_value(input, root, 0, limits.max_depth, &mut kinds)?;
        trailing(input, end)?;
        return Ok(Outcome::Unchanged);
    }
    let base = out.len();
    let mut walker = Walker {
        input,
        plan,
        max_depth: limits.max_depth,
        out,
        cx,
        changed: false,
        copied: 0,
        top: Frame::NONE,
        depth: 0,
        frames: Vec::new(),
        kinds: KindStack::new(),
        bufs: Bufs::default(),
    };
    let result = walker.run(root);
    if result.is_err() {
        walker.out.truncate(base);
    }
    result
}

/// Only whitespace may follow the document.
fn trailing(input: &[u8], end: usize) -> Scan<()> {
    let end = ws(input, end);
    if end == input.len() {
        Ok(())
    } else {
        Err(malformed(end, "unexpected data after the document"))
    }
}

/// How the walk treats a node.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Not selected; children are resolved through the automaton from this state.
    Live(StateId),
    /// Selected by a value-rewriting rule: every scalar leaf below goes to it.
    Selected(RuleId),
}

/// What to do with a child, once its label is known.
enum Child {
    /// Nothing can match: validate and move on.
    Dead,
    /// A `drop` rule selects it.
    Drop,
    /// Descend (or apply, for a scalar) in this mode.
    Enter(Mode),
}

/// Where the walk goes after reading a child's label.
enum Next {
    /// Handle the value at this index in this mode, with this nearest member name.
    Value(usize, Mode, Option<Key>),
    /// The child was dead or dropped and has been skipped; continue after this index.
    Skipped(usize),
}

/// A member name in the input: the bytes between the quotes.
#[derive(Debug, Clone, Copy)]
struct Key {
    start: usize,
    end: usize,
    escaped: bool,
}

/// One open array or object.
#[derive(Debug, Clone, Copy)]
struct Frame {
    object: bool,
    mode: Mode,
    /// Index of the next element (arrays).
    index: u64,
    /// Nearest enclosing member name, for [`Leaf::field`] of elements.
    field: Option<Key>,
    /// Where the current member (its key) or element starts.
    member_start: usize,
    /// End of the previous member's value; the start of a drop span once a member was kept.
    prev_end: usize,
    /// Whether some earlier member or element was kept.
    kept_any: bool,
    /// Whether the current member or element is being dropped.
    dropping: bool,
}

impl Frame {
    /// Placeholder for `Walker::top` at depth 0.
    const NONE: Self = Self {
        object: false,
        mode: Mode::Live(0),
        index: 0,
        field: None,
        member_start: 0,
        prev_end: 0,
        kept_any: false,
        dropping: false,
    };
}

/// Scratch space reused for every selected value of a request.
#[derive(Default)]
struct Bufs {
    key: Vec<u8>,
    text: Vec<u8>,
    field: Vec<u8>,
    repl: Vec<u8>,
}

struct Walker<'i, 'p, 'o, 'c, 'x> {
    input: &'i [u8],
    plan: &'p Plan,
    max_depth: usize,
    out: &'o mut Vec<u8>,
    cx: &'c mut ApplyCx<'x>,
    /// Whether anything was written to `out` yet.
    changed: bool,
    /// Input before this offset has been copied or deliberately skipped.
    copied: usize,
    /// The innermost open container, kept out of `frames` so per-member work touches a field
    /// rather than the end of a vector. Meaningless while `depth == 0`.
    top: Frame,
    /// Number of open containers (`top` plus `frames`).
    depth: usize,
    /// The open containers around `top`, outermost first.
    frames: Vec<Frame>,
    kinds: KindStack,
    bufs: Bufs,
}

impl Walker<'_, '_, '_, '_, '_> {
    fn run(&mut self, root: usize) -> Result<Outcome, RewriteError> {
        let input = self.input;
        let automaton = &self.plan.automaton;
        let start = automaton.start();
        let mut mode = match automaton.accepting(start) {
            Some(rule) if self.plan.rule(rule).action.is_drop() => {
                return self.drop_root(root);
            }
            Some(rule) => Mode::Selected(rule),
            None => Mode::Live(start),
        };
        let mut field: Option<Key> = None;
        let mut i = root;
        'value: loop {
            // `i` is at a value (whitespace skipped) to be handled in `mode`.
            let at = i;
            match input.get(i) {
                Some(&open @ (b'{' | b'[')) => {
                    let object = open == b'{';
                    if self.depth >= self.max_depth {
                        return Err(RewriteError::TooDeep {
                            limit: self.max_depth,
                        });
                    }
                    i = ws(input, i + 1);
                    let close = if object { b'}' } else { b']' };
                    if input.get(i) == Some(&close) {
                        i += 1;
                    } else {
                        self.push(Frame {
                            object,
                            mode,
                            index: 0,
                            field,
                            member_start: i,
                            prev_end: at + 1,
                            kept_any: false,
                            dropping: false,
                        });
                        match self.enter_child(i)? {
                            Next::Value(next, m, f) => {
                                (i, mode, field) = (next, m, f);
                                continue 'value;
                            }
                            Next::Skipped(next) => i = next,
                        }
                    }
                }
                Some(b'"') => {
                    let (end, escaped) = scan::string(input, i)?;
                    if let Mode::Selected(rule) = mode {
                        self.leaf(rule, LeafKind::String, at, end, escaped, field)?;
                    }
                    i = end;
                }
                Some(b'-' | b'0'..=b'9') => {
                    let end = scan::number(input, i)?;
                    if let Mode::Selected(rule) = mode {
                        self.leaf(rule, LeafKind::Number, at, end, false, field)?;
                    }
                    i = end;
                }
                Some(b't' | b'f' | b'n') => {
                    let end = scan::literal(input, i)?;
                    // `null` is never handed to an action.
                    match mode {
                        Mode::Selected(rule) if input[i] != b'n' => {
                            self.leaf(rule, LeafKind::Bool, at, end, false, field)?;
                        }
                        _ => {}
                    }
                    i = end;
                }
                Some(_) => return Err(malformed(i, "expected a value")),
                None => return Err(malformed(i, "unexpected end of input")),
            }
            // After a value: separators and closing brackets until the next value to handle.
            loop {
                let value_end = i;
                if self.depth == 0 {
                    trailing(input, i)?;
                    break 'value;
                }
                let object = self.top.object;
                i = ws(input, i);
                match input.get(i) {
                    Some(b',') => {
                        let next = ws(input, i + 1);
                        self.end_member(value_end, Some(next));
                        self.top.member_start = next;
                        match self.enter_child(next)? {
                            Next::Value(n, m, f) => {
                                (i, mode, field) = (n, m, f);
                                continue 'value;
                            }
                            Next::Skipped(n) => i = n,
                        }
                    }
                    Some(b'}') if object => {
                        self.end_member(value_end, None);
                        self.pop();
                        i += 1;
                    }
                    Some(b']') if !object => {
                        self.end_member(value_end, None);
                        self.pop();
                        i += 1;
                    }
                    Some(_) if object => return Err(malformed(i, "expected `,` or `}`")),
                    Some(_) => return Err(malformed(i, "expected `,` or `]`")),
                    None => return Err(malformed(i, "unexpected end of input")),
                }
            }
        }
        Ok(self.finish())
    }

    /// Reads the label of the top frame's next child at `at` (a member name and colon, or the
    /// next element index) and resolves it. Dead and dropped children are skipped here.
    #[inline(always)]
    fn enter_child(&mut self, at: usize) -> Scan<Next> {
        let input = self.input;
        let automaton = &self.plan.automaton;
        let depth = self.depth;
        let frame = &mut self.top;
        let (value_at, field, state) = if frame.object {
            if input.get(at) != Some(&b'"') {
                return Err(malformed(at, "expected a member name"));
            }
            let (end, escaped) = scan::string(input, at)?;
            let key = Key {
                start: at + 1,
                end: end - 1,
                escaped,
            };
            let value_at = scan::colon(input, end)?;
            let state = match frame.mode {
                Mode::Selected(_) => None,
                Mode::Live(s) if !automaton.name_sensitive(s) => Some(automaton.on_other_name(s)),
                Mode::Live(s) if escaped => {
                    self.bufs.key.clear();
                    escape::decode_into(&input[key.start..key.end], &mut self.bufs.key);
                    Some(automaton.on_name(s, &self.bufs.key))
                }
                Mode::Live(s) => Some(automaton.on_name(s, &input[key.start..key.end])),
            };
            (value_at, Some(key), state)
        } else {
            let index = frame.index;
            frame.index += 1;
            let state = match frame.mode {
                Mode::Selected(_) => None,
                Mode::Live(s) if automaton.index_sensitive(s) => Some(automaton.on_index(s, index)),
                Mode::Live(s) => Some(automaton.on_other_index(s)),
            };
            (at, frame.field, state)
        };
        let child = match (frame.mode, state) {
            (Mode::Selected(rule), _) => Child::Enter(Mode::Selected(rule)),
            (Mode::Live(_), Some(t)) if automaton.is_dead(t) => Child::Dead,
            (Mode::Live(_), Some(t)) => match automaton.accepting(t) {
                Some(rule) if self.plan.rule(rule).action.is_drop() => Child::Drop,
                Some(rule) => Child::Enter(Mode::Selected(rule)),
                None => Child::Enter(Mode::Live(t)),
            },
            (Mode::Live(_), None) => Child::Dead,
        };
        match child {
            Child::Enter(mode) => Ok(Next::Value(value_at, mode, field)),
            Child::Dead => {
                let end =
                    scan::skip_value(input, value_at, depth, self.max_depth, &mut self.kinds)?;
                Ok(Next::Skipped(end))
            }
            Child::Drop => {
                frame.dropping = true;
                let end =
                    scan::skip_value(input, value_at, depth, self.max_depth, &mut self.kinds)?;
                Ok(Next::Skipped(end))
            }
        }
    }

    /// Closes the top frame's current member or element, whose value ended at `value_end`.
    /// `next` is where the following member starts when a comma follows.
    fn end_member(&mut self, value_end: usize, next: Option<usize>) {
        if self.depth == 0 {
            return;
        }
        let frame = &mut self.top;
        if !frame.dropping {
            frame.kept_any = true;
            frame.prev_end = value_end;
            return;
        }
        frame.dropping = false;
        let (from, to) = if frame.kept_any {
            let from = frame.prev_end;
            frame.prev_end = value_end;
            (from, value_end)
        } else {
            (frame.member_start, next.unwrap_or(value_end))
        };
        self.splice(from, to, b"");
    }

    /// Applies `rule` to the scalar at `start..end` and records the result.
    #[allow(clippy::too_many_arguments)]
    fn leaf(
        &mut self,
        rule: RuleId,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
    ) -> Result<(), RewriteError> {
        let input = self.input;
        let Bufs {
            text: text_buf,
            field: field_buf,
            repl,
            ..
        } = &mut self.bufs;
        // The value's text span: a string's body, or a number's or literal's spelling.
        let (ts, te) = match kind {
            LeafKind::String => (start + 1, end - 1),
            LeafKind::Number | LeafKind::Bool => (start, end),
        };
        let (text, field) = match field {
            // A member's own key sits just before its value (`"key":` plus whitespace): one
            // UTF-8 check covers both, the common case for selected members.
            Some(k) if !escaped && !k.escaped && k.end <= ts && ts - k.end <= 8 => {
                let both = std::str::from_utf8(&input[k.start..te])
                    .map_err(|_| malformed(k.start, "invalid UTF-8"))?;
                (
                    both.get(ts - k.start..).unwrap_or_default(),
                    both.get(..k.end - k.start).unwrap_or_default(),
                )
            }
            _ => {
                let text = decoded(&input[ts..te], escaped, text_buf)
                    .ok_or_else(|| malformed(start, "invalid UTF-8"))?;
                let field = match field {
                    None => "",
                    Some(k) => decoded(&input[k.start..k.end], k.escaped, field_buf)
                        .ok_or_else(|| malformed(k.start, "invalid UTF-8"))?,
                };
                (text, field)
            }
        };
        repl.clear();
        let leaf = Leaf { text, kind, field };
        let action = &self.plan.rule(rule).action;
        match action.apply(&leaf, self.cx, repl)? {
            Applied::Kept => {}
            Applied::Replaced => {
                let repl = std::mem::take(&mut self.bufs.repl);
                self.flush_to(start);
                // Actions write UTF-8 text (the `Action::apply` contract): a token, an envelope,
                // a mask of the decoded text, the configured replacement, or verified plaintext.
                // Tokens and envelopes are base64url by construction and need no escaping.
                if matches!(action.kind(), ActionKind::Tokenize | ActionKind::Encrypt) {
                    self.out.push(b'"');
                    self.out.extend_from_slice(&repl);
                    self.out.push(b'"');
                } else {
                    escape::encode_string(&repl, self.out);
                }
                self.copied = end;
                self.bufs.repl = repl;
            }
            Applied::Dropped if self.depth > 0 => self.top.dropping = true,
            Applied::Dropped => self.splice(start, end, b"null"),
        }
        Ok(())
    }

    /// `drop` on `$`: validate, then replace the root by an empty value of its kind.
    fn drop_root(&mut self, root: usize) -> Result<Outcome, RewriteError> {
        let end = scan::skip_value(self.input, root, 0, self.max_depth, &mut self.kinds)?;
        trailing(self.input, end)?;
        let empty: &[u8] = match self.input.get(root) {
            Some(b'{') => b"{}",
            Some(b'[') => b"[]",
            _ => b"null",
        };
        self.splice(root, end, empty);
        Ok(self.finish())
    }

    /// Opens a container: `frame` becomes the top.
    #[inline(always)]
    fn push(&mut self, frame: Frame) {
        if self.depth > 0 {
            self.frames.push(self.top);
        }
        self.top = frame;
        self.depth += 1;
    }

    /// Closes the top container.
    #[inline(always)]
    fn pop(&mut self) {
        self.depth -= 1;
        if self.depth > 0 {
            self.top = self.frames.pop().unwrap_or(Frame::NONE);
        }
    }

    /// Copies pending input up to `upto`, starting the output on the first change.
    #[inline]
    fn flush_to(&mut self, upto: usize) {
        if !self.changed {
            self.changed = true;
            // One reservation: the input plus slack for replacements longer than the originals
            // (tokens and envelopes usually are).
            let input = self.input.len();
            self.out.reserve(input + input / 4 + 256);
        }
        // Edits arrive in input order, so `upto >= copied`; `get` keeps a logic slip from
        // becoming a panic (the differential tests would show the wrong bytes).
        if let Some(span) = self.input.get(self.copied..upto) {
            self.out.extend_from_slice(span);
        }
        self.copied = upto;
    }

    /// Replaces input `from..to` with `with` (raw bytes, already JSON).
    fn splice(&mut self, from: usize, to: usize, with: &[u8]) {
        self.flush_to(from);
        self.out.extend_from_slice(with);
        self.copied = to;
    }

    fn finish(&mut self) -> Outcome {
        if self.changed {
            self.out
                .extend_from_slice(self.input.get(self.copied..).unwrap_or_default());
            Outcome::Rewritten
        } else {
            Outcome::Unchanged
        }
    }
}

/// The decoded text of a string body: borrowed when it has no escapes, else decoded into `buf`.
fn decoded<'a>(raw: &'a [u8], escaped: bool, buf: &'a mut Vec<u8>) -> Option<&'a str> {
    if !escaped {
        return std::str::from_utf8(raw).ok();
    }
    buf.clear();
    escape::decode_into(raw, buf);
    std::str::from_utf8(buf).ok()
}
