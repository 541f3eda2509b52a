//! Forward-proxy mode: clients that honour `HTTPS_PROXY` send `CONNECT host:443`.
//!
//! For a target that a route names, piigate answers 200, terminates the client's TLS with a
//! leaf minted from the interception CA, and serves the decrypted requests through the same
//! policed path as the reverse proxy (routed by the tunnel's host). Targets no route names get
//! 403 and no tunnel: piigate never relays bytes it cannot police. Plain `http://`
//! absolute-form requests are routed by their URI's host the same way.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::debug;

use super::body::ClientBody;
use super::respond::{full, reject};
use super::service::{self, Mode};
use super::{Body, Current};
use crate::error::RejectCode;

/// Accepts proxy clients until `stop` flips.
pub(crate) async fn serve(
    listener: TcpListener,
    current: Current,
    mut stop: watch::Receiver<bool>,
) {
    // Its own bound, as large as the main listener's: tunnels are long-lived, and a flood of
    // them must not starve (or be starved by) direct clients.
    let max = current.load().config.limits.max_connections;
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => return,
            p = Arc::clone(&permits).acquire_owned() => p.expect("semaphore is never closed"),
        };
        let (stream, _) = tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => {
                    // EMFILE and friends: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let current = Arc::clone(&current);
        tokio::spawn(async move {
            let _permit = permit;
            let timeout = current.load().config.limits.header_read_timeout;
            let svc = service_fn(move |req| {
                let current = Arc::clone(&current);
                async move { Ok::<_, Infallible>(entry(current, req).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout);
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await
            {
                debug!(error = %e, "Forward-proxy connection ended with an error.");
            }
        });
    }
}

async fn entry(current: Current, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::CONNECT {
        if req.uri().authority().is_some() {
            return service::handle(
                current.load_full(),
                req.map(ClientBody::Hyper),
                Mode::Forward(None),
                None,
            )
            .await;
        }
        return reject(RejectCode::NoRoute);
    }
    let Some(host) = req
        .uri()
        .authority()
        .map(|a| a.host().trim_end_matches('.').to_ascii_lowercase())
    else {
        return reject(RejectCode::MalformedBody);
    };
    let generation = current.load_full();
    if !generation.router.knows_host(&host) {
        crate::telemetry::events::TunnelRefused.emit();
        return reject(RejectCode::TargetNotAllowed);
    }
    let Some(fp) = &generation.config.forward_proxy else {
        return reject(RejectCode::TargetNotAllowed);
    };
    let tls = match fp.minter.server_config(&host) {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!(error = %e, "Cannot mint an interception certificate.");
            return reject(RejectCode::Internal);
        }
    };
    let timeout = generation.config.limits.header_read_timeout;
    drop(generation);
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => {
                debug!(error = %e, "CONNECT upgrade failed.");
                return;
            }
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let handshake = tokio::time::timeout(timeout, acceptor.accept(TokioIo::new(upgraded)));
        let Ok(Ok(stream)) = handshake.await else {
            debug!(
                "Intercepted TLS handshake failed (does the client trust the interception CA?)."
            );
            return;
        };
        let svc = service_fn(move |req| {
            let generation = current.load_full();
            let mode = Mode::Forward(Some(host.clone()));
            async move {
                Ok::<_, Infallible>(
                    service::handle(generation, req.map(ClientBody::Hyper), mode, None).await,
                )
            }
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout);
        if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
            debug!(error = %e, "Intercepted connection ended with an error.");
        }
    });
    let mut ok = Response::new(full(bytes::Bytes::new()));
    *ok.status_mut() = StatusCode::OK;
    ok
}
