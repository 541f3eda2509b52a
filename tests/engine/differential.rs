//! Differential property tests: generated documents and policies, streaming engine against the
//! serde_json reference (`piigate::rewrite::json::reference`).
//!
//! Documents mix the key vocabulary selectors use (spelled raw or `\u`-escaped, in other cases
//! and with the non-ASCII aliases case-insensitive binders fold), duplicate
//! keys, unicode, every number spelling and unique PII canaries at random paths. Each case
//! checks, through `reference::differential`: same acceptance, same tree, bytes outside selected
//! values unchanged; and here: no canary of a selected value survives in any spelling, and every
//! envelope opens to its original under the field it claims.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use piigate::crypto::Aad;
use piigate::rewrite::Limits;
use piigate::rewrite::json::reference;
use proptest::prelude::*;

use super::support::{ActionSpec, DOMAIN, build, counter_nonces, opener};

const KEYS: &[&str] = &[
    "email", "phone", "name", "ip", "userId", "a", "b", "é", "a b", "q\"t", "", "traits", "batch",
    "日本", "EMAIL", "Email", "emaıl", "PHONE", "É", "USERID",
];
const STRINGS: &[&str] = &[
    "x",
    "",
    "日本語",
    "tab\there",
    "quote\"back\\slash",
    "😀",
    "\u{7f}",
    "nul\u{0}ctl\u{1f}",
    "Alice@Example.COM",
    "+1 (555) 010-9999",
];
/// Every spelling class of RFC 8259 numbers, including ones a DOM would normalise or overflow.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "7",
    "-12",
    "1.5",
    "1e5",
    "1E+5",
    "2.5e-3",
    "12345678901234567890",
    "-0.0E-0",
    "1E400",
    "0.1",
];
const CANARIES: usize = 24;
const SELECTORS: &[&str] = &[
    "$",
    "$.email",
    "$..email",
    "$..phone",
    "$.a.b",
    "$.a[*]",
    "$[0]",
    "$..[1]",
    "$['a b']",
    "$[\"q\\\"t\"]",
    "$..['é']",
    "$.*.name",
    "$..*",
    "$.batch[*].userId",
    "$..traits",
    "$.a..b",
    "$['']",
    "$[*].a",
    "$..b[0]",
    "$['a','email']",
    "$..['\\u0065mail']",
    "$.日本",
    "$.Name",
    "$..USERID",
];
const WS: &[&str] = &["", "", "", " ", "\n  ", "\t", "\r\n"];

#[derive(Debug, Clone)]
enum Doc {
    Obj(Vec<(usize, Self)>),
    Arr(Vec<Self>),
    /// Index into STRINGS, or a canary past its end.
    Str(usize),
    Num(usize),
    Bool(bool),
    Null,
}

fn doc() -> impl Strategy<Value = Doc> {
    let leaf = prop_oneof![
        3 => (0..STRINGS.len() + CANARIES).prop_map(Doc::Str),
        1 => (0..NUMBERS.len()).prop_map(Doc::Num),
        1 => any::<bool>().prop_map(Doc::Bool),
        1 => Just(Doc::Null),
    ];
    leaf.prop_recursive(5, 80, 6, |inner| {
        prop_oneof![
            prop::collection::vec((0..KEYS.len(), inner.clone()), 0..6).prop_map(Doc::Obj),
            prop::collection::vec(inner, 0..6).prop_map(Doc::Arr),
        ]
    })
}

fn canary(n: usize) -> String {
    format!("pii{n:02}-zq@ex.example")
}

/// Renders `doc` with whitespace and escape spellings chosen by a small PRNG.
struct Render {
    state: u64,
    out: String,
}

impl Render {
    fn next(&mut self) -> u64 {
        // xorshift64*: plenty for spelling choices.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn ws(&mut self) {
        let w = WS[(self.next() % WS.len() as u64) as usize];
        self.out.push_str(w);
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            let roll = self.next() % 8;
            match c {
                '"' => self.out.push_str(if roll < 6 { "\\\"" } else { "\\u0022" }),
                '\\' => self.out.push_str(if roll < 6 { "\\\\" } else { "\\u005C" }),
                '\n' if roll < 4 => self.out.push_str("\\n"),
                '\t' if roll < 4 => self.out.push_str("\\t"),
                c if (c as u32) < 0x20 || roll == 0 => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        let _ = if self.next().is_multiple_of(2) {
                            write!(self.out, "\\u{unit:04x}")
                        } else {
                            write!(self.out, "\\u{unit:04X}")
                        };
                    }
                }
                '/' if roll == 1 => self.out.push_str("\\/"),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn doc(&mut self, d: &Doc) {
        match d {
            Doc::Obj(members) => {
                self.out.push('{');
                self.ws();
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                        self.ws();
                    }
                    self.string(KEYS[*k]);
                    self.ws();
                    self.out.push(':');
                    self.ws();
                    self.doc(v);
                    self.ws();
                }
                self.out.push('}');
            }
            Doc::Arr(items) => {
                self.out.push('[');
                self.ws();
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                        self.ws();
                    }
                    self.doc(v);
                    self.ws();
                }
                self.out.push(']');
            }
            Doc::Str(n) => match STRINGS.get(*n) {
                Some(s) => self.string(s),
                None => self.string(&canary(*n)),
            },
            Doc::Num(n) => self.out.push_str(NUMBERS[*n]),
            Doc::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Doc::Null => self.out.push_str("null"),
        }
    }
}

fn rules() -> impl Strategy<Value = Vec<(Vec<&'static str>, ActionSpec)>> {
    let rule = (
        prop::collection::vec(prop::sample::select(SELECTORS), 1..3),
        prop::sample::select(&ActionSpec::ALL[..]),
    );
    prop::collection::vec(rule, 1..4)
}

fn canaries_in(node: &reference::Node) -> BTreeSet<String> {
    node.strings()
        .into_iter()
        .filter(|s| s.starts_with("pii"))
        .map(str::to_owned)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_reference(doc in doc(), seed in 1u64.., rules in rules()) {
        let mut r = Render { state: seed, out: String::new() };
        r.ws();
        r.doc(&doc);
        r.ws();
        let input = r.out;
        let (paths, plan) = build(&rules);
        let limits = Limits { max_depth: 64 };
        let agreed = reference::differential(
            input.as_bytes(), &paths, &plan, &limits, &mut counter_nonces(),
        )
        .map_err(|e| TestCaseError::fail(format!("{e}\ninput: {input}\nrules: {rules:?}")))?;
        let Some(agreed) = agreed else {
            return Err(TestCaseError::fail(format!("generated document refused: {input}")));
        };

        // No selected canary survives, decoded or raw, anywhere in the output.
        let before = canaries_in(&reference::parse(input.as_bytes(), 64).expect("parses"));
        let kept = canaries_in(&agreed.reference.doc);
        let out_tree = reference::parse(&agreed.output, 64).expect("output parses");
        let out_strings = out_tree.strings();
        let raw = String::from_utf8_lossy(&agreed.output);
        for gone in before.difference(&kept) {
            let decoded = out_strings.iter().any(|s| s.contains(gone.as_str()));
            prop_assert!(!decoded, "{gone} survives decoded");
            prop_assert!(!raw.contains(gone.as_str()), "{gone} survives raw");
        }

        // Every envelope opens, under the field the reference saw, to the original text.
        let opener = opener();
        for t in &agreed.reference.touched {
            if rules[usize::from(t.rule)].1 != ActionSpec::Encrypt {
                continue;
            }
            let env = t.replacement.as_deref().expect("encrypt replaces");
            let mut pt = Vec::new();
            opener
                .open(env, Aad { domain: DOMAIN, field: &t.field }, &mut Vec::new(), &mut pt)
                .map_err(|e| TestCaseError::fail(format!("{e} for field {:?}", t.field)))?;
            prop_assert_eq!(String::from_utf8(pt).expect("utf8"), t.text.clone());
        }
    }
}
