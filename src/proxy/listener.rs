//! Listeners: accept, limit, terminate TLS, serve HTTP/1.1 and HTTP/2, drain on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use super::reload::{ReloadSource, Reloader};
use super::server::{self, ClientIo};
use super::tls_io::TlsStream;
use super::usage::{Lookout, Usage, stopping};
use super::{Current, Generation, service};
use crate::config::{Config, Runtime};
use crate::services::{Services, StartError};
use crate::telemetry::events::Listening;

/// How long in-flight requests may run after shutdown begins.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// How long an HTTP/1.1 connection may stay idle once shutdown began before it is closed:
/// enough for a request the client wrote just before the signal to arrive and be answered.
const DRAIN_IDLE: Duration = Duration::from_millis(500);
/// Largest request head accepted on HTTP/1.1 (request line plus headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A bound gateway, ready to run.
pub struct Gateway {
    current: Current,
    listener: TcpListener,
    /// `runtime = "per_core"`: the other workers' sockets (`SO_REUSEPORT` on the same port).
    per_core: Vec<std::net::TcpListener>,
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
        let bind = |what: &'static str, addr: SocketAddr| {
            move |source| StartError::Bind { what, addr, source }
        };
        let mut per_core = Vec::new();
        let listen = config.server.listen;
        let listener = match config.server.runtime {
            Runtime::WorkStealing => TcpListener::bind(listen)
                .await
                .map_err(bind("the proxy listener", listen))?,
            Runtime::PerCore => {
                let first = bind_reuseport(listen).map_err(bind("the proxy listener", listen))?;
                // Port 0 picked a port: the other sockets join the first one's.
                let addr = first
                    .local_addr()
                    .map_err(bind("the proxy listener", listen))?;
                for _ in 1..config.server.worker_threads() {
                    let l = bind_reuseport(addr).and_then(TcpListener::into_std);
                    per_core.push(l.map_err(bind("a per-core proxy listener", addr))?);
                }
                first
            }
        };
        let admin = match &config.admin {
            Some(a) => Some(
                TcpListener::bind(a.listen)
                    .await
                    .map_err(bind("the admin listener", a.listen))?,
            ),
            None => None,
        };
        let forward = match &config.forward_proxy {
            Some(f) => Some(
                TcpListener::bind(f.listen)
                    .await
                    .map_err(bind("the forward-proxy listener", f.listen))?,
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
            per_core,
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
            per_core,
            admin,
            forward,
            shutdown_tx,
            services,
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
            let max_connections = g
                .config
                .admin
                .as_ref()
                .map_or(crate::config::ADMIN_MAX_CONNECTIONS, |a| a.max_connections);
            let state = super::admin::AdminState {
                current: Arc::clone(&current),
                services: Arc::clone(&services),
                reloader: reloader.clone(),
            };
            tokio::spawn(super::admin::serve(
                l,
                state,
                max_connections,
                shutdown_tx.subscribe(),
            ))
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
        // One permit per open connection, shared by every accept loop (one limit for the
        // process); draining waits until every permit is back, whichever thread holds it.
        let permits = Arc::new(Semaphore::new(max_conns));
        let acceptor = Acceptor {
            current: Arc::clone(&current),
            services: Arc::clone(&services),
            permits: Arc::clone(&permits),
            shutdown_tx: shutdown_tx.clone(),
        };
        // `per_core`: one current-thread runtime per extra worker, each accepting on its own
        // SO_REUSEPORT socket. A worker keeps its runtime (and the upstream connections it
        // owns) alive after its accept loop ends, until the whole process has drained.
        let (exit_tx, exit_rx) = watch::channel(false);
        let mut threads = Vec::with_capacity(per_core.len());
        for (i, std_listener) in per_core.into_iter().enumerate() {
            let acceptor = acceptor.clone();
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
                            Ok(l) => acceptor.accept(l, std::future::pending()).await,
                            Err(e) => tracing::error!(error = %e, "Cannot start a worker."),
                        }
                        let _ = exit.wait_for(|e| *e).await;
                    });
                })?;
            threads.push(thread);
        }
        acceptor.accept(listener, signal).await;
        // Stops the other accept loops, the admin and forward-proxy listeners, and tells every
        // connection to finish what it has in flight.
        let _ = shutdown_tx.send(true);
        info!(
            connections = max_conns - permits.available_permits(),
            "Shutting down; draining in-flight requests."
        );
        let all = u32::try_from(max_conns).unwrap_or(u32::MAX);
        tokio::select! {
            _ = permits.acquire_many(all) => info!("Drained."),
            () = tokio::time::sleep(DRAIN_DEADLINE) => warn!("Drain deadline passed; closing remaining connections."),
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
        services.stop().await;
        Ok(())
    }
}

/// What every accept loop shares, whichever thread it runs on.
#[derive(Clone)]
struct Acceptor {
    current: Current,
    services: Arc<Services>,
    permits: Arc<Semaphore>,
    shutdown_tx: watch::Sender<bool>,
}

impl Acceptor {
    /// Accepts on `listener` until `signal` resolves or shutdown begins, serving each
    /// connection as a task on the current runtime.
    async fn accept(&self, listener: TcpListener, signal: impl Future<Output = ()>) {
        let mut stop = self.shutdown_tx.subscribe();
        tokio::pin!(signal);
        loop {
            if *stop.borrow_and_update() {
                break;
            }
            // Accept, then wait for a slot. Under `per_core` each loop has its own socket and
            // the kernel decides which one a connection queues on: a loop that took a slot
            // before accepting could sit on it over an empty queue while a connection waits in
            // another loop's queue for a slot that never comes. So a loop holds at most one
            // accepted connection beyond `max_connections`, unserved until a slot frees.
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
            let permit = tokio::select! {
                () = &mut signal => break,
                _ = stop.changed() => break,
                p = Arc::clone(&self.permits).acquire_owned() => p.expect("semaphore is never closed"),
            };
            let _ = stream.set_nodelay(true);
            let current = Arc::clone(&self.current);
            let stop = self.shutdown_tx.subscribe();
            let open = self.services.metrics.open_connections.clone();
            tokio::spawn(async move {
                let _permit = permit;
                open.inc();
                serve_connection(stream, current, stop).await;
                open.dec();
            });
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

/// Serves one client connection until it ends, the gateway stops (graceful: in-flight
/// requests finish), or it stays idle too long.
///
/// HTTP/1.1 is piigate's own server ([`server`]); HTTP/2 — negotiated by ALPN, or announced
/// by its preface on a connection without ALPN — is hyper's ([`serve_h2`]).
async fn serve_connection(stream: TcpStream, current: Current, stop: watch::Receiver<bool>) {
    let g = current.load_full();
    let limits = g.config.limits.clone();
    let tls = g.config.server.tls.clone();
    drop(g);
    let idle_after = limits.header_read_timeout;
    let (io, alpn_h2): (Box<dyn ClientIo>, bool) = match tls {
        Some(cfg) => {
            match tokio::time::timeout(idle_after, TlsStream::accept(cfg, stream)).await {
                Ok(Ok(s)) => {
                    let h2 = s.alpn_protocol() == Some(b"h2");
                    (Box::new(s), h2)
                }
                Ok(Err(e)) => {
                    // TLS 1.2 clients, scanners, bad certificates: not actionable per event.
                    debug!(error = %e, "TLS handshake failed.");
                    return;
                }
                Err(_) => {
                    debug!("TLS handshake timed out.");
                    return;
                }
            }
        }
        None => (Box::new(stream), false),
    };
    if alpn_h2 {
        return serve_h2(io, current, stop, idle_after).await;
    }
    let settings = server::Settings {
        idle_after,
        drain_idle: DRAIN_IDLE,
        max_head: MAX_HEAD_BYTES,
    };
    if let Some((io, read)) = server::serve(io, Arc::clone(&current), stop.clone(), settings).await
    {
        let io = Rewind {
            prefix: read.freeze(),
            io,
        };
        serve_h2(Box::new(io), current, stop, idle_after).await;
    }
}

/// A stream whose first bytes were already read: they are read again first.
struct Rewind {
    prefix: bytes::Bytes,
    io: Box<dyn ClientIo>,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix.split_to(n));
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Serves HTTP/2 with hyper until the connection ends, the gateway stops (GOAWAY at once; the
/// protocol settles which streams still run), or it stays idle too long.
///
/// Idle means no request in flight — none being handled and no response body still being
/// sent — for `header_read_timeout`: a connection that completes the preface and sends no
/// request, or keeps a connection open without requests. hyper's HTTP/2 has no such timer.
/// After one idle period the connection is shut down gracefully (GOAWAY); after a second one
/// it is dropped, so a peer that never acknowledges the GOAWAY cannot hold its connection slot
/// either.
///
/// Idleness is looked at once per period, not timed from each request's end (requests only
/// count themselves in [`Usage`]): idle between one and two periods after the last request
/// ended; while draining, likewise with [`DRAIN_IDLE`] counted from the signal.
/// The future `make` builds, in a box allocated before it is built.
///
/// A future is as large as its largest state (an HTTP/2 stream's, 8.4 KB: the whole exchange
/// with the upstream), although a fresh one holds only its captures. `Box::pin(fut)` builds it
/// on the stack and copies all of it into the box, once per request; with the box allocated
/// first the compiler writes the captures straight into it and copies nothing.
#[inline(always)]
fn boxed_in_place<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    Box::into_pin(Box::<MaybeUninit<F>>::write(Box::new_uninit(), make()))
}

async fn serve_h2(
    io: Box<dyn ClientIo>,
    current: Current,
    mut stop: watch::Receiver<bool>,
    idle_after: Duration,
) {
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    let state = Arc::new(ConnState::default());
    let svc_state = Arc::clone(&state);
    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        // Each request takes the generation current at its arrival and keeps it to the end.
        let generation = current.load_full();
        let active = Active::new(&svc_state);
        // Boxed: hyper moves each stream's future by value into the task it spawns for it
        // (three copies of a future of a few KB per request, measured); a box moves as a pointer.
        boxed_in_place(move || async move {
            let req = req.map(super::body::ClientBody::Hyper);
            let resp = service::handle(generation, req, service::Mode::Reverse, None).await;
            Ok::<_, Infallible>(resp.map(|body| Tracked {
                body,
                _active: active,
            }))
        })
    });
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let mut draining = *stop.borrow_and_update();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    let peek = stop.clone();
    let period = |draining: bool| {
        if draining {
            idle_after.min(DRAIN_IDLE)
        } else {
            idle_after
        }
    };
    // One timer for the connection's whole life, looked at and re-armed once per period;
    // requests only touch `state.usage` (see `proxy::usage`).
    let mut look = Lookout::after(period(draining));
    let mut last = Usage::NEVER_USED;
    let mut idle_strikes = 0;
    let result = loop {
        tokio::select! {
            r = conn.as_mut() => break r,
            () = stopping(&mut stop, &peek), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
                // Idle from here on: a whole drain period without a request since the signal.
                last = state.usage.reading();
                look.reset(tokio::time::Instant::now() + period(true));
            }
            () = look.due() => {
                look.reset(tokio::time::Instant::now() + period(draining));
                if state.usage.idle_since_last(&mut last) {
                    idle_strikes += 1;
                    if idle_strikes > 1 {
                        debug!("Idle connection dropped.");
                        break Ok(());
                    }
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "Connection ended with an error.");
    }
}

/// What an HTTP/2 connection's requests tell its driver.
#[derive(Default)]
struct ConnState {
    /// Requests in flight and ended, read by the driver once per idle period.
    usage: Usage,
}

/// Counts one request in flight on its connection, from arrival until its response body has
/// been sent or dropped.
struct Active(Arc<ConnState>);

impl Active {
    fn new(state: &Arc<ConnState>) -> Self {
        state.usage.acquire();
        Self(Arc::clone(state))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.usage.release();
    }
}

/// A response body that keeps its request counted as in flight while it is being sent.
struct Tracked {
    body: super::Body,
    _active: Active,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = super::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use super::boxed_in_place;

    #[test]
    fn a_future_boxed_in_place_runs_and_drops_what_it_captured() {
        let held = Arc::new(());
        let captured = Arc::clone(&held);
        let mut fut = boxed_in_place(move || async move {
            tokio::task::yield_now().await;
            Arc::strong_count(&captured) + 40
        });
        assert_eq!(Arc::strong_count(&held), 2, "the capture lives in the box");
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(42));
        drop(fut);
        assert_eq!(Arc::strong_count(&held), 1);

        let captured = Arc::clone(&held);
        let unpolled = boxed_in_place(move || async move { Arc::strong_count(&captured) });
        drop(unpolled);
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "an unpolled future drops its capture"
        );
    }
}
