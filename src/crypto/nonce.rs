//! Nonce sources.
//!
//! Nonces must be unique, and unlinkable: nothing in them may tell a recipient which envelopes
//! came from one worker, or in what order (no counters, no per-worker prefixes). They need not
//! be secret; an envelope carries its nonce in clear. [`OsNonces`] hands them out of a batch
//! of 4 KiB, each batch the ChaCha20 keystream under a 256-bit key drawn from the OS for that
//! batch alone, so a request with a hundred encrypted fields costs no system call of its own
//! and the kernel is asked for 32 bytes per 170 nonces instead of 4 KiB (ARCHITECTURE.md,
//! decision of 2026-12-07 on nonce batches).

use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng as _, SeedableRng as _};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::CryptoError;

/// Where encryption gets its random bytes.
pub trait NonceSource {
    /// Fills `buf` with unpredictable bytes.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the underlying generator fails.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError>;
}

/// Bytes per batch: 170 XAES nonces, one `getrandom` call of 32 bytes. A 16 KB batch with
/// fourteen envelopes takes a batch's worth every twelve requests.
const BATCH: usize = 4096;

/// Batched randomness rooted in the OS. One per request (or per worker); not shared across
/// threads.
///
/// Each batch is ChaCha20 (the same generator the kernel's `getrandom` runs, here on the
/// CPU's vector units) keyed by 32 fresh bytes from the OS, used for that one batch and wiped:
/// no generator state outlives a batch. Bytes handed out are wiped from the batch, so what
/// this holds at any moment is the part of the current batch not yet used, as with batches
/// drawn from the OS whole.
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

    /// Replaces the batch: a fresh key from the OS, its ChaCha20 keystream into `buf`.
    fn refill(&mut self) -> Result<(), CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        self.rng.fill(&mut key[..]).map_err(|_| CryptoError::Rng)?;
        keystream(&key, &mut self.buf);
        self.pos = 0;
        Ok(())
    }
}

/// Fills `buf` with the ChaCha20 keystream of `key` (block counter and stream id zero: each
/// key serves one batch). The generator's state, the key among it, and its block buffer are
/// wiped when it drops here (chacha20's `zeroize` feature).
fn keystream(key: &[u8; 32], buf: &mut [u8]) {
    let mut stream = ChaCha20Rng::from_seed(*key);
    stream.fill_bytes(buf);
}

thread_local! {
    static THREAD_NONCES: std::cell::RefCell<OsNonces> = std::cell::RefCell::new(OsNonces::new());
}

/// Runs `f` with this thread's batched nonce source. One batch serves many requests on the
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
            self.refill()?;
        }
        out.copy_from_slice(&self.buf[self.pos..self.pos + out.len()]);
        // Never hand out the same bytes twice, and keep no copy of what was handed out.
        self.buf[self.pos..self.pos + out.len()].fill(0);
        self.pos += out.len();
        Ok(())
    }
}

impl Drop for OsNonces {
    fn drop(&mut self) {
        // The rest of the batch: nonces not yet used.
        zeroize::Zeroize::zeroize(&mut self.buf[..]);
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

    /// A batch is ChaCha20 with its twenty rounds: the keystream of the all-zero key, block 0,
    /// is RFC 8439's test vector (appendix A.1, #1).
    #[test]
    fn batches_are_the_chacha20_keystream_of_their_key() {
        let mut buf = [0u8; 64];
        keystream(&[0; 32], &mut buf);
        let expected = "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7\
                        da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586";
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    /// Four batches' worth of nonces (each batch under its own key) look like random bytes:
    /// every byte value occurs and about half the bits are set. A batch left unfilled, filled
    /// twice with one key or handed out from the wrong place would fail this.
    #[test]
    fn nonces_across_batches_look_uniform() {
        let mut s = OsNonces::new();
        let mut counts = [0u32; 256];
        let mut ones = 0u64;
        let draws = 4 * (BATCH / 24);
        for _ in 0..draws {
            let mut n = [0u8; 24];
            s.fill(&mut n).expect("rng");
            for b in n {
                counts[usize::from(b)] += 1;
                ones += u64::from(b.count_ones());
            }
        }
        assert!(counts.iter().all(|&c| c > 0), "a byte value never occurred");
        let bits = (draws * 24 * 8) as u64;
        // 130,560 bits: one standard deviation is ~181 bits, the bound ~7.
        assert!(
            ones.abs_diff(bits / 2) < bits / 100,
            "{ones} of {bits} bits set"
        );
    }

    /// Requests longer than a batch go to the OS directly and are still filled.
    #[test]
    fn fills_longer_than_a_batch_come_from_the_os() {
        let mut s = OsNonces::new();
        let mut long = vec![0u8; BATCH + 1];
        s.fill(&mut long).expect("rng");
        assert!(long.iter().any(|&b| b != 0));
    }
}
