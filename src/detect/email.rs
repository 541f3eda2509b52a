//! Email addresses.
//!
//! The practical subset of RFC 5321/5322 that real payloads carry: a dot-atom local part (no
//! quoted strings, no comments), one `@`, and a domain of at least two LDH labels whose last
//! label is alphabetic (or an `xn--` IDN label). Non-ASCII bytes are accepted inside labels
//! and the local part (RFC 6531 addresses). The caller's prefilter has already counted exactly
//! one `@`, so this runs only on candidates.

use super::file_name;

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
    tld_ok && !file_name::is_extension(last)
}

/// A label's length and ends (its bytes are checked by the caller).
#[inline(always)]
fn label(l: &[u8]) -> bool {
    !l.is_empty() && l.len() <= 63 && l[0] != b'-' && l[l.len() - 1] != b'-'
}

/// The length of `s` without a file extension glued to an address (`jane@example.org.pdf`,
/// `report-jane@example.org.csv`: a file named after its recipient), when `s` is no address
/// as a whole but the part before the extension is one. The caller tries this only after
/// [`is_email`] failed, so ordinary addresses pay nothing.
pub(crate) fn before_file_extension(s: &[u8]) -> Option<usize> {
    let dot = memchr::memrchr(b'.', s)?;
    let ext = &s[dot + 1..];
    (file_name::is_extension(ext) && is_email(&s[..dot])).then_some(dot)
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
        // A file named after its recipient is not itself an address.
        ("jane.doe@example.org.pdf", false),
        ("jane.doe@example.org.csv", false),
    ];

    /// The rules written out plainly, one check at a time: the table-driven reader must agree.
    fn plain_reading(s: &[u8]) -> bool {
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
            && !file_name::is_extension(last);
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
    fn a_file_extension_after_an_address_ends_it() {
        for (s, want) in [
            ("jane.doe@example.org.pdf", Some("jane.doe@example.org")),
            (
                "report-jane.doe@example.org.CSV",
                Some("report-jane.doe@example.org"),
            ),
            ("a.b@example.co.uk.txt", Some("a.b@example.co.uk")),
            ("jane@example.org.docx", Some("jane@example.org")),
            // What is left is no address: an asset name, a host without a dot.
            ("logo@2x.png", None),
            ("icon@3x.webp", None),
            ("root@localhost.txt", None),
            // Not a file extension, or an address already.
            ("jane@example.org.uk", None),
            ("jane@example.org", None),
            ("jane@example.zip", None),
        ] {
            let got = before_file_extension(s.as_bytes()).map(|k| &s[..k]);
            assert_eq!(got, want, "{s}");
        }
    }

    proptest::proptest! {
        /// An address and one extension: cut exactly there; an address alone: no cut.
        #[test]
        fn the_cut_is_the_address_and_nothing_else(
            local in "[a-z][a-z0-9.+-]{0,8}[a-z0-9]",
            domain in "[a-z][a-z0-9-]{0,6}[a-z0-9](\\.[a-z]{2,6}){1,2}",
            ext in "(pdf|csv|txt|png|docx|xlsx|json|PDF)",
        ) {
            let addr = format!("{local}@{domain}");
            proptest::prop_assume!(is_email(addr.as_bytes()) && !local.contains(".."));
            let file = format!("{addr}.{ext}");
            proptest::prop_assert_eq!(before_file_extension(file.as_bytes()), Some(addr.len()));
            proptest::prop_assert_eq!(before_file_extension(addr.as_bytes()), None);
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
