//! Validating scanners for JSON tokens, and the dead-subtree skipper.
//!
//! Every function here takes the input and a position and returns the position after the token
//! (or a [`RewriteError::Malformed`] with a fixed reason). None allocates, none recurses, none
//! looks at the selector automaton: this is the code that runs over the bytes no rule can
//! reach, so it is written for throughput.
//!
//! Strings are the bulk of analytics payloads. [`string`] tests sixteen bytes at a time (SSE2
//! on x86_64) or eight (word arithmetic, SWAR, elsewhere and for the tail) for the four byte
//! classes that need attention — `"`, `\`, control characters and non-ASCII — and only drops
//! to a byte-wise path for escapes and multi-byte UTF-8 sequences, which it validates exactly
//! (RFC 3629 table: no overlongs, no surrogates, nothing past U+10FFFF). This is one pass that
//! both finds the end and validates, where `memchr2` would find the end fast but leave a second
//! pass for validation.

use crate::rewrite::RewriteError;

/// Result of the scanners.
pub(super) type Scan<T> = Result<T, RewriteError>;

pub(super) fn malformed(offset: usize, reason: &'static str) -> RewriteError {
    RewriteError::Malformed { offset, reason }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Skips JSON whitespace (space, tab, LF, CR).
#[inline]
pub(super) fn ws(input: &[u8], mut i: usize) -> usize {
    while let Some(&b) = input.get(i) {
        if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            break;
        }
        i += 1;
    }
    i
}

/// Mask of the bytes in `w` (little-endian) that are `"`, `\`, below 0x20 or above 0x7F. The
/// lowest set bit is exact; higher ones may be false positives (borrow propagation), which is
/// fine because only the first is used.
#[inline(always)]
fn attention(w: u64) -> u64 {
    let quote = w ^ (LO * u64::from(b'"'));
    let backslash = w ^ (LO * u64::from(b'\\'));
    let has_quote = quote.wrapping_sub(LO) & !quote;
    let has_backslash = backslash.wrapping_sub(LO) & !backslash;
    let control = w.wrapping_sub(LO * 0x20) & !w;
    (has_quote | has_backslash | control | w) & HI
}

/// Mask of the bytes of `chunk` that are `"`, `\`, below 0x20 or above 0x7F, one bit per byte
/// (bit `k` for `chunk[k]`), exact. SSE2 is part of the x86_64 baseline; `safe_arch` wraps the
/// intrinsics so the crate stays free of `unsafe`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn attention16(chunk: &[u8; 16]) -> u32 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, load_unaligned_m128i,
        move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let v = load_unaligned_m128i(chunk);
    let quote = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'"' as i8));
    let backslash = cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b'\\' as i8));
    // Signed compare: non-ASCII bytes are negative, so one test catches them and controls.
    let low = cmp_lt_mask_i8_m128i(v, set_splat_i8_m128i(0x20));
    move_mask_i8_m128i(bitor_m128i(bitor_m128i(quote, backslash), low)) as u32
}

/// Index of the first byte at or after `i` that needs attention (see [`attention`]), or an
/// index less than eight bytes from the end of the input, where the byte-wise path takes over.
#[inline(always)]
fn plain_run(input: &[u8], mut i: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(chunk) = input.get(i..).and_then(|s| s.first_chunk::<16>()) {
        let m = attention16(chunk);
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
    }
    while let Some(chunk) = input.get(i..).and_then(|s| s.first_chunk::<8>()) {
        let m = attention(u64::from_le_bytes(*chunk));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// Scans a string whose opening quote is at `open`. Returns the index after the closing quote
/// and whether the string contains any escape (so callers know whether raw bytes equal the
/// decoded text).
///
/// The common case — printable ASCII up to the closing quote — is inlined into the callers;
/// escapes, non-ASCII and the last few bytes of the input go through [`string_slow`].
///
/// # Errors
/// Unterminated string, control character, bad escape, lone surrogate, invalid UTF-8.
#[inline(always)]
pub(super) fn string(input: &[u8], open: usize) -> Scan<(usize, bool)> {
    let i = plain_run(input, open + 1);
    if input.get(i) == Some(&b'"') {
        return Ok((i + 1, false));
    }
    string_slow(input, open, i, false)
}

/// The rest of [`string`] from `i`, byte by byte where needed.
#[inline(never)]
fn string_slow(input: &[u8], open: usize, mut i: usize, mut escaped: bool) -> Scan<(usize, bool)> {
    loop {
        let Some(&b) = input.get(i) else {
            return Err(malformed(open, "unterminated string"));
        };
        match b {
            b'"' => return Ok((i + 1, escaped)),
            b'\\' => {
                i = escape(input, i)?;
                escaped = true;
            }
            0..=0x1F => return Err(malformed(i, "control character in string")),
            0x80.. => i = utf8(input, i)?,
            _ => i += 1,
        }
        i = plain_run(input, i);
    }
}

/// Validates the escape whose backslash is at `at`; returns the index after it.
fn escape(input: &[u8], at: usize) -> Scan<usize> {
    match input.get(at + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 2),
        Some(b'u') => {
            let hi = hex4(input, at + 2).ok_or_else(|| malformed(at, "bad \\u escape"))?;
            match hi {
                0xD800..=0xDBFF => {
                    let lo = match input.get(at + 6..at + 8) {
                        Some(b"\\u") => hex4(input, at + 8),
                        _ => None,
                    };
                    match lo {
                        Some(0xDC00..=0xDFFF) => Ok(at + 12),
                        _ => Err(malformed(at, "lone surrogate in \\u escape")),
                    }
                }
                0xDC00..=0xDFFF => Err(malformed(at, "lone surrogate in \\u escape")),
                _ => Ok(at + 6),
            }
        }
        Some(_) => Err(malformed(at, "invalid escape")),
        None => Err(malformed(at, "unterminated string")),
    }
}

/// Four hex digits at `at`, if present.
#[inline]
pub(super) fn hex4(input: &[u8], at: usize) -> Option<u32> {
    let digits = input.get(at..at + 4)?;
    let mut v = 0u32;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | u32::from(n);
    }
    Some(v)
}

/// Validates one multi-byte UTF-8 sequence starting at `at` (RFC 3629 §4); returns the index
/// after it.
fn utf8(input: &[u8], at: usize) -> Scan<usize> {
    let bad = || malformed(at, "invalid UTF-8");
    let b0 = input[at];
    let cont = |k: usize, lo: u8, hi: u8| -> Scan<()> {
        match input.get(at + k) {
            Some(&b) if (lo..=hi).contains(&b) => Ok(()),
            _ => Err(bad()),
        }
    };
    match b0 {
        0xC2..=0xDF => {
            cont(1, 0x80, 0xBF)?;
            Ok(at + 2)
        }
        0xE0 => {
            cont(1, 0xA0, 0xBF)?;
            cont(2, 0x80, 0xBF)?;
            Ok(at + 3)
        }
        0xE1..=0xEC | 0xEE..=0xEF => {
            cont(1, 0x80, 0xBF)?;
            cont(2, 0x80, 0xBF)?;
            Ok(at + 3)
        }
        0xED => {
            // U+D800..U+DFFF encoded directly are not scalar values.
            cont(1, 0x80, 0x9F)?;
            cont(2, 0x80, 0xBF)?;
            Ok(at + 3)
        }
        0xF0 => {
            cont(1, 0x90, 0xBF)?;
            cont(2, 0x80, 0xBF)?;
            cont(3, 0x80, 0xBF)?;
            Ok(at + 4)
        }
        0xF1..=0xF3 => {
            cont(1, 0x80, 0xBF)?;
            cont(2, 0x80, 0xBF)?;
            cont(3, 0x80, 0xBF)?;
            Ok(at + 4)
        }
        0xF4 => {
            cont(1, 0x80, 0x8F)?;
            cont(2, 0x80, 0xBF)?;
            cont(3, 0x80, 0xBF)?;
            Ok(at + 4)
        }
        _ => Err(bad()),
    }
}

/// Scans a number starting at `at` (RFC 8259 §6 grammar). Does not look at the byte after it:
/// the structural parser requires a delimiter there, which rejects `01` and `1.0.0`.
#[inline]
pub(super) fn number(input: &[u8], at: usize) -> Scan<usize> {
    let mut i = at;
    if input.get(i) == Some(&b'-') {
        i += 1;
    }
    match input.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(input, i + 1),
        _ => return Err(malformed(at, "invalid number")),
    }
    if input.get(i) == Some(&b'.') {
        let end = digits(input, i + 1);
        if end == i + 1 {
            return Err(malformed(at, "invalid number"));
        }
        i = end;
    }
    if matches!(input.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(input.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(input, i);
        if end == i {
            return Err(malformed(at, "invalid number"));
        }
        i = end;
    }
    Ok(i)
}

#[inline]
fn digits(input: &[u8], mut i: usize) -> usize {
    while input.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// Scans `true`, `false` or `null` at `at`; returns the index after it.
#[inline]
pub(super) fn literal(input: &[u8], at: usize) -> Scan<usize> {
    let rest = input.get(at..).unwrap_or_default();
    for word in [&b"true"[..], b"false", b"null"] {
        if rest.starts_with(word) {
            return Ok(at + word.len());
        }
    }
    Err(malformed(at, "expected a value"))
}

/// A stack of container kinds (object or array), one bit per level, for the skipper. The first
/// 256 levels live inline so skipping never allocates below that depth.
pub(super) struct KindStack {
    inline: [u64; 4],
    spill: Vec<u64>,
    len: usize,
}

impl KindStack {
    pub(super) fn new() -> Self {
        Self {
            inline: [0; 4],
            spill: Vec::new(),
            len: 0,
        }
    }

    #[inline(always)]
    fn word(&mut self, level: usize) -> &mut u64 {
        let w = level / 64;
        if w < self.inline.len() {
            &mut self.inline[w]
        } else {
            let w = w - self.inline.len();
            if self.spill.len() <= w {
                self.spill.resize(w + 1, 0);
            }
            &mut self.spill[w]
        }
    }

    #[inline(always)]
    fn push(&mut self, object: bool) {
        let level = self.len;
        let bit = 1u64 << (level % 64);
        let w = self.word(level);
        if object {
            *w |= bit;
        } else {
            *w &= !bit;
        }
        self.len += 1;
    }

    /// Whether the innermost open container is an object.
    #[inline(always)]
    fn top_is_object(&mut self) -> bool {
        let level = self.len - 1;
        *self.word(level) >> (level % 64) & 1 == 1
    }
}

/// Validates one whole value starting at `at` (whitespace already skipped) and returns the
/// index after it. `depth` is the nesting depth of the value's parent; nesting past
/// `max_depth` fails with [`RewriteError::TooDeep`].
///
/// This is the dead-subtree path: no frames, no keys decoded, no automaton, no output.
#[inline(never)]
pub(super) fn skip_value(
    input: &[u8],
    at: usize,
    depth: usize,
    max_depth: usize,
    kinds: &mut KindStack,
) -> Scan<usize> {
    // The watch never fires, so the result is always `Some`; it compiles to the plain skipper.
    skip_value_watching(input, at, depth, max_depth, kinds, NoWatch)
        .map(|end| end.unwrap_or(input.len()))
}

/// What the skipper shows every member name to: raw bytes between the quotes, and whether
/// they have escapes. A trait rather than a closure so that its method can be
/// `#[inline(always)]`: the skipper reads names at two places (after `{` and after `,`), and a
/// closure was inlined at only one of them, the other paying a call with its register spills
/// for every name (~22 instructions, ~300 names a 16 KB batch).
pub(super) trait Watch {
    /// Whether the skip stops at this name.
    fn stops(&mut self, name: &[u8], escaped: bool) -> bool;
}

/// The watch of the plain skipper: never stops.
struct NoWatch;

impl Watch for NoWatch {
    #[inline(always)]
    fn stops(&mut self, _: &[u8], _: bool) -> bool {
        false
    }
}

/// [`skip_value`], but every member name (raw bytes between the quotes, and whether it has
/// escapes) is shown to `watch` first; if `watch` returns true the skip stops and returns
/// `Ok(None)`. Validation up to that point is the same as [`skip_value`]'s, so an error is
/// reported identically whether or not a later key would have stopped the skip.
#[inline(never)]
pub(super) fn skip_value_watching(
    input: &[u8],
    at: usize,
    depth: usize,
    max_depth: usize,
    kinds: &mut KindStack,
    mut watch: impl Watch,
) -> Scan<Option<usize>> {
    kinds.len = 0;
    // Kind of the innermost open container, cached: read after every value, changed only on
    // push and pop.
    let mut object = false;
    let mut i = at;
    'value: loop {
        match input.get(i) {
            Some(b'"') => i = string(input, i)?.0,
            Some(b'{') => {
                if depth + kinds.len + 1 > max_depth {
                    return Err(RewriteError::TooDeep { limit: max_depth });
                }
                i = ws(input, i + 1);
                if input.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    kinds.push(true);
                    object = true;
                    let Some(next) = watched_key(input, i, &mut watch)? else {
                        return Ok(None);
                    };
                    i = next;
                    continue 'value;
                }
            }
            Some(b'[') => {
                if depth + kinds.len + 1 > max_depth {
                    return Err(RewriteError::TooDeep { limit: max_depth });
                }
                i = ws(input, i + 1);
                if input.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    kinds.push(false);
                    object = false;
                    continue 'value;
                }
            }
            Some(b'-' | b'0'..=b'9') => i = number(input, i)?,
            Some(b't' | b'f' | b'n') => i = literal(input, i)?,
            Some(_) => return Err(malformed(i, "expected a value")),
            None => return Err(malformed(i, "unexpected end of input")),
        }
        // After a value: a separator or the end of the enclosing container.
        loop {
            if kinds.len == 0 {
                return Ok(Some(i));
            }
            i = ws(input, i);
            match input.get(i) {
                Some(b',') => {
                    i = ws(input, i + 1);
                    if object {
                        let Some(next) = watched_key(input, i, &mut watch)? else {
                            return Ok(None);
                        };
                        i = next;
                    }
                    continue 'value;
                }
                Some(b'}') if object => {
                    kinds.len -= 1;
                    object = kinds.len > 0 && kinds.top_is_object();
                    i += 1;
                }
                Some(b']') if !object => {
                    kinds.len -= 1;
                    object = kinds.len > 0 && kinds.top_is_object();
                    i += 1;
                }
                Some(_) if object => return Err(malformed(i, "expected `,` or `}`")),
                Some(_) => return Err(malformed(i, "expected `,` or `]`")),
                None => return Err(malformed(i, "unexpected end of input")),
            }
        }
    }
}

/// Scans `"key" ws : ws` at `at` and returns the index of the member's value, or `None` when
/// `watch` stops at the key.
#[inline(always)]
fn watched_key(input: &[u8], at: usize, watch: &mut impl Watch) -> Scan<Option<usize>> {
    if input.get(at) != Some(&b'"') {
        return Err(malformed(at, "expected a member name"));
    }
    let (end, escaped) = string(input, at)?;
    if watch.stops(input.get(at + 1..end - 1).unwrap_or_default(), escaped) {
        return Ok(None);
    }
    colon(input, end).map(Some)
}

/// Scans `ws : ws` at `at`; returns the index after it.
#[inline(always)]
pub(super) fn colon(input: &[u8], at: usize) -> Scan<usize> {
    // Compact JSON (what SDKs send): `:` right after the key, the value right after it.
    if input.get(at) == Some(&b':') {
        return Ok(match input.get(at + 1) {
            Some(b' ' | b'\n' | b'\r' | b'\t') => ws(input, at + 2),
            _ => at + 1,
        });
    }
    let i = ws(input, at);
    if input.get(i) != Some(&b':') {
        return Err(malformed(i, "expected `:`"));
    }
    Ok(ws(input, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_finds_first_special_byte() {
        for (bytes, first) in [
            (*b"abcdefgh", None),
            (*b"abc\"efgh", Some(3)),
            (*b"\\bcdefgh", Some(0)),
            (*b"abcdefg\x1f", Some(7)),
            (*b"ab\xc3\xa9efgh", Some(2)),
            (*b"a\x00\"defgh", Some(1)),
            (*b"~~~~~~~\x7f", None),
            (*b"  !#[]\x20\x21", None),
        ] {
            let m = attention(u64::from_le_bytes(bytes));
            let got = (m != 0).then(|| (m.trailing_zeros() / 8) as usize);
            assert_eq!(got, first, "{bytes:?}");
        }
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn attention16_is_exact_for_every_byte_at_every_position() {
        let special = |b: u8| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b);
        for pos in 0..16 {
            for b in 0..=255u8 {
                let mut chunk = [b'a'; 16];
                chunk[pos] = b;
                let want = if special(b) { 1u32 << pos } else { 0 };
                assert_eq!(attention16(&chunk), want, "byte {b:#04x} at {pos}");
            }
        }
    }

    #[test]
    fn plain_run_stops_at_the_first_special_byte_or_near_the_end() {
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEF";
        for at in 0..text.len() {
            let mut bytes = text.to_vec();
            bytes[at] = b'"';
            let got = plain_run(&bytes, 0);
            // Exact, unless the quote is in the last few bytes, which are left byte-wise.
            assert!(
                got == at || (got < at && bytes.len() - got < 8),
                "{at}: {got}"
            );
        }
        let end = plain_run(text, 0);
        assert!(end <= text.len() && text.len() - end < 8);
    }

    #[test]
    fn numbers() {
        for ok in [
            "0",
            "-0",
            "1",
            "-12",
            "1.5",
            "1e5",
            "1E+5",
            "1e-05",
            "0.0e0",
            "123.456E789",
        ] {
            assert_eq!(number(ok.as_bytes(), 0).ok(), Some(ok.len()), "{ok}");
        }
        for (text, stop) in [("01", 1), ("1.0.1", 3), ("-0-", 2)] {
            assert_eq!(number(text.as_bytes(), 0).ok(), Some(stop), "{text}");
        }
        for bad in ["-", "1.", ".5", "1e", "1e+", "+1", "-a", "1.e5"] {
            assert!(number(bad.as_bytes(), 0).is_err(), "{bad}");
        }
    }
}
