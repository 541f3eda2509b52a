//! Limits and overload: slowloris, slow bodies, connection and
//! concurrency limits, oversized heads and bodies. Each case asserts behaviour on real
//! sockets: what the client sees, that the connection is let go (no resources held), and that
//! nothing reaches the upstream that should not.

use std::time::{Duration, Instant};

use crate::support::{
    Ended, Pki, RawConn, Reply, Stack, Upstream, bounded, connections_drop_to_zero, exchange,
    metric, metrics_text,
};

/// The routes under test after `[limits]` with `limits` in it (more tables may follow), then
/// `extra_route`.
fn routes(limits: &str, extra_route: &str) -> String {
    format!(
        r#"
[limits]
{limits}

[[routes]]
name = "ok"
path_prefix = "/ok"
upstream = "http://{{up}}"
max_body_bytes = 1024

[[routes.rules]]
select = "$..email"
action = "tokenize"

[[routes]]
name = "pass"
path_prefix = "/pass"
upstream = "http://{{up}}"
max_body_bytes = 1024
{extra_route}
"#
    )
}

const OK: &[u8] = b"POST /ok/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: 7\r\nconnection: close\r\n\r\n{\"a\":1}";

/// Sends `bytes` one at a time, `gap` apart, until the peer closes; returns when it closed.
async fn dribble(c: &mut RawConn, bytes: &[u8], gap: Duration) -> Option<Duration> {
    let started = Instant::now();
    for b in bytes.iter().cycle() {
        if c.send(&[*b]).await.is_err() {
            return Some(started.elapsed());
        }
        if c.read_until_close(gap).await != Ended::Open {
            return Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(10) {
            return None;
        }
    }
    None
}

#[tokio::test]
async fn slowloris_headers_are_cut_off() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, &routes("header_read_timeout_ms = 300", "")).await;
        let mut c = RawConn::connect(gw.addr).await;
        // A head that never ends: one byte every 50 ms.
        let closed = dribble(
            &mut c,
            b"POST /ok/x HTTP/1.1\r\nhost: gw\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            Duration::from_millis(50),
        )
        .await
        .expect("the gateway cut the slow head off");
        assert!(closed < Duration::from_secs(2), "{closed:?}");
        assert!(
            c.take_responses().iter().all(|r| r.status == 408 || r.status == 0),
            "at most a 408 before closing"
        );
        connections_drop_to_zero(&gw).await;
        assert!(up.requests().is_empty());
        // And the gateway is fine.
        let (r, _) = exchange(gw.addr, OK).await;
        assert_eq!(r[0].status, 200);
    })
    .await;
}

/// Connections that send nothing at all, or stop inside the HTTP/2 preface, or go idle after
/// a request, are closed after `header_read_timeout_ms` too: none can hold a connection slot.
#[tokio::test]
async fn idle_and_half_open_connections_are_closed() {
    bounded(30, async {
        let Stack { up: _up, gw, .. } = Stack::start(Reply::Ok, &routes("header_read_timeout_ms = 300", "")).await;
        // (what the client sends before going quiet, why it is interesting)
        let cases: &[(&[u8], &str)] = &[
            (b"", "no byte at all"),
            (b"P", "one byte of the HTTP/2 preface"),
            (b"PRI * HTTP/2.0\r\n\r\nSM", "most of the HTTP/2 preface"),
            (b"POST", "the start of an HTTP/1.1 request line"),
        ];
        for (sent, why) in cases {
            let started = Instant::now();
            let mut c = RawConn::connect(gw.addr).await;
            c.send(sent).await.expect("send");
            let ended = c.read_until_close(Duration::from_secs(3)).await;
            assert_ne!(ended, Ended::Open, "{why}: still open after 3 s");
            assert!(started.elapsed() < Duration::from_secs(2), "{why}");
        }
        // Idle on a kept-alive connection after one request.
        let mut c = RawConn::connect(gw.addr).await;
        c.send(b"POST /ok/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}")
            .await
            .expect("send");
        let r = c.response(Duration::from_secs(5)).await.expect("answer");
        assert_eq!(r.status, 200);
        let ended = c.read_until_close(Duration::from_secs(3)).await;
        assert_ne!(ended, Ended::Open, "idle keep-alive connection closed");
        connections_drop_to_zero(&gw).await;
    })
    .await;
}

/// An HTTP/2 connection that completes the preface and then sends no request is closed too.
#[tokio::test]
async fn idle_http2_connections_are_closed() {
    bounded(30, async {
        let Stack { up: _up, gw, .. } =
            Stack::start(Reply::Ok, &routes("header_read_timeout_ms = 300", "")).await;
        let mut c = RawConn::connect(gw.addr).await;
        // Preface + an empty SETTINGS frame.
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            .await
            .expect("send");
        let ended = c.read_until_close(Duration::from_secs(5)).await;
        assert_ne!(ended, Ended::Open, "an idle h2 connection is let go");
        connections_drop_to_zero(&gw).await;
    })
    .await;
}

#[tokio::test]
async fn tls_handshake_stalls_are_cut_off() {
    bounded(30, async {
        let pki = Pki::new();
        let tls_routes = format!(
            "[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n{}",
            pki.path("server.crt").display(),
            pki.path("server.key").display(),
            routes("header_read_timeout_ms = 300", "")
        );
        let Stack { up: _up, gw, .. } = Stack::start(Reply::Ok, &tls_routes).await;
        // Nothing; then the first bytes of a ClientHello record.
        for sent in [
            &b""[..],
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        ] {
            let mut c = RawConn::connect(gw.addr).await;
            c.send(sent).await.expect("send");
            let ended = c.read_until_close(Duration::from_secs(3)).await;
            assert_ne!(ended, Ended::Open, "handshake stall after {sent:?}");
        }
        connections_drop_to_zero(&gw).await;
    })
    .await;
}

/// Sends a head for a 100-byte body to `path`, then trickles one byte every 100 ms: the
/// gateway must answer 408 within `request_timeout_ms` (300), close the connection and let it
/// go. Returns what the upstream recorded.
async fn trickled_body_gets_408(path: &str, limits: &str) -> Vec<crate::support::Recorded> {
    let Stack { up, gw, .. } = Stack::start(Reply::Ok, &routes(limits, "")).await;
    let mut c = RawConn::connect(gw.addr).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"email\":\""
    );
    c.send(head.as_bytes()).await.expect("send");
    let started = Instant::now();
    let mut answer = None;
    while started.elapsed() < Duration::from_secs(3) {
        let _ = c.send(b"a").await;
        if let Some(r) = c.response(Duration::from_millis(100)).await {
            answer = Some(r);
            break;
        }
    }
    let r = answer.unwrap_or_else(|| panic!("{path}: an answer to the slow body"));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (408, "request_timeout"),
        "{path}"
    );
    assert!(started.elapsed() < Duration::from_secs(2), "{path}");
    let ended = c.read_until_close(Duration::from_secs(3)).await;
    assert_ne!(
        ended,
        Ended::Open,
        "{path}: the half-read body is not resynchronised"
    );
    connections_drop_to_zero(&gw).await;
    up.requests()
}

#[tokio::test]
async fn slow_bodies_get_408() {
    bounded(30, async {
        let seen = trickled_body_gets_408(
            "/ok/x",
            "request_timeout_ms = 300\nheader_read_timeout_ms = 5000",
        )
        .await;
        assert!(seen.is_empty(), "nothing forwarded");
    })
    .await;
}

/// A pass-through route streams the body to the upstream instead of collecting it; the
/// request's deadline still applies to the upload.
#[tokio::test]
async fn slow_streamed_bodies_get_408() {
    bounded(30, async {
        let seen = trickled_body_gets_408(
            "/pass/x",
            "request_timeout_ms = 300\nupstream_timeout_ms = 10000\nheader_read_timeout_ms = 5000",
        )
        .await;
        assert!(
            seen.iter().all(|r| !r.complete),
            "the upstream never received a complete request"
        );
    })
    .await;
}

#[tokio::test]
async fn max_connections_is_honoured() {
    bounded(30, async {
        let Stack { up: _up, gw, .. } = Stack::start(
            Reply::Ok,
            &routes("max_connections = 2\nheader_read_timeout_ms = 10000", ""),
        )
        .await;
        // Two connections hold the two slots (each mid-head).
        let mut a = RawConn::connect(gw.addr).await;
        let mut b = RawConn::connect(gw.addr).await;
        a.send(b"POST /ok/x HTTP/1.1\r\n").await.expect("send");
        b.send(b"POST /ok/x HTTP/1.1\r\n").await.expect("send");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(metric(&metrics_text(&gw), "piigate_open_connections"), 2.0);
        // A third is not served while they hold on.
        let mut c = RawConn::connect(gw.addr).await;
        c.send(OK).await.expect("send");
        assert!(
            c.response(Duration::from_millis(500)).await.is_none(),
            "a third connection must wait"
        );
        assert_eq!(metric(&metrics_text(&gw), "piigate_open_connections"), 2.0);
        // One slot frees up: the waiting connection is served.
        drop(a);
        let r = c
            .response(Duration::from_secs(5))
            .await
            .expect("served once a slot is free");
        assert_eq!(r.status, 200);
        drop(b);
        connections_drop_to_zero(&gw).await;
    })
    .await;
}

#[tokio::test]
async fn admin_listener_has_its_own_connection_limit() {
    bounded(30, async {
        let Stack { up: _up, gw, .. } = Stack::start(
            Reply::Ok,
            &routes("[admin]\nlisten = \"127.0.0.1:0\"\nmax_connections = 2", ""),
        )
        .await;
        let admin = gw.admin.expect("admin listener");
        const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n";
        // Two idle connections hold both admin slots.
        let a = RawConn::connect(admin).await;
        let _b = RawConn::connect(admin).await;
        // The proxy listener is not affected by the admin's limit.
        let (r, _) = exchange(gw.addr, OK).await;
        assert_eq!(r[0].status, 200);
        // A third admin connection is not served while they hold on ...
        let mut c = RawConn::connect(admin).await;
        c.send(HEALTHZ).await.expect("send");
        assert!(
            c.response(Duration::from_millis(500)).await.is_none(),
            "a third admin connection must wait"
        );
        // ... and is served once a slot frees up.
        drop(a);
        let r = c
            .response(Duration::from_secs(5))
            .await
            .expect("served once a slot is free");
        assert_eq!(r.status, 200);
    })
    .await;
}

#[tokio::test]
async fn route_concurrency_limit_gives_503_with_retry_after() {
    bounded(30, async {
        let slow = Upstream::start(None, Reply::Delay(Duration::from_millis(800))).await;
        let extra = format!(
            "\n[[routes]]\nname = \"narrow\"\npath_prefix = \"/narrow\"\nupstream = \"http://{}\"\nmax_concurrent_requests = 1\n",
            slow.addr
        );
        let Stack { up: _up, gw, .. } = Stack::start(Reply::Ok, &routes("", &extra)).await;
        let addr = gw.addr;
        let first = tokio::spawn(async move {
            exchange(
                addr,
                b"POST /narrow/1 HTTP/1.1\r\nhost: gw\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            )
            .await
        });
        while slow.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (r, _) = exchange(
            addr,
            b"POST /narrow/2 HTTP/1.1\r\nhost: gw\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        )
        .await;
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].status, r[0].error_code().as_str()), (503, "overloaded"));
        assert_eq!(r[0].header("retry-after").as_deref(), Some("1"));
        // Other routes are not affected.
        let (other, _) = exchange(addr, OK).await;
        assert_eq!(other[0].status, 200);
        let (r, _) = first.await.expect("join");
        assert_eq!(r[0].status, 200, "the request holding the slot completes");
        assert_eq!(slow.requests().len(), 1, "the refused request never went out");
        // The slot is released: the route serves again.
        let (r, _) = exchange(
            addr,
            b"POST /narrow/3 HTTP/1.1\r\nhost: gw\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        )
        .await;
        assert_eq!(r[0].status, 200);
        let text = metrics_text(&gw);
        assert_eq!(
            metric(
                &text,
                r#"piigate_rejections_total{route="narrow",code="overloaded"}"#
            ),
            1.0,
            "{text}"
        );
    })
    .await;
}

#[tokio::test]
async fn oversized_heads_are_refused() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, &routes("", "")).await;
        let big_header = format!(
            "POST /ok/x HTTP/1.1\r\nhost: gw\r\nx-big: {}\r\ncontent-length: 2\r\n\r\n{{}}",
            "a".repeat(70 * 1024)
        );
        let many_headers = format!(
            "POST /ok/x HTTP/1.1\r\nhost: gw\r\n{}content-length: 2\r\n\r\n{{}}",
            (0..200)
                .map(|i| format!("x-h{i}: v\r\n"))
                .collect::<String>()
        );
        let long_uri = format!(
            "GET /ok/{} HTTP/1.1\r\nhost: gw\r\n\r\n",
            "a".repeat(70 * 1024)
        );
        // (request, why, acceptable statuses)
        let cases: [(&str, &str, &[u16]); 3] = [
            (&big_header, "a 70 KiB header", &[431]),
            (&many_headers, "200 headers", &[431]),
            (&long_uri, "a 70 KiB URI", &[414, 431]),
        ];
        for (req, why, statuses) in cases {
            let (r, ended) = exchange(gw.addr, req.as_bytes()).await;
            assert_ne!(ended, Ended::Open, "{why}: closed");
            assert!(r.len() <= 1, "{why}: {r:#?}");
            if let Some(r) = r.first() {
                assert!(statuses.contains(&r.status), "{why}: {r:#?}");
            }
        }
        assert!(up.requests().is_empty());
        connections_drop_to_zero(&gw).await;
    })
    .await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, &routes("max_decoded_bytes = 65536", "")).await;
        let big = format!("{{\"email\":\"{}\"}}", "a".repeat(2000));
        let chunk = |body: &str| format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
        // 1 MiB of zeros, gzip-compressed to ~1 KiB: a decompression bomb.
        let bomb = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&vec![b' '; 1 << 20]).expect("gzip");
            e.finish().expect("gzip")
        };
        for prefix in ["/ok", "/pass"] {
            // Declared too large: refused before a byte of body is read.
            let declared = format!(
                "POST {prefix}/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n{{\"GET /SMUGGLED HTTP/1.1\r\n\r\n"
            );
            // Chunked, too large only once read.
            let chunked = format!(
                "POST {prefix}/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n{}",
                chunk(&big)
            );
            for (req, why) in [(declared, "declared"), (chunked, "chunked")] {
                // A follow-up request behind the oversized one: the gateway either closes the
                // connection or, having drained the body by its framing, serves it. Never is
                // a byte of the refused body read as a request.
                let mut bytes = req.into_bytes();
                bytes.extend_from_slice(OK);
                let (r, ended) = exchange(gw.addr, &bytes).await;
                assert!(!r.is_empty() && r.len() <= 2, "{prefix} {why}: {r:#?}");
                assert_eq!(
                    (r[0].status, r[0].error_code().as_str()),
                    (413, "body_too_large"),
                    "{prefix} {why}"
                );
                if let Some(next) = r.get(1) {
                    assert_eq!(next.status, 200, "{prefix} {why}: in sync: {next:#?}");
                }
                assert_ne!(ended, Ended::Open, "{prefix} {why}");
            }
        }
        let mut req = b"POST /ok/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\nconnection: close\r\n".to_vec();
        req.extend_from_slice(format!("content-length: {}\r\n\r\n", bomb.len()).as_bytes());
        req.extend_from_slice(&bomb);
        let (r, _) = exchange(gw.addr, &req).await;
        assert_eq!(
            (r[0].status, r[0].error_code().as_str()),
            (413, "body_too_large"),
            "decompression bomb"
        );
        assert!(
            up.requests()
                .iter()
                .all(|r| !r.complete || &r.body[..] == b"{\"a\":1}"),
            "no oversized body arrives whole (only the follow-ups do): {:?}",
            up.requests()
        );
        assert!(!String::from_utf8_lossy(&up.raw_bytes()).contains("SMUGGLED"));
        connections_drop_to_zero(&gw).await;
    })
    .await;
}

/// The idle rule counts a response still being streamed as activity: a slow response body
/// that outlasts several idle periods is delivered whole, over HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn long_responses_outlive_the_idle_timeout() {
    bounded(30, async {
        let slow = Reply::SlowBody {
            pieces: 8,
            gap: Duration::from_millis(150),
        };
        let Stack { up: _slow, gw, .. } =
            Stack::start(slow, &routes("header_read_timeout_ms = 300", "")).await;
        for proto in [crate::support::Proto::H1, crate::support::Proto::H2] {
            let client = crate::support::Client::new(gw.addr, None, proto);
            let started = Instant::now();
            let got = client.send(http::Method::POST, "/pass/x", &[], "{}").await;
            assert_eq!(got.status, 200, "{proto:?}");
            assert_eq!(&got.body[..], b"[0,0,0,0,0,0,0,0]", "{proto:?}");
            assert!(started.elapsed() > Duration::from_millis(900), "{proto:?}");
        }
    })
    .await;
}

/// HTTP/2 slowloris: a request whose header block never ends (CONTINUATION frames dribbled
/// in) never reaches the gateway's handler, so the connection counts as idle and is closed.
#[tokio::test]
async fn http2_header_dribble_is_cut_off() {
    use crate::support::{h2_frame, hpack_literal};
    bounded(30, async {
        let Stack { up, gw, .. } =
            Stack::start(Reply::Ok, &routes("header_read_timeout_ms = 300", "")).await;
        let mut c = RawConn::connect(gw.addr).await;
        let mut start = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        start.extend_from_slice(&h2_frame(4, 0, 0, &[]));
        // HEADERS without END_HEADERS: the block continues in CONTINUATION frames.
        start.extend_from_slice(&h2_frame(1, 0x01, 1, &hpack_literal(":method", "POST")));
        c.send(&start).await.expect("send");
        let started = Instant::now();
        let mut closed = None;
        for i in 0..50 {
            let frame = h2_frame(9, 0, 1, &hpack_literal(&format!("x-slow-{i}"), "a"));
            if c.send(&frame).await.is_err()
                || c.read_until_close(Duration::from_millis(100)).await != Ended::Open
            {
                closed = Some(started.elapsed());
                break;
            }
        }
        let closed = closed.expect("the dribbling h2 connection was closed");
        assert!(closed < Duration::from_secs(3), "{closed:?}");
        assert!(up.requests().is_empty());
        connections_drop_to_zero(&gw).await;
    })
    .await;
}

/// HTTP/2 slow body: the request reached the handler, so the body timeout answers it with
/// 408 on its stream (the idle rule does not cut a request in flight).
#[tokio::test]
async fn http2_slow_body_gets_408() {
    use crate::support::{h2_frame, hpack_literal};
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(
            Reply::Ok,
            &routes("header_read_timeout_ms = 200\nrequest_timeout_ms = 600", ""),
        )
        .await;
        let mut c = RawConn::connect(gw.addr).await;
        let mut block = Vec::new();
        for (k, v) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/ok/x"),
            (":authority", "gw"),
            ("content-type", "application/json"),
        ] {
            block.extend_from_slice(&hpack_literal(k, v));
        }
        let mut start = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        start.extend_from_slice(&h2_frame(4, 0, 0, &[]));
        start.extend_from_slice(&h2_frame(1, 0x04, 1, &block));
        start.extend_from_slice(&h2_frame(0, 0, 1, b"{\"email\":\""));
        c.send(&start).await.expect("send");
        let started = Instant::now();
        // One byte of body every 50 ms, well past request_timeout_ms.
        while started.elapsed() < Duration::from_secs(3) {
            if c.send(&h2_frame(0, 0, 1, b"a")).await.is_err() {
                break;
            }
            let _ = c.read_until_close(Duration::from_millis(50)).await;
            if find_bytes(c.received(), b"request_timeout") {
                break;
            }
        }
        let got = c.received().to_vec();
        // The status is HPACK/Huffman-coded; the JSON error body names the code (408).
        assert!(
            find_bytes(&got, b"{\"error\":{\"code\":\"request_timeout\""),
            "408 request_timeout on the stream: {got:?}"
        );
        let elapsed = started.elapsed();
        assert!(
            elapsed > Duration::from_millis(500) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        assert!(up.requests().is_empty(), "nothing forwarded");
    })
    .await;
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
