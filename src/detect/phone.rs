//! Telephone numbers.
//!
//! A digit-and-separator grammar first (digits, spaces, `- . / ( )`, a leading `+`, an optional
//! extension such as `x123` or `ext. 12`), then plausibility rules by numbering plan rather than
//! one regex per country:
//!
//! - **International**: `+` or a formatted `00` prefix, a country code assigned by ITU-T E.164
//!   (checked by zone), and a national significant number of a length that country uses
//!   (`+92 300 1234567`, `+44(0)20 7946 0958` — the `(0)` trunk is ignored).
//! - **NANP**: exactly `3-3-4` groups, optionally after a `1` (`(415) 555-0100`,
//!   `415.555.0100`, `1-415-555-0100`).
//! - **National with trunk `0`** (UK, DE, FR, IN, PK): formatted with 9–12 digits
//!   (`0300-1234567`, `020 7946 0958`, `(030) 1234567`), or bare with 10–11 digits
//!   (`03001234567`, `07700900123`).
//! - **Indian mobile** as two groups of five starting 6–9 (`98765 43210`).
//!
//! Bare digit runs without a trunk prefix (`4155550100`) are indistinguishable from order ids
//! and timestamps, so they count only when the key says phone (`hint`). Versions (`1.2.3`),
//! dates (`2024-01-15`) and dotted quads fail the group rules.

/// Most digits in a phone number: E.164 allows 15, plus a `00` prefix and a `(0)` trunk.
const MAX_DIGITS: usize = 18;
const MAX_GROUPS: usize = 8;

struct Parsed {
    digits: [u8; MAX_DIGITS],
    nd: usize,
    groups: [u8; MAX_GROUPS],
    /// The first separator byte after each group (0 after the last).
    seps: [u8; MAX_GROUPS],
    ng: usize,
    plus: bool,
    /// Index of a group written as `(0)`: a trunk prefix inside an international number.
    trunk_group: Option<usize>,
}

/// Whether `s` is one telephone number. `hint`: the key names a phone.
pub(crate) fn is_phone(s: &[u8], hint: bool) -> bool {
    // The shapes a document is full of, answered as the grammar below answers them without
    // building its parse: bare digits (order numbers, timestamps) are one group, and
    // `2024-01-15` is a date.
    if !s.is_empty() && s.iter().all(u8::is_ascii_digit) {
        return bare(s, hint);
    }
    if year_first_date(s) {
        return false;
    }
    grammar(s, hint)
}

/// [`is_phone`] by the grammar and the numbering plans.
fn grammar(s: &[u8], hint: bool) -> bool {
    let main = strip_extension(s);
    let Some(p) = parse(main) else {
        return false;
    };
    // A date never starts with `+`: `+44-20-7946-0958` has the groups of `15-01-2024 10`.
    if (!p.plus && date_like(&p)) || zip_plus_four(&p) {
        return false;
    }
    if hint && (7..=15).contains(&p.nd) {
        return true;
    }
    let d = &p.digits[..p.nd];
    let formatted = p.ng > 1;
    let groups = &p.groups[..p.ng];

    if p.plus || (formatted && d.starts_with(b"00") && d.get(2).is_some_and(|&b| b != b'0')) {
        return international(&p);
    }
    // NANP: (415) 555-0100, 415-555-0100, 1 415 555 0100.
    if groups == [3, 3, 4] || (groups == [1, 3, 3, 4] && d[0] == b'1') {
        return true;
    }
    if d.len() >= 2 && d[0] == b'0' && d[1] != b'0' {
        // An ISBN-10 (`0-306-40615-2`) starts with a one-digit group; a trunk never stands alone.
        return if formatted {
            groups[0] >= 2 && (9..=12).contains(&d.len())
        } else {
            (10..=11).contains(&d.len())
        };
    }
    // Indian mobile written 98765 43210.
    groups == [5, 5] && (b'6'..=b'9').contains(&d[0])
}

/// [`is_phone`] of one group of digits: no extension (its digits would be all of it), no
/// date or ZIP+4 shape, not formatted, not international.
fn bare(d: &[u8], hint: bool) -> bool {
    if d.len() > MAX_DIGITS {
        return false;
    }
    if hint && (7..=15).contains(&d.len()) {
        return true;
    }
    d.len() >= 2 && d[0] == b'0' && d[1] != b'0' && (10..=11).contains(&d.len())
}

/// `2024-01-15`, `2024.01.15`, `2024/01/15` exactly: [`date_like`] (the extension check finds
/// no marker before the last two digits: a separator stands there).
fn year_first_date(s: &[u8]) -> bool {
    let digits = |r: std::ops::Range<usize>| s[r].iter().all(u8::is_ascii_digit);
    s.len() == 10
        && matches!(s[4], b'-' | b'.' | b'/')
        && s[7] == s[4]
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
}

/// `15/01/2024 10`, `2024.01.15`: a date (perhaps with the hour after it), not a number.
fn date_like(p: &Parsed) -> bool {
    let g = &p.groups[..p.ng];
    p.ng >= 3
        && p.seps[0] == p.seps[1]
        && matches!(p.seps[0], b'/' | b'.' | b'-')
        && ((g[0] <= 2 && g[1] <= 2 && g[2] == 4) || (g[0] == 4 && g[1] <= 2 && g[2] <= 2))
}

/// `04487-6918`: the US ZIP+4 shape. German numbers of the same digits are written with a
/// space or a slash after the area code.
fn zip_plus_four(p: &Parsed) -> bool {
    !p.plus && p.groups[..p.ng] == [5, 4] && p.seps[0] == b'-'
}

/// The international plan: a country code and a plausible national number length.
fn international(p: &Parsed) -> bool {
    let mut buf = [0u8; MAX_DIGITS];
    let mut n = 0;
    let mut idx = 0;
    // Copy digits, skipping a `(0)` trunk group.
    for (g, &len) in p.groups[..p.ng].iter().enumerate() {
        let len = usize::from(len);
        if Some(g) != p.trunk_group {
            buf[n..n + len].copy_from_slice(&p.digits[idx..idx + len]);
            n += len;
        }
        idx += len;
    }
    let mut d = &buf[..n];
    if !p.plus {
        d = &d[2..]; // the `00` international prefix
    }
    if d.len() > 15 {
        return false;
    }
    let Some(cc) = country_code_len(d) else {
        return false;
    };
    let nsn = d.len() - cc;
    match &d[..cc] {
        b"1" | b"7" => nsn == 10,
        b"92" => (9..=10).contains(&nsn),
        b"44" => (9..=10).contains(&nsn),
        b"91" => nsn == 10,
        b"33" => nsn == 9,
        b"49" => (6..=13).contains(&nsn),
        _ => (7..=13).contains(&nsn),
    }
}

/// Length of the E.164 country code at the start of `d`, by ITU-T zone structure.
fn country_code_len(d: &[u8]) -> Option<usize> {
    const TWO: &[u8] = &[
        20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55,
        56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
    ];
    const THREE: &[u8] = &[
        21, 22, 23, 24, 25, 26, 29, 35, 37, 38, 42, 50, 59, 67, 68, 69, 85, 87, 88, 96, 97, 99,
    ];
    match d.first()? {
        b'1' | b'7' => Some(1),
        b'0' => None,
        &a => {
            let two = (a - b'0') * 10 + (d.get(1)? - b'0');
            if TWO.contains(&two) {
                Some(2)
            } else if THREE.contains(&two) && d.len() > 3 {
                Some(3)
            } else {
                None
            }
        }
    }
}

/// Drops a trailing extension: `x123`, `ext. 12`, `extension 4`, `#5`.
fn strip_extension(s: &[u8]) -> &[u8] {
    let mut i = s.len();
    while i > 0 && s[i - 1].is_ascii_digit() {
        i -= 1;
    }
    let ext_digits = s.len() - i;
    if ext_digits == 0 || ext_digits > 6 || i == 0 {
        return s;
    }
    let mut j = i;
    while j > 0 && s[j - 1] == b' ' {
        j -= 1;
    }
    let head = &s[..j];
    for marker in [&b"extension"[..], b"ext.", b"ext", b"x", b"#"] {
        if head.len() > marker.len()
            && head[head.len() - marker.len()..].eq_ignore_ascii_case(marker)
        {
            let mut k = head.len() - marker.len();
            while k > 0 && matches!(s[k - 1], b' ' | b',' | b';') {
                k -= 1;
            }
            // The marker must follow the number, not be part of a word (`box 12`).
            if k > 0 && (s[k - 1].is_ascii_digit() || s[k - 1] == b')') {
                return &s[..k];
            }
        }
    }
    s
}

fn parse(s: &[u8]) -> Option<Parsed> {
    let mut p = Parsed {
        digits: [0; MAX_DIGITS],
        nd: 0,
        groups: [0; MAX_GROUPS],
        seps: [0; MAX_GROUPS],
        ng: 0,
        plus: false,
        trunk_group: None,
    };
    let mut rest = s;
    if let [b'+', tail @ ..] = rest {
        p.plus = true;
        rest = tail;
    }
    let mut in_group = false;
    let mut open_paren = false;
    let mut group_in_paren = false;
    let mut sep_run = 0;
    let mut parens = 0;
    for &b in rest {
        match b {
            b'0'..=b'9' => {
                if p.nd == MAX_DIGITS {
                    return None;
                }
                if !in_group {
                    if p.ng == MAX_GROUPS {
                        return None;
                    }
                    p.ng += 1;
                    in_group = true;
                    group_in_paren = open_paren;
                }
                p.digits[p.nd] = b;
                p.nd += 1;
                p.groups[p.ng - 1] += 1;
                sep_run = 0;
            }
            b' ' | b'-' | b'.' | b'/' | b'(' | b')' => {
                // A separator must sit between groups or before the first one in `(`.
                if b == b'(' {
                    if open_paren || parens == 2 {
                        return None;
                    }
                    open_paren = true;
                    parens += 1;
                } else if b == b')' {
                    if !open_paren || !in_group || !group_in_paren {
                        return None;
                    }
                    open_paren = false;
                    let g = p.ng - 1;
                    if p.groups[g] == 1 && p.digits[p.nd - 1] == b'0' && p.ng > 1 {
                        p.trunk_group = Some(g);
                    }
                } else if p.ng == 0 || open_paren {
                    return None;
                }
                if in_group {
                    p.seps[p.ng - 1] = b;
                }
                in_group = false;
                sep_run += 1;
                if sep_run > 3 {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if open_paren || p.nd == 0 || !in_group {
        return None;
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (value, hint, is a phone)
    const CASES: &[(&str, bool, bool)] = &[
        // Pakistani mobiles in the three forms people write them.
        ("0300-1234567", false, true),
        ("+92 300 1234567", false, true),
        ("03001234567", false, true),
        ("+923001234567", false, true),
        ("0092 300 1234567", false, true),
        // Pakistani landline with area code.
        ("042-35761234", false, true),
        // NANP.
        ("(415) 555-0100", false, true),
        ("(591)341-7776", false, true),
        ("415-555-0100", false, true),
        ("415.555.0100", false, true),
        ("1-415-555-0100", false, true),
        ("+1-780-563-6083x7783", false, true),
        ("206.269.0743x9150", false, true),
        ("001-415-555-0100x123", false, true),
        ("415-555-0100 ext. 12", false, true),
        // UK, with the `(0)` trunk inside an international number.
        ("+44 20 7946 0958", false, true),
        ("+44(0)20 7946 0958", false, true),
        ("+44(0)2074960074", false, true),
        // Dashed groups that would read as a day, a month and a year without the `+`.
        ("+44-20-7946-0958", false, true),
        ("+33-12-1234-5678", false, false),
        ("020 7946 0958", false, true),
        ("(01632) 960391", false, true),
        ("07700 900123", false, true),
        // DE.
        ("+49 (0) 9141 777631", false, true),
        ("030 12345678", false, true),
        ("089/1234567", false, true),
        ("(03449) 78690", false, true),
        // FR.
        ("01 23 45 67 89", false, true),
        ("+33 (0)1 41 63 60 83", false, true),
        ("0123456789", false, true),
        // IN.
        ("+91 98765 43210", false, true),
        ("98765 43210", false, true),
        ("+919876543210", false, true),
        // Bare digits count only under a phone key.
        ("4155550100", false, false),
        ("4155550100", true, true),
        ("5550100", true, true),
        // Hard negatives: versions, dates, IPs, ids, timestamps, prices.
        ("1.2.3", false, false),
        ("10.0.0.1", false, false),
        ("2024-01-15", false, false),
        ("15/01/2024", false, false),
        ("1700000000", false, false),
        ("1700000000123", false, false),
        ("123456", false, false),
        ("0000123456", false, false),
        ("+1", false, false),
        ("19.99", false, false),
        // Country code 28x is unassigned.
        ("+28 1234 5678", false, false),
        // Wrong national length for a NANP number.
        ("+1 415 555 010", false, false),
        ("(415) 555-0100)", false, false),
        ("415--555--0100-", false, false),
        ("box 12", false, false),
        ("x123", false, false),
        // ISBN-10 with a leading zero.
        ("0-306-40615-2", false, false),
        ("0-07-934529-8", false, false),
        // ZIP+4 with a leading zero is not `00` + country code 7.
        ("00731-7963", false, false),
        ("04487-6918", false, false),
        ("04487 6918", false, true),
        ("12:30:00", false, false),
        // A date with the hour glued on, as free text produces.
        ("01/15/2024 10", false, false),
        ("2024.01.15 10", true, false),
    ];

    proptest::proptest! {
        #[test]
        fn the_shortcuts_answer_what_the_grammar_answers(
            s in "[0-9]{1,20}|0[0-9]{6,12}|[0-9]{4}[-./ ][0-9]{2}[-./][0-9]{2}|0[0-9]{3}[-./][0-9]{2}[-./][0-9]{2}",
            hint in proptest::prelude::any::<bool>(),
        ) {
            proptest::prop_assert_eq!(is_phone(s.as_bytes(), hint), grammar(s.as_bytes(), hint), "{}", s);
        }
    }

    #[test]
    fn table() {
        for &(s, hint, want) in CASES {
            assert_eq!(is_phone(s.as_bytes(), hint), want, "{s} hint={hint}");
        }
    }
}
