//! Splitting a text into segments the scanner reads: the text nodes and attribute values of
//! HTML, the components of a URL, or the whole of a plain text.
//!
//! The HTML reading follows the WHATWG tokenizer where it decides where markup starts and
//! ends (comments close at `-->`, `--!>`, or at once for `<!-->`; a CDATA section outside SVG
//! at the first `>`), so a replacement is always encoded for the context a browser reads it
//! in. The attribute values of ordinary start tags are read one by one. A tag the tokenizer
//! accepts but no element has (`<alice@example.com>` in `Alice <alice@example.com>`,
//! `<p.note title="…">`), and a start tag that never ends (a browser drops it with the rest
//! of the document), still have their name, attribute names and values read, each on its own
//! and escaped as an attribute value: the address a mail's author put in angle brackets is
//! found, and no replacement can end the tag. When in doubt, a byte is read, never skipped.

use super::decode::Mode;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use super::lanes::Lanes;
use super::lanes::{Stops, find_byte, run_end};
use super::{Ctx, Notes, Seg, SegKind, TextKind, escaped, reread};

/// Attributes whose value is a URL.
const URL_ATTRIBUTES: &[&[u8]] = &[
    b"action",
    b"background",
    b"cite",
    b"codebase",
    b"data",
    b"formaction",
    b"href",
    b"icon",
    b"longdesc",
    b"manifest",
    b"ping",
    b"poster",
    b"src",
    b"usemap",
    b"xlink:href",
];

/// Bit `n` set when a name in [`URL_ATTRIBUTES`] is `n` bytes long: `style`, `class` and
/// `width`, the bulk of a mail's attributes, are ruled out by their length.
const URL_ATTRIBUTE_LENGTHS: u32 = {
    let mut bits = 0;
    let mut i = 0;
    while i < URL_ATTRIBUTES.len() {
        bits |= 1 << URL_ATTRIBUTES[i].len();
        i += 1;
    }
    bits
};

/// For each length below 16, bit `k` set when a name in [`URL_ATTRIBUTES`] of that length
/// starts with the `k`-th letter: `name` and `border`, of the lengths of `href` and `action`,
/// are ruled out by their first letter.
const URL_ATTRIBUTE_FIRSTS: [u32; 16] = {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < URL_ATTRIBUTES.len() {
        let a = URL_ATTRIBUTES[i];
        t[a.len()] |= 1 << (a[0] - b'a');
        i += 1;
    }
    t
};

/// Whether an attribute's value is a URL (`href`, `src`, `action`, …). The length and
/// first-letter tests are inline: they are all most attributes of a mail pay.
#[inline(always)]
fn url_attribute(name: &[u8]) -> bool {
    let len = name.len();
    if len >= 32 || URL_ATTRIBUTE_LENGTHS & (1 << len) == 0 {
        return false;
    }
    // Any byte that is no letter lands on a bit that is clear, or on one `url_attribute_named`
    // rules out.
    let k = (name[0] | 0x20).wrapping_sub(b'a');
    k < 26 && URL_ATTRIBUTE_FIRSTS[len & 15] & (1 << k) != 0 && url_attribute_named(name)
}

/// Whether a name of one of [`URL_ATTRIBUTES`]' lengths is one of them, ignoring ASCII case:
/// lower-cased once and matched (`border`, `name` and `href` itself come here).
#[inline(never)]
fn url_attribute_named(name: &[u8]) -> bool {
    let mut b = [0u8; 16];
    let Some(lower) = b.get_mut(..name.len()) else {
        return false;
    };
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    matches!(
        &*lower,
        b"action"
            | b"background"
            | b"cite"
            | b"codebase"
            | b"data"
            | b"formaction"
            | b"href"
            | b"icon"
            | b"longdesc"
            | b"manifest"
            | b"ping"
            | b"poster"
            | b"src"
            | b"usemap"
            | b"xlink:href"
    )
}

/// Where the segments go, one by one. The scanner's reader is called for every segment
/// (~1,700 in 64 KB of mail) from a dozen places in the segmenter; as a closure LLVM stopped
/// inlining it once the scanner's set-up grew, and a call per segment cost ~4% of an HTML
/// scan. Its `seg` is inlined at each place. Any closure is one too.
pub(crate) trait Segs {
    /// One segment, in document order.
    fn seg(&mut self, seg: Seg);
}

impl<F: FnMut(Seg)> Segs for F {
    #[inline(always)]
    fn seg(&mut self, seg: Seg) {
        self(seg);
    }
}

/// Calls `f` for every segment of `raw`, in order. `kind` is resolved (not `Auto`). With
/// `notes`, what a second reading would read otherwise is noted there as the segments are
/// found (see `reread.rs`): the segmenter knows where a text node's markup ends, and the
/// callback, called for every segment, stays small enough to be inlined here.
pub(crate) fn segments(raw: &[u8], kind: TextKind, notes: Option<&mut Notes>, f: &mut impl Segs) {
    match kind {
        TextKind::Html => html(raw, notes, f),
        TextKind::Url => url(raw, 0, raw.len(), Mode::default(), Ctx::Url, notes, f),
        TextKind::Plain | TextKind::Auto => {
            if let Some(notes) = notes {
                raw_text(raw, 0, raw.len(), true, notes);
            }
            if !raw.is_empty() {
                f.seg(Seg {
                    start: 0,
                    end: raw.len(),
                    kind: SegKind {
                        // References too: a text without tags may still be shown as HTML
                        // (a mail part, a note rendered in a dashboard), where `&#64;` is `@`.
                        mode: Mode::PCT.with(Mode::ENT),
                        ctx: Ctx::Plain,
                    },
                });
            }
        }
    }
}

/// A URL in `raw[start..end]`: up to `?` the path (and scheme, authority), then the query
/// where `+` is a space, then the fragment. `base` adds HTML decoding inside attributes. With
/// `notes`, each `%25` escaping an escape is noted there (for the whole URL at once: none
/// crosses a `?` or `#`), and the query's values that may be base64.
fn url(
    raw: &[u8],
    start: usize,
    end: usize,
    base: Mode,
    ctx: Ctx,
    mut notes: Option<&mut Notes>,
    f: &mut impl Segs,
) {
    let mode = base.with(Mode::PCT).with(Mode::URL);
    let (q, h) = url_parts(raw, start, end, notes.as_deref_mut().map(|n| &mut n.twice));
    if let Some(notes) = notes
        && q < h
    {
        let kind = SegKind {
            mode: mode.with(Mode::PLUS),
            ctx,
        };
        let params = &mut notes.params;
        escaped::encoded_params(raw, q, h, &mut |a, b| params.push((a, b, kind)));
    }
    let mut emit = |a: usize, b: usize, mode: Mode| {
        if a < b {
            f.seg(Seg {
                start: a,
                end: b,
                kind: SegKind { mode, ctx },
            });
        }
    };
    emit(start, q, mode);
    emit(q, h, mode.with(Mode::PLUS));
    emit(h, end, mode);
}

/// Where the query and the fragment of the URL `raw[start..end]` start: the first `?`, and the
/// first `#` after it (each `end` when there is none; no `?`, no fragment either). With
/// `twice`, the `25` of each `%25` escaping an escape is noted there, as
/// [`reread::escaped_twice`] notes them. One pass over the link finds the three bytes,
/// sixteen at a time: a `memchr` for each cost three set-ups per link of a mail, and a link
/// holds few of them, so most chunks cost one test.
#[inline(always)]
fn url_parts(
    raw: &[u8],
    start: usize,
    end: usize,
    mut twice: Option<&mut Vec<(usize, usize)>>,
) -> (usize, usize) {
    let s = &raw[start..end];
    let n = s.len();
    let (mut q, mut h) = (n, n);
    let mut mark = |p: usize, q: &mut usize, h: &mut usize| match s[p] {
        b'?' if *q == n => *q = p,
        b'#' if *q < n && *h == n => *h = p,
        b'%' => {
            if let Some(out) = twice.as_deref_mut()
                && reread::escaped_twice_at(s, p)
            {
                out.push((start + p + 1, start + p + 3));
            }
        }
        _ => {}
    };
    let mut at = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while at < n
        && let Some(chunk) = raw.get(start + at..).and_then(|r| r.first_chunk::<16>())
    {
        let v = Lanes::load(chunk);
        let mut m = ((v.eq(b'?') | v.eq(b'#')) | v.eq(b'%')).bits();
        if n - at < 16 {
            // Lanes past the link's end (the closing quote, the rest of the tag).
            m &= (1u32 << (n - at)) - 1;
        }
        while m != 0 {
            mark(at + m.trailing_zeros() as usize, &mut q, &mut h);
            m &= m - 1;
        }
        at += 16;
    }
    // The bytes past the last whole chunk of `raw` (a link at the very end of a text).
    while at < n {
        mark(at, &mut q, &mut h);
        at += 1;
    }
    (start + q, start + h)
}

#[inline(always)]
fn text(start: usize, end: usize, mode: Mode, ctx: Ctx, f: &mut impl Segs) {
    if start < end {
        f.seg(Seg {
            start,
            end,
            kind: SegKind { mode, ctx },
        });
    }
}

/// What the HTML segmenter notes for a second reading, and the end of the last text node.
struct Noting<'n> {
    notes: Option<&'n mut Notes>,
    last_text: usize,
}

impl Noting<'_> {
    /// A text node `raw[start..end]` (not empty): two text nodes with only markup between
    /// them and a word on both sides are a word written across inline tags (rare; the markup
    /// is read only then).
    #[inline(always)]
    fn text_node(&mut self, raw: &[u8], start: usize, end: usize) {
        if let Some(notes) = self.notes.as_deref_mut() {
            let last = self.last_text;
            if last < start
                && reread::ends_word(raw[last - 1])
                && reread::starts_word(&raw[start..end])
                && reread::inline_markup(&raw[last..start])
            {
                notes.gaps.push((last, start));
            }
            self.last_text = end;
        }
    }

    /// Where the notes of a URL attribute go.
    #[inline(always)]
    fn url(&mut self) -> Option<&mut Notes> {
        self.notes.as_deref_mut()
    }

    /// Raw text (a script, a style sheet, a comment), noted if it holds string escapes.
    #[inline(always)]
    fn raw_text(&mut self, raw: &[u8], start: usize, end: usize) {
        if let Some(notes) = self.notes.as_deref_mut() {
            raw_text(raw, start, end, false, notes);
        }
    }
}

/// A string escape (`\u0040`) in a script or a JSON text: only these are searched for a `\`
/// (a comment, a style sheet or prose is not). `plain`: a text that is not HTML.
fn raw_text(raw: &[u8], start: usize, end: usize, plain: bool, notes: &mut Notes) {
    if escaped::script_or_json(raw, start, end, plain)
        && memchr::memchr(b'\\', &raw[start..end]).is_some()
    {
        notes.seen |= escaped::BACKSLASH;
    }
}

/// A text node (`ctx` [`Ctx::Text`]; `title` and `textarea` too), noted for the second reading.
#[inline(always)]
fn text_node(
    raw: &[u8],
    start: usize,
    end: usize,
    mode: Mode,
    noting: &mut Noting<'_>,
    f: &mut impl Segs,
) {
    if start < end {
        noting.text_node(raw, start, end);
        f.seg(Seg {
            start,
            end,
            kind: SegKind {
                mode,
                ctx: Ctx::Text,
            },
        });
    }
}

const TEXT: Mode = Mode::ENT.with(Mode::PCT);

fn html(raw: &[u8], notes: Option<&mut Notes>, f: &mut impl Segs) {
    let n = raw.len();
    // A JSON text holding markup (`{"html":"<p>…\u0040…</p>"}`), sniffed as HTML: its reader
    // parses the JSON first, so its string escapes are read everywhere, not only in scripts.
    // A document that starts with `<` pays one look at its first byte.
    let mut notes = notes;
    if let Some(notes) = notes.as_deref_mut() {
        raw_text(raw, 0, n, true, notes);
    }
    let mut noting = Noting {
        notes,
        last_text: usize::MAX,
    };
    let mut text_start = 0;
    let mut i = 0;
    let mut attrs = Attrs {
        list: [Attr::default(); MAX_ATTRS],
        n: 0,
    };
    while let Some(lt) = find_byte(b'<', &raw[i..]).map(|p| i + p) {
        let Some(markup) = markup_at(raw, lt, &mut attrs) else {
            let name = lt + 1 + usize::from(raw.get(lt + 1) == Some(&b'/'));
            if raw.get(name).is_some_and(u8::is_ascii_alphabetic) {
                // A tag to a browser that `markup_at` does not read: a start tag `start_tag`
                // gave up on (a quote left open or no `>`, so to a browser the rest of the
                // document is inside the tag; or too many attributes), or a name no element
                // has, start or end tag (`<alice@example.com>`, `<p.note title="…">`). Its odd
                // name, attribute names and values are still read, each on its own, so a span
                // never covers the tag's syntax (`<a`, `=`, a quote) and no replacement can end
                // the tag or its quote.
                text_node(raw, text_start, lt, TEXT, &mut noting, f);
                let name_end = tag_name_end(raw, name).unwrap_or_else(|| {
                    let end = raw[name..]
                        .iter()
                        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
                        .map_or(n, |p| name + p);
                    text(name, end, TEXT, Ctx::Name, f);
                    end
                });
                match loose_tag(raw, name_end, f) {
                    Some(gt) => {
                        i = gt + 1;
                        text_start = i;
                        continue;
                    }
                    None => return,
                }
            }
            i = lt + 1;
            continue;
        };
        text_node(raw, text_start, lt, TEXT, &mut noting, f);
        i = match markup {
            Markup::Comment => {
                let body = lt + 4;
                let (close, after) = comment_end(raw, body);
                noting.raw_text(raw, body, close);
                text(body, close, Mode::PCT, Ctx::Raw, f);
                after
            }
            Markup::Cdata => {
                // Outside SVG and MathML a CDATA section is a bogus comment that the first `>`
                // closes; inside them it runs to `]]>`. Ending at the first `>` is right for
                // the first and safe for the second: what follows is read as text, whose
                // encoding escapes more than raw text's.
                let body = lt + 9;
                let gt = find_byte(b'>', &raw[body..]).map_or(n, |p| body + p);
                let close = if gt >= body + 2 && raw[gt - 2..gt] == *b"]]" {
                    gt - 2
                } else {
                    gt
                };
                noting.raw_text(raw, body, close);
                text(body, close, Mode::PCT, Ctx::Raw, f);
                (gt + 1).min(n)
            }
            Markup::Other(gt) => gt + 1,
            Markup::Tag { name, gt } => {
                for a in &attrs.list[..attrs.n] {
                    attribute(raw, a, &mut noting, f);
                }
                let after = gt + 1;
                let tag = &raw[name.0..name.1];
                match element_content(tag) {
                    Some((ctx, mode)) => {
                        let close = closing_tag(raw, after, tag);
                        if ctx == Ctx::Text {
                            text_node(raw, after, close, mode, &mut noting, f);
                        } else {
                            noting.raw_text(raw, after, close);
                            text(after, close, mode, ctx, f);
                        }
                        close
                    }
                    None => after,
                }
            }
        };
        text_start = i;
    }
    text_node(raw, text_start, n, TEXT, &mut noting, f);
}

enum Markup {
    /// `<!--`: the body runs to `-->`.
    Comment,
    /// `<![CDATA[`: the body runs to `]]>`.
    Cdata,
    /// An end tag, a declaration or a processing instruction, closed at this `>`.
    Other(usize),
    /// A start tag: the name's range and the closing `>` (its attribute values are in the
    /// caller's [`Attrs`]).
    Tag { name: (usize, usize), gt: usize },
}

/// Attribute values of a start tag.
struct Attrs {
    list: [Attr; MAX_ATTRS],
    n: usize,
}

/// Tags with more attributes than this are read as text (a real one has a handful).
const MAX_ATTRS: usize = 32;

#[derive(Clone, Copy, Default)]
struct Attr {
    /// The value's range, without quotes.
    start: usize,
    end: usize,
    /// The quote byte, `0` when unquoted.
    quote: u8,
    /// Whether the attribute holds a URL.
    url: bool,
}

/// What the `<` at `lt` opens, if it opens markup at all. A start tag's attribute values go to
/// `attrs`.
fn markup_at(raw: &[u8], lt: usize, attrs: &mut Attrs) -> Option<Markup> {
    let rest = &raw[lt + 1..];
    match rest.first()? {
        b'!' if rest.starts_with(b"!--") => Some(Markup::Comment),
        b'!' if rest.starts_with(b"![CDATA[") => Some(Markup::Cdata),
        b'!' | b'?' => find_byte(b'>', rest).map(|p| Markup::Other(lt + 1 + p)),
        b'/' => {
            // A browser reads an end tag's attributes as a start tag's, then drops them: its
            // `>` is where that reading ends (`</p a=>` ends at its first `>`).
            let name_end = tag_name_end(raw, lt + 2)?;
            read_tag(raw, name_end, false, &mut Dropped).map(Markup::Other)
        }
        _ => {
            let name_end = tag_name_end(raw, lt + 1)?;
            let gt = start_tag(raw, name_end, attrs)?;
            Some(Markup::Tag {
                name: (lt + 1, name_end),
                gt,
            })
        }
    }
}

/// Where a comment whose body starts at `body` (after `<!--`) ends, as the WHATWG tokenizer
/// reads it: the end of the body and where markup resumes. `<!-->` and `<!--->` are whole
/// comments; otherwise the first `-->` or `--!>` closes it; unclosed, it runs to the end.
fn comment_end(raw: &[u8], body: usize) -> (usize, usize) {
    let rest = &raw[body..];
    if rest.starts_with(b">") {
        return (body, body + 1);
    }
    if rest.starts_with(b"->") {
        return (body, body + 2);
    }
    let mut from = 0;
    while let Some(p) = memchr::memmem::find(&rest[from..], b"--") {
        let at = body + from + p;
        match raw.get(at + 2) {
            Some(b'>') => return (at, at + 3),
            Some(b'!') if raw.get(at + 3) == Some(&b'>') => return (at, at + 4),
            _ => from += p + 1,
        }
    }
    (raw.len(), raw.len())
}

/// Bytes of a tag name: ASCII letters and digits, `-`, `:`.
static TAG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b':';
        b += 1;
    }
    t
};

/// Bytes that end an attribute name: `=`, `/`, `>` and ASCII whitespace.
static ENDS_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = matches!(c, b'=' | b'/' | b'>') || c.is_ascii_whitespace();
        b += 1;
    }
    t
};

/// What ends an attribute name: the [`ENDS_NAME`] bytes. Every attribute of every tag is read
/// up to one (`class`, `style`, `href`, …).
struct NameEnds;

impl Stops for NameEnds {
    #[inline(always)]
    fn stop(b: u8) -> bool {
        ENDS_NAME[usize::from(b)]
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    fn stops16(chunk: &[u8; 16]) -> u32 {
        name_ends16(chunk)
    }
}

/// The [`ENDS_NAME`] bytes of `chunk`, bit `k` for `chunk[k]` (a test compares them with the
/// table on every byte): tab to carriage return but the vertical tab, space, `/`, `=` and `>`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn name_ends16(chunk: &[u8; 16]) -> u32 {
    let v = Lanes::load(chunk);
    ((v.range(b'\t', b'\n') | v.range(0x0C, b'\r'))
        | ((v.eq(b' ') | v.eq(b'/')) | v.range(b'=', b'>')))
    .bits()
}

/// End of a tag name starting at `i`, if one does and is followed by whitespace, `/` or `>`.
fn tag_name_end(raw: &[u8], i: usize) -> Option<usize> {
    if !raw.get(i)?.is_ascii_alphabetic() {
        return None;
    }
    let end = raw[i..]
        .iter()
        .position(|&b| !TAG_NAME[usize::from(b)])
        .map_or(raw.len(), |p| i + p);
    match raw.get(end) {
        Some(b) if b.is_ascii_whitespace() || *b == b'/' || *b == b'>' => Some(end),
        _ => None,
    }
}

/// What a caller of [`read_tag`] does with a tag's attributes, in document order: each name,
/// then its value if it has one (the range without quotes, and the quote byte, `0` when
/// unquoted). `false` stops the reading.
trait TagParts {
    fn name(&mut self, start: usize, end: usize) -> bool;
    fn value(&mut self, start: usize, end: usize, quote: u8) -> bool;
}

/// Reads a tag's attributes from `i` (the end of its name) to the `>` that closes it, giving
/// each name and value to `parts`. Returns that `>`; `None` when `parts` says stop, when the
/// input ends inside the tag, or, unless `open_to_end`, at a quote that is never closed.
/// With `open_to_end` such a value runs to the end of the input, as a browser reads it (the
/// rest of the document is inside the tag), and is still given to `parts`.
fn read_tag(
    raw: &[u8],
    mut i: usize,
    open_to_end: bool,
    parts: &mut impl TagParts,
) -> Option<usize> {
    let n = raw.len();
    loop {
        while i < n && (raw[i].is_ascii_whitespace() || raw[i] == b'/') {
            i += 1;
        }
        if *raw.get(i)? == b'>' {
            return Some(i);
        }
        let name_start = i;
        i = run_end::<NameEnds>(raw, i, raw.len());
        if !parts.name(name_start, i) {
            return None;
        }
        while i < n && raw[i].is_ascii_whitespace() {
            i += 1;
        }
        if raw.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < n && raw[i].is_ascii_whitespace() {
            i += 1;
        }
        let (start, end, quote) = match raw.get(i)? {
            &q @ (b'"' | b'\'') => {
                let end = match find_byte(q, &raw[i + 1..]) {
                    Some(p) => i + 1 + p,
                    None if open_to_end => n,
                    None => return None,
                };
                (i + 1, end, q)
            }
            _ => {
                let end = raw[i..]
                    .iter()
                    .position(|&b| b.is_ascii_whitespace() || b == b'>')
                    .map_or(n, |p| i + p);
                (i, end, 0)
            }
        };
        if !parts.value(start, end, quote) {
            return None;
        }
        i = (end + usize::from(quote != 0)).min(n);
    }
}

/// A start tag's values, collected (with whether each attribute holds a URL) until the tag is
/// known to close.
struct StartTag<'a> {
    raw: &'a [u8],
    attrs: &'a mut Attrs,
    name: (usize, usize),
}

impl TagParts for StartTag<'_> {
    #[inline(always)]
    fn name(&mut self, start: usize, end: usize) -> bool {
        self.name = (start, end);
        true
    }

    #[inline(always)]
    fn value(&mut self, start: usize, end: usize, quote: u8) -> bool {
        let attrs = &mut *self.attrs;
        if attrs.n == MAX_ATTRS {
            return false;
        }
        attrs.list[attrs.n] = Attr {
            start,
            end,
            quote,
            url: url_attribute(&self.raw[self.name.0..self.name.1]),
        };
        attrs.n += 1;
        true
    }
}

/// Reads a start tag's attributes in one pass: the `>` and the values. `None` when the tag is
/// not closed (or has more than [`MAX_ATTRS`] values): then it is read as text.
fn start_tag(raw: &[u8], i: usize, attrs: &mut Attrs) -> Option<usize> {
    attrs.n = 0;
    read_tag(
        raw,
        i,
        false,
        &mut StartTag {
            raw,
            attrs,
            name: (0, 0),
        },
    )
}

/// An end tag's attributes: read to find its end, then dropped.
struct Dropped;

impl TagParts for Dropped {
    fn name(&mut self, _: usize, _: usize) -> bool {
        true
    }

    fn value(&mut self, _: usize, _: usize, _: u8) -> bool {
        true
    }
}

/// The names and values of a tag read loosely, each emitted as a segment of its own.
struct LooseTag<'f, F>(&'f mut F);

impl<F: Segs> TagParts for LooseTag<'_, F> {
    #[inline(always)]
    fn name(&mut self, start: usize, end: usize) -> bool {
        text(start, end, TEXT, Ctx::Attr(0), self.0);
        true
    }

    #[inline(always)]
    fn value(&mut self, start: usize, end: usize, quote: u8) -> bool {
        text(start, end, TEXT, Ctx::Attr(quote), self.0);
        true
    }
}

/// Reads a start tag `start_tag` refused, from the end of its name: every attribute name and
/// value is a segment of its own (names as unquoted values: all of their delimiters are
/// escaped in a replacement). Returns the `>` closing the tag, `None` when the document ends
/// inside it.
fn loose_tag(raw: &[u8], i: usize, f: &mut impl Segs) -> Option<usize> {
    read_tag(raw, i, true, &mut LooseTag(f))
}

/// Emits one attribute value.
#[inline(always)]
fn attribute(raw: &[u8], a: &Attr, noting: &mut Noting<'_>, f: &mut impl Segs) {
    if a.url {
        let notes = noting.url();
        url(raw, a.start, a.end, Mode::ENT, Ctx::Attr(a.quote), notes, f);
    } else {
        text(a.start, a.end, TEXT, Ctx::Attr(a.quote), f);
    }
}

/// How an element's content reads, when it is not ordinary markup: `script` and `style` are
/// raw text (no references), `title` and `textarea` are text without tags.
fn element_content(tag: &[u8]) -> Option<(Ctx, Mode)> {
    // By length and the first two letters (`st`, `sc`, `ti`, `te`): `table`, `tbody` and the
    // other start tags of a mail leave here.
    if !matches!(tag.len(), 5 | 6 | 8)
        || !matches!(
            [tag[0] | 0x20, tag[1] | 0x20],
            [b's', b't' | b'c'] | [b't', b'i' | b'e']
        )
    {
        return None;
    }
    if tag.eq_ignore_ascii_case(b"script") || tag.eq_ignore_ascii_case(b"style") {
        Some((Ctx::Raw, Mode::PCT))
    } else if tag.eq_ignore_ascii_case(b"title") || tag.eq_ignore_ascii_case(b"textarea") {
        Some((Ctx::Text, TEXT))
    } else {
        None
    }
}

/// Where `</tag` (any case) starts at or after `from`, or the end. A `title`'s or a `style`'s
/// end is mostly the first `<` after it: a byte search, not a substring searcher's set-up.
fn closing_tag(raw: &[u8], from: usize, tag: &[u8]) -> usize {
    let mut i = from;
    while let Some(p) = find_byte(b'<', &raw[i..]) {
        let at = i + p;
        if raw.get(at + 1) == Some(&b'/') {
            let name = &raw[at + 2..];
            if name.len() >= tag.len() && name[..tag.len()].eq_ignore_ascii_case(tag) {
                return at;
            }
        }
        i = at + 1;
    }
    raw.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_over_a_link_finds_what_three_searches_find() {
        // Links of the bytes that matter and a filler, at every length up to five chunks, cut
        // from texts that go on after them (the vector path) and that end with them (the byte
        // loop), the `%25` notes with and without a place to go.
        let alphabet = b"?#%25aF0x";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as usize
        };
        for round in 0..4000 {
            let len = round % 80;
            let link: Vec<u8> = (0..len)
                .map(|_| alphabet[next() % alphabet.len()])
                .collect();
            for tail in [0, 1, 20] {
                let mut raw = b"<a href=\"".to_vec();
                let start = raw.len();
                raw.extend_from_slice(&link);
                let end = raw.len();
                raw.extend(std::iter::repeat_n(b'?', tail));
                let s = &raw[start..end];
                let q = memchr::memchr(b'?', s).map_or(end, |i| start + i);
                let h = memchr::memchr(b'#', &raw[q..end]).map_or(end, |i| q + i);
                let mut want = Vec::new();
                reread::escaped_twice(&raw, start, end, &mut want);
                let mut got = Vec::new();
                assert_eq!(url_parts(&raw, start, end, Some(&mut got)), (q, h), "{s:?}");
                assert_eq!(got, want, "{s:?}");
                assert_eq!(url_parts(&raw, start, end, None), (q, h), "{s:?}");
            }
        }
    }

    #[test]
    fn the_vector_name_search_finds_what_the_table_finds() {
        // Every byte value at every position of a 40-byte name, from a few starts (the last
        // chunk is shorter than sixteen bytes and read byte by byte).
        for b in 0..=255u8 {
            for at in 0..40 {
                let mut raw = [b'n'; 40];
                raw[at] = b;
                for from in [0, at.saturating_sub(1), at, 30, 40] {
                    let mut want = from;
                    while want < raw.len() && !ENDS_NAME[usize::from(raw[want])] {
                        want += 1;
                    }
                    assert_eq!(
                        run_end::<NameEnds>(&raw, from, raw.len()),
                        want,
                        "{b:#04x} {at} {from}"
                    );
                }
            }
        }
    }

    fn segs(s: &str, kind: TextKind) -> Vec<(&str, Ctx, Mode)> {
        let mut v = Vec::new();
        segments(s.as_bytes(), kind, None, &mut |seg: Seg| {
            v.push((&s[seg.start..seg.end], seg.kind.ctx, seg.kind.mode))
        });
        v
    }

    #[test]
    fn url_attributes_are_known_by_name_in_any_case() {
        for a in URL_ATTRIBUTES {
            let name = std::str::from_utf8(a).expect("ASCII names");
            for n in [name.to_owned(), name.to_ascii_uppercase()] {
                assert!(url_attribute(n.as_bytes()), "{n}");
            }
        }
        for n in [
            "border",
            "name",
            "style",
            "hre",
            "hrefs",
            "srcset",
            "xlink:hre",
            "",
        ] {
            assert!(!url_attribute(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn elements_with_their_own_content_are_known_by_name_in_any_case() {
        for (n, ctx) in [
            ("script", Ctx::Raw),
            ("style", Ctx::Raw),
            ("title", Ctx::Text),
            ("textarea", Ctx::Text),
        ] {
            for n in [
                n.to_owned(),
                n.to_ascii_uppercase(),
                n[..1].to_ascii_uppercase() + &n[1..],
            ] {
                assert_eq!(
                    element_content(n.as_bytes()).map(|(c, _)| c),
                    Some(ctx),
                    "{n}"
                );
            }
        }
        for n in [
            "table", "tbody", "thead", "stylo", "scripts", "titles", "textare", "strong",
        ] {
            assert_eq!(element_content(n.as_bytes()), None, "{n}");
        }
    }

    #[test]
    fn html_text_nodes_and_attribute_values() {
        let doc = r#"<p class="x">Hi <b>Al</b>, mail <a href='mailto:a@b.co?subject=Hi+there'>a@b.co</a><br/>ok"#;
        let got: Vec<_> = segs(doc, TextKind::Html)
            .into_iter()
            .map(|(s, c, _)| (s, c))
            .collect();
        assert_eq!(
            got,
            [
                ("x", Ctx::Attr(b'"')),
                ("Hi ", Ctx::Text),
                ("Al", Ctx::Text),
                (", mail ", Ctx::Text),
                ("mailto:a@b.co", Ctx::Attr(b'\'')),
                ("?subject=Hi+there", Ctx::Attr(b'\'')),
                ("a@b.co", Ctx::Text),
                ("ok", Ctx::Text),
            ]
        );
    }

    #[test]
    fn what_is_not_a_tag_is_text() {
        for doc in ["1 < 2 and 3 > 2", "a <3 b", "x </> y"] {
            let got = segs(doc, TextKind::Html);
            assert_eq!(got.len(), 1, "{doc}: {got:?}");
            assert_eq!(got[0].0, doc);
        }
    }

    #[test]
    fn a_tag_with_a_name_no_element_has_is_read_as_an_unquoted_value() {
        // A browser reads `<alice@example.com>` as a start tag, and `title` below as an
        // attribute of `p.note`: a replacement there must not be able to end either.
        let got = |doc: &'static str| -> Vec<(&'static str, Ctx)> {
            segs(doc, TextKind::Html)
                .into_iter()
                .map(|(s, c, _)| (s, c))
                .collect()
        };
        assert_eq!(
            got("Alice <alice@example.com>, hi"),
            [
                ("Alice ", Ctx::Text),
                ("alice@example.com", Ctx::Name),
                (", hi", Ctx::Text)
            ]
        );
        for doc in ["<p.note title=\"a@b.co\">x", "</p.note title=\"a@b.co\">x"] {
            assert_eq!(
                got(doc),
                [
                    ("p.note", Ctx::Name),
                    ("title", Ctx::Attr(0)),
                    ("a@b.co", Ctx::Attr(b'"')),
                    ("x", Ctx::Text)
                ],
                "{doc}"
            );
        }
    }

    #[test]
    fn comments_end_where_a_browser_ends_them() {
        for (doc, body) in [
            ("<!-->a@b.co", ""),
            ("<!--->a@b.co", ""),
            ("<!---->a@b.co", ""),
            ("<!-- x --!>a@b.co", " x "),
            ("<!-- x -- y -->a@b.co", " x -- y "),
            ("<![CDATA[ x ]]>a@b.co", " x "),
            ("<![CDATA[ x > y ]]>a@b.co", " x "),
        ] {
            let got = segs(doc, TextKind::Html);
            let raw: Vec<_> = got.iter().filter(|s| s.1 == Ctx::Raw).collect();
            assert!(raw.iter().all(|s| s.0 == body), "{doc}: {got:?}");
            assert!(
                got.iter()
                    .any(|s| s.1 == Ctx::Text && s.0.ends_with("a@b.co")),
                "{doc}: {got:?}"
            );
        }
    }

    #[test]
    fn a_start_tag_that_never_ends_holds_the_rest_as_its_open_value() {
        let got: Vec<_> = segs("x <a href='y a@b.co</a>", TextKind::Html)
            .into_iter()
            .map(|(s, c, _)| (s, c))
            .collect();
        assert_eq!(
            got,
            [
                ("x ", Ctx::Text),
                ("href", Ctx::Attr(0)),
                ("y a@b.co</a>", Ctx::Attr(b'\''))
            ]
        );
        // No quote open, no `>`: names and values to the end, the syntax between them left out.
        let got: Vec<_> = segs("<p id=7 a@b.co title=\"Al\" x", TextKind::Html)
            .into_iter()
            .map(|(s, c, _)| (s, c))
            .collect();
        assert_eq!(
            got,
            [
                ("id", Ctx::Attr(0)),
                ("7", Ctx::Attr(0)),
                ("a@b.co", Ctx::Attr(0)),
                ("title", Ctx::Attr(0)),
                ("Al", Ctx::Attr(b'"')),
                ("x", Ctx::Attr(0)),
            ]
        );
    }

    #[test]
    fn an_end_tag_that_never_ends_is_read_like_a_start_tag() {
        let got: Vec<_> = segs("a</b c=\"d e", TextKind::Html)
            .into_iter()
            .map(|(s, c, _)| (s, c))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Ctx::Text),
                ("c", Ctx::Attr(0)),
                ("d e", Ctx::Attr(b'"'))
            ]
        );
    }

    #[test]
    fn a_tag_with_too_many_attributes_is_still_a_tag() {
        let mut doc = String::from("<p");
        for k in 0..=MAX_ATTRS {
            doc.push_str(&format!(" a{k}=v"));
        }
        doc.push_str(">Al <b>x</b>");
        let got = segs(&doc, TextKind::Html);
        assert_eq!(got.len(), 2 * (MAX_ATTRS + 1) + 2, "{got:?}");
        assert_eq!(got[got.len() - 2].0, "Al ");
        assert_eq!(got[got.len() - 1].0, "x");
    }

    #[test]
    fn raw_text_elements_comments_and_declarations() {
        let doc = "<!DOCTYPE html><!-- a@b.co --><script>var e='<b>x</b>';</script><STYLE>p{}</style ><title>T&amp;C</title>";
        let got: Vec<_> = segs(doc, TextKind::Html)
            .into_iter()
            .map(|(s, c, _)| (s, c))
            .collect();
        assert_eq!(
            got,
            [
                (" a@b.co ", Ctx::Raw),
                ("var e='<b>x</b>';", Ctx::Raw),
                ("p{}", Ctx::Raw),
                ("T&amp;C", Ctx::Text),
            ]
        );
    }

    #[test]
    fn url_components() {
        let got = segs("https://x.co/p?q=a+b&e=c%40d.co#frag", TextKind::Url);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, "?q=a+b&e=c%40d.co");
        assert!(got[1].2.has(Mode::PLUS) && !got[0].2.has(Mode::PLUS));
        assert!(got.iter().all(|s| s.1 == Ctx::Url && s.2.has(Mode::URL)));
    }
}
