//! Fault injection: the upstream refuses, stalls, resets mid-response, sends
//! garbage or closes without answering; the client aborts mid-upload; the keyring disappears
//! before a reload.
//!
//! Every case checks the same three things:
//! - the client gets exactly one answer — the upstream's response or an explicit JSON error —
//!   and nothing hangs (every test runs under [`bounded`]);
//! - the recording upstream never receives an unpoliced byte: the canaries (sent in the body,
//!   the query string and a header, all three policed) are searched for in every byte it read;
//! - the gateway survives and serves the next request.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::{
    Ended, RawConn, Reply, TestGateway, Upstream, assert_absent, bounded, connections_drop_to_zero,
    exchange, metric, metrics_text, refused_addr,
};

const TOKEN: &str = "faults-admin-token-91b2";
/// Canaries: one per place PII can travel in a request.
const EMAIL: &str = "canary.faults.7d41@leak.example";
const QUERY: &str = "canary-query-5e0c";
const HEADER: &str = "canary-header-a3f9";
const CANARIES: &[&str] = &[EMAIL, QUERY, HEADER, "leak.example"];

/// One route per upstream behaviour; every route polices body, query and header.
fn config(routes: &[(&str, SocketAddr, bool)]) -> String {
    let mut c = String::from(
        r#"
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
token_env = "ADMIN_TOKEN"
[keys]
file = "keys.toml"
[limits]
upstream_timeout_ms = 400
request_timeout_ms = 2000
"#,
    );
    for (name, addr, reveal) in routes {
        c.push_str(&format!(
            r#"
[[routes]]
name = "{name}"
path_prefix = "/{name}"
upstream = "http://{addr}"

[[routes.rules]]
select = ["$..email", "query:email", "header:x-user-email"]
action = "tokenize"
normalize = "lowercase"
"#
        ));
        if *reveal {
            c.push_str(
                "\n[[routes.response_rules]]\nselect = \"$..secret\"\naction = \"reveal\"\n",
            );
        }
    }
    c
}

/// A policed request carrying all three canaries, closing the connection after the answer.
fn request(route: &str) -> Vec<u8> {
    let body = format!(r#"{{"event":"signup","email":"{EMAIL}"}}"#);
    format!(
        "POST /{route}/v1/track?email={QUERY} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nx-user-email: {HEADER}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Exactly one response on the connection, nothing after it; returns it.
async fn one_answer(addr: SocketAddr, route: &str) -> crate::support::RawResponse {
    let (responses, ended) = exchange(addr, &request(route)).await;
    assert_ne!(
        ended,
        Ended::Open,
        "{route}: the gateway closed the connection"
    );
    assert_eq!(
        responses.len(),
        1,
        "{route}: exactly one answer, got {responses:#?}"
    );
    let r = responses.into_iter().next().expect("one");
    assert_absent(&r.body, CANARIES);
    assert_absent(r.head.as_bytes(), CANARIES);
    r
}

/// The error answer every upstream failure must produce.
async fn expect_error(addr: SocketAddr, route: &str, status: u16, code: &str) {
    let r = one_answer(addr, route).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (status, code),
        "{route}: {r:#?}"
    );
    assert!(r.complete, "{route}: an error body arrives whole");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
}

/// The upstream saw every request it saw policed: no canary in any byte it read.
fn assert_policed(up: &Upstream) {
    assert_absent(&up.raw_bytes(), CANARIES);
    for r in up.requests() {
        assert_absent(&r.body, CANARIES);
        assert_absent(r.uri.as_bytes(), CANARIES);
    }
}

/// A healthy route answers after the fault: the gateway survived.
async fn still_serves(addr: SocketAddr, healthy: &Upstream) {
    let before = healthy.requests().len();
    let r = one_answer(addr, "ok").await;
    assert_eq!(r.status, 200, "the gateway still serves: {r:#?}");
    assert_eq!(healthy.requests().len(), before + 1);
    assert_policed(healthy);
}

#[tokio::test]
async fn upstream_refuses_connections() {
    bounded(30, async {
        let ok = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&[
            ("down", refused_addr().await, false),
            ("ok", ok.addr, false),
        ]))
        .await;
        for _ in 0..3 {
            expect_error(gw.addr, "down", 502, "upstream_unreachable").await;
        }
        still_serves(gw.addr, &ok).await;
    })
    .await;
}

#[tokio::test]
async fn upstream_stalls() {
    bounded(30, async {
        let stall = Upstream::start(None, Reply::Stall).await;
        let ok = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&[
            ("stall", stall.addr, false),
            ("ok", ok.addr, false),
        ]))
        .await;
        let started = std::time::Instant::now();
        expect_error(gw.addr, "stall", 504, "upstream_timeout").await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "504 after upstream_timeout_ms (400 ms), not later: {:?}",
            started.elapsed()
        );
        assert_eq!(
            stall.requests().len(),
            1,
            "the policed request went out once"
        );
        assert_policed(&stall);
        still_serves(gw.addr, &ok).await;
    })
    .await;
}

#[tokio::test]
async fn upstream_resets_mid_response() {
    bounded(30, async {
        let reset = Upstream::start(None, Reply::ResetMidResponse).await;
        let reset_reveal = Upstream::start(None, Reply::ResetMidResponse).await;
        let ok = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&[
            ("reset", reset.addr, false),
            ("resetreveal", reset_reveal.addr, true),
            ("ok", ok.addr, false),
        ]))
        .await;
        // Streamed back as it comes: the client sees the upstream's head, then a body that
        // never completes (the gateway aborts the connection; it never fakes a complete body).
        let (responses, ended) = exchange(gw.addr, &request("reset")).await;
        assert_eq!(responses.len(), 1, "{responses:#?}");
        let r = &responses[0];
        assert_eq!(r.status, 200);
        assert!(!r.complete, "a reset body must not look complete: {r:#?}");
        assert_ne!(ended, Ended::Open);
        // With response rules the body is buffered first: the failure becomes a clean 502.
        expect_error(gw.addr, "resetreveal", 502, "upstream_failed").await;
        assert_policed(&reset);
        assert_policed(&reset_reveal);
        still_serves(gw.addr, &ok).await;
    })
    .await;
}

#[tokio::test]
async fn upstream_sends_garbage() {
    bounded(30, async {
        let ssh = Upstream::start(None, Reply::Garbage(b"SSH-2.0-OpenSSH_9.6\r\n")).await;
        let binary =
            Upstream::start(None, Reply::Garbage(b"\x00\xff\x16\x03\x01\x02\x00garbage")).await;
        let bad_http = Upstream::start(
            None,
            Reply::Garbage(
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\nhello",
            ),
        )
        .await;
        let ok = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&[
            ("ssh", ssh.addr, false),
            ("binary", binary.addr, false),
            ("badhttp", bad_http.addr, false),
            ("ok", ok.addr, false),
        ]))
        .await;
        for route in ["ssh", "binary", "badhttp"] {
            expect_error(gw.addr, route, 502, "upstream_failed").await;
        }
        for up in [&ssh, &binary, &bad_http] {
            assert_eq!(up.requests().len(), 1, "no retry of a sent request");
            assert_policed(up);
        }
        still_serves(gw.addr, &ok).await;
    })
    .await;
}

#[tokio::test]
async fn upstream_closes_without_answering() {
    bounded(30, async {
        let close = Upstream::start(None, Reply::CloseWithoutAnswer).await;
        let ok = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&[
            ("close", close.addr, false),
            ("ok", ok.addr, false),
        ]))
        .await;
        expect_error(gw.addr, "close", 502, "upstream_failed").await;
        assert_eq!(close.requests().len(), 1, "no retry of a sent request");
        assert_policed(&close);
        still_serves(gw.addr, &ok).await;
    })
    .await;
}

#[tokio::test]
async fn slow_upstream_body() {
    bounded(30, async {
        // 6 pieces 150 ms apart: 900 ms, past upstream_timeout_ms (400 ms), which bounds the
        // response *head*; a streamed body may take longer.
        let slow = Upstream::start(
            None,
            Reply::SlowBody {
                pieces: 6,
                gap: Duration::from_millis(150),
            },
        )
        .await;
        let slow_reveal = Upstream::start(
            None,
            Reply::SlowBody {
                pieces: 6,
                gap: Duration::from_millis(150),
            },
        )
        .await;
        let ok = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&[
            ("slow", slow.addr, false),
            ("slowreveal", slow_reveal.addr, true),
            ("ok", ok.addr, false),
        ]))
        .await;
        let r = one_answer(gw.addr, "slow").await;
        assert_eq!((r.status, r.complete), (200, true), "{r:#?}");
        assert_eq!(r.body, b"[0,0,0,0,0,0]");
        // Buffered for response rules: the body must arrive within upstream_timeout_ms too.
        expect_error(gw.addr, "slowreveal", 504, "upstream_timeout").await;
        assert_policed(&slow);
        assert_policed(&slow_reveal);
        still_serves(gw.addr, &ok).await;
    })
    .await;
}

#[tokio::test]
async fn client_aborts_mid_upload() {
    bounded(30, async {
        let ok = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&[("ok", ok.addr, false)])).await;
        // Declares 4 KiB, sends the start of a JSON body with a canary, then goes away:
        // once by closing, once by resetting, once mid-chunk.
        let head = format!(
            "POST /ok/v1/track?email={QUERY} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nx-user-email: {HEADER}\r\ncontent-length: 4096\r\n\r\n{{\"email\":\"{EMAIL}\",\"pad\":\""
        );
        let chunked = format!(
            "POST /ok/v1/track HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n100\r\n{{\"email\":\"{EMAIL}\""
        );
        for (i, (req, reset)) in [(&head, false), (&head, true), (&chunked, false)]
            .into_iter()
            .enumerate()
        {
            let mut c = RawConn::connect(gw.addr).await;
            c.send(req.as_bytes()).await.expect("send");
            tokio::time::sleep(Duration::from_millis(50)).await;
            if reset {
                let _ = c.stream.set_zero_linger();
            }
            drop(c);
            // The gateway notices, answers into the void, and counts a 4xx.
            let want = (i + 1) as f64;
            let mut seen = 0.0;
            for _ in 0..100 {
                seen = metric(
                    &metrics_text(&gw),
                    r#"piigate_requests_total{route="ok",class="4xx"}"#,
                );
                if seen >= want {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(seen, want, "abort {i} was noticed");
        }
        assert!(
            ok.requests().is_empty() && ok.connection_count() == 0,
            "not a byte forwarded for an aborted upload"
        );
        assert_policed(&ok);
        still_serves(gw.addr, &ok).await;
        connections_drop_to_zero(&gw).await;
    })
    .await;
}

/// A route without rules streams the body through; when the client aborts, the upstream sees
/// an incomplete request, never a complete one (documented pass-through behaviour).
#[tokio::test]
async fn client_abort_on_a_pass_through_route() {
    bounded(30, async {
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[[routes]]\nname = \"raw\"\npath_prefix = \"/raw\"\nupstream = \"http://{}\"\n",
            up.addr
        ))
        .await;
        let mut c = RawConn::connect(gw.addr).await;
        c.send(b"POST /raw/x HTTP/1.1\r\nhost: gw\r\ncontent-length: 1000\r\n\r\npartial")
            .await
            .expect("send");
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(c);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            up.requests().iter().all(|r| !r.complete),
            "an aborted upload never arrives as a complete request: {:?}",
            up.requests()
        );
        // Counted as the client's failure, not the upstream's.
        let text = metrics_text(&gw);
        assert_eq!(
            metric(&text, r#"piigate_rejections_total{route="raw",code="malformed_body"}"#),
            1.0,
            "{text}"
        );
        assert_eq!(
            metric(&text, r#"piigate_rejections_total{route="raw",code="upstream_failed"}"#),
            0.0,
            "{text}"
        );
        let (responses, _) = exchange(
            gw.addr,
            b"POST /raw/y HTTP/1.1\r\nhost: gw\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        )
        .await;
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].status, 200);
    })
    .await;
}

#[tokio::test]
async fn keyring_missing_at_reload() {
    bounded(30, async {
        let ok = Upstream::start(None, Reply::Echo).await;
        let gw = TestGateway::start_with_env(
            &config(&[("ok", ok.addr, false)]),
            &[("ADMIN_TOKEN", TOKEN)],
        )
        .await;
        let token_of = |r: &crate::support::RawResponse| -> String {
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("echoed JSON");
            v["email"].as_str().expect("token").to_owned()
        };
        let before = one_answer(gw.addr, "ok").await;
        assert_eq!(before.status, 200);
        let t1 = token_of(&before);

        std::fs::remove_file(gw.dir.path().join("keys.toml")).expect("remove keyring");
        let admin = gw.admin.expect("admin");
        let reload = format!(
            "POST /v1/reload HTTP/1.1\r\nhost: admin\r\nauthorization: Bearer {TOKEN}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let (responses, _) = exchange(admin, reload.as_bytes()).await;
        assert_eq!(responses.len(), 1);
        let r = &responses[0];
        assert_eq!(r.status, 422, "{r:#?}");
        assert_eq!(r.error_code(), "reload_failed");
        assert_eq!(gw.current.load().number, 1, "the old generation keeps serving");

        let after = one_answer(gw.addr, "ok").await;
        assert_eq!(after.status, 200);
        assert_eq!(token_of(&after), t1, "same keys: the old generation answered");
        assert_policed(&ok);
    })
    .await;
}

/// A TCP relay in front of the test PostgreSQL that the test can cut and restore.
struct Relay {
    addr: SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    _accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let addr = listener.local_addr().expect("addr");
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> =
            Default::default();
        let (c, cs) = (std::sync::Arc::clone(&cut), std::sync::Arc::clone(&conns));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if c.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the client sees a closed connection
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                cs.lock().expect("lock").push(task);
            }
        });
        Self {
            addr,
            cut,
            conns,
            _accept: accept,
        }
    }

    /// Refuses new connections and breaks every open one.
    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.conns.lock().expect("lock").drain(..) {
            t.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The store goes away: subject-scoped requests are refused (503 `store_unavailable`) with
/// nothing forwarded, `/readyz` says not ready, and both recover when the store comes back.
#[tokio::test]
async fn store_unavailable() {
    let Some(url) = crate::support::postgres_url("faults::store_unavailable") else {
        return;
    };
    let pg: SocketAddr = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|hp| hp.parse().ok())
        .expect("test URL is postgres://user@127.0.0.1:PORT/db");
    let relay = Relay::start(pg).await;
    let relayed = url.replacen(&pg.to_string(), &relay.addr.to_string(), 1);
    let up = Upstream::start(None, Reply::Ok).await;
    let ca = std::env::var("PIIGATE_TEST_POSTGRES_CA")
        .map(|p| format!("ca = \"{p}\"\n"))
        .unwrap_or_default();
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n[keys]\nfile = \"keys.toml\"\n\
         [store]\nkind = \"postgres\"\nurl_env = \"PG_URL\"\ncache_ttl_secs = 0\nsubject_key_id = \"k2\"\n{ca}\
         [[routes]]\nname = \"s\"\npath_prefix = \"/s\"\nupstream = \"http://{}\"\nsubject = \"$.userId\"\n\
         [[routes.rules]]\nselect = \"$.userId\"\naction = \"tokenize\"\n",
        up.addr
    );
    let gw =
        crate::support::TestGateway::start_with_env(&cfg, &[("PG_URL", relayed.as_str())]).await;
    let client = crate::support::Client::new(gw.addr, None, crate::support::Proto::H1);
    let admin =
        crate::support::Client::new(gw.admin.expect("admin"), None, crate::support::Proto::H1);
    let body = r#"{"userId":"store-fault-user","event":"x"}"#;
    assert_eq!(client.post_json("/s/v1/t", body).await.status, 200);
    assert_eq!(
        admin
            .send(http::Method::GET, "/readyz", &[], Vec::new())
            .await
            .status,
        200
    );

    relay.cut();
    let got = client.post_json("/s/v1/t", body).await;
    assert_eq!(got.status, 503, "{:?}", got.body);
    assert_eq!(got.error_code(), "store_unavailable");
    crate::support::assert_absent(&got.body, &["store-fault-user"]);
    assert_eq!(
        up.requests().len(),
        1,
        "nothing forwarded while the store is down"
    );
    assert_eq!(
        admin
            .send(http::Method::GET, "/readyz", &[], Vec::new())
            .await
            .status,
        503
    );

    relay.restore();
    let recovered = async {
        loop {
            if client.post_json("/s/v1/t", body).await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), recovered)
        .await
        .expect("recovers when the store is back");
    assert_eq!(
        admin
            .send(http::Method::GET, "/readyz", &[], Vec::new())
            .await
            .status,
        200
    );
}
