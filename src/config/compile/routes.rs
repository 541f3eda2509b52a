//! `[[routes]]`: matching (name, host, path prefix), the upstream, the route's options (domain,
//! purpose, opt-out, retention, detection, subject) and its plans: request, strict opt-out,
//! response, reveal and inverse.

use std::path::PathBuf;
use std::sync::Arc;

use super::actions::RuleCtx;
use super::body_coding;
use super::detect::detect_policy;
use super::keys::{KeySource, NO_KEYRING_HELP, NOT_CONFIGURED};
use super::rules::{compile_rules, selector_error};
use super::tls::client_tls;
use crate::config::diag::{Diagnostics, Source};
use crate::config::reader::At;
use crate::config::spec::RouteSpec;
use crate::config::{Bodies, Limits, OptOut, Purpose, Route, Upstream};
use crate::policy::action::{RevealAction, Side};
use crate::policy::{
    Action, Automaton, DetectMode, FieldPlan, FieldPlans, FieldRule, FieldTarget, Inner, Plan,
    Rule, TextRule, Unselected, Wrap, selector,
};

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) fn compile_route(
    r: &RouteSpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    keys: &KeySource,
    limits: &Limits,
    d: &mut Diagnostics,
) -> Option<Route> {
    // The route as compiled: its own rules, then its preset's (see `config::preset`).
    let expansion = crate::config::preset::expand(r, src, d);
    let r = &expansion.route;
    let name = r.name.as_ref()?;
    if !valid_name(&name.value) {
        d.error(
            src,
            name.span.clone(),
            "bad_value",
            "route `name` must be 1-64 characters of letters, digits, `_` or `-`",
        );
    }
    let path_prefix = r.path_prefix.as_ref().and_then(|p| {
        let v = p.value.as_str();
        if !v.starts_with('/') || v.contains(['?', '#', ' ']) {
            d.error(
                src,
                p.span.clone(),
                "bad_value",
                "`path_prefix` must start with `/` and contain no `?`, `#` or spaces",
            );
            return None;
        }
        let trimmed = v.trim_end_matches('/');
        Some(if trimmed.is_empty() {
            "/".to_owned()
        } else {
            trimmed.to_owned()
        })
    });
    let host = r.host.as_ref().and_then(|h| {
        let v = h.value.to_ascii_lowercase();
        if v.is_empty() || v.contains(['/', ' ', ':']) {
            d.error(src, h.span.clone(), "bad_value", "`host` must be a bare host name such as \"api.segment.io\" (no scheme, port or path)");
            None
        } else {
            Some(v)
        }
    });
    let upstream = r.upstream.as_ref().and_then(|u| upstream(u, src, d));
    let upstream_tls = client_tls(r.upstream_ca.as_ref(), src, resolve, d);
    let domain = match &r.domain {
        Some(dom) if !valid_name(&dom.value) => {
            d.error(
                src,
                dom.span.clone(),
                "bad_value",
                "`domain` must be 1-64 characters of letters, digits, `_` or `-`",
            );
            dom.value.clone()
        }
        Some(dom) => dom.value.clone(),
        None => name.value.clone(),
    };
    let purpose = match r
        .purpose
        .as_ref()
        .map(|p| (p.value.as_str(), p.span.clone()))
    {
        None | Some(("analytics", _)) => Purpose::Analytics,
        Some(("marketing", _)) => Purpose::Marketing,
        Some(("processor", _)) => Purpose::Processor,
        Some(("sale_or_share", _)) => Purpose::SaleOrShare,
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`purpose` must be one of analytics, marketing, sale_or_share, processor",
            );
            Purpose::Analytics
        }
    };
    let detect_mode = match r
        .detect
        .as_ref()
        .map(|v| (v.value.as_str(), v.span.clone()))
    {
        None | Some(("off", _)) => None,
        Some(("observe", _)) => Some(DetectMode::Observe),
        Some(("enforce", _)) => Some(DetectMode::Enforce),
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`detect` must be \"off\", \"observe\" or \"enforce\"",
            );
            None
        }
    };
    let unknown_drop = match r
        .unknown_fields
        .as_ref()
        .map(|v| (v.value.as_str(), v.span.clone()))
    {
        None | Some(("allow", _)) => false,
        Some(("drop", _)) => true,
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`unknown_fields` must be \"allow\" or \"drop\"",
            );
            false
        }
    };
    if let Some(t) = &r.detect_actions
        && detect_mode != Some(DetectMode::Enforce)
    {
        d.warning(
            src,
            t.span.clone(),
            "unused_detect_actions",
            "`detect_actions` only apply with detect = \"enforce\"; they are ignored",
        );
    }
    let max_body_bytes = match &r.max_body_bytes {
        Some(m) if m.value == 0 || m.value > limits.max_body_bytes as u64 => {
            d.error(
                src,
                m.span.clone(),
                "bad_value",
                "route `max_body_bytes` must be between 1 and [limits] max_body_bytes",
            );
            limits.max_body_bytes
        }
        Some(m) => usize::try_from(m.value).unwrap_or(limits.max_body_bytes),
        None => limits.max_body_bytes,
    };

    let max_concurrent_requests = match &r.max_concurrent_requests {
        Some(m) if m.value == 0 || m.value > 1_000_000 => {
            d.error(
                src,
                m.span.clone(),
                "bad_value",
                "`max_concurrent_requests` must be between 1 and 1000000",
            );
            1024
        }
        Some(m) => usize::try_from(m.value).unwrap_or(1024),
        None => 1024,
    };
    let rotation = r.rotate_pseudonyms_every.as_ref().and_then(|p| match parse_period(&p.value) {
        Some(secs) => Some(secs),
        None => {
            d.error(src, p.span.clone(), "bad_value", "`rotate_pseudonyms_every` must be a duration of at least one hour such as \"180d\", \"12w\" or \"24h\"");
            None
        }
    });
    let subject = r.subject.as_ref().and_then(|s| {
        let path = match selector::parse(&s.value) {
            Ok(p) => p,
            Err(e) => {
                selector_error(s, e.offset, &e.message, src, d);
                return None;
            }
        };
        if !crate::rewrite::subject::is_subject_path(&path) {
            d.error(
                src,
                s.span.clone(),
                "bad_selector",
                "a `subject` selector must use child steps only (`$.userId`, `$.batch[*].userId`)",
            );
            return None;
        }
        Some(path)
    });
    let subject_bases = match (&r.subject, &keys.ring) {
        (Some(s), Some(ring)) => match crate::policy::subject::SubjectBases::new(ring, &domain) {
            Some(b) => Some(Arc::new(b)),
            None => {
                d.error(
                    src,
                    s.span.clone(),
                    "no_primary_key",
                    "a route `subject` needs a key with status = \"primary\"",
                );
                None
            }
        },
        (Some(s), None) => {
            let diag = d.error(
                src,
                s.span.clone(),
                "no_keyring",
                format!("a route `subject` needs a keyring, but {}", keys.missing),
            );
            if keys.missing == NOT_CONFIGURED {
                diag.help(NO_KEYRING_HELP);
            }
            None
        }
        _ => None,
    };
    let opt_out = match r
        .on_opt_out
        .as_ref()
        .map(|o| (o.value.as_str(), o.span.clone()))
    {
        None | Some(("none", _)) => OptOut::None,
        Some(("block", _)) => OptOut::Block,
        Some(("strict", _)) => OptOut::Strict,
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`on_opt_out` must be \"none\", \"block\" or \"strict\"",
            );
            OptOut::None
        }
    };
    let rcx = |side, strict| RuleCtx {
        side,
        domain: &domain,
        keys,
        rotation,
        strict,
        inverse: false,
        subject: r.subject.is_some(),
    };
    let unselected = |strict: bool, d: &mut Diagnostics| Unselected {
        detect: detect_mode.and_then(|mode| {
            detect_policy(mode, r, &rcx(Side::Request, strict), src, d).map(Arc::new)
        }),
        drop: unknown_drop,
        root: "$".into(),
    };
    let request_unselected = unselected(false, d);
    let request = compile_rules(
        &r.rules,
        &rcx(Side::Request, false),
        &request_unselected,
        src,
        d,
    );
    let response = compile_rules(
        &r.response_rules,
        &rcx(Side::Response, false),
        &Unselected::default(),
        src,
        d,
    );
    let strict = if opt_out == OptOut::Strict {
        let mut quiet = Diagnostics::new();
        // Observe-mode detection forwards what it sees either way; enforce-mode actions get the
        // strict treatment like rules do.
        let strict_unselected = match detect_mode {
            Some(DetectMode::Enforce) => unselected(true, &mut quiet),
            _ => request_unselected.clone(),
        };
        compile_rules(
            &r.rules,
            &rcx(Side::Request, true),
            &strict_unselected,
            src,
            &mut quiet,
        )
    } else {
        None
    };
    let (Some(request), Some(response)) = (request, response) else {
        return None;
    };
    // Bodies: rules written for them (JSON selectors, `form:`), detection or allow-list mode
    // read them all; `query:` rules alone only the bodies frameworks merge parameters from.
    let body_rules = r.rules.iter().flat_map(|s| &s.select).any(|sel| {
        let t = sel.value.trim_start();
        t.starts_with('$') || t.starts_with("form:")
    });
    // A declared body coding says the vendor's bodies carry what the rules select in a form
    // only the declaration reveals (gtag.js's hits as `text/plain` lines, a gzip stream
    // labelled text): those are read too, not only the bodies frameworks merge from.
    let bodies = if body_rules || request_unselected.active() {
        Bodies::All
    } else if request.0.polices() || request.1.form.polices() {
        if r.body_coding.is_some() {
            Bodies::All
        } else {
            Bodies::Parameters
        }
    } else {
        Bodies::Unread
    };
    let body_coding = match &r.body_coding {
        None => None,
        Some(spec) => {
            // Each form layer polices its document with its own copy of the body plan.
            let mut body_plan = |strict: bool| {
                let mut quiet = Diagnostics::new();
                let unselected = match (strict, detect_mode) {
                    (true, Some(DetectMode::Enforce)) => unselected(true, &mut quiet),
                    _ => request_unselected.clone(),
                };
                compile_rules(
                    &r.rules,
                    &rcx(Side::Request, strict),
                    &unselected,
                    src,
                    &mut quiet,
                )
                .map(|(plan, _)| plan)
            };
            let mut route = body_coding::Route {
                body_plan: &mut body_plan,
                strict: strict.is_some(),
                form_unselected: &request.1.form.unselected,
            };
            Some(body_coding::compile(spec, src, &mut route, d)?)
        }
    };
    let (reveal_plan, reveal_fields) = reveal_everything(&domain, keys, &request.1);
    // The route's inverse: its own selectors, each reversible action reversed with its
    // options. Diagnostics were reported by the request compile above.
    let compile_inverse = || {
        if keys.ring.is_some() {
            compile_rules(
                &r.rules,
                &RuleCtx {
                    inverse: true,
                    ..rcx(Side::Request, false)
                },
                &Unselected::default(),
                src,
                &mut Diagnostics::new(),
            )
        } else {
            None
        }
    };
    let inverse = compile_inverse().unwrap_or_else(|| (Plan::empty(), FieldPlans::default()));
    // A form layer's document is revealed as it is policed: in its field, decoded by the same
    // codings, with a copy of the inverse and then every envelope opened.
    let mut body_coding = body_coding;
    for (_, layer) in body_coding.iter_mut().flat_map(|c| c.values.iter_mut()) {
        let crate::policy::BodyLayer::Form(doc) = layer else {
            continue;
        };
        let Some(rule) = doc.plans.form.rules.first() else {
            continue;
        };
        let FieldTarget::Wrapped(wrap) = &rule.target else {
            continue;
        };
        let Some((inverse_plan, _)) = compile_inverse() else {
            continue;
        };
        let inverse_fields = FieldPlans {
            form: FieldPlan {
                rules: vec![FieldRule {
                    name: rule.name.clone(),
                    target: FieldTarget::Wrapped(Box::new(Wrap {
                        codings: wrap.codings.clone(),
                        inner: Inner::Json(inverse_plan),
                    })),
                    class: None,
                }],
                ..FieldPlan::default()
            },
            ..FieldPlans::default()
        };
        let (_, reveal) = reveal_everything(&domain, keys, &doc.plans);
        doc.reveal = Some(crate::policy::FormReveal {
            inverse: inverse_fields,
            reveal,
        });
    }
    Some(Route {
        name: name.value.clone(),
        path_prefix: path_prefix?,
        host,
        upstream: upstream?,
        upstream_tls,
        domain,
        preset: expansion.preset.as_ref().map(|(p, _)| p.name),
        purpose,
        plan: request.0,
        fields: request.1,
        subject,
        subject_bases,
        opt_out,
        strict,
        response_plan: response.0,
        detect: detect_mode,
        allow_list: unknown_drop,
        reveal_plan,
        reveal_fields,
        inverse_plan: inverse.0,
        inverse_fields: inverse.1,
        bodies,
        max_body_bytes,
        max_concurrent_requests,
        body_coding,
    })
}

/// `180d`, `12w`, `24h`: at least one hour.
pub(super) fn parse_period(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    let secs = n.checked_mul(match unit {
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    })?;
    (secs >= 3600).then_some(secs)
}

pub(super) fn upstream(u: &At<String>, src: Source<'_>, d: &mut Diagnostics) -> Option<Upstream> {
    let bad = |d: &mut Diagnostics, why: &str| {
        d.error(
            src,
            u.span.clone(),
            "bad_upstream",
            format!("`upstream` {why}"),
        )
        .help("write it as \"https://api.example.com\" or \"http://127.0.0.1:9000/base\"");
    };
    let Ok(uri) = u.value.parse::<http::Uri>() else {
        bad(d, "is not a valid URL");
        return None;
    };
    let scheme = match uri.scheme_str() {
        Some("http") => http::uri::Scheme::HTTP,
        Some("https") => http::uri::Scheme::HTTPS,
        _ => {
            bad(d, "must start with http:// or https://");
            return None;
        }
    };
    let Some(authority) = uri.authority().cloned() else {
        bad(d, "has no host");
        return None;
    };
    if authority.as_str().contains('@') {
        bad(d, "must not contain credentials");
        return None;
    }
    if uri.query().is_some() {
        bad(d, "must not contain a query string");
        return None;
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Some(Upstream {
        scheme,
        authority,
        base_path,
    })
}

/// Plans that open every envelope of `domain` wherever it is: the whole JSON document, every
/// form and query field, and every JSON document inside the fields `fields` reads as JSON.
pub(super) fn reveal_everything(
    domain: &str,
    keys: &KeySource,
    fields: &FieldPlans,
) -> (Plan, FieldPlans) {
    let Some(ring) = &keys.ring else {
        return (Plan::empty(), FieldPlans::default());
    };
    let document = || {
        let Ok(root) = selector::parse("$") else {
            return Plan::empty();
        };
        let Ok(automaton) = Automaton::build(&[(root, 0)]) else {
            return Plan::empty();
        };
        Plan::new(
            automaton,
            vec![Rule::new(Action::Reveal(RevealAction::new(ring, domain)))],
        )
    };
    let every_field = || {
        FieldPlan::every(FieldTarget::Whole(Action::Reveal(RevealAction::new(
            ring, domain,
        ))))
    };
    // Fields the route reads as documents are read the same way, and every envelope inside
    // the document is opened.
    let every_field = |named: &FieldPlan| {
        let mut plan = every_field();
        plan.rules = named
            .rules
            .iter()
            .filter_map(|r| match &r.target {
                FieldTarget::Wrapped(w) => Some(FieldRule {
                    name: r.name.clone(),
                    target: FieldTarget::Wrapped(Box::new(Wrap {
                        codings: w.codings.clone(),
                        inner: match &w.inner {
                            Inner::Json(_) => Inner::Json(document()),
                            Inner::Query(_) => Inner::Query(every_field()),
                            Inner::Url(_) => Inner::Url(every_field()),
                            Inner::Text(_) => Inner::Text(Box::new(TextRule {
                                action: Action::Reveal(RevealAction::new(ring, domain)),
                                class: None,
                            })),
                        },
                    })),
                    class: None,
                }),
                FieldTarget::Whole(_) => None,
            })
            .collect();
        plan
    };
    let plans = FieldPlans {
        form: every_field(&fields.form),
        query: every_field(&fields.query),
        header: FieldPlan::default(),
        cookie: FieldPlan::default(),
    };
    (document(), plans)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ROUTE, compile, compile_in, diagnose};
    use super::parse_period;
    use crate::config::DEFAULT_KEYRING_ENV;

    #[test]
    fn every_bad_route_setting_is_reported_at_its_value() {
        let text = "[[routes]]
name = \"a b\"
path_prefix = \"r?x\"
host = \"https://api.example.com\"
upstream = \"http://127.0.0.1:9\"
domain = \"d/e\"
purpose = \"fun\"
detect = \"always\"
unknown_fields = \"deny\"
on_opt_out = \"ignore\"
rotate_pseudonyms_every = \"30m\"
max_concurrent_requests = 0
max_body_bytes = 20000000
";
        assert_eq!(
            diagnose(text),
            [
                "2:8 error[bad_value]: route `name` must be 1-64 characters of letters, digits, \
                 `_` or `-`",
                "3:15 error[bad_value]: `path_prefix` must start with `/` and contain no `?`, `#` \
                 or spaces",
                "4:8 error[bad_value]: `host` must be a bare host name such as \"api.segment.io\" \
                 (no scheme, port or path)",
                "6:10 error[bad_value]: `domain` must be 1-64 characters of letters, digits, `_` \
                 or `-`",
                "7:11 error[bad_value]: `purpose` must be one of analytics, marketing, \
                 sale_or_share, processor",
                "8:10 error[bad_value]: `detect` must be \"off\", \"observe\" or \"enforce\"",
                "9:18 error[bad_value]: `unknown_fields` must be \"allow\" or \"drop\"",
                "10:14 error[bad_value]: `on_opt_out` must be \"none\", \"block\" or \"strict\"",
                "11:27 error[bad_value]: `rotate_pseudonyms_every` must be a duration of at least \
                 one hour such as \"180d\", \"12w\" or \"24h\"",
                "12:27 error[bad_value]: `max_concurrent_requests` must be between 1 and 1000000",
                "13:18 error[bad_value]: route `max_body_bytes` must be between 1 and [limits] \
                 max_body_bytes",
            ]
        );
    }

    #[test]
    fn an_upstream_is_a_bare_http_or_https_origin_with_an_optional_base_path() {
        let at = |u: &str| {
            format!("[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"{u}\"\n")
        };
        for (u, why) in [
            ("ftp://example.com", "must start with http:// or https://"),
            ("/relative", "must start with http:// or https://"),
            (
                "https://user:pw@example.com",
                "must not contain credentials",
            ),
            (
                "https://example.com/?a=1",
                "must not contain a query string",
            ),
            ("http://exa mple.com", "is not a valid URL"),
        ] {
            let c = compile(&at(u));
            assert_eq!(
                c.lines(),
                [format!("4:12 error[bad_upstream]: `upstream` {why}")],
                "{u}"
            );
            assert!(
                c.help("bad_upstream")
                    .is_some_and(|h| h.contains("https://api.example.com"))
            );
        }
        let c = compile(&at("https://api.example.com/v1/"))
            .config
            .expect("compiles");
        let up = &c.routes[0].upstream;
        assert_eq!(
            (up.authority.as_str(), up.base_path.as_str()),
            ("api.example.com", "/v1")
        );
    }

    #[test]
    fn pseudonym_rotation_periods_are_whole_hours_days_or_weeks_of_at_least_an_hour() {
        assert_eq!(parse_period("24h"), Some(86_400));
        assert_eq!(parse_period(" 180d "), Some(180 * 86_400));
        assert_eq!(parse_period("2w"), Some(14 * 86_400));
        for bad in ["0h", "30m", "h", "", "1.5d", "-1d", "99999999999999999w"] {
            assert_eq!(parse_period(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_subject_is_a_child_path_and_needs_a_keyring_with_a_primary_key() {
        let with =
            |s: &str| format!("{ROUTE}subject = \"{s}\"\n[store]\nsubject_key_id = \"k1\"\n");
        assert_eq!(
            diagnose(&with("$..userId")),
            [
                "5:11 error[bad_selector]: a `subject` selector must use child steps only \
              (`$.userId`, `$.batch[*].userId`)"
            ]
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let c = compile_in(
            &format!("{ROUTE}subject = \"$.userId\"\n"),
            dir.path(),
            &[(DEFAULT_KEYRING_ENV, "")],
        );
        assert_eq!(
            c.lines(),
            [
                "5:11 error[no_keyring]: a route `subject` needs a keyring, but no keyring is \
              configured"
            ]
        );
        assert!(
            c.help("no_keyring")
                .is_some_and(|h| h.contains("piigate keygen"))
        );
        let no_primary = super::super::testing::KEYS.replace("\"primary\"", "\"active\"");
        let c = compile_in(
            &format!("{ROUTE}subject = \"$.userId\"\n"),
            dir.path(),
            &[(DEFAULT_KEYRING_ENV, &no_primary)],
        );
        assert_eq!(
            c.lines(),
            ["5:11 error[no_primary_key]: a route `subject` needs a key with status = \"primary\""]
        );
    }

    #[test]
    fn detect_actions_without_enforce_are_a_warning_not_silently_ignored() {
        let text =
            format!("{ROUTE}detect = \"observe\"\n[routes.detect_actions]\nemail = \"drop\"\n");
        assert_eq!(
            diagnose(&text),
            [
                "6:1 warning[unused_detect_actions]: `detect_actions` only apply with detect = \
              \"enforce\"; they are ignored"
            ]
        );
    }
}
