//! How the gateway reads an upstream's HTTP/1.1 answers, through real sockets against raw
//! upstreams that frame them well and badly.
//!
//! A response whose end can be read more than one way (RFC 9112 §6.3) is where request
//! smuggling and response splitting live: the gateway must refuse it with the upstream-error
//! answer, and must never put that connection back in its pool, or the next client's request
//! would meet bytes the upstream meant for another message. A well-framed answer, by
//! contrast, comes back whole and leaves its connection for the next request.

use std::net::SocketAddr;

use crate::support::{Reply, TestGateway, Upstream, bounded, exchange};

/// One route per upstream, each policing the body so the request goes through the policed
/// path; `reveal` routes also have response rules (the response is buffered first). One
/// worker: connections are pooled per worker, and a request that lands on another worker
/// would open a new connection whether or not the last one was kept.
fn config(routes: &[(&str, SocketAddr, bool)]) -> String {
    let mut c = String::from(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n[keys]\nfile = \"keys.toml\"\n[limits]\nupstream_timeout_ms = 2000\n",
    );
    for (name, addr, reveal) in routes {
        c.push_str(&format!(
            "\n[[routes]]\nname = \"{name}\"\npath_prefix = \"/{name}\"\nupstream = \"http://{addr}\"\n\n[[routes.rules]]\nselect = [\"$..email\"]\naction = \"tokenize\"\n"
        ));
        if *reveal {
            c.push_str(
                "\n[[routes.response_rules]]\nselect = \"$..secret\"\naction = \"reveal\"\n",
            );
        }
    }
    c
}

fn request(route: &str) -> Vec<u8> {
    let body = r#"{"email":"someone@example.com"}"#;
    format!(
        "POST /{route}/x HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Upstream answers that a strict reader must refuse.
const MALFORMED: &[(&str, &[u8])] = &[
    (
        "tecl",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\ncontent-length: 11\r\n\r\nb\r\n{\"ok\":true}\r\n0\r\n\r\n",
    ),
    (
        "twolengths",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
    ),
    (
        "lengthlist",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11, 11\r\n\r\n{\"ok\":true}",
    ),
    (
        "gzipchunked",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: gzip, chunked\r\n\r\nb\r\n{\"ok\":true}\r\n0\r\n\r\n",
    ),
    (
        "obsfold",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-folded: a\r\n b\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
    ),
    (
        "barelf",
        b"HTTP/1.1 200 OK\ncontent-type: application/json\ncontent-length: 11\n\n{\"ok\":true}",
    ),
    (
        "switching",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    ),
    (
        "chunksize",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n0xb\r\n{\"ok\":true}\r\n0\r\n\r\n",
    ),
    (
        "chunkext",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nb;x\x01y\r\n{\"ok\":true}\r\n0\r\n\r\n",
    ),
    (
        "chunkend",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nb\r\n{\"ok\":true}XX0\r\n\r\n",
    ),
    (
        "trailer",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nb\r\n{\"ok\":true}\r\n0\r\nnot a field\r\n\r\n",
    ),
    (
        "afterclose",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 11\r\n\r\n{\"ok\":true}HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    ),
    (
        "smuggled",
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    ),
];

#[tokio::test]
async fn ambiguous_or_malformed_upstream_framing_is_refused_and_its_connection_dropped() {
    bounded(60, async {
        let mut ups = Vec::new();
        for (name, bytes) in MALFORMED {
            ups.push((*name, Upstream::start(None, Reply::Framed(bytes)).await));
        }
        let mut routes = Vec::new();
        for (name, up) in &ups {
            routes.push((name.to_string(), up.addr, false));
            routes.push((format!("{name}buffered"), up.addr, true));
        }
        let routes: Vec<(&str, SocketAddr, bool)> = routes
            .iter()
            .map(|(n, a, r)| (n.as_str(), *a, *r))
            .collect();
        let gw = TestGateway::start(&config(&routes)).await;
        for (name, up) in &ups {
            let mut sent = 0;
            for route in [name.to_string(), format!("{name}buffered")] {
                // Twice: a connection kept after the first would carry the second.
                for _ in 0..2 {
                    let (responses, _) = exchange(gw.addr, &request(&route)).await;
                    sent += 1;
                    assert_eq!(responses.len(), 1, "{route}: {responses:#?}");
                    let r = &responses[0];
                    assert_eq!(
                        (r.status, r.error_code().as_str(), r.complete),
                        (502, "upstream_failed", true),
                        "{route}: {r:#?}"
                    );
                    assert_eq!(
                        r.header("content-type").as_deref(),
                        Some("application/json")
                    );
                }
            }
            assert_eq!(
                up.requests().len(),
                sent,
                "{name}: no retry of a sent request"
            );
            assert_eq!(
                up.connection_count(),
                sent,
                "{name}: every request on a new connection, none reused after the fault"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn well_framed_answers_come_back_whole_and_keep_their_connection() {
    bounded(60, async {
        let chunked = Upstream::start(
            None,
            Reply::Framed(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5;name=\"v\"\r\n{\"ok\"\r\n6\r\n:true}\r\n0\r\nx-trailer: 1\r\n\r\n",
            ),
        )
        .await;
        let interim = Upstream::start(
            None,
            Reply::Framed(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
            ),
        )
        .await;
        let closing = Upstream::start(
            None,
            Reply::Framed(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
            ),
        )
        .await;
        let old = Upstream::start(
            None,
            Reply::Framed(
                b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
            ),
        )
        .await;
        let head = Upstream::start(
            None,
            Reply::Framed(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n"),
        )
        .await;
        let gw = TestGateway::start(&config(&[
            ("chunked", chunked.addr, false),
            ("chunkedbuffered", chunked.addr, true),
            ("interim", interim.addr, false),
            ("closing", closing.addr, false),
            ("old", old.addr, false),
            ("head", head.addr, false),
        ]))
        .await;
        for route in ["chunked", "chunkedbuffered", "interim", "closing", "old"] {
            for _ in 0..2 {
                let (responses, _) = exchange(gw.addr, &request(route)).await;
                assert_eq!(responses.len(), 1, "{route}: {responses:#?}");
                let r = &responses[0];
                assert_eq!((r.status, r.complete), (200, true), "{route}: {r:#?}");
                assert_eq!(r.body, br#"{"ok":true}"#, "{route}");
            }
        }
        for _ in 0..2 {
            let (responses, _) = exchange(
                gw.addr,
                b"HEAD /head/x HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n",
            )
            .await;
            assert_eq!(responses.len(), 1, "{responses:#?}");
            assert_eq!(responses[0].status, 200);
            assert!(responses[0].body.is_empty(), "a response to HEAD has no body");
        }
        assert_eq!(
            chunked.connection_count(),
            2,
            "one per route (each route has its own pool), kept and reused"
        );
        assert_eq!(interim.connection_count(), 1, "kept and reused");
        assert_eq!(head.connection_count(), 1, "not waiting for a HEAD response's body");
        assert_eq!(closing.connection_count(), 2, "`connection: close` is honoured");
        assert_eq!(old.connection_count(), 2, "HTTP/1.0 connections are not reused");
    })
    .await;
}
