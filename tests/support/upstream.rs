//! Recording upstreams: HTTP/1.1 and HTTP/2 servers (plain or TLS) that keep every request
//! they receive and answer as told, raw-socket variants for framing tests, slow bodies, and a
//! tap on a stream's bytes.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What the upstream saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Whether the body arrived whole (false: the sender broke the stream mid-body).
    pub complete: bool,
    pub method: Method,
    /// Path and query as received.
    pub uri: String,
    pub version: http::Version,
    /// `:authority` (HTTP/2) or the `Host` header (HTTP/1.1).
    pub authority: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// How the upstream answers.
#[derive(Clone)]
pub enum Reply {
    /// 200 with `{"ok":true}`.
    Ok,
    /// Echo the request body back with its content type.
    Echo,
    /// A fixed status and body.
    Fixed(u16, &'static str),
    /// 200 `{"ok":true}` with these `Set-Cookie` lines.
    SetCookies(&'static [&'static str]),
    /// Never answer.
    Stall,
    /// 200 `{"ok":true}` after this delay (keeps requests in flight).
    Delay(Duration),
    /// 200 with a JSON body sent in `pieces` parts, `gap` apart.
    SlowBody { pieces: usize, gap: Duration },
    /// Reads the request, promises `content-length: 1000`, sends a few bytes of it, then
    /// resets the connection (TCP RST).
    ResetMidResponse,
    /// Reads the request, then writes these bytes (not HTTP) and closes.
    Garbage(&'static [u8]),
    /// Reads the request, then closes without a byte of answer.
    CloseWithoutAnswer,
    /// Answers every request with these bytes (meant as one response, however malformed) and
    /// keeps the connection open for the next one.
    Framed(&'static [u8]),
}

impl Reply {
    /// Replies that bypass hyper and act on the raw socket.
    fn is_raw(&self) -> bool {
        matches!(
            self,
            Self::ResetMidResponse | Self::Garbage(_) | Self::CloseWithoutAnswer | Self::Framed(_)
        )
    }
}

/// A recording upstream server.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
    /// Every byte read from every connection (after TLS), in arrival order: what crossed the
    /// wire, whether or not it parsed as a request.
    pub raw: Arc<Mutex<Vec<u8>>>,
    /// Connections accepted.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start(tls: Option<Arc<rustls::ServerConfig>>, reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let raw: Arc<Mutex<Vec<u8>>> = Arc::default();
        let connections: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (seen2, raw2, conns2) = (
            Arc::clone(&seen),
            Arc::clone(&raw),
            Arc::clone(&connections),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                conns2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let seen = Arc::clone(&seen2);
                let raw = Arc::clone(&raw2);
                let reply = reply.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(cfg) => {
                            let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                            else {
                                return;
                            };
                            serve_upstream(Tap::new(s, raw), seen, reply, None).await;
                        }
                        None => {
                            // Keep a handle on the socket for a reset (SO_LINGER 0).
                            let std = stream.into_std().expect("into_std");
                            let dup = std.try_clone().expect("clone socket");
                            let stream = tokio::net::TcpStream::from_std(std).expect("from_std");
                            serve_upstream(Tap::new(stream, raw), seen, reply, Some(dup)).await;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            seen,
            raw,
            connections,
            task,
        }
    }

    /// Every byte the upstream has read so far.
    pub fn raw_bytes(&self) -> Vec<u8> {
        self.raw.lock().expect("lock").clone()
    }

    /// Connections the upstream has accepted so far.
    pub fn connection_count(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().expect("lock").clone()
    }
}

type UpBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn json_response(status: u16, body: Bytes) -> Response<UpBody> {
    let mut r = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().expect("ct"),
    );
    r
}

/// Serves one upstream connection: through hyper, or on the raw socket for the raw replies.
async fn serve_upstream<S>(
    io: Tap<S>,
    seen: Arc<Mutex<Vec<Recorded>>>,
    reply: Reply,
    socket: Option<std::net::TcpStream>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if reply.is_raw() {
        return serve_raw(io, seen, &reply, socket).await;
    }
    let svc = service_fn(move |req: Request<Incoming>| {
        let seen = Arc::clone(&seen);
        let reply = reply.clone();
        async move {
            let (parts, body) = req.into_parts();
            let (body, complete) = match body.collect().await {
                Ok(c) => (c.to_bytes(), true),
                Err(_) => (Bytes::new(), false),
            };
            let ct = parts.headers.get(http::header::CONTENT_TYPE).cloned();
            seen.lock().expect("lock").push(Recorded {
                complete,
                method: parts.method,
                uri: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                version: parts.version,
                authority: parts
                    .uri
                    .authority()
                    .map(ToString::to_string)
                    .or_else(|| {
                        parts
                            .headers
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .map(str::to_owned)
                    })
                    .unwrap_or_default(),
                headers: parts.headers,
                body: body.clone(),
            });
            let resp = match reply {
                Reply::Ok => json_response(200, Bytes::from_static(br#"{"ok":true}"#)),
                Reply::Echo => {
                    let mut r = json_response(200, body);
                    if let Some(ct) = ct {
                        r.headers_mut().insert(http::header::CONTENT_TYPE, ct);
                    }
                    r
                }
                Reply::Fixed(s, b) => json_response(s, Bytes::from_static(b.as_bytes())),
                Reply::SetCookies(lines) => {
                    let mut r = json_response(200, Bytes::from_static(br#"{"ok":true}"#));
                    for l in lines {
                        r.headers_mut()
                            .append(http::header::SET_COOKIE, l.parse().expect("set-cookie"));
                    }
                    r
                }
                Reply::Stall => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    json_response(200, Bytes::new())
                }
                Reply::Delay(d) => {
                    tokio::time::sleep(d).await;
                    json_response(200, Bytes::from_static(br#"{"ok":true}"#))
                }
                Reply::SlowBody { pieces, gap } => {
                    let mut r = json_response(200, Bytes::new());
                    *r.body_mut() = SlowBody::new(pieces, gap).boxed();
                    r
                }
                Reply::ResetMidResponse
                | Reply::Garbage(_)
                | Reply::CloseWithoutAnswer
                | Reply::Framed(_) => {
                    unreachable!("raw replies never reach hyper")
                }
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection(TokioIo::new(io), svc).await;
}

/// The raw replies: read one request by hand, record it, then misbehave.
async fn serve_raw<S>(
    mut io: Tap<S>,
    seen: Arc<Mutex<Vec<Recorded>>>,
    reply: &Reply,
    socket: Option<std::net::TcpStream>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    if let Reply::Framed(bytes) = reply {
        while let Some(rec) = read_raw_request(&mut io).await {
            seen.lock().expect("lock").push(rec);
            if io.write_all(bytes).await.is_err() || io.flush().await.is_err() {
                return;
            }
        }
        return;
    }
    let Some(rec) = read_raw_request(&mut io).await else {
        return;
    };
    seen.lock().expect("lock").push(rec);
    match reply {
        Reply::Garbage(bytes) => {
            let _ = io.write_all(bytes).await;
            let _ = io.flush().await;
            let _ = io.shutdown().await;
        }
        Reply::CloseWithoutAnswer => {
            let _ = io.shutdown().await;
        }
        Reply::ResetMidResponse => {
            let _ = io
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"partial\":\"",
                )
                .await;
            let _ = io.flush().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(s) = &socket {
                // SO_LINGER 0: close() sends RST instead of FIN.
                let s = tokio::net::TcpStream::from_std(s.try_clone().expect("clone"))
                    .expect("from_std");
                let _ = s.set_zero_linger();
                drop(s);
            }
        }
        _ => {}
    }
    drop(socket);
    drop(io);
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body) from a raw stream.
async fn read_raw_request<S: tokio::io::AsyncRead + Unpin>(io: &mut S) -> Option<Recorded> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = Method::from_bytes(request_line.next()?.as_bytes()).ok()?;
    let uri = request_line.next()?.to_owned();
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once(':')?;
        headers.append(
            http::HeaderName::from_bytes(k.trim().as_bytes()).ok()?,
            http::HeaderValue::from_str(v.trim()).ok()?,
        );
    }
    let mut rest = buf[head_end..].to_vec();
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let (body, complete) = if chunked {
        let mut body = Vec::new();
        loop {
            let Some(eol) = find(&rest, b"\r\n") else {
                if !read_more(io, &mut rest).await {
                    break (body, false);
                }
                continue;
            };
            let size_text = String::from_utf8_lossy(&rest[..eol]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            while rest.len() < eol + 2 + size + 2 {
                if !read_more(io, &mut rest).await {
                    return None;
                }
            }
            body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest.drain(..eol + 2 + size + 2);
            if size == 0 {
                break (body, true);
            }
        }
    } else {
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        let mut complete = true;
        while rest.len() < len {
            if !read_more(io, &mut rest).await {
                complete = false;
                break;
            }
        }
        rest.truncate(len);
        (rest, complete)
    };
    let authority = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Some(Recorded {
        complete,
        method,
        uri,
        version: http::Version::HTTP_11,
        authority,
        headers,
        body: Bytes::from(body),
    })
}

/// Appends what the next read returns; false at EOF or on an error.
async fn read_more<S: tokio::io::AsyncRead + Unpin>(io: &mut S, rest: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 4096];
    match io.read(&mut chunk).await {
        Ok(n) if n > 0 => {
            rest.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A response body sent in pieces with pauses between them: `[0,0,…,0]`, valid JSON once
/// every piece has arrived.
struct SlowBody {
    pieces: usize,
    sent: usize,
    gap: Duration,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl SlowBody {
    fn new(pieces: usize, gap: Duration) -> Self {
        Self {
            pieces: pieces.max(1),
            sent: 0,
            gap,
            sleep: None,
        }
    }
}

impl http_body::Body for SlowBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        use std::task::Poll;
        if self.sent == self.pieces {
            return Poll::Ready(None);
        }
        let gap = self.gap;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(gap)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        let mut piece = String::from(if self.sent == 0 { "[0" } else { ",0" });
        self.sent += 1;
        if self.sent == self.pieces {
            piece.push(']');
        }
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(piece)))))
    }
}

/// A stream that records every byte read from it.
pub struct Tap<S> {
    inner: S,
    log: Arc<Mutex<Vec<u8>>>,
}

impl<S> Tap<S> {
    pub fn new(inner: S, log: Arc<Mutex<Vec<u8>>>) -> Self {
        Self { inner, log }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Tap<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &r {
            let new = buf.filled()[before..].to_vec();
            self.log.lock().expect("lock").extend_from_slice(&new);
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An address nothing listens on (bound, then released): connecting is refused.
pub async fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}
