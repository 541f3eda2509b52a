//! A second reading of a text, as its reader sees it: characters folded the way a reader
//! folds them (`ottilie＠example．org`, a phone in fullwidth digits, an address split by a
//! zero-width space; see `detect::fold`), in HTML the inline markup inside a word left out
//! (`ottilie<wbr>@example.org`, `ottilie<span>@</span>example.org`, `4242<!-- -->4242`): a
//! mail client renders both as the person's address or number; and in a URL an escape
//! escaped twice read once (`%2540` in a redirect target is `@` to the page it leads to).
//!
//! The scanner reads the text once as written; only a text with something to fold or a word
//! split by inline markup is read again ([`Reading`]), and what that reading finds is mapped
//! back to the original's bytes. A span over a split word becomes one span per piece of text
//! around the markup, each handed the whole value: the markup (and what the first reading
//! found in its attribute values) stays between them, so the document keeps its element tree
//! and every other byte.

use super::escaped::Edit;
use crate::detect::fold;

/// Whether `tag` names an inline element, one a browser renders inside a word without
/// breaking it (any case): a word written across it reads as one word. Block elements, `br`,
/// `img` and table cells are not: text on both sides of them is read apart. Lower-cased once
/// and matched (most gaps a mail has, `</td><td>`, stop here).
fn inline_tag(tag: &[u8]) -> bool {
    let mut b = [0u8; 8];
    let Some(lower) = b.get_mut(..tag.len()) else {
        return false;
    };
    for (d, s) in lower.iter_mut().zip(tag) {
        *d = s.to_ascii_lowercase();
    }
    matches!(
        &*lower,
        b"a" | b"abbr"
            | b"b"
            | b"bdi"
            | b"bdo"
            | b"big"
            | b"cite"
            | b"code"
            | b"data"
            | b"del"
            | b"dfn"
            | b"em"
            | b"font"
            | b"i"
            | b"ins"
            | b"kbd"
            | b"mark"
            | b"s"
            | b"samp"
            | b"small"
            | b"span"
            | b"strike"
            | b"strong"
            | b"sub"
            | b"sup"
            | b"time"
            | b"tt"
            | b"u"
            | b"var"
            | b"wbr"
    )
}

/// Whether `b` may end the text before a split inside a word: a letter, a digit, a byte of a
/// non-ASCII character or the punctuation of an address or a number.
#[inline(always)]
pub(super) fn ends_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80 || matches!(b, b'@' | b'.' | b'-' | b'_')
}

/// Whether the text `after` a split may continue a word: it starts with a letter, a digit, a
/// non-ASCII character, `@`, `-` or `_`, or with `.` or a numeric reference (`&#64;`) that a
/// letter or digit follows. The end of a sentence after a link (`</a>.`, `</b>. Next`) is
/// not a word going on: a text read a second time is scanned twice, so the test is strict.
#[inline(always)]
pub(super) fn starts_word(after: &[u8]) -> bool {
    match after {
        [b, ..] if b.is_ascii_alphanumeric() || *b >= 0x80 || matches!(b, b'@' | b'-' | b'_') => {
            true
        }
        [b'.', c, ..] => c.is_ascii_alphanumeric(),
        [b'&', b'#', c, ..] => c.is_ascii_alphanumeric(),
        _ => false,
    }
}

/// Whether `gap` is nothing but inline tags and comments (the markup between two text nodes
/// that a browser renders as one word).
///
/// The first tag's name is looked at by its first bytes before any is read: the gaps most
/// mails have (`</td><td …>`, `</p><p>`, `</tr>`) start with a name no inline element has.
#[inline(always)]
pub(super) fn inline_markup(gap: &[u8]) -> bool {
    let name = match gap {
        [b'<', b'!', ..] => return inline_markup_read(gap),
        [b'<', b'/', name @ ..] | [b'<', name @ ..] => name,
        [] => return true,
        _ => return false,
    };
    // The first letters of the names `inline_tag` takes; of those starting with `t`, only
    // `time` and `tt`.
    let may = match name {
        [t, n, ..] if t.eq_ignore_ascii_case(&b't') => {
            matches!(n.to_ascii_lowercase(), b'i' | b't')
        }
        [f, ..] => matches!(
            f.to_ascii_lowercase(),
            b'a'..=b'f' | b'i' | b'k' | b'm' | b's' | b'u'..=b'w'
        ),
        [] => false,
    };
    may && inline_markup_read(gap)
}

/// [`inline_markup`], every tag read.
fn inline_markup_read(gap: &[u8]) -> bool {
    let mut i = 0;
    while i < gap.len() {
        if gap[i] != b'<' {
            return false;
        }
        if gap[i..].starts_with(b"<!--") {
            match memchr::memmem::find(&gap[i + 4..], b"-->") {
                Some(p) => i += 4 + p + 3,
                None => return false,
            }
            continue;
        }
        let name = i + 1 + usize::from(gap.get(i + 1) == Some(&b'/'));
        let end = gap[name..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(gap.len(), |p| name + p);
        let tag = &gap[name..end];
        if !inline_tag(tag) {
            return false;
        }
        // To the tag's `>`, outside quoted attribute values.
        let mut quote = 0u8;
        let mut j = end;
        loop {
            match gap.get(j) {
                None => return false,
                Some(&q) if quote == 0 && (q == b'"' || q == b'\'') => quote = q,
                Some(&q) if q == quote => quote = 0,
                Some(b'>') if quote == 0 => break,
                _ => {}
            }
            j += 1;
        }
        i = j + 1;
    }
    true
}

/// Notes in `out` the `25` of each `%25` in `raw[start..end]` (a URL) that two hex digits
/// follow: `%2540` is what a URL inside a URL's parameter (a redirect target) makes of `@`,
/// `%40` once the outer URL is read and `@` once the inner one is. The reading without those
/// two bytes is the inner URL's.
pub(super) fn escaped_twice(raw: &[u8], start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    // `memchr` for `%` (a link has a few): no searcher to build per segment.
    let s = &raw[start..end];
    for p in memchr::memchr_iter(b'%', s) {
        if escaped_twice_at(s, p) {
            out.push((start + p + 1, start + p + 3));
        }
    }
}

/// Whether the `%` at `s[p]` is `%25` and two hex digits, all inside `s`: the `25` is what
/// [`escaped_twice`] notes. The HTML segmenter asks it at the `%`s it finds in a link.
#[inline(always)]
pub(super) fn escaped_twice_at(s: &[u8], p: usize) -> bool {
    s.get(p + 1..p + 5).is_some_and(|w| {
        w[0] == b'2' && w[1] == b'5' && w[2].is_ascii_hexdigit() && w[3].is_ascii_hexdigit()
    })
}

/// A text read as its reader reads it, with the way back: `map[k]` is the byte offset in the
/// original of the character that byte `k` of the reading came from, `map[len]` the
/// original's length.
pub(super) struct Reading {
    pub(super) text: String,
    pub(super) map: Vec<usize>,
}

impl Reading {
    /// `text` with the `edits` made (sorted, disjoint, at character boundaries: a range left
    /// out, or read as one ASCII byte) and, with `fold`, with its characters folded by
    /// [`fold::folded_in_text`].
    pub(super) fn new(text: &str, edits: &[Edit], fold: bool) -> Self {
        let mut out = String::with_capacity(text.len());
        let mut map = Vec::with_capacity(text.len() + 1);
        let mut at = 0;
        let piece = |from: usize, to: usize, out: &mut String, map: &mut Vec<usize>| {
            let s = &text[from..to];
            if !fold || s.is_ascii() {
                out.push_str(s);
                map.extend(from..to);
                return;
            }
            for (i, c) in s.char_indices() {
                let i = from + i;
                match fold::folded_in_text(c) {
                    Some(Some(b)) => {
                        out.push(char::from(b));
                        map.push(i);
                    }
                    Some(None) => {}
                    None => {
                        out.push(c);
                        map.extend(i..i + c.len_utf8());
                    }
                }
            }
        };
        for e in edits {
            piece(at, e.start, &mut out, &mut map);
            if e.with != 0 {
                out.push(char::from(e.with));
                map.push(e.start);
            }
            at = e.end;
        }
        piece(at, text.len(), &mut out, &mut map);
        map.push(text.len());
        Self { text: out, map }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inline_tags_and_comments_join_a_word() {
        for gap in [
            "<wbr>",
            "<span>",
            "</span>",
            "<span class=\"x>y\" style='a:b'>",
            "</b><i>",
            "<!-- -->",
            "<A HREF=\"mailto:x\">",
            "</font><wbr/>",
        ] {
            assert!(inline_markup(gap.as_bytes()), "{gap}");
        }
        for gap in [
            "<br>",
            "</p><p>",
            "</td><td>",
            "<img src=x>",
            "<span",
            "x<b>",
            "<!-- ",
        ] {
            assert!(!inline_markup(gap.as_bytes()), "{gap}");
        }
    }

    #[test]
    fn inline_elements_are_known_by_name_in_any_case_and_no_other_name_is() {
        let inline = [
            "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
            "font", "i", "ins", "kbd", "mark", "s", "samp", "small", "span", "strike", "strong",
            "sub", "sup", "time", "tt", "u", "var", "wbr",
        ];
        for name in inline {
            for n in [name.to_owned(), name.to_ascii_uppercase()] {
                assert!(inline_tag(n.as_bytes()), "{n}");
            }
        }
        for n in [
            "", "td", "p", "br", "img", "div", "spa", "spans", "strongly", "table", "x",
        ] {
            assert!(!inline_tag(n.as_bytes()), "{n}");
        }
    }

    proptest::proptest! {
        /// The look at the first tag's name only ever answers `false` where reading every
        /// tag does: gaps built from inline and other tag names, any case, comments and
        /// stray bytes.
        #[test]
        fn the_first_look_at_a_gap_answers_as_reading_it_does(
            pieces in proptest::collection::vec(proptest::sample::select(&[
                "<", "</", "<!--", "-->", ">", "/>", "a", "A", "b", "t", "T", "ti", "time",
                "tt", "td", "TR", "table", "title", "span", "s", "sub", "p", "br", "wbr", "i",
                "img", "em", "u", "v", "var", "w", "k", "kbd", "m", "mark", "f", "font", "c",
                "d", "del", "div", "e", "x", "1", " ", "\"", "'", "=", "!",
            ][..]), 0..8),
        ) {
            let gap = pieces.concat();
            proptest::prop_assert_eq!(
                inline_markup(gap.as_bytes()),
                inline_markup_read(gap.as_bytes()),
                "{}",
                gap
            );
        }
    }

    #[test]
    fn a_reading_folds_look_alikes_and_leaves_out_the_gaps_with_the_way_back() {
        let s = "<p>ottilie<wbr>\u{ff20}example\u{ff0e}org \u{ff1c}b\u{ff1e} \u{ff06}amp;</p>";
        let gap = (
            s.find("<wbr>").expect("wbr"),
            s.find("\u{ff20}").expect("at"),
        );
        let r = Reading::new(s, &[Edit::gap(gap)], true);
        assert_eq!(
            r.text,
            "<p>ottilie@example.org \u{ff1c}b\u{ff1e} \u{ff06}amp;</p>"
        );
        assert_eq!(r.map.len(), r.text.len() + 1);
        let at = r.text.find('@').expect("@");
        assert_eq!(&s[r.map[at]..r.map[at + 1]], "\u{ff20}");
        let (a, b) = (
            r.text.find('o').expect("o"),
            r.text.find(" \u{ff1c}").expect("end"),
        );
        assert_eq!(
            &s[r.map[a]..r.map[b]],
            "ottilie<wbr>\u{ff20}example\u{ff0e}org"
        );
        let s = "mail otti\u{200b}lie@example.org";
        assert_eq!(Reading::new(s, &[], true).text, "mail ottilie@example.org");
        assert_eq!(Reading::new(s, &[], false).text, s);
    }
}
