//! Wrapped documents: values that are documents of their own, compiled from selector chains
//! ([`super::selector::chain`]).
//!
//! A [`Wrap`] says how to read a selected value — the codings to remove, outermost first, then
//! what the decoded text is — and holds the plan that polices the document inside. Plans nest:
//! a JSON plan inside a wrap may itself select values that are wrapped again. The rewriter
//! (`rewrite::wrap`) decodes, polices with the inner plan and, when something changed, encodes
//! the result back with the same codings, alphabet and padding the value came with.

use super::{Action, FieldPlan, FieldPlans, Plan};
use crate::detect::Class;

/// How a selected value is read, and the policy for what is inside it.
#[derive(Debug)]
pub struct Wrap {
    /// Codings to remove, outermost first.
    pub codings: Box<[Coding]>,
    /// What the decoded text is.
    pub inner: Inner,
}

/// One coding of a wrapped value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Base64 (RFC 4648): padded or not, as the value comes.
    Base64 {
        /// The URL-safe alphabet (`-_`, §5) rather than the standard one (`+/`, §4).
        url_safe: bool,
        /// A value that starts with `{` or `[` is the JSON text itself, not base64 of it.
        or_json: bool,
    },
}

/// What a decoded value is, with the plan that polices it.
#[derive(Debug)]
pub enum Inner {
    /// A JSON document.
    Json(Plan),
    /// A query string (one leading `?` allowed), in the form grammar.
    Query(FieldPlan),
    /// A URL (absolute or relative) whose query component is read in the form grammar.
    Url(FieldPlan),
    /// A text that is the value itself (a chain ending on a coding: a mail attachment's
    /// base64 content), treated by one rule's action.
    Text(Box<TextRule>),
}

/// The rule that treats a wrapped text as one value.
#[derive(Debug)]
pub struct TextRule {
    /// The rule's action, applied to the decoded text.
    pub action: Action,
    /// The class of the text's values, for the ledger.
    pub class: Option<Class>,
}

impl Coding {
    /// The selector spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Base64 {
                url_safe: false,
                or_json: false,
            } => "base64",
            Self::Base64 {
                url_safe: true,
                or_json: false,
            } => "base64url",
            Self::Base64 {
                url_safe: false,
                or_json: true,
            } => "base64?",
            Self::Base64 {
                url_safe: true,
                or_json: true,
            } => "base64url?",
        }
    }
}

impl Wrap {
    /// Whether a `scrub` inside the wrapped document looks for the values the rules select.
    pub fn echoes(&self) -> bool {
        match &self.inner {
            Inner::Json(plan) => plan.echoes(),
            Inner::Query(fields) | Inner::Url(fields) => fields.echoes(),
            Inner::Text(rule) => matches!(&rule.action, Action::Scrub(s) if s.echoes()),
        }
    }
}

impl Wrap {
    /// Whether detection runs anywhere inside the wrapped document.
    pub fn detects(&self) -> bool {
        match &self.inner {
            Inner::Json(plan) => {
                plan.unselected.detect.is_some() || plan.wraps.iter().any(Self::detects)
            }
            Inner::Query(fields) | Inner::Url(fields) => fields.unselected.detect.is_some()
                || fields.rules.iter().chain(&fields.others).any(
                    |r| matches!(&r.target, crate::policy::FieldTarget::Wrapped(w) if w.detects()),
                ),
            Inner::Text(_) => false,
        }
    }

    /// Whether a rule inside the wrapped document selects values a `scrub` would look for.
    pub fn echo_sources(&self) -> bool {
        match &self.inner {
            Inner::Json(plan) => plan.echo_sources(),
            Inner::Query(fields) | Inner::Url(fields) => fields.echo_sources(),
            Inner::Text(rule) => rule.action.echo_source(),
        }
    }
}

impl Inner {
    /// The kind of document, for comparing two chains that reach the same value.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Json(_) => "JSON",
            Self::Query(_) => "a query string",
            Self::Url(_) => "a URL",
            Self::Text(_) => "text",
        }
    }
}

/// How a route's bodies are coded when the vendor says so outside `Content-Encoding`
/// (`[routes.body_coding]`): posthog-js names gzip or base64 in a `compression` query
/// parameter, or sends gzip labelled `text/plain` with no signal at all.
#[derive(Debug, Default)]
pub struct BodyCoding {
    /// The query parameter naming the coding.
    pub param: Option<String>,
    /// Each value of `param` and what it means; a value not listed is refused.
    pub values: Vec<(String, BodyLayer)>,
    /// With no `param` in the query, a text body (`text/plain` or unlabelled) that starts
    /// with gzip's magic bytes is a gzip stream.
    pub sniff_gzip: bool,
    /// What a text body (`text/plain` or unlabelled) holds once decoded.
    pub text: TextBody,
}

/// What a route's text bodies (`text/plain` or unlabelled) hold: browsers label beacons and
/// no-preflight `fetch` calls so whatever the SDK put inside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TextBody {
    /// A JSON document (posthog-js, analytics-next): the default.
    #[default]
    Json,
    /// One URL-encoded form per line (gtag.js's batched hits), policed by the route's
    /// parameter rules.
    FormLines,
}

/// One way a vendor codes its body.
#[derive(Debug)]
pub enum BodyLayer {
    /// The body is what its `Content-Type` says.
    Identity,
    /// The body is a gzip stream of what its `Content-Type` says.
    Gzip,
    /// The body is a form whose field holds the document the route's `$` rules police
    /// (a [`Wrap`] with a copy of the body plan inside); other fields get the route's
    /// handling of unselected form fields.
    Form(Box<FormDocument>),
}

/// The plans for a body that is a form carrying the JSON document in one field.
#[derive(Debug)]
pub struct FormDocument {
    /// The selector spelling (`form:data=>base64`), for diagnostics and `check`.
    pub spelling: String,
    /// `form` holds the one field's rule; the other plans are empty.
    pub plans: FieldPlans,
    /// The same under the route's opt-out (`on_opt_out = "strict"`) policy.
    pub strict: Option<FieldPlans>,
    /// What `reveal` reads such a body with (a route with a keyring): the field's document
    /// under the route's inverse, then with every envelope of its domain opened.
    pub reveal: Option<FormReveal>,
}

/// The reveal plans of a [`FormDocument`]: the same field, the same codings, the route's
/// inverse and reveal plans inside.
#[derive(Debug)]
pub struct FormReveal {
    /// The field's document under the route's inverse (`form` holds the one rule).
    pub inverse: FieldPlans,
    /// Every envelope of the route's domain opened, in the field's document and elsewhere.
    pub reveal: FieldPlans,
}

impl BodyCoding {
    /// The layer `value` of the parameter names, if any.
    pub fn layer(&self, value: &str) -> Option<&BodyLayer> {
        self.values.iter().find(|(v, _)| v == value).map(|(_, l)| l)
    }
}
