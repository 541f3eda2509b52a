//! The request path: route → police → forward → respond.
//!
//! Every failure becomes a response (the service's error type is `Infallible`), and every
//! rejection is decided before a single byte goes upstream.

use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::body;
use super::police;
use super::respond::{full, reject};
use super::upstream::{prepare, strip_hop_by_hop, upstream_uri};
use super::{Body, Generation};
use crate::config::Route;
use crate::crypto::OsNonces;
use crate::error::RejectCode;
use crate::policy::ApplyCx;
use crate::policy::action::ActionCounts;
use crate::telemetry::events::RequestDone;

/// What one request did, for the log line.
#[derive(Debug, Default)]
struct Tally {
    route: Option<Arc<Route>>,
    index: Option<usize>,
    counts: ActionCounts,
    bytes_in: usize,
    bytes_out: usize,
    reveal_failures: u32,
}

/// How the request reached the gateway, which decides how it is routed.
#[derive(Debug, Clone)]
pub(super) enum Mode {
    /// An app called the gateway directly: host + path prefix, prefix stripped.
    Reverse,
    /// Through the forward proxy: by target host, path kept. `Some` inside a CONNECT tunnel
    /// (the tunnel's target), `None` for absolute-form requests (the URI names the host).
    Forward(Option<String>),
}

/// Handles one request on one configuration generation.
pub(super) async fn handle(
    generation: Arc<Generation>,
    req: Request<Incoming>,
    mode: Mode,
) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let mut tally = Tally::default();
    let (resp, code) = match forward(&generation, req, &mode, &mut tally).await {
        Ok(resp) => (resp, None),
        Err(code) => (reject(code), Some(code)),
    };
    let m = tally
        .index
        .and_then(|i| generation.metrics.get(i))
        .unwrap_or(&generation.unrouted);
    m.answered(resp.status().as_u16(), code);
    m.applied(&tally.counts);
    m.bytes(tally.bytes_in, tally.bytes_out);
    m.reveal_failed(tally.reveal_failures);
    if code == Some(RejectCode::Overloaded) {
        m.overloaded();
    }
    RequestDone {
        route: tally.route.as_ref().map(|r| r.name.as_str()),
        method: &method,
        status: resp.status().as_u16(),
        code,
        latency: started.elapsed(),
        bytes_in: tally.bytes_in,
        bytes_out: tally.bytes_out,
        counts: &tally.counts,
        reveal_failures: tally.reveal_failures,
    }
    .emit();
    resp
}

async fn forward(
    g: &Generation,
    req: Request<Incoming>,
    mode: &Mode,
    tally: &mut Tally,
) -> Result<Response<Body>, RejectCode> {
    if req.method() == Method::CONNECT {
        return Err(RejectCode::MethodNotAllowed);
    }
    let host = super::router::request_host(&req);
    let path = req.uri().path().to_owned();
    let found = match mode {
        Mode::Reverse => g.router.find(host.as_deref(), &path),
        Mode::Forward(tunnel) => match tunnel.as_deref().or(host.as_deref()) {
            Some(h) if g.router.knows_host(h) => g.router.find_forward(h, &path),
            _ => return Err(RejectCode::TargetNotAllowed),
        },
    };
    let (index, rest) = found.ok_or(RejectCode::NoRoute)?;
    let route = Arc::clone(&g.config.routes[index]);
    tally.route = Some(Arc::clone(&route));
    tally.index = Some(index);
    let metrics = &g.metrics[index];
    // Beyond the route's concurrency limit: 503 + Retry-After, before reading the body.
    let Ok(_permit) = Arc::clone(&g.permits[index]).try_acquire_owned() else {
        return Err(RejectCode::Overloaded);
    };
    metrics.in_flight.inc();
    let _in_flight = InFlight(&metrics.in_flight);
    let client = &g.clients[index];
    let limits = &g.config.limits;
    let (mut parts, incoming) = req.into_parts();
    let raw = if route.polices_body() {
        body::check_declared_length(&parts.headers, route.max_body_bytes)?;
        let raw = body::collect(incoming, route.max_body_bytes, limits.request_timeout).await?;
        tally.bytes_in = raw.len();
        Ok(raw)
    } else {
        body::check_declared_length(&parts.headers, route.max_body_bytes)?;
        Err(incoming)
    };
    // Policing is synchronous: everything below runs to completion before a byte goes out.
    let policing = Instant::now();
    let upstream_req = {
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        let new_query = police::query(&route, parts.uri.query(), limits, &mut cx)?;
        let query = new_query.as_deref().or(parts.uri.query());
        let uri = upstream_uri(&route, rest, query).map_err(|_| RejectCode::NoRoute)?;
        police::headers(&route, &mut parts.headers, &mut cx)?;
        let req = match raw {
            Ok(raw) => {
                let to_send = police::body(&route, &parts.headers, raw, limits, &mut cx)?;
                tally.bytes_out = to_send.len();
                let len = to_send.len() as u64;
                prepare(parts, uri, full(to_send), Some(len))
            }
            Err(incoming) => {
                let declared = parts
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                let streamed = Limited::new(incoming, route.max_body_bytes).boxed();
                prepare(parts, uri, streamed, declared)
            }
        };
        tally.counts = cx.counts;
        req
    };
    metrics
        .rewrite_seconds
        .observe(policing.elapsed().as_secs_f64());
    let upstream_started = Instant::now();

    let sent = tokio::time::timeout(limits.upstream_timeout, client.request(upstream_req)).await;
    metrics
        .upstream_seconds
        .observe(upstream_started.elapsed().as_secs_f64());
    let resp = match sent {
        Err(_) => return Err(RejectCode::UpstreamTimeout),
        Ok(Err(e)) => return Err(classify_upstream_error(&e)),
        Ok(Ok(resp)) => resp,
    };
    let (mut parts, incoming) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if route.response_plan.is_empty() || !police::is_json(&parts.headers) {
        // Streamed back as it comes: status, headers and body exactly as the upstream sent them.
        return Ok(Response::from_parts(
            parts,
            incoming.map_err(Into::into).boxed(),
        ));
    }
    let raw = body::collect(incoming, limits.max_decoded_bytes, limits.upstream_timeout)
        .await
        .map_err(|_| RejectCode::UpstreamFailed)?;
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let body = police::response(&route, &parts.headers, raw, limits, &mut cx);
    tally.reveal_failures = cx.reveal_failures;
    tally
        .counts
        .0
        .iter_mut()
        .zip(cx.counts.0)
        .for_each(|(a, b)| *a += b);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, body.len().into());
    Ok(Response::from_parts(parts, full(body)))
}

/// Decrements the route's in-flight gauge when the request ends, however it ends.
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn classify_upstream_error(e: &hyper_util::client::legacy::Error) -> RejectCode {
    if cause_is::<http_body_util::LengthLimitError>(e) {
        return RejectCode::BodyTooLarge;
    }
    if e.is_connect() {
        RejectCode::UpstreamUnreachable
    } else {
        RejectCode::UpstreamFailed
    }
}

/// Whether any error in `e`'s source chain is a `T` (classify by cause, not by message text).
fn cause_is<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        cur = err.source();
    }
    false
}
