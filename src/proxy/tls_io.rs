//! A client connection's TLS session over its socket, on rustls' unbuffered API.
//!
//! tokio-rustls drives rustls' buffered connection, which reads ciphertext at most 4 KiB at a
//! time into a buffer it shrinks back to 4 KiB whenever it is empty: a 16 KB request took five
//! reads through rustls, four reallocations and 12 KiB zeroed, after a copy of the ciphertext
//! out of the read buffer the listener had to put beneath it (one `recvfrom` instead of five).
//! Here the socket is read straight into one buffer per connection that holds a whole record,
//! the records are deframed and decrypted where they lie, and what piigate sends is encrypted
//! straight into one outgoing buffer (no record allocated per write). rustls still copies each
//! decrypted record once before handing it out (its unbuffered API does not yet lend the
//! decrypted bytes in place).
//!
//! The protocol is rustls' own, from the same `ServerConfig`: versions, ALPN, client
//! certificates, tickets and alerts are unchanged. What this adapter decides is only I/O:
//! - a read after the peer's `close_notify` is the end of the stream; a socket that ends
//!   without one is `UnexpectedEof`, as rustls' reader reports it;
//! - a TLS error answers with rustls' alert (written if the socket takes it at once) and is
//!   reported as `InvalidData`;
//! - records that arrive while piigate writes are decrypted and kept for the next read, so a
//!   client's pipelined bytes never block an answer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::ServerConfig;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The incoming buffer: two whole records (16 KiB of data each, with header and tag), so that a
/// request a little over 16 KiB — a full record and the rest — is read with one call.
const INCOMING_BYTES: usize = 32 * 1024 + 512;
/// A handshake message may span records up to 64 KiB (rustls' own limit, for client
/// certificate chains); beyond this the connection fails.
const MAX_INCOMING_BYTES: usize = 0xffff + INCOMING_BYTES;
/// Room after the unprocessed ciphertext below which it is moved to the front before a read:
/// a whole record fits after it.
const MIN_READ_ROOM: usize = 16 * 1024 + 256;
/// Ciphertext waiting for the socket beyond which a write waits for it to drain.
const OUTGOING_HIGH: usize = 64 * 1024;
/// The outgoing buffer kept between writes: a full record and an answer's head.
const OUTGOING_KEEP: usize = 20 * 1024;
/// The largest piece of a vectored write gathered into one encryption.
const GATHER_BYTES: usize = 16 * 1024;
/// The most plaintext a TLS record carries (RFC 8446 §5.1): a record shorter than this ended
/// one of the peer's writes.
const MAX_RECORD_PLAIN: usize = 16 * 1024;

/// A TLS 1.3 server session on a client's socket (see the module docs).
pub(crate) struct TlsStream {
    tcp: TcpStream,
    conn: UnbufferedServerConnection,
    /// Ciphertext read and not yet processed: `incoming[start..filled]`.
    incoming: Vec<u8>,
    start: usize,
    filled: usize,
    /// Plaintext decrypted and not yet read: `plain[plain_at..]`.
    plain: Vec<u8>,
    plain_at: usize,
    /// Ciphertext to send.
    outgoing: Outgoing,
    /// Scratch for gathering a vectored write.
    gather: Vec<u8>,
    /// The peer sent `close_notify`: reads end.
    peer_closed: bool,
    /// Our `close_notify` is queued.
    shut: bool,
    /// A socket error met after a read had already returned data: reported by the next read.
    error: Option<io::Error>,
    /// rustls said it has nothing to do until more ciphertext arrives: a read goes straight
    /// to the socket instead of asking it again (each asking costs a few hundred instructions,
    /// and a request used to ask five times).
    settled: bool,
}

/// What processing the incoming records came to.
enum Step {
    /// Progress was made (a message encoded or sent): process again.
    Again,
    /// Application data was decrypted (to the reader's buffer, the rest to `plain`); `ended`:
    /// the last record was shorter than a full one, so it ended one of the peer's writes.
    Data { ended: bool },
    /// Nothing more without ciphertext from the peer.
    NeedInput,
    /// The handshake is done and nothing is pending: application data may be sent.
    Writable,
    /// The data to write was encrypted into `outgoing`.
    Wrote,
    /// The peer closed the session.
    PeerClosed,
}

impl TlsStream {
    /// Completes the server side of a handshake on `tcp` with `config`.
    ///
    /// # Errors
    /// `InvalidData` for a TLS failure (its alert sent), `UnexpectedEof` when the client
    /// leaves, or the socket's error.
    pub(crate) async fn accept(config: Arc<ServerConfig>, tcp: TcpStream) -> io::Result<Self> {
        let conn = UnbufferedServerConnection::new(config).map_err(io::Error::other)?;
        let mut s = Self {
            tcp,
            conn,
            incoming: vec![0; INCOMING_BYTES],
            start: 0,
            filled: 0,
            plain: Vec::new(),
            plain_at: 0,
            outgoing: Outgoing::default(),
            gather: Vec::new(),
            peer_closed: false,
            shut: false,
            error: None,
            settled: false,
        };
        std::future::poll_fn(|cx| s.poll_handshake(cx)).await?;
        s.compact();
        if s.incoming.len() > INCOMING_BYTES && s.filled <= INCOMING_BYTES {
            // A large handshake message grew the buffer; the records after it fit the usual one.
            s.incoming.truncate(INCOMING_BYTES);
            s.incoming.shrink_to_fit();
        }
        Ok(s)
    }

    /// The protocol ALPN chose, if any.
    pub(crate) fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// Drives the handshake until the session is established (the client's `Finished`
    /// verified) and everything rustls queued for the client is sent.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let done = match self.step(cx, None, None)? {
                Step::Again | Step::Data { .. } | Step::Wrote => continue,
                // Writable while handshaking: the window after our `Finished`, in which a
                // server may send but the client is not yet authenticated.
                Step::Writable => !self.conn.is_handshaking(),
                Step::NeedInput => false,
                Step::PeerClosed => return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into())),
            };
            ready!(self.poll_send(cx))?;
            if done {
                return Poll::Ready(Ok(()));
            }
            if ready!(self.poll_fill(cx))? == 0 {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Processes the incoming records once: decrypted data goes to `buf` while it has room,
    /// the rest to `plain`; handshake and alert messages to `outgoing`; once the session is
    /// writable, `write` is encrypted into `outgoing`.
    fn step(
        &mut self,
        cx: &mut Context<'_>,
        mut buf: Option<&mut ReadBuf<'_>>,
        write: Option<&[u8]>,
    ) -> io::Result<Step> {
        let status = self
            .conn
            .process_tls_records(&mut self.incoming[self.start..self.filled]);
        let discard = status.discard;
        let step = match status.state {
            Err(e) => Err(e),
            Ok(ConnectionState::ReadTraffic(mut records)) => {
                let mut ended = false;
                while let Some(record) = records.next_record() {
                    let data = match record {
                        Ok(r) => r.payload,
                        Err(e) => {
                            drop(records);
                            self.discard(discard);
                            return Err(self.fail(cx, e));
                        }
                    };
                    ended = data.len() < MAX_RECORD_PLAIN;
                    let mut data = data;
                    if self.plain_at == self.plain.len()
                        && let Some(b) = buf.as_deref_mut()
                    {
                        let n = b.remaining().min(data.len());
                        b.put_slice(&data[..n]);
                        data = &data[n..];
                    }
                    if !data.is_empty() {
                        if self.plain_at == self.plain.len() {
                            self.plain.clear();
                            self.plain_at = 0;
                        }
                        self.plain.extend_from_slice(data);
                    }
                }
                Ok(Step::Data { ended })
            }
            Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                encode_into(&mut self.outgoing, &mut encode);
                Ok(Step::Again)
            }
            Ok(ConnectionState::TransmitTlsData(transmit)) => {
                // Sent by `poll_send` before the next wait; rustls only needs to know it is
                // queued in order.
                transmit.done();
                Ok(Step::Again)
            }
            Ok(ConnectionState::BlockedHandshake) => Ok(Step::NeedInput),
            Ok(ConnectionState::WriteTraffic(mut w)) => match write {
                None => Ok(Step::Writable),
                Some(data) => {
                    // Each record adds its header, content type and tag (22 bytes in TLS 1.3).
                    let mut room = data.len() + (data.len() / (16 * 1024) + 1) * 64;
                    loop {
                        match w.encrypt(data, self.outgoing.room(room)) {
                            Ok(n) => {
                                self.outgoing.end += n;
                                break Ok(Step::Wrote);
                            }
                            Err(EncryptError::InsufficientSize(InsufficientSizeError {
                                required_size,
                            })) => room = required_size,
                            Err(EncryptError::EncryptExhausted) => {
                                break Err(rustls::Error::EncryptError);
                            }
                        }
                    }
                }
            },
            Ok(ConnectionState::PeerClosed) => Ok(Step::PeerClosed),
            Ok(ConnectionState::Closed) if write.is_some() => {
                Err(rustls::Error::General("the TLS session is closed".into()))
            }
            Ok(ConnectionState::Closed) => Ok(Step::PeerClosed),
            Ok(ConnectionState::ReadEarlyData(_)) => {
                // The config allows no early data; rustls never offers it.
                Err(rustls::Error::General("unexpected early data".into()))
            }
            Ok(_) => Err(rustls::Error::General(
                "unknown TLS connection state".into(),
            )),
        };
        self.discard(discard);
        // Encrypting may queue a key update; anything else that queues output said `Again`.
        self.settled = match step {
            Ok(Step::NeedInput | Step::Writable) => true,
            Ok(Step::Wrote) => !self.conn.wants_write(),
            // Every record read was processed and handed out, and nothing waits to be sent:
            // asking again could only answer that it waits for ciphertext (or may write).
            Ok(Step::Data { .. }) => {
                self.start == self.filled && !self.conn.wants_write() && !self.conn.is_handshaking()
            }
            _ => false,
        };
        step.map_err(|e| self.fail(cx, e))
    }

    /// Drops `n` processed bytes. Nothing moves: a read brings several records, each step
    /// processes one, and moving the rest to the front after each (as this did) copied the
    /// buffer's tail again for every record in it; [`Self::compact`] moves what is left once,
    /// when the room after it runs short.
    fn discard(&mut self, n: usize) {
        self.start += n;
        if self.start == self.filled {
            self.start = 0;
            self.filled = 0;
        }
    }

    /// Moves the unprocessed ciphertext to the front of the buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.incoming.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
    }

    /// A TLS failure: rustls' alert queued, sent if the socket takes it now, and the error.
    fn fail(&mut self, cx: &mut Context<'_>, e: rustls::Error) -> io::Error {
        for _ in 0..4 {
            let status = self
                .conn
                .process_tls_records(&mut self.incoming[self.start..self.filled]);
            let discard = status.discard;
            let more = match status.state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    encode_into(&mut self.outgoing, &mut encode);
                    true
                }
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    false
                }
                _ => false,
            };
            self.discard(discard);
            if !more {
                break;
            }
        }
        let _ = self.poll_send(cx);
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    /// Writes the queued ciphertext to the socket.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let out = &mut self.outgoing;
        while out.sent < out.end {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &out.buf[out.sent..out.end]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            out.sent += n;
        }
        out.sent = 0;
        out.end = 0;
        if out.buf.len() > OUTGOING_KEEP {
            // A large answer went out: its buffer is not kept for the connection's life.
            out.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Reads ciphertext from the socket: the number of bytes, 0 at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.incoming.len() - self.filled < MIN_READ_ROOM {
            self.compact();
        }
        if self.filled == self.incoming.len() {
            if self.incoming.len() >= MAX_INCOMING_BYTES {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS message too large",
                )));
            }
            let grown = (self.incoming.len() * 2).min(MAX_INCOMING_BYTES);
            self.incoming.resize(grown, 0);
        }
        let mut rb = ReadBuf::new(&mut self.incoming[self.filled..]);
        ready!(Pin::new(&mut self.tcp).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        self.filled += n;
        if n > 0 {
            self.settled = false;
        }
        Poll::Ready(Ok(n))
    }

    /// Serves what was decrypted earlier.
    fn take_plain(&mut self, buf: &mut ReadBuf<'_>) {
        let n = buf.remaining().min(self.plain.len() - self.plain_at);
        buf.put_slice(&self.plain[self.plain_at..self.plain_at + n]);
        self.plain_at += n;
    }

    /// Encrypts `data` into `outgoing` and starts sending it: how much of `data` was taken.
    fn poll_encrypt(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if self.outgoing.end - self.outgoing.sent >= OUTGOING_HIGH {
            ready!(self.poll_send(cx))?;
        }
        loop {
            match self.step(cx, None, Some(data))? {
                Step::Wrote => break,
                Step::Again | Step::Data { .. } => {}
                Step::PeerClosed => self.peer_closed = true,
                Step::NeedInput | Step::Writable => {
                    return Poll::Ready(Err(io::Error::other(
                        "the TLS session cannot send application data",
                    )));
                }
            }
        }
        // Sent now when the socket takes it; otherwise by the next write or flush.
        match self.poll_send(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(data.len())),
        }
    }
}

/// Appends a handshake or alert message rustls has ready to `outgoing`.
fn encode_into(outgoing: &mut Outgoing, encode: &mut EncodeTlsData<'_, ServerConnectionData>) {
    let mut room = 1024;
    loop {
        match encode.encode(outgoing.room(room)) {
            Ok(n) => {
                outgoing.end += n;
                return;
            }
            Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) => {
                room = required_size;
            }
            Err(EncodeError::AlreadyEncoded) => return,
        }
    }
}

/// Ciphertext queued for the socket: `buf[sent..end]`. The buffer keeps its size (and its
/// bytes initialised) from one write to the next, so encrypting into it zeroes nothing.
#[derive(Default)]
struct Outgoing {
    buf: Vec<u8>,
    end: usize,
    sent: usize,
}

impl Outgoing {
    /// At least `n` writable bytes after what is queued.
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() < self.end + n {
            self.buf.resize(self.end + n, 0);
        }
        &mut self.buf[self.end..]
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.error.take() {
            return Poll::Ready(Err(e));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.plain_at < this.plain.len() {
            this.take_plain(buf);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        loop {
            if this.peer_closed {
                return Poll::Ready(Ok(()));
            }
            let step = if this.settled {
                Step::NeedInput
            } else {
                this.step(cx, Some(buf), None)?
            };
            match step {
                Step::Again => {
                    if buf.remaining() == 0 || this.plain_at < this.plain.len() {
                        return Poll::Ready(Ok(()));
                    }
                }
                Step::Data { ended } => {
                    if buf.remaining() == 0 || this.plain_at < this.plain.len() {
                        return Poll::Ready(Ok(()));
                    }
                    // Everything read is handed out, nothing is queued to send, and the last
                    // record ended one of the peer's writes: the reader has that write whole,
                    // so neither rustls nor the socket is asked again (a 1 KB request over
                    // TLS asked both once more, to hear that nothing had come).
                    if ended
                        && this.settled
                        && this.outgoing.sent == this.outgoing.end
                        && buf.filled().len() > before
                    {
                        return Poll::Ready(Ok(()));
                    }
                }
                Step::PeerClosed => {
                    this.peer_closed = true;
                    return Poll::Ready(Ok(()));
                }
                Step::NeedInput | Step::Writable | Step::Wrote => {
                    // Queued handshake or alert bytes go out before we wait on the peer.
                    if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                        return Poll::Ready(Err(e));
                    }
                    let got = buf.filled().len() > before;
                    // With data in hand, the socket is still looked at once: the rest of a
                    // message that spans records is often there already, and the reader gets
                    // it in one piece.
                    match this.poll_fill(cx) {
                        Poll::Ready(Ok(n)) if n > 0 => {}
                        Poll::Ready(Ok(_)) if got => return Poll::Ready(Ok(())),
                        Poll::Ready(Ok(_)) => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "peer closed connection without sending TLS close_notify",
                            )));
                        }
                        Poll::Ready(Err(e)) if got => {
                            this.error = Some(e);
                            return Poll::Ready(Ok(()));
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending if got => return Poll::Ready(Ok(())),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.get_mut().poll_encrypt(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && first.len() >= GATHER_BYTES / 4
        {
            // Large enough for a record of its own: encrypted where it lies.
            return this.poll_encrypt(cx, first);
        }
        // One record for several small pieces (HTTP/2 frame heads and their data), not one
        // record per piece.
        let mut gather = std::mem::take(&mut this.gather);
        gather.clear();
        for b in bufs {
            let take = b.len().min(GATHER_BYTES.saturating_sub(gather.len()));
            gather.extend_from_slice(&b[..take]);
            if take < b.len() {
                break;
            }
        }
        let r = if gather.is_empty() {
            Poll::Ready(Ok(0))
        } else {
            this.poll_encrypt(cx, &gather)
        };
        this.gather = gather;
        r
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut {
            this.shut = true;
            // Records still to process come first: close_notify needs the session writable.
            let mut tries = 0;
            while tries < 8 {
                tries += 1;
                let status = this
                    .conn
                    .process_tls_records(&mut this.incoming[this.start..this.filled]);
                let discard = status.discard;
                let done = match status.state {
                    Ok(ConnectionState::WriteTraffic(mut w)) => {
                        let n = w.queue_close_notify(this.outgoing.room(64)).unwrap_or(0);
                        this.outgoing.end += n;
                        true
                    }
                    Ok(ConnectionState::ReadTraffic(mut records)) => {
                        // Read after our close: dropped, as the socket will be.
                        while records.next_record().is_some() {}
                        false
                    }
                    Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                        encode_into(&mut this.outgoing, &mut encode);
                        false
                    }
                    Ok(ConnectionState::TransmitTlsData(t)) => {
                        t.done();
                        false
                    }
                    Ok(ConnectionState::PeerClosed) => false,
                    _ => true,
                };
                this.discard(discard);
                if done {
                    break;
                }
            }
        }
        ready!(this.poll_send(cx))?;
        match ready!(Pin::new(&mut this.tcp).poll_shutdown(cx)) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}
