//! Deterministic tokens: `HMAC-SHA256(token_key(domain), normalized value)`.
//!
//! The key is derived per pseudonymisation domain, so the same email sent to two recipients
//! yields unrelated tokens. The token keeps 128 bits of the MAC (birthday bound 2^64) and names
//! the master key id, so a key rotation is visible in the data.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use crate::keys::{KeyId, SecretKey};

/// Bytes of the MAC kept in a token: 128 bits.
pub const TOKEN_MAC_BYTES: usize = 16;

/// A pre-keyed HMAC-SHA256 state for one (master key, domain). Cloning the inner context per
/// value is cheaper than re-keying.
pub struct TokenKey {
    kid: KeyId,
    key: hmac::Key,
}

impl TokenKey {
    /// Builds the key from a derived working key.
    pub fn new(kid: KeyId, working: &SecretKey) -> Self {
        Self {
            kid,
            key: hmac::Key::new(hmac::HMAC_SHA256, working.expose()),
        }
    }

    /// The master key id this token key descends from.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// The full 32-byte MAC of `value`.
    pub(crate) fn mac(&self, value: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.key, value);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Appends `prefix ‖ kid ‖ "_" ‖ base64url(mac[..16])` to `out`. ASCII only, so it needs
    /// no JSON escaping.
    pub(crate) fn write_token(&self, prefix: &str, value: &[u8], out: &mut Vec<u8>) {
        let mac = self.mac(value);
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(self.kid.as_str().as_bytes());
        out.push(b'_');
        let start = out.len();
        out.resize(start + 22, 0);
        // 16 bytes encode to exactly 22 unpadded base64url characters.
        let n = URL_SAFE_NO_PAD
            .encode_slice(&mac[..TOKEN_MAC_BYTES], &mut out[start..])
            .expect("22 bytes is the exact encoded length of 16 bytes");
        debug_assert_eq!(n, 22);
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({}, <redacted>)", self.kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_and_determinism() {
        let k = TokenKey::new(
            KeyId::new("k1").expect("id"),
            &SecretKey::from_bytes([1; 32]),
        );
        let mut a = Vec::new();
        k.write_token("tok_", b"alice@example.com", &mut a);
        let mut b = Vec::new();
        k.write_token("tok_", b"alice@example.com", &mut b);
        assert_eq!(a, b);
        let s = String::from_utf8(a).expect("ascii");
        assert!(s.starts_with("tok_k1_"));
        assert_eq!(s.len(), "tok_k1_".len() + 22);
    }
}
