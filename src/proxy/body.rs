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
pub async fn collect(
    body: Incoming,
    max: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, RejectCode> {
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Err(_) => Err(RejectCode::RequestTimeout),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(RejectCode::BodyTooLarge),
        Ok(Err(_)) => Err(RejectCode::MalformedBody),
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
