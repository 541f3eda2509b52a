//! File names made of a value: an export named after its recipient
//! (`jane.doe@example.org.pdf`, `report-jane.doe@example.org.csv`), a recording named after
//! the number called (`+44 20 7946 0958.txt`, `call-02079460958.pdf`).
//!
//! A file extension glued to a value would otherwise hide it: after an address's domain it
//! reads as one more label (`org.pdf` makes the domain end in `pdf`, which is no top-level
//! domain), and after a number the `.` continues the digit run into a word. The extensions
//! below are common document, media and data formats, none of them a delegated top-level
//! domain (`.zip`, `.md`, `.py`, `.sh` are, and are left out; `.mov` is both and kept, as the
//! asset names it ends outnumber mailboxes under it), so an address whose domain really ends
//! in one of them cannot be cut short.

/// Whether `label` (without its dot) is a known file extension, ignoring ASCII case.
pub(crate) fn is_extension(label: &[u8]) -> bool {
    if !(2..=4).contains(&label.len()) {
        return false;
    }
    let mut b = [0u8; 4];
    for (d, s) in b.iter_mut().zip(label) {
        *d = s.to_ascii_lowercase();
    }
    matches!(
        &b[..label.len()],
        b"png"
            | b"jpg"
            | b"jpeg"
            | b"gif"
            | b"svg"
            | b"webp"
            | b"avif"
            | b"ico"
            | b"bmp"
            | b"tif"
            | b"tiff"
            | b"heic"
            | b"mp3"
            | b"mp4"
            | b"m4a"
            | b"wav"
            | b"mov"
            | b"webm"
            | b"pdf"
            | b"css"
            | b"js"
            | b"json"
            | b"xml"
            | b"html"
            | b"htm"
            | b"txt"
            | b"csv"
            | b"tsv"
            | b"log"
            | b"doc"
            | b"docx"
            | b"xls"
            | b"xlsx"
            | b"ppt"
            | b"pptx"
            | b"odt"
            | b"ods"
            | b"rtf"
            | b"eml"
            | b"msg"
            | b"ics"
            | b"vcf"
            | b"gz"
            | b"tgz"
            | b"tar"
    )
}

/// The length of a file extension at the start of `s` (the bytes right after a `.`): a known
/// extension that no letter or digit continues (`pdf` in `pdf today`, `txt` in `txt"`), or
/// `None`.
pub(crate) fn extension_at(s: &[u8]) -> Option<usize> {
    let n = s
        .iter()
        .take(5)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    (n <= 4 && is_extension(&s[..n])).then_some(n)
}

/// Whether the numeric run starting at `i` of `s` is glued into a file name
/// (`call-02079460958.pdf`, `invoice_+442079460958.txt`): a `-` or `_` right before it and a
/// letter before that, and the run — bytes `run_byte` accepts, as the caller reads a run —
/// ending in a `.` and a file extension. In a file name those separators part words as
/// spaces do in prose, so the caller reads the run as one that a space opened.
pub(crate) fn glued_run(s: &[u8], i: usize, run_byte: impl Fn(u8) -> bool) -> bool {
    if i < 2 || !matches!(s[i - 1], b'-' | b'_') || !s[i - 2].is_ascii_alphabetic() {
        return false;
    }
    let mut j = i;
    while j < s.len() && j - i <= 64 && run_byte(s[j]) {
        j += 1;
    }
    j > i + 1 && s[j - 1] == b'.' && extension_at(&s[j..]).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_ends_where_no_letter_or_digit_continues_it() {
        assert_eq!(extension_at(b"pdf"), Some(3));
        assert_eq!(extension_at(b"PDF today"), Some(3));
        assert_eq!(extension_at(b"txt\""), Some(3));
        assert_eq!(extension_at(b"docx,"), Some(4));
        assert_eq!(extension_at(b"pdfs"), None);
        assert_eq!(extension_at(b"org"), None);
        assert_eq!(extension_at(b"com/x"), None);
        assert_eq!(extension_at(b"c"), None);
        assert_eq!(extension_at(b""), None);
    }

    #[test]
    fn a_run_is_glued_into_a_file_name_only_between_a_word_and_an_extension() {
        let run = |b: u8| b.is_ascii_digit() || b" -.+()/".contains(&b);
        let at = |s: &str| {
            s.find(|c: char| c.is_ascii_digit() || c == '+')
                .unwrap_or(0)
        };
        for (s, want) in [
            ("call-02079460958.pdf", true),
            ("invoice_+442079460958.txt", true),
            ("rec_020 7946 0958.TXT rest", true),
            // No extension, no word before, or a word continuing the extension.
            ("call-02079460958", false),
            ("call-02079460958.pdfx", false),
            ("v2-02079460958.pdf", false),
            ("-02079460958.pdf", false),
            ("call 02079460958.pdf", false),
            ("ORD-2024-000123", false),
        ] {
            assert_eq!(glued_run(s.as_bytes(), at(s), run), want, "{s}");
        }
    }

    #[test]
    fn no_extension_is_a_common_top_level_domain() {
        for tld in [
            "com", "org", "net", "de", "fr", "uk", "io", "co", "zip", "md", "py", "sh", "app",
            "dev", "ai", "info", "biz", "edu", "gov", "in", "pk", "ch", "at", "us",
        ] {
            assert!(!is_extension(tld.as_bytes()), "{tld}");
        }
    }
}
