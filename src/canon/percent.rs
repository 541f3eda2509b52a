//! Percent-escapes (RFC 3986 §2.1): the one strict reading piigate gives `%XX`.
//!
//! Strict means that a `%` not followed by two hex digits is an error, never text. The
//! `percent-encoding` crate (like the WHATWG URL parser and `decodeURIComponent`'s lenient
//! cousins) keeps such a `%` literally, while other servers refuse the value or decode it
//! another way; a value piigate cannot read the one way every recipient reads it is refused
//! upstream of this module, so the decoders here report where the bad escape is instead of
//! guessing. The form rewriter decodes with this on the hot path into a reused buffer.
//!
//! Where piigate must read a value the way one *lenient* server does (PHP's cookie decoding,
//! in [`crate::policy::params`]), it uses `percent-encoding`, whose reading that is.

/// How a `+` reads: a space in `application/x-www-form-urlencoded` (WHATWG URL §5.1), itself
/// everywhere else (paths, cookies, `decodeURIComponent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    /// `+` decodes to a space.
    Space,
    /// `+` is a `+`.
    Literal,
}

/// One byte as the escape `%XX`, hex in upper case (RFC 3986 §2.1: what URL and form
/// serializers write, so a re-encoded value reads like one the client encoded).
pub const fn encode_byte(b: u8) -> [u8; 3] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    [b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]
}

/// The value of one hex digit.
pub const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte an escape at `raw[at]` (a `%`) stands for, if `%` is followed by two hex digits.
pub fn escape_at(raw: &[u8], at: usize) -> Option<u8> {
    let h = hex_value(*raw.get(at + 1)?)?;
    let l = hex_value(*raw.get(at + 2)?)?;
    Some(h << 4 | l)
}

/// Checks every escape of `raw` without decoding; `Err(offset)` of the first bad one.
pub fn validate(raw: &[u8]) -> Result<(), usize> {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'%', &raw[i..]) {
        let p = i + p;
        escape_at(raw, p).ok_or(p)?;
        i = p + 3;
    }
    Ok(())
}

/// Decodes `raw` into `out` (cleared first); `Err(offset)` of the first bad escape.
pub fn decode_into(raw: &[u8], plus: Plus, out: &mut Vec<u8>) -> Result<(), usize> {
    out.clear();
    out.reserve(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' if plus == Plus::Space => out.push(b' '),
            b'%' => {
                out.push(escape_at(raw, i).ok_or(i)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(())
}

/// Decodes `raw` to UTF-8 text; `None` for a bad escape or bytes that are not UTF-8.
pub fn decode_utf8(raw: &str, plus: Plus) -> Option<String> {
    let mut out = Vec::new();
    decode_into(raw.as_bytes(), plus, &mut out).ok()?;
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_in_either_case_and_plus_follows_the_grammar() {
        assert_eq!(
            decode_utf8("a%2Bb+c%c3%A9", Plus::Space).as_deref(),
            Some("a+b cé")
        );
        assert_eq!(
            decode_utf8("a%2Bb+c", Plus::Literal).as_deref(),
            Some("a+b+c")
        );
    }

    #[test]
    fn a_bad_escape_is_an_error_at_its_offset_never_text() {
        for (raw, at) in [
            ("ab%", 2),
            ("%4", 0),
            ("x%zz", 1),
            ("%41%g1", 3),
            ("%%41", 0),
        ] {
            let mut out = Vec::new();
            assert_eq!(
                decode_into(raw.as_bytes(), Plus::Space, &mut out),
                Err(at),
                "{raw}"
            );
            assert_eq!(validate(raw.as_bytes()), Err(at), "{raw}");
        }
        assert_eq!(decode_utf8("%ff", Plus::Literal), None, "not UTF-8");
    }

    #[test]
    fn validate_agrees_with_decode() {
        for raw in [
            "",
            "plain",
            "%41",
            "a%2",
            "%GG",
            "100%",
            "%e2%82%ac",
            "+%2B+",
        ] {
            let mut out = Vec::new();
            assert_eq!(
                validate(raw.as_bytes()).is_ok(),
                decode_into(raw.as_bytes(), Plus::Space, &mut out).is_ok(),
                "{raw}"
            );
        }
    }
}
