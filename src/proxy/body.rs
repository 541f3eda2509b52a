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
    /// `application/json`, `application/*+json`.
    Json,
    /// `text/plain` or no content type: browsers' `sendBeacon` and `fetch` defaults. The body
    /// is policed as JSON and rejected if it is not.
    SniffedJson,
}

/// Decides how a policed route parses this body, or why it cannot.
///
/// # Errors
/// [`RejectCode::UnsupportedMediaType`] for encodings and types the route cannot police.
pub fn format(headers: &HeaderMap) -> Result<Format, RejectCode> {
    for enc in headers.get_all(header::CONTENT_ENCODING) {
        let ok = enc.to_str().is_ok_and(|v| {
            v.split(',')
                .all(|c| c.trim().eq_ignore_ascii_case("identity"))
        });
        if !ok {
            return Err(RejectCode::UnsupportedMediaType);
        }
    }
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
        ("text", "plain") => Ok(Format::SniffedJson),
        _ => Err(RejectCode::UnsupportedMediaType),
    }
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

    /// (content-type, content-encoding, expected)
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Result<Format, RejectCode>,
    );

    const CASES: &[Case] = &[
        (Some("application/json"), None, Ok(Format::Json)),
        (
            Some("Application/JSON; charset=UTF-8"),
            None,
            Ok(Format::Json),
        ),
        (Some("application/vnd.api+json"), None, Ok(Format::Json)),
        // Browsers' beacon default; still policed as JSON.
        (
            Some("text/plain;charset=UTF-8"),
            None,
            Ok(Format::SniffedJson),
        ),
        (None, None, Ok(Format::SniffedJson)),
        // A charset we would have to transcode: refuse rather than guess.
        (
            Some("application/json; charset=latin1"),
            None,
            Err(RejectCode::UnsupportedMediaType),
        ),
        (
            Some("application/x-www-form-urlencoded"),
            None,
            Err(RejectCode::UnsupportedMediaType),
        ),
        (
            Some("application/json"),
            Some("gzip"),
            Err(RejectCode::UnsupportedMediaType),
        ),
        (Some("application/json"), Some("identity"), Ok(Format::Json)),
    ];

    #[test]
    fn classifies_content_types() {
        for (ct, ce, want) in CASES {
            assert_eq!(format(&h(*ct, *ce)), *want, "{ct:?} {ce:?}");
        }
    }
}
