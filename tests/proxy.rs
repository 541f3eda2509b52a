//! End to end through the real stack: client → TLS 1.3 → gateway → TLS → recording upstream.

use std::net::SocketAddr;

use http::Method;
use piigate::config::ProcessEnv;
use serde_json::Value;

use crate::support::{Client, Pki, Proto, Reply, TestGateway, Upstream, assert_absent};

/// A gateway config with TLS on the listener, routes to `up` (HTTPS, trusting the test CA).
fn config(pki: &Pki, up: SocketAddr, echo: SocketAddr, limits: &str) -> String {
    let ca = pki.path("ca.crt").display().to_string();
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
[server.tls]
cert = "{cert}"
key = "{key}"

[keys]
file = "keys.toml"

[limits]
{limits}

[[routes]]
name = "segment"
path_prefix = "/segment"
upstream = "https://localhost:{port}"
upstream_ca = "{ca}"

[[routes.rules]]
select = ["$.userId", "$.batch[*].userId"]
action = "tokenize"

[[routes.rules]]
select = ["$..traits.email", "$..properties.email"]
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = "$..traits.phone"
action = "encrypt"

[[routes.rules]]
select = "$..traits.name"
action = "redact"
replacement = "[REDACTED:name]"

[[routes.rules]]
select = "$.batch[*].context.ip"
action = "drop"

# Same policy, another recipient: another pseudonymisation domain.
[[routes]]
name = "segment-b"
path_prefix = "/segment-b"
upstream = "https://localhost:{port}"
upstream_ca = "{ca}"

[[routes.rules]]
select = ["$.userId", "$.batch[*].userId"]
action = "tokenize"

[[routes]]
name = "ga4"
path_prefix = "/ga4"
upstream = "https://localhost:{port}/base"
upstream_ca = "{ca}"

[[routes.rules]]
select = "$.user_id"
action = "tokenize"

[[routes.rules]]
select = "$.events[*].params.email"
action = "drop"

[[routes]]
name = "sendgrid"
path_prefix = "/sendgrid"
upstream = "https://localhost:{port}"
upstream_ca = "{ca}"

[[routes.rules]]
select = "$.personalizations[*].dynamic_template_data.phone"
action = "mask"
keep_last = 4

[[routes.rules]]
select = "$.personalizations[*].dynamic_template_data.date_of_birth"
action = "drop"

[[routes]]
name = "small"
path_prefix = "/small"
upstream = "https://localhost:{port}"
upstream_ca = "{ca}"
max_body_bytes = 256

[[routes.rules]]
select = "$..email"
action = "redact"

[[routes]]
name = "plain"
path_prefix = "/plain"
upstream = "https://localhost:{port}"
upstream_ca = "{ca}"

[[routes]]
name = "crm"
path_prefix = "/crm"
upstream = "http://{echo}"

[[routes.rules]]
select = "$..ssn"
action = "encrypt"

[[routes.response_rules]]
select = "$..ssn"
action = "reveal"

[[routes]]
name = "down"
path_prefix = "/down"
upstream = "http://127.0.0.1:1"

[[routes.rules]]
select = "$..email"
action = "redact"
"#,
        cert = pki.path("server.crt").display(),
        key = pki.path("server.key").display(),
        port = up.port(),
    )
}

struct Env {
    pki: Pki,
    up: Upstream,
    echo: Upstream,
    gw: TestGateway,
}

async fn env(limits: &str, reply: Reply) -> Env {
    let pki = Pki::new();
    let up = Upstream::start(Some(pki.server_config()), reply).await;
    let echo = Upstream::start(None, Reply::Echo).await;
    let gw = TestGateway::start(&config(&pki, up.addr, echo.addr, limits)).await;
    Env { pki, up, echo, gw }
}

const SEGMENT_BATCH: &str = r#"{"batch":[{"type":"identify","userId":"user-8812","traits":{"email":"Alice.Smith@Example.com","name":"Alice Smith","phone":"+1 415 555 0100","plan":"pro"},"context":{"ip":"203.0.113.9","library":{"name":"analytics-node","version":"6.2.0"}}},{"type":"track","userId":"user-8812","event":"Order Completed","properties":{"revenue":99.90,"email":"alice.smith@example.com","items":[1,2.5e3,-0]},"context":{"ip":"203.0.113.9"}}],"sentAt":"2026-11-22T00:00:00.000Z"}"#;

const SEGMENT_PII: &[&str] = &[
    "user-8812",
    "Alice.Smith@Example.com",
    "alice.smith@example.com",
    "Alice Smith",
    "+1 415 555 0100",
    "203.0.113.9",
];

/// Replaces every JSON string literal matching `pred` with `"#"`.
fn blank_strings(text: &str, pred: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let mut end = 0;
        let bytes = after.as_bytes();
        while bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let lit = &after[..end];
        if pred(lit) {
            out.push_str("\"#\"");
        } else {
            out.push('"');
            out.push_str(lit);
            out.push('"');
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn segment_batch_is_rewritten_over_tls_h1_and_h2() {
    let e = env("", Reply::Ok).await;
    for proto in [Proto::H1, Proto::H2] {
        let client = Client::new(e.gw.addr, Some(&e.pki), proto);
        let got = client.post_json("/segment/v1/batch", SEGMENT_BATCH).await;
        assert_eq!(got.status, 200, "{proto:?}: {:?}", got.body);
        assert_eq!(got.json(), serde_json::json!({"ok": true}));
    }
    let seen = e.up.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.uri, "/v1/batch", "prefix stripped");
        assert_absent(&r.body, SEGMENT_PII);
        assert_eq!(
            r.headers["content-length"].to_str().expect("ascii"),
            r.body.len().to_string()
        );
        let v: Value = serde_json::from_slice(&r.body).expect("upstream got valid JSON");
        let (a, b) = (&v["batch"][0], &v["batch"][1]);
        let tok = a["userId"].as_str().expect("token");
        assert!(
            tok.starts_with("tok_k2_") && tok.len() == "tok_k2_".len() + 22,
            "{tok}"
        );
        assert_eq!(a["userId"], b["userId"], "same subject, same token");
        assert_eq!(
            a["traits"]["email"], b["properties"]["email"],
            "email normalised before tokenizing"
        );
        assert!(
            a["traits"]["phone"]
                .as_str()
                .expect("envelope")
                .starts_with("pge1.k2.")
        );
        assert_eq!(a["traits"]["name"], "[REDACTED:name]");
        assert_eq!(
            a["context"],
            serde_json::json!({"library":{"name":"analytics-node","version":"6.2.0"}})
        );
        assert_eq!(b["context"], serde_json::json!({}));

        // Byte-faithful: blank the rewritten values on both sides; everything else is identical.
        let sent = String::from_utf8(r.body.to_vec()).expect("utf8");
        let replaced =
            |s: &str| s.starts_with("tok_") || s.starts_with("pge1.") || s.starts_with("[REDACTED");
        let original = |s: &str| SEGMENT_PII.contains(&s);
        let expected = SEGMENT_BATCH
            .replace(r#""ip":"203.0.113.9","#, "")
            .replace(r#""ip":"203.0.113.9""#, "");
        assert_eq!(
            blank_strings(&sent, replaced),
            blank_strings(&expected, original)
        );
    }
    let v0: Value = serde_json::from_slice(&seen[0].body).expect("json");
    let v1: Value = serde_json::from_slice(&seen[1].body).expect("json");
    assert_eq!(
        v0["batch"][0]["userId"], v1["batch"][0]["userId"],
        "tokens are stable across requests"
    );
    assert_ne!(
        v0["batch"][0]["traits"]["phone"], v1["batch"][0]["traits"]["phone"],
        "envelopes use fresh nonces"
    );

    // The owner can reveal what was encrypted, with the route's domain keys.
    let loaded = piigate::config::load(&e.gw.config_path(), &ProcessEnv).expect("config");
    let route = piigate::ops::route(&loaded.config, "segment").expect("route");
    let revealed = piigate::ops::reveal(
        &loaded.config,
        route,
        &piigate::ops::Payload::typed("application/json", &seen[0].body).expect("type"),
    )
    .expect("reveal");
    let rv: Value = serde_json::from_slice(&revealed).expect("json");
    assert_eq!(rv["batch"][0]["traits"]["phone"], "+1 415 555 0100");
}

#[tokio::test]
async fn tokens_differ_across_domains() {
    let e = env("", Reply::Ok).await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H1);
    let body = r#"{"userId":"user-8812","event":"x"}"#;
    assert_eq!(
        client.post_json("/segment/v1/track", body).await.status,
        200
    );
    assert_eq!(
        client.post_json("/segment-b/v1/track", body).await.status,
        200
    );
    let seen = e.up.requests();
    let t: Vec<Value> = seen
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).expect("json")["userId"].clone())
        .collect();
    assert_ne!(t[0], t[1], "two recipients must not share pseudonyms");
    for r in &seen {
        assert_absent(&r.body, &["user-8812"]);
    }
}

#[tokio::test]
async fn ga4_and_sendgrid_payloads() {
    let e = env("", Reply::Ok).await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H2);
    let ga4 = r#"{"client_id":"123.456","user_id":"u-77","events":[{"name":"sign_up","params":{"method":"email","email":"bob@example.org"}}]}"#;
    let got = client
        .post_json("/ga4/mp/collect?measurement_id=G-TEST&api_secret=s3", ga4)
        .await;
    assert_eq!(got.status, 200);
    let sg = r#"{"personalizations":[{"to":[{"email":"carol@example.net"}],"dynamic_template_data":{"first":"Carol","phone":"+44 20 7946 0958","date_of_birth":"1990-04-01"}}],"from":{"email":"shop@example.com"},"subject":"Your order"}"#;
    assert_eq!(
        client.post_json("/sendgrid/v3/mail/send", sg).await.status,
        200
    );
    let seen = e.up.requests();
    assert_eq!(
        seen[0].uri, "/base/mp/collect?measurement_id=G-TEST&api_secret=s3",
        "base path joined, query kept"
    );
    assert_absent(&seen[0].body, &["u-77", "bob@example.org"]);
    let v: Value = serde_json::from_slice(&seen[0].body).expect("json");
    assert_eq!(
        v["events"][0]["params"],
        serde_json::json!({"method":"email"})
    );
    assert_absent(&seen[1].body, &["+44 20 7946 0958", "1990-04-01"]);
    let v: Value = serde_json::from_slice(&seen[1].body).expect("json");
    assert_eq!(
        v["personalizations"][0]["dynamic_template_data"]["phone"],
        "+** ** **** 0958"
    );
    assert_eq!(
        v["personalizations"][0]["to"][0]["email"], "carol@example.net",
        "a processor keeps what it needs"
    );
}

#[tokio::test]
async fn forwarded_headers_are_clean() {
    let e = env("", Reply::Ok).await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H1);
    let got = client
        .send(
            Method::POST,
            "/plain/v1/x?a=1&b=two",
            &[
                ("content-type", "application/octet-stream"),
                ("connection", "x-hop"),
                ("x-hop", "secret"),
                ("x-app", "kept"),
            ],
            &b"\x00not json at all\xff"[..],
        )
        .await;
    assert_eq!(got.status, 200);
    let r = &e.up.requests()[0];
    assert_eq!(r.uri, "/v1/x?a=1&b=two");
    assert_eq!(
        &r.body[..],
        b"\x00not json at all\xff",
        "a route without rules forwards bytes untouched"
    );
    assert_eq!(r.authority, format!("localhost:{}", e.up.addr.port()));
    assert_eq!(
        r.version,
        http::Version::HTTP_2,
        "h2 negotiated with the upstream by ALPN"
    );
    assert!(
        r.headers.get("x-hop").is_none(),
        "headers named by Connection are hop-by-hop"
    );
    assert!(
        r.headers.get("x-forwarded-for").is_none(),
        "the client IP is never added"
    );
    assert_eq!(r.headers["x-app"], "kept");
}

#[tokio::test]
async fn rejections_forward_nothing() {
    let e = env("max_json_depth = 32", Reply::Ok).await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H1);
    let deep = format!(
        "{{\"email\":\"x@y.z\",\"a\":{}{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    // (path, headers, body, status, code)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("/nowhere", vec![], b"{}".to_vec(), 404, "no_route"),
        (
            "/segment/v1/batch",
            vec![("content-type", "application/json")],
            br#"{"userId":"user-8812","#.to_vec(),
            400,
            "malformed_body",
        ),
        (
            "/segment/v1/batch",
            vec![("content-type", "application/json")],
            b"\xef\xbb\xbf{}".to_vec(),
            400,
            "malformed_body",
        ),
        (
            "/small/x",
            vec![("content-type", "application/json")],
            format!(r#"{{"email":"{}"}}"#, "a".repeat(400)).into_bytes(),
            413,
            "body_too_large",
        ),
        (
            "/segment/v1/batch",
            vec![("content-type", "application/json")],
            deep.into_bytes(),
            400,
            "nesting_too_deep",
        ),
        (
            "/segment/v1/batch",
            vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-7",
            )],
            b"userId=user-8812".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/segment/v1/batch",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "compress"),
            ],
            b"\x1f\x9d".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/segment/v1/batch",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            b"\x1f\x8b\x08\x00".to_vec(),
            400,
            "malformed_body",
        ),
        (
            "/segment/v1/batch",
            vec![("content-type", "text/plain")],
            b"userId: user-8812".to_vec(),
            400,
            "malformed_body",
        ),
        (
            "/down/x",
            vec![("content-type", "application/json")],
            br#"{"email":"x@y.z"}"#.to_vec(),
            502,
            "upstream_unreachable",
        ),
    ];
    for (path, headers, body, status, code) in cases {
        let got = client.send(Method::POST, path, &headers, body).await;
        assert_eq!(got.status, status, "{path} {code}: {:?}", got.body);
        assert_eq!(got.error_code(), code);
        assert_eq!(got.headers["content-type"], "application/json");
        assert_absent(&got.body, &["user-8812", "x@y.z"]);
    }
    assert!(
        e.up.requests().is_empty(),
        "the upstream must not see a single rejected request"
    );
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let e = env("upstream_timeout_ms = 300", Reply::Stall).await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H1);
    let got = client
        .post_json("/segment/v1/track", r#"{"userId":"u1"}"#)
        .await;
    assert_eq!(got.status, 504);
    assert_eq!(got.error_code(), "upstream_timeout");
}

#[tokio::test]
async fn upstream_status_and_body_reach_the_client() {
    let e = env(
        "",
        Reply::Fixed(429, r#"{"code":"rate_limited","retry":3}"#),
    )
    .await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H2);
    let got = client
        .post_json("/segment/v1/track", r#"{"userId":"u1"}"#)
        .await;
    assert_eq!(got.status, 429);
    assert_eq!(&got.body[..], br#"{"code":"rate_limited","retry":3}"#);
}

#[tokio::test]
async fn response_rules_reveal_for_the_app() {
    let e = env("", Reply::Ok).await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H1);
    let got = client
        .post_json("/crm/contacts", r#"{"name":"Dan","ssn":"078-05-1120"}"#)
        .await;
    assert_eq!(got.status, 200);
    let echoed = e.echo.requests();
    assert_absent(&echoed[0].body, &["078-05-1120"]);
    assert_eq!(
        got.json(),
        serde_json::json!({"name":"Dan","ssn":"078-05-1120"}),
        "the app sees cleartext again"
    );
}

#[tokio::test]
async fn tls12_clients_are_refused() {
    let e = env("", Reply::Ok).await;
    let cfg = e.pki.client_config(&[&rustls::version::TLS12]);
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(e.gw.addr)
        .await
        .expect("tcp connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let result = connector.connect(name, tcp).await;
    assert!(
        result.is_err(),
        "a TLS 1.2-only client must not complete a handshake"
    );
    // And a TLS 1.3 client on the same listener works.
    let ok = Client::new(e.gw.addr, Some(&e.pki), Proto::H1)
        .post_json("/segment/v1/track", r#"{"userId":"u"}"#)
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn large_batches_over_h2_respect_flow_control() {
    let e = env("", Reply::Ok).await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H2);
    // ~3 MiB: far past HTTP/2's default 64 KiB window, in both directions.
    let events: Vec<String> = (0..12_000)
        .map(|i| {
            format!(
                r#"{{"type":"track","userId":"user-{i}","properties":{{"n":{i},"pad":"{}"}}}}"#,
                "x".repeat(200)
            )
        })
        .collect();
    let body = format!(r#"{{"batch":[{}]}}"#, events.join(","));
    assert!(body.len() > 3 << 20);
    let got = client.post_json("/segment/v1/batch", &body).await;
    assert_eq!(got.status, 200);
    let r = &e.up.requests()[0];
    assert_eq!(r.version, http::Version::HTTP_2);
    let v: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["batch"].as_array().map(Vec::len), Some(12_000));
    assert_absent(&r.body, &["user-0", "user-11999"]);
}

/// Each HTTP/2 answer on one connection carries its own request id (sent as a literal HPACK
/// never indexes, so the client's decoder must not find it in its table).
#[tokio::test]
async fn http2_answers_on_one_connection_carry_their_own_request_ids() {
    let e = env("", Reply::Ok).await;
    let client = Client::new(e.gw.addr, Some(&e.pki), Proto::H2);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let got = client
            .post_json("/segment/v1/track", r#"{"event":"x"}"#)
            .await;
        assert_eq!(got.status, 200);
        assert_eq!(got.version, http::Version::HTTP_2);
        let id = got
            .headers
            .get("x-piigate-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("a request id")
            .to_owned();
        assert_eq!(id.len(), 24, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        ids.push(id);
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
}

#[tokio::test]
async fn chunked_http1_bodies_and_keep_alive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::start(None, Reply::Ok).await;
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[keys]\nfile = \"keys.toml\"\n[[routes]]\nname = \"s\"\npath_prefix = \"/s\"\nupstream = \"http://{}\"\n[[routes.rules]]\nselect = \"$.userId\"\naction = \"tokenize\"\n",
        up.addr
    );
    let gw = TestGateway::start(&cfg).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    let chunked = "POST /s/v1/track HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n7\r\n{\"userI\r\n12\r\nd\":\"user-5150\",\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
    s.write_all(chunked.as_bytes()).await.expect("write");
    // Second request on the same connection: keep-alive.
    let second = "POST /s/v1/track HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\nconnection: close\r\n\r\n{\"userId\":\"user-51\"}";
    s.write_all(second.as_bytes()).await.expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.expect("read");
    assert_eq!(resp.matches("HTTP/1.1 200").count(), 2, "{resp}");
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    assert_absent(&seen[0].body, &["user-5150"]);
    assert_eq!(
        seen[0].headers["content-length"].to_str().expect("ascii"),
        seen[0].body.len().to_string()
    );
    assert!(seen[0].headers.get("transfer-encoding").is_none());
    assert_absent(&seen[1].body, &["user-51"]);
}

/// `[server] runtime = "per_core"`: one single-thread runtime per worker, each accepting on its
/// own `SO_REUSEPORT` socket. The kernel spreads new connections over the sockets by their
/// 4-tuple, so 24 fresh connections reach every one of the 3 workers (all landing on one has
/// probability 3⁻²³); a worker that did not serve would leave its connections hanging and the
/// client's timeout would fail the test.
#[tokio::test]
async fn per_core_runtime_serves_on_every_worker() {
    let up = Upstream::start(None, Reply::Ok).await;
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nruntime = \"per_core\"\nworkers = 3\n[keys]\nfile = \"keys.toml\"\n[[routes]]\nname = \"s\"\npath_prefix = \"/s\"\nupstream = \"http://{}\"\n[[routes.rules]]\nselect = \"$.userId\"\naction = \"tokenize\"\n",
        up.addr
    );
    let gw = TestGateway::start(&cfg).await;
    for i in 0..24 {
        // A new client per request: a new connection, so a new pick of socket.
        let c = Client::new(gw.addr, None, Proto::H1);
        let r = c
            .post_json("/s/v1/track", &format!(r#"{{"userId":"user-{i}"}}"#))
            .await;
        assert_eq!(r.status, 200, "request {i}");
    }
    let seen = up.requests();
    assert_eq!(seen.len(), 24);
    for (i, r) in seen.iter().enumerate() {
        assert_absent(&r.body, &[&format!("\"user-{i}\"")]);
    }
}

/// Shutting down a `per_core` gateway stops every worker: `run` returns, and no socket of the
/// reuseport group is left accepting.
#[tokio::test]
async fn per_core_shutdown_closes_every_worker_socket() {
    let (_dir, path) = crate::support::write_config(
        "[server]\nlisten = \"127.0.0.1:0\"\nruntime = \"per_core\"\nworkers = 4\n[keys]\nfile = \"keys.toml\"\n",
    );
    let loaded = piigate::config::load(&path, &ProcessEnv).expect("config loads");
    let gw = piigate::proxy::Gateway::bind(loaded.config, None)
        .await
        .expect("bind");
    let addr = gw.local_addr().expect("addr");
    let stop = gw.shutdown_handle();
    let run = tokio::spawn(gw.run(std::future::pending()));
    // Serving: a connection is accepted (by whichever worker the kernel picks).
    tokio::net::TcpStream::connect(addr)
        .await
        .expect("gateway accepts");
    stop.shutdown();
    tokio::time::timeout(std::time::Duration::from_secs(10), run)
        .await
        .expect("run returns after shutdown")
        .expect("run task")
        .expect("run ok");
    for _ in 0..16 {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "a worker socket still accepts after shutdown"
        );
    }
}
