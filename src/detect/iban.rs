//! International Bank Account Numbers (ISO 13616).
//!
//! Two letters of a country in the IBAN registry, two check digits, then a BBAN of the exact
//! length that country registers, letters and digits; electronic form (`DE89370400440532013000`)
//! or the print form in groups of four (`DE89 3704 0044 0532 0130 00`). The mod-97 check
//! (ISO 7064) runs over the rearranged characters without building the rearranged string.

/// `(country, total length)` from the SWIFT IBAN registry, plus a few national IBANs in
/// everyday use that the registry lists as experimental.
const LENGTHS: &[(&[u8; 2], u8)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
    // Experimental (national use): Algeria, Angola, Cameroon, Iran, Morocco, Senegal.
    (b"DZ", 26),
    (b"AO", 25),
    (b"CM", 27),
    (b"IR", 26),
    (b"MA", 28),
    (b"SN", 28),
];

const MAX: usize = 34;

/// Whether `s` is one IBAN, compact or grouped by fours. Letters may be lower case.
///
/// The groups are separated by single spaces (the print form) or, as people also write it
/// and every bank form reads it, by single dashes or dots — one kind throughout: the
/// country's length and the mod-97 check still decide.
pub(crate) fn is_iban(s: &[u8]) -> bool {
    if s.len() < 15 || s.len() > MAX + MAX / 4 {
        return false;
    }
    let mut chars = [0u8; MAX];
    let mut n = 0;
    let mut since_space = 0;
    let mut spaced = false;
    let mut separator = None;
    for &b in s {
        if matches!(b, b' ' | b'-' | b'.') {
            // Groups of exactly four, single separators of one kind.
            if since_space != 4 || separator.is_some_and(|x| x != b) {
                return false;
            }
            separator = Some(b);
            spaced = true;
            since_space = 0;
            continue;
        }
        if !b.is_ascii_alphanumeric() || n == MAX {
            return false;
        }
        chars[n] = b.to_ascii_uppercase();
        n += 1;
        since_space += 1;
        if since_space > 4 && spaced {
            return false;
        }
    }
    if spaced && since_space == 0 {
        return false;
    }
    let c = &chars[..n];
    if !(c[0].is_ascii_alphabetic()
        && c[1].is_ascii_alphabetic()
        && c[2].is_ascii_digit()
        && c[3].is_ascii_digit())
    {
        return false;
    }
    let Some(&(_, len)) = LENGTHS.iter().find(|(cc, _)| cc[..] == c[..2]) else {
        return false;
    };
    n == usize::from(len) && mod97(c) == 1
}

/// ISO 7064 MOD 97-10 over the rearranged IBAN (first four characters moved to the end,
/// letters as 10..=35), streamed.
fn mod97(c: &[u8]) -> u32 {
    c[4..].iter().chain(&c[..4]).fold(0u32, |acc, &b| {
        if b.is_ascii_digit() {
            (acc * 10 + u32::from(b - b'0')) % 97
        } else {
            (acc * 100 + u32::from(b - b'A') + 10) % 97
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, bool)] = &[
        // Registry examples, electronic and print form.
        ("DE89370400440532013000", true),
        ("DE89 3704 0044 0532 0130 00", true),
        ("GB82WEST12345698765432", true),
        ("GB82 WEST 1234 5698 7654 32", true),
        ("FR1420041010050500013M02606", true),
        ("PK36SCBL0000001123456702", true),
        ("NO9386011117947", true),
        // Lower case is what people paste.
        ("gb82west12345698765432", true),
        // One digit changed: mod-97 fails.
        ("DE89370400440532013001", false),
        // Right checksum shape but wrong length for the country.
        ("DE8937040044053201300", false),
        // Unknown country.
        ("XX89370400440532013000", false),
        // Bad grouping.
        ("DE89 37040044 0532 0130 00", false),
        ("DE89  3704 0044 0532 0130 00", false),
        ("DE89 3704 0044 0532 0130 00 ", false),
        // A hex id and a SHA-1 prefix.
        ("9f86d081884c7d659a2feaa0c55ad015", false),
        // Dashes and dots between the groups, one kind throughout.
        ("DE89-3704-0044-0532-0130-00", true),
        ("DE89.3704.0044.0532.0130.00", true),
        ("DE89-3704 0044-0532-0130-00", false),
        ("DE89--3704-0044-0532-0130-00", false),
        ("DE89-37040044-0532-0130-00", false),
    ];

    #[test]
    fn table() {
        for &(s, want) in CASES {
            assert_eq!(is_iban(s.as_bytes()), want, "{s}");
        }
    }
}
