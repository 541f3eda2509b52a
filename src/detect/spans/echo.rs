//! Names the payload gives away: values a request's rules selected, found again in its text.
//!
//! A SendGrid mail names its recipient in `personalizations[].to[].name` and then greets them
//! by name in the HTML body; no detector can know that "Alice" is a person's name, but the
//! payload says so. The caller collects the values its rules select *before* it rewrites
//! anything (so the order in the document does not matter: a body before the field that names
//! the person is still covered), builds one [`Echo`] per request, and the scanner finds every
//! recurrence:
//!
//! - case-insensitively (ASCII folding by the automaton; non-ASCII letters through lower- and
//!   upper-case variants of the needle);
//! - in the text as decoded for its segment: HTML references, percent escapes and `+` (JSON
//!   `\u` escapes are the caller's, which hands decoded strings);
//! - as whole words: never inside a longer word or number;
//! - for person names, the full name and each part of three letters or more (`Alice`,
//!   `Smith`); a part that is also a common English word (`Will`, `May`, `Rose`) only where it
//!   is capitalised, so "you will" stays as it is.
//!
//! # How, and what it costs
//!
//! Every needle is matched as a whole word, so a match can only start where a word starts.
//! The needles are sorted by their first byte (folded to lower case) and, within a byte, by
//! length, longest first; a 256-entry table says which bytes start one. The search skips bytes
//! that start no needle with one lookup each, and at a word start compares the needles of that
//! byte (ASCII case folded) — leftmost-longest, with the boundary after the match checked. A
//! segment without escapes is searched in place; one with escapes is decoded in 2 KiB stack
//! chunks and searched there.
//!
//! This replaced an Aho-Corasick automaton: building one per request (it holds the request's
//! values) cost 20–100 µs for a handful of needles and over 300 µs for 64 names, more than
//! searching tens of KB, while whole-word needles make a first-byte table at word starts as
//! selective as the automaton's prefilter. Building is now sorting a few dozen short strings.
//! Bounds: at most [`EchoLimits::max_values`] values and [`EchoLimits::max_needles`] needles
//! of at most [`EchoLimits::max_len`] bytes ([`EchoBuilder::add`] says when one is not taken),
//! so a hostile payload cannot make the search quadratic: the work per word start is at most
//! the needles sharing its first byte. docs/BENCHMARKS.md has the measured cost per KB and per
//! value.

use super::decode::{self, Mode};
use super::{Hit, Origin, Seg};

/// The caller's name for an echoed value (e.g. the index of the rule that selected it), handed
/// back in [`super::Origin::Echo`] so the span gets that rule's treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EchoTag(pub u32);

/// What kind of value is echoed. Variants in alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoKind {
    /// A person's name: the whole name and each part of three letters or more.
    PersonName,
    /// Any other value (email, phone, user id): the whole value, at least
    /// [`EchoLimits::min_len`] bytes.
    Value,
}

/// Bounds on the work one request can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoLimits {
    /// Values accepted per request.
    pub max_values: usize,
    /// Needles (values, name parts and case variants) per request.
    pub max_needles: usize,
    /// Longest needle, in bytes; longer values are not echoed.
    pub max_len: usize,
    /// Shortest [`EchoKind::Value`], in bytes: shorter ids would match ordinary numbers.
    pub min_len: usize,
}

impl Default for EchoLimits {
    fn default() -> Self {
        Self {
            max_values: 64,
            max_needles: 256,
            max_len: 256,
            min_len: 4,
        }
    }
}

/// Collects one request's selected values.
///
/// Needles live in one byte arena, ASCII-folded as they are added: collecting allocates only
/// when the arena or the needle list grows, never per value. A value already collected (the
/// same name in every event of a batch) is taken again without counting against the bounds.
#[derive(Debug)]
pub struct EchoBuilder {
    limits: EchoLimits,
    values: usize,
    /// Values (or their name parts) not searched for because a bound was reached.
    skipped: u32,
    bytes: Vec<u8>,
    needles: Vec<Slot>,
    /// Open-addressed set of the needles (index + 1; 0 is empty), twice as many slots as
    /// needles may be: a repeated value is found with a hash and a comparison or two.
    index: Vec<u16>,
}

/// The values of one request, ready to search for.
#[derive(Debug)]
pub struct Echo {
    /// The needles' bytes, ASCII lower case.
    bytes: Vec<u8>,
    /// Needles sorted by first byte then longest first.
    needles: Vec<Slot>,
    /// Per needle, its first eight bytes (fewer: zero-padded) with ASCII letters folded by
    /// setting bit 5, and the mask of its length: one comparison rules most needles out.
    keys: Vec<(u64, u64)>,
    /// `start[b]..start[b + 1]`: the needles whose first byte folds to `b`.
    start: [u16; 257],
    /// Per byte: [`WORD`] if it continues a word, [`FIRST`] if (either case) it starts a needle.
    table: [u8; 256],
    max_len: usize,
    min_len: usize,
    skipped: u32,
}

/// A byte that belongs to a word: a match never starts or ends next to one.
const WORD: u8 = 1;
/// A byte that starts a needle.
const FIRST: u8 = 2;

/// One needle: its bytes in the arena and what a match means.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: u32,
    len: u32,
    info: Needle,
}

#[derive(Debug, Clone, Copy)]
struct Needle {
    tag: EchoTag,
    /// Match only where the text capitalises it (a name part that is a common word).
    capitalised: bool,
    /// A whole person name (its parts were collected with it).
    name: bool,
}

/// Given names that are also common English words: matched only capitalised. Sorted.
const COMMON_WORDS: &[&str] = &[
    "april",
    "art",
    "august",
    "autumn",
    "bill",
    "bob",
    "brook",
    "buck",
    "cash",
    "chance",
    "chase",
    "christian",
    "clay",
    "cliff",
    "crystal",
    "dale",
    "dawn",
    "dean",
    "destiny",
    "don",
    "drew",
    "faith",
    "fay",
    "ford",
    "frank",
    "gay",
    "gene",
    "glen",
    "grace",
    "grant",
    "guy",
    "hall",
    "harmony",
    "hazel",
    "heath",
    "holly",
    "hope",
    "hunter",
    "iris",
    "ivy",
    "jack",
    "jade",
    "jay",
    "jewel",
    "joy",
    "june",
    "king",
    "lane",
    "lee",
    "lily",
    "long",
    "major",
    "mark",
    "marsh",
    "mason",
    "may",
    "miles",
    "mint",
    "misty",
    "nick",
    "noble",
    "olive",
    "page",
    "pat",
    "pearl",
    "penny",
    "price",
    "ray",
    "reed",
    "rich",
    "river",
    "robin",
    "rock",
    "rose",
    "ruby",
    "rush",
    "sage",
    "sandy",
    "scott",
    "shadow",
    "sky",
    "sterling",
    "stone",
    "storm",
    "sue",
    "summer",
    "sunny",
    "the",
    "tim",
    "trinity",
    "violet",
    "wade",
    "ward",
    "white",
    "will",
    "winter",
    "wood",
    "young",
];

// === impl EchoBuilder ===

impl EchoBuilder {
    /// An empty set with these bounds.
    pub fn new(limits: EchoLimits) -> Self {
        Self {
            limits,
            values: 0,
            skipped: 0,
            bytes: Vec::new(),
            needles: Vec::new(),
            index: Vec::new(),
        }
    }

    /// Adds a selected value. `false` when it was not added: too short, too long, or a bound
    /// reached (counted in [`Echo::skipped`] unless merely too short; nothing is logged here).
    /// A value already in the set is `true` and takes no room.
    pub fn add(&mut self, value: &str, kind: EchoKind, tag: EchoTag) -> bool {
        let value = value.trim();
        if value.len() > self.limits.max_len {
            self.skipped += 1;
            return false;
        }
        if kind == EchoKind::Value && value.len() < self.limits.min_len {
            return false;
        }
        let full = self.values == self.limits.max_values;
        let mut fresh = false;
        let mut dropped = false;
        let mut any = false;
        match kind {
            EchoKind::Value => {
                any = true;
                self.needle(value, tag, false, false, full, &mut fresh, &mut dropped);
            }
            EchoKind::PersonName => {
                if letters(value) >= 3 {
                    any = true;
                    let capitalised = common(value);
                    if self.needle(
                        value,
                        tag,
                        capitalised,
                        true,
                        full,
                        &mut fresh,
                        &mut dropped,
                    ) {
                        // This whole name was collected before, its parts with it.
                        return true;
                    }
                }
                for part in value.split(|c: char| c.is_whitespace() || c == ',' || c == '-') {
                    let part = part.trim_matches('.');
                    if letters(part) < 3 || part.len() == value.len() {
                        continue;
                    }
                    any = true;
                    self.needle(
                        part,
                        tag,
                        common(part),
                        false,
                        full,
                        &mut fresh,
                        &mut dropped,
                    );
                }
            }
        }
        if dropped {
            self.skipped += 1;
        }
        self.values += usize::from(fresh);
        any && !dropped
    }

    /// One needle and its case variants, unless already there. `full`: no new value may be
    /// added; a needle that is not already there then only sets `dropped`. `name`: the needle
    /// is a whole person name. Returns whether it is a whole name collected before.
    #[allow(clippy::too_many_arguments)]
    fn needle(
        &mut self,
        s: &str,
        tag: EchoTag,
        capitalised: bool,
        name: bool,
        full: bool,
        fresh: &mut bool,
        dropped: &mut bool,
    ) -> bool {
        let info = Needle {
            tag,
            capitalised,
            name,
        };
        // ASCII lower case, so the first byte names its bucket (`JÜRGEN` → `jÜRGEN`); the
        // comparison folds ASCII only, so a non-ASCII value also needs its upper-case variant.
        let at = self.bytes.len();
        if s.is_ascii() {
            self.bytes.extend_from_slice(s.as_bytes());
            self.bytes[at..].make_ascii_lowercase();
            self.keep(at, info, full, fresh, dropped)
        } else {
            let mut utf8 = [0u8; 4];
            for c in s.chars().flat_map(char::to_lowercase) {
                let c = c.to_ascii_lowercase();
                self.bytes
                    .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
            let seen = self.keep(at, info, full, fresh, dropped);
            let at = self.bytes.len();
            for c in s.chars().flat_map(char::to_uppercase) {
                let c = c.to_ascii_lowercase();
                self.bytes
                    .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
            self.keep(at, info, full, fresh, dropped);
            seen
        }
    }

    /// Keeps the needle written at `bytes[at..]` if it is new and within the bounds; else
    /// takes it back out of the arena.
    /// Returns whether the needle was there already as a whole person name (`info.name`).
    fn keep(
        &mut self,
        at: usize,
        info: Needle,
        full: bool,
        fresh: &mut bool,
        dropped: &mut bool,
    ) -> bool {
        let new = &self.bytes[at..];
        if new.is_empty() {
            return false;
        }
        if self.index.is_empty() {
            self.index = vec![0; (2 * self.limits.max_needles).next_power_of_two().max(2)];
        }
        let mask = self.index.len() - 1;
        let mut slot = hash(new) as usize & mask;
        while let Some(n) = usize::from(self.index[slot]).checked_sub(1) {
            let n = self.needles[n];
            if n.len as usize == new.len() && self.bytes[n.at as usize..][..new.len()] == *new {
                self.bytes.truncate(at);
                return n.info.name && info.name;
            }
            slot = (slot + 1) & mask;
        }
        if full || self.needles.len() == self.limits.max_needles || new.len() > self.limits.max_len
        {
            *dropped = true;
            self.bytes.truncate(at);
            return false;
        }
        // At most `max_needles` entries in twice as many slots: the probe above always ends.
        self.index[slot] = u16::try_from(self.needles.len() + 1).unwrap_or(u16::MAX);
        // Both fit in u32: the arena holds at most `max_needles * max_len` bytes.
        self.needles.push(Slot {
            at: at as u32,
            len: new.len() as u32,
            info,
        });
        *fresh = true;
        false
    }

    /// The search structure.
    pub fn build(self) -> Echo {
        let Self {
            bytes,
            mut needles,
            skipped,
            ..
        } = self;
        let text = |n: &Slot| &bytes[n.at as usize..][..n.len as usize];
        // First byte, then longest first (leftmost-longest), then the bytes. Needles are
        // distinct (`keep` takes each once, with the first value's tag).
        needles.sort_unstable_by(|a, b| {
            let (x, y) = (text(a), text(b));
            x[0].cmp(&y[0])
                .then(y.len().cmp(&x.len()))
                .then_with(|| x.cmp(y))
        });
        let mut start = [0u16; 257];
        let mut table = [0u8; 256];
        for (b, t) in table.iter_mut().enumerate() {
            if is_word(b as u8) {
                *t = WORD;
            }
        }
        for n in &needles {
            let b = text(n)[0];
            start[usize::from(b) + 1] += 1;
            table[usize::from(b)] |= FIRST;
            table[usize::from(b.to_ascii_uppercase())] |= FIRST;
        }
        for b in 0..256 {
            start[b + 1] += start[b];
        }
        let max_len = needles.iter().map(|n| n.len as usize).max().unwrap_or(0);
        let min_len = needles.iter().map(|n| n.len as usize).min().unwrap_or(0);
        let keys = needles
            .iter()
            .map(|n| {
                let n = text(n);
                let k = n.len().min(8);
                let mut b = [0u8; 8];
                b[..k].copy_from_slice(&n[..k]);
                let mask = if k == 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * k)) - 1
                };
                (fold(u64::from_le_bytes(b)) & mask, mask)
            })
            .collect();
        Echo {
            bytes,
            needles,
            keys,
            start,
            table,
            max_len,
            min_len,
            skipped,
        }
    }
}

/// Whether `s` is one of [`COMMON_WORDS`] (any case).
fn common(s: &str) -> bool {
    let mut buf = [0u8; 16];
    let Some(lower) = buf.get_mut(..s.len()) else {
        return false;
    };
    lower.copy_from_slice(s.as_bytes());
    lower.make_ascii_lowercase();
    COMMON_WORDS
        .binary_search_by(|w| w.as_bytes().cmp(lower))
        .is_ok()
}

/// Whether a match in a URL would take a literal delimiter with it: a value never spans one,
/// and its replacement must not remove one.
fn crosses(m: Mode, raw: &[u8]) -> bool {
    m.has(Mode::URL)
        && raw
            .iter()
            .any(|b| matches!(b, b'&' | b'=' | b'?' | b'#' | b'/'))
}

/// Sets bit 5 of every byte: folds ASCII upper case onto lower case (and maps a few
/// punctuation pairs together, which only makes the prefilter let more through).
fn fold(x: u64) -> u64 {
    x | 0x2020_2020_2020_2020
}

/// FNV-1a: needles are short. A collision costs a comparison, never a wrong answer; crafted
/// ones cost at most a probe over the set's needles, what every add cost before the index.
fn hash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether a byte continues a word (a match must not start or end next to one). A byte of a
/// non-ASCII character counts as one here; [`word_before`] and [`word_at`] look at the
/// character where that matters.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Whether a non-ASCII character continues a word: letters and digits do; a no-break or thin
/// space (`&nbsp;` in a mail template), an ideographic space, a typographic quote or dash does
/// not, so `Hi&nbsp;Alice` holds the word `Alice`. Bytes that are not UTF-8 do not either: a
/// value is found next to them rather than missed.
fn word_char(s: &[u8]) -> bool {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.chars().next())
        .is_some_and(char::is_alphanumeric)
}

/// Whether the character that ends at `hay[i]` (`i > 0`) continues a word.
fn word_before(hay: &[u8], i: usize) -> bool {
    let b = hay[i - 1];
    if b < 0x80 {
        return is_word(b);
    }
    let from = i.saturating_sub(4);
    let lead = (from..i)
        .rev()
        .find(|&k| hay[k] & 0xC0 != 0x80)
        .unwrap_or(from);
    word_char(&hay[lead..i])
}

/// Whether the character that starts at `hay[i]` continues a word (`false` past the end).
fn word_at(hay: &[u8], i: usize) -> bool {
    let Some(&b) = hay.get(i) else {
        return false;
    };
    let n = match b {
        0..=0x7f => return is_word(b),
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return false,
    };
    hay.get(i..i + n).is_some_and(word_char)
}

fn letters(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphabetic()).count()
}

// === impl Echo ===

/// Decoded chunk size for segments with escapes (the map has one more entry).
const CHUNK: usize = 2049;
/// The buffer tried first: a segment that decodes into it is searched in one chunk.
const SMALL: usize = 257;

impl Echo {
    /// Whether there is nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Needles searched for (values, name parts and case variants).
    pub fn needles(&self) -> usize {
        self.needles.len()
    }

    /// Selected values (or name parts of them) that are not searched for because the request
    /// reached a bound of [`EchoLimits`] (more distinct values or needles than it allows, or a
    /// value longer than a needle may be). Occurrences, not distinct values.
    pub fn skipped(&self) -> u32 {
        self.skipped
    }

    fn text(&self, n: &Slot) -> &[u8] {
        &self.bytes[n.at as usize..][..n.len as usize]
    }

    /// Appends the echoes in one segment to `hits`.
    pub(crate) fn scan(&self, raw: &[u8], seg: Seg, hits: &mut Vec<Hit>) {
        // Decoding never lengthens text, so a segment shorter than every needle holds none.
        if self.is_empty() || seg.end - seg.start < self.min_len {
            return;
        }
        let m = seg.kind.mode;
        let s = &raw[seg.start..seg.end];
        if decode::next_escape(s, 0, m).is_some() {
            // Most segments with escapes are short: decode them in a small buffer (whose
            // set-up is cheap) and fall back to the large one for the rest.
            if !self.scan_decoded::<SMALL>(raw, seg, hits) {
                self.scan_decoded::<CHUNK>(raw, seg, hits);
            }
            return;
        }
        self.search(s, 0, s.len(), true, |a, b, tag| {
            if crosses(m, &s[a..b]) {
                return false;
            }
            hits.push(Hit {
                start: seg.start + a,
                end: seg.start + b,
                origin: Origin::Echo(tag),
                seg: seg.kind,
            });
            true
        });
    }

    /// Leftmost-longest whole-word matches starting in `hay[from..to]` (the haystack goes on
    /// after `to` for the match and its boundary). `edge`: `hay[0]` starts the segment. `emit`
    /// returns whether it took the match; if not, the search goes on from the next byte.
    ///
    /// One table lookup per byte: a byte is tried only where it starts a word and a needle;
    /// the rest of a word is passed over with the same lookup.
    fn search(
        &self,
        hay: &[u8],
        from: usize,
        to: usize,
        edge: bool,
        mut emit: impl FnMut(usize, usize, EchoTag) -> bool,
    ) {
        let mut prev_word = if from == 0 {
            !edge
        } else {
            is_word(hay[from - 1])
        };
        let mut i = from;
        while i < to {
            let t = self.table[usize::from(hay[i])];
            if t & FIRST != 0
                && (!prev_word || (i > 0 && hay[i - 1] >= 0x80 && !word_before(hay, i)))
                && let Some(end) = self.try_at(hay, i, &mut emit)
            {
                i = end;
                prev_word = is_word(hay[end - 1]);
                continue;
            }
            prev_word = t & WORD != 0;
            i += 1;
        }
    }

    /// The longest needle at word start `i` that `emit` takes: where it ends.
    fn try_at(
        &self,
        hay: &[u8],
        i: usize,
        emit: &mut impl FnMut(usize, usize, EchoTag) -> bool,
    ) -> Option<usize> {
        let lower = usize::from(hay[i].to_ascii_lowercase());
        let range = usize::from(self.start[lower])..usize::from(self.start[lower + 1]);
        let head = hay.get(i..i + 8).map_or_else(
            || {
                let mut b = [0u8; 8];
                b[..hay.len() - i].copy_from_slice(&hay[i..]);
                fold(u64::from_le_bytes(b))
            },
            |h| fold(u64::from_le_bytes(h.try_into().unwrap_or_default())),
        );
        for (n, &(key, mask)) in self.needles[range.clone()].iter().zip(&self.keys[range]) {
            let end = i + n.len as usize;
            if head & mask == key
                && end <= hay.len()
                && hay[i..end].eq_ignore_ascii_case(self.text(n))
                && !word_at(hay, end)
                && (!n.info.capitalised || hay[i].is_ascii_uppercase() || hay[i] >= 0x80)
                && emit(i, end, n.info.tag)
            {
                return Some(end);
            }
        }
        None
    }

    /// The search over a segment decoded in chunks: `buf` holds decoded bytes and `map` the
    /// raw offset of the unit each came from. Consecutive chunks overlap by the longest needle
    /// plus one character, so a match across a chunk edge is found whole in the next one.
    ///
    /// `false` (nothing searched) when `N` is too small for the segment: it must then fit in
    /// one chunk, since chunks overlap by more than a small buffer holds.
    fn scan_decoded<const N: usize>(&self, raw: &[u8], seg: Seg, hits: &mut Vec<Hit>) -> bool {
        let m = seg.kind.mode;
        let overlap = self.max_len + 4;
        let mut buf = [0u8; N];
        let mut map = [0usize; N];
        let mut pos = seg.start;
        // Matches must start at or after this raw offset (the previous chunk took the rest).
        let mut min_start = seg.start;
        let mut first = true;
        loop {
            let chunk_start = pos;
            let mut len = 0;
            let mut esc = decode::next_escape(&raw[..seg.end], pos, m).unwrap_or(seg.end);
            while pos < seg.end && len + 5 <= N {
                if esc > pos {
                    // Literal bytes up to the next escape, copied in bulk.
                    let n = (esc - pos).min(N - 1 - len);
                    buf[len..len + n].copy_from_slice(&raw[pos..pos + n]);
                    for (k, slot) in map[len..len + n].iter_mut().enumerate() {
                        *slot = pos + k;
                    }
                    len += n;
                    pos += n;
                    continue;
                }
                let mut unit = [0u8; 4];
                let (n, ulen) = decode::decode_unit(raw, pos, seg.end, m, &mut unit);
                for &b in &unit[..n] {
                    buf[len] = b;
                    map[len] = pos;
                    len += 1;
                }
                pos += ulen;
                esc = decode::next_escape(&raw[..seg.end], pos, m).unwrap_or(seg.end);
            }
            map[len] = pos;
            let last = pos >= seg.end;
            if !last && N < CHUNK {
                return false;
            }
            let limit = if last { len } else { len - overlap };
            let hay = &buf[..len];
            self.search(hay, 0, limit, first, |a, b, tag| {
                let (ra, rb) = (map[a], map[b]);
                // A match starts on a unit, after what the previous chunk took.
                if ra < min_start || (a > 0 && map[a - 1] == ra) || crosses(m, &raw[ra..rb]) {
                    return false;
                }
                hits.push(Hit {
                    start: ra,
                    end: rb,
                    origin: Origin::Echo(tag),
                    seg: seg.kind,
                });
                min_start = rb;
                true
            });
            if last {
                break;
            }
            // Restart one unit before the first byte this chunk did not take, for context.
            min_start = min_start.max(map[limit]);
            pos = map[limit - 1].max(chunk_start + 1);
            first = false;
        }
        true
    }
}
