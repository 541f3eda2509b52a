//! The gateway's own upstream connections: kept per worker and reused, HTTP/2 shared by
//! concurrent requests, TLS sessions resumed on reconnect, and a connection the upstream
//! closed while idle replaced without the next request noticing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Pki, Reply, TestGateway, Upstream, bounded, exchange};

/// One policed route to `upstream`, with `extra` appended to the route and `server` to
/// `[server]`.
fn config(upstream: &str, extra: &str, server: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
{server}
[keys]
file = "keys.toml"

[[routes]]
name = "r"
path_prefix = "/r"
upstream = "{upstream}"
{extra}

[[routes.rules]]
select = "$.userId"
action = "tokenize"
"#
    )
}

/// One request on its own client connection; the status the client got.
async fn post(gw: SocketAddr) -> u16 {
    let body = r#"{"userId":"user-upstream-1"}"#;
    let req = format!(
        "POST /r/v1/track HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let (responses, _) = exchange(gw, req.as_bytes()).await;
    assert_eq!(responses.len(), 1, "{responses:#?}");
    responses[0].status
}

#[tokio::test]
async fn http1_upstream_connections_are_reused() {
    bounded(30, async {
        let up = Upstream::start(None, Reply::Ok).await;
        // One worker: what is proved is that worker's reuse (the default runs one per CPU,
        // each with its own connections; see the `per_core` test below).
        let gw =
            TestGateway::start(&config(&format!("http://{}", up.addr), "", "workers = 1")).await;
        for _ in 0..20 {
            assert_eq!(post(gw.addr).await, 200);
        }
        assert_eq!(up.requests().len(), 20);
        assert_eq!(
            up.connection_count(),
            1,
            "twenty sequential requests share one upstream connection"
        );
    })
    .await;
}

/// `per_core`: every worker keeps its own connections, so sequential traffic spread over two
/// workers opens at most one upstream connection per worker — and no worker ever uses a
/// connection that another one's runtime drives.
#[tokio::test]
async fn per_core_workers_keep_their_own_upstream_connections() {
    bounded(30, async {
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(
            &format!("http://{}", up.addr),
            "",
            "runtime = \"per_core\"\nworkers = 2",
        ))
        .await;
        for _ in 0..24 {
            assert_eq!(post(gw.addr).await, 200);
        }
        assert_eq!(up.requests().len(), 24);
        let conns = up.connection_count();
        assert!(
            (1..=2).contains(&conns),
            "one connection per worker at most, got {conns}"
        );
    })
    .await;
}

#[tokio::test]
async fn http2_upstream_carries_concurrent_requests_on_one_connection() {
    bounded(30, async {
        let pki = Pki::new();
        let up = Upstream::start(
            Some(pki.server_config()),
            Reply::Delay(Duration::from_millis(100)),
        )
        .await;
        let ca = pki.path("ca.crt").display().to_string();
        let gw = TestGateway::start(&config(
            &format!("https://localhost:{}", up.addr.port()),
            &format!("upstream_ca = \"{ca}\""),
            "workers = 1",
        ))
        .await;
        // The first request opens the connection and learns that the upstream speaks h2.
        assert_eq!(post(gw.addr).await, 200);
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..16 {
            all.spawn(post(gw.addr));
        }
        while let Some(status) = all.join_next().await {
            assert_eq!(status.expect("request task"), 200);
        }
        let seen = up.requests();
        assert_eq!(seen.len(), 17);
        assert!(seen.iter().all(|r| r.version == http::Version::HTTP_2));
        assert_eq!(
            up.connection_count(),
            1,
            "sixteen requests in flight at once share the HTTP/2 connection"
        );
    })
    .await;
}

/// An HTTPS upstream that closes every connection after one response, recording how each TLS
/// handshake went.
async fn closing_tls_upstream(pki: &Pki) -> (SocketAddr, Arc<Mutex<Vec<rustls::HandshakeKind>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let kinds: Arc<Mutex<Vec<rustls::HandshakeKind>>> = Arc::default();
    // HTTP/1.1 only: the answer below is written by hand.
    let mut tls = (*pki.server_config()).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let seen = Arc::clone(&kinds);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            if let Some(kind) = tls.get_ref().1.handshake_kind() {
                seen.lock().expect("lock").push(kind);
            }
            let _ = read_request(&mut tls).await;
            let _ = tls
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}")
                .await;
            let _ = tls.shutdown().await;
        }
    });
    (addr, kinds)
}

/// Reads one request head and its `content-length` body.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(buf);
            }
        }
    }
}

#[tokio::test]
async fn tls_sessions_to_the_upstream_resume() {
    bounded(30, async {
        let pki = Pki::new();
        let (addr, kinds) = closing_tls_upstream(&pki).await;
        let ca = pki.path("ca.crt").display().to_string();
        let gw = TestGateway::start(&config(
            &format!("https://localhost:{}", addr.port()),
            &format!("upstream_ca = \"{ca}\""),
            "",
        ))
        .await;
        for _ in 0..3 {
            assert_eq!(post(gw.addr).await, 200);
        }
        let kinds = kinds.lock().expect("lock").clone();
        assert_eq!(
            kinds,
            [
                rustls::HandshakeKind::Full,
                rustls::HandshakeKind::Resumed,
                rustls::HandshakeKind::Resumed
            ],
            "every connection after the first resumes the TLS session"
        );
    })
    .await;
}

#[tokio::test]
async fn an_upstream_closing_an_idle_connection_costs_no_request() {
    bounded(30, async {
        // Answers one request per connection with a keep-alive response, then closes 50 ms
        // later: the gateway has pooled a connection that is gone by the next request.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&conns);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let _ = read_request(&mut s).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}")
                        .await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                });
            }
        });
        let gw = TestGateway::start(&config(&format!("http://{addr}"), "", "")).await;
        for _ in 0..3 {
            assert_eq!(post(gw.addr).await, 200);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 3);
    })
    .await;
}
