//! All JSON selectors of a route compiled into one deterministic automaton over paths.
//!
//! The rewriter walks a document once and must know, at every member or element it enters,
//! whether some selector can still match below it. It asks this automaton: the state of a node
//! is the state of its parent advanced by the node's label (a member name or an array index).
//!
//! Construction is the textbook one, done at config compile time so the request path only
//! indexes a table:
//!
//! 1. Every selector is a chain of NFA positions `0..=n`; a descendant step (`..x`) keeps its
//!    position alive on every label (a self-loop), a child step does not.
//! 2. Subset construction gives a DFA whose states are sets of positions. The empty set is the
//!    **dead** state ([`DEAD`]): nothing below can match, so the rewriter validates that subtree
//!    without any per-value work.
//! 3. The alphabet is infinite (any name, any index), but only the names and indexes spelled in
//!    the selectors are distinguishable; every other name behaves like one "other name" label,
//!    every other index like one "other index" label. A state's row therefore has
//!    `names + 1 + indexes + 1` columns.
//!
//! Member names are compared folded ([`crate::policy::fold`]): a selector's name matches every
//! spelling a case-insensitive binder (Go's `encoding/json`, .NET, Jackson) reads as that name,
//! so `$.email` selects `EMAIL`, `Email` and `emaıl` too. Columns stand for folded names; a key is
//! folded before it is looked up (ASCII keys of up to 16 bytes without copying: their
//! fingerprint is lower-cased in registers).
//!
//! A state that contains a final position *accepts* and names a rule: the lowest [`RuleId`]
//! among the selectors that end there (earlier rules win). Accepting states are not expanded:
//! the outermost selected node decides its whole subtree, so the rewriter never asks what lies
//! below one. This also keeps `$..a` + `$..b` style policies from multiplying states.

use std::collections::HashMap;

use super::fold;
use super::selector::{Axis, JsonPath, Test};

/// Index of a rule in [`super::Plan::rules`].
pub type RuleId = u16;
/// A state of the automaton.
pub type StateId = u32;

/// The state from which nothing can ever be selected.
pub const DEAD: StateId = 0;

/// Upper bound on DFA states. Realistic policies need tens; the bound stops a pathological
/// config (many overlapping `..` selectors) from eating memory at load time.
const MAX_STATES: usize = 20_000;
/// Upper bound on transition-table cells (states × columns), for the same reason.
const MAX_CELLS: usize = 1 << 22;

/// The compiled selector automaton.
#[derive(Debug, Clone)]
pub struct Automaton {
    start: StateId,
    /// Distinct folded names from the selectors, sorted by (length, bytes); column = position.
    names: Vec<Box<[u8]>>,
    /// [`fingerprint`] of each name: for names up to 16 bytes, equal fingerprints (at equal
    /// length) mean equal names, so a lookup is two integer compares instead of a `memcmp`.
    prints: Vec<(u64, u64)>,
    /// `by_len[l]` = range of `names` with length `l`; names longer than the table are absent.
    by_len: Vec<(u32, u32)>,
    /// Distinct indexes from the selectors, sorted; column = `names.len() + 1 + position`.
    indexes: Vec<u32>,
    cols: usize,
    /// Row-major transitions, `states × cols`.
    table: Vec<StateId>,
    /// Per state: the rule it accepts with, if any.
    accept: Vec<Option<RuleId>>,
    /// Accepting states where more than one selector ends, with every rule id that ends
    /// there (ascending). Plans whose overlapping selectors must be combined rather than
    /// ranked (wrapped documents) read this at build time.
    overlaps: Vec<(StateId, Box<[RuleId]>)>,
    /// The largest rule id any state accepts with.
    max_rule: Option<RuleId>,
    /// Per state: bit `min(len, 63)` is set when some key of that length may fold to a spelled
    /// name that leads somewhere other than "other name". Zero means names do not matter in the
    /// state; a key whose length bit is clear goes to "other name" without being compared.
    name_lens: Vec<u64>,
    /// Per state: bit `b` is set when some key whose first byte is the ASCII byte `b` may fold
    /// to a spelled name that leads somewhere other than "other name" (both cases of a letter).
    /// A key starting with a non-ASCII byte may fold to anything (`K` is also the Kelvin sign)
    /// and is never ruled out by this; nor is the empty key. With [`Self::name_lens`] it rules
    /// out, in one more bit test, most keys of the right length: inside `..email`, `title`,
    /// `total` and `price` go to "other name" without a comparison.
    name_firsts: Vec<u128>,
    /// Per state: whether any specific index leads somewhere other than "other index".
    index_sensitive: Vec<bool>,
    /// Per state: live, and every unspelled name and every index lead back to the state itself
    /// (the inside of a `..name` search). See [`Self::is_uniform`].
    uniform: Vec<bool>,
}

/// Building the automaton failed (too many states).
#[derive(Debug, Clone, thiserror::Error)]
#[error("selectors are too complex: {0}")]
pub struct AutomatonError(pub String);

/// One NFA position: selector `sel`, having matched `done` of its steps.
#[derive(Debug, Clone, Copy)]
struct Position {
    sel: usize,
    done: usize,
}

/// A label class of the finite alphabet.
#[derive(Debug, Clone, Copy)]
enum Class<'a> {
    Name(&'a str),
    OtherName,
    Index(u32),
    OtherIndex,
}

impl Default for Automaton {
    fn default() -> Self {
        Self::empty()
    }
}

impl Automaton {
    /// An automaton that matches nothing: its start state is dead.
    pub fn empty() -> Self {
        Self {
            start: DEAD,
            names: Vec::new(),
            prints: Vec::new(),
            by_len: Vec::new(),
            indexes: Vec::new(),
            cols: 2,
            table: vec![DEAD, DEAD],
            accept: vec![None],
            overlaps: Vec::new(),
            max_rule: None,
            name_lens: vec![0],
            name_firsts: vec![0],
            index_sensitive: vec![false],
            uniform: vec![false],
        }
    }

    /// Compiles `(path, rule)` pairs. When several paths select the same node, the lowest
    /// [`RuleId`] wins.
    ///
    /// # Errors
    /// [`AutomatonError`] if determinisation exceeds the state or table budget.
    pub fn build(paths: &[(JsonPath, RuleId)]) -> Result<Self, AutomatonError> {
        if paths.is_empty() {
            return Ok(Self::empty());
        }
        // Names are compared folded: fold the selectors' names once, then build as usual.
        let folded: Vec<(JsonPath, RuleId)> = paths
            .iter()
            .map(|(path, rule)| (fold_path(path), *rule))
            .collect();
        let paths = folded.as_slice();
        let mut names: Vec<&str> = Vec::new();
        let mut indexes: Vec<u32> = Vec::new();
        for (path, _) in paths {
            for step in &path.steps {
                for test in &step.tests {
                    match test {
                        Test::Name(n) => names.push(n),
                        Test::Index(i) => indexes.push(*i),
                        Test::Wildcard => {}
                    }
                }
            }
        }
        names.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        names.dedup();
        indexes.sort_unstable();
        indexes.dedup();

        let mut classes: Vec<Class<'_>> = names.iter().map(|n| Class::Name(n)).collect();
        classes.push(Class::OtherName);
        classes.extend(indexes.iter().map(|&i| Class::Index(i)));
        classes.push(Class::OtherIndex);
        let cols = classes.len();

        // Positions are numbered densely: selector k's position d is `base[k] + d`.
        let mut positions = Vec::new();
        for (sel, (path, _)) in paths.iter().enumerate() {
            for done in 0..=path.steps.len() {
                positions.push(Position { sel, done });
            }
        }

        let mut ids: HashMap<Vec<u32>, StateId> = HashMap::new();
        let mut sets: Vec<Vec<u32>> = vec![Vec::new()]; // state 0: dead
        ids.insert(Vec::new(), DEAD);
        let start_set: Vec<u32> = (0..positions.len())
            .filter(|&p| positions[p].done == 0)
            .map(|p| p as u32)
            .collect();
        ids.insert(start_set.clone(), 1);
        sets.push(start_set);

        let mut table: Vec<StateId> = Vec::new();
        let mut accept: Vec<Option<RuleId>> = Vec::new();
        let mut overlaps = Vec::new();
        let mut next = 0usize;
        while next < sets.len() {
            let set = sets[next].clone();
            let mut ending: Vec<RuleId> = set
                .iter()
                .filter_map(|&p| {
                    let pos = positions[p as usize];
                    let (path, rule) = &paths[pos.sel];
                    (pos.done == path.steps.len()).then_some(*rule)
                })
                .collect();
            ending.sort_unstable();
            ending.dedup();
            let rule = ending.first().copied();
            if ending.len() > 1 {
                overlaps.push((next as StateId, ending.into_boxed_slice()));
            }
            accept.push(rule);
            for class in &classes {
                // Accepting states are never left: the whole subtree belongs to the rule.
                if rule.is_some() || set.is_empty() {
                    table.push(DEAD);
                    continue;
                }
                let target = step_set(&set, *class, &positions, paths);
                let id = match ids.get(&target) {
                    Some(&id) => id,
                    None => {
                        if sets.len() >= MAX_STATES || sets.len() * cols > MAX_CELLS {
                            return Err(AutomatonError(format!(
                                "the selectors compile to more than {MAX_STATES} automaton \
                                 states; use fewer overlapping `..` selectors on this route"
                            )));
                        }
                        let id = sets.len() as StateId;
                        ids.insert(target.clone(), id);
                        sets.push(target);
                        id
                    }
                };
                table.push(id);
            }
            next += 1;
        }

        let states = sets.len();
        let other_name = names.len();
        let other_index = cols - 1;
        let mut name_lens = Vec::with_capacity(states);
        let mut name_firsts = Vec::with_capacity(states);
        let mut index_sensitive = Vec::with_capacity(states);
        for s in 0..states {
            let row = &table[s * cols..(s + 1) * cols];
            let exits = || {
                row[..other_name]
                    .iter()
                    .zip(&names)
                    .filter(|&(&t, _)| t != row[other_name])
                    .map(|(_, n)| n)
            };
            name_lens.push(exits().fold(0u64, |m, n| m | spelling_lens(n)));
            name_firsts.push(exits().fold(0u128, |m, n| m | spelling_firsts(n)));
            index_sensitive.push(
                row[other_name + 1..other_index]
                    .iter()
                    .any(|&t| t != row[other_index]),
            );
        }

        let uniform = (0..states)
            .map(|s| {
                let row = &table[s * cols..(s + 1) * cols];
                let me = s as StateId;
                s as StateId != DEAD
                    && accept[s].is_none()
                    && row[other_name] == me
                    && row[other_name + 1..].iter().all(|&t| t == me)
            })
            .collect();

        let max_len = names.last().map_or(0, |n| n.len());
        let mut by_len = vec![(0u32, 0u32); max_len + 1];
        for (i, n) in names.iter().enumerate() {
            let slot = &mut by_len[n.len()];
            if slot.0 == slot.1 {
                *slot = (i as u32, i as u32);
            }
            slot.1 = i as u32 + 1;
        }

        let max_rule = accept.iter().flatten().copied().max();
        Ok(Self {
            start: 1,
            names: names.iter().map(|n| Box::from(n.as_bytes())).collect(),
            prints: names.iter().map(|n| fingerprint(n.as_bytes())).collect(),
            by_len,
            indexes,
            cols,
            table,
            accept,
            overlaps,
            max_rule,
            name_lens,
            name_firsts,
            index_sensitive,
            uniform,
        })
    }

    /// The state of the document root.
    #[inline(always)]
    pub fn start(&self) -> StateId {
        self.start
    }

    /// The largest rule id a node can be selected with (`None` if nothing can be selected).
    /// A [`super::Plan`] must have a rule for every id up to it.
    pub(crate) fn max_rule(&self) -> Option<RuleId> {
        self.max_rule
    }

    /// Number of states, the dead state included.
    pub fn state_count(&self) -> usize {
        self.accept.len()
    }

    /// Whether nothing at or below a node in state `s` can be selected.
    #[inline(always)]
    pub(crate) fn is_dead(&self, s: StateId) -> bool {
        s == DEAD
    }

    /// Whether state `s` is live and maps every label to itself except some spelled names (the
    /// "exits"). Every node of a subtree in such a state is in the same state until an exit name
    /// appears, so the rewriter can validate the subtree with the dead skipper while watching
    /// member names, and only walk it properly if an exit shows up.
    #[inline(always)]
    pub(crate) fn is_uniform(&self, s: StateId) -> bool {
        self.uniform.get(s as usize).copied().unwrap_or(false)
    }

    /// The rule that selects a node in state `s`, if any.
    #[inline(always)]
    pub fn accepting(&self, s: StateId) -> Option<RuleId> {
        self.accept.get(s as usize).copied().flatten()
    }

    /// Accepting states where several selectors end, with all their rule ids (ascending; the
    /// state accepts with the first unless [`Self::set_accepting`] changed it).
    pub(crate) fn overlaps(&self) -> &[(StateId, Box<[RuleId]>)] {
        &self.overlaps
    }

    /// Makes the accepting state `s` select with `rule` instead (a rule combining the
    /// overlapping ones). Build time only; a state that does not accept is left alone.
    pub(crate) fn set_accepting(&mut self, s: StateId, rule: RuleId) {
        if let Some(slot @ Some(_)) = self.accept.get_mut(s as usize) {
            *slot = Some(rule);
            self.max_rule = self.max_rule.max(Some(rule));
        }
    }

    /// Whether the member name matters in state `s`. When it does not,
    /// [`Self::on_other_name`] gives the child state without looking at the key.
    #[inline(always)]
    pub(crate) fn name_sensitive(&self, s: StateId) -> bool {
        self.name_lens.get(s as usize).is_some_and(|&m| m != 0)
    }

    /// Whether the member name `name` (raw, unescaped bytes) could lead anywhere but
    /// [`Self::on_other_name`] in state `s`. False for most keys of a payload, by their length
    /// and first byte: two loads and two bit tests, no comparison.
    #[inline(always)]
    pub(crate) fn name_may_matter(&self, s: StateId, name: &[u8]) -> bool {
        self.name_filter(s).may_matter(name)
    }

    /// The length and first-byte filter of [`Self::name_may_matter`] for state `s`, read once:
    /// the skipper applies it to every member name of a subtree in the same state.
    #[inline(always)]
    pub(crate) fn name_filter(&self, s: StateId) -> NameFilter {
        let s = s as usize;
        NameFilter {
            lens: self.name_lens.get(s).copied().unwrap_or(0),
            firsts: self.name_firsts.get(s).copied().unwrap_or(0),
        }
    }

    /// Whether the array index matters in state `s`.
    #[inline(always)]
    pub(crate) fn index_sensitive(&self, s: StateId) -> bool {
        self.index_sensitive
            .get(s as usize)
            .copied()
            .unwrap_or(false)
    }

    #[inline(always)]
    fn cell(&self, s: StateId, col: usize) -> StateId {
        self.table
            .get(s as usize * self.cols + col)
            .copied()
            .unwrap_or(DEAD)
    }

    /// The state of a member named `name` (decoded UTF-8 bytes) of a node in state `s`.
    #[inline(always)]
    pub(crate) fn on_name(&self, s: StateId, name: &[u8]) -> StateId {
        let col = self.name_column(name).unwrap_or(self.names.len());
        self.cell(s, col)
    }

    /// The state of a member whose name no selector spells.
    #[inline(always)]
    pub(crate) fn on_other_name(&self, s: StateId) -> StateId {
        self.cell(s, self.names.len())
    }

    /// The state of element `index` of an array in state `s`.
    #[inline(always)]
    pub(crate) fn on_index(&self, s: StateId, index: u64) -> StateId {
        let base = self.names.len() + 1;
        let col = u32::try_from(index)
            .ok()
            .and_then(|i| self.indexes.binary_search(&i).ok())
            .map_or(self.cols - 1, |p| base + p);
        self.cell(s, col)
    }

    /// The states of an array element whose index is not known (a parameter's `[]`): the
    /// state of every spelled index and of any other.
    pub(crate) fn on_any_index(&self, s: StateId) -> impl Iterator<Item = StateId> + '_ {
        let base = self.names.len() + 1;
        (base..self.cols).map(move |col| self.cell(s, col))
    }

    /// The state of an array element whose index no selector spells.
    #[inline(always)]
    pub(crate) fn on_other_index(&self, s: StateId) -> StateId {
        self.cell(s, self.cols - 1)
    }

    /// Column of the name a key folds to, if some selector spells it. Bucketed by length
    /// first: most keys of a payload are rejected by one table load and no comparison. An
    /// ASCII key folds to its lower case (same length); others are folded into a buffer.
    #[inline(always)]
    fn name_column(&self, name: &[u8]) -> Option<usize> {
        if name.len() <= 16 {
            // Every byte of a short name is in its fingerprint, so the fingerprint says
            // whether the name is ASCII: no separate pass over the name.
            let (a, b) = fingerprint(name);
            if (a | b) & HIGH_BITS != 0 {
                return self.folded_column(name);
            }
            let (lo, hi) = self.bucket(name.len())?;
            let print = lower_print((a, b));
            return (lo..hi).find(|&i| self.prints.get(i) == Some(&print));
        }
        if !name.is_ascii() {
            return self.folded_column(name);
        }
        let (lo, hi) = self.bucket(name.len())?;
        (lo..hi).find(|&i| self.names[i].eq_ignore_ascii_case(name))
    }

    /// The columns of the spelled names `len` bytes long, if there are any.
    #[inline(always)]
    fn bucket(&self, len: usize) -> Option<(usize, usize)> {
        let &(lo, hi) = self.by_len.get(len)?;
        (lo != hi).then_some((lo as usize, hi as usize))
    }

    /// [`Self::name_column`] for a key with non-ASCII characters (rare): folded, then compared.
    #[cold]
    fn folded_column(&self, name: &[u8]) -> Option<usize> {
        let text = std::str::from_utf8(name).ok()?;
        let mut stack = [0u8; 64];
        let mut heap = Vec::new();
        let folded: &[u8] = if text.len() <= stack.len() / 2 {
            // A fold is at most as long as the name, except for a few characters that grow
            // by a byte (`Ⱥ` → `ⱥ`); twice the length is always enough.
            let mut n = 0;
            for c in text.chars() {
                n += fold::member_char(c).encode_utf8(&mut stack[n..]).len();
            }
            &stack[..n]
        } else {
            fold::push_member(text, &mut heap);
            &heap
        };
        let &(lo, hi) = self.by_len.get(folded.len())?;
        (lo as usize..hi as usize).find(|&i| *self.names[i] == *folded)
    }
}

/// `path` with every name folded ([`fold::member`]).
fn fold_path(path: &JsonPath) -> JsonPath {
    let mut out = path.clone();
    for step in &mut out.steps {
        for test in &mut step.tests {
            if let Test::Name(n) = test
                && let std::borrow::Cow::Owned(f) = fold::member(n)
            {
                *n = f.into();
            }
        }
    }
    out
}

/// The length bits of every key that can fold to `folded`: an ASCII name is spelled in as
/// many bytes as it has, or more where an `i`, `s` or `k` is spelled with a non-ASCII alias;
/// a name with other non-ASCII characters may be spelled in any length.
fn spelling_lens(folded: &str) -> u64 {
    if !folded.is_ascii() {
        return u64::MAX;
    }
    let from = folded.len();
    (from..=from + fold::max_alias_growth(folded)).fold(0, |m, l| m | len_bit(l))
}

/// The first-byte bits of every key that can fold to `folded` and starts with an ASCII byte:
/// a folded ASCII letter is spelled in either case (its non-ASCII aliases start with a
/// non-ASCII byte, which [`Automaton::name_may_matter`] never rules out); a name starting
/// with a non-ASCII character is only spelled starting with a non-ASCII byte, since ASCII
/// characters fold to ASCII.
fn spelling_firsts(folded: &str) -> u128 {
    match folded.as_bytes().first() {
        Some(&b) if b.is_ascii() => {
            1u128 << b.to_ascii_lowercase() | 1u128 << b.to_ascii_uppercase()
        }
        _ => 0,
    }
}

/// A [`fingerprint`] of ASCII bytes with their upper-case letters lowered, lane by lane: the
/// fingerprint of the lower-cased string.
#[inline(always)]
fn lower_print((a, b): (u64, u64)) -> (u64, u64) {
    #[inline(always)]
    fn lower(w: u64) -> u64 {
        const LANES: u64 = 0x0101_0101_0101_0101;
        // ASCII lanes (< 0x80): adding never carries into the next lane.
        let ge_a = w + LANES * (0x80 - u64::from(b'A'));
        let gt_z = w + LANES * (0x80 - u64::from(b'Z') - 1);
        let upper = ge_a & !gt_z & (LANES * 0x80);
        w | upper >> 2
    }
    (lower(a), lower(b))
}

/// One state's filter of member names (see [`Automaton::name_may_matter`]): the lengths and
/// the ASCII first bytes (both cases of a folded letter) of the names that lead elsewhere.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameFilter {
    lens: u64,
    firsts: u128,
}

impl NameFilter {
    /// Whether `name` (raw bytes) could lead out of the state: false for most keys of a
    /// payload, by two bit tests.
    #[inline(always)]
    pub(crate) fn may_matter(self, name: &[u8]) -> bool {
        if self.lens & len_bit(name.len()) == 0 {
            return false;
        }
        match name.first() {
            Some(&b) if b < 0x80 => self.firsts >> b & 1 != 0,
            _ => true,
        }
    }
}

/// The length-mask bit for a name of `len` bytes (63 stands for 63 and longer).
#[inline(always)]
fn len_bit(len: usize) -> u64 {
    1u64 << len.min(63)
}

/// The high bit of every byte of a word: set in a [`fingerprint`] of at most 16 bytes exactly
/// when one of them is not ASCII.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Two words that identify a byte string of at most 16 bytes among strings of the same length:
/// overlapping little-endian loads of its head and tail, so every byte is covered and nothing is
/// copied. Longer strings get a prefix/suffix print only; callers compare them in full.
#[inline(always)]
fn fingerprint(b: &[u8]) -> (u64, u64) {
    fn load8(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 8)
            .and_then(|s| s.first_chunk::<8>())
            .map_or(0, |c| u64::from_le_bytes(*c))
    }
    fn load4(b: &[u8], at: usize) -> u64 {
        b.get(at..at + 4)
            .and_then(|s| s.first_chunk::<4>())
            .map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
    }
    let n = b.len();
    match n {
        0 => (0, 0),
        1..=3 => {
            let w = u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16;
            (w, 0)
        }
        4..=7 => (load4(b, 0) | load4(b, n - 4) << 32, 0),
        _ => (load8(b, 0), load8(b, n - 8)),
    }
}

/// The set of positions reached from `set` on a label of `class`.
fn step_set(
    set: &[u32],
    class: Class<'_>,
    positions: &[Position],
    paths: &[(JsonPath, RuleId)],
) -> Vec<u32> {
    let mut out = Vec::new();
    for &p in set {
        let pos = positions[p as usize];
        let steps = &paths[pos.sel].0.steps;
        let Some(step) = steps.get(pos.done) else {
            continue; // final position: nothing follows
        };
        if step.axis == Axis::Descendant {
            out.push(p);
        }
        if step.tests.iter().any(|t| matches(t, class)) {
            out.push(p + 1);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn matches(test: &Test, class: Class<'_>) -> bool {
    match (test, class) {
        (Test::Wildcard, _) => true,
        (Test::Name(n), Class::Name(c)) => **n == *c,
        (Test::Index(i), Class::Index(c)) => *i == c,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
