//! The `encrypt` envelope: versioned text that names its key.
//!
//! ```text
//! pge1.<kid>.<base64url(nonce[24] ‖ ciphertext ‖ tag[16])>
//! ```
//!
//! `pge1` is the format (XAES-256-GCM, random nonce); `kid` is the master key id, so rotation
//! works (seal with the primary key, open with any non-retired key). The associated data binds
//! the format, the key id, the pseudonymisation domain and the field name, so an envelope copied
//! into another field or sent to another recipient's domain fails to open. The alphabet
//! (`[a-z0-9._-]`, base64url) needs no escaping in JSON, forms, query strings or headers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::xaes::{NONCE_LEN, TAG_LEN, XaesKey};
use super::{CryptoError, NonceSource};
use crate::keys::{KeyId, SecretKey};

/// Envelope prefix for format 1.
pub const PREFIX: &str = "pge1.";

/// What an envelope is bound to: the pseudonymisation domain and the field it sits in.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    /// Pseudonymisation domain (by default the route name).
    pub domain: &'a str,
    /// The member name the value sits under (nearest object key), decoded.
    pub field: &'a str,
}

/// Seals new envelopes under one key.
#[derive(Debug)]
pub struct EnvelopeSealer {
    kid: KeyId,
    key: XaesKey,
}

/// Opens envelopes under any of several keys (the primary and the active ones).
#[derive(Debug, Default)]
pub struct EnvelopeOpener {
    keys: Vec<(KeyId, XaesKey)>,
}

fn write_aad(kid: &str, aad: Aad<'_>, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(PREFIX.as_bytes());
    buf.extend_from_slice(kid.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&(aad.domain.len() as u64).to_be_bytes());
    buf.extend_from_slice(aad.domain.as_bytes());
    buf.extend_from_slice(aad.field.as_bytes());
}

impl EnvelopeSealer {
    /// A sealer for the working key derived from master key `kid`.
    pub fn new(kid: KeyId, working: &SecretKey) -> Self {
        Self {
            kid,
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
        let mut nonce = [0u8; NONCE_LEN];
        nonces.fill(&mut nonce)?;
        write_aad(self.kid.as_str(), aad, scratch);
        let aad_len = scratch.len();
        scratch.extend_from_slice(&nonce);
        scratch.extend_from_slice(plaintext);
        let (aad_bytes, body) = scratch.split_at_mut(aad_len);
        let tag = self
            .key
            .seal_in_place(&nonce, aad_bytes, &mut body[NONCE_LEN..]);
        scratch.extend_from_slice(&tag);
        out.extend_from_slice(PREFIX.as_bytes());
        out.extend_from_slice(self.kid.as_str().as_bytes());
        out.push(b'.');
        let start = out.len();
        let raw = &scratch[aad_len..];
        out.resize(
            start + base64::encoded_len(raw.len(), false).unwrap_or(0),
            0,
        );
        let n = URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out[start..])
            .expect("output sized by encoded_len");
        out.truncate(start + n);
        Ok(())
    }
}

impl EnvelopeOpener {
    /// An opener with no keys (opens nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key that may open envelopes naming `kid`.
    pub fn add(&mut self, kid: KeyId, working: &SecretKey) {
        self.keys.push((kid, XaesKey::new(working)));
    }

    /// Whether `text` has the envelope shape (cheap check before [`Self::open`]).
    pub fn looks_like_envelope(text: &[u8]) -> bool {
        text.starts_with(PREFIX.as_bytes())
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
        write_aad(kid, aad, scratch);
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
        let mut pt = Vec::new();
        o.open(&env, aad, &mut scratch, &mut pt).expect("open");
        assert_eq!(pt, b"alice@example.com");
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
