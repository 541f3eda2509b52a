//! Nonce sources.
//!
//! Nonces must be unique, not secret. [`OsNonces`] draws them from the OS CSPRNG in batches so
//! a request with a hundred encrypted fields costs one `getrandom` call, not a hundred.

use ring::rand::{SecureRandom, SystemRandom};

use super::CryptoError;

/// Where encryption gets its random bytes.
pub trait NonceSource {
    /// Fills `buf` with unpredictable bytes.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the underlying generator fails.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// Bytes drawn from the OS per `getrandom` call: 170 XAES nonces. At 512 a 16 KB batch with
/// fourteen envelopes paid two calls in three requests, the gateway's only system call per
/// request beyond reading and writing the two sockets.
const BATCH: usize = 4096;

/// Batched OS randomness. One per request (or per worker); not shared across threads.
pub struct OsNonces {
    rng: SystemRandom,
    buf: [u8; BATCH],
    pos: usize,
}

impl OsNonces {
    /// An empty source; the first `fill` draws a batch.
    pub fn new() -> Self {
        Self {
            rng: SystemRandom::new(),
            buf: [0; BATCH],
            pos: BATCH,
        }
    }
}

thread_local! {
    static THREAD_NONCES: std::cell::RefCell<OsNonces> = std::cell::RefCell::new(OsNonces::new());
}

/// Runs `f` with this thread's batched OS nonce source. One batch serves many requests on the
/// same worker thread, so a request no longer pays a `getrandom` call of its own. `f` must not
/// call `with_thread_nonces` again (it would panic on the re-entrant borrow) and should not
/// hold the source across an `.await` (it cannot: the borrow is scoped to `f`).
pub fn with_thread_nonces<R>(f: impl FnOnce(&mut OsNonces) -> R) -> R {
    THREAD_NONCES.with(|n| f(&mut n.borrow_mut()))
}

impl Default for OsNonces {
    fn default() -> Self {
        Self::new()
    }
}

impl NonceSource for OsNonces {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        if out.len() > self.buf.len() {
            return self.rng.fill(out).map_err(|_| CryptoError::Rng);
        }
        if self.buf.len() - self.pos < out.len() {
            self.rng
                .fill(&mut self.buf[..])
                .map_err(|_| CryptoError::Rng)?;
            self.pos = 0;
        }
        out.copy_from_slice(&self.buf[self.pos..self.pos + out.len()]);
        // Never hand out the same bytes twice.
        self.buf[self.pos..self.pos + out.len()].fill(0);
        self.pos += out.len();
        Ok(())
    }
}

/// Nonces from a counter, so two runs seal identically: for tests, benches and fuzzing only
/// (the `danger-test-nonces` feature), never in a gateway, where a repeated nonce would break
/// the envelopes' confidentiality.
#[cfg(any(test, feature = "danger-test-nonces"))]
pub struct DangerCounterNonces(pub u64);

#[cfg(any(test, feature = "danger-test-nonces"))]
impl NonceSource for DangerCounterNonces {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.0 += 1;
        out.fill(0);
        let n = self.0.to_be_bytes();
        let take = n.len().min(out.len());
        out[..take].copy_from_slice(&n[n.len() - take..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_nonces_do_not_repeat() {
        let mut s = OsNonces::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut n = [0u8; 24];
            s.fill(&mut n).expect("rng");
            assert!(seen.insert(n));
        }
    }
}
