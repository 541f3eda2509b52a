//! One HTTP/1.1 exchange on a worker's upstream connection, run inside the request's own task.
//!
//! The request is written and the response read by the task that handles the request: no
//! connection task, no channel to it, no wake-up between the two. The request bytes are
//! piigate's own (policed, framing decided by [`wire::encode_request_head`]); the response is
//! read strictly ([`wire`]), and the connection goes back to the worker's idle set only after
//! a complete, well-framed response with nothing after it.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::{Method, Request, Response};
use http_body::Body as _;
use tokio::io::AsyncWriteExt;

use super::conn::{Conn, Io};
use super::pool::WorkerPools;
use super::wire::{self, Decoded, Decoder, Framing, WireError};
use crate::proxy::server::fields::RequestFields;
use crate::proxy::{Body, BoxError};

/// Interim (1xx) responses skipped before the final one; more is a misbehaving upstream.
const MAX_INTERIM: usize = 8;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExchangeError {
    #[error("upstream connection I/O failed")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The request body failed while being sent (the client's side, or its limit).
    #[error("the request body failed")]
    Body(#[source] BoxError),
    #[error("the request body's length differs from its Content-Length")]
    BodyLength,
}

/// Writes `req` on `conn` and reads the response head. `plain`: the client's fields as they
/// arrived (the request's map holds none of them then), with the upstream's `host`. On success the response's body is
/// read from the returned [`ResponseBody`], which returns `conn` to `home` at its clean end.
///
/// # Errors
/// Any failure; `conn` is dropped (closed) with it.
pub(super) async fn exchange(
    mut conn: Box<Conn>,
    req: Request<Body>,
    plain: Option<&RequestFields>,
    host: Option<&[u8]>,
    home: &Arc<WorkerPools>,
) -> Result<Response<ResponseBody>, ExchangeError> {
    let head_request = req.method() == Method::HEAD;
    let (parts, body) = req.into_parts();
    // `prepare` set the length of whatever has one; the rest is chunked, or nothing at all.
    // Plain fields carry the client's length, which a policed body (complete) replaces.
    let declared = match plain {
        Some(fields) => body.full_len().or_else(|| fields.content_length()),
        None => crate::proxy::body::declared_length(&parts.headers),
    };
    let framing = match (declared, &body) {
        (Some(n), _) => Framing::Length(n),
        (None, Body::Full(Some(b))) => Framing::Length(b.len() as u64),
        (None, _) if http_body::Body::is_end_stream(&body) => Framing::Empty,
        (None, _) => Framing::Chunked,
    };
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut head = std::mem::take(&mut conn.head);
    head.clear();
    let fields = wire::RequestFieldsOut {
        headers: &parts.headers,
        raw: plain,
        host,
    };
    wire::encode_request_head(&parts.method, target, fields, framing, &mut head);
    drop(parts);
    let written = send(&mut conn.io, &head, body, framing).await;
    conn.head = head;
    written?;
    let mut interim = 0;
    let head = loop {
        // Parsed only once something arrived: the buffer is empty right after a request.
        if !conn.read.is_empty()
            && let Some(head) = wire::parse_head(&mut conn.read, head_request)?
        {
            if !head.interim {
                break head;
            }
            interim += 1;
            if interim > MAX_INTERIM {
                return Err(WireError::Head.into());
            }
            continue;
        }
        let n = std::future::poll_fn(|cx| conn.poll_fill(cx)).await?;
        if n == 0 {
            return Err(WireError::Truncated.into());
        }
    };
    let mut body = ResponseBody {
        fields: Some(head.fields),
        conn: Some(conn),
        decoder: Decoder::new(head.framing),
        keep_alive: head.keep_alive,
        home: Arc::clone(home),
        pending: None,
    };
    // What already arrived with the head is framed now: a small response is usually whole
    // here, so a framing fault still becomes the upstream-error answer (the client has seen
    // nothing yet), and the connection is free before the client is answered.
    body.read_ahead()?;
    Ok(Response::from_parts(head.parts, body))
}

/// Writes the head and the body, framed as `framing` says.
async fn send(io: &mut Io, head: &[u8], body: Body, framing: Framing) -> Result<(), ExchangeError> {
    match body {
        // The usual case, a policed body in memory: head and body in one write.
        Body::Full(bytes) => {
            let bytes = bytes.unwrap_or_default();
            if framing != Framing::Length(bytes.len() as u64)
                && !(framing == Framing::Empty && bytes.is_empty())
            {
                return Err(ExchangeError::BodyLength);
            }
            write_all_vectored(io, &mut [IoSlice::new(head), IoSlice::new(&bytes)]).await?;
        }
        body => stream_body(io, head, body, framing).await?,
    }
    io.flush().await?;
    Ok(())
}

/// Pieces of a streamed body gathered into one write at most.
const GATHER_PIECES: usize = 4;

/// Streams a body that is not in memory (a client's, passed through), checking it against its
/// declared length or chunking it. The head goes out with the first piece, and the last piece
/// with the end of the message, so a small body that came with the client's head costs one
/// write, as one in memory does. Pieces that are already here when one is written go in the
/// same write: an HTTP/2 body arrives as DATA frames of at most 16 KiB, and a 17 KB body in
/// two writes cost a second send through the kernel's TCP path for each request.
async fn stream_body(
    io: &mut Io,
    head: &[u8],
    body: Body,
    framing: Framing,
) -> Result<(), ExchangeError> {
    let mut body = std::pin::pin!(body);
    // Not yet written: goes with the first piece.
    let mut head = head;
    let mut sent = 0u64;
    // A chunk's size line; allocated at the first chunk (a body with a length has none).
    let mut line = Vec::new();
    let mut pieces: [Bytes; GATHER_PIECES] = Default::default();
    loop {
        let next = if framing == Framing::Empty || body.is_end_stream() {
            None
        } else {
            std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await
        };
        let data = match next {
            None => None,
            Some(Err(e)) => return Err(ExchangeError::Body(e)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => Some(data),
                // Trailers are not forwarded; empty pieces say nothing.
                _ => continue,
            },
        };
        let Some(data) = data else {
            if matches!(framing, Framing::Length(n) if sent != n) {
                return Err(ExchangeError::BodyLength);
            }
            let end: &[u8] = if framing == Framing::Chunked {
                b"0\r\n\r\n"
            } else {
                b""
            };
            write_all_vectored(io, &mut [IoSlice::new(head), IoSlice::new(end)]).await?;
            return Ok(());
        };
        let mut len = data.len();
        pieces[0] = data;
        let mut count = 1;
        // The body ended while gathering (it said so only when asked).
        let mut ended = false;
        while count < GATHER_PIECES && !body.is_end_stream() {
            // Asked once, without waiting: what is not here yet goes in a later write.
            match std::future::poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Ready(Some(Err(e))) => return Err(ExchangeError::Body(e)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(more) = frame.into_data()
                        && !more.is_empty()
                    {
                        len += more.len();
                        pieces[count] = more;
                        count += 1;
                    }
                }
            }
        }
        sent += len as u64;
        let last = ended || body.is_end_stream();
        let mut slices = [IoSlice::new(&[]); GATHER_PIECES + 3];
        slices[0] = IoSlice::new(head);
        let mut n = 1;
        if let Framing::Length(declared) = framing {
            if sent > declared || (last && sent != declared) {
                return Err(ExchangeError::BodyLength);
            }
        } else {
            line.clear();
            wire::encode_chunk_line(len, &mut line);
            slices[n] = IoSlice::new(&line);
            n += 1;
        }
        for piece in &pieces[..count] {
            slices[n] = IoSlice::new(piece);
            n += 1;
        }
        if framing == Framing::Chunked {
            let end: &[u8] = if last { b"\r\n0\r\n\r\n" } else { b"\r\n" };
            slices[n] = IoSlice::new(end);
            n += 1;
        }
        write_all_vectored(io, &mut slices[..n]).await?;
        for piece in &mut pieces[..count] {
            *piece = Bytes::new();
        }
        if last {
            return Ok(());
        }
        head = &[];
    }
}

async fn write_all_vectored(io: &mut Io, mut bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = io.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

/// An HTTP/1.1 upstream response body, read from the connection as the client takes it.
/// At its clean end the connection returns to the worker's idle set; dropped early, or on
/// any error, the connection is closed.
pub(crate) struct ResponseBody {
    /// The response's fields as they arrived, until the caller builds a map of them.
    pub(super) fields: Option<wire::RawFields>,
    conn: Option<Box<Conn>>,
    decoder: Decoder,
    keep_alive: bool,
    home: Arc<WorkerPools>,
    /// Body bytes decoded ahead, with the head.
    pending: Option<Bytes>,
}

impl ResponseBody {
    /// Decodes what the read buffer holds, without reading.
    fn read_ahead(&mut self) -> Result<(), WireError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        loop {
            match self.decoder.decode(&mut conn.read)? {
                Decoded::Data(data) => {
                    self.pending = Some(match self.pending.take() {
                        None => data,
                        // Several chunks in one read: joined, as one frame.
                        Some(before) => {
                            let mut joined = BytesMut::with_capacity(before.len() + data.len());
                            joined.extend_from_slice(&before);
                            joined.extend_from_slice(&data);
                            joined.freeze()
                        }
                    });
                }
                Decoded::More => return Ok(()),
                Decoded::Done => return self.complete(),
            }
        }
    }

    /// The body has ended: nothing may follow it, and a reusable connection goes back.
    fn complete(&mut self) -> Result<(), WireError> {
        let Some(conn) = self.conn.take() else {
            return Ok(());
        };
        if !conn.read.is_empty() {
            return Err(WireError::TrailingBytes);
        }
        if self.keep_alive {
            self.home.local().checkin(conn);
        }
        Ok(())
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(data) = this.pending.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(data))));
        }
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let decoded = this.decoder.decode(&mut conn.read);
            match decoded {
                Ok(Decoded::Data(data)) => {
                    if this.decoder.is_done()
                        && let Err(e) = this.complete()
                    {
                        // The client never receives a body that looks complete when bytes
                        // followed it.
                        this.conn = None;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    return Poll::Ready(Some(Ok(http_body::Frame::data(data))));
                }
                Ok(Decoded::Done) => {
                    return Poll::Ready(this.complete().err().map(|e| {
                        this.conn = None;
                        Err(e.into())
                    }));
                }
                Ok(Decoded::More) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
            match ready!(conn.poll_fill(cx)) {
                Ok(0) => {
                    if let Err(e) = this.decoder.eof() {
                        this.conn = None;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && (self.conn.is_none() || self.decoder.is_done())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let pending = self.pending.as_ref().map_or(0, |p| p.len() as u64);
        match self.decoder.remaining() {
            Some(n) => http_body::SizeHint::with_exact(n + pending),
            None => {
                let mut hint = http_body::SizeHint::default();
                hint.set_lower(pending);
                hint
            }
        }
    }
}
