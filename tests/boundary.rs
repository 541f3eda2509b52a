//! One reading of every request: what piigate polices is what the recipient's parser reads.
//!
//! Raw HTTP/1.1 bytes through the gateway to a recording upstream. A request with two
//! plausible readings is refused with a JSON error that names the rule and never a value,
//! counted per code, and nothing reaches the upstream; spellings that servers fold together
//! are policed; paths are normalised on every route. docs/BOUNDARY.md has the grammar; the
//! differential suite (`scripts/differential/`) runs the same shapes through real parsers.

use piigate::error::{Ambiguity, PathFault, RejectCode};

use crate::support::{Reply, Stack, bounded, exchange, metric, metrics_text};

const CANARY: &str = "canary7e1d";

const ROUTES: &str = r#"

[[routes]]
name = "policed"
path_prefix = "/policed"
upstream = "http://{up}/policed"

[[routes.rules]]
select = ["$..email", "form:email", "form:user_email", "query:email", "header:x-user-email"]
action = "redact"

[[routes]]
name = "query_only"
path_prefix = "/query_only"
upstream = "http://{up}/query_only"

[[routes.rules]]
select = ["query:email"]
action = "redact"

[[routes]]
name = "json_only"
path_prefix = "/json_only"
upstream = "http://{up}/json_only"

[[routes.rules]]
select = ["$.email", "$.user.email"]
action = "redact"

[[routes]]
name = "pass"
path_prefix = "/pass"
upstream = "http://{up}/pass"
"#;

fn post(path: &str, head: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: gw\r\n{head}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// (name, request bytes, status, code, rule) — each is read two ways by real servers.
fn refused_cases() -> Vec<(&'static str, Vec<u8>, u16, &'static str)> {
    let form = "content-type: application/x-www-form-urlencoded\r\n";
    let body = format!("email={CANARY}");
    vec![
        (
            "two_content_types",
            post(
                "/policed/x",
                "content-type: application/json\r\ncontent-type: application/x-www-form-urlencoded\r\n",
                &format!("{{\"a\":\"&email={CANARY}\"}}"),
            ),
            400,
            "content_type_repeated",
        ),
        (
            "listed_content_types",
            post(
                "/policed/x",
                "content-type: application/json, application/x-www-form-urlencoded\r\n",
                &body,
            ),
            400,
            "content_type_repeated",
        ),
        (
            "rfc2231_charset",
            post(
                "/policed/x",
                "content-type: application/x-www-form-urlencoded; charset*=utf-8''utf-7\r\n",
                &body,
            ),
            400,
            "content_type_parameter",
        ),
        (
            "two_content_encodings",
            post(
                "/policed/x",
                &format!("{form}content-encoding: identity\r\ncontent-encoding: identity\r\n"),
                &body,
            ),
            400,
            "content_encoding_repeated",
        ),
        (
            "semicolon_separator",
            post("/policed/x", form, &format!("a=1;email={CANARY}")),
            400,
            "field_separator",
        ),
        (
            "padded_name",
            post("/policed/x", form, &format!("+email={CANARY}")),
            400,
            "field_name",
        ),
        (
            "leading_bracket_name",
            post("/policed/x", form, &format!("[email]={CANARY}")),
            400,
            "field_name",
        ),
        (
            "double_encoded_name",
            post("/policed/x", form, &format!("%2565mail={CANARY}")),
            400,
            "field_name",
        ),
        (
            "semicolon_in_query",
            format!("GET /policed/x?a=1;email={CANARY} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
                .into_bytes(),
            400,
            "field_separator",
        ),
        (
            "json_labelled_as_form",
            post("/policed/x", form, &format!("{{\"email\":\"{CANARY}\"}}")),
            400,
            "body_type_mismatch",
        ),
        (
            "header_in_two_spellings",
            post(
                "/policed/x",
                &format!("x-user-email: a\r\nx_user_email: {CANARY}\r\n{form}"),
                "a=1",
            ),
            400,
            "header_spelling",
        ),
        (
            "content_type_with_underscore",
            post(
                "/policed/x",
                "content-type: application/json\r\ncontent_type: application/x-www-form-urlencoded\r\n",
                &format!("{{\"x\":\"&email={CANARY}\"}}"),
            ),
            400,
            "header_spelling",
        ),
        (
            "authority_and_host_disagree",
            format!(
                "GET http://other/policed/x?email={CANARY} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n"
            )
            .into_bytes(),
            400,
            "authority_mismatch",
        ),
        (
            "encoded_dot_segment_on_a_pass_route",
            format!("GET /pass/%2e%2e/policed/x?email={CANARY} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
                .into_bytes(),
            400,
            "path_encoded_dot_segment",
        ),
        (
            "encoded_slash",
            format!("GET /pass/..%2fpoliced/x?email={CANARY} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
                .into_bytes(),
            400,
            "path_encoded_separator",
        ),
        (
            "path_parameter",
            format!("GET /pass/..;/policed/x?email={CANARY} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
                .into_bytes(),
            400,
            "path_semicolon",
        ),
        (
            "climbing_out_and_back_in",
            format!("GET /policed/../policed/x?email={CANARY} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
                .into_bytes(),
            400,
            "path_climbs_out",
        ),
        (
            // 30 000 bytes as sent, 90 000 once `{` is percent-encoded: no upstream target.
            "normalised_path_too_long",
            format!(
                "GET /pass/{} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n",
                "{".repeat(30_000)
            )
            .into_bytes(),
            400,
            "path_too_long",
        ),
    ]
}

#[tokio::test]
async fn ambiguous_requests_are_refused_naming_the_rule() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        for (name, bytes, status, rule) in refused_cases() {
            let (responses, _) = exchange(gw.addr, &bytes).await;
            let r = responses
                .first()
                .unwrap_or_else(|| panic!("{name}: no response"));
            assert_eq!(r.status, status, "{name}");
            let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON error");
            let code = body["error"]["code"].as_str().unwrap_or_default();
            assert!(
                code == "ambiguous_request" || code == "bad_path",
                "{name}: {code}"
            );
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("nothing was forwarded"),
                "{name}: {message}"
            );
            assert!(!String::from_utf8_lossy(&r.body).contains(CANARY), "{name}");
            let expected = RejectCode::ALL
                .iter()
                .find(|c| c.as_str() == code)
                .map(|c| c.as_str());
            assert_eq!(expected, Some(code), "{name}: a stable code");
            let named = Ambiguity::ALL
                .iter()
                .map(|a| RejectCode::AmbiguousRequest(*a))
                .chain(PathFault::ALL.iter().map(|p| RejectCode::BadPath(*p)))
                .find(|c| c.rule() == Some(rule))
                .unwrap_or_else(|| panic!("{name}: rule {rule} exists"));
            assert_eq!(message, named.message(), "{name}: the message names {rule}");
        }
        assert!(up.requests().is_empty(), "nothing was forwarded");
        assert!(!String::from_utf8_lossy(&up.raw_bytes()).contains(CANARY));
        let text = metrics_text(&gw);
        let counted = metric(
            &text,
            r#"piigate_rejections_total{route="policed",code="ambiguous_request"}"#,
        ) + metric(
            &text,
            r#"piigate_rejections_total{route="policed",code="bad_path"}"#,
        ) + metric(
            &text,
            r#"piigate_rejections_total{route="pass",code="bad_path"}"#,
        ) + metric(
            &text,
            r#"piigate_rejections_total{route="-",code="ambiguous_request"}"#,
        ) + metric(
            &text,
            r#"piigate_rejections_total{route="-",code="bad_path"}"#,
        );
        assert_eq!(
            counted as usize,
            refused_cases().len(),
            "every refusal is counted"
        );
    })
    .await;
}

#[test]
fn the_rule_is_named_in_the_message_not_a_value() {
    let a = RejectCode::AmbiguousRequest(Ambiguity::FieldSeparator);
    assert_eq!(a.as_str(), "ambiguous_request");
    assert_eq!(a.rule(), Some("field_separator"));
    assert!(a.message().contains("';'"));
    let p = RejectCode::BadPath(PathFault::EncodedSeparator);
    assert_eq!(p.as_str(), "bad_path");
    assert!(p.message().contains("%2F"));
}

#[tokio::test]
async fn folded_spellings_are_policed() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let form = "content-type: application/x-www-form-urlencoded\r\n";
        let cases = [
            post("/policed/x", form, &format!("EMAIL={CANARY}&plan=pro")),
            post("/policed/x", form, &format!("user.email={CANARY}&plan=pro")),
            post("/policed/x", form, &format!("e%6Dail={CANARY}&plan=pro")),
            post("/policed/x", form, &format!("email[]={CANARY}&plan=pro")),
            post("/policed/x", &format!("x_user_email: {CANARY}\r\n{form}"), "plan=pro"),
            post("/POLICED/x", form, &format!("email={CANARY}&plan=pro")),
            format!("GET /policed/a/../x?Email={CANARY}&plan=pro HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
                .into_bytes(),
        ];
        for bytes in &cases {
            let (responses, _) = exchange(gw.addr, bytes).await;
            assert_eq!(responses.first().map(|r| r.status), Some(200), "{}", String::from_utf8_lossy(bytes));
        }
        let seen = up.requests();
        assert_eq!(seen.len(), cases.len());
        for r in &seen {
            assert!(r.uri.starts_with("/policed/x"), "{}", r.uri);
            let all = format!("{} {:?} {}", r.uri, r.headers, String::from_utf8_lossy(&r.body));
            assert!(!all.contains(CANARY), "policed: {all}");
            assert!(all.contains("plan=pro"), "the rest arrives as sent: {all}");
        }
    })
    .await;
}

/// PHP's `$_REQUEST`, Flask's `values`, Rack's and Rails' `params`, Laravel's `input()` and
/// express's `req.param()` read a parameter from whichever source has it.
#[tokio::test]
async fn parameter_rules_police_every_source_a_framework_merges() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let form = "content-type: application/x-www-form-urlencoded\r\n";
        let json = "content-type: application/json\r\n";
        let get = |p: &str| {
            format!("GET {p} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n").into_bytes()
        };
        let policed = [
            // A `query:` rule on a form body and on a JSON body's top-level member.
            post("/query_only/x", form, &format!("Email={CANARY}&plan=pro")),
            post("/query_only/x", json, &format!(r#"{{"EMAIL":"{CANARY}","plan":"pro"}}"#)),
            post(
                "/query_only/x",
                "content-type: application/jsonl\r\n",
                &format!(r#"{{"email":"{CANARY}","plan":"pro"}}"#),
            ),
            // JSON selectors on query and form pairs read as nesting.
            get(&format!("/json_only/x?user[email]={CANARY}&plan=pro")),
            get(&format!("/json_only/x?EMAIL={CANARY}&plan=pro")),
            post("/json_only/x", form, &format!("user.email={CANARY}&plan=pro")),
            // A member name case-insensitive binders fold into the selected one.
            post("/json_only/x", json, &format!(r#"{{"User":{{"eMail":"{CANARY}"}},"plan":"pro"}}"#)),
        ];
        for bytes in &policed {
            let (responses, _) = exchange(gw.addr, bytes).await;
            assert_eq!(responses.first().map(|r| r.status), Some(200), "{}", String::from_utf8_lossy(bytes));
            let r = up.requests().pop().expect("forwarded");
            let all = format!("{} {}", r.uri, String::from_utf8_lossy(&r.body));
            assert!(!all.contains(CANARY), "policed: {all}");
            assert!(all.contains("plan=pro") || all.contains(r#""plan":"pro""#), "the rest as sent: {all}");
        }
        // Bodies that carry parameters piigate cannot read are refused on a `query:` route.
        for (head, body) in [
            ("content-type: multipart/form-data; boundary=b\r\n", format!("--b\r\ncontent-disposition: form-data; name=\"email\"\r\n\r\n{CANARY}\r\n--b--\r\n")),
            ("content-type: text/json\r\n", format!(r#"{{"email":"{CANARY}"}}"#)),
            ("content-type: application/x-www-form-urlencoded; charset=iso-8859-1\r\n", format!("email={CANARY}")),
        ] {
            let before = up.requests().len();
            let (responses, _) = exchange(gw.addr, &post("/query_only/x", head, &body)).await;
            assert_eq!(responses.first().map(|r| r.status), Some(415), "{head}");
            assert_eq!(up.requests().len(), before, "nothing forwarded: {head}");
        }
        // Other bodies stream through unread; an unlabelled one is labelled as unread bytes,
        // which no framework reads as a form (Rack and Rails read an unlabelled POST as one).
        for (head, label) in [
            ("content-type: text/plain\r\n", "text/plain"),
            ("content-type: application/octet-stream\r\n", "application/octet-stream"),
            ("", "application/octet-stream"),
        ] {
            let body = format!("email={CANARY}");
            let (responses, _) = exchange(gw.addr, &post("/query_only/x", head, &body)).await;
            assert_eq!(responses.first().map(|r| r.status), Some(200), "{head}");
            let r = up.requests().pop().expect("forwarded");
            assert_eq!(&r.body[..], body.as_bytes(), "{head}");
            assert_eq!(r.headers["content-type"], label, "{head}");
        }
    })
    .await;
}

/// Ruby's `GzipReader` and PHP's `gzdecode` stop after the first gzip member, Go, Python and
/// Node read them all; a zlib decoder ignores what follows its stream or fails on it; and a
/// recipient that ignores `Content-Encoding` reads a gzip comment or trailing bytes as form
/// pairs. A policed coded body is forwarded as piigate decoded it, encoded again.
#[tokio::test]
async fn coded_bodies_are_forwarded_as_decoded_and_encoded_again() {
    use std::io::{Read, Write};
    let gz = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).expect("gzip");
        e.finish().expect("gzip")
    };
    let zlib = |b: &[u8]| {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).expect("zlib");
        e.finish().expect("zlib")
    };
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let send = |coding: &str, body: Vec<u8>| {
            let mut bytes = format!(
                "POST /policed/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-encoding: {coding}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            bytes.extend_from_slice(&body);
            bytes
        };
        // Nothing selected in either member: forwarded unchanged in meaning, as one member.
        let mut two = gz(b"plan=pro&");
        two.extend(gz(b"keep=1"));
        // The second member holds the policed field: redacted, and still one member.
        let mut hidden = gz(b"plan=pro&");
        hidden.extend(gz(format!("email={CANARY}").as_bytes()));
        // A comment that reads as a pair to a recipient that does not decode.
        let mut commented = flate2::GzBuilder::new()
            .comment(format!("&email={CANARY}&").into_bytes())
            .write(Vec::new(), flate2::Compression::fast());
        commented.write_all(b"plan=pro").expect("gzip");
        let commented = commented.finish().expect("gzip");
        for (body, expected) in [
            (two, "plan=pro&keep=1"),
            (hidden, "plan=pro&email="),
            (commented, "plan=pro"),
        ] {
            let (responses, _) = exchange(gw.addr, &send("gzip", body)).await;
            assert_eq!(responses.first().map(|r| r.status), Some(200));
            let r = up.requests().pop().expect("forwarded");
            // A first-member-only decoder reads the whole policed body, and nothing follows.
            let mut first = flate2::bufread::GzDecoder::new(&r.body[..]);
            let mut text = String::new();
            first.read_to_string(&mut text).expect("one gzip member");
            assert!(first.into_inner().is_empty(), "one member only");
            assert!(text.starts_with(expected), "{text}");
            assert!(!text.contains(CANARY), "{text}");
            assert!(!String::from_utf8_lossy(&r.body).contains(CANARY), "raw bytes");
        }
        // Bytes after a zlib stream are dropped: the recipient reads what piigate read.
        let mut trailing = zlib(b"plan=pro");
        trailing.extend_from_slice(format!("&email={CANARY}").as_bytes());
        let (responses, _) = exchange(gw.addr, &send("deflate", trailing)).await;
        assert_eq!(responses.first().map(|r| r.status), Some(200));
        let r = up.requests().pop().expect("forwarded");
        let mut d = flate2::bufread::ZlibDecoder::new(&r.body[..]);
        let mut text = String::new();
        d.read_to_string(&mut text).expect("one zlib stream");
        assert!(d.into_inner().is_empty(), "nothing after the stream");
        assert_eq!(text, "plan=pro");
    })
    .await;
}

#[tokio::test]
async fn paths_are_normalised_on_every_route() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let get = |p: &str| {
            format!("GET {p} HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n").into_bytes()
        };
        for (sent, forwarded) in [
            ("/pass/a/./b/../c", "/pass/a/c"),
            ("/pass//a//b/", "/pass/a/b/"),
            ("/pass/%7euser/%41", "/pass/~user/A"),
            ("/pass/a%2b%3a", "/pass/a%2B%3A"),
            ("/pass/{x}", "/pass/%7Bx%7D"),
        ] {
            let (responses, _) = exchange(gw.addr, &get(sent)).await;
            assert_eq!(responses.first().map(|r| r.status), Some(200), "{sent}");
            let last = up.requests().pop().expect("forwarded");
            assert_eq!(last.uri, forwarded, "{sent}");
        }
    })
    .await;
}

#[tokio::test]
async fn unlabelled_policed_bodies_are_labelled_as_read() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        // Rack reads a POST without Content-Type as a form: `email` would arrive in clear.
        let (responses, _) = exchange(
            gw.addr,
            &post("/policed/x", "", &format!("{{\"x\":\"&email={CANARY}\"}}")),
        )
        .await;
        assert_eq!(responses.first().map(|r| r.status), Some(200));
        let seen = up.requests();
        let ct = seen[0]
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        assert_eq!(ct, Some("text/plain; charset=utf-8"));
    })
    .await;
}

#[tokio::test]
async fn a_client_that_half_closes_still_gets_its_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(30, async {
        let Stack { up: _up, gw, .. } =
            Stack::start(Reply::Delay(std::time::Duration::from_millis(200)), ROUTES).await;
        for bytes in [
            // Forwarded: the answer comes after the upstream's delay, long after the EOF.
            post(
                "/policed/x",
                "content-type: application/json\r\n",
                "{\"a\":1}",
            ),
            // Refused before any upstream is involved.
            post(
                "/policed/x",
                "content-type: application/json, text/plain\r\n",
                "{}",
            ),
        ] {
            let mut s = tokio::net::TcpStream::connect(gw.addr)
                .await
                .expect("connect");
            s.write_all(&bytes).await.expect("write");
            s.shutdown().await.expect("half-close");
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.expect("read");
            let text = String::from_utf8_lossy(&got);
            assert!(
                text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.1 400"),
                "an answer after the half-close: {text:?}"
            );
        }
    })
    .await;
}

/// A request body fed chunk by chunk by the test (an upload in progress).
struct Upload(tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl http_body::Body for Upload {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|c| c.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// Uploads `total` bytes in 16 KiB pieces `gap` apart over one HTTP/2 connection (`declared`:
/// with a `content-length`), and returns the status and body the client reads.
async fn h2_upload(
    send: &mut hyper::client::conn::http2::SendRequest<Upload>,
    path: &str,
    total: usize,
    declared: bool,
    gap: std::time::Duration,
) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut req =
        http::Request::post(format!("http://gw{path}")).header("content-type", "application/json");
    if declared {
        req = req.header("content-length", total);
    }
    let req = req.body(Upload(rx)).expect("request");
    let feeder = tokio::spawn(async move {
        let piece = bytes::Bytes::from(vec![b' '; 16 * 1024]);
        let mut sent = 0;
        while sent < total {
            let n = piece.len().min(total - sent);
            if tx.send(piece.slice(..n)).await.is_err() {
                return; // the stream was reset: stop uploading, as a client does
            }
            sent += n;
            tokio::time::sleep(gap).await;
        }
    });
    let resp = send
        .send_request(req)
        .await
        .expect("a response, not a stream error");
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("the whole error body")
        .to_bytes()
        .to_vec();
    feeder.abort();
    (status, body)
}

#[tokio::test]
async fn http2_uploads_over_the_limit_get_the_413_every_time() {
    bounded(60, async {
        let routes = ROUTES.replace(
            "upstream = \"http://",
            "max_body_bytes = 4096\nupstream = \"http://",
        );
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, &routes).await;
        // (route, bytes, declared length, gap between pieces)
        let cases = [
            (
                "/policed/x",
                1 << 20,
                true,
                std::time::Duration::from_millis(2),
            ),
            (
                "/policed/x",
                1 << 20,
                false,
                std::time::Duration::from_millis(2),
            ),
            (
                "/pass/x",
                1 << 20,
                true,
                std::time::Duration::from_millis(2),
            ),
            ("/policed/x", 256 << 10, true, std::time::Duration::ZERO),
            ("/policed/x", 256 << 10, false, std::time::Duration::ZERO),
        ];
        for (path, total, declared, gap) in cases {
            // Ten uploads on one connection, then ten on ten fresh connections.
            for fresh in [false, true] {
                let mut conn = None;
                for i in 0..10 {
                    if fresh || conn.is_none() {
                        let stream = tokio::net::TcpStream::connect(gw.addr)
                            .await
                            .expect("connect");
                        let (send, driver) = hyper::client::conn::http2::handshake(
                            hyper_util::rt::TokioExecutor::new(),
                            hyper_util::rt::TokioIo::new(stream),
                        )
                        .await
                        .expect("h2 handshake");
                        tokio::spawn(driver);
                        conn = Some(send);
                    }
                    let send = conn.as_mut().expect("connection");
                    let (status, body) = h2_upload(send, path, total, declared, gap).await;
                    let what = format!("{path} {total} declared={declared} fresh={fresh} #{i}");
                    assert_eq!(status, 413, "{what}");
                    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON error");
                    assert_eq!(v["error"]["code"], "body_too_large", "{what}");
                }
            }
        }
        assert!(
            up.requests()
                .iter()
                .all(|r| !r.complete || r.body.len() <= 4096),
            "no oversized body ever reached the upstream whole"
        );
    })
    .await;
}

/// A body streamed through (a route without rules) reaches the HTTP/1.1 upstream whole and in
/// order whether its DATA frames pile up at the gateway (and go upstream several to a write) or
/// trickle in one by one, with a declared length and chunked.
#[tokio::test]
async fn http2_bodies_streamed_through_arrive_whole_however_their_frames_arrive() {
    bounded(60, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let stream = tokio::net::TcpStream::connect(gw.addr)
            .await
            .expect("connect");
        let (mut send, driver) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .expect("h2 handshake");
        tokio::spawn(driver);
        // Pieces of different sizes and contents: one lost, repeated or reordered shows.
        let pieces: Vec<bytes::Bytes> = (0..24u8)
            .map(|i| {
                let len = [16 * 1024, 1, 5000, 40_000][usize::from(i % 4)];
                bytes::Bytes::from(vec![b'a' + i % 26; len])
            })
            .collect();
        let whole = pieces.concat();
        let cases = [
            (true, std::time::Duration::ZERO),
            (true, std::time::Duration::from_millis(2)),
            (false, std::time::Duration::ZERO),
            (false, std::time::Duration::from_millis(2)),
        ];
        for (declared, gap) in cases {
            let (tx, rx) = tokio::sync::mpsc::channel(pieces.len());
            let mut req = http::Request::post("http://gw/pass/x")
                .header("content-type", "application/octet-stream");
            if declared {
                req = req.header("content-length", whole.len());
            }
            let req = req.body(Upload(rx)).expect("request");
            let feed = pieces.clone();
            let feeder = tokio::spawn(async move {
                for piece in feed {
                    if tx.send(piece).await.is_err() {
                        return;
                    }
                    if !gap.is_zero() {
                        tokio::time::sleep(gap).await;
                    }
                }
            });
            let resp = send.send_request(req).await.expect("a response");
            assert_eq!(resp.status(), 200, "declared={declared} gap={gap:?}");
            feeder.await.expect("feeder");
        }
        let seen = up.requests();
        assert_eq!(seen.len(), cases.len());
        for (r, (declared, gap)) in seen.iter().zip(cases) {
            let what = format!("declared={declared} gap={gap:?}");
            assert!(r.complete, "{what}");
            assert_eq!(r.body.len(), whole.len(), "{what}");
            assert!(r.body == whole, "{what}: the bytes differ");
            let te = r
                .headers
                .get("transfer-encoding")
                .and_then(|v| v.to_str().ok());
            assert_eq!(te, (!declared).then_some("chunked"), "{what}");
        }
    })
    .await;
}

#[tokio::test]
async fn http1_uploads_over_the_limit_get_the_413_and_a_clean_close() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(60, async {
        let routes = ROUTES.replace(
            "upstream = \"http://",
            "max_body_bytes = 4096\nupstream = \"http://",
        );
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, &routes).await;
        for (path, chunked) in [("/policed/x", false), ("/pass/x", false), ("/policed/x", true)] {
            for i in 0..10 {
                let s = tokio::net::TcpStream::connect(gw.addr).await.expect("connect");
                let (mut rd, mut wr) = s.into_split();
                let total = 1 << 20;
                let head = if chunked {
                    format!("POST {path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                } else {
                    format!("POST {path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {total}\r\n\r\n")
                };
                // The client keeps uploading while the answer comes; its writes may fail once
                // the gateway has closed, as a real client's would.
                let writer = tokio::spawn(async move {
                    if wr.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let piece = vec![b' '; 16 * 1024];
                    for _ in 0..(total / piece.len()) {
                        let r = if chunked {
                            let mut c = format!("{:x}\r\n", piece.len()).into_bytes();
                            c.extend_from_slice(&piece);
                            c.extend_from_slice(b"\r\n");
                            wr.write_all(&c).await
                        } else {
                            wr.write_all(&piece).await
                        };
                        if r.is_err() {
                            return;
                        }
                    }
                });
                // A client busy uploading reads the answer late: by then the gateway has
                // closed, with the client's bytes still arriving.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let mut got = Vec::new();
                let read = rd.read_to_end(&mut got).await;
                writer.abort();
                let text = String::from_utf8_lossy(&got);
                let what = format!("{path} chunked={chunked} #{i}");
                assert!(text.starts_with("HTTP/1.1 413"), "{what}: {text:?} {read:?}");
                assert!(text.contains("\"body_too_large\""), "{what}: the JSON error arrives whole");
                assert!(read.is_ok(), "{what}: closed with a FIN, not a reset: {read:?}");
            }
        }
        assert!(up.requests().iter().all(|r| !r.complete || r.body.len() <= 4096));
    })
    .await;
}
