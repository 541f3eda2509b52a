//! What piigate's envelopes look like as text, shared by both ciphers ([`super::envelope`]
//! for the randomized formats, [`super::siv`] for the deterministic ones): the format
//! prefixes, the subject label, the associated data every format binds, and base64url.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::keys::KeyId;

/// Envelope prefix for format 1.
pub const PREFIX: &str = "pge1.";
/// Subject-scoped randomized envelopes (XAES-256-GCM under a key derived from the subject's
/// secret).
pub const SUBJECT_PREFIX: &str = "pgs1.";
/// Subject-scoped deterministic envelopes (AES-256-GCM-SIV under a subject-derived key).
pub const SUBJECT_DET_PREFIX: &str = "pgsd1.";

/// Envelope prefix for the deterministic format 1.
pub const DET_PREFIX: &str = "pgd1.";

/// What an envelope is bound to: the pseudonymisation domain and the field it sits in.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    /// Pseudonymisation domain (by default the route name).
    pub domain: &'a str,
    /// The member name the value sits under (nearest object key), decoded.
    pub field: &'a str,
}

/// The subject label `kid.g<generation>`.
pub fn subject_label(kid: &KeyId, generation: u64) -> String {
    format!("{kid}.g{generation}")
}

/// The generation a subject-scoped envelope names, if `text` is one.
pub fn subject_generation(text: &str) -> Option<u64> {
    let rest = text
        .strip_prefix(SUBJECT_PREFIX)
        .or_else(|| text.strip_prefix(SUBJECT_DET_PREFIX))?;
    let mut parts = rest.splitn(3, '.');
    let _kid = parts.next()?;
    parts.next()?.strip_prefix('g')?.parse().ok()
}

/// The associated data: `format ‖ kid ‖ 0x00 ‖ be64(len(domain)) ‖ domain ‖ field`.
///
/// The kid alphabet has no NUL, the domain is length-prefixed and the field comes last, so the
/// encoding is injective. The bytes for `pge1` are unchanged since the first release: every
/// envelope ever issued still opens.
pub(crate) fn write_aad(prefix: &str, kid: &str, aad: Aad<'_>, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(prefix.as_bytes());
    buf.extend_from_slice(kid.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&(aad.domain.len() as u64).to_be_bytes());
    buf.extend_from_slice(aad.domain.as_bytes());
    buf.extend_from_slice(aad.field.as_bytes());
}

/// Appends unpadded base64url of `raw` to `out` without a temporary allocation.
pub(crate) fn push_b64(raw: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    // Unpadded base64 of n bytes is ceil(4n/3) characters.
    out.resize(start + (raw.len() * 4).div_ceil(3), 0);
    let n = URL_SAFE_NO_PAD
        .encode_slice(raw, &mut out[start..])
        .expect("output sized for unpadded base64");
    out.truncate(start + n);
}
