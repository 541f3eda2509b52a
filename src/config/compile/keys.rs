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

#[cfg(test)]
mod tests {
    use super::super::testing::{KEYS, ROUTE, compile_in};
    use crate::config::DEFAULT_KEYRING_ENV;

    const TOKENIZE: &str = "[[routes.rules]]\nselect = [\"$.email\"]\naction = \"tokenize\"\n";

    #[test]
    fn an_unreadable_keyring_file_is_reported_at_its_name_and_not_again_at_each_rule() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("[keys]\nfile = \"absent.toml\"\n{ROUTE}{TOKENIZE}");
        let c = compile_in(&text, dir.path(), &[(DEFAULT_KEYRING_ENV, "")]);
        let lines = c.lines();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].starts_with("2:8 error[unreadable_file]: cannot read keyring `")
                && lines[0].contains("absent.toml`: "),
            "{lines:#?}"
        );
        assert_eq!(
            lines[1],
            "9:10 error[no_keyring]: action `tokenize` needs a keyring, but the keyring could \
             not be read"
        );
        // The keygen help is for a config without any keyring, not for one that failed.
        assert_eq!(c.help("no_keyring"), None);
    }

    #[test]
    fn the_environment_wins_over_the_keyring_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("[keys]\nfile = \"absent.toml\"\n{ROUTE}{TOKENIZE}");
        let c = compile_in(&text, dir.path(), &[]);
        assert_eq!(c.lines(), Vec::<String>::new());
        assert_eq!(c.config.expect("compiles").key_ids.len(), 3);
    }

    #[test]
    fn a_keyring_file_is_read_relative_to_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("keys.toml"), KEYS).expect("write");
        let text = format!("[keys]\nfile = \"keys.toml\"\n{ROUTE}{TOKENIZE}");
        let c = compile_in(&text, dir.path(), &[(DEFAULT_KEYRING_ENV, "")]);
        assert_eq!(c.lines(), Vec::<String>::new());
        assert!(c.config.is_some());
    }

    #[test]
    fn keyring_errors_are_located_in_the_keyring_and_name_its_origin_not_its_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let broken = KEYS.replacen("status = \"active\"", "status = \"sleepy\"", 1);
        let text = format!("[keys]\nenv = \"MY_KEYS\"\n{ROUTE}{TOKENIZE}");
        let c = compile_in(&text, dir.path(), &[("MY_KEYS", &broken)]);
        let bad: Vec<_> = c
            .diagnostics
            .iter()
            .filter(|d| d.code == "bad_keyring")
            .collect();
        assert!(
            bad.iter().any(|d| (d.line, d.col) == (30, 10)
                && d.message == "status must be \"primary\", \"active\" or \"retired\""),
            "{:#?}",
            c.lines()
        );
        for d in &bad {
            assert_eq!(d.file, "$MY_KEYS");
            assert!(!d.message.contains("RVhBTVBM"), "{}", d.message);
        }
        assert!(
            c.lines().contains(
                &"9:10 error[no_keyring]: action `tokenize` needs a keyring, but the keyring has \
                  errors"
                    .to_owned()
            ),
            "{:#?}",
            c.lines()
        );
    }
}
