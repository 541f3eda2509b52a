//! Sans-io payload rewriting: bytes in, bytes out. No tokio, no hyper, no clock.

pub mod form;
pub mod json;
pub mod ndjson;
pub mod request;
pub mod subject;

use crate::policy::action::ActionError;

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
    /// An action failed.
    #[error("action failed: {0}")]
    Action(#[from] ActionError),
}
