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

/// Whether `b` ends a URL's authority as written in a text: a path, query or fragment
/// delimiter (`\` too, which browsers read as `/`), whitespace, a quote or an angle bracket.
fn ends_authority(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'/' | b'?' | b'#' | b'\\' | b'"' | b'\'' | b'<' | b'>')
}

/// The password of the URL whose userinfo ends at the `@` at `at` (`raw[at] == b'@'`), as a
/// range of `raw[lo..hi]` (not empty); `None` when that `@` ends no userinfo (an address,
/// an `@` the userinfo holds before its last one) or the userinfo has no password. A
/// password that starts before `lo` (part of it already taken by another span) is the part
/// from `lo`.
pub(crate) fn password(raw: &[u8], lo: usize, hi: usize, at: usize) -> Option<(usize, usize)> {
    debug_assert_eq!(raw.get(at), Some(&b'@'));
    // Back: the `//` after a scheme (`https:`, `ftp:`, `postgres:`), with nothing between it
    // and the `@` that ends an authority. Most `@`s are an address's, in a text or a
    // `mailto:` link: a space or a quote ends this look a few bytes back.
    let floor = at.saturating_sub(MAX_AUTHORITY);
    let mut p = at;
    while p > floor && !ends_authority(raw[p - 1]) {
        p -= 1;
    }
    if p < 3 || raw[p - 1] != b'/' || raw[p - 2] != b'/' || raw[p - 3] != b':' {
        return None;
    }
    if !scheme_before(raw, p - 3) {
        return None;
    }
    let colon = memchr::memchr(b':', &raw[p..at]).map(|k| p + k)?;
    // Ahead: the authority's last `@` is its userinfo's end.
    let ahead = &raw[at + 1..hi.min(at + 1 + MAX_AUTHORITY)];
    for &b in ahead {
        if ends_authority(b) {
            break;
        }
        if b == b'@' {
            return None;
        }
    }
    let start = (colon + 1).max(lo);
    (start < at).then_some((start, at))
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

/// Whether `raw` holds a URL with a password anywhere: the detector's gate before it asks the
/// scanner (which finds the same ones).
pub(crate) fn any_password(raw: &[u8]) -> bool {
    memchr::memchr_iter(b'@', raw).any(|at| password(raw, 0, raw.len(), at).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn found(s: &str) -> Vec<&str> {
        let raw = s.as_bytes();
        memchr::memchr_iter(b'@', raw)
            .filter_map(|at| password(raw, 0, raw.len(), at))
            .map(|(a, b)| &s[a..b])
            .collect()
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
                if let Some((a, b)) = password(raw, 0, raw.len(), at) {
                    prop_assert!(a < b && b == at);
                    prop_assert!(!raw[a..b].iter().any(|&c| ends_authority(c)));
                }
            }
        }
    }
}
