//! A per-request memo of deterministic actions: in a batch the same user id, anonymous id and
//! email recur in every event, and a repeat should cost a lookup, not another HMAC, GCM-SIV
//! seal, hash or FF1 run.
//!
//! What may be remembered, and under what key, is what keeps the memo from changing outputs:
//! - only actions whose output is a function of the value and request-constant state:
//!   `tokenize` (its key, or the period key of `now_unix`, fixed for the request), `hash`,
//!   `encrypt_deterministic` and `fpe` in encrypt mode — never random-nonce `encrypt`, and
//!   never an action with side effects (`reveal`, `fpe` reveal count failures);
//! - the key is the action itself (by address: a rule's action, with its domain and keys, is
//!   one object for the whole request), the person the value belongs to (subject-scoped keys;
//!   by address of their keys, also fixed for the request), the leaf's kind, the field name
//!   (envelopes and FF1 tweaks bind it) and the value's text; all compared in full on a hit;
//! - it lives in the request's [`super::ApplyCx`], so it never outlives the request.
//!
//! Cost control: the memo stays off for the first [`ENGAGE_AFTER`] deterministic values of a
//! request (a single event has a couple and would only pay for it), and switches itself off
//! when values do not repeat: after a trial of [`TRIAL`] remembered values, and later whenever
//! a window of [`WINDOW`] lookups mostly misses. A probe looks at [`MAX_PROBE`] slots at most, so even values
//! crafted to collide cost a bounded number of comparisons.

use super::kind::Applied;
use super::{Action, FpeMode, Leaf};

/// Deterministic values a request applies before the memo starts remembering.
const ENGAGE_AFTER: u32 = 4;
/// After this many remembered values, a memo that served fewer than [`MIN_HITS`] turns off.
const TRIAL: u32 = 8;
/// See [`TRIAL`].
const MIN_HITS: u32 = 2;
/// After the trial, the hit rate is checked over every run of this many lookups: a run with
/// fewer than a quarter of them hitting turns the memo off (a batch whose first events
/// repeated values and whose later ones do not). At a quarter, the misses' hashing, probing
/// and remembering about cost what the hits save on the cheapest memoised action (an HMAC).
const WINDOW: u32 = 32;
/// Slots in the table (a power of two).
const SLOTS: usize = 256;
/// Entries kept at most (three quarters of the slots).
const MAX_ENTRIES: usize = SLOTS / 4 * 3;
/// Longest field name plus value remembered, in bytes.
const MAX_INPUT: usize = 512;
/// Longest output remembered, in bytes.
const MAX_OUTPUT: usize = 1024;
/// Slots a lookup or an insertion examines at most.
const MAX_PROBE: usize = 8;

/// Whether `action` is a pure function of the value within a request.
pub(super) fn memoisable(action: &Action) -> bool {
    match action {
        Action::Tokenize(_) | Action::Hash(_) | Action::EncryptDeterministic(_) => true,
        Action::Fpe(a) => a.mode == FpeMode::Encrypt,
        Action::Drop
        | Action::Encrypt(_)
        | Action::Generalize(_)
        | Action::Keep
        | Action::Mask(_)
        | Action::Redact(_)
        | Action::Reveal(_)
        | Action::Scrub(_) => false,
    }
}

/// What identifies one application: see the module docs.
pub(super) struct Key<'k, 'l> {
    pub(super) action: usize,
    pub(super) subject: usize,
    pub(super) leaf: &'k Leaf<'l>,
}

impl Key<'_, '_> {
    fn fits(&self) -> bool {
        self.leaf.field.len() + self.leaf.text.len() <= MAX_INPUT
    }

    fn hash(&self, seed: u64) -> u64 {
        let mut h = Mix(seed);
        h.word(self.action as u64);
        h.word(self.subject as u64);
        h.word(self.leaf.kind as u64);
        h.bytes(self.leaf.field.as_bytes());
        h.word(u64::MAX);
        h.bytes(self.leaf.text.as_bytes());
        h.finish()
    }
}

/// A small multiply–rotate hash, seeded per memo. Not collision-resistant — the bounded probe
/// is what caps the cost of collisions — but a few nanoseconds per value.
struct Mix(u64);

impl Mix {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(Self::K).rotate_left(29);
    }

    fn bytes(&mut self, b: &[u8]) {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.word(u64::from_le_bytes(w) ^ ((b.len() as u64) << 56));
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 32;
        x = x.wrapping_mul(Self::K);
        x ^ (x >> 29)
    }
}

/// A lookup that missed, with the key's hash when the lookup computed one: the hash is
/// ~0.3 % of a 16 KB policy request's instructions, and every miss is remembered next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Miss(Option<u64>);

#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    action: usize,
    subject: usize,
    kind: u8,
    applied: Applied,
    /// Field name, value text, then output, back to back in the arena.
    start: u32,
    field_len: u32,
    text_len: u32,
    out_len: u32,
}

/// The memo of one request.
#[derive(Default)]
pub(crate) struct Memo {
    /// Deterministic values applied this request (until the memo engages).
    seen: u32,
    /// Lookups made since the memo engaged, and how many of them hit.
    lookups: u32,
    hits: u32,
    /// The same, for the current [`WINDOW`] after the trial.
    window_lookups: u32,
    window_hits: u32,
    off: bool,
    seed: u64,
    /// `0` empty, else an index into `entries` plus one.
    slots: Vec<u16>,
    entries: Vec<Entry>,
    arena: Vec<u8>,
}

impl Memo {
    /// A memo that never engages.
    pub(super) fn disabled() -> Self {
        Self {
            off: true,
            ..Self::default()
        }
    }

    /// Whether this application should go through the memo at all.
    pub(super) fn engaged(&mut self) -> bool {
        if self.off {
            return false;
        }
        if self.seen < ENGAGE_AFTER {
            self.seen += 1;
            return false;
        }
        true
    }

    /// The remembered result for `key`, appended to `out`; on a miss, what [`Memo::put`]
    /// needs to remember the result without hashing the key again.
    pub(super) fn get(&mut self, key: &Key<'_, '_>, out: &mut Vec<u8>) -> Result<Applied, Miss> {
        if self.slots.is_empty() || !key.fits() {
            return Err(Miss(None));
        }
        self.lookups += 1;
        let hash = key.hash(self.seed);
        let mask = SLOTS - 1;
        for i in 0..MAX_PROBE {
            let slot = self.slots[(hash as usize + i) & mask];
            if slot == 0 {
                break;
            }
            let e = self.entries[usize::from(slot) - 1];
            if e.hash == hash && self.same(&e, key) {
                let from = (e.start + e.field_len + e.text_len) as usize;
                out.extend_from_slice(&self.arena[from..from + e.out_len as usize]);
                self.hits += 1;
                self.count_window(true);
                return Ok(e.applied);
            }
        }
        self.count_window(false);
        Err(Miss(Some(hash)))
    }

    /// The running hit rate once the trial has passed: see [`WINDOW`].
    fn count_window(&mut self, hit: bool) {
        if self.entries.len() < TRIAL as usize {
            return;
        }
        self.window_lookups += 1;
        self.window_hits += u32::from(hit);
        if self.window_lookups == WINDOW {
            if self.window_hits < WINDOW / 4 {
                self.off = true;
            }
            self.window_lookups = 0;
            self.window_hits = 0;
        }
    }

    fn same(&self, e: &Entry, key: &Key<'_, '_>) -> bool {
        let (field, text) = (key.leaf.field.as_bytes(), key.leaf.text.as_bytes());
        let start = e.start as usize;
        let f_end = start + e.field_len as usize;
        let t_end = f_end + e.text_len as usize;
        e.action == key.action
            && e.subject == key.subject
            && e.kind == key.leaf.kind as u8
            && self.arena[start..f_end] == *field
            && self.arena[f_end..t_end] == *text
    }

    /// Remembers that `key`, which `miss` came from, gave `applied` with `output`.
    pub(super) fn put(&mut self, key: &Key<'_, '_>, miss: Miss, applied: Applied, output: &[u8]) {
        if !key.fits() || output.len() > MAX_OUTPUT {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.full();
            return;
        }
        if self.entries.len() as u32 >= TRIAL && self.hits < MIN_HITS {
            // The values of this request do not repeat: stop paying for the memo.
            self.off = true;
            return;
        }
        if self.slots.is_empty() {
            // Room for the trial up front: three allocations for a request's memo.
            self.slots = vec![0; SLOTS];
            self.entries.reserve(TRIAL as usize);
            self.arena.reserve(TRIAL as usize * 128);
            self.seed = seed();
        }
        // The lookup's hash, unless it made none (the table did not exist yet, so neither did
        // the seed it would have used).
        let hash = miss.0.unwrap_or_else(|| key.hash(self.seed));
        let mask = SLOTS - 1;
        let Some(pos) = (0..MAX_PROBE)
            .map(|i| (hash as usize + i) & mask)
            .find(|&p| self.slots[p] == 0)
        else {
            self.full();
            return;
        };
        let (field, text) = (key.leaf.field.as_bytes(), key.leaf.text.as_bytes());
        let start = self.arena.len();
        self.arena.extend_from_slice(field);
        self.arena.extend_from_slice(text);
        self.arena.extend_from_slice(output);
        self.entries.push(Entry {
            hash,
            action: key.action,
            subject: key.subject,
            kind: key.leaf.kind as u8,
            applied,
            // Bounded by MAX_ENTRIES × (MAX_INPUT + MAX_OUTPUT): well within u32.
            start: start as u32,
            field_len: field.len() as u32,
            text_len: text.len() as u32,
            out_len: output.len() as u32,
        });
        // At most MAX_ENTRIES (192) entries: the index fits a u16 slot.
        self.slots[pos] = self.entries.len() as u16;
    }
}

impl Memo {
    /// A value could not be remembered (no entry or no slot within the probe left): from here
    /// on lookups mostly hit only what is already remembered. Keep paying for them only while
    /// most of them hit (a batch of one person's events); a batch of many people would
    /// otherwise pay a miss for every later value.
    fn full(&mut self) {
        if self.hits < self.lookups / 2 {
            self.off = true;
        }
    }
}

/// A per-memo seed, so that which values collide differs between requests and processes.
fn seed() -> u64 {
    use std::hash::BuildHasher;
    std::hash::RandomState::new().hash_one(0x5eed_u64)
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use proptest::prelude::*;

    use super::*;
    use crate::config::{Env, Route};
    use crate::crypto::DangerCounterNonces;
    use crate::keys::SubjectSecret;
    use crate::policy::action::{ActionCounts, ApplyCx};
    use crate::policy::subject::{SubjectKeys, SubjectScopes};
    use crate::rewrite::Limits;
    use crate::rewrite::json::rewrite_json;

    struct Keyring;

    impl Env for Keyring {
        fn var(&self, name: &str) -> Option<String> {
            (name == "PIIGATE_KEYRING").then(|| include_str!("../../../keys.example").to_owned())
        }
    }

    /// One route with every memoisable action, random `encrypt` between them, and subjects.
    /// Two names per deterministic rule, so a value moved to another field must give another
    /// output (envelopes and FF1 tweaks bind the field name).
    fn route() -> std::sync::Arc<Route> {
        let toml = r#"
[server]
listen = "127.0.0.1:0"
[[routes]]
name = "memo"
path_prefix = "/m"
upstream = "http://127.0.0.1:9"
subject = "$.batch[*].userId"

[[routes.rules]]
select = ["$.batch[*].userId", "$.batch[*].anonymousId"]
action = "tokenize"

[[routes.rules]]
select = ["$..email", "$..contact"]
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = ["$..hashed", "$..hashed2"]
action = "hash"
preset = "meta"
normalize = "email"

[[routes.rules]]
select = ["$..det", "$..det2"]
action = "encrypt_deterministic"

[[routes.rules]]
select = ["$..card", "$..card2"]
action = "fpe"
keep_last = 4

[[routes.rules]]
select = "$..phone"
action = "encrypt"
"#;
        let dir = std::env::temp_dir();
        let loaded = match crate::config::from_toml(toml, "memo.toml", &dir, &Keyring) {
            Ok(l) => l,
            Err(d) => panic!("test config does not load:\n{d}"),
        };
        std::sync::Arc::clone(&loaded.config.routes[0])
    }

    /// Events drawn from small pools, so values repeat within and across fields.
    #[derive(Debug, Clone)]
    struct Event {
        user: u8,
        anon: u8,
        email: u8,
        email_field: bool,
        hashed: u8,
        hashed_field: bool,
        det: u8,
        det_field: bool,
        card: u8,
        card_field: bool,
        number: bool,
    }

    fn event() -> impl Strategy<Value = Event> {
        (
            (0u8..3, 0u8..4, 0u8..3, any::<bool>()),
            (0u8..3, any::<bool>(), 0u8..3, any::<bool>()),
            (0u8..3, any::<bool>(), any::<bool>()),
        )
            .prop_map(
                |(
                    (user, anon, email, email_field),
                    (hashed, hashed_field, det, det_field),
                    (card, card_field, number),
                )| Event {
                    user,
                    anon,
                    email,
                    email_field,
                    hashed,
                    hashed_field,
                    det,
                    det_field,
                    card,
                    card_field,
                    number,
                },
            )
    }

    const EMAILS: [&str; 3] = [
        "Jane.Doe@Example.com",
        "jane.doe@example.com",
        "zoë@exämple.org",
    ];
    const CARDS: [&str; 3] = ["4111111111111111", "5500005555555559", "4012888888881881"];

    fn batch(events: &[Event]) -> String {
        let mut s = String::from(r#"{"batch":["#);
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            // anonymousId draws from the user pool too: the same text under another field.
            let anon = if e.anon < 3 {
                format!("user-{}", e.anon)
            } else {
                "anon-x".to_owned()
            };
            let _ = write!(
                s,
                r#"{{"userId":"user-{}","anonymousId":"{anon}","traits":{{"{}":"{}","{}":"{}","{}":"{}","phone":"+1 555 0100"}},"#,
                e.user,
                if e.email_field { "email" } else { "contact" },
                EMAILS[usize::from(e.email)],
                if e.hashed_field { "hashed" } else { "hashed2" },
                EMAILS[usize::from(e.hashed)],
                if e.det_field { "det" } else { "det2" },
                EMAILS[usize::from(e.det)],
            );
            let card = CARDS[usize::from(e.card)];
            let name = if e.card_field { "card" } else { "card2" };
            // A number and a string with the same spelling are different leaves.
            if e.number {
                let _ = write!(s, r#""pay":{{"{name}":{card}}}}}"#);
            } else {
                let _ = write!(s, r#""pay":{{"{name}":"{card}"}}}}"#);
            }
        }
        s.push_str("]}");
        s
    }

    /// The request's people: one per distinct `userId`, two of them sharing a secret
    /// generation but not a secret.
    fn subjects(route: &Route, input: &[u8]) -> SubjectScopes {
        let path = route.subject.as_ref().expect("subject path");
        let bases = route.subject_bases.as_ref().expect("subject bases");
        let found = crate::rewrite::subject::find_scopes(input, path).expect("scopes");
        let mut scopes = SubjectScopes::default();
        let mut ids: Vec<String> = Vec::new();
        for s in found {
            let k = ids
                .iter()
                .position(|id| *id == s.subject)
                .unwrap_or_else(|| {
                    let n = u8::try_from(ids.len()).expect("few people");
                    let secret = SubjectSecret::new(zeroize::Zeroizing::new([n + 1; 32]), 0);
                    scopes.keys.push(SubjectKeys::derive(bases, &secret));
                    ids.push(s.subject.clone());
                    ids.len() - 1
                });
            scopes.ranges.push((s.start, s.end, k));
        }
        scopes
    }

    /// What one rewrite produced: output, counts, ledger cells, and the memo's hits.
    type Run = (
        Vec<u8>,
        ActionCounts,
        Vec<(&'static str, &'static str, u32)>,
        u32,
    );

    /// One rewrite of `input`, with per-person keys or not, the memo on or off.
    fn run(route: &Route, input: &[u8], scoped: bool, memo: bool) -> Run {
        let scopes = subjects(route, input);
        let mut nonces = DangerCounterNonces(0);
        let mut cx = ApplyCx::new(&mut nonces);
        if scoped {
            cx = cx.with_subjects(&scopes);
        }
        if !memo {
            cx = cx.without_memo();
        }
        let mut out = Vec::new();
        rewrite_json(
            input,
            &route.plan,
            &Limits { max_depth: 64 },
            &mut cx,
            &mut out,
        )
        .expect("rewrites");
        let cells = cx
            .disclosed
            .cells()
            .map(|(c, t, n)| (c, t.as_str(), n))
            .collect();
        (out, cx.counts, cells, cx.memo.hits)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The memo changes nothing a request produces: the same bytes, counts and ledger
        /// cells as computing every value, with and without per-person keys.
        #[test]
        fn outputs_are_identical_with_and_without_the_memo(
            events in prop::collection::vec(event(), 1..24),
            scoped in any::<bool>(),
        ) {
            let route = route();
            let input = batch(&events);
            let with = run(&route, input.as_bytes(), scoped, true);
            let without = run(&route, input.as_bytes(), scoped, false);
            prop_assert_eq!(&with.0, &without.0, "output differs for {}", input);
            prop_assert_eq!(with.1, without.1);
            prop_assert_eq!(&with.2, &without.2);
            prop_assert_eq!(without.3, 0);
        }
    }

    /// A batch of one person's events repeats every identifier: after the first events, they
    /// come from the memo — and the outputs still match.
    #[test]
    fn repeats_in_a_batch_are_served_by_the_memo() {
        let route = route();
        let same = Event {
            user: 1,
            anon: 1,
            email: 0,
            email_field: true,
            hashed: 0,
            hashed_field: true,
            det: 2,
            det_field: true,
            card: 0,
            card_field: true,
            number: false,
        };
        let input = batch(&vec![same; 16]);
        let (out, _, _, hits) = run(&route, input.as_bytes(), true, true);
        let (plain, _, _, _) = run(&route, input.as_bytes(), true, false);
        assert_eq!(out, plain);
        // 16 events × 6 deterministic values; the first four engage nothing, one of each
        // (user id, anonymous id, email, hash, envelope, FF1) is computed once more.
        assert!(hits >= 16 * 6 - 4 - 6, "{hits} hits");
    }

    /// Two people, each with a run of events, the same email under two field names and the
    /// same envelope input under two field names: repeats are served, and what must differ
    /// still differs — a field's envelope from another field's, one person's token from
    /// another's.
    #[test]
    fn repeats_are_served_per_field_and_per_person() {
        let route = route();
        let person = |user, field| Event {
            user,
            anon: 3,
            email: 0,
            email_field: field,
            hashed: 0,
            hashed_field: field,
            det: 0,
            det_field: field,
            card: 0,
            card_field: field,
            number: false,
        };
        let events: Vec<Event> = (0..12)
            .map(|i| person(u8::from(i >= 6), i % 2 == 0))
            .collect();
        let input = batch(&events);
        let (out, counts, cells, hits) = run(&route, input.as_bytes(), true, true);
        let (plain, plain_counts, plain_cells, _) = run(&route, input.as_bytes(), true, false);
        assert_eq!(out, plain);
        assert_eq!((counts, cells), (plain_counts, plain_cells));
        assert!(hits >= 40, "{hits} hits");
        let doc: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        let ev = |i: usize| &doc["batch"][i];
        // Same person, same value, other field: another envelope (the field is bound).
        assert_ne!(ev(0)["traits"]["det"], ev(1)["traits"]["det2"]);
        assert_ne!(ev(0)["pay"]["card"], ev(1)["pay"]["card2"]);
        // Same field, same value, other person: another token and envelope.
        assert_ne!(ev(0)["traits"]["email"], ev(6)["traits"]["email"]);
        assert_ne!(ev(0)["traits"]["det"], ev(6)["traits"]["det"]);
        // Same field, value and person: the same output, as without the memo.
        assert_eq!(ev(0)["traits"]["det"], ev(2)["traits"]["det"]);
        assert_eq!(ev(6)["traits"]["email"], ev(8)["traits"]["email"]);
    }

    /// Offers `text` (a string in field `f`, action 1, no person) to `memo` as the rewriter
    /// does: looked up while the memo is engaged, handed to `put` on a miss. True on a miss.
    fn offer(memo: &mut Memo, text: &str, out: &mut Vec<u8>) -> bool {
        let leaf = Leaf {
            text,
            kind: crate::policy::LeafKind::String,
            field: "f",
        };
        let key = Key {
            action: 1,
            subject: 0,
            leaf: &leaf,
        };
        if !memo.engaged() {
            return false;
        }
        match memo.get(&key, out) {
            Ok(_) => false,
            Err(miss) => {
                memo.put(&key, miss, Applied::Replaced, b"x");
                true
            }
        }
    }

    /// Values that never repeat switch the memo off after a short trial.
    #[test]
    fn values_that_do_not_repeat_turn_the_memo_off() {
        let mut memo = Memo::default();
        let texts: Vec<String> = (0..64).map(|i| format!("value-{i}")).collect();
        let mut out = Vec::new();
        let mut remembered = 0;
        for t in &texts {
            if offer(&mut memo, t, &mut out) {
                remembered = memo.entries.len();
            }
        }
        assert!(memo.off);
        assert_eq!(remembered, TRIAL as usize);
    }

    /// A full memo whose lookups mostly miss stops looking values up; one whose lookups
    /// mostly hit keeps serving them. Which values collide depends on the memo's seed (random
    /// per request), and so does when the table first refuses a value; the outcome must not.
    /// The seeds are fixed here, so the test is deterministic, and many, so it covers tables
    /// that fill up early through probe runs as well as ones that reach `MAX_ENTRIES`.
    #[test]
    fn a_full_memo_stays_on_only_while_its_lookups_hit() {
        for n in 0..64_u64 {
            let seed = n.wrapping_mul(Mix::K) ^ 0x5eed;
            // The first values repeat (the trial passes), then only the second case keeps
            // repeating: the first fills the memo with values that never come back.
            for (later_repeats, stays_on) in [(0, false), (3, true)] {
                let mut memo = Memo {
                    seen: ENGAGE_AFTER,
                    slots: vec![0; SLOTS],
                    seed,
                    ..Memo::default()
                };
                let mut out = Vec::new();
                for i in 0..MAX_ENTRIES + 8 {
                    let text = format!("value-{i}");
                    let repeats = if i < 2 * TRIAL as usize {
                        3
                    } else {
                        later_repeats
                    };
                    for _ in 0..=repeats {
                        offer(&mut memo, &text, &mut out);
                    }
                }
                assert_eq!(
                    memo.off, !stays_on,
                    "seed {seed:#x}, later repeats {later_repeats}"
                );
            }
        }
    }

    /// A memo whose trial passed (the batch's first values repeated) turns off as soon as a
    /// window of lookups mostly misses, long before it fills; one whose values keep
    /// repeating at a quarter or more stays on.
    /// The table is kept under half full (a value the probe cannot place misses on every
    /// repeat) and the seeds are fixed, so the test is deterministic.
    #[test]
    fn values_that_stop_repeating_after_the_trial_turn_the_memo_off() {
        for n in 0..64_u64 {
            let seed = n.wrapping_mul(Mix::K) ^ 0x0ff;
            for (later_repeats, stays_on) in [(0, false), (1, true)] {
                check_window(seed, later_repeats, stays_on);
            }
        }
    }

    fn check_window(seed: u64, later_repeats: usize, stays_on: bool) {
        {
            let mut memo = Memo {
                seen: ENGAGE_AFTER,
                slots: vec![0; SLOTS],
                seed,
                ..Memo::default()
            };
            let mut out = Vec::new();
            let mut remembered_at_off = None;
            for i in 0..TRIAL as usize + 3 * WINDOW as usize {
                let text = format!("value-{i}");
                let repeats = if i < TRIAL as usize { 3 } else { later_repeats };
                for _ in 0..=repeats {
                    let leaf = Leaf {
                        text: &text,
                        kind: crate::policy::LeafKind::String,
                        field: "f",
                    };
                    let key = Key {
                        action: 1,
                        subject: 0,
                        leaf: &leaf,
                    };
                    if memo.engaged()
                        && let Err(miss) = memo.get(&key, &mut out)
                    {
                        memo.put(&key, miss, Applied::Replaced, b"x");
                    }
                    if memo.off && remembered_at_off.is_none() {
                        remembered_at_off = Some(memo.entries.len());
                    }
                }
            }
            assert_eq!(
                memo.off, !stays_on,
                "seed {seed:#x}, later repeats {later_repeats}"
            );
            if let Some(n) = remembered_at_off {
                // Off within one window of lookups after the values stopped repeating.
                assert!(n <= TRIAL as usize + WINDOW as usize, "off at {n} entries");
            }
        }
    }

    /// Every key component separates entries: action, person, kind, field and text.
    #[test]
    fn each_part_of_the_key_separates_entries() {
        let mut memo = Memo {
            seen: ENGAGE_AFTER,
            ..Memo::default()
        };
        let leaf = |text, kind, field| Leaf { text, kind, field };
        let s = crate::policy::LeafKind::String;
        let n = crate::policy::LeafKind::Number;
        let base = leaf("42", s, "a");
        let variants = [
            (2, 0, leaf("42", s, "a")),
            (1, 7, leaf("42", s, "a")),
            (1, 0, leaf("42", n, "a")),
            (1, 0, leaf("42", s, "b")),
            (1, 0, leaf("43", s, "a")),
            // The field/value boundary is part of the key: "a"+"b42" is not "ab"+"42".
            (1, 0, leaf("b42", s, "a")),
        ];
        let key = |action, subject, leaf| Key {
            action,
            subject,
            leaf,
        };
        let mut out = Vec::new();
        let first = memo.get(&key(1, 0, &base), &mut out);
        // No table yet: nothing hashed, `put` hashes with the seed it draws.
        assert_eq!(first, Err(Miss(None)));
        memo.put(
            &key(1, 0, &base),
            first.expect_err("a miss"),
            Applied::Replaced,
            b"base",
        );
        for (i, (action, subject, l)) in variants.iter().enumerate() {
            let mut out = Vec::new();
            let miss = memo
                .get(&key(*action, *subject, l), &mut out)
                .expect_err("a variant hit the base entry");
            // The lookup's hash, handed to `put`, is the key's.
            assert_eq!(miss, Miss(Some(key(*action, *subject, l).hash(memo.seed))));
            memo.put(
                &key(*action, *subject, l),
                miss,
                Applied::Dropped,
                &[b'0' + i as u8],
            );
        }
        let mut out = Vec::new();
        assert_eq!(memo.get(&key(1, 0, &base), &mut out), Ok(Applied::Replaced));
        assert_eq!(out, b"base");
        for (i, (action, subject, l)) in variants.iter().enumerate() {
            let mut out = Vec::new();
            assert_eq!(
                memo.get(&key(*action, *subject, l), &mut out),
                Ok(Applied::Dropped)
            );
            assert_eq!(out, [b'0' + i as u8]);
        }
    }
}
