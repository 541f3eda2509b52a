//! Signals under load with the real binary: SIGHUP with a changed
//! policy, SIGHUP with a broken file, SIGTERM with requests in flight.
//!
//! Load is a few HTTP/1.1 keep-alive clients in a loop, each writing exact bytes and reading
//! exact responses, so the suite knows for every request whether it was written before the
//! signal, and what policy was applied to it (the upstream echoes what it received).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Piigate, RawConn, Reply, Upstream, bounded, write_config};

const CLIENTS: usize = 4;
const EMAIL: &str = "signal.user@leak.example";
const PHONE: &str = "+1 202 555 0143";

/// Version 1 tokenizes both fields; version 2 redacts both with a visible marker. A request
/// policed half by one and half by the other would show one of each.
fn config(up: SocketAddr, version: u8) -> String {
    let rules = match version {
        1 => "[[routes.rules]]\nselect = [\"$.email\", \"$.phone\"]\naction = \"tokenize\"\n",
        _ => {
            "[[routes.rules]]\nselect = [\"$.email\", \"$.phone\"]\naction = \"redact\"\nreplacement = \"[v2]\"\n"
        }
    };
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 2
[keys]
file = "keys.toml"

[[routes]]
name = "seg"
path_prefix = "/seg"
upstream = "http://{up}"

{rules}"#
    )
}

/// Which policy an echoed body shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    V1,
    V2,
    Mixed,
}

#[derive(Debug, Clone)]
struct Outcome {
    /// The request's bytes were fully written before the signal was sent.
    written_before_signal: bool,
    /// The request was started after the reload was logged.
    started_after_reload: bool,
    /// Status and the policy its echoed body shows, or what went wrong.
    result: Result<(u16, Policy), String>,
}

#[derive(Default)]
struct Flags {
    stop: AtomicBool,
    signalled: AtomicBool,
    reloaded: AtomicBool,
}

fn policy_of(body: &[u8]) -> Policy {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Policy::Mixed;
    };
    let kind = |f: &str| match v[f].as_str() {
        Some(s) if s.starts_with("tok_") => Some(Policy::V1),
        Some("[v2]") => Some(Policy::V2),
        _ => None,
    };
    match (kind("email"), kind("phone")) {
        (Some(a), Some(b)) if a == b => a,
        _ => Policy::Mixed,
    }
}

/// One client: keep-alive requests until told to stop; reconnects when the gateway closes.
async fn client(addr: SocketAddr, flags: Arc<Flags>, out: Arc<Mutex<Vec<Outcome>>>) {
    let body = format!(r#"{{"email":"{EMAIL}","phone":"{PHONE}"}}"#);
    let request = format!(
        "POST /seg/v1/track HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    'connections: while !flags.stop.load(Ordering::SeqCst) {
        let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
                .await
        else {
            if flags.signalled.load(Ordering::SeqCst) {
                return; // The gateway stopped accepting, as it should.
            }
            out.lock().expect("lock").push(Outcome {
                written_before_signal: true,
                started_after_reload: false,
                result: Err("connect failed before the signal".into()),
            });
            return;
        };
        let mut c = RawConn::from_stream(stream);
        while !flags.stop.load(Ordering::SeqCst) {
            let started_after_reload = flags.reloaded.load(Ordering::SeqCst);
            let sent = c.send(request.as_bytes()).await;
            let written_before_signal = !flags.signalled.load(Ordering::SeqCst);
            if sent.is_err() {
                out.lock().expect("lock").push(Outcome {
                    written_before_signal: false,
                    started_after_reload,
                    result: Err("write failed".into()),
                });
                continue 'connections;
            }
            let mut closing = true;
            let result = match c.response(Duration::from_secs(10)).await {
                Some(r) if r.complete => {
                    // RFC 9112 §9.6: no further request on a connection the server closes.
                    closing = r
                        .header("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                    Ok((r.status, policy_of(&r.body)))
                }
                Some(r) => Err(format!("incomplete response: {r:?}")),
                None => Err("connection closed without an answer".into()),
            };
            out.lock().expect("lock").push(Outcome {
                written_before_signal,
                started_after_reload,
                result,
            });
            if closing {
                continue 'connections;
            }
        }
    }
}

struct Load {
    flags: Arc<Flags>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr) -> Self {
        let flags = Arc::new(Flags::default());
        let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
        let tasks = (0..CLIENTS)
            .map(|_| tokio::spawn(client(addr, Arc::clone(&flags), Arc::clone(&outcomes))))
            .collect();
        Self {
            flags,
            outcomes,
            tasks,
        }
    }

    fn count(&self) -> usize {
        self.outcomes.lock().expect("lock").len()
    }

    /// Lets the load run until `more` further requests have completed.
    async fn run_for(&self, more: usize) {
        let target = self.count() + more;
        while self.count() < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn stop(self) -> Vec<Outcome> {
        self.flags.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("client task");
        }
        self.outcomes.lock().expect("lock").clone()
    }
}

fn failures(outcomes: &[Outcome]) -> Vec<&Outcome> {
    outcomes
        .iter()
        .filter(|o| !matches!(o.result, Ok((200, Policy::V1 | Policy::V2))))
        .collect()
}

#[tokio::test]
async fn sighup_with_a_changed_policy_under_load() {
    bounded(60, async {
        let up = Upstream::start(None, Reply::Echo).await;
        let (dir, path) = write_config(&config(up.addr, 1));
        let gw = Piigate::start(&path, &[], "info", false);
        let load = Load::start(gw.addr);
        load.run_for(100).await;

        std::fs::write(&path, config(up.addr, 2)).expect("write v2");
        gw.signal("HUP");
        assert!(
            gw.wait_for_log("Configuration reloaded.", 1, Duration::from_secs(10))
                .await,
            "{}",
            gw.log()
        );
        load.flags.reloaded.store(true, Ordering::SeqCst);
        load.run_for(100).await;
        let outcomes = load.stop().await;

        let failed = failures(&outcomes);
        assert!(failed.is_empty(), "zero failed requests: {failed:#?}");
        let before: Vec<_> = outcomes
            .iter()
            .filter(|o| !o.started_after_reload)
            .collect();
        let after: Vec<_> = outcomes.iter().filter(|o| o.started_after_reload).collect();
        assert!(before.len() >= 100 && after.len() >= 100 - CLIENTS);
        assert!(
            after.iter().all(|o| o.result == Ok((200, Policy::V2))),
            "every request after the reload uses the new policy"
        );
        assert!(
            before.iter().any(|o| o.result == Ok((200, Policy::V1))),
            "the old policy applied before"
        );
        for r in up.requests() {
            crate::support::assert_absent(&r.body, &[EMAIL, PHONE]);
        }
        gw.signal("TERM");
        let (status, _) = gw.wait_exit(Duration::from_secs(40)).await;
        assert!(status.success());
        drop(dir);
    })
    .await;
}

#[tokio::test]
async fn sighup_with_a_broken_file_under_load() {
    bounded(60, async {
        let up = Upstream::start(None, Reply::Echo).await;
        let (dir, path) = write_config(&config(up.addr, 1));
        let keys = dir.path().join("keys.toml");
        let gw = Piigate::start(&path, &[], "info", false);
        let load = Load::start(gw.addr);
        load.run_for(50).await;

        // A config that does not parse, then (config restored) a keyring that is gone.
        let good = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, "[server\nlisten = ").expect("write broken");
        gw.signal("HUP");
        assert!(
            gw.wait_for_log("Reload rejected", 1, Duration::from_secs(10))
                .await
        );
        load.run_for(50).await;
        std::fs::write(&path, good).expect("restore");
        let keyring = std::fs::read(&keys).expect("keys");
        std::fs::remove_file(&keys).expect("remove keys");
        gw.signal("HUP");
        assert!(
            gw.wait_for_log("Reload rejected", 2, Duration::from_secs(10))
                .await
        );
        load.run_for(50).await;
        let outcomes = load.stop().await;
        std::fs::write(&keys, keyring).expect("restore keys");

        let failed = failures(&outcomes);
        assert!(failed.is_empty(), "zero failed requests: {failed:#?}");
        assert!(
            outcomes.iter().all(|o| o.result == Ok((200, Policy::V1))),
            "the old policy applies throughout"
        );
        let log = gw.log();
        assert!(log.contains(r#""level":"ERROR""#) && log.contains("Reload problem."));
        assert!(!log.contains("Configuration reloaded."));
        gw.signal("TERM");
        let (status, _) = gw.wait_exit(Duration::from_secs(40)).await;
        assert!(status.success());
        drop(dir);
    })
    .await;
}

/// SIGTERM under load, twice: with every client's request in flight at the signal (slow
/// upstream), and with clients sending back to back on keep-alive connections (so some have
/// just written a request the gateway has not read yet). Every request written before the
/// signal completes: connections in use are closed with `Connection: close` after their
/// answer and new connections are refused. A request written after the signal into a
/// keep-alive connection the gateway found idle and closed meets a closed connection, never
/// an error status or half an answer: the race every HTTP/1.1 server has, which clients
/// settle by retrying on a new connection (RFC 9112 §9.3.1). Exit code 0.
#[tokio::test]
async fn sigterm_completes_every_request_sent_before_it() {
    bounded(60, async {
        for (reply, warm_up) in [
            (Reply::Delay(Duration::from_millis(200)), 20),
            (Reply::Ok, 300),
        ] {
            let up = Upstream::start(None, reply).await;
            let (dir, path) = write_config(&config(up.addr, 1));
            let gw = Piigate::start(&path, &[], "info", false);
            let load = Load::start(gw.addr);
            load.run_for(warm_up).await;
            let seen_at_signal = up.requests().len();
            load.flags.signalled.store(true, Ordering::SeqCst);
            gw.signal("TERM");
            let started = std::time::Instant::now();
            let (status, log) = gw.wait_exit(Duration::from_secs(40)).await;
            let outcomes = load.stop().await;
            assert_eq!(status.code(), Some(0), "exit 0:\n{log}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "drained quickly"
            );
            assert!(log.contains("Drained."), "{log}");

            let before = outcomes.iter().filter(|o| o.written_before_signal).count();
            let failed: Vec<_> = outcomes
                .iter()
                .filter(|o| match &o.result {
                    Ok((200, _)) => false,
                    Err(e) if !o.written_before_signal => {
                        e != "connection closed without an answer" && e != "write failed"
                    }
                    _ => true,
                })
                .collect();
            assert!(
                failed.is_empty(),
                "no request fails because of SIGTERM ({before} written before it): {failed:#?}"
            );
            assert!(before >= warm_up);
            assert!(
                up.requests().len() >= seen_at_signal,
                "requests in flight at the signal were answered"
            );
            drop(dir);
        }
    })
    .await;
}

/// `runtime = "per_core"`: several SO_REUSEPORT workers serve, and SIGTERM drains them all.
#[tokio::test]
async fn per_core_runtime_serves_and_drains() {
    let up = crate::support::Upstream::start(None, crate::support::Reply::Ok).await;
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nruntime = \"per_core\"\nworkers = 2\n[keys]\nfile = \"keys.toml\"\n\
         [[routes]]\nname = \"s\"\npath_prefix = \"/s\"\nupstream = \"http://{}\"\n\
         [[routes.rules]]\nselect = \"$.userId\"\naction = \"tokenize\"\n",
        up.addr
    );
    let (_dir, path) = crate::support::write_config(&cfg);
    let p = crate::support::Process::spawn(&path, &[]);
    // Separate connections land on either worker's socket.
    for i in 0..8 {
        let client = crate::support::Client::new(p.proxy, None, crate::support::Proto::H1);
        let got = client
            .post_json("/s/v1/t", &format!(r#"{{"userId":"per-core-{i}"}}"#))
            .await;
        assert_eq!(got.status, 200);
    }
    assert_eq!(up.requests().len(), 8);
    crate::support::assert_absent(&up.requests()[7].body, &["per-core-7"]);
    assert!(p.stop(), "SIGTERM drains every worker and exits 0");
}
