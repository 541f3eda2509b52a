//! All JSON selectors of a route compiled into one deterministic automaton.
//!
//! STUB: the engine work replaces this file.

use super::selector::JsonPath;

/// Index of a rule in [`super::Plan::rules`].
pub type RuleId = u16;
/// A state of the automaton.
pub type StateId = u32;

/// The compiled selector automaton.
#[derive(Debug, Default)]
pub struct Automaton {}

/// Building the automaton failed (too many states).
#[derive(Debug, Clone, thiserror::Error)]
#[error("selectors are too complex: {0}")]
pub struct AutomatonError(pub String);

impl Automaton {
    /// An automaton that matches nothing.
    pub fn empty() -> Self {
        Self {}
    }

    /// Compiles `(path, rule)` pairs. Earlier rules win when two select the same node.
    ///
    /// # Errors
    /// [`AutomatonError`] if determinisation exceeds the state budget.
    pub fn build(paths: &[(JsonPath, RuleId)]) -> Result<Self, AutomatonError> {
        let _ = paths;
        Ok(Self {})
    }
}
