//! Deterministic tokens: `HMAC-SHA256(token_key(domain), normalized value)`.
//!
//! The key is derived per pseudonymisation domain, so the same email sent to two recipients
//! yields unrelated tokens. The token keeps 128 bits of the MAC (birthday bound 2^64) and names
//! the master key id, so a key rotation is visible in the data.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::keys::{KeyId, SecretKey};

/// Bytes of the MAC kept in a token: 128 bits.
pub const TOKEN_MAC_BYTES: usize = 16;

/// A pre-keyed HMAC-SHA256 state for one (master key, domain): the inner and outer SHA-256
/// states after the padded key, so a value costs two compressions. RustCrypto's `hmac` rather
/// than ring's: cloning its state per value copies ~150 bytes where ring's `hmac::sign` copies
/// its larger contexts several times, and a token measured 310 ns against ring's 455 ns on the
/// same machine (docs/BENCHMARKS.md, 2026-12-06) — 28 tokens in a 16 KB batch. The state is
/// key material: built with `sha2`'s `zeroize` feature, it (and each per-value clone) is wiped
/// on drop, which ring's `hmac::Key` did not do.
pub struct TokenKey {
    kid: KeyId,
    key: Hmac<Sha256>,
}

impl TokenKey {
    /// Builds the key from a derived working key.
    pub fn new(kid: KeyId, working: &SecretKey) -> Self {
        Self {
            kid,
            key: <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(working.expose())
                .expect("HMAC takes a key of any length"),
        }
    }

    /// The master key id this token key descends from.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// The full 32-byte MAC of `value`.
    pub(crate) fn mac(&self, value: &[u8]) -> [u8; 32] {
        let mut mac = self.key.clone();
        mac.update(value);
        mac.finalize().into_bytes().into()
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
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The MAC is HMAC-SHA256 as ring computes it, for any key and value: tokens issued
        /// before the switch of implementation are the tokens issued after it.
        #[test]
        fn mac_equals_ring_hmac_sha256(
            key in proptest::array::uniform32(any::<u8>()),
            value in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let k = TokenKey::new(KeyId::new("k1").expect("id"), &SecretKey::from_bytes(key));
            let reference =
                ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key), &value);
            prop_assert_eq!(&k.mac(&value)[..], reference.as_ref());
        }
    }

    /// The pre-keyed state is key material: `Hmac<Sha256>` keeps it as two SHA-256 block
    /// states (after the inner and the outer padded key), and with `sha2`'s `zeroize` feature
    /// that state type wipes itself on drop, in the token key and in each per-value clone.
    #[test]
    fn the_pre_keyed_state_is_wiped_on_drop() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<sha2::block_api::Sha256VarCore>();
    }

    /// RFC 4231 test case 2 ("Jefe"), through the same `Hmac` type the token key holds.
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(b"Jefe").expect("any length");
        mac.update(b"what do ya want for nothing?");
        let tag: [u8; 32] = mac.finalize().into_bytes().into();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

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
