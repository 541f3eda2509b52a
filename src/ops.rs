//! Offline operations shared by the CLI and the admin API: preview a route's rewrite, reveal
//! envelopes. Nothing here touches the network.
//!
//! A body goes through [`crate::rewrite::body`], the gateway's own path (its content codings,
//! the coding its vendor signals outside them, the format the route reads it as, policed and
//! coded back), and a query string through [`rewrite_payload`], so a preview is byte for byte
//! what the gateway would forward, in every format and coding it polices.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};

use crate::config::{Config, Route};
use crate::crypto::OsNonces;
use crate::error::RejectCode;
use crate::policy::ApplyCx;
use crate::policy::subject::SubjectScopes;
use crate::rewrite::body::{self as coded, Layer, Policy};
use crate::rewrite::{Format, Limits, Outcome, Plans, RewriteError, rewrite_payload};

/// A payload as the gateway receives it.
#[derive(Debug, Clone)]
pub struct Payload<'a> {
    /// What the bytes are.
    kind: Kind,
    /// The query string, or the body as it arrives (coded, if it was).
    bytes: &'a [u8],
}

#[derive(Debug, Clone)]
enum Kind {
    Query,
    Body {
        /// `Content-Type` and `Content-Encoding`, as the request's.
        headers: HeaderMap,
        /// The request's query, which may name the vendor's coding (`?compression=gzip-js`).
        query: Option<String>,
    },
}

impl<'a> Payload<'a> {
    /// A request's query string (without `?`), policed with the route's parameter rules.
    pub fn query(bytes: &'a [u8]) -> Self {
        Self {
            kind: Kind::Query,
            bytes,
        }
    }

    /// A request body with the headers that say what it is (`Content-Type`,
    /// `Content-Encoding`; others are ignored) and the query of the request it came with.
    pub fn body(headers: HeaderMap, query: Option<&str>, bytes: &'a [u8]) -> Self {
        Self {
            kind: Kind::Body {
                headers,
                query: query.map(str::to_owned),
            },
            bytes,
        }
    }

    /// A body of this `Content-Type`, uncoded, sent without a query.
    ///
    /// # Errors
    /// [`OpsError::Refused`] (415) for a content type that is not a header value.
    pub fn typed(content_type: &str, bytes: &'a [u8]) -> Result<Self, OpsError> {
        let mut headers = HeaderMap::new();
        let v = HeaderValue::from_str(content_type)
            .map_err(|_| OpsError::Refused(RejectCode::UnsupportedMediaType))?;
        headers.insert(header::CONTENT_TYPE, v);
        Ok(Self::body(headers, None, bytes))
    }
}

/// Why an offline operation failed. Never carries payload content.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// No route has this name.
    #[error("no route named `{0}`; routes are listed by `piigate check`")]
    NoSuchRoute(String),
    /// The payload could not be processed.
    #[error("{0}")]
    Rewrite(#[from] RewriteError),
    /// The gateway would refuse the request: the body's type, coding or content is not one
    /// the route can police.
    #[error("the gateway would refuse it: {} {}: {}", .0.status().as_u16(), .0.as_str(), .0.message())]
    Refused(RejectCode),
    /// Some values did not open: envelopes tampered, from another domain or field, or under an
    /// unknown or retired key; `fpe` fields holding no value of the route's alphabet and length.
    #[error(
        "{count} value(s) could not be opened, in field(s) {}: envelopes tampered, from another \
         domain or field, or under an unknown or retired key; fpe values not of the rule's \
         alphabet or length",
        fields.join(", ")
    )]
    RevealFailed {
        /// How many values.
        count: u32,
        /// The fields they sat in, as report paths write names (`*` for a name that may be
        /// data); never a value.
        fields: Vec<String>,
    },
    /// The route has no keyring to reveal with.
    #[error("route `{0}` has no keyring to reveal with")]
    NoKeys(String),
}

/// Finds a route by name.
///
/// # Errors
/// [`OpsError::NoSuchRoute`].
pub fn route<'c>(config: &'c Config, name: &str) -> Result<&'c Route, OpsError> {
    config
        .routes
        .iter()
        .find(|r| r.name == name)
        .map(AsRef::as_ref)
        .ok_or_else(|| OpsError::NoSuchRoute(name.to_owned()))
}

/// Rewrites `payload` as the route would before forwarding it: a body decoded, policed and
/// coded again as the gateway does, a query string policed.
///
/// # Errors
/// [`OpsError::Refused`] for what the gateway refuses (a body format the route has no rules
/// for, a coding it does not list or that does not decode, an ambiguous body);
/// [`OpsError::Rewrite`] when a query string is malformed or too deep.
pub fn preview(config: &Config, route: &Route, payload: &Payload<'_>) -> Result<Vec<u8>, OpsError> {
    let Kind::Body { headers, query } = &payload.kind else {
        // What the gateway does with a query no rule reads: forwarded as it came.
        if !route.plans().polices(Format::Query) {
            return Ok(payload.bytes.to_vec());
        }
        return run(route.plans(), config, Format::Query, payload.bytes, None).map(|(out, _)| out);
    };
    let limits = config_limits(config);
    let layer = route.body_layer(false, query.as_deref())?;
    let policy = route.body_policy(false).for_body(layer);
    let decoded = coded::decode(
        policy,
        layer,
        headers,
        Bytes::copy_from_slice(payload.bytes),
        config.limits.max_decoded_bytes,
    )?;
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let rewritten = coded::police(policy, headers, decoded.plain(), &limits, &mut cx)?;
    Ok(decoded.finish(rewritten)?.to_vec())
}

/// The inverse of the route on `payload`: at the selectors of the route's rules, `encrypt`
/// and `encrypt_deterministic` envelopes open and `fpe` values decrypt with the rule's options
/// and key; then every other envelope of the route's domain opens wherever it is. A body is
/// read as the gateway reads it (content codings, the vendor's gzip, the route's text format)
/// and coded back the same way.
///
/// # Errors
/// [`OpsError::RevealFailed`] (with the fields) if any value did not open; no partial output is
/// returned, so a partial reveal cannot be mistaken for a full one.
pub fn reveal(config: &Config, route: &Route, payload: &Payload<'_>) -> Result<Vec<u8>, OpsError> {
    reveal_for(config, route, payload, None)
}

/// As [`reveal`], also opening the subject-scoped envelopes (`pgs1`, `pgsd1`) of the people in
/// `subjects` (an access request: the owner reveals what it holds for a person).
///
/// # Errors
/// As [`reveal`].
pub(crate) fn reveal_for(
    config: &Config,
    route: &Route,
    payload: &Payload<'_>,
    subjects: Option<&SubjectScopes>,
) -> Result<Vec<u8>, OpsError> {
    if route.reveal_plan.is_empty() {
        return Err(OpsError::NoKeys(route.name.clone()));
    }
    let Kind::Body { headers, query } = &payload.kind else {
        return reveal_plain(config, route, Format::Query, payload.bytes, subjects);
    };
    let layer = route.body_layer(false, query.as_deref())?;
    // Read with the plans that open every envelope: what the route's request plans did not
    // police (a form on a JSON route) may still hold envelopes placed by detection. A form
    // layer's document is revealed in its field, as it was policed.
    let (inverse, reveal) = match layer {
        Layer::Form { doc, .. } => {
            let Some(r) = &doc.reveal else {
                return Err(OpsError::NoKeys(route.name.clone()));
            };
            (
                Plans {
                    json: &route.inverse_plan,
                    fields: &r.inverse,
                },
                Plans {
                    json: &route.reveal_plan,
                    fields: &r.reveal,
                },
            )
        }
        _ => (route.inverse_plans(), route.reveal_plans()),
    };
    let policy = Policy {
        plans: reveal,
        observe_only: false,
        coding: route.body_coding.as_ref(),
    };
    let decoded = coded::decode(
        policy,
        layer,
        headers,
        Bytes::copy_from_slice(payload.bytes),
        config.limits.max_decoded_bytes,
    )?;
    let format = coded::format(headers, policy.coding)?;
    // An empty body is read like any other (no JSON document: refused as malformed).
    let out = reveal_with((inverse, reveal), config, format, decoded.plain(), subjects)?;
    Ok(decoded.finish(Some(out))?.to_vec())
}

fn reveal_plain(
    config: &Config,
    route: &Route,
    format: Format,
    input: &[u8],
    subjects: Option<&SubjectScopes>,
) -> Result<Vec<u8>, OpsError> {
    reveal_with(
        (route.inverse_plans(), route.reveal_plans()),
        config,
        format,
        input,
        subjects,
    )
}

/// The inverse, then every envelope opened, with these plans.
fn reveal_with(
    (inverse, reveal): (Plans<'_>, Plans<'_>),
    config: &Config,
    format: Format,
    input: &[u8],
    subjects: Option<&SubjectScopes>,
) -> Result<Vec<u8>, OpsError> {
    let (inverted, mut failed) = run(inverse, config, format, input, subjects)?;
    let (out, rest) = run(reveal, config, format, &inverted, subjects)?;
    failed.0 += rest.0;
    for f in rest.1 {
        if !failed.1.contains(&f) {
            failed.1.push(f);
        }
    }
    if failed.0 > 0 {
        let detector = crate::detect::Detector::default();
        let mut fields: Vec<String> = failed
            .1
            .iter()
            .map(|name| {
                let mut s = String::new();
                crate::policy::names::push_field_name(&mut s, &detector, name);
                s
            })
            .collect();
        fields.dedup();
        return Err(OpsError::RevealFailed {
            count: failed.0,
            fields,
        });
    }
    Ok(out)
}

fn config_limits(config: &Config) -> Limits {
    Limits {
        max_depth: config.limits.max_json_depth,
    }
}

/// What did not open: how many values, and the (raw) names of their fields.
type Failed = (u32, Vec<Box<str>>);

fn run(
    plans: Plans<'_>,
    config: &Config,
    format: Format,
    input: &[u8],
    subjects: Option<&SubjectScopes>,
) -> Result<(Vec<u8>, Failed), OpsError> {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    if let Some(s) = subjects {
        cx = cx.with_subjects(s);
    }
    let mut out = Vec::new();
    let outcome = rewrite_payload(
        format,
        input,
        plans,
        &config_limits(config),
        &mut cx,
        &mut out,
    )?;
    let failed = (
        cx.reveal_failures,
        std::mem::take(&mut cx.reveal_failed_fields),
    );
    match outcome {
        Outcome::Unchanged => Ok((input.to_vec(), failed)),
        Outcome::Rewritten => Ok((out, failed)),
    }
}

impl From<RejectCode> for OpsError {
    fn from(code: RejectCode) -> Self {
        Self::Refused(code)
    }
}
