//! Subject keys, subject secrets and what erasure reports.
//!
//! The store never sees a subject id: callers turn it into a [`SubjectKey`] with a
//! [`SubjectKeyer`] (HMAC-SHA256 under a key derived from the keyring), and every table is keyed
//! by that. A [`SubjectSecret`] (a key type, defined in [`crate::keys`]) is the per-subject random secret that subject-scoped tokens and
//! ciphertexts are derived from; destroying it is the erasure (crypto-shredding).

use std::fmt;
use std::time::SystemTime;

use ring::hmac;

use crate::keys::SecretKey;
pub use crate::keys::SubjectSecret;

/// Domain-separation prefix of the subject-key HMAC input: a key that is (wrongly) shared with
/// another HMAC use still yields unrelated outputs.
const SUBJECT_KEY_LABEL: &[u8] = b"piigate/subject-key/v1\0";

/// The keyed hash of a subject id: what the store, the cache and the audit log see instead of
/// the id.
///
/// Not secret (it cannot be reversed without the keyer's key) but linkable, so it is still
/// treated as pseudonymous data: `Debug` does not print it; [`SubjectKey::to_hex`] is the one
/// explicit way out (for the audit log's subject reference).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectKey([u8; 32]);

/// Computes [`SubjectKey`]s: `HMAC-SHA256(key, "piigate/subject-key/v1" ‖ 0x00 ‖ subject_id)`.
///
/// The key must stay the same for the lifetime of the store: a different key maps every subject
/// to a new [`SubjectKey`], i.e. a new secret and new pseudonyms. Derive it from a master key
/// that is pinned by id, not from "whichever key is primary".
pub struct SubjectKeyer(hmac::Key);

/// What [`Store::erase_subject`](super::Store::erase_subject) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureReceipt {
    /// The generation whose secret is now destroyed (or that the tombstone covers, when the
    /// subject had no live secret).
    pub generation: u64,
    /// `true` if a live secret existed and was deleted; `false` if the subject was unknown or
    /// already erased (the erasure is still recorded, and is idempotent).
    pub destroyed: bool,
    /// When the tombstone was written.
    pub erased_at: SystemTime,
    /// Every route that received data of this subject since the store first saw it, sorted: the
    /// GDPR Art. 19 notification list. Covers earlier generations too (a superset is safe to
    /// notify; a subset is not).
    pub recipients: Vec<String>,
}

/// The last erasure of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    /// The highest erased generation; every generation up to and including it is erased.
    pub generation: u64,
    /// When that erasure happened.
    pub erased_at: SystemTime,
}

/// What the store knows about a subject, without creating anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubjectStatus {
    /// The generation of the live secret, if there is one.
    pub live_generation: Option<u64>,
    /// The last erasure, if the subject was ever erased.
    pub last_erasure: Option<Tombstone>,
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

// === impl SubjectKey ===

impl SubjectKey {
    /// Wraps an already computed keyed hash (for tests and for reading stored keys back).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes, as stored.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex: the audit log's subject reference.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectKey(<keyed-hash>)")
    }
}

// === impl SubjectKeyer ===

impl SubjectKeyer {
    /// A keyer over a 32-byte key, normally `derive(master, Purpose::Subject, "subject-key")`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// As [`SubjectKeyer::new`], from a [`SecretKey`].
    pub(crate) fn from_secret(key: &SecretKey) -> Self {
        Self::new(key.expose())
    }

    /// The keyed hash of `subject_id` (the bytes exactly as the payload carries them; the caller
    /// decides on any normalisation, once, for every route).
    pub fn subject_key(&self, subject_id: &[u8]) -> SubjectKey {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(SUBJECT_KEY_LABEL);
        ctx.update(subject_id);
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        SubjectKey(out)
    }
}

impl fmt::Debug for SubjectKeyer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectKeyer(<redacted>)")
    }
}

// === impl SubjectStatus ===

impl SubjectStatus {
    /// `true` if the subject was erased at least once (a tombstone exists), whether or not a
    /// fresh secret was created since.
    pub const fn was_erased(&self) -> bool {
        self.last_erasure.is_some()
    }

    /// `true` if material made with `generation` is erased: that generation's secret is gone.
    pub fn is_generation_erased(&self, generation: u64) -> bool {
        self.last_erasure
            .is_some_and(|t| generation <= t.generation)
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[test]
    fn keyer_is_keyed_and_deterministic() {
        let a = SubjectKeyer::new(&[1; 32]);
        let b = SubjectKeyer::new(&[2; 32]);
        assert_eq!(a.subject_key(b"user-1"), a.subject_key(b"user-1"));
        assert_ne!(a.subject_key(b"user-1"), a.subject_key(b"user-2"));
        assert_ne!(a.subject_key(b"user-1"), b.subject_key(b"user-1"));
    }

    #[test]
    fn debug_never_prints_material() {
        let keyer = SubjectKeyer::new(&[0x41; 32]);
        let key = keyer.subject_key(b"alice@example.com");
        let secret = SubjectSecret::new(Zeroizing::new([0x42; 32]), 3);
        let shown = format!("{keyer:?} {key:?} {secret:?}");
        assert!(!shown.contains(&key.to_hex()[..8]), "{shown}");
        assert!(
            !shown.contains("42, 66") && !shown.contains("0x42"),
            "{shown}"
        );
        assert!(shown.contains("generation: 3"), "{shown}");
    }

    #[test]
    fn generation_erasure() {
        let t = SystemTime::UNIX_EPOCH;
        let s = SubjectStatus {
            live_generation: Some(2),
            last_erasure: Some(Tombstone {
                generation: 1,
                erased_at: t,
            }),
        };
        assert!(s.was_erased());
        assert!(s.is_generation_erased(0));
        assert!(s.is_generation_erased(1));
        assert!(!s.is_generation_erased(2));
        assert!(!SubjectStatus::default().is_generation_erased(0));
    }
}
