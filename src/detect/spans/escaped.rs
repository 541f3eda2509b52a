//! Escapes a recipient decodes that the first reading leaves as they are, for the second
//! reading (`reread.rs`) to read as the recipient does:
//!
//! - a look-alike written as an escape: `%EF%BC%A0` (the UTF-8 of a fullwidth `＠`,
//!   percent-encoded) or `&#xFF20;`: a browser decodes the escape and a reader folds the
//!   character (`detect::fold`), so `alice%EF%BC%A0example.org` is Alice's address;
//! - a reference escaped once more, `&amp;#64;` (`&amp;commat;`, `&amp;period;`): an iframe's
//!   `srcdoc` is decoded as an attribute and then parsed as HTML again, and a person reads
//!   `alice&#64;example.org` as an address anyway;
//! - a JSON or JavaScript string escape, `\u0040`: JSON-LD in a `<script>` block, or a JSON text
//!   in a field, is read by a parser that unescapes it.
//!
//! The first reading notes that it met one ([`Seen`] bits: the finder sees the escape's
//! trigger byte anyway, and a `\` in raw or plain text costs a `memchr` per such segment);
//! only then is the text searched for them, and each becomes an [`Edit`] of the second
//! reading: the escape reads as the one ASCII byte it stands for (or as nothing, for an
//! invisible character), mapped back to the escape's bytes. An escape is read only as a
//! letter, a digit, a space or the punctuation of an address or a number: never as markup, an
//! escape or a URL delimiter, so the second reading has the first one's structure.
//!
//! And a parameter of a link whose value is base64 of text ([`encoded_params`]): a tracker
//! decodes it (`?u=YWxpY2VAZXhhbXBsZS5vcmc=`). A value of 16 to 4096 bytes of one base64
//! alphabet (padding optional) that decodes to UTF-8 text without control characters is
//! scanned as a text of its own; if personal data is found in it, the whole value is a span.
//! Ids, hashes and signatures that happen to be of the alphabet decode to bytes that are not
//! text, or to text without personal data, and stay as they are.

use super::decode;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use super::lanes::Lanes;
use super::lanes::{Stops, find_byte, run_end};
use crate::detect::{encoded, fold};

/// What the first reading met, a bit each ([`Seen`] is a `u8` so the finder carries it
/// cheaply).
pub(crate) type Seen = u8;
/// A percent escape or numeric reference of a non-ASCII character.
pub(crate) const HIGH: Seen = 1;
/// `&amp;` before a reference.
pub(crate) const AMP: Seen = 2;
/// A `\` in raw text (`script`, `style`) or plain text.
pub(crate) const BACKSLASH: Seen = 4;
/// `://` outside a URL-valued segment: a link written in a text, whose parameters may be
/// base64 of text ([`queries_in_text`]).
pub(crate) const LINK: Seen = 8;
/// `%25` before two hex digits: an escape escaped once more (`%2540`, `%25EF%25BC%25A0`),
/// which a link's target, or whoever decodes a text twice, reads as the escape.
pub(crate) const TWICE: Seen = 16;

/// What the first reading notes at the `%` at `raw[0]` (read through the segment's
/// decoding as `%`): [`TWICE`] for `%25` and two hex digits, and [`HIGH`] too when those
/// escape a non-ASCII byte (`%25EF`).
#[inline]
pub(crate) fn seen_percent(raw: &[u8]) -> Seen {
    match raw {
        [b'%', b'2', b'5', h, l, ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
            if decode::hex(*h).is_some_and(|h| h >= 8) {
                TWICE | HIGH
            } else {
                TWICE
            }
        }
        _ => 0,
    }
}

/// One change the second reading makes: the original's bytes `start..end` read as `with`, or
/// as nothing when `with` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Edit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) with: u8,
}

impl Edit {
    /// The original's `start..end` left out.
    pub(crate) fn gap((start, end): (usize, usize)) -> Self {
        Self {
            start,
            end,
            with: 0,
        }
    }
}

/// [`AMP`] when `after` (what follows an `&amp;`) starts a reference the second reading
/// decodes: a numeric one, `commat;` or `period;`.
#[inline]
pub(crate) fn seen_amp(after: &[u8]) -> Seen {
    match after {
        [b'#', b'x' | b'X', h, ..] if h.is_ascii_hexdigit() => AMP,
        [b'#', d, ..] if d.is_ascii_digit() => AMP,
        _ if after.starts_with(b"commat;") || after.starts_with(b"period;") => AMP,
        _ => 0,
    }
}

/// Whether `raw[start..end]` is the content of a `<script>` element (raw text right after a
/// start tag named `script`) or, when `plain`, a JSON text (an object, or an array of objects,
/// arrays or strings; `[REDACTED]` is not): where
/// string escapes are read. A comment, a style sheet or prose is neither.
#[inline]
pub(crate) fn script_or_json(raw: &[u8], start: usize, end: usize, plain: bool) -> bool {
    if plain {
        return match raw[start..end].trim_ascii_start() {
            [b'{', ..] => true,
            [b'[', rest @ ..] => {
                matches!(rest.trim_ascii_start().first(), Some(b'{' | b'[' | b'"'))
            }
            _ => false,
        };
    }
    if start == 0 || raw[start - 1] != b'>' {
        return false;
    }
    let from = start.saturating_sub(256);
    let Some(lt) = memchr::memrchr(b'<', &raw[from..start]).map(|p| from + p) else {
        return false;
    };
    raw.get(lt + 1..lt + 7)
        .is_some_and(|n| n.eq_ignore_ascii_case(b"script"))
}

/// What the second reading reads for `c`, an escaped character: itself when it is ASCII that
/// cannot change the text's structure, its folding when a reader folds it, else `None` (the
/// escape stays as it is).
fn read_as(c: char) -> Option<u8> {
    if c.is_ascii() {
        let b = c as u8;
        return (b.is_ascii_alphanumeric() || b" @.-_+(),:".contains(&b)).then_some(b);
    }
    fold::folded_in_text(c).map(|f| f.unwrap_or(0))
}

/// The edits for what `seen` says the first reading met in `raw`, in order, disjoint.
pub(crate) fn edits(raw: &[u8], seen: Seen, out: &mut Vec<Edit>) {
    let start = out.len();
    if seen & HIGH != 0 {
        look_alikes(raw, out);
    }
    if seen & AMP != 0 {
        amp_twice(raw, out);
    }
    if seen & BACKSLASH != 0 {
        string_escapes(raw, out);
    }
    let new = &mut out[start..];
    new.sort_unstable();
}

/// Percent-encoded UTF-8 (`%EF%BC%A0`) and numeric references (`&#xFF20;`, `&#65312;`) of a
/// non-ASCII character a reader folds.
fn look_alikes(raw: &[u8], out: &mut Vec<Edit>) {
    for p in memchr::memchr_iter(b'%', raw) {
        let Some((c, len)) = percent_char(&raw[p..]) else {
            continue;
        };
        if out.last().is_some_and(|e| e.end > p) {
            continue;
        }
        if let Some(with) = read_as(c) {
            out.push(Edit {
                start: p,
                end: p + len,
                with,
            });
        }
    }
    for p in memchr::memchr_iter(b'&', raw) {
        if raw.get(p + 1) != Some(&b'#') {
            continue;
        }
        if let Some((c, len)) = decode::entity(&raw[p..])
            && !c.is_ascii()
            && let Some(with) = read_as(c)
        {
            out.push(Edit {
                start: p,
                end: p + len,
                with,
            });
        }
    }
}

/// The non-ASCII character that percent escapes starting `s` encode in UTF-8, and their
/// length (`%EF%BC%A0`: `＠`, 9 bytes).
/// Each escape may be escaped once more (`%25EF%25BC%25A0`, which a link's target decodes to
/// `%EF%BC%A0`): the whole is then one edit, and the `25`s inside it are no gaps of their own.
fn percent_char(s: &[u8]) -> Option<(char, usize)> {
    let hex2 = |k: usize| -> Option<u8> {
        Some((decode::hex(*s.get(k)?)? << 4) | decode::hex(*s.get(k + 1)?)?)
    };
    let mut at = 0;
    let mut byte = || -> Option<u8> {
        if s.get(at) != Some(&b'%') {
            return None;
        }
        let k = if s.get(at + 1..at + 3) == Some(b"25") && hex2(at + 3).is_some() {
            at + 3
        } else {
            at + 1
        };
        let v = hex2(k)?;
        at = k + 2;
        Some(v)
    };
    let lead = byte()?;
    let n = match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let mut buf = [lead, 0, 0, 0];
    for b in buf.iter_mut().take(n).skip(1) {
        *b = byte()?;
    }
    let c = std::str::from_utf8(&buf[..n]).ok()?.chars().next()?;
    Some((c, at))
}

/// The `amp;` of each `&amp;` before a reference: left out, `&amp;#64;` reads `&#64;`, which
/// the segment's decoding reads as `@`.
fn amp_twice(raw: &[u8], out: &mut Vec<Edit>) {
    for p in memchr::memmem::find_iter(raw, b"&amp;") {
        if seen_amp(&raw[p + 5..]) != 0 {
            out.push(Edit::gap((p + 1, p + 5)));
        }
    }
}

/// JSON and JavaScript escapes `\uXXXX` of a character the second reading may read
/// (`\u0040`, `\u002e`, `\uff20`). A surrogate half and what would change the text's structure
/// (`\u003c`, `\u0026`, `\u0022`) stay as they are.
fn string_escapes(raw: &[u8], out: &mut Vec<Edit>) {
    for p in memchr::memchr_iter(b'\\', raw) {
        // `\\u0040` is a backslash and the text `u0040`.
        if p > 0 && raw[p - 1] == b'\\' && (p < 2 || raw[p - 2] != b'\\') {
            continue;
        }
        let Some([b'u', a, b, c, d]) = raw
            .get(p + 1..p + 6)
            .map(|w| [w[0], w[1], w[2], w[3], w[4]])
        else {
            continue;
        };
        let Some(code) = [a, b, c, d]
            .iter()
            .try_fold(0u32, |n, &h| Some(n << 4 | u32::from(decode::hex(h)?)))
        else {
            continue;
        };
        if let Some(with) = char::from_u32(code).and_then(read_as) {
            out.push(Edit {
                start: p,
                end: p + 6,
                with,
            });
        }
    }
}

/// Bytes of a base64 value a link's parameter may hold and be read: shorter ones hold no
/// address (`a@b.co` is 8), longer ones are documents, not parameters, and bound the cost.
const B64_MIN: usize = 16;
const B64_MAX: usize = 4096;

/// Bytes outside both base64 alphabets (padding included): where a value's run of the
/// alphabets ends. Read sixteen at a time: the bytes of every query of every link in a mail
/// pass here.
struct NotBase64;

impl Stops for NotBase64 {
    fn stop(b: u8) -> bool {
        !encoded::base64_byte(b)
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    fn stops16(chunk: &[u8; 16]) -> u32 {
        let v = Lanes::load(chunk);
        let alphabet = (v.range(b'A', b'Z') | v.range(b'a', b'z'))
            | (v.range(b'0', b'9') | (v.eq(b'+') | v.eq(b'/')))
            | (v.eq(b'-') | v.eq(b'_'));
        !alphabet.bits() & 0xFFFF
    }
}

/// Notes in `out` each parameter value in the query `raw[start..end]` that may be base64 of
/// text: after a `=`, [`B64_MIN`] to [`B64_MAX`] bytes of the alphabets, then optional
/// padding (`=` or `%3D`), then the end of the value (`&`, `#`, `;` or the end).
pub(crate) fn encoded_params(
    raw: &[u8],
    start: usize,
    end: usize,
    out: &mut impl FnMut(usize, usize),
) {
    let s = &raw[start..end];
    let mut from = 0;
    // A link's `=`s are a few bytes apart: found inline, without `memchr`'s set-up each.
    while let Some(p) = find_byte(b'=', &s[from..]).map(|p| from + p) {
        let v = p + 1;
        let mut e = run_end::<NotBase64>(s, v, s.len().min(v + B64_MAX + 1));
        from = e.max(v);
        // Base64 of text has both cases; a word (`transactional`) or a hex id has one.
        let w = &s[v..e];
        if e - v < B64_MIN
            || e - v > B64_MAX
            || !w.iter().any(u8::is_ascii_uppercase)
            || !w.iter().any(u8::is_ascii_lowercase)
        {
            continue;
        }
        for _ in 0..2 {
            if s.get(e) == Some(&b'=') {
                e += 1;
            } else if s
                .get(e..e + 3)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"%3D"))
            {
                e += 3;
            }
        }
        if e == s.len() || matches!(s[e], b'&' | b'#' | b';') {
            out(start + v, start + e);
        }
        from = e;
    }
}

/// The queries of the URLs written in plain text `raw[start..end]` (`https://…?…` up to a
/// space, a quote or an angle bracket), each handed to `f` as a range.
pub(crate) fn queries_in_text(
    raw: &[u8],
    start: usize,
    end: usize,
    f: &mut impl FnMut(usize, usize),
) {
    let s = &raw[start..end];
    for p in memchr::memmem::find_iter(s, b"://") {
        let e = s[p..]
            .iter()
            .position(|&b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'>'))
            .map_or(s.len(), |k| p + k);
        if let Some(q) = memchr::memchr(b'?', &s[p..e]) {
            let h = memchr::memchr(b'#', &s[p + q..e]).map_or(e, |k| p + q + k);
            f(start + p + q, start + h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::encoded::base64_text;
    use base64::Engine as _;
    use base64::engine::general_purpose;
    use proptest::prelude::*;

    fn edited(raw: &str, seen: Seen) -> String {
        let mut e = Vec::new();
        edits(raw.as_bytes(), seen, &mut e);
        let mut out = Vec::new();
        let mut at = 0;
        for x in e {
            out.extend_from_slice(&raw.as_bytes()[at..x.start]);
            if x.with != 0 {
                out.push(x.with);
            }
            at = x.end;
        }
        out.extend_from_slice(&raw.as_bytes()[at..]);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn escaped_look_alikes_read_as_what_they_fold_to() {
        for (raw, want) in [
            ("a%EF%BC%A0b%EF%BC%8Ec", "a@b.c"),
            ("a%ef%bc%a0b", "a@b"),
            ("a&#xFF20;b&#65294;c", "a@b.c"),
            ("4242%C2%A04242", "4242 4242"),
            ("ot%E2%80%8Btilie", "ottilie"),
            // Not look-alikes, or not whole: as written.
            (
                "caf%C3%A9 %E2%82%AC %EF%BC%9C %EF%BC",
                "caf%C3%A9 %E2%82%AC %EF%BC%9C %EF%BC",
            ),
            ("%C0%80 %ED%A0%80", "%C0%80 %ED%A0%80"),
        ] {
            assert_eq!(edited(raw, HIGH), want, "{raw}");
        }
    }

    #[test]
    fn references_escaped_twice_read_once() {
        for (raw, want) in [
            (
                "a&amp;#64;b&amp;#x40;c&amp;commat;d&amp;period;e",
                "a&#64;b&#x40;c&commat;d&period;e",
            ),
            ("?a=1&amp;b=2&amp;c&amp;#;", "?a=1&amp;b=2&amp;c&amp;#;"),
        ] {
            assert_eq!(edited(raw, AMP), want, "{raw}");
        }
    }

    #[test]
    fn string_escapes_read_as_letters_digits_and_an_addresss_punctuation() {
        for (raw, want) in [
            (r#""a\u0040b\u002Ec""#, r#""a@b.c""#),
            (r#""a\uff20b""#, r#""a@b""#),
            (
                r#""\u003cb\u003e \u0022 \u0026 \\u0040 \ud83d""#,
                r#""\u003cb\u003e \u0022 \u0026 \\u0040 \ud83d""#,
            ),
            (r#"\\\u0040"#, r#"\\@"#),
        ] {
            assert_eq!(edited(raw, BACKSLASH), want, "{raw}");
        }
    }

    #[test]
    fn base64_parameters_are_found_and_read_only_when_they_decode_to_text() {
        let q = "?u=b3R0aWxpZUBleGFtcGxlLm9yZw==&sig=abc123&d=dG89YUBiLmNvJmw9bg%3D%3D#x";
        let mut found = Vec::new();
        encoded_params(q.as_bytes(), 0, q.len(), &mut |a, b| found.push((a, b)));
        let values: Vec<&str> = found.iter().map(|&(a, b)| &q[a..b]).collect();
        assert_eq!(
            values,
            ["b3R0aWxpZUBleGFtcGxlLm9yZw==", "dG89YUBiLmNvJmw9bg%3D%3D"]
        );
        assert_eq!(
            base64_text(values[0].as_bytes()).as_deref(),
            Some("ottilie@example.org")
        );
        assert_eq!(
            base64_text(values[1].as_bytes()).as_deref(),
            Some("to=a@b.co&l=n")
        );
        // Hex ids, random bytes and mixed alphabets are not text.
        for id in ["9f86d081884c7d65", "q83vEjRWeJq83vEj", "ab+cd-ef/gh_ijkl"] {
            assert_eq!(base64_text(id.as_bytes()), None, "{id}");
        }
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn the_vector_alphabet_test_finds_what_the_table_finds() {
        for b in 0..=255u8 {
            for k in 0..16 {
                let mut chunk = [b'A'; 16];
                chunk[k] = b;
                let want = if NotBase64::stop(b) { 1 << k } else { 0 };
                assert_eq!(NotBase64::stops16(&chunk), want, "{b:#04x} at {k}");
            }
        }
    }

    proptest! {
        /// Base64 of any text without control characters is read back as that text, in
        /// either alphabet, padded or not; base64 of bytes that are not UTF-8 never is.
        #[test]
        fn base64_text_inverts_the_encoders(
            text in "[^\\p{Cc}]{9,200}",
            url_safe: bool,
            padded: bool,
            bytes in proptest::collection::vec(any::<u8>(), 9..200),
        ) {
            let engine = match (url_safe, padded) {
                (false, true) => general_purpose::STANDARD,
                (false, false) => general_purpose::STANDARD_NO_PAD,
                (true, true) => general_purpose::URL_SAFE,
                (true, false) => general_purpose::URL_SAFE_NO_PAD,
            };
            let enc = engine.encode(&text);
            prop_assert_eq!(base64_text(enc.as_bytes()), Some(text));
            if std::str::from_utf8(&bytes).is_err() {
                prop_assert_eq!(base64_text(engine.encode(&bytes).as_bytes()), None);
            }
        }

        /// Every edit covers an escape and stands for one byte that changes no structure.
        #[test]
        fn edits_are_disjoint_and_read_no_markup(raw in "([a-z@.<>&;#%\\\\u0-9A-F]|%EF%BC%A0|&amp;#64;|\\\\u0040){0,60}") {
            let mut e = Vec::new();
            edits(raw.as_bytes(), HIGH | AMP | BACKSLASH, &mut e);
            for w in e.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            for x in &e {
                prop_assert!(x.start < x.end && x.end <= raw.len());
                prop_assert!(!b"<>&%=#/?;\"'\\".contains(&x.with));
            }
        }
    }
}
