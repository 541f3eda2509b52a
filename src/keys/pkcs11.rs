//! Master keys held wrapped under a key that lives in an HSM, through PKCS#11.
//!
//! The keyring stores each master key wrapped with AES key wrap with padding (RFC 5649,
//! `CKM_AES_KEY_WRAP_PAD`) under an AES key on the token (the *wrapping key*, found by its
//! label). At every load — start, `piigate check`, each reload — the entries are unwrapped on
//! the token into short-lived session objects, read, and destroyed; the wrapping key never
//! leaves the HSM, and the keyring file alone opens nothing. Why unwrap-at-load rather than
//! deriving inside the HSM: ARCHITECTURE.md (2026-12-06).
//!
//! One module handle per library path for the life of the process (`C_Initialize` once; a
//! reload reuses it). Every error names the module, token, label or key id it concerns and
//! never a PIN, a key or wrapped bytes.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use toml::Spanned;
use toml::de::DeValue;
use zeroize::{Zeroize, Zeroizing};

use super::SecretKey;
use super::location::line_col;

/// Length of a wrapped 32-byte master key: RFC 5649 adds one 8-byte block.
pub const WRAPPED_LEN: usize = 40;
/// The default variable holding the token's user PIN.
pub const DEFAULT_PIN_ENV: &str = "PIIGATE_HSM_PIN";

/// The keyring's `[hsm]` table.
#[derive(Clone, PartialEq, Eq)]
pub struct HsmSpec {
    /// The PKCS#11 library (`.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// 1-based line and column of the table, for errors.
    pub at: (usize, usize),
}

impl fmt::Debug for HsmSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmSpec")
            .field("module", &self.module)
            .field("token", &self.token)
            .field("pin", &self.pin)
            .finish()
    }
}

/// Where the PIN is read from: never the keyring file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// An environment variable (`pin_env`, default `PIIGATE_HSM_PIN`).
    Env(String),
    /// A file (`pin_file`): a Kubernetes Secret mount or a systemd credential; re-read at
    /// every reload, so a PIN change needs no restart.
    File(PathBuf),
}

/// The token's user PIN: zeroized on drop, never printed.
pub struct Pin(AuthPin);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

impl Pin {
    /// Reads the PIN from its source.
    ///
    /// # Errors
    /// [`HsmError::Pin`] naming the variable or file, never a value.
    pub fn read(spec: &HsmSpec, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, HsmError> {
        let mut raw = match &spec.pin {
            PinSource::Env(var) => env(var).ok_or_else(|| {
                HsmError::Pin(format!(
                    "the PIN for token `{}` is read from ${var}, which is not set",
                    spec.token
                ))
            })?,
            PinSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                HsmError::Pin(format!(
                    "cannot read the PIN for token `{}` from {}: {e}",
                    spec.token,
                    path.display()
                ))
            })?,
        };
        let pin = raw.trim_end_matches(['\r', '\n']).to_owned();
        raw.zeroize();
        if pin.is_empty() {
            return Err(HsmError::Pin(format!(
                "the PIN for token `{}` is empty",
                spec.token
            )));
        }
        Ok(Self(AuthPin::from(pin)))
    }

    /// A PIN from a string (tests, tools).
    pub fn new(pin: &str) -> Self {
        Self(AuthPin::from(pin.to_owned()))
    }
}

/// One wrapped master key to unwrap.
#[derive(Debug)]
pub struct Unwrap<'a> {
    /// The keyring id (for errors).
    pub id: &'a str,
    /// RFC 5649 ciphertext.
    pub wrapped: &'a [u8],
    /// Label of the wrapping key on the token.
    pub label: &'a str,
}

/// Why the HSM could not provide the keys. Never carries a PIN, key or wrapped bytes.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The library could not be loaded.
    #[error("cannot load the PKCS#11 module {module}: {reason}")]
    Module {
        /// The library path.
        module: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// A PKCS#11 call failed outside the cases below.
    #[error("PKCS#11 {call} failed on token `{token}`: {rv}")]
    Call {
        /// Which call.
        call: &'static str,
        /// The token.
        token: String,
        /// The return value, as `CKR_…`-style text.
        rv: String,
    },
    /// No token has that label.
    #[error("no token labelled `{token}` in {module} (tokens present: {present})")]
    NoToken {
        /// The label looked for.
        token: String,
        /// The library.
        module: PathBuf,
        /// The labels there are, or `none`.
        present: String,
    },
    /// The PIN could not be read.
    #[error("{0}")]
    Pin(String),
    /// The token refused the PIN.
    #[error(
        "token `{token}` refused the PIN ({rv}); check the PIN source (HSMs lock the user after \
         a few wrong PINs)"
    )]
    Login {
        /// The token.
        token: String,
        /// The return value.
        rv: String,
    },
    /// The wrapping key is not on the token.
    #[error(
        "key `{entry}`: no secret key labelled `{label}` on token `{token}` (it must be an AES \
         key with CKA_UNWRAP)"
    )]
    NoKey {
        /// The keyring id.
        entry: String,
        /// The label.
        label: String,
        /// The token.
        token: String,
    },
    /// Several keys carry the label.
    #[error(
        "key `{entry}`: {count} keys on token `{token}` are labelled `{label}`; labels must be unique"
    )]
    AmbiguousKey {
        /// The keyring id.
        entry: String,
        /// The label.
        label: String,
        /// The token.
        token: String,
        /// How many.
        count: usize,
    },
    /// The wrapped bytes did not unwrap (wrong wrapping key, damaged entry).
    #[error(
        "key `{entry}`: the wrapped master key does not unwrap under `{label}` ({rv}): it was \
         wrapped under another key, or the entry is damaged"
    )]
    Unwrap {
        /// The keyring id.
        entry: String,
        /// The label.
        label: String,
        /// The return value.
        rv: String,
    },
    /// The token unwrapped the key but will not release its value.
    #[error(
        "key `{entry}`: the token unwrapped the master key but will not release it ({rv}); its \
         policy must allow session keys with CKA_SENSITIVE = false and CKA_EXTRACTABLE = true"
    )]
    Release {
        /// The keyring id.
        entry: String,
        /// The return value.
        rv: String,
    },
    /// A label is already used (creating a wrapping key).
    #[error("token `{token}` already has a key labelled `{label}`")]
    LabelTaken {
        /// The token.
        token: String,
        /// The label.
        label: String,
    },
}

impl HsmError {
    /// The keyring id the error is about, when it is about one entry.
    pub fn entry(&self) -> Option<&str> {
        match self {
            Self::NoKey { entry, .. }
            | Self::AmbiguousKey { entry, .. }
            | Self::Unwrap { entry, .. }
            | Self::Release { entry, .. } => Some(entry),
            _ => None,
        }
    }
}

fn rv_text(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, _) => format!("CKR_{}", screaming(&format!("{rv:?}"))),
        other => other.to_string(),
    }
}

/// `PinIncorrect` → `PIN_INCORRECT`, the spelling operators find in HSM manuals.
fn screaming(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

// === impl HsmSpec ===

impl HsmSpec {
    /// Reads the `[hsm]` table of a keyring; reports problems through `err`.
    pub(crate) fn parse(
        v: &Spanned<DeValue<'_>>,
        text: &str,
        err: &mut dyn FnMut(std::ops::Range<usize>, String),
    ) -> Option<Self> {
        let DeValue::Table(t) = v.get_ref() else {
            err(v.span(), "`hsm` must be a table: `[hsm]`".into());
            return None;
        };
        let (mut module, mut token, mut pin_env, mut pin_file) = (None, None, None, None);
        let mut ok = true;
        for (k, val) in t {
            let DeValue::String(s) = val.get_ref() else {
                err(val.span(), format!("`{}` must be a string", k.get_ref()));
                ok = false;
                continue;
            };
            let s = s.to_string();
            match k.get_ref().as_ref() {
                "module" => module = Some(PathBuf::from(s)),
                "token" => token = Some(s),
                "pin_env" => pin_env = Some(s),
                "pin_file" if Path::new(&s).is_absolute() => pin_file = Some(PathBuf::from(s)),
                "pin_file" => {
                    err(val.span(), "`pin_file` must be an absolute path".into());
                    ok = false;
                }
                other => {
                    err(
                        k.span(),
                        format!(
                            "unknown key `{other}` in [hsm]; expected module, token, pin_env or pin_file"
                        ),
                    );
                    ok = false;
                }
            }
        }
        let pin = match (pin_env, pin_file) {
            (Some(_), Some(_)) => {
                err(
                    v.span(),
                    "[hsm] takes `pin_env` or `pin_file`, not both".into(),
                );
                return None;
            }
            (None, Some(f)) => PinSource::File(f),
            (e, None) => PinSource::Env(e.unwrap_or_else(|| DEFAULT_PIN_ENV.to_owned())),
        };
        let (Some(module), Some(token)) = (module, token) else {
            err(
                v.span(),
                "[hsm] needs `module` (the PKCS#11 library) and `token` (the token's label)".into(),
            );
            return None;
        };
        ok.then(|| Self {
            module,
            token,
            pin,
            at: line_col(text, v.span().start),
        })
    }

    /// The `[hsm]` table as keyring text.
    pub fn to_toml(&self) -> String {
        let pin = match &self.pin {
            PinSource::Env(v) => format!("pin_env = {v:?}"),
            PinSource::File(p) => format!("pin_file = {:?}", p.display().to_string()),
        };
        format!(
            "[hsm]\nmodule = {:?}\ntoken = {:?}\n{pin}\n",
            self.module.display().to_string(),
            self.token
        )
    }
}

// === the token ===

/// A logged-in session on the token named by an [`HsmSpec`].
struct Token<'a> {
    spec: &'a HsmSpec,
    session: Session,
}

fn module(path: &Path) -> Result<Pkcs11, HsmError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(m) = modules.get(path) {
        return Ok(m.clone());
    }
    let load_err = |reason: String| HsmError::Module {
        module: path.to_path_buf(),
        reason,
    };
    let ctx = Pkcs11::new(path).map_err(|e| {
        load_err(match e {
            CkError::LibraryLoading(l) => l.to_string(),
            other => other.to_string(),
        })
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(load_err(format!("C_Initialize: {}", rv_text(&e)))),
    }
    modules.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

impl<'a> Token<'a> {
    fn open(spec: &'a HsmSpec, pin: &Pin, rw: bool) -> Result<Self, HsmError> {
        let ctx = module(&spec.module)?;
        let call = |call: &'static str| {
            move |e: CkError| HsmError::Call {
                call,
                token: spec.token.clone(),
                rv: rv_text(&e),
            }
        };
        let slots = ctx.get_slots_with_token().map_err(call("C_GetSlotList"))?;
        let mut present = Vec::new();
        let mut found: Option<Slot> = None;
        for slot in slots {
            let info = ctx.get_token_info(slot).map_err(call("C_GetTokenInfo"))?;
            let label = info.label().trim_end().to_owned();
            if label == spec.token && found.is_none() {
                found = Some(slot);
            }
            // SoftHSM and others offer a slot with an empty, uninitialised token.
            if !label.is_empty() {
                present.push(label);
            }
        }
        let Some(slot) = found else {
            return Err(HsmError::NoToken {
                token: spec.token.clone(),
                module: spec.module.clone(),
                present: if present.is_empty() {
                    "none".into()
                } else {
                    present.join(", ")
                },
            });
        };
        let session = if rw {
            ctx.open_rw_session(slot)
        } else {
            ctx.open_ro_session(slot)
        }
        .map_err(call("C_OpenSession"))?;
        match session.login(UserType::User, Some(&pin.0)) {
            // Login state is per application and token: another load in this process may
            // already hold it.
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => {
                return Err(HsmError::Login {
                    token: spec.token.clone(),
                    rv: rv_text(&e),
                });
            }
        }
        Ok(Self { spec, session })
    }

    fn call(&self, call: &'static str) -> impl Fn(CkError) -> HsmError + '_ {
        move |e| HsmError::Call {
            call,
            token: self.spec.token.clone(),
            rv: rv_text(&e),
        }
    }

    /// The secret key labelled `label` (exactly one).
    fn key(&self, entry: &str, label: &str) -> Result<ObjectHandle, HsmError> {
        let found = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(self.call("C_FindObjects"))?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(HsmError::NoKey {
                entry: entry.to_owned(),
                label: label.to_owned(),
                token: self.spec.token.clone(),
            }),
            many => Err(HsmError::AmbiguousKey {
                entry: entry.to_owned(),
                label: label.to_owned(),
                token: self.spec.token.clone(),
                count: many.len(),
            }),
        }
    }

    /// Unwraps one master key into a session object, reads it and destroys the object.
    fn unwrap(&self, u: &Unwrap<'_>, kek: ObjectHandle) -> Result<SecretKey, HsmError> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ];
        let handle = self
            .session
            .unwrap_key(&Mechanism::AesKeyWrapPad, kek, u.wrapped, &template)
            .map_err(|e| HsmError::Unwrap {
                entry: u.id.to_owned(),
                label: u.label.to_owned(),
                rv: rv_text(&e),
            })?;
        let read = self.session.get_attributes(handle, &[AttributeType::Value]);
        // The session object goes whatever happened; closing the session would too.
        let _ = self.session.destroy_object(handle);
        let release = |rv: String| HsmError::Release {
            entry: u.id.to_owned(),
            rv,
        };
        let mut attrs = read.map_err(|e| release(rv_text(&e)))?;
        let mut value = match attrs.pop() {
            Some(Attribute::Value(v)) => Zeroizing::new(v),
            _ => return Err(release("no CKA_VALUE".into())),
        };
        let key = <[u8; 32]>::try_from(value.as_slice())
            .map(SecretKey::from_bytes)
            .map_err(|_| HsmError::Unwrap {
                entry: u.id.to_owned(),
                label: u.label.to_owned(),
                rv: format!("{} bytes, not a 32-byte master key", value.len()),
            });
        value.zeroize();
        key
    }
}

/// Unwraps every entry in one logged-in session.
///
/// # Errors
/// The first [`HsmError`]; nothing is returned for the others.
pub(crate) fn unwrap_all(
    spec: &HsmSpec,
    pin: &Pin,
    entries: &[Unwrap<'_>],
) -> Result<Vec<SecretKey>, HsmError> {
    let token = Token::open(spec, pin, false)?;
    let mut keks: HashMap<&str, ObjectHandle> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for u in entries {
        let kek = match keks.get(u.label) {
            Some(k) => *k,
            None => {
                let k = token.key(u.id, u.label)?;
                keks.insert(u.label, k);
                k
            }
        };
        out.push(token.unwrap(u, kek)?);
    }
    Ok(out)
}

/// Makes a new master key on the token (its random generator), wraps it under `label` and
/// returns only the wrapped bytes: the master key is never in this process.
///
/// # Errors
/// [`HsmError`] when the token, the wrapping key or the mechanism is not available.
pub fn wrap_new_key(spec: &HsmSpec, pin: &Pin, label: &str) -> Result<Vec<u8>, HsmError> {
    let token = Token::open(spec, pin, false)?;
    let kek = token.key("(new)", label)?;
    let master = token
        .session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Token(false),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
            ],
        )
        .map_err(token.call("C_GenerateKey"))?;
    let wrapped = token
        .session
        .wrap_key(&Mechanism::AesKeyWrapPad, kek, master);
    let _ = token.session.destroy_object(master);
    let wrapped = wrapped.map_err(token.call("C_WrapKey (CKM_AES_KEY_WRAP_PAD)"))?;
    if wrapped.len() != WRAPPED_LEN {
        return Err(HsmError::Call {
            call: "C_WrapKey (CKM_AES_KEY_WRAP_PAD)",
            token: spec.token.clone(),
            rv: format!("{} bytes, expected {WRAPPED_LEN}", wrapped.len()),
        });
    }
    Ok(wrapped)
}

/// Creates the wrapping key on the token: AES-256, stored on the token, sensitive and never
/// extractable, usable only to wrap and unwrap.
///
/// # Errors
/// [`HsmError::LabelTaken`] if a key already has the label; others from the token.
pub fn create_wrapping_key(spec: &HsmSpec, pin: &Pin, label: &str) -> Result<(), HsmError> {
    let token = Token::open(spec, pin, true)?;
    match token.key("(new)", label) {
        Err(HsmError::NoKey { .. }) => {}
        Ok(_) | Err(HsmError::AmbiguousKey { .. }) => {
            return Err(HsmError::LabelTaken {
                token: spec.token.clone(),
                label: label.to_owned(),
            });
        }
        Err(e) => return Err(e),
    }
    token
        .session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
            ],
        )
        .map_err(token.call("C_GenerateKey"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_read_like_the_pkcs11_constants() {
        assert_eq!(screaming("PinIncorrect"), "PIN_INCORRECT");
        assert_eq!(screaming("WrappedKeyInvalid"), "WRAPPED_KEY_INVALID");
    }

    #[test]
    fn a_missing_module_names_its_path_and_no_secret() {
        let spec = HsmSpec {
            module: "/nonexistent/libpkcs11.so".into(),
            token: "t".into(),
            pin: PinSource::Env("X".into()),
            at: (1, 1),
        };
        let e = unwrap_all(&spec, &Pin::new("123456"), &[]).expect_err("no module");
        let s = e.to_string();
        assert!(
            s.starts_with("cannot load the PKCS#11 module /nonexistent/libpkcs11.so:"),
            "{s}"
        );
        assert!(!s.contains("123456"));
        assert_eq!(format!("{:?}", Pin::new("123456")), "Pin(<redacted>)");
    }
}
