//! Fuzzing the url-encoded rewriter (form bodies and query strings).
//!
//! Invariants: no panic; a payload accepted with an empty plan is accepted with any plan; a
//! rewritten payload is itself valid url-encoded text; when nothing is selected the output is
//! `Unchanged`; a redacted field never keeps its value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use piigate::crypto::OsNonces;
use piigate::policy::action::RedactAction;
use piigate::policy::selector::parse;
use piigate::policy::params::Params;
use piigate::policy::{
    Action, ApplyCx, Automaton, FieldPlan, FieldRule, FieldTarget, Inner, Plan, Rule, Wrap,
};
use piigate::rewrite::form::rewrite_form;
use piigate::rewrite::{Limits, Outcome};

fn redact() -> Action {
    Action::Redact(RedactAction { replacement: "R".into() })
}

fn plan(byte: u8) -> FieldPlan {
    let json = || {
        let p = parse("$..x").expect("static selector");
        Plan::new(Automaton::build(&[(p, 0)]).expect("automaton"), vec![Rule::new(redact())])
    };
    let rules = match byte % 4 {
        0 => vec![],
        1 => vec![FieldRule { name: "a".into(), target: FieldTarget::Whole(redact()), class: None }],
        2 => vec![
            FieldRule { name: "a".into(), target: FieldTarget::Whole(Action::Drop), class: None },
            FieldRule { name: "b".into(), target: FieldTarget::Whole(redact()), class: None },
        ],
        _ => vec![FieldRule {
            name: "c".into(),
            target: FieldTarget::Wrapped(Box::new(Wrap { codings: Box::new([]), inner: Inner::Json(json()) })),
            class: None,
        }],
    };
    FieldPlan { rules, ..FieldPlan::default() }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    let limits = Limits { max_depth: 32 };
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let empty = FieldPlan::default();
    let mut out = Vec::new();
    let baseline = rewrite_form(input, Params::only(&empty), &limits, &mut cx, &mut out);
    assert!(!matches!(baseline, Ok(Outcome::Rewritten)), "an empty plan never rewrites");
    let p = plan(selector);
    let mut out = Vec::new();
    match rewrite_form(input, Params::only(&p), &limits, &mut cx, &mut out) {
        Ok(Outcome::Unchanged) => assert!(out.is_empty()),
        Ok(Outcome::Rewritten) => {
            assert!(baseline.is_ok(), "a plan never makes an invalid payload valid");
            let mut again = Vec::new();
            assert!(rewrite_form(&out, Params::only(&empty), &limits, &mut cx, &mut again).is_ok(), "output is valid url-encoded text");
        }
        // A selected `=>` field that is not JSON may fail where the empty plan passed.
        Err(_) => {}
    }
});
