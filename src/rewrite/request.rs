//! A request as piigate forwards it: the canonical head ([`crate::canon`]) and the policed
//! query string and body, composed without I/O.
//!
//! The proxy runs the same steps with routing, bodies and upstreams around them; this
//! composition exists so the boundary can be checked as a whole by property tests and the
//! `boundary` fuzz target: whatever [`reread`] accepts, it accepts again unchanged — what went
//! out is what piigate believed it sent.

use http::header::{self, HeaderMap};

use super::{Format, Limits, Outcome, Plans, RewriteError, rewrite_payload};
use crate::canon;
use crate::error::{Ambiguity, RejectCode};
use crate::policy::ApplyCx;
use crate::policy::params::cookies_without_parameters;

/// The parts of a forwarded request the boundary decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// Normalised path, `?`, policed query (when there is one).
    pub target: String,
    /// Headers after the content and spelling rules.
    pub headers: HeaderMap,
    /// The body, policed in the format its `Content-Type` names.
    pub body: Vec<u8>,
}

/// Reads `target`, `headers` and `body` the way a policing route does and returns what it
/// would forward: the query and a form or JSON body policed with every parameter rule of the
/// route ([`crate::policy::params`]).
///
/// # Errors
/// The [`RejectCode`] the proxy would answer with.
pub fn reread(
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
    plans: Plans<'_>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Forwarded, RejectCode> {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let normal = canon::path::normalize(path).map_err(RejectCode::BadPath)?;
    let mut headers = headers.clone();
    canon::headers::join_cookies(&mut headers);
    canon::headers::check_spellings(&headers)?;
    canon::content::canonicalize(&mut headers)?;
    let params = plans.params(Format::Query);
    if params.polices()
        && let Some(cookie) = headers.get(header::COOKIE)
        && let Some(kept) = cookies_without_parameters(cookie.as_bytes(), params)
    {
        match http::HeaderValue::from_bytes(&kept) {
            Ok(v) if !kept.is_empty() => headers.insert(header::COOKIE, v),
            _ => headers.remove(header::COOKIE),
        };
    }
    // Checked after the query is policed, as the proxy does; the error is kept until then.
    let body_format = body_format(&headers, body, plans);
    // As the proxy does: values selected in the query are searched for in the body's text
    // and the other way round, and the body, the collection's last document, is policed in
    // the collecting pass itself where its rewriter can.
    let mut body_done = None;
    if plans.echoes() {
        cx.collect_request(|cx| {
            police_query(query, plans, limits, cx)?;
            cx.last_in_one_pass();
            let policed = police_body(body, body_format, plans, limits, cx)?;
            if cx.take_last_policed() {
                body_done = Some(policed);
            }
            Ok::<_, RejectCode>(())
        })?;
    }
    let new_query = police_query(query, plans, limits, cx)?;
    let new_body = match body_done {
        Some(policed) => policed,
        None => police_body(body, body_format, plans, limits, cx)?,
    };
    let mut out = String::with_capacity(target.len());
    out.push_str(&normal.path);
    if let Some(q) = query {
        out.push('?');
        match &new_query {
            Some(rewritten) => {
                out.push_str(std::str::from_utf8(rewritten).map_err(|_| RejectCode::Internal)?)
            }
            None => out.push_str(q),
        }
    }
    Ok(Forwarded {
        target: out,
        headers,
        body: new_body.unwrap_or_else(|| body.to_vec()),
    })
}

/// The format the body is policed in (`None`: no body).
fn body_format(
    headers: &HeaderMap,
    body: &[u8],
    plans: Plans<'_>,
) -> Result<Option<Format>, RejectCode> {
    if body.is_empty() {
        return Ok(None);
    }
    let ct = headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    let format = Format::from_content_type(ct).map_err(|_| RejectCode::UnsupportedMediaType)?;
    if !plans.polices(format) {
        return Err(RejectCode::UnsupportedMediaType);
    }
    if format == Format::Form
        && matches!(body.trim_ascii_start().first(), Some(b'{' | b'['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
    {
        return Err(RejectCode::AmbiguousRequest(Ambiguity::BodyTypeMismatch));
    }
    Ok(Some(format))
}

/// The policed query (`None`: unchanged).
fn police_query(
    query: Option<&str>,
    plans: Plans<'_>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RejectCode> {
    let Some(q) = query.filter(|_| plans.polices(Format::Query)) else {
        return Ok(None);
    };
    let mut rewritten = Vec::new();
    let outcome = rewrite_payload(
        Format::Query,
        q.as_bytes(),
        plans,
        limits,
        cx,
        &mut rewritten,
    )
    .map_err(|e| reject(&e, RejectCode::MalformedQuery))?;
    Ok((outcome == Outcome::Rewritten).then_some(rewritten))
}

/// The policed body (`None`: unchanged). Its format's error is returned only here, after the
/// query was policed, as the proxy orders them.
fn police_body(
    body: &[u8],
    body_format: Result<Option<Format>, RejectCode>,
    plans: Plans<'_>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
) -> Result<Option<Vec<u8>>, RejectCode> {
    let Some(format) = body_format? else {
        return Ok(None);
    };
    let mut rewritten = Vec::new();
    let outcome = rewrite_payload(format, body, plans, limits, cx, &mut rewritten)
        .map_err(|e| reject(&e, RejectCode::MalformedBody))?;
    Ok((outcome == Outcome::Rewritten).then_some(rewritten))
}

fn reject(e: &RewriteError, malformed: RejectCode) -> RejectCode {
    match e {
        RewriteError::Ambiguous(a) => RejectCode::AmbiguousRequest(*a),
        RewriteError::Wrapped(w) => RejectCode::MalformedWrapped(*w),
        RewriteError::Action(_) => RejectCode::Internal,
        RewriteError::Malformed { .. } | RewriteError::TooDeep { .. } => malformed,
    }
}

#[cfg(test)]
mod tests;
