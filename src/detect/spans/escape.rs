//! Encoding a replacement for the place it goes, so the document stays what it was.
//!
//! Replacements are plain text (actions write plain text, the format owner encodes it). Two
//! layers, inner first:
//!
//! 1. **URL**: in a URL, or where the span itself was written percent-encoded, every byte
//!    outside the unreserved set (`A-Z a-z 0-9 - . _ ~`) is percent-encoded; a space is `+` in a
//!    query. A replacement can then never add a delimiter (`&`, `=`, `#`) to a URL.
//! 2. **HTML**: in a text node `& < >` become references; in an attribute value `"` and `'` as
//!    well, and in an unquoted one (or an attribute name) whitespace, `=`, `/` and `` ` ``.
//!    In raw text (`script`, `style`, comments) references are not decoded, so only `<` and
//!    `>` are replaced, which keeps a replacement from closing the element or the comment.

use super::decode::Mode;
use super::lanes::holds_any;
use super::{Ctx, SegKind};

/// Appends `plain` encoded for a span of `seg` whose original bytes were `raw`.
pub(crate) fn write(plain: &[u8], seg: SegKind, raw: &[u8], out: &mut Vec<u8>) {
    if seg.ctx == Ctx::Name && !plain.first().is_some_and(u8::is_ascii_alphabetic) {
        // The span may start the name: a tag name begins with a letter.
        out.push(b'x');
    }
    let url = seg.mode.has(Mode::URL) || (seg.mode.has(Mode::PCT) && holds_any(raw, [b'%']));
    if seg.mode.has(Mode::TWICE) && matches!(seg.ctx, Ctx::Text | Ctx::Attr(_)) {
        // Read through a reference escaped twice: the document inside (an iframe's `srcdoc`)
        // is parsed again, so the replacement is escaped for it first, for the strictest
        // place it may sit there (a text node or any attribute value, quoted or not).
        let mut inner = Vec::with_capacity(plain.len());
        let inner_seg = SegKind {
            mode: seg.mode.without(Mode::TWICE),
            ctx: Ctx::Attr(0),
        };
        write(plain, inner_seg, raw, &mut inner);
        html(&inner, seg.ctx, out);
        return;
    }
    if !url {
        html(plain, seg.ctx, out);
        return;
    }
    if plain.iter().all(|&b| UNRESERVED[usize::from(b)]) {
        html(plain, seg.ctx, out);
        return;
    }
    let mut pct = Vec::with_capacity(plain.len() * 3);
    for &b in plain {
        if UNRESERVED[usize::from(b)] {
            pct.push(b);
        } else if b == b' ' && seg.mode.has(Mode::PLUS) {
            pct.push(b'+');
        } else {
            pct.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    html(&pct, seg.ctx, out);
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The bytes a URL carries as they are: `A-Z a-z 0-9 - . _ ~`.
static UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    t
};

/// Bit of [`SPECIAL`] for each place a replacement goes in HTML.
const RAW: u8 = 1;
const TEXT: u8 = 2;
const QUOTED: u8 = 4;
/// An unquoted attribute value, or a tag name.
const BARE: u8 = 8;

/// Which bytes each place escapes (see the module doc): one lookup per byte of a replacement.
static SPECIAL: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut m = 0;
        if matches!(c, b'<' | b'>') {
            m |= RAW | TEXT | QUOTED | BARE;
        }
        if c == b'&' {
            m |= TEXT | QUOTED | BARE;
        }
        if matches!(c, b'"' | b'\'') {
            m |= QUOTED | BARE;
        }
        if c.is_ascii_whitespace() || matches!(c, b'=' | b'`' | b'/') {
            m |= BARE;
        }
        t[b] = m;
        b += 1;
    }
    t
};

fn html(s: &[u8], ctx: Ctx, out: &mut Vec<u8>) {
    let bit = match ctx {
        Ctx::Plain | Ctx::Url => {
            out.extend_from_slice(s);
            return;
        }
        Ctx::Raw => RAW,
        Ctx::Text => TEXT,
        Ctx::Attr(0) | Ctx::Name => BARE,
        Ctx::Attr(_) => QUOTED,
    };
    let mut from = 0;
    for (i, &b) in s.iter().enumerate() {
        if SPECIAL[usize::from(b)] & bit == 0 {
            continue;
        }
        out.extend_from_slice(&s[from..i]);
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            _ => {
                out.extend_from_slice(b"&#");
                out.extend_from_slice(b.to_string().as_bytes());
                out.push(b';');
            }
        }
        from = i + 1;
    }
    out.extend_from_slice(&s[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(plain: &str, mode: Mode, ctx: Ctx, raw: &str) -> String {
        let mut out = Vec::new();
        write(
            plain.as_bytes(),
            SegKind { mode, ctx },
            raw.as_bytes(),
            &mut out,
        );
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn every_byte_is_escaped_where_the_rules_say() {
        // The rules of the module doc, per byte, against what `html` writes for it.
        let escaped = |b: u8, ctx: Ctx| match ctx {
            Ctx::Plain | Ctx::Url => false,
            Ctx::Raw => matches!(b, b'<' | b'>'),
            Ctx::Text => matches!(b, b'&' | b'<' | b'>'),
            Ctx::Attr(q) => {
                matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')
                    || (q == 0 && (b.is_ascii_whitespace() || matches!(b, b'=' | b'`' | b'/')))
            }
            Ctx::Name => {
                matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | b'=' | b'`' | b'/')
                    || b.is_ascii_whitespace()
            }
        };
        let ctxs = [
            Ctx::Plain,
            Ctx::Url,
            Ctx::Raw,
            Ctx::Text,
            Ctx::Attr(b'"'),
            Ctx::Attr(b'\''),
            Ctx::Attr(0),
            Ctx::Name,
        ];
        for b in 0..=255u8 {
            for ctx in ctxs {
                let mut out = Vec::new();
                html(&[b'a', b, b'z'], ctx, &mut out);
                assert_eq!(out != [b'a', b, b'z'], escaped(b, ctx), "{b:#04x} {ctx:?}");
            }
            assert_eq!(
                UNRESERVED[usize::from(b)],
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'),
                "{b:#04x}"
            );
        }
    }

    #[test]
    fn contexts() {
        let r = "[REDACTED:email] <&> \"x\"";
        let text = Mode::ENT.with(Mode::PCT);
        assert_eq!(enc(r, Mode::PCT, Ctx::Plain, "a@b.co"), r);
        assert_eq!(
            enc(r, text, Ctx::Text, "a@b.co"),
            "[REDACTED:email] &lt;&amp;&gt; \"x\""
        );
        assert_eq!(
            enc(r, text, Ctx::Attr(b'"'), "a@b.co"),
            "[REDACTED:email] &lt;&amp;&gt; &quot;x&quot;"
        );
        assert_eq!(enc("a b=c", text, Ctx::Attr(0), "a@b.co"), "a&#32;b&#61;c");
        assert_eq!(
            enc(r, Mode::PCT, Ctx::Raw, "a@b.co"),
            "[REDACTED:email] &lt;&&gt; \"x\""
        );
        // The span was percent-encoded in plain text: so is its replacement.
        assert_eq!(enc("a b@c", Mode::PCT, Ctx::Plain, "a%40b.co"), "a%20b%40c");
        // In a query, a space is `+`; in an attribute URL the `%` needs no HTML escape.
        let query = Mode::PCT.with(Mode::URL).with(Mode::PLUS);
        assert_eq!(enc("a b&c", query, Ctx::Url, "x"), "a+b%26c");
        assert_eq!(
            enc("a b&c", query.with(Mode::ENT), Ctx::Attr(b'"'), "x"),
            "a+b%26c"
        );
        // Tokens are unreserved and pass through every context as they are.
        assert_eq!(enc("tok_Ab-9.x~", query, Ctx::Url, "x"), "tok_Ab-9.x~");
    }
}
