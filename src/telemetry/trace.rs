//! The W3C Trace Context `traceparent` header, read for the access log.
//!
//! piigate forwards `traceparent` as it came (it is the client's and the recipient's); it only
//! logs the trace id next to its own request id, so one request can be followed from the
//! client's trace to piigate's log line. The header is attacker-controlled text: only a
//! well-formed one (W3C Trace Context §3.2) is logged, and then only its trace id, rebuilt from
//! the parsed bytes; a malformed header is logged as the word `invalid`, never as its text.

use std::fmt;

/// What a request's `traceparent` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceParent {
    /// No `traceparent` header.
    Absent,
    /// A well-formed header's trace id.
    Trace(TraceId),
    /// A header that is not a valid `traceparent` (or more than one).
    Invalid,
}

/// A 128-bit trace id, never all zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId([u8; 16]);

impl TraceParent {
    /// Reads the request's `traceparent`.
    pub(crate) fn from_headers(headers: &http::HeaderMap) -> Self {
        static TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
        let mut values = headers.get_all(&TRACEPARENT).iter();
        match (values.next(), values.next()) {
            (None, _) => Self::Absent,
            (Some(v), None) => parse(v.as_bytes()).map_or(Self::Invalid, Self::Trace),
            // Two headers cannot be reconciled (§3.2: the vendor may discard both).
            (Some(_), Some(_)) => Self::Invalid,
        }
    }

    /// The log field: the trace id's hex, `invalid`, or nothing.
    pub(crate) fn log_value(&self) -> Option<LogValue> {
        match self {
            Self::Absent => None,
            Self::Trace(id) => Some(LogValue::Id(*id)),
            Self::Invalid => Some(LogValue::Invalid),
        }
    }
}

/// How the access log writes the trace: the id, or `invalid`.
#[derive(Debug, Clone, Copy)]
pub enum LogValue {
    /// A parsed trace id.
    Id(TraceId),
    /// The header was malformed.
    Invalid,
}

impl fmt::Display for LogValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => {
                for b in id.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
            Self::Invalid => f.write_str("invalid"),
        }
    }
}

/// `version "-" trace-id "-" parent-id "-" trace-flags`, lowercase hex. Version `ff` is
/// invalid; version `00` is exactly 55 characters; a later version may append `-…` fields,
/// which are ignored (§3.2.4, forward compatibility).
fn parse(v: &[u8]) -> Option<TraceId> {
    if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let version = hex_byte(&v[0..2])?;
    if version == 0xff || (version == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
        return None;
    }
    let mut trace = [0u8; 16];
    for (i, b) in trace.iter_mut().enumerate() {
        *b = hex_byte(&v[3 + 2 * i..5 + 2 * i])?;
    }
    let mut parent_nonzero = false;
    for i in 0..8 {
        parent_nonzero |= hex_byte(&v[36 + 2 * i..38 + 2 * i])? != 0;
    }
    hex_byte(&v[53..55])?;
    (trace != [0; 16] && parent_nonzero).then_some(TraceId(trace))
}

/// Two lowercase hex digits (the spec allows no uppercase).
fn hex_byte(two: &[u8]) -> Option<u8> {
    let d = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(d(two[0])? << 4 | d(two[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(v: &str) -> TraceParent {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            http::HeaderValue::from_str(v).expect("header"),
        );
        TraceParent::from_headers(&h)
    }

    #[test]
    fn the_specs_example_yields_its_trace_id() {
        let t = read("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(
            t.log_value().map(|v| v.to_string()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        // A later version may carry more fields.
        let t = read("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra");
        assert!(matches!(t, TraceParent::Trace(_)));
    }

    #[test]
    fn malformed_headers_are_invalid_and_never_echoed() {
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // uppercase
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // v00 with more
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", // misplaced dash
            "hello@example.com sent this header",
            "",
        ] {
            let t = read(bad);
            assert_eq!(t, TraceParent::Invalid, "{bad}");
            assert_eq!(
                t.log_value().map(|v| v.to_string()).as_deref(),
                Some("invalid")
            );
        }
        assert_eq!(
            TraceParent::from_headers(&http::HeaderMap::new()),
            TraceParent::Absent
        );
        let mut two = http::HeaderMap::new();
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        two.append("traceparent", http::HeaderValue::from_static(ok));
        two.append("traceparent", http::HeaderValue::from_static(ok));
        assert_eq!(TraceParent::from_headers(&two), TraceParent::Invalid);
    }
}
