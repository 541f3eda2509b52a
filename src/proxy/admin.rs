//! The admin listener: health and readiness.
//!
//! Separate port, plain HTTP, meant for loopback or a pod network. Endpoints that reveal or
//! change anything require the bearer token and arrive with the data-subject and operations
//! work; health and readiness need none.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::respond::full;
use super::{Body, Current};

/// Serves admin requests until `stop` flips.
pub(crate) async fn serve(
    listener: TcpListener,
    current: Current,
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
        let current = current.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let current = current.clone();
                async move { Ok::<_, Infallible>(route(&current, &req)) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn route(current: &Current, req: &Request<Incoming>) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned()),
        (&Method::GET, "/readyz") => {
            let g = current.load();
            json(
                StatusCode::OK,
                format!(r#"{{"status":"ready","routes":{}}}"#, g.config.routes.len()),
            )
        }
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"error":{"code":"not_found","message":"no such admin endpoint"}}"#.to_owned(),
        ),
    }
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}
