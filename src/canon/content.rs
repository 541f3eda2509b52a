//! The content headers of a policed request, reduced to one reading.
//!
//! A recipient picks its body parser from `Content-Type` and its decoder from
//! `Content-Encoding`. Servers read duplicated or listed values differently (Go and Node keep
//! the first `Content-Type`, PHP cuts the value at the first `,` `;` or space, Django decodes
//! RFC 2231 `charset*=` parameters), so a policed route accepts exactly one `Content-Type`
//! that parses as one media type with unique parameters, and at most one `Content-Encoding`
//! line. Both are forwarded in a canonical spelling (lower-case type, names and codings, one
//! space after `;` and `,`), so the recipient reads the type piigate policed.

use http::header::{self, HeaderMap, HeaderValue};

use crate::error::{Ambiguity, RejectCode};

/// Checks the content headers and rewrites them into their canonical spelling.
///
/// # Errors
/// [`RejectCode::AmbiguousRequest`] for a repeated, listed or malformed header;
/// [`RejectCode::UnsupportedMediaType`] for a content coding piigate cannot decode.
pub fn canonicalize(headers: &mut HeaderMap) -> Result<(), RejectCode> {
    if let Some(v) = content_type(headers)? {
        headers.insert(header::CONTENT_TYPE, v);
    }
    match content_encoding(headers)? {
        Edit::Keep => {}
        Edit::Remove => {
            headers.remove(header::CONTENT_ENCODING);
        }
        Edit::Set(v) => {
            headers.insert(header::CONTENT_ENCODING, v);
        }
    }
    Ok(())
}

enum Edit {
    Keep,
    Remove,
    Set(HeaderValue),
}

/// The canonical `Content-Type` when it differs from the one received.
fn content_type(headers: &HeaderMap) -> Result<Option<HeaderValue>, RejectCode> {
    let mut all = headers.get_all(header::CONTENT_TYPE).iter();
    let Some(value) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(RejectCode::AmbiguousRequest(Ambiguity::ContentTypeRepeated));
    }
    if is_canonical(value.as_bytes()) {
        return Ok(None);
    }
    let canonical = canonical_media_type(value.as_bytes()).map_err(RejectCode::AmbiguousRequest)?;
    if canonical.as_bytes() == value.as_bytes() {
        return Ok(None);
    }
    HeaderValue::from_str(&canonical)
        .map(Some)
        .map_err(|_| RejectCode::AmbiguousRequest(Ambiguity::ContentTypeMalformed))
}

fn content_encoding(headers: &HeaderMap) -> Result<Edit, RejectCode> {
    let mut all = headers.get_all(header::CONTENT_ENCODING).iter();
    let Some(value) = all.next() else {
        return Ok(Edit::Keep);
    };
    if all.next().is_some() {
        return Err(RejectCode::AmbiguousRequest(
            Ambiguity::ContentEncodingRepeated,
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| RejectCode::UnsupportedMediaType)?;
    let codings = crate::codec::parse(text).map_err(|_| RejectCode::UnsupportedMediaType)?;
    if codings.is_empty() {
        // Only `identity` (or nothing): no coding at all.
        return Ok(Edit::Remove);
    }
    let mut canonical = String::with_capacity(text.len());
    for (i, c) in codings.iter().enumerate() {
        if i > 0 {
            canonical.push_str(", ");
        }
        canonical.push_str(c.as_str());
    }
    if canonical == text {
        return Ok(Edit::Keep);
    }
    HeaderValue::from_str(&canonical)
        .map(Edit::Set)
        .map_err(|_| RejectCode::Internal)
}

/// The common already-canonical spellings, recognised without allocating: a lower-case
/// `type/subtype`, optionally followed by exactly `; charset=utf-8`. A value it accepts is
/// one [`canonicalize`] leaves as it is.
pub(crate) fn is_canonical(v: &[u8]) -> bool {
    let essence = v.strip_suffix(b"; charset=utf-8").unwrap_or(v);
    let mut parts = essence.splitn(2, |&b| b == b'/');
    // One table look-up per byte: the `tchar` match per byte cost ~25 instructions, on every
    // policed request's type.
    let plain = |t: &[u8]| !t.is_empty() && t.iter().all(|&b| CANONICAL_TOKEN[usize::from(b)]);
    matches!((parts.next(), parts.next()), (Some(t), Some(s)) if plain(t) && plain(s))
}

/// The bytes of a canonical type or subtype: `tchar`, less the upper-case letters.
const CANONICAL_TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = tchar(b as u8) && !(b as u8).is_ascii_uppercase();
        b += 1;
    }
    table
};

/// `token` characters (RFC 9110 §5.6.2).
const fn tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

fn ows(v: &[u8], mut i: usize) -> usize {
    while matches!(v.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

fn token(v: &[u8], i: usize) -> usize {
    let mut j = i;
    while v.get(j).is_some_and(|&b| tchar(b)) {
        j += 1;
    }
    j
}

/// Parses `media-type = type "/" subtype *( OWS ";" OWS [ parameter ] )` (RFC 9110 §8.3.1)
/// and writes it canonically: type, subtype and parameter names in lower case, the `charset`
/// value in lower case, `; ` between parameters, values as tokens where they can be.
///
/// # Errors
/// A list (`,` outside a quoted string), a repeated or `name*=` parameter, anything else
/// that is not the grammar.
pub(crate) fn canonical_media_type(v: &[u8]) -> Result<String, Ambiguity> {
    let malformed = Ambiguity::ContentTypeMalformed;
    let mut out = String::with_capacity(v.len());
    let mut i = ows(v, 0);
    let t = token(v, i);
    if t == i || v.get(t) != Some(&b'/') {
        return Err(list_or(v, t, malformed));
    }
    let s = token(v, t + 1);
    if s == t + 1 {
        return Err(list_or(v, s, malformed));
    }
    push_lower(&mut out, &v[i..s]);
    i = s;
    let mut names: Vec<(usize, usize)> = Vec::new();
    loop {
        i = ows(v, i);
        match v.get(i) {
            None => break,
            Some(b';') => i = ows(v, i + 1),
            Some(b',') => return Err(Ambiguity::ContentTypeRepeated),
            Some(_) => return Err(malformed),
        }
        if matches!(v.get(i), None | Some(b';')) {
            continue; // an empty parameter: nothing to keep
        }
        let n = token(v, i);
        if n == i {
            return Err(list_or(v, n, malformed));
        }
        if v[n - 1] == b'*' {
            return Err(Ambiguity::ContentTypeParameter);
        }
        if v.get(n) != Some(&b'=') {
            return Err(malformed);
        }
        let name = &v[i..n];
        if names
            .iter()
            .any(|&(a, b)| v[a..b].eq_ignore_ascii_case(name))
        {
            return Err(Ambiguity::ContentTypeParameter);
        }
        names.push((i, n));
        out.push_str("; ");
        let name_at = out.len();
        push_lower(&mut out, name);
        out.push('=');
        let is_charset = out[name_at..].starts_with("charset=");
        i = n + 1;
        let mut value = Vec::new();
        if v.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match v.get(i) {
                    None => return Err(malformed),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&q) = v.get(i + 1) else {
                            return Err(malformed);
                        };
                        value.push(q);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            let e = token(v, i);
            if e == i {
                return Err(list_or(v, e, malformed));
            }
            value.extend_from_slice(&v[i..e]);
            i = e;
        }
        if value
            .iter()
            .any(|&b| b < 0x20 && b != b'\t' || b == 0x7f || b >= 0x80)
        {
            return Err(malformed);
        }
        if is_charset {
            value.make_ascii_lowercase();
        }
        if !value.is_empty() && value.iter().all(|&b| tchar(b)) {
            push_lower_if(&mut out, &value, false);
        } else {
            out.push('"');
            for &b in &value {
                if b == b'"' || b == b'\\' {
                    out.push('\\');
                }
                out.push(char::from(b));
            }
            out.push('"');
        }
    }
    Ok(out)
}

/// A `,` where a token should be means a list of media types.
fn list_or(v: &[u8], at: usize, other: Ambiguity) -> Ambiguity {
    if v[at.min(v.len())..].trim_ascii_start().first() == Some(&b',') {
        Ambiguity::ContentTypeRepeated
    } else {
        other
    }
}

fn push_lower(out: &mut String, bytes: &[u8]) {
    push_lower_if(out, bytes, true);
}

fn push_lower_if(out: &mut String, bytes: &[u8], lower: bool) {
    for &b in bytes {
        out.push(char::from(if lower { b.to_ascii_lowercase() } else { b }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (Content-Type, canonical or the rule broken)
    const TYPES: &[(&str, Result<&str, Ambiguity>)] = &[
        ("application/json", Ok("application/json")),
        (
            "Application/JSON;charset=UTF-8",
            Ok("application/json; charset=utf-8"),
        ),
        (
            "application/json ; charset=\"utf-8\"",
            Ok("application/json; charset=utf-8"),
        ),
        (
            "text/plain;;charset=UTF-8;",
            Ok("text/plain; charset=utf-8"),
        ),
        (
            "application/vnd.api+json; ext=\"a b\"",
            Ok("application/vnd.api+json; ext=\"a b\""),
        ),
        // Two types in one line: Go and Node read one, PHP another.
        (
            "application/json, application/x-www-form-urlencoded",
            Err(Ambiguity::ContentTypeRepeated),
        ),
        (
            "application/json,text/plain",
            Err(Ambiguity::ContentTypeRepeated),
        ),
        (
            "text/plain; charset=utf-8, application/json",
            Err(Ambiguity::ContentTypeRepeated),
        ),
        // Parameters: one reading each.
        (
            "text/plain; charset=utf-8; charset=utf-7",
            Err(Ambiguity::ContentTypeParameter),
        ),
        (
            "text/plain; charset=utf-8; CHARSET=latin1",
            Err(Ambiguity::ContentTypeParameter),
        ),
        (
            "text/plain; charset*=utf-8''utf-7",
            Err(Ambiguity::ContentTypeParameter),
        ),
        // Not the grammar.
        ("application/", Err(Ambiguity::ContentTypeMalformed)),
        ("json", Err(Ambiguity::ContentTypeMalformed)),
        (
            "application/json charset=utf-8",
            Err(Ambiguity::ContentTypeMalformed),
        ),
        (
            "application/json; charset",
            Err(Ambiguity::ContentTypeMalformed),
        ),
        (
            "application/json; charset=\"utf-8",
            Err(Ambiguity::ContentTypeMalformed),
        ),
        ("application /json", Err(Ambiguity::ContentTypeMalformed)),
    ];

    #[test]
    fn one_media_type_in_one_spelling() {
        for (input, want) in TYPES {
            let got = canonical_media_type(input.as_bytes());
            assert_eq!(got.as_deref(), want.as_ref().map(|s| *s), "{input}");
            if let Ok(c) = &got {
                assert_eq!(
                    canonical_media_type(c.as_bytes()).as_ref(),
                    Ok(c),
                    "{input}"
                );
            }
        }
    }

    /// The fast path's table says canonical exactly for the bytes of a canonical token, and
    /// what it lets through is what the full reading would have left as it came.
    #[test]
    fn the_fast_path_passes_only_canonical_types() {
        for b in 0..=255u8 {
            let lower_tchar = tchar(b) && !b.is_ascii_uppercase();
            assert_eq!(
                CANONICAL_TOKEN[usize::from(b)],
                lower_tchar,
                "byte {b:#04x}"
            );
            for v in [
                [b"text/a".as_slice(), &[b], b"b"].concat(),
                [&[b][..], b"/json; charset=utf-8"].concat(),
            ] {
                assert_eq!(is_canonical(&v), lower_tchar, "{v:?}");
                if lower_tchar {
                    let canonical = canonical_media_type(&v).expect("canonical");
                    assert_eq!(canonical.as_bytes(), v.as_slice());
                }
            }
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn repeated_content_headers_are_refused() {
        let mut h = headers(&[
            ("content-type", "application/json"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        assert_eq!(
            canonicalize(&mut h),
            Err(RejectCode::AmbiguousRequest(Ambiguity::ContentTypeRepeated))
        );
        let mut h = headers(&[("content-encoding", "gzip"), ("content-encoding", "br")]);
        assert_eq!(
            canonicalize(&mut h),
            Err(RejectCode::AmbiguousRequest(
                Ambiguity::ContentEncodingRepeated
            ))
        );
    }

    #[test]
    fn codings_are_one_canonical_list() {
        let cases = [
            ("gzip", Some("gzip")),
            ("GZIP", Some("gzip")),
            ("x-gzip , br", Some("gzip, br")),
            ("identity", None),
            ("gzip,, identity", Some("gzip")),
        ];
        for (input, want) in cases {
            let mut h = headers(&[("content-encoding", input)]);
            canonicalize(&mut h).expect("supported");
            let got = h
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().expect("ascii"));
            assert_eq!(got, want, "{input}");
        }
        let mut h = headers(&[("content-encoding", "compress")]);
        assert_eq!(canonicalize(&mut h), Err(RejectCode::UnsupportedMediaType));
    }
}
