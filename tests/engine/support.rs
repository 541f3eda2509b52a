//! Plans, keys and deterministic nonces for engine tests.

use piigate::crypto::{DangerCounterNonces, EnvelopeOpener, EnvelopeSealer, NonceSource, TokenKey};
use piigate::keys::{KeyId, SecretKey};
use piigate::policy::action::{EncryptAction, MaskAction, Normalize, RedactAction, TokenizeAction};
use piigate::policy::selector::parse;
use piigate::policy::{Action, Automaton, JsonPath, Plan, Rule, RuleId};

/// The domain every test envelope is bound to.
pub(crate) const DOMAIN: &str = "test-domain";

/// A factory of fresh counter sources, for `reference::differential`.
pub(crate) fn counter_nonces() -> impl FnMut() -> Box<dyn NonceSource> {
    || Box::new(DangerCounterNonces(0))
}

fn kid() -> KeyId {
    KeyId::new("k1").expect("valid key id")
}

fn enc_key() -> SecretKey {
    SecretKey::from_bytes([2; 32])
}

/// Opens envelopes sealed by [`ActionSpec::Encrypt`].
pub(crate) fn opener() -> EnvelopeOpener {
    let mut o = EnvelopeOpener::new();
    o.add(kid(), &enc_key());
    o
}

/// The actions tests use; all deterministic given the nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionSpec {
    Tokenize,
    TokenizeEmail,
    Encrypt,
    Mask,
    Redact,
    Drop,
}

impl ActionSpec {
    pub(crate) const ALL: [Self; 6] = [
        Self::Tokenize,
        Self::TokenizeEmail,
        Self::Encrypt,
        Self::Mask,
        Self::Redact,
        Self::Drop,
    ];

    pub(crate) fn build(self) -> Action {
        match self {
            Self::Tokenize | Self::TokenizeEmail => Action::Tokenize(TokenizeAction {
                key: TokenKey::new(kid(), &SecretKey::from_bytes([1; 32])),
                normalize: if self == Self::Tokenize {
                    Normalize::None
                } else {
                    Normalize::Email
                },
                prefix: "tok_".into(),
                rotation: None,
            }),
            Self::Encrypt => Action::Encrypt(EncryptAction {
                sealer: EnvelopeSealer::new(kid(), &enc_key()),
                domain: DOMAIN.into(),
            }),
            Self::Mask => Action::Mask(MaskAction { keep_last: 2 }),
            Self::Redact => Action::Redact(RedactAction {
                replacement: "[REDACTED]".into(),
            }),
            Self::Drop => Action::Drop,
        }
    }
}

/// Compiles rules (rule id = position) into the selector list and the plan.
pub(crate) fn build<S: AsRef<str>>(
    rules: &[(Vec<S>, ActionSpec)],
) -> (Vec<(JsonPath, RuleId)>, Plan) {
    let mut paths = Vec::new();
    let mut out = Vec::new();
    for (id, (selectors, action)) in rules.iter().enumerate() {
        for s in selectors {
            let s = s.as_ref();
            let path = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            paths.push((path, RuleId::try_from(id).expect("few rules")));
        }
        out.push(Rule::new(action.build()));
    }
    let plan = Plan::new(Automaton::build(&paths).expect("automaton builds"), out);
    (paths, plan)
}
