//! The gateway under test: in process (`TestGateway`; `Stack` puts one in front of a recording
//! upstream with a client and builds its config), or the real binary (`Process` for `piigate
//! serve`, `Piigate` for its CLI), with its metrics.

#![allow(dead_code)]

use super::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use piigate::config;
use piigate::proxy::{Gateway, ShutdownHandle};

/// A gateway running in this process.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub forward: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub current: piigate::proxy::Current,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        self.task.abort();
    }
}

/// Writes `config` (with `{dir}` replaced by the temp dir) and `keys.example` to a temp dir.
/// Unless the config names one, the temp dir is also its `[state] dir`, so tests never share
/// a store or an audit log (in process, or a `piigate` child reading the same file).
pub fn write_config(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), KEYS).expect("write keys");
    let mut text = config.replace("{dir}", &dir.path().display().to_string());
    if !text.contains("[state]") {
        text.push_str(&format!(
            "\n[state]\ndir = {:?}\n",
            dir.path().display().to_string()
        ));
    }
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

impl TestGateway {
    /// Loads `config` (see [`write_config`]) and serves it on the listen address it names
    /// (use port 0).
    pub async fn start(config: &str) -> Self {
        Self::start_with_env(config, &[]).await
    }

    /// Like [`Self::start`], with these environment variables visible to the loader (and to
    /// reloads) instead of the process environment.
    pub async fn start_with_env(config: &str, vars: &[(&str, &str)]) -> Self {
        let (dir, path) = write_config(config);
        let env = Arc::new(MapEnv(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ));
        let loaded = match config::load(&path, env.as_ref()) {
            Ok(l) => l,
            Err(d) => panic!("test config does not load:\n{d}"),
        };
        let source = piigate::proxy::reload::ReloadSource {
            path: path.clone(),
            env,
        };
        let gw = Gateway::bind(loaded.config, Some(source))
            .await
            .expect("bind gateway");
        let addr = gw.local_addr().expect("addr");
        let admin = gw.admin_addr();
        let forward = gw.forward_proxy_addr();
        let current = gw.current();
        let shutdown = gw.shutdown_handle();
        let task = tokio::spawn(async move {
            gw.run(std::future::pending()).await.expect("gateway run");
        });
        Self {
            addr,
            admin,
            forward,
            dir,
            current,
            shutdown,
            task,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("proxy.toml")
    }
}

/// The `[server]` and `[keys]` every in-process stack shares (the proxy on an ephemeral port,
/// the example keyring), then `rest` (routes, `[admin]`, `[store]`…) with each `{up}`
/// replaced by the upstream's address.
pub fn gateway_config(up: SocketAddr, rest: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[keys]\nfile = \"keys.toml\"\n{}",
        rest.replace("{up}", &up.to_string())
    )
}

/// A gateway in process on real sockets in front of one recording upstream (plain HTTP), and an
/// HTTP/1.1 client to the gateway. Bind the gateway when destructuring (`gw: _gw`, not `gw: _`):
/// dropping it shuts it down.
pub struct Stack {
    pub up: Upstream,
    pub gw: TestGateway,
    pub client: Client,
}

impl Stack {
    /// The upstream answering with `reply`, the gateway serving [`gateway_config`]`(up, rest)`.
    pub async fn start(reply: Reply, rest: &str) -> Self {
        Self::start_with_env(reply, rest, &[]).await
    }

    /// Like [`Self::start`], with these environment variables visible to the config loader.
    pub async fn start_with_env(reply: Reply, rest: &str, vars: &[(&str, &str)]) -> Self {
        let up = Upstream::start(None, reply).await;
        let gw = TestGateway::start_with_env(&gateway_config(up.addr, rest), vars).await;
        let client = Client::new(gw.addr, None, Proto::H1);
        Self { up, gw, client }
    }
}

/// A `piigate serve` process started from a config file, with its bound addresses read from
/// its JSON log.
pub struct Process {
    pub child: std::process::Child,
    pub proxy: SocketAddr,
    pub admin: Option<SocketAddr>,
    /// Everything logged so far (the rest is drained in the background).
    pub log: Arc<Mutex<String>>,
}

impl Process {
    /// Starts the binary with `envs` and waits until it listens.
    pub fn spawn(config: &Path, envs: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_piigate"));
        cmd.args(["serve", "--log-format", "json", "--config"])
            .arg(config)
            .env_remove("PIIGATE_KEYRING")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        // State beside the config unless the test says otherwise (its own files may not name
        // a `[state] dir`); never the developer's home.
        if let Some(dir) = config.parent() {
            cmd.env("PIIGATE_STATE_DIR", dir);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn piigate");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let (mut proxy, mut admin) = (None, None);
        // The proxy's line comes first, then the admin's when the config has one.
        let wants_admin = std::fs::read_to_string(config).is_ok_and(|t| t.contains("[admin]"));
        while proxy.is_none() || (wants_admin && admin.is_none()) {
            let Some(Ok(line)) = lines.next() else { break };
            log.lock().expect("lock").push_str(&line);
            log.lock().expect("lock").push('\n');
            if line.contains("Listening.") {
                let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
                let addr: SocketAddr = v["addr"]
                    .as_str()
                    .expect("addr")
                    .parse()
                    .expect("socket address");
                match v["listener"].as_str() {
                    Some("proxy") => proxy = Some(addr),
                    Some("admin") => admin = Some(addr),
                    _ => {}
                }
            }
        }
        let Some(proxy) = proxy else {
            let _ = child.kill();
            panic!("piigate did not start:\n{}", log.lock().expect("lock"));
        };
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut l = sink.lock().expect("lock");
                l.push_str(&line);
                l.push('\n');
            }
        });
        Self {
            child,
            proxy,
            admin,
            log,
        }
    }

    /// SIGTERM, then wait; returns whether it exited 0.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The metrics text of an in-process gateway.
pub fn metrics_text(gw: &TestGateway) -> String {
    gw.current.load().services.metrics.encode()
}

/// The value of one sample line (`name{labels}`) in Prometheus text, 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == series).then(|| v.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// Waits until the gateway reports no open client connection (a worker thread notices a
/// closed connection on its own time).
pub async fn connections_drop_to_zero(gw: &TestGateway) {
    let mut text = String::new();
    for _ in 0..100 {
        text = metrics_text(gw);
        if metric(&text, "piigate_open_connections") == 0.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("connections still open:\n{text}");
}

/// The real `piigate serve` binary, with its JSON log captured line by line.
pub struct Piigate {
    child: std::process::Child,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Piigate {
    /// Starts `piigate serve --log-format json --config <config>` with `RUST_LOG=<rust_log>`
    /// and `vars`, and waits until the proxy (and, if `admin`, the admin) listener is up.
    pub fn start(config: &Path, vars: &[(&str, &str)], rust_log: &str, admin: bool) -> Self {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_piigate"))
            .args(["serve", "--log-format", "json", "--config"])
            .arg(config)
            .env_remove("PIIGATE_KEYRING")
            .env("RUST_LOG", rust_log)
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn piigate");
        let log: Arc<Mutex<String>> = Arc::default();
        let mut readers = Vec::new();
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for pipe in [stdout, stderr] {
            let log = Arc::clone(&log);
            readers.push(std::thread::spawn(move || {
                let mut r = std::io::BufReader::new(pipe);
                let mut line = String::new();
                while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    log.lock().expect("lock").push_str(&line);
                    line.clear();
                }
            }));
        }
        let mut p = Self {
            child,
            addr: "0.0.0.0:0".parse().expect("addr"),
            admin: None,
            log,
            readers,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = p.log();
            let find = |what: &str| {
                text.lines().find_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    (v["message"] == "Listening." && v["listener"] == what)
                        .then(|| v["addr"].as_str()?.parse().ok())?
                })
            };
            if let Some(a) = find("proxy")
                && (!admin || find("admin").is_some())
            {
                p.addr = a;
                p.admin = find("admin");
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("piigate exited early ({status}):\n{text}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "piigate did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.log.lock().expect("lock").clone()
    }

    /// Waits until the log has at least `count` lines containing `needle`.
    pub async fn wait_for_log(&self, needle: &str, count: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.log().lines().filter(|l| l.contains(needle)).count() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Sends a signal (`HUP`, `TERM`, …) with `kill`.
    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig}");
    }

    /// Waits for the process to exit; returns its status and the whole log.
    pub async fn wait_exit(mut self, within: Duration) -> (std::process::ExitStatus, String) {
        let deadline = tokio::time::Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "piigate did not exit in time:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for r in std::mem::take(&mut self.readers) {
            let _ = r.join();
        }
        (status, self.log())
    }
}

impl Drop for Piigate {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
