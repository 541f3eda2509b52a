//! Wrapped documents: values that are documents of their own, compiled from selector chains
//! ([`super::selector::chain`]).
//!
//! A [`Wrap`] says how to read a selected value — the codings to remove, outermost first, then
//! what the decoded text is — and holds the plan that polices the document inside. Plans nest:
//! a JSON plan inside a wrap may itself select values that are wrapped again. The rewriter
//! (`rewrite::wrap`) decodes, polices with the inner plan and, when something changed, encodes
//! the result back with the same codings, alphabet and padding the value came with.

use super::{FieldPlan, Plan};

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

impl Inner {
    /// The kind of document, for comparing two chains that reach the same value.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Json(_) => "JSON",
            Self::Query(_) => "a query string",
            Self::Url(_) => "a URL",
        }
    }
}
