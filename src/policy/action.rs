//! Actions: what happens to a selected value.
//!
//! Selectors decide *which* leaf; an [`Action`] decides *what happens* to it. The set is a
//! closed enum so that every new action must be handled everywhere (exhaustive `match`).
//!
//! An action sees one scalar [`Leaf`] (its decoded text) and writes the replacement *text* —
//! plain UTF-8, not yet encoded for the payload format. The rewriter owns encoding (JSON string
//! escaping, percent-encoding), so the same action serves JSON, forms, query strings and
//! headers. Selected numbers and booleans therefore come out as strings.

use crate::crypto::{
    Aad, CryptoError, DetSealer, EnvelopeOpener, EnvelopeSealer, NonceSource, TokenKey,
};
use crate::keys::{KeyStatus, Keyring, MasterKey, Purpose, derive};
use crate::policy::transform::fpe::{FpeCipher, FpeConfigError, FpeError, FpeSpec};
use crate::policy::transform::generalize::GeneralizeTo;
use crate::policy::transform::hash::{self, HashConfigError, HashSpec};

/// What to do with a selected value. Variants in alphabetical order.
// Actions are built once per rule at config load and only borrowed afterwards, so the size
// difference between variants costs nothing on the request path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Action {
    /// Remove the member (or array element) entirely; the document stays valid.
    Drop,
    /// Replace with an AES-256-GCM envelope the owner can reveal.
    Encrypt(EncryptAction),
    /// Replace with a deterministic AES-256-GCM-SIV envelope (`pgd1.`) the owner can reveal.
    EncryptDeterministic(EncryptDeterministicAction),
    /// FF1 format-preserving encryption (or, in reveal mode, its inverse).
    Fpe(FpeAction),
    /// Replace with a coarser value (IP prefix, year, postcode prefix, age band).
    Generalize(GeneralizeAction),
    /// Replace with the hex SHA-256 of the destination-normalised value.
    Hash(HashAction),
    /// Replace letters and digits with `*`, keeping the last few and all punctuation.
    Mask(MaskAction),
    /// Replace with a fixed string.
    Redact(RedactAction),
    /// Response path: open piigate envelopes back into cleartext.
    Reveal(RevealAction),
    /// Replace with a keyed, deterministic token.
    Tokenize(TokenizeAction),
}

/// The kind of an action, for counting and metric labels (a bounded set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// [`Action::Drop`]
    Drop,
    /// [`Action::Encrypt`]
    Encrypt,
    /// [`Action::EncryptDeterministic`]
    EncryptDeterministic,
    /// [`Action::Fpe`]
    Fpe,
    /// [`Action::Generalize`]
    Generalize,
    /// [`Action::Hash`]
    Hash,
    /// [`Action::Mask`]
    Mask,
    /// [`Action::Redact`]
    Redact,
    /// [`Action::Reveal`]
    Reveal,
    /// [`Action::Tokenize`]
    Tokenize,
}

/// `tokenize`: HMAC-SHA256 under the domain's token key.
#[derive(Debug)]
pub struct TokenizeAction {
    /// Pre-keyed HMAC state derived for (primary key, domain).
    pub key: TokenKey,
    /// Normalisation applied before the MAC, so `Alice@Example.com` and `alice@example.com`
    /// give the same token.
    pub normalize: Normalize,
    /// Token prefix, `tok_` by default.
    pub prefix: Box<str>,
}

/// `encrypt`: an envelope bound to the domain and the field name.
#[derive(Debug)]
pub struct EncryptAction {
    /// Sealer for the primary key's working key in this domain.
    pub sealer: EnvelopeSealer,
    /// The pseudonymisation domain (bound into the associated data).
    pub domain: Box<str>,
}

/// `encrypt_deterministic`: a `pgd1.` envelope bound to the domain and the field name. Equal
/// values in the same domain and field give equal envelopes.
#[derive(Debug)]
pub struct EncryptDeterministicAction {
    /// Sealer for the primary key's `siv` working key in this domain.
    pub sealer: DetSealer,
    /// The pseudonymisation domain (bound into the associated data).
    pub domain: Box<str>,
}

/// Which way `fpe` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpeMode {
    /// Request path: encrypt.
    Encrypt,
    /// Owner's reveal path: decrypt (a response rule, the admin API or `piigate reveal`).
    Reveal,
}

/// `fpe`: FF1 over the value's numerals, separators and the last `keep_last` kept.
#[derive(Debug)]
pub struct FpeAction {
    /// FF1 key (derived for the chosen master key and this domain) and options.
    pub cipher: FpeCipher,
    /// The pseudonymisation domain (bound into the tweak).
    pub domain: Box<str>,
    /// Encrypt or reveal.
    pub mode: FpeMode,
}

/// `generalize`: a coarser value; unparseable values are dropped.
#[derive(Debug, Clone, Copy)]
pub struct GeneralizeAction {
    /// The generalisation.
    pub to: GeneralizeTo,
}

/// `hash`: SHA-256 (lowercase hex) of the value normalised as the destination requires;
/// values that do not normalise are dropped.
#[derive(Debug, Clone, Copy)]
pub struct HashAction {
    /// Preset, field kind and phone default.
    pub spec: HashSpec,
}

/// `mask`: keep the last `keep_last` letters/digits, star the others.
#[derive(Debug, Clone)]
pub struct MaskAction {
    /// How many trailing letters/digits stay visible. If the value has no more than that many,
    /// everything is masked: a mask never reveals a whole value.
    pub keep_last: usize,
}

/// `redact`: a fixed replacement.
#[derive(Debug, Clone)]
pub struct RedactAction {
    /// The replacement text, `[REDACTED]` by default.
    pub replacement: Box<str>,
}

/// `reveal`: decrypt envelopes (`pge1.` and `pgd1.`) on the response path.
#[derive(Debug)]
pub struct RevealAction {
    /// Opener holding every non-retired key's working keys for the domain (build it with
    /// [`EnvelopeOpener::for_domain`] so both envelope kinds open).
    pub opener: EnvelopeOpener,
    /// The pseudonymisation domain the envelopes were sealed in.
    pub domain: Box<str>,
}

/// Normalisation before tokenizing or hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    /// Trim and lower-case.
    Email,
    /// Trim and lower-case.
    Lowercase,
    /// Use the value as is.
    None,
    /// Keep a leading `+` and the digits; drop spaces, dashes, dots and parentheses.
    Phone,
}

/// JSON type of a scalar leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// `true` or `false`; the text is the literal.
    Bool,
    /// A number; the text is its exact spelling in the payload.
    Number,
    /// A string; the text is decoded (escapes resolved).
    String,
}

/// One scalar value handed to an action.
#[derive(Debug, Clone, Copy)]
pub struct Leaf<'a> {
    /// Decoded text of the value.
    pub text: &'a str,
    /// Its JSON type.
    pub kind: LeafKind,
    /// The nearest enclosing member name (decoded), or `""` at the top level. Bound into
    /// envelopes so they cannot be replayed into another field.
    pub field: &'a str,
}

/// What an action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Remove the member or element.
    Dropped,
    /// Leave the original bytes untouched (nothing to do, e.g. `reveal` on a non-envelope).
    Kept,
    /// Replace the value with the text written to `out`.
    Replaced,
}

/// Why an action failed. Never carries the value. The request must be rejected (fail closed):
/// the clear value is never forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// A cryptographic operation failed.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// `fpe`: the value has too few characters to encrypt securely (FF1 needs a domain of at
    /// least 10^6 values, NIST SP 800-38G Rev. 1).
    #[error("value too short for format-preserving encryption")]
    FpeTooShort,
    /// `fpe`: the value has a character outside the alphabet and separators, too many
    /// characters, or fails the Luhn check with `luhn = true`.
    #[error("value does not fit the format-preserving encryption alphabet")]
    FpeInvalidValue,
}

/// Why an action could not be built from config. Messages say how to fix it and never contain
/// key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The action seals new data but no key is primary.
    #[error(
        "the keyring has no key with status = \"primary\"; mark one key primary to encrypt or \
         tokenize"
    )]
    NoPrimaryKey,
    /// `key_id` names a key the keyring does not hold.
    #[error("key id `{0}` is not in the keyring")]
    UnknownKey(String),
    /// `key_id` names a retired key.
    #[error("key `{0}` is retired; retired keys are refused for every operation")]
    RetiredKey(String),
    /// Bad `fpe` options.
    #[error("fpe: {0}")]
    Fpe(#[from] FpeConfigError),
    /// Bad `hash` options.
    #[error("hash: {0}")]
    Hash(#[from] HashConfigError),
}

/// Per-request state for applying actions: randomness, scratch space and counts.
pub struct ApplyCx<'a> {
    /// Source of nonces for `encrypt`.
    pub nonces: &'a mut dyn NonceSource,
    /// Reused working space so actions do not allocate per value.
    pub scratch: Vec<u8>,
    /// Second reused buffer (normalised input).
    pub norm: Vec<u8>,
    /// How many values each action kind changed.
    pub counts: ActionCounts,
    /// Envelopes that failed to open on the response path (left as they were).
    pub reveal_failures: u32,
}

/// Per-request tally of applied actions, emitted once per request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ActionCounts(pub [u32; ActionKind::COUNT]);

// === impl ActionKind ===

impl ActionKind {
    /// Number of kinds.
    pub const COUNT: usize = 10;
    /// Every kind, in index order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Drop,
        Self::Encrypt,
        Self::EncryptDeterministic,
        Self::Fpe,
        Self::Generalize,
        Self::Hash,
        Self::Mask,
        Self::Redact,
        Self::Reveal,
        Self::Tokenize,
    ];

    /// The config spelling, also the metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Encrypt => "encrypt",
            Self::EncryptDeterministic => "encrypt_deterministic",
            Self::Fpe => "fpe",
            Self::Generalize => "generalize",
            Self::Hash => "hash",
            Self::Mask => "mask",
            Self::Redact => "redact",
            Self::Reveal => "reveal",
            Self::Tokenize => "tokenize",
        }
    }

    /// Index into [`ActionCounts`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

// === impl ActionCounts ===

impl ActionCounts {
    /// Records one application.
    pub fn bump(&mut self, kind: ActionKind) {
        self.0[kind.index()] += 1;
    }

    /// Count for one kind.
    pub fn get(&self, kind: ActionKind) -> u32 {
        self.0[kind.index()]
    }

    /// Total over all kinds.
    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }
}

// === impl ApplyCx ===

impl<'a> ApplyCx<'a> {
    /// Fresh per-request state.
    pub fn new(nonces: &'a mut dyn NonceSource) -> Self {
        Self {
            nonces,
            scratch: Vec::new(),
            norm: Vec::new(),
            counts: ActionCounts::default(),
            reveal_failures: 0,
        }
    }
}

// === constructors (config time: every key is derived here, never per value) ===

/// The key that seals new data: `key_id` if given (it must not be retired), else the primary.
fn sealing_key<'k>(
    keyring: &'k Keyring,
    key_id: Option<&str>,
) -> Result<&'k MasterKey, BuildError> {
    match key_id {
        None => keyring.primary().ok_or(BuildError::NoPrimaryKey),
        Some(id) => {
            let k = keyring
                .get(id)
                .ok_or_else(|| BuildError::UnknownKey(id.to_owned()))?;
            if k.status() == KeyStatus::Retired {
                return Err(BuildError::RetiredKey(id.to_owned()));
            }
            Ok(k)
        }
    }
}

impl TokenizeAction {
    /// Tokenizes in `domain` with the primary key, or with `key_id` during a rotation overlap
    /// (keep issuing the old tokens until recipients have re-keyed their joins).
    ///
    /// # Errors
    /// [`BuildError::NoPrimaryKey`], [`BuildError::UnknownKey`], [`BuildError::RetiredKey`].
    pub fn new(
        keyring: &Keyring,
        domain: &str,
        normalize: Normalize,
        prefix: &str,
        key_id: Option<&str>,
    ) -> Result<Self, BuildError> {
        let k = sealing_key(keyring, key_id)?;
        Ok(Self {
            key: TokenKey::new(
                k.id().clone(),
                &derive::derive(k.secret(), Purpose::Token, domain),
            ),
            normalize,
            prefix: prefix.into(),
        })
    }
}

impl EncryptAction {
    /// Seals with the primary key's `aead` working key for `domain`.
    ///
    /// # Errors
    /// [`BuildError::NoPrimaryKey`].
    pub fn new(keyring: &Keyring, domain: &str) -> Result<Self, BuildError> {
        let k = sealing_key(keyring, None)?;
        Ok(Self {
            sealer: EnvelopeSealer::new(
                k.id().clone(),
                &derive::derive(k.secret(), Purpose::Aead, domain),
            ),
            domain: domain.into(),
        })
    }
}

impl EncryptDeterministicAction {
    /// Seals with the primary key's `siv` working key for `domain`.
    ///
    /// # Errors
    /// [`BuildError::NoPrimaryKey`].
    pub fn new(keyring: &Keyring, domain: &str) -> Result<Self, BuildError> {
        let k = sealing_key(keyring, None)?;
        Ok(Self {
            sealer: DetSealer::new(
                k.id().clone(),
                &derive::derive(k.secret(), Purpose::Siv, domain),
            ),
            domain: domain.into(),
        })
    }
}

impl RevealAction {
    /// Opens `pge1` and `pgd1` envelopes of `domain` under every non-retired key.
    pub fn new(keyring: &Keyring, domain: &str) -> Self {
        Self {
            opener: EnvelopeOpener::for_domain(keyring, domain),
            domain: domain.into(),
        }
    }
}

impl FpeAction {
    /// FF1 in `domain` with the `ff1` working key of `key_id` (default: the primary key).
    ///
    /// FPE output cannot name its key, so the reveal side must use the same key: pin `key_id`
    /// on both rules before rotating the primary.
    ///
    /// # Errors
    /// [`BuildError::Fpe`] for an option set [`FpeSpec::validate`] refuses, and the key errors.
    pub fn new(
        keyring: &Keyring,
        domain: &str,
        spec: FpeSpec,
        key_id: Option<&str>,
        mode: FpeMode,
    ) -> Result<Self, BuildError> {
        spec.validate()?;
        let k = sealing_key(keyring, key_id)?;
        let cipher = FpeCipher::new(&derive::derive(k.secret(), Purpose::Ff1, domain), spec)?;
        Ok(Self {
            cipher,
            domain: domain.into(),
            mode,
        })
    }
}

impl HashAction {
    /// Validates and wraps the options.
    ///
    /// # Errors
    /// [`BuildError::Hash`] for an option set [`HashSpec::validate`] refuses.
    pub fn new(spec: HashSpec) -> Result<Self, BuildError> {
        spec.validate()?;
        Ok(Self { spec })
    }
}

// === impl Action ===

impl Action {
    /// The action's kind.
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Drop => ActionKind::Drop,
            Self::Encrypt(_) => ActionKind::Encrypt,
            Self::EncryptDeterministic(_) => ActionKind::EncryptDeterministic,
            Self::Fpe(_) => ActionKind::Fpe,
            Self::Generalize(_) => ActionKind::Generalize,
            Self::Hash(_) => ActionKind::Hash,
            Self::Mask(_) => ActionKind::Mask,
            Self::Redact(_) => ActionKind::Redact,
            Self::Reveal(_) => ActionKind::Reveal,
            Self::Tokenize(_) => ActionKind::Tokenize,
        }
    }

    /// Whether the action removes whole members (containers included) rather than rewriting
    /// scalar leaves.
    pub fn is_drop(&self) -> bool {
        matches!(self, Self::Drop)
    }

    /// Applies the action to one scalar leaf, writing replacement text (unencoded UTF-8) to
    /// `out`. `out` is only meaningful when the result is [`Applied::Replaced`].
    ///
    /// Allocation: none once `cx`'s scratch buffers have grown to the largest value.
    ///
    /// `hash` and `generalize` return [`Applied::Dropped`] for a value they cannot normalise or
    /// parse; `fpe` returns an error instead (it is reversible, so dropping would lose data the
    /// owner asked to keep): the caller rejects the request.
    ///
    /// # Errors
    /// [`ActionError::Crypto`] if randomness fails while encrypting;
    /// [`ActionError::FpeTooShort`] / [`ActionError::FpeInvalidValue`] for a value `fpe` cannot
    /// encrypt.
    pub fn apply(
        &self,
        leaf: &Leaf<'_>,
        cx: &mut ApplyCx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Applied, ActionError> {
        let applied = match self {
            Self::Drop => Applied::Dropped,
            Self::Encrypt(a) => {
                let aad = Aad {
                    domain: &a.domain,
                    field: leaf.field,
                };
                a.sealer
                    .seal(leaf.text.as_bytes(), aad, cx.nonces, &mut cx.scratch, out)?;
                Applied::Replaced
            }
            Self::EncryptDeterministic(a) => {
                let aad = Aad {
                    domain: &a.domain,
                    field: leaf.field,
                };
                a.sealer
                    .seal(leaf.text.as_bytes(), aad, &mut cx.scratch, out);
                Applied::Replaced
            }
            Self::Fpe(a) => {
                let res = match a.mode {
                    FpeMode::Encrypt => a.cipher.encrypt(
                        leaf.text,
                        &a.domain,
                        leaf.field,
                        &mut cx.scratch,
                        &mut cx.norm,
                        out,
                    ),
                    FpeMode::Reveal => a.cipher.decrypt(
                        leaf.text,
                        &a.domain,
                        leaf.field,
                        &mut cx.scratch,
                        &mut cx.norm,
                        out,
                    ),
                };
                res.map_err(|e| match e {
                    FpeError::TooShort => ActionError::FpeTooShort,
                    FpeError::Invalid => ActionError::FpeInvalidValue,
                })?;
                Applied::Replaced
            }
            Self::Generalize(a) => {
                if leaf.kind != LeafKind::Bool && a.to.apply(leaf.text, out) {
                    Applied::Replaced
                } else {
                    Applied::Dropped
                }
            }
            Self::Hash(a) => {
                if leaf.kind != LeafKind::Bool && a.spec.normalize(leaf.text, &mut cx.norm) {
                    hash::sha256_hex(&cx.norm, out);
                    Applied::Replaced
                } else {
                    Applied::Dropped
                }
            }
            Self::Mask(a) => {
                mask(leaf.text, a.keep_last, out);
                Applied::Replaced
            }
            Self::Redact(a) => {
                out.extend_from_slice(a.replacement.as_bytes());
                Applied::Replaced
            }
            Self::Reveal(a) => {
                if leaf.kind != LeafKind::String
                    || !EnvelopeOpener::looks_like_envelope(leaf.text.as_bytes())
                {
                    return Ok(Applied::Kept);
                }
                let aad = Aad {
                    domain: &a.domain,
                    field: leaf.field,
                };
                let start = out.len();
                match a.opener.open(leaf.text, aad, &mut cx.scratch, out) {
                    Ok(()) if std::str::from_utf8(&out[start..]).is_ok() => Applied::Replaced,
                    Ok(()) | Err(_) => {
                        out.truncate(start);
                        cx.reveal_failures += 1;
                        return Ok(Applied::Kept);
                    }
                }
            }
            Self::Tokenize(a) => {
                let input = normalize(a.normalize, leaf.text, &mut cx.norm);
                a.key.write_token(&a.prefix, input, out);
                Applied::Replaced
            }
        };
        cx.counts.bump(self.kind());
        Ok(applied)
    }
}

/// Normalises `text` for tokenizing, borrowing when nothing changes.
fn normalize<'b>(how: Normalize, text: &'b str, buf: &'b mut Vec<u8>) -> &'b [u8] {
    match how {
        Normalize::None => text.as_bytes(),
        Normalize::Email | Normalize::Lowercase => {
            let t = text.trim();
            if t.bytes().any(|b| b.is_ascii_uppercase()) || !t.is_ascii() {
                buf.clear();
                if t.is_ascii() {
                    buf.extend(t.bytes().map(|b| b.to_ascii_lowercase()));
                } else {
                    buf.extend_from_slice(t.to_lowercase().as_bytes());
                }
                buf
            } else {
                t.as_bytes()
            }
        }
        Normalize::Phone => {
            buf.clear();
            let t = text.trim();
            if t.starts_with('+') {
                buf.push(b'+');
            }
            buf.extend(t.bytes().filter(u8::is_ascii_digit));
            buf
        }
    }
}

/// Stars every letter and digit except the last `keep_last`; punctuation and spaces stay, so
/// `4111 1111 1111 1111` becomes `**** **** **** 1111` and an email keeps its shape.
fn mask(text: &str, keep_last: usize, out: &mut Vec<u8>) {
    let alnum = text.chars().filter(|c| c.is_alphanumeric()).count();
    let keep = if alnum > keep_last { keep_last } else { 0 };
    let mut seen = 0;
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if c.is_alphanumeric() {
            seen += 1;
            if seen > alnum - keep {
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            } else {
                out.push(b'*');
            }
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_shape() {
        let mut out = Vec::new();
        mask("4111 1111 1111 1234", 4, &mut out);
        assert_eq!(out, b"**** **** **** 1234");
        out.clear();
        mask("abc", 4, &mut out);
        assert_eq!(out, b"***", "a short value is masked entirely");
        out.clear();
        mask("jé@x.io", 2, &mut out);
        assert_eq!(String::from_utf8(out).expect("utf8"), "**@*.io");
    }

    #[test]
    fn normalize_borrows_when_clean() {
        let mut buf = Vec::new();
        assert_eq!(
            normalize(Normalize::Email, " Alice@Example.COM ", &mut buf),
            b"alice@example.com"
        );
        assert_eq!(
            normalize(Normalize::Phone, "+1 (555) 010-9999", &mut buf),
            b"+15550109999"
        );
        assert_eq!(
            normalize(Normalize::Email, "bob@x.io", &mut buf),
            b"bob@x.io"
        );
    }
}
