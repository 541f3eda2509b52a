//! Normalisation before tokenizing: equal identifiers written differently (`Alice@Example.com`,
//! ` alice@example.com`) give one token.

/// Normalisation before tokenizing (`tokenize`'s `normalize` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    /// Trim and lower-case.
    Email,
    /// Trim and lower-case.
    Lowercase,
    /// Use the value as is.
    None,
    /// Keep a leading `+` and the digits; drop spaces, dashes, dots and parentheses.
    Phone,
}

impl Normalize {
    /// Every normalisation.
    pub const ALL: [Self; 4] = [Self::Email, Self::Lowercase, Self::None, Self::Phone];
    /// The config spellings, in [`Self::ALL`] order.
    pub const NAMES: [&'static str; 4] = super::config_names!(4);

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Lowercase => "lowercase",
            Self::None => "none",
            Self::Phone => "phone",
        }
    }

    /// Normalises `text`, borrowing when nothing changes.
    #[inline]
    pub fn apply<'b>(self, text: &'b str, buf: &'b mut Vec<u8>) -> &'b [u8] {
        match self {
            Self::None => text.as_bytes(),
            Self::Email | Self::Lowercase => {
                let t = text.trim();
                if t.is_ascii() {
                    if !t.bytes().any(|b| b.is_ascii_uppercase()) {
                        return t.as_bytes();
                    }
                    buf.clear();
                    buf.extend(t.bytes().map(|b| b.to_ascii_lowercase()));
                } else {
                    buf.clear();
                    lowercase_into(t, buf);
                }
                buf
            }
            Self::Phone => {
                buf.clear();
                let t = text.trim();
                if t.starts_with('+') {
                    buf.push(b'+');
                }
                buf.extend(t.bytes().filter(u8::is_ascii_digit));
                buf
            }
        }
    }
}

/// Appends `str::to_lowercase(t)` to `buf` without a `String` per value (a batch lower-cases
/// every non-ASCII address). Outside the one context-dependent mapping Unicode has — a capital
/// sigma lower-cases to `ς` at the end of a word — `str::to_lowercase` is `char::to_lowercase`
/// applied to each character, so text with a capital sigma goes through it as it is; the
/// result is byte for byte the same either way (tokens must not change).
fn lowercase_into(t: &str, buf: &mut Vec<u8>) {
    if t.contains('Σ') {
        buf.extend_from_slice(t.to_lowercase().as_bytes());
        return;
    }
    let mut utf8 = [0u8; 4];
    for c in t.chars() {
        if c.is_ascii() {
            buf.push((c as u8).to_ascii_lowercase());
        } else {
            for l in c.to_lowercase() {
                buf.extend_from_slice(l.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Tokens depend on the normalised bytes: they must be `str::to_lowercase`'s exactly,
        /// for any text (capital sigmas at and inside words, dotted capital I, ligatures).
        #[test]
        fn lowercasing_equals_str_to_lowercase(
            t in "([A-Za-z@. ]|Σ|İ|ẞ|Ǆ|ﬀ|Ω|É|ü|\\PC){0,24}"
        ) {
            let mut buf = Vec::new();
            lowercase_into(&t, &mut buf);
            prop_assert_eq!(buf, t.to_lowercase().into_bytes());
            let want = t.trim().to_lowercase();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            prop_assert_eq!(Normalize::Email.apply(&t, &mut a), want.as_bytes());
            prop_assert_eq!(Normalize::Lowercase.apply(&t, &mut b), want.as_bytes());
        }
    }

    #[test]
    fn normalize_borrows_when_clean() {
        let mut buf = Vec::new();
        assert_eq!(
            Normalize::Email.apply(" Alice@Example.COM ", &mut buf),
            b"alice@example.com"
        );
        assert_eq!(
            Normalize::Phone.apply("+1 (555) 010-9999", &mut buf),
            b"+15550109999"
        );
        assert_eq!(Normalize::Email.apply("bob@x.io", &mut buf), b"bob@x.io");
    }
}
