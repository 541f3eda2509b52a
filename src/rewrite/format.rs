//! Payload formats: how a content type is read, and which rewriter and plan police it.
//!
//! This is the one place a payload format is named. The proxy, the admin preview and the
//! offline `preview`/`reveal` all decide the format here and police through
//! [`rewrite_payload`](super::rewrite_payload), so a new format is a variant, its content types
//! and its rewriter — nothing outside `rewrite` matches on it.

use crate::policy::{BodyCoding, TextBody};

/// How a payload is parsed and which of a route's plans polices it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-www-form-urlencoded`, policed by the route's `form:` rules.
    Form,
    /// `application/json`, `application/*+json`.
    Json,
    /// `application/x-ndjson`, `application/ndjson`, `application/jsonl`,
    /// `application/x-jsonlines`, `application/json-lines`, `application/jsonlines`.
    Ndjson,
    /// A URI query string (`name=value&…`), policed by the route's `query:` rules. No content
    /// type names it: the proxy polices the request URI's query as this format.
    Query,
    /// `text/plain` or no content type: browsers' `sendBeacon` and `fetch` defaults. The body
    /// is policed as JSON and rejected if it is not.
    SniffedJson,
    /// `text/plain` or no content type on a route whose text bodies are one URL-encoded form
    /// per line (`[routes.body_coding] text = "form_lines"`: gtag.js's batched hits), policed
    /// line by line with the route's parameter rules.
    FormLines,
}

/// A content type piigate cannot police: another media type, or a charset other than UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unsupported content type: piigate polices JSON, NDJSON and form bodies in UTF-8")]
pub struct UnsupportedType;

/// `v` without the double quotes around it (all of them, as a quoted charset is read).
fn trim_quotes(mut v: &[u8]) -> &[u8] {
    while let [b'"', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b'"'] = v {
        v = rest;
    }
    v
}

impl Format {
    /// The format of a body with this `Content-Type` value (`None`: the header is absent).
    ///
    /// # Errors
    /// [`UnsupportedType`] for a type piigate cannot police, a value that is not text, or a
    /// charset other than UTF-8 (transcoding would be guessing).
    pub fn from_content_type(value: Option<&[u8]>) -> Result<Self, UnsupportedType> {
        let Some(value) = value else {
            return Ok(Self::SniffedJson);
        };
        // What nearly every JSON client sends, spelled exactly: one compare instead of the
        // general reading below, which classifies it the same (a unit test holds them equal).
        if value.eq_ignore_ascii_case(b"application/json") {
            return Ok(Self::Json);
        }
        // Header text is visible ASCII (and tabs); anything else is not a type we can read.
        if !value
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(UnsupportedType);
        }
        // Read as bytes, compared without case: no allocation, no UTF-8 or char search per
        // request (this runs on every policed body).
        let mut parts = value.split(|&b| b == b';');
        let essence = parts.next().unwrap_or_default().trim_ascii();
        for p in parts {
            if let Some(eq) = p.iter().position(|&b| b == b'=')
                && p[..eq].trim_ascii().eq_ignore_ascii_case(b"charset")
            {
                let v = trim_quotes(p[eq + 1..].trim_ascii());
                if !v.eq_ignore_ascii_case(b"utf-8") && !v.eq_ignore_ascii_case(b"utf8") {
                    return Err(UnsupportedType);
                }
            }
        }
        let (ty, sub) = match essence.iter().position(|&b| b == b'/') {
            Some(at) => (&essence[..at], &essence[at + 1..]),
            None => (essence, &b""[..]),
        };
        let is = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
        if is(ty, "application") {
            let suffix = sub.len().checked_sub(5).and_then(|i| sub.get(i..));
            if is(sub, "json") || suffix.is_some_and(|s| is(s, "+json")) {
                return Ok(Self::Json);
            }
            const NDJSON: [&str; 6] = [
                "x-ndjson",
                "ndjson",
                "jsonl",
                "x-jsonlines",
                "json-lines",
                "jsonlines",
            ];
            if NDJSON.iter().any(|n| is(sub, n)) {
                return Ok(Self::Ndjson);
            }
            if is(sub, "x-www-form-urlencoded") {
                return Ok(Self::Form);
            }
        } else if is(ty, "text") && is(sub, "plain") {
            return Ok(Self::SniffedJson);
        }
        Err(UnsupportedType)
    }

    /// The format of a body with this `Content-Type` on a route with this body coding: a text
    /// body is read as the route declares ([`TextBody`]), any other as its type says.
    ///
    /// # Errors
    /// As [`Format::from_content_type`].
    pub fn of_body(
        content_type: Option<&[u8]>,
        coding: Option<&BodyCoding>,
    ) -> Result<Self, UnsupportedType> {
        Ok(match Self::from_content_type(content_type)? {
            Self::SniffedJson if coding.is_some_and(|c| c.text == TextBody::FormLines) => {
                Self::FormLines
            }
            other => other,
        })
    }

    /// Whether this is a `text/plain` (or unlabelled) body, whatever the route reads it as.
    pub const fn is_text(self) -> bool {
        matches!(self, Self::SniffedJson | Self::FormLines)
    }

    /// Whether the payload is a JSON document (the formats response rules and a route's
    /// `subject` read), and if so whether it is one document per line.
    pub(crate) const fn json_lines(self) -> Option<bool> {
        match self {
            Self::Json | Self::SniffedJson => Some(false),
            Self::Ndjson => Some(true),
            Self::Form | Self::Query | Self::FormLines => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (content-type, expected)
    type Case = (Option<&'static str>, Result<Format, UnsupportedType>);

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
            Err(UnsupportedType),
        ),
        (
            Some("multipart/form-data; boundary=x"),
            Err(UnsupportedType),
        ),
        (Some("application/octet-stream"), Err(UnsupportedType)),
    ];

    /// The reading as it was written on `str` (split, trim, case-blind compares): the byte
    /// reading must agree with it on every header value.
    fn by_str(ct: &str) -> Result<Format, UnsupportedType> {
        if !ct.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return Err(UnsupportedType);
        }
        let mut parts = ct.split(';');
        let essence = parts.next().unwrap_or("").trim();
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("charset")
            {
                let v = v.trim().trim_matches('"');
                if !v.eq_ignore_ascii_case("utf-8") && !v.eq_ignore_ascii_case("utf8") {
                    return Err(UnsupportedType);
                }
            }
        }
        let (ty, sub) = essence.split_once('/').unwrap_or((essence, ""));
        let is = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let ndjson = [
            "x-ndjson",
            "ndjson",
            "jsonl",
            "x-jsonlines",
            "json-lines",
            "jsonlines",
        ];
        if is(ty, "application") {
            if is(sub, "json") || sub.len() >= 5 && is(&sub[sub.len() - 5..], "+json") {
                return Ok(Format::Json);
            }
            if ndjson.iter().any(|n| is(sub, n)) {
                return Ok(Format::Ndjson);
            }
            if is(sub, "x-www-form-urlencoded") {
                return Ok(Format::Form);
            }
        } else if is(ty, "text") && is(sub, "plain") {
            return Ok(Format::SniffedJson);
        }
        Err(UnsupportedType)
    }

    proptest::proptest! {
        #[test]
        fn byte_reading_agrees_with_the_str_reading(
            ct in "[ \t\"]{0,2}(application|Application|text|TEXT|x)?/?(json|JSON|vnd.a\\+json|x-ndjson|jsonl|plain|x-www-form-urlencoded|csv)?[ \t]{0,2}(;[ \t\"]{0,2}(charset|CharSet|q|x)?[ \t]{0,2}=?[ \t\"]{0,2}(utf-8|UTF8|latin1|\"utf-8\"|é)?[ \t\"]{0,2}){0,3}"
        ) {
            proptest::prop_assert_eq!(Format::from_content_type(Some(ct.as_bytes())), by_str(&ct));
        }
    }

    #[test]
    fn the_common_spelling_reads_as_the_general_reading_does() {
        for ct in ["application/json", "APPLICATION/JSON", "Application/Json"] {
            assert_eq!(Format::from_content_type(Some(ct.as_bytes())), by_str(ct));
        }
    }

    #[test]
    fn classifies_content_types() {
        for (ct, want) in CASES {
            assert_eq!(
                Format::from_content_type(ct.map(str::as_bytes)),
                *want,
                "{ct:?}"
            );
        }
    }
}
