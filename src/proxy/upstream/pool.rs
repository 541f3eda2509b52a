//! Idle upstream connections, one set per worker thread.
//!
//! A worker checks a connection out of its own set and puts it back there: a `RefCell` behind
//! a per-thread slot (`thread_local::ThreadLocal`, one per upstream object), so the request
//! path takes no lock and touches no other thread's memory. Under `per_core` a request, its
//! upstream connection and the task driving that connection all stay on one thread; under
//! `work_stealing` a task may migrate, and a connection is simply returned to whichever
//! worker finishes with it.
//!
//! HTTP/1.1 connections are exclusive: checked out, used for one exchange, returned when the
//! response body has been read to its end (never earlier: the connection is busy until then).
//! An HTTP/2 connection is shared: the worker keeps one and clones its sender per request.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use hyper::client::conn::{http1, http2};
use thread_local::ThreadLocal;

use crate::proxy::Body;
use crate::proxy::usage::Usage;

/// Idle HTTP/1.1 connections kept per worker and upstream; more are closed when returned. The
/// route's concurrency limit bounds how many are open at once.
pub(super) const MAX_IDLE: usize = 128;

/// A checked-out connection: the sender to use now and the bookkeeping to do when the
/// exchange ends (the release is in `Drop`, so an abandoned exchange is counted too).
pub(crate) struct Lease {
    usage: Arc<Usage>,
    /// HTTP/1.1: the sender goes back to the pool when the exchange completed cleanly.
    h1: Option<(http1::SendRequest<Body>, Arc<WorkerPools>)>,
}

impl Lease {
    pub(super) fn h1(
        tx: http1::SendRequest<Body>,
        usage: Arc<Usage>,
        home: Arc<WorkerPools>,
    ) -> Self {
        usage.acquire();
        Self {
            usage,
            h1: Some((tx, home)),
        }
    }

    pub(super) fn h2(usage: Arc<Usage>) -> Self {
        usage.acquire();
        Self { usage, h1: None }
    }

    /// The HTTP/1.1 sender, while the lease holds one.
    pub(super) fn h1_sender(&mut self) -> Option<&mut http1::SendRequest<Body>> {
        self.h1.as_mut().map(|(tx, _)| tx)
    }

    /// The exchange is over and the response was read to its end: an HTTP/1.1 connection that
    /// can take another request goes back to the current worker's idle set.
    pub(crate) fn finish(mut self) {
        if let Some((tx, home)) = self.h1.take()
            && tx.is_ready()
        {
            home.local().checkin(tx, Arc::clone(&self.usage));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.usage.release();
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("h1", &self.h1.is_some())
            .finish_non_exhaustive()
    }
}

/// An idle HTTP/1.1 connection.
struct Idle {
    tx: http1::SendRequest<Body>,
    usage: Arc<Usage>,
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
    /// A connection ready for a request, if this worker has one.
    pub(super) fn checkout(&mut self, home: &Arc<WorkerPools>) -> Option<Checkout> {
        if let Some((tx, usage)) = &self.h2 {
            if !tx.is_closed() {
                return Some(Checkout::H2(tx.clone(), Lease::h2(Arc::clone(usage))));
            }
            self.h2 = None;
        }
        while let Some(idle) = self.idle.pop_back() {
            // A connection the upstream (or our idle timeout) closed, or one still finishing
            // its last exchange, is dropped.
            if idle.tx.is_ready() {
                return Some(Checkout::H1(Lease::h1(
                    idle.tx,
                    idle.usage,
                    Arc::clone(home),
                )));
            }
        }
        None
    }

    fn checkin(&mut self, tx: http1::SendRequest<Body>, usage: Arc<Usage>) {
        // Connections closed while idle are found here as well as at checkout.
        while self.idle.front().is_some_and(|i| i.tx.is_closed()) {
            self.idle.pop_front();
        }
        if self.idle.len() >= MAX_IDLE {
            self.idle.pop_front();
        }
        self.idle.push_back(Idle { tx, usage });
    }

    /// Keeps `tx` as this worker's HTTP/2 connection unless it already has a live one.
    pub(super) fn offer_h2(&mut self, tx: &http2::SendRequest<Body>, usage: &Arc<Usage>) {
        if self.h2.as_ref().is_none_or(|(t, _)| t.is_closed()) {
            self.h2 = Some((tx.clone(), Arc::clone(usage)));
        }
    }
}

/// A connection taken for one exchange.
pub(super) enum Checkout {
    H1(Lease),
    H2(http2::SendRequest<Body>, Lease),
}

/// Every worker's [`Pool`] for one upstream.
#[derive(Default)]
pub(crate) struct WorkerPools(ThreadLocal<RefCell<Pool>>);

impl WorkerPools {
    /// This thread's pool. Borrows never span an `.await`, so the `RefCell` is never contended.
    pub(super) fn local(&self) -> std::cell::RefMut<'_, Pool> {
        self.0.get_or_default().borrow_mut()
    }
}

impl std::fmt::Debug for WorkerPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerPools")
    }
}
