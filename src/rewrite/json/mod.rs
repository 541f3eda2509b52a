//! One-pass, byte-faithful JSON rewriting.
//!
//! [`rewrite_json`] walks the document once, left to right, with an explicit stack (never the
//! call stack, so a nesting bomb cannot overflow it). It validates everything (RFC 8259: the
//! grammar, UTF-8, escapes, surrogate pairs) and, at each member or element, advances the
//! route's selector [`Automaton`](crate::policy::Automaton) by the node's label. Three things
//! can happen to a child:
//!
//! - **dead** (no selector can match at or below it): the subtree is validated by the skipper
//!   (`scan::skip_value`) — no frames, no key decoding, no automaton lookups, no output;
//! - **selected** by a rule: a `drop` removes the member or element; any other action is applied
//!   to every scalar leaf of the subtree (the outermost selected node decides);
//! - **live**: the walk descends with the child's state. Inside a `..name` search (a state that
//!   maps every other label to itself) a container is first validated by the skipper while it
//!   watches member names; only if a watched name appears is it walked from its start, which is
//!   exact because nothing is written while skipping.
//!
//! Output is lazy. Until the first change nothing is written, so an unselected payload costs one
//! validating pass and the caller forwards the original bytes ([`Outcome::Unchanged`]). After
//! the first change, untouched input is copied in whole spans between edits.
//!
//! # Unselected values: detection and allow-list mode
//!
//! A plan whose [`Unselected`](crate::policy::Unselected) policy is active changes what
//! happens to **dead** children, and only that, so plans without it walk exactly as above:
//!
//! - detection: a dead child is walked in *scan* mode — every string and number leaf is
//!   classified with the member name's hint (cached per request), and what is found is counted
//!   under its normalised path (`$.batch[*].properties.contact_email`) and, in `enforce` mode,
//!   treated with the class's action. Scalars at live states are classified too. The `..name`
//!   skipping shortcut is off, since every leaf must be seen;
//! - allow-list mode: a dead child is dropped (as if a `drop` rule selected it), and so is a
//!   scalar at a live state: only selected values and the containers on the way to them stay.
//!   Containers on the way are kept even if nothing inside them survives. An unselected
//!   top-level value becomes an empty container of its kind, or `null` for a scalar. With
//!   detection as well, dropped subtrees are walked in *dropped* mode — classified and counted
//!   as `dropped`, never written.
//!
//! Every action applied and every member dropped is also counted per (category, treatment) in
//! [`ApplyCx::disclosed`] for the disclosure ledger.
//!
//! # Semantics decisions
//!
//! - **Leaves.** Strings are decoded before the action sees them; numbers are passed with their
//!   exact spelling, `true`/`false` as the literal. `null` is never passed to an action and stays
//!   (a `drop` still removes a `null` member). A replaced value is always a JSON string.
//! - **`Leaf::field`** is the decoded name of the nearest enclosing member: a member's own key,
//!   for an array element the key holding the (innermost keyed) array, `""` at the top level.
//! - **Precedence.** The lowest rule id ([`crate::policy::RuleId`]) wins among selectors matching
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

mod deferred;
mod escape;
mod names;
#[doc(hidden)]
pub mod reference;
mod scan;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod unselected_tests;

use scan::{KindStack, Scan, malformed, ws};

use super::wrap::rewrite_wrapped;
use super::{Limits, Outcome, RewriteError};
use crate::detect::{Class, KeyHint};
use crate::error::WrapFault;
use crate::policy::automaton::NameFilter;
use crate::policy::names::{HintCache, plain_field_name, push_member};
use crate::policy::{
    Action, ActionKind, Applied, ApplyCx, Automaton, DetectPolicy, EchoCounts, Leaf, LeafKind,
    Plan, Rule, RuleId, StateId,
};

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
/// - nothing selected and nothing live below the root's children (no rules, or rules the
///   payload does not reach): **zero** allocations up to a nesting depth of 256 (deeper dead
///   subtrees spill one word per 64 levels into a vector);
/// - otherwise: one frame stack (grown geometrically to the live nesting depth), one
///   reservation of `out` sized from `input` at the first change (it grows only if replacements
///   outgrow the slack), and four scratch buffers (key, value, field, replacement) that grow to
///   the largest decoded string. Actions add none once `cx`'s buffers have grown
///   ([`Action::apply`](crate::policy::Action::apply));
/// - with detection: additionally a path segment stack and path buffer, the per-request
///   [`HintCache`] (once per request), and one allocation per *distinct* field path detection
///   finds ([`crate::policy::FieldTally`], capped per request) — never per leaf.
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
    // The one pass of an echoing route: this document's echoing texts are filled in after it.
    let defer = cx.take_deferral();
    if input.starts_with(BOM) {
        return Err(malformed(0, "byte order mark"));
    }
    let root = ws(input, 0);
    let automaton = &plan.automaton;
    let unselected = &plan.unselected;
    if automaton.is_dead(automaton.start()) && !unselected.active() {
        let mut kinds = KindStack::new();
        let end = scan::skip_value(input, root, 0, limits.max_depth, &mut kinds)?;
        trailing(input, end)?;
        return Ok(Outcome::Unchanged);
    }
    // Every rule the automaton can name must exist, so the walk can index rules without a
    // check per value. A plan built otherwise is a bug in its builder: fail closed.
    if automaton
        .max_rule()
        .is_some_and(|r| usize::from(r) >= plan.ids())
    {
        return Err(malformed(0, "policy names a rule it does not have"));
    }
    let base = out.len();
    // The first pass of a scrubbing route reads only what rules select: dead subtrees are
    // skipped as without detection.
    let detect = unselected.detect.as_deref().filter(|_| !cx.collecting());
    if detect.is_some_and(DetectPolicy::echoes_in_leaves) {
        cx.hints.get_or_insert_with(HintCache::new).begin_walk();
    }
    let walker_dead = match (detect.is_some(), unselected.drop) {
        (false, false) => Dead::Skip,
        (true, false) => Dead::Scan,
        (false, true) => Dead::Drop,
        (true, true) => Dead::DropScan,
    };
    // The replacement buffer is the request's (a worker keeps it between requests, wiped).
    let repl = cx.lend_repl();
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
        bufs: Bufs {
            repl,
            ..Bufs::default()
        },
        detect,
        dead: walker_dead,
        segs: Vec::new(),
        deferred: defer.then(deferred::Later::default),
        spelled: Spelled::NONE,
    };
    let result = walker.run(root).and_then(|o| walker.fill_deferred(o, base));
    if result.is_err() {
        walker.out.truncate(base);
    }
    walker.cx.return_repl(std::mem::take(&mut walker.bufs.repl));
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
    /// Selected by a selector chain: the value is a document of its own (a string), decoded
    /// and policed by the plan's wrap with this id.
    Wrapped(RuleId),
    /// Unreachable by any selector, on a route with detection: every leaf is classified.
    Scan,
    /// Inside a subtree allow-list mode drops, on a route with detection: leaves are
    /// classified and counted as dropped; nothing is written.
    Dropped,
}

/// What happens to a dead child (one no selector can reach), decided once per plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dead {
    /// Validated and left alone (no detection, no allow-list): the fast path.
    Skip,
    /// Walked in [`Mode::Scan`].
    Scan,
    /// Removed without a look (allow-list mode).
    Drop,
    /// Removed, after a walk in [`Mode::Dropped`] (allow-list mode with detection).
    DropScan,
}

/// How a frame was entered from its parent, for field paths (detection only).
#[derive(Debug, Clone, Copy)]
enum Seg {
    /// The document itself.
    Root,
    /// An array element (`[*]`).
    Index,
    /// An object member.
    Key(Key),
}

/// What to do with a child, once its label is known.
enum Child<'p> {
    /// Nothing can match: validate and move on (or scan, or drop: see [`Dead`]).
    Dead,
    /// This `drop` rule selects it.
    Drop(&'p Rule),
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
    /// A decoded path segment (detection).
    seg: Vec<u8>,
    /// The field path being reported (detection).
    path: String,
}

/// The JSON string of the fixed replacement a walk last wrote (quoted and escaped), with
/// where its text lives: a batch redacts the same leaves in every event (four an event for
/// an address), and copying the spelling costs a fraction of encoding it again. A rule's
/// action, and so its replacement text, is one object for the whole walk, so its address
/// and length name it (the memo of deterministic actions keys them the same way).
struct Spelled {
    /// Address and length of the replacement text spelled; `(0, 0)` for none (a `&str`'s
    /// address is never 0).
    text: (usize, usize),
    len: u8,
    /// Room for a replacement of up to 46 bytes without escapes; a longer spelling is
    /// encoded each time.
    bytes: [u8; 48],
}

impl Spelled {
    const NONE: Self = Self {
        text: (0, 0),
        len: 0,
        bytes: [0; 48],
    };
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
    /// The plan's detection policy, if any.
    detect: Option<&'p DetectPolicy>,
    /// What happens to dead children.
    dead: Dead,
    /// How each open frame was entered, outermost first (only with detection).
    segs: Vec<Seg>,
    /// The one pass of an echoing route: the texts to search once every selected value is
    /// known (`deferred`).
    deferred: Option<deferred::Later<'p>>,
    /// The last fixed replacement written, as JSON.
    spelled: Spelled,
}

impl<'p> Walker<'_, 'p, '_, '_, '_> {
    fn run(&mut self, root: usize) -> Result<Outcome, RewriteError> {
        let input = self.input;
        let plan = self.plan;
        let automaton = &plan.automaton;
        let start = automaton.start();
        let mut mode = match automaton.accepting(start) {
            Some(rule) if plan.wrap(rule).is_some() => Mode::Wrapped(rule),
            Some(rule) if plan.rule(rule).action.is_drop() => {
                return self.drop_root(root, Some(plan.rule(rule)));
            }
            Some(rule) => Mode::Selected(rule),
            None => Mode::Live(start),
        };
        // Allow-list mode keeps only what selectors reach: a document no selector can enter,
        // or a top-level scalar nothing selected, goes entirely.
        let root_unselected = match mode {
            Mode::Live(s) => {
                automaton.is_dead(s)
                    || (self.dead != Dead::Skip
                        && self.dead != Dead::Scan
                        && !matches!(input.get(root), Some(b'{' | b'[')))
            }
            _ => false,
        };
        let mut drop_root_at_end = false;
        if root_unselected {
            match self.dead {
                Dead::Skip => {}
                Dead::Scan => mode = Mode::Scan,
                Dead::Drop => return self.drop_root(root, None),
                Dead::DropScan => {
                    mode = Mode::Dropped;
                    drop_root_at_end = true;
                }
            }
        }
        let mut field: Option<Key> = None;
        let mut i = root;
        if let Mode::Live(s) = mode
            && self.dead == Dead::Skip
            && automaton.is_uniform(s)
            && matches!(input.get(i), Some(b'{' | b'['))
        {
            // A policy of `..name` selectors only: most documents contain none of the names.
            let skipped = scan::skip_value_watching(
                input,
                i,
                0,
                self.max_depth,
                &mut self.kinds,
                exits(automaton, s),
            )?;
            if let Some(end) = skipped {
                trailing(input, end)?;
                return Ok(Outcome::Unchanged);
            }
        }
        'value: loop {
            // `i` is at a value (whitespace skipped) to be handled in `mode`.
            let at = i;
            match input.get(i) {
                Some(b'{' | b'[') if matches!(mode, Mode::Wrapped(_)) => {
                    return Err(RewriteError::Wrapped(WrapFault::NotText));
                }
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
                        if self.detect.is_some() {
                            let seg = match (self.depth, field) {
                                (0, _) => Seg::Root,
                                (_, Some(k)) if self.top.object => Seg::Key(k),
                                _ => Seg::Index,
                            };
                            self.segs.push(seg);
                        }
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
                    match mode {
                        Mode::Selected(rule) => {
                            self.leaf(rule, LeafKind::String, at, end, escaped, field)?;
                        }
                        Mode::Wrapped(id) => self.wrapped_leaf(id, at, end, escaped)?,
                        Mode::Live(_) | Mode::Scan | Mode::Dropped if self.detect.is_some() => {
                            let dropped = matches!(mode, Mode::Dropped);
                            self.scan_leaf(LeafKind::String, at, end, escaped, field, dropped)?;
                        }
                        _ => {}
                    }
                    i = end;
                }
                Some(b'-' | b'0'..=b'9') => {
                    let end = scan::number(input, i)?;
                    match mode {
                        Mode::Selected(rule) => {
                            self.leaf(rule, LeafKind::Number, at, end, false, field)?;
                        }
                        Mode::Live(_) | Mode::Scan | Mode::Dropped if self.detect.is_some() => {
                            let dropped = matches!(mode, Mode::Dropped);
                            self.scan_leaf(LeafKind::Number, at, end, false, field, dropped)?;
                        }
                        _ => {}
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
                    if drop_root_at_end {
                        self.splice(root, value_end, empty_of(input.get(root)));
                    }
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
        let plan = self.plan;
        let automaton = &plan.automaton;
        let depth = self.depth;
        let dead = self.dead;
        let (value_at, field, state) = if self.top.object {
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
            // Most names are plain field names (`event`, `properties`): where echoes are not
            // looked for, nothing more is asked of them, and the check is not even called.
            if let Some(detect) = self.detect
                && (escaped
                    || detect.echoes_in_leaves()
                    || !plain_field_name(&input[key.start..key.end]))
                && let Some(next) = self.police_name(detect, key, value_at)?
            {
                return Ok(next);
            }
            let frame = &mut self.top;
            let state = match frame.mode {
                Mode::Selected(_) | Mode::Wrapped(_) | Mode::Scan | Mode::Dropped => None,
                // The key's length and first byte rule most keys out before any comparison.
                // An escaped key is decoded whenever names matter at all: its raw bytes are
                // not what it names.
                Mode::Live(s)
                    if !escaped && !automaton.name_may_matter(s, &input[key.start..key.end]) =>
                {
                    Some(automaton.on_other_name(s))
                }
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
            let frame = &mut self.top;
            let index = frame.index;
            frame.index += 1;
            let state = match frame.mode {
                Mode::Selected(_) | Mode::Wrapped(_) | Mode::Scan | Mode::Dropped => None,
                Mode::Live(s) if automaton.index_sensitive(s) => Some(automaton.on_index(s, index)),
                Mode::Live(s) => Some(automaton.on_other_index(s)),
            };
            (at, frame.field, state)
        };
        let frame = &mut self.top;
        let child = match (frame.mode, state) {
            (Mode::Selected(rule), _) => Child::Enter(Mode::Selected(rule)),
            // Never a frame's mode: a wrapped container is refused before it is entered.
            (Mode::Wrapped(id), _) => Child::Enter(Mode::Wrapped(id)),
            (Mode::Scan, _) => Child::Enter(Mode::Scan),
            (Mode::Dropped, _) => Child::Enter(Mode::Dropped),
            (Mode::Live(_), Some(t)) if automaton.is_dead(t) => Child::Dead,
            (Mode::Live(_), Some(t)) => match automaton.accepting(t) {
                Some(rule) if plan.wrap(rule).is_some() => Child::Enter(Mode::Wrapped(rule)),
                Some(rule) if plan.rule(rule).action.is_drop() => Child::Drop(plan.rule(rule)),
                Some(rule) => Child::Enter(Mode::Selected(rule)),
                // Allow-list mode: a scalar where selectors only reach deeper is unselected.
                None if matches!(dead, Dead::Drop | Dead::DropScan)
                    && !matches!(input.get(value_at), Some(b'{' | b'[')) =>
                {
                    Child::Dead
                }
                None => Child::Enter(Mode::Live(t)),
            },
            (Mode::Live(_), None) => Child::Dead,
        };
        match child {
            Child::Enter(Mode::Live(t))
                if dead == Dead::Skip
                    && automaton.is_uniform(t)
                    && matches!(input.get(value_at), Some(b'{' | b'[')) =>
            {
                // Inside a `..name` search: validate the subtree with the skipper, watching member
                // names for an exit. Nothing is written while skipping, so if an exit (or an
                // escaped name, which would need decoding) shows up, walking the subtree
                // properly from its start is still exact.
                match scan::skip_value_watching(
                    input,
                    value_at,
                    depth,
                    self.max_depth,
                    &mut self.kinds,
                    exits(automaton, t),
                )? {
                    Some(end) => Ok(Next::Skipped(end)),
                    None => Ok(Next::Value(value_at, Mode::Live(t), field)),
                }
            }
            Child::Enter(mode) => Ok(Next::Value(value_at, mode, field)),
            Child::Dead => match dead {
                Dead::Skip => {
                    let end =
                        scan::skip_value(input, value_at, depth, self.max_depth, &mut self.kinds)?;
                    Ok(Next::Skipped(end))
                }
                Dead::Scan => Ok(Next::Value(value_at, Mode::Scan, field)),
                Dead::Drop => {
                    frame.dropping = true;
                    self.cx.withhold(None);
                    let end =
                        scan::skip_value(input, value_at, depth, self.max_depth, &mut self.kinds)?;
                    Ok(Next::Skipped(end))
                }
                Dead::DropScan => {
                    frame.dropping = true;
                    Ok(Next::Value(value_at, Mode::Dropped, field))
                }
            },
            Child::Drop(rule) => {
                frame.dropping = true;
                self.cx.treat_unread(&rule.action, rule.class);
                let end =
                    scan::skip_value(input, value_at, depth, self.max_depth, &mut self.kinds)?;
                if self.cx.has_collect() {
                    self.echo_dropped(rule, value_at, end);
                }
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

    /// Leaves the scalar at `start..end` for the one pass's fill-in, noting where it lands in
    /// the output. Inlined: its two callers are on the per-leaf path.
    #[inline(always)]
    fn defer(
        &mut self,
        search: deferred::Search<'p>,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
    ) {
        let (out_len, copied) = (self.out.len(), self.copied);
        if let Some(later) = self.deferred.as_mut() {
            later.texts.push(deferred::Deferred::new(
                search, kind, start, end, escaped, field, out_len, copied,
            ));
        }
    }

    /// Offers a dropped value at `start..end` to the request's echo search: a scalar (a
    /// string's decoded text or a number's spelling), or every string value inside a dropped
    /// object or array (a Measurement Protocol property is `{"value": "…"}`). The bytes were
    /// validated by the skip that found `end`; a string that is not UTF-8 is not offered.
    #[cold]
    fn echo_dropped(&mut self, rule: &Rule, start: usize, end: usize) {
        let input = self.input;
        let raw = &input[start..end];
        match raw.first() {
            Some(b'"') if raw.len() >= 2 => {
                let body = &raw[1..raw.len() - 1];
                let escaped = memchr::memchr(b'\\', body).is_some();
                if let Some(text) = decoded(body, escaped, &mut self.bufs.text) {
                    self.cx.echo_unread(&rule.action, rule.class, text);
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                if let Ok(text) = std::str::from_utf8(raw) {
                    self.cx.echo_unread(&rule.action, rule.class, text);
                }
            }
            Some(b'{' | b'[') => {
                let mut at = 0;
                while let Some(q) = memchr::memchr(b'"', &raw[at..]) {
                    let open = at + q;
                    // Validated already: the string scanner cannot fail here.
                    let Ok((after, escaped)) = scan::string(raw, open) else {
                        break;
                    };
                    at = after;
                    let key = raw.get(ws(raw, at)) == Some(&b':');
                    if !key
                        && let Some(text) =
                            decoded(&raw[open + 1..after - 1], escaped, &mut self.bufs.text)
                    {
                        self.cx.echo_unread(&rule.action, rule.class, text);
                    }
                }
            }
            _ => {}
        }
    }

    /// Applies `rule` to the scalar at `start..end` and records the result.
    fn leaf(
        &mut self,
        rule: RuleId,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
    ) -> Result<(), RewriteError> {
        let rule = self.plan.rule(rule);
        self.apply_at(&rule.action, rule.class, kind, start, end, escaped, field)
    }

    /// A string selected by a chain: decoded, its document policed by the wrap's plan, and
    /// written back (escaped as the original was, where it did not change) if anything inside
    /// changed. Every value inside belongs to the person this string's offset belongs to.
    fn wrapped_leaf(
        &mut self,
        id: RuleId,
        start: usize,
        end: usize,
        escaped: bool,
    ) -> Result<(), RewriteError> {
        let Some(wrap) = self.plan.wrap(id) else {
            return Err(malformed(start, "policy names a rule it does not have"));
        };
        let input = self.input;
        let raw = &input[start + 1..end - 1];
        let mut text_buf = std::mem::take(&mut self.bufs.text);
        let mut new = std::mem::take(&mut self.bufs.repl);
        new.clear();
        let limits = Limits {
            max_depth: self.max_depth,
        };
        self.cx.at_offset(start);
        let pinned = self.cx.pin_offset();
        let result = match decoded(raw, escaped, &mut text_buf) {
            None => Err(malformed(start, "invalid UTF-8")),
            Some(text) => rewrite_wrapped(text, wrap, &limits, self.cx, &mut new).map(|o| {
                if o == Outcome::Rewritten {
                    self.flush_to(start);
                    escape::encode_string_like(raw, text.as_bytes(), &new, self.out);
                    self.copied = end;
                }
            }),
        };
        self.cx.unpin(pinned);
        self.bufs.text = text_buf;
        self.bufs.repl = new;
        result
    }

    /// An unselected scalar on a plan with detection: classified with its member name's hint;
    /// a hit is counted under the leaf's field path, then forwarded (`observe`), treated with
    /// the class's action (`enforce`) or, inside a subtree allow-list mode drops, only counted.
    #[allow(clippy::too_many_arguments)]
    fn scan_leaf(
        &mut self,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
        dropped: bool,
    ) -> Result<(), RewriteError> {
        let Some(detect) = self.detect else {
            return Ok(());
        };
        // The first pass of a scrubbing route collects what rules select, not what detection
        // finds: nothing to classify.
        if self.cx.collecting() {
            return Ok(());
        }
        // Nor does the one pass record what detection treats.
        let paused = self.cx.pause_feed();
        let done = self.classify_leaf(detect, kind, start, end, escaped, field, dropped);
        self.cx.resume_feed(paused);
        done
    }

    /// [`Self::scan_leaf`] once it is known to classify.
    #[allow(clippy::too_many_arguments)]
    fn classify_leaf(
        &mut self,
        detect: &'p DetectPolicy,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
        dropped: bool,
    ) -> Result<(), RewriteError> {
        let input = self.input;
        let (ts, te) = text_span(kind, start, end);
        let found = {
            let Bufs {
                text: text_buf,
                field: field_buf,
                ..
            } = &mut self.bufs;
            let text = decoded(&input[ts..te], escaped, text_buf)
                .ok_or_else(|| malformed(start, "invalid UTF-8"))?;
            let hint = match field {
                None => KeyHint::NONE,
                Some(k) => {
                    let raw = &input[k.start..k.end];
                    let key = if k.escaped {
                        field_buf.clear();
                        escape::decode_into(raw, field_buf);
                        &field_buf[..]
                    } else {
                        raw
                    };
                    self.cx
                        .hints
                        .get_or_insert_with(HintCache::new)
                        .hint(&detect.detector, key)
                        .ok_or_else(|| malformed(k.start, "invalid UTF-8"))?
                }
            };
            match detect.detector.classify_hinted(hint, text) {
                Some(d) => d,
                // Nothing of a class: perhaps a value the request's rules selected.
                None if kind == LeafKind::String && !dropped => {
                    // The one pass searches once every selected value is known.
                    if let Some(later) = self.deferred.as_mut()
                        && detect.echoes_in_leaves()
                    {
                        let own = own_seg(self.depth, self.top.object, field);
                        let segs = later.path(&self.segs, own);
                        self.defer(
                            deferred::Search::Echo(detect, segs),
                            kind,
                            start,
                            end,
                            escaped,
                            field,
                        );
                        return Ok(());
                    }
                    match detect.echoes_in(text, self.cx) {
                        Some(counts) => {
                            return self.echoed(detect, counts, kind, start, end, escaped, field);
                        }
                        None => return Ok(()),
                    }
                }
                None => return Ok(()),
            }
        };
        let class = found.class;
        self.record_path(detect, field, class)?;
        if dropped {
            self.cx.withhold(Some(class));
            return Ok(());
        }
        match detect.action_for(found) {
            None => {
                self.cx.observe(class);
                Ok(())
            }
            // A `scrub` that found none of what the detector saw in the text must not forward
            // it: the class's action takes the whole leaf, as without a `text` action.
            Some(action) => self.apply_or(
                action,
                detect.action(class),
                Some(class),
                kind,
                start,
                end,
                escaped,
                field,
            ),
        }
    }

    /// An unselected string leaf in which values the request's rules selected recur: its
    /// path is counted under each value's class, then each span is counted as forwarded in
    /// clear (`observe`) or the leaf is scrubbed of them (`enforce`).
    #[allow(clippy::too_many_arguments)]
    fn echoed(
        &mut self,
        detect: &'p DetectPolicy,
        counts: EchoCounts,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
    ) -> Result<(), RewriteError> {
        for class in counts.classes() {
            self.record_path(detect, field, class)?;
        }
        match detect.echo_action() {
            None => {
                counts.spans().for_each(|c| self.cx.observe_value(c));
                Ok(())
            }
            Some(action) => self.apply_at(action, None, kind, start, end, escaped, field),
        }
    }

    /// Counts a detection of `class` under the current leaf's normalised path: the plan's root,
    /// a segment per open frame, then the leaf's own (`field` for a member, `[*]` for an
    /// element). Member names that may be data are written `*`.
    fn record_path(
        &mut self,
        detect: &DetectPolicy,
        field: Option<Key>,
        class: Class,
    ) -> Result<(), RewriteError> {
        let own = own_seg(self.depth, self.top.object, field);
        let segs = std::mem::take(&mut self.segs);
        let done = self.record_segs(detect, &segs, own, class);
        self.segs = segs;
        done
    }

    /// [`Self::record_path`] for the leaf whose frames were entered as `segs` and that is
    /// itself `own`.
    fn record_segs(
        &mut self,
        detect: &DetectPolicy,
        segs: &[Seg],
        own: Option<Seg>,
        class: Class,
    ) -> Result<(), RewriteError> {
        use crate::policy::disclosure::MAX_PATH_BYTES;
        let input = self.input;
        let Bufs { seg, path, .. } = &mut self.bufs;
        let hints = self.cx.hints.get_or_insert_with(HintCache::new);
        path.clear();
        path.push_str(&self.plan.unselected.root);
        for s in segs.iter().copied().chain(own) {
            if path.len() > MAX_PATH_BYTES {
                break; // counted under the overflow path
            }
            match s {
                Seg::Root => {}
                Seg::Index => path.push_str("[*]"),
                Seg::Key(k) => {
                    let key = decoded(&input[k.start..k.end], k.escaped, seg)
                        .ok_or_else(|| malformed(k.start, "invalid UTF-8"))?;
                    let is_name = hints.is_name(&detect.detector, key);
                    push_member(path, key, is_name);
                }
            }
        }
        self.cx.detected.record(path, class);
        Ok(())
    }

    /// Takes the per-value step ([`ApplyCx::treat`]) with `action`, for a value of `class`, on
    /// the scalar at `start..end`, and writes the result.
    #[allow(clippy::too_many_arguments)]
    fn apply_at(
        &mut self,
        action: &'p Action,
        class: Option<Class>,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
    ) -> Result<(), RewriteError> {
        self.apply_or(action, None, class, kind, start, end, escaped, field)
    }

    /// [`Self::apply_at`], with the action that takes the whole leaf when `action` is a
    /// `scrub` that found nothing to replace (`whole`). Every leaf goes through here, so the
    /// reading and writing below have this one caller and are inlined into it: routes without
    /// a `scrub` pay one comparison for it.
    #[allow(clippy::too_many_arguments)]
    fn apply_or(
        &mut self,
        action: &'p Action,
        whole: Option<&'p Action>,
        class: Option<Class>,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
    ) -> Result<(), RewriteError> {
        if self.deferred.is_some()
            && let Action::Scrub(scrub) = action
            && scrub.echoes()
            && whole.is_none()
        {
            self.defer(
                deferred::Search::Rule(action, class),
                kind,
                start,
                end,
                escaped,
                field,
            );
            return Ok(());
        }
        // `keep` (and `drop`, which never gets here) need not read the value, nor does
        // `redact`, whose replacement is fixed. (Reading it would only check its UTF-8 again:
        // the scan that found its end has validated it.)
        let applied = match self.cx.treat_unread(action, class) {
            Some(applied) => applied,
            None => {
                if let Some(text) = self.cx.treat_constant(action, class) {
                    self.flush_to(start);
                    self.write_fixed(text);
                    self.copied = end;
                    return Ok(());
                }
                self.apply_read(action, class, kind, start, end, escaped, field)?
            }
        };
        if applied == Applied::Kept
            && let Some(whole) = whole
            && matches!(action, Action::Scrub(_))
        {
            return self.apply_or(whole, None, class, kind, start, end, escaped, field);
        }
        self.write(applied, action, start, end);
        Ok(())
    }

    /// Decodes the scalar at `start..end` (and its member name) and applies `action` to it; the
    /// replacement is left in `bufs.repl`. Inlined into each caller: the fill-in of the one
    /// pass is its second, and without this the per-leaf step every route takes
    /// (`apply_or`) calls it instead of containing it (+0.8% instructions on a policy
    /// request in the profile).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn apply_read(
        &mut self,
        action: &Action,
        class: Option<Class>,
        kind: LeafKind,
        start: usize,
        end: usize,
        escaped: bool,
        field: Option<Key>,
    ) -> Result<Applied, RewriteError> {
        let input = self.input;
        let Bufs {
            text: text_buf,
            field: field_buf,
            repl,
            ..
        } = &mut self.bufs;
        // The value's text span: a string's body, or a number's or literal's spelling.
        let (ts, te) = text_span(kind, start, end);
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
        // Subject-scoped routes pick the person's keys by where the leaf sits.
        self.cx.at_offset(start);
        Ok(self.cx.treat(action, class, &leaf, repl)?)
    }

    /// Writes what the per-value step did to the scalar at `start..end`.
    fn write(&mut self, applied: Applied, action: &Action, start: usize, end: usize) {
        match applied {
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
    }

    /// `drop` on `$` (by `rule`, or allow-list mode): validate, then replace the root by an
    /// empty value of its kind. Counted once, as one dropped value.
    fn drop_root(&mut self, root: usize, rule: Option<&Rule>) -> Result<Outcome, RewriteError> {
        let end = scan::skip_value(self.input, root, 0, self.max_depth, &mut self.kinds)?;
        trailing(self.input, end)?;
        match rule {
            Some(rule) => {
                self.cx.treat_unread(&rule.action, rule.class);
            }
            None => self.cx.withhold(None),
        }
        self.splice(root, end, empty_of(self.input.get(root)));
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
        if self.detect.is_some() {
            self.segs.pop();
        }
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

    /// Writes the JSON string of a fixed replacement (`redact`'s) to the output: copied from
    /// [`Spelled`] when it is the one the walk last spelled, else encoded (and kept there).
    #[inline]
    fn write_fixed(&mut self, text: &str) {
        let key = (text.as_ptr() as usize, text.len());
        let spelled = &mut self.spelled;
        if spelled.text == key {
            // A fixed-size copy (no call), cut back to the spelling's length.
            let end = self.out.len() + usize::from(spelled.len);
            self.out.extend_from_slice(&spelled.bytes);
            self.out.truncate(end);
            return;
        }
        let at = self.out.len();
        escape::encode_string(text.as_bytes(), self.out);
        if let Some(written) = self.out.get(at..)
            && let Some(room) = spelled.bytes.get_mut(..written.len())
        {
            room.copy_from_slice(written);
            spelled.len = written.len() as u8;
            spelled.text = key;
        }
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

/// The skipper's watch inside the uniform state `s` (a `..name` search): whether a member name
/// (raw bytes, and whether it has escapes) may leave the state. An escaped name is decoded by
/// the walk, so it stops the skip too. The state's name filter is read once per skip; the
/// comparison most names never reach is outlined.
struct Exits<'a> {
    automaton: &'a Automaton,
    s: StateId,
    filter: NameFilter,
}

fn exits(automaton: &Automaton, s: StateId) -> Exits<'_> {
    Exits {
        automaton,
        s,
        filter: automaton.name_filter(s),
    }
}

impl scan::Watch for Exits<'_> {
    #[inline(always)]
    fn stops(&mut self, name: &[u8], escaped: bool) -> bool {
        #[inline(never)]
        fn leaves(automaton: &Automaton, s: StateId, name: &[u8]) -> bool {
            automaton.on_name(s, name) != s
        }
        escaped || (self.filter.may_matter(name) && leaves(self.automaton, self.s, name))
    }
}

/// How a leaf is entered from its frame, for its field path: none at the top level, its
/// member name in an object, `[*]` in an array.
fn own_seg(depth: usize, object: bool, field: Option<Key>) -> Option<Seg> {
    match (depth, field) {
        (0, _) => None,
        (_, Some(k)) if object => Some(Seg::Key(k)),
        _ => Some(Seg::Index),
    }
}

/// The replacement for a dropped document: an empty container of its kind, or `null`.
fn empty_of(first: Option<&u8>) -> &'static [u8] {
    match first {
        Some(b'{') => b"{}",
        Some(b'[') => b"[]",
        _ => b"null",
    }
}

/// The span of a scalar's text: a string's body, or a number's or literal's spelling.
fn text_span(kind: LeafKind, start: usize, end: usize) -> (usize, usize) {
    match kind {
        LeafKind::String => (start + 1, end - 1),
        LeafKind::Number | LeafKind::Bool => (start, end),
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
