//! A data subject's secret: the per-subject random bytes that subject-scoped working keys are
//! derived from. The store keeps them; destroying one is that subject's erasure
//! (crypto-shredding).

use std::fmt;
use std::sync::Arc;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::secret::SecretKey;

/// HKDF salt of [`SubjectSecret::derive`]: domain separation from every keyring derivation.
const SUBJECT_SCOPED_SALT: &[u8] = b"piigate/v1/subject-scoped";

/// A subject's current secret: 32 random bytes and the generation they belong to.
///
/// Cheap to clone (one shared, zeroize-on-drop allocation). `Debug` shows only the generation.
#[derive(Clone)]
pub struct SubjectSecret {
    bytes: Arc<Zeroizing<[u8; 32]>>,
    generation: u64,
}

// === impl SubjectSecret ===

impl SubjectSecret {
    /// Wraps secret bytes of a generation. The caller zeroizes its own copy.
    pub(crate) fn new(bytes: Zeroizing<[u8; 32]>, generation: u64) -> Self {
        Self {
            bytes: Arc::new(bytes),
            generation,
        }
    }

    /// The generation: 0 for the first secret of a subject, +1 after each erasure.
    pub const fn generation(&self) -> u64 {
        self.generation
    }

    /// The raw secret, for handing to a key derivation.
    pub fn expose(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The subject-scoped version of a route's working key `base` (the key the route would use
    /// without a subject: its token, AEAD, … key for its domain, derived from the keyring):
    /// `HKDF-SHA256(salt = "piigate/v1/subject-scoped", ikm = base ‖ secret, info = generation)`.
    ///
    /// Both halves are needed. Without the secret (after erasure) the key cannot be rebuilt:
    /// crypto-shredding. Without `base` a copy of the store alone (a database backup) yields no
    /// usable key, because the secrets are stored as they are.
    pub fn derive(&self, base: &SecretKey) -> SecretKey {
        let mut ikm = Zeroizing::new([0u8; 64]);
        ikm[..32].copy_from_slice(base.expose());
        ikm[32..].copy_from_slice(&self.bytes[..]);
        let hk = Hkdf::<Sha256>::new(Some(SUBJECT_SCOPED_SALT), &ikm[..]);
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
        hk.expand(&self.generation.to_be_bytes(), &mut out[..])
            .expect("32 bytes is within the HKDF-SHA256 output limit");
        SecretKey::from_bytes(*out)
    }
}

impl fmt::Debug for SubjectSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectSecret")
            .field("bytes", &format_args!("<redacted>"))
            .field("generation", &self.generation)
            .finish()
    }
}

impl PartialEq for SubjectSecret {
    /// Constant-time on the bytes: equality is for tests and for the cache's sanity checks.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.generation == other.generation && bool::from(self.bytes[..].ct_eq(&other.bytes[..]))
    }
}

impl Eq for SubjectSecret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_need_both_the_secret_and_the_base() {
        let s1 = SubjectSecret::new(Zeroizing::new([1; 32]), 0);
        let s2 = SubjectSecret::new(Zeroizing::new([2; 32]), 0);
        let s1_next = SubjectSecret::new(Zeroizing::new([1; 32]), 1);
        let segment = SecretKey::from_bytes([7; 32]);
        let ga4 = SecretKey::from_bytes([8; 32]);
        let a = s1.derive(&segment);
        assert_eq!(a.expose(), s1.derive(&segment).expose());
        assert_ne!(a.expose(), s2.derive(&segment).expose(), "another subject");
        assert_ne!(a.expose(), s1.derive(&ga4).expose(), "another route key");
        assert_ne!(
            a.expose(),
            s1_next.derive(&segment).expose(),
            "another generation"
        );
        assert_ne!(a.expose(), s1.expose(), "never the raw secret");
        assert_ne!(a.expose(), segment.expose(), "never the base key");
    }
}
