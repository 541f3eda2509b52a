//! Values a reader decodes before reading them: base64 of text, and `data:` URLs.
//!
//! `b3R0aWxpZUBleGFtcGxlLm9yZw==` is an address to anyone who runs it through a base64
//! decoder, which every recipient has; `data:text/plain;base64,…` and
//! `data:text/plain,ottilie%40example.org` are read by every browser. A leaf that is entirely
//! one of these is decoded and the text inside classified like a leaf (`Detector::decoded`).
//! Only text counts: bytes that are not UTF-8 (a hash, a random id, an encrypted blob) decode
//! to nothing readable and are left alone, which is also what keeps ids in the base64
//! alphabet (hex digests, UUIDs) from being taken for data.
//!
//! Decoding writes into a fixed buffer; a longer value is read in overlapping windows whose
//! shared part decodes to more than any datum the detectors accept inside text.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Encoded bytes read at once (a multiple of four: base64 decodes in quads).
const WINDOW: usize = 1024;

/// Encoded bytes two consecutive windows share: 258 bytes decoded (a multiple of four).
const OVERLAP: usize = 344;

/// Shortest value read as base64: shorter ones are ids far more often than encoded text.
const MIN_BASE64: usize = 16;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::RequireNone)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// A value's encoding, when the whole value is one.
pub(crate) enum Encoded<'a> {
    /// Base64 in the standard alphabet, padding removed.
    Base64(&'a [u8]),
    /// Base64 in the URL-safe alphabet, padding removed.
    Base64Url(&'a [u8]),
    /// Percent-encoded text (the data of a `data:` URL without `;base64`).
    Percent(&'a [u8]),
}

/// What `t` (trimmed, without whitespace inside) is encoded as, if it is entirely one
/// encoding: a `data:` URL, or base64 in one alphabet with at most two `=` at the end.
pub(crate) fn encoding(t: &[u8]) -> Option<Encoded<'_>> {
    if t.len() > 5 && t[..5].eq_ignore_ascii_case(b"data:") {
        let comma = memchr::memchr(b',', t)?;
        let meta = &t[5..comma];
        let data = &t[comma + 1..];
        let base64 = meta.len() >= 7 && meta[meta.len() - 7..].eq_ignore_ascii_case(b";base64");
        return Some(if base64 {
            base64_of(data)?
        } else {
            Encoded::Percent(data)
        });
    }
    if t.len() < MIN_BASE64 {
        return None;
    }
    base64_of(t)
}

fn base64_of(t: &[u8]) -> Option<Encoded<'_>> {
    let body = t
        .strip_suffix(b"==")
        .or_else(|| t.strip_suffix(b"="))
        .unwrap_or(t);
    if body.len() % 4 == 1 {
        return None;
    }
    let mut kinds = 0;
    for &b in body {
        kinds |= ALPHABET[usize::from(b)];
    }
    let e = match kinds {
        k if (k & BAD) != 0 || (k & (STD | URL)) == (STD | URL) => return None,
        k if (k & URL) != 0 => Encoded::Base64Url(body),
        _ => Encoded::Base64(body),
    };
    // Most values of the alphabet are ids and hashes: their first bytes already decode to
    // something that is not text, which the first quads show without decoding the rest.
    let probe = &body[..body.len().min(16) & !3];
    let mut buf = [0u8; 12];
    let n = engine(&e).decode_slice(probe, &mut buf).ok()?;
    match std::str::from_utf8(&buf[..n]) {
        Ok(text) if !text.bytes().any(|b| b < 0x09 || b == 0x7f) => Some(e),
        // A character cut by the probe's end.
        Err(err) if err.error_len().is_none() && probe.len() < body.len() => Some(e),
        _ => None,
    }
}

/// The engine that decodes `e`'s alphabet (the standard one for percent-encoded data, which
/// never reaches it).
fn engine(e: &Encoded<'_>) -> &'static GeneralPurpose {
    match e {
        Encoded::Base64Url(_) => &URL_SAFE,
        _ => &STANDARD,
    }
}

/// Whether `b` is a byte of either base64 alphabet (padding aside).
#[inline]
pub(crate) fn base64_byte(b: u8) -> bool {
    ALPHABET[usize::from(b)] & BAD == 0
}

/// The text a value that is base64 in one alphabet decodes to, read whole: padding optional,
/// written `=` or percent-encoded `%3D` (a link's parameter). `None` when it mixes the
/// alphabets, does not decode, or decodes to bytes that are not UTF-8 text without control
/// characters (a hash, a random id, a signature). Allocates only for text.
pub(crate) fn base64_text(value: &[u8]) -> Option<String> {
    let mut body = value;
    for _ in 0..2 {
        match body.len().checked_sub(3) {
            Some(k) if body[k..].eq_ignore_ascii_case(b"%3D") => body = &body[..k],
            _ => break,
        }
    }
    let e = base64_of(body)?;
    let (Encoded::Base64(data) | Encoded::Base64Url(data) | Encoded::Percent(data)) = e;
    // On the stack for the usual lengths: most candidates (ids, signatures) are not text,
    // and cost no allocation.
    let mut small = [0u8; 384];
    let mut large = Vec::new();
    let buf: &mut [u8] = if data.len() <= 512 {
        &mut small
    } else {
        large.resize(data.len() / 4 * 3 + 3, 0);
        &mut large
    };
    let n = engine(&e).decode_slice(data, buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .then(|| text.to_owned())
}

const STD: u8 = 1;
const URL: u8 = 2;
const BAD: u8 = 4;

/// Per byte: 0 for a letter or digit, [`STD`] for `+ /`, [`URL`] for `- _`, [`BAD`] else.
static ALPHABET: [u8; 256] = {
    let mut t = [BAD; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => 0,
            b'+' | b'/' => STD,
            b'-' | b'_' => URL,
            _ => BAD,
        };
        c += 1;
    }
    t
};

/// Calls `read` with the decoded text of each window of `e` (UTF-8 checked, a character cut
/// at a window's end left out), until it returns `Some`. A window that is not text ends the
/// search: the value is not encoded text.
pub(crate) fn windows<T>(e: &Encoded<'_>, mut read: impl FnMut(&str) -> Option<T>) -> Option<T> {
    let mut buf = [0u8; WINDOW];
    let data = match e {
        Encoded::Base64(d) | Encoded::Base64Url(d) | Encoded::Percent(d) => *d,
    };
    let mut from = 0;
    loop {
        let (n, reach) = match e {
            Encoded::Base64(_) | Encoded::Base64Url(_) => {
                let reach = (from + WINDOW).min(data.len());
                (
                    engine(e).decode_slice(&data[from..reach], &mut buf).ok()?,
                    reach,
                )
            }
            Encoded::Percent(_) => percent(data, from, &mut buf),
        };
        let last = reach >= data.len();
        let text = match std::str::from_utf8(&buf[..n]) {
            Ok(text) => text,
            // A character cut by the window's end is read whole by the next one.
            Err(e) if !last && e.error_len().is_none() => {
                std::str::from_utf8(&buf[..e.valid_up_to()]).ok()?
            }
            Err(_) => return None,
        };
        if text.bytes().any(|b| b < 0x09 || b == 0x7f) {
            return None;
        }
        if let Some(found) = read(text) {
            return Some(found);
        }
        if last {
            return None;
        }
        from = match e {
            Encoded::Percent(_) => next_percent(data, reach),
            _ => reach - OVERLAP,
        };
    }
}

/// Percent-decodes `data` from `from` into `buf` until it is full; returns the bytes written
/// and how far it read. An escape without two hex digits stays as written (as browsers do).
fn percent(data: &[u8], from: usize, buf: &mut [u8; WINDOW]) -> (usize, usize) {
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut n = 0;
    let mut i = from;
    while i < data.len() && n < WINDOW {
        match (
            data[i],
            data.get(i + 1).and_then(|&c| hex(c)),
            data.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                buf[n] = (h * 16 + l) as u8;
                i += 3;
            }
            (c, _, _) => {
                buf[n] = c;
                i += 1;
            }
        }
        n += 1;
    }
    (n, i)
}

/// Where the window after one that read up to `reach` starts: `OVERLAP` encoded bytes back,
/// not inside an escape.
fn next_percent(data: &[u8], reach: usize) -> usize {
    let mut at = reach.saturating_sub(OVERLAP);
    // An escape is three bytes: step past one the start would cut.
    for back in 1..=2 {
        if at >= back && data.get(at - back) == Some(&b'%') {
            at += 3 - back;
            break;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(e) = encoding(v.as_bytes()) {
            windows(&e, |t| {
                out.push(t.to_owned());
                None::<()>
            });
        }
        out
    }

    #[test]
    fn whole_values_of_one_encoding_decode_to_their_text() {
        assert_eq!(
            texts("b3R0aWxpZUBleGFtcGxlLm9yZw=="),
            ["ottilie@example.org"]
        );
        assert_eq!(texts("b3R0aWxpZUBleGFtcGxlLm9yZw"), ["ottilie@example.org"]);
        assert_eq!(
            texts("data:text/plain;base64,b3R0aWxpZUBleGFtcGxlLm9yZw=="),
            ["ottilie@example.org"]
        );
        assert_eq!(
            texts("data:text/plain,ottilie%40example.org"),
            ["ottilie@example.org"]
        );
    }

    #[test]
    fn ids_hashes_and_binary_are_not_text() {
        for v in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "550e8400-e29b-41d4-a716-446655440000",
            "tok_k2_wka5ohxRI8BOHx8aTAM9aA",
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "short",
            "two words here",
            "a+b-c_d/efghijklmnop",
        ] {
            assert!(texts(v).is_empty(), "{v}");
        }
    }

    #[test]
    fn a_long_value_is_read_in_overlapping_windows() {
        use base64::engine::general_purpose::STANDARD as PADDED;
        let text = format!(
            "{} ottilie@example.org {}",
            "x".repeat(700),
            "y".repeat(900)
        );
        let encoded = PADDED.encode(&text);
        let windows = texts(&encoded);
        assert!(windows.len() >= 2, "{}", windows.len());
        assert!(windows.iter().any(|w| w.contains("ottilie@example.org")));
    }
}
