//! piigate's own HTTP/1.1 server side: one client connection, its requests read with
//! [`wire`] and handed to [`super::service::handle`] in the connection's own task, their
//! answers written back.
//!
//! hyper's server spent more instructions per small request than piigate's whole request path
//! (docs/BENCHMARKS.md); this driver does the same work for the one protocol it serves, with
//! no channel between a connection task and a request, no per-request timer and one read and
//! one write per request when the request and its answer are small. HTTP/2 stays on hyper
//! ([`super::listener`] picks the protocol from ALPN or the HTTP/2 preface).
//!
//! What it keeps from hyper's behaviour (tests/smuggling.rs, tests/limits.rs, tests/boundary.rs):
//! - one request at a time; pipelined requests wait in the read buffer and are read after the
//!   answer before them has gone out;
//! - `Expect: 100-continue`: the interim answer goes out when the service first reads the body,
//!   so a request refused on its head never makes the client send it;
//! - after an answer, a body the service did not read is skipped if it is already buffered;
//!   otherwise the answer says `Connection: close` and the connection closes;
//! - a refused head is answered (400, 431 or 414, JSON error) and the connection closes;
//! - a client that shuts its sending side after a request still gets the answer;
//! - idle and slow-head connections are closed one to two `header_read_timeout` periods
//!   after their last request started (one timer per connection, looked at once per period);
//! - draining: every answer says `Connection: close`, and an idle connection closes after
//!   `DRAIN_IDLE` (the listener's).

pub mod fields;
pub mod wire;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, Request, StatusCode, Version};
use http_body::{Body as _, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::watch;
use tracing::debug;

use self::wire::{BodyOut, Decoded, Decoder, Framing, HeadError};
use super::deadline::ExchangeTimer;
use super::usage::Lookout;
use super::{Current, service};
use crate::error::RejectCode;

/// A client connection's byte stream, plain or TLS.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientIo for T {}

/// Free room made in the read buffer before a read, at first: doubled after each read that
/// fills it, up to [`MAX_READ_ROOM`], so that a request arriving in one piece is read in one
/// call and its body decoded as one piece (as hyper's adaptive read buffer did).
const READ_ROOM: usize = 8 * 1024;
const MAX_READ_ROOM: usize = 64 * 1024;
/// Write the answer out once this much of it is buffered.
const WRITE_HIGH: usize = 64 * 1024;
/// After closing our side, how long and how much the client's late bytes are read and
/// dropped, so that they do not make the kernel reset the connection (and discard the answer
/// still in flight to the client).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 * 1024;
/// The interim answer to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The connection as both the driver and a request's body reach it.
struct Shared {
    io: Box<dyn ClientIo>,
    /// Bytes read and not yet consumed.
    read: BytesMut,
    /// The current request's body framing.
    decoder: Decoder,
    /// Bytes of [`CONTINUE`] still to write, when the client waits for it.
    continue_left: usize,
    /// The client closed its sending side.
    eof: bool,
    /// The room to make before the next read.
    room: usize,
}

impl Shared {
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read.capacity() - self.read.len() < self.room / 2 {
            self.read.reserve(self.room);
        }
        let spare = self.read.capacity() - self.read.len();
        let polled = std::pin::pin!(self.io.read_buf(&mut self.read)).poll(cx);
        match polled {
            Poll::Ready(Ok(0)) => self.eof = true,
            Poll::Ready(Ok(n)) if n == spare && self.room < MAX_READ_ROOM => self.room *= 2,
            _ => {}
        }
        polled
    }

    /// Writes what is left of the `100 Continue`.
    fn poll_continue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.continue_left > 0 {
            let at = CONTINUE.len() - self.continue_left;
            match Pin::new(&mut self.io).poll_write(cx, &CONTINUE[at..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.continue_left -= n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }
}

type Link = Arc<Mutex<Shared>>;

fn lock(link: &Link) -> MutexGuard<'_, Shared> {
    // Nothing panics while holding it; a poisoned lock still guards consistent state.
    link.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a request body stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Its framing broke (a chunk line, a chunk end or trailers that are not RFC 9112).
    #[error("the request body's chunked framing is malformed")]
    Framing,
    /// The client closed the connection before the body ended.
    #[error("the client closed the connection inside the request body")]
    Truncated,
    /// Reading or writing the connection failed.
    #[error("the client connection failed: {0}")]
    Io(#[from] io::Error),
}

/// A request body, read from the client connection as the service asks for it.
pub struct RequestBody {
    link: Link,
    /// The end was reached (or the body was empty from the start).
    ended: bool,
    hint: SizeHint,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let this = self.get_mut();
        let mut s = lock(&this.link);
        if s.continue_left > 0 {
            match s.poll_continue(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Pending => return Poll::Pending,
            }
        }
        loop {
            let s = &mut *s;
            match s.decoder.decode(&mut s.read) {
                Ok(Decoded::Data(bytes)) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
                Ok(Decoded::Done) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Ok(Decoded::More) => {}
                Err(_) => return Poll::Ready(Some(Err(BodyError::Framing))),
            }
            if s.eof {
                return Poll::Ready(Some(Err(BodyError::Truncated)));
            }
            match s.poll_fill(cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

/// What the connection's settings are, taken once when it opens.
pub(crate) struct Settings {
    /// `header_read_timeout`: the idle period.
    pub(crate) idle_after: Duration,
    /// The idle period while draining.
    pub(crate) drain_idle: Duration,
    /// The largest request head.
    pub(crate) max_head: usize,
}

/// The HTTP/2 connection preface (RFC 9113 §3.4): a client speaking HTTP/2 with prior
/// knowledge starts with it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What ends the wait for a request head.
// Made once per request and moved once: boxing the head would cost an allocation each time.
#[allow(clippy::large_enum_variant)]
enum Next {
    Head(wire::RequestHead),
    Refuse(HeadError),
    Close,
    /// The connection opened with the HTTP/2 preface.
    Http2,
}

/// Serves HTTP/1.1 on `io` until the client or the gateway ends it. A connection that opens
/// with the HTTP/2 preface is handed back instead, with the bytes read from it so far.
pub(crate) async fn serve(
    io: Box<dyn ClientIo>,
    current: Current,
    mut stop: watch::Receiver<bool>,
    settings: Settings,
) -> Option<(Box<dyn ClientIo>, BytesMut)> {
    let link: Link = Arc::new(Mutex::new(Shared {
        io,
        read: BytesMut::new(),
        decoder: Decoder::new(Framing::Empty),
        continue_left: 0,
        eof: false,
        room: READ_ROOM,
    }));
    let mut draining = *stop.borrow_and_update();
    let peek = stop.clone();
    let mut stopping = std::pin::pin!(super::usage::stopping(&mut stop, &peek));
    let period = |draining: bool| {
        if draining {
            settings.idle_after.min(settings.drain_idle)
        } else {
            settings.idle_after
        }
    };
    let mut look = Lookout::after(period(draining));
    // Requests started, and the count at the last look: equal at a look means idle.
    let mut started: u64 = 0;
    let mut at_last_look: u64 = 0;
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut exchange_timer = ExchangeTimer::default();
    loop {
        // The next request head, or the end of the connection. Parsed only when bytes arrived
        // since the last try (a wake-up for nothing new costs no parse).
        let mut tried = 0;
        let head = std::future::poll_fn(|cx| {
            if !draining && stopping.as_mut().poll(cx).is_ready() {
                draining = true;
                at_last_look = started;
                look.reset(tokio::time::Instant::now() + period(true));
            }
            loop {
                let mut s = lock(&link);
                let sniffed = s.read.len().min(H2_PREFACE.len());
                if started == 0 && sniffed > 0 && s.read[..sniffed] == H2_PREFACE[..sniffed] {
                    // HTTP/2 with prior knowledge, or a request whose method starts like it.
                    if sniffed == H2_PREFACE.len() {
                        return Poll::Ready(Next::Http2);
                    }
                } else if s.read.len() > tried {
                    let plain = current.load().keeps_fields_plain;
                    match wire::read_request_head(&mut s.read, settings.max_head, plain) {
                        Ok(Some(head)) => return Poll::Ready(Next::Head(head)),
                        Ok(None) => tried = s.read.len(),
                        Err(e) => return Poll::Ready(Next::Refuse(e)),
                    }
                }
                if s.eof {
                    return Poll::Ready(Next::Close);
                }
                match s.poll_fill(cx) {
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Next::Close),
                    Poll::Pending => break,
                }
            }
            while look.poll_due(cx).is_ready() {
                if started == at_last_look {
                    debug!("Idle connection closed.");
                    return Poll::Ready(Next::Close);
                }
                at_last_look = started;
                look.reset(tokio::time::Instant::now() + period(draining));
            }
            Poll::Pending
        })
        .await;
        let head = match head {
            Next::Head(head) => head,
            Next::Close => {
                close(&link, false).await;
                return None;
            }
            Next::Refuse(e) => {
                let code = e.code();
                debug!(code = code.as_str(), "Request head refused.");
                // Counted under route `-` like every refusal decided before routing.
                current
                    .load()
                    .unrouted
                    .answered(code.status().as_u16(), Some(code));
                out.clear();
                refusal(code, &mut out);
                if write_all(&link, &out).await.is_ok() {
                    close(&link, true).await;
                }
                return None;
            }
            Next::Http2 => {
                let shared = Arc::try_unwrap(link).ok()?;
                let shared = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
                return Some((shared.io, shared.read));
            }
        };
        started = started.wrapping_add(1);
        let wire::RequestHead {
            parts,
            fields,
            framing,
            mut keep_alive,
            expect_continue,
        } = head;
        let version = parts.version;
        let head_request = parts.method == Method::HEAD;
        let hint = match framing {
            Framing::Empty => SizeHint::with_exact(0),
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Chunked | Framing::Close => SizeHint::default(),
        };
        {
            let mut s = lock(&link);
            s.decoder = Decoder::new(framing);
            s.continue_left = if expect_continue { CONTINUE.len() } else { 0 };
        }
        let body = RequestBody {
            link: Arc::clone(&link),
            ended: framing == Framing::Empty,
            hint,
        };
        let req = Request::from_parts(parts, body.into());
        let generation = current.load_full();
        let (resp, request_id) = service::handle_unlabelled(
            generation,
            req,
            service::Mode::Reverse,
            Some(&mut exchange_timer),
            fields,
        )
        .await;
        if !draining && !matches!(peek.has_changed(), Ok(false)) {
            draining = true;
            at_last_look = started;
            look.reset(tokio::time::Instant::now() + period(true));
        }
        if draining {
            keep_alive = false;
        }
        // What is left of the request body: skipped when it is already here, else the
        // connection cannot carry another request.
        // A client still waiting for `100 Continue` sends its body or not, as it likes: unless
        // all of it is here, the connection closes after the answer.
        {
            let mut s = lock(&link);
            let s = &mut *s;
            s.continue_left = 0;
            loop {
                match s.decoder.decode(&mut s.read) {
                    Ok(Decoded::Data(_)) => {}
                    Ok(Decoded::Done) => break,
                    Ok(Decoded::More) | Err(_) => {
                        keep_alive = false;
                        break;
                    }
                }
            }
        }
        let (parts, mut body) = resp.into_parts();
        let status = parts.status;
        let body_out = if head_request
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || status.is_informational()
        {
            BodyOut::None
        } else if body.is_end_stream() {
            BodyOut::Length(0)
        } else if let Some(n) = body.size_hint().exact() {
            BodyOut::Length(n)
        } else if version == Version::HTTP_11 {
            BodyOut::Chunked
        } else {
            keep_alive = false;
            BodyOut::Close
        };
        out.clear();
        wire::encode_response_head(
            status,
            version,
            wire::AnswerFields {
                headers: &parts.headers,
                raw: body.raw_fields(),
                request_id: Some(&request_id.hex()),
            },
            body_out,
            keep_alive,
            &mut out,
        );
        let sent = if body_out == BodyOut::None {
            write_all(&link, &out).await
        } else {
            send_body(&link, &mut out, &mut body, body_out).await
        };
        drop(body);
        if let Err(e) = sent {
            debug!(error = %e, "Answer not delivered.");
            return None;
        }
        if !keep_alive {
            close(&link, true).await;
            return None;
        }
    }
}

/// Streams `body` after the head already in `out`, framed as `how`, writing whenever the
/// body makes us wait or `out` grows past [`WRITE_HIGH`].
async fn send_body(
    link: &Link,
    out: &mut Vec<u8>,
    body: &mut super::Body,
    how: BodyOut,
) -> io::Result<()> {
    let mut left = match how {
        BodyOut::Length(n) => Some(n),
        _ => None,
    };
    loop {
        let next = std::future::poll_fn(|cx| match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(Some(frame)),
            Poll::Pending if !out.is_empty() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        match next {
            // Waiting for the body: what is buffered goes out first.
            None => {
                write_all(link, out).await?;
                out.clear();
            }
            Some(None) => {
                if how == BodyOut::Chunked {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                if left.is_some_and(|n| n > 0) {
                    return Err(io::Error::other("the answer's body ended early"));
                }
                write_all(link, out).await?;
                out.clear();
                return Ok(());
            }
            Some(Some(Err(e))) => return Err(io::Error::other(e)),
            Some(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    // Trailers: not sent on HTTP/1.1.
                    continue;
                };
                if data.is_empty() {
                    continue;
                }
                if let Some(n) = &mut left {
                    let len = data.len() as u64;
                    if len > *n {
                        return Err(io::Error::other(
                            "the answer's body is longer than its length",
                        ));
                    }
                    *n -= len;
                }
                if how == BodyOut::Chunked {
                    crate::proxy::upstream::wire::encode_chunk_line(data.len(), out);
                    out.extend_from_slice(&data);
                    out.extend_from_slice(b"\r\n");
                } else {
                    out.extend_from_slice(&data);
                }
                if out.len() >= WRITE_HIGH {
                    write_all(link, out).await?;
                    out.clear();
                }
            }
        }
    }
}

/// Writes all of `buf` and flushes.
async fn write_all(link: &Link, buf: &[u8]) -> io::Result<()> {
    let mut at = 0;
    std::future::poll_fn(|cx| {
        let mut s = lock(link);
        while at < buf.len() {
            match Pin::new(&mut s.io).poll_write(cx, &buf[at..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => at += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut s.io).poll_flush(cx)
    })
    .await
}

/// Ends the connection: our side shut (after an answer, `linger`: the client's late bytes read
/// and dropped for a while, so the answer is not lost to a reset).
async fn close(link: &Link, linger: bool) {
    let shut = std::future::poll_fn(|cx| Pin::new(&mut lock(link).io).poll_shutdown(cx)).await;
    if shut.is_err() || !linger {
        return;
    }
    let mut dropped = 0;
    let _ = tokio::time::timeout(
        LINGER,
        std::future::poll_fn(|cx| {
            let mut s = lock(link);
            loop {
                if s.eof || dropped > LINGER_BYTES {
                    return Poll::Ready(());
                }
                s.read.clear();
                match s.poll_fill(cx) {
                    Poll::Ready(Ok(n)) => dropped += n,
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        }),
    )
    .await;
}

/// The answer to a refused head: its status and the JSON error, then the connection closes.
fn refusal(code: RejectCode, out: &mut Vec<u8>) {
    let body = super::respond::error_body(code);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    wire::encode_response_head(
        code.status(),
        Version::HTTP_11,
        wire::AnswerFields::map(&headers),
        BodyOut::Length(body.len() as u64),
        false,
        out,
    );
    out.extend_from_slice(body.as_bytes());
}
