//! Per-request state for applying actions: randomness, scratch space, the person a leaf
//! belongs to, and what the request's actions did (counts, disclosures, detections).

use std::cell::Cell;

use super::kind::ActionKind;
use crate::crypto::NonceSource;
use crate::detect::spans::{Echo, EchoBuilder, EchoLimits};
use crate::policy::disclosure::{DisclosureTally, FieldTally};
use crate::policy::names::HintCache;
use crate::policy::subject::{SubjectKeys, SubjectScopes};

/// Per-request state for applying actions: randomness, scratch space and counts.
pub struct ApplyCx<'a> {
    /// Source of nonces for `encrypt`.
    pub nonces: &'a mut dyn NonceSource,
    /// Reused working space so actions do not allocate per value.
    pub scratch: Vec<u8>,
    /// Second reused buffer (normalised input).
    pub norm: Vec<u8>,
    /// The JSON rewriter's buffer for a value's replacement, lent to each document's walk.
    pub(crate) repl: Vec<u8>,
    /// The three buffers above are the worker's ([`Self::for_worker`]): wiped and handed
    /// back when the request is done.
    kept: bool,
    /// How many values each action kind changed.
    pub counts: ActionCounts,
    /// What left, per (category, treatment), for the disclosure ledger.
    pub disclosed: DisclosureTally,
    /// Fields detection found, per normalised path and class.
    pub detected: FieldTally,
    /// Member names analysed for detection in this request (built on first use).
    pub(crate) hints: Option<HintCache>,
    /// Envelopes (and `fpe` values) that failed to open on the response path or in a reveal
    /// (left as they were).
    pub reveal_failures: u32,
    /// The member names they sat in (distinct, at most [`ApplyCx::FAILED_FIELDS`]), so a reveal
    /// can say which fields did not open. Names only, never values; callers that show them
    /// pass them through `policy::names` first (a name may itself be data).
    pub reveal_failed_fields: Vec<Box<str>>,
    /// Selected values of this request not searched for in its text because it passed the
    /// bounds of echo recognition ([`EchoLimits`]): the request is policed all the same
    /// (those values get their own rules' treatment), and this is logged and counted per route.
    pub echo_skipped: u32,
    /// Per-person keys and the payload ranges they cover (routes with a `subject`).
    pub subjects: Option<&'a SubjectScopes>,
    /// Added to leaf offsets (NDJSON: the line's start in the whole body).
    pub offset_base: usize,
    /// The request's time (Unix seconds), for period-rotated tokens. Set by the caller: the
    /// rewriter reads no clock.
    pub now_unix: u64,
    leaf_offset: usize,
    /// Leaves of a wrapped document all sit at the offset of the value that holds it.
    pinned: bool,
    /// Deterministic results of this request, for repeats.
    pub(super) memo: super::memo::Memo,
    /// The values this request's rules select, searched for in scrubbed text.
    pub(super) echo: Option<Echo>,
    /// Where the values are collected: during the first pass that only collects them
    /// ([`Feed::Only`]: actions change and count nothing), or along the one pass that also
    /// polices ([`Self::begin_one_pass`]).
    pub(super) collect: Option<EchoBuilder>,
    /// How `collect` is fed (meaningless while it is `None`).
    feed: Feed,
    /// Set by the one pass for the first document rewriter that starts, which leaves the
    /// text to search for a fill-in after it ([`Self::take_deferral`]); the documents
    /// wrapped inside it cannot (their text is re-encoded with them).
    defer_next: bool,
    /// A text was to be searched for the values during the one pass, before they were all
    /// known, by a rewriter that could not leave it for later: the pass must be redone as two.
    missed: bool,
    /// The next document of a request-wide collection is its last, and may be policed in
    /// the collection's one pass ([`Self::last_in_one_pass`]).
    last_next: bool,
    /// It was: the collection's result for it is the policed document.
    last_policed: bool,
    /// The values were collected over the whole request ([`Self::collect_request`]): each
    /// document's rewriter searches for them instead of collecting its own.
    request_echo: bool,
}

/// The working buffers a gateway worker keeps between requests ([`ApplyCx::for_worker`]).
///
/// They hold values in the clear (a value being sealed or normalised, a replacement being
/// written), so they are wiped — every byte of their capacity, not only their length — before
/// they are kept, and a buffer grown past [`WorkBufs::KEEP_MAX`] by a large value is wiped and
/// freed instead. Allocating them per request cost three allocations and frees, ~600
/// instructions of a 1 KB request's ~66k; the wipe of the typical 3 × 256 bytes is a `memset`.
#[derive(Debug, Default)]
pub struct WorkBufs {
    scratch: Vec<u8>,
    norm: Vec<u8>,
    repl: Vec<u8>,
}

impl WorkBufs {
    /// The largest buffer kept for the next request: a value this large is rare, and wiping
    /// a kept buffer costs its whole capacity on every request after.
    pub const KEEP_MAX: usize = 4096;

    /// The buffers this thread keeps for its next request, taken (a test looks at what a
    /// finished request left behind).
    #[cfg(test)]
    pub(crate) fn take_kept() -> Self {
        KEPT.try_with(Cell::take).unwrap_or_default()
    }

    /// Keeps these for the thread's next request again.
    #[cfg(test)]
    pub(crate) fn put_back(self) {
        KEPT.with(|k| k.set(self));
    }

    /// Each kept buffer: where it starts and its bytes, which are its whole capacity (a kept
    /// buffer is parked at full length, all zeros).
    #[cfg(test)]
    pub(crate) fn contents(&self) -> [(usize, usize, &[u8]); 3] {
        [&self.scratch, &self.norm, &self.repl].map(|b| (b.as_ptr() as usize, b.capacity(), &b[..]))
    }
}

thread_local! {
    /// This worker thread's [`WorkBufs`] between two requests (wiped).
    static KEPT: Cell<WorkBufs> = const {
        Cell::new(WorkBufs {
            scratch: Vec::new(),
            norm: Vec::new(),
            repl: Vec::new(),
        })
    };
}

/// Overwrites every byte of `buf`'s capacity with zeros, leaving it at full length (a kept
/// buffer is parked so: its bytes are all initialised, and a test can read them). The `memset`
/// is kept by `zeroize`'s optimisation barrier (the compiler must assume the zeros are read),
/// so it is not removed as a dead store before the buffer is reused or freed; `zeroize`'s
/// per-byte volatile writes would cost more than the allocations the kept buffers save.
fn wipe(buf: &mut Vec<u8>) {
    buf.clear();
    buf.resize(buf.capacity(), 0);
    zeroize::optimization_barrier(buf.as_slice());
}

impl Drop for ApplyCx<'_> {
    fn drop(&mut self) {
        // Wiped whether they are freed (a request's own) or kept for the worker's next
        // request; an unused buffer has no capacity and its wipe writes nothing.
        for b in [&mut self.scratch, &mut self.norm, &mut self.repl] {
            wipe(b);
        }
        if !self.kept {
            return;
        }
        let mut bufs = WorkBufs {
            scratch: std::mem::take(&mut self.scratch),
            norm: std::mem::take(&mut self.norm),
            repl: std::mem::take(&mut self.repl),
        };
        for b in [&mut bufs.scratch, &mut bufs.norm, &mut bufs.repl] {
            if b.len() > WorkBufs::KEEP_MAX {
                *b = Vec::new();
            }
        }
        // A thread being torn down frees them (wiped) instead.
        let _ = KEPT.try_with(|k| k.set(bufs));
    }
}

/// What a collecting pass must not leave behind: the tallies as they were before it.
#[derive(Debug)]
pub struct Collecting {
    counts: ActionCounts,
    disclosed: DisclosureTally,
    detected: FieldTally,
    echo_skipped: u32,
}

/// How the values rules select reach the echo builder while one is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// The collecting first pass: each action records its value and does nothing else.
    Only,
    /// The one pass: each action records its value and is applied as usual.
    Along,
    /// Inside the one pass, a value no rule selected (a span of a scrubbed text): applied,
    /// not recorded.
    Paused,
}

/// Per-request tally of applied actions, emitted once per request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ActionCounts(pub [u32; ActionKind::COUNT]);

// === impl ActionCounts ===

impl ActionCounts {
    /// Records one application.
    pub(crate) fn bump(&mut self, kind: ActionKind) {
        self.0[kind.index()] += 1;
    }

    /// Count for one kind.
    pub fn get(&self, kind: ActionKind) -> u32 {
        self.0[kind.index()]
    }

    /// Total over all kinds.
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }
}

// === impl ApplyCx ===

impl<'a> ApplyCx<'a> {
    /// Fresh per-request state with working buffers of its own, allocated on first use and
    /// wiped when it is dropped.
    pub fn new(nonces: &'a mut dyn NonceSource) -> Self {
        Self::with_bufs(nonces, WorkBufs::default(), false)
    }

    /// Built in place by both constructors (a by-value return of this struct from a call that
    /// is not inlined copies it whole).
    #[inline(always)]
    fn with_bufs(nonces: &'a mut dyn NonceSource, bufs: WorkBufs, kept: bool) -> Self {
        Self {
            nonces,
            scratch: bufs.scratch,
            norm: bufs.norm,
            repl: bufs.repl,
            kept,
            counts: ActionCounts::default(),
            disclosed: DisclosureTally::default(),
            detected: FieldTally::default(),
            hints: None,
            reveal_failures: 0,
            reveal_failed_fields: Vec::new(),
            echo_skipped: 0,
            subjects: None,
            offset_base: 0,
            now_unix: 0,
            leaf_offset: 0,
            pinned: false,
            memo: super::memo::Memo::default(),
            echo: None,
            collect: None,
            feed: Feed::Only,
            defer_next: false,
            missed: false,
            last_next: false,
            last_policed: false,
            request_echo: false,
        }
    }

    /// Per-request state on a gateway worker: the working buffers (`scratch`, `norm`,
    /// `repl`), which hold values in the clear while actions run, are the worker thread's,
    /// kept from one request to the next instead of allocated for each, and wiped when this
    /// request's state is dropped, however the request ends ([`WorkBufs`]).
    #[inline]
    pub fn for_worker(nonces: &'a mut dyn NonceSource) -> Self {
        Self::with_bufs(nonces, Self::kept_bufs(), true)
    }

    /// A gateway request's state: [`Self::for_worker`]'s when the request may apply actions
    /// (`acts`), else [`Self::new`]'s, for `subjects`. One constructor, built in place in its
    /// caller: a choice between the two constructors' results, or a [`Self::with_subjects`]
    /// after either, copies the whole state (~2 KB) per request.
    #[inline(always)]
    pub fn for_request(
        nonces: &'a mut dyn NonceSource,
        acts: bool,
        subjects: Option<&'a SubjectScopes>,
    ) -> Self {
        let bufs = if acts {
            Self::kept_bufs()
        } else {
            WorkBufs::default()
        };
        let mut cx = Self::with_bufs(nonces, bufs, acts);
        cx.subjects = subjects;
        cx
    }

    /// The worker thread's kept buffers, emptied.
    #[inline]
    fn kept_bufs() -> WorkBufs {
        let mut bufs = KEPT.try_with(Cell::take).unwrap_or_default();
        for b in [&mut bufs.scratch, &mut bufs.norm, &mut bufs.repl] {
            b.clear();
        }
        bufs
    }

    /// Lends the replacement buffer to a document's walk (empty, with the room it has).
    pub(crate) fn lend_repl(&mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.repl);
        buf.clear();
        buf
    }

    /// Takes the replacement buffer back from a walk. A walk nested in another (a document
    /// wrapped in a value) found it lent out and grew its own; of two, the larger is kept and
    /// the other wiped before it is freed.
    pub(crate) fn return_repl(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() < self.repl.capacity() {
            std::mem::swap(&mut buf, &mut self.repl);
        }
        wipe(&mut self.repl);
        self.repl = buf;
    }

    /// Starts the first of two passes over a document whose text a `scrub` rule searches for
    /// the values the other rules select: until [`Self::end_collect`], every action only
    /// records the value it would treat, and nothing is changed or counted. Bounded by
    /// [`EchoLimits`]. `None` if a collection is already under way.
    pub fn begin_collect(&mut self) -> Option<Collecting> {
        if self.collect.is_some() {
            return None;
        }
        self.collect = Some(EchoBuilder::new(EchoLimits::default()));
        self.feed = Feed::Only;
        Some(self.saved())
    }

    fn saved(&self) -> Collecting {
        Collecting {
            counts: self.counts,
            disclosed: self.disclosed,
            detected: self.detected.clone(),
            echo_skipped: self.echo_skipped,
        }
    }

    /// Starts the one pass over a document that polices it and collects the values its rules
    /// select at the same time: the document rewriter leaves the texts an echoing `scrub`
    /// searches in place and, once the document is read and the values all known, fills them
    /// in ([`Self::take_deferral`], [`Self::complete_one_pass`]); only it can, so a search
    /// anywhere else during the pass makes [`Self::end_one_pass`] say to redo the document
    /// in two passes. The returned tallies are for [`Self::abandon_one_pass`]. `None` if a
    /// collection is already under way.
    pub fn begin_one_pass(&mut self) -> Option<Collecting> {
        if self.collect.is_some() {
            return None;
        }
        let saved = self.saved();
        self.collect = Some(EchoBuilder::new(EchoLimits::default()));
        self.feed = Feed::Along;
        self.defer_next = true;
        self.missed = false;
        Some(saved)
    }

    /// Whether the rewriter starting now is the one pass's document rewriter, which leaves
    /// echoing texts for its fill-in. True once per [`Self::begin_one_pass`].
    pub(crate) fn take_deferral(&mut self) -> bool {
        std::mem::take(&mut self.defer_next)
    }

    /// The one pass's values are all collected: they become the set its fill-in searches
    /// for. Does nothing outside a one pass or once done.
    pub(crate) fn complete_one_pass(&mut self) {
        if self.collect.is_some() && self.feed != Feed::Only {
            self.feed = Feed::Only;
            self.echo = self.collect.take().map(EchoBuilder::build).filter(|e| {
                self.echo_skipped += e.skipped();
                !e.is_empty()
            });
        }
    }

    /// Ends the one pass: whether it searched every text it had to with all the values
    /// (else the caller redoes the document, [`Self::abandon_one_pass`]). The values are
    /// forgotten either way.
    pub fn end_one_pass(&mut self) -> bool {
        self.complete_one_pass();
        self.defer_next = false;
        self.echo = None;
        !std::mem::take(&mut self.missed)
    }

    /// Undoes the counting of a one pass that [`Self::end_one_pass`] said must be redone.
    pub fn abandon_one_pass(&mut self, saved: Collecting) {
        self.counts = saved.counts;
        self.disclosed = saved.disclosed;
        self.detected = saved.detected;
        self.echo_skipped = saved.echo_skipped;
    }

    /// A text is about to be searched for the selected values: during a one pass they are
    /// not all known yet, and the pass must be redone as two. Called by the searches
    /// themselves, so no rewriter can forget it.
    pub(crate) fn searching(&mut self) {
        if self.collect.is_some() && self.feed != Feed::Only {
            self.missed = true;
        }
    }

    /// The one pass's fill-in found something only the two passes can police (a member
    /// whose name echoes a selected value must go whole): the document is redone as two.
    pub(crate) fn redo_in_two_passes(&mut self) {
        self.missed = true;
    }

    /// Stops recording treated values as selected ones (a span of a scrubbed text is not a
    /// value a rule selected) until [`Self::resume_feed`] with what this returns.
    pub(crate) fn pause_feed(&mut self) -> bool {
        let along = self.collect.is_some() && self.feed == Feed::Along;
        if along {
            self.feed = Feed::Paused;
        }
        along
    }

    /// Ends a [`Self::pause_feed`].
    pub(crate) fn resume_feed(&mut self, paused: bool) {
        if paused {
            self.feed = Feed::Along;
        }
    }

    /// Whether a treated value is recorded as one the rules select, and whether the action
    /// is then applied: `(record, apply)`.
    #[inline]
    pub(super) fn feeding(&self) -> (bool, bool) {
        match (&self.collect, self.feed) {
            (None, _) => (false, true),
            (Some(_), Feed::Only) => (true, false),
            (Some(_), Feed::Along) => (true, true),
            (Some(_), Feed::Paused) => (false, true),
        }
    }

    /// Ends the collecting pass: the values collected are searched for by the `scrub` rules of
    /// the second pass, and the tallies are as they were before the first.
    pub fn end_collect(&mut self, saved: Collecting) {
        self.last_next = false;
        if self.collect.is_none() {
            // The last document was policed in the one pass ([`Self::last_in_one_pass`]),
            // which built the set; what it counted stands (the documents before it, only
            // collected, counted nothing).
            return;
        }
        self.feed = Feed::Only;
        self.echo = self.collect.take().map(EchoBuilder::build).filter(|e| {
            self.echo_skipped += e.skipped();
            !e.is_empty()
        });
        self.counts = saved.counts;
        self.disclosed = saved.disclosed;
        self.detected = saved.detected;
    }

    /// Inside [`Self::collect_request`], before the request's last document: it may be
    /// policed there and then, in one pass that collects its values with the others'
    /// and fills its echoing texts in once all are known, instead of being collected now
    /// and policed after. Whether it was is [`Self::take_last_policed`].
    pub fn last_in_one_pass(&mut self) {
        self.last_next = self.collect.is_some() && self.feed == Feed::Only;
    }

    /// Whether the rewriter starting now may police the collection's last document in one
    /// pass (true once per [`Self::last_in_one_pass`]); if it does, it calls
    /// [`Self::police_last`] around that pass.
    pub(crate) fn take_last(&mut self) -> bool {
        std::mem::take(&mut self.last_next)
    }

    /// Runs `pass`, which polices the collection's last document with deferral, in the one
    /// pass: values recorded as they are treated, the set built at its end from every
    /// document's values. Should a search have needed the values before then, what `pass`
    /// counted is undone and its result is not used: the document is policed again after the
    /// collection, with the set complete. Returns whether `pass`'s result stands.
    pub(crate) fn police_last<T>(&mut self, pass: impl FnOnce(&mut Self) -> T) -> (T, bool) {
        let saved = self.saved();
        self.feed = Feed::Along;
        self.defer_next = true;
        self.missed = false;
        let done = pass(self);
        self.complete_one_pass();
        self.defer_next = false;
        if std::mem::take(&mut self.missed) {
            let skipped = self.echo_skipped;
            self.abandon_one_pass(saved);
            self.echo_skipped = skipped;
            return (done, false);
        }
        self.last_policed = true;
        (done, true)
    }

    /// Whether the collection's last document was policed in its one pass (once).
    pub fn take_last_policed(&mut self) -> bool {
        std::mem::take(&mut self.last_policed)
    }

    /// Runs `pass` as the collecting pass of a whole request: every document of it (query,
    /// headers, cookies, body, the documents wrapped in them) is read once by `pass` with
    /// actions only recording what they would treat, and the values collected are then
    /// searched for in every document's text, whichever document selected them and whatever
    /// the order. Nothing `pass` does is counted. Does nothing if a collection is under way.
    ///
    /// # Errors
    /// What `pass` returns; the values collected until then are kept (the caller refuses the
    /// request anyway).
    pub fn collect_request<E>(
        &mut self,
        pass: impl FnOnce(&mut Self) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(saved) = self.begin_collect() else {
            return Ok(());
        };
        let done = pass(self);
        self.end_collect(saved);
        self.request_echo = true;
        done
    }

    /// Whether the values were collected for the whole request ([`Self::collect_request`]):
    /// a document's rewriter must then neither collect its own nor forget them.
    pub fn echo_collected(&self) -> bool {
        self.request_echo
    }

    /// Whether the request has selected values to search for (collected and not empty).
    pub fn has_echo(&self) -> bool {
        self.echo.is_some()
    }

    /// Whether values the rules select are being collected for this request's echo search
    /// (in either mode: a first pass of two, or the one pass).
    #[inline]
    pub(crate) fn has_collect(&self) -> bool {
        self.collect.is_some()
    }

    /// Whether this is the first pass that collects the values rules select. Detection feeds
    /// nothing into it: only what a rule selects is a value "the payload gives away".
    pub fn collecting(&self) -> bool {
        self.collect.is_some() && self.feed == Feed::Only
    }

    /// Forgets the collected values (the document they came from is done).
    pub fn clear_echo(&mut self) {
        self.echo = None;
    }

    /// Turns the memo of deterministic results off for this request: every value is computed.
    /// Outputs are the same either way; this exists to show it (tests, benches).
    pub fn without_memo(mut self) -> Self {
        self.memo = super::memo::Memo::disabled();
        self
    }

    /// How many distinct failed field names a request remembers.
    pub const FAILED_FIELDS: usize = 32;

    /// Counts a value that did not open, remembering the name of its field.
    pub fn reveal_failed(&mut self, field: &str) {
        self.reveal_failures += 1;
        if self.reveal_failed_fields.len() < Self::FAILED_FIELDS
            && !self.reveal_failed_fields.iter().any(|f| **f == *field)
        {
            self.reveal_failed_fields.push(field.into());
        }
    }

    /// Uses per-person keys for values inside these scopes.
    pub(crate) fn with_subjects(mut self, subjects: &'a SubjectScopes) -> Self {
        self.subjects = Some(subjects);
        self
    }

    /// Tells the actions where the next leaf starts (the rewriter calls this before each
    /// `apply`), relative to the document being rewritten.
    pub(crate) fn at_offset(&mut self, offset: usize) {
        if !self.pinned {
            self.leaf_offset = self.offset_base + offset;
        }
    }

    /// Keeps the current leaf offset until [`Self::unpin`]: the rewriter is inside a wrapped
    /// document, whose own offsets mean nothing in the payload, and every value in it belongs
    /// to whoever the wrapping value belongs to. Returns the previous state for `unpin`.
    pub(crate) fn pin_offset(&mut self) -> bool {
        std::mem::replace(&mut self.pinned, true)
    }

    /// Ends a [`Self::pin_offset`], restoring `previous`.
    pub(crate) fn unpin(&mut self, previous: bool) {
        self.pinned = previous;
    }

    /// The person the current leaf belongs to, if any.
    pub(super) fn subject(&self) -> Option<&'a SubjectKeys> {
        self.subjects.and_then(|s| s.at(self.leaf_offset))
    }
}
