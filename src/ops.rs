//! Offline operations shared by the CLI and the admin API: preview a route's rewrite, reveal
//! envelopes. Nothing here touches the network.

use crate::config::{Config, Route};
use crate::crypto::OsNonces;
use crate::policy::subject::SubjectScopes;
use crate::policy::{ApplyCx, Plan};
use crate::rewrite::json::rewrite_json;
use crate::rewrite::{Limits, Outcome, RewriteError};

/// Why an offline operation failed. Never carries payload content.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// No route has this name.
    #[error("no route named `{0}`; routes are listed by `piigate check`")]
    NoSuchRoute(String),
    /// The payload could not be processed.
    #[error("{0}")]
    Rewrite(#[from] RewriteError),
    /// Some envelopes did not open (tampered, another domain or field, unknown or retired key).
    #[error(
        "{0} envelope(s) could not be opened: tampered, from another domain or field, or under an unknown or retired key"
    )]
    RevealFailed(u32),
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

/// Rewrites `input` as the route would before forwarding it.
///
/// # Errors
/// [`OpsError::Rewrite`] when the payload is not valid JSON or too deep.
pub fn preview(config: &Config, route: &Route, input: &[u8]) -> Result<Vec<u8>, OpsError> {
    run(&route.plan, config, input, None).map(|(out, _)| out)
}

/// Opens every envelope of the route's domain in `input`.
///
/// # Errors
/// [`OpsError::RevealFailed`] if any envelope did not open; no partial output is returned, so
/// a partial reveal cannot be mistaken for a full one.
pub fn reveal(config: &Config, route: &Route, input: &[u8]) -> Result<Vec<u8>, OpsError> {
    reveal_for(config, route, input, None)
}

/// As [`reveal`], also opening the subject-scoped envelopes (`pgs1`, `pgsd1`) of the people in
/// `subjects` (an access request: the owner reveals what it holds for a person).
///
/// # Errors
/// As [`reveal`].
pub fn reveal_for(
    config: &Config,
    route: &Route,
    input: &[u8],
    subjects: Option<&SubjectScopes>,
) -> Result<Vec<u8>, OpsError> {
    if route.reveal_plan.is_empty() {
        return Err(OpsError::NoKeys(route.name.clone()));
    }
    let (out, failures) = run(&route.reveal_plan, config, input, subjects)?;
    if failures > 0 {
        return Err(OpsError::RevealFailed(failures));
    }
    Ok(out)
}

fn run(
    plan: &Plan,
    config: &Config,
    input: &[u8],
    subjects: Option<&SubjectScopes>,
) -> Result<(Vec<u8>, u32), OpsError> {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    if let Some(s) = subjects {
        cx = cx.with_subjects(s);
    }
    let mut out = Vec::with_capacity(input.len());
    let limits = Limits {
        max_depth: config.limits.max_json_depth,
    };
    match rewrite_json(input, plan, &limits, &mut cx, &mut out)? {
        Outcome::Unchanged => Ok((input.to_vec(), cx.reveal_failures)),
        Outcome::Rewritten => Ok((out, cx.reveal_failures)),
    }
}
