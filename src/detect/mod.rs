//! PII detection: which class of personal data a value holds when no rule names it.
//!
//! Policies name the fields someone thought of; payloads grow new ones every sprint. A route
//! with `detect = "observe" | "enforce"` hands every string leaf that no rule selected to a
//! [`Detector`], with the leaf's member name, and counts (observe) or treats (enforce) what
//! comes back. Detection decides *which* leaf and *what class*; it never picks an action
//! (DESIGN.md §3, STYLE.md "what versus how").
//!
//! # Contract
//!
//! - **Input**: the leaf's decoded text and its nearest member name (`Leaf::field`; `None` at
//!   the top level or for array elements without a named parent). The rewriter passes number
//!   leaves' spelling too if it wants them classified (`"lat": 37.77`); detectors treat the
//!   text the same either way.
//! - **Output**: at most one [`Class`] per leaf. [`Detector::classify`] also says whether the
//!   *value* matched a detector ([`Source::Value`]), whether PII was found *inside* free text
//!   ([`Source::Text`]), or whether only the *key* named a class ([`Source::Key`]). In
//!   enforce mode the whole leaf is treated in every case.
//! - **Precedence**: a whole-value match wins over the key (an email under `address` is an
//!   email), the key wins over free-text scanning (`user_agent` text is a user agent, not
//!   the versions inside it). Keys steer ambiguous values: digits under `dob` are a date of
//!   birth, 13 digits under `cnic` a CNIC, a dotted quad under `version` not an address.
//! - **Cost**: `&self` only, no allocation, no locks, `Send + Sync`. [`Detector::hint`] +
//!   [`Detector::classify_hinted`] split the key analysis out so a caller can reuse it per
//!   distinct member name. A value is trimmed and
//!   read once into a byte-kind histogram (`shape.rs`); each detector's prefilter is a few
//!   comparisons on that histogram and only candidates are parsed. Key classification folds
//!   the name into a 64-byte stack buffer. The rewriter may call these for every leaf;
//!   benches/detect.rs measures the cost per MB against a plain walk.
//! - **Never leaks**: no value is logged, stored or put in an error; the only output is a
//!   class, whose name is a bounded metric label.
//!
//! Detectors are hand-written and allocation-free rather than regexes: each has a checksum or
//! grammar a regex cannot express (Luhn, mod-97, octet ranges, SSA ranges, a JWT header that
//! must decode to JSON), and a byte-class prefilter lets the common no-PII value skip them
//! all. docs/DETECTION.md has the measured precision and recall per class.

mod address;
mod card;
mod class;
mod date;
mod email;
mod encoded;
mod file_name;
mod fold;
mod iban;
mod ip;
mod key;
mod national;
mod phone;
mod secret;
mod shape;
pub mod spans;
mod text;

pub use class::{Category, Class, ClassSet, Sensitivity, UnknownClass};

use key::KeyInfo;
use shape::Shape;

/// Values longer than this are only scanned as free text; no single datum is this long.
/// (JWTs are the longest whole values detectors accept.)
const MAX_WHOLE: usize = 8192;

/// Detection for one route: which classes to report, built once from config.
#[derive(Debug, Clone)]
pub struct Detector {
    classes: ClassSet,
    text: TextScan,
}

/// Options a route's config compiles into a [`Detector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorOptions {
    /// Classes to report; others are never returned (and their detectors never run).
    pub classes: ClassSet,
    /// Whether to look for PII inside free text when the whole value is not PII.
    pub text: TextScan,
}

/// Free-text scanning. Variants in alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextScan {
    /// Only whole values are classified.
    Off,
    /// Also find emails, phones, cards, IPs, IBANs, CNICs, SSNs and credentials inside text.
    On,
}

/// What a member name says, analysed once. `Copy` and small: a rewriter that sees the same
/// member name many times per payload (every event of a batch has `email`) may compute it once
/// per distinct name and pass it to [`Detector::classify_hinted`]. `Default` is "no key".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyHint(KeyInfo);

impl KeyHint {
    /// No key (the `Default`), usable in constants.
    pub const NONE: Self = Self(KeyInfo {
        class: None,
        version: false,
    });
}

/// What detection found in one leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// The class of personal data.
    pub class: Class,
    /// What the evidence was.
    pub source: Source,
}

/// The evidence behind a [`Detection`]. Variants in alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The member name says so (`first_name`), and the value is not blank or a placeholder.
    Key,
    /// PII was found inside a longer free-text value.
    Text,
    /// The whole value has the shape of the class (and its checksum, where there is one).
    Value,
}

// === impl DetectorOptions ===

impl Default for DetectorOptions {
    /// Every class, free-text scanning on.
    fn default() -> Self {
        Self {
            classes: ClassSet::all(),
            text: TextScan::On,
        }
    }
}

// === impl Source ===

impl Source {
    /// Stable snake_case name, for the report.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Text => "text",
            Self::Value => "value",
        }
    }
}

// === impl Detector ===

impl Default for Detector {
    fn default() -> Self {
        Self::new(DetectorOptions::default())
    }
}

impl Detector {
    /// Builds a detector. Cheap; config compile calls it once per route.
    pub fn new(options: DetectorOptions) -> Self {
        Self {
            classes: options.classes,
            text: options.text,
        }
    }

    /// The classes this detector reports.
    pub fn classes(&self) -> ClassSet {
        self.classes
    }

    /// Analyses a member name for [`Detector::classify_hinted`]. Allocation-free.
    pub fn hint(&self, key: &str) -> KeyHint {
        KeyHint(key::analyse(key))
    }

    /// The class a member name announces (`emailAddress`, `phone_number`, `dob`, …), if it
    /// is enabled. Allocation-free.
    pub fn classify_key(&self, key: &str) -> Option<Class> {
        key::analyse(key)
            .class
            .filter(|c| self.classes.contains(*c))
    }

    /// The class of `value` judged by its content, with `key` (the nearest member name) as a
    /// hint for ambiguous shapes. Includes free-text scanning when enabled. Allocation-free.
    pub fn classify_value(&self, key: Option<&str>, value: &str) -> Option<Class> {
        let info = key.map(key::analyse).unwrap_or_default();
        let t = value.trim_ascii().as_bytes();
        let sh = Shape::of(t);
        self.whole(&info, value.trim_ascii(), &sh)
            .or_else(|| self.free_text(t, &sh))
            .or_else(|| self.folded(&info, value, &sh).map(|d| d.class))
            .or_else(|| self.decoded(t, &sh))
    }

    /// The leaf's class with its evidence: the value first, then the key, then free text (see
    /// the module doc for why in that order). Allocation-free.
    pub fn classify(&self, key: Option<&str>, value: &str) -> Option<Detection> {
        self.classify_hinted(key.map(|k| self.hint(k)).unwrap_or_default(), value)
    }

    /// [`Detector::classify`] with the key already analysed by [`Detector::hint`].
    pub fn classify_hinted(&self, hint: KeyHint, value: &str) -> Option<Detection> {
        let info = hint.0;
        let s = value.trim_ascii();
        let t = s.as_bytes();
        let sh = Shape::of(t);
        if let Some(class) = self.whole(&info, s, &sh) {
            return Some(Detection {
                class,
                source: Source::Value,
            });
        }
        if let Some(class) = info.class.filter(|c| self.classes.contains(*c)) {
            if !placeholder(t) {
                return Some(Detection {
                    class,
                    source: Source::Key,
                });
            }
            return None;
        }
        self.free_text(t, &sh)
            .map(|class| Detection {
                class,
                source: Source::Text,
            })
            .or_else(|| self.folded(&info, value, &sh))
            .or_else(|| {
                self.decoded(t, &sh).map(|class| Detection {
                    class,
                    source: Source::Text,
                })
            })
    }

    /// A value that is entirely base64 of text or a `data:` URL (`encoded.rs`), classified by
    /// the text it decodes to. Only a value of one encoding's alphabet, without spaces, pays.
    fn decoded(&self, t: &[u8], sh: &Shape) -> Option<Class> {
        if self.text == TextScan::Off {
            return None;
        }
        // A URL inside a URL's parameter (a redirect target) escapes its own escapes:
        // `%2540` is `%40` once the outer URL is read, and `@` once the inner one is.
        if sh.escape > 0
            && memchr::memmem::find(t, b"%25").is_some()
            && let Some(class) = self.read_decoded(&encoded::Encoded::Percent(t), false)
        {
            return Some(class);
        }
        if sh.spaced() || sh.high > 0 {
            return None;
        }
        let e = encoded::encoding(t)?;
        self.read_decoded(&e, false)
    }

    #[cold]
    #[inline(never)]
    fn read_decoded(&self, e: &encoded::Encoded<'_>, inner: bool) -> Option<Class> {
        encoded::windows(e, |text| {
            let s = text.trim_ascii();
            let t = s.as_bytes();
            let sh = Shape::of(t);
            self.whole(&KeyInfo::default(), s, &sh)
                .or_else(|| self.free_text(t, &sh))
                .or_else(|| self.folded(&KeyInfo::default(), s, &sh).map(|d| d.class))
                // Base64 of base64 (a wrapper wrapped again) is decoded once more, not
                // further: each layer is one more decoder call for the recipient, and a
                // bound keeps the cost of a leaf at two decodings.
                .or_else(|| {
                    if inner || sh.spaced() || sh.high > 0 {
                        return None;
                    }
                    self.read_decoded(&encoded::encoding(t)?, true)
                })
        })
    }

    /// The value read again with the characters a reader folds folded (`fold.rs`): only a
    /// value holding one of them pays. A whole value is read whole; a longer one in windows.
    fn folded(&self, info: &KeyInfo, value: &str, sh: &Shape) -> Option<Detection> {
        if sh.high == 0 || !fold::foldable(value.as_bytes()) {
            return None;
        }
        self.folded_windows(info, value)
    }

    #[cold]
    #[inline(never)]
    fn folded_windows(&self, info: &KeyInfo, value: &str) -> Option<Detection> {
        let mut buf = [0u8; fold::WINDOW];
        let mut from = 0;
        loop {
            let (n, reach, changed) = fold::fold(value, from, &mut buf);
            if changed {
                let f = buf[..n].trim_ascii();
                let sh = Shape::of(f);
                let whole = from == 0 && reach == value.len();
                if whole
                    && let Ok(text) = std::str::from_utf8(f)
                    && let Some(class) = self.whole(info, text, &sh)
                {
                    return Some(Detection {
                        class,
                        source: Source::Value,
                    });
                }
                if let Some(class) = self.free_text(f, &sh) {
                    return Some(Detection {
                        class,
                        source: Source::Text,
                    });
                }
            }
            if reach >= value.len() {
                return None;
            }
            // The next window starts `OVERLAP` bytes back, at a character boundary; a full
            // window read more input than that, so it always moves on.
            let mut next = reach.saturating_sub(fold::OVERLAP).max(from + 1);
            while !value.is_char_boundary(next) {
                next += 1;
            }
            from = next;
        }
    }

    fn on(&self, class: Class) -> bool {
        self.classes.contains(class)
    }

    /// Whole-value detectors, in priority order, each behind its shape prefilter.
    fn whole(&self, info: &KeyInfo, s: &str, sh: &Shape) -> Option<Class> {
        let t = s.as_bytes();
        if t.is_empty() || t.len() > MAX_WHOLE {
            return None;
        }
        let hint = info.class;
        let spaced = sh.spaced();
        if sh.at == 1 && !spaced && self.on(Class::Email) && email::is_email(t) {
            return Some(Class::Email);
        }
        if !spaced && sh.len >= 20 {
            if sh.dot == 2 && self.on(Class::Jwt) && secret::is_jwt(t) {
                return Some(Class::Jwt);
            }
            if self.on(Class::ApiKey) && secret::is_api_key(t) {
                return Some(Class::ApiKey);
            }
        }
        if t.len() > 64 && !spaced {
            return None; // only tokens and JWTs are this long without a space
        }
        if !spaced && self.on(Class::IpAddress) {
            if sh.colon >= 2 && sh.len <= 45 && ip::is_ipv6(t) {
                return Some(Class::IpAddress);
            }
            if sh.dot == 3 && sh.digit + 3 == sh.len as u32 && !info.version && ip::is_ipv4(t) {
                return Some(Class::IpAddress);
            }
        }
        if hint == Some(Class::DateOfBirth)
            && self.on(Class::DateOfBirth)
            && sh.digit >= 4
            && date::is_date(t)
        {
            return Some(Class::DateOfBirth);
        }
        if sh.digit >= 7
            && sh.numeric()
            && let Some(c) = self.numeric(info, t, sh)
        {
            return Some(c);
        }
        if sh.letters() >= 2
            && sh.digit >= 8
            && (15..=42).contains(&sh.len)
            && self.on(Class::Iban)
            && iban::is_iban(t)
        {
            return Some(Class::Iban);
        }
        if self.on(Class::StreetAddress)
            && address_candidate(t, sh)
            && address::is_street_address(s)
        {
            return Some(Class::StreetAddress);
        }
        None
    }

    /// Digits with phone/card punctuation.
    fn numeric(&self, info: &KeyInfo, t: &[u8], sh: &Shape) -> Option<Class> {
        let hint = info.class;
        let digits = sh.digit;
        let bare_cnic = matches!(hint, Some(Class::Cnic | Class::NationalId));
        if (digits == 13) && self.on(Class::Cnic) && national::is_cnic(t, bare_cnic) {
            return Some(Class::Cnic);
        }
        if digits == 9 && self.on(Class::Ssn) && national::is_ssn(t, hint == Some(Class::Ssn)) {
            return Some(Class::Ssn);
        }
        let card_hint = hint == Some(Class::PaymentCard);
        if (12..=19).contains(&digits)
            && sh.lower == 0
            && self.on(Class::PaymentCard)
            && card::is_card(t, card_hint)
        {
            return Some(Class::PaymentCard);
        }
        if !info.version && self.on(Class::Phone) && phone::is_phone(t, hint == Some(Class::Phone))
        {
            return Some(Class::Phone);
        }
        None
    }

    fn free_text(&self, t: &[u8], sh: &Shape) -> Option<Class> {
        if self.text == TextScan::Off {
            return None;
        }
        if (sh.spaced() || sh.at > 0)
            && let Some(class) = text::scan(t, sh, self.classes)
        {
            return Some(class);
        }
        // `mailto:alice%40example.com`, a tracking link's `?e=alice%40example.com`, an HTML
        // fragment's `alice&#64;example.com`: the recipient reads an address there.
        if sh.escape > 0 && self.on(Class::Email) && text::escaped_email(t) {
            return Some(Class::Email);
        }
        // A number written with escapes (`%2B44…`, `4242&#45;4242…`): read through them.
        if sh.escape > 0
            && sh.digit >= 7
            && let Some(class) = text::escaped_number(t, self.classes)
        {
            return Some(class);
        }
        // A link whose parameter is base64 of text (`?p=…`), read for every class.
        if sh.escape > 0 && sh.colon > 0 && sh.slash >= 2 {
            return text::encoded_param(t, self.classes);
        }
        None
    }
}

/// Cheap gate before the address grammar: it needs a house number, a line break, or a
/// French street type at the start.
fn address_candidate(t: &[u8], sh: &Shape) -> bool {
    if !sh.spaced() || sh.letters() + sh.high < 3 || sh.len > 200 {
        return false;
    }
    t[0].is_ascii_digit()
        || sh.newline > 0
        || (sh.digit > 0 && t[0].is_ascii_uppercase())
        || matches!(t[0], b'r' | b'b' | b'a' | b'c' | b'i' | b'q')
}

/// Values that say "no value": a key alone does not make them PII.
fn placeholder(t: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"null",
        b"none",
        b"nil",
        b"n/a",
        b"na",
        b"unknown",
        b"undefined",
        b"true",
        b"false",
        b"-",
        b"redacted",
        b"[redacted]",
        b"***",
        b"0",
    ];
    t.is_empty() || WORDS.iter().any(|w| w.eq_ignore_ascii_case(t))
}

#[cfg(test)]
mod tests;
