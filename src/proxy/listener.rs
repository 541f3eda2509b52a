//! Listeners: accept, limit, terminate TLS, serve HTTP/1.1 and HTTP/2, drain on shutdown.
//!
//! Two runtime shapes (`[server] runtime`):
//!
//! - `work_stealing`: one listener on the caller's (multi-thread) runtime; connections are tasks
//!   that any worker may steal.
//! - `per_core`: the caller's runtime accepts on one `SO_REUSEPORT` socket, and `workers - 1`
//!   more threads each run a single-thread runtime accepting on their own socket bound to the
//!   same address. The kernel spreads new connections over the sockets; a connection and all
//!   its requests stay on the thread that accepted it, so there is no task migration and no
//!   cross-thread wake-up on the request path. Everything else (configuration generation,
//!   metrics, the connection limit, upstream pools) is shared, as in `work_stealing`.

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
use crate::config::{Config, Runtime};
use crate::reload::{ReloadSource, Reloader};
use crate::telemetry::events::Listening;
use crate::telemetry::metrics::{Metrics, SharedMetrics};

/// How long in-flight requests may run after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// Largest request head accepted on HTTP/1.1 (request line plus headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A bound gateway, ready to run.
pub struct Gateway {
    current: Current,
    listener: TcpListener,
    /// `per_core`: the other workers' sockets, bound with `SO_REUSEPORT` to the same address.
    per_core: Vec<std::net::TcpListener>,
    admin: Option<TcpListener>,
    forward: Option<TcpListener>,
    shutdown_tx: watch::Sender<bool>,
    metrics: SharedMetrics,
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
    /// # Errors
    /// When a socket cannot be bound.
    pub async fn bind(config: Config, source: Option<ReloadSource>) -> std::io::Result<Self> {
        let mut per_core = Vec::new();
        let listener = match config.server.runtime {
            Runtime::WorkStealing => TcpListener::bind(config.server.listen).await?,
            Runtime::PerCore => {
                let first = bind_reuseport(config.server.listen)?;
                // Port 0 picked a port: the other sockets join the first one's.
                let addr = first.local_addr()?;
                for _ in 1..config.server.worker_threads() {
                    per_core.push(bind_reuseport(addr)?.into_std()?);
                }
                first
            }
        };
        let admin = match &config.admin {
            Some(a) => Some(TcpListener::bind(a.listen).await?),
            None => None,
        };
        let forward = match &config.forward_proxy {
            Some(f) => Some(TcpListener::bind(f.listen).await?),
            None => None,
        };
        let metrics: SharedMetrics = Arc::new(Metrics::new());
        let current = Arc::new(ArcSwap::from_pointee(Generation::new(
            config,
            1,
            Arc::clone(&metrics),
        )));
        let reloader =
            source.map(|p| Arc::new(Reloader::new(p, Arc::clone(&current), Arc::clone(&metrics))));
        let (shutdown_tx, _) = watch::channel(false);
        Ok(Self {
            current,
            listener,
            per_core,
            admin,
            forward,
            shutdown_tx,
            metrics,
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

    /// The metrics registry.
    pub fn metrics(&self) -> SharedMetrics {
        Arc::clone(&self.metrics)
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
            per_core,
            admin,
            forward,
            shutdown_tx,
            metrics,
            reloader,
        } = self;
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
                metrics: Arc::clone(&metrics),
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
        let acceptor = Acceptor {
            current: Arc::clone(&current),
            metrics: Arc::clone(&metrics),
            // One limit for the whole process, whichever thread accepts.
            permits: Arc::new(Semaphore::new(max_conns)),
        };
        // `per_core`: the other workers. Each drains its own connections on shutdown, then
        // keeps its runtime (and the upstream connections it owns, which other threads' requests
        // may be using) alive until every worker has drained.
        let (exit_tx, exit_rx) = watch::channel(false);
        let mut workers = Vec::with_capacity(per_core.len());
        for (i, std_listener) in per_core.into_iter().enumerate() {
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            let acceptor = acceptor.clone();
            let stop = shutdown_tx.subscribe();
            let mut exit = exit_rx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("piigate-worker-{}", i + 1))
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            tracing::error!(error = %e, "Cannot start a worker runtime.");
                            return;
                        }
                    };
                    rt.block_on(async move {
                        match TcpListener::from_std(std_listener) {
                            Ok(l) => {
                                let graceful = acceptor.accept(l, stop, pending()).await;
                                Acceptor::drain(graceful, false).await;
                            }
                            Err(e) => tracing::error!(error = %e, "Cannot start a worker."),
                        }
                        let _ = done_tx.send(());
                        let _ = exit.wait_for(|e| *e).await;
                    });
                })?;
            workers.push((thread, done_rx));
        }
        let graceful = acceptor
            .accept(listener, shutdown_tx.subscribe(), signal)
            .await;
        // Stops the other accept loops (when our signal fired) and the admin listener.
        let _ = shutdown_tx.send(true);
        Acceptor::drain(graceful, true).await;
        let mut threads = Vec::with_capacity(workers.len());
        for (thread, done) in workers {
            // Each worker bounds its own drain by DRAIN_DEADLINE; an error means it has exited.
            let _ = done.await;
            threads.push(thread);
        }
        let _ = exit_tx.send(true);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        for t in [admin_task, forward_task].into_iter().flatten() {
            t.abort();
        }
        Ok(())
    }
}

/// What every accept loop shares, whichever thread it runs on.
#[derive(Clone)]
struct Acceptor {
    current: Current,
    metrics: SharedMetrics,
    permits: Arc<Semaphore>,
}

impl Acceptor {
    /// Accepts on `listener` until `signal` resolves or `stop` fires, serving each connection as
    /// a task on the current runtime. Returns the handle that drains those connections.
    async fn accept(
        &self,
        listener: TcpListener,
        mut stop: watch::Receiver<bool>,
        signal: impl Future<Output = ()>,
    ) -> GracefulShutdown {
        let graceful = GracefulShutdown::new();
        tokio::pin!(signal);
        loop {
            if *stop.borrow_and_update() {
                break;
            }
            let permit = tokio::select! {
                () = &mut signal => break,
                _ = stop.changed() => break,
                p = Arc::clone(&self.permits).acquire_owned() => p.expect("semaphore is never closed"),
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
            let current = Arc::clone(&self.current);
            let watcher = graceful.watcher();
            let open = self.metrics.open_connections.clone();
            tokio::spawn(async move {
                let _permit = permit;
                open.inc();
                serve_connection(stream, current, watcher).await;
                open.dec();
            });
        }
        graceful
    }

    /// Waits for the connections of one accept loop to finish, up to the drain deadline.
    /// `main` marks the loop that logs the shutdown.
    async fn drain(graceful: GracefulShutdown, main: bool) {
        if main {
            info!(
                connections = graceful.count(),
                "Shutting down; draining in-flight requests."
            );
        }
        tokio::select! {
            () = graceful.shutdown() => if main { info!("Drained.") },
            () = tokio::time::sleep(DRAIN_DEADLINE) => warn!("Drain deadline passed; closing remaining connections."),
        }
    }
}

/// A listener with `SO_REUSEADDR` and `SO_REUSEPORT`, so several sockets can share `addr`.
/// Linux only lets sockets of the same user join the group.
fn bind_reuseport(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

fn pending() -> std::future::Pending<()> {
    std::future::pending()
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
