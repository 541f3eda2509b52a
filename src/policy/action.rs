//! Actions: what happens to a selected value.
//!
//! Selectors decide *which* leaf; an [`Action`] decides *what happens* to it. The set is a
//! closed enum so that every new action must be handled everywhere (exhaustive `match`).
//!
//! An action sees one scalar [`Leaf`] (its decoded text) and writes the replacement *text* —
//! plain UTF-8, not yet encoded for the payload format. The rewriter owns encoding (JSON string
//! escaping, percent-encoding), so the same action serves JSON, forms, query strings and
//! headers. Selected numbers and booleans therefore come out as strings.

use crate::crypto::EnvelopeKind;
use crate::crypto::{
    Aad, CryptoError, DetSealer, EnvelopeOpener, EnvelopeSealer, NonceSource, TokenKey,
};
use crate::keys::{KeyStatus, Keyring, MasterKey, Purpose, derive};
use crate::policy::disclosure::{DisclosureTally, FieldTally};
use crate::policy::subject::{SubjectKeys, SubjectScopes};
use crate::policy::transform::fpe::{FpeCipher, FpeConfigError, FpeError, FpeSpec};
use crate::policy::transform::generalize::GeneralizeTo;
use crate::policy::transform::hash::{self, HashConfigError, HashSpec};
use crate::policy::unselected::HintCache;

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
    /// Forward the value unchanged. Declares a field: allow-list mode lets it through,
    /// detection leaves it alone, and the disclosure ledger counts it as `clear`.
    Keep,
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
    /// [`Action::Keep`]
    Keep,
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
    /// Retention: a new, unlinkable token key every period (`rotate_pseudonyms_every`).
    pub rotation: Option<TokenRotation>,
}

/// Per-period token keys: `HKDF(token working key, "period" ‖ period number)`. Pseudonyms of
/// different periods cannot be linked, so an inactive person's trail ends with the period.
/// The key of the current period is derived once when the period starts, not per value.
#[derive(Debug)]
pub struct TokenRotation {
    period_secs: u64,
    kid: crate::keys::KeyId,
    base: crate::keys::SecretKey,
    current: arc_swap::ArcSwap<(u64, TokenKey)>,
}

impl TokenRotation {
    /// Rotation every `period_secs` over the working key `base` of master key `kid`.
    pub fn new(kid: crate::keys::KeyId, base: crate::keys::SecretKey, period_secs: u64) -> Self {
        let period_secs = period_secs.max(1);
        let first = (0, Self::key_for(&kid, &base, 0));
        Self {
            period_secs,
            kid,
            base,
            current: arc_swap::ArcSwap::from_pointee(first),
        }
    }

    /// The period number of a Unix time.
    pub fn period(&self, now_unix: u64) -> u64 {
        now_unix / self.period_secs
    }

    fn key_for(kid: &crate::keys::KeyId, base: &crate::keys::SecretKey, period: u64) -> TokenKey {
        let mut ctx = *b"period\0\0\0\0\0\0\0\0";
        ctx[6..].copy_from_slice(&period.to_be_bytes());
        TokenKey::new(
            kid.clone(),
            &derive::derive_with_context(base, Purpose::Token, &ctx),
        )
    }

    /// The token key of the period `now_unix` falls in.
    pub fn key(&self, now_unix: u64) -> std::sync::Arc<(u64, TokenKey)> {
        let period = self.period(now_unix);
        let cur = self.current.load_full();
        if cur.0 == period {
            return cur;
        }
        let fresh = std::sync::Arc::new((period, Self::key_for(&self.kid, &self.base, period)));
        self.current.store(std::sync::Arc::clone(&fresh));
        fresh
    }

    /// A period-specific key from a subject-scoped token working key.
    pub fn subject_key(
        &self,
        kid: &crate::keys::KeyId,
        subject_base: &crate::keys::SecretKey,
        now_unix: u64,
    ) -> TokenKey {
        Self::key_for(kid, subject_base, self.period(now_unix))
    }
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
    /// What left, per (category, treatment), for the disclosure ledger.
    pub disclosed: DisclosureTally,
    /// Fields detection found, per normalised path and class.
    pub detected: FieldTally,
    /// Member names analysed for detection in this request (built on first use).
    pub(crate) hints: Option<HintCache>,
    /// Envelopes that failed to open on the response path (left as they were).
    pub reveal_failures: u32,
    /// Per-person keys and the payload ranges they cover (routes with a `subject`).
    pub subjects: Option<&'a SubjectScopes>,
    /// Added to leaf offsets (NDJSON: the line's start in the whole body).
    pub offset_base: usize,
    /// The request's time (Unix seconds), for period-rotated tokens. Set by the caller: the
    /// rewriter reads no clock.
    pub now_unix: u64,
    leaf_offset: usize,
}

/// Per-request tally of applied actions, emitted once per request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ActionCounts(pub [u32; ActionKind::COUNT]);

// === impl ActionKind ===

impl ActionKind {
    /// Number of kinds.
    pub const COUNT: usize = 11;
    /// Every kind, in index order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Drop,
        Self::Encrypt,
        Self::EncryptDeterministic,
        Self::Fpe,
        Self::Generalize,
        Self::Hash,
        Self::Keep,
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
            Self::Keep => "keep",
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
            disclosed: DisclosureTally::default(),
            detected: FieldTally::default(),
            hints: None,
            reveal_failures: 0,
            subjects: None,
            offset_base: 0,
            now_unix: 0,
            leaf_offset: 0,
        }
    }

    /// Uses per-person keys for values inside these scopes.
    pub fn with_subjects(mut self, subjects: &'a SubjectScopes) -> Self {
        self.subjects = Some(subjects);
        self
    }

    /// Tells the actions where the next leaf starts (the rewriter calls this before each
    /// `apply`), relative to the document being rewritten.
    pub fn at_offset(&mut self, offset: usize) {
        self.leaf_offset = self.offset_base + offset;
    }

    /// The person the current leaf belongs to, if any.
    fn subject(&self) -> Option<&'a SubjectKeys> {
        self.subjects.and_then(|s| s.at(self.leaf_offset))
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
            rotation: None,
        })
    }

    /// Rotates the token key every `period_secs` (retention by period).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn rotating(
        mut self,
        keyring: &Keyring,
        domain: &str,
        key_id: Option<&str>,
        period_secs: u64,
    ) -> Result<Self, BuildError> {
        let k = sealing_key(keyring, key_id)?;
        self.rotation = Some(TokenRotation::new(
            k.id().clone(),
            derive::derive(k.secret(), Purpose::Token, domain),
            period_secs,
        ));
        Ok(self)
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
            Self::Keep => ActionKind::Keep,
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

    /// Whether the action forwards values unchanged (`keep`).
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
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
                let sealer = cx.subject().map_or(&a.sealer, |s| &s.sealer);
                sealer.seal(leaf.text.as_bytes(), aad, cx.nonces, &mut cx.scratch, out)?;
                Applied::Replaced
            }
            Self::EncryptDeterministic(a) => {
                let aad = Aad {
                    domain: &a.domain,
                    field: leaf.field,
                };
                let sealer = cx.subject().map_or(&a.sealer, |s| &s.det);
                sealer.seal(leaf.text.as_bytes(), aad, &mut cx.scratch, out);
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
            Self::Keep => Applied::Kept,
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
                let opened =
                    if EnvelopeOpener::kind(leaf.text.as_bytes()) == Some(EnvelopeKind::Subject) {
                        // A person's envelope: try the people of this request (a response relates to
                        // the request it answers).
                        let people = cx.subjects.map_or(&[][..], |s| s.keys.as_slice());
                        people
                            .iter()
                            .map(|p| {
                                out.truncate(start);
                                p.opener.open(leaf.text, aad, &mut cx.scratch, out)
                            })
                            .find(Result::is_ok)
                            .unwrap_or(Err(CryptoError::UnknownKey))
                    } else {
                        a.opener.open(leaf.text, aad, &mut cx.scratch, out)
                    };
                match opened {
                    Ok(()) if std::str::from_utf8(&out[start..]).is_ok() => Applied::Replaced,
                    Ok(()) | Err(_) => {
                        out.truncate(start);
                        cx.reveal_failures += 1;
                        return Ok(Applied::Kept);
                    }
                }
            }
            Self::Tokenize(a) => {
                let subject = cx.subject();
                let now = cx.now_unix;
                let input = normalize(a.normalize, leaf.text, &mut cx.norm);
                match (&a.rotation, subject) {
                    (None, None) => a.key.write_token(&a.prefix, input, out),
                    (None, Some(s)) => s.token.write_token(&a.prefix, input, out),
                    (Some(r), None) => r.key(now).1.write_token(&a.prefix, input, out),
                    (Some(r), Some(s)) => r
                        .subject_key(s.token.kid(), &s.token_base, now)
                        .write_token(&a.prefix, input, out),
                }
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
    fn rotated_tokens_change_with_the_period_only() {
        let text = "[[keys]]\nid = \"k1\"\nstatus = \"primary\"\nsecret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";
        let ring = Keyring::from_text(text, "t").expect("keyring");
        let day = 86_400;
        let rotating = TokenizeAction::new(&ring, "seg", Normalize::None, "tok_", None)
            .and_then(|t| t.rotating(&ring, "seg", None, 180 * day))
            .expect("action");
        let plain =
            TokenizeAction::new(&ring, "seg", Normalize::None, "tok_", None).expect("action");
        let (rot, plain) = (Action::Tokenize(rotating), Action::Tokenize(plain));
        let token = |a: &Action, now: u64| {
            let mut n = crate::crypto::OsNonces::new();
            let mut cx = ApplyCx::new(&mut n);
            cx.now_unix = now;
            let mut out = Vec::new();
            let leaf = Leaf {
                text: "user-1",
                kind: LeafKind::String,
                field: "userId",
            };
            a.apply(&leaf, &mut cx, &mut out).expect("apply");
            String::from_utf8(out).expect("ascii")
        };
        let start = 1_000 * 180 * day; // the first second of a period
        assert_eq!(
            token(&rot, start),
            token(&rot, start + 180 * day - 1),
            "stable within a period"
        );
        assert_ne!(
            token(&rot, start),
            token(&rot, start + 180 * day),
            "unlinkable across periods"
        );
        assert_ne!(
            token(&rot, start),
            token(&plain, start),
            "a rotated key is not the plain key"
        );
        assert_eq!(
            token(&plain, start),
            token(&plain, start + 365 * day),
            "no rotation configured"
        );
    }

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
