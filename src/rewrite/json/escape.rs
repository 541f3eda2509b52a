//! JSON string escapes: decoding selected strings and keys, encoding replacements.
//!
//! Decoding only ever runs on bytes [`super::scan::string`] has already validated, so it cannot
//! meet a bad escape or a lone surrogate; it still refuses to panic if it did (the result would
//! be a wrong key, never a crash). Encoding is the minimal RFC 8259 form: `"`, `\` and control
//! characters are escaped, everything else (including non-ASCII) is written as raw UTF-8, so a
//! replacement is as short as it can be and readable in the upstream's logs.

use super::scan::hex4;

/// Appends the decoded text of the string body `raw` (the bytes between the quotes) to `out`.
pub(super) fn decode_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = memchr::memchr(b'\\', &raw[i..]) else {
            out.extend_from_slice(&raw[i..]);
            return;
        };
        out.extend_from_slice(&raw[i..i + off]);
        i += off;
        let Some(&kind) = raw.get(i + 1) else {
            return;
        };
        let simple = match kind {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0C),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
            continue;
        }
        let hi = hex4(raw, i + 2).unwrap_or(0xFFFD);
        i += 6;
        let code = if (0xD800..=0xDBFF).contains(&hi) {
            let lo = hex4(raw, i + 2).unwrap_or(0);
            i += 6;
            0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            hi
        };
        let c = char::from_u32(code).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

/// Bytes that must be escaped in a JSON string.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any byte of `bytes` must be escaped; eight at a time.
#[inline]
fn any_needs_escape(bytes: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let Some(c) = c.first_chunk::<8>() else { break };
        let w = u64::from_le_bytes(*c);
        let quote = w ^ (LO * u64::from(b'"'));
        let backslash = w ^ (LO * u64::from(b'\\'));
        let hit = (quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (w.wrapping_sub(LO * 0x20) & !w);
        if hit & HI != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| needs_escape(b))
}

/// Appends `bytes` (UTF-8: actions write text) to `out` as a JSON string: quotes plus minimal
/// escaping. Tokens and envelopes never need escaping, so that case is one copy.
pub(super) fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if !any_needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xF)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_escape() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("", ""),
            (r#"a\"b\\c\/d"#, "a\"b\\c/d"),
            (r"\b\f\n\r\t", "\u{8}\u{c}\n\r\t"),
            (r"\u0065mail", "email"),
            (r"\u00e9\u00E9", "éé"),
            (r"\ud83d\ude00!", "😀!"),
            ("raw é 日本", "raw é 日本"),
            (r"\u0000", "\0"),
        ];
        for (raw, want) in cases {
            let mut out = Vec::new();
            decode_into(raw.as_bytes(), &mut out);
            assert_eq!(String::from_utf8(out).expect("utf8"), *want, "{raw}");
        }
    }

    #[test]
    fn encodes_minimally_and_round_trips() {
        let cases: &[(&str, &str)] = &[
            ("tok_k1_abc", r#""tok_k1_abc""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
            ("\u{1}\u{1f}", r#""\u0001\u001f""#),
            ("é/日本\u{7f}", "\"é/日本\u{7f}\""),
            // Past one 8-byte word, at the end and in the middle of a word.
            ("long enough for a word\"", "\"long enough for a word\\\"\""),
            ("0123456789\u{1f}ab", "\"0123456789\\u001fab\""),
        ];
        for (text, want) in cases {
            let mut out = Vec::new();
            encode_string(text.as_bytes(), &mut out);
            assert_eq!(std::str::from_utf8(&out).expect("utf8"), *want);
            let back: String = serde_json::from_slice(&out).expect("valid JSON string");
            assert_eq!(back, *text);
        }
    }
}
