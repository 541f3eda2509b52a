//! HTTP/1.1 from a client, without I/O: the request head piigate reads and the response head
//! it writes (RFC 9112).
//!
//! The request grammar is the one docs/BOUNDARY.md promises and tests/smuggling.rs pins: the
//! head is read by httparse with its default (strict) configuration — no obs-fold, no bare CR,
//! no whitespace before a colon, single spaces in the request line; bare LF line endings are
//! accepted (RFC 9112 §2.2 allows it, and the head is re-written with CRLF upstream).
//! Framing is read once, here:
//! - `Transfer-Encoding` on HTTP/1.0 is refused; on HTTP/1.1 the last coding of the last line
//!   must be `chunked` (RFC 9112 §6.3 item 4), and codings before it are left in the fields
//!   for the service to refuse (501): they are never decoded nor guessed.
//! - `Content-Length` is digits only; several lines must agree; a list in one line is
//!   refused. With `Transfer-Encoding` it is dropped from the fields and the connection closes
//!   after the answer (RFC 9112 §6.3 item 3).

use crate::error::RejectCode;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::fields::{BodyType, RequestFields, Skips};
use crate::proxy::upstream::fields::{RawFields, UPSTREAM_REQUEST, hop_bit};
pub use crate::proxy::upstream::wire::{Decoded, Decoder, Framing};
use crate::proxy::upstream::wire::{common_name, content_length, decimal};
use crate::telemetry::request_id::RequestId;

/// The most header fields a request head may carry.
pub const MAX_HEADERS: usize = 100;
/// The longest request target accepted.
const MAX_TARGET: usize = 65_534;

/// Why a request head was refused before it reached the service: the status it is answered
/// with, after which the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not an HTTP/1.x request head, or its framing can be read more than one way (400).
    Malformed,
    /// A head past the size limit or [`MAX_HEADERS`] fields (431).
    TooLarge,
    /// A request target past [`MAX_TARGET`] bytes (414).
    TargetTooLong,
}

impl HeadError {
    /// The rejection the refusal is answered and counted as.
    pub fn code(self) -> RejectCode {
        match self {
            Self::Malformed => RejectCode::BadRequest,
            Self::TooLarge => RejectCode::HeaderTooLarge,
            Self::TargetTooLong => RejectCode::TargetTooLong,
        }
    }
}

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    /// Method, target, version and fields (as the client sent them, less a `Content-Length`
    /// that `Transfer-Encoding` overrides). No fields when they are kept in `fields`.
    pub parts: http::request::Parts,
    /// A plain request's fields, as the bytes they arrived in ([`RequestFields`]); `None` when
    /// they are in `parts`.
    pub fields: Option<RequestFields>,
    /// How the body that follows is delimited (never [`Framing::Close`]: a request has no
    /// read-until-close body).
    pub framing: Framing,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a `100 Continue` before sending the body.
    pub expect_continue: bool,
}

/// Parses one request head from the front of `buf` and removes it from `buf`; `Ok(None)` when
/// `buf` does not yet hold a whole head (nothing is removed). `max_head`: the largest head
/// accepted, counted in the bytes already buffered. The fields are in the head's map.
///
/// # Errors
/// [`HeadError`] for anything but one well-formed, unambiguously framed head.
pub fn parse_request_head(
    buf: &mut BytesMut,
    max_head: usize,
) -> Result<Option<RequestHead>, HeadError> {
    read_request_head(buf, max_head, false)
}

/// The longest field name the `http` crate builds.
const MAX_NAME: usize = (1 << 16) - 1;
/// As [`parse_request_head`]; with `plain`, a plain request's fields are kept as the bytes
/// they arrived in ([`RequestHead::fields`], [`RequestFields`]) rather than put in a map.
/// Whether a head is accepted, and how it is framed, does not depend on `plain`.
///
/// # Errors
/// As [`parse_request_head`].
pub fn read_request_head(
    buf: &mut BytesMut,
    max_head: usize,
    plain: bool,
) -> Result<Option<RequestHead>, HeadError> {
    // Where each field's name and value lie in `buf`, so the head can be frozen once and its
    // values shared rather than copied.
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let (len, method, target, version, count) = {
        let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        // Only the first `max_head` bytes are looked at: whether a head is refused as too
        // large or as malformed must not depend on how much of it has arrived.
        let window = &buf[..buf.len().min(max_head)];
        let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut req,
            window,
            &mut fields,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() >= max_head => {
                return Err(HeadError::TooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Malformed),
        };
        let base = buf.as_ptr() as usize;
        let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
        let count = req.headers.len();
        for (span, h) in spans.iter_mut().zip(req.headers.iter()) {
            let name = h.name.as_bytes();
            *span = (
                at(name),
                name.len() as u32,
                at(h.value),
                h.value.len() as u32,
            );
        }
        let path = req.path.ok_or(HeadError::Malformed)?;
        if path.len() > MAX_TARGET {
            return Err(HeadError::TargetTooLong);
        }
        let method = req.method.ok_or(HeadError::Malformed)?;
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed)?;
        let target = (at(path.as_bytes()) as usize, path.len());
        let version = match req.version {
            Some(1) => Version::HTTP_11,
            Some(0) => Version::HTTP_10,
            _ => return Err(HeadError::Malformed),
        };
        (len, method, target, version, count)
    };
    let spans = &spans[..count];
    let http11 = version == Version::HTTP_11;
    let mut keep_alive = http11;
    let mut saw_close = false;
    let mut expect_continue = false;
    let mut length: Option<u64> = None;
    let mut te = false;
    let mut te_chunked = false;
    let mut saw_length = false;
    // Whether the fields can stay as they arrived: see `fields`. Origin-form only (an
    // absolute-form target names a host `Host` must agree with: read through the map).
    let mut plain = plain && buf.get(target.0) == Some(&b'/') && method != Method::CONNECT;
    let mut hosts = 0;
    let mut host = (0, 0);
    // The lines of a plain request's fields that do not go upstream, adjacent ones joined.
    let mut skips = Skips::default();
    let mut body_type = BodyType::default();
    for &(ns, nl, vs, vl) in spans {
        let (ns, nl, vs, vl) = (ns as usize, nl as usize, vs as usize, vl as usize);
        if nl > MAX_NAME {
            // The `http` crate's limit: such a name cannot be read the same way downstream.
            return Err(HeadError::Malformed);
        }
        let raw_name = &buf[ns..ns + nl];
        let raw_value = &buf[vs..vs + vl];
        match field(raw_name) {
            Some(Field::TransferEncoding) => {
                if !http11 {
                    return Err(HeadError::Malformed);
                }
                if !te {
                    // A length before it is dropped from the fields (the map leaves it out).
                    length = None;
                }
                te = true;
                // The last line decides: its last coding must be `chunked`.
                te_chunked = last_coding_is_chunked(raw_value);
            }
            Some(Field::ContentLength) => {
                saw_length = true;
                if !te {
                    let n = content_length(raw_value).ok_or(HeadError::Malformed)?;
                    match length {
                        Some(prev) if prev != n => return Err(HeadError::Malformed),
                        // The same length again: one field is enough (the map keeps one).
                        Some(_) => plain = false,
                        None => length = Some(n),
                    }
                }
            }
            Some(Field::Connection) => {
                if saw_close || has_token(raw_value, b"close") {
                    saw_close = true;
                    keep_alive = false;
                } else if !http11 && !keep_alive {
                    keep_alive = has_token(raw_value, b"keep-alive");
                }
                // Fields it names go too: read through the map.
                plain &= !crate::proxy::upstream::fields::names_others(raw_value);
            }
            Some(Field::Expect) => {
                expect_continue = raw_value.eq_ignore_ascii_case(b"100-continue");
            }
            Some(Field::Host) => {
                hosts += 1;
                host = (vs as u32, vl as u32);
            }
            Some(Field::ContentType) => body_type.saw_type(vs as u32, vl as u32),
            Some(Field::ContentEncoding) => body_type.saw_encoding(),
            Some(Field::ReadByName) => plain = false,
            None => {}
        }
        if plain {
            // Every line ends in CRLF right after its value: what the line walk of
            // `RequestFields::to_map` relies on.
            let end = vs + vl + 2;
            plain = buf.get(vs + vl..end) == Some(b"\r\n")
                && (hop_bit(&buf[ns..ns + nl]) & UPSTREAM_REQUEST == 0
                    || skips.push(ns as u32, end as u32));
        }
    }
    if te && !te_chunked {
        return Err(HeadError::Malformed);
    }
    let framing = if te {
        Framing::Chunked
    } else {
        match length {
            None | Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
        }
    };
    // Content-Length next to Transfer-Encoding: answered, then closed (RFC 9112 §6.3 item 3).
    if (te && saw_length) || method == Method::CONNECT {
        keep_alive = false;
    }
    let plain = plain && !te && hosts == 1;
    if plain {
        // Names go upstream in lower case, as a map writes them.
        for &(ns, nl, _, _) in spans {
            buf[ns as usize..(ns + nl) as usize].make_ascii_lowercase();
        }
    }
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target.0..target.0 + target.1))
        .map_err(|_| HeadError::Malformed)?;
    let (headers, fields) = match (plain, spans.first(), spans.last()) {
        (true, Some(first), Some(last)) => {
            // The field lines, from the first name to the CRLF after the last value.
            let bounds = (first.0, last.2 + last.3 + 2);
            (
                HeaderMap::new(),
                Some(RequestFields::new(
                    head, bounds, skips, host, length, body_type,
                )),
            )
        }
        _ => (map_of(&head, spans, te)?, None),
    };
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    Ok(Some(RequestHead {
        parts,
        fields,
        framing,
        keep_alive,
        expect_continue: expect_continue && framing != Framing::Empty,
    }))
}

/// The fields of `head` (at `spans`) in a map: all but the `Content-Length` lines that
/// `Transfer-Encoding` (`te`) overrides, and any `Content-Length` after the first.
fn map_of(head: &Bytes, spans: &[(u32, u32, u32, u32)], te: bool) -> Result<HeaderMap, HeadError> {
    let mut headers = HeaderMap::with_capacity(spans.len());
    let mut saw_length = false;
    for &(ns, nl, vs, vl) in spans {
        let (ns, nl, vs, vl) = (ns as usize, nl as usize, vs as usize, vl as usize);
        let raw_name = &head[ns..ns + nl];
        let name = match common_name(raw_name) {
            Some(name) => name,
            None => HeaderName::from_bytes(raw_name).map_err(|_| HeadError::Malformed)?,
        };
        if name == header::CONTENT_LENGTH {
            if te || saw_length {
                continue;
            }
            saw_length = true;
        }
        let value = HeaderValue::from_maybe_shared(head.slice(vs..vs + vl))
            .map_err(|_| HeadError::Malformed)?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// The request fields [`read_request_head`] reads, or whose presence it notes.
#[derive(Clone, Copy)]
enum Field {
    TransferEncoding,
    ContentLength,
    Connection,
    Expect,
    Host,
    /// Read for the body's type (`Content-Type`, `Content-Encoding`) where a route reads no
    /// other field ([`RequestFields::body_type_only`]).
    ContentType,
    ContentEncoding,
    /// One the request path looks up by name (`Cookie`, `traceparent`, `Sec-GPC`, `DNT`,
    /// `Referer`, `Referrer`, `Origin`): a request with one is read through a map.
    ReadByName,
}

/// Which of the fields [`parse_request_head`] reads `name` is, ASCII case ignored.
fn field(name: &[u8]) -> Option<Field> {
    let is = |want: &[u8]| name.eq_ignore_ascii_case(want);
    match name.len() {
        17 if is(b"transfer-encoding") => Some(Field::TransferEncoding),
        14 if is(b"content-length") => Some(Field::ContentLength),
        10 if is(b"connection") => Some(Field::Connection),
        6 if is(b"expect") => Some(Field::Expect),
        4 if is(b"host") => Some(Field::Host),
        12 if is(b"content-type") => Some(Field::ContentType),
        16 if is(b"content-encoding") => Some(Field::ContentEncoding),
        6 if is(b"cookie") || is(b"origin") => Some(Field::ReadByName),
        11 if is(b"traceparent") => Some(Field::ReadByName),
        7 if is(b"sec-gpc") || is(b"referer") => Some(Field::ReadByName),
        8 if is(b"referrer") => Some(Field::ReadByName),
        3 if is(b"dnt") => Some(Field::ReadByName),
        _ => None,
    }
}

/// Whether the last comma-separated coding of `value` is `chunked`.
fn last_coding_is_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Whether `value`, a comma-separated list, holds `token` (ASCII case ignored).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// The fields an answer's head carries (see [`encode_response_head`]).
pub(crate) struct AnswerFields<'a> {
    /// Those in the answer's map.
    pub(crate) headers: &'a HeaderMap,
    /// An upstream's, as they arrived.
    pub(crate) raw: Option<&'a RawFields>,
    /// The request's id, when the head carries it.
    pub(crate) request_id: Option<&'a [u8]>,
}

impl<'a> AnswerFields<'a> {
    /// Only those of `headers`.
    pub(crate) fn map(headers: &'a HeaderMap) -> Self {
        Self {
            headers,
            raw: None,
            request_id: None,
        }
    }
}

/// How a response body goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyOut {
    /// No body bytes at all (`HEAD`, 204, 304).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked (HTTP/1.1, length unknown).
    Chunked,
    /// Until the connection closes (HTTP/1.0, length unknown).
    Close,
}

/// Writes a response head: the status line in the request's `version`, the fields of
/// `headers` except the framing ones, then those an upstream's `raw` fields pass on, then
/// `x-piigate-request-id` with `request_id` (replacing any in `headers`), then the framing `body` says and
/// `Connection` when it differs from the version's default. The framing is decided here only,
/// from what is sent.
pub(crate) fn encode_response_head(
    status: StatusCode,
    version: Version,
    AnswerFields {
        headers,
        raw,
        request_id,
    }: AnswerFields<'_>,
    body: BodyOut,
    keep_alive: bool,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_connection = false;
    let mut has_date = false;
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        if name == header::CONNECTION {
            if !keep_alive {
                // Replaced by the `close` below.
                continue;
            }
            has_connection = true;
        }
        has_date |= name == header::DATE;
        if request_id.is_some() && name == RequestId::HEADER_NAME {
            // An upstream's, never trusted: replaced below.
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(raw) = raw {
        // On this path `headers` holds only fields the gateway sets (the request id), which
        // the upstream's head never carries here: a head with one goes through a map.
        out.extend_from_slice(raw.passed_on());
        has_date |= raw.has_date();
    }
    if let Some(id) = request_id {
        out.extend_from_slice(RequestId::HEADER.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(id);
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        date::with(|d| out.extend_from_slice(d));
        out.extend_from_slice(b"\r\n");
    }
    match body {
        BodyOut::None | BodyOut::Close => {}
        BodyOut::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(decimal(n, &mut [0; 20]));
            out.extend_from_slice(b"\r\n");
        }
        BodyOut::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 && !has_connection {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The `Date` field's value, rendered once per second per thread.
mod date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static CACHED: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
    }

    /// Calls `f` with the current `Date` value (IMF-fixdate, 29 bytes).
    pub(super) fn with(f: impl FnOnce(&[u8])) {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        CACHED.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != secs {
                let text = httpdate::fmt_http_date(now);
                if text.len() == 29 {
                    c.1.copy_from_slice(text.as_bytes());
                    c.0 = secs;
                }
            }
            f(&c.1);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &str) -> Result<Option<RequestHead>, HeadError> {
        parse_request_head(&mut BytesMut::from(bytes.as_bytes()), 64 * 1024)
    }

    fn whole(bytes: &str) -> RequestHead {
        parse(bytes).expect("valid").expect("whole")
    }

    #[test]
    fn a_sized_request_is_read_with_its_framing_and_the_body_left_behind() {
        let mut buf = BytesMut::from(
            &b"POST /a?b=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\n\r\n{\"a\":1}"[..],
        );
        let h = parse_request_head(&mut buf, 1024)
            .expect("valid")
            .expect("whole");
        assert_eq!(h.parts.method, Method::POST);
        assert_eq!(h.parts.uri, "/a?b=1");
        assert_eq!(h.framing, Framing::Length(7));
        assert!(h.keep_alive && !h.expect_continue);
        assert_eq!(h.parts.headers["host"], "gw");
        assert_eq!(h.parts.headers["content-length"], "7");
        assert_eq!(&buf[..], b"{\"a\":1}");
    }

    #[test]
    fn partial_heads_wait_and_oversized_ones_are_refused() {
        assert!(
            parse("POST /a HTTP/1.1\r\nHost: gw\r\n")
                .expect("ok")
                .is_none()
        );
        let long = format!("GET /a HTTP/1.1\r\nx: {}", "a".repeat(100));
        assert_eq!(
            parse_request_head(&mut BytesMut::from(long.as_bytes()), 64).err(),
            Some(HeadError::TooLarge)
        );
        let many: String = (0..101).map(|i| format!("x-{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET /a HTTP/1.1\r\n{many}\r\n")).err(),
            Some(HeadError::TooLarge)
        );
    }

    #[test]
    fn transfer_encoding_must_end_in_chunked_and_overrides_the_length() {
        let h =
            whole("POST /a HTTP/1.1\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.parts.headers.contains_key("content-length"));
        assert!(!h.keep_alive, "closed after the answer");
        let h =
            whole("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.parts.headers.contains_key("content-length") && !h.keep_alive);
        let h = whole("POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked, "the service refuses gzip");
        assert!(h.keep_alive);
        for bad in [
            "chunked, identity",
            "xchunked",
            "chunkedx",
            "identity",
            "chunked\r\nTransfer-Encoding: identity",
        ] {
            let req = format!("POST /a HTTP/1.1\r\nTransfer-Encoding: {bad}\r\n\r\n");
            assert_eq!(parse(&req).err(), Some(HeadError::Malformed), "{bad}");
        }
        assert_eq!(
            parse("POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").err(),
            Some(HeadError::Malformed)
        );
    }

    #[test]
    fn content_length_is_digits_and_agrees_with_itself() {
        for (value, want) in [("7", Some(7)), ("0007", Some(7)), ("0", Some(0))] {
            let h = whole(&format!(
                "POST /a HTTP/1.1\r\nContent-Length: {value}\r\n\r\n"
            ));
            let got = match h.framing {
                Framing::Length(n) => Some(n),
                Framing::Empty => Some(0),
                _ => None,
            };
            assert_eq!(got, want, "{value}");
        }
        for bad in [
            "+7",
            "-7",
            "0x7",
            "1 0",
            "7, 7",
            "",
            "184467440737095516160",
        ] {
            let req = format!("POST /a HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(parse(&req).err(), Some(HeadError::Malformed), "{bad:?}");
        }
        let h = whole("POST /a HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(7));
        assert_eq!(h.parts.headers.get_all("content-length").iter().count(), 1);
        assert_eq!(
            parse("POST /a HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 40\r\n\r\n").err(),
            Some(HeadError::Malformed)
        );
    }

    #[test]
    fn head_syntax_is_strict_but_bare_lf_is_a_line_end() {
        for bad in [
            "POST /a HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            "POST /a HTTP/1.1\r\nHost: gw\rX: 1\r\n\r\n",
            "POST /a HTTP/1.1\r\nX: a\0b\r\n\r\n",
            "POST /a HTTP/1.1\r\nContent-Length 7\r\n\r\n",
            "POST  /a HTTP/1.1\r\n\r\n",
            "POST /a HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
            "POST /a HTTP/2.0\r\n\r\n",
        ] {
            assert_eq!(parse(bad).err(), Some(HeadError::Malformed), "{bad:?}");
        }
        let h = whole("POST /a HTTP/1.1\nHost: gw\nContent-Length: 7\n\n");
        assert_eq!(h.framing, Framing::Length(7));
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        assert!(!whole("GET /a HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n").keep_alive);
        assert!(
            !whole("GET /a HTTP/1.1\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n")
                .keep_alive
        );
        assert!(!whole("GET /a HTTP/1.0\r\n\r\n").keep_alive);
        assert!(whole("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!whole("CONNECT gw:443 HTTP/1.1\r\nHost: gw:443\r\n\r\n").keep_alive);
        let h = whole("POST /a HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n");
        assert!(h.expect_continue);
        let h = whole("POST /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        assert!(!h.expect_continue, "no body, nothing to wait for");
    }

    fn read_plain(bytes: &str) -> RequestHead {
        read_request_head(&mut BytesMut::from(bytes.as_bytes()), 64 * 1024, true)
            .expect("valid")
            .expect("whole")
    }

    #[test]
    fn a_plain_request_keeps_its_fields_as_they_came_less_this_hop_s() {
        let mut buf = BytesMut::from(
            &b"POST /a HTTP/1.1\r\nHost: GW:8080\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 7\r\nX-A:  b c\r\nExpect: 100-continue\r\nX_B:\r\n\r\n{\"a\":1}"[..],
        );
        let h = read_request_head(&mut buf, 1024, true)
            .expect("valid")
            .expect("whole");
        assert_eq!(&buf[..], b"{\"a\":1}");
        assert!(h.parts.headers.is_empty());
        assert_eq!(h.framing, Framing::Length(7));
        assert!(h.keep_alive && h.expect_continue);
        let f = h.fields.expect("plain");
        let mut passed = Vec::new();
        f.write_passed_on(&mut passed);
        assert_eq!(
            String::from_utf8_lossy(&passed),
            "content-type: application/json\r\nx-a:  b c\r\nx_b:\r\n"
        );
        assert_eq!(f.host(), b"GW:8080");
        assert_eq!(f.content_length(), Some(7));
        let map = f.to_map().expect("valid");
        let old = whole(
            "POST /a HTTP/1.1\r\nHost: GW:8080\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 7\r\nX-A:  b c\r\nExpect: 100-continue\r\nX_B:\r\n\r\n",
        );
        assert_eq!(sorted(&map), sorted(&old.parts.headers));
    }

    #[test]
    fn a_plain_request_whose_fields_need_nothing_by_name_but_the_body_type_is_kept_so() {
        let kept = |head: &str| read_plain(head).fields.expect("plain").body_type_only();
        let typed = read_plain(
            "POST /a HTTP/1.1\r\nHost: gw\r\ncontent-type:application/json; charset=utf-8\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n",
        )
        .fields
        .expect("plain");
        assert!(typed.body_type_only());
        assert_eq!(
            typed.content_type(),
            Some(&b"application/json; charset=utf-8"[..])
        );
        let mut map = HeaderMap::new();
        assert!(typed.type_into(&mut map).expect("a value"));
        assert_eq!(map.len(), 1);
        assert_eq!(
            map[http::header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        // No body, no type: nothing to read and nothing to add.
        for head in [
            "GET /a HTTP/1.1\r\nHost: gw\r\n\r\n",
            "POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n",
        ] {
            let fields = read_plain(head).fields.expect("plain");
            assert!(fields.body_type_only(), "{head:?}");
            assert_eq!(fields.content_type(), None, "{head:?}");
        }
        for head in [
            // Rewritten into its canonical spelling, or refused, by the map's checks.
            "POST /a HTTP/1.1\r\nHost: gw\r\nContent-Type: Application/JSON\r\n\r\n",
            "POST /a HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\nContent-Type: text/plain\r\n\r\n",
            "POST /a HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n\r\n",
            "POST /a HTTP/1.1\r\nHost: gw\r\nContent-Encoding: identity\r\n\r\n",
            // Read against the names the gateway reads.
            "POST /a HTTP/1.1\r\nHost: gw\r\nContent_Type: text/html\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: gw\r\nX_A: 1\r\n\r\n",
            // A body without a type is given one.
            "POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(!kept(head), "{head:?}");
        }
    }

    #[test]
    fn a_request_that_is_not_plain_is_read_into_the_map() {
        for head in [
            // Read by name on the request path.
            "GET /a HTTP/1.1\r\nHost: gw\r\nCookie: a=1\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: gw\r\ntraceparent: 00-x\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: gw\r\nSec-GPC: 1\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: gw\r\nDNT: 1\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: gw\r\nReferer: https://x/\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: gw\r\nOrigin: https://x\r\n\r\n",
            // Framing or hop fields read more than one way, or naming other fields.
            "POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: gw\r\nConnection: x-a\r\nX-A: 1\r\n\r\n",
            // No single Host, or a target naming its own.
            "GET /a HTTP/1.1\r\n\r\n",
            "GET /a HTTP/1.1\r\nHost: gw\r\nHost: gw\r\n\r\n",
            "GET http://gw/a HTTP/1.1\r\nHost: gw\r\n\r\n",
            // Lines that do not end right after their value.
            "GET /a HTTP/1.1\nHost: gw\n\n",
            "GET /a HTTP/1.1\r\nHost: gw \r\n\r\n",
        ] {
            let h = read_plain(head);
            assert!(h.fields.is_none(), "{head:?}");
            let old = whole(head);
            assert_eq!(
                sorted(&h.parts.headers),
                sorted(&old.parts.headers),
                "{head:?}"
            );
        }
        let h = read_plain("GET /a HTTP/1.1\r\nHost: gw\r\n\r\n");
        assert!(h.fields.is_some());
        let h = parse("GET /a HTTP/1.1\r\nHost: gw\r\n\r\n")
            .expect("valid")
            .expect("whole");
        assert!(h.fields.is_none(), "kept plain only when asked");
    }

    /// Each name's values in order, names sorted.
    fn sorted(map: &HeaderMap) -> Vec<(String, Vec<Vec<u8>>)> {
        let mut out: Vec<_> = map
            .keys()
            .map(|k| {
                let values = map
                    .get_all(k)
                    .iter()
                    .map(|v| v.as_bytes().to_vec())
                    .collect();
                (k.as_str().to_owned(), values)
            })
            .collect();
        out.sort();
        out
    }

    mod plain_against_the_map {
        use super::*;
        use proptest::prelude::*;

        const NAMES: &[&str] = &[
            "Host",
            "host",
            "HOST",
            "Content-Length",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "Expect",
            "Cookie",
            "Origin",
            "X-A",
            "x_b",
            "Keep-Alive",
            "TE",
            "Upgrade",
            "Proxy-Connection",
            "Proxy-Authorization",
            "Content-Type",
            "Trailer",
            "DNT",
            "traceparent",
            "User-Agent",
            "Bad Name",
            "N\u{e4}",
            "",
        ];
        const VALUES: &[&str] = &[
            "gw",
            "GW:8080",
            "gw:x",
            "7",
            "0007",
            "12",
            "chunked",
            "gzip, chunked",
            "close",
            "keep-alive",
            "keep-alive, x-a",
            "100-continue",
            "a b",
            "",
            "v\u{7f}",
            "\u{e9}",
            "x,y",
            "a\tb",
        ];
        const SEPS: &[&str] = &[": ", ":", ":\t", " : ", ":  "];
        const EOLS: &[&str] = &["\r\n", "\r\n", "\r\n", "\n", " \r\n", "\t\r\n"];
        const STARTS: &[&str] = &[
            "POST /a HTTP/1.1",
            "GET /a?b=c HTTP/1.1",
            "GET /a HTTP/1.0",
            "GET http://gw/a HTTP/1.1",
            "OPTIONS * HTTP/1.1",
            "CONNECT gw:443 HTTP/1.1",
        ];

        fn head() -> impl Strategy<Value = String> {
            (
                0..STARTS.len(),
                proptest::collection::vec(
                    (
                        0..NAMES.len(),
                        0..SEPS.len(),
                        0..VALUES.len(),
                        0..EOLS.len(),
                    ),
                    0..9,
                ),
                // Most heads get one well-formed `Host` somewhere, as a plain request has.
                proptest::option::weighted(0.8, 0..9usize),
            )
                .prop_map(|(start, mut fields, host)| {
                    if let Some(at) = host {
                        fields.insert(at.min(fields.len()), (0, 0, 0, 0));
                    }
                    let mut h = format!("{}\r\n", STARTS[start]);
                    for (n, sep, v, eol) in fields {
                        h.push_str(NAMES[n]);
                        h.push_str(SEPS[sep]);
                        h.push_str(VALUES[v]);
                        h.push_str(EOLS[eol]);
                    }
                    h.push_str("\r\nbody");
                    h
                })
        }

        /// The fields httparse reads in `head`, names lower-cased, in order.
        fn httparse_fields(head: &str) -> Vec<(String, Vec<u8>)> {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut fields);
            req.parse(head.as_bytes()).expect("parsed before");
            req.headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn a_plain_read_accepts_frames_and_carries_what_the_map_read_does(head in head()) {
                let mut old_buf = BytesMut::from(head.as_bytes());
                let mut new_buf = BytesMut::from(head.as_bytes());
                let old = parse_request_head(&mut old_buf, 64 * 1024);
                let new = read_request_head(&mut new_buf, 64 * 1024, true);
                prop_assert_eq!(&old_buf[..], &new_buf[..]);
                let (old, new) = match (old, new) {
                    (Err(a), Err(b)) => {
                        prop_assert_eq!(a, b);
                        return Ok(());
                    }
                    (Ok(Some(old)), Ok(Some(new))) => (old, new),
                    (old, new) => {
                        return Err(TestCaseError::fail(format!("{old:?} against {new:?}")));
                    }
                };
                prop_assert_eq!(old.framing, new.framing);
                prop_assert_eq!(old.keep_alive, new.keep_alive);
                prop_assert_eq!(old.expect_continue, new.expect_continue);
                prop_assert_eq!(&old.parts.method, &new.parts.method);
                prop_assert_eq!(&old.parts.uri, &new.parts.uri);
                prop_assert_eq!(old.parts.version, new.parts.version);
                let Some(fields) = new.fields else {
                    prop_assert_eq!(sorted(&old.parts.headers), sorted(&new.parts.headers));
                    return Ok(());
                };
                prop_assert!(new.parts.headers.is_empty());
                prop_assert_eq!(sorted(&old.parts.headers), sorted(&fields.to_map().expect("valid")));
                // What goes upstream: every field but this hop's, in order, names lower-cased.
                let all = httparse_fields(&head);
                let hop = |n: &str| {
                    crate::proxy::upstream::fields::is_hop_by_hop(n.as_bytes())
                        || ["host", "expect"].contains(&n)
                };
                let want: Vec<u8> = all
                    .iter()
                    .filter(|(n, _)| !hop(n))
                    .flat_map(|(n, v)| [n.as_bytes(), b": ", v, b"\r\n"].concat())
                    .collect();
                let mut passed = Vec::new();
                fields.write_passed_on(&mut passed);
                let got: Vec<u8> = passed
                    .split_inclusive(|&b| b == b'\n')
                    .flat_map(|line| {
                        let colon = line.iter().position(|&b| b == b':').expect("a colon");
                        let value = line[colon + 1..line.len() - 2].trim_ascii_start();
                        [&line[..colon], b": ", value, b"\r\n"].concat()
                    })
                    .collect();
                prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
                let host: Vec<_> = all.iter().filter(|(n, _)| n == "host").collect();
                prop_assert_eq!(host.len(), 1);
                prop_assert_eq!(fields.host(), &host[0].1[..]);
                let length = match new.framing {
                    Framing::Length(n) => Some(n),
                    _ => None,
                };
                prop_assert!(fields.content_length() == length || fields.content_length() == Some(0));
            }
        }
    }

    #[test]
    fn the_request_id_written_replaces_any_the_fields_carry() {
        let mut h = HeaderMap::new();
        h.insert("x-piigate-request-id", HeaderValue::from_static("upstream"));
        h.insert("date", HeaderValue::from_static("x"));
        let mut out = Vec::new();
        encode_response_head(
            StatusCode::OK,
            Version::HTTP_11,
            AnswerFields {
                headers: &h,
                raw: None,
                request_id: Some(b"0123"),
            },
            BodyOut::Length(0),
            true,
            &mut out,
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 200 OK\r\ndate: x\r\nx-piigate-request-id: 0123\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[test]
    fn response_heads_carry_our_framing_only() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert("content-length", HeaderValue::from_static("999"));
        h.insert("date", HeaderValue::from_static("x"));
        let mut out = Vec::new();
        encode_response_head(
            StatusCode::OK,
            Version::HTTP_11,
            AnswerFields::map(&h),
            BodyOut::Length(5),
            true,
            &mut out,
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ndate: x\r\ncontent-length: 5\r\n\r\n"
        );
        out.clear();
        encode_response_head(
            StatusCode::PAYLOAD_TOO_LARGE,
            Version::HTTP_10,
            AnswerFields::map(&HeaderMap::new()),
            BodyOut::Close,
            false,
            &mut out,
        );
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.0 413 Payload Too Large\r\ndate: "),
            "{text}"
        );
        assert!(text.ends_with("GMT\r\nconnection: close\r\n\r\n"), "{text}");
    }
}
