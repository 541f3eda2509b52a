//! Clients: HTTP/1.1 and HTTP/2 over TCP or TLS (`Client`), exact bytes on a raw socket
//! (`RawConn`, `exchange`) with a response parser, and hand-built HTTP/2 frames.

#![allow(dead_code)]

use super::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioExecutor;

/// Which protocol a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {:?}", self.body))
    }

    /// The `error.code` of a rejection body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A client for one gateway address.
pub struct Client {
    base: String,
    inner: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
}

impl Client {
    /// A client speaking `proto`, over TLS trusting `pki` when given.
    pub fn new(addr: SocketAddr, pki: Option<&Pki>, proto: Proto) -> Self {
        let tls = match pki {
            Some(p) => p.client_config(&[&rustls::version::TLS13]),
            None => rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        };
        let b = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = match proto {
            Proto::H1 => b.enable_http1().build(),
            Proto::H2 => b.enable_http2().build(),
        };
        let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
        if proto == Proto::H2 {
            builder.http2_only(true);
        }
        let scheme = if pki.is_some() { "https" } else { "http" };
        let host = if pki.is_some() {
            format!("localhost:{}", addr.port())
        } else {
            addr.to_string()
        };
        Self {
            base: format!("{scheme}://{host}"),
            inner: builder.build(connector),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Got {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        let resp = tokio::time::timeout(Duration::from_secs(20), self.inner.request(req))
            .await
            .expect("gateway answered in time")
            .expect("request sent");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Got {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    }

    pub async fn post_json(&self, path: &str, body: &str) -> Got {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_owned(),
        )
        .await
    }
}

/// One HTTP/1.1 response parsed from raw bytes.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// The status line and header lines, as received.
    pub head: String,
    pub body: Vec<u8>,
    /// Whether the body arrived whole (by Content-Length, chunked end, or EOF framing).
    pub complete: bool,
    /// Bytes this response occupied on the wire.
    pub wire_len: usize,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The `error.code` of a gateway rejection body ("" when there is none).
    pub fn error_code(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Parses every response in `bytes` (a whole connection's output, read to EOF). The last one
/// may be incomplete.
pub fn parse_responses(mut bytes: &[u8]) -> Vec<RawResponse> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let before = bytes.len();
        let Some(end) = find(bytes, b"\r\n\r\n") else {
            out.push(RawResponse {
                status: 0,
                head: String::from_utf8_lossy(bytes).into_owned(),
                body: Vec::new(),
                complete: false,
                wire_len: bytes.len(),
            });
            break;
        };
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut r = RawResponse {
            status,
            head,
            body: Vec::new(),
            complete: false,
            wire_len: 0,
        };
        let rest = &bytes[end + 4..];
        let chunked = r
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            let mut at = 0;
            loop {
                let Some(eol) = find(&rest[at..], b"\r\n") else {
                    bytes = &[];
                    break;
                };
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&rest[at..at + eol]).trim(), 16)
                        .unwrap_or(usize::MAX);
                let data = at + eol + 2;
                if size == usize::MAX || rest.len() < data + size + 2 {
                    r.body.extend_from_slice(&rest[data.min(rest.len())..]);
                    bytes = &[];
                    break;
                }
                r.body.extend_from_slice(&rest[data..data + size]);
                at = data + size + 2;
                if size == 0 {
                    r.complete = true;
                    bytes = &rest[at..];
                    break;
                }
            }
        } else if let Some(len) = r.header("content-length").and_then(|v| v.parse().ok()) {
            let len: usize = len;
            let take = len.min(rest.len());
            r.body = rest[..take].to_vec();
            r.complete = take == len;
            bytes = &rest[take..];
        } else {
            // No framing: the body runs to EOF.
            r.body = rest.to_vec();
            r.complete = true;
            bytes = &[];
        }
        r.wire_len = before - bytes.len();
        out.push(r);
    }
    out
}

/// A raw HTTP/1.1 client connection: exact bytes out, everything the server sends kept.
pub struct RawConn {
    pub stream: tokio::net::TcpStream,
    received: Vec<u8>,
}

/// How a raw read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The server closed (FIN).
    Closed,
    /// The server reset the connection.
    Reset,
    /// Still open when the wait ended.
    Open,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream =
            tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
                .await
                .expect("connect in time")
                .expect("connect");
        Self {
            stream,
            received: Vec::new(),
        }
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: tokio::net::TcpStream) -> Self {
        Self {
            stream,
            received: Vec::new(),
        }
    }

    /// Writes all of `bytes` (errors are returned: the server may have closed already).
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads until the server closes or `within` passes; returns how it ended.
    pub async fn read_until_close(&mut self, within: Duration) -> Ended {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + within;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Ended::Open,
                Ok(Ok(0)) => return Ended::Closed,
                Ok(Ok(n)) => self.received.extend_from_slice(&chunk[..n]),
                Ok(Err(_)) => return Ended::Reset,
            }
        }
    }

    /// Reads until one complete response has arrived (or the connection ends / `within`
    /// passes) and returns it, leaving later bytes buffered.
    pub async fn response(&mut self, within: Duration) -> Option<RawResponse> {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + within;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(first) = parse_responses(&self.received).into_iter().next()
                && first.complete
                && (first.header("content-length").is_some()
                    || first
                        .header("transfer-encoding")
                        .is_some_and(|v| v.eq_ignore_ascii_case("chunked")))
            {
                self.received.drain(..first.wire_len);
                return Some(first);
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.received.extend_from_slice(&chunk[..n]),
                _ => {
                    let first = parse_responses(&self.received).into_iter().next();
                    self.received.clear();
                    return first;
                }
            }
        }
    }

    /// Everything received and not yet returned by [`Self::response`].
    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// All responses received so far (consumes the buffer).
    pub fn take_responses(&mut self) -> Vec<RawResponse> {
        let r = parse_responses(&self.received);
        self.received.clear();
        r
    }
}

/// Sends `request` on a fresh connection, reads until the gateway closes (the request should
/// carry `connection: close`, or be one the gateway closes after), and returns every response.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> (Vec<RawResponse>, Ended) {
    let mut c = RawConn::connect(addr).await;
    let _ = c.send(request).await;
    let ended = c.read_until_close(Duration::from_secs(10)).await;
    (c.take_responses(), ended)
}

/// Runs a test body with a hard deadline: nothing may hang.
pub async fn bounded<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test finished within its deadline (nothing hangs)")
}

/// The HTTP/2 client preface, an empty SETTINGS frame, and one HEADERS frame (stream 1,
/// END_STREAM | END_HEADERS) with `fields` as HPACK literals without indexing.
pub fn h2_request(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0x00);
        for s in [name, value] {
            assert!(s.len() < 127);
            block.push(u8::try_from(s.len()).expect("short"));
            block.extend_from_slice(s.as_bytes());
        }
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let len = u32::try_from(block.len()).expect("len").to_be_bytes();
    out.extend_from_slice(&[len[1], len[2], len[3], 1, 0x05, 0, 0, 0, 1]);
    out.extend_from_slice(&block);
    out
}

/// A GOAWAY frame with `debug` as its opaque debug data.
pub fn h2_goaway(debug: &[u8]) -> Vec<u8> {
    let len = u32::try_from(8 + debug.len()).expect("len").to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], 7, 0, 0, 0, 0, 0];
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(debug);
    out
}

/// An HTTP/2 frame: 9-byte header (length, type, flags, stream id) and payload.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("len").to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// One HPACK literal header field without indexing (no Huffman), for hand-made frames.
pub fn hpack_literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00];
    for s in [name, value] {
        assert!(s.len() < 127);
        out.push(u8::try_from(s.len()).expect("short"));
        out.extend_from_slice(s.as_bytes());
    }
    out
}
