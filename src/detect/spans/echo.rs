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
#[derive(Debug)]
pub struct EchoBuilder {
    limits: EchoLimits,
    values: usize,
    needles: Vec<Vec<u8>>,
    info: Vec<Needle>,
}

/// The values of one request, ready to search for.
#[derive(Debug, Default)]
pub struct Echo {
    /// Needles, ASCII lower case, sorted by first byte then longest first.
    needles: Vec<(Vec<u8>, Needle)>,
    /// Per needle, its first eight bytes (fewer: zero-padded) with ASCII letters folded by
    /// setting bit 5, and the mask of its length: one comparison rules most needles out.
    keys: Vec<(u64, u64)>,
    /// `start[b]..start[b + 1]`: the needles whose first byte folds to `b`.
    start: Vec<u16>,
    /// Whether a byte (either case) starts a needle.
    first: Vec<bool>,
    max_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Needle {
    tag: EchoTag,
    /// Match only where the text capitalises it (a name part that is a common word).
    capitalised: bool,
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
            needles: Vec::new(),
            info: Vec::new(),
        }
    }

    /// Adds a selected value. `false` when it was not added: too short, too long, or a bound
    /// reached (the caller may count those; nothing is logged here).
    pub fn add(&mut self, value: &str, kind: EchoKind, tag: EchoTag) -> bool {
        let value = value.trim();
        if self.values == self.limits.max_values || value.len() > self.limits.max_len {
            return false;
        }
        let before = self.needles.len();
        match kind {
            EchoKind::Value => {
                if value.len() < self.limits.min_len {
                    return false;
                }
                self.needle(value, tag, false);
            }
            EchoKind::PersonName => {
                if letters(value) >= 3 {
                    self.needle(value, tag, common(value));
                }
                for part in value.split(|c: char| c.is_whitespace() || c == ',' || c == '-') {
                    let part = part.trim_matches('.');
                    if letters(part) < 3 || part.len() == value.len() {
                        continue;
                    }
                    self.needle(part, tag, common(part));
                }
            }
        }
        let added = self.needles.len() > before;
        self.values += usize::from(added);
        added
    }

    /// One needle and its case variants, deduplicated.
    fn needle(&mut self, s: &str, tag: EchoTag, capitalised: bool) {
        let lower = s.to_lowercase();
        let mut variants = [Some(lower), None];
        if !s.is_ascii() {
            // The comparison folds ASCII only: `JÜRGEN` needs its own needle.
            variants[1] = Some(s.to_uppercase());
        }
        for v in variants.into_iter().flatten() {
            if self.needles.len() == self.limits.max_needles || v.len() > self.limits.max_len {
                continue;
            }
            // ASCII lower case, so the first byte names its bucket (`JÜRGEN` → `jÜRGEN`).
            self.needles.push(v.to_ascii_lowercase().into_bytes());
            self.info.push(Needle { tag, capitalised });
        }
    }

    /// The search structure.
    pub fn build(self) -> Echo {
        let mut needles: Vec<(Vec<u8>, Needle)> = self.needles.into_iter().zip(self.info).collect();
        // First byte, then longest first (leftmost-longest), then the bytes; a stable sort
        // keeps the first value's tag for a duplicate, which `dedup` then drops.
        needles.sort_by(|(a, _), (b, _)| {
            a[0].cmp(&b[0])
                .then(b.len().cmp(&a.len()))
                .then_with(|| a.cmp(b))
        });
        needles.dedup_by(|(a, _), (b, _)| a == b);
        let mut start = vec![0u16; 257];
        let mut first = vec![false; 256];
        for (n, _) in &needles {
            let b = n[0];
            start[usize::from(b) + 1] += 1;
            first[usize::from(b)] = true;
            first[usize::from(b.to_ascii_uppercase())] = true;
        }
        for b in 0..256 {
            start[b + 1] += start[b];
        }
        let max_len = needles.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let keys = needles
            .iter()
            .map(|(n, _)| {
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
            needles,
            keys,
            start,
            first,
            max_len,
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

fn letters(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphabetic()).count()
}

// === impl Echo ===

/// Decoded chunk size for segments with escapes.
const CHUNK: usize = 2048;

impl Echo {
    /// Whether there is nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Needles searched for (values, name parts and case variants).
    pub fn needles(&self) -> usize {
        self.needles.len()
    }

    /// Appends the echoes in one segment to `hits`.
    pub(crate) fn scan(&self, raw: &[u8], seg: Seg, hits: &mut Vec<Hit>) {
        if self.is_empty() {
            return;
        }
        let m = seg.kind.mode;
        let s = &raw[seg.start..seg.end];
        if decode::next_escape(s, 0, m).is_some() {
            self.scan_decoded(raw, seg, hits);
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
    fn search(
        &self,
        hay: &[u8],
        from: usize,
        to: usize,
        edge: bool,
        mut emit: impl FnMut(usize, usize, EchoTag) -> bool,
    ) {
        let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_' || x >= 0x80;
        let mut i = from;
        while i < to {
            match hay[i..to].iter().position(|&b| self.first[usize::from(b)]) {
                Some(p) => i += p,
                None => return,
            }
            let at_start = if i == 0 { edge } else { !word(hay[i - 1]) };
            let lower = hay[i].to_ascii_lowercase();
            let mut taken = false;
            if at_start {
                let range = usize::from(self.start[usize::from(lower)])
                    ..usize::from(self.start[usize::from(lower) + 1]);
                let head = hay.get(i..i + 8).map_or_else(
                    || {
                        let mut b = [0u8; 8];
                        b[..hay.len() - i].copy_from_slice(&hay[i..]);
                        fold(u64::from_le_bytes(b))
                    },
                    |h| fold(u64::from_le_bytes(h.try_into().unwrap_or_default())),
                );
                for ((n, info), &(key, mask)) in
                    self.needles[range.clone()].iter().zip(&self.keys[range])
                {
                    let end = i + n.len();
                    if head & mask == key
                        && end <= hay.len()
                        && hay[i..end].eq_ignore_ascii_case(n)
                        && (end == hay.len() || !word(hay[end]))
                        && (!info.capitalised || hay[i].is_ascii_uppercase() || hay[i] >= 0x80)
                        && emit(i, end, info.tag)
                    {
                        i = end;
                        taken = true;
                        break;
                    }
                }
            }
            if !taken {
                i += 1;
            }
        }
    }

    /// The search over a segment decoded in chunks: `buf` holds decoded bytes and `map` the
    /// raw offset of the unit each came from. Consecutive chunks overlap by the longest needle
    /// plus one character, so a match across a chunk edge is found whole in the next one.
    fn scan_decoded(&self, raw: &[u8], seg: Seg, hits: &mut Vec<Hit>) {
        let m = seg.kind.mode;
        let overlap = self.max_len + 4;
        let mut buf = [0u8; CHUNK];
        let mut map = [0usize; CHUNK + 1];
        let mut pos = seg.start;
        // Matches must start at or after this raw offset (the previous chunk took the rest).
        let mut min_start = seg.start;
        let mut first = true;
        loop {
            let chunk_start = pos;
            let mut len = 0;
            let mut esc = decode::next_escape(&raw[..seg.end], pos, m).unwrap_or(seg.end);
            while pos < seg.end && len + 4 <= CHUNK {
                if esc > pos {
                    // Literal bytes up to the next escape, copied in bulk.
                    let n = (esc - pos).min(CHUNK - len);
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
    }
}
