//! HKDF-SHA256 working-key derivation.
//!
//! Every working key is `HKDF-SHA256(salt = "piigate/v1", ikm = master, info = purpose ‖ 0x00 ‖
//! domain)`. The purpose label separates the key families (a token key can never be used as an
//! encryption key), the domain separates recipients (two recipients cannot join their data on
//! our pseudonyms). Derivation runs at config compile time, never per request.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroize;

use super::SecretKey;

/// Fixed HKDF salt: a domain-separation constant, not a secret (RFC 5869 §3.1).
const SALT: &[u8] = b"piigate/v1";

/// What a derived key is for. Each purpose has its own key family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// AES-256-GCM (XAES-256-GCM) envelopes for `encrypt`.
    Aead,
    /// FF1 format-preserving encryption for `fpe`.
    Ff1,
    /// Deterministic AEAD for `encrypt_deterministic`.
    Siv,
    /// Per-subject secrets (wrapping and derivation).
    Subject,
    /// HMAC-SHA256 keys for `tokenize`.
    Token,
}

impl Purpose {
    /// The label mixed into HKDF `info`. Stable: changing it changes every derived key.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Aead => "aead",
            Self::Ff1 => "ff1",
            Self::Siv => "siv",
            Self::Subject => "subject",
            Self::Token => "token",
        }
    }
}

/// Derives the working key for `purpose` in pseudonymisation `domain` from `master`.
pub fn derive(master: &SecretKey, purpose: Purpose, domain: &str) -> SecretKey {
    derive_with_context(master, purpose, domain.as_bytes())
}

/// As [`derive()`], with arbitrary bytes as the context (used for per-period token keys, where
/// the context is `domain ‖ 0x00 ‖ period`).
pub(crate) fn derive_with_context(
    master: &SecretKey,
    purpose: Purpose,
    context: &[u8],
) -> SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(SALT), master.expose());
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte output limit, so expand cannot fail.
    hk.expand_multi_info(&[purpose.label().as_bytes(), &[0], context], &mut out)
        .expect("32 bytes is within the HKDF-SHA256 output limit");
    let key = SecretKey::from_bytes(out);
    out.zeroize();
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_and_domains_separate_keys() {
        let m = SecretKey::from_bytes([7; 32]);
        let a = derive(&m, Purpose::Token, "segment");
        let b = derive(&m, Purpose::Token, "ga4");
        let c = derive(&m, Purpose::Aead, "segment");
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.expose(), c.expose());
        assert_eq!(a.expose(), derive(&m, Purpose::Token, "segment").expose());
    }

    #[test]
    fn label_boundary_is_unambiguous() {
        // "token" ‖ 0 ‖ "x" must differ from any other split of the same bytes.
        let m = SecretKey::from_bytes([9; 32]);
        let a = derive_with_context(&m, Purpose::Token, b"a\0b");
        let b = derive_with_context(&m, Purpose::Token, b"a");
        assert_ne!(a.expose(), b.expose());
    }
}
