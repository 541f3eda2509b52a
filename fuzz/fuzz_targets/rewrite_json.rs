//! Differential fuzzing of the streaming JSON rewriter against the serde_json reference.
//!
//! The first input byte picks a policy (selectors × action) from a fixed table; the rest is the
//! document. Any disagreement `reference::differential` reports — acceptance, tree, byte
//! faithfulness, Unchanged — is a crash. Panics inside the engine are crashes too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use piigate::crypto::{DangerCounterNonces, EnvelopeSealer, NonceSource, TokenKey};
use piigate::keys::{KeyId, SecretKey};
use piigate::policy::action::{
    EncryptAction, MaskAction, Normalize, RedactAction, TokenizeAction,
};
use piigate::policy::selector::parse;
use piigate::policy::{Action, Automaton, Plan, Rule, RuleId};
use piigate::rewrite::Limits;
use piigate::rewrite::json::reference;

const SELECTOR_SETS: &[&[&str]] = &[
    &["$..*"],
    &["$"],
    &["$.a", "$..b"],
    &["$[0]", "$..[1]"],
    &["$.*.a", "$['a b']"],
    &["$..email", "$.a[*]"],
    &["$.A", "$..K"],
];

fn action(which: u8) -> Action {
    let kid = || KeyId::new("k1").expect("key id");
    match which % 5 {
        0 => Action::Tokenize(TokenizeAction {
            key: TokenKey::new(kid(), &SecretKey::from_bytes([1; 32])),
            normalize: Normalize::Email,
            prefix: "tok_".into(),
            rotation: None,
        }),
        1 => Action::Encrypt(EncryptAction {
            sealer: EnvelopeSealer::new(kid(), &SecretKey::from_bytes([2; 32])),
            domain: "fuzz".into(),
        }),
        2 => Action::Mask(MaskAction { keep_last: 2 }),
        3 => Action::Redact(RedactAction {
            replacement: "[R\"\\]".into(),
        }),
        _ => Action::Drop,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, doc)) = data.split_first() else {
        return;
    };
    let selectors = SELECTOR_SETS[usize::from(pick >> 4) % SELECTOR_SETS.len()];
    let paths: Vec<_> = selectors
        .iter()
        .map(|s| (parse(s).expect("fixed selector"), 0 as RuleId))
        .collect();
    let plan = Plan::new(
        Automaton::build(&paths).expect("automaton"),
        vec![Rule::new(action(pick & 0x0F))],
    );
    let limits = Limits { max_depth: 64 };
    let mut nonces = || -> Box<dyn NonceSource> { Box::new(DangerCounterNonces(0)) };
    if let Err(e) = reference::differential(doc, &paths, &plan, &limits, &mut nonces) {
        panic!("engine and reference disagree: {e}");
    }
});
