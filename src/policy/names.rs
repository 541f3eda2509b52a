//! Member and field names under detection: how a name is written into a report's field path,
//! and the per-request cache of what the detector makes of each name ([`HintCache`]).
//!
//! The report names where detection found something, never what: array indices become `[*]`,
//! and a member name that could itself be data (see [`key_is_name`]) becomes `*`. The
//! allow-list of name characters and the digit limit are deliberately strict: a lost name costs
//! a less specific report line, a kept value would be a leak.

use crate::detect::{Class, Detector, KeyHint};

/// Member names analysed once per request: a direct-mapped cache keyed by the name's bytes.
///
/// Every event of a batch repeats the same member names, and key analysis is the larger half
/// of classifying a leaf (docs/BENCHMARKS.md, Detection), so the walker asks this cache instead
/// of [`Detector::hint`] per leaf. Names up to [`HintCache::MAX_KEY`] bytes are cached; longer
/// ones are analysed each time. A collision only costs a recomputation. Built once per request
/// (one allocation of about 10 KB), only on routes with detection.
pub struct HintCache {
    slots: Box<[Slot; SLOTS]>,
    /// The walk [`HintCache::seen_in_walk`] answers for (0: none yet).
    walk: u32,
}

const SLOTS: usize = 256;

#[derive(Clone, Copy)]
struct Slot {
    /// Key length + 1; 0 = empty.
    len: u8,
    /// [`words`] of the key.
    w0: u64,
    w1: u64,
    /// The key itself, kept only when it is longer than 16 bytes.
    key: [u8; HintCache::MAX_KEY],
    hint: KeyHint,
    /// Whether the name may appear in a field path ([`key_is_name`]), once asked.
    name: u8,
    /// What the detector makes of the name read as a value ([`HintCache::name_class`]), once
    /// asked: [`VALUE_UNKNOWN`], [`VALUE_NONE`], or [`VALUE_CLASS`] plus the class's index.
    value: u8,
    /// The walk in which the name was last met ([`HintCache::seen_in_walk`]), and whether it
    /// echoed a selected value there (once [`HintCache::echoed_in_walk`] said so).
    walk: u32,
    echoed: bool,
}

const NAME_UNKNOWN: u8 = 0;
const NAME_YES: u8 = 1;
const NAME_NO: u8 = 2;

const VALUE_UNKNOWN: u8 = 0;
const VALUE_NONE: u8 = 1;
const VALUE_CLASS: u8 = 2;

const EMPTY: Slot = Slot {
    len: 0,
    w0: 0,
    w1: 0,
    key: [0; HintCache::MAX_KEY],
    hint: KeyHint::NONE,
    name: NAME_UNKNOWN,
    value: VALUE_UNKNOWN,
    walk: 0,
    echoed: false,
};

impl std::fmt::Debug for HintCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HintCache")
    }
}

impl Default for HintCache {
    fn default() -> Self {
        Self::new()
    }
}

impl HintCache {
    /// Longest member name cached, in bytes.
    pub const MAX_KEY: usize = 32;

    /// An empty cache.
    pub fn new() -> Self {
        Self {
            slots: Box::new([EMPTY; SLOTS]),
            walk: 0,
        }
    }

    /// Starts a document walk: names are met for the first time again
    /// ([`HintCache::seen_in_walk`]). The echo set a walk searches is fixed while it runs, so
    /// what a name echoes is asked once per walk, however often a batch repeats it.
    pub(crate) fn begin_walk(&mut self) {
        self.walk = self.walk.wrapping_add(1).max(1);
    }

    /// Whether `b` was met before in this walk: `None` the first time (now it has been) or
    /// when the name is too long to remember, else whether it echoed.
    pub(crate) fn seen_in_walk(&mut self, detector: &Detector, b: &[u8]) -> Option<bool> {
        if b.len() > Self::MAX_KEY {
            return None;
        }
        let i = self.slot(detector, b)?;
        let slot = &mut self.slots[i];
        if slot.walk == self.walk {
            return Some(slot.echoed);
        }
        slot.walk = self.walk;
        slot.echoed = false;
        None
    }

    /// The slot remembering `b` (at most [`HintCache::MAX_KEY`] bytes), made with the
    /// detector's hint the first time `b` is met. `None` for bytes that are not UTF-8.
    #[inline]
    fn slot(&mut self, detector: &Detector, b: &[u8]) -> Option<usize> {
        let (first, w0, w1) = locate(b);
        if let Some(i) = self.find(first, b, w0, w1) {
            return Some(i);
        }
        let key = std::str::from_utf8(b).ok()?;
        self.insert(first, b, w0, w1, detector.hint(key));
        Some(first)
    }

    /// Records that `b`, met in this walk, echoes a selected value.
    pub(crate) fn echoed_in_walk(&mut self, b: &[u8]) {
        if b.len() > Self::MAX_KEY {
            return;
        }
        let (first, w0, w1) = locate(b);
        if let Some(i) = self.find(first, b, w0, w1) {
            self.slots[i].echoed = true;
        }
    }

    /// The detector's hint for `key` and whether `key` may appear in a field path.
    pub fn get(&mut self, detector: &Detector, key: &str) -> (KeyHint, bool) {
        let hint = self.hint(detector, key.as_bytes()).unwrap_or_default();
        (hint, self.is_name(detector, key))
    }

    /// The detector's hint for a member name still in bytes: UTF-8 is only checked on a miss.
    /// `None` for bytes that are not UTF-8 (the JSON scanner has already refused those).
    #[inline]
    pub fn hint(&mut self, detector: &Detector, b: &[u8]) -> Option<KeyHint> {
        if b.len() > Self::MAX_KEY {
            return Some(detector.hint(std::str::from_utf8(b).ok()?));
        }
        let (first, w0, w1) = locate(b);
        if let Some(i) = self.find(first, b, w0, w1) {
            return Some(self.slots[i].hint);
        }
        let hint = detector.hint(std::str::from_utf8(b).ok()?);
        self.insert(first, b, w0, w1, hint);
        Some(hint)
    }

    /// [`key_is_name`], remembered per name: only names under which something was detected
    /// are ever asked, so most names never pay for it.
    pub(crate) fn is_name(&mut self, detector: &Detector, key: &str) -> bool {
        let b = key.as_bytes();
        if b.len() > Self::MAX_KEY {
            return key_is_name(detector, key);
        }
        let Some(i) = self.slot(detector, b) else {
            return key_is_name(detector, key);
        };
        let slot = &mut self.slots[i];
        if slot.name == NAME_UNKNOWN {
            slot.name = if key_is_name(detector, key) {
                NAME_YES
            } else {
                NAME_NO
            };
        }
        slot.name == NAME_YES
    }

    /// The class of personal data a member name is when read as a value
    /// (`{"alice@example.com": 3}`, a map keyed by phone number), remembered per name: a batch
    /// repeats the same few field names, so each distinct name is classified once per request.
    /// `None` for bytes that are not UTF-8 (the JSON scanner has already refused those).
    #[inline]
    pub fn name_class(&mut self, detector: &Detector, b: &[u8]) -> Option<Option<Class>> {
        if plain_field_name(b) {
            return Some(None);
        }
        if b.len() > Self::MAX_KEY {
            return Some(detector.classify_value(None, std::str::from_utf8(b).ok()?));
        }
        let i = self.slot(detector, b)?;
        let slot = &mut self.slots[i];
        if slot.value == VALUE_UNKNOWN {
            let key = std::str::from_utf8(b).ok()?;
            slot.value = match detector.classify_value(None, key) {
                None => VALUE_NONE,
                Some(c) => VALUE_CLASS + c.index() as u8,
            };
        }
        match slot.value {
            VALUE_NONE => Some(None),
            v => Some(Class::ALL.get(usize::from(v - VALUE_CLASS)).copied()),
        }
    }

    /// The slot holding `b`, if any (two-way: a name may sit in either slot of its pair, so
    /// two names that hash alike do not evict each other on every event of a batch).
    #[inline]
    fn find(&self, first: usize, b: &[u8], w0: u64, w1: u64) -> Option<usize> {
        let n = b.len();
        [first, first | 1].into_iter().find(|&i| {
            let slot = &self.slots[i];
            usize::from(slot.len) == n + 1
                && slot.w0 == w0
                && slot.w1 == w1
                && (n <= 16 || slot.key[..n] == *b)
        })
    }

    /// Puts `b` in the first slot of its pair; the name it displaces moves to the second.
    fn insert(&mut self, first: usize, b: &[u8], w0: u64, w1: u64, hint: KeyHint) {
        let n = b.len();
        self.slots[first | 1] = self.slots[first];
        let slot = &mut self.slots[first];
        slot.len = (n + 1) as u8;
        slot.w0 = w0;
        slot.w1 = w1;
        if n > 16 {
            slot.key[..n].copy_from_slice(b);
        }
        slot.hint = hint;
        slot.name = NAME_UNKNOWN;
        slot.value = VALUE_UNKNOWN;
        slot.walk = 0;
        slot.echoed = false;
    }
}

/// A name no detector can read as a value, decided without a lookup: up to 15 bytes of ASCII
/// letters, `_`, `$`, `-` and `.` (`event`, `properties`, `$set`, `page.url`). Every value
/// class needs a digit, an `@`, a `:`, whitespace, an escape, a non-ASCII character or at
/// least 16 bytes (a token, or base64 of text), so most field names stop here.
#[inline]
pub(crate) fn plain_field_name(b: &[u8]) -> bool {
    b.len() <= 15 && b.iter().all(|&c| PLAIN[usize::from(c)])
}

/// The bytes of [`plain_field_name`], as a table: one load per byte on the per-member path.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphabetic() || matches!(b, b'_' | b'$' | b'-' | b'.');
        c += 1;
    }
    t
};

/// The first slot of a name's pair, and its two words. Words are read straight from the name
/// (a copy followed by word loads stalls on store forwarding).
#[inline]
fn locate(b: &[u8]) -> (usize, u64, u64) {
    let (w0, w1) = words(b);
    let h = (w0 ^ w1.rotate_left(29) ^ b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (((h >> 56) as usize % SLOTS) & !1, w0, w1)
}

/// Two words that, with the length, determine a name of up to 16 bytes: the first and last 8
/// bytes (overlapping for shorter names), or 4 and 4, or the first, middle and last byte.
#[inline]
fn words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    let w8 = |s: &[u8]| s.first_chunk::<8>().map_or(0, |c| u64::from_le_bytes(*c));
    let w4 = |s: &[u8]| {
        s.first_chunk::<4>()
            .map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
    };
    match n {
        0 => (0, 0),
        1..=3 => (
            u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
            0,
        ),
        4..=7 => (w4(b), w4(&b[n - 4..])),
        _ => (w8(b), w8(&b[n - 8..])),
    }
}

/// Whether a member name may be written into a field path as it is. Object keys are sometimes
/// data (`{"alice@example.com": {…}}`, maps keyed by user id, phone or date), so a name is kept
/// only if it looks like a field name: 1–40 bytes of letters, digits, `_`, `-`, `$`, `.` and
/// spaces, starting with a letter, `_` or `$`, with at most four digits, fewer digits than
/// letters, and no detector recognising it as a value. Anything else is written `*`.
///
/// Names of people used as keys (`{"Alice Smith": …}`) pass this test: no rule can tell them
/// from field names. Maps keyed by person names should be dropped or selected by a rule.
pub(crate) fn key_is_name(detector: &Detector, key: &str) -> bool {
    let b = key.as_bytes();
    if b.is_empty() || b.len() > 40 {
        return false;
    }
    let mut digits = 0usize;
    let mut letters = 0usize;
    for c in key.chars() {
        if c.is_ascii_digit() {
            digits += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        } else if !matches!(c, '_' | '-' | '$' | '.' | ' ') {
            return false;
        }
    }
    let first = key.chars().next().unwrap_or(' ');
    (first.is_alphabetic() || first == '_' || first == '$')
        && digits <= 4
        && digits < letters
        && detector.classify_value(None, key).is_none()
}

/// Appends a member segment to `path`: `.name`, `['a b']` for names that need quoting, `.*` for
/// names that may be data.
pub(crate) fn push_member(path: &mut String, key: &str, is_name: bool) {
    if !is_name {
        path.push_str(".*");
    } else if key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'-'))
    {
        path.push('.');
        path.push_str(key);
    } else {
        // `key_is_name` admits no quote or backslash, so nothing needs escaping.
        path.push_str("['");
        path.push_str(key);
        path.push_str("']");
    }
}

/// The report path of a form or query field name: `items[0][email]` → `items[*][email]`; a
/// base name or bracket part that may be data becomes `*`.
pub(crate) fn push_field_name(path: &mut String, detector: &Detector, name: &str) {
    let (base, mut rest) = match name.find('[') {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    if key_is_name(detector, base) {
        path.push_str(base);
    } else {
        path.push('*');
    }
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            path.push_str("[*]");
            return;
        };
        let part = &inner[..close];
        if part.is_empty() {
            path.push_str("[]");
        } else if key_is_name(detector, part) {
            path.push('[');
            path.push_str(part);
            path.push(']');
        } else {
            path.push_str("[*]");
        }
        rest = &inner[close + 1..];
        if !rest.is_empty() && !rest.starts_with('[') {
            // Trailing text after a bracket: not a shape we name.
            path.push_str("[*]");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_like_names_are_not_written_into_paths() {
        let d = Detector::default();
        for name in [
            "email",
            "contact_email",
            "$email",
            "address_line1",
            "Plan Type",
            "utm_campaign",
            "straße",
        ] {
            assert!(key_is_name(&d, name), "{name} is a field name");
        }
        for data in [
            "alice@example.com",
            "+92 300 1234567",
            "03001234567",
            "550e8400-e29b-41d4-a716-446655440000",
            "2024-01-31",
            "10.1.2.3",
            "user_12345678",
            "a1b2c3d4e5",
            "",
            "12 Main Street",
            "x'y",
        ] {
            assert!(!key_is_name(&d, data), "{data} may be data");
        }
    }

    #[test]
    fn paths_are_rendered_without_values() {
        let d = Detector::default();
        let mut p = String::from("$");
        push_member(&mut p, "batch", true);
        p.push_str("[*]");
        push_member(&mut p, "Plan Type", true);
        push_member(
            &mut p,
            "alice@example.com",
            key_is_name(&d, "alice@example.com"),
        );
        assert_eq!(p, "$.batch[*]['Plan Type'].*");
        let mut f = String::from("form:");
        push_field_name(&mut f, &d, "items[0][email]");
        assert_eq!(f, "form:items[*][email]");
        let mut f = String::from("query:");
        push_field_name(&mut f, &d, "a@b.example[x]y");
        assert_eq!(f, "query:*[x][*]");
    }

    #[test]
    fn the_cache_agrees_with_the_detector() {
        let d = Detector::default();
        let mut c = HintCache::new();
        let keys = [
            "email",
            "phone",
            "email",
            "x",
            "xy",
            "xyz",
            "yxz",
            "ip",
            "e_mail",
            "emails",
            "contact_email_address",
            "contact_email_addresses",
            &"k".repeat(40),
            "phone",
            "first_name",
            "firstname",
            "userAgent",
            "user_agent",
            "e_mail",
        ];
        for _ in 0..2 {
            for key in keys {
                assert_eq!(c.get(&d, key), (d.hint(key), key_is_name(&d, key)), "{key}");
            }
        }
        // Names that agree on their words but not their bytes cannot share a slot's answer.
        for n in 0..=16 {
            let a = "a".repeat(n);
            assert_eq!(words(a.as_bytes()).0 == words(b"").0, n == 0);
        }
    }
}
