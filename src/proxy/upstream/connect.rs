//! Opening an upstream connection: DNS, TCP, TLS with ALPN, and for HTTP/2 the handshake and
//! the task that drives the connection on the current worker's runtime. An HTTP/1.1
//! connection needs neither: its exchanges run in the requests' own tasks ([`super::h1`]).

use std::io;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::conn::{Conn, Io};
use crate::proxy::Body;
use crate::proxy::usage::{Lookout, Usage};

/// A fresh connection, after the handshake the upstream's ALPN answer asked for.
pub(super) enum Fresh {
    H1(Box<Conn>),
    H2(http2::SendRequest<Body>, Arc<Usage>),
}

/// Where and how to connect, fixed per route.
pub(super) struct Dialer {
    /// Host name or IP literal (no brackets), as DNS or the socket API take it.
    pub(super) host: String,
    pub(super) port: u16,
    /// TLS, for `https` upstreams: the connector (ALPN h2 + http/1.1, session resumption from
    /// the route's client config) and the name the certificate must carry.
    pub(super) tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// How long an unused connection stays open.
    pub(super) idle_timeout: Duration,
}

impl Dialer {
    /// Connects; for HTTP/2 also handshakes and spawns the connection's driver on the current
    /// runtime.
    ///
    /// # Errors
    /// Anything that fails before a request could be written: resolution, TCP, TLS, the
    /// HTTP/2 preface.
    pub(super) async fn open(&self) -> io::Result<Fresh> {
        let tcp = self.tcp().await?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Fresh::H1(Conn::new(Io::Plain(tcp)))),
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await?;
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    self.http2(tls).await
                } else {
                    Ok(Fresh::H1(Conn::new(Io::Tls(Box::new(tls)))))
                }
            }
        }
    }

    /// The first address that accepts, in resolver order.
    async fn tcp(&self) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in tokio::net::lookup_host((self.host.as_str(), self.port)).await? {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the upstream host resolved to no address",
            )
        }))
    }

    async fn http2<T>(&self, io: T) -> io::Result<Fresh>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (tx, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake::<_, Body>(TokioIo::new(io))
            .await
            .map_err(io::Error::other)?;
        let usage = Arc::new(Usage::default());
        tokio::spawn(drive(conn, Arc::clone(&usage), self.idle_timeout));
        Ok(Fresh::H2(tx, usage))
    }
}

/// Runs a connection until it ends or stays unused for a whole `idle_timeout` (checked once
/// per period, so an idle connection closes after one to two periods). Closing drops the
/// socket; the pool notices through the sender's `is_closed`.
async fn drive<C, E>(conn: C, usage: Arc<Usage>, idle_timeout: Duration)
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    // Made for a request about to use it: the first look never finds it idle.
    let mut last = Usage::NO_READING;
    let mut look = Lookout::after(idle_timeout);
    let mut conn = std::pin::pin!(conn);
    let ended = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        while look.poll_due(cx).is_ready() {
            if usage.idle_since_last(&mut last) {
                return Poll::Ready(None);
            }
            look.reset(tokio::time::Instant::now() + idle_timeout);
        }
        Poll::Pending
    })
    .await;
    match ended {
        Some(Err(e)) => tracing::debug!(error = %e, "Upstream connection ended with an error."),
        Some(Ok(())) => {}
        None => tracing::debug!("Idle upstream connection closed."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection nobody uses is closed after one to two idle periods; one in use is not.
    #[tokio::test(start_paused = true)]
    async fn unused_connections_are_closed_after_the_idle_timeout() {
        let period = Duration::from_secs(90);
        let never = std::future::pending::<Result<(), std::io::Error>>();
        let started = tokio::time::Instant::now();
        drive(never, Arc::new(Usage::default()), period).await;
        let took = started.elapsed();
        assert!(took >= period && took <= 2 * period, "{took:?}");

        let busy = Arc::new(Usage::default());
        let lease = super::super::pool::Lease::h2(Arc::clone(&busy));
        let never = std::future::pending::<Result<(), std::io::Error>>();
        let ran = tokio::time::timeout(10 * period, drive(never, busy, period)).await;
        assert!(ran.is_err(), "a connection in use stays open");
        drop(lease);
    }
}
