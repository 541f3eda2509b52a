//! Detection and allow-list mode in the streaming rewriter: exact bytes out, exact counts.

use std::sync::Arc;

use super::*;
use crate::crypto::OsNonces;
use crate::detect::Detector;
use crate::policy::action::{MaskAction, RedactAction};
use crate::policy::selector::parse;
use crate::policy::{Automaton, DetectMode, DetectPolicy, Treatment, Unselected};

const LIMITS: Limits = Limits { max_depth: 64 };

fn redact(r: &str) -> Action {
    Action::Redact(RedactAction {
        replacement: r.into(),
    })
}

fn detect(mode: DetectMode) -> Arc<DetectPolicy> {
    let actions = match mode {
        DetectMode::Observe => Vec::new(),
        DetectMode::Enforce => Class::ALL
            .iter()
            .map(|c| match c {
                Class::Phone => Action::Mask(MaskAction { keep_last: 2 }),
                Class::UserAgent => Action::Keep,
                Class::IpAddress => Action::Drop,
                c => redact(&format!("[REDACTED:{}]", c.as_str())),
            })
            .collect(),
    };
    Arc::new(DetectPolicy {
        echo: None,
        mode,
        detector: Detector::default(),
        actions,
    })
}

/// Rules `(selectors, action, class)`, rule id = position, with `unselected`.
fn plan(rules: Vec<(&[&str], Action, Option<Class>)>, unselected: Unselected) -> Plan {
    let mut paths = Vec::new();
    let mut out = Vec::new();
    for (id, (selectors, action, class)) in rules.into_iter().enumerate() {
        for s in selectors {
            paths.push((parse(s).expect("selector"), id as RuleId));
        }
        out.push(Rule::with_class(action, class));
    }
    let mut p = Plan::new(Automaton::build(&paths).expect("automaton"), out);
    p.unselected = unselected;
    p
}

fn with(detect: Option<Arc<DetectPolicy>>, drop: bool) -> Unselected {
    Unselected {
        detect,
        drop,
        root: "$".into(),
    }
}

struct Run {
    out: Option<String>,
    disclosed: crate::policy::DisclosureTally,
    fields: Vec<(String, Class, u32)>,
}

fn run(plan: &Plan, input: &str) -> Run {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    let outcome =
        rewrite_json(input.as_bytes(), plan, &LIMITS, &mut cx, &mut out).expect("valid input");
    let out = match outcome {
        Outcome::Unchanged => {
            assert!(out.is_empty());
            None
        }
        Outcome::Rewritten => Some(String::from_utf8(out).expect("utf8")),
    };
    let mut fields: Vec<_> = cx
        .detected
        .entries()
        .map(|(p, c, n)| (p.to_owned(), c, n))
        .collect();
    fields.sort();
    Run {
        out,
        disclosed: cx.disclosed,
        fields,
    }
}

const BATCH: &str = r#"{"userId":"u1","batch":[{"properties":{"contact_email":"a@b.example","plan":"pro","n":3}},{"properties":{"contact_email":"c@d.example"},"context":{"ip":"10.1.2.3","userAgent":"Mozilla/5.0"}}],"note":"call +92 300 1234567 today"}"#;

#[test]
fn observe_counts_paths_and_changes_nothing() {
    let p = plan(
        vec![(&["$.userId"], Action::Keep, None)],
        with(Some(detect(DetectMode::Observe)), false),
    );
    let r = run(&p, BATCH);
    assert_eq!(r.out, None, "observe forwards the original bytes");
    assert_eq!(
        r.fields,
        vec![
            ("$.batch[*].context.ip".to_owned(), Class::IpAddress, 1),
            (
                "$.batch[*].context.userAgent".to_owned(),
                Class::UserAgent,
                1
            ),
            (
                "$.batch[*].properties.contact_email".to_owned(),
                Class::Email,
                2
            ),
            ("$.note".to_owned(), Class::Phone, 1),
        ]
    );
    assert_eq!(r.disclosed.get(Some(Class::Email), Treatment::Clear), 3);
    assert_eq!(r.disclosed.get(Some(Class::Phone), Treatment::Clear), 1);
    // The kept, unclassified rule counts too.
    assert_eq!(r.disclosed.get(None, Treatment::Clear), 1);
}

#[test]
fn enforce_applies_the_class_action_and_rules_win() {
    let p = plan(
        vec![(
            &["$.batch[0].properties.contact_email"],
            redact("R"),
            Some(Class::Email),
        )],
        with(Some(detect(DetectMode::Enforce)), false),
    );
    let r = run(&p, BATCH);
    assert_eq!(
        r.out.as_deref(),
        Some(
            r#"{"userId":"u1","batch":[{"properties":{"contact_email":"R","plan":"pro","n":3}},{"properties":{"contact_email":"[REDACTED:email]"},"context":{"userAgent":"Mozilla/5.0"}}],"note":"**** +** *** ******* ***ay"}"#
        )
    );
    // The rule's value is not a detection; the second email is.
    assert_eq!(
        r.fields
            .iter()
            .find(|(p, _, _)| p.ends_with("contact_email"))
            .map(|f| f.2),
        Some(1)
    );
    assert_eq!(r.disclosed.get(Some(Class::Email), Treatment::Redacted), 2);
    assert_eq!(r.disclosed.get(Some(Class::Phone), Treatment::Masked), 1);
    // IP address and user agent are both category A/F; `keep` counts as clear.
    assert_eq!(
        r.disclosed.get(Some(Class::IpAddress), Treatment::Dropped),
        1
    );
    assert_eq!(r.disclosed.get(Some(Class::UserAgent), Treatment::Clear), 1);
}

#[test]
fn allow_list_keeps_only_selected_members_and_their_containers() {
    let p = plan(
        vec![
            (&["$.batch[*].userId"], redact("R"), None),
            (&["$.event", "$.a.b.c"], Action::Keep, None),
        ],
        with(None, true),
    );
    let cases = [
        (
            r#"{"event":"x","secret":"s","batch":[{"userId":"u","ip":"1.2.3.4"},5,[1]],"a":{"b":{"d":1}}}"#,
            // `[1]` is on the way to `batch[*].userId` (it could hold one), so it stays, empty.
            r#"{"event":"x","batch":[{"userId":"R"},[]],"a":{"b":{}}}"#,
        ),
        // Pretty-printed: drops take their separator, indentation stays.
        (
            "{\n  \"secret\": 1,\n  \"event\": \"x\"\n}",
            "{\n  \"event\": \"x\"\n}",
        ),
        // A scalar where only deeper members are selected is unselected.
        (r#"{"a":{"b":"flat"},"event":1}"#, r#"{"a":{},"event":1}"#),
        // Top level: a document with nothing selected becomes empty of its kind.
        (r#"[1,2]"#, r#"[]"#),
        (r#""just a string""#, "null"),
    ];
    for (input, want) in cases {
        assert_eq!(run(&p, input).out.as_deref(), Some(want), "{input}");
    }
    let r = run(&p, cases[0].0);
    // secret, ip, 5, the 1 inside [1], d: each dropped member or element once.
    assert_eq!(r.disclosed.get(None, Treatment::Dropped), 5);
    assert_eq!(r.disclosed.get(None, Treatment::Redacted), 1);
    assert_eq!(r.disclosed.get(None, Treatment::Clear), 1);
    // Without JSON rules everything goes.
    let none = plan(Vec::new(), with(None, true));
    assert_eq!(run(&none, r#"{"a":1}"#).out.as_deref(), Some("{}"));
}

#[test]
fn allow_list_with_detection_reports_what_it_dropped() {
    let p = plan(
        vec![(&["$.event"], Action::Keep, None)],
        with(Some(detect(DetectMode::Observe)), true),
    );
    let r = run(
        &p,
        r#"{"event":"x","traits":{"email":"a@b.example","plan":"pro"},"ip":"10.0.0.1"}"#,
    );
    assert_eq!(r.out.as_deref(), Some(r#"{"event":"x"}"#));
    assert_eq!(r.disclosed.get(Some(Class::Email), Treatment::Dropped), 2);
    assert_eq!(
        r.fields,
        vec![
            ("$.ip".to_owned(), Class::IpAddress, 1),
            ("$.traits.email".to_owned(), Class::Email, 1),
        ]
    );
    // Nothing selected anywhere: the root goes, after its leaves were counted.
    let none = plan(Vec::new(), with(Some(detect(DetectMode::Enforce)), true));
    let r = run(&none, r#"["a@b.example"]"#);
    assert_eq!(r.out.as_deref(), Some("[]"));
    assert_eq!(r.fields, vec![("$[*]".to_owned(), Class::Email, 1)]);
}

#[test]
fn paths_never_carry_values() {
    let p = plan(Vec::new(), with(Some(detect(DetectMode::Observe)), false));
    let r = run(
        &p,
        r#"{"users":{"alice@example.com":{"phone":"+14155550100"},"u_12345678":{"e\u006dail":"x@y.example"}},"Plan Type":{"contact_email":"p@q.example"}}"#,
    );
    assert_eq!(
        r.fields,
        vec![
            // The email that names a member, counted where it was: the name is written `*`.
            ("$.users.*".to_owned(), Class::Email, 1),
            ("$.users.*.email".to_owned(), Class::Email, 1),
            ("$.users.*.phone".to_owned(), Class::Phone, 1),
            ("$['Plan Type'].contact_email".to_owned(), Class::Email, 1),
        ]
    );
}

#[test]
fn rule_drops_are_counted() {
    let p = plan(
        vec![(&["$.context.ip"], Action::Drop, Some(Class::IpAddress))],
        Unselected::default(),
    );
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    rewrite_json(
        br#"{"context":{"ip":"1.2.3.4"}}"#,
        &p,
        &LIMITS,
        &mut cx,
        &mut out,
    )
    .expect("valid");
    assert_eq!(out, br#"{"context":{}}"#);
    assert_eq!(cx.counts.get(ActionKind::Drop), 1);
    assert_eq!(
        cx.disclosed.get(Some(Class::IpAddress), Treatment::Dropped),
        1
    );
}

#[test]
fn detection_does_not_change_rule_outputs() {
    // The same rules with and without observe-mode detection give the same bytes.
    let docs = [
        BATCH,
        r#"{"traits":{"email":"A@B.example","phone":"+1 415 555 0100"},"x":[{"email":"e@f.example"}]}"#,
        r#"[{"email":"a@b.example"},{"ip":"::1"}]"#,
    ];
    for selectors in [&["$..email"][..], &["$.traits"], &["$.x[*]"], &["$"]] {
        let plain = plan(vec![(selectors, redact("R"), None)], Unselected::default());
        let observed = plan(
            vec![(selectors, redact("R"), None)],
            with(Some(detect(DetectMode::Observe)), false),
        );
        for doc in docs {
            assert_eq!(
                run(&plain, doc).out,
                run(&observed, doc).out,
                "{selectors:?} {doc}"
            );
        }
    }
}

#[test]
fn a_member_named_by_personal_data_goes_with_its_value_under_enforce() {
    // Maps keyed by the person: the names are the data, whatever the values are.
    let p = plan(
        vec![(&["$.properties.tokens"], redact("R"), None)],
        with(Some(detect(DetectMode::Enforce)), false),
    );
    let input = r#"{"event":"Report","properties":{"by_email":{"kai@example.org":3,"pro":1},"by_phone":{"+44 20 7946 0958":{"calls":2}},"cards":{"4242 4242 4242 4242":"visa","plan":"gold"},"ibans":{"DE89370400440532013000":1},"by_ip":{"203.0.113.77":[1,2]},"escaped":{"kai\u0040example.org":4},"tokens":{"ada@example.org":"x","kept":"y"}}}"#;
    let r = run(&p, input);
    assert_eq!(
        r.out.as_deref(),
        Some(
            r#"{"event":"Report","properties":{"by_email":{"pro":1},"by_phone":{},"cards":{"plan":"gold"},"ibans":{},"by_ip":{},"escaped":{},"tokens":{"kept":"R"}}}"#
        )
    );
    let out: serde_json::Value =
        serde_json::from_str(r.out.as_deref().expect("rewritten")).expect("what leaves is JSON");
    assert_eq!(out["properties"]["by_email"]["pro"], 1);
    // Seven values dropped (counted per CCPA category), one redacted by the rule.
    let dropped: u32 = [
        Class::Email,
        Class::Phone,
        Class::PaymentCard,
        Class::Iban,
        Class::IpAddress,
    ]
    .iter()
    .map(|c| c.category())
    .collect::<std::collections::BTreeSet<_>>()
    .into_iter()
    .map(|cat| {
        let class = Class::ALL.iter().find(|c| c.category() == cat).copied();
        r.disclosed.get(class, Treatment::Dropped)
    })
    .sum();
    assert_eq!(dropped, 7);
    // Reported where they were, the names themselves written `*`.
    assert!(
        r.fields
            .contains(&("$.properties.by_email.*".to_owned(), Class::Email, 1)),
        "{:?}",
        r.fields
    );
    assert!(
        r.fields
            .contains(&("$.properties.tokens.*".to_owned(), Class::Email, 1)),
        "{:?}",
        r.fields
    );
}

#[test]
fn a_member_named_by_personal_data_is_counted_clear_under_observe() {
    let p = plan(Vec::new(), with(Some(detect(DetectMode::Observe)), false));
    let input = r#"{"by_email":{"kai@example.org":3},"plain":{"pro":1}}"#;
    let r = run(&p, input);
    assert_eq!(r.out, None, "observe forwards the original bytes");
    assert_eq!(r.disclosed.get(Some(Class::Email), Treatment::Clear), 1);
    assert_eq!(r.fields, vec![("$.by_email.*".to_owned(), Class::Email, 1)]);
}

#[test]
fn member_names_that_only_look_like_data_stay() {
    // Order numbers, versions, hashes, prices, dates, ids and ordinary field names.
    let p = plan(Vec::new(), with(Some(detect(DetectMode::Enforce)), false));
    let names = [
        "order_12345",
        "ORD-2024-000123",
        "v1.2.3",
        "1.2.3.4.5",
        "sha256",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "19.99",
        "$19.99",
        "2024-01-31",
        "550e8400-e29b-41d4-a716-446655440000",
        "sku_8842",
        "12345",
        "email",
        "phone_number",
        "$email",
        "address_line1",
        "ip",
        "Plan Type",
    ];
    for name in names {
        // A boolean: no value for detection to find, so only the name can count.
        let input = format!(r#"{{"m":{{"{name}":true}}}}"#);
        let r = run(&p, &input);
        assert_eq!(r.out, None, "{name} stays");
        assert_eq!(r.disclosed.get(None, Treatment::Dropped), 0, "{name}");
    }
}

#[test]
fn a_member_under_a_keep_rule_keeps_its_name() {
    // `keep` declares what it selects: names included.
    let p = plan(
        vec![(&["$.declared"], Action::Keep, None)],
        with(Some(detect(DetectMode::Enforce)), false),
    );
    let r = run(&p, r#"{"declared":{"kai@example.org":1}}"#);
    assert_eq!(r.out, None);
}
