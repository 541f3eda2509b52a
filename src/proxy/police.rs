//! Applying a route's policy to one request (and its response): query string, headers and
//! body, with content-coding and content-type dispatch. No network I/O here; the service
//! collects bytes and hands them over.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};

use super::body::{self, Format};
use crate::codec;
use crate::config::{Limits, Route};
use crate::error::RejectCode;
use crate::policy::action::ActionError;
use crate::policy::{Applied, ApplyCx, FieldTarget, Leaf, LeafKind};
use crate::rewrite::form::rewrite_form;
use crate::rewrite::json::rewrite_json;
use crate::rewrite::ndjson::rewrite_ndjson;
use crate::rewrite::{Limits as RewriteLimits, Outcome, RewriteError};

fn rewrite_limits(limits: &Limits) -> RewriteLimits {
    RewriteLimits {
        max_depth: limits.max_json_depth,
    }
}

fn body_error(e: &RewriteError) -> RejectCode {
    match e {
        RewriteError::Malformed { .. } => RejectCode::MalformedBody,
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
    route: &Route,
    query: Option<&str>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<String>, RejectCode> {
    let (Some(q), false) = (query, route.fields.query.is_empty()) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(q.len());
    match rewrite_form(
        q.as_bytes(),
        &route.fields.query,
        &rewrite_limits(limits),
        cx,
        &mut out,
    ) {
        Ok(Outcome::Unchanged) => Ok(None),
        // The form serializer only emits ASCII.
        Ok(Outcome::Rewritten) => String::from_utf8(out)
            .map(Some)
            .map_err(|_| RejectCode::Internal),
        Err(e @ RewriteError::Action(_)) => Err(body_error(&e)),
        Err(_) => Err(RejectCode::MalformedQuery),
    }
}

/// Applies `header:` rules in place.
///
/// # Errors
/// [`RejectCode::MalformedQuery`] for a selected header that is not text;
/// [`RejectCode::Internal`] if an action fails or produces an invalid header value.
pub(super) fn headers(
    route: &Route,
    headers: &mut HeaderMap,
    cx: &mut ApplyCx<'_>,
) -> Result<(), RejectCode> {
    if route.fields.header.is_empty() {
        return Ok(());
    }
    let names: Vec<header::HeaderName> = headers.keys().cloned().collect();
    let mut text = Vec::new();
    for name in names {
        let Some(rule) = route.fields.header.find_ignore_case(name.as_str()) else {
            continue;
        };
        let FieldTarget::Whole(action) = &rule.target else {
            continue;
        };
        let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
        headers.remove(&name);
        if action.is_drop() {
            cx.counts.bump(action.kind());
            continue;
        }
        for v in values {
            let value = v.to_str().map_err(|_| RejectCode::MalformedQuery)?;
            text.clear();
            let leaf = Leaf {
                text: value,
                kind: LeafKind::String,
                field: name.as_str(),
            };
            match action
                .apply(&leaf, cx, &mut text)
                .map_err(|_| RejectCode::Internal)?
            {
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

/// Polices a collected request body: decodes its content codings (capped), rewrites it by
/// content type, re-encodes it the way it came. Returns the bytes to forward (the original
/// `Bytes` when nothing changed).
///
/// # Errors
/// 400/413/415-class codes; never forwards what it could not police.
pub(super) fn body(
    route: &Route,
    headers: &HeaderMap,
    raw: Bytes,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Bytes, RejectCode> {
    if raw.is_empty() {
        return Ok(raw);
    }
    let format = body::format(headers)?;
    let codings = body::codings(headers)?;
    let has_json = !route.plan.is_empty();
    let has_form = !route.fields.form.is_empty();
    // A body of a kind the route has no rules for is not policed by them: refuse it rather
    // than forward a form past JSON rules (or JSON past form rules).
    match format {
        Format::Json | Format::Ndjson | Format::SniffedJson if !has_json => {
            return Err(RejectCode::UnsupportedMediaType);
        }
        Format::Form if !has_form => return Err(RejectCode::UnsupportedMediaType),
        _ => {}
    }
    let (decoded, actual) = if codings.is_empty() {
        (None, Vec::new())
    } else {
        let (d, actual) =
            codec::decode_all(&codings, &raw, limits.max_decoded_bytes).map_err(|e| match e {
                codec::CodecError::TooLarge => RejectCode::BodyTooLarge,
                codec::CodecError::Corrupt => RejectCode::MalformedBody,
                codec::CodecError::Unsupported => RejectCode::UnsupportedMediaType,
            })?;
        (Some(d), actual)
    };
    let plain: &[u8] = decoded.as_deref().unwrap_or(&raw);
    let mut out = Vec::with_capacity(plain.len() + plain.len() / 4);
    let rl = rewrite_limits(limits);
    let outcome = match format {
        Format::Json | Format::SniffedJson => rewrite_json(plain, &route.plan, &rl, cx, &mut out),
        Format::Ndjson => rewrite_ndjson(plain, &route.plan, &rl, cx, &mut out),
        Format::Form => rewrite_form(plain, &route.fields.form, &rl, cx, &mut out),
    }
    .map_err(|e| body_error(&e))?;
    match outcome {
        // Unchanged: forward exactly what arrived, encoded or not.
        Outcome::Unchanged => Ok(raw),
        Outcome::Rewritten if actual.is_empty() => Ok(Bytes::from(out)),
        Outcome::Rewritten => codec::encode_all(&actual, out)
            .map(Bytes::from)
            .map_err(|_| RejectCode::Internal),
    }
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
    matches!(body::format(headers), Ok(Format::Json)) && headers.contains_key(header::CONTENT_TYPE)
}
