//! Wrapped documents: decode a selected value, police the document inside it, encode it back.
//!
//! A [`Wrap`] (compiled from a selector chain such as `form:data=>base64=>$..email`) says which
//! codings to remove and what the decoded text is. [`rewrite_wrapped`] works on the value's
//! text — the caller has already removed its container's escaping (JSON string escapes, form
//! percent-encoding) and puts the result back in it. Nothing changed inside: the caller
//! forwards the value byte for byte. Something changed: the new document is encoded with the
//! codings it came in, in the same alphabet and with the same padding.
//!
//! # One reading (docs/BOUNDARY.md)
//!
//! Every value is read the way its recipient reads it, or refused:
//!
//! - **base64**: only the alphabet the chain names (`base64`: `A–Z a–z 0–9 + /`, `base64url`:
//!   `… - _`). A value with characters of the other alphabet is ambiguous — Node and Apache
//!   Commons decode both, Python's default decoder drops them, strict decoders refuse — and
//!   so is whitespace inside it (skipped by lenient decoders, refused by strict ones). Padding
//!   is either complete (`=` or `==` making the length a multiple of 4) or absent; `=`
//!   anywhere else, the wrong number of `=`, or a length of 4n+1 is not base64. Unused low
//!   bits in the last character are ignored (every lenient decoder does; no encoder sets
//!   them). A rewritten value keeps the padding it came with; one whose length needed none
//!   says nothing, and gets the alphabet's convention: padded for `base64` (Python's
//!   `b64decode`, which Mixpanel-era servers use, refuses a missing pad), unpadded for
//!   `base64url` (Snowplow and JWT-style producers strip it, and its readers accept both).
//! - **`base64?`**: a value starting with `{` or `[` is JSON text (no base64 string starts
//!   with either); anything else is base64.
//! - **URLs**: the query is the text after the first `?` up to the first `#`, which every URL
//!   parser agrees on. Refused: control characters anywhere and spaces at either end (WHATWG
//!   parsers strip them, others keep them), a `:` before the first `/`, `?` or `#` that does
//!   not end a valid scheme, and an encoded `?` (`%3F`) before the query — a doubly-encoded
//!   URL, whose query only a reader that decodes it first would see. Parameters a
//!   single-page app keeps in the fragment (`#/signup?email=…`) are not in the query.
//! - **query strings** are read in the form grammar (`rewrite::form`), with one leading `?`
//!   skipped (`URLSearchParams` does the same), so the same pairs are refused as ambiguous.
//! - **decoded bytes** must be UTF-8, and a JSON document must be RFC 8259 JSON.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

use super::form::rewrite_form;
use super::json::rewrite_json;
use super::{Limits, Outcome, RewriteError};
use crate::canon::percent;
use crate::detect::{Class, KeyHint};
use crate::error::{Ambiguity, WrapFault};
use crate::policy::action::{Action, Applied, Leaf, LeafKind, password_treatment};
use crate::policy::params::Params;
use crate::policy::{ApplyCx, Coding, DetectPolicy, FieldPlan, Inner, Wrap};

/// Polices the document inside `text` (a selected value, its container's escaping removed)
/// with `wrap`. On [`Outcome::Rewritten`] the new value's text, encoded as it came, has been
/// appended to `out`; on [`Outcome::Unchanged`] `out` is untouched and the value stays as it
/// was, byte for byte.
///
/// # Errors
/// [`RewriteError::Wrapped`] when the value does not decode as the chain says,
/// [`RewriteError::Ambiguous`] when it decodes more than one way, and whatever the inner
/// document's rewriter refuses.
pub(crate) fn rewrite_wrapped(
    text: &str,
    wrap: &Wrap,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    super::appending(out, |out| {
        decode_then(text, &wrap.codings, &wrap.inner, limits, cx, out)
    })
}

fn decode_then(
    text: &str,
    codings: &[Coding],
    inner: &Inner,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    let Some((&Coding::Base64 { url_safe, or_json }, rest)) = codings.split_first() else {
        return police(text, inner, limits, cx, out);
    };
    if or_json && matches!(text.as_bytes().first(), Some(b'{' | b'[')) {
        return decode_then(text, rest, inner, limits, cx, out);
    }
    let (decoded, padding) = decode_base64(text, url_safe)?;
    let mut plain = Vec::new();
    match decode_then(&decoded, rest, inner, limits, cx, &mut plain)? {
        Outcome::Unchanged => Ok(Outcome::Unchanged),
        Outcome::Rewritten => {
            let padded = match padding {
                Padding::Padded => true,
                Padding::Unpadded => false,
                Padding::Unknown => !url_safe,
            };
            let mut encoded = String::new();
            encoder(url_safe, padded).encode_string(&plain, &mut encoded);
            out.extend_from_slice(encoded.as_bytes());
            Ok(Outcome::Rewritten)
        }
    }
}

/// The text of one base64 layer, read as the module docs say, and the padding it came with.
fn decode_base64(text: &str, url_safe: bool) -> Result<(String, Padding), RewriteError> {
    let padding = check_base64(text.as_bytes(), url_safe)?;
    let bytes = decoder(url_safe)
        .decode(text)
        .map_err(|_| RewriteError::Wrapped(WrapFault::Base64))?;
    let decoded =
        String::from_utf8(bytes).map_err(|_| RewriteError::Wrapped(WrapFault::NotUtf8))?;
    Ok((decoded, padding))
}

/// The document inside `text` (a value, its container's escaping removed) after `codings`,
/// exactly as [`rewrite_wrapped`] hands it to the inner rewriter: what a pre-pass reads
/// (the subjects of a body a form field holds) is what the rewrite polices, offsets included.
///
/// # Errors
/// As [`rewrite_wrapped`] refuses a value that does not decode.
pub(crate) fn unwrap_text(text: &str, codings: &[Coding]) -> Result<String, RewriteError> {
    let mut text = text.to_owned();
    for &Coding::Base64 { url_safe, or_json } in codings {
        if or_json && matches!(text.as_bytes().first(), Some(b'{' | b'[')) {
            continue;
        }
        text = decode_base64(&text, url_safe)?.0;
    }
    Ok(text)
}

/// The document itself: JSON, a query string, or the query of a URL.
fn police(
    text: &str,
    inner: &Inner,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    match inner {
        Inner::Text(rule) => {
            let leaf = Leaf {
                text,
                kind: LeafKind::String,
                field: "",
            };
            let start = out.len();
            match cx.treat(&rule.action, rule.class, &leaf, out)? {
                Applied::Kept => {
                    out.truncate(start);
                    Ok(Outcome::Unchanged)
                }
                // Dropped: nothing is left of the text, and its coding of nothing is empty.
                _ => Ok(Outcome::Rewritten),
            }
        }
        Inner::Json(plan) => {
            rewrite_json(text.as_bytes(), plan, limits, cx, out).map_err(|e| match e {
                RewriteError::Malformed { .. } => RewriteError::Wrapped(WrapFault::NotJson),
                other => other,
            })
        }
        Inner::Query(fields) => {
            let query = text.strip_prefix('?');
            let prefix = usize::from(query.is_some());
            splice_query(text, prefix, text.len(), fields, limits, cx, out)
        }
        Inner::Url(fields) => {
            let mut spliced = Vec::new();
            let text = match url_query(text)? {
                Some((from, to))
                    if splice_query(text, from, to, fields, limits, cx, &mut spliced)?
                        == Outcome::Rewritten =>
                {
                    // The query was rewritten from UTF-8 text into UTF-8 text.
                    std::str::from_utf8(&spliced)
                        .map_err(|_| RewriteError::Wrapped(WrapFault::NotUtf8))?
                }
                _ => text,
            };
            let outside = police_outside_query(text, fields, cx, out)?;
            if outside == Outcome::Unchanged && !spliced.is_empty() {
                out.extend_from_slice(&spliced);
                return Ok(Outcome::Rewritten);
            }
            Ok(outside)
        }
    }
}

/// The userinfo, the path and the fragment of a URL a chain selects, on a route with
/// detection: read by the detector like any unselected value, since they carry the person as
/// often as the query does (`/users/kai@example.org/settings`, a single-page app's
/// `#/signup?email=…`, `https://kai%40example.org:pw@host/`). A part
/// found to hold personal data gets the route's action for what was found: the `text` scrub
/// replaces only the spans; any other action replaces the whole part (the scheme, the host
/// and the query stay; a userinfo replaced by nothing takes its `@` with it). Replacements are percent-encoded where a URL needs it. On
/// [`Outcome::Rewritten`] the whole URL has been appended to `out`.
fn police_outside_query(
    text: &str,
    fields: &FieldPlan,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    let Some(detect) = fields.unselected.detect.as_deref() else {
        return Ok(Outcome::Unchanged);
    };
    if cx.collecting() {
        return Ok(Outcome::Unchanged);
    }
    let b = text.as_bytes();
    let hash = memchr::memchr(b'#', b).unwrap_or(b.len());
    let path_end = memchr::memchr(b'?', &b[..hash]).unwrap_or(hash);
    // After `scheme://authority`, or from the start of a relative reference.
    let authority = memchr::memmem::find(&b[..path_end], b"://").map(|p| p + 3);
    let path_start = match authority {
        Some(a) => b[a..path_end]
            .iter()
            .position(|&c| c == b'/')
            .map_or(path_end, |i| a + i),
        None => 0,
    };
    // The userinfo runs to the authority's *last* `@`, as URL parsers read it:
    // `https://kai@example.org@host/` is the user `kai@example.org` at `host`.
    let userinfo =
        authority.and_then(|a| memchr::memrchr(b'@', &b[a..path_start]).map(|at| (a, a + at)));
    let user = match userinfo {
        Some((from, to)) if from < to => police_userinfo(&text[from..to], detect, fields, cx)?,
        _ => None,
    };
    let path = police_url_part(&text[path_start..path_end], "(path)", detect, fields, cx)?;
    let fragment = match text.get(hash + 1..) {
        Some(f) if !f.is_empty() => police_url_part(f, "(fragment)", detect, fields, cx)?,
        _ => None,
    };
    if user.is_none() && path.is_none() && fragment.is_none() {
        return Ok(Outcome::Unchanged);
    }
    match (userinfo, &user) {
        (Some((from, to)), Some(u)) => {
            out.extend_from_slice(&b[..from]);
            // Nothing left of the userinfo: its `@` goes with it.
            if !u.is_empty() {
                out.extend_from_slice(u);
                out.push(b'@');
            }
            out.extend_from_slice(&b[to + 1..path_start]);
        }
        _ => out.extend_from_slice(&b[..path_start]),
    }
    match &path {
        Some(p) => out.extend_from_slice(p),
        None => out.extend_from_slice(&b[path_start..path_end]),
    }
    out.extend_from_slice(&b[path_end..hash]);
    match &fragment {
        Some(f) if f.is_empty() => {}
        Some(f) => {
            out.push(b'#');
            out.extend_from_slice(f);
        }
        None => out.extend_from_slice(&b[hash..]),
    }
    Ok(Outcome::Rewritten)
}

/// One part of a URL (its path or its fragment) as an unselected value: `None` when it stays
/// as it is, else its replacement, encoded for a URL (a path keeps its leading `/`).
fn police_url_part(
    part: &str,
    name: &str,
    detect: &DetectPolicy,
    fields: &FieldPlan,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RewriteError> {
    let Some(hit) = detect.detector.classify_hinted(KeyHint::default(), part) else {
        return Ok(None);
    };
    let class = hit.class;
    let mut path = String::with_capacity(fields.unselected.root.len() + name.len());
    path.push_str(&fields.unselected.root);
    path.push_str(name);
    cx.detected.record(&path, class);
    if fields.unselected.drop {
        cx.withhold(Some(class));
        return Ok(Some(Vec::new()));
    }
    let Some(action) = detect.action_for(hit) else {
        cx.observe(class);
        return Ok(None);
    };
    let leaf = Leaf {
        text: part,
        kind: LeafKind::String,
        field: name,
    };
    let mut plain = Vec::new();
    let mut applied = cx.treat(action, Some(class), &leaf, &mut plain)?;
    let mut whole = !matches!(action, Action::Scrub(_));
    // A `scrub` that found none of what the detector saw must not forward it: the class's
    // action takes the whole part.
    if applied == Applied::Kept
        && matches!(action, Action::Scrub(_))
        && let Some(action) = detect.action(class)
    {
        plain.clear();
        applied = cx.treat(action, Some(class), &leaf, &mut plain)?;
        whole = true;
    }
    if applied == Applied::Kept {
        return Ok(None);
    }
    let mut encoded = Vec::with_capacity(plain.len() + 1);
    if whole && part.starts_with('/') {
        encoded.push(b'/');
    }
    for &c in &plain {
        // What a URL's path and fragment carry as they are (RFC 3986 pchar, `/`, `?`, and
        // `%` of the escapes a scrub kept); everything else percent-encoded.
        if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&c) {
            encoded.push(c);
        } else {
            encoded.extend_from_slice(&percent::encode_byte(c));
        }
    }
    Ok(Some(encoded))
}

/// A URL's userinfo (`user:password`), its user name and password read apart as URL parsers
/// hand them over (`kai@example.org:pw` is no address followed by a port: the detector reads
/// `user@host:repo` as a git remote). `None` when it stays as it came, else its replacement
/// encoded for the authority.
fn police_userinfo(
    raw: &str,
    detect: &DetectPolicy,
    fields: &FieldPlan,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RewriteError> {
    let (user, password) = match raw.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (raw, None),
    };
    let u = police_credential(user, detect, fields, cx)?;
    let p = match password {
        Some(p) if !p.is_empty() => police_password(p, detect, fields, cx)?,
        _ => None,
    };
    if u.is_none() && p.is_none() {
        return Ok(None);
    }
    let mut out = u.unwrap_or_else(|| user.as_bytes().to_vec());
    if let Some(password) = password {
        out.push(b':');
        out.extend(p.unwrap_or_else(|| password.as_bytes().to_vec()));
    }
    Ok(Some(out))
}

/// A user name or password as its reader reads it: percent-decoded, once more when that
/// leaves escapes (`kai%2540example.org` is `kai%40…` to the URL parser and `kai@…` to
/// whoever reads the name again); `None` when it stays, else its replacement encoded.
fn police_credential(
    raw: &str,
    detect: &DetectPolicy,
    fields: &FieldPlan,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RewriteError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let read = credential_read(raw);
    Ok(police_url_part(&read, "(userinfo)", detect, fields, cx)?.map(|u| userinfo_encoded(&u)))
}

/// A user name or password as whoever reads it reads it: percent-decoded, once more when that
/// leaves escapes.
fn credential_read(raw: &str) -> std::borrow::Cow<'_, str> {
    use crate::canon::percent::{Plus, decode_utf8};
    let mut read = std::borrow::Cow::Borrowed(raw);
    for _ in 0..2 {
        match decode_utf8(&read, Plus::Literal) {
            Some(d) if d != *read => read = std::borrow::Cow::Owned(d),
            _ => break,
        }
    }
    read
}

/// A URL's password (not empty) is a password whatever it looks like: recorded as one, and in
/// `enforce` replaced by the route's action for passwords, never kept (an action that would
/// keep it, or a `scrub`, which finds no span in a bare password, redacts it). `observe`
/// counts it `clear` and changes nothing; allow-list mode drops it.
fn police_password(
    raw: &str,
    detect: &DetectPolicy,
    fields: &FieldPlan,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RewriteError> {
    let class = Class::Password;
    let mut path = String::with_capacity(fields.unselected.root.len() + 10);
    path.push_str(&fields.unselected.root);
    path.push_str("(userinfo)");
    cx.detected.record(&path, class);
    if fields.unselected.drop {
        cx.withhold(Some(class));
        return Ok(Some(Vec::new()));
    }
    let Some(action) = detect.action(class) else {
        cx.observe(class);
        return Ok(None);
    };
    let read = credential_read(raw);
    let leaf = Leaf {
        text: &read,
        kind: LeafKind::String,
        field: "(userinfo)",
    };
    let redact = password_treatment();
    let mut plain = Vec::new();
    let keeps = matches!(action, Action::Keep | Action::Scrub(_));
    let mut applied = cx.treat(
        if keeps { &redact } else { action },
        Some(class),
        &leaf,
        &mut plain,
    )?;
    if applied == Applied::Kept {
        plain.clear();
        applied = cx.treat(&redact, Some(class), &leaf, &mut plain)?;
    }
    debug_assert_ne!(applied, Applied::Kept);
    Ok(Some(userinfo_encoded(&plain)))
}

/// A replaced userinfo as a URL's authority carries it: what would end the userinfo or the
/// authority (`@`, `:`, `/`, `?`, `#`, `\\`, which a browser reads as `/`) and what URL parsers
/// escape there themselves (`[ ] ^ |`, spaces) percent-encoded, so the host stays the host.
fn userinfo_encoded(part: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(part.len());
    for &c in part {
        if matches!(
            c,
            b'@' | b':' | b'/' | b'?' | b'#' | b'\\' | b'[' | b']' | b'^' | b'|' | b' '
        ) {
            out.extend_from_slice(&percent::encode_byte(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Rewrites the query string at `text[from..to]`, keeping what surrounds it.
fn splice_query(
    text: &str,
    from: usize,
    to: usize,
    fields: &FieldPlan,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    let base = out.len();
    out.extend_from_slice(&text.as_bytes()[..from]);
    let query = &text.as_bytes()[from..to];
    let outcome = rewrite_form(query, Params::only(fields), limits, cx, out).map_err(|e| match e {
        RewriteError::Malformed { .. } => RewriteError::Wrapped(WrapFault::Query),
        other => other,
    });
    match outcome {
        Ok(Outcome::Rewritten) => {
            out.extend_from_slice(&text.as_bytes()[to..]);
            Ok(Outcome::Rewritten)
        }
        other => {
            out.truncate(base);
            other
        }
    }
}

/// Where a URL's query is: the bytes after the first `?` and before the first `#` (`None`
/// without a `?` before any `#`). Refuses what URL parsers read differently (module docs).
///
/// # Errors
/// [`WrapFault::Url`] or [`Ambiguity::WrappedUrlEncodedQuery`].
pub(crate) fn url_query(text: &str) -> Result<Option<(usize, usize)>, RewriteError> {
    let b = text.as_bytes();
    let bad = || RewriteError::Wrapped(WrapFault::Url);
    if b.iter().any(|&c| c < 0x20 || c == 0x7f)
        || b.first() == Some(&b' ')
        || b.last() == Some(&b' ')
    {
        return Err(bad());
    }
    let first_delim = b
        .iter()
        .position(|&c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(b.len());
    if let Some(colon) = memchr::memchr(b':', &b[..first_delim]) {
        let scheme = &b[..colon];
        let valid = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !valid {
            return Err(bad());
        }
    }
    let hash = memchr::memchr(b'#', b).unwrap_or(b.len());
    let question = memchr::memchr(b'?', &b[..hash]);
    let before = &b[..question.unwrap_or(hash)];
    if before
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'3' && (w[2] == b'F' || w[2] == b'f'))
    {
        return Err(RewriteError::Ambiguous(Ambiguity::WrappedUrlEncodedQuery));
    }
    Ok(question.map(|q| (q + 1, hash)))
}

// === base64 ===

/// How a base64 value was padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Padding {
    /// It ended in `=` or `==`.
    Padded,
    /// Its length needed padding and it had none.
    Unpadded,
    /// Its length is a multiple of 4: no evidence either way.
    Unknown,
}

const DECODE: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_DECODER: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, DECODE);
const URL_SAFE_DECODER: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, DECODE);

fn decoder(url_safe: bool) -> &'static GeneralPurpose {
    if url_safe {
        &URL_SAFE_DECODER
    } else {
        &STANDARD_DECODER
    }
}

fn encoder(url_safe: bool, padded: bool) -> &'static GeneralPurpose {
    match (url_safe, padded) {
        (false, true) => &general_purpose::STANDARD,
        (false, false) => &general_purpose::STANDARD_NO_PAD,
        (true, true) => &general_purpose::URL_SAFE,
        (true, false) => &general_purpose::URL_SAFE_NO_PAD,
    }
}

/// Checks `value` against the one reading described in the module docs and says how it was
/// padded.
fn check_base64(value: &[u8], url_safe: bool) -> Result<Padding, RewriteError> {
    let (own, foreign) = if url_safe {
        ([b'-', b'_'], [b'+', b'/'])
    } else {
        ([b'+', b'/'], [b'-', b'_'])
    };
    let pad = value.iter().rev().take_while(|&&c| c == b'=').count();
    let body = &value[..value.len() - pad];
    for &c in body {
        if c.is_ascii_alphanumeric() || own.contains(&c) {
            continue;
        }
        return Err(if foreign.contains(&c) {
            RewriteError::Ambiguous(Ambiguity::WrappedBase64Alphabet)
        } else if matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c') {
            RewriteError::Ambiguous(Ambiguity::WrappedBase64Whitespace)
        } else {
            // `=` inside the value, or anything outside both alphabets.
            RewriteError::Wrapped(WrapFault::Base64)
        });
    }
    let rem = body.len() % 4;
    match (pad, rem) {
        (_, 1) => Err(RewriteError::Wrapped(WrapFault::Base64)),
        (0, 0) => Ok(Padding::Unknown),
        (0, _) => Ok(Padding::Unpadded),
        (2, 2) | (1, 3) => Ok(Padding::Padded),
        _ => Err(RewriteError::Wrapped(WrapFault::Base64)),
    }
}

#[cfg(test)]
mod tests;
