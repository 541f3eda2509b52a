//! Email addresses.
//!
//! The practical subset of RFC 5321/5322 that real payloads carry: a dot-atom local part (no
//! quoted strings, no comments), one `@`, and a domain of at least two LDH labels whose last
//! label is alphabetic (or an `xn--` IDN label). Non-ASCII bytes are accepted inside labels
//! and the local part (RFC 6531 addresses). The caller's prefilter has already counted exactly
//! one `@`, so this runs only on candidates.

/// Bytes of a local part: letters, digits, the specials of RFC 5322's `atext`, `.` (checked
/// for place separately) and non-ASCII bytes.
static LOCAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || c >= 0x80
            || matches!(
                c,
                b'.' | b'!'
                    | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'/'
                    | b'='
                    | b'?'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Bytes of a domain label: letters, digits, `-` and non-ASCII bytes.
static LABEL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c >= 0x80;
        b += 1;
    }
    t
};

/// Whether `b` may stand in a local part (a `.` also has its place checked).
pub(crate) fn local_byte(b: u8) -> bool {
    LOCAL[usize::from(b)]
}

/// Whether an address whose local part starts at `start` of `s` is a whole segment of a URL's
/// path (`/users/kai@example.org/settings`): after a single `/`, not after the `//` that opens
/// an authority (`ssh://git@host/…`, where it is a user name). Such an address followed by
/// `/` is still an address, where `user@host/path` is not.
pub(crate) fn path_segment(s: &[u8], start: usize) -> bool {
    start >= 1 && s[start - 1] == b'/' && (start < 2 || s[start - 2] != b'/')
}

/// Whether `s` is exactly one email address.
///
/// Each part is read once, by table: the span scanner calls this for every address-shaped
/// candidate of a mail (links, footers), and the whole-value detector for every leaf with an
/// `@`.
pub(crate) fn is_email(s: &[u8]) -> bool {
    let Some(at) = memchr::memchr(b'@', s) else {
        return false;
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    local_part(local) && domain_part(domain)
}

/// A dot-atom: no dot at either end, none doubled.
fn local_part(l: &[u8]) -> bool {
    if l.is_empty() || l.len() > 64 || l[0] == b'.' || l[l.len() - 1] == b'.' {
        return false;
    }
    let mut prev_dot = false;
    for &b in l {
        let dot = b == b'.';
        if !local_byte(b) || (dot && prev_dot) {
            return false;
        }
        prev_dot = dot;
    }
    true
}

/// At least two labels of 1 to 63 bytes that neither start nor end with `-`; the last one
/// alphabetic (or an `xn--` IDN label) and no file extension.
fn domain_part(d: &[u8]) -> bool {
    if d.len() < 4 || d.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut start = 0;
    for (i, &b) in d.iter().enumerate() {
        if b == b'.' {
            if !label(&d[start..i]) {
                return false;
            }
            labels += 1;
            start = i + 1;
        } else if !LABEL[usize::from(b)] {
            return false;
        }
    }
    let last = &d[start..];
    if labels < 1 || !label(last) || last.len() < 2 {
        return false;
    }
    let tld_ok = last.iter().all(|&b| b.is_ascii_alphabetic() || b >= 0x80)
        || (last.len() > 4 && last[..4].eq_ignore_ascii_case(b"xn--"));
    tld_ok && !file_extension(last)
}

/// A label's length and ends (its bytes are checked by the caller).
#[inline(always)]
fn label(l: &[u8]) -> bool {
    !l.is_empty() && l.len() <= 63 && l[0] != b'-' && l[l.len() - 1] != b'-'
}

/// File extensions that look like top-level domains after an `@` in asset names
/// (`logo@2x.png`), ignoring ASCII case. None of them is a delegated TLD.
fn file_extension(last: &[u8]) -> bool {
    if !(2..=4).contains(&last.len()) {
        return false;
    }
    let mut b = [0u8; 4];
    for (d, s) in b.iter_mut().zip(last) {
        *d = s.to_ascii_lowercase();
    }
    matches!(
        &b[..last.len()],
        b"png"
            | b"jpg"
            | b"jpeg"
            | b"gif"
            | b"svg"
            | b"webp"
            | b"avif"
            | b"ico"
            | b"bmp"
            | b"tif"
            | b"tiff"
            | b"heic"
            | b"mp4"
            | b"mov"
            | b"webm"
            | b"pdf"
            | b"css"
            | b"js"
            | b"json"
            | b"html"
            | b"txt"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, bool)] = &[
        ("alice@example.com", true),
        ("Alice.Smith+tag@mail.example.co.uk", true),
        // Plus addressing, digits, dashes and underscores in both parts.
        ("user_01-x@sub-domain.example.org", true),
        ("o'brien@example.ie", true),
        // RFC 6531 internationalised address.
        ("jürgen@müller.de", true),
        ("info@xn--mller-kva.de", true),
        // Two-letter ccTLD.
        ("a@b.io", true),
        // No dot in the domain: a local hostname, not an address anyone can mail.
        ("root@localhost", false),
        // Retina asset names.
        ("logo@2x.png", false),
        ("icon@3x.webp", false),
        // git remotes and npm scopes.
        ("git@github.com:org/repo.git", false),
        ("@scope/pkg", false),
        // Dots at the edges or doubled.
        (".a@example.com", false),
        ("a.@example.com", false),
        ("a..b@example.com", false),
        ("a@example..com", false),
        ("a@-example.com", false),
        // Numeric TLD.
        ("a@10.0.0.1", false),
        ("a@example.c", false),
        ("a b@example.com", false),
        ("a@", false),
        ("@example.com", false),
    ];

    /// The rules written out plainly, one check at a time: the table-driven reader must agree.
    fn plain_reading(s: &[u8]) -> bool {
        const EXTENSIONS: &[&[u8]] = &[
            b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"avif", b"ico", b"bmp", b"tif",
            b"tiff", b"heic", b"mp4", b"mov", b"webm", b"pdf", b"css", b"js", b"json", b"html",
            b"txt",
        ];
        let Some(at) = s.iter().position(|&b| b == b'@') else {
            return false;
        };
        let (l, d) = (&s[..at], &s[at + 1..]);
        let atext =
            |b: u8| b.is_ascii_alphanumeric() || b >= 0x80 || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
        let local = !l.is_empty()
            && l.len() <= 64
            && l.split(|&b| b == b'.')
                .all(|a| !a.is_empty() && a.iter().all(|&b| atext(b)));
        let labels: Vec<&[u8]> = d.split(|&b| b == b'.').collect();
        let last = labels[labels.len() - 1];
        let domain = (4..=253).contains(&d.len())
            && labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with(b"-")
                    && !l.ends_with(b"-")
                    && l.iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80)
            })
            && last.len() >= 2
            && (last.iter().all(|&b| b.is_ascii_alphabetic() || b >= 0x80)
                || (last.len() > 4 && last[..4].eq_ignore_ascii_case(b"xn--")))
            && !EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(last));
        local && domain
    }

    proptest::proptest! {
        #[test]
        fn the_table_reader_agrees_with_the_plain_reading(
            s in "[a-z0-9.'+@-]{0,6}@[a-zA-Z0-9-]{0,4}(\\.[a-zA-Z0-9-]{0,5}){0,3}(\\.(xn--[a-z]{0,3}|PnG|jS|cOm|c0m|a))?",
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            proptest::prop_assert_eq!(is_email(s.as_bytes()), plain_reading(s.as_bytes()), "{}", s);
            proptest::prop_assert_eq!(is_email(&raw), plain_reading(&raw));
        }
    }

    #[test]
    fn table() {
        for &(s, want) in CASES {
            assert_eq!(is_email(s.as_bytes()), want, "{s}");
            assert_eq!(plain_reading(s.as_bytes()), want, "{s}");
        }
    }
}
