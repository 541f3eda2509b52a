//! Upstream connection pools and request forwarding.
//!
//! One pooled hyper client per route (routes may trust different extra CAs). HTTPS upstreams
//! negotiate HTTP/2 or HTTP/1.1 by ALPN; connections are reused across requests.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName};
use http::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::Body;
use crate::config::{Limits, Route};

/// A pooled client for one route's upstream.
pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Body>;

/// Builds the client for `route`.
pub fn client(route: &Route, limits: &Limits) -> UpstreamClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(limits.upstream_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*route.upstream_tls).clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and headers the gateway recomputes.
const STRIPPED: [HeaderName; 10] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::CONTENT_LENGTH,
];

/// Removes hop-by-hop headers, including any the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in &STRIPPED {
        headers.remove(n);
    }
}

/// The upstream URI: upstream scheme and authority, base path, the path left after the route
/// prefix, and the original query.
pub fn upstream_uri(route: &Route, rest: &str, query: Option<&str>) -> Result<Uri, http::Error> {
    let mut pq = String::with_capacity(
        route.upstream.base_path.len() + rest.len() + query.map_or(0, |q| q.len() + 1),
    );
    pq.push_str(&route.upstream.base_path);
    pq.push_str(rest);
    if let Some(q) = query {
        pq.push('?');
        pq.push_str(q);
    }
    Uri::builder()
        .scheme(route.upstream.scheme.clone())
        .authority(route.upstream.authority.clone())
        .path_and_query(pq)
        .build()
}

/// Turns a client request into the upstream request: new URI, no `Host` (the client sets it
/// from the URI), hop-by-hop headers gone, `Content-Length` set from the body we send, and no
/// `X-Forwarded-For` (it would disclose the user's IP to the recipient).
pub fn prepare(
    parts: http::request::Parts,
    uri: Uri,
    body: Body,
    content_length: Option<u64>,
) -> Request<Body> {
    let mut req = Request::from_parts(parts, body);
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_11;
    let h = req.headers_mut();
    strip_hop_by_hop(h);
    h.remove(header::HOST);
    h.remove(header::EXPECT);
    if let Some(n) = content_length {
        h.insert(header::CONTENT_LENGTH, n.into());
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            "keep-alive, x-secret-hop".parse().expect("valid"),
        );
        h.insert("x-secret-hop", "1".parse().expect("valid"));
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().expect("valid"));
        h.insert("x-keep", "1".parse().expect("valid"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }
}
