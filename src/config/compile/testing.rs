//! Compiling config text in the parts' unit tests the way `piigate check` does: the example
//! keyring in `$PIIGATE_KEYRING`, relative paths against a temporary folder, and each
//! diagnostic on one line (`LINE:COL severity[code]: message`) so a test states exactly what
//! the operator reads and where.

use std::collections::HashMap;
use std::path::Path;

use crate::config::diag::{Diagnostic, Diagnostics, Severity, Source};
use crate::config::{Config, DEFAULT_KEYRING_ENV, Env, spec};

/// The published example keyring (k2 primary, k1 active, k0 retired).
pub(crate) const KEYS: &str = include_str!("../../../keys.example");

/// A route with only the keys every route needs, for tests that add to it.
pub(crate) const ROUTE: &str = "[[routes]]
name = \"r\"
path_prefix = \"/r\"
upstream = \"http://127.0.0.1:9\"
";

struct Vars(HashMap<String, String>);

impl Env for Vars {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// One compile: the config when it compiled, and every diagnostic.
pub(crate) struct Compiled {
    pub(crate) config: Option<Config>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// The diagnostics, one line each, help left out, but for the example-keys warning (which
    /// every test with the example keyring would otherwise repeat).
    pub(crate) fn lines(&self) -> Vec<String> {
        self.diagnostics
            .iter()
            .filter(|d| d.code != "example_keys")
            .map(line)
            .collect()
    }

    /// The help of the first diagnostic with `code`.
    pub(crate) fn help(&self, code: &str) -> Option<&str> {
        self.diagnostics
            .iter()
            .find(|d| d.code == code)
            .and_then(|d| d.help.as_deref())
    }
}

fn line(d: &Diagnostic) -> String {
    let sev = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!("{}:{} {sev}[{}]: {}", d.line, d.col, d.code, d.message)
}

/// Compiles `text` with relative paths against `dir` and the variables `vars`; the example
/// keyring is in `$PIIGATE_KEYRING` unless `vars` names that variable (empty: unset).
pub(crate) fn compile_in(text: &str, dir: &Path, vars: &[(&str, &str)]) -> Compiled {
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert(DEFAULT_KEYRING_ENV.to_owned(), KEYS.to_owned());
    // The state folder is the test's, never the user's.
    env.insert(
        "STATE_DIRECTORY".to_owned(),
        dir.join("state").display().to_string(),
    );
    for (k, v) in vars {
        if v.is_empty() {
            env.remove(*k);
        } else {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    let src = Source {
        name: "t.toml",
        text,
    };
    let mut d = Diagnostics::new();
    let spec = spec::read(src, &mut d);
    let config = super::compile(&spec, src, dir, &Vars(env), &mut d);
    d.sort();
    Compiled {
        config,
        diagnostics: d.items().to_vec(),
    }
}

/// Compiles `text` (no files) with the example keyring.
pub(crate) fn compile(text: &str) -> Compiled {
    let dir = tempfile::tempdir().expect("tempdir");
    compile_in(text, dir.path(), &[])
}

/// The diagnostics of compiling `text`, one line each.
pub(crate) fn diagnose(text: &str) -> Vec<String> {
    compile(text).lines()
}
