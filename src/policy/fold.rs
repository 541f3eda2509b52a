//! Names as recipients compare them.
//!
//! A rule names a field the way the recipient's schema spells it, but recipients do not all
//! compare names exactly: Go's `encoding/json` binds `{"EMAIL":…}` to a field tagged `email`,
//! .NET (`PropertyNameCaseInsensitive`, Json.NET by default) and Jackson
//! (`ACCEPT_CASE_INSENSITIVE_PROPERTIES`) do too, ASP.NET and Java compare form names
//! ignoring case, and PHP renames `.` and space in form names to `_`. A spelling some recipient
//! folds into a selected name must be selected, or it carries the value past the rule. So names
//! are compared folded, as the most permissive of these recipients folds them:
//!
//! - [`member_char`] (JSON member names): ASCII case, and Unicode simple case folding the way
//!   Go folds names (`upper(lower(c))`): the dotless `ı`, the dotted `İ`, the long `ſ` and the
//!   Kelvin sign `K` are `i`, `i`, `s` and `k` (Go 1.21+ folds all four, older Go the last
//!   two, .NET's `ToUpperInvariant` the first three);
//! - [`field_char`] (form and query names): the same, and `.` and space as `_` (PHP).
//!
//! `_` and `-` are not folded in JSON member names: no common binder treats them alike by
//! default (key transforms such as `camelCase` → `snake_case` are the application's schema,
//! which a selector names as the recipient spells it).

use std::borrow::Cow;

/// The non-ASCII characters whose fold is an ASCII letter: (character, fold).
pub const ASCII_ALIASES: [(char, char); 4] =
    [('ı', 'i'), ('İ', 'i'), ('ſ', 's'), ('\u{212A}', 'k')];

/// A character of a JSON member name as the most permissive binder compares it.
#[inline]
pub(crate) fn member_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    match c {
        'ı' | 'İ' => 'i',
        'ſ' => 's',
        '\u{212A}' => 'k',
        _ => simple_fold(c),
    }
}

/// A character of a form or query name as the most permissive server compares it.
#[inline]
pub(crate) fn field_char(c: char) -> char {
    match c {
        '.' | ' ' => '_',
        _ => member_char(c),
    }
}

/// `lower(upper(lower(c)))` with single-character mappings only (Go's `unicode.ToUpper` and
/// `ToLower` are simple mappings; a full mapping that expands leaves the character as it is).
fn simple_fold(c: char) -> char {
    fn single(mut it: impl Iterator<Item = char>, or: char) -> char {
        match (it.next(), it.next()) {
            (Some(x), None) => x,
            _ => or,
        }
    }
    let lower = single(c.to_lowercase(), c);
    let upper = single(lower.to_uppercase(), lower);
    single(upper.to_lowercase(), upper)
}

/// `name` folded with [`member_char`]; borrowed when it is already folded.
pub fn member(name: &str) -> Cow<'_, str> {
    if name.chars().all(|c| member_char(c) == c) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(name.chars().map(member_char).collect())
}

/// Appends `name` folded with [`member_char`] to `out`.
pub(crate) fn push_member(name: &str, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4];
    for c in name.chars() {
        out.extend_from_slice(member_char(c).encode_utf8(&mut buf).as_bytes());
    }
}

/// Whether two JSON member names are the same to the most permissive binder.
pub(crate) fn members_equal(a: &str, b: &str) -> bool {
    a.chars().map(member_char).eq(b.chars().map(member_char))
}

/// How many bytes longer than its fold a spelling of the ASCII name `folded` can be: each
/// `i` or `s` may be spelled with a two-byte alias, each `k` with the three-byte Kelvin sign.
pub(crate) fn max_alias_growth(folded: &str) -> usize {
    folded
        .bytes()
        .map(|b| match b {
            b'i' | b's' => 1,
            b'k' => 2,
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_characters_folding_into_ascii_are_the_aliases() {
        let mut found: Vec<(char, char)> = (0x80..=0x10FFFF)
            .filter_map(char::from_u32)
            .map(|c| (c, member_char(c)))
            .filter(|(_, f)| f.is_ascii())
            .collect();
        found.sort_unstable();
        let mut want = ASCII_ALIASES.to_vec();
        want.sort_unstable();
        assert_eq!(found, want);
        for (c, f) in ASCII_ALIASES {
            assert_eq!(c.len_utf8() - f.len_utf8(), if f == 'k' { 2 } else { 1 });
        }
    }

    #[test]
    fn folding_is_idempotent_and_case_blind() {
        for name in [
            "email",
            "EMAIL",
            "Email",
            "emaıl",
            "EMAİL",
            "ſk",
            "\u{212A}ind",
            "ΣΑΣ",
        ] {
            let once = member(name).into_owned();
            assert_eq!(member(&once), once.as_str(), "{name}");
        }
        assert!(members_equal("EMAIL", "email"));
        assert!(members_equal("user_ıd", "USER_ID"));
        assert!(members_equal("\u{212A}ey", "key"));
        assert!(members_equal("σας", "ΣΑς"));
        assert!(!members_equal("e_mail", "e-mail"));
        assert!(!members_equal("email", "emails"));
    }

    #[test]
    fn field_names_also_fold_php_renaming() {
        let fold = |s: &str| s.chars().map(field_char).collect::<String>();
        assert_eq!(fold("User.Email"), "user_email");
        assert_eq!(fold("user email"), "user_email");
        assert_eq!(fold("emaıl"), "email");
    }
}
