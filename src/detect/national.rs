//! Government identity numbers with a fixed shape: Pakistani CNIC and US SSN.
//!
//! Both are written with dashes in a shape nothing else in a payload has (`12345-1234567-1`,
//! `123-45-6789`), so the dashed forms count on their own. Their bare digit forms (13 and 9
//! digits) collide with order ids, so those count only under a key that names them.

/// Whether `s` is a CNIC: `PPPPP-NNNNNNN-G`, or 13 bare digits when `bare` (the key names a
/// CNIC or national id). The first digit is a province code, 1–7.
pub(crate) fn is_cnic(s: &[u8], bare: bool) -> bool {
    let ok = match s.len() {
        15 => {
            s[5] == b'-'
                && s[13] == b'-'
                && digits(&s[..5])
                && digits(&s[6..13])
                && s[14].is_ascii_digit()
        }
        13 => bare && digits(s),
        _ => false,
    };
    ok && (b'1'..=b'7').contains(&s[0])
}

/// Whether `s` is an SSN the SSA could have issued: `AAA-GG-SSSS` (or spaced), or 9 bare
/// digits when `bare` (the key names an SSN). Never issued: area 000, 666 and 900–999, group
/// 00, serial 0000 (SSA, "Social Security Number Randomization", 2011), and two numbers
/// published in advertising that the SSA voided (078-05-1120, 219-09-9999).
pub(crate) fn is_ssn(s: &[u8], bare: bool) -> bool {
    let mut d = [0u8; 9];
    match s.len() {
        11 => {
            let sep = s[3];
            if !(sep == b'-' || sep == b' ') || s[6] != sep {
                return false;
            }
            let (a, g, n) = (&s[..3], &s[4..6], &s[7..]);
            if !(digits(a) && digits(g) && digits(n)) {
                return false;
            }
            d[..3].copy_from_slice(a);
            d[3..5].copy_from_slice(g);
            d[5..].copy_from_slice(n);
        }
        9 if bare && digits(s) => d.copy_from_slice(s),
        _ => return false,
    }
    let (area, group, serial) = (&d[..3], &d[3..5], &d[5..]);
    area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && group != b"00"
        && serial != b"0000"
        && &d != b"078051120"
        && &d != b"219099999"
}

fn digits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (value, bare allowed, is a CNIC)
    const CNIC: &[(&str, bool, bool)] = &[
        ("35202-1234567-1", false, true),
        ("61101-7654321-8", false, true),
        // Bare 13 digits need a key that says CNIC.
        ("3520212345671", true, true),
        ("3520212345671", false, false),
        // Province code 8, 9 and 0 do not exist.
        ("85202-1234567-1", false, false),
        ("05202-1234567-1", false, false),
        // Wrong grouping.
        ("352021-234567-1", false, false),
        ("35202-1234567-12", false, false),
        ("35202 1234567 1", false, false),
        ("3520-21234567-1", false, false),
    ];

    /// (value, bare allowed, is an SSN)
    const SSN: &[(&str, bool, bool)] = &[
        ("123-45-6789", false, true),
        ("536 22 8726", false, true),
        ("536228726", true, true),
        ("536228726", false, false),
        // SSA never-issued ranges.
        ("000-12-3456", false, false),
        ("666-12-3456", false, false),
        ("900-12-3456", false, false),
        ("987-65-4321", false, false),
        ("123-00-4567", false, false),
        ("123-45-0000", false, false),
        // Voided advertising numbers.
        ("078-05-1120", false, false),
        ("219-09-9999", false, false),
        // Mixed separators, wrong shapes (a NANP phone, a date).
        ("123-45 6789", false, false),
        ("415-555-0100", false, false),
        ("2024-01-15", false, false),
    ];

    #[test]
    fn tables() {
        for &(s, bare, want) in CNIC {
            assert_eq!(is_cnic(s.as_bytes(), bare), want, "cnic {s}");
        }
        for &(s, bare, want) in SSN {
            assert_eq!(is_ssn(s.as_bytes(), bare), want, "ssn {s}");
        }
    }
}
