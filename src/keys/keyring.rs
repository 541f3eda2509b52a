//! Keyring file parsing.
//!
//! The format (see `keys.example`) is TOML:
//!
//! ```toml
//! [[keys]]
//! id = "k1"                 # [a-z0-9]{1,16}; appears in tokens and envelopes
//! status = "primary"        # primary | active | retired
//! secret = "…"              # 32 random bytes, standard base64
//! ```
//!
//! Errors locate the problem (`FILE:LINE:COL`) but never quote the file: a keyring line holds
//! key material.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use zeroize::Zeroize;

use super::SecretKey;

/// A master key's identifier, `[a-z0-9]{1,16}`. Public: it appears in tokens and envelopes so
/// that rotation is visible and decryption can pick the right key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Box<str>);

/// What a master key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Decrypts and verifies only; kept so that older envelopes stay readable.
    Active,
    /// Encrypts and tokenizes new data (and decrypts). Exactly one key may be primary.
    Primary,
    /// Refused for every operation; envelopes under it no longer open.
    Retired,
}

/// One master key.
#[derive(Debug)]
pub struct MasterKey {
    id: KeyId,
    status: KeyStatus,
    secret: SecretKey,
}

/// The loaded keyring.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

/// A problem in a keyring file. Never contains key material or file contents.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{origin}:{line}:{col}: {message}")]
pub struct KeyringError {
    /// Where the keyring came from (a path, or `$PIIGATE_KEYRING`).
    pub origin: String,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub col: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

// === impl KeyId ===

impl KeyId {
    /// Validates an id.
    pub fn new(id: &str) -> Option<Self> {
        let ok = !id.is_empty()
            && id.len() <= 16
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| Self(id.into()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// === impl KeyStatus ===

impl KeyStatus {
    /// The keyring spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Primary => "primary",
            Self::Retired => "retired",
        }
    }
}

// === impl MasterKey ===

impl MasterKey {
    /// Builds a key (tests and `keygen`).
    pub fn new(id: KeyId, status: KeyStatus, secret: SecretKey) -> Self {
        Self { id, status, secret }
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The key's status.
    pub fn status(&self) -> KeyStatus {
        self.status
    }

    /// The key material.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// Whether this is public example material (`keys.example`, whose secrets are the ASCII
    /// text `EXAMPLE-KEY-DO-NOT-USE-…`): anyone can open envelopes and link tokens made with
    /// it, so `check` and `serve` warn and `/metrics` exposes it.
    pub fn is_public_example(&self) -> bool {
        use subtle::ConstantTimeEq as _;
        const MARK: &[u8] = b"EXAMPLE-KEY-DO-NOT-USE-";
        self.secret.expose()[..MARK.len()].ct_eq(MARK).into()
    }
}

// === impl Keyring ===

impl Keyring {
    /// Builds a keyring from already-validated keys (tests).
    pub fn from_keys(keys: Vec<MasterKey>) -> Self {
        Self { keys }
    }

    /// Parses keyring text. `origin` names the source in errors (a path or the env var name).
    ///
    /// # Errors
    /// Every problem found, each located by line and column; never the offending text.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, Vec<KeyringError>> {
        let mut errors = Vec::new();
        let err = |errors: &mut Vec<KeyringError>, span: std::ops::Range<usize>, msg: String| {
            let (line, col) = line_col(text, span.start);
            errors.push(KeyringError {
                origin: origin.to_owned(),
                line,
                col,
                message: msg,
            });
        };
        let doc = match DeTable::parse(text) {
            Ok(doc) => doc,
            Err(e) => {
                // The TOML error's Display quotes the offending line; use only its message.
                let span = e.span().unwrap_or(0..0);
                err(
                    &mut errors,
                    span,
                    format!("invalid TOML: {}", e.message().trim()),
                );
                return Err(errors);
            }
        };
        let mut keys: Vec<MasterKey> = Vec::new();
        for (k, v) in doc.get_ref() {
            if k.get_ref() != "keys" {
                err(
                    &mut errors,
                    k.span(),
                    format!(
                        "unknown key `{}`; a keyring holds only `[[keys]]` tables",
                        k.get_ref()
                    ),
                );
                continue;
            }
            let DeValue::Array(arr) = v.get_ref() else {
                err(
                    &mut errors,
                    v.span(),
                    "`keys` must be an array of tables: `[[keys]]`".into(),
                );
                continue;
            };
            for entry in arr.iter() {
                if let Some(key) = parse_entry(entry, &mut |span, msg| err(&mut errors, span, msg))
                {
                    if keys.iter().any(|k| k.id == key.id) {
                        err(
                            &mut errors,
                            entry.span(),
                            format!("duplicate key id `{}`", key.id),
                        );
                    } else {
                        keys.push(key);
                    }
                }
            }
        }
        let primaries = keys
            .iter()
            .filter(|k| k.status == KeyStatus::Primary)
            .count();
        if primaries > 1 {
            err(
                &mut errors,
                0..0,
                "more than one key has status = \"primary\"; exactly one key encrypts new data \
                 (to rotate, mark the older one \"active\"; add new keys with \
                 `piigate keygen --keyring FILE`, which makes only a keyring's first key primary)"
                    .into(),
            );
        }
        if errors.is_empty() {
            Ok(Self { keys })
        } else {
            Err(errors)
        }
    }

    /// The key that encrypts and tokenizes new data, if any.
    pub fn primary(&self) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.status == KeyStatus::Primary)
    }

    /// Looks up a key by id, whatever its status.
    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id.as_str() == id)
    }

    /// Every key, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &MasterKey> {
        self.keys.iter()
    }

    /// Ids of the keys that are public example material (see
    /// [`MasterKey::is_public_example`]).
    pub fn public_example_ids(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| k.is_public_example())
            .map(|k| k.id.to_string())
            .collect()
    }

    /// Keys that may decrypt: primary and active, not retired.
    pub fn decrypting(&self) -> impl Iterator<Item = &MasterKey> {
        self.keys.iter().filter(|k| k.status != KeyStatus::Retired)
    }
}

fn parse_entry(
    entry: &Spanned<DeValue<'_>>,
    err: &mut dyn FnMut(std::ops::Range<usize>, String),
) -> Option<MasterKey> {
    let DeValue::Table(t) = entry.get_ref() else {
        err(entry.span(), "each `keys` entry must be a table".into());
        return None;
    };
    let mut id = None;
    let mut status = None;
    let mut secret = None;
    for (k, v) in t {
        match (k.get_ref().as_ref(), v.get_ref()) {
            ("id", DeValue::String(s)) => match KeyId::new(s) {
                Some(kid) => id = Some(kid),
                None => err(
                    v.span(),
                    "key id must be 1-16 characters of [a-z0-9]".into(),
                ),
            },
            ("status", DeValue::String(s)) => match s.as_ref() {
                "primary" => status = Some(KeyStatus::Primary),
                "active" => status = Some(KeyStatus::Active),
                "retired" => status = Some(KeyStatus::Retired),
                _ => err(
                    v.span(),
                    "status must be \"primary\", \"active\" or \"retired\"".into(),
                ),
            },
            ("secret", DeValue::String(s)) => match decode_secret(s) {
                Some(bytes) => secret = Some(bytes),
                None => err(
                    v.span(),
                    "secret must be 32 bytes in standard base64 (44 characters); \
                     generate one with `piigate keygen`"
                        .into(),
                ),
            },
            ("created" | "comment", _) => {}
            ("id" | "status" | "secret", _) => {
                err(v.span(), format!("`{}` must be a string", k.get_ref()))
            }
            (other, _) => err(
                k.span(),
                format!("unknown key `{other}`; expected id, status, secret, created or comment"),
            ),
        }
    }
    let missing: Vec<&str> = [
        ("id", id.is_none()),
        ("status", status.is_none()),
        ("secret", secret.is_none()),
    ]
    .into_iter()
    .filter_map(|(n, m)| m.then_some(n))
    .collect();
    if !missing.is_empty() {
        err(
            entry.span(),
            format!("key entry is missing {}", missing.join(", ")),
        );
        return None;
    }
    Some(MasterKey {
        id: id?,
        status: status?,
        secret: secret?,
    })
}

fn decode_secret(text: &str) -> Option<SecretKey> {
    let mut buf = STANDARD.decode(text.trim()).ok()?;
    let key = <[u8; 32]>::try_from(buf.as_slice())
        .ok()
        .map(SecretKey::from_bytes);
    buf.zeroize();
    key
}

/// 1-based line and column (in characters) of byte offset `at`.
pub(crate) fn line_col(text: &str, at: usize) -> (usize, usize) {
    // `str::floor_char_boundary` is newer than our MSRV (1.85); walk back by hand.
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A fresh keyring entry from the OS random number generator, as TOML text.
///
/// # Errors
/// When the OS RNG fails (it practically never does).
pub fn generate_entry(id: &KeyId, status: KeyStatus) -> Result<String, ring::error::Unspecified> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut raw = [0u8; 32];
    SystemRandom::new().fill(&mut raw)?;
    let mut b64 = STANDARD.encode(raw);
    raw.zeroize();
    let text = format!(
        "[[keys]]\nid = \"{id}\"\nstatus = \"{}\"\nsecret = \"{b64}\"\n",
        status.as_str()
    );
    b64.zeroize();
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[[keys]]\nid = \"k1\"\nstatus = \"primary\"\nsecret = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n\n[[keys]]\nid = \"k0\"\nstatus = \"active\"\nsecret = \"HxweHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=\"\n";

    #[test]
    fn parses_two_keys() {
        let ring = Keyring::from_text(GOOD, "keys").expect("valid keyring");
        assert_eq!(ring.primary().map(|k| k.id().as_str()), Some("k1"));
        assert_eq!(ring.decrypting().count(), 2);
        assert_eq!(ring.get("k0").map(|k| k.secret().expose()[0]), Some(0x1f));
    }

    #[test]
    fn errors_never_echo_secrets_and_are_all_reported() {
        let text = "[[keys]]\nid = \"K!\"\nstatus = \"boss\"\nsecret = \"c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0\"\n";
        let errs = Keyring::from_text(text, "keys.toml").expect_err("invalid");
        assert_eq!(errs.len(), 4, "{errs:?}"); // id, status, secret, then missing fields
        for e in &errs {
            let s = e.to_string();
            assert!(!s.contains("c2VjcmV0"), "{s}");
            assert!(s.starts_with("keys.toml:"), "{s}");
        }
        assert_eq!((errs[0].line, errs[0].col), (2, 6));
    }

    #[test]
    fn shipped_example_keys_are_recognised_and_generated_ones_are_not() {
        let example = include_str!("../../keys.example");
        let ring = Keyring::from_text(example, "keys.example").expect("example parses");
        assert_eq!(ring.public_example_ids(), ["k2", "k1", "k0"]);
        let ring = Keyring::from_text(GOOD, "keys").expect("valid keyring");
        assert!(ring.public_example_ids().is_empty());
        let id = KeyId::new("k9").expect("valid id");
        let text = generate_entry(&id, KeyStatus::Primary).expect("rng");
        let ring = Keyring::from_text(&text, "gen").expect("generated entry is valid");
        assert!(ring.public_example_ids().is_empty());
    }

    #[test]
    fn generated_entry_parses() {
        let id = KeyId::new("k9").expect("valid id");
        let text = generate_entry(&id, KeyStatus::Primary).expect("rng");
        let ring = Keyring::from_text(&text, "gen").expect("generated entry is valid");
        assert_eq!(ring.primary().map(|k| k.id().as_str()), Some("k9"));
    }
}
