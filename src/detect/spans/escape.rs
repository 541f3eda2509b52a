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
use super::{Ctx, SegKind};

/// Appends `plain` encoded for a span of `seg` whose original bytes were `raw`.
pub(crate) fn write(plain: &[u8], seg: SegKind, raw: &[u8], out: &mut Vec<u8>) {
    if seg.ctx == Ctx::Name && !plain.first().is_some_and(u8::is_ascii_alphabetic) {
        // The span may start the name: a tag name begins with a letter.
        out.push(b'x');
    }
    let url =
        seg.mode.has(Mode::URL) || (seg.mode.has(Mode::PCT) && memchr::memchr(b'%', raw).is_some());
    if !url {
        html(plain, seg.ctx, out);
        return;
    }
    if plain.iter().all(|&b| unreserved(b)) {
        html(plain, seg.ctx, out);
        return;
    }
    let mut pct = Vec::with_capacity(plain.len() * 3);
    for &b in plain {
        if unreserved(b) {
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

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn html(s: &[u8], ctx: Ctx, out: &mut Vec<u8>) {
    if matches!(ctx, Ctx::Plain | Ctx::Url) {
        out.extend_from_slice(s);
        return;
    }
    let special = |b: u8| match ctx {
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
    let mut from = 0;
    for (i, &b) in s.iter().enumerate() {
        if !special(b) {
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
