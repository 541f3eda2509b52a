//! Applying a route's policy to one request (and its response): the query string, headers,
//! cookies and referrers here; the body through `rewrite::body` (its codings, format and
//! rewrite, the same path the CLI and the admin preview take). No network I/O here; the
//! service collects bytes and hands them over.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};

use crate::canon::{self, cookies};
use crate::codec;
use crate::config::{Limits, Route};
use crate::error::{Ambiguity, RejectCode, WrapFault};
use crate::policy::{Applied, ApplyCx, FieldTarget, Leaf, LeafKind};
use crate::rewrite::body::{self as coded, Policy};
use crate::rewrite::json::rewrite_json;
use crate::rewrite::wrap::rewrite_wrapped;
use crate::rewrite::{Format, Limits as RewriteLimits, Outcome, RewriteError};
use crate::rewrite::{UnsupportedType, rewrite_payload};

/// The rewriter's limits from the configured ones.
pub(super) fn rewrite_limits(limits: &Limits) -> RewriteLimits {
    RewriteLimits {
        max_depth: limits.max_json_depth,
    }
}

/// Whether a `scrub` anywhere in this request's policy (query, headers, cookies, or the body
/// under `body`'s policy) looks for the values the rules select.
pub(super) fn echoes(policy: Policy<'_>, body: Option<Policy<'_>>) -> bool {
    let fields = policy.plans.fields;
    let body_plans = body.map(|b| b.plans);
    let looks = policy.plans.json.echoes()
        || fields.form.echoes()
        || fields.query.echoes()
        || fields.header.echoes()
        || fields.cookie.echoes()
        || body_plans.is_some_and(|p| p.fields.form.echoes());
    // Something to look for must be selected somewhere, or the first pass finds nothing.
    looks
        && (policy.plans.echo_sources()
            || fields.header.echo_sources()
            || fields.cookie.echo_sources()
            || body_plans.is_some_and(|p| p.echo_sources()))
}

/// The collecting pass over a whole request ([`ApplyCx::collect_request`]): the same steps
/// as the policing that follows, on copies, with every action only recording its value. The
/// body comes last, so where its rewriter can ([`ApplyCx::last_in_one_pass`]) it is policed
/// here, in one pass with its collection: then its policed form is returned (`Some`, as
/// [`coded::police`] returns it) and must not be policed again.
///
/// # Errors
/// What the policing would refuse the request with.
pub(super) fn collect(
    policy: Policy<'_>,
    query_text: Option<&str>,
    headers: &HeaderMap,
    body: Option<(Policy<'_>, &[u8])>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Option<Vec<u8>>>, RejectCode> {
    query(policy, query_text, limits, cx)?;
    let mut copy = headers.clone();
    self::headers(policy, &mut copy, limits, cx)?;
    cookies(policy, &mut copy, limits, cx)?;
    let Some((body_policy, plain)) = body else {
        return Ok(None);
    };
    // The body is read as the headers say before they are policed; a rule on the header that
    // says what it is would read it otherwise after, so such a route collects it only.
    if policy
        .plans
        .fields
        .header
        .find_header(header::CONTENT_TYPE.as_str())
        .is_none()
    {
        cx.last_in_one_pass();
    }
    let policed = coded::police(body_policy, headers, plain, &rewrite_limits(limits), cx)?;
    Ok(cx.take_last_policed().then_some(policed))
}

/// Rewrites the query string with the route's `query:` rules. `Ok(None)` means unchanged.
///
/// # Errors
/// [`RejectCode::MalformedQuery`] when the query cannot be parsed.
pub(super) fn query(
    policy: Policy<'_>,
    query: Option<&str>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<String>, RejectCode> {
    let (Some(q), true) = (query, policy.plans.polices(Format::Query)) else {
        return Ok(None);
    };
    let mut out = Vec::new();
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
        Err(
            e @ (RewriteError::Action(_) | RewriteError::Ambiguous(_) | RewriteError::Wrapped(_)),
        ) => Err(coded::error(&e)),
        Err(_) => Err(RejectCode::MalformedQuery),
    }
}

/// Applies `header:` rules in place.
///
/// # Errors
/// [`RejectCode::MalformedQuery`] for a selected header that is not text;
/// [`RejectCode::Internal`] if an action fails or produces an invalid header value.
pub(super) fn headers(
    policy: Policy<'_>,
    headers: &mut HeaderMap,
    limits: &Limits,
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
        let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
        let action = match &rule.target {
            FieldTarget::Whole(action) => action,
            FieldTarget::Wrapped(wrap) => {
                // A document inside the header (a URL's query, base64 JSON): policed in
                // place, each line on its own.
                headers.remove(&name);
                for v in values {
                    let value = v.to_str().map_err(|_| RejectCode::MalformedQuery)?;
                    text.clear();
                    match rewrite_wrapped(value, wrap, &rewrite_limits(limits), cx, &mut text) {
                        Ok(Outcome::Unchanged) => headers.append(&name, v),
                        Ok(Outcome::Rewritten) => {
                            let nv =
                                HeaderValue::from_bytes(&text).map_err(|_| RejectCode::Internal)?;
                            headers.append(&name, nv)
                        }
                        Err(e) => return Err(coded::error(&e)),
                    };
                }
                continue;
            }
        };
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
pub(super) fn parameter_cookies(policy: Policy<'_>, headers: &mut HeaderMap) {
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

/// Forwards only the cookies the route names, each through its rule: a whole-value action,
/// or (`cookie:NAME=>$…`) its percent-decoded JSON rewritten and percent-encoded again. Every
/// other cookie is removed; with nothing left, so is the header. Runs on every route.
///
/// # Errors
/// [`Ambiguity::CookieValue`] for a forwarded cookie with no single reading;
/// [`RejectCode::MalformedQuery`] when a cookie a JSON rule reads is not percent-encoded
/// UTF-8 JSON; [`RejectCode::Internal`] if an action fails.
pub(super) fn cookies(
    policy: Policy<'_>,
    headers: &mut HeaderMap,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<(), RejectCode> {
    let plan = &policy.plans.fields.cookie;
    let Some(value) = headers.get(header::COOKIE) else {
        return Ok(());
    };
    if plan.is_empty() {
        headers.remove(header::COOKIE);
        return Ok(());
    }
    // Names that are not UTF-8 match no rule (rule names are tokens): those pairs go.
    let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut scratch = Vec::new();
    for pair in cookies::pairs(&text) {
        let Some(rule) = plan.find_cookie(pair.name) else {
            continue;
        };
        if !cookies::name_is_token(pair.name) || !cookies::value_is_unambiguous(pair.value) {
            return Err(RejectCode::AmbiguousRequest(Ambiguity::CookieValue));
        }
        let start = out.len();
        if !out.is_empty() {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(pair.name.as_bytes());
        out.push(b'=');
        match &rule.target {
            FieldTarget::Whole(action) => {
                let applied = match cx.treat_unread(action, rule.class) {
                    Some(a) => a,
                    None => {
                        scratch.clear();
                        let leaf = Leaf {
                            text: pair.value,
                            kind: LeafKind::String,
                            field: pair.name,
                        };
                        cx.treat(action, rule.class, &leaf, &mut scratch)
                            .map_err(|e| coded::error(&RewriteError::Action(e)))?
                    }
                };
                match applied {
                    Applied::Dropped => out.truncate(start),
                    Applied::Kept => out.extend_from_slice(pair.value.as_bytes()),
                    Applied::Replaced => cookies::push_encoded(&scratch, &mut out),
                }
            }
            FieldTarget::Wrapped(wrap) => {
                // The value a framework reads: percent-decoded, then the chain's codings.
                let decoded =
                    cookies::percent_decode(pair.value).ok_or(RejectCode::MalformedQuery)?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| RejectCode::MalformedWrapped(WrapFault::NotUtf8))?;
                scratch.clear();
                match rewrite_wrapped(&decoded, wrap, &rewrite_limits(limits), cx, &mut scratch) {
                    Ok(Outcome::Unchanged) => out.extend_from_slice(pair.value.as_bytes()),
                    Ok(Outcome::Rewritten) => cookies::push_encoded(&scratch, &mut out),
                    Err(e) => return Err(coded::error(&e)),
                }
            }
        }
    }
    if out.is_empty() {
        headers.remove(header::COOKIE);
    } else {
        let v = HeaderValue::from_bytes(&out).map_err(|_| RejectCode::Internal)?;
        headers.insert(header::COOKIE, v);
    }
    Ok(())
}

/// `Referer` (and the `Referrer` misspelling some frameworks read, express among them) is
/// reduced to the page's origin, `Origin` to a serialised origin, unless a `header:` rule
/// names the header; a value with no origin (a relative or non-http URL) is removed. Runs on
/// every route.
pub(super) fn referrer(policy: Policy<'_>, headers: &mut HeaderMap) {
    static NAMES: [(header::HeaderName, bool); 3] = [
        (header::REFERER, true),
        (header::HeaderName::from_static("referrer"), true),
        (header::ORIGIN, false),
    ];
    let rules = &policy.plans.fields.header;
    for (name, trailing_slash) in &NAMES {
        let trailing_slash = *trailing_slash;
        // The map first: most requests carry none of these, and the lookup by a built name
        // is cheaper than the rules' search.
        if !headers.contains_key(name) || rules.find_header(name.as_str()).is_some() {
            continue;
        }
        let values: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
        headers.remove(name);
        for v in values {
            let reduced = if !trailing_slash && v.as_bytes() == b"null" {
                Some("null".to_owned())
            } else {
                canon::headers::origin_of(v.as_bytes()).map(|mut o| {
                    if trailing_slash {
                        o.push('/');
                    }
                    o
                })
            };
            if let Some(r) = reduced.and_then(|r| HeaderValue::from_str(&r).ok()) {
                headers.append(name.clone(), r);
            }
        }
    }
}

/// Removes the `Set-Cookie` lines of a response whose cookie the route does not name: a
/// first-party proxy serves the vendor's answers on the site's own origin, where any cookie
/// the vendor set (a session cookie's name included) would land in the site's cookie jar.
pub(super) fn set_cookies(route: &Route, headers: &mut HeaderMap) {
    if !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let plan = &route.fields.cookie;
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let text = String::from_utf8_lossy(v.as_bytes());
            let name = text
                .split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .map(|(n, _)| n.trim_matches([' ', '\t']));
            name.is_some_and(|n| !n.is_empty() && plan.find_cookie(n).is_some())
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
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
        Ok(Format::SniffedJson | Format::Query | Format::FormLines) => Ok(false),
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
    let Ok(codings) = coded::codings(headers) else {
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
    matches!(coded::format(headers, None), Ok(Format::Json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{BodyCoding, TextBody};
    use crate::rewrite::Format;

    /// The service reads a body's format once, before it may give an unlabelled body the
    /// beacon type, and polices the body with that reading: the beacon type must read as the
    /// absent field does, whatever a route's text bodies hold.
    #[test]
    fn the_beacon_type_reads_as_an_absent_content_type() {
        for text in [TextBody::Json, TextBody::FormLines] {
            let coding = BodyCoding {
                param: None,
                values: Vec::new(),
                sniff_gzip: false,
                text,
            };
            for coding in [None, Some(&coding)] {
                assert_eq!(
                    Format::of_body(Some(BEACON_TYPE.as_bytes()), coding),
                    Format::of_body(None, coding),
                    "{coding:?}"
                );
            }
        }
    }
}
