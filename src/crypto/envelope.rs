//! The `encrypt` envelope: versioned text that names its key.
//!
//! ```text
//! pge1.<kid>.<base64url(nonce[24] ‖ ciphertext ‖ tag[16])>
//! ```
//!
//! [`EnvelopeOpener`] also opens the deterministic `pgd1.` envelopes of
//! `encrypt_deterministic` (see [`super::siv`]), so one reveal path serves both kinds.
//!
//! Values of a route with a data subject are sealed under keys derived from that person's
//! secret, in the subject-scoped formats `pgs1.<kid>.g<generation>.<…>` (random) and
//! `pgsd1.<kid>.g<generation>.<…>` (deterministic). The generation names which of the person's
//! secrets sealed it, so after an erasure a reveal can say "erased" instead of "tampered".
//!
//! `pge1` is the format (XAES-256-GCM, random nonce); `kid` is the master key id, so rotation
//! works (seal with the primary key, open with any non-retired key). The associated data binds
//! the format, the key id, the pseudonymisation domain and the field name, so an envelope copied
//! into another field or sent to another recipient's domain fails to open. The alphabet
//! (`[a-z0-9._-]`, base64url) needs no escaping in JSON, forms, query strings or headers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::siv::{self, SivKey};
pub use super::wire::{
    Aad, PREFIX, SUBJECT_DET_PREFIX, SUBJECT_PREFIX, subject_generation, subject_label,
};
use super::wire::{DET_PREFIX, push_b64, write_aad};
use super::xaes::{NONCE_LEN, TAG_LEN, XaesKey};
use super::{CryptoError, NonceSource};
use crate::keys::{KeyId, Keyring, Purpose, SecretKey, derive};

/// Seals new envelopes under one key.
#[derive(Debug)]
pub struct EnvelopeSealer {
    kid: KeyId,
    /// What the envelope names between format and body: the key id, or `kid.g<generation>`
    /// for subject-scoped envelopes. Bound into the associated data.
    label: Box<str>,
    prefix: &'static str,
    key: XaesKey,
}

/// Opens envelopes of both kinds (`pge1` and `pgd1`) under any of several keys (the primary
/// and the active ones; never retired ones).
#[derive(Debug, Default)]
pub struct EnvelopeOpener {
    keys: Vec<(KeyId, XaesKey)>,
    det: Vec<(KeyId, SivKey)>,
    /// Subject-scoped keys by label (`kid.g<generation>`).
    subject: Vec<(Box<str>, XaesKey, SivKey)>,
}

/// Which kind of envelope a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// `pge1.`: XAES-256-GCM, random nonce (`encrypt`).
    Randomized,
    /// `pgd1.`: AES-256-GCM-SIV, deterministic (`encrypt_deterministic`).
    Deterministic,
    /// `pgs1.` / `pgsd1.`: sealed under a data subject's key.
    Subject,
}

impl EnvelopeSealer {
    /// A sealer for the working key derived from master key `kid`.
    pub fn new(kid: KeyId, working: &SecretKey) -> Self {
        Self {
            label: kid.as_str().into(),
            kid,
            prefix: PREFIX,
            key: XaesKey::new(working),
        }
    }

    /// A sealer for a data subject: `working` is the subject-scoped key (derived from the
    /// route's key and the subject's secret of `generation`); envelopes are `pgs1.`.
    pub fn subject(kid: KeyId, generation: u64, working: &SecretKey) -> Self {
        Self {
            label: subject_label(&kid, generation).into(),
            kid,
            prefix: SUBJECT_PREFIX,
            key: XaesKey::new(working),
        }
    }

    /// The key id envelopes will name.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// Appends the envelope of `plaintext` to `out`. `scratch` is reused working space.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if no nonce could be drawn.
    pub fn seal(
        &self,
        plaintext: &[u8],
        aad: Aad<'_>,
        nonces: &mut dyn NonceSource,
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        // A fresh random 192-bit nonce per envelope, so a per-message key: no part of one
        // envelope is shared with another (docs/CRYPTO.md, "no visible grouping").
        let mut nonce = [0u8; NONCE_LEN];
        nonces.fill(&mut nonce)?;
        write_aad(self.prefix, &self.label, aad, scratch);
        let aad_len = scratch.len();
        scratch.extend_from_slice(&nonce);
        scratch.extend_from_slice(plaintext);
        let (aad_bytes, body) = scratch.split_at_mut(aad_len);
        let tag = self
            .key
            .seal_in_place(&nonce, aad_bytes, &mut body[NONCE_LEN..]);
        scratch.extend_from_slice(&tag);
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(self.label.as_bytes());
        out.push(b'.');
        push_b64(&scratch[aad_len..], out);
        Ok(())
    }
}

impl EnvelopeOpener {
    /// An opener with no keys (opens nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// An opener for every non-retired key of `keyring` in `domain`, for both envelope kinds.
    /// Derives the working keys now (config time), never per value.
    pub(crate) fn for_domain(keyring: &Keyring, domain: &str) -> Self {
        let mut opener = Self::new();
        for k in keyring.decrypting() {
            opener.add(
                k.id().clone(),
                &derive::derive(k.secret(), Purpose::Aead, domain),
            );
            opener.add_deterministic(
                k.id().clone(),
                &derive::derive(k.secret(), Purpose::Siv, domain),
            );
        }
        opener
    }

    /// Adds a key (the `aead` working key) that may open `pge1` envelopes naming `kid`.
    pub fn add(&mut self, kid: KeyId, working: &SecretKey) {
        self.keys.push((kid, XaesKey::new(working)));
    }

    /// Adds a key (the `siv` working key) that may open `pgd1` envelopes naming `kid`.
    pub(crate) fn add_deterministic(&mut self, kid: KeyId, working: &SecretKey) {
        self.det.push((kid, SivKey::new(working)));
    }

    /// Adds a data subject's keys (subject-scoped `aead` and `siv` working keys of
    /// `generation`) so its `pgs1`/`pgsd1` envelopes open.
    pub(crate) fn add_subject(
        &mut self,
        kid: &KeyId,
        generation: u64,
        aead: &SecretKey,
        siv: &SecretKey,
    ) {
        self.subject.push((
            subject_label(kid, generation).into(),
            XaesKey::new(aead),
            SivKey::new(siv),
        ));
    }

    /// Whether `text` has an envelope shape of either kind (cheap check before [`Self::open`]).
    pub(crate) fn looks_like_envelope(text: &[u8]) -> bool {
        Self::kind(text).is_some()
    }

    /// The kind of envelope `text` claims to be, by prefix.
    pub fn kind(text: &[u8]) -> Option<EnvelopeKind> {
        if text.starts_with(SUBJECT_PREFIX.as_bytes())
            || text.starts_with(SUBJECT_DET_PREFIX.as_bytes())
        {
            Some(EnvelopeKind::Subject)
        } else if text.starts_with(PREFIX.as_bytes()) {
            Some(EnvelopeKind::Randomized)
        } else if text.starts_with(DET_PREFIX.as_bytes()) {
            Some(EnvelopeKind::Deterministic)
        } else {
            None
        }
    }

    /// Decrypts an envelope, appending the plaintext to `out`.
    ///
    /// # Errors
    /// [`CryptoError::NotAnEnvelope`], [`CryptoError::UnknownKey`] or [`CryptoError::Decrypt`];
    /// none of them says anything about the plaintext.
    pub fn open(
        &self,
        envelope: &str,
        aad: Aad<'_>,
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        if let Some(rest) = envelope.strip_prefix(SUBJECT_DET_PREFIX) {
            let (label, body) = rest.rsplit_once('.').ok_or(CryptoError::NotAnEnvelope)?;
            let (_, _, key) = self
                .subject
                .iter()
                .find(|(l, _, _)| &**l == label)
                .ok_or(CryptoError::UnknownKey)?;
            return siv::open_body_as(key, SUBJECT_DET_PREFIX, label, body, aad, scratch, out);
        }
        let (prefix, label, key) = if let Some(rest) = envelope.strip_prefix(SUBJECT_PREFIX) {
            let (label, body) = rest.rsplit_once('.').ok_or(CryptoError::NotAnEnvelope)?;
            let (_, key, _) = self
                .subject
                .iter()
                .find(|(l, _, _)| &**l == label)
                .ok_or(CryptoError::UnknownKey)?;
            (SUBJECT_PREFIX, label, (key, body))
        } else if let Some(rest) = envelope.strip_prefix(DET_PREFIX) {
            let (kid, body) = rest.split_once('.').ok_or(CryptoError::NotAnEnvelope)?;
            let key = self
                .det
                .iter()
                .find(|(k, _)| k.as_str() == kid)
                .map(|(_, key)| key)
                .ok_or(CryptoError::UnknownKey)?;
            return siv::open_body(key, kid, body, aad, scratch, out);
        } else {
            let rest = envelope
                .strip_prefix(PREFIX)
                .ok_or(CryptoError::NotAnEnvelope)?;
            let (kid, body) = rest.split_once('.').ok_or(CryptoError::NotAnEnvelope)?;
            let key = self
                .keys
                .iter()
                .find(|(k, _)| k.as_str() == kid)
                .map(|(_, key)| key)
                .ok_or(CryptoError::UnknownKey)?;
            (PREFIX, kid, (key, body))
        };
        let (key, body) = key;
        write_aad(prefix, label, aad, scratch);
        let aad_len = scratch.len();
        URL_SAFE_NO_PAD
            .decode_vec(body, scratch)
            .map_err(|_| CryptoError::NotAnEnvelope)?;
        if scratch.len() - aad_len < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::NotAnEnvelope);
        }
        let (aad_bytes, raw) = scratch.split_at_mut(aad_len);
        let (nonce, rest) = raw.split_at_mut(NONCE_LEN);
        let (ct, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = (&*nonce)
            .try_into()
            .map_err(|_| CryptoError::NotAnEnvelope)?;
        let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| CryptoError::NotAnEnvelope)?;
        key.open_in_place(&nonce, aad_bytes, ct, &tag)?;
        out.extend_from_slice(ct);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::OsNonces;

    fn pair() -> (EnvelopeSealer, EnvelopeOpener) {
        let kid = KeyId::new("k1").expect("id");
        let key = SecretKey::from_bytes([3; 32]);
        let mut o = EnvelopeOpener::new();
        o.add(kid.clone(), &key);
        (EnvelopeSealer::new(kid, &key), o)
    }

    /// The plaintext of `env`, which must open under `aad`.
    fn opened(o: &EnvelopeOpener, env: &[u8], aad: Aad<'_>) -> Vec<u8> {
        let (mut scratch, mut pt) = (Vec::new(), Vec::new());
        let env = std::str::from_utf8(env).expect("ascii");
        o.open(env, aad, &mut scratch, &mut pt).expect("opens");
        pt
    }

    #[test]
    fn envelopes_share_no_nonce_bytes_and_earlier_shared_prefix_envelopes_still_open() {
        let (s, o) = pair();
        let mut n = OsNonces::new();
        let aad = Aad {
            domain: "d",
            field: "f",
        };
        let raw = |env: &[u8]| {
            let text = std::str::from_utf8(env).expect("ascii");
            let body = text.rsplit('.').next().expect("body");
            URL_SAFE_NO_PAD.decode(body).expect("base64")
        };
        // The same value in the same field, 512 times: no two envelopes share their
        // key-derivation half or their GCM nonce (a repeat of 96 random bits has probability
        // below 2^-78 here), so nothing visible groups them.
        let mut halves = std::collections::HashSet::new();
        let mut tails = std::collections::HashSet::new();
        for _ in 0..512 {
            let (mut scratch, mut env) = (Vec::new(), Vec::new());
            s.seal(b"same value", aad, &mut n, &mut scratch, &mut env)
                .expect("seal");
            assert_eq!(opened(&o, &env, aad), b"same value");
            let body = raw(&env);
            assert!(
                halves.insert(body[..12].to_vec()),
                "derivation half repeated"
            );
            assert!(tails.insert(body[12..24].to_vec()), "GCM nonce repeated");
        }

        // Envelopes sealed while a sealer kept one derivation half for many messages (before
        // 2026-12-06) are standard XAES-256-GCM and still open.
        let key = XaesKey::new(&SecretKey::from_bytes([3; 32]));
        let mut scratch = Vec::new();
        for tail in [[1u8; 12], [2u8; 12]] {
            let mut nonce = [7u8; NONCE_LEN];
            nonce[12..].copy_from_slice(&tail);
            scratch.clear();
            write_aad(PREFIX, "k1", aad, &mut scratch);
            let aad_bytes = scratch.clone();
            let mut body = b"older".to_vec();
            let tag = key.seal_in_place(&nonce, &aad_bytes, &mut body);
            let mut sealed = nonce.to_vec();
            sealed.extend_from_slice(&body);
            sealed.extend_from_slice(&tag);
            let mut env = format!("{PREFIX}k1.").into_bytes();
            push_b64(&sealed, &mut env);
            // An envelope with a shared derivation half opens.
            assert_eq!(opened(&o, &env, aad), b"older");
        }
    }

    #[test]
    fn round_trip_and_binding() {
        let (s, o) = pair();
        let mut n = OsNonces::new();
        let (mut scratch, mut env) = (Vec::new(), Vec::new());
        let aad = Aad {
            domain: "segment",
            field: "email",
        };
        s.seal(b"alice@example.com", aad, &mut n, &mut scratch, &mut env)
            .expect("seal");
        let env = String::from_utf8(env).expect("ascii");
        assert!(env.starts_with("pge1.k1."));
        assert_eq!(opened(&o, env.as_bytes(), aad), b"alice@example.com");
        let mut pt = Vec::new();
        let other_field = Aad {
            domain: "segment",
            field: "name",
        };
        assert_eq!(
            o.open(&env, other_field, &mut scratch, &mut pt),
            Err(CryptoError::Decrypt)
        );
        let other_domain = Aad {
            domain: "ga4",
            field: "email",
        };
        assert_eq!(
            o.open(&env, other_domain, &mut scratch, &mut pt),
            Err(CryptoError::Decrypt)
        );
        let mut tampered = env.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert_eq!(
            o.open(&tampered, aad, &mut scratch, &mut pt),
            Err(CryptoError::Decrypt)
        );
    }
}
