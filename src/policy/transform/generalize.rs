//! `generalize`: replace a value with a coarser one.
//!
//! | `to` | input | output |
//! | --- | --- | --- |
//! | `ip/24`, `ip/48` | IPv4 or IPv6 address | IPv4 truncated to /24 (`203.0.113.0`), IPv6 to /48 (`2001:db8:85a3::`); an IPv4-mapped IPv6 address is truncated as IPv4. The two options are the same rule named from either family, the conventional pair (as in Google Analytics' IP anonymisation). |
//! | `date/year` | a date (`YYYY-MM-DD`, `YYYYMMDD`, an RFC 3339 timestamp, unambiguous `M/D/YYYY`) | `YYYY` |
//! | `date/month` | same | `YYYY-MM` |
//! | `postcode/3` | a postcode of at least 4 letters/digits (spaces, dashes allowed) | its first 3 letters/digits, upper-case (`SW1A 1AA` → `SW1`, `94035` → `940`) |
//! | `age/10` | an integer age 0–150 | a decade band `30-39`; 90 and above become `90+` (HIPAA Safe Harbor groups ages over 89) |
//!
//! A value that does not parse is **dropped** (the member is removed, `Applied::Dropped`): it
//! never passes through unchanged, and unlike a fixed redaction it does not pretend to be data.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use super::hash::parse_date;

/// The generalisation to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneralizeTo {
    /// `age/10`
    Age10,
    /// `date/month`
    DateMonth,
    /// `date/year`
    DateYear,
    /// `ip/24`
    Ip24,
    /// `ip/48`
    Ip48,
    /// `postcode/3`
    Postcode3,
}

// === impl GeneralizeTo ===

impl GeneralizeTo {
    /// Every option, for config error messages.
    pub const ALL: [Self; 6] = [
        Self::Age10,
        Self::DateMonth,
        Self::DateYear,
        Self::Ip24,
        Self::Ip48,
        Self::Postcode3,
    ];
    /// The config spellings, in [`Self::ALL`] order.
    pub const NAMES: [&'static str; 6] = super::config_names!(6);

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Age10 => "age/10",
            Self::DateMonth => "date/month",
            Self::DateYear => "date/year",
            Self::Ip24 => "ip/24",
            Self::Ip48 => "ip/48",
            Self::Postcode3 => "postcode/3",
        }
    }

    /// Appends the generalised form of `text` to `out`. Returns `false` (and leaves `out` as it
    /// was) when the value does not parse; the caller drops it.
    pub fn apply(self, text: &str, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let ok = match self {
            Self::Ip24 | Self::Ip48 => ip(text, out),
            Self::DateYear => {
                parse_date(text).is_some_and(|(y, _, _)| write!(out, "{y:04}").is_ok())
            }
            Self::DateMonth => {
                parse_date(text).is_some_and(|(y, m, _)| write!(out, "{y:04}-{m:02}").is_ok())
            }
            Self::Postcode3 => postcode(text, out),
            Self::Age10 => age(text, out),
        };
        if !ok {
            out.truncate(start);
        }
        ok
    }
}

fn ip(text: &str, out: &mut Vec<u8>) -> bool {
    let Ok(addr) = text.trim().parse::<IpAddr>() else {
        return false;
    };
    let coarse = match addr {
        IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xffff_ff00).into()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V6(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00).to_ipv6_mapped()),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 80) - 1)).into()),
        },
    };
    write!(out, "{coarse}").is_ok()
}

fn postcode(text: &str, out: &mut Vec<u8>) -> bool {
    let t = text.trim();
    let mut alnum = 0;
    for b in t.bytes() {
        match b {
            b if b.is_ascii_alphanumeric() => alnum += 1,
            b' ' | b'-' => {}
            _ => return false,
        }
    }
    // Keeping 3 of 3 would keep the whole value.
    if !(4..=10).contains(&alnum) {
        return false;
    }
    out.extend(
        t.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .take(3)
            .map(|b| b.to_ascii_uppercase()),
    );
    true
}

fn age(text: &str, out: &mut Vec<u8>) -> bool {
    let t = text.trim();
    if t.is_empty() || t.len() > 3 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(age) = t.parse::<u16>() else {
        return false;
    };
    match age {
        0..=89 => {
            let lo = age / 10 * 10;
            write!(out, "{lo}-{}", lo + 9).is_ok()
        }
        90..=150 => {
            out.extend_from_slice(b"90+");
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // (option, input, expected output or None for dropped)
    const CASES: &[(GeneralizeTo, &str, Option<&str>)] = &[
        (GeneralizeTo::Ip24, "203.0.113.77", Some("203.0.113.0")),
        (GeneralizeTo::Ip24, " 10.1.2.3 ", Some("10.1.2.0")),
        // IPv6 gets its /48 under either option name.
        (
            GeneralizeTo::Ip24,
            "2001:db8:85a3:8d3:1319:8a2e:370:7348",
            Some("2001:db8:85a3::"),
        ),
        (
            GeneralizeTo::Ip48,
            "2001:db8:85a3:8d3:1319:8a2e:370:7348",
            Some("2001:db8:85a3::"),
        ),
        (
            GeneralizeTo::Ip48,
            "::ffff:192.0.2.128",
            Some("::ffff:192.0.2.0"),
        ),
        (GeneralizeTo::Ip24, "999.1.1.1", None),
        (GeneralizeTo::Ip24, "localhost", None),
        (GeneralizeTo::DateYear, "1997-02-16", Some("1997")),
        (GeneralizeTo::DateYear, "2024-03-01T12:00:00Z", Some("2024")),
        (GeneralizeTo::DateMonth, "1997-02-16", Some("1997-02")),
        (GeneralizeTo::DateMonth, "2/16/1997", Some("1997-02")),
        // Ambiguous day/month order is dropped, not guessed.
        (GeneralizeTo::DateMonth, "03/04/1997", None),
        (GeneralizeTo::DateYear, "yesterday", None),
        (GeneralizeTo::Postcode3, "SW1A 1AA", Some("SW1")),
        (GeneralizeTo::Postcode3, "94035-1234", Some("940")),
        (GeneralizeTo::Postcode3, "940", None),
        (GeneralizeTo::Postcode3, "94<35", None),
        (GeneralizeTo::Age10, "34", Some("30-39")),
        (GeneralizeTo::Age10, "0", Some("0-9")),
        (GeneralizeTo::Age10, "95", Some("90+")),
        (GeneralizeTo::Age10, "-3", None),
        (GeneralizeTo::Age10, "34.5", None),
        (GeneralizeTo::Age10, "200", None),
    ];

    #[test]
    fn table() {
        for &(to, input, want) in CASES {
            let mut out = b"x".to_vec();
            let ok = to.apply(input, &mut out);
            match want {
                Some(w) => {
                    assert!(ok, "{to:?} {input:?}");
                    assert_eq!(&out[1..], w.as_bytes(), "{to:?} {input:?}");
                }
                None => {
                    assert!(!ok, "{to:?} {input:?}");
                    assert_eq!(out, b"x");
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for t in GeneralizeTo::ALL {
            assert_eq!(GeneralizeTo::parse(t.as_str()), Some(t));
        }
    }
}
