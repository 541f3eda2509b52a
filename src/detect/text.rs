//! PII inside free text: a support-ticket subject with a phone number in it.
//!
//! Runs only when no whole-value detector matched. Three linear scans, each gated by the
//! value's [`Shape`]:
//!
//! - around each `@` (found with `memchr`), the longest email-shaped span;
//! - each *numeric run* — digits with `space - . / ( ) +` between them — that starts and ends
//!   at a word boundary, tried as IPv4, CNIC, SSN, card and phone;
//! - each whitespace-separated *token*, tried as JWT, API key, IPv6 and IBAN (an IBAN in
//!   print form spans several tokens).
//!
//! Boundaries matter more than the detectors here: `Chrome/120.0.0.0` in a user agent is a
//! version glued to a word by `/`, not an address, so a run must be preceded by whitespace, an
//! opening bracket or quote, or `, ; : =`.

use super::shape::Shape;
use super::spans::{self, SpanScanner, TextKind};
use super::{Class, ClassSet, card, email, file_name, iban, ip, national, phone, secret};

/// Whether a candidate may start after `b`.
fn opens(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'(' | b'[' | b'<' | b'"' | b'\'' | b',' | b';' | b':' | b'='
        )
}

/// Whether a candidate may end before `b`.
fn closes(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b')' | b']' | b'>' | b'"' | b'\'' | b',' | b';' | b':' | b'.' | b'!' | b'?'
        )
}

/// A byte an address's local part may start from, read backwards from its `@`: the local
/// part's alphabet without `'`, which in prose is a quote around the address, not part of it.
fn email_byte(b: u8) -> bool {
    email::local_byte(b) && b != b'\''
}

/// First class found inside `s`, if any.
pub(crate) fn scan(s: &[u8], sh: &Shape, on: ClassSet) -> Option<Class> {
    // First: whatever else the text holds, the scrub that treats it then finds the password
    // too, and a class whose action keeps the leaf (an email a processor needs) cannot
    // forward it.
    // Its `@` may be escaped (`%40`, `&#64;`): an escape's `%` or `&` is then counted.
    if (sh.at > 0 || sh.escape > 0) && on.contains(Class::Password) && spans::url_password(s) {
        return Some(Class::Password);
    }
    if sh.at > 0 && on.contains(Class::Email) && emails(s) {
        return Some(Class::Email);
    }
    if sh.digit >= 4
        && let Some(c) = numeric_runs(s, on)
    {
        return Some(c);
    }
    if sh.spaced()
        && sh.len >= 16
        && let Some(c) = tokens(s, on)
    {
        return Some(c);
    }
    if sh.digit > 0 && sh.spaced() && on.contains(Class::StreetAddress) && street(s) {
        return Some(Class::StreetAddress);
    }
    None
}

/// Whether a street address stands in `s` (`Ship to 742 Evergreen Terrace today`, `Livraison
/// rue de la Paix, 75002 Paris`), found as the `scrub` that treats the leaf will find it: by
/// the span scanner itself, for street addresses only, so the two cannot disagree. Most texts
/// leave at the gate: every address the scanner reads starts from a number that follows a
/// space (or the start) and is followed by a space, a comma or a line break, or ends the
/// text or a clause (`Hauptstraße 5.`); an order number glued to letters (`ORD-123`) or a
/// price (`19.99`) is no such number.
fn street(s: &[u8]) -> bool {
    let number = s.iter().enumerate().any(|(i, &b)| {
        b.is_ascii_digit() && (i == 0 || matches!(s[i - 1], b' ' | b'\n' | b',')) && {
            let rest = &s[i..];
            let d = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            d <= 6 && {
                // `12B`, `97/14`, `12-14`: the house number's tail.
                let t = rest[d..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-'))
                    .count();
                rest.get(d + t)
                    .is_none_or(|b| matches!(b, b' ' | b',' | b'\n' | b'\r' | b'.' | b';' | b'<'))
            }
        }
    });
    let Ok(text) = std::str::from_utf8(s) else {
        return false;
    };
    number
        && SpanScanner::new(ClassSet::empty().with(Class::StreetAddress)).find(
            text,
            TextKind::Auto,
            None,
            |_| {},
        ) > 0
}

/// Whether `s` holds an email whose `@` is written as an escape its reader decodes: `%40` (a
/// URL, a `mailto:` link, a pasted link) or a character reference (`&#64;`, `&#x40;`,
/// `&commat;`), or that the span scanner's second reading decodes: a look-alike escaped
/// (`%EF%BC%A0`, `&#xFF20;`), a reference escaped twice (`&amp;#64;`), a string escape
/// (`\u0040`). The span scanner, which reads a
/// text the way its kind is read (URL, HTML or plain text with both decodings), decides; it
/// runs only on a text with such an escape in it, and allocates only when it finds one.
pub(crate) fn escaped_email(s: &[u8]) -> bool {
    let escaped_at = memchr::memchr3_iter(b'%', b'&', b'\\', s).any(|i| {
        let r = &s[i + 1..];
        match s[i] {
            b'%' => {
                r.starts_with(b"40")
                    || matches!(r, [b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F', l, ..] if l.is_ascii_hexdigit())
            }
            b'&' => {
                let r = r.strip_prefix(b"amp;").unwrap_or(r);
                r.first() == Some(&b'#')
                    || r.get(..7)
                        .is_some_and(|w| w.eq_ignore_ascii_case(b"commat;"))
            }
            _ => r.first() == Some(&b'u'),
        }
    });
    let Ok(text) = std::str::from_utf8(s) else {
        return false;
    };
    escaped_at
        && SpanScanner::new(ClassSet::empty().with(Class::Email)).find(
            text,
            TextKind::Auto,
            None,
            |_| {},
        ) > 0
}

/// The class of the first value in `s` when a number in it is written with an escape its
/// reader decodes next to a digit (`%2B442079460958`, `4242%2D4242%2D…`, `4242&#45;4242…`):
/// the span scanner, which reads numbers through the decoding, decides, so the `scrub` that
/// then treats the leaf finds what was found here. Runs only on a text with such an escape.
pub(crate) fn escaped_number(s: &[u8], on: ClassSet) -> Option<Class> {
    let digit = |i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
    let glued = memchr::memchr2_iter(b'%', b'&', s).any(|i| {
        (i > 0 && digit(i - 1))
            || match s[i] {
                b'%' => digit(i + 3),
                _ => s[i..s.len().min(i + 12)]
                    .iter()
                    .position(|&b| b == b';')
                    .is_some_and(|k| digit(i + k + 1)),
            }
    });
    if !glued {
        return None;
    }
    first_class(s, on)
}

/// The class of the first span in `s` when it holds a link whose parameter is base64 of text
/// (`?p=Y2FsbCArNDQgMjAgNzk0NiAwOTU4`): the span scanner, which decodes such a parameter and
/// reads the text inside for every class `on` names, decides, so the `scrub` that then treats
/// the leaf finds what was found here. Runs only on a text with such a parameter in it.
pub(crate) fn encoded_param(s: &[u8], on: ClassSet) -> Option<Class> {
    if !spans::encoded_text_param(s) {
        return None;
    }
    first_class(s, on)
}

/// The class of the first span the span scanner finds in `s` (UTF-8 only) for the classes `on`
/// names: the scanner that `scrub` then runs on the leaf decides, so both agree.
fn first_class(s: &[u8], on: ClassSet) -> Option<Class> {
    let text = std::str::from_utf8(s).ok()?;
    let mut class = None;
    SpanScanner::new(on).find(text, TextKind::Auto, None, |span| {
        if let (None, spans::Origin::Class(c)) = (class, span.origin) {
            class = Some(c);
        }
    });
    class
}

fn emails(s: &[u8]) -> bool {
    memchr::memchr_iter(b'@', s).any(|at| {
        let mut start = at;
        while start > 0 && email_byte(s[start - 1]) {
            start -= 1;
        }
        // `/` may stand in a local part, but before an `@` in a path it ends a segment.
        if let Some(p) = memchr::memrchr(b'/', &s[start..at]) {
            start += p + 1;
        }
        let mut end = at + 1;
        while end < s.len()
            && (s[end].is_ascii_alphanumeric()
                || s[end] == b'-'
                || s[end] == b'.'
                || s[end] >= 0x80)
        {
            end += 1;
        }
        // No domain ends in `.` or `-`: a sentence's full stop, a tag's dashes
        // (`-kai@example.org-`, a mail's substitution tag).
        while end > at + 1 && matches!(s[end - 1], b'.' | b'-') {
            end -= 1;
        }
        while start < at && s[start] == b'.' {
            start += 1;
        }
        // `git@github.com:org/repo.git`, `user@host/path`: a remote or URL, not a mailbox;
        // but a whole segment of a path (`/users/kai@example.org/settings`) is an address.
        let continues = end + 1 < s.len()
            && matches!(s[end], b':' | b'/')
            && !s[end + 1].is_ascii_whitespace()
            && !email::path_segment(s, start);
        !continues
            && (email::is_email(&s[start..end])
                || email::before_file_extension(&s[start..end]).is_some())
    })
}

fn run_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')' | b'+')
}

fn numeric_runs(s: &[u8], on: ClassSet) -> Option<Class> {
    let n = s.len();
    let mut i = 0;
    while i < n {
        let b = s[i];
        // `RF90 0655 7196 3023`: a run after a space that follows a digit glued to letters
        // continues an alphanumeric code (a purely numeric token would have started the run).
        let continues_code = i >= 2 && s[i - 1] == b' ' && s[i - 2].is_ascii_digit();
        if !(b.is_ascii_digit() || b == b'+' || b == b'(')
            || (i > 0 && !opens(s[i - 1]) && !file_name::glued_run(s, i, run_byte))
            || continues_code
        {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        let mut digits = 0;
        while j < n && run_byte(s[j]) {
            digits += usize::from(s[j].is_ascii_digit());
            j += 1;
        }
        // A phone extension glued on: `415-555-0100x123`.
        if j + 1 < n && s[j] == b'x' && s[j - 1].is_ascii_digit() && s[j + 1].is_ascii_digit() {
            j += 1;
            while j < n && s[j].is_ascii_digit() {
                j += 1;
            }
        }
        // The run must end at a boundary: `0300-1234567 tomorrow` yes, `2024-01-15T10` no.
        // `+44 20 7946 0958.txt`: a file extension after the run's final `.` ends it too.
        if digits >= 4
            && (j == n
                || closes(s[j])
                || s[j - 1] == b' '
                || (s[j - 1] == b'.' && file_name::extension_at(&s[j..]).is_some()))
        {
            let mut end = j;
            while end > start && matches!(s[end - 1], b' ' | b'-' | b'.' | b'/' | b'(' | b'+') {
                end -= 1;
            }
            let mut run = &s[start..end];
            if run.ends_with(b")") && !run.contains(&b'(') {
                run = &run[..run.len() - 1];
            }
            // `rv:1.9.6.20` in a user agent: after a colon, a dotted quad is a version.
            let after_colon = start > 0 && s[start - 1] == b':';
            if let Some(c) = numeric(run, digits, on, after_colon) {
                return Some(c);
            }
            // Longer than any value (numbers in a row, joined by spaces or `/`): the values
            // inside it, as the span scanner that then scrubs the leaf reads them.
            if run.len() > 128
                && let Ok(text) = std::str::from_utf8(run)
            {
                let mut class = None;
                SpanScanner::new(on).find(text, TextKind::Plain, None, |span| {
                    if let (None, spans::Origin::Class(c)) = (class, span.origin) {
                        class = Some(c);
                    }
                });
                if class.is_some() {
                    return class;
                }
            }
        }
        i = j.max(i + 1);
    }
    None
}

/// A whole-value detector applied to a run.
type Check = fn(&[u8]) -> bool;

fn numeric(run: &[u8], digits: usize, on: ClassSet, after_colon: bool) -> Option<Class> {
    if on.contains(Class::IpAddress) && !after_colon && ip::is_ipv4(run) {
        return Some(Class::IpAddress);
    }
    if digits < 7 {
        return None;
    }
    let checks: [(Class, Check); 4] = [
        (Class::Cnic, |r| national::is_cnic(r, false)),
        (Class::Ssn, |r| national::is_ssn(r, false)),
        (Class::PaymentCard, |r| card::is_card(r, false)),
        (Class::Phone, |r| phone::is_phone(r, false)),
    ];
    checks
        .into_iter()
        .find(|(class, check)| on.contains(*class) && check(run))
        .map(|(class, _)| class)
}

fn trim_token(t: &[u8]) -> &[u8] {
    let start = t
        .iter()
        .position(|&b| !matches!(b, b'"' | b'\'' | b'(' | b'[' | b'<'))
        .unwrap_or(t.len());
    let end = t
        .iter()
        .rposition(|&b| {
            !matches!(
                b,
                b'"' | b'\'' | b')' | b']' | b'>' | b',' | b';' | b'.' | b'!' | b'?' | b':'
            )
        })
        .map_or(start, |e| e + 1);
    &t[start..end.max(start)]
}

fn tokens(s: &[u8], on: ClassSet) -> Option<Class> {
    let mut offset = 0;
    for raw in s.split(u8::is_ascii_whitespace) {
        let here = offset;
        offset += raw.len() + 1;
        let t = trim_token(raw);
        if t.len() >= 20 {
            if on.contains(Class::Jwt) && secret::is_jwt(t) {
                return Some(Class::Jwt);
            }
            if on.contains(Class::ApiKey) && secret::is_api_key(t) {
                return Some(Class::ApiKey);
            }
        }
        if on.contains(Class::IpAddress)
            && t.iter().filter(|&&b| b == b':').count() >= 2
            && ip::is_ipv6(t)
        {
            return Some(Class::IpAddress);
        }
        if on.contains(Class::Iban)
            && t.len() >= 4
            && t[0].is_ascii_uppercase()
            && t[1].is_ascii_uppercase()
            && t[2].is_ascii_digit()
            && t[3].is_ascii_digit()
            && (spaced_iban(&s[here..]) || iban::is_iban(t))
        {
            return Some(Class::Iban);
        }
    }
    None
}

/// An IBAN starting at the beginning of `s`, compact or in groups of four.
fn spaced_iban(s: &[u8]) -> bool {
    let mut end = 0;
    let mut ends = [0usize; 10];
    let mut n = 0;
    for group in s.split(|&b| b == b' ') {
        let g = trim_token(group);
        if g.is_empty() || !g.iter().all(u8::is_ascii_alphanumeric) || n == ends.len() {
            break;
        }
        let start = end;
        end = start + g.len();
        ends[n] = end;
        n += 1;
        if g.len() != group.len() {
            break; // punctuation closes the IBAN
        }
        end += 1;
        if g.len() != 4 {
            break;
        }
    }
    ends[..n].iter().rev().any(|&e| iban::is_iban(&s[..e]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, Option<Class>)] = &[
        (
            "Please call me at 0300-1234567 tomorrow",
            Some(Class::Phone),
        ),
        ("Call (415) 555-0100 after 5pm", Some(Class::Phone)),
        ("my number is +92 300 1234567.", Some(Class::Phone)),
        ("reach me: alice@example.com, thanks", Some(Class::Email)),
        ("reach me: alice@example.com: thanks", Some(Class::Email)),
        ("clone git@github.com:org/repo.git", None),
        (
            "card 4111 1111 1111 1111 declined",
            Some(Class::PaymentCard),
        ),
        ("CNIC 35202-1234567-1 attached", Some(Class::Cnic)),
        ("SSN is 536-22-8726", Some(Class::Ssn)),
        ("login from 203.0.113.9 blocked", Some(Class::IpAddress)),
        ("login from 2001:db8::1 blocked", Some(Class::IpAddress)),
        (
            "pay to DE89 3704 0044 0532 0130 00 please",
            Some(Class::Iban),
        ),
        ("pay to DE89370400440532013000.", Some(Class::Iban)),
        (
            "leaked key AKIAIOSFODNN7EXAMPLE in logs",
            Some(Class::ApiKey),
        ),
        // Versions glued to words, dates, times, prices, order numbers.
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36",
            None,
        ),
        ("Released v1.2.3 on 2024-01-15 at 10:30", None),
        ("Meeting 01/15/2024 10:30", None),
        ("Order 123456789 total $1,234.56", None),
        ("Tracking 1Z999AA10123456784 shipped", None),
        ("build 10.0.0.1.5 is out", None),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:1.9.6.20) Gecko/20100101 Firefox/3.8",
            None,
        ),
        (
            "Login from 001-850-480-8264x9447 flagged",
            Some(Class::Phone),
        ),
        ("Ref RF90 0655 7196 3023 paid", None),
    ];

    #[test]
    fn table() {
        for &(s, want) in CASES {
            let sh = Shape::of(s.as_bytes());
            assert_eq!(scan(s.as_bytes(), &sh, ClassSet::all()), want, "{s}");
        }
    }

    #[test]
    fn numbers_written_with_escapes_glued_to_a_digit_are_read_through_them() {
        for (s, want) in [
            ("call %2B442079460958 today", Some(Class::Phone)),
            ("card 4242%2D4242%2D4242%2D4242", Some(Class::PaymentCard)),
            (
                "card 4242&#45;4242&#45;4242&#45;4242",
                Some(Class::PaymentCard),
            ),
            ("call &#43;442079460958, thanks", Some(Class::Phone)),
            // Escapes away from digits, and numbers that are no value, leave at the gate or
            // find nothing.
            ("50%25 off order 1234567 &amp; more", None),
            ("order%2D2024%2D000123", None),
            ("https://shop.example/p?id=12345678&amp;n=1", None),
        ] {
            assert_eq!(escaped_number(s.as_bytes(), ClassSet::all()), want, "{s}");
        }
    }
}
