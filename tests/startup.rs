//! Starting the real binary the way production starts it: an unprivileged user, a read-only
//! configuration directory, state in a directory of its own, and start errors that name the
//! failing step and the path or address once.
//!
//! Run as root (CI), the gateway is started as uid/gid 65534 through `setpriv`, from a copy of
//! the binary in a world-readable temp dir (the build directory may sit under a private home).
//! Run as an ordinary user, the same checks run as that user.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::support::{Client, Proto, Reply, Upstream};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A production-like layout: `root/bin/piigate`, a read-only `root/etc` with the config and
/// keyring, and `root/state` owned by the user the gateway runs as.
struct Layout {
    root: tempfile::TempDir,
    /// Drop to uid/gid 65534 (when the test runs as root).
    drop_privileges: bool,
}

impl Layout {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        chmod(root.path(), 0o755);
        let bin = root.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        chmod(&bin, 0o755);
        std::fs::copy(env!("CARGO_BIN_EXE_piigate"), bin.join("piigate")).expect("copy binary");
        chmod(&bin.join("piigate"), 0o755);
        std::fs::create_dir(root.path().join("etc")).expect("etc");
        let state = root.path().join("state");
        std::fs::create_dir(&state).expect("state");
        chmod(&state, 0o700);
        let drop_privileges = is_root();
        if drop_privileges {
            chown(&state, NOBODY);
        }
        Self {
            root,
            drop_privileges,
        }
    }

    fn etc(&self) -> PathBuf {
        self.root.path().join("etc")
    }

    fn state(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// Writes the config, makes a keyring with `keygen`, then makes the directory and its
    /// files read-only (root-owned when running as root, so the gateway's user cannot change
    /// them).
    fn install(&self, config: &str) -> PathBuf {
        let etc = self.etc();
        let path = etc.join("proxy.toml");
        std::fs::write(&path, config).expect("write config");
        let out = Command::new(env!("CARGO_BIN_EXE_piigate"))
            .args(["keygen", "--id", "k1", "--keyring"])
            .arg(etc.join("keys.toml"))
            .output()
            .expect("keygen");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        chmod(&path, 0o444);
        chmod(&etc.join("keys.toml"), 0o444);
        chmod(&etc, 0o555);
        path
    }

    /// `piigate ARGS` as the unprivileged user, with exactly `envs` in its environment.
    fn command(&self, args: &[&str], envs: &[(&str, &Path)]) -> Command {
        let bin = self.root.path().join("bin/piigate");
        let mut c = if self.drop_privileges {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid",
                &NOBODY.to_string(),
                "--regid",
                &NOBODY.to_string(),
                "--clear-groups",
            ])
            .arg(bin);
            c
        } else {
            Command::new(bin)
        };
        c.args(args).env_clear().env("RUST_LOG", "info");
        for (k, v) in envs {
            c.env(k, v);
        }
        c
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        // Let the temp dir be removed.
        chmod(&self.etc(), 0o755);
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn chown(path: &Path, uid: u32) {
    let ok = Command::new("chown")
        .arg(format!("{uid}:{uid}"))
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "chown {}", path.display());
}

fn config(upstream: SocketAddr) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [keys]\nfile = \"keys.toml\"\n\
         [[routes]]\nname = \"crm\"\npath_prefix = \"/crm\"\nupstream = \"http://{upstream}\"\n\
         [[routes.rules]]\nselect = \"$.phone\"\naction = \"encrypt\"\n"
    )
}

/// A running gateway: its addresses come from its JSON log.
struct Running {
    child: Child,
    proxy: SocketAddr,
    admin: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let log = Arc::new(Mutex::new(String::new()));
    let (mut proxy, mut admin) = (None, None);
    while proxy.is_none() || admin.is_none() {
        let Some(Ok(line)) = lines.next() else { break };
        log.lock().expect("lock").push_str(&line);
        log.lock().expect("lock").push('\n');
        if line.contains("Listening.") {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
            let addr: SocketAddr = v["addr"].as_str().expect("addr").parse().expect("addr");
            match v["listener"].as_str() {
                Some("proxy") => proxy = Some(addr),
                Some("admin") => admin = Some(addr),
                _ => {}
            }
        }
    }
    let (Some(proxy), Some(admin)) = (proxy, admin) else {
        let _ = child.kill();
        panic!("piigate did not start:\n{}", log.lock().expect("lock"));
    };
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().expect("lock").push_str(&line);
        }
    });
    Running {
        child,
        proxy,
        admin,
        log,
    }
}

/// The shape systemd gives a unit with `StateDirectory=`, `ProtectSystem=strict` and a
/// `User=`: config read-only, `$STATE_DIRECTORY` set. The gateway starts, serves, answers
/// `/readyz`, and writes only into the state directory, owner-only.
#[tokio::test]
async fn serves_as_an_unprivileged_user_with_a_read_only_config_directory() {
    let up = Upstream::start(None, Reply::Ok).await;
    let layout = Layout::new();
    let path = layout.install(&config(up.addr));
    let state = layout.state();
    let cmd = layout.command(
        &[
            "serve",
            "--log-format",
            "json",
            "--config",
            &path.display().to_string(),
        ],
        &[("STATE_DIRECTORY", &state)],
    );
    let gw = tokio::task::spawn_blocking(move || start(cmd))
        .await
        .expect("start");

    let client = Client::new(gw.proxy, None, Proto::H1);
    let r = client
        .post_json("/crm/contacts", r#"{"phone":"+44 20 7946 0958"}"#)
        .await;
    assert_eq!(r.status, 200, "{}", gw.log.lock().expect("lock"));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let body = String::from_utf8_lossy(&seen[0].body).into_owned();
    assert!(body.contains("pge1.k1."), "{body}");
    assert!(!body.contains("7946"), "{body}");
    let ready = Client::new(gw.admin, None, Proto::H1)
        .send(http::Method::GET, "/readyz", &[], "")
        .await;
    assert_eq!(ready.status, 200);

    for name in ["piigate.db", "piigate-audit.jsonl"] {
        let meta = std::fs::metadata(state.join(name)).expect("state file exists");
        assert_eq!(meta.mode() & 0o777, 0o600, "{name} is owner-only");
        if layout.drop_privileges {
            assert_eq!(meta.uid(), NOBODY, "{name} belongs to the gateway's user");
        }
    }
    let etc: Vec<String> = std::fs::read_dir(layout.etc())
        .expect("read etc")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut etc = etc;
    etc.sort();
    assert_eq!(
        etc,
        ["keys.toml", "proxy.toml"],
        "nothing written beside the config"
    );
}

/// With nowhere writable for state, `check` fails the way `serve` would, naming the path and
/// the option that moves it; `serve` binds nothing and says so once.
#[test]
fn unwritable_state_fails_check_and_serve_with_the_path_and_the_option() {
    let layout = Layout::new();
    let path = layout.install(&config("127.0.0.1:9".parse().expect("addr")));
    let path = path.display().to_string();
    // A directory the gateway's user cannot write: the read-only config directory itself.
    let etc = layout.etc();

    let check = layout
        .command(&["check", "--config", &path], &[("STATE_DIRECTORY", &etc)])
        .output()
        .expect("check");
    let out = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{out}");
    assert!(out.contains("error[state_not_writable]"), "{out}");
    assert!(
        out.contains(&format!("{}/piigate.db", etc.display())),
        "{out}"
    );
    assert!(out.contains("[state] dir or [store] path"), "{out}");
    assert!(out.contains("Permission denied"), "{out}");

    let serve = layout
        .command(&["serve", "--config", &path], &[("STATE_DIRECTORY", &etc)])
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success());
    assert!(err.contains("nothing started"), "{err}");
    assert!(!err.contains("Listening."), "{err}");
    assert_eq!(
        err.matches("Permission denied").count(),
        2,
        "once per file (store, audit log), never repeated: {err}"
    );

    // A state directory an operator named must exist: a typo does not start an empty store.
    let missing = layout.root.path().join("no-such-dir");
    let check = layout
        .command(
            &["check", "--config", &path],
            &[("PIIGATE_STATE_DIR", &missing)],
        )
        .output()
        .expect("check");
    let out = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "the state directory {} (from $PIIGATE_STATE_DIR) does not exist",
            missing.display()
        )),
        "{out}"
    );
}

/// A listener that cannot bind names itself and its address, and the OS error appears once.
#[test]
fn a_bind_failure_names_the_listener_and_the_address_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let layout = Layout::new();
    let path = layout.install(&format!(
        "[server]\nlisten = \"{addr}\"\n[keys]\nfile = \"keys.toml\"\n"
    ));
    let state = layout.state();
    let out = layout
        .command(
            &["serve", "--config", &path.display().to_string()],
            &[("STATE_DIRECTORY", &state)],
        )
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let line = err
        .lines()
        .find(|l| l.starts_with("piigate: "))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert_eq!(
        line,
        format!(
            "piigate: cannot bind the proxy listener on {addr}: Address already in use (os error 98)"
        )
    );
}
