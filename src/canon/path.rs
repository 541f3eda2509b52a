//! Request paths reduced to one normalised path before routing, on every route.
//!
//! Servers disagree about paths in many small ways: some remove `..` segments and some do
//! not, some decode `%2F` into a separator, read `\` as `/`, strip `;params` from segments
//! (Tomcat, Jetty, Spring), or decode twice (`%252e`). If piigate routes one reading and the
//! recipient routes another, a request sent through a route without rules can land on an
//! endpoint that another route polices. So the path is normalised once, the route is chosen
//! on the normalised path, and the upstream receives exactly that path. What cannot be
//! normalised into one reading is refused:
//!
//! - percent-escapes of unreserved characters are decoded (RFC 3986 §6.2.2.2), every other
//!   escape is kept with upper-case hex (§6.2.2.1), and characters outside `pchar` are
//!   escaped;
//! - `.` and `..` segments are removed (§5.2.4) and empty segments (`//`) merged, as nginx
//!   does by default;
//! - refused: `%2F`, `%5C`, `\`, `;` (raw or `%3B`), `%25`, NUL and control characters
//!   (raw or encoded), `%` without two hex digits (`%u002e`), escapes that do not decode to
//!   UTF-8 (overlong `%C0%AE`), dot segments written with escapes (`%2e%2e`), and `..` that
//!   climbs above the root or, once routed, out of the route's prefix ([`Normal::check_prefix`]).
//!
//! An already-normal path (the common case) is returned borrowed: no allocation.

use std::borrow::Cow;

use super::percent::{encode_byte, escape_at};
use crate::error::PathFault;

/// A normalised path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normal<'a> {
    /// The path, starting with `/`.
    pub path: Cow<'a, str>,
    /// The fewest segments left on the stack after a `..` removed one (`usize::MAX` when no
    /// `..` was seen): a route whose prefix has more segments was climbed out of.
    floor: usize,
}

impl Normal<'_> {
    /// Refuses a path whose `..` segments left the route's prefix and came back in
    /// (`/segment/../segment/x` for the prefix `/segment`): it named another place on the way.
    ///
    /// # Errors
    /// [`PathFault::ClimbsOut`].
    pub(crate) fn check_prefix(&self, prefix: &str) -> Result<(), PathFault> {
        // A prefix has at most one segment per byte, so a floor that high — every path without
        // `..`, the common case on every request — is settled without counting them.
        if self.floor >= prefix.len() {
            return Ok(());
        }
        let depth = prefix.split('/').filter(|s| !s.is_empty()).count();
        if self.floor < depth {
            return Err(PathFault::ClimbsOut);
        }
        Ok(())
    }
}

/// Normalises `path` (the path of the request target, without the query).
///
/// # Errors
/// The [`PathFault`] that makes the path ambiguous.
pub fn normalize(path: &str) -> Result<Normal<'_>, PathFault> {
    if !path.starts_with('/') {
        return Err(PathFault::NotOriginForm);
    }
    if is_normal(path.as_bytes()) {
        return Ok(Normal {
            path: Cow::Borrowed(path),
            floor: usize::MAX,
        });
    }
    slow(path)
}

/// Characters a normal path keeps literally: `pchar` (RFC 3986 §3.3) without `;` and `%`.
const fn literal(b: u8) -> bool {
    matches!(b,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
        | b'-' | b'.' | b'_' | b'~'
        | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'='
        | b':' | b'@')
}

const fn unreserved(b: u8) -> bool {
    matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~')
}

/// Whether `path` is already normal: literal characters and `/` only, no empty, `.` or `..`
/// segment. One pass, no allocation.
fn is_normal(path: &[u8]) -> bool {
    let mut seg_start = 1;
    for (i, &b) in path.iter().enumerate().skip(1) {
        if b == b'/' {
            if is_dot_or_empty(&path[seg_start..i]) {
                return false;
            }
            seg_start = i + 1;
        } else if !literal(b) {
            return false;
        }
    }
    // The last segment may be empty (a trailing slash), never a dot segment.
    !matches!(&path[seg_start..], b"." | b"..")
}

fn is_dot_or_empty(seg: &[u8]) -> bool {
    matches!(seg, b"" | b"." | b"..")
}

fn push_escaped(out: &mut String, b: u8) {
    out.extend(encode_byte(b).map(char::from));
}

fn slow(path: &str) -> Result<Normal<'_>, PathFault> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len() + 8);
    // Start offsets in `out` of the kept segments (each written as `/segment`).
    let mut stack: Vec<usize> = Vec::new();
    let mut floor = usize::MAX;
    let mut decoded = Vec::new();
    let mut trailing = false;
    let segments = bytes[1..].split(|&b| b == b'/');
    let count = bytes[1..].iter().filter(|&&b| b == b'/').count() + 1;
    for (n, raw) in segments.enumerate() {
        let last = n + 1 == count;
        let start = out.len();
        out.push('/');
        decoded.clear();
        let mut escaped_dot = false;
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            match b {
                b'%' => {
                    let Some(v) = escape_at(raw, i) else {
                        return Err(PathFault::InvalidEscape);
                    };
                    match v {
                        b'/' | b'\\' => return Err(PathFault::EncodedSeparator),
                        b'%' => return Err(PathFault::EncodedPercent),
                        b';' => return Err(PathFault::Semicolon),
                        0..=0x1f | 0x7f => return Err(PathFault::Control),
                        _ if unreserved(v) => {
                            escaped_dot |= v == b'.';
                            out.push(char::from(v));
                        }
                        _ => push_escaped(&mut out, v),
                    }
                    decoded.push(v);
                    i += 3;
                    continue;
                }
                b'\\' => return Err(PathFault::Backslash),
                b';' => return Err(PathFault::Semicolon),
                0..=0x1f | 0x7f => return Err(PathFault::Control),
                _ if literal(b) => out.push(char::from(b)),
                _ => push_escaped(&mut out, b),
            }
            decoded.push(b);
            i += 1;
        }
        if std::str::from_utf8(&decoded).is_err() {
            return Err(PathFault::NotUtf8);
        }
        match decoded.as_slice() {
            b"." | b".." if escaped_dot => return Err(PathFault::EncodedDotSegment),
            b"." => {
                out.truncate(start);
                trailing = last;
            }
            b".." => {
                out.truncate(start);
                let Some(top) = stack.pop() else {
                    return Err(PathFault::ClimbsOut);
                };
                out.truncate(top);
                floor = floor.min(stack.len());
                trailing = last;
            }
            b"" => {
                // `//` merges; an empty last segment is the trailing slash.
                out.truncate(start);
                trailing = last;
            }
            _ => {
                stack.push(start);
                trailing = false;
            }
        }
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(Normal {
        path: Cow::Owned(out),
        floor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, normalised path or the fault)
    const CASES: &[(&str, Result<&str, PathFault>)] = &[
        ("/", Ok("/")),
        ("/v1/batch", Ok("/v1/batch")),
        ("/v1/batch/", Ok("/v1/batch/")),
        // Dot segments go (RFC 3986 §5.2.4); what stays inside the root is fine.
        ("/a/./b", Ok("/a/b")),
        ("/a/b/../c", Ok("/a/c")),
        ("/a/b/..", Ok("/a/")),
        ("/a/b/.", Ok("/a/b/")),
        ("/a/..", Ok("/")),
        ("/..", Err(PathFault::ClimbsOut)),
        ("/a/../../b", Err(PathFault::ClimbsOut)),
        // Empty segments merge (sloppy base-URL joins), as nginx does.
        ("//a//b", Ok("/a/b")),
        ("/a//", Ok("/a/")),
        // Unreserved escapes decode; others keep upper-case hex.
        ("/%7euser/%41%62", Ok("/~user/Ab")),
        ("/a%3a%40%2b", Ok("/a%3A%40%2B")),
        ("/caf%C3%A9", Ok("/caf%C3%A9")),
        // Characters outside pchar are escaped, so every server reads one path.
        ("/{\"a\"}|^[x]", Ok("/%7B%22a%22%7D%7C%5E%5Bx%5D")),
        ("/café", Ok("/caf%C3%A9")),
        // Refused: each is read two ways by real servers.
        ("/a%2fb", Err(PathFault::EncodedSeparator)),
        ("/a%5Cb", Err(PathFault::EncodedSeparator)),
        ("/a\\b", Err(PathFault::Backslash)),
        ("/a/%2e%2e/b", Err(PathFault::EncodedDotSegment)),
        ("/a/.%2E/b", Err(PathFault::EncodedDotSegment)),
        ("/a/%2e/b", Err(PathFault::EncodedDotSegment)),
        ("/a;b", Err(PathFault::Semicolon)),
        ("/a/..;/b", Err(PathFault::Semicolon)),
        ("/a%3Bb", Err(PathFault::Semicolon)),
        ("/a%00b", Err(PathFault::Control)),
        ("/a%0d%0a", Err(PathFault::Control)),
        ("/%252e%252e/", Err(PathFault::EncodedPercent)),
        ("/%u002e", Err(PathFault::InvalidEscape)),
        ("/a%2", Err(PathFault::InvalidEscape)),
        ("/%c0%ae%c0%ae/", Err(PathFault::NotUtf8)),
        ("/%ff", Err(PathFault::NotUtf8)),
        ("*", Err(PathFault::NotOriginForm)),
        // A name with dots is not a dot segment.
        ("/a/.../b", Ok("/a/.../b")),
        ("/a/..b/.c", Ok("/a/..b/.c")),
    ];

    #[test]
    fn normalises_or_refuses() {
        for (input, want) in CASES {
            let got = normalize(input).map(|n| n.path.into_owned());
            assert_eq!(got.as_deref(), want.as_ref().map(|s| *s), "{input}");
        }
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for p in [
            "/",
            "/segment/v1/batch",
            "/a-b_c~d.e/f:g@h!$&'()*+,=",
            "/x/",
        ] {
            assert!(
                matches!(normalize(p).expect("normal").path, Cow::Borrowed(_)),
                "{p}"
            );
        }
    }

    #[test]
    fn climbing_out_of_a_prefix_is_refused() {
        let n = normalize("/segment/../segment/v1").expect("stays under the root");
        assert_eq!(n.path, "/segment/v1");
        assert_eq!(n.check_prefix("/segment"), Err(PathFault::ClimbsOut));
        assert_eq!(n.check_prefix("/"), Ok(()));
        let n = normalize("/segment/v1/../v2").expect("normal");
        assert_eq!(n.check_prefix("/segment"), Ok(()));
        assert_eq!(n.check_prefix("/segment/v1"), Err(PathFault::ClimbsOut));
    }

    #[test]
    fn a_prefix_is_climbed_out_of_exactly_when_the_floor_is_below_its_segment_count() {
        let prefixes = [
            "/",
            "/a",
            "/a/",
            "/a/b",
            "//a//b//",
            "/segment/v1/x",
            "/abc/d/e/f",
        ];
        let paths = [
            "/a/b/c",
            "/a/../a/b",
            "/a/b/../../a/b/c",
            "/a/b/c/../../../a/b/c",
            "/a/b/c/d/e/../f",
            "/segment/v1/x/y",
        ];
        for path in paths {
            let n = normalize(path).expect("stays under the root");
            for prefix in prefixes {
                let depth = prefix.split('/').filter(|s| !s.is_empty()).count();
                let want = if n.floor < depth {
                    Err(PathFault::ClimbsOut)
                } else {
                    Ok(())
                };
                assert_eq!(n.check_prefix(prefix), want, "{path} under {prefix}");
            }
        }
        // The counting itself still decides where a `..` left a floor below the prefix's
        // length in bytes.
        let n = normalize("/a/b/../../a/b/c").expect("normal");
        assert_eq!(n.floor, 0);
        assert_eq!(n.check_prefix("/a"), Err(PathFault::ClimbsOut));
        let n = normalize("/a/b/c/d/e/../f").expect("normal");
        assert_eq!(n.floor, 4);
        assert_eq!(n.check_prefix("/a/b/c/d/e"), Err(PathFault::ClimbsOut));
        assert_eq!(n.check_prefix("/a/b/c/d"), Ok(()));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for (input, want) in CASES {
            if want.is_ok() {
                let once = normalize(input).expect("ok").path.into_owned();
                let twice = normalize(&once).expect("normal output is accepted");
                assert_eq!(twice.path, once, "{input}");
                // Escapes take the careful path even when they are already canonical.
                if !once.contains('%') {
                    assert!(matches!(twice.path, Cow::Borrowed(_)), "{input}");
                }
            }
        }
    }
}
