//! Idleness without a timer per use: how many uses of a connection are under way and how
//! many have ended, packed in one word that each use touches twice (one atomic add at the
//! start, one at the end), and that whoever decides about idleness reads once per period.
//!
//! Both sides of the proxy use it: a client connection counts its requests in flight (and
//! their response bodies), an upstream connection its exchanges. The alternative — a channel
//! or `Notify` per change that re-arms an idle timer — wakes the connection's task twice per
//! request; measured, that was a visible share of a small request's CPU.
//!
//! The price is precision: an idle period is only noticed at the next look, so "idle for one
//! period" becomes "idle for one to two periods", except for a connection never used at all,
//! which is idle at the first look after one period (see [`Usage::idle_since_last`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// In-use count in the low 32 bits, ended-uses count in the high 32 bits (wrapping).
#[derive(Debug, Default)]
pub(super) struct Usage(AtomicU64);

/// One ended use, in the packed word.
const ENDED: u64 = 1 << 32;
/// The in-use half of the packed word.
const IN_USE: u64 = ENDED - 1;

impl Usage {
    /// A use begins.
    pub(super) fn acquire(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// A use that [`acquire`](Self::acquire) began has ended.
    pub(super) fn release(&self) {
        // +1 ended, −1 in use (in use is ≥ 1 here, so the low half never borrows).
        self.0.fetch_add(ENDED - 1, Ordering::Relaxed);
    }

    /// The reading to start comparing from: a fresh `Usage` read as "never used", so that a
    /// connection nobody ever uses is idle at the first look.
    pub(super) const NEVER_USED: u64 = 0;

    /// A reading that no state equals, for a first look that must not find the connection
    /// idle (an upstream connection is made for a request about to use it).
    pub(super) const NO_READING: u64 = u64::MAX;

    /// Whether nothing used the connection since `last` (the reading taken one look ago), and
    /// the reading to compare against next time. Unused means nothing in use now and no use
    /// ended in between — so none began either, or it would be in use or have ended.
    pub(super) fn idle_since_last(&self, last: &mut u64) -> bool {
        let now = self.0.load(Ordering::Relaxed);
        let idle = now == *last && now & IN_USE == 0;
        *last = now;
        idle
    }

    /// The current reading, to restart the comparison from now.
    pub(super) fn reading(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// When to look next: the idle check's timer, polled for real only when it may have fired.
///
/// The task that owns it wakes for its connection's work (a client connection's task and an
/// upstream connection's each wake three times per request), and a `select!` polls every
/// branch at each wake-up; a `Sleep`'s poll does its registration work every time (~120
/// instructions: the cooperative budget, the entry's state, the waker). But a polled sleep
/// keeps the waker it was given until it fires, and a task's waker is the same for the task's
/// whole life: after the first poll a wake-up only has to ask whether the sleep fired, one
/// atomic load. Hence the rule: poll it from one task only, the one that owns it.
pub(super) struct Lookout {
    sleep: Pin<Box<Sleep>>,
    /// Polled since (re)armed: the timer holds the task's waker.
    registered: bool,
}

impl Lookout {
    /// A lookout one `period` from now.
    pub(super) fn after(period: Duration) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep(period)),
            registered: false,
        }
    }

    /// Re-arms for `at`.
    pub(super) fn reset(&mut self, at: Instant) {
        self.sleep.as_mut().reset(at);
        self.registered = false;
    }

    /// Ready once the deadline has passed.
    pub(super) fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.registered && !self.sleep.is_elapsed() {
            return Poll::Pending;
        }
        self.registered = true;
        self.sleep.as_mut().poll(cx)
    }

    /// [`Lookout::poll_due`] as a future, for a `select!` branch.
    pub(super) fn due(&mut self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| self.poll_due(cx))
    }
}

/// `stop.changed()`, polled for real only once `peek` (a clone of `stop`) sees a change.
///
/// The connection's task wakes three times per request and a `select!` polls every branch at
/// each wake-up, but a receiver waiting on a watch takes the channel's lock at every poll, for
/// a signal that comes once. After the first poll the channel holds the task's waker (the
/// same for the task's whole life), so the change still wakes the task, and from then on a
/// wake-up only reads the version.
pub(super) fn stopping<'a>(
    stop: &'a mut watch::Receiver<bool>,
    peek: &'a watch::Receiver<bool>,
) -> impl Future<Output = ()> + 'a {
    let mut changed = Box::pin(stop.changed());
    let mut waiting = false;
    std::future::poll_fn(move |cx| {
        // `Err`: the sender is gone, which `changed` reports at once.
        if waiting && matches!(peek.has_changed(), Ok(false)) {
            return std::task::Poll::Pending;
        }
        waiting = true;
        changed.as_mut().poll(cx).map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_after_a_whole_unused_period() {
        let u = Usage::default();
        let mut last = Usage::NO_READING;
        // First look without a previous reading: not idle.
        assert!(!u.idle_since_last(&mut last));
        // Nothing happened for a period: idle.
        assert!(u.idle_since_last(&mut last));
        // In use across the look: not idle, however long.
        u.acquire();
        assert!(!u.idle_since_last(&mut last));
        assert!(!u.idle_since_last(&mut last));
        // Released during the period: busy in it, not idle yet.
        u.release();
        assert!(!u.idle_since_last(&mut last));
        assert!(u.idle_since_last(&mut last));
        // A whole use between two looks (begun and ended) counts as use.
        u.acquire();
        u.release();
        assert!(!u.idle_since_last(&mut last));
        assert!(u.idle_since_last(&mut last));
    }

    #[test]
    fn a_connection_never_used_is_idle_at_the_first_look() {
        let u = Usage::default();
        let mut last = Usage::NEVER_USED;
        assert!(u.idle_since_last(&mut last));
        // But one that began a use before the first look is not.
        let u = Usage::default();
        let mut last = Usage::NEVER_USED;
        u.acquire();
        assert!(!u.idle_since_last(&mut last));
        u.release();
        assert!(!u.idle_since_last(&mut last));
        assert!(u.idle_since_last(&mut last));
    }

    /// The lookout fires at its deadline although, after its first poll, a wake-up only
    /// looks at it; re-armed, it fires again at the new deadline, not before.
    #[tokio::test(start_paused = true)]
    async fn a_lookout_fires_at_each_deadline_it_is_armed_for() {
        let period = Duration::from_secs(30);
        let start = Instant::now();
        let mut look = Lookout::after(period);
        // Other work wakes the task often: the lookout is polled at every wake-up.
        let mut ticks = tokio::time::interval(Duration::from_secs(7));
        let mut fired = Vec::new();
        while fired.len() < 2 {
            tokio::select! {
                () = look.due() => {
                    fired.push(start.elapsed());
                    look.reset(Instant::now() + period);
                }
                _ = ticks.tick() => {}
            }
        }
        assert_eq!(fired, [period, 2 * period]);
        // Re-armed earlier than it would have fired: the new deadline holds.
        look.reset(Instant::now() + Duration::from_secs(5));
        look.due().await;
        assert_eq!(start.elapsed(), 2 * period + Duration::from_secs(5));
    }

    #[test]
    fn counts_wrap_without_disturbing_the_in_use_half() {
        // The ended half at its largest, nothing in use.
        let u = Usage(AtomicU64::new(!IN_USE));
        let mut last = u.reading();
        u.acquire();
        u.release();
        // The ended half wrapped to zero; the reading still differs from the last one.
        assert_eq!(u.reading(), 0);
        assert!(!u.idle_since_last(&mut last));
        assert!(u.idle_since_last(&mut last));
    }
}
