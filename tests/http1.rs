//! piigate's own HTTP/1.1 server, on real sockets: what hyper's server did for us and the
//! framing suites (smuggling, limits, boundary) do not exercise — pipelined requests answered
//! in order, `Expect: 100-continue`, refused heads answered with the JSON error, and HTTP/2
//! with prior knowledge on the same port.

use std::time::Duration;

use crate::support::{Ended, RawConn, Reply, Stack, bounded, exchange, metric, metrics_text};

const ROUTES: &str = r#"
[[routes]]
name = "policed"
path_prefix = "/policed"
upstream = "http://{up}"

[[routes.rules]]
select = "$..email"
action = "tokenize"

[[routes]]
name = "pass"
path_prefix = "/pass"
upstream = "http://{up}"
"#;

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        for prefix in ["/policed", "/pass"] {
            let before = up.requests().len();
            let mut c = RawConn::connect(gw.addr).await;
            // Three requests in one write: sized, chunked, and one without a body.
            let wire = format!(
                "POST {prefix}/one HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{{\"a\":1}}\
                 POST {prefix}/two HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{{\"b\":2}}\r\n0\r\n\r\n\
                 GET {prefix}/three HTTP/1.1\r\nHost: gw\r\n\r\n"
            );
            c.send(wire.as_bytes()).await.expect("send");
            for _ in 0..3 {
                let r = c.response(Duration::from_secs(5)).await.expect("an answer");
                assert_eq!(r.status, 200, "{prefix}: {r:#?}");
            }
            let seen: Vec<_> = up.requests()[before..].to_vec();
            let uris: Vec<&str> = seen.iter().map(|r| r.uri.as_str()).collect();
            assert_eq!(uris, ["/one", "/two", "/three"], "{prefix}");
            assert_eq!(&seen[0].body[..], b"{\"a\":1}");
            assert_eq!(&seen[1].body[..], b"{\"b\":2}");
            assert!(seen[2].body.is_empty());
            // Still open and in sync.
            c.send(format!("GET {prefix}/four HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n").as_bytes())
                .await
                .expect("send");
            let r = c.response(Duration::from_secs(5)).await.expect("an answer");
            assert_eq!(r.status, 200);
            assert_ne!(c.read_until_close(Duration::from_secs(3)).await, Ended::Open);
        }
    })
    .await;
}

#[tokio::test]
async fn a_client_that_expects_100_continue_gets_it_before_sending_its_body() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        for prefix in ["/policed", "/pass"] {
            let before = up.requests().len();
            let mut c = RawConn::connect(gw.addr).await;
            c.send(
                format!(
                    "POST {prefix}/a HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .expect("send");
            // The interim answer, and nothing else yet: the request is waiting for its body.
            assert_eq!(
                c.read_until_close(Duration::from_millis(500)).await,
                Ended::Open
            );
            assert_eq!(
                String::from_utf8_lossy(c.received()),
                "HTTP/1.1 100 Continue\r\n\r\n",
                "{prefix}"
            );
            let _ = c.take_responses();
            c.send(b"{\"a\":1}").await.expect("send the body");
            let r = c.response(Duration::from_secs(5)).await.expect("an answer");
            assert_eq!(r.status, 200, "{prefix}: {r:#?}");
            let seen = up.requests();
            assert_eq!(seen.len(), before + 1);
            assert_eq!(&seen[before].body[..], b"{\"a\":1}");
        }
        // Refused on its head: no 100, the answer, and the body is never waited for.
        let mut c = RawConn::connect(gw.addr).await;
        c.send(b"POST /nowhere HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n")
            .await
            .expect("send");
        let r = c.response(Duration::from_secs(5)).await.expect("an answer");
        assert_eq!((r.status, r.error_code().as_str()), (404, "no_route"));
        assert_ne!(c.read_until_close(Duration::from_secs(3)).await, Ended::Open);
    })
    .await;
}

#[tokio::test]
async fn a_request_reaches_the_upstream_with_its_fields_less_this_hop_s_on_every_route() {
    // `/pass` reads no field: a plain request's fields go upstream as the bytes they arrived
    // in; `/policed` reads them through a map. The upstream sees the same fields from both.
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let mut seen = Vec::new();
        for prefix in ["/pass", "/policed"] {
            let before = up.requests().len();
            let raw_before = up.raw_bytes().len();
            let req = format!(
                "POST {prefix}/a?q=1 HTTP/1.1\r\nHost: GW.example:8080\r\nContent-Type: application/json\r\nX-App:  kept as sent\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nTrailer: x-t\r\nX_Under: u\r\nContent-Length: 7\r\nx-app: again\r\n\r\n{{\"a\":1}}"
            );
            let (r, _) = exchange(gw.addr, req.as_bytes()).await;
            assert_eq!(r.len(), 1, "{prefix}: {r:#?}");
            assert_eq!(r[0].status, 200, "{prefix}: {r:#?}");
            let got = up.requests()[before].clone();
            assert_eq!(got.uri, "/a?q=1", "{prefix}");
            assert_eq!(&got.body[..], b"{\"a\":1}", "{prefix}");
            assert_eq!(got.authority, format!("{}", up.addr), "{prefix}");
            let mut fields: Vec<(String, String)> = got
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().expect("text").to_owned()))
                .collect();
            fields.sort();
            assert_eq!(
                fields,
                [
                    ("content-length", "7"),
                    ("content-type", "application/json"),
                    ("host", up.addr.to_string().as_str()),
                    ("x-app", "again"),
                    ("x-app", "kept as sent"),
                    ("x_under", "u"),
                ]
                .map(|(n, v)| (n.to_owned(), v.to_owned())),
                "{prefix}"
            );
            // One `Host` line on the wire, the upstream's.
            let raw = String::from_utf8_lossy(&up.raw_bytes()[raw_before..]).to_ascii_lowercase();
            assert_eq!(raw.matches("\r\nhost:").count(), 1, "{prefix}: {raw}");
            assert!(!raw.contains("gw.example"), "{prefix}: {raw}");
            seen.push(fields);
        }
        assert_eq!(seen[0], seen[1]);
    })
    .await;
}

/// Every route polices a body and reads no field by name: a plain request's fields stay the
/// bytes they arrived in on it.
const BODY_ONLY: &str = r#"
[[routes]]
name = "policed"
path_prefix = "/policed"
upstream = "http://{up}"

[[routes.rules]]
select = "$..email"
action = "tokenize"
"#;

#[tokio::test]
async fn a_policed_body_goes_upstream_with_its_own_length_and_the_fields_the_map_would_send() {
    // On a route that reads only the body's type, a plain request's fields go upstream as
    // they arrived; a field named with an underscore sends the same request through the map
    // (`check_spellings` reads it), as does a type not in its canonical spelling. Either way
    // the upstream gets the same fields, the policed body and that body's length.
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, BODY_ONLY).await;
        let body = r#"{"email":"alice@example.com","n":1}"#;
        for content_type in ["application/json", "Application/JSON;charset=utf-8"] {
            let mut seen = Vec::new();
            for extra in ["", "X_Under: u\r\n"] {
                let before = up.requests().len();
                let req = format!(
                    "POST /policed/a?q=1 HTTP/1.1\r\nHost: GW.example:8080\r\nContent-Type: {content_type}\r\nX-App:  kept as sent\r\nConnection: close\r\nTE: trailers\r\n{extra}Content-Length: {}\r\nx-app: again\r\n\r\n{body}",
                    body.len()
                );
                let (r, _) = exchange(gw.addr, req.as_bytes()).await;
                assert_eq!(r.len(), 1, "{content_type} {extra}: {r:#?}");
                assert_eq!(r[0].status, 200, "{content_type} {extra}: {r:#?}");
                let got = up.requests()[before].clone();
                assert_eq!(got.uri, "/a?q=1");
                let sent = std::str::from_utf8(&got.body).expect("text").to_owned();
                assert!(!sent.contains("alice"), "{sent}");
                assert_ne!(sent.len(), body.len(), "{sent}");
                let mut fields: Vec<(String, String)> = got
                    .headers
                    .iter()
                    .filter(|(n, _)| n.as_str() != "x_under")
                    .map(|(n, v)| (n.to_string(), v.to_str().expect("text").to_owned()))
                    .collect();
                fields.sort();
                let length = sent.len().to_string();
                let host = up.addr.to_string();
                // Forwarded in its canonical spelling.
                let canonical = content_type.to_ascii_lowercase().replace(';', "; ");
                assert_eq!(
                    fields,
                    [
                        ("content-length", length.as_str()),
                        ("content-type", canonical.as_str()),
                        ("host", host.as_str()),
                        ("x-app", "again"),
                        ("x-app", "kept as sent"),
                    ]
                    .map(|(n, v)| (n.to_owned(), v.to_owned())),
                    "{content_type} {extra}"
                );
                seen.push(fields);
            }
            assert_eq!(seen[0], seen[1], "{content_type}");
        }
    })
    .await;
}

#[tokio::test]
async fn refused_heads_are_answered_with_the_json_error_counted_and_closed() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
        let long = "a".repeat(70_000);
        let cases = [
            (
                "POST /pass/a HTTP/1.1\r\nHost: gw\r\nContent-Length: +7\r\n\r\n{\"a\":1}"
                    .to_owned(),
                400,
                "bad_request",
            ),
            (
                format!("GET /pass/a HTTP/1.1\r\nHost: gw\r\n{many}\r\n"),
                431,
                "header_too_large",
            ),
            (
                // Past the head limit before the target limit: a head too large.
                format!("GET /pass/{long} HTTP/1.1\r\nHost: gw\r\n\r\n"),
                431,
                "header_too_large",
            ),
        ];
        for (req, status, code) in &cases {
            let (r, ended) = exchange(gw.addr, req.as_bytes()).await;
            assert_eq!(r.len(), 1, "{r:#?}");
            assert_eq!((r[0].status, r[0].error_code().as_str()), (*status, *code));
            assert_eq!(
                r[0].header("content-type").as_deref(),
                Some("application/json")
            );
            assert_ne!(ended, Ended::Open);
        }
        assert!(up.requests().is_empty());
        // Refused before any route was chosen: counted under route `-`, one each.
        let text = metrics_text(&gw);
        for (_, status, code) in &cases {
            let series = format!(r#"piigate_rejections_total{{route="-",code="{code}"}}"#);
            let times = cases.iter().filter(|c| c.2 == *code).count();
            assert_eq!(metric(&text, &series), times as f64, "{series}");
            let class = format!(
                r#"piigate_requests_total{{route="-",class="{}xx"}}"#,
                status / 100
            );
            assert!(metric(&text, &class) >= 1.0, "{class}");
        }
    })
    .await;
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served_on_the_same_port() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let stream = tokio::net::TcpStream::connect(gw.addr)
            .await
            .expect("connect");
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .expect("h2 handshake");
        tokio::spawn(conn);
        let req = http::Request::post(format!("http://{}/pass/a", gw.addr))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                b"{\"a\":1}",
            )))
            .expect("request");
        let resp = send.send_request(req).await.expect("answer");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(&up.requests()[0].body[..], b"{\"a\":1}");
    })
    .await;
}
