//! XAES-256-GCM (C2SP specification): AES-256-GCM with a 192-bit nonce.
//!
//! Each message's 24-byte nonce splits in two: the first 12 bytes select a per-message AES-256
//! key derived from the master working key with a CMAC-style construction (NIST SP 800-108
//! counter-mode KDF), the last 12 bytes are the GCM nonce under that derived key. Random 192-bit
//! nonces make a collision negligible (about 2^-80 after 2^56 messages), and each derived key
//! sees only a handful of messages, so the SP 800-38D limit of 2^32 random-nonce messages per
//! key no longer constrains volume or the number of replicas. Every envelope draws all 24
//! bytes afresh: no part of a nonce is shared between envelopes (docs/CRYPTO.md).

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

    // Inlined into both callers: the derived cipher (two AES key schedules and the GHASH key,
    // ~500 bytes) is then built where it is used, not returned by value and copied, which
    // the inliner did or did not do by how unrelated code was partitioned (+1.7k instructions
    // per 16 KB batch when it did not).
    #[inline(always)]
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
