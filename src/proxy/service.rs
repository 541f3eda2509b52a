//! The request path: route → police → forward → respond.
//!
//! Every failure becomes a response (the service's error type is `Infallible`), and every
//! rejection is decided before a single byte goes upstream.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{Method, Request, Response, header};
use http_body_util::Limited;

use super::body::{self, ClientBody};
use super::deadline::ExchangeTimer;
use super::police;
use super::respond::{full, reject};
use super::server::fields::RequestFields;
use super::upstream::{
    MAX_TARGET_LEN, UpstreamError, prepare, prepare_plain, strip_hop_by_hop, upstream_path,
};
use super::{Body, Generation};
use crate::canon;
use crate::config::{Bodies, OptOut, Route};
use crate::crypto::{OsNonces, with_thread_nonces};
use crate::error::{PathFault, RejectCode};
use crate::policy::action::ActionCounts;
use crate::policy::subject::SubjectScopes;
use crate::policy::{ApplyCx, DisclosureTally, FieldTally};
use crate::rewrite::body as coded;
use crate::store::{DisclosureKey, Label, SubjectKey};
use crate::telemetry::events::RequestDone;
use crate::telemetry::request_id::RequestId;

/// What one request did, for the log line.
#[derive(Debug, Default)]
struct Tally {
    route: Option<Arc<Route>>,
    opted_out: bool,
    index: Option<usize>,
    counts: ActionCounts,
    bytes_in: usize,
    bytes_out: usize,
    reveal_failures: u32,
    /// Selected values echo recognition did not search for (past its bounds).
    echo_skipped: u32,
    /// What the forwarded request disclosed, per (category, treatment).
    disclosed: DisclosureTally,
    /// Fields detection found.
    detected: FieldTally,
    /// The wall clock as the request was policed: the tokens' period and the ledger's day.
    policed_at: Option<SystemTime>,
    /// When the answer was ready, where nothing was left to do for it but send it: the end of
    /// the upstream exchange, read once for its own measure and the request's.
    answered: Option<Instant>,
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

/// Handles one request on one configuration generation, its answer labelled with the
/// request's id (the `x-piigate-request-id` field). `timer`: see [`handle_unlabelled`].
pub(super) async fn handle(
    generation: Arc<Generation>,
    req: Request<ClientBody>,
    mode: Mode,
    timer: Option<&mut ExchangeTimer>,
) -> Response<Body> {
    let (mut resp, request_id) = handle_unlabelled(generation, req, mode, timer, None).await;
    // The client correlates its call with piigate's log line; a header of that name from the
    // upstream is replaced, never trusted.
    let mut id = super::slab::header_value(&request_id.hex());
    // Unique to this answer: HTTP/2's HPACK would add each id to the connection's table (and
    // compare the next answer's id with every one still there), so it goes as a literal never
    // indexed. HTTP/1.1 ignores the flag.
    id.set_sensitive(true);
    resp.headers_mut().insert(RequestId::HEADER_NAME, id);
    resp
}

/// Handles one request on one configuration generation; the answer's writer labels it with
/// the returned id, and drops an `x-piigate-request-id` the answer's map may hold (an
/// upstream's, never trusted). piigate's own HTTP/1.1 server writes the id with the head, so
/// no map is built for it.
///
/// `timer`: the client connection's timer for upstream exchanges, where it keeps one (else
/// each exchange makes its own); only piigate's own HTTP/1.1 server keeps one, and only it
/// writes an answer's fields from the bytes they arrived in ([`Body::raw_fields`]): with
/// `None` (hyper's servers) every field is in the answer's map.
///
/// `plain`: the request's fields as they arrived, when piigate's own HTTP/1.1 server kept them
/// so (`req`'s map is empty then; see [`RequestFields`]). They stay so upstream on a route that
/// reads none of them, or only the body's type ([`reads_body_type_only`]).
pub(super) async fn handle_unlabelled(
    generation: Arc<Generation>,
    req: Request<ClientBody>,
    mode: Mode,
    timer: Option<&mut ExchangeTimer>,
    plain: Option<RequestFields>,
) -> (Response<Body>, RequestId) {
    let started = Instant::now();
    let request_id = RequestId::next();
    // A request whose fields were kept as they arrived carries none of those looked up here.
    let present = if plain.is_some() {
        Present(0)
    } else {
        Present::of(req.headers())
    };
    let trace = if present.has(Present::TRACEPARENT) {
        crate::telemetry::trace::TraceParent::from_headers(req.headers())
    } else {
        crate::telemetry::trace::TraceParent::Absent
    };
    let method = req.method().clone();
    let mut tally = Tally::default();
    let forwarded = forward(&generation, req, plain, &mode, present, timer, &mut tally).await;
    let (resp, code) = match forwarded {
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
    m.echo_skipped(tally.echo_skipped);
    m.detected(tally.detected.per_class());
    if code == Some(RejectCode::Overloaded) {
        m.overloaded();
    }
    RequestDone {
        request_id,
        trace,
        route: tally.route.as_ref().map(|r| r.name.as_str()),
        method: &method,
        status: resp.status().as_u16(),
        code,
        latency: tally
            .answered
            .map_or_else(|| started.elapsed(), |at| at - started),
        bytes_in: tally.bytes_in,
        bytes_out: tally.bytes_out,
        counts: &tally.counts,
        detected: tally.detected.total(),
        reveal_failures: tally.reveal_failures,
        echo_skipped: tally.echo_skipped,
    }
    .emit();
    (resp, request_id)
}

async fn forward(
    g: &Generation,
    req: Request<ClientBody>,
    mut plain: Option<RequestFields>,
    mode: &Mode,
    present: Present,
    timer: Option<&mut ExchangeTimer>,
    tally: &mut Tally,
) -> Result<Response<Body>, RejectCode> {
    if req.method() == Method::CONNECT {
        return Err(RejectCode::MethodNotAllowed);
    }
    // A plain request (its fields in `plain`, its map empty) has one `Host`, an origin-form
    // target and none of the fields looked up below.
    if plain.is_none() && !host_is_well_formed(&req) {
        return Err(RejectCode::BadRequest);
    }
    if present.has(Present::TRANSFER_ENCODING) && !only_chunked(req.headers()) {
        return Err(RejectCode::UnsupportedTransferCoding);
    }
    canon::headers::check_authority(&req)?;
    // Only a route that names a host, or the forward proxy, routes on it.
    let host = match (&plain, mode) {
        (_, Mode::Reverse) if !g.router.names_hosts() => None,
        (Some(fields), _) => super::router::host_field(fields.host()),
        (None, _) => super::router::request_host(&req),
    };
    let host = host.as_ref().map(super::router::Host::as_str);
    // One path for routing and forwarding, on every route (docs/BOUNDARY.md). The URI's clone
    // shares its bytes: the path borrows from it without a copy while `req` moves on.
    let uri = req.uri().clone();
    let normal = canon::path::normalize(uri.path()).map_err(RejectCode::BadPath)?;
    let path: &str = &normal.path;
    let found = match mode {
        Mode::Reverse => g.router.find(host, path),
        Mode::Forward(tunnel) => match tunnel.as_deref().or(host) {
            Some(h) if g.router.knows_host(h) => g.router.find_forward(h, path),
            _ => return Err(RejectCode::TargetNotAllowed),
        },
    };
    let (index, rest) = found.ok_or(RejectCode::NoRoute)?;
    let route = Arc::clone(&g.config.routes[index]);
    tally.route = Some(Arc::clone(&route));
    tally.index = Some(index);
    normal
        .check_prefix(&route.path_prefix)
        .map_err(RejectCode::BadPath)?;
    let metrics = &g.metrics[index];
    // Beyond the route's concurrency limit: 503 + Retry-After, before reading the body.
    let Ok(_permit) = Arc::clone(&g.permits[index]).try_acquire_owned() else {
        return Err(RejectCode::Overloaded);
    };
    metrics.in_flight.inc();
    let _in_flight = InFlight(&metrics.in_flight);
    let upstream = &g.upstreams[index];
    let limits = &g.config.limits;
    let (mut parts, incoming) = req.into_parts();
    let reads_fields = g.reads_fields[index];
    // On a route that reads fields, a plain request's stay as they arrived when the route
    // reads only its body's type and the request needs nothing else done to them by name
    // (`RequestFields::body_type_only`): the body is read by that type, and a reader that
    // takes a map gets one holding the type alone. Otherwise from here on they are all in
    // the map, as for any other request.
    if reads_fields
        && let Some(fields) = &plain
        && !(g.body_type_only[index] && fields.body_type_only())
    {
        parts.headers = fields.to_map().map_err(|_| RejectCode::BadRequest)?;
        plain = None;
    }
    if present.has(Present::COOKIE) {
        canon::headers::join_cookies(&mut parts.headers);
    }
    // A plain request kept so has one canonical `Content-Type` at most, no `Content-Encoding`
    // and no name with an underscore: neither step below would change or refuse it.
    if route.polices() && plain.is_none() {
        canon::headers::check_spellings(&parts.headers)?;
        canon::content::canonicalize(&mut parts.headers)?;
    }
    let opted_out = present.has(Present::OPT_OUT) && opt_out_signal(&parts.headers);
    if opted_out && route.opt_out == OptOut::Block {
        // Nothing leaves; the ledger keeps the count of honoured signals.
        let mut batch = g.services.ledger.batch();
        batch.disclosure(&opt_out_key(g, index, &route, OptOut::Block), 1);
        return Err(RejectCode::OptOutBlocked);
    }
    let policy = route.body_policy(opted_out);
    let reads_body = match route.bodies {
        Bodies::All => true,
        Bodies::Parameters => {
            let may_have_body = !http_body::Body::is_end_stream(&incoming);
            police::parameter_body(&mut parts.headers, may_have_body)?
        }
        Bodies::Unread => false,
    };
    // A body declared longer than the route takes is refused before a byte of it is read.
    let declared = match &plain {
        Some(fields) => fields.content_length(),
        None => body::declared_length(&parts.headers),
    };
    body::check_declared_length(declared, route.max_body_bytes)?;
    let mut found_scopes = Vec::new();
    let raw = if reads_body {
        let raw = body::collect(incoming, route.max_body_bytes, limits.request_timeout).await?;
        tally.bytes_in = raw.len();
        let layer = match route.body_layer(opted_out, parts.uri.query()) {
            Ok(l) => l,
            // An observing route forwards what it cannot read as it came.
            Err(_) if policy.observe_only => coded::Layer::AsLabelled,
            Err(e) => return Err(e),
        };
        let policy = policy.for_body(layer);
        let max = limits.max_decoded_bytes;
        let decoded = match &plain {
            Some(fields) => coded::decode_typed(policy, layer, fields.content_type(), raw, max)?,
            None => coded::decode(policy, layer, &parts.headers, raw, max)?,
        };
        // The people it is about, read where the rewrite reads them (a form layer's document
        // included).
        let found = match &route.subject {
            Some(path) => {
                if let Some(fields) = &plain {
                    type_into(fields, &mut parts.headers)?;
                }
                coded::subject_scopes(policy, layer, &parts.headers, decoded.plain(), path)?
            }
            None => Vec::new(),
        };
        found_scopes = found;
        Ok((decoded, policy))
    } else {
        Err(incoming)
    };
    // The people this request is about: their secrets come from the store (async) before the
    // synchronous policing below.
    let subjects = match (&route.subject_bases, found_scopes.is_empty()) {
        // Boxed, as is `record_recipients` below: store calls are large futures, and inline
        // they would enlarge every request's future (copied at each move), not only this
        // route's.
        (Some(bases), false) => Box::pin(subjects(g, &route, found_scopes, bases)).await?,
        _ => None,
    };
    // For a streamed (unpoliced) body: set when it breaks on the client's side.
    let mut client_broke = None;
    // Policing is synchronous: everything below runs to completion before a byte goes out.
    let policing = Instant::now();
    // The request to send, put here by the policing: returned instead, it was copied whole
    // (~320 bytes) out of each layer around it (the panic guard, the worker's nonces).
    let mut policed = None;
    let police_request = |nonces: &mut OsNonces| -> Result<(), RejectCode> {
        // A route that reads no field by name (no rules, no body read) applies no action: its
        // state neither takes and wipes the worker's buffers nor reads the clock for tokens.
        let mut cx = ApplyCx::for_request(nonces, reads_fields, subjects.as_deref());
        if reads_fields {
            let now = SystemTime::now();
            cx.now_unix = unix_secs(now);
            tally.policed_at = Some(now);
        }
        let body_in = match &raw {
            Ok((decoded, body_policy)) => {
                let typed = match &plain {
                    Some(fields) => fields.content_type().is_some(),
                    None => parts.headers.contains_key(header::CONTENT_TYPE),
                };
                if !decoded.plain().is_empty() && !typed {
                    // Policed as beacon text: say so, or Rack reads an unlabelled body as a form.
                    parts
                        .headers
                        .insert(header::CONTENT_TYPE, police::BEACON_TYPE);
                }
                Some((*body_policy, decoded.plain()))
            }
            Err(_) => None,
        };
        // Values a rule selects anywhere in the request are searched for in every text it
        // scrubs: collected first, over every document (README, "Names the payload gives
        // away").
        // The body, when the collection could police it in the same pass.
        let mut policed_body = None;
        // Derived once per configuration for the route's own plans (no body, or a body
        // policed with them); a form layer's plans are the request's.
        let echoes = match body_in {
            Some((p, _)) if !p.plans.same_as(policy.plans) => police::echoes(policy, Some(p)),
            _ => g.echoes[index][usize::from(opted_out)],
        };
        if echoes {
            if let Some(fields) = &plain {
                type_into(fields, &mut parts.headers)?;
            }
            cx.collect_request(|cx| {
                policed_body = police::collect(
                    policy,
                    parts.uri.query(),
                    &parts.headers,
                    body_in,
                    limits,
                    cx,
                )?;
                Ok::<_, RejectCode>(())
            })?;
        }
        let new_query = police::query(policy, parts.uri.query(), limits, &mut cx)?;
        let query = new_query.as_deref().or(parts.uri.query());
        // The route matched, so a target that does not join is too long once normalised
        // (escapes, the base path and policed values lengthen it); any other failure is ours.
        let target = upstream_path(&route, rest, query).map_err(|_| {
            let len =
                route.upstream.base_path.len() + rest.len() + query.map_or(0, |q| q.len() + 1);
            if len > MAX_TARGET_LEN {
                RejectCode::BadPath(PathFault::TooLong)
            } else {
                RejectCode::Internal
            }
        })?;
        police::headers(policy, &mut parts.headers, limits, &mut cx)?;
        // First-party hygiene, every route: only named cookies leave, and the page's URL
        // leaves as its origin (README, "First-party proxy hygiene"). (Header rules rewrite
        // the fields a request has and add none, so a field absent at the start still is.)
        if present.has(Present::COOKIE) {
            police::cookies(policy, &mut parts.headers, limits, &mut cx)?;
            // Of those, none named like a policed parameter: PHP's `$_REQUEST` reads cookies
            // too.
            police::parameter_cookies(policy, &mut parts.headers);
        }
        if present.has(Present::REFERRERS) {
            police::referrer(policy, &mut parts.headers);
        }
        let req = match raw {
            Ok((decoded, body_policy)) => {
                // `decode` read the body's format from the same `Content-Type`: no header
                // rule can have changed it since (the configuration refuses one that names
                // it; checked again here), and the beacon type it may have been given reads
                // as its absence did. One header-map look-up and reading fewer per request.
                let known = decoded.format().filter(|_| {
                    (policy.plans.fields.header)
                        .find_header(header::CONTENT_TYPE.as_str())
                        .is_none()
                });
                let rewrite_limits = &police::rewrite_limits(limits);
                let rewritten = match (policed_body.take(), known) {
                    (Some(policed), _) => policed,
                    (None, Some(format)) => coded::police_as(
                        body_policy,
                        format,
                        decoded.plain(),
                        rewrite_limits,
                        &mut cx,
                    )?,
                    (None, None) => {
                        if let Some(fields) = &plain {
                            type_into(fields, &mut parts.headers)?;
                        }
                        coded::police(
                            body_policy,
                            &parts.headers,
                            decoded.plain(),
                            rewrite_limits,
                            &mut cx,
                        )?
                    }
                };
                let to_send = decoded.finish(rewritten)?;
                tally.bytes_out = to_send.len();
                if plain.is_some() {
                    // The fields go as they arrived, with the policed body's own length
                    // (`Upstream::send`); the map held nothing but the type a reader was
                    // given (`type_into`).
                    parts.headers.clear();
                    prepare_plain(parts, target, full(to_send))
                } else {
                    let len = to_send.len() as u64;
                    prepare(parts, target, full(to_send), Some(len))
                }
            }
            Err(incoming) => {
                let broke = client_broke.insert(body::Broke::default());
                let watched = body::Watched::new(incoming, broke, limits.request_timeout);
                let streamed = Body::Streamed(Limited::new(watched, route.max_body_bytes));
                if plain.is_some() {
                    // The fields and their length go with `plain`: nothing from the map.
                    parts.headers.clear();
                    prepare_plain(parts, target, streamed)
                } else {
                    let declared = body::declared_length(&parts.headers);
                    prepare(parts, target, streamed, declared)
                }
            }
        };
        tally.counts = cx.counts;
        tally.echo_skipped = cx.echo_skipped;
        tally.disclosed = cx.disclosed;
        tally.detected = std::mem::take(&mut cx.detected);
        policed = Some(req);
        Ok(())
    };
    with_thread_nonces(|nonces| refuse_on_panic(|| police_request(nonces)))?;
    // Policing that ended without an error put the request there.
    let Some(upstream_req) = policed else {
        return Err(RejectCode::Internal);
    };
    tally.opted_out = opted_out;
    if let Some(s) = &subjects {
        // The Art. 19 list: this recipient now holds data of these people.
        Box::pin(record_recipients(g, &route, s)).await?;
    }
    // The runtime's clock, whose reading is the standard one outside tests: one reading for
    // the policing's measure and the exchange's deadline.
    let upstream_started = tokio::time::Instant::now();
    metrics
        .rewrite_seconds
        .observe((upstream_started.into_std() - policing).as_secs_f64());

    let send = std::pin::pin!(upstream.send(upstream_req, plain.as_ref()));
    let writes_raw_fields = timer.is_some();
    let sent = match timer {
        Some(timer) => timer
            .within(upstream_started, limits.upstream_timeout, send)
            .await
            .ok(),
        None => tokio::time::timeout(limits.upstream_timeout, send)
            .await
            .ok(),
    };
    let exchanged = Instant::now();
    metrics
        .upstream_seconds
        .observe((exchanged - upstream_started.into_std()).as_secs_f64());
    // Whatever reached the upstream was disclosed, whether or not it answered in time; only a
    // connection that never opened sent nothing.
    if !matches!(&sent, Some(Err(e)) if e.is_connect()) {
        record_disclosures(g, index, &route, opted_out, tally);
    }
    let resp = match sent {
        None => return Err(RejectCode::UpstreamTimeout),
        // The client broke its body (bad chunk framing, aborted upload) or was too slow to send
        // it: not the upstream's fault.
        Some(Err(e)) => {
            return Err(client_broke
                .as_ref()
                .and_then(body::Broke::get)
                .unwrap_or_else(|| classify_upstream_error(&e)));
        }
        Some(Ok(resp)) => resp,
    };
    let (mut parts, mut incoming) = resp.into_parts();
    let as_they_came = route.response_plan.is_empty()
        && incoming.raw_fields().is_some_and(|f| f.pass_as_they_are());
    if writes_raw_fields && as_they_came {
        // Nothing to read or rewrite in the fields: the client's writer passes them on from
        // the bytes they arrived in, less this hop's (as `strip_hop_by_hop` below would).
        tally.answered = Some(exchanged);
        return Ok(Response::from_parts(parts, Body::Upstream(incoming)));
    }
    incoming
        .fields_into(&mut parts.headers)
        .map_err(|_| RejectCode::UpstreamFailed)?;
    strip_hop_by_hop(&mut parts.headers);
    police::set_cookies(&route, &mut parts.headers);
    if route.response_plan.is_empty() || !police::is_json(&parts.headers) {
        // Streamed back as it comes: status, headers and body exactly as the upstream sent them.
        tally.answered = Some(exchanged);
        return Ok(Response::from_parts(parts, Body::Upstream(incoming)));
    }
    // A response too slow to arrive is the upstream's timeout; one too large or broken is
    // its failure.
    let raw = body::collect(incoming, limits.max_decoded_bytes, limits.upstream_timeout)
        .await
        .map_err(|code| match code {
            RejectCode::RequestTimeout => RejectCode::UpstreamTimeout,
            _ => RejectCode::UpstreamFailed,
        })?;
    // The worker's batched nonces, as for the request: a source of its own per response
    // would draw a fresh batch from the OS for every policed response.
    let body = with_thread_nonces(|nonces| {
        let mut cx = ApplyCx::for_request(nonces, true, subjects.as_ref().map(|s| &s.scopes));
        let body = police::response(&route, &parts.headers, raw, limits, &mut cx);
        tally.reveal_failures = cx.reveal_failures;
        tally
            .counts
            .0
            .iter_mut()
            .zip(cx.counts.0)
            .for_each(|(a, b)| *a += b);
        body
    });
    parts.headers.insert(
        header::CONTENT_LENGTH,
        super::slab::decimal(body.len() as u64),
    );
    Ok(Response::from_parts(parts, full(body)))
}

/// Whether a request on `route` has its fields read by name anywhere on the request path:
/// rules of any kind, a body read (its coding and type are fields), values searched for as
/// echoes. Such a route gets the request's fields in a map (all of them, or only the body's
/// type: [`reads_body_type_only`]); on the others, a plain request's go upstream as the bytes
/// they arrived in.
pub(super) fn reads_request_fields(route: &Route) -> bool {
    route.polices()
        || route.bodies != Bodies::Unread
        || !route.fields.header.is_empty()
        || !route.fields.cookie.is_empty()
        || route.fields.query.polices()
        || police::echoes(route.body_policy(false), None)
}

/// Puts a kept plain request's `Content-Type` in `headers`, for a reader that takes a map
/// ([`RequestFields::type_into`]); the map holds nothing else, and is cleared before the
/// fields go upstream as they arrived.
fn type_into(fields: &RequestFields, headers: &mut http::HeaderMap) -> Result<(), RejectCode> {
    fields
        .type_into(headers)
        .map(drop)
        .map_err(|_| RejectCode::BadRequest)
}

/// Whether the only request field read by name on `route` is its body's `Content-Type`
/// (with `Content-Encoding`, which must then be absent, and `Content-Length`, which plain
/// fields carry read): a body policed by its rules, no field rules of any kind in either of
/// its policies, no subject read. There a plain request's fields stay the bytes they arrived
/// in ([`RequestFields::body_type_only`]); the first-party hygiene's fields (`Cookie`,
/// `Referer`, `Origin`, the opt-out signals) keep a request from being plain.
pub(super) fn reads_body_type_only(route: &Route) -> bool {
    route.bodies == Bodies::All
        && route.subject.is_none()
        && [false, true].into_iter().all(|opted_out| {
            let fields = route.body_policy(opted_out).plans.fields;
            fields.header.is_empty() && fields.cookie.is_empty()
        })
}

/// Writes one forwarded request's counts to the disclosure ledger, under one lock. The
/// ledger's own maps allocate for a cell or path not yet pending; nothing else does.
fn record_disclosures(g: &Generation, index: usize, route: &Route, opted_out: bool, t: &Tally) {
    if t.disclosed.is_empty() && t.detected.is_empty() && !opted_out {
        return;
    }
    let (Some(name), Some(keys)) = (g.ledger_names.get(index), g.ledger_cells.get(index)) else {
        return;
    };
    // Counted on the day the request was policed (one clock reading for both).
    let mut batch = match t.policed_at {
        Some(at) => g.services.ledger.batch_at(at),
        None => g.services.ledger.batch(),
    };
    for (cell, n) in t.disclosed.counted() {
        if let Some(key) = keys.get(cell) {
            batch.cell(key, u64::from(n));
        }
    }
    // Most requests detect nothing: the entries' walk over every class is skipped.
    if !t.detected.is_empty() {
        for (path, class, n) in t.detected.entries() {
            batch.field(name, path, &Label::Borrowed(class.as_str()), u64::from(n));
        }
    }
    if opted_out {
        batch.disclosure(&opt_out_key(g, index, route, route.opt_out), 1);
    }
}

/// The ledger cell counting requests that carried an opt-out signal: category `opt_out`,
/// treatment what the route did with it (`blocked`, `strict`, `ignored`).
fn opt_out_key(g: &Generation, index: usize, route: &Route, what: OptOut) -> DisclosureKey {
    let name = g
        .ledger_names
        .get(index)
        .map_or_else(|| Arc::from(route.name.as_str()), Arc::clone);
    let treatment = match what {
        OptOut::Block => "blocked",
        OptOut::Strict => "strict",
        OptOut::None => "ignored",
    };
    DisclosureKey::new(
        name,
        route.purpose.as_str(),
        crate::report::OPT_OUT_CATEGORY,
        treatment,
    )
}

/// Which of the fields the request path looks up a request carries, from one look at each
/// of its names. A hashed lookup costs as much for a field that is absent as for one that is
/// there, and most requests carry none of these: the checks and the hygiene steps for them
/// are skipped when the field is not there at all. Taken before anything changes the fields;
/// valid for fields nothing on the request path adds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Present(u8);

impl Present {
    const TRACEPARENT: u8 = 1;
    const TRANSFER_ENCODING: u8 = 1 << 1;
    const COOKIE: u8 = 1 << 2;
    /// `Sec-GPC` or `DNT`.
    const OPT_OUT: u8 = 1 << 3;
    /// `Referer`, `Referrer` or `Origin`.
    const REFERRERS: u8 = 1 << 4;

    fn of(headers: &http::HeaderMap) -> Self {
        Self(headers.keys().fold(0, |found, name| {
            found
                | match name.as_str() {
                    "traceparent" => Self::TRACEPARENT,
                    "transfer-encoding" => Self::TRANSFER_ENCODING,
                    "cookie" => Self::COOKIE,
                    "sec-gpc" | "dnt" => Self::OPT_OUT,
                    "referer" | "referrer" | "origin" => Self::REFERRERS,
                    _ => 0,
                }
        }))
    }

    fn has(self, field: u8) -> bool {
        self.0 & field != 0
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`; no version may carry two. (HTTP/2
/// names the authority in `:authority`, so `Host` is optional there; HTTP/1.0 predates it.)
/// Routing and the upstream's `Host` never depend on a second value, but a request that two
/// parsers could read differently is refused rather than forwarded.
fn host_is_well_formed<B>(req: &Request<B>) -> bool {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => false,
        (None, _) => req.version() != http::Version::HTTP_11,
        (Some(_), None) => true,
    }
}

/// RFC 9112 §6.1: `chunked` is the only transfer coding piigate understands. hyper removes the
/// chunked framing but passes any coding before it (`gzip, chunked`) through undecoded, so
/// such a body would be policed — or streamed upstream — still coded. Refused with 501.
fn only_chunked(headers: &http::HeaderMap) -> bool {
    headers.get_all(header::TRANSFER_ENCODING).iter().all(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case(b"chunked"))
    })
}

/// Whether the request carries an opt-out signal: Global Privacy Control (`Sec-GPC: 1`, which
/// California requires honouring as an opt-out of sale/sharing) or Do Not Track (`DNT: 1`).
fn opt_out_signal(headers: &http::HeaderMap) -> bool {
    // Built once (statics: a lookup by `&str` parses the name on every call, and a const
    // header name is built and dropped at every use).
    static SEC_GPC: header::HeaderName = header::HeaderName::from_static("sec-gpc");
    static DNT: header::HeaderName = header::HeaderName::from_static("dnt");
    let on = |name: &header::HeaderName| {
        headers
            .get(name)
            .is_some_and(|v| v.as_bytes().trim_ascii() == b"1")
    };
    on(&SEC_GPC) || on(&DNT)
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The people of one request: their scopes, keys and store references.
struct Subjects {
    scopes: SubjectScopes,
    keys: Vec<SubjectKey>,
}

impl std::ops::Deref for Subjects {
    type Target = SubjectScopes;
    fn deref(&self) -> &SubjectScopes {
        &self.scopes
    }
}

/// Fetches (or creates) the secrets of the people a body is about (`found`, from
/// [`coded::subject_scopes`]).
async fn subjects(
    g: &Generation,
    route: &Route,
    found: Vec<crate::rewrite::subject::Scope>,
    bases: &crate::policy::subject::SubjectBases,
) -> Result<Option<Subjects>, RejectCode> {
    let Some(keyer) = &g.services.keyer else {
        return Err(RejectCode::Internal);
    };
    let mut out = Subjects {
        scopes: SubjectScopes::default(),
        keys: Vec::new(),
    };
    let mut ids: Vec<String> = Vec::new();
    for scope in found {
        let k = match ids.iter().position(|id| *id == scope.subject) {
            Some(k) => k,
            None => {
                let key = keyer.subject_key(scope.subject.as_bytes());
                let secret = g
                    .services
                    .store
                    .get_or_create_subject_secret(&key)
                    .await
                    .map_err(|e| {
                        crate::telemetry::events::StoreFailed {
                            route: &route.name,
                            code: e.code(),
                        }
                        .emit();
                        RejectCode::StoreUnavailable
                    })?;
                out.scopes
                    .keys
                    .push(crate::policy::subject::SubjectKeys::derive(bases, &secret));
                out.keys.push(key);
                ids.push(scope.subject);
                ids.len() - 1
            }
        };
        out.scopes.ranges.push((scope.start, scope.end, k));
    }
    Ok(Some(out))
}

async fn record_recipients(g: &Generation, route: &Route, s: &Subjects) -> Result<(), RejectCode> {
    for key in &s.keys {
        g.services
            .store
            .record_recipient(key, &route.name)
            .await
            .map_err(|e| {
                crate::telemetry::events::StoreFailed {
                    route: &route.name,
                    code: e.code(),
                }
                .emit();
                RejectCode::StoreUnavailable
            })?;
    }
    Ok(())
}

/// Decrements the route's in-flight gauge when the request ends, however it ends.
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn classify_upstream_error(e: &UpstreamError) -> RejectCode {
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

/// Runs the synchronous policing of one request, a panic in it (a defect: no input should
/// reach one) refused as [`RejectCode::Internal`]: the client still gets its JSON error and
/// nothing is forwarded, where an unwinding task would have dropped the connection without an
/// answer. Unwinding drops the request's state, whose kept buffers wipe themselves; the panic
/// hook `serve` installs logs where it happened, never its message (a slice's panic quotes the
/// text it sliced: request data).
fn refuse_on_panic<T>(police: impl FnOnce() -> Result<T, RejectCode>) -> Result<T, RejectCode> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(police))
        .unwrap_or(Err(RejectCode::Internal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_policing_is_refused_as_an_internal_error() {
        let refused: Result<usize, RejectCode> = refuse_on_panic(|| {
            let text = "write to alice@example.com";
            // A slice out of bounds, as the span scanner's once was: its message quotes text.
            let n = text.len() + usize::from(text.is_empty());
            Ok(text[n..n + 1].len())
        });
        assert_eq!(refused, Err(RejectCode::Internal));
        assert_eq!(refuse_on_panic(|| Ok::<_, RejectCode>(7)), Ok(7));
        assert_eq!(
            refuse_on_panic(|| Err::<(), _>(RejectCode::MalformedBody)),
            Err(RejectCode::MalformedBody)
        );
    }

    #[test]
    fn every_field_looked_up_by_name_is_seen_present_whatever_its_spelling() {
        let cases = [
            ("traceparent", Present::TRACEPARENT),
            ("Transfer-Encoding", Present::TRANSFER_ENCODING),
            ("COOKIE", Present::COOKIE),
            ("sec-gpc", Present::OPT_OUT),
            ("DNT", Present::OPT_OUT),
            ("Referer", Present::REFERRERS),
            ("referrer", Present::REFERRERS),
            ("Origin", Present::REFERRERS),
        ];
        for (name, bit) in cases {
            let mut headers = http::HeaderMap::new();
            headers.insert("content-type", "text/plain".parse().expect("valid"));
            let name = http::HeaderName::from_bytes(name.as_bytes()).expect("a name");
            headers.append(name.clone(), "1".parse().expect("valid"));
            let present = Present::of(&headers);
            assert!(present.has(bit), "{name}");
            assert_eq!(present.0.count_ones(), 1, "{name}");
        }
        let plain = Present::of(&http::HeaderMap::new());
        assert_eq!(plain.0, 0);
    }
}
