//! The `Cookie` header, read one way.
//!
//! A route forwards only the cookies it names (`cookie:NAME` rules); everything else the
//! browser attached for the site's origin — the site's own session cookie first of all — is
//! removed before the request leaves. What is forwarded is re-serialised canonically
//! (`name=value; name=value`, RFC 6265 §4.2.1), so the recipient reads exactly the pairs that
//! were policed.
//!
//! Servers disagree about cookie syntax beyond RFC 6265: RFC 2965 parsers (Tomcat's legacy
//! processor, old Python `http.cookies`) also split on `,`; some strip surrounding quotes and
//! unescape `\`; whitespace inside a value ends it for some and not for others. A pair that is
//! only removed cannot leak whatever it contains, so those readings matter only for a pair
//! that is forwarded: its value must be RFC 6265 `cookie-octet`s, optionally inside one pair
//! of quotes. Anything else in a forwarded cookie is refused as ambiguous.

use super::percent::{self, Plus};

/// One `name=value` pair of a `Cookie` header, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair<'a> {
    /// The name, surrounding whitespace removed (empty for a nameless cookie).
    pub name: &'a str,
    /// The value as sent, surrounding whitespace removed.
    pub value: &'a str,
}

/// The pairs of a `Cookie` header value (crumbs already joined, see
/// [`super::headers::join_cookies`]): split on `;`, each at its first `=`. A piece without
/// `=` is a nameless cookie (browsers send `document.cookie = "x"` that way); empty pieces are
/// skipped.
pub fn pairs(header: &str) -> impl Iterator<Item = Pair<'_>> {
    header.split(';').filter_map(|piece| {
        let piece = piece.trim_matches([' ', '\t']);
        if piece.is_empty() {
            return None;
        }
        Some(match piece.split_once('=') {
            Some((n, v)) => Pair {
                name: n.trim_matches([' ', '\t']),
                value: v.trim_matches([' ', '\t']),
            },
            None => Pair {
                name: "",
                value: piece,
            },
        })
    })
}

/// Whether `value` has one reading as a cookie value: RFC 6265 `cookie-octet`s (no control
/// characters, whitespace, `"`, `,`, `;` or `\`), optionally wrapped in one pair of `"`.
pub(crate) fn value_is_unambiguous(value: &str) -> bool {
    let inner = match value.strip_prefix('"') {
        Some(rest) => match rest.strip_suffix('"') {
            Some(inner) => inner,
            None => return false,
        },
        None => value,
    };
    inner.bytes().all(is_cookie_octet)
}

/// Whether `name` can be forwarded as a cookie name: an RFC 9110 token.
pub(crate) fn name_is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// RFC 6265 §4.1.1 `cookie-octet`.
pub(crate) const fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Appends `text` to `out` with every byte that is not a `cookie-octet`, and `%` itself,
/// percent-encoded: what a rule wrote into a cookie value stays one value to every server
/// (and decodes back with `decodeURIComponent`, as the vendors' scripts read their cookies).
pub(crate) fn push_encoded(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        if is_cookie_octet(b) && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(&percent::encode_byte(b));
        }
    }
}

/// `decodeURIComponent`: `%XX` escapes decoded (`+` stays `+`), the result UTF-8. `None` for
/// an escape that is not two hex digits or bytes that are not UTF-8, and for a quoted value
/// (whose reading depends on the server).
pub fn percent_decode(value: &str) -> Option<Vec<u8>> {
    if value.starts_with('"') {
        return None;
    }
    percent::decode_utf8(value, Plus::Literal).map(String::into_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_on_semicolons_and_the_first_equals() {
        let got: Vec<Pair<'_>> =
            pairs("a=1; b = x=y ;;c;d=\"q\"; mp_t_mixpanel=%7B%22a%22%3A1%7D").collect();
        let want = [
            ("a", "1"),
            ("b", "x=y"),
            ("", "c"),
            ("d", "\"q\""),
            ("mp_t_mixpanel", "%7B%22a%22%3A1%7D"),
        ];
        assert_eq!(got.len(), want.len());
        for (g, (n, v)) in got.iter().zip(want) {
            assert_eq!((g.name, g.value), (n, v));
        }
    }

    #[test]
    fn only_cookie_octets_are_one_value() {
        assert!(value_is_unambiguous("abc-123.%7B"));
        assert!(value_is_unambiguous("\"quoted\""));
        assert!(value_is_unambiguous(""));
        for bad in [
            "a,b=1",
            "a b",
            "\"open",
            "a\"b",
            "a\\b",
            "caf\u{e9}",
            "a\tb",
        ] {
            assert!(!value_is_unambiguous(bad), "{bad}");
        }
    }

    #[test]
    fn percent_decoding_is_decode_uri_component() {
        assert_eq!(
            percent_decode("%7B%22e%22%3A%22a%2Bb%40c%22%7D+x").as_deref(),
            Some(&b"{\"e\":\"a+b@c\"}+x"[..])
        );
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%C0%AE"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("\"%7B%7D\""), None);
    }

    #[test]
    fn encoding_keeps_values_single() {
        let mut out = Vec::new();
        push_encoded(b"{\"e\":\"a b,c;\\%\"}", &mut out);
        assert_eq!(out, b"{%22e%22:%22a%20b%2Cc%3B%5C%25%22}");
        assert!(value_is_unambiguous(
            std::str::from_utf8(&out).expect("ascii")
        ));
    }
}
