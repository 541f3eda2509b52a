//! Calendar dates, for dates of birth.
//!
//! A date alone is not personal data — payloads are full of timestamps — so this runs only
//! when the key names a birth date. It accepts the shapes forms and SDKs produce: ISO
//! `1985-03-15` (optionally with a time after `T` or a space), `1985/03/15`, `15/03/1985`,
//! `03/15/1985`, `15.03.1985`, `15-03-85`, bare `19850315`, and English month names
//! (`15 March 1985`, `March 15, 1985`, `15-Mar-1985`). Day and month are range-checked
//! (February 29 only in leap years).

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Whether `s` is one calendar date in a shape listed in the module doc.
pub(crate) fn is_date(s: &[u8]) -> bool {
    let s = strip_time(s);
    numeric(s) || textual(s)
}

/// Drops `T…` or ` …` after an ISO date (`1985-03-15T00:00:00Z`).
fn strip_time(s: &[u8]) -> &[u8] {
    if s.len() > 11 && s[4] == b'-' && matches!(s[10], b'T' | b' ') && s[11].is_ascii_digit() {
        &s[..10]
    } else {
        s
    }
}

fn numeric(s: &[u8]) -> bool {
    if s.len() == 8 && s.iter().all(u8::is_ascii_digit) {
        let (y, m, d) = (num(&s[..4]), num(&s[4..6]), num(&s[6..]));
        return (year4(y) && valid(y, m, d)) || valid(num(&s[4..]), num(&s[2..4]), num(&s[..2]));
    }
    let mut parts = [&s[..0]; 3];
    let mut n = 0;
    let Some(&sep @ (b'-' | b'/' | b'.')) = s.iter().find(|b| !b.is_ascii_digit()) else {
        return false;
    };
    for p in s.split(|&b| b == sep) {
        if n == 3 || p.is_empty() || p.len() > 4 || !p.iter().all(u8::is_ascii_digit) {
            return false;
        }
        parts[n] = p;
        n += 1;
    }
    if n != 3 {
        return false;
    }
    let [a, b, c] = parts;
    match (a.len(), b.len(), c.len()) {
        (4, 1..=2, 1..=2) => year4(num(a)) && valid(num(a), num(b), num(c)),
        (1..=2, 1..=2, 4) => {
            let y = num(c);
            year4(y) && (valid(y, num(b), num(a)) || valid(y, num(a), num(b)))
        }
        (2, 2, 2) => {
            // Two-digit year last: any century works for range checks; use a leap-neutral one.
            let y = 1900 + num(c);
            valid(y, num(b), num(a)) || valid(y, num(a), num(b))
        }
        _ => false,
    }
}

fn textual(s: &[u8]) -> bool {
    // Tokens split on spaces, commas, dashes and dots: day, month name, year in either order.
    let mut toks = [&s[..0]; 3];
    let mut n = 0;
    for t in s.split(|&b| matches!(b, b' ' | b',' | b'-' | b'.')) {
        if t.is_empty() {
            continue;
        }
        if n == 3 {
            return false;
        }
        toks[n] = t;
        n += 1;
    }
    if n != 3 {
        return false;
    }
    let (day, month, year) = match (month_of(toks[0]), month_of(toks[1])) {
        (Some(m), None) => (toks[1], m, toks[2]),
        (None, Some(m)) => (toks[0], m, toks[2]),
        _ => return false,
    };
    let day = strip_ordinal(day);
    if day.is_empty()
        || day.len() > 2
        || year.len() != 4
        || !day.iter().chain(year).all(u8::is_ascii_digit)
    {
        return false;
    }
    let y = num(year);
    year4(y) && valid(y, month, num(day))
}

/// `15th` → `15`.
fn strip_ordinal(d: &[u8]) -> &[u8] {
    for suffix in [b"st", b"nd", b"rd", b"th"] {
        if d.len() > 2 && d[d.len() - 2..].eq_ignore_ascii_case(suffix) {
            return &d[..d.len() - 2];
        }
    }
    d
}

/// A full English month name or its first three letters (`Sept` too).
pub(crate) fn month_of(t: &[u8]) -> Option<u32> {
    if t.len() < 3 || !t.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| {
            let m = m.as_bytes();
            (t.len() == 3 || t.len() == m.len() || (t.len() == 4 && m.starts_with(b"sept")))
                && t.len() <= m.len()
                && m[..t.len()].eq_ignore_ascii_case(t)
        })
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn num(s: &[u8]) -> u32 {
    s.iter().fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'))
}

fn year4(y: u32) -> bool {
    (1900..=2100).contains(&y)
}

fn valid(y: u32, m: u32, d: u32) -> bool {
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, bool)] = &[
        ("1985-03-15", true),
        ("1985-3-5", true),
        ("1985/03/15", true),
        ("1985-03-15T00:00:00Z", true),
        ("1985-03-15 00:00:00", true),
        // Day first and month first, both valid readings.
        ("15/03/1985", true),
        ("03/15/1985", true),
        ("15.03.1985", true),
        ("15-03-85", true),
        ("19850315", true),
        ("15031985", true),
        ("15 March 1985", true),
        ("March 15, 1985", true),
        ("15-Mar-1985", true),
        ("Sept 5 1985", true),
        ("5th March 1985", true),
        // Leap years.
        ("2000-02-29", true),
        ("1900-02-29", false),
        ("1985-02-29", false),
        // Out of range.
        ("1985-13-01", false),
        ("1985-00-10", false),
        ("32/01/1985", false),
        ("1800-01-01", false),
        // Not dates.
        ("1.2.3", false),
        ("10.0.0.1", false),
        ("1985", false),
        ("unknown", false),
        ("March 1985", false),
        ("1985-03-15-01", false),
        ("12345678", false),
    ];

    #[test]
    fn table() {
        for &(s, want) in CASES {
            assert_eq!(is_date(s.as_bytes()), want, "{s}");
        }
    }
}
