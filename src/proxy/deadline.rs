//! The upstream exchange's deadline on a timer the client connection keeps for its whole life.
//!
//! `tokio::time::timeout` makes a timer per exchange: it registers it in the runtime's wheel at
//! the first poll (under the wheel's lock) and takes it out again when the exchange ends (the
//! lock again), and it moves the exchange's future into itself. On piigate's own HTTP/1.1
//! server a connection carries one request at a time, so one timer serves them all: moving a
//! registered timer's deadline later is one atomic compare-and-swap (the wheel finds the new
//! deadline when the old one comes round and files the entry again), and the exchange's future
//! is polled where it lies. The deadline means exactly what the per-exchange timeout meant:
//! the exchange is given up once `upstream_timeout` has passed since it started.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The exchange did not finish before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// One client connection's timer for its upstream exchanges. Poll it from the connection's
/// task only: after its first poll it holds that task's waker, and a wake-up then only has to
/// ask whether it fired.
#[derive(Default)]
pub(crate) struct ExchangeTimer {
    /// Made at the first exchange: a connection refused before one needs none.
    sleep: Option<Pin<Box<Sleep>>>,
    /// Polled since it was last re-armed: the timer holds the task's waker.
    registered: bool,
}

impl ExchangeTimer {
    /// Runs `exchange` until it finishes or `after` has passed since `from` (when it starts,
    /// as its caller read the clock: one reading serves the caller's measure and the
    /// deadline), as `tokio::time::timeout` would. The exchange is pinned where its caller
    /// holds it: moved in by value, its large future would be copied into this one and again
    /// wherever this one is awaited.
    pub(crate) async fn within<F: Future>(
        &mut self,
        from: Instant,
        after: Duration,
        mut exchange: Pin<&mut F>,
    ) -> Result<F::Output, Elapsed> {
        // A deadline too far to represent is 30 years away, as the runtime's own timeout has it.
        let at = from
            .checked_add(after)
            .unwrap_or_else(|| from + Duration::from_secs(86_400 * 365 * 30));
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                sleep.as_mut().reset(at);
                sleep
            }
            none => none.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        let registered = &mut self.registered;
        *registered = false;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = exchange.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            if *registered && !sleep.is_elapsed() {
                return Poll::Pending;
            }
            *registered = true;
            sleep.as_mut().poll(cx).map(|()| Err(Elapsed))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    #[tokio::test]
    async fn an_exchange_past_its_deadline_is_given_up_and_the_next_one_gets_its_own() {
        let mut timer = ExchangeTimer::default();
        let slow = timer
            .within(
                Instant::now(),
                Duration::from_millis(50),
                pin!(tokio::time::sleep(Duration::from_secs(5))),
            )
            .await;
        assert_eq!(slow, Err(Elapsed));
        // Re-armed from its own start: a fast exchange is not cut by the last deadline.
        let fast = timer
            .within(
                Instant::now(),
                Duration::from_millis(50),
                pin!(async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    7
                }),
            )
            .await;
        assert_eq!(fast, Ok(7));
        // And one that outlives the deadline after several quick ones still times out.
        for _ in 0..3 {
            let quick = timer
                .within(Instant::now(), Duration::from_millis(50), pin!(async { 1 }))
                .await;
            assert_eq!(quick, Ok(1));
        }
        let slow = timer
            .within(
                Instant::now(),
                Duration::from_millis(50),
                pin!(std::future::pending::<()>()),
            )
            .await;
        assert_eq!(slow, Err(Elapsed));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_start_its_caller_read() {
        let mut timer = ExchangeTimer::default();
        let started = Instant::now();
        tokio::time::advance(Duration::from_secs(4)).await;
        // Five seconds from a start four seconds ago: one is left, not five.
        let late = timer
            .within(
                started,
                Duration::from_secs(5),
                pin!(tokio::time::sleep(Duration::from_secs(2))),
            )
            .await;
        assert_eq!(late, Err(Elapsed));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let fresh = timer
            .within(
                Instant::now(),
                Duration::from_secs(5),
                pin!(tokio::time::sleep(Duration::from_secs(2))),
            )
            .await;
        assert_eq!(fresh, Ok(()));
    }
}
