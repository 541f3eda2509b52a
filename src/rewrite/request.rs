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
    let mut out = String::with_capacity(target.len());
    out.push_str(&normal.path);
    if let Some(q) = query {
        out.push('?');
        let mut rewritten = Vec::new();
        if plans.polices(Format::Query) {
            match rewrite_payload(
                Format::Query,
                q.as_bytes(),
                plans,
                limits,
                cx,
                &mut rewritten,
            )
            .map_err(|e| reject(&e, RejectCode::MalformedQuery))?
            {
                Outcome::Rewritten => {
                    out.push_str(std::str::from_utf8(&rewritten).map_err(|_| RejectCode::Internal)?)
                }
                Outcome::Unchanged => out.push_str(q),
            }
        } else {
            out.push_str(q);
        }
    }
    let mut body_out = body.to_vec();
    if !body.is_empty() {
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
        let mut rewritten = Vec::new();
        if rewrite_payload(format, body, plans, limits, cx, &mut rewritten)
            .map_err(|e| reject(&e, RejectCode::MalformedBody))?
            == Outcome::Rewritten
        {
            body_out = rewritten;
        }
    }
    Ok(Forwarded {
        target: out,
        headers,
        body: body_out,
    })
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
