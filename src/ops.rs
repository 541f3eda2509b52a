//! Offline operations shared by the CLI and the admin API: preview a route's rewrite, reveal
//! envelopes. Nothing here touches the network.
//!
//! Both police the payload through [`rewrite_payload`], the gateway's own entry point, so a
//! preview is byte for byte what the gateway would forward, in every format it polices.

use crate::config::{Config, Route};
use crate::crypto::OsNonces;
use crate::policy::ApplyCx;
use crate::policy::subject::SubjectScopes;
use crate::rewrite::{Format, Limits, Outcome, Plans, RewriteError, rewrite_payload};

/// Why an offline operation failed. Never carries payload content.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// No route has this name.
    #[error("no route named `{0}`; routes are listed by `piigate check`")]
    NoSuchRoute(String),
    /// The payload could not be processed.
    #[error("{0}")]
    Rewrite(#[from] RewriteError),
    /// The route has no rules for payloads of this format: the gateway refuses such a body.
    #[error("route `{0}` has no rules for this format; the gateway would refuse it (415)")]
    NotPoliced(String),
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

/// Rewrites `input`, a payload of `format`, as the route would before forwarding it.
///
/// # Errors
/// [`OpsError::NotPoliced`] for a body format the route has no rules for;
/// [`OpsError::Rewrite`] when the payload is malformed for its format or too deep.
pub fn preview(
    config: &Config,
    route: &Route,
    format: Format,
    input: &[u8],
) -> Result<Vec<u8>, OpsError> {
    let plans = route.plans();
    // What the gateway does with a payload no rule reads: a query string is forwarded as it
    // came, a body is refused.
    match (plans.polices(format), format) {
        (true, _) => {}
        (false, Format::Query) => return Ok(input.to_vec()),
        (false, _) => return Err(OpsError::NotPoliced(route.name.clone())),
    }
    run(plans, config, format, input, None).map(|(out, _)| out)
}

/// The inverse of the route on `input`, a payload of `format`: at the selectors of the
/// route's rules, `encrypt` and `encrypt_deterministic` envelopes open and `fpe` values
/// decrypt with the rule's options and key; then every other envelope of the route's domain
/// opens wherever it is.
///
/// # Errors
/// [`OpsError::RevealFailed`] (with the fields) if any value did not open; no partial output is
/// returned, so a partial reveal cannot be mistaken for a full one.
pub fn reveal(
    config: &Config,
    route: &Route,
    format: Format,
    input: &[u8],
) -> Result<Vec<u8>, OpsError> {
    reveal_for(config, route, format, input, None)
}

/// As [`reveal`], also opening the subject-scoped envelopes (`pgs1`, `pgsd1`) of the people in
/// `subjects` (an access request: the owner reveals what it holds for a person).
///
/// # Errors
/// As [`reveal`].
pub(crate) fn reveal_for(
    config: &Config,
    route: &Route,
    format: Format,
    input: &[u8],
    subjects: Option<&SubjectScopes>,
) -> Result<Vec<u8>, OpsError> {
    if route.reveal_plan.is_empty() {
        return Err(OpsError::NoKeys(route.name.clone()));
    }
    let (inverted, mut failed) = run(route.inverse_plans(), config, format, input, subjects)?;
    let (out, rest) = run(route.reveal_plans(), config, format, &inverted, subjects)?;
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
    let mut out = Vec::with_capacity(input.len());
    let limits = Limits {
        max_depth: config.limits.max_json_depth,
    };
    let outcome = rewrite_payload(format, input, plans, &limits, &mut cx, &mut out)?;
    let failed = (
        cx.reveal_failures,
        std::mem::take(&mut cx.reveal_failed_fields),
    );
    match outcome {
        Outcome::Unchanged => Ok((input.to_vec(), failed)),
        Outcome::Rewritten => Ok((out, failed)),
    }
}
