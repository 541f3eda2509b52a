//! Master keys wrapped under a key in an HSM, through the real binary and a real PKCS#11
//! module (SoftHSM2). Each test has its own SoftHSM configuration and token, so tests never
//! share login state or keys.
//!
//! Needs `eval "$(bash scripts/softhsm-test.sh)"` (CI does it); without it the tests print a
//! skip notice, and fail when `PIIGATE_TEST_PKCS11_REQUIRED` is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use http::Method;
use serde_json::Value;

use crate::support::{Client, Process, Proto, Reply, Upstream};

const PIN: &str = "4711-user-pin";
const SO_PIN: &str = "0815-so-pin";
const ADMIN: &str = "hsm-test-admin-token";

/// The test's own SoftHSM: a configuration, a token `piigate` with a wrapping key `kek`.
struct SoftHsm {
    dir: tempfile::TempDir,
    module: String,
}

fn module(test: &str) -> Option<String> {
    match std::env::var("PIIGATE_TEST_PKCS11_MODULE") {
        Ok(m) if !m.is_empty() => Some(m),
        _ => {
            assert!(
                std::env::var_os("PIIGATE_TEST_PKCS11_REQUIRED").is_none(),
                "PIIGATE_TEST_PKCS11_REQUIRED is set but PIIGATE_TEST_PKCS11_MODULE is not"
            );
            eprintln!(
                "note: skipping hsm::{test}: PIIGATE_TEST_PKCS11_MODULE is not set (eval \"$(bash scripts/softhsm-test.sh)\" to run it)"
            );
            None
        }
    }
}

impl SoftHsm {
    fn new(test: &str) -> Option<Self> {
        let module = module(test)?;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("tokens")).expect("tokens");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().display()
            ),
        )
        .expect("conf");
        std::fs::write(dir.path().join("pin"), PIN).expect("pin file");
        let hsm = Self { dir, module };
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", "piigate", "--pin", PIN])
            .args(["--so-pin", SO_PIN])
            .env("SOFTHSM2_CONF", hsm.conf())
            .output()
            .expect("softhsm2-util");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = hsm.piigate(&[
            "hsm",
            "create-wrapping-key",
            "--label",
            "kek",
            "--hsm-module",
            &hsm.module,
            "--hsm-token",
            "piigate",
            "--hsm-pin-file",
            &hsm.pin_file().display().to_string(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(hsm)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn pin_file(&self) -> PathBuf {
        self.dir.path().join("pin")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_piigate"));
        c.args(args)
            .env_remove("PIIGATE_KEYRING")
            .env_remove("PIIGATE_HSM_PIN")
            .env("SOFTHSM2_CONF", self.conf())
            .env("PIIGATE_STATE_DIR", self.dir.path());
        c
    }

    fn piigate(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run piigate")
    }

    /// `keygen --wrap-with kek` into `keys.toml` (the first call writes the [hsm] table).
    fn keygen(&self, id: &str) {
        let out = self.piigate(&[
            "keygen",
            "--id",
            id,
            "--keyring",
            &self.path("keys.toml").display().to_string(),
            "--wrap-with",
            "kek",
            "--hsm-module",
            &self.module,
            "--hsm-token",
            "piigate",
            "--hsm-pin-file",
            &self.pin_file().display().to_string(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn config(&self, upstream: std::net::SocketAddr) -> PathBuf {
        let path = self.path("proxy.toml");
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
                 token_env = \"HSM_TEST_ADMIN\"\n[keys]\nfile = \"keys.toml\"\n\
                 [[routes]]\nname = \"crm\"\npath_prefix = \"/crm\"\nupstream = \"http://{upstream}\"\n\
                 [[routes.rules]]\nselect = \"$.phone\"\naction = \"encrypt\"\n"
            ),
        )
        .expect("config");
        path
    }
}

async fn send(client: &Client) {
    let r = client
        .post_json("/crm/contacts", r#"{"phone":"+44 20 7946 0123"}"#)
        .await;
    assert_eq!(r.status, 200);
}

async fn reload(admin: &Client) -> (u16, String) {
    let auth = format!("Bearer {ADMIN}");
    let r = admin
        .send(Method::POST, "/v1/reload", &[("authorization", &auth)], "")
        .await;
    (
        r.status.as_u16(),
        String::from_utf8_lossy(&r.body).into_owned(),
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Replaces `from` by `to` in the keyring (a broken HSM reference for the next load).
fn edit(path: &Path, from: &str, to: &str) -> String {
    let before = std::fs::read_to_string(path).expect("read keyring");
    assert!(before.contains(from), "{from} not in keyring");
    std::fs::write(path, before.replacen(from, to, 1)).expect("write keyring");
    before
}

/// The keyring holds only wrapped keys; the gateway unwraps them at start, serves, reloads a
/// new wrapped key, and — with a wrong PIN, a missing wrapping key, a missing token or a
/// missing module at reload — keeps serving with the keys it had, reporting a located error
/// that names no secret.
#[tokio::test]
async fn a_wrapped_keyring_serves_reloads_and_survives_hsm_failures_at_reload() {
    let Some(hsm) =
        SoftHsm::new("a_wrapped_keyring_serves_reloads_and_survives_hsm_failures_at_reload")
    else {
        return;
    };
    hsm.keygen("k1");
    let keys = hsm.path("keys.toml");
    let keyring = std::fs::read_to_string(&keys).expect("keyring");
    assert!(
        !keyring.contains("secret"),
        "no key material in the file:\n{keyring}"
    );
    assert!(keyring.contains("status = \"primary\"") && keyring.contains("wrapping_key = \"kek\""));
    assert!(!keyring.contains(PIN));

    let up = Upstream::start(None, Reply::Ok).await;
    let config = hsm.config(up.addr);
    let envs = [
        ("SOFTHSM2_CONF", hsm.conf().display().to_string()),
        ("HSM_TEST_ADMIN", ADMIN.to_owned()),
    ];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gw = Process::spawn(&config, &envs);
    let client = Client::new(gw.proxy, None, Proto::H1);
    let admin = Client::new(gw.admin.expect("admin"), None, Proto::H1);
    send(&client).await;

    // A second wrapped key, added while serving, arrives with a reload.
    hsm.keygen("k2");
    let (status, body) = reload(&admin).await;
    assert_eq!(status, 200, "{body}");

    // Every HSM failure at reload: 422, located in the keyring, no secret; the old keys serve.
    let pin_file = hsm.pin_file();
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, &'a str);
    let cases: [Case<'_>; 4] = [
        (
            "wrong PIN",
            Box::new(|| std::fs::write(&pin_file, "not-the-pin").expect("pin")),
            "refused the PIN (CKR_PIN_INCORRECT)",
        ),
        (
            "missing wrapping key",
            Box::new(|| {
                edit(&keys, "wrapping_key = \"kek\"", "wrapping_key = \"gone\"");
            }),
            "no secret key labelled `gone` on token `piigate`",
        ),
        (
            "missing token",
            Box::new(|| {
                edit(&keys, "token = \"piigate\"", "token = \"absent\"");
            }),
            "no token labelled `absent`",
        ),
        (
            "missing module",
            Box::new(|| {
                edit(&keys, &hsm.module, "/nonexistent/libpkcs11.so");
            }),
            "cannot load the PKCS#11 module /nonexistent/libpkcs11.so",
        ),
    ];
    let good = std::fs::read_to_string(&keys).expect("keyring");
    for (name, break_it, expect) in cases {
        break_it();
        let (status, body) = reload(&admin).await;
        assert_eq!(status, 422, "{name}: {body}");
        assert!(body.contains(expect), "{name}: {body}");
        assert!(body.contains("keys.toml:"), "{name}: located: {body}");
        assert!(
            !body.contains(PIN) && !body.contains("not-the-pin"),
            "{name}: {body}"
        );
        send(&client).await;
        // Restore for the next case.
        std::fs::write(&pin_file, PIN).expect("pin");
        std::fs::write(&keys, &good).expect("keyring");
    }
    let (status, body) = reload(&admin).await;
    assert_eq!(status, 200, "{body}");
    send(&client).await;

    // Every request was sealed under the HSM-held k1, and the CLI (a new process that unwraps
    // through the HSM again) opens each envelope.
    let seen = up.requests();
    assert_eq!(seen.len(), 6);
    for r in &seen {
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(body.contains("\"pge1.k1."), "{body}");
        let mut reveal = hsm
            .command(&["reveal", "--route", "crm", "--config"])
            .arg(&config)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("reveal");
        use std::io::Write as _;
        reveal
            .stdin
            .take()
            .expect("stdin")
            .write_all(&r.body)
            .expect("write");
        let out = reveal.wait_with_output().expect("reveal");
        let v: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
        assert_eq!(v["phone"], "+44 20 7946 0123");
    }
    let log = gw.log.lock().expect("log").clone();
    assert!(!log.contains(PIN), "the PIN never reaches the log");
    assert!(gw.stop());
}

/// At start (`check`, `serve`): a missing module, token, wrapping key or PIN and a wrong PIN
/// are each one located error that names the thing to fix and no secret; `serve` binds
/// nothing.
#[test]
fn hsm_problems_at_start_are_located_and_name_no_secret() {
    let Some(hsm) = SoftHsm::new("hsm_problems_at_start_are_located_and_name_no_secret") else {
        return;
    };
    hsm.keygen("k1");
    let keys = hsm.path("keys.toml");
    let config = hsm.config("127.0.0.1:9".parse().expect("addr"));
    let config = config.display().to_string();
    let good = std::fs::read_to_string(&keys).expect("keyring");
    let check = |hsm: &SoftHsm| hsm.piigate(&["check", "--config", &config]);

    let ok = check(&hsm);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok (1 route(s), 1 key(s)"));

    let keys_s = keys.display().to_string();
    let cases: [(&str, &str, &str, String); 4] = [
        (
            "token = \"piigate\"",
            "token = \"absent\"",
            "no token labelled `absent`",
            format!("{keys_s}:1:1:"),
        ),
        (
            "wrapping_key = \"kek\"",
            "wrapping_key = \"gone\"",
            "key `k1`: no secret key labelled `gone`",
            format!("{keys_s}:"),
        ),
        (
            hsm.module.as_str(),
            "/nonexistent/libpkcs11.so",
            "cannot load the PKCS#11 module /nonexistent/libpkcs11.so",
            format!("{keys_s}:1:1:"),
        ),
        (
            "wrapped = \"",
            "wrapped = \"AAAA",
            "wrapped must be 40 bytes",
            format!("{keys_s}:"),
        ),
    ];
    for (from, to, expect, at) in cases {
        std::fs::write(&keys, good.replacen(from, to, 1)).expect("write");
        let out = check(&hsm);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(t.contains(expect), "{expect}: {t}");
        assert!(t.contains(&at), "located: {t}");
        assert!(!t.contains(PIN));
    }
    std::fs::write(&keys, &good).expect("restore");

    std::fs::write(hsm.pin_file(), "wrong-pin").expect("pin");
    let out = check(&hsm);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("token `piigate` refused the PIN (CKR_PIN_INCORRECT)"),
        "{t}"
    );
    assert!(!t.contains("wrong-pin"), "{t}");

    let serve = hsm.piigate(&["serve", "--config", &config]);
    let t = text(&serve);
    assert!(!serve.status.success());
    assert!(t.contains("refused the PIN"), "{t}");
    assert!(!t.contains("Listening."), "{t}");
    assert!(!t.contains("wrong-pin"), "{t}");

    std::fs::remove_file(hsm.pin_file()).expect("rm pin");
    let out = check(&hsm);
    let t = text(&out);
    assert!(
        t.contains("cannot read the PIN for token `piigate` from"),
        "{t}"
    );
}
