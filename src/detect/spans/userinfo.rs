//! The password of a URL's userinfo (`https://deploy:s3cret@db.example.com/`), wherever a URL
//! is written: a link's `href`, a URL-valued text, a URL pasted into a ticket.
//!
//! A password is no value the detectors recognise by its shape, yet every URL parser hands it
//! over (`Url::password`), and a recipient who has it can log in as the link's author. It is
//! found by its place, as URL parsers find it: after the authority's `//`, between the first
//! `:` of the userinfo and the userinfo's end, the authority's *last* `@`. Only the `@` the
//! finder stops at anyway pays: a look back for the `//` and a look ahead for a later `@`,
//! each bounded by [`MAX_AUTHORITY`] bytes and stopped by the first byte that ends an
//! authority.

/// Bytes read back from an `@` for its authority's `//`, and ahead for a later `@`: an
/// authority longer than this (no real one is) is not looked into.
const MAX_AUTHORITY: usize = 512;

use super::decode::{Mode, Unit, bwd, fwd};

/// Whether `b` ends a URL's authority as written in a text: a path, query or fragment
/// delimiter (`\` too, which browsers read as `/`), whitespace, a quote, an angle bracket or a
/// NUL (no URL parser reads a host through one; the scan reads it as a stop).
fn ends_authority(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            0 | b'/' | b'?' | b'#' | b'\\' | b'"' | b'\'' | b'<' | b'>'
        )
}

/// Whether a URL written at `raw[at]` of the segment starting at `start` sits in a parameter
/// of the URL the segment is: read as a URL, with a `?` or `#` before it. There a literal `&`
/// or `=` ends the parameter and with it the URL inside (`?next=https://u:pw@host/&n=1`);
/// in the authority or the path of the segment's own URL a URL parser reads them as any other
/// byte (`https://u:p&w=1@host/`), and they are part of a password.
pub(super) fn in_parameter(raw: &[u8], start: usize, at: usize, m: Mode) -> bool {
    m.has(Mode::URL) && memchr::memchr2(b'?', b'#', &raw[start..at]).is_some()
}

/// A literal `&` or `=`: what ends a URL inside a parameter.
fn ends_parameter(b: u8) -> bool {
    matches!(b, b'&' | b'=')
}

/// The password of the URL whose userinfo ends at the `@` unit at `raw[at..at + at_len]`, as a
/// range of `raw[lo..hi]` (not empty); `None` when that `@` ends no userinfo (an address,
/// an `@` the userinfo holds before its last one) or the userinfo has no password. A
/// password that starts before `lo` (part of it already taken by another span) is the part
/// from `lo`. `start` is the segment's start and `m` its decoding.
///
/// The `@` may be written escaped (`&#64;`, `&commat;`, `%40`): an HTML parser hands the
/// URL parser a literal `@` for a reference, and whoever decodes the text reads one for
/// `%40`. A URL written whole inside another one's parameter
/// (`?next=https%3A%2F%2Fu%3Apw%40host%2F`) is read through the decoding: its `://`, `:` and
/// delimiters are escaped too, and the parameter's reader decodes them all.
#[allow(clippy::too_many_arguments)]
pub(crate) fn password(
    raw: &[u8],
    lo: usize,
    hi: usize,
    at: usize,
    at_len: usize,
    start: usize,
    m: Mode,
) -> Option<(usize, usize)> {
    // Back: the `//` after a scheme (`https:`, `ftp:`, `postgres:`), with nothing between it
    // and the `@` that ends an authority. Most `@`s are an address's, in a text or a
    // `mailto:` link: a space or a quote ends this look a few bytes back.
    let floor = at.saturating_sub(MAX_AUTHORITY).max(start);
    let mut p = at;
    // Asked once, when the walk meets an `&` or `=` (few authorities hold one).
    let mut param = None;
    let mut ends = |b: u8| {
        ends_authority(b)
            || (ends_parameter(b) && *param.get_or_insert_with(|| in_parameter(raw, start, at, m)))
    };
    while p > floor && !ends(raw[p - 1]) {
        p -= 1;
    }
    if p >= 3 && raw[p - 3..p] == *b"://" && scheme_before(raw, p - 3) {
        let colon = memchr::memchr(b':', &raw[p..at]).map(|k| p + k)?;
        // The same bytes end the authority ahead as behind: a literal `&` read as a stop by
        // the scan is a password's byte here unless the URL sits in a parameter.
        if later_at(raw, at + at_len, hi, m, |u, k| {
            let b = raw_char(raw, u, k);
            (b, ends(b))
        }) {
            return None;
        }
        let from = (colon + 1).max(lo);
        return (from < at).then_some((from, at));
    }
    // A URL escaped whole has its scheme's `:` escaped, before the `//` the walk stopped at
    // (`https%3A//u%3Apw@host`) or inside what it read (`https%3A%2F%2Fu%3Apw%40host`). Most
    // `@`s, an address's, have neither and leave here.
    let colon_escaped = |s: &[u8]| {
        memchr::memchr_iter(b'%', s).any(|i| {
            s.get(i + 1..i + 3)
                .is_some_and(|h| h.eq_ignore_ascii_case(b"3a"))
        })
    };
    let before_slashes = p >= 5 && raw[p - 2..p] == *b"//" && colon_escaped(&raw[p - 5..p - 2]);
    if !m.has(Mode::PCT) || !(before_slashes || colon_escaped(&raw[p..at])) {
        return None;
    }
    decoded_password(raw, lo, hi, at, at_len, start, m)
}

/// [`password`] for a URL whose `://` is escaped: every unit read decoded.
fn decoded_password(
    raw: &[u8],
    lo: usize,
    hi: usize,
    at: usize,
    at_len: usize,
    start: usize,
    m: Mode,
) -> Option<(usize, usize)> {
    let floor = at.saturating_sub(MAX_AUTHORITY).max(start);
    let mut p = at;
    while p > floor {
        let u = bwd(raw, p, start, m);
        if ends_authority(u.b) {
            break;
        }
        p -= u.len;
    }
    // `://`, each byte written as is or escaped.
    let mut q = p;
    for want in [b'/', b'/', b':'] {
        if q <= start {
            return None;
        }
        let u = bwd(raw, q, start, m);
        if u.b != want && !(u.len == 1 && raw[q - 1] == want) {
            return None;
        }
        q -= u.len;
    }
    if !scheme_before(raw, q) {
        return None;
    }
    // The userinfo's first `:`.
    let mut k = p;
    let colon_end = loop {
        if k >= at {
            return None;
        }
        let u = fwd(raw, k, hi, m);
        k += u.len;
        if u.b == b':' {
            break k;
        }
    };
    if later_at(raw, at + at_len, hi, m, |u, _| (u.b, ends_authority(u.b))) {
        return None;
    }
    let from = colon_end.max(lo);
    (from < at).then_some((from, at))
}

/// What a unit at `raw[k]` reads as where delimiters are written literally: the byte itself
/// when it stands alone (a literal `/` is a delimiter even where the scan reads it as a stop),
/// else its decoding.
fn raw_char(raw: &[u8], u: Unit, k: usize) -> u8 {
    if u.len == 1 { raw[k] } else { u.b }
}

/// Whether an `@` unit follows `from` before the authority ends (`char` says what a unit
/// reads as and whether it ends the authority): the userinfo's end is its last `@`.
fn later_at(
    raw: &[u8],
    from: usize,
    hi: usize,
    m: Mode,
    mut char: impl FnMut(Unit, usize) -> (u8, bool),
) -> bool {
    let end = hi.min(from + MAX_AUTHORITY);
    let mut k = from;
    while k < end {
        let u = fwd(raw, k, end, m);
        let (b, ends) = char(u, k);
        if ends {
            return false;
        }
        if b == b'@' {
            return true;
        }
        k += u.len;
    }
    false
}

/// Whether a URL scheme (a letter, then letters, digits, `+ - .`) ends at `colon`, after a
/// byte that cannot continue it.
fn scheme_before(raw: &[u8], colon: usize) -> bool {
    let mut s = colon;
    while s > 0 && (raw[s - 1].is_ascii_alphanumeric() || matches!(raw[s - 1], b'+' | b'-' | b'.'))
    {
        s -= 1;
    }
    s < colon && raw[s].is_ascii_alphabetic()
}

/// Whether `raw[start..end]` is the whole user name of a URL's userinfo, a password after it
/// (`https://kai@example.org:pw@host/`): right after the authority's `//`, and a `:` then
/// the userinfo's last `@` follow before the authority ends. A remote's
/// `ssh://git@host:22/repo` has no such `@`.
pub(crate) fn user_name(raw: &[u8], start: usize, end: usize, hi: usize) -> bool {
    if start < 3 || raw[start - 3..start] != *b"://" || raw.get(end) != Some(&b':') {
        return false;
    }
    raw[end..hi.min(end + MAX_AUTHORITY)]
        .iter()
        .take_while(|&&b| !ends_authority(b))
        .any(|&b| b == b'@')
}

/// Whether `raw` holds a URL with a password anywhere, its `@` written as is or escaped (read
/// as free text is: references and percent escapes decoded): the detector's gate before it
/// asks the scanner (which finds the same ones).
pub(crate) fn any_password(raw: &[u8]) -> bool {
    let m = Mode::ENT.with(Mode::PCT);
    memchr::memchr3_iter(b'@', b'%', b'&', raw).any(|at| {
        let u = fwd(raw, at, raw.len(), m);
        u.b == b'@' && password(raw, 0, raw.len(), at, u.len, 0, m).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The passwords before each `@` unit of `s`, read as free text (references and percent
    /// escapes decoded) or, with `url`, as a URL (literal `/ ? # & =` are delimiters).
    fn found_as(s: &str, url: bool) -> Vec<&str> {
        let raw = s.as_bytes();
        let mut m = Mode::ENT.with(Mode::PCT);
        if url {
            m = m.with(Mode::URL).with(Mode::PLUS);
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let u = fwd(raw, i, raw.len(), m);
            if u.b == b'@'
                && let Some((a, b)) = password(raw, 0, raw.len(), i, u.len, 0, m)
            {
                out.push(&s[a..b]);
            }
            i += u.len;
        }
        out
    }

    fn found(s: &str) -> Vec<&str> {
        found_as(s, false)
    }

    #[test]
    fn an_escaped_at_ends_the_userinfo_and_a_url_escaped_whole_is_read_decoded() {
        for url in [false, true] {
            for (text, want) in [
                ("https://deploy:s3cret%40db.example.com/x", vec!["s3cret"]),
                ("https://deploy:s3cret&#64;db.example.com/x", vec!["s3cret"]),
                (
                    "ftp://u:Tr0ub4dor&commat;files.example/p.png",
                    vec!["Tr0ub4dor"],
                ),
                ("https://admin:hunter2&#x40;10.0.0.5:8080/", vec!["hunter2"]),
                // A literal `@` after an escaped one is the userinfo's end.
                ("https://u:pa%40ss@host/", vec!["pa%40ss"]),
                ("https://u:pa@ss%40host/", vec!["pa@ss"]),
                (
                    "https://t.example/r?next=https%3A%2F%2Fadmin%3Ahunter2%40db.example.com%2F&n=1",
                    vec!["hunter2"],
                ),
                (
                    "https://t.example/r?next=https%3A//u%3ATr0ub4dor@files.example/",
                    vec!["Tr0ub4dor"],
                ),
                ("https://t.example/r?e=alice%40example.com&n=1", vec![]),
                ("mailto:alice%40example.com", vec![]),
                ("https://t.example/r?u=https%3A%2F%2Fkai%40host%2F", vec![]),
            ] {
                assert_eq!(found_as(text, url), want, "{text} (as a URL: {url})");
            }
        }
    }

    #[test]
    fn read_as_a_url_an_ampersand_ends_a_password_only_inside_a_parameter() {
        for (text, want) in [
            ("https://u:p&w=1@host/", vec!["p&w=1"]),
            ("https://u:a%40b&c%40host/x", vec!["a%40b&c"]),
            (
                "https://t.example/r?next=https://u:pw@host/&n=1",
                vec!["pw"],
            ),
            ("https://t.example/r?next=https://u:p&w@host/", vec![]),
            ("https://t.example/#https://u:p=w@host/", vec![]),
            ("https://h.example:\0=a%40b%40c", vec![]),
        ] {
            assert_eq!(found_as(text, true), want, "{text}");
        }
        // Read as free text, no `&` ends a parameter.
        assert_eq!(
            found("https://t.example/r?next=https://u:p&w@host/"),
            ["p&w"]
        );
    }

    #[test]
    fn the_password_is_between_the_userinfos_first_colon_and_its_last_at() {
        for (text, want) in [
            (
                "see https://deploy:s3cret@db.example.com/x ok",
                vec!["s3cret"],
            ),
            (
                "postgres://app:p%40ss:w0rd@10.0.0.5:5432/db",
                vec!["p%40ss:w0rd"],
            ),
            ("https://kai@example.org:pw@shop.example/", vec!["pw"]),
            (
                "<a href=\"ftp://u:hunter2@files.example\">",
                vec!["hunter2"],
            ),
            ("https://a:1@h https://b:2@h", vec!["1", "2"]),
        ] {
            assert_eq!(found(text), want, "{text}");
        }
    }

    #[test]
    fn addresses_user_names_alone_and_empty_passwords_are_no_password() {
        for text in [
            "write to kai@example.org:443 or kai@example.org",
            "https://kai@shop.example/",
            "https://kai:@shop.example/",
            "https://shop.example/users/kai:x@example.org",
            "git@github.com:org/repo.git",
            "not a url: //a:b@c",
            "mailto:kai:x@example.org",
        ] {
            assert!(found(text).is_empty(), "{text}");
        }
    }

    proptest! {
        /// Whatever surrounds it, a password found is inside the text, ends at an `@` and
        /// holds no byte that ends an authority.
        #[test]
        fn passwords_found_are_inside_one_authority(s in "([a-z:/@. ?#]|https://|u:p@){0,40}") {
            let raw = s.as_bytes();
            for at in memchr::memchr_iter(b'@', raw) {
                if let Some((a, b)) = password(raw, 0, raw.len(), at, 1, 0, Mode::PCT) {
                    prop_assert!(a < b && b == at);
                    prop_assert!(!raw[a..b].iter().any(|&c| ends_authority(c)));
                }
            }
        }
    }
}
