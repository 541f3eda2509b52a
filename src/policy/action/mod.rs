//! Actions: what happens to a selected value.
//!
//! Selectors decide *which* leaf; an [`Action`] decides *what happens* to it. The set is a
//! closed enum so that every new action must be handled everywhere (exhaustive `match`).
//!
//! An action sees one scalar [`Leaf`] (its decoded text) and writes the replacement *text* —
//! plain UTF-8, not yet encoded for the payload format. The rewriter owns encoding (JSON string
//! escaping, percent-encoding), so the same action serves JSON, forms, query strings and
//! headers. Selected numbers and booleans therefore come out as strings.

mod build;
mod cx;
mod kind;
mod memo;
mod scrub;

pub use build::BuildError;
pub use cx::{ActionCounts, ApplyCx, WorkBufs};
pub(crate) use kind::with_action_kinds;
pub use kind::{
    ActionKind, ActionOption, Applied, OptionDefault, OptionType, SCRUB_CLASSES, Side, option_keys,
};
pub use scrub::{
    ECHO_TREATMENTS, SPAN_TREATMENTS, ScrubAction, TEXT_KINDS, default_treatment,
    password_treatment,
};

use crate::crypto::EnvelopeKind;
use crate::crypto::{Aad, CryptoError, DetSealer, EnvelopeOpener, EnvelopeSealer, TokenKey};
use crate::detect::Class;
use crate::detect::spans::EchoKind;
use crate::keys::{Purpose, derive};
use crate::policy::disclosure::Treatment;
use crate::policy::transform::fpe::{FpeCipher, FpeError};
use crate::policy::transform::generalize::GeneralizeTo;
use crate::policy::transform::hash::{self, HashSpec};
pub use crate::policy::transform::normalize::Normalize;

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
    /// Find personal data inside a text and treat each span by its class.
    Scrub(ScrubAction),
    /// Forward the value unchanged. Declares a field: allow-list mode lets it through,
    /// detection leaves it alone, and the disclosure ledger counts it as `clear`.
    Keep,
    /// Replace with a keyed, deterministic token.
    Tokenize(TokenizeAction),
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
    pub(crate) fn period(&self, now_unix: u64) -> u64 {
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
            Self::Scrub(_) => ActionKind::Scrub,
            Self::Tokenize(_) => ActionKind::Tokenize,
        }
    }

    /// Whether the action removes whole members (containers included) rather than rewriting
    /// scalar leaves.
    pub(crate) fn is_drop(&self) -> bool {
        matches!(self, Self::Drop)
    }

    /// Whether the action forwards values unchanged (`keep`).
    pub(crate) fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    /// Applies the action to one scalar leaf, writing replacement text (unencoded UTF-8) to
    /// `out`. `out` is only meaningful when the result is [`Applied::Replaced`]. Nothing is
    /// counted: rewriters take the whole per-value step with [`ApplyCx::treat`].
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
                    FpeMode::Reveal => {
                        let start = out.len();
                        let opened = a.cipher.decrypt(
                            leaf.text,
                            &a.domain,
                            leaf.field,
                            &mut cx.scratch,
                            &mut cx.norm,
                            out,
                        );
                        // Like an envelope that does not open: left as it is (it is the
                        // ciphertext) and counted, never an error that loses the rest.
                        if opened.is_err() {
                            out.truncate(start);
                            cx.reveal_failed(leaf.field);
                            return Ok(Applied::Kept);
                        }
                        opened
                    }
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
                if leaf.kind == LeafKind::String && hash::is_sha256_hex(leaf.text) {
                    // Hashed by the app already, as both destinations allow.
                    out.extend(leaf.text.bytes().map(|b| b.to_ascii_lowercase()));
                    Applied::Replaced
                } else if leaf.kind != LeafKind::Bool && a.spec.normalize(leaf.text, &mut cx.norm) {
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
                        cx.reveal_failed(leaf.field);
                        return Ok(Applied::Kept);
                    }
                }
            }
            Self::Scrub(a) => a.apply(leaf, cx, out)?,
            Self::Tokenize(a) => {
                let subject = cx.subject();
                let now = cx.now_unix;
                let input = a.normalize.apply(leaf.text, &mut cx.norm);
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
        Ok(applied)
    }
}

impl Action {
    /// Whether a value this action treats is looked for where it recurs in the request's
    /// scrubbed text and unselected leaves: actions that protect a value are.
    pub fn echo_source(&self) -> bool {
        scrub::echo_source(self.kind())
    }
}

// === the per-value step ===

/// Every rewriter (JSON, NDJSON, forms, query strings, headers) treats a selected or detected
/// value through these calls, so what a value's treatment counts — the action in the access
/// log and metrics, the (category, treatment) cell in the disclosure ledger — is decided here
/// once, for every format.
impl ApplyCx<'_> {
    /// Applies `action` to `leaf`, counts the action and tallies the value, of `class`, for the
    /// disclosure ledger. A deterministic action met again with the same value, field and
    /// person in this request writes what it wrote the first time, from the request's memo
    /// (see `memo`); it is counted and tallied all the same.
    ///
    /// # Errors
    /// As [`Action::apply`]; nothing is counted then (the request is refused).
    #[inline]
    pub fn treat(
        &mut self,
        action: &Action,
        class: Option<Class>,
        leaf: &Leaf<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Applied, ActionError> {
        if self.collect.is_some() {
            // A request whose text is scrubbed: remember what the rules select; in the first
            // of two passes, change nothing and count nothing.
            let (record, apply) = self.feeding();
            if record {
                self.remember(action, class, leaf.text);
            }
            if !apply {
                return Ok(Applied::Kept);
            }
        }
        self.size_buffers(action, out);
        let applied = if memo::memoisable(action) && self.memo.engaged() {
            let key = memo::Key {
                action: std::ptr::from_ref(action) as usize,
                subject: self.subject().map_or(0, |s| std::ptr::from_ref(s) as usize),
                leaf,
            };
            match self.memo.get(&key, out) {
                Ok(applied) => applied,
                Err(miss) => {
                    let start = out.len();
                    let applied = action.apply(leaf, self, out)?;
                    self.memo.put(&key, miss, applied, &out[start..]);
                    applied
                }
            }
        } else {
            action.apply(leaf, self, out)?
        };
        self.record(action.kind(), class, applied);
        Ok(applied)
    }

    /// The same step for an action that does not read the value — `drop` (which removes a
    /// member or field whole, containers included) and `keep` — so the rewriter need not decode
    /// it. `None`: the action reads the value; call [`Self::treat`].
    #[inline]
    pub(crate) fn treat_unread(
        &mut self,
        action: &Action,
        class: Option<Class>,
    ) -> Option<Applied> {
        let applied = match action {
            Action::Drop => Applied::Dropped,
            Action::Keep => Applied::Kept,
            _ => return None,
        };
        self.record(action.kind(), class, applied);
        Some(applied)
    }

    /// The same step for an action whose replacement does not depend on the value (`redact`):
    /// counted as [`Self::treat`] counts it, and the replacement returned for the rewriter to
    /// write, so the value need not be decoded (a batch's redacted address is four leaves an
    /// event). `None` when the action reads the value, or while this request's selected values
    /// are collected for echo recognition (the value is recorded then): call [`Self::treat`].
    #[inline]
    pub(crate) fn treat_constant<'r>(
        &mut self,
        action: &'r Action,
        class: Option<Class>,
    ) -> Option<&'r str> {
        let Action::Redact(a) = action else {
            return None;
        };
        if self.collect.is_some() {
            return None;
        }
        self.record(ActionKind::Redact, class, Applied::Replaced);
        Some(&a.replacement)
    }

    /// A value that `drop` removes unread, offered as one the rules select while this
    /// request's text is searched for echoes: a dropped name must not stay in clear where a
    /// scrubbed text repeats it. Counting stays with [`Self::treat_unread`].
    #[inline]
    pub(crate) fn echo_unread(&mut self, action: &Action, class: Option<Class>, text: &str) {
        if self.feeding().0 {
            self.remember(action, class, text);
        }
    }

    fn remember(&mut self, action: &Action, class: Option<Class>, text: &str) {
        if scrub::echo_source(action.kind())
            && let Some(echo) = self.collect.as_mut()
        {
            let kind = if class == Some(Class::PersonName) {
                EchoKind::PersonName
            } else {
                EchoKind::Value
            };
            echo.add(text, kind, scrub::echo_tag(class));
        }
    }

    /// A value no rule selected that allow-list mode withholds (or that lies inside a subtree
    /// it removes): no action ran, and the ledger counts the value `dropped`.
    #[inline]
    pub(crate) fn withhold(&mut self, class: Option<Class>) {
        if !self.collecting() {
            self.disclosed.bump(class, Treatment::Dropped);
        }
    }

    /// A value detection found and forwards as it came (`observe`): counted `clear`.
    #[inline]
    pub fn observe(&mut self, class: Class) {
        self.observe_value(Some(class));
    }

    /// [`Self::observe`] for a value that may have no class: a span echoing a value a rule
    /// without a class selected.
    #[inline]
    pub fn observe_value(&mut self, class: Option<Class>) {
        if !self.collecting() {
            self.disclosed.bump(class, Treatment::Clear);
        }
    }

    /// Gives the working buffers room for a typical value the first time they are needed,
    /// instead of growing them 8, 16, 32, … bytes over a request's first values (one
    /// allocation each instead of four or five).
    #[inline]
    fn size_buffers(&mut self, action: &Action, out: &mut Vec<u8>) {
        const ROOM: usize = 256;
        if out.capacity() == 0 {
            out.reserve(ROOM);
        }
        let crypto = matches!(
            action,
            Action::Encrypt(_)
                | Action::EncryptDeterministic(_)
                | Action::Fpe(_)
                | Action::Hash(_)
                | Action::Reveal(_)
                | Action::Tokenize(_)
        );
        if crypto && self.scratch.capacity() == 0 {
            self.scratch.reserve(ROOM);
        }
        if crypto && self.norm.capacity() == 0 {
            self.norm.reserve(ROOM);
        }
    }

    fn record(&mut self, kind: ActionKind, class: Option<Class>, applied: Applied) {
        if self.collecting() {
            return;
        }
        if kind.counts(applied) {
            self.counts.bump(kind);
        }
        if let Some(t) = kind.treatment(applied) {
            self.disclosed.bump(class, t);
        }
    }
}

/// Stars every letter and digit except the last `keep_last`; punctuation and spaces stay, so
/// `4111 1111 1111 1111` becomes `**** **** **** 1111` and an email keeps its shape.
///
/// Where the starring ends is found from the back ([`star_end`]): only the kept tail is read
/// twice, so a non-ASCII character pays one Unicode table look-up, not one to count and one
/// to star. ASCII text is starred byte by byte (for an ASCII character,
/// `char::is_alphanumeric` is `u8::is_ascii_alphanumeric`).
fn mask(text: &str, keep_last: usize, out: &mut Vec<u8>) {
    let (starred, kept) = text.split_at(star_end(text, keep_last));
    if starred.is_ascii() {
        out.extend(
            starred
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { b'*' } else { b }),
        );
    } else {
        let mut buf = [0u8; 4];
        for c in starred.chars() {
            if c.is_alphanumeric() {
                out.push(b'*');
            } else {
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.extend_from_slice(kept.as_bytes());
}

/// The end of what `mask` stars: just after the letter or digit before the last `keep_last`
/// ones, or the whole text when it has no more than `keep_last` (a value that short is
/// starred whole rather than shown whole).
fn star_end(text: &str, keep_last: usize) -> usize {
    if keep_last == 0 {
        return text.len();
    }
    let mut seen = 0;
    for (i, c) in text.char_indices().rev() {
        if c.is_alphanumeric() {
            if seen == keep_last {
                return i + c.len_utf8();
            }
            seen += 1;
        }
    }
    text.len()
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keyring;

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
}
