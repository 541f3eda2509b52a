//! A bounded, expiring in-memory cache of subject secrets.
//!
//! Why FIFO and not LRU: every entry expires `ttl` after it was fetched (that is what bounds
//! how long an erasure on another replica can go unnoticed here), so the oldest-inserted entry
//! is also the one closest to expiry. Evicting it first costs at most one early re-fetch and
//! needs only a queue, with no per-hit bookkeeping under the lock.
//!
//! Memory: about 200 bytes per entry (key, shared secret allocation, queue slot, a few recorded
//! routes), so the default 100 000 entries stay near 20 MiB.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::subject::{SubjectKey, SubjectSecret};

/// Bounds of the subject-secret cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most entries held; the oldest is evicted past this. `0` disables the cache.
    pub capacity: usize,
    /// How long a fetched secret is used before the store is asked again. This is the bound on
    /// how long an erasure made through *another* replica can take to reach this one. A zero
    /// TTL disables the cache.
    pub ttl: Duration,
}

impl Default for CacheConfig {
    /// 100 000 subjects, 30 seconds.
    fn default() -> Self {
        Self {
            capacity: 100_000,
            ttl: Duration::from_secs(30),
        }
    }
}

pub(crate) struct SecretCache {
    config: CacheConfig,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<SubjectKey, Entry>,
    /// Insertion order; entries whose `seq` no longer matches the map are stale and skipped.
    order: VecDeque<(SubjectKey, u64)>,
    next_seq: u64,
    /// Bumped by every invalidation, so a fetch that raced an erasure does not re-insert the
    /// secret it read before the erasure.
    epoch: u64,
}

struct Entry {
    secret: SubjectSecret,
    fetched: Instant,
    seq: u64,
    /// Routes already recorded as recipients of this subject (for this entry's lifetime), so
    /// the store is written once per (subject, route) per TTL rather than once per request.
    recipients: Vec<Arc<str>>,
}

// === impl SecretCache ===

impl SecretCache {
    pub(crate) fn new(config: CacheConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn enabled(&self) -> bool {
        self.config.capacity > 0 && !self.config.ttl.is_zero()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (no invariant spans two
        // statements that can panic), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current invalidation epoch; pass it back to [`SecretCache::insert`].
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// A live, unexpired secret.
    pub(crate) fn get(&self, key: &SubjectKey) -> Option<SubjectSecret> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.lock();
        let entry = inner.map.get(key)?;
        if entry.fetched.elapsed() < self.config.ttl {
            return Some(entry.secret.clone());
        }
        inner.map.remove(key);
        None
    }

    /// Caches `secret` unless an invalidation happened since `epoch` was read.
    pub(crate) fn insert(&self, key: SubjectKey, secret: SubjectSecret, epoch: u64) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let recipients = match inner.map.remove(&key) {
            // Same generation: the routes recorded so far are still recorded.
            Some(old) if old.secret.generation() == secret.generation() => old.recipients,
            _ => Vec::new(),
        };
        inner.map.insert(
            key,
            Entry {
                secret,
                fetched: Instant::now(),
                seq,
                recipients,
            },
        );
        inner.order.push_back((key, seq));
        while inner.map.len() > self.config.capacity {
            let Some((old, old_seq)) = inner.order.pop_front() else {
                break;
            };
            if inner.map.get(&old).is_some_and(|e| e.seq == old_seq) {
                inner.map.remove(&old);
            }
        }
        // Re-inserts and invalidations leave stale queue slots; keep the queue within a constant
        // factor of the map.
        if inner.order.len() > 2 * self.config.capacity + 64 {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(k, s)| map.get(k).is_some_and(|e| e.seq == *s));
        }
    }

    /// Drops `key` and makes in-flight fetches discard what they read.
    pub(crate) fn invalidate(&self, key: &SubjectKey) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.map.remove(key);
    }

    /// Drops everything (for example after a config reload changed the subject keyer).
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.map.clear();
        inner.order.clear();
    }

    /// `true` if `route` was already recorded for the cached entry of `key`.
    pub(crate) fn has_recipient(&self, key: &SubjectKey, route: &str) -> bool {
        let inner = self.lock();
        inner.map.get(key).is_some_and(|e| {
            e.fetched.elapsed() < self.config.ttl && e.recipients.iter().any(|r| &**r == route)
        })
    }

    /// Notes that `route` is recorded for `key`, if `key` is cached.
    pub(crate) fn add_recipient(&self, key: &SubjectKey, route: &str) {
        let mut inner = self.lock();
        if let Some(e) = inner.map.get_mut(key)
            && !e.recipients.iter().any(|r| &**r == route)
        {
            e.recipients.push(Arc::from(route));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    fn key(n: u8) -> SubjectKey {
        SubjectKey::from_bytes([n; 32])
    }

    fn secret(n: u8, generation: u64) -> SubjectSecret {
        SubjectSecret::new(Zeroizing::new([n; 32]), generation)
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_ttl() {
        let c = SecretCache::new(CacheConfig {
            capacity: 8,
            ttl: Duration::from_secs(30),
        });
        c.insert(key(1), secret(1, 0), c.epoch());
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(c.get(&key(1)), Some(secret(1, 0)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(c.get(&key(1)), None);
    }

    #[test]
    fn capacity_is_a_hard_bound_and_evicts_oldest() {
        let c = SecretCache::new(CacheConfig {
            capacity: 3,
            ttl: Duration::from_secs(60),
        });
        for n in 0..10u8 {
            c.insert(key(n), secret(n, 0), c.epoch());
            assert!(c.len() <= 3);
        }
        assert_eq!(c.get(&key(6)), None);
        for n in 7..10u8 {
            assert_eq!(c.get(&key(n)), Some(secret(n, 0)));
        }
        // Re-inserting the same keys over and over keeps the queue bounded too.
        for _ in 0..1000 {
            c.insert(key(9), secret(9, 0), c.epoch());
        }
        assert!(c.lock().order.len() <= 2 * 3 + 64 + 1);
        assert_eq!(c.get(&key(8)), Some(secret(8, 0)));
    }

    #[test]
    fn invalidation_wins_over_a_racing_fetch() {
        let c = SecretCache::new(CacheConfig::default());
        let before = c.epoch();
        c.invalidate(&key(1));
        c.insert(key(1), secret(1, 0), before);
        assert_eq!(c.get(&key(1)), None);
    }

    #[test]
    fn recipients_reset_with_a_new_generation() {
        let c = SecretCache::new(CacheConfig::default());
        c.insert(key(1), secret(1, 0), c.epoch());
        assert!(!c.has_recipient(&key(1), "segment"));
        c.add_recipient(&key(1), "segment");
        assert!(c.has_recipient(&key(1), "segment"));
        c.insert(key(1), secret(1, 0), c.epoch());
        assert!(c.has_recipient(&key(1), "segment"));
        c.insert(key(1), secret(2, 1), c.epoch());
        assert!(!c.has_recipient(&key(1), "segment"));
    }

    #[test]
    fn zero_capacity_or_ttl_disables() {
        for config in [
            CacheConfig {
                capacity: 0,
                ttl: Duration::from_secs(1),
            },
            CacheConfig {
                capacity: 1,
                ttl: Duration::ZERO,
            },
        ] {
            let c = SecretCache::new(config);
            c.insert(key(1), secret(1, 0), c.epoch());
            assert_eq!(c.get(&key(1)), None);
        }
    }
}
