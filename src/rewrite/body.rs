//! A request body as a route reads it: its content codings, the coding its vendor signals
//! outside them (`[routes.body_coding]`: a query parameter, gzip's magic bytes, a form field
//! holding the document), the format its type and the route's declaration give it; decoded
//! for policing, policed, and coded back the way it came.
//!
//! One path for every reader: the gateway, the admin preview and the offline `preview` and
//! `reveal` call these functions in the same order ([`layer`], [`decode`], [`police`],
//! [`Decoded::finish`]), so a body the gateway forwards one way cannot preview another. The
//! subject pre-pass reads the same decoded body through the same layer ([`subject_scopes`]).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};

use super::subject::{Scope, find_payload_scopes, find_scopes};
use super::wrap::unwrap_text;
use super::{Format, Limits, Outcome, Plans, RewriteError, UnsupportedType, rewrite_payload};
use crate::codec;
use crate::error::{Ambiguity, RejectCode, WrapFault};
use crate::policy::action::ActionError;
use crate::policy::selector::JsonPath;
use crate::policy::{ApplyCx, BodyCoding, BodyLayer, FieldPlans, FieldTarget, FormDocument};

/// The request policy in force for one body: the route's plans (or its strict opt-out
/// variant), whether it only observes, and how its vendor codes bodies.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// The plans the body is policed with.
    pub plans: Plans<'a>,
    /// The route only observes: what it cannot read passes as is.
    pub observe_only: bool,
    /// How the route's bodies are coded by the vendor's convention.
    pub coding: Option<&'a BodyCoding>,
}

impl<'a> Policy<'a> {
    /// The policy for the body under `layer`: a form layer's own plans, else this one.
    #[must_use]
    pub fn for_body(self, layer: Layer<'a>) -> Self {
        match layer {
            Layer::Form { plans, .. } => Self {
                plans: Plans {
                    json: self.plans.json,
                    fields: plans,
                },
                ..self
            },
            Layer::AsLabelled | Layer::Gzip | Layer::SniffGzip => self,
        }
    }
}

/// How this request's body is coded beyond its `Content-Encoding`, by the route's
/// `[routes.body_coding]` and the request's query.
#[derive(Debug, Clone, Copy)]
pub enum Layer<'a> {
    /// As its `Content-Type` says.
    AsLabelled,
    /// A gzip stream (named by the query parameter).
    Gzip,
    /// A gzip stream if a text body starts with gzip's magic bytes (no parameter, `sniff`).
    SniffGzip,
    /// A form whose field holds the document: police the body with `plans` (the one `form`
    /// rule names the field and wraps the route's body plan, or its opt-out variant).
    Form {
        /// The plans in force for this request.
        plans: &'a FieldPlans,
        /// The layer as compiled (its reveal plans).
        doc: &'a FormDocument,
    },
}

/// Reads the coding the query names (or leaves it to sniffing). `strict`: the request gets
/// the route's opt-out policy.
///
/// # Errors
/// [`RejectCode::UnsupportedMediaType`] for a value the route does not list;
/// [`Ambiguity::BodyCodingParam`] for a parameter given twice or spelled two ways;
/// [`RejectCode::MalformedQuery`] for a query that does not parse.
pub fn layer<'a>(
    coding: Option<&'a BodyCoding>,
    strict: bool,
    query: Option<&str>,
) -> Result<Layer<'a>, RejectCode> {
    let Some(coding) = coding else {
        return Ok(Layer::AsLabelled);
    };
    let named = match (&coding.param, query) {
        (Some(param), Some(q)) => {
            super::form::values_named(q.as_bytes(), param).map_err(|e| match e {
                RewriteError::Ambiguous(a) => RejectCode::AmbiguousRequest(a),
                _ => RejectCode::MalformedQuery,
            })?
        }
        _ => Vec::new(),
    };
    let value = match named.as_slice() {
        [] if coding.sniff_gzip => return Ok(Layer::SniffGzip),
        [] => return Ok(Layer::AsLabelled),
        [(true, v)] => v,
        _ => return Err(RejectCode::AmbiguousRequest(Ambiguity::BodyCodingParam)),
    };
    Ok(match coding.layer(value) {
        None => return Err(RejectCode::UnsupportedMediaType),
        Some(BodyLayer::Identity) => Layer::AsLabelled,
        Some(BodyLayer::Gzip) => Layer::Gzip,
        Some(BodyLayer::Form(doc)) => Layer::Form {
            plans: match (&doc.strict, strict) {
                (Some(strict), true) => strict,
                _ => &doc.plans,
            },
            doc,
        },
    })
}

/// The format of a body, from its `Content-Type` and the route's body coding.
///
/// # Errors
/// [`RejectCode::UnsupportedMediaType`] for a type no rewriter reads.
pub fn format(headers: &HeaderMap, coding: Option<&BodyCoding>) -> Result<Format, RejectCode> {
    let ct = headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes);
    format_typed(ct, coding)
}

/// As [`format`], from the `Content-Type` value itself.
fn format_typed(
    content_type: Option<&[u8]>,
    coding: Option<&BodyCoding>,
) -> Result<Format, RejectCode> {
    Format::of_body(content_type, coding)
        .map_err(|UnsupportedType| RejectCode::UnsupportedMediaType)
}

/// The content codings of a body, in the order they were applied.
///
/// # Errors
/// [`RejectCode::UnsupportedMediaType`] for a coding piigate cannot decode.
pub fn codings(headers: &HeaderMap) -> Result<Vec<codec::Coding>, RejectCode> {
    let mut all = Vec::new();
    for v in headers.get_all(header::CONTENT_ENCODING) {
        let v = v.to_str().map_err(|_| RejectCode::UnsupportedMediaType)?;
        all.extend(codec::parse(v).map_err(|_| RejectCode::UnsupportedMediaType)?);
    }
    Ok(all)
}

/// The refusal for a body the rewriter could not police.
pub fn error(e: &RewriteError) -> RejectCode {
    match e {
        RewriteError::Malformed { .. } => RejectCode::MalformedBody,
        RewriteError::Ambiguous(a) => RejectCode::AmbiguousRequest(*a),
        RewriteError::Wrapped(w) => RejectCode::MalformedWrapped(*w),
        RewriteError::TooDeep { .. } => RejectCode::NestingTooDeep,
        // A value the policy cannot transform (FPE on a too-short or off-alphabet value):
        // the payload is valid but cannot be policed as configured.
        RewriteError::Action(ActionError::FpeTooShort | ActionError::FpeInvalidValue) => {
            RejectCode::PolicyViolation
        }
        RewriteError::Action(ActionError::Crypto(_)) => RejectCode::Internal,
    }
}

/// gzip's magic bytes (RFC 1952 §2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A collected request body made ready for policing: its content codings removed (capped).
#[derive(Debug)]
pub struct Decoded {
    /// The bytes as they arrived.
    raw: Bytes,
    /// The decoded bytes, when the body had content codings.
    decoded: Option<Vec<u8>>,
    /// The codings as they actually were, to re-apply.
    codings: Vec<codec::Coding>,
    /// Whether `raw` may be forwarded when nothing changed: not when it is coded on a route
    /// that polices, since decoders (and recipients that do not decode) read different things
    /// from what surrounds the coded data (`crate::codec`).
    raw_ok: bool,
    /// The format its `Content-Type` said when it was read ([`Decoded::format`]).
    format: Option<Format>,
}

impl Decoded {
    /// The plain bytes to police.
    pub fn plain(&self) -> &[u8] {
        self.decoded.as_deref().unwrap_or(&self.raw)
    }

    /// The body's format as [`decode`] read it from the `Content-Type` it was given; `None`
    /// when it did not read one (an empty body, or one an observing route forwards as it
    /// came). Valid for [`police_as`] only while that field is unchanged.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// The bytes to forward: the original when nothing changed, else `rewritten` re-encoded.
    ///
    /// # Errors
    /// [`RejectCode::Internal`] if re-encoding fails.
    pub fn finish(self, rewritten: Option<Vec<u8>>) -> Result<Bytes, RejectCode> {
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

/// Checks that the route can police this body and removes its content codings, then the
/// vendor's gzip if `layer` says so; at most `max_decoded` bytes come out of any decoder.
///
/// # Errors
/// 413/415/400-class codes; nothing is forwarded on error.
pub fn decode(
    policy: Policy<'_>,
    layer: Layer<'_>,
    headers: &HeaderMap,
    raw: Bytes,
    max_decoded: usize,
) -> Result<Decoded, RejectCode> {
    decode_labelled(policy, layer, raw, max_decoded, || {
        (format(headers, policy.coding), codings(headers))
    })
}

/// As [`decode`], for a body labelled by `content_type` alone (its request has no
/// `Content-Encoding`): a caller that holds the type without a map.
///
/// # Errors
/// As [`decode`].
pub fn decode_typed(
    policy: Policy<'_>,
    layer: Layer<'_>,
    content_type: Option<&[u8]>,
    raw: Bytes,
    max_decoded: usize,
) -> Result<Decoded, RejectCode> {
    decode_labelled(policy, layer, raw, max_decoded, || {
        (format_typed(content_type, policy.coding), Ok(Vec::new()))
    })
}

/// [`decode`], the body's format and codings read by `labels` (only for a body that has
/// bytes).
#[inline]
fn decode_labelled(
    policy: Policy<'_>,
    layer: Layer<'_>,
    raw: Bytes,
    max_decoded: usize,
    labels: impl FnOnce() -> (
        Result<Format, RejectCode>,
        Result<Vec<codec::Coding>, RejectCode>,
    ),
) -> Result<Decoded, RejectCode> {
    let unread = |raw| Decoded {
        raw,
        decoded: None,
        codings: Vec::new(),
        raw_ok: true,
        format: None,
    };
    if raw.is_empty() {
        return Ok(unread(raw));
    }
    let (format, codings) = match labels() {
        (Ok(f), Ok(c)) => (f, c),
        (Err(e), _) | (_, Err(e)) if !policy.observe_only => return Err(e),
        // Forwarded as it came; `police` sees the content type again and leaves it alone.
        _ => return Ok(unread(raw)),
    };
    // A body of a kind the route has no rules for is not policed by them: refuse it rather
    // than forward a form past JSON rules (or JSON past form rules).
    if !policy.plans.polices(format) {
        return Err(RejectCode::UnsupportedMediaType);
    }
    // A form layer's document is in a form field: a body labelled otherwise is not that.
    if matches!(layer, Layer::Form { .. }) && format != Format::Form {
        return Err(RejectCode::UnsupportedMediaType);
    }
    let codec_error = |e| match e {
        codec::CodecError::TooLarge => RejectCode::BodyTooLarge,
        codec::CodecError::Corrupt => RejectCode::MalformedBody,
        codec::CodecError::Unsupported => RejectCode::UnsupportedMediaType,
    };
    let (mut decoded, mut actual) = if codings.is_empty() {
        (None, codings)
    } else {
        match codec::decode_all(&codings, &raw, max_decoded) {
            Ok((d, actual)) => (Some(d), actual),
            Err(_) if policy.observe_only => return Ok(unread(raw)),
            Err(e) => return Err(codec_error(e)),
        }
    };
    // The vendor's own gzip is inside every `Content-Encoding`: undone last, redone first.
    let plain = decoded.as_deref().unwrap_or(&raw);
    let gzip = match layer {
        Layer::Gzip => true,
        Layer::SniffGzip => format.is_text() && plain.starts_with(&GZIP_MAGIC),
        Layer::AsLabelled | Layer::Form { .. } => false,
    };
    if gzip {
        match codec::Coding::Gzip.decode(plain, max_decoded) {
            Ok((d, seen)) => {
                decoded = Some(d);
                actual.insert(0, seen);
            }
            Err(_) if policy.observe_only => return Ok(unread(raw)),
            Err(e) => return Err(codec_error(e)),
        }
    }
    Ok(Decoded {
        raw,
        // Observe-only routes change nothing, not even the coding; a body without codings is
        // its own plain text.
        raw_ok: policy.observe_only || decoded.is_none(),
        decoded,
        codings: actual,
        format: Some(format),
    })
}

/// Rewrites a plain (decoded) request body by its format. `Ok(None)`: nothing changed.
///
/// # Errors
/// 400/422-class codes; never forwards what it could not police.
pub fn police(
    policy: Policy<'_>,
    headers: &HeaderMap,
    plain: &[u8],
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RejectCode> {
    if plain.is_empty() {
        return Ok(None);
    }
    let format = match format(headers, policy.coding) {
        Ok(f) => f,
        Err(_) if policy.observe_only => return Ok(None),
        Err(e) => return Err(e),
    };
    police_as(policy, format, plain, limits, cx)
}

/// [`police`] for a body whose format is already read from its `Content-Type`
/// ([`Decoded::format`], when the field has not changed since).
///
/// # Errors
/// As [`police`].
pub fn police_as(
    policy: Policy<'_>,
    format: Format,
    plain: &[u8],
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RejectCode> {
    if plain.is_empty() {
        return Ok(None);
    }
    if matches!(format, Format::Form | Format::FormLines)
        && !policy.observe_only
        && looks_like_json(plain)
    {
        // No form starts with `{` or `[`; a server that sniffs would read JSON fields the
        // form rules never saw.
        return Err(RejectCode::AmbiguousRequest(Ambiguity::BodyTypeMismatch));
    }
    // Sized by the rewriter at its first change; nothing when nothing changes.
    let mut out = Vec::new();
    let outcome = match rewrite_payload(format, plain, policy.plans, limits, cx, &mut out) {
        Ok(o) => o,
        // An observing route changes nothing, so what it cannot read goes as it came (what
        // was counted before the problem did leave, and stays counted).
        Err(_) if policy.observe_only => return Ok(None),
        Err(e) => return Err(error(&e)),
    };
    Ok(match outcome {
        Outcome::Unchanged => None,
        Outcome::Rewritten => Some(out),
    })
}

/// The people a decoded body is about (a route's `subject`), read where the rewrite will read
/// them: the JSON or NDJSON body itself, or — a form layer — the document inside its field,
/// decoded exactly as the layer's chain hands it to the JSON rewriter, so each scope's offsets
/// are the ones the rewriter gives that document's values. A body with no JSON document (a
/// form, lines of forms) has no subjects: its values use the route's keys.
///
/// # Errors
/// [`RejectCode::MalformedBody`] for a JSON body that is not JSON; for a form layer,
/// [`Ambiguity::BodyCodingField`] when the field is repeated or only a folded spelling is
/// present, and [`RejectCode::MalformedWrapped`] when its value does not decode to JSON.
pub fn subject_scopes(
    policy: Policy<'_>,
    layer: Layer<'_>,
    headers: &HeaderMap,
    plain: &[u8],
    path: &JsonPath,
) -> Result<Vec<Scope>, RejectCode> {
    if plain.is_empty() {
        return Ok(Vec::new());
    }
    let Layer::Form { plans: fields, .. } = layer else {
        let Ok(format) = format(headers, policy.coding) else {
            return Ok(Vec::new());
        };
        return find_payload_scopes(format, plain, path).map_err(|_| RejectCode::MalformedBody);
    };
    let Some(rule) = fields.form.rules.first() else {
        return Ok(Vec::new());
    };
    let FieldTarget::Wrapped(wrap) = &rule.target else {
        return Ok(Vec::new());
    };
    let named = super::form::values_named(plain, &rule.name).map_err(|e| error(&e))?;
    let value = match named.as_slice() {
        [] => return Ok(Vec::new()),
        [(true, v)] => v,
        _ => return Err(RejectCode::AmbiguousRequest(Ambiguity::BodyCodingField)),
    };
    let doc = unwrap_text(value, &wrap.codings).map_err(|e| error(&e))?;
    find_scopes(doc.as_bytes(), path).map_err(|_| RejectCode::MalformedWrapped(WrapFault::NotJson))
}

/// Whether a form body is in fact a JSON object or array (no form starts with `{`, and one
/// starting with `[` is refused by the form grammar anyway unless it is JSON).
fn looks_like_json(plain: &[u8]) -> bool {
    matches!(plain.trim_ascii_start().first(), Some(b'{' | b'['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(plain).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ce: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::CONTENT_ENCODING, ce.parse().expect("valid"));
        m
    }

    #[test]
    fn parses_content_codings() {
        assert_eq!(codings(&h("gzip, br")).map(|c| c.len()), Ok(2));
        assert_eq!(
            codings(&h("compress")),
            Err(RejectCode::UnsupportedMediaType)
        );
    }
}
