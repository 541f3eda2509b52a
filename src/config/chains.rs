//! Selector chains (`form:data=>base64=>$..email`) compiled into wraps and their plans.
//!
//! Every chain that reaches the same place and reads it the same way (the same codings, the
//! same kind of document) contributes its inner selectors to one [`Wrap`]: `$.u=>url=>query:a`
//! and `$.u=>url=>query:b` police one URL with a plan for `a` and `b`. Chains whose JSON paths
//! differ but can select the same node (`$..url=>…` and `$.page.url=>…`) are combined where
//! they overlap, through the automaton's overlap table, so no inner selector is shadowed.
//! Chains that read one value two ways (`base64` here, `url` there) are a config error.

use std::ops::Range;

use super::diag::{Diagnostics, Source};
use crate::detect::Class;
use crate::policy::selector::{ChainStep, JsonPath};
use crate::policy::{
    Action, Automaton, Coding, FieldPlan, FieldRule, FieldTarget, Inner, Plan, Rule, RuleId,
    TextRule, Unselected, Wrap,
};

/// One chain, from some point on: the steps still to read, and the rule it came from.
#[derive(Clone, Copy)]
pub(super) struct Item<'a> {
    /// Index of the rule in the route's rule list.
    pub spec: usize,
    /// The class of the values the chain ends at.
    pub class: Option<Class>,
    /// The file the rule is in (the config, or a preset).
    pub src: Source<'a>,
    /// The selector as written, for diagnostics.
    pub text: &'a str,
    /// Where the selector is in the file.
    pub span: &'a Range<usize>,
    /// The steps after the place this item is filed under.
    pub rest: &'a [(ChainStep, usize)],
}

/// What building needs from the config compiler.
pub(super) struct Cx<'s, 'd, 'm> {
    /// A fresh copy of rule `spec`'s action for values of `class` (actions are not `Clone`:
    /// each place gets its own, derived again, deterministically).
    pub make: &'m mut dyn FnMut(usize, Option<Class>) -> Option<Action>,
    /// The route's policy for unselected values, re-rooted for each inner plan.
    pub unselected: &'m Unselected,
    pub src: Source<'s>,
    pub d: &'d mut Diagnostics,
}

/// How the items of one place read it: the codings, then the kind of document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reading {
    codings: Vec<Coding>,
    doc: Doc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    Json,
    Query,
    Url,
    /// The decoded text is the value (a chain ending on a coding).
    Text,
}

/// An item's reading and its remaining chain from the inner document's place on.
fn reading<'a>(item: &Item<'a>) -> Option<(Reading, Inside<'a>)> {
    let mut codings = Vec::new();
    let mut rest = item.rest;
    loop {
        let Some(((step, _), tail)) = rest.split_first() else {
            // `…=>base64` last: the decoded text is the value the rule's action treats.
            return (!codings.is_empty()).then_some((
                Reading {
                    codings,
                    doc: Doc::Text,
                },
                Inside::Value,
            ));
        };
        match step {
            ChainStep::Base64 { url_safe, or_json } => {
                codings.push(Coding::Base64 {
                    url_safe: *url_safe,
                    or_json: *or_json,
                });
                rest = tail;
            }
            ChainStep::Url => {
                // The parser guarantees `url=>query:NAME`.
                let ((ChainStep::Query(name), _), tail) = tail.split_first()? else {
                    return None;
                };
                return Some((
                    Reading {
                        codings,
                        doc: Doc::Url,
                    },
                    Inside::Field(name, tail),
                ));
            }
            ChainStep::Json(path) => {
                return Some((
                    Reading {
                        codings,
                        doc: Doc::Json,
                    },
                    Inside::Json(path, tail),
                ));
            }
            ChainStep::Query(name) => {
                return Some((
                    Reading {
                        codings,
                        doc: Doc::Query,
                    },
                    Inside::Field(name, tail),
                ));
            }
        }
    }
}

/// Where an item continues inside the decoded document.
enum Inside<'a> {
    Json(&'a JsonPath, &'a [(ChainStep, usize)]),
    Field(&'a str, &'a [(ChainStep, usize)]),
    /// The decoded text itself.
    Value,
}

impl Reading {
    fn describe(&self) -> String {
        let mut s = String::new();
        for c in &self.codings {
            s.push_str(c.as_str());
            s.push_str(" then ");
        }
        s.push_str(match self.doc {
            Doc::Json => "JSON",
            Doc::Query => "a query string",
            Doc::Url => "a URL",
            Doc::Text => "text",
        });
        s
    }

    fn root(&self, place: &str) -> String {
        let mut s = place.to_owned();
        for c in &self.codings {
            s.push_str("=>");
            s.push_str(c.as_str());
        }
        s.push_str(match self.doc {
            Doc::Json => "=>$",
            Doc::Query => "=>query:",
            Doc::Url => "=>url=>query:",
            Doc::Text => "",
        });
        s
    }
}

/// Builds the wrap for `items`, which all reach the same place (written `place` in report
/// paths). `None` after reporting a problem.
pub(super) fn build_wrap(items: &[Item<'_>], place: &str, cx: &mut Cx<'_, '_, '_>) -> Option<Wrap> {
    let first = items.first()?;
    let (want, _) = reading(first)?;
    let mut json: Vec<(&JsonPath, Item<'_>)> = Vec::new();
    let mut fields: Vec<(&str, Item<'_>)> = Vec::new();
    let mut text: Option<Item<'_>> = None;
    for item in items {
        let (got, inside) = reading(item)?;
        if got != want {
            cx.d.error(
                item.src,
                item.span.clone(),
                "bad_selector",
                format!(
                    "`{}` reads a value as {} that `{}` reads as {}",
                    item.text,
                    got.describe(),
                    first.text,
                    want.describe()
                ),
            )
            .help(
                "a value has one encoding: write every chain that reaches it with the same steps",
            );
            return None;
        }
        match inside {
            Inside::Json(path, rest) => json.push((path, Item { rest, ..*item })),
            Inside::Field(name, rest) => fields.push((name, Item { rest, ..*item })),
            // The first rule that reaches the text treats it, as for any value.
            Inside::Value => {
                text.get_or_insert(*item);
            }
        }
    }
    let root = want.root(place);
    let inner = match want.doc {
        Doc::Json => Inner::Json(json_plan(json, &root, cx)?),
        Doc::Query => Inner::Query(field_plan(fields, &root, cx)?),
        Doc::Url => Inner::Url(field_plan(fields, &root, cx)?),
        Doc::Text => {
            let item = text?;
            Inner::Text(Box::new(TextRule {
                action: (cx.make)(item.spec, item.class)?,
                class: item.class,
            }))
        }
    };
    Some(Wrap {
        codings: want.codings.into_boxed_slice(),
        inner,
    })
}

/// A JSON plan for entries at JSON paths: actions where a chain ends, wraps where it goes on.
fn json_plan(
    entries: Vec<(&JsonPath, Item<'_>)>,
    root: &str,
    cx: &mut Cx<'_, '_, '_>,
) -> Option<Plan> {
    let mut paths = Vec::new();
    let mut rules = Vec::new();
    let mut wrapped = Vec::new();
    let entries_span = entries.first().map_or(0..0, |(_, i)| i.span.clone());
    for (path, item) in entries {
        if !item.rest.is_empty() {
            wrapped.push((path, item));
            continue;
        }
        let action = (cx.make)(item.spec, item.class)?;
        if action.is_drop() && path.is_root() {
            cx.d.error(
                item.src,
                item.span.clone(),
                "bad_selector",
                "`drop` cannot select a whole wrapped document (`…=>$`)",
            )
            .help("drop the field or member that holds it instead");
            return None;
        }
        let id = rule_id(rules.len(), item, cx)?;
        rules.push(Rule::with_class(action, item.class));
        paths.push((path.clone(), id));
    }
    let mut plan = Plan::new(Automaton::empty(), rules);
    plan.unselected = cx.unselected.rooted(root);
    attach_wraps(&mut plan, paths, wrapped, root, &entries_span, cx)?;
    Some(plan)
}

fn rule_id(n: usize, item: Item<'_>, cx: &mut Cx<'_, '_, '_>) -> Option<RuleId> {
    match RuleId::try_from(n) {
        Ok(id) => Some(id),
        Err(_) => {
            cx.d.error(
                item.src,
                item.span.clone(),
                "too_many_rules",
                "a route may have at most 65535 rules",
            );
            None
        }
    }
}

/// Adds the wraps of `wrapped` (chains going on below a JSON path) to `plan`, whose action
/// rules are at `paths`, and builds its automaton: wrap ids follow the rule ids, and where
/// paths of several wraps select the same node a wrap combining them is selected there.
pub(super) fn attach_wraps(
    plan: &mut Plan,
    mut paths: Vec<(JsonPath, RuleId)>,
    wrapped: Vec<(&JsonPath, Item<'_>)>,
    root: &str,
    fallback: &Range<usize>,
    cx: &mut Cx<'_, '_, '_>,
) -> Option<()> {
    // One group per distinct path, in the order they first appear.
    let mut groups: Vec<(&JsonPath, Vec<Item<'_>>)> = Vec::new();
    for (path, item) in wrapped {
        match groups.iter_mut().find(|(p, _)| *p == path) {
            Some((_, items)) => items.push(item),
            None => groups.push((path, vec![item])),
        }
    }
    let place = root.strip_suffix("$").unwrap_or(root);
    for (path, items) in &groups {
        let wrap = build_wrap(items, &format!("{place}{path}"), cx)?;
        let id = rule_id(plan.rules.len() + plan.wraps.len(), items[0], cx)?;
        plan.wraps.push(wrap);
        paths.push(((*path).clone(), id));
    }
    let mut automaton = match Automaton::build(&paths) {
        Ok(a) => a,
        Err(e) => {
            let (src, span) = groups
                .first()
                .map_or((cx.src, fallback.clone()), |(_, items)| {
                    (items[0].src, items[0].span.clone())
                });
            cx.d.error(src, span, "bad_selector", e.to_string());
            return None;
        }
    };
    // Overlapping paths of two or more wraps (and no action, which would win): one wrap
    // with every chain of those groups polices the node.
    let first_wrap = plan.rules.len();
    let mut combined: Vec<(Box<[RuleId]>, RuleId)> = Vec::new();
    let overlaps: Vec<_> = automaton.overlaps().to_vec();
    for (state, ids) in overlaps {
        if usize::from(ids[0]) < first_wrap {
            continue;
        }
        let id = match combined.iter().find(|(k, _)| *k == ids) {
            Some((_, id)) => *id,
            None => {
                let items: Vec<Item<'_>> = ids
                    .iter()
                    .flat_map(|&i| groups[usize::from(i) - first_wrap].1.iter().copied())
                    .collect();
                let first = groups[usize::from(ids[0]) - first_wrap].0;
                let wrap = build_wrap(&items, &format!("{place}{first}"), cx)?;
                let id = rule_id(plan.rules.len() + plan.wraps.len(), items[0], cx)?;
                plan.wraps.push(wrap);
                combined.push((ids.clone(), id));
                id
            }
        };
        automaton.set_accepting(state, id);
    }
    plan.automaton = automaton;
    Some(())
}

/// A field plan for entries by field name: actions where a chain ends, wraps where it goes on
/// (one per name, combining every chain that reaches it).
fn field_plan(
    entries: Vec<(&str, Item<'_>)>,
    root: &str,
    cx: &mut Cx<'_, '_, '_>,
) -> Option<FieldPlan> {
    let mut plan = FieldPlan {
        unselected: cx.unselected.rooted(root),
        ..FieldPlan::default()
    };
    // Wrapped names keep the place of their first chain; their items are built afterwards.
    let mut pending: Vec<(usize, &str, Vec<Item<'_>>)> = Vec::new();
    for (name, item) in entries {
        if item.rest.is_empty() {
            plan.rules.push(FieldRule {
                name: name.into(),
                target: FieldTarget::Whole((cx.make)(item.spec, item.class)?),
                class: item.class,
            });
            continue;
        }
        match pending.iter_mut().find(|(_, n, _)| *n == name) {
            Some((_, _, items)) => items.push(item),
            None => {
                pending.push((plan.rules.len(), name, vec![item]));
                plan.rules.push(FieldRule {
                    name: name.into(),
                    target: FieldTarget::Whole(Action::Keep),
                    class: None,
                });
            }
        }
    }
    for (at, name, items) in pending {
        let wrap = build_wrap(&items, &format!("{root}{name}"), cx)?;
        plan.rules[at].target = FieldTarget::Wrapped(Box::new(wrap));
    }
    Some(plan)
}
