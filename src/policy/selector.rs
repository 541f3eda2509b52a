//! JSONPath subset parser (RFC 9535): `$.a.b`, `$['a b']`, `$.a[*]`, `$.a[0]`, `$..email`, `$.*`.
//!
//! STUB: the engine work replaces this file.

/// A parsed JSONPath: a sequence of steps from the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    /// Steps from the root.
    pub steps: Vec<Step>,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Child (`.x`, `[0]`) or descendant (`..x`).
    pub axis: Axis,
    /// What the step matches.
    pub test: Test,
}

/// How a step relates to the previous node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Direct children.
    Child,
    /// Any descendant (`..`).
    Descendant,
}

/// What a step matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// A member with this (decoded) name.
    Name(Box<str>),
    /// An array element at this index.
    Index(u32),
    /// Any member or element.
    Wildcard,
}

/// A selector that does not parse. The offset is into the selector text (never a payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset})")]
pub struct SelectorError {
    /// 0-based character offset into the selector.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses one JSONPath selector.
///
/// # Errors
/// [`SelectorError`] locating the first problem.
pub fn parse(text: &str) -> Result<JsonPath, SelectorError> {
    let _ = text;
    Err(SelectorError {
        offset: 0,
        message: "selector parsing not implemented".into(),
    })
}
