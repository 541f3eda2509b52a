//! Named-field rules: form fields, query parameters and headers.
//!
//! Where JSON has paths, these payloads have flat names. A rule names a field (`form:email`,
//! `query:uid`, `header:x-user-id`) and either applies an action to its whole value or, with
//! `=>`, reads the value as a document of its own — JSON, base64 JSON, a URL's query — with
//! its own plan ([`Wrap`]: Mixpanel's `data` field, Snowplow's `cx`, GA's `dl`).
//! A name also covers its bracket children, so `form:address` reaches `address[line1]` and
//! `address[city]` the way a JSON rule on an object reaches every leaf beneath it.
//!
//! Names are matched the way the most permissive common server reads them, so a spelling
//! one framework folds into the rule's name cannot carry the value past it: form and query
//! names ignore ASCII case (ASP.NET, Java's `equalsIgnoreCase`), read `.` and space as `_`
//! (PHP renames both), fold `ı`, `ſ` and the Kelvin sign to `i`, `s`, `k` (.NET and Java
//! case-insensitive comparisons do), and also cover `name.child` (dotted nesting in Spring
//! binding and `qs` with `allowDots`). Header names ignore case and read `_` as `-` (CGI,
//! WSGI, Rack and PHP map both to one `HTTP_*` variable). Cookie names are matched exactly
//! (they are case-sensitive) or by a pattern with `*`; a cookie no rule names is removed, so
//! a spelling that misses a rule can only lose the cookie, never carry it past the rule.

use super::{Action, Unselected, Wrap};

/// What happens to a selected field.
// Built once per rule at config load and only borrowed afterwards (see `Action`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum FieldTarget {
    /// The value is a document of its own, decoded and policed by the wrap's plan.
    Wrapped(Box<Wrap>),
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
    /// `cookie:` rules for the pairs of the `Cookie` header (and the `Set-Cookie` names a
    /// response may carry back). A cookie no rule names is removed.
    pub cookie: FieldPlan,
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

    /// Whether a `scrub` of this plan (or of a JSON document inside a field) looks for the
    /// values the other rules select: then the rewriter collects them in a first pass.
    pub fn echoes(&self) -> bool {
        self.rules
            .iter()
            .chain(&self.others)
            .any(|r| match &r.target {
                FieldTarget::Whole(Action::Scrub(s)) => s.echoes(),
                FieldTarget::Whole(_) => false,
                FieldTarget::Wrapped(wrap) => wrap.echoes(),
            })
            || self.unselected.detect.as_ref().is_some_and(|d| d.echoes())
    }

    /// Whether a rule of this plan (or of a document inside a field) selects values a `scrub`
    /// or detection would look for elsewhere.
    pub fn echo_sources(&self) -> bool {
        self.rules
            .iter()
            .chain(&self.others)
            .any(|r| match &r.target {
                FieldTarget::Whole(action) => action.echo_source(),
                FieldTarget::Wrapped(wrap) => wrap.echo_sources(),
            })
    }

    /// The first rule covering the form or query field `name` (the rule's name, folded as
    /// servers fold names, followed by nothing, a `[` bracket child or a `.` child), else the
    /// rule for every other field.
    pub fn find(&self, name: &str) -> Option<&FieldRule> {
        self.find_named(name).or(self.others.as_ref())
    }

    /// [`Self::find`] without the rule for every other field.
    pub(crate) fn find_named(&self, name: &str) -> Option<&FieldRule> {
        self.rules.iter().find(|r| covers(&r.name, name))
    }

    /// The first rule naming cookie `name` (exactly, or by a `*` pattern).
    pub(crate) fn find_cookie(&self, name: &str) -> Option<&FieldRule> {
        self.rules
            .iter()
            .find(|r| cookie_name_matches(&r.name, name))
    }

    /// The first rule naming header `name`, ignoring case and reading `_` as `-`.
    pub(crate) fn find_header(&self, name: &str) -> Option<&FieldRule> {
        self.rules.iter().find(|r| {
            r.name.len() == name.len()
                && r.name
                    .bytes()
                    .zip(name.bytes())
                    .all(|(a, b)| fold_header(a) == fold_header(b))
        })
    }
}

/// Whether cookie `name` is covered by a rule's name: equal bytes (cookie names are
/// case-sensitive), or a pattern where each `*` stands for any run of characters
/// (`mp_*_mixpanel`, `_sp_id.*`).
pub(crate) fn cookie_name_matches(pattern: &str, name: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut tail) = name.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

const fn fold_header(b: u8) -> u8 {
    match b {
        b'_' => b'-',
        _ => b.to_ascii_lowercase(),
    }
}

use super::fold::field_char as fold_field;

/// Whether a server may read the form or query field `name` as `rule` (or a child of it):
/// equal, or equal as the most permissive server folds names, or `rule[…]` / `rule.…`.
pub fn covers(rule: &str, name: &str) -> bool {
    // Fast path: most names share no first character with any rule.
    let mut r = rule.chars();
    let mut n = name.char_indices();
    loop {
        match (r.next(), n.next()) {
            (None, None) => return true,
            (None, Some((at, _))) => {
                let rest = &name[at..];
                return rest.starts_with('[') || rest.starts_with('.');
            }
            (Some(_), None) => return false,
            (Some(a), Some((_, b))) => {
                if a != b && fold_field(a) != fold_field(b) {
                    return false;
                }
            }
        }
    }
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

    #[test]
    fn names_match_as_permissive_servers_fold_them() {
        // Case (ASP.NET, Java), PHP's `.`/space renaming, dotted children (Spring, qs).
        for (rule, spelled) in [
            ("email", "EMAIL"),
            ("email", "Email"),
            ("email", "emaıl"),
            ("e_mail", "e.mail"),
            ("e_mail", "e mail"),
            ("address", "address.city"),
            ("address", "ADDRESS[city]"),
        ] {
            assert!(covers(rule, spelled), "{rule} covers {spelled}");
        }
        assert!(covers("user_email", "user.email"));
        assert!(covers("ep.email", "ep_email"));
        assert!(!covers("email", "emails"));
        assert!(!covers("email", "e-mail"));
    }

    #[test]
    fn header_rules_cover_both_spellings() {
        let plan = FieldPlan {
            rules: vec![FieldRule {
                name: "x-user-email".into(),
                target: FieldTarget::Whole(Action::Drop),
                class: None,
            }],
            ..FieldPlan::default()
        };
        assert!(plan.find_header("x_user_email").is_some());
        assert!(plan.find_header("X-User-Email").is_some());
        assert!(plan.find_header("x-user-emails").is_none());
    }

    #[test]
    fn cookie_names_match_exactly_or_by_pattern() {
        assert!(cookie_name_matches("sp", "sp"));
        assert!(!cookie_name_matches("sp", "SP"));
        assert!(!cookie_name_matches("sp", "sp2"));
        assert!(cookie_name_matches("mp_*_mixpanel", "mp_abc123_mixpanel"));
        assert!(!cookie_name_matches("mp_*_mixpanel", "mp_abc123_mixpanel2"));
        assert!(cookie_name_matches("_sp_id.*", "_sp_id.1fff"));
        assert!(cookie_name_matches("*", "anything"));
        assert!(cookie_name_matches("a*b*c", "a-x-b-y-c"));
        assert!(!cookie_name_matches("a*b*c", "a-c"));
        assert!(!cookie_name_matches("ab*ba", "aba"));
    }
}
