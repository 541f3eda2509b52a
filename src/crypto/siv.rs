//! The `encrypt_deterministic` envelope: AES-256-GCM-SIV (RFC 8452) with a fixed nonce.
//!
//! ```text
//! pgd1.<kid>.<base64url(ciphertext ‖ tag[16])>
//! ```
//!
//! Deterministic authenticated encryption: the same value in the same domain and field always
//! gives the same envelope (so a recipient can join or count on it), and only the owner can open
//! it. AES-GCM-SIV derives its synthetic IV from POLYVAL over the associated data and the
//! plaintext, so encrypting under one fixed nonce leaks only *equality* of (value, AAD) pairs —
//! exactly the linkability this action promises, and nothing more (RFC 8452 §9, "nonce misuse").
//!
//! The nonce is the all-zero 96-bit string and is not stored; `pgd1` pins that choice. The
//! associated data is the same framing as `pge1` with its own prefix (format ‖ kid ‖ 0 ‖
//! len(domain) ‖ domain ‖ field), so a `pgd1` envelope moved to another field or domain, or
//! relabelled as another key id, fails authentication.
//!
//! Why GCM-SIV rather than AES-SIV (RFC 5297): it is the primitive DESIGN.md names, it shares the
//! AES and POLYVAL code already linked for AES-GCM (one extra, audited RustCrypto crate instead
//! of CMAC + S2V + CTR), and it is faster on hardware with AES-NI/CLMUL. Both are DAE-secure;
//! see `docs/CRYPTO.md` for the bound.

use aes::Aes256Enc;
use aes_gcm_siv::aead::AeadInPlace;
use aes_gcm_siv::aead::generic_array::GenericArray;
use aes_gcm_siv::{AesGcmSiv, KeyInit, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::CryptoError;
pub use super::wire::DET_PREFIX;
use super::wire::{Aad, SUBJECT_DET_PREFIX, push_b64, subject_label, write_aad};
use crate::keys::{KeyId, SecretKey};

/// Tag length in bytes.
pub const TAG_LEN: usize = 16;

/// The fixed nonce of format `pgd1`. Determinism is the point; the synthetic IV does the rest.
const FIXED_NONCE: [u8; 12] = [0; 12];

/// AES-256-GCM-SIV over the encrypt-only AES key schedule (GCM-SIV, like GCM, only runs AES
/// forwards; skipping the decryption round keys trims the per-message subkey setup).
type Aes256GcmSivEnc = AesGcmSiv<Aes256Enc>;

/// An AES-256-GCM-SIV key (key-generating key, zeroized on drop by the `aes` crate).
#[derive(Clone)]
pub struct SivKey(Aes256GcmSivEnc);

/// Seals deterministic envelopes under one key.
#[derive(Debug)]
pub struct DetSealer {
    kid: KeyId,
    /// The key id, or `kid.g<generation>` for subject-scoped envelopes (bound into the AAD).
    label: Box<str>,
    prefix: &'static str,
    key: SivKey,
}

// === impl SivKey ===

impl SivKey {
    /// Prepares a key from a derived working key.
    pub fn new(key: &SecretKey) -> Self {
        Self(Aes256GcmSivEnc::new(GenericArray::from_slice(key.expose())))
    }

    /// Encrypts `buf` in place under the fixed nonce and returns the tag.
    pub fn seal_in_place(&self, aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        self.seal_in_place_with_nonce(&FIXED_NONCE, aad, buf)
    }

    /// Decrypts `buf` in place under the fixed nonce after checking `tag`.
    ///
    /// # Errors
    /// [`CryptoError::Decrypt`] when authentication fails.
    pub fn open_in_place(
        &self,
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.open_in_place_with_nonce(&FIXED_NONCE, aad, buf, tag)
    }

    /// Raw AES-256-GCM-SIV seal with an explicit nonce (known-answer tests).
    pub fn seal_in_place_with_nonce(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        self.0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
            // Only fails past 2^36 bytes; bodies are capped far below that.
            .expect("plaintext within the AES-GCM-SIV length limit")
            .into()
    }

    /// Raw AES-256-GCM-SIV open with an explicit nonce (known-answer tests).
    ///
    /// # Errors
    /// [`CryptoError::Decrypt`] when authentication fails.
    pub fn open_in_place_with_nonce(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.0
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(tag))
            .map_err(|_| CryptoError::Decrypt)
    }
}

impl std::fmt::Debug for SivKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SivKey(<redacted>)")
    }
}

// === impl DetSealer ===

impl DetSealer {
    /// A sealer for the `siv` working key derived from master key `kid`.
    pub fn new(kid: KeyId, working: &SecretKey) -> Self {
        Self {
            label: kid.as_str().into(),
            kid,
            prefix: DET_PREFIX,
            key: SivKey::new(working),
        }
    }

    /// A sealer for a data subject (`pgsd1.` envelopes); see
    /// [`super::EnvelopeSealer::subject`].
    pub fn subject(kid: KeyId, generation: u64, working: &SecretKey) -> Self {
        Self {
            label: subject_label(&kid, generation).into(),
            kid,
            prefix: SUBJECT_DET_PREFIX,
            key: SivKey::new(working),
        }
    }

    /// The key id envelopes will name.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// Appends the deterministic envelope of `plaintext` to `out`. `scratch` is reused working
    /// space. No randomness: equal inputs give equal envelopes.
    pub fn seal(&self, plaintext: &[u8], aad: Aad<'_>, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
        write_aad(self.prefix, &self.label, aad, scratch);
        let aad_len = scratch.len();
        scratch.extend_from_slice(plaintext);
        let (aad_bytes, body) = scratch.split_at_mut(aad_len);
        let tag = self.key.seal_in_place(aad_bytes, body);
        scratch.extend_from_slice(&tag);
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(self.label.as_bytes());
        out.push(b'.');
        push_b64(&scratch[aad_len..], out);
    }
}

/// Opens a `pgd1` body (the part after `pgd1.<kid>.`) with `key`, appending the plaintext to
/// `out`.
pub(crate) fn open_body(
    key: &SivKey,
    kid: &str,
    body: &str,
    aad: Aad<'_>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    open_body_as(key, DET_PREFIX, kid, body, aad, scratch, out)
}

/// Opens a deterministic body sealed with format `prefix` and label `label`.
pub(crate) fn open_body_as(
    key: &SivKey,
    prefix: &str,
    label: &str,
    body: &str,
    aad: Aad<'_>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    write_aad(prefix, label, aad, scratch);
    let aad_len = scratch.len();
    URL_SAFE_NO_PAD
        .decode_vec(body, scratch)
        .map_err(|_| CryptoError::NotAnEnvelope)?;
    if scratch.len() - aad_len < TAG_LEN {
        return Err(CryptoError::NotAnEnvelope);
    }
    let (aad_bytes, raw) = scratch.split_at_mut(aad_len);
    let (ct, tag) = raw.split_at_mut(raw.len() - TAG_LEN);
    let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| CryptoError::NotAnEnvelope)?;
    key.open_in_place(aad_bytes, ct, &tag)?;
    out.extend_from_slice(ct);
    Ok(())
}
