//! The disclosure ledger: what left, to whom, and how — counts only, never values.
//!
//! The request path adds counts to an in-memory [`Ledger`] (a mutex and a few hash-map updates
//! per request); a [`LedgerFlusher`] task moves them into the store every interval and once more
//! on shutdown. A crash loses at most one interval of counts; a clean shutdown loses nothing.
//! Counts are bucketed per UTC day and merged additively in the store, so several replicas can
//! flush into one PostgreSQL database.
//!
//! A flush that fails puts its counts back, to be retried with the next one. A flush whose commit
//! succeeded but whose acknowledgement was lost (a dropped connection at exactly that moment)
//! is retried too and counts twice: the ledger is at-least-once, which errs on the side of
//! over-reporting a disclosure.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Store, StoreError};

/// A label from a bounded vocabulary (purpose, CCPA category, treatment, detector class):
/// borrowed from a `&'static str` on the request path, owned when read back.
pub type Label = Cow<'static, str>;

/// A UTC calendar day, as days since 1970-01-01: the ledger's time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Day(i32);

/// One (recipient route, purpose, PII category, treatment) cell of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisclosureKey {
    /// The route (recipient) name.
    pub route: Arc<str>,
    /// The route's declared purpose, e.g. `analytics`.
    pub purpose: Label,
    /// The CCPA category, e.g. `B` or a longer stable label chosen by the caller.
    pub category: Label,
    /// How it left: `clear`, `tokenized`, `encrypted`, `hashed`, `masked`, `generalized`,
    /// `redacted`, `dropped`.
    pub treatment: Label,
}

/// A [`DisclosureKey`] with its hash, made once (per configuration, for the cells a route can
/// count) so that counting a request's cells hashes and compares no strings: the request path
/// looks a cell up by its stored hash, and finds it by pointer when the pending map holds the
/// same configuration's key (by content otherwise, e.g. across a reload).
#[derive(Debug, Clone)]
pub struct LedgerCell(Arc<HashedKey>);

#[derive(Debug)]
struct HashedKey {
    hash: u64,
    key: DisclosureKey,
}

/// Hashes every [`LedgerCell`] alike, whoever built it: a fixed seed, since a cell's hash is
/// computed once and compared across cells built at different times. Its keys are route names
/// and labels from the configuration's vocabulary, with no attacker to flood the map.
const CELL_SEED: u64 = 0x5049_4947_4154_4531;

/// The hasher of the pending cells: a cell's hash is already a foldhash of its key.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoredHash(u64);

impl std::hash::Hasher for StoredHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `LedgerCell::hash` feeds this hasher, through `write_u64`; anything else is
        // folded in rather than lost.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One day's disclosure counts per cell.
pub(crate) type DisclosureCells =
    HashMap<LedgerCell, u64, std::hash::BuildHasherDefault<StoredHash>>;

/// (day, route, class): the outer key of [`LedgerDelta`]'s field counts.
pub(crate) type FieldGroup = (Day, Arc<str>, Label);

/// Counts not yet written to the store. Built by [`Ledger`]; taken whole by a flush.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LedgerDelta {
    /// Hashed with foldhash, not SipHash: its keys are route names and labels from the
    /// config's vocabulary, so there is no attacker to flood it, and each request updates a
    /// few cells. (Field paths, which payloads name, keep SipHash.)
    /// Per day, then per cell: the request path looks a cell up by reference and clones its
    /// key only for a cell not pending yet.
    pub(crate) disclosures: HashMap<Day, DisclosureCells, foldhash::fast::RandomState>,
    /// (day, route, class) → field path → stats. Two levels so the request path can look a
    /// path up by `&str` and allocate only for a path not seen since the last flush.
    pub(crate) fields: HashMap<FieldGroup, HashMap<Box<str>, FieldStats>>,
}

/// Sightings of one undeclared field (found by detection) in one day bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldStats {
    /// How many values were seen.
    pub count: u64,
    /// First sighting, Unix seconds.
    pub first_seen: i64,
    /// Last sighting, Unix seconds.
    pub last_seen: i64,
}

/// The in-memory side of the ledger. Share it as `Arc<Ledger>`.
///
/// Field paths are capped per route and UTC day ([`Ledger::DEFAULT_FIELD_PATHS`] unless built
/// [`Ledger::with_field_cap`]): a payload that invents keys cannot grow the ledger (or the
/// store) without bound. Past the cap, sightings of new paths are counted under
/// [`OTHER_PATHS`] — the counts are kept, only the path is lost. The cap is per process; with
/// N replicas the store holds at most N × cap paths per route and day.
#[derive(Debug)]
pub struct Ledger {
    inner: Mutex<Inner>,
    field_cap: usize,
}

#[derive(Debug, Default)]
struct Inner {
    pending: LedgerDelta,
    /// Per route: the day and the distinct paths recorded on it (for the cap).
    seen: HashMap<Arc<str>, (Day, std::collections::HashSet<Box<str>>)>,
}

/// The field path that stands for paths past the cap.
pub const OTHER_PATHS: &str = "(other paths)";

/// One request's records, written under a single lock ([`Ledger::batch`]).
pub struct LedgerBatch<'a> {
    inner: MutexGuard<'a, Inner>,
    cap: usize,
    at: SystemTime,
    day: Day,
    secs: i64,
}

/// Ledger totals over an inclusive range of days, from
/// [`Store::ledger_report`](super::Store::ledger_report). Rows are sorted by their keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerReport {
    /// First day included.
    pub from: Day,
    /// Last day included.
    pub to: Day,
    /// Counts per (route, purpose, category, treatment), summed over the range.
    pub disclosures: Vec<DisclosureRow>,
    /// Undeclared fields per (route, field path, class), summed over the range.
    pub fields: Vec<FieldRow>,
}

/// One row of [`LedgerReport::disclosures`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DisclosureRow {
    /// Recipient route.
    pub route: String,
    /// Declared purpose.
    pub purpose: String,
    /// PII category.
    pub category: String,
    /// Treatment.
    pub treatment: String,
    /// Values disclosed.
    pub count: u64,
}

/// One row of [`LedgerReport::fields`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FieldRow {
    /// Recipient route.
    pub route: String,
    /// Field path as the caller normalised it (e.g. `$.properties.contact_email`).
    pub field_path: String,
    /// Detector class, e.g. `email`.
    pub class: String,
    /// Values seen.
    pub count: u64,
    /// First sighting in the range, Unix seconds.
    pub first_seen: i64,
    /// Last sighting in the range, Unix seconds.
    pub last_seen: i64,
}

/// What one flush wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushStats {
    /// Disclosure cells written.
    pub disclosure_rows: usize,
    /// Field rows written.
    pub field_rows: usize,
}

/// The background task that flushes a [`Ledger`] into a [`Store`] every interval.
#[derive(Debug)]
pub struct LedgerFlusher {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), StoreError>>,
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

pub(crate) fn from_unix_secs(s: i64) -> SystemTime {
    if s >= 0 {
        UNIX_EPOCH + Duration::from_secs(s.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
    }
}

// === impl Day ===

impl Day {
    /// The day `days` after 1970-01-01.
    pub const fn from_days_since_epoch(days: i32) -> Self {
        Self(days)
    }

    /// The UTC day containing `t`.
    pub fn of(t: SystemTime) -> Self {
        let days = unix_secs(t).div_euclid(86_400);
        Self(i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX }))
    }

    /// Today (UTC).
    pub fn today() -> Self {
        Self::of(SystemTime::now())
    }

    /// Days since 1970-01-01.
    pub(crate) const fn days_since_epoch(self) -> i32 {
        self.0
    }

    /// The day `n` days earlier (saturating), e.g. `Day::today().minus(364)` for "the last 12
    /// months".
    pub const fn minus(self, n: i32) -> Self {
        Self(self.0.saturating_sub(n))
    }
}

// === impl DisclosureKey ===

impl DisclosureKey {
    /// A cell key; labels are usually `&'static str` from the caller's enums.
    pub fn new(
        route: Arc<str>,
        purpose: impl Into<Label>,
        category: impl Into<Label>,
        treatment: impl Into<Label>,
    ) -> Self {
        Self {
            route,
            purpose: purpose.into(),
            category: category.into(),
            treatment: treatment.into(),
        }
    }
}

// === impl LedgerCell ===

impl LedgerCell {
    /// `key` with its hash.
    pub fn new(key: DisclosureKey) -> Self {
        use std::hash::BuildHasher;
        let hash = foldhash::fast::FixedState::with_seed(CELL_SEED).hash_one(&key);
        Self(Arc::new(HashedKey { hash, key }))
    }

    /// The cell's key.
    pub fn key(&self) -> &DisclosureKey {
        &self.0.key
    }
}

impl std::hash::Hash for LedgerCell {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl PartialEq for LedgerCell {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || (self.0.hash == other.0.hash && self.0.key == other.0.key)
    }
}

impl Eq for LedgerCell {}

// === impl LedgerDelta ===

impl LedgerDelta {
    /// `true` if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.disclosures.is_empty() && self.fields.is_empty()
    }

    fn merge(&mut self, other: Self) {
        for (day, cells) in other.disclosures {
            let mine = self.disclosures.entry(day).or_default();
            for (k, n) in cells {
                *mine.entry(k).or_insert(0) += n;
            }
        }
        for (k, paths) in other.fields {
            let mine = self.fields.entry(k).or_default();
            for (path, s) in paths {
                mine.entry(path).and_modify(|m| m.absorb(s)).or_insert(s);
            }
        }
    }

    /// Disclosure cells as flat rows: (day, key, count).
    pub(crate) fn disclosure_rows(&self) -> impl Iterator<Item = (Day, &DisclosureKey, u64)> {
        self.disclosures
            .iter()
            .flat_map(|(d, cells)| cells.iter().map(move |(k, n)| (*d, k.key(), *n)))
    }

    /// Field rows as flat tuples: (day, route, path, class, stats).
    pub(crate) fn field_rows(&self) -> impl Iterator<Item = (Day, &str, &str, &str, FieldStats)> {
        self.fields.iter().flat_map(|((d, route, class), paths)| {
            paths
                .iter()
                .map(move |(p, s)| (*d, &**route, &**p, &**class, *s))
        })
    }

    pub(crate) fn stats(&self) -> FlushStats {
        FlushStats {
            disclosure_rows: self.disclosures.values().map(HashMap::len).sum(),
            field_rows: self.fields.values().map(HashMap::len).sum(),
        }
    }
}

// === impl FieldStats ===

impl FieldStats {
    pub(crate) fn absorb(&mut self, other: Self) {
        self.count += other.count;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

// === impl Ledger ===

impl Default for Ledger {
    fn default() -> Self {
        Self::with_field_cap(Self::DEFAULT_FIELD_PATHS)
    }
}

impl Ledger {
    /// Distinct field paths recorded per route and UTC day by default.
    pub const DEFAULT_FIELD_PATHS: usize = 1000;

    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty ledger that records at most `cap` distinct field paths per route and UTC day.
    pub(crate) fn with_field_cap(cap: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            field_cap: cap,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Updates are single map operations; a poisoned lock still holds consistent counts.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts recording one request's counts at time `at`: one lock for all of them.
    pub(crate) fn batch_at(&self, at: SystemTime) -> LedgerBatch<'_> {
        LedgerBatch {
            inner: self.lock(),
            cap: self.field_cap,
            at,
            day: Day::of(at),
            secs: unix_secs(at),
        }
    }

    /// [`Ledger::batch_at`] now.
    pub fn batch(&self) -> LedgerBatch<'_> {
        self.batch_at(SystemTime::now())
    }

    /// Adds `count` disclosures of `key` now. Call once per request per cell, with counts
    /// tallied locally (or use [`Ledger::batch`] for several cells).
    pub fn record_disclosure(&self, key: &DisclosureKey, count: u64) {
        self.record_disclosure_at(SystemTime::now(), key, count);
    }

    /// As [`Ledger::record_disclosure`], at time `at`.
    pub fn record_disclosure_at(&self, at: SystemTime, key: &DisclosureKey, count: u64) {
        self.batch_at(at).disclosure(key, count);
    }

    /// Adds `count` sightings of an undeclared field now. `field_path` must not carry values
    /// (normalise array indices and data-bearing keys before calling).
    pub fn record_field(&self, route: &Arc<str>, field_path: &str, class: &Label, count: u64) {
        self.record_field_at(SystemTime::now(), route, field_path, class, count);
    }

    /// As [`Ledger::record_field`], at time `at`.
    pub fn record_field_at(
        &self,
        at: SystemTime,
        route: &Arc<str>,
        field_path: &str,
        class: &Label,
        count: u64,
    ) {
        self.batch_at(at).field(route, field_path, class, count);
    }

    /// Takes everything pending, leaving the ledger empty.
    pub fn take(&self) -> LedgerDelta {
        std::mem::take(&mut self.lock().pending)
    }

    /// Puts counts back (after a failed write), merging with anything recorded since.
    pub fn restore(&self, delta: LedgerDelta) {
        self.lock().pending.merge(delta);
    }

    /// `true` if nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.lock().pending.is_empty()
    }

    /// Writes everything pending to `store` in one transaction.
    ///
    /// # Errors
    ///
    /// The store's error; the counts are kept for the next flush.
    pub async fn flush(&self, store: &Store) -> Result<FlushStats, StoreError> {
        let delta = self.take();
        if delta.is_empty() {
            return Ok(FlushStats::default());
        }
        let stats = delta.stats();
        match store.add_ledger(&delta).await {
            Ok(()) => Ok(stats),
            Err(e) => {
                self.restore(delta);
                Err(e)
            }
        }
    }
}

// === impl LedgerBatch ===

impl LedgerBatch<'_> {
    /// Adds `count` disclosures of `key`.
    pub fn disclosure(&mut self, key: &DisclosureKey, count: u64) {
        if count == 0 {
            return;
        }
        self.cell(&LedgerCell::new(key.clone()), count);
    }

    /// Adds `count` disclosures of `cell`: the request path's step, with the cell's hash made
    /// beforehand; the cell is cloned (a reference count) only when not pending yet.
    pub fn cell(&mut self, cell: &LedgerCell, count: u64) {
        if count == 0 {
            return;
        }
        let cells = self.inner.pending.disclosures.entry(self.day).or_default();
        match cells.get_mut(cell) {
            Some(n) => *n = n.saturating_add(count),
            None => {
                cells.insert(cell.clone(), count);
            }
        }
    }

    /// Adds `count` sightings of an undeclared field. `field_path` must not carry values
    /// (normalise array indices and data-bearing keys before calling). A path past the route's
    /// cap for the day is counted under [`OTHER_PATHS`].
    pub fn field(&mut self, route: &Arc<str>, field_path: &str, class: &Label, count: u64) {
        if count == 0 {
            return;
        }
        let (day, cap) = (self.day, self.cap);
        let Inner { pending, seen } = &mut *self.inner;
        // The cap: distinct paths per route and day, in this process.
        let known = match seen.get_mut(route) {
            Some(k) => k,
            None => seen
                .entry(route.clone())
                .or_insert_with(|| (day, std::collections::HashSet::new())),
        };
        if known.0 != day {
            *known = (day, std::collections::HashSet::new());
        }
        let path = if known.1.contains(field_path) || field_path == OTHER_PATHS {
            field_path
        } else if known.1.len() < cap {
            known.1.insert(field_path.into());
            field_path
        } else {
            OTHER_PATHS
        };
        let s = FieldStats {
            count,
            first_seen: self.secs,
            last_seen: self.secs,
        };
        let paths = pending
            .fields
            .entry((day, route.clone(), class.clone()))
            .or_default();
        match paths.get_mut(path) {
            Some(m) => m.absorb(s),
            None => {
                paths.insert(path.into(), s);
            }
        }
    }

    /// The time this batch records at.
    pub fn at(&self) -> SystemTime {
        self.at
    }
}

// === impl LedgerFlusher ===

impl LedgerFlusher {
    /// Spawns a task that flushes `ledger` into `store` every `interval` (a failed flush logs a
    /// warning and keeps its counts for the next one). Call [`LedgerFlusher::shutdown`] to
    /// flush a last time and stop. An interval under one second is raised to one second.
    pub fn spawn(ledger: Arc<Ledger>, store: Store, interval: Duration) -> Self {
        let interval = interval.max(Duration::from_secs(1));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // the first tick is immediate
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = ledger.flush(&store).await {
                            tracing::warn!(error = %e, code = e.code(), "Ledger flush failed; counts kept for the next flush.");
                        }
                    }
                    _ = &mut stopped => break,
                }
            }
            ledger.flush(&store).await.map(|_| ())
        });
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Flushes one last time and stops the task.
    ///
    /// # Errors
    ///
    /// The last flush's error (its counts stay in the [`Ledger`]), or
    /// [`StoreError::Worker`] if the task panicked.
    pub async fn shutdown(mut self) -> Result<(), StoreError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(|_| StoreError::Worker)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64, secs: i64) -> SystemTime {
        from_unix_secs(days * 86_400 + secs)
    }

    #[test]
    fn day_buckets_are_utc_days() {
        assert_eq!(Day::of(at(0, 0)), Day(0));
        assert_eq!(Day::of(at(0, 86_399)), Day(0));
        assert_eq!(Day::of(at(1, 0)), Day(1));
        assert_eq!(Day::of(from_unix_secs(-1)), Day(-1));
        assert_eq!(Day(10).minus(3), Day(7));
    }

    #[test]
    fn counts_merge_per_cell_and_day() {
        let l = Ledger::new();
        let route: Arc<str> = Arc::from("segment");
        let k = DisclosureKey::new(route.clone(), "analytics", "B", "tokenized");
        l.record_disclosure_at(at(5, 10), &k, 2);
        l.record_disclosure_at(at(5, 20), &k, 3);
        l.record_disclosure_at(at(6, 0), &k, 1);
        l.record_disclosure_at(at(6, 0), &k, 0);
        let class: Label = Cow::Borrowed("email");
        l.record_field_at(at(5, 30), &route, "$.props.mail", &class, 1);
        l.record_field_at(at(5, 10), &route, "$.props.mail", &class, 4);
        let d = l.take();
        assert!(l.is_empty());
        assert_eq!(d.disclosures[&Day(5)][&LedgerCell::new(k.clone())], 5);
        assert_eq!(d.disclosures[&Day(6)][&LedgerCell::new(k)], 1);
        let f = d.fields[&(Day(5), route, class)]["$.props.mail"];
        assert_eq!(
            f,
            FieldStats {
                count: 5,
                first_seen: 5 * 86_400 + 10,
                last_seen: 5 * 86_400 + 30
            }
        );
        assert_eq!(
            d.stats(),
            FlushStats {
                disclosure_rows: 2,
                field_rows: 1
            }
        );
    }

    #[test]
    fn field_paths_are_capped_per_route_and_day() {
        let l = Ledger::with_field_cap(2);
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let class: Label = Cow::Borrowed("email");
        for p in ["$.x", "$.y", "$.z", "$.x"] {
            l.record_field_at(at(1, 0), &a, p, &class, 1);
        }
        l.record_field_at(at(1, 0), &b, "$.z", &class, 1);
        // A new day starts a new budget.
        l.record_field_at(at(2, 0), &a, "$.z", &class, 1);
        let d = l.take();
        let day1 = &d.fields[&(Day(1), a.clone(), class.clone())];
        assert_eq!(day1.len(), 3);
        assert_eq!(day1["$.x"].count, 2);
        assert_eq!(day1[OTHER_PATHS].count, 1);
        assert!(d.fields[&(Day(1), b, class.clone())].contains_key("$.z"));
        assert!(d.fields[&(Day(2), a, class)].contains_key("$.z"));
    }

    #[test]
    fn restore_merges_with_newer_counts() {
        let l = Ledger::new();
        let k = DisclosureKey::new(Arc::from("r"), "analytics", "A", "clear");
        l.record_disclosure_at(at(1, 0), &k, 2);
        let taken = l.take();
        l.record_disclosure_at(at(1, 0), &k, 5);
        l.restore(taken);
        assert_eq!(l.take().disclosures[&Day(1)][&LedgerCell::new(k)], 7);
    }
}
