//! Request parameters as frameworks that merge their sources read them.
//!
//! Many recipients do not ask where a parameter came from: PHP's `$_REQUEST` is the query and
//! the form body together, Flask's `request.values` too, Rack's `params` and Rails' `params`
//! add the members of a JSON body, Laravel's `$request->input()` the query and the body
//! whatever its type, express's `req.param()` the body before the query. A rule that names a
//! parameter in one source would let the same parameter through in another. So a route's
//! parameter rules apply to a parameter wherever a merging framework reads it:
//!
//! - a `query:` or `form:` rule applies to that name in the query string and in a form body,
//!   the rules of the pair's own source first;
//! - a JSON selector applies to a query or form pair whose name, read as nesting the way
//!   PHP, Rack, Rails and `qs` read brackets (`user[email]` is `$.user.email`) or the way
//!   `qs` with `allowDots` and Spring read dots (`user.email`), it selects; `$` alone names
//!   the document, not a parameter;
//! - the other direction, a `query:`/`form:` rule on a JSON body's top-level member, is
//!   compiled into the route's JSON plan (`config::compile`), so the JSON rewriter needs no
//!   second lookup.
//!
//! A pair is looked up in that order: its own source's named rules, the other source's, the
//! JSON selectors, then its own source's rule for every other field (the reveal plans).

use super::automaton::{Automaton, RuleId, StateId};
use super::fields::{FieldPlan, FieldRule};
use super::selector::{Axis, JsonPath, Step, Test};
use super::{Plan, Rule, Wrap};

/// Where the rule for a form or query pair is looked up.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// The rules of the pair's own source (`form:` for a body, `query:` for the query).
    pub own: &'a FieldPlan,
    /// The rules of the other parameter source.
    pub other: Option<&'a FieldPlan>,
    /// The route's JSON plan.
    pub json: Option<&'a Plan>,
}

/// The rule a parameter falls under.
#[derive(Debug, Clone, Copy)]
pub enum Selected<'a> {
    /// A `form:`, `query:` (or reveal) rule.
    Field(&'a FieldRule),
    /// A JSON selector's rule.
    Json(&'a Rule),
    /// A JSON selector's chain: the pair's value is a document, read as the chain says.
    Wrapped(&'a Wrap),
}

impl<'a> Params<'a> {
    /// Only `plan`'s own rules (offline tools and tests that police one source).
    pub fn only(plan: &'a FieldPlan) -> Self {
        Self {
            own: plan,
            other: None,
            json: None,
        }
    }

    /// The plan whose `unselected` policy applies to pairs no rule selects.
    pub fn own(&self) -> &'a FieldPlan {
        self.own
    }

    /// Whether any rule can select a pair, or the own source's unselected policy acts.
    pub fn polices(&self) -> bool {
        self.own.polices()
            || self.other.is_some_and(|o| !o.rules.is_empty())
            || self.json.is_some_and(reaches_parameters)
    }

    /// The rule for the pair named `name` (decoded), if any.
    pub fn find(&self, name: &str) -> Option<Selected<'a>> {
        if let Some(r) = self.own.find_named(name) {
            return Some(Selected::Field(r));
        }
        if let Some(r) = self.other.and_then(|o| o.find_named(name)) {
            return Some(Selected::Field(r));
        }
        if let Some(plan) = self.json
            && let Some(id) = json_rule(&plan.automaton, name)
        {
            // A chain's accepting id names a wrap, not a rule (`Plan::wrap`).
            return Some(match plan.wrap(id) {
                Some(w) => Selected::Wrapped(w),
                None => Selected::Json(plan.rule(id)),
            });
        }
        self.own.others.as_ref().map(Selected::Field)
    }
}

/// The `Cookie` header without the cookies a merging framework would read as a parameter
/// `params` selects, or `None` when it keeps them all.
///
/// PHP without a `php.ini` (`request_order` unset, `variables_order = "EGPCS"`: the official
/// container images) puts cookies into `$_REQUEST` after the query and the form, so they win;
/// ASP.NET's `Request[name]` reads them too. A cookie is a parameter of the name PHP gives it
/// (leading whitespace trimmed, `.` and space as `_`, brackets nesting; ASP.NET's names ignore
/// case), before or after percent-decoding (PHP before 8 and Rack decode cookie names), in
/// `;`-separated pairs or in `,`-separated ones (ASP.NET and RFC 2965 parsers). Such a cookie
/// is removed whole: until a route names the cookies it forwards, none may carry a policed
/// parameter past its rule.
pub(crate) fn cookies_without_parameters(header: &[u8], params: Params<'_>) -> Option<Vec<u8>> {
    let is_parameter = |piece: &[u8]| {
        piece.split(|&b| b == b',').any(|pair| {
            let name = pair.splitn(2, |&b| b == b'=').next().unwrap_or_default();
            // A name that is not UTF-8 cannot fold into a rule's name.
            let Ok(name) = std::str::from_utf8(trim(name)) else {
                return false;
            };
            if name.is_empty() {
                return false;
            }
            params.find(name).is_some()
                || percent_decode(name).is_some_and(|d| d != name && params.find(&d).is_some())
        })
    };
    if !header.split(|&b| b == b';').any(is_parameter) {
        return None;
    }
    let mut out = Vec::with_capacity(header.len());
    for piece in header.split(|&b| b == b';') {
        let piece = trim(piece);
        if piece.is_empty() || is_parameter(piece) {
            continue;
        }
        if !out.is_empty() {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(piece);
    }
    Some(out)
}

/// `b` without the whitespace around it (PHP skips it before a cookie name).
fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// `text` with `%XX` escapes decoded, if it has any and they decode to UTF-8. Lenient, as
/// PHP's `urldecode` is: a `%` without two hex digits stays as it is, which is the
/// `percent-encoding` crate's reading too.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The JSON selector a `query:`/`form:` rule's `name` stands for in a JSON body, where Rails
/// and Laravel read top-level members as parameters: `user[email]` is `$['user']['email']`,
/// a digit key also an index, `[]` any element. `None` for a name whose brackets do not nest.
pub(crate) fn json_path(name: &str) -> Option<JsonPath> {
    let (base, brackets) = match name.find('[') {
        Some(at) => name.split_at(at),
        None => (name, ""),
    };
    let mut steps = vec![child(vec![Test::Name(base.into())])];
    let mut rest = brackets;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        let key = &inner[..close];
        if key.contains('[') {
            return None;
        }
        let mut tests = Vec::with_capacity(2);
        if key.is_empty() {
            tests.push(Test::Wildcard);
        } else {
            tests.push(Test::Name(key.into()));
            if let Ok(i) = key.parse::<u32>()
                && (key == "0" || !key.starts_with('0'))
            {
                tests.push(Test::Index(i));
            }
        }
        steps.push(child(tests));
        rest = &inner[close + 1..];
    }
    Some(JsonPath { steps })
}

fn child(tests: Vec<Test>) -> Step {
    Step {
        axis: Axis::Child,
        tests,
    }
}

/// Whether some selector of `plan` can select a parameter: it selects something, and not only
/// the whole document.
pub(crate) fn reaches_parameters(plan: &Plan) -> bool {
    let a = &plan.automaton;
    !a.is_dead(a.start()) && a.accepting(a.start()).is_none()
}

/// One segment of a parameter name read as a path.
#[derive(Debug, Clone, Copy)]
enum Seg<'n> {
    /// A member name (a digit string is also an array index to Rails and `qs`).
    Name(&'n str),
    /// `[]`: the next element of an array.
    Append,
}

/// The rule of the lowest id that selects the parameter `name` under any of its nested
/// readings, at the outermost depth where one does.
fn json_rule(a: &Automaton, name: &str) -> Option<RuleId> {
    let start = a.start();
    if a.is_dead(start) || a.accepting(start).is_some() || name.is_empty() {
        return None;
    }
    let (base, brackets) = match name.find('[') {
        Some(at) => name.split_at(at),
        None => (name, ""),
    };
    // The base as it is; as PHP renames it (`.` and space to `_`); split at dots.
    if let Some(r) = walk(a, std::iter::once(Seg::Name(base)), brackets) {
        return Some(r);
    }
    if base.contains(['.', ' ']) {
        let renamed = base.replace(['.', ' '], "_");
        if let Some(r) = walk(a, std::iter::once(Seg::Name(&renamed)), brackets) {
            return Some(r);
        }
    }
    if base.contains('.') {
        return walk(a, base.split('.').map(Seg::Name), brackets);
    }
    None
}

/// `base` segments then the `[key]` groups of `brackets` (well-formed: the form grammar
/// refused anything else), walked through the automaton as a set of states (a digit key may be
/// a name or an index, `[]` any index).
fn walk<'n>(
    a: &Automaton,
    base: impl Iterator<Item = Seg<'n>>,
    brackets: &'n str,
) -> Option<RuleId> {
    let keys = brackets
        .split_terminator(']')
        .map(|k| k.strip_prefix('[').unwrap_or(k))
        .map(|k| {
            if k.is_empty() {
                Seg::Append
            } else {
                Seg::Name(k)
            }
        });
    let mut states: Vec<StateId> = vec![a.start()];
    let mut next: Vec<StateId> = Vec::new();
    for seg in base.chain(keys) {
        next.clear();
        for &s in &states {
            match seg {
                Seg::Name(n) => {
                    next.push(a.on_name(s, n.as_bytes()));
                    if let Ok(i) = n.parse::<u64>()
                        && (n == "0" || !n.starts_with('0'))
                    {
                        next.push(a.on_index(s, i));
                    }
                }
                Seg::Append => next.extend(a.on_any_index(s)),
            }
        }
        next.retain(|&t| !a.is_dead(t));
        next.sort_unstable();
        next.dedup();
        if let Some(rule) = next.iter().filter_map(|&t| a.accepting(t)).min() {
            return Some(rule);
        }
        if next.is_empty() {
            return None;
        }
        std::mem::swap(&mut states, &mut next);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Action;
    use crate::policy::selector::parse;

    fn automaton(selectors: &[&str]) -> Automaton {
        let paths: Vec<_> = selectors
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    parse(s).expect("selector"),
                    RuleId::try_from(i).expect("id"),
                )
            })
            .collect();
        Automaton::build(&paths).expect("automaton")
    }

    #[test]
    fn json_selectors_reach_parameters_read_as_nesting() {
        let a = automaton(&["$.user.email", "$..phone", "$.items[1].sku", "$.email"]);
        let selected = |n: &str| json_rule(&a, n);
        // Brackets (PHP, Rack, Rails, qs), dots (qs allowDots, Spring), case.
        assert_eq!(selected("user[email]"), Some(0));
        assert_eq!(selected("USER[Email]"), Some(0));
        assert_eq!(selected("user.email"), Some(0));
        assert_eq!(selected("user[email][x]"), Some(0));
        assert_eq!(selected("user"), None);
        assert_eq!(selected("user[name]"), None);
        // Anywhere below, for a descendant selector.
        assert_eq!(selected("a[b][phone]"), Some(1));
        assert_eq!(selected("phone"), Some(1));
        // Index keys: a digit key or an appended element.
        assert_eq!(selected("items[1][sku]"), Some(2));
        assert_eq!(selected("items[][sku]"), Some(2));
        assert_eq!(selected("items[0][sku]"), None);
        assert_eq!(selected("items[01][sku]"), None);
        // PHP's renaming of the base.
        let b = automaton(&["$.user_email"]);
        assert_eq!(json_rule(&b, "user.email"), Some(0));
        assert_eq!(json_rule(&b, "user email"), Some(0));
    }

    #[test]
    fn parameter_names_stand_for_top_level_members() {
        let shown = |n: &str| json_path(n).map(|p| p.to_string());
        assert_eq!(shown("email").as_deref(), Some("$['email']"));
        assert_eq!(shown("user[email]").as_deref(), Some("$['user']['email']"));
        assert_eq!(shown("items[0][]").as_deref(), Some("$['items']['0',0][*]"));
        assert_eq!(shown("a[01]").as_deref(), Some("$['a']['01']"));
        assert_eq!(shown("a[b"), None);
        assert_eq!(shown("a[b[c]]"), None);
    }

    #[test]
    fn cookies_named_like_policed_parameters_are_removed() {
        let rule = FieldRule {
            name: "email".into(),
            target: super::super::FieldTarget::Whole(Action::Drop),
            class: None,
        };
        let query = FieldPlan {
            rules: vec![rule],
            ..FieldPlan::default()
        };
        let json = Plan::new(automaton(&["$.user.email"]), vec![Rule::new(Action::Drop)]);
        let p = Params {
            own: &query,
            other: None,
            json: Some(&json),
        };
        let strip = |h: &str| {
            cookies_without_parameters(h.as_bytes(), p)
                .map(|v| String::from_utf8(v).expect("utf-8"))
        };
        assert_eq!(strip("sid=1; theme=dark"), None);
        for (header, kept) in [
            ("sid=1; email=a@b", "sid=1"),
            ("EMAIL=a; sid=1", "sid=1"),
            (" email=a", ""),
            ("sid=1;e%6Dail=a", "sid=1"),
            ("email[x]=a; sid=1", "sid=1"),
            ("user[email]=a; user.email=b; sid=1", "sid=1"),
            ("a=1,email=x; sid=1", "sid=1"),
            ("sid=1;;email", "sid=1"),
        ] {
            assert_eq!(strip(header).as_deref(), Some(kept), "{header}");
        }
    }

    #[test]
    fn the_whole_document_is_not_a_parameter() {
        let a = automaton(&["$"]);
        assert_eq!(json_rule(&a, "email"), None);
        assert_eq!(json_rule(&automaton(&[]), "email"), None);
    }

    #[test]
    fn pathological_names_stay_linear() {
        let a = automaton(&["$..x"]);
        let name = format!("a{}", "[0]".repeat(2000));
        assert_eq!(json_rule(&a, &name), None);
        let name = format!("a{}[x]", "[]".repeat(2000));
        assert_eq!(json_rule(&a, &name), Some(0));
    }

    #[test]
    fn own_rules_then_the_other_source_then_json() {
        let rule = |n: &str| FieldRule {
            name: n.into(),
            target: super::super::FieldTarget::Whole(Action::Drop),
            class: None,
        };
        let own = FieldPlan {
            rules: vec![rule("a")],
            ..FieldPlan::default()
        };
        let other = FieldPlan {
            rules: vec![rule("a"), rule("b")],
            ..FieldPlan::default()
        };
        let json = Plan::new(automaton(&["$.c"]), vec![Rule::new(Action::Drop)]);
        let p = Params {
            own: &own,
            other: Some(&other),
            json: Some(&json),
        };
        assert!(matches!(p.find("a"), Some(Selected::Field(r)) if std::ptr::eq(r, &own.rules[0])));
        assert!(
            matches!(p.find("B"), Some(Selected::Field(r)) if std::ptr::eq(r, &other.rules[1]))
        );
        assert!(matches!(p.find("c[x]"), Some(Selected::Json(_))));
        assert!(p.find("d").is_none());
        assert!(Params::only(&own).find("b").is_none());
    }
}
