//! Personal data *inside* text: the spans of a support ticket, a mail body or a URL that hold an
//! email address, a phone number, a card, an IBAN, an IP address, an SSN or CNIC, a JWT or API
//! key, a date of birth or a street address — found, and handed one by one to a caller that
//! replaces them, while every other byte is copied as it came.
//!
//! [`Detector`](super::Detector) answers "what is this leaf?"; a [`SpanScanner`] answers "where
//! in this text is personal data?". It reuses the value detectors as validators (Luhn, mod-97,
//! octet ranges, SSA ranges, the JWT header) on *candidates* only.
//!
//! # How it finds spans
//!
//! One pass per segment of text, driven by a 256-entry byte table: bytes that cannot start or
//! anchor a candidate (letters, spaces, most punctuation) cost a table lookup. Anchors:
//!
//! - a digit: a *numeric run* (digits with `space - . / ( ) +` between them, opened by a word
//!   boundary) tried as IPv4, CNIC, SSN, card and phone — or, split at spaces, as several of
//!   them; failing that, a date after a birth keyword found by looking back a few words
//!   (`born`, `DOB`, `date of birth`, `Geburtsdatum`, `né le`, …), or a house number starting a
//!   street address (`742 Evergreen Terrace`, `Hauptstraße 5`, `12 rue de la Paix`);
//! - a digit glued to a word, `_` or `-`: the word, tried as JWT, API key and IBAN;
//! - `@` (also written `&#64;`, `&#x40;`, `&commat;` or `%40`): the longest address around it;
//! - `:` between hex digits: an IPv6 address.
//!
//! Each candidate is read through the segment's decoding into a small stack window (so
//! `alice&#64;example.com`, `alice%40example.com` and `0300&nbsp;1234567` are found), validated,
//! and mapped back to raw offsets. Nothing is allocated unless something is found.
//!
//! # Knowing the text it sits in
//!
//! A [`TextKind`] says how to read the text ([`TextKind::Auto`] sniffs it):
//!
//! - **Plain** text: percent escapes (a URL pasted into a ticket) and character references
//!   (a fragment that a recipient shows as HTML) are decoded.
//! - **HTML**: only text nodes and attribute values are read; tag and attribute names, comments'
//!   delimiters and declarations are not text. Character references are decoded. `href`, `src`
//!   and the other URL attributes are read as URLs (`mailto:` included). `script`, `style` and
//!   comments are read as raw text.
//! - **URL**: percent escapes are decoded, `+` is a space in the query, and literal `& = ? # /`
//!   are delimiters a value never crosses.
//!
//! A replacement is *plain text*; the scanner encodes it for where the span sat: percent-encoded
//! in a URL (or where the span itself was percent-encoded), HTML-escaped in a text node or an
//! attribute value (quotes included), with `<` and `>` escaped in raw text so it can never end
//! a `script` or a comment. The output stays the same kind of document.
//!
//! # Names the payload gives away
//!
//! An [`Echo`] holds values a request's rules selected (a name, an email, a user id): they are
//! found wherever they recur, case-insensitively and in their escaped forms, and merged with
//! the detectors' spans (see `echo.rs`).

pub mod check;
mod decode;
mod echo;
mod escape;
mod escaped;
mod find;
mod html;
mod lanes;
mod reread;
mod userinfo;

use super::{Class, ClassSet, fold};
use decode::{Fixed, Mode};

pub use echo::{Echo, EchoBuilder, EchoKind, EchoLimits, EchoTag};

/// The classes a [`SpanScanner`] can find inside text.
pub const SPAN_CLASSES: ClassSet = ClassSet::empty()
    .with(Class::ApiKey)
    .with(Class::Cnic)
    .with(Class::DateOfBirth)
    .with(Class::Email)
    .with(Class::Iban)
    .with(Class::IpAddress)
    .with(Class::Jwt)
    .with(Class::Password)
    .with(Class::PaymentCard)
    .with(Class::Phone)
    .with(Class::Ssn)
    .with(Class::StreetAddress);

/// Finds personal data inside text. Built once (per route, at config compile time); `&self`
/// only, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct SpanScanner {
    classes: ClassSet,
}

/// How to read a text. Variants in alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Sniff: a URL if the whole text is one `http(s):` or `mailto:` URL, HTML if it has a tag,
    /// else plain text.
    Auto,
    /// An HTML document or fragment.
    Html,
    /// Free text.
    Plain,
    /// One URL.
    Url,
}

/// Where a span came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A detector found a value of this class.
    Class(Class),
    /// A value from the request's [`Echo`] set recurs here.
    Echo(EchoTag),
}

/// One span of personal data, as handed to the replacement.
#[derive(Debug, Clone, Copy)]
pub struct Span<'t> {
    /// Byte offset of the span in the text, as written (escapes included).
    pub start: usize,
    /// End of the span (exclusive).
    pub end: usize,
    /// What it is.
    pub origin: Origin,
    /// The span's text decoded (`alice@example.com` for `alice&#64;example.com`), or the raw
    /// text when the decoding is not UTF-8 or longer than 1 KiB.
    pub value: &'t str,
}

/// What the replacement did with a span. Variants in alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    /// Keep the span's original bytes.
    Keep,
    /// Replace the span with the plain text written to the buffer (empty: remove it).
    Replaced,
}

/// What [`SpanScanner::scrub`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scrubbed {
    /// Spans found.
    pub spans: usize,
    /// Spans replaced. When 0, nothing was written to the output.
    pub replaced: usize,
}

/// A span before it is handed out: raw range, origin, and how its segment reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) origin: Origin,
    pub(crate) seg: SegKind,
}

/// A stretch of the text read one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seg {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) kind: SegKind,
}

/// How a segment decodes and how a replacement inside it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegKind {
    pub(crate) mode: Mode,
    pub(crate) ctx: Ctx,
}

/// Where a segment sits. Variants in alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// An HTML attribute value, quoted with this byte (`0`: unquoted).
    Attr(u8),
    /// The name of a tag the fast path does not read (`<alice@example.com>`): written as an
    /// unquoted value is, and a replacement always starts with a letter, so the `<` before it
    /// still opens a tag.
    Name,
    /// Free text.
    Plain,
    /// `script`, `style`, a comment, CDATA: text the HTML parser does not decode.
    Raw,
    /// An HTML text node (or `title`/`textarea`).
    Text,
    /// A URL (the whole text).
    Url,
}

// === impl SpanScanner ===

impl Default for SpanScanner {
    /// Every span class.
    fn default() -> Self {
        Self::new(SPAN_CLASSES)
    }
}

impl SpanScanner {
    /// A scanner for `classes` (those outside [`SPAN_CLASSES`] are ignored).
    pub fn new(classes: ClassSet) -> Self {
        let classes = classes
            .iter()
            .filter(|c| SPAN_CLASSES.contains(*c))
            .collect();
        Self { classes }
    }

    /// The classes this scanner finds.
    pub fn classes(&self) -> ClassSet {
        self.classes
    }

    /// Calls `f` for every span in `text`, in order, non-overlapping. With `echo`, the echo
    /// set's values are found as well; where an echo and a detected span overlap they become
    /// one span, attributed to the longer (the echo on a tie). Allocates only when something
    /// is found.
    pub fn find(
        &self,
        text: &str,
        kind: TextKind,
        echo: Option<&Echo>,
        mut f: impl FnMut(&Span<'_>),
    ) -> usize {
        let found = self.hits(text, kind, echo);
        for h in &found.hits {
            found.with_value(text, h, |value| {
                f(&Span {
                    start: h.start,
                    end: h.end,
                    origin: h.origin,
                    value,
                })
            });
        }
        found.hits.len()
    }

    /// Rewrites `text` into `out` with every span replaced by what `replace` writes (plain
    /// text, which is encoded for the span's context; see the module doc). Bytes outside spans
    /// are copied unchanged. When nothing is replaced, `out` is left untouched and the caller
    /// forwards the original.
    ///
    /// The buffer `replace` writes into is cleared before each call.
    ///
    /// # Errors
    /// The first error `replace` returns; `out` may then hold a partial result and must be
    /// discarded.
    pub fn scrub<E>(
        &self,
        text: &str,
        kind: TextKind,
        echo: Option<&Echo>,
        mut replace: impl FnMut(&Span<'_>, &mut Vec<u8>) -> Result<Replacement, E>,
        out: &mut Vec<u8>,
    ) -> Result<Scrubbed, E> {
        let found = self.hits(text, kind, echo);
        let hits = &found.hits;
        let mut done = Scrubbed {
            spans: hits.len(),
            replaced: 0,
        };
        if hits.is_empty() {
            return Ok(done);
        }
        let raw = text.as_bytes();
        let mut plain = Vec::new();
        let mut copied = 0;
        let mark = out.len();
        for h in hits {
            plain.clear();
            let what = found.with_value(text, h, |value| {
                replace(
                    &Span {
                        start: h.start,
                        end: h.end,
                        origin: h.origin,
                        value,
                    },
                    &mut plain,
                )
            })?;
            if what == Replacement::Keep {
                continue;
            }
            out.extend_from_slice(&raw[copied..h.start]);
            escape::write(&plain, h.seg, &raw[h.start..h.end], out);
            copied = h.end;
            done.replaced += 1;
        }
        if done.replaced == 0 {
            out.truncate(mark);
        } else {
            out.extend_from_slice(&raw[copied..]);
        }
        Ok(done)
    }

    /// Every span, merged with the echoes. Empty (no allocation) when there are none.
    ///
    /// A text with characters a reader folds (`ottilie＠example．org`, a phone in fullwidth
    /// digits, an address split by a zero-width space), a word split by inline markup
    /// (`ottilie<wbr>@example.org`) or an escape its reader decodes and the first reading
    /// does not (`%EF%BC%A0`, `&amp;#64;`, `\u0040`; see `escaped.rs`) is read a second time
    /// as its reader reads it (see `reread.rs`), and what that reading finds is mapped back
    /// onto the original's bytes and merged. A link's parameter that is base64 of text is
    /// read as a text of its own. Any other text pays one `is_ascii` pass and a compare per
    /// HTML text node.
    fn hits(&self, text: &str, kind: TextKind, echo: Option<&Echo>) -> Found {
        let raw = text.as_bytes();
        let echo = echo.filter(|e| !e.is_empty());
        if self.classes.is_empty() && echo.is_none() {
            return Found::default();
        }
        let kind = sniff(raw, kind);
        let mut notes = Notes::default();
        let found = self.scan(raw, kind, echo, Some(&mut notes));
        let mut params = std::mem::take(&mut notes.params);
        // Links written in plain text, which the finder saw (`://`): their parameters too.
        if kind == TextKind::Plain && notes.seen & escaped::LINK != 0 {
            let seg = SegKind {
                mode: Mode::PCT.with(Mode::ENT).with(Mode::URL).with(Mode::PLUS),
                ctx: Ctx::Plain,
            };
            escaped::queries_in_text(raw, 0, raw.len(), &mut |q, h| {
                escaped::encoded_params(raw, q, h, &mut |a, b| params.push((a, b, seg)));
            });
        }
        let mut found = self.reread(text, kind, echo, found, notes);
        if !params.is_empty() {
            let encoded = self.encoded(text, echo, &params, &mut found.decoded);
            if !encoded.is_empty() {
                found.hits = merge(std::mem::take(&mut found.hits), encoded);
            }
        }
        found
    }

    /// The second reading (see [`Self::hits`]) of a text whose first reading found `found`
    /// and noted `notes`.
    fn reread(
        &self,
        text: &str,
        kind: TextKind,
        echo: Option<&Echo>,
        found: Vec<Hit>,
        notes: Notes,
    ) -> Found {
        let raw = text.as_bytes();
        let fold = !raw.is_ascii() && fold::foldable(raw);
        let Notes {
            gaps,
            mut twice,
            seen,
            ..
        } = notes;
        // An escape escaped once more outside a link too (a text node, plain text, an
        // attribute): the whole text is read for them once.
        if seen & escaped::TWICE != 0 {
            twice.clear();
            reread::escaped_twice(raw, 0, raw.len(), &mut twice);
        }
        let mut edits = Vec::new();
        if seen & (escaped::HIGH | escaped::AMP | escaped::BACKSLASH) != 0 {
            escaped::edits(raw, seen, &mut edits);
        }
        // A look-alike escaped twice (`%25EF%25BC%25A0`) is one edit: its `25`s are inside.
        if !edits.is_empty() && !twice.is_empty() {
            twice.retain(|&(a, b)| {
                let k = edits.partition_point(|e| e.end <= a);
                edits.get(k).is_none_or(|e| b <= e.start)
            });
        }
        if !fold && gaps.is_empty() && twice.is_empty() && edits.is_empty() {
            return Found {
                hits: found,
                ..Found::default()
            };
        }
        edits.extend(gaps.iter().chain(&twice).copied().map(escaped::Edit::gap));
        // Disjoint, as the reading needs them: a note inside markup the reading leaves out
        // (a link's `%25` in a tag that splits a word) goes with the markup, the widest edit
        // at a start first.
        edits.sort_unstable_by_key(|e| (e.start, std::cmp::Reverse(e.end)));
        let mut end = 0;
        edits.retain(|e| {
            let keep = e.start >= end;
            if keep {
                end = e.end;
            }
            keep
        });
        let reading = reread::Reading::new(text, &edits, fold);
        if edits.is_empty() && reading.text.len() == text.len() && reading.text == text {
            return Found {
                hits: found,
                ..Found::default()
            };
        }
        // A span of the reading maps back to the original; one over a word split by inline
        // markup becomes one span per piece of text around the markup (the markup, and what
        // the first reading found in its attributes, stays between them), each handed the
        // whole value.
        let mut again = Vec::new();
        let mut joined = Vec::new();
        for mut h in self.scan(reading.text.as_bytes(), kind, echo, None) {
            let (start, end) = (reading.map[h.start], reading.map[h.end]);
            if edits_within(&edits, start, end)
                .iter()
                .any(|e| e.with == 0 && raw[e.start..e.end] == *b"amp;")
            {
                h.seg.mode = h.seg.mode.with(Mode::TWICE);
            }
            let inside = gaps_within(&gaps, start, end);
            if inside.is_empty() {
                again.push(Hit { start, end, ..h });
                continue;
            }
            let mut from = start;
            for &(a, b) in inside.iter().chain([&(end, end)]) {
                if from < a {
                    again.push(Hit {
                        start: from,
                        end: a,
                        ..h
                    });
                    joined.push(Joined {
                        piece: from,
                        start,
                        end,
                    });
                }
                from = b;
            }
        }
        let hits = if again.is_empty() {
            found
        } else {
            merge(found, again)
        };
        Found {
            hits,
            removed: edits,
            joined,
            decoded: Vec::new(),
        }
    }

    /// Spans for the link parameters `params` (raw ranges, in order) that are base64 of text
    /// holding personal data: the whole value (but its padding), of the class of the first
    /// span in its text, whose decoded text goes to `decoded` as the span's value. The text is read as any text
    /// is (so a value that is base64 of base64 is read again, each level shorter).
    fn encoded(
        &self,
        text: &str,
        echo: Option<&Echo>,
        params: &[(usize, usize, SegKind)],
        decoded: &mut Vec<(usize, String)>,
    ) -> Vec<Hit> {
        let mut hits = Vec::new();
        for &(start, end, seg) in params {
            let Some(plain) = super::encoded::base64_text(&text.as_bytes()[start..end]) else {
                continue;
            };
            let inner = self.hits(&plain, TextKind::Auto, echo);
            let Some(first) = inner.hits.first() else {
                continue;
            };
            // A `/` of the standard alphabet stays between the pieces around it (each
            // replaced): a span never takes a path's delimiter. The padding (`=`, `%3D`) goes
            // with the last piece: a literal `=` at a value's end delimits nothing, and left
            // after the replacement it would read as a stray one (`u=%5BREDACTED%3Aemail%5D=`).
            let raw = text.as_bytes();
            let mut from = start;
            for cut in memchr::memchr_iter(b'/', &raw[start..end])
                .map(|p| start + p)
                .chain([end])
            {
                if from < cut && raw[from] != b'=' {
                    hits.push(Hit {
                        start: from,
                        end: cut,
                        origin: first.origin,
                        seg,
                    });
                    decoded.push((from, plain.clone()));
                }
                from = cut + 1;
            }
        }
        hits
    }

    /// The spans and echoes of one reading of a text (`kind` resolved). With `notes`, what
    /// a second reading would read otherwise is noted there.
    fn scan(
        &self,
        raw: &[u8],
        kind: TextKind,
        echo: Option<&Echo>,
        notes: Option<&mut Notes>,
    ) -> Vec<Hit> {
        let mut reader = Reader {
            raw,
            finder: find::Finder::new(self.classes),
            found: Vec::new(),
            echo,
            echoed: Vec::new(),
        };
        let mut notes = notes;
        html::segments(raw, kind, notes.as_deref_mut(), &mut reader);
        let Reader {
            found,
            echoed,
            finder,
            ..
        } = reader;
        if let Some(notes) = notes {
            notes.seen |= finder.seen;
        }
        if echoed.is_empty() {
            found
        } else {
            merge(found, echoed)
        }
    }
}

/// What reads each segment of one reading: the finder and the echo set.
struct Reader<'a> {
    raw: &'a [u8],
    finder: find::Finder,
    found: Vec<Hit>,
    echo: Option<&'a Echo>,
    echoed: Vec<Hit>,
}

impl html::Segs for Reader<'_> {
    #[inline(always)]
    fn seg(&mut self, seg: Seg) {
        if let Some(seen) = self.finder.look(self.raw, seg) {
            self.finder.scan(self.raw, seg, seen, &mut self.found);
        }
        if let Some(e) = self.echo {
            e.scan(self.raw, seg, &mut self.echoed);
        }
    }
}

/// What the first reading of a text noted for the second (raw ranges, in order).
#[derive(Default)]
struct Notes {
    /// Inline markup splitting a word between two HTML text nodes.
    gaps: Vec<(usize, usize)>,
    /// The `25` of `%25` before two hex digits in a URL: an escape escaped once more.
    twice: Vec<(usize, usize)>,
    /// Escapes the first reading met and did not read further (`escaped::Seen`).
    seen: escaped::Seen,
    /// Link parameters that may be base64 of text, with their segment's kind.
    params: Vec<(usize, usize, SegKind)>,
}

/// What [`SpanScanner::hits`] found.
#[derive(Default)]
struct Found {
    /// The spans, in order, non-overlapping, with raw offsets.
    hits: Vec<Hit>,
    /// What the second reading read otherwise: the gaps and the inner `25` of `%2540` left
    /// out, escapes read as what they stand for.
    removed: Vec<escaped::Edit>,
    /// The pieces of spans over such words.
    joined: Vec<Joined>,
    /// The decoded text of spans over base64 parameters, by the span's start.
    decoded: Vec<(usize, String)>,
}

/// A piece of a span over a word split by inline markup: the piece starting at `piece` is
/// part of the value `start..end` (markup included).
struct Joined {
    piece: usize,
    start: usize,
    end: usize,
}

/// The gaps inside `start..end`.
fn gaps_within(gaps: &[(usize, usize)], start: usize, end: usize) -> &[(usize, usize)] {
    let from = gaps.partition_point(|g| g.0 < start);
    let to = gaps.partition_point(|g| g.1 <= end);
    &gaps[from..to.max(from)]
}

/// The edits inside `start..end`.
fn edits_within(edits: &[escaped::Edit], start: usize, end: usize) -> &[escaped::Edit] {
    let from = edits.partition_point(|e| e.start < start);
    let to = edits.partition_point(|e| e.end <= end);
    &edits[from..to.max(from)]
}

impl Found {
    /// Calls `f` with the value of `h`: the decoded text of a base64 parameter, else as
    /// [`with_value`] reads it.
    fn with_value<R>(&self, text: &str, h: &Hit, f: impl FnOnce(&str) -> R) -> R {
        if let Some((_, v)) = self.decoded.iter().find(|(s, _)| *s == h.start) {
            return f(v);
        }
        with_value(text, self.value_range(h), h, f)
    }

    /// The raw range whose reading is the value of `h` (the whole word for a piece of a
    /// split one), and what the reading reads otherwise inside it.
    fn value_range(&self, h: &Hit) -> (usize, usize, &[escaped::Edit]) {
        let (start, end) = match self
            .joined
            .iter()
            .find(|j| j.piece == h.start && h.end <= j.end)
        {
            Some(j) => (j.start, j.end),
            None => (h.start, h.end),
        };
        (start, end, edits_within(&self.removed, start, end))
    }
}

/// Whether `raw` holds a link whose parameter is base64 of text (which the scanner reads as a
/// text of its own): the detector's gate before it asks the scanner.
pub(crate) fn encoded_text_param(raw: &[u8]) -> bool {
    if memchr::memchr(b'=', raw).is_none() {
        return false;
    }
    let mut found = false;
    escaped::queries_in_text(raw, 0, raw.len(), &mut |q, h| {
        escaped::encoded_params(raw, q, h, &mut |a, b| {
            found = found || super::encoded::base64_text(&raw[a..b]).is_some();
        });
    });
    found
}

/// Whether `raw` holds a URL with a password in its userinfo (which the scanner finds as a
/// span of [`Class::Password`]): the detector's gate before it asks the scanner.
pub(crate) fn url_password(raw: &[u8]) -> bool {
    userinfo::any_password(raw)
}

/// Resolves [`TextKind::Auto`].
fn sniff(raw: &[u8], kind: TextKind) -> TextKind {
    if kind != TextKind::Auto {
        return kind;
    }
    let t = raw.trim_ascii();
    let starts = |p: &[u8]| t.len() > p.len() && t[..p.len()].eq_ignore_ascii_case(p);
    if (starts(b"https://") || starts(b"http://") || starts(b"mailto:"))
        && !t.iter().any(u8::is_ascii_whitespace)
    {
        return TextKind::Url;
    }
    let tag = memchr::memchr_iter(b'<', t).any(|i| {
        t.get(i + 1)
            .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'/' || b == b'!')
    });
    if tag && memchr::memchr(b'>', t).is_some() {
        TextKind::Html
    } else {
        TextKind::Plain
    }
}

/// Calls `f` with the decoded text of a hit: as its reader reads it (the value of
/// `ottilie＠example．org` or of either piece of `ottilie<wbr>@example.org` is
/// `ottilie@example.org`, so a token of it is the address's token) and with its escapes
/// decoded. `(start, end, gaps)` is the range read for the value and the markup inside it.
fn with_value<R>(
    text: &str,
    (start, end, gaps): (usize, usize, &[escaped::Edit]),
    h: &Hit,
    f: impl FnOnce(&str) -> R,
) -> R {
    let raw = &text.as_bytes()[start..end];
    if !gaps.is_empty() || (!raw.is_ascii() && fold::foldable(raw)) {
        let inside: Vec<_> = gaps
            .iter()
            .map(|e| escaped::Edit {
                start: e.start - start,
                end: e.end - start,
                with: e.with,
            })
            .collect();
        let read = reread::Reading::new(&text[start..end], &inside, true);
        let mut buf = Fixed::<1024>::new();
        decode::decode_into(read.text.as_bytes(), h.seg.mode, &mut buf);
        return match std::str::from_utf8(buf.bytes()) {
            Ok(s) if !buf.overflow => f(s),
            _ => f(&read.text),
        };
    }
    // Only `&`, `%` and `+` start anything the decoding changes: without them a span is its
    // own decoding (most are: an address or a number written as is).
    if !lanes::holds_any(raw, [b'&', b'%', b'+']) {
        return f(&text[h.start..h.end]);
    }
    // A span is mostly tens of bytes (an address written with `%40`): decoded into a small
    // buffer first, as zeroing a KiB per span cost more than the decoding; the large one only
    // when the small one overflows, so every value reads as before.
    let mut small = Fixed::<128>::new();
    decode::decode_into(raw, h.seg.mode, &mut small);
    if !small.overflow {
        return match std::str::from_utf8(small.bytes()) {
            Ok(s) => f(s),
            _ => f(&text[h.start..h.end]),
        };
    }
    let mut buf = Fixed::<1024>::new();
    decode::decode_into(raw, h.seg.mode, &mut buf);
    match std::str::from_utf8(buf.bytes()) {
        Ok(s) if !buf.overflow => f(s),
        _ => f(&text[h.start..h.end]),
    }
}

/// Merges two sorted lists of non-overlapping hits. Overlapping hits become one covering both,
/// attributed to the longer (the echo on a tie): a partial overlap must not leave the rest of
/// either value in clear.
fn merge(found: Vec<Hit>, echoed: Vec<Hit>) -> Vec<Hit> {
    let mut out: Vec<Hit> = Vec::with_capacity(found.len() + echoed.len());
    let (mut a, mut b) = (found.into_iter().peekable(), echoed.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if y.start <= x.start => b.next(),
            (Some(_), _) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        let Some(h) = next else { break };
        match out.last_mut() {
            Some(last) if h.start < last.end => {
                let echo_wins =
                    matches!(h.origin, Origin::Echo(_)) && !matches!(last.origin, Origin::Echo(_));
                let (hl, ll) = (h.end - h.start, last.end - last.start);
                if hl > ll || (hl == ll && echo_wins) {
                    last.origin = h.origin;
                }
                last.end = last.end.max(h.end);
            }
            _ => out.push(h),
        }
    }
    out
}

#[cfg(test)]
mod tests;
