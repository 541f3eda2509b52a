//! Request body intake: content type and encoding checks, bounded collection.
//!
//! hyper puts no limit on bodies; this module is where the gateway's limits live. Bodies are
//! collected only up to the route's `max_body_bytes` and only within `request_timeout`.

use bytes::Bytes;
use http::HeaderMap;
use http::header;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::error::RejectCode;

/// How a policed route must parse a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`, `application/*+json`.
    Json,
    /// `application/x-ndjson`, `application/ndjson`, `application/jsonl`,
    /// `application/x-jsonlines`, `application/json-lines`.
    Ndjson,
    /// `text/plain` or no content type: browsers' `sendBeacon` and `fetch` defaults. The body
    /// is policed as JSON and rejected if it is not.
    SniffedJson,
}

/// Decides how a policed route parses this body from its content type, or why it cannot.
///
/// # Errors
/// [`RejectCode::UnsupportedMediaType`] for types the route cannot police or a charset other
/// than UTF-8.
pub fn format(headers: &HeaderMap) -> Result<Format, RejectCode> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Format::SniffedJson);
    };
    let ct = ct.to_str().map_err(|_| RejectCode::UnsupportedMediaType)?;
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    for p in parts {
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
        {
            let v = v.trim().trim_matches('"');
            if !v.eq_ignore_ascii_case("utf-8") && !v.eq_ignore_ascii_case("utf8") {
                return Err(RejectCode::UnsupportedMediaType);
            }
        }
    }
    let (ty, sub) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    match (ty, sub) {
        ("application", "json") => Ok(Format::Json),
        ("application", s) if s.ends_with("+json") => Ok(Format::Json),
        (
            "application",
            "x-ndjson" | "ndjson" | "jsonl" | "x-jsonlines" | "json-lines" | "jsonlines",
        ) => Ok(Format::Ndjson),
        ("application", "x-www-form-urlencoded") => Ok(Format::Form),
        ("text", "plain") => Ok(Format::SniffedJson),
        _ => Err(RejectCode::UnsupportedMediaType),
    }
}

/// The content codings of a body, in the order they were applied.
///
/// # Errors
/// [`RejectCode::UnsupportedMediaType`] for a coding piigate cannot decode.
pub fn codings(headers: &HeaderMap) -> Result<Vec<crate::codec::Coding>, RejectCode> {
    let mut all = Vec::new();
    for v in headers.get_all(header::CONTENT_ENCODING) {
        let v = v.to_str().map_err(|_| RejectCode::UnsupportedMediaType)?;
        all.extend(crate::codec::parse(v).map_err(|_| RejectCode::UnsupportedMediaType)?);
    }
    Ok(all)
}

/// Rejects early when the declared length is already over the limit.
///
/// # Errors
/// [`RejectCode::BodyTooLarge`].
pub fn check_declared_length(headers: &HeaderMap, max: usize) -> Result<(), RejectCode> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max as u64 => Err(RejectCode::BodyTooLarge),
        _ => Ok(()),
    }
}

/// Reads the whole body, at most `max` bytes, within `timeout`.
///
/// # Errors
/// [`RejectCode::BodyTooLarge`], [`RejectCode::RequestTimeout`], or
/// [`RejectCode::MalformedBody`] when the client breaks the stream.
pub async fn collect<B>(
    body: B,
    max: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, RejectCode>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Err(_) => Err(RejectCode::RequestTimeout),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(RejectCode::BodyTooLarge),
        Ok(Err(_)) => Err(RejectCode::MalformedBody),
    }
}

/// Whether a [`Watched`] body failed on the client's side, and how.
#[derive(Debug, Clone, Default)]
pub struct Broke(std::sync::Arc<std::sync::atomic::AtomicU8>);

const BROKEN: u8 = 1;
const TOO_SLOW: u8 = 2;

impl Broke {
    /// The client's fault once the watched body failed: `malformed_body` for broken framing or
    /// a lost connection, `request_timeout` for a body still arriving at the deadline.
    pub fn get(&self) -> Option<RejectCode> {
        match self.0.load(std::sync::atomic::Ordering::Acquire) {
            BROKEN => Some(RejectCode::MalformedBody),
            TOO_SLOW => Some(RejectCode::RequestTimeout),
            _ => None,
        }
    }

    fn set(&self, how: u8) {
        self.0.store(how, std::sync::atomic::Ordering::Release);
    }
}

/// The client stopped sending a streamed body before `request_timeout`.
#[derive(Debug)]
struct BodyDeadline;

impl std::fmt::Display for BodyDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body not received within request_timeout")
    }
}

impl std::error::Error for BodyDeadline {}

/// A streamed request body that records whether the client broke it (invalid chunked framing,
/// connection lost mid-upload), so a failed forward is not blamed on the upstream, and that
/// ends with an error when the body is still arriving at the request's deadline: a policed
/// body is collected within `request_timeout`, and a streamed one may take no longer, even
/// after the upstream has answered.
#[derive(Debug)]
pub struct Watched {
    inner: Incoming,
    broke: Broke,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Watched {
    /// Watches `inner` until `timeout` from now, reporting into `broke`.
    pub fn new(inner: Incoming, broke: &Broke, timeout: std::time::Duration) -> Self {
        Self {
            inner,
            broke: broke.clone(),
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Err(e))) => {
                self.broke.set(BROKEN);
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(Into::into))),
            Poll::Pending => {
                if self.deadline.as_mut().poll(cx).is_ready() {
                    self.broke.set(TOO_SLOW);
                    return Poll::Ready(Some(Err(Box::new(BodyDeadline))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ct: Option<&str>, ce: Option<&str>) -> HeaderMap {
        let mut m = HeaderMap::new();
        if let Some(ct) = ct {
            m.insert(header::CONTENT_TYPE, ct.parse().expect("valid"));
        }
        if let Some(ce) = ce {
            m.insert(header::CONTENT_ENCODING, ce.parse().expect("valid"));
        }
        m
    }

    /// (content-type, expected)
    type Case = (Option<&'static str>, Result<Format, RejectCode>);

    const CASES: &[Case] = &[
        (Some("application/json"), Ok(Format::Json)),
        (Some("Application/JSON; charset=UTF-8"), Ok(Format::Json)),
        (Some("application/vnd.api+json"), Ok(Format::Json)),
        (Some("application/x-ndjson"), Ok(Format::Ndjson)),
        (
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            Ok(Format::Form),
        ),
        // Browsers' beacon default; still policed as JSON.
        (Some("text/plain;charset=UTF-8"), Ok(Format::SniffedJson)),
        (None, Ok(Format::SniffedJson)),
        // A charset we would have to transcode: refuse rather than guess.
        (
            Some("application/json; charset=latin1"),
            Err(RejectCode::UnsupportedMediaType),
        ),
        (
            Some("multipart/form-data; boundary=x"),
            Err(RejectCode::UnsupportedMediaType),
        ),
        (
            Some("application/octet-stream"),
            Err(RejectCode::UnsupportedMediaType),
        ),
    ];

    #[test]
    fn classifies_content_types() {
        for (ct, want) in CASES {
            assert_eq!(format(&h(*ct, None)), *want, "{ct:?}");
        }
        assert_eq!(codings(&h(None, Some("gzip, br"))).map(|c| c.len()), Ok(2));
        assert_eq!(
            codings(&h(None, Some("compress"))),
            Err(RejectCode::UnsupportedMediaType)
        );
    }
}
