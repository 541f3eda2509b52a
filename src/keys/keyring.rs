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
//! or, with the master keys held wrapped under a key that never leaves an HSM:
//!
//! ```toml
//! [hsm]
//! module = "/usr/lib/softhsm/libsofthsm2.so"   # the PKCS#11 library
//! token = "piigate"                            # token label
//! pin_env = "PIIGATE_HSM_PIN"                  # or pin_file = "/run/credentials/…"
//!
//! [[keys]]
//! id = "k1"
//! status = "primary"
//! wrapped = "…"                 # RFC 5649 AES key wrap (with padding) of the master, base64
//! wrapping_key = "piigate-kek"  # label of the AES key on the token that unwraps it
//! ```
//!
//! [`KeyringFile::parse`] reads the structure; [`KeyringFile::load`] unwraps through the HSM
//! (`super::pkcs11`) and yields a [`Keyring`] of plain master keys.
//!
//! Errors locate the problem (`FILE:LINE:COL`) but never quote the file: a keyring line holds
//! key material.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use zeroize::Zeroize;

use super::location::line_col;
use super::pkcs11::{HsmSpec, Pin, Unwrap};
use super::secret::SecretKey;

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
    pub(crate) fn is_public_example(&self) -> bool {
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

    /// Parses and loads keyring text with no environment: a keyring with HSM-wrapped entries
    /// fails (it needs a PIN). `origin` names the source in errors (a path or the env var name).
    ///
    /// # Errors
    /// Every problem found, each located by line and column; never the offending text.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, Vec<KeyringError>> {
        KeyringFile::parse(text, origin)?.load(&|_| None)
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
    pub(crate) fn public_example_ids(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| k.is_public_example())
            .map(|k| k.id.to_string())
            .collect()
    }

    /// Keys that may decrypt: primary and active, not retired.
    pub(crate) fn decrypting(&self) -> impl Iterator<Item = &MasterKey> {
        self.keys.iter().filter(|k| k.status != KeyStatus::Retired)
    }
}

/// Where an entry's key material is.
enum Material {
    /// The 32 bytes, in the file (`secret`).
    Plain(SecretKey),
    /// RFC 5649-wrapped under a key on the HSM (`wrapped`, `wrapping_key`).
    Wrapped {
        wrapped: Vec<u8>,
        label: String,
        /// 1-based line and column of `wrapping_key`, for errors.
        at: (usize, usize),
    },
}

struct Entry {
    id: KeyId,
    status: KeyStatus,
    material: Material,
}

/// A parsed keyring file: entries and, when any is wrapped, the HSM that unwraps them.
/// Nothing has been unwrapped yet.
pub struct KeyringFile {
    origin: String,
    hsm: Option<HsmSpec>,
    entries: Vec<Entry>,
}

impl std::fmt::Debug for KeyringFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringFile")
            .field("origin", &self.origin)
            .field("hsm", &self.hsm)
            .field("keys", &self.entries.len())
            .finish()
    }
}

impl KeyringFile {
    /// Parses keyring text without touching an HSM.
    ///
    /// # Errors
    /// Every problem found, each located by line and column; never the offending text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, Vec<KeyringError>> {
        let mut errors = Vec::new();
        let mut err = |span: std::ops::Range<usize>, msg: String| {
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
                err(span, format!("invalid TOML: {}", e.message().trim()));
                return Err(errors);
            }
        };
        let mut entries: Vec<Entry> = Vec::new();
        let mut hsm = None;
        for (k, v) in doc.get_ref() {
            match k.get_ref().as_ref() {
                "keys" => {}
                "hsm" => {
                    hsm = HsmSpec::parse(v, text, &mut err);
                    continue;
                }
                other => {
                    err(
                        k.span(),
                        format!(
                            "unknown key `{other}`; a keyring holds `[[keys]]` tables and an \
                             optional `[hsm]` table"
                        ),
                    );
                    continue;
                }
            }
            let DeValue::Array(arr) = v.get_ref() else {
                err(
                    v.span(),
                    "`keys` must be an array of tables: `[[keys]]`".into(),
                );
                continue;
            };
            for entry in arr.iter() {
                if let Some(key) = parse_entry(entry, text, &mut err) {
                    if entries.iter().any(|k| k.id == key.id) {
                        err(entry.span(), format!("duplicate key id `{}`", key.id));
                    } else {
                        entries.push(key);
                    }
                }
            }
        }
        let primaries = entries
            .iter()
            .filter(|k| k.status == KeyStatus::Primary)
            .count();
        if primaries > 1 {
            err(
                0..0,
                "more than one key has status = \"primary\"; exactly one key encrypts new data \
                 (to rotate, mark the older one \"active\"; add new keys with \
                 `piigate keygen --keyring FILE`, which makes only a keyring's first key primary)"
                    .into(),
            );
        }
        let wrapped = entries
            .iter()
            .find(|e| matches!(e.material, Material::Wrapped { .. }));
        if let (Some(Entry { id, .. }), None) = (wrapped, &hsm) {
            err(
                0..0,
                format!(
                    "key `{id}` is wrapped, but the keyring has no [hsm] table naming the \
                     PKCS#11 module and token that unwrap it"
                ),
            );
        }
        if errors.is_empty() {
            Ok(Self {
                origin: origin.to_owned(),
                hsm,
                entries,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether the keyring holds a key with this id.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.iter().any(|e| e.id.as_str() == id)
    }

    /// Whether a key is primary.
    pub fn has_primary(&self) -> bool {
        self.entries.iter().any(|e| e.status == KeyStatus::Primary)
    }

    /// The `[hsm]` table, if any.
    pub fn hsm(&self) -> Option<&HsmSpec> {
        self.hsm.as_ref()
    }

    /// Unwraps the wrapped entries through the HSM (one session for all of them) and returns
    /// the keyring. `env` reads the PIN variable.
    ///
    /// # Errors
    /// Located errors: at `[hsm]` for the module, token and PIN, at an entry's
    /// `wrapping_key` for a missing key or a wrapped key that does not open. No PIN, key or
    /// wrapped bytes in any message.
    pub fn load(self, env: &dyn Fn(&str) -> Option<String>) -> Result<Keyring, Vec<KeyringError>> {
        let Self {
            origin,
            hsm,
            entries,
        } = self;
        let located = |(line, col): (usize, usize), message: String| KeyringError {
            origin: origin.clone(),
            line,
            col,
            message,
        };
        let requests: Vec<Unwrap<'_>> = entries
            .iter()
            .filter_map(|e| match &e.material {
                Material::Wrapped { wrapped, label, .. } => Some(Unwrap {
                    id: e.id.as_str(),
                    wrapped,
                    label,
                }),
                Material::Plain(_) => None,
            })
            .collect();
        let mut unwrapped = if requests.is_empty() {
            Vec::new()
        } else {
            // `parse` refused wrapped entries without an [hsm] table.
            let Some(hsm) = &hsm else {
                return Err(vec![located((0, 0), "no [hsm] table".into())]);
            };
            let pin = Pin::read(hsm, env).map_err(|e| vec![located(hsm.at, e.to_string())])?;
            super::pkcs11::unwrap_all(hsm, &pin, &requests).map_err(|e| {
                let at = e
                    .entry()
                    .and_then(|id| {
                        entries.iter().find_map(|en| match &en.material {
                            Material::Wrapped { at, .. } if en.id.as_str() == id => Some(*at),
                            _ => None,
                        })
                    })
                    .unwrap_or(hsm.at);
                vec![located(at, e.to_string())]
            })?
        }
        .into_iter();
        let keys = entries
            .into_iter()
            .filter_map(|e| {
                let secret = match e.material {
                    Material::Plain(s) => s,
                    Material::Wrapped { .. } => unwrapped.next()?,
                };
                Some(MasterKey {
                    id: e.id,
                    status: e.status,
                    secret,
                })
            })
            .collect();
        Ok(Keyring { keys })
    }
}

fn parse_entry(
    entry: &Spanned<DeValue<'_>>,
    text: &str,
    err: &mut dyn FnMut(std::ops::Range<usize>, String),
) -> Option<Entry> {
    let DeValue::Table(t) = entry.get_ref() else {
        err(entry.span(), "each `keys` entry must be a table".into());
        return None;
    };
    let mut id = None;
    let mut status = None;
    let mut secret = None;
    let mut wrapped = None;
    let mut label = None;
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
            ("wrapped", DeValue::String(s)) => match STANDARD.decode(s.trim()) {
                // RFC 5649 output for a 32-byte key: one 8-byte integrity block plus the key.
                Ok(bytes) if bytes.len() == super::pkcs11::WRAPPED_LEN => wrapped = Some(bytes),
                _ => err(
                    v.span(),
                    format!(
                        "wrapped must be {} bytes in standard base64: a 32-byte master key \
                         wrapped with AES key wrap with padding (RFC 5649); create entries with \
                         `piigate keygen --keyring FILE --wrap-with LABEL`",
                        super::pkcs11::WRAPPED_LEN
                    ),
                ),
            },
            ("wrapping_key", DeValue::String(s)) if !s.trim().is_empty() => {
                label = Some((s.to_string(), line_col(text, v.span().start)));
            }
            ("created" | "comment", _) => {}
            ("id" | "status" | "secret" | "wrapped" | "wrapping_key", _) => err(
                v.span(),
                format!("`{}` must be a non-empty string", k.get_ref()),
            ),
            (other, _) => err(
                k.span(),
                format!(
                    "unknown key `{other}`; expected id, status, secret (or wrapped and \
                     wrapping_key), created or comment"
                ),
            ),
        }
    }
    let material = match (secret, wrapped, label) {
        (Some(s), None, None) => Some(Material::Plain(s)),
        (None, Some(wrapped), Some((label, at))) => Some(Material::Wrapped { wrapped, label, at }),
        (None, Some(_), None) => {
            err(
                entry.span(),
                "a `wrapped` key needs `wrapping_key`: the label of the key on the HSM that \
                 unwraps it"
                    .into(),
            );
            return None;
        }
        (None, None, Some(_)) => {
            err(entry.span(), "`wrapping_key` without `wrapped`".into());
            return None;
        }
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            err(
                entry.span(),
                "a key has either `secret` or `wrapped`, not both".into(),
            );
            return None;
        }
        (None, None, None) => None,
    };
    let missing: Vec<&str> = [
        ("id", id.is_none()),
        ("status", status.is_none()),
        ("secret (or wrapped)", material.is_none()),
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
    Some(Entry {
        id: id?,
        status: status?,
        material: material?,
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

/// A keyring entry holding a wrapped master key (see [`super::pkcs11::wrap_new_key`]).
pub fn wrapped_entry(id: &KeyId, status: KeyStatus, wrapped: &[u8], wrapping_key: &str) -> String {
    format!(
        "[[keys]]\nid = \"{id}\"\nstatus = \"{}\"\nwrapped = \"{}\"\nwrapping_key = {wrapping_key:?}\n",
        status.as_str(),
        STANDARD.encode(wrapped)
    )
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
