//! The TLS listener, with rustls clients: TLS 1.3 only, no 0-RTT, ALPN,
//! and mTLS with `client_ca`. `scripts/tls-scan.sh` runs an external scanner (sslyze) against
//! the same kind of listener; its last results are in docs/PROOF.md.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Pki, Reply, TestGateway, Upstream, bounded, parse_responses};

fn config(pki: &Pki, up: std::net::SocketAddr, client_ca: Option<&Pki>) -> String {
    let ca = client_ca.map_or(String::new(), |c| {
        format!("client_ca = \"{}\"\n", c.path("ca.crt").display())
    });
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
[server.tls]
cert = "{cert}"
key = "{key}"
{ca}
[keys]
file = "keys.toml"

[[routes]]
name = "ok"
path_prefix = "/ok"
upstream = "http://{up}"

[[routes.rules]]
select = "$..email"
action = "tokenize"
"#,
        cert = pki.path("server.crt").display(),
        key = pki.path("server.key").display(),
    )
}

fn connector(cfg: rustls::ClientConfig) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("name")
}

/// The rustls error behind an I/O error from tokio-rustls, if any.
fn tls_error(e: &std::io::Error) -> Option<rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>().cloned()
}

/// Sends one HTTP/1.1 request over `stream` and returns the status, or the I/O error.
async fn get_status<S>(stream: &mut S) -> std::io::Result<u16>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .write_all(b"POST /ok/x HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 7\r\nconnection: close\r\n\r\n{\"a\":1}")
        .await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .map_err(|_| std::io::Error::other("timed out"))??;
    parse_responses(&out)
        .first()
        .map(|r| r.status)
        .ok_or_else(|| std::io::Error::other("no response"))
}

#[tokio::test]
async fn tls12_and_older_are_refused_with_protocol_version() {
    bounded(30, async {
        let pki = Pki::new();
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&pki, up.addr, None)).await;
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
        let err = connector(pki.client_config(&[&rustls::version::TLS12]))
            .connect(localhost(), tcp)
            .await
            .expect_err("a TLS 1.2-only client must not complete a handshake");
        assert_eq!(
            tls_error(&err),
            Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::ProtocolVersion
            )),
            "{err}"
        );
        // The same CA, TLS 1.3: accepted.
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
        let mut s = connector(pki.client_config(&[&rustls::version::TLS13]))
            .connect(localhost(), tcp)
            .await
            .expect("TLS 1.3 handshake");
        assert_eq!(
            s.get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        assert_eq!(get_status(&mut s).await.expect("answer"), 200);
        assert_eq!(up.requests().len(), 1);
    })
    .await;
}

/// Sessions resume (tickets are issued), but a resumed session never carries 0-RTT data: the
/// tickets allow no early data, so a client that wants to send it cannot, and the compiled
/// server config says so too.
#[tokio::test]
async fn resumption_works_without_early_data() {
    bounded(30, async {
        let pki = Pki::new();
        let up = Upstream::start(None, Reply::Ok).await;
        let cfg_text = config(&pki, up.addr, None);
        let gw = TestGateway::start(&cfg_text).await;
        let tls = gw
            .current
            .load()
            .config
            .server
            .tls
            .clone()
            .expect("tls configured");
        assert_eq!(tls.max_early_data_size, 0, "no 0-RTT");
        assert_eq!(
            tls.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );

        let mut client = pki.client_config(&[&rustls::version::TLS13]);
        client.enable_early_data = true;
        let connector = connector(client);
        for round in 0..2 {
            let tcp = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
            let mut s = connector
                .connect(localhost(), tcp)
                .await
                .expect("handshake");
            assert_eq!(get_status(&mut s).await.expect("answer"), 200);
            let conn = s.get_ref().1;
            assert!(!conn.is_early_data_accepted(), "round {round}: no 0-RTT");
            let kind = conn.handshake_kind();
            if round == 1 {
                assert_eq!(
                    kind,
                    Some(rustls::HandshakeKind::Resumed),
                    "the second connection resumes"
                );
            }
        }
        assert_eq!(up.requests().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn alpn_negotiates_h2_and_http11() {
    bounded(30, async {
        let pki = Pki::new();
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&pki, up.addr, None)).await;
        // (offered, expected protocol, why)
        type Case<'a> = (&'a [&'a [u8]], Option<&'a [u8]>, &'a str);
        let cases: [Case<'_>; 4] = [
            (&[b"h2", b"http/1.1"], Some(b"h2"), "h2 preferred"),
            (&[b"http/1.1"], Some(b"http/1.1"), "HTTP/1.1 only"),
            (&[], None, "no ALPN: HTTP/1.1 by sniffing"),
            (&[b"spdy/3"], None, "no overlap: refused"),
        ];
        for (offered, want, why) in cases {
            let mut cfg = pki.client_config(&[&rustls::version::TLS13]);
            cfg.alpn_protocols = offered.iter().map(|p| p.to_vec()).collect();
            let tcp = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
            let result = connector(cfg).connect(localhost(), tcp).await;
            match (result, want) {
                (Ok(s), Some(w)) => assert_eq!(s.get_ref().1.alpn_protocol(), Some(w), "{why}"),
                (Ok(mut s), None) if offered.is_empty() => {
                    assert_eq!(s.get_ref().1.alpn_protocol(), None, "{why}");
                    assert_eq!(get_status(&mut s).await.expect("answer"), 200, "{why}");
                }
                (Err(e), None) => assert_eq!(
                    tls_error(&e),
                    Some(rustls::Error::AlertReceived(
                        rustls::AlertDescription::NoApplicationProtocol
                    )),
                    "{why}: {e}"
                ),
                (r, _) => panic!("{why}: unexpected {:?}", r.map(|_| ())),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn mtls_requires_a_certificate_from_the_client_ca() {
    bounded(30, async {
        let pki = Pki::new();
        let foreign = Pki::new();
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&pki, up.addr, Some(&pki))).await;
        let roots = |p: &Pki| {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls::pki_types::CertificateDer::pem_slice_iter(p.ca_pem.as_bytes()) {
                roots.add(c.expect("ca")).expect("add");
            }
            roots
        };
        let builder = || {
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("versions")
            .with_root_certificates(roots(&pki))
        };

        // No certificate: TLS 1.3 finishes the client's side of the handshake, then the
        // server refuses with certificate_required; no request is ever served.
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
        let outcome = match connector(builder().with_no_client_auth())
            .connect(localhost(), tcp)
            .await
        {
            Err(e) => Err(e),
            Ok(mut s) => get_status(&mut s).await,
        };
        let err = outcome.expect_err("a client without a certificate is refused");
        assert_eq!(
            tls_error(&err),
            Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired
            )),
            "{err}"
        );

        // A certificate from another CA — one with the same name ("piigate test CA") but
        // another key, so the chain builds and the signature check fails: refused.
        let (chain, key) = foreign.client_identity("intruder");
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
        let outcome = match connector(builder().with_client_auth_cert(chain, key).expect("auth"))
            .connect(localhost(), tcp)
            .await
        {
            Err(e) => Err(e),
            Ok(mut s) => get_status(&mut s).await,
        };
        let err = outcome.expect_err("a certificate from another CA is refused");
        assert!(
            matches!(
                tls_error(&err),
                Some(rustls::Error::AlertReceived(
                    rustls::AlertDescription::DecryptError
                        | rustls::AlertDescription::UnknownCA
                        | rustls::AlertDescription::BadCertificate
                ))
            ),
            "{err}"
        );
        assert!(
            up.requests().is_empty(),
            "nothing served without a valid client"
        );

        // A certificate from the configured CA: served.
        let (chain, key) = pki.client_identity("app-1");
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.expect("tcp");
        let mut s = connector(builder().with_client_auth_cert(chain, key).expect("auth"))
            .connect(localhost(), tcp)
            .await
            .expect("mTLS handshake");
        assert_eq!(get_status(&mut s).await.expect("answer"), 200);
        assert_eq!(up.requests().len(), 1);
    })
    .await;
}

/// A TLS 1.3 session to the gateway, trusting the test CA.
async fn tls13_client(
    pki: &Pki,
    addr: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    connector(pki.client_config(&[&rustls::version::TLS13]))
        .connect(localhost(), tcp)
        .await
        .expect("handshake")
}

/// Sends `close_notify` after requests carrying `bodies`, then holds the gateway to answering
/// each with 200, closing with its own `close_notify`, and passing every body on whole and in
/// order.
async fn close_after_all_answered(
    mut s: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    up: &Upstream,
    bodies: &[String],
) {
    s.shutdown().await.expect("close_notify");
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .await
        .expect("the gateway ends the session with close_notify");
    let statuses: Vec<u16> = parse_responses(&out).iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200; bodies.len()]);
    let got: Vec<_> = up.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(got.len(), bodies.len());
    for (got, sent) in got.iter().zip(bodies) {
        assert_eq!(got.as_ref(), sent.as_bytes());
    }
}

/// Requests whose bodies span several TLS records, written back to back in one go, arrive at
/// the upstream whole and in order; the client's `close_notify` ends the connection cleanly
/// once both are answered, and the gateway closes with its own.
#[tokio::test]
async fn pipelined_requests_spanning_records_arrive_whole_and_close_cleanly() {
    bounded(30, async {
        let pki = Pki::new();
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&pki, up.addr, None)).await;
        let mut s = tls13_client(&pki, gw.addr).await;
        // 40 KB and 17 KB: three records and two, neither ending on a record boundary.
        let bodies = [
            format!("{{\"pad\":\"{}\"}}", "a".repeat(40_000)),
            format!("{{\"pad\":\"{}\"}}", "b".repeat(17_000)),
        ];
        let mut wire = Vec::new();
        for body in &bodies {
            wire.extend_from_slice(
                format!(
                    "POST /ok/x HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            wire.extend_from_slice(body.as_bytes());
        }
        s.write_all(&wire).await.expect("write");
        close_after_all_answered(s, &up, &bodies).await;
    })
    .await;
}

/// Many small records arriving in one read, then a large request straddling reads: each
/// record is processed where it lies and what is left of the read is moved only when the room
/// runs short, so the requests must come out whole and in order.
#[tokio::test]
async fn many_small_records_in_one_read_arrive_whole_and_in_order() {
    bounded(30, async {
        let pki = Pki::new();
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&pki, up.addr, None)).await;
        let mut s = tls13_client(&pki, gw.addr).await;
        let mut bodies: Vec<String> = (0..60).map(|i| format!("{{\"n\":{i}}}")).collect();
        bodies.push(format!("{{\"pad\":\"{}\"}}", "c".repeat(50_000)));
        for body in &bodies {
            let request = format!(
                "POST /ok/x HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            // One write each: one record (or three for the last), all sent before any answer.
            s.write_all(request.as_bytes()).await.expect("write");
        }
        close_after_all_answered(s, &up, &bodies).await;
    })
    .await;
}

/// Reads one complete answer from `s` (the request before it sent alone); its status.
async fn read_answer(s: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> u16 {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let [answer] = parse_responses(&out).as_slice()
            && answer.complete
        {
            return answer.status;
        }
        let got = s.read(&mut chunk).await.expect("read");
        assert!(got > 0, "the gateway closed before answering");
        out.extend_from_slice(&chunk[..got]);
    }
}

fn post(body: &str) -> String {
    format!(
        "POST /ok/x HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A request whose head and first bytes of body come in one short record, and the rest of the
/// body in a later write: the first record ends a write of the client's, so the gateway hands
/// it on without looking at the socket again, and must still wait for the rest and pass the
/// body on whole.
#[tokio::test]
async fn a_request_ended_by_a_later_write_is_waited_for_and_arrives_whole() {
    bounded(30, async {
        let pki = Pki::new();
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&pki, up.addr, None)).await;
        let mut s = tls13_client(&pki, gw.addr).await;
        let body = format!(
            "{{\"email\":\"a@b.example\",\"pad\":\"{}\"}}",
            "d".repeat(300)
        );
        let wire = post(&body);
        let split = wire.len() - 100;
        s.write_all(&wire.as_bytes()[..split]).await.expect("write");
        s.flush().await.expect("flush");
        // Let the first record reach the gateway and be handed on alone.
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.write_all(&wire.as_bytes()[split..]).await.expect("write");
        s.flush().await.expect("flush");
        assert_eq!(read_answer(&mut s).await, 200);
        // The next request on the same session, in one write.
        s.write_all(post(&body).as_bytes()).await.expect("write");
        assert_eq!(read_answer(&mut s).await, 200);
        let got: Vec<_> = up.requests().into_iter().map(|r| r.body).collect();
        assert_eq!(got.len(), 2);
        for b in &got {
            let text = String::from_utf8_lossy(b);
            assert!(!text.contains("a@b.example"), "the email was tokenized");
            assert!(text.contains(&"d".repeat(300)), "the body arrived whole");
        }
    })
    .await;
}

/// A client's `key_update` (asking for ours) sent in the same flight as a request: the
/// gateway reads both in one go, answers with its own `key_update` before the answer it
/// encrypts under the new key, and the session keeps serving in both directions.
#[tokio::test]
async fn a_key_update_in_the_same_flight_as_a_request_is_answered_and_the_session_serves_on() {
    bounded(30, async {
        let pki = Pki::new();
        let up = Upstream::start(None, Reply::Ok).await;
        let gw = TestGateway::start(&config(&pki, up.addr, None)).await;
        let mut s = tls13_client(&pki, gw.addr).await;
        let body = "{\"email\":\"a@b.example\"}";
        s.write_all(post(body).as_bytes()).await.expect("write");
        assert_eq!(read_answer(&mut s).await, 200);
        // Queued in the client's buffer and flushed together with the next request.
        s.get_mut().1.refresh_traffic_keys().expect("key update");
        s.write_all(post(body).as_bytes()).await.expect("write");
        s.flush().await.expect("flush");
        assert_eq!(read_answer(&mut s).await, 200);
        // Once more after the keys moved both ways.
        s.write_all(post(body).as_bytes()).await.expect("write");
        assert_eq!(read_answer(&mut s).await, 200);
        assert_eq!(up.requests().len(), 3);
        s.shutdown().await.expect("close_notify");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)
            .await
            .expect("the gateway ends the session with close_notify");
        assert!(rest.is_empty());
    })
    .await;
}
