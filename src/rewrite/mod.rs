//! Sans-io payload rewriting: bytes in, bytes out. No tokio, no hyper, no clock.
//!
//! [`Format`] names how a payload is read and [`rewrite_payload`] polices a payload of any
//! format with the plan for it: the proxy (bodies and query strings), the admin preview and the
//! offline `preview`/`reveal` all go through it, so they cannot disagree on a format.

pub mod body;
#[cfg(test)]
mod echo_tests;
pub mod form;
pub mod form_lines;
pub mod format;
pub mod json;
mod lines;
pub mod ndjson;
pub mod request;
pub mod subject;
pub mod wrap;

pub use format::{Format, UnsupportedType};

use crate::policy::action::ActionError;
use crate::policy::params::Params;
use crate::policy::{ApplyCx, FieldPlans, Plan};

/// The plans one request is policed with: the JSON plan for JSON and NDJSON bodies, the field
/// plans for forms and query strings.
#[derive(Debug, Clone, Copy)]
pub struct Plans<'a> {
    /// Policy for JSON and NDJSON bodies.
    pub json: &'a Plan,
    /// Policy for form fields, query parameters and headers.
    pub fields: &'a FieldPlans,
}

impl<'a> Plans<'a> {
    /// Whether a `scrub` of these plans looks for the values the other rules select (any
    /// format: a form's pairs may find their rule among the query's or the JSON rules).
    pub fn echoes(&self) -> bool {
        (self.json.echoes() || self.fields.form.echoes() || self.fields.query.echoes())
            && self.echo_sources()
    }

    /// Whether these are the very same plans (by address: the compiled plans of one route
    /// and variant), so what was derived from one holds for the other.
    pub fn same_as(&self, other: Plans<'_>) -> bool {
        std::ptr::eq(self.json, other.json) && std::ptr::eq(self.fields, other.fields)
    }

    /// Whether a rule of these plans selects values a `scrub` or detection would look for.
    pub fn echo_sources(&self) -> bool {
        self.json.echo_sources()
            || self.fields.form.echo_sources()
            || self.fields.query.echo_sources()
    }

    /// Whether these plans do anything to a payload of `format`: rules, detection or allow-list
    /// mode. A body of a format the plans do not police must not be waved past them.
    pub fn polices(&self, format: Format) -> bool {
        match format {
            Format::Json | Format::Ndjson | Format::SniffedJson => self.json.polices(),
            Format::Form | Format::Query | Format::FormLines => self.params(format).polices(),
        }
    }

    /// Where the rules for the pairs of a form body ([`Format::Form`], each line of
    /// [`Format::FormLines`]) or the query string ([`Format::Query`]) are looked up: every parameter rule of the route
    /// ([`crate::policy::params`]).
    pub fn params(&self, format: Format) -> Params<'a> {
        let (own, other) = match format {
            Format::Query => (&self.fields.query, &self.fields.form),
            _ => (&self.fields.form, &self.fields.query),
        };
        Params {
            own,
            other: Some(other),
            json: Some(self.json),
        }
    }
}

/// Rewrites a payload of `format` with the plan for that format, appending the result to `out`
/// ([`Outcome::Unchanged`] leaves `out` alone).
///
/// Every rewriter reserves room in `out` once, at its first change, sized from `input` with
/// slack for longer replacements: pass an empty `Vec`. Capacity given up front is not counted
/// on (the reservation is on top of `out`'s length), so it would only be reallocated — and
/// copied — at the first change, and an unchanged payload would still have paid for it.
///
/// # Errors
/// The format's [`RewriteError`]: malformed input, nesting past `limits`, or a failed action.
pub fn rewrite_payload(
    format: Format,
    input: &[u8],
    plans: Plans<'_>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    // A `scrub` that looks for the values the other rules select needs them all before it
    // reads any text (a name may come after the body that repeats it). A JSON document is
    // policed in one pass that collects them as it goes and fills the texts to search in
    // after it; other documents take a first pass that only collects. Only routes with such
    // a rule pay for either. The proxy collects over the whole request instead
    // (`ApplyCx::collect_request`): then the values are already there, from every document,
    // or, for the body, its last, collected in the pass that polices it.
    let one_pass = || {
        matches!(format, Format::Json | Format::SniffedJson) && plans.json.echoes_in_own_leaves()
    };
    // The last document of a request-wide collection: policed now, in the collection's one
    // pass, rather than collected now and policed again after.
    if cx.take_last() && one_pass() {
        let base = out.len();
        let (once, stands) =
            cx.police_last(|cx| rewrite_once(format, input, plans, limits, cx, out));
        if !stands {
            out.truncate(base);
            return once.map(|_| Outcome::Unchanged);
        }
        return once;
    }
    if plans.echoes() && !cx.echo_collected() {
        // One pass where the rewriter can leave the texts to search for a fill-in after it
        // (a JSON document whose echoing texts are its own leaves): it polices and collects
        // at once. Should a search need the values before they are all known after all, the
        // document is redone in the two passes below.
        if one_pass()
            && let Some(saved) = cx.begin_one_pass()
        {
            let base = out.len();
            let once = rewrite_once(format, input, plans, limits, cx, out);
            if cx.end_one_pass() {
                return once;
            }
            out.truncate(base);
            cx.abandon_one_pass(saved);
        }
        let Some(saved) = cx.begin_collect() else {
            return rewrite_once(format, input, plans, limits, cx, out);
        };
        let mut discard = Vec::new();
        let first = rewrite_once(format, input, plans, limits, cx, &mut discard);
        cx.end_collect(saved);
        let second = first.and_then(|_| rewrite_once(format, input, plans, limits, cx, out));
        cx.clear_echo();
        return second;
    }
    rewrite_once(format, input, plans, limits, cx, out)
}

fn rewrite_once(
    format: Format,
    input: &[u8],
    plans: Plans<'_>,
    limits: &Limits,
    cx: &mut ApplyCx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, RewriteError> {
    match format {
        Format::Json | Format::SniffedJson => {
            json::rewrite_json(input, plans.json, limits, cx, out)
        }
        Format::Ndjson => ndjson::rewrite_ndjson(input, plans.json, limits, cx, out),
        Format::Form | Format::Query => {
            form::rewrite_form(input, plans.params(format), limits, cx, out)
        }
        Format::FormLines => {
            form_lines::rewrite_form_lines(input, plans.params(format), limits, cx, out)
        }
    }
}

/// Runs `rewrite`, which appends to `out`, and keeps what it appended only when it returns
/// [`Outcome::Rewritten`]: an unchanged payload or a refusal leaves `out` as it was, as every
/// rewriter promises its caller.
fn appending(
    out: &mut Vec<u8>,
    rewrite: impl FnOnce(&mut Vec<u8>) -> Result<Outcome, RewriteError>,
) -> Result<Outcome, RewriteError> {
    let base = out.len();
    let result = rewrite(out);
    if !matches!(result, Ok(Outcome::Rewritten)) {
        out.truncate(base);
    }
    result
}

/// Limits the rewriter enforces while scanning.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum nesting depth of arrays and objects.
    pub max_depth: usize,
}

/// Whether the rewriter changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was selected: `out` is untouched and the caller forwards the input as is.
    Unchanged,
    /// `out` holds the rewritten payload.
    Rewritten,
}

/// Why a payload could not be policed. Carries offsets, never payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The payload is not valid for its format.
    #[error("malformed payload at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
        /// A fixed description.
        reason: &'static str,
    },
    /// Nesting exceeds [`Limits::max_depth`].
    #[error("payload nests deeper than the limit of {limit}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// The payload has more than one plausible reading (docs/BOUNDARY.md).
    #[error("ambiguous payload: {}", .0.as_str())]
    Ambiguous(crate::error::Ambiguity),
    /// A value a selector chain reads as a document of its own does not decode.
    #[error("wrapped value: {}", .0.as_str())]
    Wrapped(crate::error::WrapFault),
    /// An action failed.
    #[error("action failed: {0}")]
    Action(#[from] ActionError),
}
