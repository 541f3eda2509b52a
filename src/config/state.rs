//! Where piigate keeps state: the embedded store and the audit log.
//!
//! Configuration is read-only (a ConfigMap, `/etc` under `ProtectSystem=strict`); state is
//! not, so the two never share a directory by default. The state directory is, in order:
//!
//! 1. `[state] dir` in `proxy.toml` (relative to the config's folder, like every path there);
//! 2. `$STATE_DIRECTORY`, which systemd sets from the unit's `StateDirectory=` (the first
//!    entry when the unit names several);
//! 3. `$PIIGATE_STATE_DIR` (the container image sets it to `/var/lib/piigate`);
//! 4. `$XDG_STATE_HOME/piigate`, else `$HOME/.local/state/piigate` (someone running the
//!    binary from a shell);
//! 5. `/var/lib/piigate`.
//!
//! `[store] path` and `[audit] path` default to `piigate.db` and `piigate-audit.jsonl` in it.
//! [`probe`] checks that what the gateway will write is writable, so `piigate check` fails
//! where `serve` would, naming the path and the option that moves it.

use std::fmt;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{Config, Diagnostics, Env};
use crate::store::StoreConfig;

/// The built-in last resort, for a process with no systemd, no variable and no `$HOME`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/piigate";
/// The variable a container image (or an operator) sets to place state.
pub const STATE_DIR_ENV: &str = "PIIGATE_STATE_DIR";

/// The resolved state directory and why it is that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    /// The directory.
    pub path: PathBuf,
    /// Where the choice came from.
    pub origin: StateOrigin,
}

/// Which rule chose the state directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateOrigin {
    /// `[state] dir`.
    Config,
    /// systemd's `$STATE_DIRECTORY`.
    Systemd,
    /// `$PIIGATE_STATE_DIR`.
    Env,
    /// `$XDG_STATE_HOME/piigate` or `$HOME/.local/state/piigate`.
    User,
    /// [`DEFAULT_STATE_DIR`].
    Default,
}

impl fmt::Display for StateOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Config => "[state] dir",
            Self::Systemd => "$STATE_DIRECTORY, from systemd's StateDirectory=",
            Self::Env => "$PIIGATE_STATE_DIR",
            Self::User => "$XDG_STATE_HOME or $HOME/.local/state",
            Self::Default => "the built-in default",
        })
    }
}

impl StateDir {
    /// Resolves the state directory. `configured` is `[state] dir`, already resolved against
    /// the config's folder.
    pub(crate) fn resolve(configured: Option<PathBuf>, env: &dyn Env) -> Self {
        let var = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
        let (path, origin) = if let Some(p) = configured {
            (p, StateOrigin::Config)
        } else if let Some(v) = var("STATE_DIRECTORY") {
            // systemd joins several StateDirectory= entries with ':'; the first is ours.
            let first = v.split(':').next().unwrap_or(&v).to_owned();
            (PathBuf::from(first), StateOrigin::Systemd)
        } else if let Some(v) = var(STATE_DIR_ENV) {
            (PathBuf::from(v), StateOrigin::Env)
        } else if let Some(v) = var("XDG_STATE_HOME").filter(|v| Path::new(v).is_absolute()) {
            (Path::new(&v).join("piigate"), StateOrigin::User)
        } else if let Some(v) = var("HOME").filter(|v| Path::new(v).is_absolute()) {
            (
                Path::new(&v).join(".local/state/piigate"),
                StateOrigin::User,
            )
        } else {
            (PathBuf::from(DEFAULT_STATE_DIR), StateOrigin::Default)
        };
        Self { path, origin }
    }

    /// Whether piigate may create the directory itself: the defaults may be created; a
    /// directory an operator or systemd named must already exist (a typo should not silently
    /// start an empty store somewhere new).
    pub(crate) fn may_create(&self) -> bool {
        matches!(self.origin, StateOrigin::User | StateOrigin::Default)
    }
}

/// What the gateway writes, and the option that moves each.
struct Target<'a> {
    path: &'a Path,
    what: &'static str,
    option: &'static str,
}

/// What [`probe`] may do on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `piigate check`: look, change nothing.
    Check,
    /// `piigate serve`: also create a missing default state directory (mode 0700) and the
    /// missing state files (mode 0600: the store holds subject secrets) before they are opened.
    Prepare,
}

/// Checks that every file the gateway will write can be written: the embedded store and the
/// audit log, and the directories they live in.
///
/// # Errors
/// One diagnostic per problem (per directory when a directory is missing), naming the path and
/// the option to set.
pub fn probe(config: &Config, config_file: &str, mode: Probe) -> Result<(), Diagnostics> {
    let mut d = Diagnostics::new();
    let mut targets = Vec::new();
    if let StoreConfig::Embedded { path } = &config.store.backend {
        targets.push(Target {
            path,
            what: "the embedded store",
            option: "[store] path",
        });
    }
    targets.push(Target {
        path: &config.audit_path,
        what: "the audit log",
        option: "[audit] path",
    });
    let state = &config.state;
    let parent = |t: &Target<'_>| {
        t.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    let options = |dir: &Path| {
        let opts: Vec<&str> = targets
            .iter()
            .filter(|t| parent(t) == dir)
            .map(|t| t.option)
            .collect();
        format!("set [state] dir or {}", opts.join(" / "))
    };
    let mut missing: Vec<PathBuf> = Vec::new();
    for t in &targets {
        let dir = parent(t);
        if missing.contains(&dir) {
            continue;
        }
        if !dir.is_dir() {
            let ours = dir.starts_with(&state.path) && state.may_create();
            let creatable = ours
                && match mode {
                    Probe::Prepare => create_private_dir(&dir).is_ok(),
                    // `serve` would create it: fine if the nearest existing ancestor takes a
                    // new entry.
                    Probe::Check => {
                        nearest_existing(&dir).is_some_and(|a| writable_dir(&a).is_ok())
                    }
                };
            if creatable {
                if mode == Probe::Check {
                    continue;
                }
            } else {
                let what: Vec<&str> = targets
                    .iter()
                    .filter(|o| parent(o) == dir)
                    .map(|o| o.what)
                    .collect();
                let note = if dir == state.path {
                    format!(
                        "the state directory {} (from {})",
                        dir.display(),
                        state.origin
                    )
                } else {
                    format!("{}", dir.display())
                };
                d.error_at_file(
                    config_file,
                    "state_not_writable",
                    format!(
                        "{note} does not exist; {} {} there",
                        what.join(" and "),
                        if what.len() == 1 { "goes" } else { "go" }
                    ),
                )
                .help(if ours {
                    format!("`piigate serve` creates it; or {}", options(&dir))
                } else {
                    format!(
                        "create it writable for this user (a volume in a container, \
                         StateDirectory= under systemd), or {}",
                        options(&dir)
                    )
                });
                missing.push(dir);
                continue;
            }
        }
        let result = match mode {
            Probe::Check => writable(&dir, t.path),
            Probe::Prepare => create_private_file(t.path),
        };
        if let Err(e) = result {
            d.error_at_file(
                config_file,
                "state_not_writable",
                format!("{} at {} is not writable: {e}", t.what, t.path.display()),
            )
            .help(format!(
                "make it writable for this user (a volume in a container, StateDirectory= \
                 under systemd), or set [state] dir or {}",
                t.option
            ));
        }
    }
    if d.has_errors() { Err(d) } else { Ok(()) }
}

/// Whether `file` (in `dir`) can be written: an existing file is opened for writing (nothing
/// is written); otherwise a probe file is created in `dir` and removed. Creating a file is the
/// only test that sees read-only mounts, ACLs, SELinux and user namespaces all at once.
fn writable(dir: &Path, file: &Path) -> std::io::Result<()> {
    match OpenOptions::new().write(true).open(file) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    writable_dir(dir)
}

/// Whether a new file can be created in `dir`: creates a probe file and removes it.
fn writable_dir(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".piigate-probe-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// Opens `file` for writing, creating it (empty, owner-only) if missing. redb and the audit log
/// both accept an empty file as a new one.
fn create_private_file(file: &Path) -> std::io::Result<()> {
    let mut o = OpenOptions::new();
    o.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(file).map(drop)
}

fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|a| a.is_dir()).map(Path::to_path_buf)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Vars(HashMap<&'static str, &'static str>);
    impl Env for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| (*v).to_owned())
        }
    }
    fn env(v: &[(&'static str, &'static str)]) -> Vars {
        Vars(v.iter().copied().collect())
    }

    #[test]
    fn resolution_order_is_config_systemd_env_user_default() {
        let all = env(&[
            ("STATE_DIRECTORY", "/var/lib/piigate:/var/lib/other"),
            ("PIIGATE_STATE_DIR", "/srv/state"),
            ("XDG_STATE_HOME", "/home/u/.state"),
            ("HOME", "/home/u"),
        ]);
        let s = StateDir::resolve(Some("/etc/x".into()), &all);
        assert_eq!(
            (s.path.to_str(), s.origin),
            (Some("/etc/x"), StateOrigin::Config)
        );
        let s = StateDir::resolve(None, &all);
        assert_eq!(
            (s.path.to_str(), s.origin),
            (Some("/var/lib/piigate"), StateOrigin::Systemd)
        );
        let s = StateDir::resolve(
            None,
            &env(&[("PIIGATE_STATE_DIR", "/srv/state"), ("HOME", "/h")]),
        );
        assert_eq!(
            (s.path.to_str(), s.origin),
            (Some("/srv/state"), StateOrigin::Env)
        );
        let s = StateDir::resolve(None, &env(&[("XDG_STATE_HOME", "/x"), ("HOME", "/h")]));
        assert_eq!(
            (s.path.to_str(), s.origin),
            (Some("/x/piigate"), StateOrigin::User)
        );
        let s = StateDir::resolve(None, &env(&[("HOME", "/h")]));
        assert_eq!(s.path.to_str(), Some("/h/.local/state/piigate"));
        // A relative XDG_STATE_HOME is invalid per the XDG spec and ignored.
        let s = StateDir::resolve(
            None,
            &env(&[("XDG_STATE_HOME", "rel"), ("STATE_DIRECTORY", "")]),
        );
        assert_eq!(
            (s.path.to_str(), s.origin),
            (Some(DEFAULT_STATE_DIR), StateOrigin::Default)
        );
    }
}
