//! Where a byte offset falls in a text file, for diagnostics that point at a line and column
//! (of a keyring here, of `proxy.toml` in the config's diagnostics).

/// 1-based line and column (in characters) of byte offset `at`.
pub(crate) fn line_col(text: &str, at: usize) -> (usize, usize) {
    // `str::floor_char_boundary` is newer than our MSRV (1.85); walk back by hand.
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
