//! Leak canaries: unique PII canaries through every path of the real
//! binary — forwarded, every rejection, every upstream failure, overload, timeouts, framing
//! errors hyper answers itself, HTTP/2, and the admin API's errors — with `RUST_LOG=trace`
//! and JSON logs. None may appear in the log (stdout and stderr, so panic output too), the
//! `/metrics` text, any response the gateway made up, or any byte the upstream read.

use std::net::SocketAddr;
use std::time::Duration;

use http::Method;

use crate::support::{
    Client, Piigate, Proto, RawConn, Reply, Upstream, assert_absent, bounded, exchange, h2_goaway,
    h2_request, refused_addr, write_config,
};

const TOKEN: &str = "canary-suite-admin-token-0e6a";
/// Every canary carries this tag; the tag alone is searched for too, so a canary that was
/// re-encoded around the tag (percent-encoding of `@`, say) is still caught.
const TAG: &str = "c4n4ry7q";
const EMAIL: &str = "c4n4ry7q.body@leak.example";
const QUERY: &str = "c4n4ry7q-query";
const HEADER: &str = "c4n4ry7q-header";
const PATH: &str = "c4n4ry7q-path";
const SECRET: &str = "c4n4ry7q-keyring-secret";
const PHONE: &str = "c4n4ry7q-555";
const ALL: &[&str] = &[
    TAG,
    EMAIL,
    QUERY,
    HEADER,
    PATH,
    PHONE,
    SECRET,
    "leak.example",
];
/// What the upstream may never see: the canaries in policed places (the path is forwarded
/// as it came; it is only kept out of logs, metrics and errors).
const POLICED: &[&str] = &[EMAIL, QUERY, HEADER, PHONE, "leak.example"];

fn config(ups: &Ups) -> String {
    let route = |name: &str, addr: SocketAddr, extra: &str| {
        format!(
            r#"
[[routes]]
name = "{name}"
path_prefix = "/{name}"
upstream = "http://{addr}"
max_body_bytes = 4096
{extra}
[[routes.rules]]
select = ["$..email", "query:email", "header:x-user-email", "form:email"]
action = "tokenize"

[[routes.rules]]
select = "$..phone"
action = "encrypt"
"#
        )
    };
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
max_json_depth = 16
upstream_timeout_ms = 1000
request_timeout_ms = 300
max_decoded_bytes = 65536
"#,
    );
    c.push_str(&route("ok", ups.ok.addr, ""));
    c.push_str(&route(
        "narrow",
        ups.slow.addr,
        "max_concurrent_requests = 1",
    ));
    c.push_str(&route("down", ups.down, ""));
    c.push_str(&route("garbage", ups.garbage.addr, ""));
    c.push_str(&route("stall", ups.stall.addr, ""));
    c.push_str(&route("close", ups.close.addr, ""));
    c.push_str(&route("reset", ups.reset.addr, ""));
    c
}

struct Ups {
    ok: Upstream,
    slow: Upstream,
    down: SocketAddr,
    garbage: Upstream,
    stall: Upstream,
    close: Upstream,
    reset: Upstream,
}

/// A request on `route` with canaries in the path and in the policed query parameter, header
/// and body fields.
fn req(route: &str, content_type: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /{route}/{PATH}?email={QUERY} HTTP/1.1\r\nhost: gw\r\ncontent-type: {content_type}\r\nx-user-email: {HEADER}\r\n{extra_headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn json_body() -> Vec<u8> {
    format!(r#"{{"email":"{EMAIL}","phone":"{PHONE}"}}"#).into_bytes()
}

/// Sends `request`, expects exactly one answer with `status`, returns its error code.
async fn expect(addr: SocketAddr, request: &[u8], status: u16, what: &str) -> String {
    expect_with_id(addr, request, status, what).await.0
}

/// [`expect`], also returning the `x-piigate-request-id` the gateway answered with.
async fn expect_with_id(
    addr: SocketAddr,
    request: &[u8],
    status: u16,
    what: &str,
) -> (String, Option<String>) {
    let (r, _) = exchange(addr, request).await;
    assert_eq!(r.len(), 1, "{what}: {r:#?}");
    assert_eq!(r[0].status, status, "{what}: {:#?}", r[0]);
    // Rejections the gateway made up carry no request data.
    if status >= 400 {
        assert_absent(&r[0].body, ALL);
        assert_absent(r[0].head.as_bytes(), ALL);
    } else {
        assert_absent(&r[0].body, POLICED);
    }
    (r[0].error_code(), r[0].header("x-piigate-request-id"))
}

#[tokio::test]
async fn no_canary_in_logs_metrics_errors_or_panics() {
    bounded(90, async {
        let ups = Ups {
            ok: Upstream::start(None, Reply::Echo).await,
            slow: Upstream::start(None, Reply::Delay(Duration::from_millis(600))).await,
            down: refused_addr().await,
            garbage: Upstream::start(None, Reply::Garbage(b"\x00\x01garbage\r\n\r\n")).await,
            stall: Upstream::start(None, Reply::Stall).await,
            close: Upstream::start(None, Reply::CloseWithoutAnswer).await,
            reset: Upstream::start(None, Reply::ResetMidResponse).await,
        };
        let (dir, path) = write_config(&config(&ups));
        let gw = Piigate::start(&path, &[("ADMIN_TOKEN", TOKEN)], "trace", true);
        let addr = gw.addr;
        let json = "application/json";
        let mut codes = Vec::new();

        // Request ids the gateway answered with; each must name its request's log line.
        let mut ids = Vec::new();
        // Forwarded (policed), over HTTP/1.1 and HTTP/2. The client's own ids are neither
        // trusted nor logged: the gateway mints its own.
        let client_ids =
            format!("x-request-id: {TAG}-client-id\r\nx-piigate-request-id: {TAG}-forged\r\n");
        let (_, id) = expect_with_id(addr, &req("ok", json, &client_ids, &json_body()), 200, "forwarded").await;
        ids.push(id.expect("a forwarded request carries its id"));
        let h2 = Client::new(addr, None, Proto::H2);
        let path_q = format!("/ok/{PATH}?email={QUERY}");
        let got = h2
            .send(
                Method::POST,
                &path_q,
                &[("content-type", json), ("x-user-email", HEADER)],
                json_body(),
            )
            .await;
        assert_eq!(got.status, 200);
        assert_absent(&got.body, POLICED);
        // Every rejection the request path has.
        let cases: Vec<(Vec<u8>, u16, &str)> = vec![
            (req("ok", json, "", format!(r#"{{"email":"{EMAIL}""#).as_bytes()), 400, "malformed_body"),
            (req("ok", json, "", format!(r#"{{"email":"{EMAIL}","pad":"{}"}}"#, "x".repeat(5000)).as_bytes()), 413, "body_too_large"),
            (req("ok", json, "", format!(r#"{{"email":"{EMAIL}","a":{}1{}}}"#, "[".repeat(40), "]".repeat(40)).as_bytes()), 400, "nesting_too_deep"),
            (req("ok", "application/octet-stream", "", &json_body()), 415, "unsupported_media_type"),
            (req("ok", json, "content-encoding: gzip\r\n", &[0x1f, 0x8b, 8, 0, b'c', b'4']), 400, "malformed_body"),
            (req("ok", json, "content-encoding: x-canary\r\n", &json_body()), 415, "unsupported_media_type"),
            (req("ok", "application/json; charset=c4n4ry7q", "", &json_body()), 415, "unsupported_media_type"),
            (req("ok", "application/x-www-form-urlencoded", "", format!("email={EMAIL}&bad=%zz{TAG}").as_bytes()), 400, "malformed_body"),
            (req("nowhere", json, "", &json_body()), 404, "no_route"),
            (req("down", json, "", &json_body()), 502, "upstream_unreachable"),
            (req("garbage", json, "", &json_body()), 502, "upstream_failed"),
            (req("close", json, "", &json_body()), 502, "upstream_failed"),
            (req("stall", json, "", &json_body()), 504, "upstream_timeout"),
        ];
        for (request, status, code) in &cases {
            let (got, id) = expect_with_id(addr, request, *status, code).await;
            assert_eq!(&got, code);
            ids.push(id.unwrap_or_else(|| panic!("{code}: the rejection carries its id")));
            codes.push(*code);
        }
        // A malformed query on a route with query rules.
        let bad_query = format!(
            "GET /ok/{PATH}?email=%zz{QUERY} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            expect(addr, bad_query.as_bytes(), 400, "malformed_query").await,
            "malformed_query"
        );
        // A header value that is not text on a header rule.
        let mut bad_header = req("ok", json, "", &json_body());
        let at = find(&bad_header, b"x-user-email: ").expect("header") + 14;
        bad_header[at] = 0xff;
        expect(addr, &bad_header, 400, "header not text").await;
        // A response that breaks mid-body (streamed: the client sees a broken body).
        let (r, _) = exchange(addr, &req("reset", json, "", &json_body())).await;
        assert_absent(&r[0].head.clone().into_bytes(), ALL);

        // Overload: two at once on a route that admits one.
        let narrow = req("narrow", json, "", &json_body());
        let first = tokio::spawn(async move { exchange(addr, &narrow).await });
        while ups.slow.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        expect(addr, &req("narrow", json, "", &json_body()), 503, "overloaded").await;
        let (r, _) = first.await.expect("join");
        assert_eq!(r[0].status, 200);

        // A body that never finishes: 408.
        let mut slow = RawConn::connect(addr).await;
        let mut head = req("ok", json, "", &json_body());
        head.truncate(head.len() - 5);
        slow.send(&head).await.expect("send");
        let r = slow.response(Duration::from_secs(5)).await.expect("408");
        assert_eq!((r.status, r.error_code().as_str()), (408, "request_timeout"));
        assert_absent(&r.body, ALL);

        // Framing errors hyper answers itself, with canaries in the head.
        for bad in [
            format!("POST /ok/{PATH} HTTP/1.1\r\nhost: gw\r\ncontent-length: {TAG}\r\n\r\n"),
            format!("POST /ok/{PATH} HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: {TAG}\r\n\r\n"),
            format!("POST /ok/{PATH} HTTP/1.1\r\nhost: gw\r\nx-fold: a\r\n {HEADER}\r\n\r\n"),
            format!("POST /ok/{PATH} HTTP/1.1\r\nhost: gw\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n{TAG}\r\n"),
        ] {
            let (r, _) = exchange(addr, bad.as_bytes()).await;
            assert_eq!(r.len(), 1, "{r:#?}");
            assert!(r[0].status >= 400);
            assert_absent(&r[0].body, ALL);
        }

        // Admin errors: a canary as the token, in the path, in bodies it cannot process.
        let admin = gw.admin.expect("admin");
        let admin_req = |path: &str, token: &str, body: &[u8]| {
            let mut r = format!(
                "POST {path} HTTP/1.1\r\nhost: admin\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        };
        let admin_cases: Vec<(Vec<u8>, u16)> = vec![
            (admin_req("/v1/reload", TAG, b""), 401),
            (admin_req(&format!("/v1/{PATH}"), TOKEN, b""), 404),
            (admin_req(&format!("/v1/preview/{PATH}"), TOKEN, &json_body()), 404),
            (admin_req("/v1/preview/ok", TOKEN, format!(r#"{{"email":"{EMAIL}""#).as_bytes()), 400),
            (admin_req("/v1/reveal/ok", TOKEN, format!(r#"{{"phone":"pge1.k2.{TAG}"}}"#).as_bytes()), 422),
            (admin_req("/v1/reveal/ok", TOKEN, format!(r#"{{"phone":"{EMAIL}"#).as_bytes()), 400),
        ];
        for (request, status) in &admin_cases {
            expect(admin, request, *status, "admin").await;
        }
        // A reload with a keyring whose secret is a canary: refused, and the secret is never
        // echoed (not in the admin answer, not in the log).
        std::fs::write(
            dir.path().join("keys.toml"),
            format!("[[keys]]\nid = \"k9\"\nstatus = \"primary\"\nsecret = \"{SECRET}\"\n"),
        )
        .expect("write keys");
        expect(admin, &admin_req("/v1/reload", TOKEN, b""), 422, "reload").await;
        gw.signal("HUP");
        assert!(gw.wait_for_log("Reload rejected", 2, Duration::from_secs(10)).await);

        // Metrics.
        let (m, _) = exchange(
            admin,
            b"GET /metrics HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(m[0].status, 200);
        let metrics = String::from_utf8_lossy(&m[0].body).into_owned();
        assert!(metrics.contains("piigate_requests_total"), "{metrics}");
        assert_absent(metrics.as_bytes(), ALL);

        // The upstreams never saw a canary either.
        for up in [&ups.ok, &ups.slow, &ups.garbage, &ups.stall, &ups.close, &ups.reset] {
            assert_absent(&up.raw_bytes(), POLICED);
        }

        gw.signal("TERM");
        let (status, log) = gw.wait_exit(Duration::from_secs(40)).await;
        assert!(status.success(), "clean exit: {status:?}");
        // The paths ran (their codes are logged) ...
        codes.extend(["overloaded", "request_timeout", "malformed_query"]);
        for code in codes {
            assert!(
                log.contains(&format!(r#""code":"{code}""#)),
                "no log line for {code}"
            );
        }
        assert!(log.contains("Request forwarded."));
        // Every answer's id names exactly one access-log line, and ids are unique.
        for id in &ids {
            assert_eq!(id.len(), 24, "{id}");
            let lines = log
                .lines()
                .filter(|l| l.contains(&format!(r#""request_id":"{id}""#)))
                .count();
            assert_eq!(lines, 1, "log lines for request {id}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "request ids repeat: {ids:?}");
        // Protocol libraries are capped at INFO even under RUST_LOG=trace (telemetry::init);
        // every request still logs its own line.
        assert!(log.lines().count() > 30, "every request logged a line");
        assert!(!log.contains(r#""target":"h2"#), "h2 stays capped at INFO");
        // ... and no canary, no panic.
        assert!(!log.contains("panicked"), "a panic:\n{log}");
        assert_absent(log.as_bytes(), ALL);
        drop(dir);
    })
    .await;
}

/// Peer-controlled bytes that the `h2` crate itself logs when `RUST_LOG` enables it: the
/// value of a refused `te` header (TRACE, `h2::frame::headers`) and a GOAWAY's debug data
/// (DEBUG, `h2::codec::framed_read`). `telemetry::init` caps protocol libraries at INFO
/// whatever `RUST_LOG` says; this test keeps it that way.
#[tokio::test]
async fn no_canary_in_http2_frame_logging() {
    bounded(60, async {
        let ups = Ups {
            ok: Upstream::start(None, Reply::Echo).await,
            slow: Upstream::start(None, Reply::Ok).await,
            down: refused_addr().await,
            garbage: Upstream::start(None, Reply::Ok).await,
            stall: Upstream::start(None, Reply::Ok).await,
            close: Upstream::start(None, Reply::Ok).await,
            reset: Upstream::start(None, Reply::Ok).await,
        };
        let (dir, path) = write_config(&config(&ups));
        let gw = Piigate::start(&path, &[("ADMIN_TOKEN", TOKEN)], "trace", true);
        let mut c = RawConn::connect(gw.addr).await;
        let mut bytes = h2_request(&[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/ok/x"),
            (":authority", "gw"),
            ("te", HEADER),
        ]);
        bytes.extend_from_slice(&h2_goaway(EMAIL.as_bytes()));
        c.send(&bytes).await.expect("send");
        let _ = c.read_until_close(Duration::from_secs(2)).await;
        gw.signal("TERM");
        let (status, log) = gw.wait_exit(Duration::from_secs(40)).await;
        assert!(status.success());
        assert_absent(log.as_bytes(), ALL);
        drop(dir);
    })
    .await;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
