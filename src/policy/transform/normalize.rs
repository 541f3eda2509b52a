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
                if t.bytes().any(|b| b.is_ascii_uppercase()) || !t.is_ascii() {
                    buf.clear();
                    if t.is_ascii() {
                        buf.extend(t.bytes().map(|b| b.to_ascii_lowercase()));
                    } else {
                        buf.extend_from_slice(t.to_lowercase().as_bytes());
                    }
                    buf
                } else {
                    t.as_bytes()
                }
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

#[cfg(test)]
mod tests {
    use super::*;

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
