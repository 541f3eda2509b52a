//! HTTP/1.1 to an upstream, without I/O: the request head piigate writes and the response
//! head and body framing it reads (RFC 9112).
//!
//! The reading side is strict on purpose. A response whose length can be read two ways (both
//! `Transfer-Encoding` and `Content-Length`, several lengths, a coding other than exactly
//! `chunked`, a folded header line, a bare LF, a malformed chunk line, bytes after the end) is
//! an error: its connection is never reused and the client gets the upstream-error answer.
//! A proxy that guesses here is the one a response-splitting attack walks through.

use crate::proxy::server::fields::RequestFields;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Version};

pub use super::fields::RawFields;
pub(crate) use super::fields::common_name;

/// The longest response head accepted (status line and fields).
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields a response head may carry.
pub const MAX_HEADERS: usize = 100;
/// The longest chunk-size line (size and extensions).
const MAX_CHUNK_LINE: usize = 4096;
/// The longest trailer section.
const MAX_TRAILERS: usize = 16 * 1024;

/// Why a response could not be read as exactly one well-framed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not an HTTP/1.x response head (status line or field syntax).
    #[error("the upstream's response head is malformed")]
    Head,
    /// A head past [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields.
    #[error("the upstream's response head is too large")]
    HeadTooLarge,
    /// The body's length can be read more than one way, or not at all.
    #[error("the upstream's response framing is ambiguous")]
    Framing,
    /// A chunk line, chunk end or trailer section that is not RFC 9112 syntax.
    #[error("the upstream's chunked body is malformed")]
    Chunk,
    /// The connection ended before the message did.
    #[error("the upstream's response ended early")]
    Truncated,
    /// Bytes arrived after the end of the response, which nothing asked for.
    #[error("the upstream sent bytes after its response")]
    TrailingBytes,
    /// `101 Switching Protocols`: piigate never asks for an upgrade.
    #[error("the upstream switched protocols unasked")]
    Upgrade,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    /// Status and version; no header fields (they are in [`Head::fields`]).
    pub parts: http::response::Parts,
    /// The fields as they arrived. Those that describe this hop only are read here: the
    /// framing ones (`Content-Length`, `Transfer-Encoding`: [`Head::framing`] says what they
    /// said, and the body's size hint carries a length on), `Keep-Alive`, and `Connection`
    /// ([`Head::keep_alive`]); [`RawFields::append_to`] leaves them out of a map, but for a
    /// `Connection` naming other fields, which stays so the caller strips those too.
    pub fields: RawFields,
    /// How the body that follows is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request once this body has ended.
    pub keep_alive: bool,
    /// A 1xx interim response, to be skipped: the final response follows.
    pub interim: bool,
}

/// The fields a request head carries (see [`encode_request_head`]).
pub struct RequestFieldsOut<'a> {
    /// Those in the request's map.
    pub headers: &'a HeaderMap,
    /// A client's fields as they arrived, of which those a request going upstream carries
    /// ([`RequestFields::write_passed_on`]).
    pub raw: Option<&'a RequestFields>,
    /// The upstream's `Host`, when the map does not hold it.
    pub host: Option<&'a [u8]>,
}

impl<'a> RequestFieldsOut<'a> {
    /// Only those of `headers`.
    pub fn map(headers: &'a HeaderMap) -> Self {
        Self {
            headers,
            raw: None,
            host: None,
        }
    }
}

/// Writes a request head: `method target HTTP/1.1`, the fields of the map except the framing
/// ones, then the raw lines and `Host`, then the framing `body` asks for. The framing is
/// decided here only, from what is actually sent, whatever the map held.
pub fn encode_request_head(
    method: &Method,
    target: &str,
    RequestFieldsOut { headers, raw, host }: RequestFieldsOut<'_>,
    body: Framing,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(raw) = raw {
        raw.write_passed_on(out);
    }
    if let Some(host) = host {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(host);
        out.extend_from_slice(b"\r\n");
    }
    match body {
        Framing::Empty | Framing::Close => {}
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            let mut digits = [0u8; 20];
            out.extend_from_slice(decimal(n, &mut digits));
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, written at the end of `digits`.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[at..];
        }
    }
}

/// Writes the line that starts a chunk of `len` bytes (`len` in hex, CRLF).
pub fn encode_chunk_line(len: usize, out: &mut Vec<u8>) {
    let hex = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        digits[at] = hex[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// Whether every LF in `bytes` ends a CRLF.
///
/// One pass over every byte pair without an early exit, which the compiler turns into wide
/// compares: a head is a few hundred bytes with a LF every few dozen, and a `memchr` per LF
/// cost several times the whole pass.
fn crlf_only(bytes: &[u8]) -> bool {
    let Some(&first) = bytes.first() else {
        return true;
    };
    let bare = bytes
        .iter()
        .zip(&bytes[1..])
        .fold(first == b'\n', |bare, (&before, &at)| {
            bare | ((at == b'\n') & (before != b'\r'))
        });
    !bare
}

/// Parses one response head from the front of `buf` and removes it from `buf`; `Ok(None)`
/// when `buf` does not yet hold a whole head (nothing is removed). `head_request`: the
/// request was `HEAD`, whose response has no body whatever its fields say.
///
/// # Errors
/// [`WireError`] for anything but one well-formed, unambiguously framed head.
pub fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<Head>, WireError> {
    // Where each field's name and value lie in `buf`, so the head can be frozen once and its
    // values shared rather than copied.
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let (len, code, version, count) = {
        // Uninitialised: httparse fills what it uses, and a head has a handful of fields.
        let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut res,
            buf,
            &mut fields,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(WireError::HeadTooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(WireError::HeadTooLarge),
            Err(_) => return Err(WireError::Head),
        };
        if len > MAX_HEAD {
            return Err(WireError::HeadTooLarge);
        }
        if !crlf_only(&buf[..len]) {
            return Err(WireError::Head);
        }
        let base = buf.as_ptr() as usize;
        let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
        let count = res.headers.len();
        for (span, h) in spans.iter_mut().zip(res.headers.iter()) {
            let name = h.name.as_bytes();
            *span = (
                at(name),
                name.len() as u32,
                at(h.value),
                h.value.len() as u32,
            );
        }
        let code = res.code.ok_or(WireError::Head)?;
        let version = match res.version {
            Some(1) => Version::HTTP_11,
            Some(0) => Version::HTTP_10,
            _ => return Err(WireError::Head),
        };
        (len, code, version, count)
    };
    let mut head = buf.split_to(len);
    if code == 101 {
        return Err(WireError::Upgrade);
    }
    let status = StatusCode::from_u16(code).map_err(|_| WireError::Head)?;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = version == Version::HTTP_10;
    let mut found = 0;
    // Which fields are passed on (one bit per field: at most `MAX_HEADERS`), and a `Date`.
    let mut passed = 0u128;
    let mut date = false;
    for (i, &(ns, nl, vs, vl)) in spans[..count].iter().enumerate() {
        let (ns, nl, vs, vl) = (ns as usize, nl as usize, vs as usize, vl as usize);
        let raw_name = &head[ns..ns + nl];
        let raw_value = &head[vs..vs + vl];
        // The fields are recognised on their raw bytes (httparse has checked them as a token
        // and a field value) and kept as they came: no name, value or map is built for them
        // here ([`RawFields`]).
        match hop_field(raw_name) {
            Some(Hop::TransferEncoding) => {
                // Exactly one field, exactly `chunked`: anything else is a coding piigate
                // would have to guess the end of.
                if chunked || !raw_value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    return Err(WireError::Framing);
                }
                chunked = true;
            }
            Some(Hop::ContentLength) => {
                if length.is_some() {
                    return Err(WireError::Framing);
                }
                length = Some(content_length(raw_value).ok_or(WireError::Framing)?);
            }
            Some(Hop::Connection) => {
                for token in raw_value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    }
                }
                // The fields it names go too: a map is built to strip them.
                if super::fields::names_others(raw_value) {
                    found |= RawFields::CONNECTION_NAMES_OTHERS;
                }
            }
            Some(Hop::KeepAlive | Hop::Other) => {}
            Some(Hop::SetCookie) => found |= RawFields::SET_COOKIE,
            Some(Hop::RequestId) => found |= RawFields::REQUEST_ID,
            None => {
                passed |= 1 << i;
                date |= nl == 4 && raw_name.eq_ignore_ascii_case(b"date");
            }
        }
    }
    if chunked && (length.is_some() || version == Version::HTTP_10) {
        return Err(WireError::Framing);
    }
    let interim = status.is_informational();
    let framing = if interim || head_request || code == 304 {
        Framing::Empty
    } else if code == 204 {
        if chunked || length.is_some_and(|n| n != 0) {
            return Err(WireError::Framing);
        }
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    };
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.version = version;
    // The first field line starts after the status line's LF.
    let start = memchr::memchr(b'\n', &head).map_or(head.len(), |at| at + 1);
    // Fields that can go back as they came are gathered in one piece for the writer; the
    // others stay as they arrived, for a map to be built.
    let end = if found == 0 {
        let passed = spans[..count]
            .iter()
            .enumerate()
            .filter(|&(i, _)| passed & (1 << i) != 0)
            .map(|(_, &(ns, nl, vs, vl))| (ns as usize, nl as usize, vs as usize, vl as usize));
        super::fields::gather(&mut head, start, passed)
    } else {
        head.len()
    };
    Ok(Some(Head {
        parts,
        fields: RawFields::new(head.freeze(), start, end, found, date),
        framing,
        keep_alive: !close && framing != Framing::Close,
        interim,
    }))
}

/// The response fields [`parse_head`] reads itself rather than passes on, and `Set-Cookie`,
/// which the gateway polices.
#[derive(Clone, Copy)]
enum Hop {
    TransferEncoding,
    ContentLength,
    Connection,
    KeepAlive,
    /// Another hop-by-hop field (RFC 9110 §7.6.1): never passed on.
    Other,
    SetCookie,
    /// The gateway's own request id, which replaces the upstream's.
    RequestId,
}

/// Which of the fields [`parse_head`] reads or holds back `name` is, ASCII case ignored;
/// `None` for a field passed on as it is.
fn hop_field(name: &[u8]) -> Option<Hop> {
    let is = |want: &[u8]| name.eq_ignore_ascii_case(want);
    match name.len() {
        17 if is(b"transfer-encoding") => Some(Hop::TransferEncoding),
        14 if is(b"content-length") => Some(Hop::ContentLength),
        10 if is(b"connection") => Some(Hop::Connection),
        10 if is(b"keep-alive") => Some(Hop::KeepAlive),
        10 if is(b"set-cookie") => Some(Hop::SetCookie),
        20 if is(b"x-piigate-request-id") => Some(Hop::RequestId),
        2 | 7 | 16 | 18 | 19 if super::fields::is_hop_by_hop(name) => Some(Hop::Other),
        _ => None,
    }
}

/// A `Content-Length` value read the one way both sides of piigate read it: ASCII digits only
/// (no sign, no list, no inner space), surrounding whitespace ignored, leading zeros allowed,
/// and `None` past `u64`. A value another parser could read as a different length is refused
/// rather than guessed.
pub(crate) fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// What [`Decoder::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// More input is needed.
    More,
    /// The body has ended (a chunked body's trailers were read and dropped).
    Done,
}

/// Reads a response body out of the connection's read buffer, one piece at a time.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Length(u64),
    Close,
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    Done,
}

impl Decoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::Close => State::Close,
        };
        Self { state }
    }

    /// Whether the body has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The bytes still to come, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Takes the next piece of body from the front of `buf`.
    ///
    /// # Errors
    /// [`WireError::Chunk`] for chunked framing that is not RFC 9112 syntax.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, WireError> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::Done),
                State::Length(left) | State::ChunkData(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let rest = left - take as u64;
                    self.state = match (self.state, rest) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), n) => State::Length(n),
                        (_, 0) => State::ChunkEnd,
                        (_, n) => State::ChunkData(n),
                    };
                    return Ok(Decoded::Data(buf.split_to(take).freeze()));
                }
                State::Close => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    return Ok(Decoded::Data(buf.split().freeze()));
                }
                State::ChunkSize => {
                    // Leading zeros are digits of the size (`1*HEXDIG`), as many as come: they
                    // are dropped as they arrive, one kept, so they count against no limit
                    // and the line is bounded by what follows them.
                    let zeros = buf.iter().take_while(|&&b| b == b'0').count();
                    if zeros > 1 {
                        let _ = buf.split_to(zeros - 1);
                    }
                    let window = &buf[..buf.len().min(MAX_CHUNK_LINE)];
                    let Some(lf) = memchr::memchr(b'\n', window) else {
                        if buf.len() >= MAX_CHUNK_LINE {
                            return Err(WireError::Chunk);
                        }
                        return Ok(Decoded::More);
                    };
                    if lf == 0 || buf[lf - 1] != b'\r' {
                        return Err(WireError::Chunk);
                    }
                    let size = chunk_size(&buf[..lf - 1])?;
                    let _ = buf.split_to(lf + 1);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::ChunkData(size)
                    };
                }
                State::ChunkEnd => {
                    if buf.len() < 2 {
                        if buf.first().is_some_and(|&b| b != b'\r') {
                            return Err(WireError::Chunk);
                        }
                        return Ok(Decoded::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(WireError::Chunk);
                    }
                    let _ = buf.split_to(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let used = trailer_section(buf)?;
                    let Some(used) = used else {
                        return Ok(Decoded::More);
                    };
                    let _ = buf.split_to(used);
                    self.state = State::Done;
                }
            }
        }
    }

    /// The connection ended: the end of a body read until close, an error for any other.
    ///
    /// # Errors
    /// [`WireError::Truncated`].
    pub fn eof(&mut self) -> Result<(), WireError> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(WireError::Truncated),
        }
    }
}

/// A chunk-size line without its CRLF: `1*HEXDIG [ chunk-ext ]`, where each extension is
/// `BWS ";" BWS name [ BWS "=" BWS value ]`. Extensions are skipped but must be printable;
/// the size must fit 64 bits.
fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(WireError::Chunk);
    }
    let size = line[..digits].iter().fold(0u64, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => d - b'A' + 10,
        };
        (n << 4) | u64::from(v)
    });
    let ext = &line[digits..];
    if !ext.is_empty() {
        let ext = ext.trim_ascii_start();
        let printable = ext
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
        if !ext.starts_with(b";") || !printable || ext[1..].trim_ascii().is_empty() {
            return Err(WireError::Chunk);
        }
    }
    Ok(size)
}

/// The length of the trailer section at the front of `buf` (fields and the empty line that
/// ends them), `None` while incomplete.
fn trailer_section(buf: &[u8]) -> Result<Option<usize>, WireError> {
    if buf.starts_with(b"\r\n") {
        return Ok(Some(2));
    }
    if buf.is_empty() || buf == b"\r" {
        return Ok(None);
    }
    let mut fields = [httparse::EMPTY_HEADER; 32];
    match httparse::parse_headers(buf, &mut fields) {
        Ok(httparse::Status::Complete((n, _))) if n <= MAX_TRAILERS && crlf_only(&buf[..n]) => {
            Ok(Some(n))
        }
        Ok(httparse::Status::Partial) if buf.len() <= MAX_TRAILERS => Ok(None),
        _ => Err(WireError::Chunk),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    fn head(bytes: &[u8]) -> Result<Option<Head>, WireError> {
        parse_head(&mut BytesMut::from(bytes), false)
    }

    /// The fields a caller that reads them gets.
    fn map(h: &Head) -> HeaderMap {
        let mut map = HeaderMap::new();
        h.fields.append_to(&mut map).expect("valid");
        map
    }

    fn framing(bytes: &str) -> Result<Framing, WireError> {
        Ok(head(bytes.as_bytes())?.expect("a whole head").framing)
    }

    /// The body `framing` reads from `wire`, all of it at once.
    fn body(framing: Framing, wire: &[u8]) -> Result<Vec<u8>, WireError> {
        let mut buf = BytesMut::from(wire);
        let mut d = Decoder::new(framing);
        let mut out = Vec::new();
        loop {
            match d.decode(&mut buf)? {
                Decoded::Data(b) => out.extend_from_slice(&b),
                Decoded::Done => return Ok(out),
                Decoded::More => {
                    d.eof()?;
                }
            }
        }
    }

    #[test]
    fn a_plain_response_head_is_read_with_its_framing() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"[..],
        );
        let h = parse_head(&mut buf, false).expect("valid").expect("whole");
        assert_eq!(h.parts.status, 200);
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive && !h.interim);
        assert_eq!(map(&h)["content-type"], "text/plain");
        assert!(!map(&h).contains_key("content-length"), "framing is ours");
        let h = head(b"HTTP/1.1 200 OK\r\nconnection: Keep-Alive\r\nkeep-alive: timeout=5\r\nx-a: 1\r\ncontent-length: 0\r\n\r\n")
            .expect("valid")
            .expect("whole");
        assert!(h.keep_alive);
        let fields = map(&h);
        let names: Vec<&str> = fields.keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            ["x-a"],
            "this hop's connection fields are read, not passed on"
        );
        let h = head(
            b"HTTP/1.1 200 OK\r\nconnection: close, x-a\r\nx-a: 1\r\ncontent-length: 0\r\n\r\n",
        )
        .expect("valid")
        .expect("whole");
        assert!(!h.keep_alive);
        assert!(
            map(&h).contains_key("connection"),
            "a Connection naming other fields stays for the caller to strip them"
        );
        assert_eq!(&buf[..], b"hello");
        assert!(
            head(b"HTTP/1.1 200 OK\r\nContent-Le")
                .expect("partial")
                .is_none()
        );
    }

    #[test]
    fn ambiguous_lengths_are_refused() {
        for bad in [
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\ntransfer-encoding: identity\r\n\r\n",
            "HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            "HTTP/1.1 204 No Content\r\ncontent-length: 3\r\n\r\n",
            "HTTP/1.1 204 No Content\r\ntransfer-encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(framing(bad).map(|_| ()), Err(WireError::Framing), "{bad}");
        }
    }

    #[test]
    fn a_length_is_digits_within_64_bits_read_alike_on_both_sides() {
        for (value, want) in [
            ("0", Some(0)),
            ("7", Some(7)),
            (" 7 ", Some(7)),
            ("000000000000000000000007", Some(7)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("", None),
            ("  ", None),
            ("+7", None),
            ("-7", None),
            ("0x7", None),
            ("1 0", None),
            ("7,7", None),
            ("\u{663}", None),
        ] {
            assert_eq!(content_length(value.as_bytes()), want, "{value:?}");
        }
    }

    #[test]
    fn a_common_name_is_the_name_the_general_parse_gives() {
        for raw in [
            "Host",
            "DATE",
            "server",
            "Accept",
            "User-Agent",
            "content-TYPE",
            "Cache-Control",
            "Content-Length",
        ] {
            let general = HeaderName::from_bytes(raw.as_bytes()).expect("a name");
            assert_eq!(common_name(raw.as_bytes()), Some(general), "{raw}");
        }
        for raw in ["hosts", "dat", "x-server", "accept-encoding", "content-typ"] {
            assert_eq!(common_name(raw.as_bytes()), None, "{raw}");
        }
    }

    #[test]
    fn a_line_feed_counts_only_at_the_end_of_a_crlf() {
        for (bytes, want) in [
            (&b""[..], true),
            (b"\n", false),
            (b"\r\n", true),
            (b"a\r\nb\r\n\r\n", true),
            (b"a\r\nb\n\r\n", false),
            (b"\r\r\n\n", false),
            (b"abc", true),
            (b"\r", true),
        ] {
            assert_eq!(crlf_only(bytes), want, "{bytes:?}");
            let reference = bytes
                .iter()
                .enumerate()
                .all(|(i, &b)| b != b'\n' || (i > 0 && bytes[i - 1] == b'\r'));
            assert_eq!(crlf_only(bytes), reference, "{bytes:?}");
        }
    }

    #[test]
    fn malformed_heads_are_refused() {
        for bad in [
            &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nx-folded: a\r\n b\r\n\r\n",
            b"HTTP/1.1 200 OK\nx: y\n\n",
            b"HTTP/1.1 200 OK\r\nx: y\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad name: y\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nx: a\x00b\r\n\r\n",
        ] {
            assert_eq!(
                head(bad).map(|_| ()),
                Err(WireError::Head),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            head(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n").map(|_| ()),
            Err(WireError::Upgrade)
        );
        let mut many = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("x-{i}: 1\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(
            head(many.as_bytes()).map(|_| ()),
            Err(WireError::HeadTooLarge)
        );
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD));
        assert_eq!(
            head(huge.as_bytes()).map(|_| ()),
            Err(WireError::HeadTooLarge)
        );
    }

    #[test]
    fn bodiless_responses_and_connection_close_are_framed_per_rfc_9112() {
        assert_eq!(
            framing("HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n"),
            Ok(Framing::Empty)
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\n\r\n"),
            Ok(Framing::Empty)
        );
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"[..]);
        let h = parse_head(&mut buf, true).expect("valid").expect("whole");
        assert_eq!(h.framing, Framing::Empty, "a response to HEAD has no body");
        let h = head(b"HTTP/1.1 100 Continue\r\n\r\n")
            .expect("valid")
            .expect("whole");
        assert!(h.interim);
        let h =
            head(b"HTTP/1.1 200 OK\r\nconnection: keep-alive, close\r\ncontent-length: 1\r\n\r\n")
                .expect("valid")
                .expect("whole");
        assert!(!h.keep_alive);
        let h = head(b"HTTP/1.1 200 OK\r\n\r\n")
            .expect("valid")
            .expect("whole");
        assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
        let h = head(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n")
            .expect("valid")
            .expect("whole");
        assert!(!h.keep_alive, "HTTP/1.0 connections are not reused");
    }

    #[test]
    fn leading_zeros_of_a_chunk_size_count_against_no_limit() {
        let zeros = "0".repeat(3 * MAX_CHUNK_LINE);
        let wire = format!("{zeros}5\r\nhello\r\n{zeros}\r\n\r\n");
        assert_eq!(
            body(Framing::Chunked, wire.as_bytes()).as_deref(),
            Ok(&b"hello"[..])
        );
        // Fed a byte at a time, too.
        let mut d = Decoder::new(Framing::Chunked);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in wire.as_bytes() {
            buf.extend_from_slice(&[b]);
            loop {
                match d.decode(&mut buf) {
                    Ok(Decoded::Data(b)) => out.extend_from_slice(&b),
                    Ok(Decoded::More | Decoded::Done) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert!(d.is_done());
        assert_eq!(out, b"hello");
    }

    #[test]
    fn chunked_bodies_are_read_strictly() {
        assert_eq!(
            body(
                Framing::Chunked,
                b"5\r\nhello\r\n6;name=\"v\"\r\n world\r\n0\r\n\r\n"
            )
            .as_deref(),
            Ok(&b"hello world"[..])
        );
        assert_eq!(
            body(
                Framing::Chunked,
                b"A\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\n"
            )
            .as_deref(),
            Ok(&b"0123456789"[..])
        );
        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5;a\x01\r\nhello\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"\r\n",
            b"5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
            b"5\r\nhello\r\n0\r\nx: a\r\n b\r\n\r\n",
            b"5\r\nhello\r\n0\r\nx: y\n\r\n",
        ] {
            assert_eq!(
                body(Framing::Chunked, bad),
                Err(WireError::Chunk),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            body(Framing::Chunked, b"5\r\nhel"),
            Err(WireError::Truncated)
        );
        assert_eq!(body(Framing::Length(5), b"hel"), Err(WireError::Truncated));
        assert_eq!(
            body(Framing::Close, b"until eof").as_deref(),
            Ok(&b"until eof"[..])
        );
    }

    #[test]
    fn a_request_head_is_written_with_the_framing_of_what_is_sent() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("up.example"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("gzip"));
        let mut out = Vec::new();
        encode_request_head(
            &Method::POST,
            "/a?b=c",
            RequestFieldsOut::map(&h),
            Framing::Length(12),
            &mut out,
        );
        assert_eq!(
            out,
            b"POST /a?b=c HTTP/1.1\r\nhost: up.example\r\ncontent-length: 12\r\n\r\n"
        );
        out.clear();
        encode_request_head(
            &Method::PUT,
            "/",
            RequestFieldsOut::map(&h),
            Framing::Chunked,
            &mut out,
        );
        assert_eq!(
            out,
            b"PUT / HTTP/1.1\r\nhost: up.example\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        out.clear();
        encode_chunk_line(0x1a2b, &mut out);
        assert_eq!(out, b"1a2b\r\n");
    }

    /// Chunks of `body` as a sender might cut them, with optional extensions and trailers.
    fn chunked(pieces: &[Vec<u8>], ext: bool, trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            encode_chunk_line(p.len(), &mut out);
            if ext {
                out.truncate(out.len() - 2);
                out.extend_from_slice(b" ; n=v\r\n");
            }
            out.extend_from_slice(p);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n");
        if trailer {
            out.extend_from_slice(b"x-t: 1\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    proptest! {
        /// Whatever way the bytes arrive, a chunked body decodes to what was sent, ends exactly
        /// at its last byte, and leaves what follows alone.
        #[test]
        fn chunked_bodies_decode_whatever_the_read_boundaries(
            pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
            ext in any::<bool>(),
            trailer in any::<bool>(),
            cuts in prop::collection::vec(1usize..64, 1..40),
        ) {
            let wire = chunked(&pieces, ext, trailer);
            let mut tail = wire;
            tail.extend_from_slice(b"NEXT");
            let mut d = Decoder::new(Framing::Chunked);
            let mut buf = BytesMut::new();
            let mut fed = 0;
            let mut cut = cuts.iter().cycle();
            let mut out = Vec::new();
            loop {
                match d.decode(&mut buf).expect("well-formed") {
                    Decoded::Data(b) => out.extend_from_slice(&b),
                    Decoded::Done => break,
                    Decoded::More => {
                        prop_assert!(fed < tail.len(), "needs no more than the message");
                        let n = (*cut.next().expect("cycle")).min(tail.len() - fed);
                        buf.extend_from_slice(&tail[fed..fed + n]);
                        fed += n;
                    }
                }
            }
            prop_assert_eq!(out, pieces.concat());
            let mut rest = buf.to_vec();
            rest.extend_from_slice(&tail[fed..]);
            prop_assert_eq!(rest, b"NEXT".to_vec());
        }

        /// Arbitrary bytes never panic the head parser or the decoders, and a decoder never
        /// yields more bytes than it was given.
        #[test]
        fn arbitrary_input_is_read_or_refused(data in prop::collection::vec(any::<u8>(), 0..600)) {
            let mut buf = BytesMut::from(&data[..]);
            if let Ok(Some(h)) = parse_head(&mut buf, false) {
                let mut d = Decoder::new(h.framing);
                let before = buf.len();
                let mut got = 0;
                while let Ok(Decoded::Data(b)) = d.decode(&mut buf) {
                    got += b.len();
                }
                prop_assert!(got <= before);
            }
            for framing in [Framing::Chunked, Framing::Length(7), Framing::Close] {
                let mut buf = BytesMut::from(&data[..]);
                let mut d = Decoder::new(framing);
                let mut got = 0;
                while let Ok(Decoded::Data(b)) = d.decode(&mut buf) {
                    got += b.len();
                }
                prop_assert!(got <= data.len());
            }
        }
    }
}
