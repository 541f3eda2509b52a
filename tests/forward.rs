//! Forward-proxy mode: clients that use piigate as `HTTPS_PROXY`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Pki, Reply, TestGateway, Upstream, assert_absent};

const HOST: &str = "api.segment.test";

async fn env() -> (Pki, Upstream, TestGateway) {
    let intercept = Pki::new();
    let up = Upstream::start(None, Reply::Ok).await;
    let cfg = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[keys]
file = "keys.toml"
[forward_proxy]
listen = "127.0.0.1:0"
ca_cert = "{ca}"
ca_key = "{key}"

[[routes]]
name = "segment"
host = "{HOST}"
path_prefix = "/segment"
upstream = "http://{up}"

[[routes.rules]]
select = "$..email"
action = "tokenize"
"#,
        ca = intercept.path("ca.crt").display(),
        key = intercept.path("ca.key").display(),
        up = up.addr,
    );
    let gw = TestGateway::start(&cfg).await;
    (intercept, up, gw)
}

/// Sends `CONNECT target` and returns the stream and the status code of the answer.
async fn connect(proxy: std::net::SocketAddr, target: &str) -> (TcpStream, u16) {
    let mut s = TcpStream::connect(proxy).await.expect("connect to proxy");
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).await.expect("read"),
            1,
            "proxy closed: {head:?}"
        );
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (s, status)
}

#[tokio::test]
async fn connect_to_a_routed_host_is_intercepted_and_policed() {
    let (intercept, up, gw) = env().await;
    let proxy = gw.forward.expect("forward proxy bound");
    let (tcp, status) = connect(proxy, &format!("{HOST}:443")).await;
    assert_eq!(status, 200);
    let tls = intercept.client_config(&[&rustls::version::TLS13]);
    let name = rustls::pki_types::ServerName::try_from(HOST).expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .expect("the minted leaf is trusted");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("h1");
    tokio::spawn(conn);
    let req = http::Request::post("/v1/track")
        .header("host", HOST)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"event":"x","properties":{"email":"ann@example.com"}}"#,
        )))
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await;
    let r = &up.requests()[0];
    assert_eq!(
        r.uri, "/v1/track",
        "forward-proxy paths are the upstream's own, not stripped"
    );
    assert_absent(&r.body, &["ann@example.com"]);
    let v: Value = serde_json::from_slice(&r.body).expect("json");
    assert!(
        v["properties"]["email"]
            .as_str()
            .expect("token")
            .starts_with("tok_")
    );
}

#[tokio::test]
async fn connect_to_any_other_host_is_refused() {
    let (_intercept, up, gw) = env().await;
    let proxy = gw.forward.expect("forward proxy bound");
    let (_, status) = connect(proxy, "example.org:443").await;
    assert_eq!(status, 403);
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn absolute_form_http_is_routed_by_host() {
    let (_intercept, up, gw) = env().await;
    let proxy = gw.forward.expect("forward proxy bound");
    let body = r#"{"email":"ann@example.com"}"#;
    let mut s = TcpStream::connect(proxy).await.expect("connect");
    let req = format!(
        "POST http://{HOST}/v1/identify HTTP/1.1\r\nhost: {HOST}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.expect("read");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let r = &up.requests()[0];
    assert_eq!(r.uri, "/v1/identify");
    assert_absent(&r.body, &["ann@example.com"]);
}

/// A real client honouring `HTTPS_PROXY`: curl, when the machine has it.
#[tokio::test]
async fn curl_with_https_proxy() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("NOTICE: curl is not installed; skipping the HTTPS_PROXY client test");
        return;
    }
    let (intercept, up, gw) = env().await;
    let proxy = gw.forward.expect("forward proxy bound");
    let ca = intercept.path("ca.crt");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .args([
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"traits":{"email":"ann@example.com"}}"#,
            ])
            .arg(format!("https://{HOST}/v1/identify"))
            .env("HTTPS_PROXY", format!("http://{proxy}"))
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
    })
    .await
    .expect("join")
    .expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), r#"{"ok":true}"#);
    let r = &up.requests()[0];
    assert_absent(&r.body, &["ann@example.com"]);
}
