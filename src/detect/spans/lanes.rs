//! Sixteen bytes classified at once (SSE2, part of the x86_64 baseline), for the scanners'
//! byte sets. Each set is a few ranges and single bytes, so a set costs a handful of adds and
//! compares and one move mask; every set built from these has a test that compares it with
//! its byte table on every byte at every position. [`run_end`] reads a run up to such a set,
//! with the set's byte table where SSE2 is not there; [`find_byte`] finds one byte the same
//! way, for the segmenter's delimiters and a link's `=`s.

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use std::ops::BitOr;

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use safe_arch::{
    add_i8_m128i, bitor_m128i, cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, load_unaligned_m128i,
    m128i, move_mask_i8_m128i, set_splat_i8_m128i,
};

/// A 16-byte chunk, loaded for classification.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[derive(Clone, Copy)]
pub(super) struct Lanes(m128i);

/// The lanes a test picked out; `|` joins two picks.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[derive(Clone, Copy)]
pub(super) struct Picked(m128i);

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl Lanes {
    #[inline(always)]
    pub(super) fn load(chunk: &[u8; 16]) -> Self {
        Self(load_unaligned_m128i(chunk))
    }

    /// Lanes holding a byte in `lo..=hi`: one add moves the range to the bottom of the signed
    /// bytes, one compare finds it.
    #[inline(always)]
    pub(super) fn range(self, lo: u8, hi: u8) -> Picked {
        let shifted = add_i8_m128i(self.0, set_splat_i8_m128i(0x80u8.wrapping_sub(lo) as i8));
        Picked(cmp_lt_mask_i8_m128i(
            shifted,
            set_splat_i8_m128i((hi - lo) as i8 - 127),
        ))
    }

    /// Lanes holding `b`.
    #[inline(always)]
    pub(super) fn eq(self, b: u8) -> Picked {
        Picked(cmp_eq_mask_i8_m128i(self.0, set_splat_i8_m128i(b as i8)))
    }

    /// Lanes holding NUL or a byte from 0x80: as signed bytes, those below 1.
    #[inline(always)]
    pub(super) fn nul_or_high(self) -> Picked {
        Picked(cmp_lt_mask_i8_m128i(self.0, set_splat_i8_m128i(1)))
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl Picked {
    /// Bit `k` set for each picked lane `k`.
    #[inline(always)]
    pub(super) fn bits(self) -> u32 {
        move_mask_i8_m128i(self.0) as u32
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl BitOr for Picked {
    type Output = Self;

    #[inline(always)]
    fn bitor(self, other: Self) -> Self {
        Self(bitor_m128i(self.0, other.0))
    }
}

/// A byte set a run of text is read up to: the test for one byte, and the same test on
/// sixteen bytes at once (bit `k` for `chunk[k]`).
pub(super) trait Stops {
    fn stop(b: u8) -> bool;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    fn stops16(chunk: &[u8; 16]) -> u32;
}

/// Where the run from `i` of bytes that are not `S` stops ends, at most `lim` (`lim` is at
/// most `raw.len()`): sixteen bytes at a time while `raw` has them, then byte by byte.
#[inline(always)]
pub(super) fn run_end<S: Stops>(raw: &[u8], mut i: usize, lim: usize) -> usize {
    if i >= lim {
        return i;
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while i < lim
        && let Some(chunk) = raw.get(i..).and_then(|s| s.first_chunk::<16>())
    {
        let m = S::stops16(chunk);
        if m != 0 {
            return (i + m.trailing_zeros() as usize).min(lim);
        }
        i += 16;
    }
    while i < lim && !S::stop(raw[i]) {
        i += 1;
    }
    i.min(lim)
}

/// Where the first `b` in `hay` is. Markup's delimiters are close together (the next tag, the
/// quote closing a value), so the first 64 bytes are compared inline, sixteen at a time
/// (SSE2, part of the x86_64 baseline), and only a longer search pays for `memchr`'s set-up
/// (a mail's inline `style` values and links run past 32 bytes, rarely past 64).
#[inline(always)]
pub(super) fn find_byte(b: u8, hay: &[u8]) -> Option<usize> {
    let mut at = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while at < 64
        && let Some(chunk) = hay.get(at..).and_then(|s| s.first_chunk::<16>())
    {
        use safe_arch::{
            cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
        };
        let eq = cmp_eq_mask_i8_m128i(load_unaligned_m128i(chunk), set_splat_i8_m128i(b as i8));
        let m = move_mask_i8_m128i(eq);
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize);
        }
        at += 16;
    }
    memchr::memchr(b, &hay[at..]).map(|p| at + p)
}

/// Whether `hay` holds any byte of `set`. For a span's own bytes (an address, a number: tens
/// of bytes), where `memchr`'s set-up outweighed the search: sixteen at a time inline, the
/// last chunk overlapping the one before, and byte by byte only below sixteen bytes.
#[inline(always)]
pub(super) fn holds_any<const N: usize>(hay: &[u8], set: [u8; N]) -> bool {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(last) = hay.last_chunk::<16>() {
        let hit = |chunk: &[u8; 16]| {
            let v = Lanes::load(chunk);
            set.iter().fold(0, |m, &b| m | v.eq(b).bits()) != 0
        };
        let (chunks, _) = hay.as_chunks::<16>();
        return chunks.iter().any(hit) || hit(last);
    }
    hay.iter().any(|b| set.contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inline_set_test_answers_as_the_byte_test() {
        for len in 0..70 {
            for at in 0..=len {
                for b in [b'&', b'%', b'+', b'x', 0x80] {
                    let mut hay = vec![b'a'; len];
                    if at < len {
                        hay[at] = b;
                    }
                    let want = hay.iter().any(|x| [b'&', b'%', b'+'].contains(x));
                    assert_eq!(holds_any(&hay, [b'&', b'%', b'+']), want, "{len} {at} {b}");
                    let want = hay.contains(&b'%');
                    assert_eq!(holds_any(&hay, [b'%']), want, "{len} {at} {b}");
                }
            }
        }
    }

    #[test]
    fn the_inline_byte_search_finds_what_memchr_finds() {
        for len in 0..80 {
            for at in 0..=len {
                let mut hay = vec![b'x'; len];
                if at < len {
                    hay[at] = b'<';
                }
                let want = memchr::memchr(b'<', &hay);
                assert_eq!(find_byte(b'<', &hay), want, "len {len}, at {at}");
                for from in [1, 15, 16, 17, 33] {
                    if from <= len {
                        let want = memchr::memchr(b'<', &hay[from..]);
                        assert_eq!(
                            find_byte(b'<', &hay[from..]),
                            want,
                            "len {len}, at {at}, from {from}"
                        );
                    }
                }
            }
        }
    }
}
