//! Upstream connections and request forwarding.
//!
//! Each route's [`Upstream`] keeps its connections per worker thread ([`pool`]). An HTTP/1.1
//! exchange is piigate's own and runs in the request's task ([`h1`], framing in [`wire`]): the
//! request checks a connection out of its worker's set, writes to it, reads the response
//! and returns the connection when the response body has been read to its clean end; no
//! other task and no other thread takes part. HTTP/2 (where the upstream picks it by ALPN)
//! is `hyper::client::conn`'s, driven by a task on the worker's runtime ([`connect`]).
//! Routes may trust different extra CAs, so each has its own TLS client configuration, whose
//! session cache lets reconnects resume.

mod conn;
mod connect;
pub mod fields;
mod h1;
mod pool;
pub mod wire;

use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper::body::Incoming;

use super::Body;
use super::BoxError;
use super::server::fields::RequestFields;
use crate::config::Route;
use fields::{CONTENT_LENGTH_BIT, HOP_BY_HOP, UPSTREAM_REQUEST};
pub(crate) use pool::Lease;
use pool::WorkerPools;

/// How long an upstream connection may stay unused before piigate closes it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// One route's upstream: where it is, how to reach it, and each worker's open connections.
pub struct Upstream {
    scheme: Scheme,
    authority: http::uri::Authority,
    /// `Host` for HTTP/1.1: the authority without a default port.
    host_header: HeaderValue,
    dialer: connect::Dialer,
    pools: Arc<WorkerPools>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// Why an exchange with the upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be opened; nothing was sent.
    #[error("cannot connect to the upstream")]
    Connect(#[source] std::io::Error),
    /// The request may have been (partly) sent; the exchange failed after that.
    #[error("the exchange with the upstream failed")]
    Exchange(#[source] BoxError),
}

impl UpstreamError {
    /// Whether the failure happened before anything was sent.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

impl Upstream {
    /// The upstream of `route`. The deadline for connecting and answering (`upstream_timeout`)
    /// is the caller's, around [`Upstream::send`].
    pub fn new(route: &Route) -> Self {
        let u = &route.upstream;
        let https = u.scheme == Scheme::HTTPS;
        let default_port = if https { 443 } else { 80 };
        let port = u.authority.port_u16().unwrap_or(default_port);
        let host = u.authority.host();
        let host_header = if u.authority.port_u16() == Some(default_port) {
            HeaderValue::from_str(host)
        } else {
            HeaderValue::from_str(u.authority.as_str())
        }
        .unwrap_or_else(|_| unreachable!("an authority is a valid header value"));
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = https.then(|| {
            let mut cfg = (*route.upstream_tls).clone();
            cfg.alpn_protocols = crate::tls::HTTP_ALPN.iter().map(|p| p.to_vec()).collect();
            let name = rustls::pki_types::ServerName::try_from(bare.clone())
                .unwrap_or_else(|_| unreachable!("config accepted the upstream host"));
            (tokio_rustls::TlsConnector::from(Arc::new(cfg)), name)
        });
        Self {
            scheme: u.scheme.clone(),
            authority: u.authority.clone(),
            host_header,
            dialer: connect::Dialer {
                host: bare,
                port,
                tls,
                idle_timeout: IDLE_TIMEOUT,
            },
            pools: Arc::new(WorkerPools::default()),
        }
    }

    /// Sends `req` (origin-form URI, as [`prepare`] leaves it) on one of this worker's
    /// connections, opening one if it has none free. A request that never left (its idle
    /// connection had closed) is sent again on a fresh connection; one that may have left is
    /// never retried.
    ///
    /// # Errors
    /// [`UpstreamError::Connect`] when no connection could be opened (nothing was sent),
    /// [`UpstreamError::Exchange`] when the exchange failed.
    ///
    /// `plain`: the client's fields as they arrived, for a request whose map is empty
    /// ([`prepare_plain`]); written as they are on HTTP/1.1, put in the map for HTTP/2.
    pub async fn send(
        &self,
        mut req: Request<Body>,
        mut plain: Option<&RequestFields>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let reused = {
            let mut pool = self.pools.local();
            match pool.checkout_h2() {
                Some(h2) => Err(h2),
                None => Ok(pool.checkout_h1()),
            }
        };
        match reused {
            // A connection found closed at checkout was dropped there: this one is open, and
            // the request is committed to it.
            Ok(Some(conn)) => {
                self.shape(&mut req, plain.is_some(), false);
                return self.h1(conn, req, plain).await;
            }
            Ok(None) => {}
            Err((mut tx, lease)) => {
                if let Some(fields) = plain.take() {
                    into_map(fields, &mut req)?;
                }
                self.shape(&mut req, false, true);
                match tx.try_send_request(req).await {
                    Ok(resp) => return Ok(UpstreamBody::h2(resp, lease)),
                    Err(mut e) => match e.take_message() {
                        // Never written: the connection was gone. Try a fresh one.
                        Some(back) => req = back,
                        None => return Err(UpstreamError::Exchange(e.into_error().into())),
                    },
                }
            }
        }
        // Boxed: opening a connection (DNS, TCP, TLS, the HTTP handshake) is a ~8 KB future.
        // Inline, every request's future would carry that room and copy it at each move (into
        // the timeout, into hyper's in-flight slot); boxed, only a dial pays, with one
        // allocation.
        let fresh = Box::pin(self.dialer.open()).await;
        let fresh = fresh.map_err(UpstreamError::Connect)?;
        self.pools.sweep_every(IDLE_TIMEOUT);
        match fresh {
            connect::Fresh::H1(conn) => {
                self.shape(&mut req, plain.is_some(), false);
                self.h1(conn, req, plain).await
            }
            connect::Fresh::H2(mut tx, usage) => {
                self.pools.local().offer_h2(&tx, &usage);
                if let Some(fields) = plain.take() {
                    into_map(fields, &mut req)?;
                }
                self.shape(&mut req, false, true);
                let lease = Lease::h2(usage);
                let resp = tx
                    .send_request(req)
                    .await
                    .map_err(|e| UpstreamError::Exchange(e.into()))?;
                Ok(UpstreamBody::h2(resp, lease))
            }
        }
    }

    async fn h1(
        &self,
        conn: Box<conn::Conn>,
        req: Request<Body>,
        plain: Option<&RequestFields>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let host = plain.map(|_| self.host_header.as_bytes());
        match h1::exchange(conn, req, plain, host, &self.pools).await {
            Ok(resp) => Ok(resp.map(|b| UpstreamBody(Inner::H1(b)))),
            // The request body's own failure, as itself: its cause decides the answer.
            Err(h1::ExchangeError::Body(e)) => Err(UpstreamError::Exchange(e)),
            Err(e) => Err(UpstreamError::Exchange(e.into())),
        }
    }

    /// HTTP/1.1 takes an origin-form target and a `Host` header (written with the fields
    /// when they are `plain`, else put in the map); HTTP/2 an absolute URI, from which hyper
    /// writes `:scheme` and `:authority`.
    fn shape(&self, req: &mut Request<Body>, plain: bool, h2: bool) {
        if h2 {
            req.headers_mut().remove(header::HOST);
            let pq = req.uri().path_and_query().cloned();
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(self.scheme.clone());
            parts.authority = Some(self.authority.clone());
            parts.path_and_query = pq;
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        } else {
            if !plain {
                req.headers_mut()
                    .insert(header::HOST, self.host_header.clone());
            }
            if req.uri().scheme().is_some() {
                let pq = req.uri().path_and_query().cloned();
                if let Some(pq) = pq {
                    *req.uri_mut() = Uri::from(pq);
                }
            }
        }
    }
}

/// An upstream response body. HTTP/1.1: read from the connection as the client takes it, the
/// connection returned to the worker's idle set at its clean end and closed otherwise. HTTP/2:
/// hyper's stream, the connection's use released when it ends or is dropped.
pub struct UpstreamBody(Inner);

enum Inner {
    H1(h1::ResponseBody),
    H2 {
        inner: Incoming,
        lease: Option<Lease>,
    },
}

impl UpstreamBody {
    /// The response's fields as they arrived, while no map has been built of them (an
    /// HTTP/1.1 response: HTTP/2's arrive in the response's map).
    pub(crate) fn raw_fields(&self) -> Option<&fields::RawFields> {
        match &self.0 {
            Inner::H1(b) => b.fields.as_ref(),
            Inner::H2 { .. } => None,
        }
    }

    /// Moves the fields that arrived as bytes into `headers` (as
    /// [`fields::RawFields::append_to`]); afterwards `headers` alone holds them.
    ///
    /// # Errors
    /// A field the `http` crate refuses.
    pub(crate) fn fields_into(&mut self, headers: &mut HeaderMap) -> Result<(), http::Error> {
        match &mut self.0 {
            Inner::H1(b) => match b.fields.take() {
                Some(f) => f.append_to(headers),
                None => Ok(()),
            },
            Inner::H2 { .. } => Ok(()),
        }
    }

    fn h2(resp: Response<Incoming>, lease: Lease) -> Response<Self> {
        resp.map(|inner| {
            let lease = (!http_body::Body::is_end_stream(&inner)).then_some(lease);
            Self(Inner::H2 { inner, lease })
        })
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody").finish_non_exhaustive()
    }
}

impl http_body::Body for UpstreamBody {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match &mut self.get_mut().0 {
            Inner::H1(b) => std::pin::Pin::new(b).poll_frame(cx),
            Inner::H2 { inner, lease } => {
                let frame = ready!(std::pin::Pin::new(&mut *inner).poll_frame(cx));
                if frame.is_none() || inner.is_end_stream() {
                    *lease = None;
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::H1(b) => b.is_end_stream(),
            Inner::H2 { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.0 {
            Inner::H1(b) => b.size_hint(),
            Inner::H2 { inner, .. } => inner.size_hint(),
        }
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and headers the gateway recomputes, then the client's
/// `Host` and `Expect`, which only a request going upstream loses. A name's place here is its
/// bit in [`fields::hop_bit`]. (A static, not a const: a const array of header names is built and
/// dropped at every use.)
static STRIPPED: [HeaderName; 12] = [
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
    header::HOST,
    header::EXPECT,
];

/// `name`'s bit in [`STRIPPED`], or 0 ([`fields::hop_bit`]: one table for names in a map and
/// names as they arrived).
fn bit_of(name: &str) -> u16 {
    fields::hop_bit(name.as_bytes())
}

/// Removes hop-by-hop headers, including any the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    strip(headers, HOP_BY_HOP);
}

/// Removes the [`STRIPPED`] names in `mask` and whatever `Connection` names.
///
/// One look at each name the map holds, then a removal only for those present: a message
/// carries a handful of headers and one or two of these, and a hashed removal per listed name
/// (found or not) was the largest piece of piigate's own work per request without rules.
fn strip(headers: &mut HeaderMap, mask: u16) {
    let found = headers
        .keys()
        .fold(0, |found, k| found | bit_of(k.as_str()))
        & mask;
    if found == 0 {
        return;
    }
    if found & 1 != 0 {
        // Values are cheap to clone (shared bytes); a second `Connection` line is rare, so
        // the common case allocates nothing. Names are looked up without building them.
        let mut lines = headers.get_all(header::CONNECTION).iter();
        let first = lines.next().cloned();
        let more: Vec<HeaderValue> = lines.cloned().collect();
        for line in first.iter().chain(&more) {
            let Ok(line) = line.to_str() else { continue };
            for name in line.split(',').map(str::trim) {
                // `keep-alive` (the usual one) goes below with the rest.
                let listed = STRIPPED
                    .iter()
                    .enumerate()
                    .any(|(i, n)| mask & (1 << i) != 0 && n.as_str().eq_ignore_ascii_case(name));
                if !listed {
                    headers.remove(name);
                }
            }
        }
    }
    for (i, n) in STRIPPED.iter().enumerate() {
        if found & (1 << i) != 0 {
            headers.remove(n);
        }
    }
}

/// The longest request target the `http` crate builds (`u16::MAX - 1` bytes): hyper refuses
/// longer incoming targets, but the normalised one can outgrow the client's.
pub const MAX_TARGET_LEN: usize = u16::MAX as usize - 1;

/// The upstream request target: the upstream's base path, the path left after the route
/// prefix, and the original query. [`Upstream::send`] adds the scheme and authority where the
/// protocol wants them.
pub(crate) fn upstream_path(
    route: &Route,
    rest: &str,
    query: Option<&str>,
) -> Result<PathAndQuery, http::uri::InvalidUri> {
    let base = route.upstream.base_path.as_str();
    match query {
        Some(q) => super::slab::path_and_query(&[base, rest, "?", q]),
        None => super::slab::path_and_query(&[base, rest]),
    }
}

/// A plain request's fields (`plain`) put in `req`'s map as [`prepare`] would have left them:
/// those passed on, and the length of the body (the client's, or a policed body's own).
fn into_map(plain: &RequestFields, req: &mut Request<Body>) -> Result<(), UpstreamError> {
    let fail = |e: http::Error| UpstreamError::Exchange(e.into());
    let mut all = plain.to_map().map_err(fail)?;
    strip(&mut all, UPSTREAM_REQUEST);
    let length = req.body().full_len().or_else(|| plain.content_length());
    let headers = req.headers_mut();
    if let Some(n) = length {
        all.insert(header::CONTENT_LENGTH, super::slab::decimal(n));
    }
    headers.extend(all);
    Ok(())
}

/// As [`prepare`], for a request whose fields go upstream as they arrived (the map is
/// empty; the fields and their `Content-Length` travel as [`RequestFields`], given to
/// [`Upstream::send`], which sends a complete body, a policed one, with its own length):
/// only the target and version change.
pub(crate) fn prepare_plain(
    parts: http::request::Parts,
    target: PathAndQuery,
    body: Body,
) -> Request<Body> {
    let mut req = Request::from_parts(parts, body);
    *req.uri_mut() = Uri::from(target);
    *req.version_mut() = http::Version::HTTP_11;
    req
}

/// Turns a client request into the upstream request: the upstream target, no client `Host`
/// ([`Upstream::send`] writes the upstream's), hop-by-hop headers gone, `Content-Length` set
/// from the body we send, and no `X-Forwarded-For` (it would disclose the user's IP to the
/// recipient).
pub(crate) fn prepare(
    parts: http::request::Parts,
    target: PathAndQuery,
    body: Body,
    content_length: Option<u64>,
) -> Request<Body> {
    let mut req = Request::from_parts(parts, body);
    *req.uri_mut() = Uri::from(target);
    *req.version_mut() = http::Version::HTTP_11;
    let h = req.headers_mut();
    match content_length {
        // Inserting replaces every value the client sent: not removed first.
        Some(n) => {
            strip(h, UPSTREAM_REQUEST & !CONTENT_LENGTH_BIT);
            // A streamed body's length is usually the client's one field, already written as
            // it is sent: kept rather than written again (a value built and a hashed insert).
            let mut digits = [0u8; 20];
            let want = wire::decimal(n, &mut digits);
            let mut lines = h.get_all(header::CONTENT_LENGTH).iter();
            let written = matches!(
                (lines.next(), lines.next()),
                (Some(v), None) if v.as_bytes() == want
            );
            if !written {
                h.insert(header::CONTENT_LENGTH, super::slab::decimal(n));
            }
        }
        None => strip(h, UPSTREAM_REQUEST),
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stripped_name_has_its_own_bit() {
        for (i, n) in STRIPPED.iter().enumerate() {
            assert_eq!(bit_of(n.as_str()), 1 << i, "{n}");
        }
        assert_eq!(bit_of("content-type"), 0);
        assert_eq!(STRIPPED.len(), 12);
        assert_eq!(UPSTREAM_REQUEST.count_ones() as usize, STRIPPED.len());
        assert_eq!(bit_of("content-length"), CONTENT_LENGTH_BIT);
    }

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

    #[test]
    fn a_request_going_upstream_loses_host_expect_and_every_connection_line_s_names() {
        let mut h = HeaderMap::new();
        h.append(
            header::CONNECTION,
            "Keep-Alive, X-One".parse().expect("valid"),
        );
        h.append(header::CONNECTION, "x-two ,TE".parse().expect("valid"));
        for name in [
            "x-one",
            "x-two",
            "keep-alive",
            "te",
            "host",
            "expect",
            "x-keep",
        ] {
            h.insert(HeaderName::from_static(name), "1".parse().expect("valid"));
        }
        h.insert(header::CONTENT_LENGTH, "1".parse().expect("valid"));
        let parts = {
            let (mut parts, ()) = Request::new(()).into_parts();
            parts.headers = h;
            parts
        };
        let req = prepare(
            parts,
            PathAndQuery::from_static("/x"),
            Body::full(bytes::Bytes::new()),
            None,
        );
        let left: Vec<&str> = req.headers().keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-keep"]);
    }

    /// The `Content-Length` fields of the request `prepare` makes from a client's `fields`
    /// and a three-byte body.
    fn lengths_sent(fields: &[(HeaderName, &str)]) -> (Vec<Vec<u8>>, bool) {
        let (mut parts, ()) = Request::new(()).into_parts();
        for (name, value) in fields {
            parts
                .headers
                .append(name.clone(), value.parse().expect("valid"));
        }
        let req = prepare(
            parts,
            PathAndQuery::from_static("/x"),
            Body::full(bytes::Bytes::from_static(b"abc")),
            Some(3),
        );
        let lengths = req
            .headers()
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect();
        (lengths, req.headers().contains_key(header::CONNECTION))
    }

    #[test]
    fn the_length_of_what_is_sent_replaces_every_length_the_client_declared() {
        let (lengths, connection) = lengths_sent(&[
            (header::CONTENT_LENGTH, "5"),
            (header::CONTENT_LENGTH, "0005"),
            (header::CONNECTION, "content-length"),
        ]);
        assert_eq!(lengths, [b"3".to_vec()]);
        assert!(!connection);
        // One field: kept when it is what would be written, rewritten otherwise.
        for (sent, want) in [("3", "3"), ("0003", "3"), ("4", "3"), ("3 ", "3")] {
            let (lengths, _) = lengths_sent(&[(header::CONTENT_LENGTH, sent)]);
            assert_eq!(lengths, [want.as_bytes().to_vec()], "{sent:?}");
        }
    }
}
