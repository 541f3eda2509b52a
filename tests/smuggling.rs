//! HTTP/1.1 framing and request smuggling over raw sockets (RFC 9112 §6).
//!
//! Each case writes exact bytes to the gateway and reads exact bytes back, against two routes
//! that share one recording upstream: `/policed` (JSON rules: the body is collected, policed
//! and re-sent with a computed `Content-Length`) and `/pass` (no rules: the body is streamed
//! through and re-framed by the upstream client). For every case and route:
//! - the client gets exactly the responses the case expects, and the connection is closed
//!   where RFC 9112 requires it;
//! - the upstream sees exactly one well-framed request per accepted request (counted by its
//!   own HTTP parser), never a request the client tried to smuggle (the marker `SMUGGLED` is
//!   searched for in every byte the upstream read);
//! - a follow-up request on a kept-alive connection is served normally.
//!
//! docs/PROOF.md records hyper's behaviour for each case.

use std::time::Duration;

use crate::support::{Ended, RawConn, Reply, Stack, TestGateway, Upstream, bounded};

/// What the gateway must do with a case.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// hyper refuses the request head: this status, the connection closed, nothing forwarded.
    Refused(u16),
    /// Forwarded once with exactly this body; the connection stays usable.
    Forwarded(&'static str),
    /// The gateway refuses the request with this status and JSON error code; nothing is
    /// forwarded and the connection stays usable.
    Rejected(u16, &'static str),
    /// Forwarded once with exactly this body, then the connection is closed (RFC 9112 §6.3:
    /// a server that accepts Content-Length together with Transfer-Encoding MUST close).
    ForwardedThenClosed(&'static str),
    /// The head is valid but the body framing is broken: an explicit error, the connection
    /// closed, and the upstream never sees a complete request (the policed route forwards
    /// nothing at all).
    BodyRejected,
}

/// (name, request with `{p}` for the route prefix, expectation). Every request is a `POST` to
/// `{p}/a`; where bytes follow it, they try to smuggle `GET {p}/SMUGGLED`.
const CASES: &[(&str, &str, Expect)] = &[
    // Baseline: a plain request with a sized body; keep-alive works.
    (
        "content_length",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Forwarded("{\"a\":1}"),
    ),
    // Baseline: chunked.
    (
        "chunked",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        Expect::Forwarded("{\"a\":1}"),
    ),
    // CL.TE: the front end would use CL (6) and leave `0\r\n\r\nGET …` for the next request;
    // hyper uses TE, drops CL and closes after answering, so the trailing request never runs.
    (
        "cl_then_te",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\nGET {p}/SMUGGLED HTTP/1.1\r\nHost: gw\r\n\r\n",
        Expect::ForwardedThenClosed("{\"a\":1}"),
    ),
    // TE.CL: header order reversed, CL longer than the chunked body.
    (
        "te_then_cl",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\nGET {p}/SMUGGLED HTTP/1.1\r\nHost: gw\r\n\r\n",
        Expect::ForwardedThenClosed("{\"a\":1}"),
    ),
    // TE.TE: chunked is not the final coding (RFC 9112 §6.3 item 4: 400 and close).
    (
        "te_chunked_identity",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    // An obfuscated coding name is not chunked.
    (
        "te_xchunked",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: xchunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Refused(400),
    ),
    (
        "te_chunked_suffix",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunkedx\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Refused(400),
    ),
    // Two TE lines, the last not chunked.
    (
        "te_two_lines_identity_last",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Refused(400),
    ),
    // Leading whitespace in the value is OWS (RFC 9110 §5.5): still chunked, one request.
    (
        "te_leading_space",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding:  chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Forwarded("{\"a\":1}"),
    ),
    (
        "te_tab",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding:\tchunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Forwarded("{\"a\":1}"),
    ),
    (
        "te_upper_case",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: CHUNKED\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Forwarded("{\"a\":1}"),
    ),
    // A transfer coding before chunked: hyper removes only the chunked framing and neither
    // decodes gzip nor refuses it; the service refuses it (RFC 9112 §6.1: 501) on every
    // route, so coded bytes are never policed as if plain nor streamed upstream.
    (
        "te_gzip_chunked",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Rejected(501, "unsupported_transfer_coding"),
    ),
    // Whitespace between the field name and the colon is forbidden (RFC 9112 §5.1: 400).
    (
        "te_space_before_colon",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding : chunked\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    // TE in HTTP/1.0 (RFC 9112 §6.1: treat as faulty framing).
    (
        "te_http10",
        "POST {p}/a HTTP/1.0\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Refused(400),
    ),
    // Duplicate Content-Length lines with one value are tolerated (RFC 9110 §8.6 allows it).
    (
        "cl_duplicate_same",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Forwarded("{\"a\":1}"),
    ),
    (
        "cl_duplicate_conflict",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\nContent-Length: 40\r\n\r\n{\"a\":1}GET {p}/SMUGGLED HTTP/1.1\r\n\r\n",
        Expect::Refused(400),
    ),
    // A list in one line: refused even when the values agree (stricter than RFC 9110 §8.6).
    (
        "cl_list_same",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 7, 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "cl_list_conflict",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 7, 40\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "cl_plus",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: +7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "cl_negative",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: -7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "cl_hex",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 0x7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "cl_inner_space",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 1 0\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "cl_overflow",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 184467440737095516160\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "cl_empty",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: \r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    // Leading zeros are DIGITs (RFC 9110 §8.6): seven bytes.
    (
        "cl_leading_zeros",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 0007\r\n\r\n{\"a\":1}",
        Expect::Forwarded("{\"a\":1}"),
    ),
    // obs-fold (RFC 9112 §5.2: a server MUST reject or replace with SP; hyper rejects).
    (
        "obs_fold",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nX-Note: a\r\n b\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "obs_fold_te",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: identity\r\n chunked\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    // Bare LF line endings in the head (RFC 9112 §2.2: a recipient MAY accept them): one
    // request, re-sent upstream with CRLF.
    (
        "bare_lf",
        "POST {p}/a HTTP/1.1\nHost: gw\nContent-Length: 7\n\n{\"a\":1}",
        Expect::Forwarded("{\"a\":1}"),
    ),
    // A bare CR is never a line ending (RFC 9112 §2.2).
    (
        "bare_cr",
        "POST {p}/a HTTP/1.1\r\nHost: gw\rContent-Length: 40\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "nul_in_header",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nX-Note: a\0b\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "header_without_colon",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    (
        "double_space_request_line",
        "POST  {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Refused(400),
    ),
    // Two Host lines, or none in HTTP/1.1: RFC 9112 §3.2 says 400. hyper does not check; the
    // service does, before routing (the upstream's Host always comes from the route).
    (
        "host_duplicate",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nHost: evil.example\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Rejected(400, "bad_request"),
    ),
    (
        "host_missing",
        "POST {p}/a HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::Rejected(400, "bad_request"),
    ),
    // HTTP/1.0 predates Host: a request without one is routed by path.
    (
        "host_missing_http10",
        "POST {p}/a HTTP/1.0\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        Expect::ForwardedThenClosed("{\"a\":1}"),
    ),
    // Chunk-size overflow (17 hex digits > u64).
    (
        "chunk_size_overflow",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::BodyRejected,
    ),
    (
        "chunk_size_not_hex",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n0x7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::BodyRejected,
    ),
    (
        "chunk_size_negative",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n-7\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::BodyRejected,
    ),
    // The chunk-size line must end in CRLF.
    (
        "chunk_size_bare_lf",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n7\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::BodyRejected,
    ),
    // A chunk longer than its size: the bytes after it are not a chunk-size line.
    (
        "chunk_data_overrun",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::BodyRejected,
    ),
    // An extension with a bare LF in it.
    (
        "chunk_ext_newline",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n7;a=b\nc\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::BodyRejected,
    ),
    // Valid extensions are ignored.
    (
        "chunk_ext_valid",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n7;name=\"v\";x\r\n{\"a\":1}\r\n0\r\n\r\n",
        Expect::Forwarded("{\"a\":1}"),
    ),
    // Pipelining after a bad request: the answer is 400 and the connection closes; the request
    // written behind the bad one is never read.
    (
        "pipelining_after_bad_request",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: +7\r\n\r\nGET {p}/SMUGGLED HTTP/1.1\r\nHost: gw\r\n\r\n",
        Expect::Refused(400),
    ),
    (
        "pipelining_after_bad_te",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET {p}/SMUGGLED HTTP/1.1\r\nHost: gw\r\n\r\n",
        Expect::Refused(400),
    ),
    (
        "pipelining_after_bad_chunk",
        "POST {p}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n\r\nGET {p}/SMUGGLED HTTP/1.1\r\nHost: gw\r\n\r\n",
        Expect::BodyRejected,
    ),
];

const ROUTES: &str = r#"
[limits]
request_timeout_ms = 1000
upstream_timeout_ms = 2000

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

const FOLLOW_UP: &str =
    "POST {p}/next HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"b\":2}";

fn complete_requests(up: &Upstream) -> Vec<crate::support::Recorded> {
    up.requests().into_iter().filter(|r| r.complete).collect()
}

async fn run_case(
    gw: &TestGateway,
    up: &Upstream,
    name: &str,
    template: &str,
    expect: Expect,
    prefix: &str,
) {
    let ctx = format!("{name} on {prefix}");
    let before = complete_requests(up).len();
    let request = template.replace("{p}", prefix);
    let mut c = RawConn::connect(gw.addr).await;
    let _ = c.send(request.as_bytes()).await;
    let first = c
        .response(Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("{ctx}: no answer at all"));
    let forwarded = match expect {
        Expect::Refused(status) => {
            assert_eq!(first.status, status, "{ctx}: {first:#?}");
            0
        }
        Expect::Rejected(status, code) => {
            assert_eq!(
                (first.status, first.error_code().as_str()),
                (status, code),
                "{ctx}: {first:#?}"
            );
            0
        }
        Expect::Forwarded(body) | Expect::ForwardedThenClosed(body) => {
            assert_eq!(first.status, 200, "{ctx}: {first:#?}");
            let seen = complete_requests(up);
            assert_eq!(seen.len(), before + 1, "{ctx}: forwarded exactly once");
            let r = &seen[before];
            assert_eq!(r.uri, "/a", "{ctx}");
            assert_eq!(
                r.authority,
                up.addr.to_string(),
                "{ctx}: the upstream Host is the route's"
            );
            assert_eq!(&r.body[..], body.as_bytes(), "{ctx}: the body, exactly");
            assert!(
                r.headers.get("transfer-encoding").is_none()
                    || r.headers.get("content-length").is_none(),
                "{ctx}: never both framings upstream: {:?}",
                r.headers
            );
            1
        }
        Expect::BodyRejected => {
            // Blamed on the client on both routes: a streamed body that breaks is not an
            // upstream failure (it used to be reported as 502 upstream_failed).
            assert_eq!(
                (first.status, first.error_code().as_str()),
                (400, "malformed_body"),
                "{ctx}: {first:#?}"
            );
            0
        }
    };
    match expect {
        Expect::Forwarded(_) | Expect::Rejected(..) => {
            // The connection is still in sync: the next request is served on it.
            c.send(FOLLOW_UP.replace("{p}", prefix).as_bytes())
                .await
                .unwrap_or_else(|e| panic!("{ctx}: follow-up not accepted: {e}"));
            let next = c
                .response(Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("{ctx}: no answer to the follow-up"));
            assert_eq!(next.status, 200, "{ctx}: follow-up {next:#?}");
            let seen = complete_requests(up);
            assert_eq!(
                seen.len(),
                before + forwarded + 1,
                "{ctx}: follow-up forwarded once"
            );
            assert_eq!(seen[before + forwarded].uri, "/next");
        }
        Expect::Refused(_) | Expect::ForwardedThenClosed(_) | Expect::BodyRejected => {
            let ended = c.read_until_close(Duration::from_secs(3)).await;
            assert_ne!(ended, Ended::Open, "{ctx}: the connection must be closed");
            let extra = c.take_responses();
            assert!(extra.is_empty(), "{ctx}: no second answer: {extra:#?}");
            // Give a late upstream request (there must be none) a moment to show up.
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(
                complete_requests(up).len(),
                before + forwarded,
                "{ctx}: nothing else reached the upstream"
            );
        }
    }
}

#[tokio::test]
async fn framing_and_smuggling_cases() {
    bounded(120, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        for (name, template, expect) in CASES {
            for prefix in ["/policed", "/pass"] {
                run_case(&gw, &up, name, template, *expect, prefix).await;
            }
        }
        let raw = String::from_utf8_lossy(&up.raw_bytes()).into_owned();
        assert!(
            !raw.contains("SMUGGLED"),
            "a smuggled request reached the upstream:\n{raw}"
        );
        // The upstream's own parser saw only whole requests.
        assert!(up.requests().iter().all(|r| r.complete || r.uri == "/a"));
    })
    .await;
}

/// A request head inside a body is body data: forwarded as an opaque body on the pass route
/// (one request upstream, its body exactly the bytes sent), refused as JSON on the policed one.
#[tokio::test]
async fn request_smuggled_in_a_body_stays_a_body() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let inner = "GET /pass/INBODY HTTP/1.1\r\nHost: gw\r\n\r\n";
        for (prefix, status) in [("/pass", 200), ("/policed", 400)] {
            let req = format!(
                "POST {prefix}/a HTTP/1.1\r\nHost: gw\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{inner}",
                inner.len()
            );
            let (responses, _) = crate::support::exchange(gw.addr, req.as_bytes()).await;
            assert_eq!(responses.len(), 1, "{prefix}: {responses:#?}");
            assert_eq!(responses[0].status, status, "{prefix}");
        }
        let seen = up.requests();
        assert_eq!(seen.len(), 1, "one request upstream: {seen:#?}");
        assert_eq!(seen[0].uri, "/a");
        assert_eq!(&seen[0].body[..], inner.as_bytes());
    })
    .await;
}

/// Oversized chunk-size lines and extensions: hyper bounds both; nothing is buffered without
/// limit and nothing partial reaches the upstream as a complete request.
#[tokio::test]
async fn oversized_chunk_lines() {
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        for prefix in ["/policed", "/pass"] {
            // 20 KiB of extension: past hyper's 16 KiB budget for chunk extensions.
            let ext = format!(
                "POST {prefix}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n7;x={}\r\n{{\"a\":1}}\r\n0\r\n\r\n",
                "e".repeat(20 * 1024)
            );
            // 10 000 leading zeros: a valid size (7), hyper reads it digit by digit.
            let zeros = format!(
                "POST {prefix}/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}7\r\n{{\"a\":1}}\r\n0\r\n\r\n",
                "0".repeat(10_000)
            );
            let before = complete_requests(&up).len();
            let (r, ended) = crate::support::exchange(gw.addr, ext.as_bytes()).await;
            assert_eq!(r.len(), 1, "{prefix}: {r:#?}");
            assert!(r[0].status >= 400, "{prefix}: {:#?}", r[0]);
            assert_ne!(ended, Ended::Open);
            assert_eq!(complete_requests(&up).len(), before);
            let (r, _) = crate::support::exchange(gw.addr, zeros.as_bytes()).await;
            assert_eq!(r.len(), 1, "{prefix}: {r:#?}");
            assert_eq!(r[0].status, 200, "{prefix}: {:#?}", r[0]);
            let seen = complete_requests(&up);
            assert_eq!(seen.len(), before + 1);
            assert_eq!(&seen[before].body[..], b"{\"a\":1}");
        }
    })
    .await;
}

/// A body that really is gzip-coded under `Transfer-Encoding: gzip, chunked` would reach the
/// policed route still coded (hyper only removes the chunking): it is refused before policing
/// with 501 and nothing is forwarded.
#[tokio::test]
async fn gzip_transfer_coding_fails_closed() {
    use std::io::Write;
    bounded(30, async {
        let Stack { up, gw, .. } = Stack::start(Reply::Ok, ROUTES).await;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(br#"{"email":"te.canary@leak.example"}"#)
            .expect("gzip");
        let gz = e.finish().expect("gzip");
        let mut req = format!(
            "POST /policed/a HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
            gz.len()
        )
        .into_bytes();
        req.extend_from_slice(&gz);
        req.extend_from_slice(b"\r\n0\r\n\r\n");
        let (r, _) = crate::support::exchange(gw.addr, &req).await;
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!(
            (r[0].status, r[0].error_code().as_str()),
            (501, "unsupported_transfer_coding")
        );
        assert!(up.requests().is_empty() && up.raw_bytes().is_empty());
    })
    .await;
}
