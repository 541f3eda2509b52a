//! Table-driven tests for the streaming rewriter: exact bytes out, exact errors.

use super::*;
use crate::crypto::{Aad, EnvelopeOpener, EnvelopeSealer, OsNonces};
use crate::keys::{KeyId, SecretKey};
use crate::policy::action::{EncryptAction, MaskAction, RedactAction};
use crate::policy::selector::parse;
use crate::policy::{Action, Automaton, Rule};

const LIMITS: Limits = Limits { max_depth: 64 };

fn redact() -> Action {
    Action::Redact(RedactAction {
        replacement: "R".into(),
    })
}

fn mask() -> Action {
    Action::Mask(MaskAction { keep_last: 1 })
}

/// One rule per `(selectors, action)`, in order (rule id = position).
fn plan(rules: Vec<(&[&str], Action)>) -> Plan {
    let mut paths = Vec::new();
    let mut out = Vec::new();
    for (id, (selectors, action)) in rules.into_iter().enumerate() {
        for s in selectors {
            paths.push((parse(s).expect("selector"), id as RuleId));
        }
        out.push(Rule::new(action));
    }
    Plan::new(Automaton::build(&paths).expect("automaton"), out)
}

fn run(plan: &Plan, input: &str) -> Result<Option<String>, RewriteError> {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    match rewrite_json(input.as_bytes(), plan, &LIMITS, &mut cx, &mut out)? {
        Outcome::Unchanged => {
            assert!(out.is_empty(), "Unchanged must leave out untouched");
            Ok(None)
        }
        Outcome::Rewritten => Ok(Some(String::from_utf8(out).expect("utf8 output"))),
    }
}

/// (selectors, action name, input, expected output; `None` = Unchanged).
type Case = (
    &'static [&'static str],
    &'static str,
    &'static str,
    Option<&'static str>,
);

fn action(name: &str) -> Action {
    match name {
        "redact" => redact(),
        "mask" => mask(),
        "drop" => Action::Drop,
        other => panic!("unknown test action {other}"),
    }
}

const CASES: &[Case] = &[
    // Nothing selected: Unchanged, whatever the formatting.
    (&["$.email"], "redact", r#"{ "name" : "x" }"#, None),
    // The simplest replacement; every other byte (spaces included) survives.
    (
        &["$.email"],
        "redact",
        r#"{ "email" : "a@b.c" , "n":1 }"#,
        Some(r#"{ "email" : "R" , "n":1 }"#),
    ),
    // Keys match decoded: an escaped spelling is the same key.
    (
        &["$.email"],
        "redact",
        r#"{"\u0065mail":"a@b.c"}"#,
        Some(r#"{"\u0065mail":"R"}"#),
    ),
    // Every occurrence of a duplicated key is handled.
    (
        &["$.email"],
        "redact",
        r#"{"email":"a","email":"b"}"#,
        Some(r#"{"email":"R","email":"R"}"#),
    ),
    // Selected numbers and bools become strings; null stays.
    (
        &["$.*"],
        "redact",
        r#"[1.5e3,true,null,false]"#,
        Some(r#"["R","R",null,"R"]"#),
    ),
    (
        &["$.n"],
        "mask",
        r#"{"n":-1.5E+3}"#,
        Some(r#"{"n":"-*.**+3"}"#),
    ),
    // A value action on a container applies to every scalar below it.
    (
        &["$.u"],
        "redact",
        r#"{"u":{"a":[1,{"b":"x"}],"c":null},"k":2}"#,
        Some(r#"{"u":{"a":["R",{"b":"R"}],"c":null},"k":2}"#),
    ),
    // The root selected: every leaf.
    (
        &["$"],
        "redact",
        r#" ["a", {"b": 1}] "#,
        Some(r#" ["R", {"b": "R"}] "#),
    ),
    (&["$"], "redact", r#""top""#, Some(r#""R""#)),
    // Descendant selectors find keys at any depth, inside arrays too.
    (
        &["$..email"],
        "redact",
        r#"{"a":[{"email":"x"},{"b":{"email":"y"}}],"email":"z"}"#,
        Some(r#"{"a":[{"email":"R"},{"b":{"email":"R"}}],"email":"R"}"#),
    ),
    // Indexes count elements, not bytes.
    (
        &["$.a[1]"],
        "redact",
        r#"{"a":["x","y","z"]}"#,
        Some(r#"{"a":["x","R","z"]}"#),
    ),
    (&["$[0]"], "redact", r#"{"0":"x"}"#, None),
    // An escaped value is decoded before the action (mask keeps punctuation, so it shows).
    (
        &["$.s"],
        "mask",
        r#"{"s":"a\"b\u00e9c"}"#,
        Some(r#"{"s":"*\"**c"}"#),
    ),
    // Replacements are escaped minimally: quotes and backslashes, control chars; not non-ASCII.
    (
        &["$.s"],
        "mask",
        r#"{"s":"\\\n é!"}"#,
        Some("{\"s\":\"\\\\\\n *!\"}"),
    ),
    // Drop: first member with a follower keeps the dropped member's leading whitespace.
    (
        &["$.a"],
        "drop",
        r#"{ "a": 1, "b": 2 }"#,
        Some(r#"{ "b": 2 }"#),
    ),
    // Drop: a member after a kept one takes the comma before it.
    (&["$.b"], "drop", r#"{"a":1, "b":2}"#, Some(r#"{"a":1}"#)),
    (
        &["$.b"],
        "drop",
        r#"{"a":1,"b":2,"c":3}"#,
        Some(r#"{"a":1,"c":3}"#),
    ),
    // Drop: consecutive drops after a kept member chain cleanly.
    (
        &["$.b", "$.c"],
        "drop",
        r#"{"a":1,"b":2,"c":3}"#,
        Some(r#"{"a":1}"#),
    ),
    (
        &["$.a", "$.b"],
        "drop",
        r#"{"a":1,"b":2,"c":3}"#,
        Some(r#"{"c":3}"#),
    ),
    // Drop: the only member; the inner whitespace stays.
    (&["$.a"], "drop", r#"{ "a": 1 }"#, Some(r#"{  }"#)),
    (&["$.a", "$.b"], "drop", r#"{"a":1,"b":2}"#, Some(r#"{}"#)),
    // Drop: pretty-printed documents keep their indentation.
    (
        &["$.b"],
        "drop",
        "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}",
        Some("{\n  \"a\": 1,\n  \"c\": 3\n}"),
    ),
    (
        &["$.a"],
        "drop",
        "{\n  \"a\": 1,\n  \"b\": 2\n}",
        Some("{\n  \"b\": 2\n}"),
    ),
    (
        &["$.b"],
        "drop",
        "{\n  \"a\": 1,\n  \"b\": 2\n}",
        Some("{\n  \"a\": 1\n}"),
    ),
    // Drop: containers go whole, however deep; duplicates all go; null members go too.
    (
        &["$.x"],
        "drop",
        r#"{"x":{"y":[1,2,{"z":null}]},"k":0,"x":null}"#,
        Some(r#"{"k":0}"#),
    ),
    // Drop in arrays.
    (&["$[1]"], "drop", r#"[1, 2, 3]"#, Some(r#"[1, 3]"#)),
    (&["$[0]"], "drop", r#"[1, 2, 3]"#, Some(r#"[2, 3]"#)),
    (&["$[*]"], "drop", r#"[1, 2]"#, Some(r#"[]"#)),
    (
        &["$..ip"],
        "drop",
        r#"[{"ip":1},{"a":{"ip":2,"b":3}}]"#,
        Some(r#"[{},{"a":{"b":3}}]"#),
    ),
    // Drop on the root: an empty value of the same kind, surrounding whitespace kept.
    (&["$"], "drop", " {\"a\":1} ", Some(" {} ")),
    (&["$"], "drop", "[1]", Some("[]")),
    (&["$"], "drop", "7", Some("null")),
];

#[test]
fn rewrites_exactly() {
    for (n, &(selectors, act, input, want)) in CASES.iter().enumerate() {
        let p = plan(vec![(selectors, action(act))]);
        let got = run(&p, input).unwrap_or_else(|e| panic!("case {n} {input}: {e}"));
        assert_eq!(
            got.as_deref(),
            want,
            "case {n}: {selectors:?} {act} on {input}"
        );
    }
}

#[test]
fn lowest_rule_and_outermost_node_win() {
    // Rule 0 redacts `$.u.email`, rule 1 drops `$.u`: the outer node wins, the member goes.
    let p = plan(vec![(&["$.u.email"], redact()), (&["$.u"], Action::Drop)]);
    assert_eq!(
        run(&p, r#"{"u":{"email":"x"},"k":1}"#)
            .expect("ok")
            .as_deref(),
        Some(r#"{"k":1}"#)
    );
    // Both select `$.a`: rule 0 (mask) wins over rule 1 (drop).
    let p = plan(vec![(&["$..a"], mask()), (&["$.a"], Action::Drop)]);
    assert_eq!(
        run(&p, r#"{"a":"xyz"}"#).expect("ok").as_deref(),
        Some(r#"{"a":"**z"}"#)
    );
}

/// (input, expected error) — `Err(None)` means TooDeep.
const INVALID: &[(&str, usize, &str)] = &[
    ("", 0, "unexpected end of input"),
    ("   ", 3, "unexpected end of input"),
    ("\u{feff}{}", 0, "byte order mark"),
    ("{} x", 3, "unexpected data after the document"),
    ("[1,]", 3, "expected a value"),
    ("{\"a\":1,}", 7, "expected a member name"),
    ("{\"a\" 1}", 5, "expected `:`"),
    ("[1 2]", 3, "expected `,` or `]`"),
    ("{\"a\":1 \"b\":2}", 7, "expected `,` or `}`"),
    ("[01]", 2, "expected `,` or `]`"),
    ("[-]", 1, "invalid number"),
    ("[1.]", 1, "invalid number"),
    ("[tru]", 1, "expected a value"),
    ("[\"a\u{1}\"]", 3, "control character in string"),
    ("[\"\\x\"]", 2, "invalid escape"),
    ("[\"\\uD800\"]", 2, "lone surrogate in \\u escape"),
    ("[\"\\uDC00\\uD800\"]", 2, "lone surrogate in \\u escape"),
    ("[\"\\u12G4\"]", 2, "bad \\u escape"),
    ("[\"abc", 1, "unterminated string"),
    ("{\"a\":\"x", 5, "unterminated string"),
];

#[test]
fn refuses_malformed_input_with_offsets() {
    // Run each through the dead fast path (no rules) and the live walker (selects everything):
    // both must agree on the error.
    let plans = [Plan::empty(), plan(vec![(&["$..*"], redact())])];
    for p in &plans {
        for &(input, offset, reason) in INVALID {
            let got = run(p, input);
            assert_eq!(
                got,
                Err(RewriteError::Malformed { offset, reason }),
                "{input:?} with {} rules",
                p.rules.len()
            );
        }
    }
    // Invalid UTF-8 bytes, in values and keys.
    for bytes in [
        &b"[\"\xff\"]"[..],
        b"{\"\xc0\xaf\":1}",
        b"[\"\xed\xa0\x80\"]",
        b"[\"\xf4\x90\x80\x80\"]",
    ] {
        for p in &plans {
            let mut nonces = OsNonces::new();
            let mut cx = ApplyCx::new(&mut nonces);
            let got = rewrite_json(bytes, p, &LIMITS, &mut cx, &mut Vec::new());
            assert!(
                matches!(
                    got,
                    Err(RewriteError::Malformed {
                        reason: "invalid UTF-8",
                        ..
                    })
                ),
                "{bytes:?}: {got:?}"
            );
        }
    }
}

#[test]
fn depth_limit_is_exact_and_bombs_do_not_overflow() {
    let limits = Limits { max_depth: 3 };
    let plans = [Plan::empty(), plan(vec![(&["$..zz"], redact())])];
    for p in &plans {
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        let ok = rewrite_json(b"[[{\"a\":1}]]", p, &limits, &mut cx, &mut Vec::new());
        assert_eq!(ok, Ok(Outcome::Unchanged));
        let deep = rewrite_json(b"[[{\"a\":[]}]]", p, &limits, &mut cx, &mut Vec::new());
        assert_eq!(deep, Err(RewriteError::TooDeep { limit: 3 }));
        // A million open brackets: refused, no stack overflow.
        let bomb = vec![b'['; 1_000_000];
        let huge = Limits {
            max_depth: usize::MAX,
        };
        let r = rewrite_json(&bomb, p, &huge, &mut cx, &mut Vec::new());
        assert!(matches!(r, Err(RewriteError::Malformed { .. })), "{r:?}");
    }
}

#[test]
fn error_leaves_out_as_it_was() {
    let p = plan(vec![(&["$.a"], redact())]);
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = b"keep".to_vec();
    let r = rewrite_json(br#"{"a":"x","b":}"#, &p, &LIMITS, &mut cx, &mut out);
    assert!(r.is_err());
    assert_eq!(out, b"keep");
}

#[test]
fn field_is_the_nearest_member_name() {
    let kid = KeyId::new("k1").expect("id");
    let key = SecretKey::from_bytes([7; 32]);
    let mut opener = EnvelopeOpener::new();
    opener.add(kid.clone(), &key);
    let p = plan(vec![(
        &["$.u", "$.top"],
        Action::Encrypt(EncryptAction {
            sealer: EnvelopeSealer::new(kid, &key),
            domain: "d".into(),
        }),
    )]);
    let input = r#"{"u":{"e\u006dail":"a","list":[["b"],{"x":"c"}]},"top":"d"}"#;
    let out = run(&p, input).expect("ok").expect("rewritten");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    let open = |v: &serde_json::Value, field: &str| {
        let mut pt = Vec::new();
        let env = v.as_str().expect("envelope string");
        opener
            .open(env, Aad { domain: "d", field }, &mut Vec::new(), &mut pt)
            .unwrap_or_else(|e| panic!("{field}: {e}"));
        String::from_utf8(pt).expect("utf8")
    };
    // The escaped key is bound decoded.
    assert_eq!(open(&doc["u"]["email"], "email"), "a");
    // Elements of nested arrays are bound to the key holding the outer array.
    assert_eq!(open(&doc["u"]["list"][0][0], "list"), "b");
    assert_eq!(open(&doc["u"]["list"][1]["x"], "x"), "c");
    assert_eq!(open(&doc["top"], "top"), "d");

    // At the top level the field is empty.
    let root = plan(vec![(
        &["$"],
        Action::Encrypt(EncryptAction {
            sealer: EnvelopeSealer::new(KeyId::new("k1").expect("id"), &key),
            domain: "d".into(),
        }),
    )]);
    let out = run(&root, r#"["x"]"#).expect("ok").expect("rewritten");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(open(&doc[0], ""), "x");
}

#[test]
fn deep_documents_walk_on_the_heap_not_the_stack() {
    // 100 000 levels: far past any thread stack if the walk recursed per level.
    const DEPTH: usize = 100_000;
    let mut doc = "[".repeat(DEPTH);
    doc.push_str("\"x\"");
    doc.push_str(&"]".repeat(DEPTH));
    let limits = Limits {
        max_depth: DEPTH + 1,
    };
    // `$..zz`: the watching skipper (its kind stack spills past 256 levels). `$..[1]`: index
    // sensitive, so the live walk's frames go all the way down. `$[0]`: selected mode below.
    let cases = [
        (&["$..zz"][..], None),
        (&["$..[1]"][..], None),
        (&["$[0]"][..], Some("\"R\"")),
    ];
    for (selectors, want) in cases {
        let p = plan(vec![(selectors, redact())]);
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        let mut out = Vec::new();
        let r = rewrite_json(doc.as_bytes(), &p, &limits, &mut cx, &mut out);
        match want {
            None => assert_eq!(r, Ok(Outcome::Unchanged)),
            Some(leaf) => {
                assert_eq!(r, Ok(Outcome::Rewritten));
                let text = String::from_utf8(out).expect("utf8");
                assert_eq!(text.len(), doc.len());
                assert!(text.contains(leaf));
            }
        }
    }
}

#[test]
fn kept_everywhere_is_unchanged() {
    // `reveal` keeps anything that is not an envelope: nothing changes, nothing is written.
    let p = plan(vec![(
        &["$..*"],
        Action::Reveal(crate::policy::action::RevealAction {
            opener: EnvelopeOpener::new(),
            domain: "d".into(),
        }),
    )]);
    assert_eq!(
        run(&p, r#"{"a":["x",1,true,null],"b":{"c":"pge1.nope"}}"#),
        Ok(None)
    );
}

#[test]
fn inconsistent_plan_fails_closed() {
    // An automaton naming rule 3 with only one rule in the plan: refused up front, no panic.
    let paths = vec![(parse("$.a").expect("selector"), 3)];
    let p = Plan::new(
        Automaton::build(&paths).expect("automaton"),
        vec![Rule::new(redact())],
    );
    assert!(matches!(
        run(&p, r#"{"a":"x"}"#),
        Err(RewriteError::Malformed { offset: 0, .. })
    ));
}

#[test]
fn a_workers_buffers_are_wiped_between_requests_and_reused() {
    use crate::crypto::TokenKey;
    use crate::policy::action::{TokenizeAction, WorkBufs};
    use crate::policy::transform::normalize::Normalize;

    let key = SecretKey::from_bytes([7; 32]);
    let kid = KeyId::new("k1").expect("id");
    let p = plan(vec![
        (
            &["$.email"],
            Action::Tokenize(TokenizeAction {
                key: TokenKey::new(kid.clone(), &key),
                normalize: Normalize::Email,
                prefix: "tok_".into(),
                rotation: None,
            }),
        ),
        (
            &["$.phone"],
            Action::Encrypt(EncryptAction {
                sealer: EnvelopeSealer::new(kid, &key),
                domain: "d".into(),
            }),
        ),
        (&["$.name"], mask()),
    ]);
    let input = br#"{"email":"Ada.Lovelace@Example.ORG","phone":"+44 20 7946 0958","name":"Ada"}"#;
    let request = |nonces: &mut OsNonces| {
        let mut cx = ApplyCx::for_worker(nonces);
        let mut out = Vec::new();
        let r = rewrite_json(input, &p, &LIMITS, &mut cx, &mut out);
        assert_eq!(r, Ok(Outcome::Rewritten));
        // While the request runs, its buffers hold values in the clear: the normalised
        // address is still in `norm`.
        assert_eq!(cx.norm, b"ada.lovelace@example.org");
        assert!(cx.scratch.capacity() > 0 && cx.repl.capacity() > 0);
    };
    let mut nonces = OsNonces::new();
    // This test's thread starts with none kept.
    drop(WorkBufs::take_kept());
    request(&mut nonces);
    let kept = WorkBufs::take_kept();
    let first = kept.contents();
    for (_, capacity, bytes) in first {
        // Every byte of each buffer's capacity is zero: nothing of the request is left.
        assert!(capacity > 0, "a worker's buffer was not kept");
        assert_eq!(bytes.len(), capacity);
        assert!(bytes.iter().all(|&b| b == 0), "a kept buffer was not wiped");
    }
    let starts = first.map(|(start, _, _)| start);
    // Handed back, the next request reuses the same buffers.
    kept.put_back();
    request(&mut nonces);
    let again = WorkBufs::take_kept();
    assert_eq!(
        again.contents().map(|(start, _, _)| start),
        starts,
        "not reused"
    );
}

/// Member values of the documents below, as spelled in JSON: escapes, non-ASCII, numbers,
/// literals and containers.
const SPELLINGS: &[&str] = &[
    r#""x""#,
    r#""""#,
    r#""q\"t\\""#,
    r#""\u00e9t\u00e9 \ud83d\ude00""#,
    r#""日本""#,
    "12",
    "-0.5e3",
    "true",
    "false",
    "null",
    r#"{"a":"in","z":[1,"two"]}"#,
    r#"["a",{"a":null,"b":"bé"}]"#,
];
const NAMES: &[&str] = &["a", "b", "z", r"\u0061", "日本"];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// `redact` writes its replacement without reading the value when no echo collection
    /// is under way ([`ApplyCx::treat_constant`]), copying its JSON spelling from the last
    /// leaf it replaced ([`Spelled`]; three replacements take turns here, one too long to
    /// keep); in the one pass, where every selected value is read, recorded and treated by
    /// [`ApplyCx::treat`], and its replacement encoded, the same document comes out with the
    /// same bytes, action counts and ledger cells.
    #[test]
    fn redact_unread_and_redact_read_agree(
        members in proptest::collection::vec(
            (proptest::sample::select(NAMES), proptest::sample::select(SPELLINGS)),
            0..8,
        ),
    ) {
        let body: Vec<String> = members.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
        let input = format!("{{{}}}", body.join(","));
        let p = plan(vec![
            (&["$..a"], Action::Redact(RedactAction { replacement: "[gone \"é\"]".into() })),
            (&["$..b"], mask()),
            (&["$.z"], redact()),
            (
                &["$..日本"],
                Action::Redact(RedactAction {
                    replacement: "a replacement too long to keep: \"quoted\", \\, é, \u{1}".into(),
                }),
            ),
        ]);
        let rewrite = |one_pass: bool| {
            let mut nonces = OsNonces::new();
            let mut cx = ApplyCx::new(&mut nonces);
            let saved = one_pass.then(|| cx.begin_one_pass().expect("no collection yet"));
            let mut out = Vec::new();
            let outcome = rewrite_json(input.as_bytes(), &p, &LIMITS, &mut cx, &mut out);
            if saved.is_some() {
                proptest::prop_assert!(cx.end_one_pass(), "nothing to search");
            }
            let cells: Vec<_> = cx.disclosed.cells().collect();
            Ok((outcome, out, cx.counts, cells))
        };
        let unread = rewrite(false)?;
        let read = rewrite(true)?;
        proptest::prop_assert_eq!(unread, read, "{}", input);
    }
}
