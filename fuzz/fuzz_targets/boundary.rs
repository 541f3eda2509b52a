//! Fuzzing the request boundary: path normalisation, content headers, header spellings, the
//! form/query grammar and bodies policed with every parameter rule (form rules on the query,
//! JSON selectors on pairs read as nesting, folded JSON member names), composed as the proxy
//! composes them (`rewrite::request::reread`).
//!
//! Input: a request target, header lines and a body separated by `\n\n`-style markers (see
//! `split`). Invariants: no panic; whatever is accepted is accepted again and re-serialises to
//! exactly the same target, headers and body (the canonical form is a fixpoint, and no pair a
//! rule names appears only on the second reading); a redacted field never keeps its value.

#![no_main]

use http::header::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use piigate::crypto::OsNonces;
use piigate::policy::action::RedactAction;
use piigate::policy::selector::parse;
use piigate::policy::{
    Action, ApplyCx, Automaton, FieldPlan, FieldPlans, FieldRule, FieldTarget, Plan, Rule,
};
use piigate::rewrite::{Limits, Plans};
use piigate::rewrite::request::reread;

fn plan() -> FieldPlan {
    let redact = || FieldTarget::Whole(Action::Redact(RedactAction { replacement: "R".into() }));
    FieldPlan {
        rules: vec![
            FieldRule { name: "email".into(), target: redact(), class: None },
            FieldRule { name: "user_email".into(), target: redact(), class: None },
            FieldRule { name: "ip".into(), target: FieldTarget::Whole(Action::Drop), class: None },
        ],
        ..FieldPlan::default()
    }
}

/// JSON selectors as a route compiles them: its own and one per parameter rule.
fn json() -> Plan {
    let redact = || Rule::new(Action::Redact(RedactAction { replacement: "R".into() }));
    let paths: Vec<_> = [("$.user.email", 0), ("$..phone", 0), ("$.email", 0), ("$.ip", 1)]
        .iter()
        .map(|&(p, r)| (parse(p).expect("selector"), r))
        .collect();
    Plan::new(Automaton::build(&paths).expect("automaton"), vec![redact(), Rule::new(Action::Drop)])
}

/// `target \0 name: value \0 name: value … \0\0 body`
fn split(data: &[u8]) -> Option<(String, HeaderMap, &[u8])> {
    let (head, body) = match data.windows(2).position(|w| w == b"\0\0") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &b""[..]),
    };
    let mut lines = head.split(|&b| b == 0);
    let target = std::str::from_utf8(lines.next()?).ok()?;
    // What the HTTP parser would have let through: a path-and-query the `http` crate accepts.
    let pq: http::uri::PathAndQuery = target.parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = HeaderName::from_bytes(&line[..colon]).ok()?;
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
        headers.append(name, value);
    }
    Some((pq.as_str().to_owned(), headers, body))
}

fuzz_target!(|data: &[u8]| {
    let Some((target, headers, body)) = split(data) else { return };
    let fields = FieldPlans {
        form: plan(),
        query: FieldPlan::default(),
        header: FieldPlan::default(),
        cookie: FieldPlan::default(),
    };
    let json = json();
    let plans = Plans { json: &json, fields: &fields };
    let limits = Limits { max_depth: 32 };
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let Ok(once) = reread(&target, &headers, body, plans, &limits, &mut cx) else { return };
    let twice = reread(&once.target, &once.headers, &once.body, plans, &limits, &mut cx)
        .expect("what piigate forwards, piigate accepts again");
    assert_eq!(twice, once, "the canonical form is a fixpoint");
    assert!(once.target.starts_with('/'), "an origin-form target");
    assert!(!once.target.split('?').next().unwrap_or("").contains("/../"), "no dot segment left");
});
