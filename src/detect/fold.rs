//! Characters a reader folds before reading: the same address or number written with
//! look-alike characters.
//!
//! `ottilie＠example．org` (fullwidth forms, what an East Asian input method types), a card
//! grouped by no-break or thin spaces, an address split by a soft hyphen or a zero-width
//! space: the detectors read ASCII and see none of them, while every reader does — a person
//! sees the address, and Unicode's compatibility normalisation (NFKC, which search indexes,
//! mail systems and identity providers apply) folds the fullwidth forms and the spaces to
//! ASCII. Detection reads such a value a second time folded ([`fold`]): fullwidth ASCII to
//! ASCII, the Unicode spaces to a space, the invisible format characters (soft hyphen,
//! zero-width space and joiners, word joiner, byte-order mark) removed, and the few
//! look-alikes of `@`, `.` and `-` NFKC folds or a reader reads as them to those.
//!
//! Only a value holding one of these characters pays (a byte search for their lead bytes).
//! Folding writes into a fixed buffer: a longer value is read in overlapping windows, each
//! longer than any datum the detectors accept inside text, so nothing is lost at a seam.

/// Bytes of folded text read at once.
pub(crate) const WINDOW: usize = 1024;

/// Input bytes two consecutive windows share: more than the longest email (254 bytes) or any
/// number the detectors read in text, written with three-byte characters.
pub(crate) const OVERLAP: usize = 3 * 256;

/// Whether `s` may hold a character [`fold`] changes: the lead bytes of U+00A0–U+00AD,
/// U+2000–U+206F, U+3000 and U+FE50–U+FF5E (and U+180E, U+FEFF).
#[inline]
pub(crate) fn foldable(s: &[u8]) -> bool {
    memchr::memchr3(0xC2, 0xE2, 0xEF, s).is_some() || memchr::memchr2(0xE3, 0xE1, s).is_some()
}

/// What a reader reads for `c`: `Some(Some(b))` an ASCII byte, `Some(None)` nothing (an
/// invisible character), `None` the character itself.
fn folded(c: char) -> Option<Option<u8>> {
    let cp = c as u32;
    Some(match cp {
        // Fullwidth ASCII: `＠` `．` `０`–`９` `Ａ`–`ｚ`.
        0xFF01..=0xFF5E => Some((cp - 0xFEE0) as u8),
        // No-break, en/em/thin/hair and the other fixed-width spaces, ideographic space.
        0xA0 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => Some(b' '),
        // Soft hyphen, zero-width space, non-joiner, joiner, word joiner, BOM, Mongolian vowel
        // separator: invisible, and dropped by the readers that render text.
        0xAD | 0x200B..=0x200D | 0x2060 | 0xFEFF | 0x180E => None,
        // Small and fullwidth look-alikes NFKC folds to ASCII.
        0xFE6B => Some(b'@'),
        0xFE52 | 0x2024 => Some(b'.'),
        0xFE63 => Some(b'-'),
        // Hyphens and dashes a reader reads as a hyphen between digits.
        0x2010..=0x2013 | 0x2212 => Some(b'-'),
        _ => return None,
    })
}

/// What the span scanner folds inside a text: [`folded`] restricted to characters whose reading
/// cannot change the text's structure. A fullwidth `＜`, `＆`, `％` or `＝` stays as it is
/// (folded, it would open a tag, an entity, an escape or a URL parameter that is not there);
/// letters, digits, the spaces, the invisible characters and the punctuation of an address
/// or a number fold.
pub(crate) fn folded_in_text(c: char) -> Option<Option<u8>> {
    match folded(c)? {
        Some(b) if b.is_ascii_alphanumeric() || b" @.-_+(),:".contains(&b) => Some(Some(b)),
        Some(_) => None,
        None => Some(None),
    }
}

/// Folds `s` from byte `from` into `out` until `out` is full or `s` ends. Returns how many
/// bytes of `out` hold folded text, how far into `s` it reached, and whether any character
/// was folded. `from` must be at a character boundary; the reach always is one.
pub(crate) fn fold(s: &str, from: usize, out: &mut [u8; WINDOW]) -> (usize, usize, bool) {
    let mut n = 0;
    let mut changed = false;
    let rest = s.get(from..).unwrap_or_default();
    for (i, c) in rest.char_indices() {
        let width = c.len_utf8();
        match folded(c) {
            Some(b) => {
                if n + 1 > WINDOW {
                    return (n, from + i, changed);
                }
                changed = true;
                if let Some(b) = b {
                    out[n] = b;
                    n += 1;
                }
            }
            None => {
                if n + width > WINDOW {
                    return (n, from + i, changed);
                }
                c.encode_utf8(&mut out[n..n + width]);
                n += width;
            }
        }
    }
    (n, s.len(), changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &str) -> String {
        let mut out = [0u8; WINDOW];
        let (n, reach, _) = fold(s, 0, &mut out);
        assert_eq!(reach, s.len());
        String::from_utf8(out[..n].to_vec()).expect("folding keeps UTF-8")
    }

    #[test]
    fn look_alikes_fold_to_what_a_reader_reads() {
        assert_eq!(all("ottilie＠example．org"), "ottilie@example.org");
        assert_eq!(
            all("４２４２\u{a0}4242\u{2009}4242 4242"),
            "4242 4242 4242 4242"
        );
        assert_eq!(
            all("otti\u{ad}lie\u{200b}@ex\u{2060}ample.org"),
            "ottilie@example.org"
        );
        assert_eq!(all("Tromsø — 9008"), "Tromsø — 9008");
    }

    #[test]
    fn text_folding_leaves_markup_escapes_and_delimiters_alone() {
        for c in [
            '＜', '＞', '＆', '％', '＝', '＂', '＇', '＃', '／', '？', '；',
        ] {
            assert_eq!(folded_in_text(c), None, "{c}");
        }
        for (c, b) in [
            ('＠', b'@'),
            ('．', b'.'),
            ('７', b'7'),
            ('ｋ', b'k'),
            ('＋', b'+'),
        ] {
            assert_eq!(folded_in_text(c), Some(Some(b)), "{c}");
        }
        assert_eq!(folded_in_text('\u{200b}'), Some(None));
        assert_eq!(folded_in_text('é'), None);
    }

    #[test]
    fn a_long_text_folds_in_windows_at_character_boundaries() {
        let s = "ｘ".repeat(1500);
        let mut out = [0u8; WINDOW];
        let (n, reach, changed) = fold(&s, 0, &mut out);
        assert!(changed && n == WINDOW && reach == WINDOW * 3);
        assert!(s.is_char_boundary(reach));
        let s = "é".repeat(700);
        let (n, reach, changed) = fold(&s, 0, &mut out);
        assert!(!changed && n == WINDOW && reach == WINDOW);
    }
}
