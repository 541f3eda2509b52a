//! Applying a route's policy to one request (and its response): query string, headers and
//! body, with content-coding and content-type dispatch. No network I/O here; the service
//! collects bytes and hands them over.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};

use super::body;
use crate::codec;
use crate::config::{Limits, Route};
use crate::error::{Ambiguity, RejectCode};
use crate::policy::action::ActionError;
use crate::policy::{Applied, ApplyCx, FieldTarget, Leaf, LeafKind};
use crate::rewrite::json::rewrite_json;
use crate::rewrite::{Format, Limits as RewriteLimits, Outcome, Plans, RewriteError};
use crate::rewrite::{UnsupportedType, rewrite_payload};

/// The request policy in force for one request: the route's, or its strict opt-out variant.
#[derive(Clone, Copy)]
pub(super) struct Active<'a> {
    pub(super) plans: Plans<'a>,
    /// The route only observes ([`Route::observes_only`]): what it cannot read passes as is.
    pub(super) observe_only: bool,
}

impl<'a> Active<'a> {
    /// The route's policy, or its strict variant when the user opted out and the route says so.
    pub(super) fn of(route: &'a Route, opted_out: bool) -> Self {
        let observe_only = route.observes_only();
        let plans = match (&route.strict, opted_out) {
            (Some((plan, fields)), true) => Plans { json: plan, fields },
            _ => route.plans(),
        };
        Self {
            plans,
            observe_only,
        }
    }
}

/// The format of a body, from its `Content-Type`.
///
/// # Errors
/// [`RejectCode::UnsupportedMediaType`] for a type no rewriter reads.
pub(super) fn format(headers: &HeaderMap) -> Result<Format, RejectCode> {
    let ct = headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
    Format::from_content_type(ct).map_err(|UnsupportedType| RejectCode::UnsupportedMediaType)
}

fn rewrite_limits(limits: &Limits) -> RewriteLimits {
    RewriteLimits {
        max_depth: limits.max_json_depth,
    }
}

fn body_error(e: &RewriteError) -> RejectCode {
    match e {
        RewriteError::Malformed { .. } => RejectCode::MalformedBody,
        RewriteError::Ambiguous(a) => RejectCode::AmbiguousRequest(*a),
        RewriteError::TooDeep { .. } => RejectCode::NestingTooDeep,
        // A value the policy cannot transform (FPE on a too-short or off-alphabet value):
        // the payload is valid but cannot be policed as configured.
        RewriteError::Action(ActionError::FpeTooShort | ActionError::FpeInvalidValue) => {
            RejectCode::PolicyViolation
        }
        RewriteError::Action(ActionError::Crypto(_)) => RejectCode::Internal,
    }
}

/// Rewrites the query string with the route's `query:` rules. `Ok(None)` means unchanged.
///
/// # Errors
/// [`RejectCode::MalformedQuery`] when the query cannot be parsed.
pub(super) fn query(
    policy: Active<'_>,
    query: Option<&str>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<String>, RejectCode> {
    let (Some(q), true) = (query, policy.plans.polices(Format::Query)) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(q.len());
    match rewrite_payload(
        Format::Query,
        q.as_bytes(),
        policy.plans,
        &rewrite_limits(limits),
        cx,
        &mut out,
    ) {
        Ok(Outcome::Unchanged) => Ok(None),
        // The form serializer only emits ASCII.
        Ok(Outcome::Rewritten) => String::from_utf8(out)
            .map(Some)
            .map_err(|_| RejectCode::Internal),
        Err(_) if policy.observe_only => Ok(None),
        Err(e @ (RewriteError::Action(_) | RewriteError::Ambiguous(_))) => Err(body_error(&e)),
        Err(_) => Err(RejectCode::MalformedQuery),
    }
}

/// Applies `header:` rules in place.
///
/// # Errors
/// [`RejectCode::MalformedQuery`] for a selected header that is not text;
/// [`RejectCode::Internal`] if an action fails or produces an invalid header value.
pub(super) fn headers(
    policy: Active<'_>,
    headers: &mut HeaderMap,
    cx: &mut ApplyCx<'_>,
) -> Result<(), RejectCode> {
    let plan = &policy.plans.fields.header;
    if plan.is_empty() {
        return Ok(());
    }
    let names: Vec<header::HeaderName> = headers.keys().cloned().collect();
    let mut text = Vec::new();
    for name in names {
        let Some(rule) = plan.find_header(name.as_str()) else {
            continue;
        };
        let FieldTarget::Whole(action) = &rule.target else {
            continue;
        };
        let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
        headers.remove(&name);
        for v in values {
            // A dropped value is removed unread, whatever bytes it holds.
            if action.is_drop() {
                cx.treat_unread(action, rule.class);
                continue;
            }
            let value = v.to_str().map_err(|_| RejectCode::MalformedQuery)?;
            text.clear();
            let leaf = Leaf {
                text: value,
                kind: LeafKind::String,
                field: name.as_str(),
            };
            let applied = cx
                .treat(action, rule.class, &leaf, &mut text)
                .map_err(|_| RejectCode::Internal)?;
            match applied {
                Applied::Dropped => {}
                Applied::Kept => {
                    headers.append(&name, v);
                }
                Applied::Replaced => {
                    let nv = HeaderValue::from_bytes(&text).map_err(|_| RejectCode::Internal)?;
                    headers.append(&name, nv);
                }
            }
        }
    }
    Ok(())
}

/// Removes the cookies a framework that merges cookies into request parameters would read as
/// a parameter the route polices ([`crate::policy::params::cookies_without_parameters`]).
pub(super) fn parameter_cookies(policy: Active<'_>, headers: &mut HeaderMap) {
    let params = policy.plans.params(Format::Query);
    if policy.observe_only || !params.polices() {
        return;
    }
    let Some(cookie) = headers.get(header::COOKIE) else {
        return;
    };
    let Some(kept) = crate::policy::params::cookies_without_parameters(cookie.as_bytes(), params)
    else {
        return;
    };
    match HeaderValue::from_bytes(&kept) {
        Ok(v) if !kept.is_empty() => {
            headers.insert(header::COOKIE, v);
        }
        _ => {
            headers.remove(header::COOKIE);
        }
    }
}

/// Rewrites a plain (decoded) request body by content type. `Ok(None)`: nothing changed.
///
/// # Errors
/// 400/422-class codes; never forwards what it could not police.
pub(super) fn body(
    policy: Active<'_>,
    headers: &HeaderMap,
    plain: &[u8],
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RejectCode> {
    if plain.is_empty() {
        return Ok(None);
    }
    let format = match format(headers) {
        Ok(f) => f,
        Err(_) if policy.observe_only => return Ok(None),
        Err(e) => return Err(e),
    };
    if format == Format::Form && !policy.observe_only && looks_like_json(plain) {
        // No form starts with `{` or `[`; a server that sniffs would read JSON fields the
        // form rules never saw.
        return Err(RejectCode::AmbiguousRequest(Ambiguity::BodyTypeMismatch));
    }
    let mut out = Vec::with_capacity(plain.len() + plain.len() / 4);
    let rl = rewrite_limits(limits);
    let outcome = match rewrite_payload(format, plain, policy.plans, &rl, cx, &mut out) {
        Ok(o) => o,
        // An observing route changes nothing, so what it cannot read goes as it came (what
        // was counted before the problem did leave, and stays counted).
        Err(_) if policy.observe_only => return Ok(None),
        Err(e) => return Err(body_error(&e)),
    };
    Ok(match outcome {
        Outcome::Unchanged => None,
        Outcome::Rewritten => Some(out),
    })
}

/// On a route whose only body rules are `query:` rules ([`Bodies::Parameters`]): whether
/// this body carries parameters a merging framework would read with the query's, and so must
/// be read and policed. An unlabelled body is labelled `application/octet-stream` instead
/// (Rack and Rails read an unlabelled POST body as a form; nothing reads octet-stream as one).
///
/// # Errors
/// [`RejectCode::UnsupportedMediaType`] for a multipart body, a form in another charset, and
/// a JSON-like type piigate does not read (Laravel reads any type containing `/json` as
/// JSON, Rails `text/x-json`): each carries parameters piigate cannot police.
///
/// [`Bodies::Parameters`]: crate::config::Bodies::Parameters
pub(super) fn parameter_body(
    headers: &mut HeaderMap,
    may_have_body: bool,
) -> Result<bool, RejectCode> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        if may_have_body {
            headers.insert(header::CONTENT_TYPE, UNREAD_TYPE);
        }
        return Ok(false);
    };
    match Format::from_content_type(Some(ct.as_bytes())) {
        Ok(Format::Form | Format::Json | Format::Ndjson) => Ok(true),
        Ok(Format::SniffedJson | Format::Query) => Ok(false),
        Err(UnsupportedType) => {
            let essence = ct
                .as_bytes()
                .split(|&b| b == b';')
                .next()
                .unwrap_or_default();
            let essence = essence.trim_ascii().to_ascii_lowercase();
            let carries_parameters = essence.starts_with(b"multipart/")
                || essence == b"application/x-www-form-urlencoded"
                || memchr::memmem::find(&essence, b"json").is_some();
            if carries_parameters {
                Err(RejectCode::UnsupportedMediaType)
            } else {
                Ok(false)
            }
        }
    }
}

/// The label of an unread body that came without one (see [`parameter_body`]).
const UNREAD_TYPE: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// The label of a policed body that came without one: what browsers send with a text beacon.
pub(super) const BEACON_TYPE: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// Whether a form body is in fact a JSON object or array (no form starts with `{`, and one
/// starting with `[` is refused by the form grammar anyway unless it is JSON).
fn looks_like_json(plain: &[u8]) -> bool {
    matches!(plain.trim_ascii_start().first(), Some(b'{' | b'['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(plain).is_ok()
}

/// A collected request body made ready for policing: its content codings removed (capped).
pub(super) struct Decoded {
    /// The bytes as they arrived.
    pub(super) raw: Bytes,
    /// The decoded bytes, when the body had content codings.
    decoded: Option<Vec<u8>>,
    /// The codings as they actually were, to re-apply.
    codings: Vec<codec::Coding>,
    /// Whether `raw` may be forwarded when nothing changed: not when it is coded on a route
    /// that polices, since decoders (and recipients that do not decode) read different things
    /// from what surrounds the coded data (`crate::codec`).
    raw_ok: bool,
}

impl Decoded {
    /// The plain bytes to police.
    pub(super) fn plain(&self) -> &[u8] {
        self.decoded.as_deref().unwrap_or(&self.raw)
    }

    /// The bytes to forward: the original when nothing changed, else `rewritten` re-encoded.
    ///
    /// # Errors
    /// [`RejectCode::Internal`] if re-encoding fails.
    pub(super) fn finish(self, rewritten: Option<Vec<u8>>) -> Result<Bytes, RejectCode> {
        let rewritten = match (rewritten, self.raw_ok) {
            (None, false) => self.decoded,
            (r, _) => r,
        };
        match rewritten {
            None => Ok(self.raw),
            Some(out) if self.codings.is_empty() => Ok(Bytes::from(out)),
            Some(out) => codec::encode_all(&self.codings, out)
                .map(Bytes::from)
                .map_err(|_| RejectCode::Internal),
        }
    }
}

/// Checks that the route can police this body and removes its content codings.
///
/// # Errors
/// 413/415/400-class codes; nothing is forwarded on error.
pub(super) fn decode(
    policy: Active<'_>,
    headers: &HeaderMap,
    raw: Bytes,
    limits: &Limits,
) -> Result<Decoded, RejectCode> {
    let unread = |raw| Decoded {
        raw,
        decoded: None,
        codings: Vec::new(),
        raw_ok: true,
    };
    if raw.is_empty() {
        return Ok(unread(raw));
    }
    let (format, codings) = match (format(headers), body::codings(headers)) {
        (Ok(f), Ok(c)) => (f, c),
        (Err(e), _) | (_, Err(e)) if !policy.observe_only => return Err(e),
        // Forwarded as it came; `body` sees the content type again and leaves it alone.
        _ => return Ok(unread(raw)),
    };
    // A body of a kind the route has no rules for is not policed by them: refuse it rather
    // than forward a form past JSON rules (or JSON past form rules).
    if !policy.plans.polices(format) {
        return Err(RejectCode::UnsupportedMediaType);
    }
    if codings.is_empty() {
        return Ok(Decoded {
            raw,
            decoded: None,
            codings,
            raw_ok: true,
        });
    }
    let (d, actual) = match codec::decode_all(&codings, &raw, limits.max_decoded_bytes) {
        Ok(x) => x,
        Err(_) if policy.observe_only => return Ok(unread(raw)),
        Err(e) => {
            return Err(match e {
                codec::CodecError::TooLarge => RejectCode::BodyTooLarge,
                codec::CodecError::Corrupt => RejectCode::MalformedBody,
                codec::CodecError::Unsupported => RejectCode::UnsupportedMediaType,
            });
        }
    };
    Ok(Decoded {
        raw,
        decoded: Some(d),
        codings: actual,
        // Observe-only routes change nothing, not even the coding.
        raw_ok: policy.observe_only,
    })
}

/// Applies response rules (reveal) to a collected JSON response, decoding and re-encoding its
/// content codings. Anything that cannot be processed is returned unchanged: reveal only adds
/// cleartext for our own app, so leaving ciphertext in place leaks nothing.
pub(super) fn response(
    route: &Route,
    headers: &HeaderMap,
    raw: Bytes,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Bytes {
    let Ok(codings) = body::codings(headers) else {
        return raw;
    };
    let decoded = match codec::decode_all(&codings, &raw, limits.max_decoded_bytes) {
        Ok((d, actual)) if !codings.is_empty() => Some((d, actual)),
        Ok(_) => None,
        Err(_) => return raw,
    };
    let plain: &[u8] = decoded.as_ref().map_or(&raw, |(d, _)| d.as_slice());
    let mut out = Vec::new();
    match rewrite_json(
        plain,
        &route.response_plan,
        &rewrite_limits(limits),
        cx,
        &mut out,
    ) {
        Ok(Outcome::Rewritten) => match decoded {
            None => Bytes::from(out),
            Some((_, actual)) => codec::encode_all(&actual, out).map_or(raw, Bytes::from),
        },
        Ok(Outcome::Unchanged) | Err(_) => raw,
    }
}

/// Whether a response's content type is one response rules apply to.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    matches!(format(headers), Ok(Format::Json))
}
