//! The admin listener.
//!
//! Separate port, plain HTTP, meant for loopback or a pod network. `/healthz`, `/readyz` and
//! `/metrics` are open (probes and scrapers); every `/v1` endpoint needs
//! `Authorization: Bearer <token>` with the token from `[admin] token_env`, compared in
//! constant time. Without a configured token the `/v1` endpoints are disabled, and a
//! non-loopback admin address without a token is refused at load.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::respond::full;
use super::{Body, Current, police};
use crate::audit::{AuditEvent, AuditKind, Outcome as AuditOutcome};
use crate::crypto::OsNonces;
use crate::policy::ApplyCx;
use crate::reload::Reloader;
use crate::services::Services;

/// What admin handlers need.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) current: Current,
    pub(crate) services: Arc<Services>,
    pub(crate) reloader: Option<Arc<Reloader>>,
}

/// Serves admin requests until `stop` flips.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AdminState,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => continue,
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(state, req).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10));
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

async fn route(state: AdminState, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
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
        (_, p) if p.starts_with("/v1/") => {
            if let Some(resp) = authorize(&state, &req) {
                return resp;
            }
            v1(state, req, &method, &path).await
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint"),
    }
}

/// `None` when the request may proceed, else the refusal to send.
fn authorize(state: &AdminState, req: &Request<Incoming>) -> Option<Response<Body>> {
    let g = state.current.load();
    let Some(token) = g.config.admin.as_ref().and_then(|a| a.token.as_ref()) else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the /v1 admin endpoints are disabled: no bearer token is configured ([admin] token_env)",
        ));
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    if presented.is_empty() || !token.matches(presented) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Some(r);
    }
    None
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
            if op == "preview" {
                let mut nonces = OsNonces::new();
                let mut cx = ApplyCx::new(&mut nonces);
                match police::body(&route, &parts.headers, raw, &limits, &mut cx) {
                    Ok(out) => {
                        let mut r = Response::new(full(out));
                        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
                            r.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
                        }
                        if let Some(ce) = parts.headers.get(header::CONTENT_ENCODING) {
                            r.headers_mut().insert(header::CONTENT_ENCODING, ce.clone());
                        }
                        r
                    }
                    Err(code) => error(code.status(), code.as_str(), code.message()),
                }
            } else {
                let result = crate::ops::reveal(&generation.config, &route, &raw);
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
                        subject: None,
                        recipients: Vec::new(),
                        detail: None,
                    })
                    .await;
                match result {
                    Ok(out) => json(StatusCode::OK, String::from_utf8_lossy(&out).into_owned()),
                    Err(crate::ops::OpsError::RevealFailed(n)) => error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "reveal_failed",
                        &format!(
                            "{n} envelope(s) could not be opened: tampered, from another domain or field, or under an unknown or retired key"
                        ),
                    ),
                    Err(crate::ops::OpsError::Rewrite(_)) => error(
                        StatusCode::BAD_REQUEST,
                        "malformed_body",
                        "the payload is not valid JSON",
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

/// Decodes `%XX` escapes of a path segment; `None` for bad escapes or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.is_empty())
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
