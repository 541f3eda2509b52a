//! The admin listener.
//!
//! Separate port, plain HTTP, meant for loopback or a pod network. `/healthz`, `/readyz` and
//! `/metrics` are open (probes and scrapers); every `/v1` endpoint needs
//! `Authorization: Bearer <token>` with the token from `[admin] token_env`, compared in
//! constant time. Without a configured token the `/v1` endpoints are disabled, and a
//! non-loopback admin address without a token is refused at load.
//!
//! `/report` (the HTML disclosure report) needs the same token. A browser cannot add a bearer
//! header to a page load, so `/report` also accepts HTTP Basic authentication with the token
//! as the password (any user name): the browser asks once and keeps it for the session. The
//! token is never accepted in the URL, where it would end up in history, logs and referrers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::reload::Reloader;
use super::respond::full;
use super::{Body, Current};
use crate::audit::{AuditEvent, AuditKind, Outcome as AuditOutcome};
use crate::canon::percent::{self, Plus};
use crate::policy::subject::SubjectScopes;
use crate::services::Services;

/// The OpenAPI document of this API (served without a token: it holds no secrets).
const OPENAPI: &str = include_str!("openapi.json");

/// What admin handlers need.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) current: Current,
    pub(crate) services: Arc<Services>,
    pub(crate) reloader: Option<Arc<Reloader>>,
}

/// How long one admin connection may live before it is asked to close (HTTP/1.1 answers its
/// current request with `Connection: close`, HTTP/2 gets GOAWAY). Probes and scrapers
/// reconnect; an idle or trickling connection cannot hold one of the few slots for long.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// After [`CONNECTION_LIFETIME`], how long an in-flight admin request may still take.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Serves admin requests until `stop` flips, at most `max_connections` at a time: beyond that,
/// connections wait in the kernel's accept queue instead of taking memory here.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AdminState,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => return,
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, _) = tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = "admin", error = %e, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(state, req).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10));
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = tokio::time::sleep(CONNECTION_LIFETIME) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
                }
            }
        });
    }
}

/// The method an admin path accepts, if the path exists.
fn allowed_method(path: &str) -> Option<Method> {
    match path {
        "/healthz" | "/readyz" | "/metrics" | "/v1/openapi.json" | "/v1/report" | "/report" => {
            Some(Method::GET)
        }
        "/v1/reload" => Some(Method::POST),
        p if p.starts_with("/v1/preview/") || p.starts_with("/v1/reveal/") => Some(Method::POST),
        p if p.starts_with("/v1/subjects/") => Some(Method::DELETE),
        _ => None,
    }
}

async fn route(state: AdminState, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if let Some(allowed) = allowed_method(&path)
        && allowed != method
    {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not accept that method",
        );
        if let Ok(v) = HeaderValue::from_str(allowed.as_str()) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    }
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned()),
        (&Method::GET, "/readyz") => {
            // Ready only when config, keyring and store are usable.
            let g = state.current.load_full();
            match state.services.store.ping().await {
                Ok(()) => json(
                    StatusCode::OK,
                    format!(
                        r#"{{"status":"ready","generation":{},"routes":{},"keys":{}}}"#,
                        g.number,
                        g.config.routes.len(),
                        g.config.key_ids.len()
                    ),
                ),
                Err(e) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    &format!("the store is not reachable: {}", e.code()),
                ),
            }
        }
        (&Method::GET, "/metrics") => {
            let mut r = Response::new(full(Bytes::from(state.services.metrics.encode())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        (&Method::GET, "/v1/openapi.json") => json(StatusCode::OK, OPENAPI.to_owned()),
        (&Method::GET, "/report") => {
            if let Some(resp) = authorize(&state, &req, Auth::BearerOrBasic) {
                return resp;
            }
            report(&state, req.uri().query(), Format::Html).await
        }
        (_, p) if p.starts_with("/v1/") => {
            if let Some(resp) = authorize(&state, &req, Auth::Bearer) {
                return resp;
            }
            v1(state, req, &method, &path).await
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint"),
    }
}

/// How an endpoint accepts the admin token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// `Authorization: Bearer <token>` only (the API).
    Bearer,
    /// Also `Authorization: Basic` with the token as the password (the HTML page, for browsers).
    BearerOrBasic,
}

/// `None` when the request may proceed, else the refusal to send.
fn authorize(state: &AdminState, req: &Request<Incoming>, auth: Auth) -> Option<Response<Body>> {
    let g = state.current.load();
    let Some(token) = g.config.admin.as_ref().and_then(|a| a.token.as_ref()) else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the /v1 admin endpoints are disabled: no bearer token is configured ([admin] token_env)",
        ));
    };
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let presented = match (header.strip_prefix(b"Bearer "), auth) {
        (Some(t), _) => Some(zeroize::Zeroizing::new(t.to_vec())),
        (None, Auth::BearerOrBasic) => basic_password(header),
        (None, Auth::Bearer) => None,
    };
    match presented {
        Some(p) if !p.is_empty() && token.matches(&p) => None,
        _ => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required",
            );
            let challenge = match auth {
                Auth::Bearer => "Bearer",
                Auth::BearerOrBasic => "Basic realm=\"piigate report\", charset=\"UTF-8\"",
            };
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            Some(r)
        }
    }
}

/// The password of an `Authorization: Basic base64(user:password)` header.
fn basic_password(header: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    let b64 = header.strip_prefix(b"Basic ")?.trim_ascii();
    let decoded =
        zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(b64).ok()?);
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some(zeroize::Zeroizing::new(decoded[colon + 1..].to_vec()))
}

/// How the report is served.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

/// `GET /v1/report` and `GET /report`: this process's pending counts are flushed first, so the
/// report includes everything recorded here until now (other replicas' within their flush
/// interval).
async fn report(state: &AdminState, query: Option<&str>, format: Format) -> Response<Body> {
    let param = |name: &str| {
        query.and_then(|q| {
            q.split('&')
                .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        })
    };
    let (from, to) =
        match crate::report::range(param("from"), param("to"), crate::store::Day::today()) {
            Ok(r) => r,
            Err(e) => return error(StatusCode::BAD_REQUEST, "bad_date_range", &e.to_string()),
        };
    let services = &state.services;
    if let Err(e) = services.ledger.flush(&services.store).await {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            &format!("pending ledger counts could not be written: {}", e.code()),
        );
    }
    let ledger = if from > to {
        // An empty range: nothing to read.
        Ok(crate::store::LedgerReport {
            from,
            to,
            disclosures: Vec::new(),
            fields: Vec::new(),
        })
    } else {
        services.store.ledger_report(from, to).await
    };
    let ledger = match ledger {
        Ok(l) => l,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                &format!("the ledger could not be read: {}", e.code()),
            );
        }
    };
    let report = crate::report::Report::build(&ledger);
    match format {
        Format::Json => match serde_json::to_string(&report) {
            Ok(body) => json(StatusCode::OK, body),
            Err(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the report could not be serialised",
            ),
        },
        Format::Html => html(report.to_html()),
    }
}

fn html(body: String) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from(body)));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // No scripts, no external anything; inline styles only.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn v1(
    state: AdminState,
    req: Request<Incoming>,
    method: &Method,
    path: &str,
) -> Response<Body> {
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["reload"]) => {
            let Some(reloader) = &state.reloader else {
                return error(
                    StatusCode::CONFLICT,
                    "reload_unavailable",
                    "this gateway was not started from a config file",
                );
            };
            match reloader.reload("admin").await {
                Ok(n) => json(
                    StatusCode::OK,
                    format!(r#"{{"status":"reloaded","generation":{n}}}"#),
                ),
                Err(d) => {
                    // Diagnostics name config locations and key names, never keyring material.
                    let items: Vec<serde_json::Value> = d
                        .items()
                        .iter()
                        .map(|x| serde_json::Value::String(x.to_string()))
                        .collect();
                    let body = serde_json::json!({
                        "error": {"code": "reload_failed", "message": "the new configuration was rejected; the previous one keeps serving"},
                        "diagnostics": items,
                    });
                    json(StatusCode::UNPROCESSABLE_ENTITY, body.to_string())
                }
            }
        }
        (&Method::POST, ["preview" | "reveal", name]) => {
            let op = segments[0];
            let generation = state.current.load_full();
            let Some(route) = generation
                .config
                .routes
                .iter()
                .find(|r| r.name == *name)
                .cloned()
            else {
                return error(StatusCode::NOT_FOUND, "no_route", "no route has this name");
            };
            let limits = generation.config.limits.clone();
            let (parts, body) = req.into_parts();
            let raw =
                match super::body::collect(body, limits.max_body_bytes, limits.request_timeout)
                    .await
                {
                    Ok(b) => b,
                    Err(code) => return error(code.status(), code.as_str(), code.message()),
                };
            // `?request_query=…`: the (percent-encoded) query the body's request came with,
            // which may name the vendor's coding (`compression%3Dbase64`).
            let request_query = parts.uri.query().and_then(|q| {
                q.split('&')
                    .find_map(|p| p.strip_prefix("request_query="))
                    .and_then(percent_decode)
            });
            let payload =
                crate::ops::Payload::body(parts.headers.clone(), request_query.as_deref(), &raw);
            if op == "preview" {
                // Preview uses the route's keys: it never creates subject secrets in the store.
                let result = crate::ops::preview(&generation.config, &route, &payload);
                match result {
                    Ok(out) if out.is_empty() => {
                        let mut r = Response::new(full(Bytes::from(out)));
                        *r.status_mut() = StatusCode::NO_CONTENT;
                        r
                    }
                    Ok(out) => {
                        let mut r = Response::new(full(Bytes::from(out)));
                        // The body keeps the request's type (bodies without one are policed as JSON).
                        let ct = parts
                            .headers
                            .get(header::CONTENT_TYPE)
                            .cloned()
                            .unwrap_or(HeaderValue::from_static("application/json"));
                        r.headers_mut().insert(header::CONTENT_TYPE, ct);
                        if let Some(ce) = parts.headers.get(header::CONTENT_ENCODING) {
                            r.headers_mut().insert(header::CONTENT_ENCODING, ce.clone());
                        }
                        r
                    }
                    Err(crate::ops::OpsError::Refused(code)) => {
                        error(code.status(), code.as_str(), code.message())
                    }
                    Err(crate::ops::OpsError::Rewrite(_)) => error(
                        StatusCode::BAD_REQUEST,
                        "malformed_body",
                        "the payload is not valid for its content type",
                    ),
                    Err(_) => error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "the preview failed",
                    ),
                }
            } else {
                // `?subject=<id>`: an access request; that person's envelopes open too.
                let subject_id = parts.uri.query().and_then(|q| {
                    q.split('&')
                        .find_map(|p| p.strip_prefix("subject="))
                        .and_then(percent_decode)
                });
                let mut scopes = None;
                let mut subject_ref = None;
                if let Some(id) = subject_id {
                    match subject_scopes(&state, &route, &id).await {
                        Ok((s, key)) => {
                            scopes = Some(s);
                            subject_ref = Some(key);
                        }
                        Err(resp) => return resp,
                    }
                }
                let result =
                    crate::ops::reveal_for(&generation.config, &route, &payload, scopes.as_ref());
                let outcome = if result.is_ok() {
                    AuditOutcome::Succeeded
                } else {
                    AuditOutcome::Failed
                };
                state
                    .services
                    .audit(AuditEvent {
                        kind: AuditKind::Reveal,
                        actor: "admin".to_owned(),
                        outcome,
                        route: Some(route.name.clone()),
                        subject: subject_ref,
                        recipients: Vec::new(),
                        detail: None,
                    })
                    .await;
                let is_json = matches!(
                    crate::rewrite::body::format(&parts.headers, route.body_coding.as_ref()),
                    Ok(f) if f.json_lines().is_some()
                );
                let coded = parts.headers.contains_key(header::CONTENT_ENCODING);
                match result {
                    // A vendor's gzip (sniffed or named) comes back gzipped: not JSON text.
                    Ok(out) if is_json && !coded && !out.starts_with(&[0x1f, 0x8b]) => {
                        json(StatusCode::OK, String::from_utf8_lossy(&out).into_owned())
                    }
                    Ok(out) => {
                        // A form comes back as a form, a coded body coded as it came.
                        let mut r = json(StatusCode::OK, String::new());
                        *r.body_mut() = full(Bytes::from(out));
                        for name in [header::CONTENT_TYPE, header::CONTENT_ENCODING] {
                            match parts.headers.get(&name) {
                                Some(v) => {
                                    r.headers_mut().insert(name, v.clone());
                                }
                                None => {
                                    r.headers_mut().remove(name);
                                }
                            }
                        }
                        r
                    }
                    Err(crate::ops::OpsError::Refused(code)) => {
                        error(code.status(), code.as_str(), code.message())
                    }
                    // The message names the fields (as report paths write them), never a value.
                    Err(e @ crate::ops::OpsError::RevealFailed { .. }) => error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "reveal_failed",
                        &e.to_string(),
                    ),
                    Err(crate::ops::OpsError::Rewrite(_)) => error(
                        StatusCode::BAD_REQUEST,
                        "malformed_body",
                        "the payload is not valid for its content type",
                    ),
                    Err(_) => error(
                        StatusCode::CONFLICT,
                        "no_keys",
                        "the route has no keyring to reveal with",
                    ),
                }
            }
        }
        (&Method::DELETE, ["subjects", id]) => erase(&state, id).await,
        (&Method::GET, ["report"]) => report(&state, req.uri().query(), Format::Json).await,
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint"),
    }
}

/// Crypto-shredding: destroys the subject's secret everywhere (this replica at once, others
/// within the store's cache TTL) and answers the recipients to notify (GDPR Art. 19).
async fn erase(state: &AdminState, raw_id: &str) -> Response<Body> {
    let Some(id) = percent_decode(raw_id) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_subject_id",
            "the subject id is not valid percent-encoded UTF-8",
        );
    };
    let Some(keyer) = &state.services.keyer else {
        return error(
            StatusCode::CONFLICT,
            "no_keys",
            "subject erasure needs a keyring",
        );
    };
    let key = keyer.subject_key(id.as_bytes());
    let result = state.services.store.erase_subject(&key).await;
    let (outcome, recipients) = match &result {
        Ok(r) => (AuditOutcome::Succeeded, r.recipients.clone()),
        Err(_) => (AuditOutcome::Failed, Vec::new()),
    };
    state
        .services
        .audit(AuditEvent {
            kind: AuditKind::Erasure,
            actor: "admin".to_owned(),
            outcome,
            route: None,
            subject: Some(key),
            recipients,
            detail: result
                .as_ref()
                .ok()
                .map(|r| format!("generation {}", r.generation)),
        })
        .await;
    match result {
        // The subject id is PII: the answer names it only by its keyed hash.
        Ok(r) => {
            let erased_at = r
                .erased_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let ttl = state.current.load().config.store.cache.ttl.as_secs();
            let body = serde_json::json!({
                "status": "erased",
                "subject_ref": key.to_hex(),
                "generation": r.generation,
                "secret_destroyed": r.destroyed,
                "erased_at_unix": erased_at,
                "recipients": r.recipients,
                "replicas_honour_within_secs": ttl,
            });
            json(StatusCode::OK, body.to_string())
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            &format!("the erasure could not be recorded: {}", e.code()),
        ),
    }
}

/// One person's keys for an access request; never creates a secret (a reveal must not
/// resurrect an erased person).
async fn subject_scopes(
    state: &AdminState,
    route: &crate::config::Route,
    id: &str,
) -> Result<(SubjectScopes, crate::store::SubjectKey), Response<Body>> {
    let (Some(keyer), Some(bases)) = (&state.services.keyer, &route.subject_bases) else {
        return Err(error(
            StatusCode::CONFLICT,
            "no_subject",
            "this route has no `subject`, so it holds no subject-scoped data",
        ));
    };
    let key = keyer.subject_key(id.as_bytes());
    let unavailable = |e: crate::store::StoreError| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            &format!("the store is not reachable: {}", e.code()),
        )
    };
    let status = state
        .services
        .store
        .subject_status(&key)
        .await
        .map_err(unavailable)?;
    if status.live_generation.is_none() {
        return Err(if status.was_erased() {
            error(
                StatusCode::GONE,
                "subject_erased",
                "this subject was erased: its envelopes can no longer be opened",
            )
        } else {
            error(
                StatusCode::NOT_FOUND,
                "subject_unknown",
                "no data of this subject has passed through the gateway",
            )
        });
    }
    let secret = state
        .services
        .store
        .get_or_create_subject_secret(&key)
        .await
        .map_err(unavailable)?;
    let mut scopes = SubjectScopes::default();
    scopes
        .keys
        .push(crate::policy::subject::SubjectKeys::derive(bases, &secret));
    scopes.ranges.push((0, usize::MAX, 0));
    Ok((scopes, key))
}

/// Decodes `%XX` escapes of a path segment or query value strictly (an erasure must name
/// exactly one subject); `None` for bad escapes, non-UTF-8 or an empty id.
fn percent_decode(s: &str) -> Option<String> {
    percent::decode_utf8(s, Plus::Literal).filter(|s| !s.is_empty())
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    json(status, body.to_string())
}
