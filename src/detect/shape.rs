//! The one-pass prefilter: a histogram of byte kinds.
//!
//! Every detector first asks a question about the value's *shape* — "exactly one `@` and no
//! space?", "only digits and dashes, 13 to 19 digits?" — and only candidates reach a parser.
//! [`Shape::of`] answers all of those questions for the price of one table lookup and one
//! increment per byte, so a value that is no candidate for anything (most ids, event names,
//! URLs) costs one linear pass and a handful of comparisons.

/// Counts of byte kinds in a value.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shape {
    pub(crate) len: usize,
    pub(crate) digit: u32,
    pub(crate) upper: u32,
    pub(crate) lower: u32,
    pub(crate) at: u32,
    pub(crate) dot: u32,
    pub(crate) colon: u32,
    pub(crate) dash: u32,
    /// ASCII spaces and tabs.
    pub(crate) space: u32,
    /// Line breaks (`\n`, `\r`).
    pub(crate) newline: u32,
    pub(crate) plus: u32,
    pub(crate) paren: u32,
    pub(crate) slash: u32,
    /// Bytes >= 0x80 (parts of non-ASCII characters).
    pub(crate) high: u32,
    /// `%`, `&` and `\`, which start the escapes a recipient may decode (`%40`, `&#64;`,
    /// `\u0040`), and `=`, which starts a parameter's value (base64 of text, in a link).
    pub(crate) escape: u32,
}

const DIGIT: u8 = 0;
const UPPER: u8 = 1;
const LOWER: u8 = 2;
const AT: u8 = 3;
const DOT: u8 = 4;
const COLON: u8 = 5;
const DASH: u8 = 6;
const SPACE: u8 = 7;
const NEWLINE: u8 = 8;
const PLUS: u8 = 9;
const PAREN: u8 = 10;
const SLASH: u8 = 11;
const HIGH: u8 = 12;
const ESCAPE: u8 = 13;
/// Any other byte (`_ , ; ! ?`, controls): counted, never asked about.
const OTHER: u8 = 14;
const KINDS: usize = 15;

static TABLE: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'0'..=b'9' => DIGIT,
            b'A'..=b'Z' => UPPER,
            b'a'..=b'z' => LOWER,
            b'@' => AT,
            b'.' => DOT,
            b':' => COLON,
            b'-' => DASH,
            b' ' | b'\t' => SPACE,
            b'\n' | b'\r' => NEWLINE,
            b'+' => PLUS,
            b'(' | b')' => PAREN,
            b'/' => SLASH,
            0x80..=0xff => HIGH,
            b'%' | b'&' | b'\\' | b'=' => ESCAPE,
            _ => OTHER,
        };
        i += 1;
    }
    t
};

impl Shape {
    /// Counts the byte kinds of `s` in one pass.
    pub(crate) fn of(s: &[u8]) -> Self {
        let mut c = [0u32; KINDS];
        for &b in s {
            c[usize::from(TABLE[usize::from(b)])] += 1;
        }
        Self {
            len: s.len(),
            digit: c[usize::from(DIGIT)],
            upper: c[usize::from(UPPER)],
            lower: c[usize::from(LOWER)],
            at: c[usize::from(AT)],
            dot: c[usize::from(DOT)],
            colon: c[usize::from(COLON)],
            dash: c[usize::from(DASH)],
            space: c[usize::from(SPACE)],
            newline: c[usize::from(NEWLINE)],
            plus: c[usize::from(PLUS)],
            paren: c[usize::from(PAREN)],
            slash: c[usize::from(SLASH)],
            high: c[usize::from(HIGH)],
            escape: c[usize::from(ESCAPE)],
        }
    }

    /// Letters, ASCII only.
    pub(crate) fn letters(&self) -> u32 {
        self.upper + self.lower
    }

    /// Whether the value has whitespace inside (after trimming, so it is free text or a
    /// spaced number).
    pub(crate) fn spaced(&self) -> bool {
        self.space + self.newline > 0
    }

    /// Whether every byte is a digit or one of `- . / ( ) +` or a space: the phone, card,
    /// CNIC, SSN and numeric-date alphabet. Up to nine lower-case letters are allowed for an
    /// extension (`x123`, `ext. 12`).
    pub(crate) fn numeric(&self) -> bool {
        let l = u64::from;
        l(self.digit)
            + l(self.dash)
            + l(self.dot)
            + l(self.slash)
            + l(self.paren)
            + l(self.plus)
            + l(self.space)
            + l(self.lower)
            == self.len as u64
            && self.lower <= 9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let s = Shape::of("+92 (300) 123-4567 x1 a@b.c_d:é,\n!%&".as_bytes());
        assert_eq!(s.digit, 13);
        assert_eq!(
            (s.plus, s.paren, s.dash, s.space, s.at, s.dot),
            (1, 2, 1, 4, 1, 1)
        );
        assert_eq!((s.lower, s.colon, s.high, s.newline), (5, 1, 2, 1));
        assert_eq!(s.escape, 2);
        assert!(!s.numeric());
        assert!(Shape::of(b"0300-1234567").numeric());
        assert!(Shape::of(b"415.555.0100 ext 12").numeric());
    }
}
