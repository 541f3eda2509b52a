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

/// Appends the JSON string for `new`, the rewritten text of a string whose body was `raw`
/// (decoded: `old`), keeping the original bytes where the text did not change: the part
/// before the first difference and after the last one are copied from `raw`; only the middle
/// is encoded, and in the original's style — `\uXXXX` for non-ASCII if the original used it
/// and had no raw non-ASCII (Python's `ensure_ascii`), `\/` if the original escaped every
/// slash (PHP) — so a wrapped document comes back spelled as it came, apart from what was
/// policed.
pub(super) fn encode_string_like(raw: &[u8], old: &[u8], new: &[u8], out: &mut Vec<u8>) {
    let max = old.len().min(new.len());
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count()
        .min(max - prefix);
    // Unit boundaries of `raw` (an escape or a raw character decodes to whole characters):
    // the last one at or before `prefix`, the first one at or after `old.len() - suffix`.
    let tail_from = old.len() - suffix;
    let (mut head_raw, mut head_dec) = (0, 0);
    let (mut tail_raw, mut tail_dec) = (raw.len(), old.len());
    let (mut r, mut d) = (0, 0);
    loop {
        if d <= prefix {
            (head_raw, head_dec) = (r, d);
        }
        if d >= tail_from {
            (tail_raw, tail_dec) = (r, d);
            break;
        }
        if r >= raw.len() {
            break;
        }
        let (rl, dl) = unit(raw, r);
        r += rl;
        d += dl;
    }
    let middle = new
        .get(head_dec..new.len().saturating_sub(old.len() - tail_dec))
        .unwrap_or_default();
    let ascii_only = !raw.iter().any(|&b| b >= 0x80) && has_non_ascii_escape(raw);
    let slashes = escapes_every_slash(raw);
    out.push(b'"');
    out.extend_from_slice(&raw[..head_raw]);
    encode_body_styled(middle, ascii_only, slashes, out);
    out.extend_from_slice(&raw[tail_raw..]);
    out.push(b'"');
}

/// The length in `raw` and in decoded bytes of the escape or character at `at`.
fn unit(raw: &[u8], at: usize) -> (usize, usize) {
    match raw[at] {
        b'\\' => match raw.get(at + 1) {
            Some(b'u') => {
                let hi = hex4(raw, at + 2).unwrap_or(0);
                if (0xD800..=0xDBFF).contains(&hi) {
                    (12, 4)
                } else {
                    (6, char::from_u32(hi).map_or(3, char::len_utf8))
                }
            }
            _ => (2, 1),
        },
        b if b < 0x80 => (1, 1),
        b if b >= 0xF0 => (4, 4),
        b if b >= 0xE0 => (3, 3),
        _ => (2, 2),
    }
}

/// Whether `raw` has a `\uXXXX` escape of a character outside ASCII.
fn has_non_ascii_escape(raw: &[u8]) -> bool {
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'\\', &raw[at..]) {
        let i = at + i;
        if raw.get(i + 1) == Some(&b'u') && hex4(raw, i + 2).is_some_and(|c| c >= 0x80) {
            return true;
        }
        at = i + 2;
    }
    false
}

/// Whether `raw` writes slashes, and every one of them as `\/`.
fn escapes_every_slash(raw: &[u8]) -> bool {
    let (mut escaped, mut bare) = (false, false);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\\' => {
                escaped |= raw.get(i + 1) == Some(&b'/');
                i += 2;
            }
            b'/' => {
                bare = true;
                i += 1;
            }
            _ => i += 1,
        }
    }
    escaped && !bare
}

/// A string body (no quotes) for `text`, minimally escaped, plus the style's extra escapes.
fn encode_body_styled(text: &[u8], ascii_only: bool, slashes: bool, out: &mut Vec<u8>) {
    let mut start = 0;
    let mut utf16 = [0u16; 2];
    let s = String::from_utf8_lossy(text);
    for (i, c) in s.char_indices() {
        let extra = (c == '/' && slashes) || (!c.is_ascii() && ascii_only);
        if !extra {
            continue;
        }
        encode_body(&s.as_bytes()[start..i], out);
        if c == '/' {
            out.extend_from_slice(b"\\/");
        } else {
            for u in c.encode_utf16(&mut utf16) {
                out.extend_from_slice(format!("\\u{u:04x}").as_bytes());
            }
        }
        start = i + c.len_utf8();
    }
    encode_body(&s.as_bytes()[start..], out);
}

/// [`encode_string`] without the quotes.
fn encode_body(bytes: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    encode_string(bytes, out);
    out.remove(at);
    out.pop();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_encoding_keeps_the_original_spelling_around_a_change() {
        let cases: &[(&str, &str, &str)] = &[
            // (raw body, new text, expected JSON string)
            (
                r#"{\"a\":\"x\",\"b\":1}"#,
                r#"{"a":"TOKEN","b":1}"#,
                r#""{\"a\":\"TOKEN\",\"b\":1}""#,
            ),
            // Python's ensure_ascii: non-ASCII stays escaped, before, in and after the change.
            (
                r"Troms\u00f8 x Troms\u00f8",
                "Tromsø y Tromsø",
                r#""Troms\u00f8 y Troms\u00f8""#,
            ),
            (r"x \u00f8", "ø \u{1F600}", r#""\u00f8 \ud83d\ude00""#),
            // PHP's escaped slashes.
            (
                r"http:\/\/a\/?e=1",
                "http://a/?e=2",
                r#""http:\/\/a\/?e=2""#,
            ),
            // Raw UTF-8 stays raw.
            ("é=1", "é=22", "\"é=22\""),
            // A change inside an escaped character.
            (r"\u00e9", "è", r#""\u00e8""#),
            ("", "x", r#""x""#),
            ("abc", "", r#""""#),
            // Repeated text: the kept head and tail must not overlap.
            ("aaaa", "aa", r#""aa""#),
            ("aa", "aaaa", r#""aaaa""#),
            // Escapes the original chose are kept where the text did not change.
            (r"\u0041b\tc", "Abd", r#""\u0041bd""#),
        ];
        for (raw, new, want) in cases {
            let mut old = Vec::new();
            decode_into(raw.as_bytes(), &mut old);
            let mut out = Vec::new();
            encode_string_like(raw.as_bytes(), &old, new.as_bytes(), &mut out);
            assert_eq!(
                std::str::from_utf8(&out).expect("utf8"),
                *want,
                "{raw} -> {new}"
            );
            let back: String = serde_json::from_slice(&out).expect("valid JSON string");
            assert_eq!(back, *new);
        }
    }

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
