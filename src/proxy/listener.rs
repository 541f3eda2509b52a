//! Listeners: accept, limit, terminate TLS, serve HTTP/1.1 and HTTP/2, drain on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use super::{Current, Generation, service};
use crate::config::Config;
use crate::reload::{ReloadSource, Reloader};
use crate::services::{Services, StartError};
use crate::telemetry::events::Listening;

/// How long in-flight requests may run after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// Largest request head accepted on HTTP/1.1 (request line plus headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A bound gateway, ready to run.
pub struct Gateway {
    current: Current,
    listener: TcpListener,
    admin: Option<TcpListener>,
    forward: Option<TcpListener>,
    shutdown_tx: watch::Sender<bool>,
    services: Arc<Services>,
    reloader: Option<Arc<Reloader>>,
}

/// Triggers a graceful shutdown of a running [`Gateway`].
#[derive(Clone, Debug)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Stops accepting and drains in-flight requests.
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

impl Gateway {
    /// Binds the listeners of `config` (port 0 picks a free port). `source` is the file the
    /// config came from; with it, SIGHUP and `POST /v1/reload` can reload.
    ///
    /// Also opens the process-wide services (store, audit log, ledger flusher).
    ///
    /// # Errors
    /// When a socket cannot be bound or a service cannot be opened.
    pub async fn bind(config: Config, source: Option<ReloadSource>) -> Result<Self, StartError> {
        let bind = |what: &'static str| move |source| StartError::Bind { what, source };
        let listener = TcpListener::bind(config.server.listen)
            .await
            .map_err(bind("the proxy listener"))?;
        let admin = match &config.admin {
            Some(a) => Some(
                TcpListener::bind(a.listen)
                    .await
                    .map_err(bind("the admin listener"))?,
            ),
            None => None,
        };
        let forward = match &config.forward_proxy {
            Some(f) => Some(
                TcpListener::bind(f.listen)
                    .await
                    .map_err(bind("the forward-proxy listener"))?,
            ),
            None => None,
        };
        let services = Services::start(&config).await?;
        let current = Arc::new(ArcSwap::from_pointee(Generation::new(
            config,
            1,
            Arc::clone(&services),
        )));
        let reloader = source.map(|p| {
            Arc::new(Reloader::new(
                p,
                Arc::clone(&current),
                Arc::clone(&services),
            ))
        });
        let (shutdown_tx, _) = watch::channel(false);
        Ok(Self {
            current,
            listener,
            admin,
            forward,
            shutdown_tx,
            services,
            reloader,
        })
    }

    /// The application listener's address.
    ///
    /// # Errors
    /// When the socket has no address (never for a bound TCP socket).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, if configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The forward-proxy listener's address, if configured.
    pub fn forward_proxy_addr(&self) -> Option<SocketAddr> {
        self.forward.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The swappable configuration generation (reload stores a new one here).
    pub fn current(&self) -> Current {
        Arc::clone(&self.current)
    }

    /// The reloader, when the gateway knows its config file.
    pub fn reloader(&self) -> Option<Arc<Reloader>> {
        self.reloader.clone()
    }

    /// The process-wide services.
    pub fn services(&self) -> Arc<Services> {
        Arc::clone(&self.services)
    }

    /// A handle that stops the gateway.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown_tx.clone())
    }

    /// Serves until `signal` resolves or a [`ShutdownHandle`] fires, then drains.
    ///
    /// # Errors
    /// When accepting fails unrecoverably.
    pub async fn run(self, signal: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let Self {
            current,
            listener,
            admin,
            forward,
            shutdown_tx,
            services,
            reloader,
        } = self;
        let mut stop = shutdown_tx.subscribe();
        let g = current.load();
        Listening {
            what: "proxy",
            addr: listener.local_addr()?,
            tls: g.config.server.tls.is_some(),
        }
        .emit();
        let admin_task = admin.map(|l| {
            if let Ok(addr) = l.local_addr() {
                Listening {
                    what: "admin",
                    addr,
                    tls: false,
                }
                .emit();
            }
            let state = super::admin::AdminState {
                current: Arc::clone(&current),
                services: Arc::clone(&services),
                reloader: reloader.clone(),
            };
            tokio::spawn(super::admin::serve(l, state, shutdown_tx.subscribe()))
        });
        let forward_task = forward.map(|l| {
            if let Ok(addr) = l.local_addr() {
                Listening {
                    what: "forward_proxy",
                    addr,
                    tls: false,
                }
                .emit();
            }
            tokio::spawn(super::forward::serve(
                l,
                Arc::clone(&current),
                shutdown_tx.subscribe(),
            ))
        });
        let max_conns = g.config.limits.max_connections;
        drop(g);
        let permits = Arc::new(Semaphore::new(max_conns));
        let graceful = GracefulShutdown::new();
        tokio::pin!(signal);
        loop {
            let permit = tokio::select! {
                () = &mut signal => break,
                _ = stop.changed() => break,
                p = Arc::clone(&permits).acquire_owned() => p.expect("semaphore is never closed"),
            };
            let (stream, _peer) = tokio::select! {
                () = &mut signal => break,
                _ = stop.changed() => break,
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(error = %e, "Accept failed.");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let current = Arc::clone(&current);
            let watcher = graceful.watcher();
            let open = services.metrics.open_connections.clone();
            tokio::spawn(async move {
                let _permit = permit;
                open.inc();
                serve_connection(stream, current, watcher).await;
                open.dec();
            });
        }
        let _ = shutdown_tx.send(true);
        drop(listener);
        info!(
            connections = graceful.count(),
            "Shutting down; draining in-flight requests."
        );
        tokio::select! {
            () = graceful.shutdown() => info!("Drained."),
            () = tokio::time::sleep(DRAIN_DEADLINE) => warn!("Drain deadline passed; closing remaining connections."),
        }
        for t in [admin_task, forward_task].into_iter().flatten() {
            t.abort();
        }
        services.stop().await;
        Ok(())
    }
}

async fn serve_connection(
    stream: TcpStream,
    current: Current,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let g = current.load_full();
    let limits = g.config.limits.clone();
    let tls = g.config.server.tls.clone();
    drop(g);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    let svc = service_fn(move |req| {
        // Each request takes the generation current at its arrival and keeps it to the end.
        let generation = current.load_full();
        async move {
            Ok::<_, Infallible>(service::handle(generation, req, service::Mode::Reverse).await)
        }
    });
    let result = match tls {
        Some(cfg) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
            let stream =
                match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        // TLS 1.2 clients, scanners, bad certificates: not actionable per event.
                        debug!(error = %e, "TLS handshake failed.");
                        return;
                    }
                    Err(_) => {
                        debug!("TLS handshake timed out.");
                        return;
                    }
                };
            watcher
                .watch(builder.serve_connection(TokioIo::new(stream), svc))
                .await
        }
        None => {
            watcher
                .watch(builder.serve_connection(TokioIo::new(stream), svc))
                .await
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "Connection ended with an error.");
    }
}
