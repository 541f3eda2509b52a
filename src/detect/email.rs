//! Email addresses.
//!
//! The practical subset of RFC 5321/5322 that real payloads carry: a dot-atom local part (no
//! quoted strings, no comments), one `@`, and a domain of at least two LDH labels whose last
//! label is alphabetic (or an `xn--` IDN label). Non-ASCII bytes are accepted inside labels
//! and the local part (RFC 6531 addresses). The caller's prefilter has already counted exactly
//! one `@`, so this runs only on candidates.

/// File extensions that look like top-level domains after an `@` in asset names
/// (`logo@2x.png`). None of them is a delegated TLD.
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"avif", b"ico", b"bmp", b"tif", b"tiff",
    b"heic", b"mp4", b"mov", b"webm", b"pdf", b"css", b"js", b"json", b"html", b"txt",
];

/// Whether `s` is exactly one email address.
pub(crate) fn is_email(s: &[u8]) -> bool {
    let Some(at) = memchr::memchr(b'@', s) else {
        return false;
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    local_part(local) && domain_part(domain)
}

fn local_part(l: &[u8]) -> bool {
    if l.is_empty() || l.len() > 64 || l[0] == b'.' || l[l.len() - 1] == b'.' {
        return false;
    }
    let mut prev_dot = false;
    for &b in l {
        let ok = match b {
            b'.' => !prev_dot,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => true,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'/' | b'=' | b'?'
            | b'^' | b'_' | b'`' | b'{' | b'|' | b'}' | b'~' => true,
            0x80..=0xff => true,
            _ => false,
        };
        if !ok {
            return false;
        }
        prev_dot = b == b'.';
    }
    true
}

fn domain_part(d: &[u8]) -> bool {
    if d.len() < 4 || d.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in d.split(|&b| b == b'.') {
        if label.is_empty()
            || label.len() > 63
            || label[0] == b'-'
            || label[label.len() - 1] == b'-'
        {
            return false;
        }
        if !label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80)
        {
            return false;
        }
        labels += 1;
        last = label;
    }
    if labels < 2 || last.len() < 2 {
        return false;
    }
    let tld_ok = last.iter().all(|&b| b.is_ascii_alphabetic() || b >= 0x80)
        || (last.len() > 4 && last[..4].eq_ignore_ascii_case(b"xn--"));
    tld_ok
        && !FILE_EXTENSIONS
            .iter()
            .any(|ext| ext.eq_ignore_ascii_case(last))
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

    #[test]
    fn table() {
        for &(s, want) in CASES {
            assert_eq!(is_email(s.as_bytes()), want, "{s}");
        }
    }
}
