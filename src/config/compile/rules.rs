//! `[[routes.rules]]` and `[[routes.response_rules]]`: selectors parsed into the body plan's
//! automaton and the form, query and header field plans, one compiled rule per class.

use super::actions::{RuleCtx, compile_action, inverse_in_body_chain};
use crate::config::chains;
use crate::config::diag::{Diagnostics, Source};
use crate::config::reader::At;
use crate::config::spec::RuleSpec;
use crate::detect::{Class, Detector};
use crate::policy::action::Side;
use crate::policy::selector::{Chain, ChainStep, Place, Test, parse_chain};
use crate::policy::{
    Action, Automaton, FieldPlan, FieldPlans, FieldRule, FieldTarget, JsonPath, Plan, Rule, RuleId,
    Unselected,
};

/// Which named-field kind a selector addresses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldKind {
    Cookie,
    Form,
    Header,
    Query,
}

impl FieldKind {
    /// The route's plan for fields of this kind.
    fn plan(self, fields: &mut FieldPlans) -> &mut FieldPlan {
        match self {
            Self::Cookie => &mut fields.cookie,
            Self::Form => &mut fields.form,
            Self::Header => &mut fields.header,
            Self::Query => &mut fields.query,
        }
    }
}

/// A parsed selector.
pub(super) enum Target {
    /// A JSONPath into the JSON (or NDJSON) body.
    Json(JsonPath),
    /// A named field as a whole.
    Field { kind: FieldKind, name: String },
    /// A chain (`=>`): the value at its place is a document of its own.
    Chain(Chain),
}

/// Chains reaching one form, query or header field: (kind, name, index of its reserved rule,
/// rule index and chain of each).
pub(super) type FieldChains = (
    FieldKind,
    String,
    usize,
    Vec<(usize, Option<Class>, usize, usize)>,
);

/// Compiles rules into the body plan and the field plans. Field rules get their own copies of
/// the action (actions hold keys and are not `Clone`; copies are derived again, which is
/// deterministic and happens only at load).
pub(super) fn compile_rules(
    rules: &[RuleSpec],
    cx: &RuleCtx<'_>,
    unselected: &Unselected,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<(Plan, FieldPlans)> {
    let side = cx.side;
    let mut paths: Vec<(JsonPath, RuleId)> = Vec::new();
    let mut body_rules = Vec::new();
    let mut fields = FieldPlans::default();
    fields.form.unselected = unselected.rooted("form:");
    fields.query.unselected = unselected.rooted("query:");
    // Headers carry the protocol and the recipient's credentials: neither detection nor
    // allow-list mode applies to them (see README, "Detection").
    fields.header.unselected = Unselected::default();
    fields.cookie.unselected = Unselected::default();
    let detector = Detector::default();
    // Chains, kept with (rule index, class, selector index) until every rule is read.
    let mut body_chains: Vec<(usize, Option<Class>, usize, Chain)> = Vec::new();
    let mut field_chains: Vec<FieldChains> = Vec::new();
    let mut chains: Vec<Chain> = Vec::new();
    // `query:`/`form:` rules as selectors of top-level JSON members, appended after the
    // route's own selectors so that those win where both select a member.
    let mut as_members: Vec<(JsonPath, Action, Option<Class>)> = Vec::new();
    let errors_before = d.error_count();
    for (spec_index, spec) in rules.iter().enumerate() {
        // A preset's rule is located in its preset file.
        let src = spec.source(src);
        let explicit = rule_class(spec, side, src, d);
        let Some(action) = compile_action(spec, cx, src, d) else {
            // Still check the selectors, so every problem is reported in one run.
            for sel in &spec.select {
                let _ = parse_selector(sel, side, src, d);
            }
            continue;
        };
        // As written: the inverse compile turns every action it cannot reverse into `keep`,
        // and the config checks below must read the same rules the same way.
        let is_drop = spec.action.as_ref().is_some_and(|a| a.value == "drop");
        let mut action = Some(action);
        // Later copies are compiled quietly: the first compile already reported any problem.
        let mut copy_any = || {
            action
                .take()
                .or_else(|| compile_action(spec, cx, src, &mut Diagnostics::new()))
        };
        // Under an opt-out, a declared identifier kept in clear is dropped like a tokenized one.
        let mut copy = |class: Option<Class>| {
            copy_any().map(|a| {
                if cx.strict && a.is_keep() && class.is_some() {
                    Action::Drop
                } else {
                    a
                }
            })
        };
        // One compiled rule per class the rule's selectors name, so the ledger can tell them
        // apart (`select = ["$.email", "$.phone"]` discloses two categories).
        let mut body_ids: Vec<(Option<Class>, RuleId)> = Vec::new();
        for (sel_index, sel) in spec.select.iter().enumerate() {
            let target = parse_selector(sel, side, src, d);
            let class =
                explicit.or_else(|| target.as_ref().and_then(|t| infer_class(&detector, t)));
            match target {
                Some(Target::Json(path)) if is_drop && path.steps.is_empty() => {
                    d.error(
                        src,
                        sel.span.clone(),
                        "bad_selector",
                        "`drop` cannot select the whole document (`$`)",
                    )
                    .help("select the members to drop, e.g. \"$.context\"");
                }
                Some(Target::Json(path)) => {
                    let id = match body_ids.iter().find(|(c, _)| *c == class) {
                        Some((_, id)) => *id,
                        None => {
                            let Ok(id) = RuleId::try_from(body_rules.len()) else {
                                d.error(
                                    src,
                                    spec.span.clone(),
                                    "too_many_rules",
                                    "a route may have at most 65535 rules",
                                );
                                return None;
                            };
                            body_rules.push(Rule::with_class(copy(class)?, class));
                            body_ids.push((class, id));
                            id
                        }
                    };
                    paths.push((path, id));
                }
                Some(Target::Field { kind, name }) => {
                    if kind == FieldKind::Header && name == "cookie" {
                        // Every route removes the cookies its rules do not name.
                        if is_drop {
                            d.warning(
                                src,
                                sel.span.clone(),
                                "redundant_rule",
                                "every route removes the cookies no `cookie:` rule names; this rule changes nothing",
                            );
                        } else {
                            d.error(
                                src,
                                sel.span.clone(),
                                "bad_selector",
                                "cookies are selected one by one: `cookie:NAME` (a route forwards only the cookies it names)",
                            )
                            .help("e.g. select = \"cookie:sp\" with action = \"keep\"; \"cookie:*\" names every cookie");
                        }
                        continue;
                    }
                    // A parameter is one to frameworks that merge sources: the rule also
                    // applies to the JSON body's top-level member of that name
                    // (`policy::params`), after the route's own JSON selectors.
                    if matches!(kind, FieldKind::Form | FieldKind::Query)
                        && let Some(path) = crate::policy::params::json_path(&name)
                    {
                        as_members.push((path, copy(class)?, class));
                    }
                    kind.plan(&mut fields).rules.push(FieldRule {
                        name: name.into(),
                        target: FieldTarget::Whole(copy(class)?),
                        class,
                    });
                }
                Some(Target::Chain(chain)) => {
                    let field = match &chain.place {
                        Place::Json(_) => None,
                        Place::Form(n) => Some((FieldKind::Form, n.clone())),
                        Place::Query(n) => Some((FieldKind::Query, n.clone())),
                        Place::Header(n) => Some((FieldKind::Header, n.to_ascii_lowercase())),
                        Place::Cookie(n) => Some((FieldKind::Cookie, n.clone())),
                    };
                    match field {
                        None => body_chains.push((spec_index, class, sel_index, chain)),
                        Some((kind, name)) => {
                            let at = match field_chains
                                .iter()
                                .position(|(k, n, _, _)| *k == kind && *n == name)
                            {
                                Some(at) => at,
                                None => {
                                    // Reserve the field's place in declaration order.
                                    let rules = &mut kind.plan(&mut fields).rules;
                                    rules.push(FieldRule {
                                        name: name.clone().into(),
                                        target: FieldTarget::Whole(Action::Keep),
                                        class: None,
                                    });
                                    let slot = rules.len() - 1;
                                    field_chains.push((kind, name, slot, Vec::new()));
                                    field_chains.len() - 1
                                }
                            };
                            field_chains[at]
                                .3
                                .push((spec_index, class, sel_index, chains.len()));
                            chains.push(chain);
                        }
                    }
                }
                None => {}
            }
        }
    }
    if d.error_count() > errors_before {
        return None;
    }
    for (path, action, class) in as_members {
        let Ok(id) = RuleId::try_from(body_rules.len()) else {
            let span = rules.first().map_or(0..0, |r| r.span.clone());
            d.error(
                src,
                span,
                "too_many_rules",
                "a route may have at most 65535 rules",
            );
            return None;
        };
        body_rules.push(Rule::with_class(action, class));
        paths.push((path, id));
    }
    // Chains, compiled into wraps with their own copies of the rules' actions.
    let mut make = |spec: usize, class: Option<Class>| {
        let src = rules[spec].source(src);
        compile_action(&rules[spec], cx, src, &mut Diagnostics::new()).map(|a| {
            if cx.strict && a.is_keep() && class.is_some() {
                Action::Drop
            } else {
                a
            }
        })
    };
    fn item<'a>(
        rules: &'a [RuleSpec],
        src: Source<'a>,
        spec: usize,
        class: Option<Class>,
        sel: usize,
        chain: &'a Chain,
    ) -> chains::Item<'a> {
        let at = &rules[spec].select[sel];
        chains::Item {
            spec,
            class,
            src: rules[spec].source(src),
            text: at.value.as_str(),
            span: &at.span,
            rest: &chain.steps,
        }
    }
    let mut body = Plan::new(Automaton::empty(), body_rules);
    body.unselected = unselected.clone();
    let wrapped = body_chains
        .iter()
        .filter_map(|(spec, class, sel, chain)| match &chain.place {
            Place::Json(path) => Some((path, item(rules, src, *spec, *class, *sel, chain))),
            _ => None,
        })
        .collect();
    let fallback = rules.first().map_or(0..0, |r| r.span.clone());
    let mut make_in_body = |spec: usize, class: Option<Class>| {
        inverse_in_body_chain(&rules[spec], cx).or_else(|| make(spec, class))
    };
    let mut ccx = chains::Cx {
        make: &mut make_in_body,
        unselected,
        src,
        d,
    };
    chains::attach_wraps(&mut body, paths, wrapped, "$", &fallback, &mut ccx)?;
    for (kind, name, slot, members) in &field_chains {
        let items: Vec<chains::Item<'_>> = members
            .iter()
            .map(|&(spec, class, sel, chain)| item(rules, src, spec, class, sel, &chains[chain]))
            .collect();
        let prefix = match kind {
            FieldKind::Cookie => "cookie:",
            FieldKind::Form => "form:",
            FieldKind::Header => "header:",
            FieldKind::Query => "query:",
        };
        let place = format!("{prefix}{}", report_name(&detector, name));
        let mut ccx = chains::Cx {
            make: &mut make,
            unselected,
            src,
            d,
        };
        // JSON read out of a named cookie is a document like JSON in a form field: detection
        // and allow-list mode reach its unselected leaves (a vendor's cookie holds the super
        // properties an app registered, under names no rule can know).
        let wrap = chains::build_wrap(&items, &place, &mut ccx)?;
        kind.plan(&mut fields).rules[*slot].target = FieldTarget::Wrapped(Box::new(wrap));
    }
    Some((body, fields))
}

/// A field name as report paths write it (`items[*][email]`, `*` for data-like names).
pub(super) fn report_name(detector: &Detector, name: &str) -> String {
    let mut s = String::new();
    crate::policy::names::push_field_name(&mut s, detector, name);
    s
}

/// The rule's `class` option, checked. Response rules have no use for it.
pub(super) fn rule_class(
    spec: &RuleSpec,
    side: Side,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<Class> {
    let src = spec.source(src);
    let c = spec.class.as_ref()?;
    if side == Side::Response {
        d.error(
            src,
            c.span.clone(),
            "bad_option",
            "`class` applies to request rules (the disclosure ledger), not response rules",
        );
        return None;
    }
    match c.value.parse::<Class>() {
        Ok(class) => Some(class),
        Err(_) => {
            let names: Vec<&str> = Class::ALL.iter().map(|c| c.as_str()).collect();
            let diag = d.error(
                src,
                c.span.clone(),
                "bad_value",
                format!("`{}` is not a PII class piigate knows", c.value),
            );
            match crate::config::diag::did_you_mean(&c.value, &names) {
                Some(s) => diag.help(format!("did you mean `{s}`?")),
                None => diag.help(format!("one of: {}", names.join(", "))),
            };
            None
        }
    }
}

/// What a selector's own words say its values are: the nearest member name from the end of a
/// JSONPath (`$.batch[*].traits.email` → `email`), or a field's name. `None` when names
/// disagree (`$['email','phone']`) or say nothing.
pub(super) fn infer_class(detector: &Detector, target: &Target) -> Option<Class> {
    // A chain's values are what its last step names.
    let last = match target {
        Target::Chain(c) => c.steps.last().map(|(s, _)| s),
        _ => None,
    };
    let path = match (target, last) {
        (_, Some(ChainStep::Json(p))) | (Target::Json(p), _) => p,
        (_, Some(ChainStep::Query(name))) | (Target::Field { name, .. }, _) => {
            return detector.classify_key(name);
        }
        (Target::Chain(_), _) => return None,
    };
    let step = path
        .steps
        .iter()
        .rev()
        .find(|s| s.tests.iter().any(|t| matches!(t, Test::Name(_))))?;
    let mut classes = step.tests.iter().map(|t| match t {
        Test::Name(n) => detector.classify_key(n),
        Test::Index(_) | Test::Wildcard => None,
    });
    let first = classes.next()?;
    classes.all(|c| c == first).then_some(first)?
}

pub(super) fn parse_selector(
    sel: &At<String>,
    side: Side,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<Target> {
    let text = sel.value.as_str();
    let chain = match parse_chain(text) {
        Ok(c) => c,
        Err(e) => {
            selector_error(sel, e.offset, &e.message, src, d);
            return None;
        }
    };
    let (kind, name) = match &chain.place {
        Place::Json(_) if chain.steps.is_empty() => {
            let Place::Json(path) = chain.place else {
                return None;
            };
            return Some(Target::Json(path));
        }
        Place::Json(_) => (None, ""),
        Place::Form(n) => (Some(FieldKind::Form), n.as_str()),
        Place::Query(n) => (Some(FieldKind::Query), n.as_str()),
        Place::Header(n) => (Some(FieldKind::Header), n.as_str()),
        Place::Cookie(n) => (Some(FieldKind::Cookie), n.as_str()),
    };
    if side == Side::Response {
        d.error(
            src,
            sel.span.clone(),
            "bad_selector",
            if kind.is_some() {
                "response rules select JSON values (`$…`), not fields"
            } else {
                "response rules select JSON values (`$…`), not values inside them (`=>`)"
            },
        );
        return None;
    }
    if kind == Some(FieldKind::Cookie)
        && !name
            .split('*')
            .all(|part| part.is_empty() || crate::canon::cookies::name_is_token(part))
    {
        d.error(
            src,
            sel.span.clone(),
            "bad_selector",
            format!("`{name}` is not a cookie name (a token; `*` matches any run of characters)"),
        );
        return None;
    }
    if kind == Some(FieldKind::Header) {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            d.error(
                src,
                sel.span.clone(),
                "bad_selector",
                format!("`{name}` is not a valid header name"),
            );
            return None;
        }
        if matches!(
            name.to_ascii_lowercase().as_str(),
            "host"
                | "content-length"
                | "transfer-encoding"
                | "connection"
                | "content-encoding"
                | "content-type"
        ) {
            d.error(
                src,
                sel.span.clone(),
                "bad_selector",
                format!(
                    "`{name}` frames the request; piigate manages it and rules cannot change it"
                ),
            );
            return None;
        }
    }
    if !chain.steps.is_empty() {
        return Some(Target::Chain(chain));
    }
    let kind = kind?;
    let name = if kind == FieldKind::Header {
        name.to_ascii_lowercase()
    } else {
        name.to_owned()
    };
    Some(Target::Field { kind, name })
}

/// Reports a selector that does not parse, at character `chars` of the selector text.
pub(super) fn selector_error(
    sel: &At<String>,
    chars: usize,
    message: &str,
    src: Source<'_>,
    d: &mut Diagnostics,
) {
    // +1 skips the opening quote of the TOML string.
    let text = sel.value.as_str();
    let at = sel.span.start
        + 1
        + text
            .char_indices()
            .nth(chars)
            .map_or(text.len(), |(i, _)| i);
    d.error(
        src,
        at..at,
        "bad_selector",
        format!("invalid selector: {message}"),
    )
    .help(SELECTOR_HELP);
}

/// What selectors look like, for diagnostics.
pub(super) const SELECTOR_HELP: &str = "supported: $.a.b  $['a b']  $.a[*]  $.a[0]  $..email  $.*  form:NAME  query:NAME  header:NAME  cookie:NAME, and chains into values: form:data=>$.path  form:data=>base64=>$.path  query:cx=>base64url=>$.path  $.url=>url=>query:NAME  $.json_text=>$.path";

#[cfg(test)]
mod tests {
    use super::super::testing::{ROUTE, compile, diagnose};

    /// A route with one request rule selecting `sel` with `action`.
    fn rule(sel: &str, action: &str) -> String {
        format!("{ROUTE}[[routes.rules]]\nselect = [\"{sel}\"]\naction = \"{action}\"\n")
    }

    #[test]
    fn selector_errors_point_into_the_selector() {
        assert_eq!(
            diagnose(&rule("$.a[", "drop")),
            ["6:16 error[bad_selector]: invalid selector: unclosed `[`"]
        );
        // Inside a field's JSON the column still counts from the start of the whole selector:
        // both errors point just past the `[`, where its `]` was expected.
        assert_eq!(
            diagnose(&rule("form:data=>$.a[", "drop")),
            ["6:27 error[bad_selector]: invalid selector: unclosed `[`"]
        );
        let c = compile(&rule("$.a[", "drop"));
        assert!(
            c.help("bad_selector")
                .is_some_and(|h| h.contains("form:data=>$.path"))
        );
    }

    #[test]
    fn a_rule_with_a_bad_action_still_has_its_selectors_checked() {
        assert_eq!(
            diagnose(&rule("$.a[", "tokenise")),
            [
                "6:16 error[bad_selector]: invalid selector: unclosed `[`",
                "7:10 error[bad_action]: unknown action `tokenise`",
            ]
        );
    }

    #[test]
    fn drop_cannot_select_the_whole_document() {
        let c = compile(&rule("$", "drop"));
        assert_eq!(
            c.lines(),
            ["6:11 error[bad_selector]: `drop` cannot select the whole document (`$`)"]
        );
        assert_eq!(
            c.help("bad_selector"),
            Some("select the members to drop, e.g. \"$.context\"")
        );
    }

    #[test]
    fn field_selectors_need_a_name_and_headers_that_frame_the_request_are_off_limits() {
        for (sel, message) in [
            ("header:a b", "`a b` is not a valid header name"),
            (
                "header:Content-Length",
                "`Content-Length` frames the request; piigate manages it and rules cannot change it",
            ),
            (
                "header:transfer-encoding",
                "`transfer-encoding` frames the request; piigate manages it and rules cannot change it",
            ),
        ] {
            assert_eq!(
                diagnose(&rule(sel, "drop")),
                [format!("6:11 error[bad_selector]: {message}")],
                "{sel}"
            );
        }
        assert_eq!(
            diagnose(&rule("header:X-User-Email", "drop")),
            Vec::<String>::new()
        );
        assert_eq!(
            diagnose(&rule("form:", "drop")),
            [
                "6:12 error[bad_selector]: invalid selector: `form:` needs a field name, e.g. \
              \"form:email\""
            ]
        );
    }

    #[test]
    fn cookies_are_selected_by_name_never_as_the_whole_header() {
        assert_eq!(
            diagnose(&rule("cookie:a b", "keep")),
            [
                "6:11 error[bad_selector]: `a b` is not a cookie name (a token; `*` matches any run \
              of characters)"
            ]
        );
        let c = compile(&rule("header:Cookie", "keep"));
        assert_eq!(
            c.lines(),
            [
                "6:11 error[bad_selector]: cookies are selected one by one: `cookie:NAME` (a route \
              forwards only the cookies it names)"
            ]
        );
        assert!(
            c.help("bad_selector")
                .is_some_and(|h| h.contains("cookie:*"))
        );
        // Dropping the whole header is what every route does already: a warning, not an error.
        assert_eq!(
            diagnose(&rule("header:cookie", "drop")),
            [
                "6:11 warning[redundant_rule]: every route removes the cookies no `cookie:` rule \
              names; this rule changes nothing"
            ]
        );
        assert_eq!(diagnose(&rule("cookie:sp_*", "keep")), Vec::<String>::new());
    }

    #[test]
    fn response_rules_select_json_and_carry_no_class() {
        let text = format!(
            "{ROUTE}[[routes.response_rules]]\nselect = [\"form:x\", \"$.email\"]\naction = \"reveal\"\nclass = \"email\"\n"
        );
        assert_eq!(
            diagnose(&text),
            [
                "6:11 error[bad_selector]: response rules select JSON values (`$…`), not fields",
                "8:9 error[bad_option]: `class` applies to request rules (the disclosure \
                 ledger), not response rules",
            ]
        );
    }

    #[test]
    fn an_unknown_class_suggests_the_nearest() {
        let c = compile(&format!("{}class = \"emial\"\n", rule("$.e", "drop")));
        assert_eq!(
            c.lines(),
            ["8:9 error[bad_value]: `emial` is not a PII class piigate knows"]
        );
        assert_eq!(c.help("bad_value"), Some("did you mean `email`?"));
    }
}
