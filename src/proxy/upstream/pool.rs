//! Idle upstream connections, one set per worker thread.
//!
//! A worker checks a connection out of its own set and puts it back there: a `Mutex` behind a
//! per-thread slot (`thread_local::ThreadLocal`, one per upstream object), taken only by its
//! own worker on the request path, so it is never contended there (an uncontended lock is
//! two atomic operations). Under `per_core` a request and its upstream connection stay on one
//! thread; under `work_stealing` a task may migrate, and a connection is simply returned to
//! whichever worker finishes with it.
//!
//! HTTP/1.1 connections are exclusive: checked out, used for one exchange, returned when the
//! response body has been read to its clean end (never earlier: the connection is busy until
//! then). Between exchanges nothing polls them; a sweeper task per upstream looks at every
//! worker's idle set once per idle period and closes connections unused since its last look
//! (so after one to two periods) or closed by the upstream. An HTTP/2 connection is shared:
//! the worker keeps one and clones its sender per request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use hyper::client::conn::http2;
use thread_local::ThreadLocal;

use super::conn::Conn;
use crate::proxy::Body;
use crate::proxy::usage::Usage;

/// Idle HTTP/1.1 connections kept per worker and upstream; more are closed when returned. The
/// route's concurrency limit bounds how many are open at once.
pub(super) const MAX_IDLE: usize = 128;

/// A checked-out HTTP/2 stream's bookkeeping: the connection's use ends in `Drop`, so an
/// abandoned exchange is counted too.
pub(crate) struct Lease {
    usage: Arc<Usage>,
}

impl Lease {
    pub(super) fn h2(usage: Arc<Usage>) -> Self {
        usage.acquire();
        Self { usage }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.usage.release();
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").finish_non_exhaustive()
    }
}

/// An idle HTTP/1.1 connection.
struct Idle {
    conn: Box<Conn>,
    /// The sweeper has seen it idle once: idle still at its next look, it is closed.
    looked: bool,
}

/// One worker's connections to one upstream.
#[derive(Default)]
pub(super) struct Pool {
    /// Most recently used last: checkout takes the warmest connection, and the coldest ones
    /// are the first to reach the upstream's or our own idle timeout.
    idle: VecDeque<Idle>,
    /// The HTTP/2 connection shared by this worker's requests, once the upstream chose h2.
    h2: Option<(http2::SendRequest<Body>, Arc<Usage>)>,
}

impl Pool {
    /// This worker's HTTP/2 connection, if it has a live one.
    pub(super) fn checkout_h2(&mut self) -> Option<(http2::SendRequest<Body>, Lease)> {
        let (tx, usage) = self.h2.as_ref()?;
        if tx.is_closed() {
            self.h2 = None;
            return None;
        }
        Some((tx.clone(), Lease::h2(Arc::clone(usage))))
    }

    /// An idle HTTP/1.1 connection ready for a request, if this worker has one. Those the
    /// upstream closed (or that received bytes nobody asked for) are dropped on the way.
    pub(super) fn checkout_h1(&mut self) -> Option<Box<Conn>> {
        while let Some(mut idle) = self.idle.pop_back() {
            if idle.conn.is_fresh() {
                return Some(idle.conn);
            }
        }
        None
    }

    /// Returns a connection after a clean exchange.
    pub(super) fn checkin(&mut self, conn: Box<Conn>) {
        if self.idle.len() >= MAX_IDLE {
            self.idle.pop_front();
        }
        self.idle.push_back(Idle {
            conn,
            looked: false,
        });
    }

    /// Keeps `tx` as this worker's HTTP/2 connection unless it already has a live one.
    pub(super) fn offer_h2(&mut self, tx: &http2::SendRequest<Body>, usage: &Arc<Usage>) {
        if self.h2.as_ref().is_none_or(|(t, _)| t.is_closed()) {
            self.h2 = Some((tx.clone(), Arc::clone(usage)));
        }
    }

    /// The sweeper's look: closes connections idle since the last look, or no longer fresh.
    fn sweep(&mut self) {
        self.idle.retain_mut(|i| {
            let keep = !i.looked && i.conn.is_fresh();
            i.looked = true;
            keep
        });
    }
}

/// Every worker's [`Pool`] for one upstream.
#[derive(Default)]
pub(crate) struct WorkerPools {
    pools: ThreadLocal<Mutex<Pool>>,
    /// The sweeper task runs (started at the first connection).
    swept: AtomicBool,
}

impl WorkerPools {
    /// This thread's pool. Held only for a checkout or a checkin, never across an `.await`.
    pub(super) fn local(&self) -> MutexGuard<'_, Pool> {
        self.pools
            .get_or_default()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the sweeper on the current runtime, once: it looks every `period` and ends
    /// once the upstream is gone (a reload dropped it).
    pub(super) fn sweep_every(self: &Arc<Self>, period: Duration) {
        if self.swept.swap(true, Ordering::Relaxed) {
            return;
        }
        tokio::spawn(sweeper(Arc::downgrade(self), period));
    }
}

async fn sweeper(pools: Weak<WorkerPools>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let Some(pools) = pools.upgrade() else { return };
        for pool in pools.pools.iter() {
            pool.lock().unwrap_or_else(PoisonError::into_inner).sweep();
        }
    }
}

impl std::fmt::Debug for WorkerPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerPools")
    }
}
