//! XAES-256-GCM (C2SP specification): AES-256-GCM with a 192-bit nonce.
//!
//! Each message's 24-byte nonce splits in two: the first 12 bytes select a per-message AES-256
//! key derived from the master working key with a CMAC-style construction (NIST SP 800-108
//! counter-mode KDF), the last 12 bytes are the GCM nonce under that derived key. Random 192-bit
//! nonces make a collision negligible (about 2^-80 after 2^56 messages), and each derived key
//! sees only a handful of messages, so the SP 800-38D limit of 2^32 random-nonce messages per
//! key no longer constrains volume or the number of replicas.

use aes::Aes256Enc;
use aes::cipher::consts::U12;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{AesGcm, Nonce, Tag};
use zeroize::Zeroize;

use super::CryptoError;
use crate::keys::SecretKey;

/// Nonce length in bytes.
pub const NONCE_LEN: usize = 24;
/// Tag length in bytes.
pub const TAG_LEN: usize = 16;

/// AES-256-GCM over the encrypt-only AES key schedule: GCM never runs AES backwards, and the
/// per-message key setup is XAES's main cost, so skipping the decryption round keys (and
/// their zeroization) roughly halves it.
type Aes256GcmEnc = AesGcm<Aes256Enc, U12>;

/// How many messages a sealer seals under one derived key before it draws a fresh
/// key-derivation half (see [`DerivedKey`]).
pub const DERIVED_KEY_MESSAGES: u64 = 1 << 24;

/// The AES-256-GCM key XAES derives for one 96-bit key-derivation half of the nonce, kept for
/// up to [`DERIVED_KEY_MESSAGES`] messages.
///
/// XAES-256-GCM derives a key from the first 12 nonce bytes and uses the last 12 as the GCM
/// nonce. Drawing all 24 at random per message makes every message pay for a key derivation
/// and an AES key schedule (3–4× a GCM seal). A sealer may instead keep the first half for a
/// while: the envelopes are still standard XAES-256-GCM (any opener derives per message), and
/// each derived key sees at most 2^24 random 96-bit GCM nonces — a collision probability below
/// 2^-49 per key, far inside SP 800-38D's 2^32 limit. The first half is drawn again at random
/// when the budget is spent, so replicas never coordinate.
pub struct DerivedKey {
    prefix: [u8; 12],
    gcm: Aes256GcmEnc,
    used: std::sync::atomic::AtomicU64,
}

impl DerivedKey {
    /// Claims one message; `false` once the key's budget is spent.
    pub fn claim(&self) -> bool {
        self.used.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < DERIVED_KEY_MESSAGES
    }

    /// Seals `buf` in place under the nonce `prefix ‖ tail`; returns the full nonce and the tag.
    pub fn seal_in_place(
        &self,
        tail: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> ([u8; NONCE_LEN], [u8; TAG_LEN]) {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..12].copy_from_slice(&self.prefix);
        nonce[12..].copy_from_slice(tail);
        let tag = self
            .gcm
            .encrypt_in_place_detached(Nonce::from_slice(tail), aad, buf)
            // Only fails for plaintexts over 2^36 bytes; bodies are capped far below that.
            .expect("plaintext within AES-GCM length limit");
        (nonce, tag.into())
    }
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey(<redacted>)")
    }
}

/// An XAES-256-GCM key with its CMAC subkey precomputed.
pub struct XaesKey {
    cipher: Aes256Enc,
    k1: [u8; 16],
}

impl XaesKey {
    /// Prepares a key.
    pub fn new(key: &SecretKey) -> Self {
        let cipher = Aes256Enc::new(GenericArray::from_slice(key.expose()));
        let mut l = GenericArray::from([0u8; 16]);
        cipher.encrypt_block(&mut l);
        // K1 = L << 1, xor 0x87 into the last byte if the msb of L was set (CMAC subkey).
        let mut k1 = [0u8; 16];
        let msb = l[0] >> 7;
        for i in 0..16 {
            let next = if i + 1 < 16 { l[i + 1] >> 7 } else { 0 };
            k1[i] = (l[i] << 1) | next;
        }
        k1[15] ^= 0x87 & 0u8.wrapping_sub(msb);
        l.zeroize();
        Self { cipher, k1 }
    }

    /// The derived key for the key-derivation half `prefix` (the first 12 nonce bytes).
    pub fn derived(&self, prefix: [u8; 12]) -> DerivedKey {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..12].copy_from_slice(&prefix);
        DerivedKey {
            prefix,
            gcm: self.derive(&nonce),
            used: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn derive(&self, nonce: &[u8; NONCE_LEN]) -> Aes256GcmEnc {
        let mut m1 = GenericArray::from([0u8; 16]);
        let mut m2 = GenericArray::from([0u8; 16]);
        m1[..4].copy_from_slice(&[0, 1, b'X', 0]);
        m2[..4].copy_from_slice(&[0, 2, b'X', 0]);
        m1[4..].copy_from_slice(&nonce[..12]);
        m2[4..].copy_from_slice(&nonce[..12]);
        for i in 0..16 {
            m1[i] ^= self.k1[i];
            m2[i] ^= self.k1[i];
        }
        self.cipher.encrypt_block(&mut m1);
        self.cipher.encrypt_block(&mut m2);
        let mut kx = [0u8; 32];
        kx[..16].copy_from_slice(&m1);
        kx[16..].copy_from_slice(&m2);
        let gcm = Aes256GcmEnc::new(GenericArray::from_slice(&kx));
        kx.zeroize();
        m1.zeroize();
        m2.zeroize();
        gcm
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let gcm = self.derive(nonce);
        let tag = gcm
            .encrypt_in_place_detached(Nonce::from_slice(&nonce[12..]), aad, buf)
            // Only fails for plaintexts over 2^36 bytes; bodies are capped far below that.
            .expect("plaintext within AES-GCM length limit");
        tag.into()
    }

    /// Decrypts `buf` in place after checking `tag` (constant time, inside aes-gcm).
    ///
    /// # Errors
    /// [`CryptoError::Decrypt`] when authentication fails.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let gcm = self.derive(nonce);
        gcm.decrypt_in_place_detached(
            Nonce::from_slice(&nonce[12..]),
            aad,
            buf,
            Tag::from_slice(tag),
        )
        .map_err(|_| CryptoError::Decrypt)
    }
}

impl std::fmt::Debug for XaesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XaesKey(<redacted>)")
    }
}

impl Drop for XaesKey {
    fn drop(&mut self) {
        self.k1.zeroize();
    }
}
