//! A request as piigate forwards it: the canonical head ([`crate::canon`]) and the policed
//! query string and form body, composed without I/O.
//!
//! The proxy runs the same steps with routing, bodies and upstreams around them; this
//! composition exists so the boundary can be checked as a whole by property tests and the
//! `boundary` fuzz target: whatever [`reread`] accepts, it accepts again unchanged — what went
//! out is what piigate believed it sent.

use http::header::{self, HeaderMap};

use super::form::rewrite_form;
use super::{Limits, Outcome, RewriteError};
use crate::canon;
use crate::error::{Ambiguity, RejectCode};
use crate::policy::{ApplyCx, FieldPlans};

/// The parts of a forwarded request the boundary decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// Normalised path, `?`, policed query (when there is one).
    pub target: String,
    /// Headers after the content and spelling rules.
    pub headers: HeaderMap,
    /// The body, its form pairs policed when it is a form.
    pub body: Vec<u8>,
}

/// Reads `target`, `headers` and `body` the way a policing route does and returns what it
/// would forward.
///
/// # Errors
/// The [`RejectCode`] the proxy would answer with.
pub fn reread(
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
    plans: &FieldPlans,
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
    let mut out = String::with_capacity(target.len());
    out.push_str(&normal.path);
    if let Some(q) = query {
        out.push('?');
        let mut rewritten = Vec::new();
        if plans.query.polices() {
            match rewrite_form(q.as_bytes(), &plans.query, limits, cx, &mut rewritten)
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
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next() == Some("application/x-www-form-urlencoded"));
    let mut body_out = body.to_vec();
    if is_form && plans.form.polices() && !body.is_empty() {
        if matches!(body.trim_ascii_start().first(), Some(b'{' | b'['))
            && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
        {
            return Err(RejectCode::AmbiguousRequest(Ambiguity::BodyTypeMismatch));
        }
        let mut rewritten = Vec::new();
        if rewrite_form(body, &plans.form, limits, cx, &mut rewritten)
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
        RewriteError::Action(_) => RejectCode::Internal,
        RewriteError::Malformed { .. } | RewriteError::TooDeep { .. } => malformed,
    }
}

#[cfg(test)]
mod tests;
