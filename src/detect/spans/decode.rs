//! What a reader sees in a segment's raw bytes: HTML character references, percent escapes
//! and `+` decoded one *unit* at a time, forwards and backwards, without materialising the
//! decoded text.
//!
//! The scanner walks raw bytes and only decodes around candidates, so a segment's decoding is a
//! [`Mode`] (which escapes apply) and two functions: [`fwd`] reads the unit starting at a raw
//! offset, [`bwd`] the unit ending at one. A unit's *scan byte* is what the detectors compare:
//! the decoded ASCII character, `b' '` for the no-break and thin spaces mail templates put in
//! phone numbers, [`HIGH`] for any other non-ASCII character and [`STOP`] for a URL delimiter
//! written literally (`&`, `=`, `?`, `#`, `/`): a value never spans one, while `%26` is data.

/// A segment's decoding: which escapes apply. A bit set, `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Mode(u8);

impl Mode {
    /// HTML character references (`&#64;`, `&#x40;`, `&commat;`).
    pub(crate) const ENT: Self = Self(1);
    /// Percent escapes (`%40`).
    pub(crate) const PCT: Self = Self(2);
    /// `+` is a space (the query component of a URL).
    pub(crate) const PLUS: Self = Self(4);
    /// Literal `& = ? # /` are URL delimiters.
    pub(crate) const URL: Self = Self(8);
    /// Not a decoding: a span read through a reference escaped twice (`&amp;#64;`, an
    /// iframe's `srcdoc`), whose replacement is HTML-escaped twice as well.
    pub(crate) const TWICE: Self = Self(16);

    pub(crate) const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub(crate) const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    pub(crate) const fn has(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Scan byte of a non-ASCII character that is not a space.
pub(crate) const HIGH: u8 = 0x80;
/// Scan byte of a literal URL delimiter (and of NUL).
pub(crate) const STOP: u8 = 0;

/// One decoded character.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unit {
    /// What the detectors compare (see the module doc).
    pub(crate) b: u8,
    /// Raw bytes it takes.
    pub(crate) len: usize,
}

/// Bytes that are their own unit in every mode: not an escape start, not a delimiter, not
/// NUL, ASCII.
pub(crate) static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 1;
    while b < 0x80 {
        t[b] = !matches!(
            b as u8,
            b'&' | b'%' | b'+' | b'=' | b'?' | b'#' | b'/' | b';'
        );
        b += 1;
    }
    t
};

/// The unit starting at `raw[i]` (`i < end`).
#[inline(always)]
pub(crate) fn fwd(raw: &[u8], i: usize, end: usize, m: Mode) -> Unit {
    let b = raw[i];
    if PLAIN[usize::from(b)] {
        return Unit { b, len: 1 };
    }
    fwd_slow(raw, i, end, m)
}

#[inline(never)]
fn fwd_slow(raw: &[u8], i: usize, end: usize, m: Mode) -> Unit {
    let b = raw[i];
    match b {
        b'&' if m.has(Mode::ENT) => {
            if let Some((c, len)) = entity(&raw[i..end]) {
                return Unit {
                    b: scan_char(c, m),
                    len,
                };
            }
            literal(b, m)
        }
        b'%' if m.has(Mode::PCT) => match percent(&raw[i..end]) {
            Some(v) => Unit {
                b: if v == 0 {
                    STOP
                } else if v >= 0x80 {
                    HIGH
                } else {
                    v
                },
                len: 3,
            },
            None => literal(b, m),
        },
        b'+' if m.has(Mode::PLUS) => Unit { b: b' ', len: 1 },
        0x80.. => {
            let len = utf8_len(b).min(end - i);
            Unit {
                b: if spacelike(&raw[i..i + len]) {
                    b' '
                } else {
                    HIGH
                },
                len,
            }
        }
        _ => literal(b, m),
    }
}

/// The unit ending at `raw[i - 1]` (`i > start`).
#[inline(always)]
pub(crate) fn bwd(raw: &[u8], i: usize, start: usize, m: Mode) -> Unit {
    let b = raw[i - 1];
    // An escape ends in `;` (a reference) or a hex digit two bytes after a `%` (`%40`); other
    // plain bytes stand alone.
    if PLAIN[usize::from(b)] && (!b.is_ascii_hexdigit() || i < start + 3 || raw[i - 3] != b'%') {
        return Unit { b, len: 1 };
    }
    bwd_slow(raw, i, start, m)
}

#[inline(never)]
fn bwd_slow(raw: &[u8], i: usize, start: usize, m: Mode) -> Unit {
    let b = raw[i - 1];
    if b == b';' && m.has(Mode::ENT) {
        // The longest reference we decode is `&NonBreakingSpace;` (18 bytes).
        let from = i.saturating_sub(20).max(start);
        if let Some(amp) = memchr::memrchr(b'&', &raw[from..i - 1]) {
            let amp = from + amp;
            if let Some((c, len)) = entity(&raw[amp..i])
                && amp + len == i
            {
                return Unit {
                    b: scan_char(c, m),
                    len,
                };
            }
        }
    }
    if m.has(Mode::PCT)
        && i >= start + 3
        && raw[i - 3] == b'%'
        && let Some(v) = percent(&raw[i - 3..i])
    {
        return Unit {
            b: if v == 0 {
                STOP
            } else if v >= 0x80 {
                HIGH
            } else {
                v
            },
            len: 3,
        };
    }
    if b >= 0x80 {
        let mut j = i - 1;
        while j > start && raw[j] & 0xC0 == 0x80 && i - j < 4 {
            j -= 1;
        }
        return Unit {
            b: if spacelike(&raw[j..i]) { b' ' } else { HIGH },
            len: i - j,
        };
    }
    if b == b'+' && m.has(Mode::PLUS) {
        return Unit { b: b' ', len: 1 };
    }
    literal(b, m)
}

#[inline]
fn literal(b: u8, m: Mode) -> Unit {
    let b = if b == 0 || (m.has(Mode::URL) && matches!(b, b'&' | b'=' | b'?' | b'#' | b'/')) {
        STOP
    } else {
        b
    };
    Unit { b, len: 1 }
}

/// Scan byte of a character decoded from a reference. A reference to a URL delimiter is still a
/// delimiter: HTML decoding happens before the URL is parsed (`&amp;` in an `href`).
fn scan_char(c: char, m: Mode) -> u8 {
    match c {
        '\0' => STOP,
        '\u{a0}' | '\u{2002}' | '\u{2003}' | '\u{2007}' | '\u{2009}' | '\u{202f}' => b' ',
        c if c.is_ascii() => literal(c as u8, m).b,
        _ => HIGH,
    }
}

/// No-break, figure, thin and narrow no-break spaces: typed between the groups of phone and
/// card numbers by mail templates and French typography.
fn spacelike(utf8: &[u8]) -> bool {
    matches!(
        utf8,
        [0xC2, 0xA0] | [0xE2, 0x80, 0x82 | 0x83 | 0x87 | 0x89 | 0xAF]
    )
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// The value of one hex digit (escapes of URLs, references and string escapes alike).
pub(super) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `%XX` at the start of `s`.
fn percent(s: &[u8]) -> Option<u8> {
    match s {
        [b'%', h, l, ..] => Some(hex(*h)? << 4 | hex(*l)?),
        _ => None,
    }
}

/// The character reference at the start of `s` (which starts with `&`) and its length.
/// Numeric references (`&#64;`, `&#x40;`, `;` optional as browsers allow) and the named
/// references in [`NAMED`] (`;` required, except the five legacy names browsers accept
/// without it). Anything else is a literal `&`.
pub(crate) fn entity(s: &[u8]) -> Option<(char, usize)> {
    match s.get(1)? {
        b'#' => {
            let (radix, digits_at) = match s.get(2)? {
                b'x' | b'X' => (16, 3),
                _ => (10, 2),
            };
            let mut v: u32 = 0;
            let mut i = digits_at;
            while let Some(&b) = s.get(i) {
                let d = match hex(b) {
                    Some(d) if radix == 16 || b.is_ascii_digit() => u32::from(d),
                    _ => break,
                };
                v = v.saturating_mul(radix).saturating_add(d);
                i += 1;
                if i - digits_at > 8 {
                    return None;
                }
            }
            if i == digits_at {
                return None;
            }
            if s.get(i) == Some(&b';') {
                i += 1;
            }
            // Browsers map NUL, surrogates and out-of-range values to U+FFFD.
            Some((
                char::from_u32(v)
                    .filter(|&c| c != '\0')
                    .unwrap_or('\u{fffd}'),
                i,
            ))
        }
        _ => {
            // A name longer than NAME_MAX is none: reading stops one byte past it.
            let mut name_end = 1;
            while name_end < s.len()
                && name_end <= NAME_MAX + 1
                && s[name_end].is_ascii_alphanumeric()
            {
                name_end += 1;
            }
            let name = &s[1..name_end];
            if name.is_empty() || name.len() > NAME_MAX {
                return None;
            }
            let c = named(name)?;
            if s.get(name_end) == Some(&b';') {
                Some((c, name_end + 1))
            } else if matches!(name, b"amp" | b"lt" | b"gt" | b"quot" | b"nbsp")
                && s.get(name_end) != Some(&b'=')
            {
                Some((c, name_end))
            } else {
                None
            }
        }
    }
}

const NAME_MAX: usize = 16;

/// The character a name references. The names mail templates use all the time are matched
/// directly; the rest by binary search.
fn named(name: &[u8]) -> Option<char> {
    let c = match name {
        b"amp" => '&',
        b"nbsp" => '\u{a0}',
        b"lt" => '<',
        b"gt" => '>',
        b"quot" => '"',
        b"copy" => '\u{a9}',
        b"middot" => '\u{b7}',
        b"rsquo" => '\u{2019}',
        b"zwnj" => '\u{200c}',
        _ => {
            return NAMED
                .binary_search_by(|(n, _)| n.cmp(&name))
                .ok()
                .map(|k| NAMED[k].1);
        }
    };
    Some(c)
}

/// Named references that can appear inside personal data: the HTML 4 Latin-1 set (accented
/// letters in names and addresses), the HTML5 names of ASCII punctuation (`&commat;`,
/// `&period;`, `&plus;` — what obfuscated addresses use), spaces and typographic punctuation.
/// Sorted by bytes for binary search. A name not listed stays as it was written.
static NAMED: &[(&[u8], char)] = &[
    (b"AElig", '\u{c6}'),
    (b"AMP", '\u{26}'),
    (b"Aacute", '\u{c1}'),
    (b"Acirc", '\u{c2}'),
    (b"Agrave", '\u{c0}'),
    (b"Aring", '\u{c5}'),
    (b"Atilde", '\u{c3}'),
    (b"Auml", '\u{c4}'),
    (b"Ccedil", '\u{c7}'),
    (b"Dagger", '\u{2021}'),
    (b"ETH", '\u{d0}'),
    (b"Eacute", '\u{c9}'),
    (b"Ecirc", '\u{ca}'),
    (b"Egrave", '\u{c8}'),
    (b"Euml", '\u{cb}'),
    (b"GT", '\u{3e}'),
    (b"Hat", '\u{5e}'),
    (b"Iacute", '\u{cd}'),
    (b"Icirc", '\u{ce}'),
    (b"Igrave", '\u{cc}'),
    (b"Iuml", '\u{cf}'),
    (b"LT", '\u{3c}'),
    (b"NewLine", '\u{a}'),
    (b"NonBreakingSpace", '\u{a0}'),
    (b"Ntilde", '\u{d1}'),
    (b"OElig", '\u{152}'),
    (b"Oacute", '\u{d3}'),
    (b"Ocirc", '\u{d4}'),
    (b"Ograve", '\u{d2}'),
    (b"Oslash", '\u{d8}'),
    (b"Otilde", '\u{d5}'),
    (b"Ouml", '\u{d6}'),
    (b"QUOT", '\u{22}'),
    (b"Scaron", '\u{160}'),
    (b"THORN", '\u{de}'),
    (b"Tab", '\u{9}'),
    (b"Uacute", '\u{da}'),
    (b"Ucirc", '\u{db}'),
    (b"Ugrave", '\u{d9}'),
    (b"UnderBar", '\u{5f}'),
    (b"Uuml", '\u{dc}'),
    (b"Yacute", '\u{dd}'),
    (b"Yuml", '\u{178}'),
    (b"aacute", '\u{e1}'),
    (b"acirc", '\u{e2}'),
    (b"acute", '\u{b4}'),
    (b"aelig", '\u{e6}'),
    (b"agrave", '\u{e0}'),
    (b"amp", '\u{26}'),
    (b"apos", '\u{27}'),
    (b"aring", '\u{e5}'),
    (b"ast", '\u{2a}'),
    (b"atilde", '\u{e3}'),
    (b"auml", '\u{e4}'),
    (b"bdquo", '\u{201e}'),
    (b"brvbar", '\u{a6}'),
    (b"bsol", '\u{5c}'),
    (b"bull", '\u{2022}'),
    (b"ccedil", '\u{e7}'),
    (b"cedil", '\u{b8}'),
    (b"cent", '\u{a2}'),
    (b"circ", '\u{2c6}'),
    (b"colon", '\u{3a}'),
    (b"comma", '\u{2c}'),
    (b"commat", '\u{40}'),
    (b"copy", '\u{a9}'),
    (b"curren", '\u{a4}'),
    (b"dagger", '\u{2020}'),
    (b"dash", '\u{2010}'),
    (b"deg", '\u{b0}'),
    (b"divide", '\u{f7}'),
    (b"dollar", '\u{24}'),
    (b"eacute", '\u{e9}'),
    (b"ecirc", '\u{ea}'),
    (b"egrave", '\u{e8}'),
    (b"emsp", '\u{2003}'),
    (b"ensp", '\u{2002}'),
    (b"equals", '\u{3d}'),
    (b"eth", '\u{f0}'),
    (b"euml", '\u{eb}'),
    (b"euro", '\u{20ac}'),
    (b"excl", '\u{21}'),
    (b"frac12", '\u{bd}'),
    (b"frac14", '\u{bc}'),
    (b"frac34", '\u{be}'),
    (b"grave", '\u{60}'),
    (b"gt", '\u{3e}'),
    (b"hellip", '\u{2026}'),
    (b"hyphen", '\u{2010}'),
    (b"iacute", '\u{ed}'),
    (b"icirc", '\u{ee}'),
    (b"iexcl", '\u{a1}'),
    (b"igrave", '\u{ec}'),
    (b"iquest", '\u{bf}'),
    (b"iuml", '\u{ef}'),
    (b"laquo", '\u{ab}'),
    (b"lbrace", '\u{7b}'),
    (b"lbrack", '\u{5b}'),
    (b"lcub", '\u{7b}'),
    (b"ldquo", '\u{201c}'),
    (b"lowbar", '\u{5f}'),
    (b"lpar", '\u{28}'),
    (b"lrm", '\u{200e}'),
    (b"lsaquo", '\u{2039}'),
    (b"lsqb", '\u{5b}'),
    (b"lsquo", '\u{2018}'),
    (b"lt", '\u{3c}'),
    (b"macr", '\u{af}'),
    (b"mdash", '\u{2014}'),
    (b"micro", '\u{b5}'),
    (b"midast", '\u{2a}'),
    (b"middot", '\u{b7}'),
    (b"minus", '\u{2212}'),
    (b"nbsp", '\u{a0}'),
    (b"ndash", '\u{2013}'),
    (b"not", '\u{ac}'),
    (b"ntilde", '\u{f1}'),
    (b"num", '\u{23}'),
    (b"oacute", '\u{f3}'),
    (b"ocirc", '\u{f4}'),
    (b"oelig", '\u{153}'),
    (b"ograve", '\u{f2}'),
    (b"ordf", '\u{aa}'),
    (b"ordm", '\u{ba}'),
    (b"oslash", '\u{f8}'),
    (b"otilde", '\u{f5}'),
    (b"ouml", '\u{f6}'),
    (b"para", '\u{b6}'),
    (b"percnt", '\u{25}'),
    (b"period", '\u{2e}'),
    (b"permil", '\u{2030}'),
    (b"plus", '\u{2b}'),
    (b"plusmn", '\u{b1}'),
    (b"pound", '\u{a3}'),
    (b"quest", '\u{3f}'),
    (b"quot", '\u{22}'),
    (b"raquo", '\u{bb}'),
    (b"rbrace", '\u{7d}'),
    (b"rbrack", '\u{5d}'),
    (b"rcub", '\u{7d}'),
    (b"rdquo", '\u{201d}'),
    (b"reg", '\u{ae}'),
    (b"rlm", '\u{200f}'),
    (b"rpar", '\u{29}'),
    (b"rsaquo", '\u{203a}'),
    (b"rsqb", '\u{5d}'),
    (b"rsquo", '\u{2019}'),
    (b"sbquo", '\u{201a}'),
    (b"scaron", '\u{161}'),
    (b"sect", '\u{a7}'),
    (b"semi", '\u{3b}'),
    (b"shy", '\u{ad}'),
    (b"sol", '\u{2f}'),
    (b"sup1", '\u{b9}'),
    (b"sup2", '\u{b2}'),
    (b"sup3", '\u{b3}'),
    (b"szlig", '\u{df}'),
    (b"thinsp", '\u{2009}'),
    (b"thorn", '\u{fe}'),
    (b"tilde", '\u{2dc}'),
    (b"times", '\u{d7}'),
    (b"trade", '\u{2122}'),
    (b"uacute", '\u{fa}'),
    (b"ucirc", '\u{fb}'),
    (b"ugrave", '\u{f9}'),
    (b"uml", '\u{a8}'),
    (b"uuml", '\u{fc}'),
    (b"verbar", '\u{7c}'),
    (b"vert", '\u{7c}'),
    (b"yacute", '\u{fd}'),
    (b"yen", '\u{a5}'),
    (b"yuml", '\u{ff}'),
    (b"zwj", '\u{200d}'),
    (b"zwnj", '\u{200c}'),
];

/// Appends the decoded text of `raw` (a whole number of units) to `out`: references become
/// their characters, percent escapes their bytes (which may not be UTF-8), `+` a space where
/// it means one.
pub(crate) fn decode_into(raw: &[u8], m: Mode, out: &mut impl Sink) {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'&' if m.has(Mode::ENT) => {
                if let Some((c, len)) = entity(&raw[i..]) {
                    let mut buf = [0u8; 4];
                    out.put(c.encode_utf8(&mut buf).as_bytes());
                    i += len;
                    continue;
                }
            }
            b'%' if m.has(Mode::PCT) => {
                if let Some(v) = percent(&raw[i..]) {
                    out.put(&[v]);
                    i += 3;
                    continue;
                }
            }
            b'+' if m.has(Mode::PLUS) => {
                out.put(b" ");
                i += 1;
                continue;
            }
            _ => {}
        }
        // Copy the literal run up to the next byte that may start an escape.
        let next = raw[i + 1..]
            .iter()
            .position(|&b| matches!(b, b'&' | b'%' | b'+'))
            .map_or(raw.len(), |p| i + 1 + p);
        out.put(&raw[i..next]);
        i = next;
    }
}

/// Where the next escape under `m` starts in `raw[from..]`: a reference that decodes, a
/// percent escape, a `+` that means a space. Literal `&` and `%` are not escapes.
pub(crate) fn next_escape(raw: &[u8], from: usize, m: Mode) -> Option<usize> {
    let (ent, pct, plus) = (m.has(Mode::ENT), m.has(Mode::PCT), m.has(Mode::PLUS));
    if !(ent || pct || plus) {
        return None;
    }
    let mut i = from;
    while let Some(p) = memchr::memchr3(b'&', b'%', b'+', &raw[i..]) {
        let at = i + p;
        let hit = match raw[at] {
            b'&' => ent && entity(&raw[at..]).is_some(),
            b'%' => pct && percent(&raw[at..]).is_some(),
            _ => plus,
        };
        if hit {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Decodes the unit at `raw[i]` (`i < end`) into `out`: the number of bytes written (one to
/// four) and the raw bytes taken. Multi-byte characters written as they are come one byte per
/// unit, so every decoded byte maps back to an exact raw offset.
pub(crate) fn decode_unit(
    raw: &[u8],
    i: usize,
    end: usize,
    m: Mode,
    out: &mut [u8; 4],
) -> (usize, usize) {
    let b = raw[i];
    match b {
        b'&' if m.has(Mode::ENT) => {
            if let Some((c, len)) = entity(&raw[i..end]) {
                return (c.encode_utf8(out).len(), len);
            }
        }
        b'%' if m.has(Mode::PCT) => {
            if let Some(v) = percent(&raw[i..end]) {
                out[0] = v;
                return (1, 3);
            }
        }
        b'+' if m.has(Mode::PLUS) => {
            out[0] = b' ';
            return (1, 1);
        }
        _ => {}
    }
    out[0] = b;
    (1, 1)
}

/// Where [`decode_into`] writes. A bounded buffer reports overflow instead of growing.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A fixed stack buffer; `overflow` is set when something did not fit.
pub(crate) struct Fixed<const N: usize> {
    pub(crate) buf: [u8; N],
    pub(crate) len: usize,
    pub(crate) overflow: bool,
}

impl<const N: usize> Fixed<N> {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
            overflow: false,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Sink for Fixed<N> {
    fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &str, m: Mode) -> String {
        let mut v = Vec::new();
        decode_into(raw.as_bytes(), m, &mut v);
        String::from_utf8(v).expect("utf-8")
    }

    #[test]
    fn named_references_sorted_for_binary_search() {
        assert!(NAMED.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(NAMED.iter().all(|(n, _)| n.len() <= NAME_MAX));
    }

    #[test]
    fn references() {
        let html = Mode::ENT.with(Mode::PCT);
        assert_eq!(
            decoded("a&#64;b&#x40;c&commat;d&#X40;e&#64x", html),
            "a@b@c@d@e@x"
        );
        assert_eq!(
            decoded("J&uuml;rgen &amp; M&Uuml;LLER", html),
            "Jürgen & MÜLLER"
        );
        // Legacy names without `;`, but not before `=` (a query string in an attribute).
        assert_eq!(
            decoded("a&amp b &ampx=1 &nbspc &nbsp;", html),
            "a& b &ampx=1 &nbspc \u{a0}"
        );
        // Unknown names, bare `&`, overlong numbers stay literal.
        assert_eq!(
            decoded("AT&T &bogus; &# &#123456789012;", html),
            "AT&T &bogus; &# &#123456789012;"
        );
        assert_eq!(decoded("&#0;&#xD800;", html), "\u{fffd}\u{fffd}");
        // The longest name is sixteen bytes; one byte more, ended or not, is no name.
        assert_eq!(decoded("&NonBreakingSpace;x", html), "\u{a0}x");
        assert_eq!(entity(b"&NonBreakingSpace"), None);
        assert_eq!(entity(b"&NonBreakingSpaces;"), None);
        assert_eq!(entity(b"&NonBreakingSpacesAndMore"), None);
        assert_eq!(decoded("a%40b.com%2", html), "a@b.com%2");
        assert_eq!(decoded("a+b", Mode::PCT.with(Mode::PLUS)), "a b");
        assert_eq!(decoded("a+b&#64;", Mode::PCT), "a+b&#64;");
    }

    #[test]
    fn forward_and_backward_units_agree() {
        let m = Mode::ENT.with(Mode::PCT).with(Mode::URL);
        let raw = "x&#64;%40&commat;\u{a0}é&amp;/+y".as_bytes();
        let mut fw = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let u = fwd(raw, i, raw.len(), m);
            fw.push((i, u.b, u.len));
            i += u.len;
        }
        let mut bw = Vec::new();
        let mut i = raw.len();
        while i > 0 {
            let u = bwd(raw, i, 0, m);
            bw.push((i - u.len, u.b, u.len));
            i -= u.len;
        }
        bw.reverse();
        assert_eq!(fw, bw);
        let scan: Vec<u8> = fw.iter().map(|u| u.1).collect();
        assert_eq!(
            scan,
            [b'x', b'@', b'@', b'@', b' ', HIGH, STOP, STOP, b'+', b'y']
        );
    }
}
