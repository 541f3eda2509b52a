//! Named-field rules: form fields, query parameters and headers.
//!
//! Where JSON has paths, these payloads have flat names. A rule names a field (`form:email`,
//! `query:uid`, `header:x-user-id`) and either applies an action to its whole value or, with
//! `=>`, treats the value as a JSON document with its own [`Plan`] (Mixpanel's `data` field).
//! A name also covers its bracket children, so `form:address` reaches `address[line1]` and
//! `address[city]` the way a JSON rule on an object reaches every leaf beneath it.

use super::{Action, Plan, Unselected};

/// What happens to a selected field.
// Built once per rule at config load and only borrowed afterwards (see `Action`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum FieldTarget {
    /// The value is one JSON document rewritten by this plan.
    Json(Plan),
    /// The value as a whole goes through the action.
    Whole(Action),
}

/// One field rule.
#[derive(Debug)]
pub struct FieldRule {
    /// The decoded field name (header names lower-case).
    pub name: Box<str>,
    /// What to do with it.
    pub target: FieldTarget,
    /// The class of data the field holds, for the disclosure ledger (`Whole` targets).
    pub class: Option<crate::detect::Class>,
}

/// All rules of one field kind, in declaration order (the first match wins).
#[derive(Debug, Default)]
pub struct FieldPlan {
    /// Rules in file order.
    pub rules: Vec<FieldRule>,
    /// What happens to fields no rule names (detection, allow-list mode); its `root` starts
    /// their report paths (`form:`, `query:`). Headers ignore it.
    pub unselected: Unselected,
    /// A rule for every field the named rules do not cover (the reveal plan opens envelopes
    /// wherever they are); `None` leaves those fields to `unselected`.
    pub others: Option<FieldRule>,
}

/// The field plans of a route.
#[derive(Debug, Default)]
pub struct FieldPlans {
    /// `form:` rules for `application/x-www-form-urlencoded` bodies.
    pub form: FieldPlan,
    /// `query:` rules for the request URI's query string.
    pub query: FieldPlan,
    /// `header:` rules for request headers.
    pub header: FieldPlan,
}

impl FieldPlan {
    /// A plan that applies `target` to every field.
    pub fn every(target: FieldTarget) -> Self {
        Self {
            others: Some(FieldRule {
                name: "".into(),
                target,
                class: None,
            }),
            ..Self::default()
        }
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.others.is_none()
    }

    /// Whether the plan does anything to a payload: rules, detection or allow-list mode.
    pub fn polices(&self) -> bool {
        !self.is_empty() || self.unselected.active()
    }

    /// The first rule covering `name` (exact, or `name` followed by a `[` bracket child), else
    /// the rule for every other field.
    pub fn find(&self, name: &str) -> Option<&FieldRule> {
        self.rules
            .iter()
            .find(|r| covers(&r.name, name))
            .or(self.others.as_ref())
    }

    /// Like [`Self::find`], ignoring ASCII case (header names).
    pub fn find_ignore_case(&self, name: &str) -> Option<&FieldRule> {
        self.rules
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }
}

fn covers(rule: &str, name: &str) -> bool {
    name.strip_prefix(rule)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_their_bracket_children_only() {
        assert!(covers("address", "address"));
        assert!(covers("address", "address[line1]"));
        assert!(covers("card[number]", "card[number]"));
        assert!(!covers("address", "addresses"));
        assert!(!covers("card[number]", "card[cvc]"));
    }
}
