//! `hash`: the exact normalisation a destination demands, then lowercase hex SHA-256.
//!
//! Meta's Conversions API and Google's enhanced conversions match on SHA-256 of a *normalised*
//! value; a different normalisation gives a different hash and no match. The rules below follow
//! each destination's own documentation:
//!
//! - Meta: <https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters>
//! - Google: <https://developers.google.com/data-manager/api/devguides/concepts/formatting> and
//!   <https://developers.google.com/google-ads/api/docs/conversions/enhance-conversions>
//!
//! | field | meta | google |
//! | --- | --- | --- |
//! | email | trim, lower-case | trim, remove all whitespace, lower-case; for gmail.com / googlemail.com drop `.` and `+suffix` from the local part |
//! | phone | digits only with country code, no `+`, no leading zeros | E.164 `+<digits>` |
//! | first/last name | NFC, lower-case, letters and digits only | NFC, trim, lower-case |
//! | street | not a Meta field (config error) | NFC, lower-case, symbols removed (letters, digits and spaces kept), trimmed |
//! | city | NFC, lower-case, letters only | not hashed by Google (config error) |
//! | state | lower-case letters; US state names → 2-letter code | not hashed (config error) |
//! | zip | lower-case, no spaces/dashes; US ZIP+4 → first 5 | not hashed (config error) |
//! | country | 2-letter ISO 3166-1 alpha-2, lower-case | not hashed (config error) |
//! | gender | `f` / `m` (from f/m/female/male) | not used (config error) |
//! | date of birth | `YYYYMMDD` | not used (config error) |
//! | external id | trim (case kept) | not used (config error) |
//!
//! A value that is already a SHA-256 in hex (64 hex digits: the app hashed it, as both
//! destinations allow) is forwarded lower-cased, not hashed again: a hash of a hash matches
//! nothing, and the value reveals no more than the hash piigate would compute.
//!
//! A value that does not normalise (not an email, a phone with letters or too few digits, an
//! impossible date, …) is *dropped*, never hashed: a hash of garbage still identifies the
//! garbage, and the destination would reject it anyway.
//!
//! Phones: a value starting with `+` or `00` carries its country code. Otherwise, if the rule
//! sets `default_country_code`, one leading trunk `0` is removed and the code is prepended; if
//! not, the digits are taken to include the country code already (as Meta requires).

use std::io::Write as _;

use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::{IsNormalized, is_nfc_quick};

/// Which destination's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPreset {
    /// Google enhanced conversions / Data Manager API.
    Google,
    /// Meta Conversions API `user_data`.
    Meta,
}

/// What kind of value the field holds. Config: `normalize = "email"` etc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashField {
    /// `city` (Meta `ct`).
    City,
    /// `country` (Meta `country`).
    Country,
    /// `date_of_birth` (Meta `db`).
    DateOfBirth,
    /// `email` (Meta `em`).
    Email,
    /// `external_id` (Meta `external_id`).
    ExternalId,
    /// `first_name` (Meta `fn`).
    FirstName,
    /// `gender` (Meta `ge`).
    Gender,
    /// `last_name` (Meta `ln`).
    LastName,
    /// `phone` (Meta `ph`).
    Phone,
    /// `state` (Meta `st`).
    State,
    /// `street` (Google `sha256_street`; not a Meta field).
    Street,
    /// `zip` (Meta `zp`).
    Zip,
}

/// The `hash` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSpec {
    /// Destination rules.
    pub preset: HashPreset,
    /// What the field holds.
    pub field: HashField,
    /// Calling code (e.g. `1`, `44`) for phones written without one. Default: none.
    pub default_country_code: Option<u16>,
}

/// A config-time problem with `hash` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashConfigError {
    /// The destination does not take this field hashed.
    #[error(
        "preset \"google\" does not take `{0}` hashed (Google hashes only email, phone, first and \
         last name; it wants city, state, zip and country in clear): use generalize, redact or \
         drop for this field"
    )]
    NotHashedByGoogle(&'static str),
    /// Meta has no such customer-information parameter.
    #[error(
        "preset \"meta\" has no `{0}` parameter (Meta hashes em, ph, fn, ln, ge, db, ct, st, zp, \
         country and external_id)"
    )]
    NotAMetaField(&'static str),
    /// `default_country_code` is not a valid calling code.
    #[error("`default_country_code` must be 1 to 999 (an ITU calling code)")]
    CountryCode,
}

// === impl HashPreset ===

impl HashPreset {
    /// Every preset.
    pub const ALL: [Self; 2] = [Self::Meta, Self::Google];
    /// The config spellings, in [`Self::ALL`] order.
    pub const NAMES: [&'static str; 2] = super::config_names!(2);

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Meta => "meta",
        }
    }
}

// === impl HashField ===

impl HashField {
    /// Every field kind, in the order the config reference lists them.
    pub const ALL: [Self; 12] = [
        Self::Email,
        Self::Phone,
        Self::FirstName,
        Self::LastName,
        Self::Street,
        Self::City,
        Self::State,
        Self::Zip,
        Self::Country,
        Self::Gender,
        Self::DateOfBirth,
        Self::ExternalId,
    ];
    /// The config spellings, in [`Self::ALL`] order.
    pub const NAMES: [&'static str; 12] = super::config_names!(12);

    /// Parses the config spelling; Meta's parameter names (`em`, `ph`, `fn`, …) are accepted too.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "city" | "ct" => Self::City,
            "country" => Self::Country,
            "date_of_birth" | "db" => Self::DateOfBirth,
            "email" | "em" => Self::Email,
            "external_id" => Self::ExternalId,
            "first_name" | "fn" => Self::FirstName,
            "gender" | "ge" => Self::Gender,
            "last_name" | "ln" => Self::LastName,
            "phone" | "ph" => Self::Phone,
            "state" | "st" => Self::State,
            "street" => Self::Street,
            "zip" | "zp" => Self::Zip,
            _ => return None,
        })
    }

    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::City => "city",
            Self::Country => "country",
            Self::DateOfBirth => "date_of_birth",
            Self::Email => "email",
            Self::ExternalId => "external_id",
            Self::FirstName => "first_name",
            Self::Gender => "gender",
            Self::LastName => "last_name",
            Self::Phone => "phone",
            Self::State => "state",
            Self::Street => "street",
            Self::Zip => "zip",
        }
    }
}

// === impl HashSpec ===

impl HashSpec {
    /// Checks an option set at config load.
    ///
    /// # Errors
    /// A [`HashConfigError`] naming the fix.
    pub fn validate(&self) -> Result<(), HashConfigError> {
        if self
            .default_country_code
            .is_some_and(|cc| !(1..=999).contains(&cc))
        {
            return Err(HashConfigError::CountryCode);
        }
        match (self.preset, self.field) {
            (HashPreset::Meta, HashField::Street) => {
                Err(HashConfigError::NotAMetaField(HashField::Street.as_str()))
            }
            (HashPreset::Meta, _)
            | (
                HashPreset::Google,
                HashField::Email
                | HashField::Phone
                | HashField::FirstName
                | HashField::LastName
                | HashField::Street,
            ) => Ok(()),
            (HashPreset::Google, f) => Err(HashConfigError::NotHashedByGoogle(f.as_str())),
        }
    }

    /// Writes the normalised form of `text` into `buf` (cleared first). Returns `false` when the
    /// value does not normalise; it must then be dropped, not hashed.
    pub fn normalize(&self, text: &str, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        let ok = match (self.preset, self.field) {
            (p, HashField::Email) => email(p, text, buf),
            (p, HashField::Phone) => phone(p, text, self.default_country_code, buf),
            (HashPreset::Meta, HashField::FirstName | HashField::LastName) => {
                folded(text, buf, char::is_alphanumeric)
            }
            (HashPreset::Google, HashField::FirstName | HashField::LastName) => {
                folded_trimmed(text, buf)
            }
            (_, HashField::City) => folded(text, buf, char::is_alphabetic),
            (_, HashField::Street) => street(text, buf),
            (_, HashField::State) => state(text, buf),
            (_, HashField::Zip) => zip(text, buf),
            (_, HashField::Country) => country(text, buf),
            (_, HashField::Gender) => gender(text, buf),
            (_, HashField::DateOfBirth) => match parse_date(text) {
                Some((y, m, d)) => write!(buf, "{y:04}{m:02}{d:02}").is_ok(),
                None => false,
            },
            (_, HashField::ExternalId) => {
                let t = text.trim();
                buf.extend_from_slice(t.as_bytes());
                !t.is_empty()
            }
        };
        if !ok {
            buf.clear();
        }
        ok
    }
}

/// Appends the lowercase hex SHA-256 of `data` to `out` (64 bytes, no allocation).
pub fn sha256_hex(data: &[u8], out: &mut Vec<u8>) {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut text = [0u8; 64];
    // 32 bytes always fit 64 hex digits.
    if hex::encode_to_slice(digest.as_ref(), &mut text).is_ok() {
        out.extend_from_slice(&text);
    }
}

fn email(preset: HashPreset, text: &str, buf: &mut Vec<u8>) -> bool {
    let t = text.trim();
    // Google strips intermediate whitespace; for Meta an inner space means not an email.
    if t.is_ascii() {
        for b in t.bytes() {
            if b.is_ascii_whitespace() {
                if preset == HashPreset::Google {
                    continue;
                }
                return false;
            }
            buf.push(b.to_ascii_lowercase());
        }
    } else {
        for c in t.chars() {
            if c.is_whitespace() {
                if preset == HashPreset::Google {
                    continue;
                }
                return false;
            }
            push_lower(c, buf);
        }
    }
    let Some(at) = buf.iter().position(|&b| b == b'@') else {
        return false;
    };
    let (local, domain) = (&buf[..at], &buf[at + 1..]);
    if local.is_empty()
        || domain.contains(&b'@')
        || !domain.contains(&b'.')
        || domain.starts_with(b".")
        || domain.ends_with(b".")
        || buf.len() > 254
    {
        return false;
    }
    if preset == HashPreset::Google && matches!(domain, b"gmail.com" | b"googlemail.com") {
        // Compact the local part in place: drop a `+suffix` and every `.`.
        let end = local.iter().position(|&b| b == b'+').unwrap_or(at);
        let mut w = 0;
        for r in 0..end {
            if buf[r] != b'.' {
                buf[w] = buf[r];
                w += 1;
            }
        }
        if w == 0 {
            return false;
        }
        buf.copy_within(at.., w);
        buf.truncate(buf.len() - (at - w));
    }
    true
}

fn phone(preset: HashPreset, text: &str, default_cc: Option<u16>, buf: &mut Vec<u8>) -> bool {
    let t = text.trim();
    let mut plus = false;
    for (i, b) in t.bytes().enumerate() {
        match b {
            b'0'..=b'9' => buf.push(b),
            b'+' if i == 0 => plus = true,
            b' ' | b'-' | b'.' | b'(' | b')' | b'/' => {}
            _ => return false,
        }
    }
    let international = if plus {
        true
    } else if buf.starts_with(b"00") {
        buf.drain(..2);
        true
    } else {
        false
    };
    if let (false, Some(cc)) = (international, default_cc) {
        // A national number: drop one trunk prefix `0`, then prepend the calling code.
        if buf.first() == Some(&b'0') {
            buf.remove(0);
        }
        let mut cc_buf = [0u8; 3];
        let mut w = &mut cc_buf[..];
        let _ = write!(w, "{cc}");
        let len = 3 - w.len();
        buf.splice(0..0, cc_buf[..len].iter().copied());
    }
    // Meta: "remove any leading zeros"; a calling code never starts with 0.
    while buf.first() == Some(&b'0') {
        buf.remove(0);
    }
    // E.164: at most 15 digits; 8 is the shortest real international number.
    if !(8..=15).contains(&buf.len()) {
        return false;
    }
    if preset == HashPreset::Google {
        buf.insert(0, b'+');
    }
    true
}

/// NFC, lower-case, keep only characters `keep` accepts.
fn folded(text: &str, buf: &mut Vec<u8>, keep: fn(char) -> bool) -> bool {
    let mut push = |c: char| {
        for l in c.to_lowercase() {
            if keep(l) {
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(l.encode_utf8(&mut tmp).as_bytes());
            }
        }
    };
    if is_nfc_quick(text.chars()) == IsNormalized::Yes {
        text.chars().for_each(&mut push);
    } else {
        text.nfc().for_each(&mut push);
    }
    !buf.is_empty()
}

/// NFC, lower-case, letters, digits and single spaces only, trimmed (Google streets:
/// "remove symbol characters, lower-case, remove leading and trailing whitespace").
fn street(text: &str, buf: &mut Vec<u8>) -> bool {
    let mut push = |c: char| {
        if c.is_whitespace() {
            if !buf.is_empty() && buf.last() != Some(&b' ') {
                buf.push(b' ');
            }
        } else if c.is_alphanumeric() {
            push_lower(c, buf);
        }
    };
    let t = text.trim();
    if is_nfc_quick(t.chars()) == IsNormalized::Yes {
        t.chars().for_each(&mut push);
    } else {
        t.nfc().for_each(&mut push);
    }
    while buf.last() == Some(&b' ') {
        buf.pop();
    }
    !buf.is_empty()
}

/// Whether `text` is already a SHA-256 in hex (64 hex digits, either case).
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// NFC, trim, lower-case (Google names).
fn folded_trimmed(text: &str, buf: &mut Vec<u8>) -> bool {
    let t = text.trim();
    if is_nfc_quick(t.chars()) == IsNormalized::Yes {
        t.chars().for_each(|c| push_lower(c, buf));
    } else {
        t.nfc().for_each(|c| push_lower(c, buf));
    }
    !buf.is_empty()
}

fn push_lower(c: char, buf: &mut Vec<u8>) {
    let mut tmp = [0u8; 4];
    for l in c.to_lowercase() {
        buf.extend_from_slice(l.encode_utf8(&mut tmp).as_bytes());
    }
}

fn state(text: &str, buf: &mut Vec<u8>) -> bool {
    if !folded(text, buf, char::is_alphabetic) {
        return false;
    }
    let code = US_STATES
        .iter()
        .find(|(name, _)| buf.len() > 2 && name.as_bytes() == &buf[..])
        .map(|&(_, code)| code);
    if let Some(code) = code {
        buf.clear();
        buf.extend_from_slice(code.as_bytes());
    }
    true
}

fn zip(text: &str, buf: &mut Vec<u8>) -> bool {
    for b in text.trim().bytes() {
        match b {
            b' ' | b'-' => {}
            b if b.is_ascii_alphanumeric() => buf.push(b.to_ascii_lowercase()),
            _ => return false,
        }
    }
    // US ZIP+4 written without its dash: keep the five-digit ZIP.
    if buf.len() == 9 && buf.iter().all(u8::is_ascii_digit) {
        buf.truncate(5);
    }
    (2..=10).contains(&buf.len())
}

fn country(text: &str, buf: &mut Vec<u8>) -> bool {
    let t = text.trim();
    if t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        buf.extend(t.bytes().map(|b| b.to_ascii_lowercase()));
        true
    } else {
        false
    }
}

fn gender(text: &str, buf: &mut Vec<u8>) -> bool {
    let t = text.trim();
    let g = if t.eq_ignore_ascii_case("f") || t.eq_ignore_ascii_case("female") {
        b'f'
    } else if t.eq_ignore_ascii_case("m") || t.eq_ignore_ascii_case("male") {
        b'm'
    } else {
        return false;
    };
    buf.push(g);
    true
}

/// Parses a calendar date: `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD` or `YYYYMMDD`, optionally
/// followed by `T…` or ` …` (a time, ignored); or `M/D/YYYY` / `D/M/YYYY` when unambiguous (one
/// of the first two parts is above 12, or both are equal). Ambiguous dates are refused.
pub(crate) fn parse_date(text: &str) -> Option<(u16, u8, u8)> {
    let t = text.trim();
    let date = t.split(['T', ' ']).next().unwrap_or(t);
    let b = date.as_bytes();
    let num = |s: &[u8]| -> Option<u16> {
        if s.is_empty() || s.len() > 4 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        s.iter()
            .try_fold(0u16, |acc, d| Some(acc * 10 + u16::from(d - b'0')))
    };
    let (y, m, d) = if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        (num(&b[..4])?, num(&b[4..6])?, num(&b[6..])?)
    } else {
        let sep = *b.iter().find(|c| matches!(c, b'-' | b'/' | b'.'))?;
        let mut parts = b.split(|&c| c == sep);
        let (p1, p2, p3) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        if p1.len() == 4 {
            if p2.len() > 2 || p3.len() > 2 {
                return None;
            }
            (num(p1)?, num(p2)?, num(p3)?)
        } else if p3.len() == 4 && sep == b'/' && p1.len() <= 2 && p2.len() <= 2 {
            let (a, c) = (num(p1)?, num(p2)?);
            match (a > 12, c > 12) {
                (false, true) => (num(p3)?, a, c),
                (true, false) => (num(p3)?, c, a),
                _ if a == c => (num(p3)?, a, c),
                _ => return None,
            }
        } else {
            return None;
        }
    };
    let (m, d) = (u8::try_from(m).ok()?, u8::try_from(d).ok()?);
    if !(1000..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some((y, m, d))
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// US state and territory names (letters only, lower-case) → USPS/ANSI two-letter codes.
const US_STATES: &[(&str, &str)] = &[
    ("alabama", "al"),
    ("alaska", "ak"),
    ("arizona", "az"),
    ("arkansas", "ar"),
    ("california", "ca"),
    ("colorado", "co"),
    ("connecticut", "ct"),
    ("delaware", "de"),
    ("districtofcolumbia", "dc"),
    ("florida", "fl"),
    ("georgia", "ga"),
    ("hawaii", "hi"),
    ("idaho", "id"),
    ("illinois", "il"),
    ("indiana", "in"),
    ("iowa", "ia"),
    ("kansas", "ks"),
    ("kentucky", "ky"),
    ("louisiana", "la"),
    ("maine", "me"),
    ("maryland", "md"),
    ("massachusetts", "ma"),
    ("michigan", "mi"),
    ("minnesota", "mn"),
    ("mississippi", "ms"),
    ("missouri", "mo"),
    ("montana", "mt"),
    ("nebraska", "ne"),
    ("nevada", "nv"),
    ("newhampshire", "nh"),
    ("newjersey", "nj"),
    ("newmexico", "nm"),
    ("newyork", "ny"),
    ("northcarolina", "nc"),
    ("northdakota", "nd"),
    ("ohio", "oh"),
    ("oklahoma", "ok"),
    ("oregon", "or"),
    ("pennsylvania", "pa"),
    ("rhodeisland", "ri"),
    ("southcarolina", "sc"),
    ("southdakota", "sd"),
    ("tennessee", "tn"),
    ("texas", "tx"),
    ("utah", "ut"),
    ("vermont", "vt"),
    ("virginia", "va"),
    ("washington", "wa"),
    ("westvirginia", "wv"),
    ("wisconsin", "wi"),
    ("wyoming", "wy"),
    ("puertorico", "pr"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(preset: HashPreset, field: HashField, text: &str) -> Option<String> {
        let spec = HashSpec {
            preset,
            field,
            default_country_code: None,
        };
        let mut buf = Vec::new();
        spec.normalize(text, &mut buf)
            .then(|| String::from_utf8(buf).expect("utf8"))
    }

    #[test]
    fn invalid_inputs_do_not_normalise() {
        use HashField::*;
        use HashPreset::*;
        for (field, text) in [
            (Email, "not-an-email"),
            (Email, "a b@example.com"),
            (Email, "@example.com"),
            (Phone, "call me"),
            (Phone, "12345"),
            (Country, "usa"),
            (Gender, "x"),
            (DateOfBirth, "1990-02-30"),
            (DateOfBirth, "03/04/1990"),
            (ExternalId, "   "),
            (FirstName, "..."),
        ] {
            assert_eq!(norm(Meta, field, text), None, "{field:?} {text:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1997-02-16"), Some((1997, 2, 16)));
        assert_eq!(parse_date("2/16/1997"), Some((1997, 2, 16)));
        assert_eq!(parse_date("16/2/1997"), Some((1997, 2, 16)));
        assert_eq!(parse_date("19970216"), Some((1997, 2, 16)));
        assert_eq!(parse_date("2000-02-29T10:00:00Z"), Some((2000, 2, 29)));
        assert_eq!(parse_date("1900-02-29"), None);
        assert_eq!(parse_date("1997-2"), None);
    }

    #[test]
    fn google_rejects_unhashed_fields_at_config() {
        let spec = HashSpec {
            preset: HashPreset::Google,
            field: HashField::City,
            default_country_code: None,
        };
        assert!(spec.validate().is_err());
    }
}
