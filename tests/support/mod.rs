//! Test harness: a throwaway PKI, a recording upstream, an in-process gateway, and clients for
//! HTTP/1.1 and HTTP/2 over plain TCP or TLS. Everything runs on real sockets on 127.0.0.1:0.

#![allow(dead_code)]

pub mod recipient;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use piigate::config::{self, Env};
use piigate::proxy::{Gateway, ShutdownHandle};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::net::TcpListener;

/// The example keyring shipped with the repo.
pub const KEYS: &str = include_str!("../../keys.example");

/// An environment with nothing set (tests must not depend on the developer's shell).
pub struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// An environment with exactly these variables.
pub struct MapEnv(pub std::collections::HashMap<String, String>);

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// A CA and a server certificate for `localhost` / 127.0.0.1, written to a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "piigate test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");
        let pki = Self {
            dir,
            ca_pem: ca_cert.pem(),
            ca_key_pem,
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        };
        std::fs::write(pki.path("ca.crt"), &pki.ca_pem).expect("write");
        std::fs::write(pki.path("ca.key"), &pki.ca_key_pem).expect("write");
        std::fs::write(pki.path("server.crt"), &pki.cert_pem).expect("write");
        std::fs::write(pki.path("server.key"), &pki.key_pem).expect("write");
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// rustls server config for a test upstream (TLS 1.2 and 1.3, h2 + http/1.1).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certs");
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("key");
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(cfg)
    }

    /// A client certificate (`CN = cn`) signed by this CA, with its key, for mTLS.
    pub fn client_identity(
        &self,
        cn: &str,
    ) -> (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ) {
        use rustls::pki_types::pem::PemObject;
        let ca_key = KeyPair::from_pem(&self.ca_key_pem).expect("ca key");
        let issuer = Issuer::from_ca_cert_pem(&self.ca_pem, ca_key).expect("issuer");
        let key = KeyPair::generate().expect("client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer).expect("client cert");
        let der = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes())
            .expect("key");
        (vec![cert.der().clone()], der)
    }

    /// rustls client config trusting only this CA, restricted to `versions`.
    pub fn client_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ClientConfig {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(c.expect("ca")).expect("add ca");
        }
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
    }
}

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
}

impl Reply {
    /// Replies that bypass hyper and act on the raw socket.
    fn is_raw(&self) -> bool {
        matches!(
            self,
            Self::ResetMidResponse | Self::Garbage(_) | Self::CloseWithoutAnswer
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
                Reply::ResetMidResponse | Reply::Garbage(_) | Reply::CloseWithoutAnswer => {
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
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

/// A gateway running in this process.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub forward: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub current: piigate::proxy::Current,
    shutdown: ShutdownHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        self.task.abort();
    }
}

/// Writes `config` (with `{dir}` replaced by the temp dir) and `keys.example` to a temp dir.
/// Unless the config names one, the temp dir is also its `[state] dir`, so tests never share
/// a store or an audit log (in process, or a `piigate` child reading the same file).
pub fn write_config(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), KEYS).expect("write keys");
    let mut text = config.replace("{dir}", &dir.path().display().to_string());
    if !text.contains("[state]") {
        text.push_str(&format!(
            "\n[state]\ndir = {:?}\n",
            dir.path().display().to_string()
        ));
    }
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

impl TestGateway {
    /// Loads `config` (see [`write_config`]) and serves it on the listen address it names
    /// (use port 0).
    pub async fn start(config: &str) -> Self {
        Self::start_with_env(config, &[]).await
    }

    /// Like [`Self::start`], with these environment variables visible to the loader (and to
    /// reloads) instead of the process environment.
    pub async fn start_with_env(config: &str, vars: &[(&str, &str)]) -> Self {
        let (dir, path) = write_config(config);
        let env = Arc::new(MapEnv(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ));
        let loaded = match config::load(&path, env.as_ref()) {
            Ok(l) => l,
            Err(d) => panic!("test config does not load:\n{d}"),
        };
        let source = piigate::proxy::reload::ReloadSource {
            path: path.clone(),
            env,
        };
        let gw = Gateway::bind(loaded.config, Some(source))
            .await
            .expect("bind gateway");
        let addr = gw.local_addr().expect("addr");
        let admin = gw.admin_addr();
        let forward = gw.forward_proxy_addr();
        let current = gw.current();
        let shutdown = gw.shutdown_handle();
        let task = tokio::spawn(async move {
            gw.run(std::future::pending()).await.expect("gateway run");
        });
        Self {
            addr,
            admin,
            forward,
            dir,
            current,
            shutdown,
            task,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("proxy.toml")
    }
}

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

/// Every spelling of `value` a JSON document could carry it in: raw and with each character
/// `\u`-escaped.
pub fn spellings(value: &str) -> Vec<String> {
    let escaped: String = value
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let upper: String = value
        .chars()
        .map(|c| format!("\\u{:04X}", c as u32))
        .collect();
    vec![value.to_owned(), escaped, upper]
}

/// Asserts that none of `values` appears, in any spelling, in `haystack`.
pub fn assert_absent(haystack: &[u8], values: &[&str]) {
    let text = String::from_utf8_lossy(haystack);
    for v in values {
        for s in spellings(v) {
            if text.contains(&s) {
                // Show only the offending lines of a long haystack (a log, say).
                let lines: Vec<&str> = text.lines().filter(|l| l.contains(&s)).collect();
                let shown = if text.lines().count() > 5 {
                    lines.join("\n")
                } else {
                    text.to_string()
                };
                panic!("PII value leaked (spelling {s:?}) in: {shown}");
            }
        }
    }
}

/// Path of a file in the repo.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A `piigate serve` process started from a config file, with its bound addresses read from
/// its JSON log.
pub struct Process {
    pub child: std::process::Child,
    pub proxy: SocketAddr,
    pub admin: Option<SocketAddr>,
    /// Everything logged so far (the rest is drained in the background).
    pub log: Arc<Mutex<String>>,
}

impl Process {
    /// Starts the binary with `envs` and waits until it listens.
    pub fn spawn(config: &Path, envs: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_piigate"));
        cmd.args(["serve", "--log-format", "json", "--config"])
            .arg(config)
            .env_remove("PIIGATE_KEYRING")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        // State beside the config unless the test says otherwise (its own files may not name
        // a `[state] dir`); never the developer's home.
        if let Some(dir) = config.parent() {
            cmd.env("PIIGATE_STATE_DIR", dir);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn piigate");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let (mut proxy, mut admin) = (None, None);
        // The proxy's line comes first, then the admin's when the config has one.
        let wants_admin = std::fs::read_to_string(config).is_ok_and(|t| t.contains("[admin]"));
        while proxy.is_none() || (wants_admin && admin.is_none()) {
            let Some(Ok(line)) = lines.next() else { break };
            log.lock().expect("lock").push_str(&line);
            log.lock().expect("lock").push('\n');
            if line.contains("Listening.") {
                let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
                let addr: SocketAddr = v["addr"]
                    .as_str()
                    .expect("addr")
                    .parse()
                    .expect("socket address");
                match v["listener"].as_str() {
                    Some("proxy") => proxy = Some(addr),
                    Some("admin") => admin = Some(addr),
                    _ => {}
                }
            }
        }
        let Some(proxy) = proxy else {
            let _ = child.kill();
            panic!("piigate did not start:\n{}", log.lock().expect("lock"));
        };
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut l = sink.lock().expect("lock");
                l.push_str(&line);
                l.push('\n');
            }
        });
        Self {
            child,
            proxy,
            admin,
            log,
        }
    }

    /// SIGTERM, then wait; returns whether it exited 0.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The test PostgreSQL URL, or `None` with a printed notice (a failure when
/// `PIIGATE_TEST_POSTGRES_REQUIRED` is set, as in CI).
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("PIIGATE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("PIIGATE_TEST_POSTGRES_REQUIRED").is_none(),
                "PIIGATE_TEST_POSTGRES_REQUIRED is set but PIIGATE_TEST_POSTGRES_URL is not"
            );
            eprintln!(
                "note: skipping {test}: PIIGATE_TEST_POSTGRES_URL is not set (eval \"$(bash scripts/postgres-test.sh)\" to run it)"
            );
            None
        }
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

/// The metrics text of an in-process gateway.
pub fn metrics_text(gw: &TestGateway) -> String {
    gw.current.load().services.metrics.encode()
}

/// The value of one sample line (`name{labels}`) in Prometheus text, 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == series).then(|| v.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// Waits until the gateway reports no open client connection (a worker thread notices a
/// closed connection on its own time).
pub async fn connections_drop_to_zero(gw: &TestGateway) {
    let mut text = String::new();
    for _ in 0..100 {
        text = metrics_text(gw);
        if metric(&text, "piigate_open_connections") == 0.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("connections still open:\n{text}");
}

/// The real `piigate serve` binary, with its JSON log captured line by line.
pub struct Piigate {
    child: std::process::Child,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Piigate {
    /// Starts `piigate serve --log-format json --config <config>` with `RUST_LOG=<rust_log>`
    /// and `vars`, and waits until the proxy (and, if `admin`, the admin) listener is up.
    pub fn start(config: &Path, vars: &[(&str, &str)], rust_log: &str, admin: bool) -> Self {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_piigate"))
            .args(["serve", "--log-format", "json", "--config"])
            .arg(config)
            .env_remove("PIIGATE_KEYRING")
            .env("RUST_LOG", rust_log)
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn piigate");
        let log: Arc<Mutex<String>> = Arc::default();
        let mut readers = Vec::new();
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for pipe in [stdout, stderr] {
            let log = Arc::clone(&log);
            readers.push(std::thread::spawn(move || {
                let mut r = std::io::BufReader::new(pipe);
                let mut line = String::new();
                while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    log.lock().expect("lock").push_str(&line);
                    line.clear();
                }
            }));
        }
        let mut p = Self {
            child,
            addr: "0.0.0.0:0".parse().expect("addr"),
            admin: None,
            log,
            readers,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = p.log();
            let find = |what: &str| {
                text.lines().find_map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).ok()?;
                    (v["message"] == "Listening." && v["listener"] == what)
                        .then(|| v["addr"].as_str()?.parse().ok())?
                })
            };
            if let Some(a) = find("proxy")
                && (!admin || find("admin").is_some())
            {
                p.addr = a;
                p.admin = find("admin");
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("piigate exited early ({status}):\n{text}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "piigate did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.log.lock().expect("lock").clone()
    }

    /// Waits until the log has at least `count` lines containing `needle`.
    pub async fn wait_for_log(&self, needle: &str, count: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.log().lines().filter(|l| l.contains(needle)).count() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Sends a signal (`HUP`, `TERM`, …) with `kill`.
    pub fn signal(&self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig}");
    }

    /// Waits for the process to exit; returns its status and the whole log.
    pub async fn wait_exit(mut self, within: Duration) -> (std::process::ExitStatus, String) {
        let deadline = tokio::time::Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "piigate did not exit in time:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for r in std::mem::take(&mut self.readers) {
            let _ = r.join();
        }
        (status, self.log())
    }
}

impl Drop for Piigate {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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
