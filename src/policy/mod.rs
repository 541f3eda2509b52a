//! What the operator asked for, compiled.
//!
//! A route's rules compile into a [`Plan`]: every JSON selector of the route in one
//! [`automaton::Automaton`], and per rule an [`action::Action`] with its crypto context already
//! built. The plan is immutable and shared by every request on the route.

pub mod action;
pub mod automaton;
pub mod fields;
pub mod selector;
pub mod subject;
pub mod transform;

pub use action::{Action, ActionKind, Applied, ApplyCx, Leaf, LeafKind};
pub use automaton::{Automaton, RuleId, StateId};
pub use fields::{FieldPlan, FieldPlans, FieldRule, FieldTarget};
pub use selector::{JsonPath, SelectorError};

/// One compiled rule: the action applied to whatever its selectors pick.
#[derive(Debug)]
pub struct Rule {
    /// What happens to a selected value.
    pub action: Action,
}

/// A route's compiled JSON policy.
#[derive(Debug)]
pub struct Plan {
    /// All selectors of the route, in one automaton; accepting states name a rule.
    pub automaton: Automaton,
    /// Rules, indexed by [`RuleId`].
    pub rules: Vec<Rule>,
}

impl Plan {
    /// A plan that selects nothing: the body is validated and forwarded unchanged.
    pub fn empty() -> Self {
        Self {
            automaton: Automaton::empty(),
            rules: Vec::new(),
        }
    }

    /// Whether no selector can ever match.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Forgets derived keys cached by `encrypt` actions (see
    /// [`crate::crypto::EnvelopeSealer::forget_derived_key`]): two runs over the same
    /// deterministic nonces then produce the same envelopes.
    #[doc(hidden)]
    pub fn forget_cached_keys(&self) {
        for r in &self.rules {
            if let Action::Encrypt(a) = &r.action {
                a.sealer.forget_derived_key();
            }
        }
    }

    /// The rule an accepting state names.
    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.rules[usize::from(id)]
    }
}
