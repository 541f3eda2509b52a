//! IP addresses, parsed strictly.
//!
//! IPv4 is exactly four decimal octets 0–255 without leading zeros (`010.1.1.1` is octal to
//! some parsers and a version to everyone else). IPv6 is the RFC 4291 §2.2 text form: up to
//! eight groups of 1–4 hex digits, at most one `::`, optionally ending in a dotted IPv4
//! (`::ffff:192.0.2.1`). No ports, prefixes, brackets or zone ids: a value with those is a
//! URL or a config string, not a bare address. `std::net` would do the same parsing, but its
//! IPv4 grammar is not documented as a contract, and these checks run on every dotted string.

/// Whether `s` is one IPv4 address.
pub(crate) fn is_ipv4(s: &[u8]) -> bool {
    if s.len() < 7 || s.len() > 15 {
        return false;
    }
    let mut parts = 0;
    for part in s.split(|&b| b == b'.') {
        parts += 1;
        if parts > 4 || !octet(part) {
            return false;
        }
    }
    parts == 4
}

fn octet(p: &[u8]) -> bool {
    match p {
        [a] => a.is_ascii_digit(),
        [b'1'..=b'9', b] => b.is_ascii_digit(),
        [b'1', b, c] => b.is_ascii_digit() && c.is_ascii_digit(),
        [b'2', b'0'..=b'4', c] => c.is_ascii_digit(),
        [b'2', b'5', b'0'..=b'5'] => true,
        _ => false,
    }
}

/// Whether `s` is one IPv6 address.
pub(crate) fn is_ipv6(s: &[u8]) -> bool {
    if s.len() < 2 || s.len() > 45 {
        return false;
    }
    let mut groups = 0usize;
    let mut compressed = false;
    let mut i = 0;
    // A leading `::`.
    if s.starts_with(b"::") {
        compressed = true;
        i = 2;
        if i == s.len() {
            return true;
        }
    } else if s[0] == b':' {
        return false;
    }
    loop {
        // One group, or a trailing IPv4.
        let start = i;
        while i < s.len() && s[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i < s.len() && s[i] == b'.' {
            // Embedded IPv4 must be last and takes two groups.
            return is_ipv4(&s[start..])
                && groups + 2 <= if compressed { 7 } else { 8 }
                && (compressed || groups + 2 == 8);
        }
        let len = i - start;
        if len == 0 || len > 4 {
            return false;
        }
        groups += 1;
        if i == s.len() {
            break;
        }
        if s[i] != b':' {
            return false;
        }
        i += 1;
        if i < s.len() && s[i] == b':' {
            if compressed {
                return false;
            }
            compressed = true;
            i += 1;
            if i == s.len() {
                break;
            }
        } else if i == s.len() {
            return false; // a single trailing colon
        }
    }
    if compressed { groups <= 7 } else { groups == 8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &[(&str, bool)] = &[
        ("192.168.1.1", true),
        ("0.0.0.0", true),
        ("255.255.255.255", true),
        ("106.144.74.206", true),
        // Versions and dotted ids.
        ("1.2.3", false),
        ("10.0.0.1.5", false),
        ("256.1.1.1", false),
        ("1.2.3.04", false),
        ("01.2.3.4", false),
        ("1..2.3", false),
        ("1.2.3.", false),
        (".1.2.3", false),
        ("1.2.3.4/24", false),
        ("1.2.3.4:80", false),
        ("a.b.c.d", false),
        ("1234.1.1.1", false),
    ];

    const V6: &[(&str, bool)] = &[
        ("2001:db8::1", true),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", true),
        ("ad9c:edde:819d:7ca7:b461:8cd:7217:54ef", true),
        ("::1", true),
        ("::", true),
        ("fe80::", true),
        ("::ffff:192.0.2.1", true),
        ("64:ff9b::192.0.2.33", true),
        ("1:2:3:4:5:6:192.0.2.1", true),
        // Seven groups without `::`, nine groups, two `::`.
        ("1:2:3:4:5:6:7", false),
        ("1:2:3:4:5:6:7:8:9", false),
        ("1::2::3", false),
        // MAC addresses and times.
        ("00:1a:2b:3c:4d:5e", false),
        ("12:30:00", false),
        // Group too long, non-hex, edges.
        ("12345::1", false),
        ("2001:db8::g", false),
        (":1:2:3:4:5:6:7", false),
        ("1:2:3:4:5:6:7:", false),
        ("1:2:3:4:5:6:7:8::", false),
        ("::ffff:192.0.2", false),
        ("1:2:3:4:5:6:7:192.0.2.1", false),
        ("[::1]", false),
        ("fe80::1%eth0", false),
        ("std::string", false),
    ];

    #[test]
    fn tables() {
        for &(s, want) in V4 {
            assert_eq!(is_ipv4(s.as_bytes()), want, "{s}");
        }
        for &(s, want) in V6 {
            assert_eq!(is_ipv6(s.as_bytes()), want, "{s}");
        }
    }
}
