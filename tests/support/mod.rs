//! Test harness: a throwaway PKI, a recording upstream, an in-process gateway, and clients for
//! HTTP/1.1 and HTTP/2 over plain TCP or TLS. Everything runs on real sockets on 127.0.0.1:0.

#![allow(dead_code)]

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
    /// Never answer.
    Stall,
}

/// A recording upstream server.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Recorded>>>,
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
        let seen2 = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = Arc::clone(&seen2);
                let reply = reply.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let seen = Arc::clone(&seen);
                        let reply = reply.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let ct = parts.headers.get(http::header::CONTENT_TYPE).cloned();
                            seen.lock().expect("lock").push(Recorded {
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
                                Reply::Ok => {
                                    json_response(200, Bytes::from_static(br#"{"ok":true}"#))
                                }
                                Reply::Echo => {
                                    let mut r = json_response(200, body);
                                    if let Some(ct) = ct {
                                        r.headers_mut().insert(http::header::CONTENT_TYPE, ct);
                                    }
                                    r
                                }
                                Reply::Fixed(s, b) => {
                                    json_response(s, Bytes::from_static(b.as_bytes()))
                                }
                                Reply::Stall => {
                                    tokio::time::sleep(Duration::from_secs(3600)).await;
                                    json_response(200, Bytes::new())
                                }
                            };
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(cfg) => {
                            let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(stream).await
                            else {
                                return;
                            };
                            let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        Self { addr, seen, task }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().expect("lock").clone()
    }
}

fn json_response(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = StatusCode::from_u16(status).expect("status");
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().expect("ct"),
    );
    r
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
pub fn write_config(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), KEYS).expect("write keys");
    let text = config.replace("{dir}", &dir.path().display().to_string());
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
        let source = piigate::reload::ReloadSource {
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
            assert!(
                !text.contains(&s),
                "PII value leaked (spelling {s:?}) in: {text}"
            );
        }
    }
}

/// Path of a file in the repo.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
