//! The keyring: read from `[keys]` (a file or an environment variable), unwrapped through an
//! HSM where its entries say so, and what to tell the operator when there is none.

use std::path::PathBuf;

use crate::config::diag::{Diagnostics, Source};
use crate::config::spec::ConfigSpec;
use crate::config::{DEFAULT_KEYRING_ENV, Env};
use crate::keys::Keyring;

/// How to get a keyring, for every diagnostic about a missing one.
pub(super) const NO_KEYRING_HELP: &str = "create one with `piigate keygen --keyring keys.toml` (its first key \
     becomes primary) and set [keys] file = \"keys.toml\", or put the keyring text in \
     $PIIGATE_KEYRING; keys.example is public material for trying piigate, never for real data";

/// Why there is no keyring when none is configured (the only case the keygen help is for; a
/// keyring with errors has its own diagnostics).
pub(super) const NOT_CONFIGURED: &str = "no keyring is configured";

/// The keyring, loaded once per compile, with where it came from.
pub(super) struct KeySource {
    pub(super) ring: Option<Keyring>,
    /// Why there is no keyring, for messages on rules that need one.
    pub(super) missing: &'static str,
    /// Where the keyring came from (a path or `$VAR`), for keyring-level diagnostics.
    pub(super) origin: String,
    /// A keyring without a primary key is reported once, at the keyring, not at every rule
    /// that needs one.
    pub(super) no_primary_reported: std::cell::Cell<bool>,
}

impl KeySource {
    fn none(missing: &'static str) -> Self {
        Self {
            ring: None,
            missing,
            origin: String::new(),
            no_primary_reported: std::cell::Cell::new(false),
        }
    }
}

pub(super) fn load_keyring(
    spec: &ConfigSpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    env: &dyn Env,
    d: &mut Diagnostics,
) -> KeySource {
    let var = spec
        .keys
        .env
        .as_ref()
        .map_or(DEFAULT_KEYRING_ENV, |e| e.value.as_str());
    let (text, origin) = if let Some(text) = env.var(var) {
        (text, format!("${var}"))
    } else if let Some(file) = &spec.keys.file {
        let path = resolve(&file.value);
        match std::fs::read_to_string(&path) {
            Ok(t) => (t, path.display().to_string()),
            Err(e) => {
                d.error(
                    src,
                    file.span.clone(),
                    "unreadable_file",
                    format!("cannot read keyring `{}`: {e}", path.display()),
                );
                return KeySource::none("the keyring could not be read");
            }
        }
    } else {
        return KeySource::none(NOT_CONFIGURED);
    };
    // Wrapped entries are unwrapped through the keyring's HSM here (start, check, reload).
    let loaded = crate::keys::KeyringFile::parse(&text, &origin)
        .and_then(|file| file.load(&|name| env.var(name)));
    match loaded {
        Ok(ring) => KeySource {
            ring: Some(ring),
            missing: "",
            origin,
            no_primary_reported: std::cell::Cell::new(false),
        },
        Err(errors) => {
            for e in errors {
                d.push_diag(crate::config::Diagnostic {
                    severity: crate::config::Severity::Error,
                    code: "bad_keyring",
                    file: e.origin,
                    line: e.line,
                    col: e.col,
                    message: e.message,
                    help: None,
                });
            }
            KeySource::none("the keyring has errors")
        }
    }
}
