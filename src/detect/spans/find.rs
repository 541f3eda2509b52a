//! The scanning loop and its candidate handlers (see the module doc of `spans` for the shape).
//!
//! Every handler reads units through the segment's decoding ([`Cur`]), copies the candidate's
//! scan bytes into the stack [`Win`]dow with the raw offset of each, runs a value detector on
//! the window and maps a match back to raw offsets. A handler returns where the main loop
//! resumes; a span never starts before the end of the previous one (`floor`).
//!
//! Where a handler's own walk has read every byte of a candidate, it checks only what that
//! walk did not (an address of word bytes and one run of domain bytes: where its dots and
//! dashes stand, [`word_address`]), and exits the scan takes before a call conclude what the
//! full reading would from bytes already looked at; each is held to the reading it skips by
//! a property test.

use super::decode::{HIGH, Mode, PLAIN, STOP, Unit, bwd, fwd};
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use super::lanes::Lanes;
use super::lanes::{Stops, run_end};
use super::{Ctx, Hit, Origin, Seg};
use crate::detect::{
    Class, ClassSet, address, card, date, email, file_name, iban, ip, national, phone, secret,
};

/// Window size in units: the longest candidate read through the decoding (an email address is
/// at most 64 + 1 + 255).
const W: usize = 512;
/// Longest numeric run tried; longer ones are tables of numbers, skipped whole.
const MAX_RUN: usize = 128;

/// Bytes that start a candidate: digits, `@`, `_`, `-`, `:`, the escapes that may decode to one
/// of them (`&`, `%`), and `A` (key prefixes). Everything else is skipped with one lookup.
static TRIGGER: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b'0';
    while b <= b'9' {
        t[b as usize] = true;
        b += 1;
    }
    t[b'@' as usize] = true;
    t[b'_' as usize] = true;
    t[b'-' as usize] = true;
    t[b':' as usize] = true;
    t[b'&' as usize] = true;
    t[b'%' as usize] = true;
    // AWS access key ids (`AKIA`, `ASIA`; base32, so one in 28 has no digit) and Google API
    // keys (`AIza`) need not contain a digit, `_` or `-`.
    t[b'A' as usize] = true;
    t
};

/// The trigger bits of the last chunk [`next_trigger`] read in a segment: bit `k` for
/// `raw[at + k]`, those at or past the segment's end cleared. The handler of one trigger
/// mostly returns inside the same chunk (`padding:8px 0;border-bottom` has five triggers in
/// sixteen bytes), and the next search starts from these bits instead of reading it again.
#[derive(Clone, Copy)]
pub(crate) struct Seen {
    at: usize,
    bits: u32,
}

impl Seen {
    /// Nothing read yet: no `i` is within sixteen bytes after `at`.
    pub(crate) const NONE: Self = Self {
        at: usize::MAX - 15,
        bits: 0,
    };
}

/// The trigger bits of a segment's first chunk, for [`Finder::scan`]; `None` when the segment
/// has no trigger at all. The segmenter looks before calling: a third of a mail's segments
/// (`center`, `Track your package`) have none, and skipping the call skips its set-up.
#[inline(always)]
fn first_look(raw: &[u8], seg: Seg) -> Option<Seen> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(chunk) = raw.get(seg.start..).and_then(|s| s.first_chunk::<16>()) {
        let mut bits = triggers16(chunk);
        let len = seg.end - seg.start;
        if len < 16 {
            bits &= (1u32 << len) - 1;
            if bits == 0 {
                return None;
            }
        }
        return Some(Seen {
            at: seg.start,
            bits,
        });
    }
    Some(Seen::NONE)
}

/// Index of the first trigger byte in `raw[i..end]`, or `end`. Most bytes of a text are not
/// triggers, so this is the loop every byte goes through: sixteen at a time with SSE2 (part
/// of the x86_64 baseline), the table for the rest. `seen` is the last chunk's bits (the same
/// `raw` and `end` in every call with it).
///
/// HTML's segments are short (an attribute value, the text between two tags), so most end
/// inside a chunk: while sixteen bytes of `raw` remain, the last chunk of a segment is read
/// whole and the bits past `end` are masked off, and only the end of `raw` goes byte by byte.
#[inline(always)]
fn next_trigger(raw: &[u8], mut i: usize, end: usize, seen: &mut Seen) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        let k = i.wrapping_sub(seen.at);
        if k < 16 {
            let m = seen.bits >> k;
            if m != 0 {
                return i + m.trailing_zeros() as usize;
            }
            // No trigger in the rest of that chunk (nor past `end`, whose bits are clear).
            i = seen.at + 16;
        }
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while i < end
        && let Some(chunk) = raw.get(i..).and_then(|s| s.first_chunk::<16>())
    {
        let mut m = triggers16(chunk);
        if end - i < 16 {
            m &= (1u32 << (end - i)) - 1;
            *seen = Seen { at: i, bits: m };
            return if m != 0 {
                i + m.trailing_zeros() as usize
            } else {
                end
            };
        }
        if m != 0 {
            *seen = Seen { at: i, bits: m };
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
    }
    if i >= end {
        return end;
    }
    match raw[i..end].iter().position(|&b| TRIGGER[usize::from(b)]) {
        Some(p) => i + p,
        None => end,
    }
}

/// The trigger bytes of `chunk`, bit `k` for `chunk[k]`: the same set as [`TRIGGER`] (a test
/// compares them on every byte). The set is three ranges and two single bytes; a range
/// `lo..=hi` is one add that moves it to the bottom of the signed bytes and one compare.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn triggers16(chunk: &[u8; 16]) -> u32 {
    let v = Lanes::load(chunk);
    // `%&`, digits and `:`, `@A`, then `-` and `_`.
    ((v.range(b'%', b'&') | v.range(b'0', b':'))
        | (v.range(b'@', b'A') | (v.eq(b'-') | v.eq(b'_'))))
    .bits()
}

/// Per-call scanning state: the enabled classes, the candidate window, and where the next
/// segment's scan may start.
pub(crate) struct Finder {
    classes: ClassSet,
    win: Win,
    /// The end of a span that one segment emitted into the next (a street read across a
    /// `<br>`): the next segment is scanned from there.
    carry: usize,
    /// Escapes this reading decoded to something it does not read further (see
    /// `escaped::Seen`): a second reading decodes them as their reader does.
    pub(crate) seen: u8,
}

/// A candidate's scan bytes and where each came from: `map[k]` is the raw offset (from `base`)
/// where unit `k` starts, `map[len]` where the last one ends.
///
/// A candidate is mostly written as is: [`Win::fill`] copies the leading units that are one
/// plain byte each in one go, and their offsets are implied (`direct`: for `k <= direct`, unit
/// `k` starts at `base + k`) instead of written to `map`.
struct Win {
    buf: [u8; W],
    map: [u16; W + 1],
    base: usize,
    len: usize,
    direct: usize,
}

/// A segment being read.
#[derive(Clone, Copy)]
struct Cur<'a> {
    raw: &'a [u8],
    seg: Seg,
}

impl<'a> Cur<'a> {
    #[inline]
    fn at(&self, i: usize) -> Option<Unit> {
        (i < self.seg.end).then(|| fwd(self.raw, i, self.seg.end, self.seg.kind.mode))
    }

    #[inline]
    fn before(&self, i: usize) -> Option<Unit> {
        (i > self.seg.start).then(|| bwd(self.raw, i, self.seg.start, self.seg.kind.mode))
    }
}

impl Win {
    fn reset(&mut self, base: usize) {
        self.base = base;
        self.len = 0;
        self.direct = 0;
        self.map[0] = 0;
    }

    /// Appends one unit ending at raw offset `raw_end`; `false` when full. A unit takes at most
    /// 20 raw bytes (`&NonBreakingSpace;`), so a full window spans less than `u16::MAX`.
    #[inline(always)]
    fn push(&mut self, b: u8, raw_end: usize) -> bool {
        if self.len == W {
            return false;
        }
        // After a caller shortened the window, the implied offsets end where it now does.
        self.direct = self.direct.min(self.len);
        let off = raw_end - self.base;
        debug_assert!(off <= usize::from(u16::MAX));
        self.buf[self.len] = b;
        self.len += 1;
        self.map[self.len] = off as u16;
        true
    }

    /// Raw offset where unit `k` starts (`k == len`: where the window ends).
    fn raw(&self, k: usize) -> usize {
        if k <= self.direct {
            self.base + k
        } else {
            self.base + usize::from(self.map[k])
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Raw offset where the window ends.
    fn end(&self) -> usize {
        self.raw(self.len)
    }

    /// Appends the bytes from raw offset `j` up to `lim` that are one plain unit each and pass
    /// `keep`, as [`push`](Self::push) would one by one, when the window ends at `j` with its
    /// offsets all implied (only then: else nothing is appended). Returns where it stopped.
    #[inline(always)]
    fn extend_plain(
        &mut self,
        raw: &[u8],
        j: usize,
        lim: usize,
        keep: impl Fn(u8) -> bool,
    ) -> usize {
        if self.len != self.direct || j != self.base + self.len {
            return j;
        }
        let lim = lim.min(j + (W - self.len));
        let mut e = j;
        while e < lim && PLAIN[usize::from(raw[e])] && keep(raw[e]) {
            e += 1;
        }
        let n = e - j;
        self.buf[self.len..self.len + n].copy_from_slice(&raw[j..e]);
        self.len += n;
        self.direct = self.len;
        e
    }

    /// Appends the bytes from raw offset `j` (where the window ends) up to `lim` that come
    /// before a stop of `S`, found sixteen at a time, as [`push`](Self::push) would one by one:
    /// `S` stops at every byte that is not plain or not kept. Their offsets are implied while
    /// all the window's are, else written (an address's domain after an escaped `@`). Returns
    /// where it stopped.
    #[inline(always)]
    fn extend_run<S: Stops>(&mut self, raw: &[u8], j: usize, lim: usize) -> usize {
        if j != self.end() {
            return j;
        }
        let lim = lim.min(j + (W - self.len));
        let e = run_end::<S>(raw, j, lim);
        let n = e - j;
        self.buf[self.len..self.len + n].copy_from_slice(&raw[j..e]);
        if self.len == self.direct {
            self.len += n;
            self.direct = self.len;
            return e;
        }
        let off = j - self.base;
        debug_assert!(off + n <= usize::from(u16::MAX));
        for (t, m) in self.map[self.len + 1..self.len + n + 1]
            .iter_mut()
            .enumerate()
        {
            *m = (off + t + 1) as u16;
        }
        self.len += n;
        e
    }

    /// Reads units from `i` while `keep` holds, at most `max`; returns the raw end.
    fn fill(&mut self, c: Cur<'_>, i: usize, max: usize, keep: impl Fn(u8) -> bool) -> usize {
        self.reset(i);
        // Bytes that are their own unit in every mode, copied as they are.
        let lim = c.seg.end.min(i + max.min(W));
        let mut j = i;
        while j < lim && PLAIN[usize::from(c.raw[j])] && keep(c.raw[j]) {
            j += 1;
        }
        let n = j - i;
        self.buf[..n].copy_from_slice(&c.raw[i..j]);
        self.len = n;
        self.direct = n;
        while self.len < max {
            let Some(u) = c.at(j) else { break };
            if !keep(u.b) || !self.push(u.b, j + u.len) {
                break;
            }
            j += u.len;
        }
        j
    }
}

impl Win {
    /// [`fill`](Self::fill) with [`line_byte`]: a street's line, which is read far (a
    /// candidate reads up to 120 units, most of them plain text). Runs of plain bytes are
    /// found sixteen at a time and copied whole, before and after each escape.
    fn fill_line(&mut self, c: Cur<'_>, i: usize, max: usize) -> usize {
        self.reset(i);
        let max = max.min(W);
        let mut j = run_end::<LineStops>(c.raw, i, c.seg.end.min(i + max));
        let n = j - i;
        self.buf[..n].copy_from_slice(&c.raw[i..j]);
        self.len = n;
        self.direct = n;
        while self.len < max {
            let Some(u) = c.at(j) else { break };
            if !line_byte(u.b) || !self.push(u.b, j + u.len) {
                break;
            }
            j += u.len;
            // The plain bytes after the escape: one unit each, their offsets written.
            let e = run_end::<LineStops>(c.raw, j, c.seg.end.min(j + (max - self.len)));
            let k = e - j;
            self.buf[self.len..self.len + k].copy_from_slice(&c.raw[j..e]);
            let off = j - self.base;
            debug_assert!(off + k <= usize::from(u16::MAX));
            for (t, m) in self.map[self.len + 1..self.len + k + 1]
                .iter_mut()
                .enumerate()
            {
                *m = (off + t + 1) as u16;
            }
            self.len += k;
            j = e;
        }
        j
    }
}

/// A byte a street's line is read through ([`Finder::number_first`]): not a line break, not
/// markup, not a delimiter.
#[inline(always)]
fn line_byte(b: u8) -> bool {
    !matches!(b, STOP | b'\n' | b'\r' | b'<' | b'>' | b'"' | b'|')
}

/// A street line's stops ([`Finder::number_first`]): the bytes that are not both [`PLAIN`]
/// and a [`line_byte`].
struct LineStops;

impl Stops for LineStops {
    #[inline(always)]
    fn stop(b: u8) -> bool {
        !(PLAIN[usize::from(b)] && line_byte(b))
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    fn stops16(chunk: &[u8; 16]) -> u32 {
        line_stops16(chunk)
    }
}

/// The bytes of `chunk` that are not both [`PLAIN`] and a [`line_byte`], bit `k` for
/// `chunk[k]` (a test compares them with the tables on every byte): NUL and non-ASCII, line
/// breaks, and `"#`, `%&`, `+`, `/`, `;<=>?`, `|`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn line_stops16(chunk: &[u8; 16]) -> u32 {
    let v = Lanes::load(chunk);
    ((v.nul_or_high() | (v.eq(b'\n') | v.eq(b'\r')))
        | ((v.range(b'"', b'#') | v.range(b'%', b'&'))
            | ((v.eq(b'+') | v.eq(b'/')) | (v.range(b';', b'?') | v.eq(b'|')))))
    .bits()
}

/// Where the digits written from `i` end, reading at most four.
#[inline(always)]
fn digits4(c: Cur<'_>, i: usize) -> usize {
    let raw = c.raw;
    // Four bytes at once when the segment has them (a number of CSS or markup is mostly
    // followed by more of the segment): a byte is a digit when it is `0x30 + k` with `k < 10`.
    // Adding `0x76` sets a byte's top bit for `k >= 10`; a byte above `0x89` may carry into
    // the next one, but only bytes after the first non-digit are wrong then, and they are not
    // read.
    if i + 4 <= c.seg.end
        && let Some(four) = raw.get(i..i + 4).and_then(|s| s.first_chunk::<4>())
    {
        let t = u32::from_le_bytes(*four) ^ 0x3030_3030;
        let non_digit = (t.wrapping_add(0x7676_7676) | t) & 0x8080_8080;
        return i + (non_digit.trailing_zeros() / 8).min(4) as usize;
    }
    let mut d = i;
    while d < c.seg.end && d < i + 4 && raw[d].is_ascii_digit() {
        d += 1;
    }
    d
}

/// Whether the number at `i`, its digits ending at `d` ([`digits4`]), is one that
/// [`Finder::digit`] would step over having found nothing, told from the bytes around it (a
/// property test holds the two to the same spans): fewer than four digits, ended by a byte
/// that starts neither a run nor a street (`"600"`, `0;`, `>2<`), after a byte that opens a
/// number and is no part of a hex colour or an escape, or after a space that follows a word
/// no German street name ends like (`8px 0;`). Inline CSS and attributes are full of these,
/// so they leave before the call.
#[inline(always)]
fn bare_short(c: Cur<'_>, i: usize, d: usize) -> bool {
    let raw = c.raw;
    if d >= i + 4 {
        return false;
    }
    let ends = if d < c.seg.end {
        matches!(raw[d], b';' | b'"' | b'\'' | b'<')
    } else {
        // Past the segment, what `street` looks at: not a line break or `<br>` the street
        // could continue after.
        match raw.get(d) {
            None | Some(b'"' | b'\'') => true,
            Some(b'<') => !matches!(raw.get(d + 1..d + 3), Some([b'b' | b'B', b'r' | b'R'])),
            Some(_) => false,
        }
    };
    if !ends {
        return false;
    }
    if i == c.seg.start {
        return true;
    }
    match raw[i - 1] {
        b'\t' | b'\n' | 0x0C | b'\r' | b'[' | b'<' | b'>' | b'"' | b'\'' | b',' | b':' | b'|' => {
            true
        }
        b' ' => {
            i >= c.seg.start + 2 && {
                let w = raw[i - 2];
                w.is_ascii_alphabetic()
                    && !w.is_ascii_hexdigit()
                    && !DE_SUFFIX_LAST[usize::from(w.to_ascii_lowercase())]
            }
        }
        _ => false,
    }
}

/// Whether the number at `i`, its digits ending at `d` ([`digits4`]), is a quantity with a
/// unit glued on (`14px`, `2em`, `10am`, `3rd`, `100%`): nothing any class starts with.
#[inline(always)]
fn quantity(c: Cur<'_>, i: usize, d: usize) -> bool {
    let raw = c.raw;
    // A `%` that starts an escape (`%2B49%280%29…` in a query) is not a percent sign.
    let escape = |d: usize| {
        c.seg.kind.mode.has(Mode::PCT)
            && raw
                .get(d + 1..d + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    };
    d < i + 4
        && d < c.seg.end
        && ((raw[d] == b'%' && !escape(d))
            || (d + 1 < c.seg.end
                && raw[d].is_ascii_lowercase()
                && raw[d + 1].is_ascii_lowercase()))
}

/// Whether a numeric run may start after this unit.
fn opens(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            STOP | b'(' | b'[' | b'<' | b'>' | b'"' | b'\'' | b',' | b';' | b':' | b'=' | b'|'
        )
}

/// A calendar date with separators (`2024-01-15`, `15/03/1985`, `15.03.1985`), also with
/// separators around it (`2024-01-15.` ending a sentence, `2024-01-15-`): a token of its own
/// inside a run of numbers. Bare digits (`19850315`) may be part of a longer number.
fn separated_date(chunk: &[u8]) -> bool {
    let separator = |b: &u8| matches!(b, b'-' | b'/' | b'.');
    let start = chunk
        .iter()
        .position(|b| !separator(b))
        .unwrap_or(chunk.len());
    let end = chunk
        .iter()
        .rposition(|b| !separator(b))
        .map_or(start, |i| i + 1);
    let date = &chunk[start..end];
    date.iter().any(separator) && date::is_date(date)
}

/// Whether a numeric run may end before this unit.
fn closes(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            STOP | b')'
                | b']'
                | b'<'
                | b'>'
                | b'"'
                | b'\''
                | b','
                | b';'
                | b':'
                | b'.'
                | b'!'
                | b'?'
                | b'|'
                | b'&'
        )
}

/// Run bytes as written: digits and `space - . / ( ) +` (a `+` or `/` that the segment's
/// mode reads otherwise is checked by the caller).
static RUN_RAW: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b'0';
    while b <= b'9' {
        t[b as usize] = true;
        b += 1;
    }
    t[b' ' as usize] = true;
    t[b'-' as usize] = true;
    t[b'.' as usize] = true;
    t[b'/' as usize] = true;
    t[b'(' as usize] = true;
    t[b')' as usize] = true;
    t[b'+' as usize] = true;
    t
};

/// A run at `i` glued into a file name by `-` or `_` (`call-02079460958.pdf`), read as
/// written: see [`file_name::glued_run`].
fn glued(c: Cur<'_>, i: usize) -> bool {
    file_name::glued_run(&c.raw[..c.seg.end], i, |b| RUN_RAW[usize::from(b)])
}

/// Whether the plain bytes `raw[s..]` up to an `@` (word bytes and the plain bytes of a local
/// part: no `:`, `/`, `%`, `#`, `&` or `=` among them) end no URL userinfo, by what stands
/// before them: a space, a quote or an angle bracket (which end any authority), or a
/// `mailto:` after one or at the segment's `start` (with no `//` before it), or the `=` of a
/// link's parameter (`?u=alice%40example.com`: the `@` at `at` read in mode `m`). Then
/// [`super::userinfo::password`] would walk back to the same place, find no `://` and no
/// escaped colon there, and return none: it need not be asked.
#[inline(always)]
fn no_userinfo_before(raw: &[u8], s: usize, start: usize, at: usize, m: Mode) -> bool {
    let ends = |b: u8| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'>');
    s > 0
        && (ends(raw[s - 1])
            || (raw[s - 1] == b':'
                && s >= start + 7
                && raw[s - 7..s - 1].eq_ignore_ascii_case(b"mailto")
                && if s - 7 > start {
                    ends(raw[s - 8])
                } else {
                    start < 2 || raw[start - 2..start] != *b"//"
                })
            || (raw[s - 1] == b'=' && super::userinfo::in_parameter(raw, start, at, m)))
}

/// A bit for each separator a token of numbers joins its groups with (0 for any other byte).
fn sep_bit(b: u8) -> u8 {
    match b {
        b'-' => 1,
        b'/' => 2,
        b'.' => 4,
        b'(' => 8,
        b')' => 16,
        _ => 0,
    }
}

fn run_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'/' | b'(' | b')' | b'+')
}

/// The end of the token of run units without a space that goes on at `from` (read through
/// the segment's decoding).
#[cold]
#[inline(never)]
fn token_end(c: Cur<'_>, from: usize) -> usize {
    let mut e = from;
    while let Some(u) = c.at(e).filter(|u| run_byte(u.b) && u.b != b' ') {
        e += u.len;
    }
    e
}

/// Bytes of an address's local part (scan bytes: [`HIGH`] for a non-ASCII letter).
static LOCAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || c == HIGH
            || matches!(
                c,
                b'.' | b'!'
                    | b'#'
                    | b'$'
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
                    | b'\''
            );
        b += 1;
    }
    t
};

/// Bytes of an address's domain (scan bytes).
static DOMAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == HIGH || c == b'-' || c == b'.';
        b += 1;
    }
    t
};

#[inline(always)]
fn local_byte(b: u8) -> bool {
    LOCAL[usize::from(b)]
}

#[inline(always)]
fn domain_byte(b: u8) -> bool {
    DOMAIN[usize::from(b)]
}

/// Word bytes as written: `[A-Za-z0-9_.-]`.
static WORD: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric() || matches!(b as u8, b'_' | b'-' | b'.');
        b += 1;
    }
    t
};

#[inline(always)]
fn word_byte(b: u8) -> bool {
    WORD[usize::from(b)]
}

/// The bytes of `chunk` that are *not* [`WORD`] bytes, bit `k` for `chunk[k]` (a test compares
/// them with the table on every byte).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn non_words16(chunk: &[u8; 16]) -> u32 {
    let v = Lanes::load(chunk);
    // `-.`, digits, capitals, lower case, `_`.
    let words = (v.range(b'-', b'.') | v.range(b'0', b'9'))
        | ((v.range(b'A', b'Z') | v.range(b'a', b'z')) | v.eq(b'_'));
    !words.bits() & 0xFFFF
}

/// What ends a run of word bytes ([`WORD`]). CSS names and query parameters (`font-family`,
/// `utm_source`) are what such runs mostly are.
struct NonWord;

impl Stops for NonWord {
    #[inline(always)]
    fn stop(b: u8) -> bool {
        !word_byte(b)
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    fn stops16(chunk: &[u8; 16]) -> u32 {
        non_words16(chunk)
    }
}

/// What ends an address's domain written as is: a byte that is not [`PLAIN`] or not a
/// [`DOMAIN`] byte. Both are `[A-Za-z0-9.-]`: the word bytes without `_`.
struct NotDomain;

impl Stops for NotDomain {
    #[inline(always)]
    fn stop(b: u8) -> bool {
        !(PLAIN[usize::from(b)] && domain_byte(b))
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    fn stops16(chunk: &[u8; 16]) -> u32 {
        non_words16(chunk) | Lanes::load(chunk).eq(b'_').bits()
    }
}

/// Where the run of word bytes ending at `i` starts, at least `lo`.
#[inline(always)]
fn word_bwd(raw: &[u8], mut i: usize, lo: usize) -> usize {
    if i <= lo {
        return i;
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while i > lo
        && let Some(chunk) = i
            .checked_sub(16)
            .and_then(|from| raw[from..i].first_chunk::<16>())
    {
        let m = non_words16(chunk);
        if m != 0 {
            // The last byte that is not a word byte; the run starts after it.
            return (i - 16 + (32 - m.leading_zeros()) as usize).max(lo);
        }
        i -= 16;
    }
    while i > lo && word_byte(raw[i - 1]) {
        i -= 1;
    }
    i.max(lo)
}

/// [`email::is_email`] of `w[..len]`, an address whose reader read every byte: `w[at]` is its
/// `@`, the local part `w[..at]` holds word bytes only (`[A-Za-z0-9_.-]`) and starts with a
/// letter, digit or `_`, the domain `w[at + 1..len]` holds `[A-Za-z0-9.-]` only and ends in
/// neither `.` nor `-`. What is left is where the dots and dashes stand and the last label,
/// read sixteen bytes at a time (the window has room past `len`; those lanes are masked off).
/// `None` for a domain over 64 bytes, which the caller checks whole. A property test holds
/// this to `is_email`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn word_address(w: &[u8; W], at: usize, len: usize) -> Option<bool> {
    // Bit `k` for each `.`, `-` and digit `k` of `w[from..from + n]`, `n` at most 64.
    let masks = |from: usize, n: usize| -> [u64; 3] {
        let mut m = [0u64; 3];
        let mut k = 0;
        while k < n {
            let v = Lanes::load(
                w[from + k..]
                    .first_chunk::<16>()
                    .expect("room in the window"),
            );
            m[0] |= u64::from(v.eq(b'.').bits()) << k;
            m[1] |= u64::from(v.eq(b'-').bits()) << k;
            m[2] |= u64::from(v.range(b'0', b'9').bits()) << k;
            k += 16;
        }
        let keep = if n < 64 { (1u64 << n) - 1 } else { u64::MAX };
        m.map(|x| x & keep)
    };
    let n = len - at - 1;
    if n > 64 {
        return None;
    }
    if at > 64 || w[at - 1] == b'.' || n < 4 {
        return Some(false);
    }
    let [dots, ..] = masks(0, at);
    if dots & (dots >> 1) != 0 {
        return Some(false);
    }
    let d = at + 1;
    let [dots, dashes, digits] = masks(d, n);
    // One label at least before the last; none empty, none starting or ending with `-`.
    if dots == 0
        || matches!(w[d], b'.' | b'-')
        || dots & (dots >> 1) != 0
        || dots & (dashes >> 1) != 0
        || dashes & (dots >> 1) != 0
    {
        return Some(false);
    }
    // Every label is shorter than 64 bytes: the domain is at most 64, with a dot.
    let p = 63 - dots.leading_zeros() as usize;
    let last = &w[d + p + 1..len];
    if last.len() < 2 {
        return Some(false);
    }
    let alphabetic = (digits | dashes) >> p == 0;
    let tld = alphabetic || (last.len() > 4 && last[..4].eq_ignore_ascii_case(b"xn--"));
    Some(tld && !file_name::is_extension(last))
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn word_address(_: &[u8; W], _: usize, _: usize) -> Option<bool> {
    None
}

/// Where the hex colour (`#333333`, `#0066cc`, `#e0e0e0`) holding the digit at `i` ends, if it
/// is one: a digit in it has a letter or `#` before it, so [`Finder::word`] would read it as
/// part of a word, and that word is too short for a key and no IBAN. Outside URLs, where `#`
/// starts a fragment. Inline CSS has a few in every mail; the scan steps over them before the
/// digit handler's call.
#[inline(always)]
fn hex_colour(c: Cur<'_>, i: usize, floor: usize) -> Option<usize> {
    let raw = c.raw;
    if c.seg.kind.mode.has(Mode::URL) {
        return None;
    }
    let mut h = i;
    while h > c.seg.start && i - h < 20 && raw[h - 1].is_ascii_hexdigit() {
        h -= 1;
    }
    if !(h > c.seg.start && raw[h - 1] == b'#' && h >= floor) {
        return None;
    }
    let lim = c.seg.end.min(h + 20);
    let mut e = i;
    // The colour's digits sixteen at a time: it ends within the first chunk.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(chunk) = raw.get(i..).and_then(|s| s.first_chunk::<16>()) {
        let v = Lanes::load(chunk);
        let hex = (v.range(b'0', b'9') | v.range(b'a', b'f')) | v.range(b'A', b'F');
        let m = !hex.bits() & 0xFFFF;
        if m != 0 {
            e = (i + m.trailing_zeros() as usize).min(lim);
        }
    }
    while e < lim && raw[e].is_ascii_hexdigit() {
        e += 1;
    }
    let iban = e - h >= 4
        && raw[h].is_ascii_alphabetic()
        && raw[h + 1].is_ascii_alphabetic()
        && raw[h + 2].is_ascii_digit()
        && raw[h + 3].is_ascii_digit();
    (e - h < 20 && !iban && (e == c.seg.end || !WORD[usize::from(raw[e])])).then_some(e)
}

/// Where [`Finder::word`] resumes, having found nothing, for the `-` or `_` at `i`, when the
/// word around it is told from the sixteen bytes on each side: lower-case letters, `-` and `_`
/// only (no digit, so no IBAN), ended on both sides by a byte that is no word byte (or by the
/// segment, or by `floor`), and shorter than a key. CSS names and query parameters
/// (`font-family`, `utm_source`) are the bulk of these triggers in a mail; a property test holds
/// this to `word`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn short_name(c: Cur<'_>, i: usize, floor: usize) -> Option<usize> {
    let raw = c.raw;
    let after = raw.get(i..).and_then(|s| s.first_chunk::<16>())?;
    let before = raw.get(i.checked_sub(16)?..i)?.first_chunk::<16>()?;
    // Forward: the first byte that is not a name byte ends the word if it is no word byte;
    // past the segment's end the word ends there.
    let m = !name_bytes16(after) & 0xFFFF;
    if m == 0 {
        return None;
    }
    let e = i + m.trailing_zeros() as usize;
    if e < c.seg.end && word_byte(raw[e]) {
        return None;
    }
    let e = e.min(c.seg.end);
    // Backward, as `word_bwd` reads: down to the last byte that is no word byte, at least
    // `lo` (`i` itself when `i` is below it).
    let lo = floor.max(c.seg.start).min(i);
    let m = !name_bytes16(before) & 0xFFFF;
    let mut s = if m == 0 {
        i - 16
    } else {
        i - 16 + (32 - m.leading_zeros()) as usize
    };
    if s <= lo {
        s = lo;
    } else if m == 0 || word_byte(raw[s - 1]) {
        return None;
    }
    while s < e && raw[s] == b'-' {
        s += 1;
    }
    (e - s < 20).then_some(e)
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn short_name(_: Cur<'_>, _: usize, _: usize) -> Option<usize> {
    None
}

/// The bytes of `chunk` that are lower-case letters, `-` or `_`, bit `k` for `chunk[k]`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn name_bytes16(chunk: &[u8; 16]) -> u32 {
    let v = Lanes::load(chunk);
    (v.range(b'a', b'z') | (v.eq(b'-') | v.eq(b'_'))).bits()
}

fn hexish(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

impl Finder {
    pub(crate) fn new(classes: ClassSet) -> Self {
        Self {
            classes,
            win: Win {
                buf: [0; W],
                map: [0; W + 1],
                base: 0,
                len: 0,
                direct: 0,
            },
            carry: 0,
            seen: 0,
        }
    }

    fn on(&self, class: Class) -> bool {
        self.classes.contains(class)
    }

    /// [`first_look`], and `None` too for a segment that is a number of one to three digits
    /// the scan would step over having found nothing ([`bare_short`]: `cellpadding="0"`,
    /// `width="600"`, `<td>2</td>`): a mail has a few in every table, and the call cost more
    /// than reading them.
    #[inline(always)]
    pub(crate) fn look(&self, raw: &[u8], seg: Seg) -> Option<Seen> {
        let seen = first_look(raw, seg)?;
        if seg.end - seg.start <= 3 && self.carry <= seg.start {
            let c = Cur { raw, seg };
            if digits4(c, seg.start) == seg.end && bare_short(c, seg.start, seg.end) {
                return None;
            }
        }
        Some(seen)
    }

    /// Appends the spans of one segment to `hits`. `seen`: its first chunk's trigger bits
    /// ([`first_look`]), or [`Seen::NONE`].
    pub(crate) fn scan(&mut self, raw: &[u8], seg: Seg, mut seen: Seen, hits: &mut Vec<Hit>) {
        if self.classes.is_empty() {
            return;
        }
        let c = Cur { raw, seg };
        let mut floor = seg.start.max(self.carry);
        let mut i = floor;
        // The escapes met (`escaped::Seen`), kept here and stored once: a store to `self` in
        // the loop made LLVM keep less of the loop's state in registers.
        let mut noted = 0;
        while i < seg.end {
            i = next_trigger(raw, i, seg.end, &mut seen);
            if i == seg.end {
                break;
            }
            // Every trigger byte but `&` and `%` is plain: it is its own unit, read without
            // decoding (digits, the bulk of the triggers, go straight to their handler).
            let b = raw[i];
            let u = if b == b'&' || b == b'%' {
                // `&amp;`, the commonest reference in markup (every second parameter of a link
                // in a mail): it decodes to `&` (or a URL delimiter), which starts nothing.
                if b == b'&'
                    && seg.kind.mode.has(Mode::ENT)
                    && raw.get(i + 1..i + 5) == Some(b"amp;")
                    && i + 5 <= seg.end
                {
                    // Unless a reference follows (`&amp;#64;`): an escape escaped once more,
                    // which a document parsed twice (an iframe's `srcdoc`) reads as `@`.
                    if matches!(raw.get(i + 5), Some(b'#' | b'c' | b'p')) {
                        noted |= super::escaped::seen_amp(&raw[i + 5..seg.end]);
                    }
                    i += 5;
                    continue;
                }
                fwd(raw, i, seg.end, seg.kind.mode)
            } else {
                debug_assert!(PLAIN[usize::from(b)]);
                Unit { b, len: 1 }
            };
            let next = match u.b {
                // Quantities (`14px`, `100%`) and short bare numbers (`"600"`, `0;`) leave
                // before the call: inline CSS is full of them.
                b'0'..=b'9' => {
                    let d = digits4(c, i);
                    if quantity(c, i, d) || bare_short(c, i, d) {
                        d
                    } else if let Some(e) = hex_colour(c, i, floor) {
                        e
                    } else {
                        self.digit(c, i, d, &mut floor, hits)
                    }
                }
                b'@' => self.email(c, i, u.len, &mut floor, hits),
                // CSS names and query parameters (`font-family`, `utm_source`) leave before
                // the call.
                b'_' | b'-' => match short_name(c, i, floor) {
                    Some(e) => e,
                    // `call-02079460958.pdf`: the number after it is read on its own.
                    None if glued(c, i + 1) => i + 1,
                    None => self.word(c, i, &mut floor, hits),
                },
                b':' => self.ipv6(c, i, u.len, &mut floor, hits),
                // A percent escape or numeric reference of a non-ASCII character (`%EF%BC%A0`,
                // `&#xFF20;`): it may be a look-alike a reader folds (`＠`), read again by the
                // second reading. Named references (`&middot;`, in every mail footer) are not.
                HIGH => {
                    if raw[i] == b'%' || raw.get(i + 1) == Some(&b'#') {
                        noted |= super::escaped::HIGH;
                    }
                    i + u.len
                }
                // `%25` and two hex digits: an escape escaped once more (`%2540`).
                b'%' => {
                    self.seen |= super::escaped::seen_percent(&raw[i..seg.end]);
                    i + u.len
                }
                b'A' if matches!(raw.get(i + 1..i + 4), Some(b"KIA" | b"SIA" | b"Iza"))
                    && (i == seg.start || !word_byte(raw[i - 1])) =>
                {
                    self.word(c, i, &mut floor, hits)
                }
                _ => i + u.len,
            };
            i = next.max(i + u.len);
        }
        self.seen |= noted;
    }

    fn emit(
        c: Cur<'_>,
        floor: &mut usize,
        hits: &mut Vec<Hit>,
        start: usize,
        end: usize,
        class: Class,
    ) {
        debug_assert!(*floor <= start && start < end && end <= c.seg.end);
        hits.push(Hit {
            start,
            end,
            origin: Origin::Class(class),
            seg: c.seg.kind,
        });
        *floor = end;
    }

    /// A street address from `street`. One that ends past the segment was read across a
    /// `<br>` (`Flat 76E<br>Smith Walk`): it is two spans, one in each text node, so that no
    /// span covers the tag, and the next segment is scanned from its end.
    fn emit_street(
        &mut self,
        c: Cur<'_>,
        floor: &mut usize,
        hits: &mut Vec<Hit>,
        start: usize,
        end: usize,
    ) -> usize {
        if end <= c.seg.end {
            Self::emit(c, floor, hits, start, end, Class::StreetAddress);
            return end;
        }
        let Some(next) = line_after_br(c) else {
            debug_assert!(false, "a street past its segment without a <br>");
            return c.seg.end;
        };
        debug_assert!(next.seg.start < end && end <= next.seg.end);
        Self::emit(c, floor, hits, start, c.seg.end, Class::StreetAddress);
        Self::emit(next, floor, hits, next.seg.start, end, Class::StreetAddress);
        self.carry = end;
        end
    }

    // --- digits ------------------------------------------------------------------------

    /// A digit: a numeric run if a word boundary opens it, else the word it is glued into.
    ///
    /// `d` is where the digits written from `i` end, at most four of them ([`digits4`]). A digit
    /// of a hex colour ([`hex_colour`]) does not come here: the scan steps over the colour.
    fn digit(
        &mut self,
        c: Cur<'_>,
        i: usize,
        d: usize,
        floor: &mut usize,
        hits: &mut Vec<Hit>,
    ) -> usize {
        let raw = c.raw;
        let mut start = i;
        let opener = match c.before(i) {
            None => true,
            Some(p) if matches!(p.b, b'+' | b'(') => {
                let j = i - p.len;
                // `[label](4242 …)`, `[REDACTED](…)`: a parenthesis right after a closing
                // bracket opens a value as after a space, so what a replacement leaves reads
                // like the text it replaced.
                let ok = c.before(j).is_none_or(|q| opens(q.b) || q.b == b']') || glued(c, j);
                // `(415) 555-0199`, `(03995) 218177`: the parenthesis is the phone's when it
                // closes after an area code (up to seven digits); an unclosed one
                // (`(536-22-8726`) is text before the value. Read through escapes
                // (`%28335%29`) like the run itself.
                let (mut k, mut closed) = (i, false);
                for _ in 0..8 {
                    match c.at(k) {
                        Some(u) if u.b.is_ascii_digit() => k += u.len,
                        Some(u) => {
                            closed = u.b == b')';
                            break;
                        }
                        None => break,
                    }
                }
                if ok && j >= *floor && (p.b == b'+' || closed) {
                    start = j;
                }
                ok
            }
            // `RF90 0655 7196 3023`: after a space that follows a code mixing letters and
            // digits, the digits continue the code (a purely numeric token would have started
            // this run itself).
            Some(p) if p.b == b' ' && i - p.len > *floor && continues_code(c, i - p.len) => false,
            Some(p) => opens(p.b) || glued(c, i),
        };
        if !opener {
            return self.word(c, i, floor, hits);
        }
        // Fewer than four digits ended by a byte that neither continues a run nor is an
        // escape (`0;`, `"600"`, `=1"`: most numbers of inline CSS and attributes): no class
        // but a street address starts with so few (the run below would come to the same).
        if d < i + 4
            && (d == c.seg.end || {
                let b = raw[d];
                !RUN_RAW[usize::from(b)] && b < 0x80 && !matches!(b, b'x' | b'&' | b'%' | b'+')
            })
        {
            if self.on(Class::StreetAddress)
                && let Some((s, e)) = self.street(c, i, *floor)
            {
                return self.emit_street(c, floor, hits, s, e);
            }
            return d;
        }
        // The run: digits and the separators people type between groups. Usually written
        // as is: then the raw bytes are the run (no copy); an escape or a no-break space in
        // it sends it through the window.
        let m = c.seg.kind.mode;
        let mut j = start;
        let mut run_digits = 0;
        while j < c.seg.end && j - start <= MAX_RUN {
            let b = raw[j];
            // Digits first: most of a run, and none of the tests below is about them.
            if b.is_ascii_digit() {
                run_digits += 1;
                j += 1;
                continue;
            }
            if !RUN_RAW[usize::from(b)] {
                break;
            }
            // `ending 4242 (4242 4242 4242 4242)`: a parenthesis after a space and a number of
            // four digits or more opens another value (a country code, `1 (415) …`, is shorter).
            if b == b'(' && run_digits >= 4 && raw[j - 1] == b' ' {
                break;
            }
            // Two spaces part values (a column, a list): no value holds them.
            if b == b' ' && run_digits > 0 && raw.get(j + 1) == Some(&b' ') {
                break;
            }
            j += 1;
        }
        // A run longer than any value (a table of numbers) is read a piece at a time: up to
        // its last space within MAX_RUN; when that piece yields nothing, the scan resumes at
        // its second group, so every group start is tried once, each try bounded by MAX_RUN
        // bytes and `partition`'s 32 groups.
        let mut slide = None;
        let slow = j < c.seg.end
            && j - start <= MAX_RUN
            && (matches!(raw[j], b'&' | b'%')
                || raw[j] >= 0x80
                || (raw[j] == b'+' && m.has(Mode::PLUS)));
        let slash_in_url = m.has(Mode::URL) && raw[start..j].contains(&b'/');
        // In a query a `+` is a space: `card=4242+4242+4242+4242` reads through the window.
        let slow = slow || (m.has(Mode::PLUS) && raw[start..j].contains(&b'+'));
        let fast = !slow && !slash_in_url;
        if fast {
            if j - start > MAX_RUN {
                let piece = &raw[start..start + MAX_RUN];
                match (
                    piece.iter().rposition(|&b| b == b' '),
                    piece.iter().position(|&b| b == b' '),
                ) {
                    (Some(last), Some(first)) if last > 0 => {
                        slide = Some(start + first);
                        j = start + last;
                        run_digits = raw[start..j].iter().filter(|b| b.is_ascii_digit()).count();
                    }
                    // No space to cut at: one token longer than a run, read value by value
                    // up to its first space, from which the scan goes on.
                    _ => {
                        let mut e = start;
                        while e < c.seg.end && RUN_RAW[usize::from(raw[e])] && raw[e] != b' ' {
                            e += 1;
                        }
                        // Escaped bytes of the same token (`%2B`, `&#45;`) go on with it.
                        if e < c.seg.end && matches!(raw[e], b'&' | b'%') {
                            e = token_end(c, e);
                        }
                        self.long_token(c, start, e, floor, hits);
                        return e;
                    }
                }
            }
        } else {
            j = self.win.fill(c, start, MAX_RUN + 1, run_byte);
            // Two spaces (`&nbsp;&nbsp;`, a space and a no-break space) part values here too.
            if let Some(k) = self.win.bytes().windows(2).position(|w| w == b"  ")
                && k > 0
            {
                self.win.len = k;
                j = self.win.raw(k);
            }
            if self.win.len > MAX_RUN {
                let w = &self.win.bytes()[..MAX_RUN];
                match (
                    w.iter().rposition(|&b| b == b' '),
                    w.iter().position(|&b| b == b' '),
                ) {
                    (Some(last), Some(first)) if last > 0 => {
                        slide = Some(self.win.raw(first));
                        self.win.len = last;
                        j = self.win.raw(last);
                    }
                    // No space to cut at: read value by value through the decoding, as a
                    // token of plain bytes is.
                    _ => {
                        let e = token_end(c, start);
                        self.long_token(c, start, e, floor, hits);
                        return e;
                    }
                }
            }
            // A phone extension glued on, read through the decoding like the run.
            if self.win.bytes().last().is_some_and(u8::is_ascii_digit)
                && let Some(x) = c.at(j).filter(|u| u.b == b'x')
                && c.at(j + x.len).is_some_and(|u| u.b.is_ascii_digit())
            {
                let mut k = j + x.len;
                let mut pushed = self.win.push(b'x', k);
                while pushed && let Some(u) = c.at(k).filter(|u| u.b.is_ascii_digit()) {
                    pushed = self.win.push(u.b, k + u.len);
                    k += u.len;
                }
                if pushed {
                    j = k;
                }
            }
        }
        // A phone extension glued on: `415-555-0100x123` (read as written).
        let mut ext_end = j;
        if j > start
            && raw[j - 1].is_ascii_digit()
            && raw.get(j) == Some(&b'x')
            && j + 1 < c.seg.end
            && raw[j + 1].is_ascii_digit()
        {
            ext_end = j + 1;
            while ext_end < c.seg.end && raw[ext_end].is_ascii_digit() {
                ext_end += 1;
            }
        }
        // Fewer than four digits as written (`0;`, `600`, `2 items`: most numbers in inline
        // CSS and prose): no class but a street address starts with so few, and a date of
        // birth is only tried from its year.
        if fast && ext_end == j && run_digits < 4 {
            if self.on(Class::StreetAddress)
                && let Some((s, e)) = self.street(c, i, *floor)
            {
                return self.emit_street(c, floor, hits, s, e);
            }
            return j;
        }
        // The digits of a run read as written: those counted above and the extension's (what
        // is trimmed below is no digit).
        let written_digits = run_digits + (ext_end - j).saturating_sub(1);
        let j = if fast { ext_end } else { j };
        let (mut run, base): (&[u8], usize) = if fast {
            (&raw[start..j], start)
        } else {
            (self.win.bytes(), 0)
        };
        let to_raw = |k: usize| if fast { base + k } else { self.win.raw(k) };
        // `+44 20 7946 0958.txt`: a file extension after the run's final `.` ends it too.
        let mut bounded = c.at(j).is_none_or(|u| closes(u.b))
            || run.last() == Some(&b' ')
            || (run.last() == Some(&b'.') && file_name::extension_at(&raw[j..c.seg.end]).is_some());
        // `0300-1234567 123@the.the`, `… 7946 0958 2nd floor`: the last group is glued to the
        // token after it (an address's local part, a word), so it starts that token and the
        // run ends at the space before it, as it would before a word standing apart.
        let mut cut = false;
        if !bounded
            && let Some(p) = run.iter().rposition(|&b| b == b' ')
            && p > 0
        {
            run = &run[..=p];
            bounded = true;
            cut = true;
        }
        let mut k = run.len();
        while k > 0 && matches!(run[k - 1], b' ' | b'-' | b'.' | b'/' | b'(' | b'+') {
            k -= 1;
        }
        if k > 0 && run[k - 1] == b')' && !run[..k].contains(&b'(') {
            k -= 1;
        }
        let run = &run[..k];
        let digits = if fast && !cut {
            written_digits
        } else {
            run.iter().filter(|b| b.is_ascii_digit()).count()
        };
        debug_assert_eq!(digits, run.iter().filter(|b| b.is_ascii_digit()).count());
        if bounded && digits >= 4 {
            // The words before a number can make it one (`call me at 6395254361`, `card
            // 566954923975`) or unmake a bare one (`PO 0485835879`).
            let class = match self.numeric(c, start, run, digits) {
                Some(Class::Phone)
                    if run.iter().all(u8::is_ascii_digit)
                        && cue_before(c, start) == Some(Cue::Other) =>
                {
                    None
                }
                Some(class) => Some(class),
                None => self.named(c, start, || to_raw(k), run, digits),
            };
            if let Some(class) = class {
                let end = to_raw(k);
                Self::emit(c, floor, hits, start, end, class);
                return end;
            }
            // `(4242 4242 4242 4242)`: a value in parentheses, which are not part of it.
            if let [b'(', inner @ .., b')'] = run
                && !inner.iter().any(|&b| matches!(b, b'(' | b')'))
                && let Some(class) = self.numeric_strict(inner, digits)
            {
                Self::emit(c, floor, hits, to_raw(1), to_raw(k - 1), class);
                return to_raw(k);
            }
            if digits >= 8 && self.partition(c, run, &to_raw, floor, hits) {
                // A short chunk left over may start something else (`… 742 Evergreen`).
                return *floor;
            }
        }
        // `2024-01-15 0300-1234567`: a date written with separators that starts the run is no
        // value and holds none; unless it is a date of birth, what follows it is read as a run
        // of its own.
        let date_first = (digits >= 8)
            .then(|| run.iter().position(|&b| b == b' '))
            .flatten()
            .filter(|&sp| separated_date(&run[..sp]))
            .map(&to_raw);
        // A date has a four-digit year or six digits in all; the run holding them looks back.
        if digits >= 4
            && self.on(Class::DateOfBirth)
            && let Some((s, e)) = self.birth(c, i, *floor)
        {
            Self::emit(c, floor, hits, s, e, Class::DateOfBirth);
            return e;
        }
        if self.on(Class::StreetAddress)
            && let Some((s, e)) = self.street(c, i, *floor)
        {
            return self.emit_street(c, floor, hits, s, e);
        }
        date_first.or(slide).unwrap_or(j)
    }

    /// The class of a whole numeric run.
    fn numeric(&self, c: Cur<'_>, start: usize, run: &[u8], digits: usize) -> Option<Class> {
        if self.on(Class::IpAddress) && ip::is_ipv4(run) && !version_before(c, start) {
            return Some(Class::IpAddress);
        }
        self.numeric_strict(run, digits)
    }

    /// A number only the words before it make a value: a bare national phone number after
    /// `call me at`, `Nummer`, `rappeler au`, `phone=`; twelve bare digits at a Maestro IIN
    /// after `card`, `Karte`. Or only the lines before it: a number alone on the line under a
    /// signature is the writer's phone (see [`signature_line`]). `start..end()` is the run as
    /// written.
    fn named(
        &self,
        c: Cur<'_>,
        start: usize,
        end: impl FnOnce() -> usize,
        run: &[u8],
        digits: usize,
    ) -> Option<Class> {
        let phone = self.on(Class::Phone) && (9..=13).contains(&digits);
        let card = self.on(Class::PaymentCard) && (12..=19).contains(&digits);
        if !phone && !card {
            return None;
        }
        match cue_before(c, start) {
            Some(Cue::Phone) if phone && phone::is_phone(run, true) => Some(Class::Phone),
            Some(Cue::Card) if card && card::is_card_named(run) => Some(Class::PaymentCard),
            None if phone && signature_line(c, start, end()) && phone::is_phone(run, true) => {
                Some(Class::Phone)
            }
            _ => None,
        }
    }

    fn numeric_strict(&self, run: &[u8], digits: usize) -> Option<Class> {
        if digits < 7 {
            return None;
        }
        if digits == 13 && self.on(Class::Cnic) && national::is_cnic(run, false) {
            return Some(Class::Cnic);
        }
        if digits == 9 && self.on(Class::Ssn) && national::is_ssn(run, false) {
            return Some(Class::Ssn);
        }
        if (12..=19).contains(&digits) && self.on(Class::PaymentCard) && card::is_card(run, false) {
            return Some(Class::PaymentCard);
        }
        if self.on(Class::Phone) && phone::is_phone(run, false) {
            return Some(Class::Phone);
        }
        None
    }

    /// The values inside `raw[start..end]`, a token of run bytes without a space longer than
    /// a run (`4242424242424242/+442079460958/0300-1234567/…`, numbers joined by `/`, `-` or
    /// `.`), read unit by unit through the segment's decoding (`%2B44…`, `4242&#45;4242…`).
    /// From each group start (the token's start, or after a separator; a `+` before it is the
    /// value's), the longest candidate ending at a group end with at most 19 digits and 32
    /// units that is a value of its own is emitted, and the search goes on after it. Work is
    /// bounded: each group start reads at most 33 units, each candidate a check of at most 33
    /// bytes. Out of line and cold: few texts hold such a token, and the run reader that
    /// calls it keeps its code tight without it.
    #[cold]
    #[inline(never)]
    fn long_token(
        &mut self,
        c: Cur<'_>,
        start: usize,
        end: usize,
        floor: &mut usize,
        hits: &mut Vec<Hit>,
    ) {
        const MAX_VALUE: usize = 32;
        let digit_at = |k: usize| k < end && c.at(k).is_some_and(|u| u.b.is_ascii_digit());
        let mut g = start;
        while g < end {
            let Some(u) = c.at(g) else { break };
            if !u.b.is_ascii_digit() {
                g += u.len;
                continue;
            }
            // The candidate, decoded, and the raw end of each of its units.
            let mut buf = [0u8; MAX_VALUE + 2];
            let mut ends = [0usize; MAX_VALUE + 2];
            let mut n = 0;
            let mut from = g;
            if g > start
                && let Some(p) = c.before(g).filter(|p| p.b == b'+')
            {
                from = g - p.len;
                buf[0] = b'+';
                ends[0] = g;
                n = 1;
            }
            // `…-7946-0958/4242-4242-4242-4242`: a candidate that holds the separator joining
            // it to the group before it, or to the group after it, is a piece of a longer
            // number written the same way (here the tail of `7946-0958` and the head of a
            // card), not a value of its own. A `+` starts a value wherever it stands.
            let joined_before = if n == 0 && g > start {
                c.before(g).map_or(0, |p| sep_bit(p.b))
            } else {
                0
            };
            let mut inside = 0u8;
            let mut best = None;
            let mut k = g;
            let mut digits = 0;
            while k < end && n <= MAX_VALUE && digits <= 19 {
                let Some(u) = c.at(k) else { break };
                k += u.len;
                buf[n] = u.b;
                ends[n] = k;
                n += 1;
                if u.b.is_ascii_digit() {
                    digits += 1;
                    let joined = || {
                        buf[0] != b'+' && {
                            let after = c.at(k).filter(|_| k < end).map_or(0, |u| sep_bit(u.b));
                            inside & (joined_before | after) != 0
                        }
                    };
                    if digits >= 7
                        && !digit_at(k)
                        && let Some(class) = self.numeric_strict(&buf[..n], digits)
                        && !joined()
                    {
                        best = Some((k, class));
                    }
                } else {
                    inside |= sep_bit(u.b);
                }
            }
            match best {
                Some((e, class)) if from >= *floor => {
                    Self::emit(c, floor, hits, from, e, class);
                    g = e;
                }
                _ => {
                    // The next group.
                    while digit_at(g) {
                        g += c.at(g).map_or(1, |u| u.len);
                    }
                }
            }
        }
    }

    /// A run of several values separated by spaces (`0300 1234567 0301 7654321`, two cards in
    /// a row): spaced chunks split into consecutive pieces that are each a value, covering the
    /// run except for chunks without digits (` - `) and numbers of up to four digits after a
    /// value (`… 24/7`). Requiring a cover from the first chunk keeps a long tracking number
    /// from yielding a card found somewhere inside it. `true` when spans were emitted;
    /// `to_raw` maps run offsets to raw ones.
    fn partition(
        &self,
        c: Cur<'_>,
        run: &[u8],
        to_raw: &impl Fn(usize) -> usize,
        floor: &mut usize,
        hits: &mut Vec<Hit>,
    ) -> bool {
        // A list of numbers on one line (three phone numbers, a ` / `, three more) has more
        // groups than one value: up to MAX_RUN bytes are read, so up to 32 groups are.
        const MAX_CHUNKS: usize = 32;
        let k = run.len();
        // Chunk starts and ends (window indices).
        let mut chunks = [(0usize, 0usize); MAX_CHUNKS];
        let mut n = 0;
        let mut i = 0;
        while i < k {
            while i < k && run[i] == b' ' {
                i += 1;
            }
            if i == k {
                break;
            }
            let s = i;
            while i < k && run[i] != b' ' {
                i += 1;
            }
            if n == MAX_CHUNKS {
                return false;
            }
            chunks[n] = (s, i);
            n += 1;
        }
        if n < 2 {
            return false;
        }
        // reach[j]: chunks[..j] are covered, 1 without a value yet, 2 with one; from[j]: the
        // piece (start chunk, class) ending there, None where chunk j - 1 was skipped.
        let mut from: [Option<(usize, Class)>; MAX_CHUNKS + 1] = [None; MAX_CHUNKS + 1];
        let mut reach = [0u8; MAX_CHUNKS + 1];
        reach[0] = 1;
        for a in 0..n {
            if reach[a] == 0 {
                continue;
            }
            let chunk = &run[chunks[a].0..chunks[a].1];
            let chunk_digits = chunk.iter().filter(|b| b.is_ascii_digit()).count();
            // Separators alone (` - `) are skipped; after a value, a short number
            // (`0300-1234567 24/7`) or a date written with separators (`0300-1234567
            // 2024-01-15`, read again from there for a date of birth) too, never before the
            // first one.
            if (chunk_digits == 0
                || (reach[a] == 2 && (chunk_digits <= 4 || separated_date(chunk))))
                && reach[a + 1] < reach[a]
            {
                reach[a + 1] = reach[a];
                from[a + 1] = None;
            }
            for b in a + 1..=n {
                if b - a == n {
                    continue; // the whole run was already tried
                }
                let piece = &run[chunks[a].0..chunks[b - 1].1];
                let digits = piece.iter().filter(|x| x.is_ascii_digit()).count();
                // No value has more digits than a card: longer pieces from `a` cannot be one.
                if digits > 19 {
                    break;
                }
                let ip = self.on(Class::IpAddress) && ip::is_ipv4(piece);
                let class = if ip {
                    Some(Class::IpAddress)
                } else {
                    self.numeric_strict(piece, digits)
                };
                if let Some(class) = class
                    && reach[b] < 2
                {
                    reach[b] = 2;
                    from[b] = Some((a, class));
                }
            }
        }
        if reach[n] != 2 {
            return false;
        }
        let mut pieces = [(0usize, 0usize, Class::Phone); MAX_CHUNKS];
        let mut m = 0;
        let mut b = n;
        while b > 0 {
            let Some((a, class)) = from[b] else {
                b -= 1; // a skipped chunk
                continue;
            };
            pieces[m] = (chunks[a].0, chunks[b - 1].1, class);
            m += 1;
            b = a;
        }
        if m == 0 {
            return false;
        }
        for &(s, e, class) in pieces[..m].iter().rev() {
            let (s, e) = (to_raw(s), to_raw(e));
            Self::emit(c, floor, hits, s, e, class);
        }
        true
    }

    // --- words -------------------------------------------------------------------------

    /// The word around `i` (`[A-Za-z0-9_.-]`, written as is): a JWT, an API key, or the start
    /// of an IBAN. Resumes after the word.
    fn word(&mut self, c: Cur<'_>, i: usize, floor: &mut usize, hits: &mut Vec<Hit>) -> usize {
        let raw = c.raw;
        let lo = (*floor).max(c.seg.start);
        let mut s = word_bwd(raw, i, lo);
        let e = run_end::<NonWord>(raw, i, c.seg.end);
        while s < e && matches!(raw[s], b'.' | b'-') {
            s += 1;
        }
        let w = &raw[s..e];
        if w.len() >= 20 {
            let trimmed = trim_end(w, b".");
            if self.on(Class::Jwt) && w.starts_with(b"eyJ") {
                for t in [w, trimmed] {
                    if secret::is_jwt(t) {
                        Self::emit(c, floor, hits, s, s + t.len(), Class::Jwt);
                        return e;
                    }
                }
            }
            let t = trim_end(w, b".-");
            // The first letters of the documented key prefixes (`sk_`, `AKIA`, `ghp_`, `SG.`, …).
            let prefix = matches!(
                t[0],
                b'A' | b'S' | b'g' | b'k' | b'n' | b'p' | b'r' | b's' | b'w' | b'x'
            );
            if prefix && self.on(Class::ApiKey) && secret::is_api_key(t) {
                Self::emit(c, floor, hits, s, s + t.len(), Class::ApiKey);
                return e;
            }
        }
        if self.on(Class::Iban)
            && w.len() >= 4
            // Lower case too: people paste `de89 3704 …` as they read it; mod 97 and the
            // country's length keep the false positives down.
            && w[0].is_ascii_alphabetic()
            && w[1].is_ascii_alphabetic()
            && w[2].is_ascii_digit()
            && w[3].is_ascii_digit()
            && let Some(end) = self.iban(c, s)
        {
            Self::emit(c, floor, hits, s, end, Class::Iban);
            return end.max(e);
        }
        e
    }

    /// An IBAN starting at `s`, compact or in groups of four separated by single spaces,
    /// dashes or dots (one kind: the first one met).
    fn iban(&mut self, c: Cur<'_>, s: usize) -> Option<usize> {
        self.win.fill(c, s, 34 + 9, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'-' | b'.')
        });
        let w = self.win.bytes();
        let sep = w
            .iter()
            .copied()
            .find(|b| !b.is_ascii_alphanumeric())
            .unwrap_or(b' ');
        // A sentence's full stop after a spaced IBAN is not part of it.
        let w = &w[..w
            .iter()
            .position(|&b| !b.is_ascii_alphanumeric() && b != sep)
            .unwrap_or(w.len())];
        // Ends of the groups, in order.
        let mut ends = [0usize; 10];
        let mut n = 0;
        let mut i = 0;
        while i < w.len() && n < ends.len() {
            let g = i;
            while i < w.len() && w[i] != sep {
                i += 1;
            }
            if i == g {
                break; // a double space
            }
            ends[n] = i;
            n += 1;
            if i - g != 4 || i == w.len() {
                break;
            }
            i += 1;
        }
        let after = |k: usize| c.at(self.win.raw(k));
        ends[..n]
            .iter()
            .rev()
            .find(|&&e| {
                iban::is_iban(&w[..e])
                    && after(e).is_none_or(|u| !u.b.is_ascii_alphanumeric() && u.b != HIGH)
            })
            .map(|&e| self.win.raw(e))
    }

    // --- email -------------------------------------------------------------------------

    /// The longest email address around the `@` unit at `at`. Out of line: ~100 calls in 64 KB
    /// of mail, and the scan loop that calls it keeps more of its state in registers without it.
    #[inline(never)]
    fn email(
        &mut self,
        c: Cur<'_>,
        at: usize,
        at_len: usize,
        floor: &mut usize,
        hits: &mut Vec<Hit>,
    ) -> usize {
        let resume = at + at_len;
        // The local part, backwards. A literal `+` is kept even where it means a space: an
        // unencoded `alice+tag@…` in a query string is still Alice's address.
        // Bytes written as is that end no percent escape: what `bwd` reads them as, without
        // decoding (most local parts are plain). Word bytes (`[A-Za-z0-9_.-]`, the bulk of
        // a local part) are stepped over sixteen at a time first: a hex digit ending an
        // escape among them has its `%` at most two bytes before them, so the byte loop
        // reads the last two again.
        let lo = (*floor).max(c.seg.start);
        let words_from = word_bwd(c.raw, at, lo.max(at.saturating_sub(64)));
        let mut s = (words_from + 2).min(at);
        let mut n = at - s;
        while s > lo && n < 64 {
            let b = c.raw[s - 1];
            if !(PLAIN[usize::from(b)] && local_byte(b))
                || (b.is_ascii_hexdigit() && s >= c.seg.start + 3 && c.raw[s - 3] == b'%')
            {
                break;
            }
            s -= 1;
            n += 1;
        }
        // `https://deploy:s3cret@host/`: the `@` ends a URL's userinfo, and what follows its
        // first `:` is a password. Most `@`s are an address's, whose plain local part the
        // walk above read back to a space, a quote or an angle bracket, or to a `mailto:`
        // after one: the password reader's own walk would stop there too, with no `://`, `:`
        // or `%` behind it, and find none.
        if self.on(Class::Password)
            && !no_userinfo_before(c.raw, s, c.seg.start, at, c.seg.kind.mode)
            && let Some((s, e)) = super::userinfo::password(
                c.raw,
                *floor,
                c.seg.end,
                at,
                at_len,
                c.seg.start,
                c.seg.kind.mode,
            )
        {
            // Encoded as in a URL wherever it is written: a replacement cannot end the
            // userinfo or the authority.
            let mut seg = c.seg.kind;
            seg.mode = seg.mode.with(Mode::URL);
            hits.push(Hit {
                start: s,
                end: e,
                origin: Origin::Class(Class::Password),
                seg,
            });
            *floor = e;
            return resume;
        }
        if !self.on(Class::Email) {
            return resume;
        }
        while s > *floor && n < 64 {
            let Some(u) = c.before(s) else { break };
            let plus = u.len == 1 && c.raw[s - 1] == b'+';
            if !(local_byte(u.b) || plus) {
                break;
            }
            s -= u.len;
            n += 1;
        }
        // It starts with a letter, digit or `_` (not a quote, a bullet or a dot).
        while s < at {
            let Some(u) = c.at(s) else { break };
            if u.b.is_ascii_alphanumeric() || u.b == HIGH || u.b == b'_' {
                break;
            }
            s += u.len;
        }
        if s >= at {
            return resume;
        }
        // Mostly written as is: copied, the offsets implied (`extend_plain`), up to the first
        // escape, from which on it is read unit by unit. Most local parts are word bytes
        // only, which the walk back has read: copied whole.
        self.win.reset(s);
        let words = s >= words_from;
        let mut j = if words {
            let n = at - s;
            self.win.buf[..n].copy_from_slice(&c.raw[s..at]);
            self.win.len = n;
            self.win.direct = n;
            at
        } else {
            self.win.extend_plain(c.raw, s, at, |_| true)
        };
        while j < at {
            let Some(u) = c.at(j) else { break };
            let b = if u.len == 1 && c.raw[j] == b'+' {
                b'+'
            } else {
                u.b
            };
            if !self.win.push(b, j + u.len) {
                return resume;
            }
            j += u.len;
        }
        let at_k = self.win.len;
        if self.win.extend_plain(c.raw, at, resume, |b| b == b'@') != resume
            && !self.win.push(b'@', resume)
        {
            return resume;
        }
        let mut e = self.win.extend_run::<NotDomain>(c.raw, resume, c.seg.end);
        // Whether the domain is that run alone, as written (no escape continues it).
        let mut domain_run = true;
        while let Some(u) = c.at(e).filter(|u| domain_byte(u.b)) {
            if !self.win.push(u.b, e + u.len) {
                return resume;
            }
            e += u.len;
            domain_run = false;
        }
        while matches!(self.win.buf[self.win.len - 1], b'.' | b'-') {
            self.win.len -= 1;
        }
        let e = self.win.end();
        // `git@github.com:org/repo.git`, `user@host/path`: a remote or URL, not a mailbox;
        // but a whole segment of a path (`/users/kai@example.org/settings`) is an address.
        let raw = c.raw;
        if e + 1 < c.seg.end
            && matches!(raw[e], b':' | b'/')
            && !raw[e + 1].is_ascii_whitespace()
            && !email::path_segment(raw, s)
            && !super::userinfo::user_name(raw, s, e, c.seg.end)
        {
            return e.max(resume);
        }
        // The walk has vouched for every byte of a local part of word bytes and of a domain
        // read as one run: only where the dots and dashes stand is left to check.
        let vouched = if words && domain_run {
            word_address(&self.win.buf, at_k, self.win.len)
        } else {
            None
        };
        if vouched.unwrap_or_else(|| email::is_email(self.win.bytes())) {
            Self::emit(c, floor, hits, s, e, Class::Email);
            return e;
        }
        // A file named after the address (`jane@example.org.pdf`): the address without the
        // extension, which stays.
        if let Some(k) = email::before_file_extension(self.win.bytes()) {
            let e = self.win.raw(k);
            Self::emit(c, floor, hits, s, e, Class::Email);
            return e;
        }
        resume
    }

    // --- IPv6 --------------------------------------------------------------------------

    fn ipv6(
        &mut self,
        c: Cur<'_>,
        i: usize,
        len: usize,
        floor: &mut usize,
        hits: &mut Vec<Hit>,
    ) -> usize {
        // A link written in the text: its parameters may be base64 of text.
        if c.raw.get(i + 1..i + 3) == Some(b"//") {
            self.seen |= super::escaped::LINK;
        }
        let resume = i + len;
        if !self.on(Class::IpAddress) {
            return resume;
        }
        // A `:` written as is, then a byte that decodes to no hex digit and no `:` (`://`,
        // `color:#333`, `a: b`): what the unit after it says, read without decoding it (only
        // `&` and `%` can decode to something else than themselves or a space or delimiter).
        if len == 1
            && (resume >= c.seg.end || {
                let b = c.raw[resume];
                !(b.is_ascii_hexdigit() || matches!(b, b':' | b'&' | b'%'))
            })
        {
            return resume;
        }
        // `padding:8px`, `margin:0`: a byte before the `:` written as is that is no hex digit
        // and no `:`, and after it one written as is that is no `:`: no address has this `:`,
        // told without decoding either side.
        if len == 1 && i > c.seg.start {
            let (p, n) = (c.raw[i - 1], c.raw[resume]);
            if PLAIN[usize::from(p)]
                && !p.is_ascii_hexdigit()
                && p != b':'
                && PLAIN[usize::from(n)]
                && n != b':'
            {
                return resume;
            }
            // `font-size:16px`: before the `:` a hex digit written as is (ending no escape),
            // and before that a letter or `_` that is no hex digit: the reading would walk
            // back over the digit and leave, the address glued into a word, unless a span just
            // found ends there.
            if i >= c.seg.start + 2 {
                let q = c.raw[i - 2];
                if PLAIN[usize::from(p)]
                    && p.is_ascii_hexdigit()
                    && (i < c.seg.start + 3 || c.raw[i - 3] != b'%')
                    && PLAIN[usize::from(q)]
                    && (q.is_ascii_alphabetic() || q == b'_')
                    && !q.is_ascii_hexdigit()
                    && hits.last().is_none_or(|h| h.end + 1 < i)
                {
                    return resume;
                }
            }
        }
        self.ipv6_around(c, i, resume, floor, hits)
    }

    /// [`Finder::ipv6`] past its byte checks: the units on both sides decoded, the address
    /// read. Out of line: the scan, which inlines `ipv6`, keeps only the checks.
    #[inline(never)]
    fn ipv6_around(
        &mut self,
        c: Cur<'_>,
        i: usize,
        resume: usize,
        floor: &mut usize,
        hits: &mut Vec<Hit>,
    ) -> usize {
        let prev = c.before(i).map(|u| u.b);
        let next = c.at(resume).map(|u| u.b);
        let hx = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_hexdigit() || b == b':');
        if !(hx(next) && (hx(prev) || next == Some(b':'))) {
            return resume;
        }
        let mut s = i;
        let mut n = 0;
        while s > *floor && n < 45 {
            let Some(u) = c.before(s).filter(|u| hexish(u.b)) else {
                break;
            };
            s -= u.len;
            n += 1;
        }
        // Glued to the span just found (`…4567 9::123`, a phone then an address): that span is
        // replaced, so what follows it must be judged as the replacement will leave it, or a
        // second pass would find what the first left (`[REDACTED]::123`).
        let glued = hits.last().is_some_and(|h| h.end == s);
        if !glued
            && c.before(s)
                .is_some_and(|u| u.b.is_ascii_alphanumeric() || u.b == b'_')
        {
            return resume;
        }
        let j = self.win.fill(c, s, 46, hexish);
        while self.win.len > 0 && self.win.buf[self.win.len - 1] == b'.' {
            self.win.len -= 1;
        }
        let e = self.win.end();
        if c.at(e)
            .is_some_and(|u| u.b.is_ascii_alphanumeric() || u.b == b'_')
        {
            return j;
        }
        // A bare `::` parses (the unspecified address) but is nobody's: in a text it is a
        // separator (`Shop :: Cart`, a page title an event carries).
        if self.win.bytes() != b"::" && ip::is_ipv6(self.win.bytes()) {
            Self::emit(c, floor, hits, s, e, Class::IpAddress);
            return e;
        }
        j.max(resume)
    }

    // --- dates of birth ----------------------------------------------------------------

    /// A date after a birth keyword, covering the digit at `i`.
    fn birth(&mut self, c: Cur<'_>, i: usize, floor: usize) -> Option<(usize, usize)> {
        let kw_end = keyword_before(c, i, floor)?;
        // Skip separators and filler words to the date.
        let mut d = kw_end;
        loop {
            let u = c.at(d)?;
            if u.b.is_ascii_alphanumeric() {
                let end = word_end(c, d);
                let mut word = [0u8; 8];
                if end - d <= word.len() && d < i {
                    for (k, b) in c.raw[d..end].iter().enumerate() {
                        word[k] = b.to_ascii_lowercase();
                    }
                    if filler(&word[..end - d]) {
                        d = end;
                        continue;
                    }
                }
                break;
            }
            if matches!(u.b, STOP | b'<' | b'\n') {
                return None;
            }
            d += u.len;
        }
        if d > i {
            return None;
        }
        self.win.fill(c, d, 40, |b| {
            !matches!(b, STOP | b'\n' | b'\r' | b'<' | b';' | b'(' | b')')
        });
        let w = self.win.bytes();
        // Token ends, longest candidate first.
        let mut ends = [0usize; 5];
        let mut n = 0;
        for k in 1..=w.len() {
            if n < ends.len() && w[k - 1] != b' ' && (k == w.len() || w[k] == b' ') {
                ends[n] = k;
                n += 1;
            }
        }
        for &e in ends[..n].iter().rev() {
            let mut e = e;
            while e > 0 && matches!(w[e - 1], b',' | b'.') {
                e -= 1;
            }
            let end = self.win.raw(e);
            if end > i && date::is_date(&w[..e]) {
                return Some((d, end));
            }
        }
        None
    }

    // --- street addresses --------------------------------------------------------------

    /// A street address whose house number starts at the digit `i` (`742 Evergreen Terrace`,
    /// `12 rue de la Paix`) or ends a German street name (`Hauptstraße 5`).
    ///
    /// The gate is inline in `digit` (most numbers stop at it); the window is out of line.
    #[inline(always)]
    fn street(&mut self, c: Cur<'_>, i: usize, floor: usize) -> Option<(usize, usize)> {
        // Gate on the house number as written: digits, then a letter or `/14`, `-14`, then a
        // space or comma (a street name follows) or the end of the phrase (a German street
        // name came before). Times, prices, dates and sizes stop here.
        let (raw, end) = (c.raw, c.seg.end);
        let mut j = i;
        while j < end && raw[j].is_ascii_digit() {
            j += 1;
            if j - i > 6 {
                return None;
            }
        }
        if j < end && raw[j].is_ascii_alphabetic() {
            j += 1;
        } else if j + 1 < end && matches!(raw[j], b'/' | b'-') && raw[j + 1].is_ascii_alphanumeric()
        {
            j += 1;
            while j < end && raw[j].is_ascii_alphanumeric() && j - i < 12 {
                j += 1;
            }
        }
        match raw.get(j).copied() {
            // `Flat 59Y\nBrett Mountains`, `H.No. 252\nDar Road`: the street on the next line.
            Some(b' ' | b',' | b'\n' | b'\r') => {
                if let Some(e) = self.number_first(c, i) {
                    return Some((unit_before(c, i, floor), e));
                }
                let german = self.german(c, i, floor);
                // `rue de la Paix, 75002 Paris`: a five-digit postcode and a capitalised town.
                if german.is_none()
                    && j - i == 5
                    && raw[j] == b' '
                    && j + 1 < end
                    && (raw[j + 1].is_ascii_uppercase() || raw[j + 1] >= 0x80)
                {
                    return street_before_postcode(c, i, j, floor);
                }
                german
            }
            None | Some(b'.' | b';' | b')' | b'<' | b'"' | b'\'') => {
                let german = self.german(c, i, floor);
                // `Flat 76E<br>Smith Walk`: the street in the next text node. Most numbers
                // before a tag (`<td>12</td>`) stop at the `b` and `r`.
                if german.is_none()
                    && j == end
                    && matches!(raw.get(j..j + 3), Some([b'<', b'b' | b'B', b'r' | b'R']))
                {
                    return self.street_after_br(c, i, floor);
                }
                german
            }
            _ => None,
        }
    }

    #[cold]
    #[inline(never)]
    fn street_after_br(&mut self, c: Cur<'_>, i: usize, floor: usize) -> Option<(usize, usize)> {
        let e = self.number_first(c, i)?;
        Some((unit_before(c, i, floor), e))
    }

    #[inline(never)]
    fn number_first(&mut self, c: Cur<'_>, i: usize) -> Option<usize> {
        // Cheap gate: a house number, a space, then a capital or a lower-case street type.
        let mut j = i;
        let mut digits = 0;
        while let Some(u) = c.at(j).filter(|u| u.b.is_ascii_digit()) {
            j += u.len;
            digits += 1;
        }
        if digits > 6 {
            return None;
        }
        // `12B`, `97/14`, `12-14` and a comma may follow the digits.
        for _ in 0..4 {
            match c.at(j) {
                Some(u) if u.b.is_ascii_alphanumeric() || matches!(u.b, b'/' | b'-') => j += u.len,
                _ => break,
            }
        }
        if c.at(j).is_some_and(|u| u.b == b',') {
            j += 1;
        }
        // The separator: a space, one line break (`\r\n` included), or the `<br>` that ends
        // this text node; `lc` reads the line after it.
        let number_end = j;
        let (lc, after) = if j == c.seg.end {
            let next = line_after_br(c)?;
            (next, next.seg.start)
        } else {
            let mut sep = c.at(j).filter(|u| matches!(u.b, b' ' | b'\n' | b'\r'))?;
            let mut after = j + sep.len;
            if sep.b == b'\r' {
                sep = c.at(after).filter(|u| u.b == b'\n')?;
                after += sep.len;
            }
            (c, after)
        };
        let next = lc.at(after)?;
        // A capital (a street name), or the first letter of a French street type.
        if !(next.b.is_ascii_uppercase()
            || next.b == HIGH
            || matches!(next.b, b'a' | b'b' | b'c' | b'i' | b'p' | b'q' | b'r'))
        {
            return None;
        }
        // A lower-case word must be a French street type (`rue`, `avenue`): checked here, not
        // after reading a window (`9 am`, `500 after`, `2 items` are common).
        if next.b.is_ascii_lowercase() {
            let mut word = [0u8; 10];
            let mut n = 0;
            let mut k = after;
            while let Some(u) = lc
                .at(k)
                .filter(|u| u.b.is_ascii_alphabetic() || u.b == HIGH)
            {
                if n == word.len() {
                    return None;
                }
                word[n] = u.b.to_ascii_lowercase();
                n += 1;
                k += u.len;
            }
            if !leading(&word[..n]) {
                return None;
            }
        }
        let stop = self.win.fill_line(c, i, 120);
        if stop == number_end && after > number_end {
            // The line break reads as a space; the street's line follows.
            self.win.push(b' ', after);
            let mut k = after;
            while self.win.len < 120 {
                let Some(u) = lc.at(k).filter(|u| line_byte(u.b)) else {
                    break;
                };
                if !self.win.push(u.b, k + u.len) {
                    break;
                }
                k += u.len;
            }
        }
        let w = self.win.bytes();
        let mut words = Words::new(w);
        let (_, h) = words.next()?;
        if !house_number(trim_end(h, b",")) {
            return None;
        }
        let (s1, w1) = words.next()?;
        let first = *w1.first()?;
        if !(first.is_ascii_uppercase() || first == HIGH || first.is_ascii_lowercase()) {
            return None;
        }
        let mut end = None;
        if in_list(trim_end(w1, b","), leading) {
            // `12 rue de la Paix`: particles and capitalised names after the street type.
            let mut last = None;
            for (s, word) in words.by_ref().take(6) {
                let word = trim_end(word, b",.");
                if capitalised(word) {
                    last = Some(s + word.len());
                } else if !in_list(word, particle) {
                    break;
                }
            }
            end = last;
        } else {
            // `742 Evergreen Terrace`: capitalised names, then a street word.
            let mut names = 0;
            let mut cur = Some((s1, w1));
            while let Some((s, word)) = cur {
                let bare = trim_end(word, b",.");
                if names > 0 && capitalised(bare) && street_word(bare) {
                    let keep_dot = bare.len() <= 4 && word.get(bare.len()) == Some(&b'.');
                    end = Some(s + bare.len() + usize::from(keep_dot));
                    break;
                }
                // A name never ends a clause (`5\nWorking Days. Flat`); initials and `St.` may.
                if names == 6
                    || !(capitalised(bare) || ordinal(bare))
                    || word.ends_with(b",")
                    || (word.ends_with(b".") && bare.len() > 2)
                {
                    return None;
                }
                names += 1;
                cur = words.next();
            }
            let mut e = end?;
            // A direction, then a unit: `Suite 508`, `Apt. 4B`, `#12`.
            let mut rest = Words::new(w);
            rest.skip_to(e);
            let mut next = rest.next();
            if let Some((s, word)) = next
                && in_list(trim_end(word, b".,"), direction)
            {
                e = s + trim_end(word, b",").len();
                next = rest.next();
            }
            if let Some((_, word)) = next
                && in_list(trim_end(word, b"."), unit_word)
                && let Some((s, n)) = rest.next()
                && n.iter().any(u8::is_ascii_digit)
            {
                e = s + trim_end(n, b",.").len();
                next = rest.next();
            } else if let Some((s, word)) = next
                && word.first() == Some(&b'#')
                && word.iter().any(u8::is_ascii_digit)
            {
                e = s + trim_end(word, b",.").len();
                next = rest.next();
            }
            // `5 Simple Ways to save`: a heading, not an address.
            if let Some((_, word)) = next
                && function_word(word)
            {
                return None;
            }
            end = Some(e);
        }
        end.map(|e| self.win.raw(e))
    }

    /// `Hauptstraße 5`, `Pieperring 97/14`: a capitalised word ending in a German street
    /// suffix, a space, the house number at `i`.
    ///
    /// Most numbers have no space before them, or a word before the space whose last letter
    /// ends no suffix (`order 5`, `8px 0`): that is looked at inline, the rest out of line.
    #[inline(always)]
    fn german(&mut self, c: Cur<'_>, i: usize, floor: usize) -> Option<(usize, usize)> {
        let sp = c.before(i).filter(|u| u.b == b' ')?;
        // The unit `german_tail` reads first, as it reads it.
        let last = c
            .before(i - sp.len)
            .filter(|u| u.b.is_ascii_alphabetic() || u.b == HIGH || u.b == b'.')?;
        if !DE_SUFFIX_LAST[usize::from(last.b.to_ascii_lowercase())] {
            return None;
        }
        self.german_tail(c, i, sp, floor)
    }

    #[inline(never)]
    fn german_tail(
        &mut self,
        c: Cur<'_>,
        i: usize,
        sp: Unit,
        floor: usize,
    ) -> Option<(usize, usize)> {
        // The word's last letters first: most numbers follow a word that ends in none of the
        // suffixes (`order 5`, `SSN 123`).
        let mut tail = [0u8; 8];
        let mut n = 0;
        let mut j = i - sp.len;
        while n < tail.len() {
            let Some(u) = c
                .before(j)
                .filter(|u| u.b.is_ascii_alphabetic() || u.b == HIGH || u.b == b'.')
            else {
                break;
            };
            tail[tail.len() - 1 - n] = u.b.to_ascii_lowercase();
            n += 1;
            j -= u.len;
        }
        let tail = &tail[tail.len() - n..];
        if !tail.last().is_some_and(|&b| DE_SUFFIX_LAST[usize::from(b)])
            || !DE_SUFFIXES.iter().any(|suf| ends_with(tail, suf))
        {
            return None;
        }
        let mut s = i - sp.len;
        let mut n = 0;
        while s > floor && n < 40 {
            let Some(u) = c
                .before(s)
                .filter(|u| u.b.is_ascii_alphabetic() || u.b == HIGH || u.b == b'-' || u.b == b'.')
            else {
                break;
            };
            s -= u.len;
            n += 1;
        }
        if n < 4
            || c.before(s)
                .is_some_and(|u| u.b.is_ascii_alphanumeric() || u.b == HIGH)
        {
            return None;
        }
        self.win.fill(c, s, 60, |b| {
            b.is_ascii_alphanumeric() || matches!(b, HIGH | b'-' | b'.' | b'/' | b' ')
        });
        let w = self.win.bytes();
        let mut words = Words::new(w);
        let (_, name) = words.next()?;
        let (ns, number) = words.next()?;
        let first = name[0];
        if !(first.is_ascii_uppercase() || first == HIGH) {
            return None;
        }
        let suffix = DE_SUFFIXES.iter().any(|suf| {
            name.len() > suf.len()
                && name[name.len() - suf.len()..]
                    .iter()
                    .zip(*suf)
                    .all(|(&a, &b)| a.to_ascii_lowercase() == b)
        });
        let number = trim_end(number, b".");
        if !suffix || !house_number(number) {
            return None;
        }
        Some((s, self.win.raw(ns + number.len())))
    }
}

/// Whitespace-separated words of a window with their start index.
struct Words<'w> {
    w: &'w [u8],
    i: usize,
}

impl<'w> Words<'w> {
    fn new(w: &'w [u8]) -> Self {
        Self { w, i: 0 }
    }

    fn skip_to(&mut self, i: usize) {
        self.i = i;
    }
}

impl<'w> Iterator for Words<'w> {
    type Item = (usize, &'w [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let w = self.w;
        while self.i < w.len() && w[self.i] == b' ' {
            self.i += 1;
        }
        if self.i == w.len() {
            return None;
        }
        let s = self.i;
        while self.i < w.len() && w[self.i] != b' ' {
            self.i += 1;
        }
        Some((s, &w[s..self.i]))
    }
}

#[inline]
fn trim_end<'a>(w: &'a [u8], chars: &[u8]) -> &'a [u8] {
    let mut e = w.len();
    while e > 0 && chars.contains(&w[e - 1]) {
        e -= 1;
    }
    &w[..e]
}

fn capitalised(w: &[u8]) -> bool {
    w.first()
        .is_some_and(|&b| b.is_ascii_uppercase() || b == HIGH)
}

/// `w` ends with `suffix`, compared byte by byte (these are a few bytes long: a `memcmp` call
/// costs more than the comparison).
fn ends_with(w: &[u8], suffix: &[u8]) -> bool {
    w.len() >= suffix.len()
        && w[w.len() - suffix.len()..]
            .iter()
            .zip(suffix)
            .all(|(a, b)| a == b)
}

/// `5th`, `42nd`.
fn ordinal(w: &[u8]) -> bool {
    let d = w.iter().take_while(|b| b.is_ascii_digit()).count();
    d > 0
        && w.len() == d + 2
        && [b"st", b"nd", b"rd", b"th"]
            .iter()
            .any(|s| w[d..].eq_ignore_ascii_case(*s))
}

/// `12`, `12B`, `97/14`, `12-14`, `97/14a`.
fn house_number(w: &[u8]) -> bool {
    std::str::from_utf8(w).is_ok_and(address::house_number)
}

/// Street words packed big-endian into `u128`s (zero-padded, so the order is the byte order
/// of the sorted list): the lookup compares integers, not strings.
static STREET_PACKED: [u128; address::STREET_WORDS.len()] = {
    let mut t = [0u128; address::STREET_WORDS.len()];
    let mut i = 0;
    while i < t.len() {
        t[i] = pack(address::STREET_WORDS[i].as_bytes());
        i += 1;
    }
    t
};

/// `w`, lower-cased, big-endian in a `u128` (at most 16 bytes; longer words pack to 0).
const fn pack(w: &[u8]) -> u128 {
    if w.len() > 16 {
        return 0;
    }
    let mut b = [0u8; 16];
    let mut i = 0;
    while i < w.len() {
        b[i] = w[i].to_ascii_lowercase();
        i += 1;
    }
    u128::from_be_bytes(b)
}

fn street_word(w: &[u8]) -> bool {
    w.len() >= 2 && w.len() <= 16 && STREET_PACKED.binary_search(&pack(w)).is_ok()
}

/// `w` lower-cased into a buffer, if it is at most 16 bytes long. The word lists below are
/// `match`es on it: one length switch and a comparison or two, where a case-insensitive
/// comparison with every entry cost a few hundred instructions per address.
#[inline(always)]
fn lower16(w: &[u8]) -> Option<([u8; 16], usize)> {
    if w.len() > 16 {
        return None;
    }
    let mut b = [0u8; 16];
    for (d, s) in b.iter_mut().zip(w) {
        *d = s.to_ascii_lowercase();
    }
    Some((b, w.len()))
}

/// Whether `w`, ignoring ASCII case, is in a word list (`list` takes lower case).
#[inline(always)]
fn in_list(w: &[u8], list: impl Fn(&[u8]) -> bool) -> bool {
    lower16(w).is_some_and(|(b, n)| list(&b[..n]))
}

/// French street types that follow the house number (`12 rue de la Paix`), lower case.
fn leading(w: &[u8]) -> bool {
    matches!(
        w,
        b"rue"
            | b"boulevard"
            | b"bd"
            | b"avenue"
            | b"chemin"
            | b"impasse"
            | b"all\x80e"
            | b"allee"
            | b"quai"
            | b"cours"
            | b"place"
            | b"route"
    )
}

/// `rue de la Paix, 75002 Paris`, `avenue des Champs-Élysées 75008 Paris`: a French street
/// written without a house number, found from its postcode (the five digits `i..j`, a space
/// at `j`) and the town after it. Read back from the postcode on the same line, word by word
/// (one space between them, a comma allowed before the postcode): capitalised names and
/// particles only, at least one name, up to a street type (`cours`, a lesson as often as a
/// street, is left out). The span runs from the street type to the end of the town.
#[cold]
#[inline(never)]
fn street_before_postcode(c: Cur<'_>, i: usize, j: usize, floor: usize) -> Option<(usize, usize)> {
    let word_unit =
        |u: &Unit| u.b.is_ascii_alphabetic() || u.b == HIGH || matches!(u.b, b'-' | b'\'');
    // The town: one word, hyphens inside (`Saint-Denis`, `Boulogne-Billancourt`).
    let mut e = j + 1;
    while let Some(u) = c.at(e).filter(word_unit) {
        e += u.len;
    }
    while e > j + 1 && matches!(c.raw[e - 1], b'-' | b'\'') {
        e -= 1;
    }
    let mut k = i;
    k -= c.before(k).filter(|u| u.b == b' ')?.len;
    if let Some(u) = c.before(k).filter(|u| u.b == b',') {
        k -= u.len;
    }
    let mut names = 0;
    for _ in 0..8 {
        // One word, read backwards into `word` (lower case, reversed back below).
        let mut word = [0u8; 16];
        let mut n = 0;
        let mut first = 0;
        while k > floor {
            let Some(u) = c.before(k).filter(word_unit) else {
                break;
            };
            if n == word.len() {
                return None;
            }
            word[n] = u.b.to_ascii_lowercase();
            first = u.b;
            n += 1;
            k -= u.len;
        }
        if n == 0 {
            return None;
        }
        word[..n].reverse();
        let w = &word[..n];
        if leading(w) && w != b"cours" {
            return (names > 0).then_some((k, e));
        }
        // `l'Église`, `d'Alsace`: the name after the elided particle.
        let name = match w {
            [b'l' | b'd', b'\'', ..] => {
                n > 2
                    && c.at(k)
                        .and_then(|a| c.at(k + a.len).map(|q| k + a.len + q.len))
                        .is_some_and(|at| word_capital(c, at))
            }
            _ => first.is_ascii_uppercase() || first == HIGH,
        };
        if name {
            names += 1;
        } else if !particle(w) {
            return None;
        }
        k -= c.before(k).filter(|u| u.b == b' ')?.len;
    }
    None
}

/// Whether the unit at `k` is a capital letter (a non-ASCII letter counts: `Église`).
fn word_capital(c: Cur<'_>, k: usize) -> bool {
    c.at(k)
        .is_some_and(|u| u.b.is_ascii_uppercase() || u.b == HIGH)
}

fn particle(w: &[u8]) -> bool {
    matches!(
        w,
        b"de" | b"du" | b"des" | b"la" | b"le" | b"les" | b"l'" | b"d'" | b"aux" | b"au" | b"et"
    )
}

fn direction(w: &[u8]) -> bool {
    matches!(
        w,
        b"n" | b"s"
            | b"e"
            | b"w"
            | b"ne"
            | b"nw"
            | b"se"
            | b"sw"
            | b"north"
            | b"south"
            | b"east"
            | b"west"
    )
}

fn unit_word(w: &[u8]) -> bool {
    matches!(
        w,
        b"apt"
            | b"apartment"
            | b"suite"
            | b"ste"
            | b"unit"
            | b"fl"
            | b"floor"
            | b"rm"
            | b"room"
            | b"flat"
    )
}

/// Words after a would-be address that make it a heading (case as written).
fn function_word(w: &[u8]) -> bool {
    matches!(
        w,
        b"to"
            | b"for"
            | b"you"
            | b"your"
            | b"that"
            | b"the"
            | b"of"
            | b"with"
            | b"we"
            | b"i"
            | b"it"
            | b"is"
            | b"are"
            | b"can"
            | b"will"
            | b"from"
            | b"this"
            | b"every"
            | b"per"
    )
}

/// German street-name endings in window bytes (`ß` is one non-ASCII unit).
const DE_SUFFIXES: &[&[u8]] = &[
    b"stra\x80e",
    b"strasse",
    b"str.",
    b"weg",
    b"allee",
    b"platz",
    b"gasse",
    b"ring",
    b"damm",
    b"ufer",
    b"chaussee",
    b"steig",
    b"pfad",
    b"markt",
    b"graben",
    b"stieg",
    b"wall",
];

/// The last bytes of [`DE_SUFFIXES`]: most words before a number end in none of them.
static DE_SUFFIX_LAST: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < DE_SUFFIXES.len() {
        let s = DE_SUFFIXES[i];
        t[s[s.len() - 1] as usize] = true;
        i += 1;
    }
    t
};

/// Whether a word says a date of birth follows (lower case, dots removed, one non-ASCII
/// letter as `\x80`): English, German, French, Spanish, Italian, Portuguese, Dutch, Nordic,
/// Polish.
fn birth_word(w: &[u8]) -> bool {
    matches!(
        w,
        b"born"
            | b"birth"
            | b"birthday"
            | b"birthdate"
            | b"dob"
            | b"geburtsdatum"
            | b"geburtstag"
            | b"geboren"
            | b"geb"
            | b"gebdat"
            | b"naissance"
            | b"n\x80"
            | b"n\x80e"
            | b"nacimiento"
            | b"nascita"
            | b"nato"
            | b"nata"
            | b"nascimento"
            | b"geboortedatum"
            | b"f\x80dselsdato"
            | b"f\x80delsedatum"
            | b"urodzenia"
            | b"urodzony"
            | b"urodzona"
    )
}

/// Words allowed between a birth keyword and the date.
fn filler(w: &[u8]) -> bool {
    matches!(
        w,
        b"on"
            | b"am"
            | b"the"
            | b"is"
            | b"was"
            | b"le"
            | b"el"
            | b"il"
            | b"de"
            | b"en"
            | b"at"
            | b"date"
            | b"of"
            | b"den"
            | b"der"
            | b"my"
            | b"his"
            | b"her"
            | b"their"
            | b"its"
            | b"i"
            | b"a"
            | b"dia"
    )
}

/// End of the word (`[A-Za-z0-9]`) starting at `i`, read raw.
fn word_end(c: Cur<'_>, mut i: usize) -> usize {
    while i < c.seg.end && c.raw[i].is_ascii_alphanumeric() {
        i += 1;
    }
    i
}

/// Reads words backwards from `i` (at most 48 units, not below `floor`) and returns where a
/// birth keyword ends, skipping fillers, month names and numbers (`born on 3 March 1985`).
fn keyword_before(c: Cur<'_>, i: usize, floor: usize) -> Option<usize> {
    let mut word = [0u8; 16];
    let mut n = 0; // letters of the current word, reversed
    let mut word_end = i;
    let mut j = i;
    let mut units = 0;
    let raw = c.raw;
    let lo = floor.max(c.seg.start);
    loop {
        // The letters and digits of a word written as is, that end no percent escape (`%4A`):
        // what `bwd` reads them as, without decoding (most words before a number are plain).
        while j > lo && units < 48 {
            let b = raw[j - 1];
            if !b.is_ascii_alphanumeric()
                || (b.is_ascii_hexdigit() && j >= c.seg.start + 3 && raw[j - 3] == b'%')
            {
                break;
            }
            if n == word.len() {
                return None;
            }
            word[n] = b.to_ascii_lowercase();
            n += 1;
            j -= 1;
            units += 1;
        }
        let u = if j > floor && units < 48 {
            c.before(j)
        } else {
            None
        };
        let letter = u.is_some_and(|u| u.b.is_ascii_alphanumeric() || u.b == HIGH || u.b == b'.');
        if letter {
            let u = u?;
            if u.b != b'.' {
                if n == word.len() {
                    return None;
                }
                word[n] = u.b.to_ascii_lowercase();
                n += 1;
            }
            j -= u.len;
            units += 1;
            continue;
        }
        if n > 0 {
            word[..n].reverse();
            let w = &word[..n];
            if birth_word(w) {
                return Some(word_end);
            }
            let skip = filler(w)
                || date::month_of(w).is_some()
                || (w.len() <= 4 && w.iter().all(u8::is_ascii_digit))
                || ordinal(w);
            if !skip {
                return None;
            }
            n = 0;
        }
        let u = u?;
        if matches!(u.b, STOP | b'<' | b'>' | b'"') {
            return None;
        }
        j -= u.len;
        units += 1;
        word_end = j;
    }
}

/// Where an address whose house number starts at `i` starts: at the unit word before the
/// number (`Flat 59Y`, `Studio 5`, `H.No. 89`, `Apt 4`), else at `i`.
fn unit_before(c: Cur<'_>, i: usize, floor: usize) -> usize {
    let Some(sp) = c.before(i).filter(|u| u.b == b' ') else {
        return i;
    };
    let mut word = [0u8; 12];
    let mut n = 0;
    let mut j = i - sp.len;
    while j > floor {
        let Some(u) = c
            .before(j)
            .filter(|u| u.b.is_ascii_alphabetic() || u.b == b'.')
        else {
            break;
        };
        if n == word.len() {
            return i;
        }
        word[n] = u.b.to_ascii_lowercase();
        n += 1;
        j -= u.len;
    }
    // A word, not the end of a longer token (`x.flat 5`).
    if n == 0
        || c.before(j)
            .is_some_and(|u| u.b.is_ascii_alphanumeric() || u.b == HIGH)
    {
        return i;
    }
    word[..n].reverse();
    let unit = matches!(
        trim_end(&word[..n], b"."),
        b"flat" | b"studio" | b"apartment" | b"apt" | b"unit" | b"suite" | b"h.no" | b"hno"
    );
    if unit { j } else { i }
}

/// The text node after the `<br>` (or `<br/>`, `<br />`) that ends this one, from its first
/// byte that is not white space to the next `<`: the line an HTML mail writes after a break.
fn line_after_br(c: Cur<'_>) -> Option<Cur<'_>> {
    let raw = c.raw;
    let at = c.seg.end;
    if c.seg.kind.ctx != Ctx::Text
        || !raw
            .get(at..at + 3)
            .is_some_and(|t| t.eq_ignore_ascii_case(b"<br"))
    {
        return None;
    }
    let mut j = at + 3;
    while raw.get(j) == Some(&b' ') {
        j += 1;
    }
    if raw.get(j) == Some(&b'/') {
        j += 1;
    }
    if raw.get(j) != Some(&b'>') {
        return None;
    }
    j += 1;
    while raw.get(j).is_some_and(u8::is_ascii_whitespace) {
        j += 1;
    }
    let end = memchr::memchr(b'<', &raw[j..]).map_or(raw.len(), |p| j + p);
    (j < end).then_some(Cur {
        raw,
        seg: Seg {
            start: j,
            end,
            kind: c.seg.kind,
        },
    })
}

/// Whether the number written at `start..end` stands alone on its line under a signature:
/// the line above is a closing (`Thanks,`, `Viele Grüße`, `Cordialement,`), or a name
/// (capitalised words: `Vihaan Chopra`, `Ing. Marie-Luise Rudolph B.Sc.`) under a closing.
/// An order or tracking number has a line of its own after a label (`Order number:`), not
/// under a greeting.
#[cold]
#[inline(never)]
fn signature_line(c: Cur<'_>, start: usize, end: usize) -> bool {
    let mut j = end;
    while let Some(u) = c.at(j).filter(|u| matches!(u.b, b' ' | b'\t')) {
        j += u.len;
    }
    if c.at(j).is_some_and(|u| !matches!(u.b, b'\n' | b'\r')) {
        return false;
    }
    let mut j = start;
    while let Some(u) = c.before(j).filter(|u| matches!(u.b, b' ' | b'\t')) {
        j -= u.len;
    }
    let mut buf = [0u8; 48];
    let Some((above, n)) = line_before(c, j, &mut buf) else {
        return false;
    };
    if closing(&buf[..n]) {
        return true;
    }
    if !name_line(&buf[..n]) {
        return false;
    }
    line_before(c, above, &mut buf).is_some_and(|(_, n)| closing(&buf[..n]))
}

/// The line above the one starting at `j` (just after a line break): where it starts and its
/// scan bytes, trimmed of spaces, in `buf` (`None` when it is longer or there is none).
fn line_before(c: Cur<'_>, j: usize, buf: &mut [u8; 48]) -> Option<(usize, usize)> {
    let mut j = j - c.before(j).filter(|u| u.b == b'\n')?.len;
    if let Some(u) = c.before(j).filter(|u| u.b == b'\r') {
        j -= u.len;
    }
    let end = j;
    let mut n = 0;
    while let Some(u) = c.before(j).filter(|u| u.b != b'\n') {
        if n == buf.len() {
            return None;
        }
        buf[n] = u.b;
        n += 1;
        j -= u.len;
    }
    if j == end {
        return None;
    }
    buf[..n].reverse();
    let lead = buf[..n]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    let trail = buf[lead..n]
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    buf.copy_within(lead..n - trail, 0);
    Some((j, n - lead - trail))
}

/// A line of names: one to six words, each capitalised letters (`-`, `.`, `'` inside:
/// `Marie-Luise`, `B.Sc.`, `O'Brien`) or a lower-case particle (`de la`, `van der`).
fn name_line(line: &[u8]) -> bool {
    let mut words = 0;
    for w in line.split(|&b| b == b' ') {
        let letters = !w.is_empty()
            && w.iter()
                .all(|&b| b.is_ascii_alphabetic() || b == HIGH || matches!(b, b'-' | b'.' | b'\''));
        let particle = matches!(
            w,
            b"de" | b"la" | b"du" | b"des" | b"le" | b"van" | b"von" | b"der" | b"den" | b"da"
        );
        if !letters || !(capitalised(w) || (words > 0 && particle)) {
            return false;
        }
        words += 1;
    }
    (1..=6).contains(&words)
}

/// A closing line: at most four words of letters, one of them a closing word (`Thanks,`,
/// `Best regards`, `Viele Grüße`, `Cordialement,`), a `,` or `!` after the last.
fn closing(line: &[u8]) -> bool {
    let line = trim_end(line, b",!");
    let mut words = 0;
    let mut any = false;
    for w in line.split(|&b| b == b' ') {
        if w.is_empty() || !w.iter().all(|&b| b.is_ascii_alphabetic() || b == HIGH) {
            return false;
        }
        words += 1;
        any |= in_list(w, |w| {
            matches!(
                w,
                b"thanks"
                    | b"thank"
                    | b"thx"
                    | b"regards"
                    | b"best"
                    | b"cheers"
                    | b"sincerely"
                    | b"yours"
                    | b"greetings"
                    | b"cordialement"
                    | b"amicalement"
                    | b"salutations"
                    | b"merci"
                    | b"gr\x80\x80e"
                    | b"gr\x80sse"
                    | b"gr\x80\x80en"
                    | b"gr\x80ssen"
                    | b"gru\x80"
                    | b"gruss"
                    | b"danke"
                    | b"lg"
                    | b"vg"
                    | b"mfg"
            )
        });
    }
    any && words <= 4
}

/// What the words just before a number say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// `card`, `Karte`, `carte`, `card=`.
    Card,
    /// An order, invoice, tracking or reference number: not a phone.
    Other,
    /// `phone`, `call me at`, `Tel.`, `rappeler au`, `my new number is`.
    Phone,
}

/// A word of [`cue_before`]'s vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CueWord {
    Card,
    Other,
    Phone,
    /// `number`, `Nummer`, `numéro`: a phone unless the word before says otherwise
    /// (`order number`).
    Weak,
}

/// Reads back from the number at `i`, at most six words and 64 units and never past the end
/// of a clause (a line, a tag, `;`, `!`, `?`, or in a URL the `&` before the parameter), for
/// the nearest word that says what the number is. Words are letters, digits and `. _ - @ ' +`
/// (an email address is one word). Reading is allowed over spans already found: `reach me at
/// alice@example.com or 6395254361`.
fn cue_before(c: Cur<'_>, i: usize) -> Option<Cue> {
    const WORDS: usize = 6;
    let mut word = [0u8; 16];
    let mut n = 0; // bytes of the current word, reversed
    let mut long = false;
    let mut weak = false;
    let mut words = 0;
    let mut units = 0;
    let mut j = i;
    let fallback = |weak: bool| weak.then_some(Cue::Phone);
    loop {
        let u = if units < 64 { c.before(j) } else { None };
        if let Some(u) = u.filter(|u| {
            u.b.is_ascii_alphanumeric()
                || u.b == HIGH
                || matches!(u.b, b'.' | b'_' | b'-' | b'@' | b'\'' | b'+')
        }) {
            if n < word.len() {
                word[n] = u.b.to_ascii_lowercase();
                n += 1;
            } else {
                long = true;
            }
            j -= u.len;
            units += 1;
            continue;
        }
        if n > 0 {
            word[..n].reverse();
            let w = trim_both(&word[..n], b".-_'+");
            match (!long).then(|| cue_word(w)).flatten() {
                Some(CueWord::Card) => return Some(Cue::Card),
                Some(CueWord::Other) => return Some(Cue::Other),
                Some(CueWord::Phone) => return Some(Cue::Phone),
                Some(CueWord::Weak) => weak = true,
                None if weak => return Some(Cue::Phone),
                // A word ending a sentence (`… 0465356908. Total 266436683751`): what came
                // before it is about something else.
                None if word[n - 1] == b'.' => return None,
                None => {}
            }
            words += 1;
            if words == WORDS {
                return fallback(weak);
            }
            n = 0;
            long = false;
        }
        let Some(u) = u else {
            return fallback(weak);
        };
        // A query value: its parameter's name is the word before (`phone=6395254361`).
        if u.b == STOP && words == 0 && n == 0 && j == i && c.raw[j - 1] == b'=' {
            j -= 1;
            units += 1;
            continue;
        }
        if matches!(
            u.b,
            STOP | b'<'
                | b'>'
                | b'"'
                | b'\n'
                | b'\r'
                | b'&'
                | b'?'
                | b'#'
                | b'/'
                | b';'
                | b'!'
                | b'|'
        ) {
            return fallback(weak);
        }
        j -= u.len;
        units += 1;
    }
}

fn trim_both<'w>(mut w: &'w [u8], set: &[u8]) -> &'w [u8] {
    while let [first, rest @ ..] = w
        && set.contains(first)
    {
        w = rest;
    }
    while let [rest @ .., last] = w
        && set.contains(last)
    {
        w = rest;
    }
    w
}

/// The cue words, lower case (`\x80` stands for any non-ASCII letter: `tél` is `t\x80l`).
fn cue_word(w: &[u8]) -> Option<CueWord> {
    Some(match w {
        b"phone" | b"phones" | b"telephone" | b"tel" | b"t\x80l" | b"t\x80l\x80phone"
        | b"mobile" | b"mob" | b"cell" | b"cellphone" | b"call" | b"ring" | b"reach" | b"dial"
        | b"whatsapp" | b"sms" | b"fax" | b"msisdn" | b"phone_number" | b"phonenumber"
        | b"mobile_number" | b"telefon" | b"telefonnummer" | b"handy" | b"handynummer"
        | b"mobil" | b"mobilnummer" | b"rufnummer" | b"rufen" | b"anrufen" | b"erreichen"
        | b"erreichbar" | b"rappeler" | b"appeler" | b"appelez" | b"joindre" | b"portable" => {
            CueWord::Phone
        }
        b"number" | b"nummer" | b"num\x80ro" => CueWord::Weak,
        b"card" | b"cards" | b"carte" | b"karte" | b"kreditkarte" | b"debitkarte"
        | b"kartennummer" | b"maestro" | b"visa" | b"mastercard" | b"amex" | b"debit"
        | b"credit" | b"cc" | b"pan" | b"cardnumber" | b"card_number" => CueWord::Card,
        b"order" | b"orders" | b"po" | b"invoice" | b"inv" | b"tracking" | b"track"
        | b"shipment" | b"parcel" | b"ticket" | b"case" | b"ref" | b"reference" | b"sku"
        | b"id" | b"booking" | b"confirmation" | b"transaction" | b"txn" | b"account" | b"acct"
        | b"iban" | b"isbn" | b"serial" | b"version" | b"build" | b"bestellung"
        | b"bestellnummer" | b"auftrag" | b"auftragsnummer" | b"rechnung" | b"rechnungsnummer"
        | b"kundennummer" | b"sendung" | b"sendungsnummer" | b"referenz" | b"commande"
        | b"facture" | b"r\x80f\x80rence" | b"dossier" => CueWord::Other,
        _ => return None,
    })
}

/// Whether the token ending at `i` mixes letters and digits (`RF90`, `DE89`). The caller
/// makes sure it is not the end of a span already found.
fn continues_code(c: Cur<'_>, i: usize) -> bool {
    if !c.before(i).is_some_and(|u| u.b.is_ascii_digit()) {
        return false;
    }
    let mut j = i;
    for _ in 0..34 {
        match c.before(j) {
            Some(u) if u.b.is_ascii_alphabetic() => return true,
            Some(u) if u.b.is_ascii_digit() => j -= u.len,
            _ => return false,
        }
    }
    false
}

/// Whether the word before `i` (skipping `space : = /`) names a version, which makes a dotted
/// quad after it a version, not an address (`rv:1.9.6.20`).
fn version_before(c: Cur<'_>, i: usize) -> bool {
    let mut j = i;
    while let Some(u) = c
        .before(j)
        .filter(|u| matches!(u.b, b' ' | b':' | b'=' | b'/'))
    {
        j -= u.len;
    }
    let mut word = [0u8; 8];
    let mut n = 0;
    while let Some(u) = c.before(j).filter(|u| u.b.is_ascii_alphabetic()) {
        if n == word.len() {
            return false;
        }
        word[n] = u.b.to_ascii_lowercase();
        n += 1;
        j -= u.len;
    }
    word[..n].reverse();
    matches!(
        &word[..n],
        b"rv"
            | b"v"
            | b"ver"
            | b"version"
            | b"build"
            | b"release"
            | b"firmware"
            | b"fw"
            | b"sdk"
            | b"os"
            | b"kernel"
            | b"chrome"
            | b"firefox"
            | b"safari"
            | b"edge"
            | b"android"
            | b"ios"
            | b"app"
            | b"update"
            | b"patch"
            | b"bios"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_trigger_search_finds_what_the_table_finds() {
        // Every byte value at every position of a chunk, and each run to the end of a slice
        // shorter than a chunk.
        for b in 0..=255u8 {
            for at in 0..40 {
                let mut raw = [b'x'; 40];
                raw[at] = b;
                let want = if TRIGGER[usize::from(b)] { at } else { 40 };
                let next = |from: usize, end: usize| {
                    let mut seen = Seen::NONE;
                    next_trigger(&raw, from, end, &mut seen)
                };
                assert_eq!(next(0, 40), want, "byte {b:#04x} at {at}");
                let from = at.saturating_sub(3);
                assert_eq!(next(from, 40), want, "byte {b:#04x} at {at}");
                assert_eq!(next(0, at), at, "end {at}");
            }
        }
    }

    #[test]
    fn a_search_from_the_chunk_read_before_finds_what_a_fresh_one_finds() {
        // Triggers at a few places of a 70-byte slice; every start, after a search from each
        // earlier start (what the scan does: the next search starts past the last trigger).
        let mut raw = [b'x'; 70];
        for at in [3, 9, 15, 16, 31, 40, 41, 66] {
            raw[at] = b'7';
        }
        for end in [10, 16, 17, 40, 47, 69, 70] {
            for first in 0..end {
                let mut seen = Seen::NONE;
                next_trigger(&raw, first, end, &mut seen);
                for from in first..end {
                    let mut none = Seen::NONE;
                    let fresh = next_trigger(&raw, from, end, &mut none);
                    let mut again = seen;
                    assert_eq!(
                        next_trigger(&raw, from, end, &mut again),
                        fresh,
                        "end {end}, first {first}, from {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_vector_word_search_finds_what_the_byte_loops_find() {
        let fwd = |raw: &[u8], mut i: usize, end: usize| {
            while i < end && word_byte(raw[i]) {
                i += 1;
            }
            i
        };
        let bwd = |raw: &[u8], mut i: usize, lo: usize| {
            while i > lo && word_byte(raw[i - 1]) {
                i -= 1;
            }
            i
        };
        // Every byte value at every position of a 40-byte word, searched from both ends and
        // from the middle, with bounds inside, at and outside the word.
        for b in 0..=255u8 {
            for at in 0..40 {
                let mut raw = [b'w'; 40];
                raw[at] = b;
                for from in [0, 1, at.saturating_sub(1), at, (at + 1).min(40), 20, 39, 40] {
                    for bound in [0, 3, at, 17, 33, 40] {
                        let end = bound.max(from);
                        assert_eq!(
                            run_end::<NonWord>(&raw, from, end),
                            fwd(&raw, from, end),
                            "{b:#04x} {at} {from} {end}"
                        );
                        let lo = bound.min(from);
                        assert_eq!(
                            word_bwd(&raw, from, lo),
                            bwd(&raw, from, lo),
                            "{b:#04x} {at} {from} {lo}"
                        );
                    }
                    // A bound the other side of the start: nothing is read.
                    assert_eq!(run_end::<NonWord>(&raw, from, from.saturating_sub(1)), from);
                    assert_eq!(word_bwd(&raw, from, (from + 1).min(40)), from);
                }
            }
        }
    }

    #[test]
    fn the_vector_colour_reader_ends_where_the_byte_loop_ends() {
        // The byte loop `hex_colour` read the colour's digits with before.
        let want = |c: Cur<'_>, i: usize, floor: usize| {
            let raw = c.raw;
            let mut h = i;
            while h > c.seg.start && i - h < 20 && raw[h - 1].is_ascii_hexdigit() {
                h -= 1;
            }
            if !(h > c.seg.start && raw[h - 1] == b'#' && h >= floor) {
                return None;
            }
            let mut e = i;
            while e < c.seg.end && e - h < 20 && raw[e].is_ascii_hexdigit() {
                e += 1;
            }
            let iban = e - h >= 4
                && raw[h].is_ascii_alphabetic()
                && raw[h + 1].is_ascii_alphabetic()
                && raw[h + 2].is_ascii_digit()
                && raw[h + 3].is_ascii_digit();
            (e - h < 20 && !iban && (e == c.seg.end || !WORD[usize::from(raw[e])])).then_some(e)
        };
        for len in 1..24 {
            for b in 0..=255u8 {
                for pad in [0, 1, 16, 30] {
                    let mut raw = vec![b'#'];
                    raw.extend((0..len).map(|k| b"0a9F3c"[k % 6]));
                    raw.push(b);
                    raw.extend(std::iter::repeat_n(b'e', pad));
                    for end in [raw.len(), len + 1, len.min(3) + 1] {
                        let seg = Seg {
                            start: 0,
                            end,
                            kind: super::super::SegKind {
                                mode: Mode::ENT,
                                ctx: super::super::Ctx::Text,
                            },
                        };
                        let c = Cur { raw: &raw, seg };
                        for i in 1..end.min(len + 1) {
                            assert_eq!(
                                hex_colour(c, i, 0),
                                want(c, i, 0),
                                "{len} {b} {pad} {end} {i}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_vector_domain_search_finds_what_the_tables_find() {
        for b in 0..=255u8 {
            for at in 0..40 {
                let mut raw = [b'd'; 40];
                raw[at] = b;
                for from in [0, at.saturating_sub(1), at, 20, 40] {
                    let mut want = from;
                    while want < raw.len()
                        && PLAIN[usize::from(raw[want])]
                        && domain_byte(raw[want])
                    {
                        want += 1;
                    }
                    assert_eq!(
                        run_end::<NotDomain>(&raw, from, raw.len()),
                        want,
                        "{b:#04x} {at} {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_vector_line_search_finds_what_the_tables_find() {
        let plain_line = |b: u8| PLAIN[usize::from(b)] && line_byte(b);
        for b in 0..=255u8 {
            let mut chunk = [b'w'; 16];
            for at in 0..16 {
                chunk[at] = b;
                let want = if plain_line(b) { 0 } else { 1 << at };
                assert_eq!(line_stops16(&chunk), want, "{b:#04x} at {at}");
                chunk[at] = b'w';
            }
            // Every position of a longer text, with bounds inside, at and past the byte.
            for at in 0..40 {
                let mut raw = [b'w'; 40];
                raw[at] = b;
                for from in [0, at.saturating_sub(1), at, 39, 40] {
                    for lim in [0, at, at + 1, 17, 32, 40] {
                        let mut want = from;
                        while want < lim && plain_line(raw[want]) {
                            want += 1;
                        }
                        assert_eq!(
                            run_end::<LineStops>(&raw, from, lim),
                            want,
                            "{b:#04x} {at} {from} {lim}"
                        );
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// The street window's reader holds what the generic one holds: the same units, each
        /// at the same raw offset, and the same end, in every mode.
        #[test]
        fn the_line_reader_reads_what_the_unit_reader_reads(
            pieces in proptest::collection::vec(proptest::sample::select(&[
                "a", "742 ", "Evergreen Terrace ", "&amp;", "&nbsp;", "&#64;", "%41", "%0A",
                "+", "/", ";", "\n", "<", "\"", "|", "caf\u{e9}", "\u{a0}", "&bogus", "%zz",
                "x", "Suite 4B, ", "0123456789abcdef",
            ][..]), 0..60),
            bits in 0u8..16,
            from in 0usize..8,
            max in proptest::sample::select(&[1usize, 5, 16, 40, 120][..]),
        ) {
            let text = pieces.concat();
            let raw = text.as_bytes();
            let from = from.min(raw.len());
            let mode = [Mode::ENT, Mode::PCT, Mode::PLUS, Mode::URL]
                .into_iter()
                .enumerate()
                .filter(|(k, _)| bits & (1 << k) != 0)
                .fold(Mode::default(), |m, (_, b)| m.with(b));
            let seg = Seg {
                start: 0,
                end: raw.len(),
                kind: super::super::SegKind { mode, ctx: super::super::Ctx::Text },
            };
            let c = Cur { raw, seg };
            let mut a = Finder::new(ClassSet::empty());
            let mut b = Finder::new(ClassSet::empty());
            let ja = a.win.fill(c, from, max, line_byte);
            let jb = b.win.fill_line(c, from, max);
            proptest::prop_assert_eq!(ja, jb);
            proptest::prop_assert_eq!(a.win.bytes(), b.win.bytes());
            for k in 0..=a.win.len {
                proptest::prop_assert_eq!(a.win.raw(k), b.win.raw(k), "unit {}", k);
            }
        }
    }

    proptest::proptest! {
        /// A number the scan steps over before the call is one `digit` steps over to the same
        /// place having found nothing, wherever the segment starts and ends and whatever mode
        /// it reads in.
        #[test]
        fn a_number_skipped_before_the_call_is_one_the_handler_skips(
            pieces in proptest::collection::vec(proptest::sample::select(&[
                "0", "12", "600", "4242", " ", ";", "\"", "'", "<", "<br>", "<BR>", "</td>", ">",
                ":", "px", "8px 0", "Hauptstra\u{df}e ", "Weg ", "ring ", "#", "#e0e0e0", "ab",
                "&amp;", "&nbsp;", "%20", "+", "(", ",", "\n", "\t", "[", "|", "=", "x", ".",
                "Evergreen Terrace", "Flat ", "\u{e9}", "-", "/",
            ][..]), 0..24),
            bits in 0u8..16,
            cut in (0usize..200, 0usize..200),
        ) {
            let text = pieces.concat();
            let raw = text.as_bytes();
            let (a, b) = (cut.0.min(raw.len()), cut.1.min(raw.len()));
            let (start, end) = (a.min(b), a.max(b));
            let mode = [Mode::ENT, Mode::PCT, Mode::PLUS, Mode::URL]
                .into_iter()
                .enumerate()
                .filter(|(k, _)| bits & (1 << k) != 0)
                .fold(Mode::default(), |m, (_, b)| m.with(b));
            let seg = Seg {
                start,
                end,
                kind: super::super::SegKind { mode, ctx: super::super::Ctx::Text },
            };
            let c = Cur { raw, seg };
            let digits = (start..end).filter(|&i| raw[i].is_ascii_digit());
            for i in digits {
                let d = digits4(c, i);
                // The four-at-once read ends where the byte loop ends.
                let mut want = i;
                while want < end && want < i + 4 && raw[want].is_ascii_digit() {
                    want += 1;
                }
                proptest::prop_assert_eq!(d, want, "{:?} at {} in {}..{}", text, i, start, end);
                if !bare_short(c, i, d) {
                    continue;
                }
                for floor in [start, i] {
                    let mut f = Finder::new(crate::detect::spans::SPAN_CLASSES);
                    let mut hits = Vec::new();
                    let mut fl = floor;
                    let next = f.digit(c, i, d, &mut fl, &mut hits);
                    proptest::prop_assert_eq!(next, d, "{:?} at {} in {}..{}", text, i, start, end);
                    proptest::prop_assert!(hits.is_empty());
                    proptest::prop_assert_eq!(fl, floor);
                }
            }
        }
    }

    proptest::proptest! {
        /// A segment the look before the call leaves unread is one the scan finds nothing in,
        /// in every mode and context, whatever surrounds it.
        #[test]
        fn a_segment_left_unread_is_one_the_scan_finds_nothing_in(
            before in proptest::collection::vec(proptest::sample::select(&[
                "", " ", "\"", "'", "=", "<td>", "Flat ", "Hauptstra\u{df}e ", "#", "x", "%", "&", "(",
                "+", "-", ":", "\n",
            ][..]), 0..3),
            number in "[0-9]{1,3}",
            after in proptest::collection::vec(proptest::sample::select(&[
                "", " ", "\"", "'", ";", "<", "<br>", "<BR>Main Street", " Main Street", "</td>",
                "\n12 Main Street", ">", "/", "=", "px", "%", "&amp;", ".", ",", "x",
            ][..]), 0..3),
            bits in 0u8..16,
            ctx in 0usize..4,
        ) {
            let (before, after) = (before.concat(), after.concat());
            let text = format!("{before}{number}{after}");
            let raw = text.as_bytes();
            let mode = [Mode::ENT, Mode::PCT, Mode::PLUS, Mode::URL]
                .into_iter()
                .enumerate()
                .filter(|(k, _)| bits & (1 << k) != 0)
                .fold(Mode::default(), |m, (_, b)| m.with(b));
            let ctx = [
                super::super::Ctx::Text,
                super::super::Ctx::Attr(b'"'),
                super::super::Ctx::Attr(0),
                super::super::Ctx::Plain,
            ][ctx];
            let seg = Seg {
                start: before.len(),
                end: before.len() + number.len(),
                kind: super::super::SegKind { mode, ctx },
            };
            let mut f = Finder::new(crate::detect::spans::SPAN_CLASSES);
            if f.look(raw, seg).is_none() {
                let mut hits = Vec::new();
                f.scan(raw, seg, Seen::NONE, &mut hits);
                proptest::prop_assert!(hits.is_empty(), "{:?}", text);
                proptest::prop_assert_eq!(f.seen, 0);
                proptest::prop_assert_eq!(f.carry, 0);
            }
        }
    }

    proptest::proptest! {
        /// A word the scan steps over before the call is one `word` steps over to the same
        /// place having found nothing (no key, JWT or IBAN, the floor unchanged), wherever the
        /// segment starts and ends and wherever the floor is.
        #[test]
        fn a_name_skipped_before_the_call_is_one_the_word_reader_skips(
            pieces in proptest::collection::vec(proptest::sample::select(&[
                "font-family", "utm_source", "-", "_", "--", "a", "ab", "x-y", ".", ";", ":",
                " ", "\"", "=", "9", "12px", "A", "Z", "de", "DE89", "89", "&#45;", "%2D",
                "border-bottom-left-radius", "sk_live_", "eyJ", "AKIA", "\u{e9}", "#",
                "abcdefghijklmnopqrs", "-webkit-", "_x_", " glpat-abcdefgh", "_ijklmnopqrs",
                " xoxb-abcdefghij", "-klmnopqrst",
            ][..]), 0..24),
            cut in (0usize..240, 0usize..240),
            lift in 0usize..40,
        ) {
            let text = pieces.concat();
            let raw = text.as_bytes();
            let (a, b) = (cut.0.min(raw.len()), cut.1.min(raw.len()));
            // A random segment, and the whole text.
            for (start, end) in [(a.min(b), a.max(b)), (0, raw.len())] {
            let seg = Seg {
                start,
                end,
                kind: super::super::SegKind {
                    mode: Mode::ENT.with(Mode::PCT),
                    ctx: super::super::Ctx::Text,
                },
            };
            let c = Cur { raw, seg };
            for i in start..end {
                for floor in [start, i, (start + lift).min(i), i + 1] {
                    let Some(next) = short_name(c, i, floor) else {
                        continue;
                    };
                    let mut f = Finder::new(crate::detect::spans::SPAN_CLASSES);
                    let mut hits = Vec::new();
                    let mut fl = floor;
                    let want = f.word(c, i, &mut fl, &mut hits);
                    proptest::prop_assert_eq!(next, want, "{:?} at {} in {}..{}, floor {}", text, i, start, end, floor);
                    proptest::prop_assert!(hits.is_empty());
                    proptest::prop_assert_eq!(fl, floor);
                }
            }
            }
        }
    }

    proptest::proptest! {
        /// A `:` the IPv6 handler leaves from its byte checks is one the full reading leaves
        /// from too, to the same place with no span, in every mode.
        #[test]
        fn a_colon_left_by_the_byte_checks_is_one_the_address_reader_leaves(
            pieces in proptest::collection::vec(proptest::sample::select(&[
                ":", "::", "g", "8px", "0", "fe80", "2001", "db8", "1", "a", "e", "z", " ",
                "%3A", "%3a", "&#58;", "&colon;", "%41", "&amp;", ";", "#", "/", ".", "x",
                "padding", "size", "\u{e9}", "+", "=",
            ][..]), 0..16),
            bits in 0u8..16,
            cut in (0usize..120, 0usize..120),
        ) {
            let text = pieces.concat();
            let raw = text.as_bytes();
            let (a, b) = (cut.0.min(raw.len()), cut.1.min(raw.len()));
            let mode = [Mode::ENT, Mode::PCT, Mode::PLUS, Mode::URL]
                .into_iter()
                .enumerate()
                .filter(|(k, _)| bits & (1 << k) != 0)
                .fold(Mode::default(), |m, (_, b)| m.with(b));
            for (start, end) in [(a.min(b), a.max(b)), (0, raw.len())] {
                let seg = Seg {
                    start,
                    end,
                    kind: super::super::SegKind { mode, ctx: super::super::Ctx::Text },
                };
                let c = Cur { raw, seg };
                for i in (start..end).filter(|&i| raw[i] == b':') {
                    let mut f = Finder::new(crate::detect::spans::SPAN_CLASSES);
                    let (mut fl, mut hits) = (start, Vec::new());
                    let got = f.ipv6(c, i, 1, &mut fl, &mut hits);
                    let mut g = Finder::new(crate::detect::spans::SPAN_CLASSES);
                    let (mut gl, mut want_hits) = (start, Vec::new());
                    let want = g.ipv6_around(c, i, i + 1, &mut gl, &mut want_hits);
                    // Where the byte checks answered, the full reading answers the same.
                    if hits.is_empty() && got == i + 1 {
                        proptest::prop_assert_eq!(want, got, "{:?} at {} in {}..{}", text, i, start, end);
                        proptest::prop_assert!(want_hits.is_empty());
                    } else {
                        proptest::prop_assert_eq!(got, want);
                        proptest::prop_assert_eq!(hits.len(), want_hits.len());
                    }
                }
            }
        }
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn css_names_leave_before_the_call_and_keys_do_not() {
        let text = b"<td style=\"padding:0;font-family:Arial;border-bottom-left-radius:4px\">\
                     key sk_live_abcdefghijklmnopqrstuvwx and IBAN de89-3704-0044-0532-0130-00 ok";
        let at = |needle: &[u8]| {
            text.windows(needle.len())
                .position(|w| w == needle)
                .expect("in the text")
        };
        let seg = Seg {
            start: 0,
            end: text.len(),
            kind: super::super::SegKind {
                mode: Mode::ENT.with(Mode::PCT),
                ctx: super::super::Ctx::Text,
            },
        };
        let c = Cur { raw: text, seg };
        let family = at(b"-family");
        assert_eq!(short_name(c, family, 0), Some(family + 7));
        let radius = at(b"-left");
        assert_eq!(
            short_name(c, radius, 0),
            None,
            "a name of 25 bytes is read by `word`"
        );
        assert_eq!(
            short_name(c, radius, radius - 6),
            Some(at(b":4px")),
            "from the floor"
        );
        assert_eq!(short_name(c, at(b"_live"), 0), None);
        assert_eq!(short_name(c, at(b"-3704"), 0), None);
        // A key of lower-case letters with its `_` within sixteen bytes of both ends.
        let key = b"a GitLab token glpat-abcdefgh_ijklmnopqrs here";
        let c = Cur {
            raw: key,
            seg: Seg {
                end: key.len(),
                ..seg
            },
        };
        assert_eq!(short_name(c, 28, 0), None);
        let mut f = Finder::new(crate::detect::spans::SPAN_CLASSES);
        let (mut floor, mut hits) = (0, Vec::new());
        assert_eq!(f.word(c, 28, &mut floor, &mut hits), 41);
        assert!(matches!(
            hits[..],
            [Hit {
                start: 15,
                end: 41,
                origin: Origin::Class(Class::ApiKey),
                ..
            }]
        ));
    }

    #[test]
    fn the_packed_street_words_are_sorted_and_found() {
        assert!(STREET_PACKED.windows(2).all(|w| w[0] < w[1]));
        for w in address::STREET_WORDS {
            assert!(street_word(w.as_bytes()), "{w}");
            assert!(street_word(w.to_ascii_uppercase().as_bytes()), "{w}");
        }
        assert!(!street_word(b"Evergreen"));
    }

    proptest::proptest! {
        /// Where the address reader's plain walk back from an `@` ends, [`no_userinfo_before`]
        /// answers "no password" only where the password reader finds none, in every
        /// decoding and wherever the segment starts.
        #[test]
        fn an_at_the_password_reader_is_not_asked_about_ends_no_userinfo(
            pieces in proptest::collection::vec(proptest::sample::select(&[
                "https://", "ftp://", "//", ":", "mailto:", "MAILTO:", "@", "%40", "%3A", "%3a",
                "%2F", "&#64;", "&", "=", "?", "#", "/", " ", "\"", "'", "<", ">", "\n", "a",
                "deploy", "s3cret", "x.y", "-", "_", "+", "%", "4", "mailt", "amailto:", "?u=",
            ][..]), 0..16),
            cut in 0usize..120,
        ) {
            let text = pieces.concat();
            let raw = text.as_bytes();
            for start in [0, cut.min(raw.len())] {
                let ats = memchr::memchr_iter(b'@', &raw[start..])
                    .map(|k| (start + k, 1))
                    .chain(memchr::memmem::find_iter(&raw[start..], b"%40").map(|k| (start + k, 3)));
                for (at, at_len) in ats {
                    // The walk `email` makes before it asks: plain local-part bytes that end
                    // no percent escape.
                    let mut s = at;
                    while s > start {
                        let b = raw[s - 1];
                        if !(PLAIN[usize::from(b)] && local_byte(b))
                            || (b.is_ascii_hexdigit() && s >= start + 3 && raw[s - 3] == b'%')
                        {
                            break;
                        }
                        s -= 1;
                    }
                    for m in [Mode::PCT.with(Mode::URL), Mode::PCT.with(Mode::ENT), Mode::ENT, Mode::PCT] {
                        if !no_userinfo_before(raw, s, start, at, m) {
                            continue;
                        }
                        let got = super::super::userinfo::password(raw, start, raw.len(), at, at_len, start, m);
                        proptest::prop_assert_eq!(got, None, "{:?} at {} from {} in {:?}", text, at, start, m);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// An address read as word bytes, an `@` and a run of domain bytes is told an address
        /// by [`word_address`] exactly when `is_email` tells it one, with stale bytes in the
        /// window past its end.
        #[test]
        fn the_vouched_address_check_answers_as_is_email(
            first in proptest::sample::select(&[b'a', b'Z', b'0', b'_'][..]),
            local in proptest::collection::vec(proptest::sample::select(&[
                b'a', b'B', b'7', b'_', b'-', b'.',
            ][..]), 0..70),
            domain in proptest::collection::vec(proptest::sample::select(&[
                b'a', b'B', b'7', b'-', b'.', b'x', b'n', b'p', b'd', b'f', b'o', b'r', b'g',
            ][..]), 0..80),
            tail in proptest::sample::select(&[
                "", ".org", ".pdf", ".xn--mller-kva", ".c", ".co.uk", ".7z", ".PNG",
            ][..]),
            stale in proptest::sample::select(&[b'.', b'-', b'0', b'a'][..]),
        ) {
            let mut d = domain;
            d.extend_from_slice(tail.as_bytes());
            while matches!(d.last(), Some(b'.' | b'-')) {
                d.pop();
            }
            let mut w = [stale; W];
            w[0] = first;
            w[1..=local.len()].copy_from_slice(&local);
            let at = local.len() + 1;
            w[at] = b'@';
            w[at + 1..at + 1 + d.len()].copy_from_slice(&d);
            let len = at + 1 + d.len();
            let want = email::is_email(&w[..len]);
            let got = word_address(&w, at, len).unwrap_or(want);
            proptest::prop_assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&w[..len]));
        }
    }
}
