//! What the operator asked for, compiled.
//!
//! A route's rules compile into a [`Plan`]: every JSON selector of the route in one
//! [`automaton::Automaton`], and per rule an [`action::Action`] with its crypto context already
//! built. The plan is immutable and shared by every request on the route.

pub mod action;
pub mod automaton;
pub mod disclosure;
pub mod fields;
pub mod fold;
pub mod names;
pub mod params;
pub mod selector;
pub mod subject;
pub mod transform;
pub mod unselected;
pub mod wrap;

pub use action::{
    Action, ActionKind, ActionOption, Applied, ApplyCx, Leaf, LeafKind, OptionDefault, OptionType,
};
pub use automaton::{Automaton, RuleId, StateId};
pub use disclosure::{DisclosureTally, FieldTally, Treatment};
pub use fields::{FieldPlan, FieldPlans, FieldRule, FieldTarget, covers as field_covers};
pub use selector::{JsonPath, SelectorError};
pub use unselected::{DetectMode, DetectPolicy, EchoCounts, Unselected};
pub use wrap::{
    BodyCoding, BodyLayer, Coding, FormDocument, FormReveal, Inner, TextBody, TextRule, Wrap,
};

use crate::detect::Class;

/// One compiled rule: the action applied to whatever its selectors pick.
#[derive(Debug)]
pub struct Rule {
    /// What happens to a selected value.
    pub action: Action,
    /// The class of personal data the rule's selectors name, for the disclosure ledger: the
    /// rule's `class` option, else what the selector's last member name says
    /// ([`crate::detect::Detector::classify_key`]); `None` is reported as `unclassified`.
    pub class: Option<Class>,
}

impl Rule {
    /// An unclassified rule.
    pub fn new(action: Action) -> Self {
        Self {
            action,
            class: None,
        }
    }

    /// A rule whose values are of `class`.
    pub(crate) fn with_class(action: Action, class: Option<Class>) -> Self {
        Self { action, class }
    }
}

/// A route's compiled JSON policy.
#[derive(Debug)]
pub struct Plan {
    /// All selectors of the route, in one automaton; accepting states name a rule.
    pub automaton: Automaton,
    /// Rules, indexed by [`RuleId`].
    pub rules: Vec<Rule>,
    /// What happens to values no rule selects (detection, allow-list mode).
    pub unselected: Unselected,
    /// Values that are documents of their own (selector chains): accepting ids from
    /// `rules.len()` on name these, in order. An action on a value always wins over reaching
    /// inside it, the way a rule on a parent covers its subtree.
    pub wraps: Vec<Wrap>,
}

impl Plan {
    /// A plan that selects nothing: the body is validated and forwarded unchanged.
    pub fn empty() -> Self {
        Self::new(Automaton::empty(), Vec::new())
    }

    /// A plan of `rules`; unselected values stay untouched.
    pub fn new(automaton: Automaton, rules: Vec<Rule>) -> Self {
        Self {
            automaton,
            rules,
            unselected: Unselected::default(),
            wraps: Vec::new(),
        }
    }

    /// Whether no selector can ever match.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.wraps.is_empty()
    }

    /// Whether the plan does anything to a payload: rules, detection or allow-list mode. A
    /// plan that does nothing lets any body through unparsed.
    pub fn polices(&self) -> bool {
        !self.is_empty() || self.unselected.active()
    }

    /// Whether a `scrub` of this plan (or of a document wrapped inside it) looks for the values
    /// the other rules select: then the rewriter collects them in a first pass.
    pub fn echoes(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(&r.action, Action::Scrub(s) if s.echoes()))
            || self.wraps.iter().any(Wrap::echoes)
            || self.unselected.detect.as_ref().is_some_and(|d| d.echoes())
    }

    /// Whether every text this plan searches for the request's selected values is one of its
    /// own leaves that a rule selects or detection leaves unclassified (no wrapped document
    /// searches or detects, and no free-text `scrub` of detection, which may fall back to
    /// the class's action for the whole leaf, searches): what the one pass of a JSON document
    /// can fill in after it ([`ApplyCx::begin_one_pass`]).
    pub fn echoes_in_own_leaves(&self) -> bool {
        self.unselected
            .detect
            .as_ref()
            .is_none_or(|d| !d.text_echoes())
            && self.wraps.iter().all(|w| !w.echoes() && !w.detects())
    }

    /// Whether a rule of this plan (or of a document wrapped inside it) selects values a
    /// `scrub` or detection would look for elsewhere: without one anywhere in a request,
    /// there is nothing to collect.
    pub fn echo_sources(&self) -> bool {
        self.rules.iter().any(|r| r.action.echo_source())
            || self.wraps.iter().any(Wrap::echo_sources)
    }

    /// The rule an accepting state names (an id below `rules.len()`; see [`Self::wrap`]).
    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.rules[usize::from(id)]
    }

    /// The wrapped document an accepting state names, if the id is one of [`Self::wraps`].
    #[inline]
    pub fn wrap(&self, id: RuleId) -> Option<&Wrap> {
        usize::from(id)
            .checked_sub(self.rules.len())
            .and_then(|i| self.wraps.get(i))
    }

    /// Number of ids accepting states may name: rules, then wraps.
    pub fn ids(&self) -> usize {
        self.rules.len() + self.wraps.len()
    }
}
