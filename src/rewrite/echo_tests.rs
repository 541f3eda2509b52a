//! The one pass of an echoing JSON document (police, collect, fill the scrubbed texts in
//! after) against the two passes it replaces (collect, then police with every value known):
//! the same bytes, the same counts, the same overflow, whatever the order of the document.

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::{Format, Limits, Outcome, Plans, rewrite_payload};
use crate::crypto::OsNonces;
use crate::detect::Class;
use crate::detect::spans::{SPAN_CLASSES, TextKind};
use crate::policy::action::{MaskAction, RedactAction, ScrubAction};
use crate::policy::selector::parse;
use std::sync::Arc;

use crate::detect::Detector;
use crate::policy::{
    Action, ApplyCx, Automaton, DetectMode, DetectPolicy, FieldPlans, Plan, Rule, RuleId,
    Unselected,
};

const LIMITS: Limits = Limits { max_depth: 32 };

fn redact(with: &str) -> Action {
    Action::Redact(RedactAction {
        replacement: with.into(),
    })
}

/// Detection for the unselected leaves (`other`), searching them for echoes: observed, or
/// enforced (a phone masked, an IP address dropped, the rest redacted), and with allow-list
/// mode (`drop`).
fn unselected(variant: u8) -> Unselected {
    let mode = match variant {
        0 => return Unselected::default(),
        1 => DetectMode::Observe,
        _ => DetectMode::Enforce,
    };
    let treatments = || {
        Class::ALL.iter().map(|&c| {
            let a = match c {
                Class::Phone => Action::Mask(MaskAction { keep_last: 2 }),
                Class::IpAddress => Action::Drop,
                c => redact(&format!("[D:{}]", c.as_str())),
            };
            (c, a)
        })
    };
    let actions = match mode {
        DetectMode::Observe => Vec::new(),
        DetectMode::Enforce => treatments().map(|(_, a)| a).collect(),
    };
    let spans = treatments().filter(|(_, a)| !a.is_drop());
    Unselected {
        detect: Some(Arc::new(DetectPolicy {
            mode,
            detector: Detector::default(),
            actions,
            echo: Some(Action::Scrub(ScrubAction::echoes_only(
                spans,
                redact("[UNSELECTED ECHO]"),
            ))),
        })),
        drop: variant == 3,
        root: "$".into(),
    }
}

/// Names masked as people, ids redacted without a class, notes scrubbed of spans and of
/// echoes, `gone` dropped, `kept` kept (not looked for), `title` scrubbed of spans only;
/// unselected leaves as [`unselected`] says.
fn plan_with(variant: u8) -> Plan {
    let mut plan = plan();
    plan.unselected = unselected(variant);
    plan
}

fn plan() -> Plan {
    let rules: Vec<(&[&str], Rule)> = vec![
        (
            &["$..name"],
            Rule::with_class(
                Action::Mask(MaskAction { keep_last: 1 }),
                Some(Class::PersonName),
            ),
        ),
        (&["$..uid"], Rule::new(redact("[ID]"))),
        (
            &["$..note", "$..tags[*]"],
            Rule::new(Action::Scrub(ScrubAction::new(
                TextKind::Auto,
                SPAN_CLASSES.iter().map(|c| (c, redact("[SPAN]"))),
                Some(redact("[ECHO]")),
            ))),
        ),
        (&["$..gone"], Rule::new(Action::Drop)),
        (&["$..kept"], Rule::new(Action::Keep)),
        (
            &["$..title"],
            Rule::new(Action::Scrub(ScrubAction::new(
                TextKind::Auto,
                SPAN_CLASSES.iter().map(|c| (c, redact("[T]"))),
                None,
            ))),
        ),
    ];
    let mut paths = Vec::new();
    let mut out = Vec::new();
    for (id, (selectors, rule)) in rules.into_iter().enumerate() {
        for s in selectors {
            paths.push((parse(s).expect("selector"), id as RuleId));
        }
        out.push(rule);
    }
    Plan::new(Automaton::build(&paths).expect("automaton"), out)
}

/// What a rewrite left: the document forwarded, and the counts of the access log, the ledger
/// and the overflow.
#[derive(Debug, PartialEq)]
struct Result {
    doc: std::result::Result<Option<Vec<u8>>, super::RewriteError>,
    counts: crate::policy::action::ActionCounts,
    disclosed: String,
    detected: String,
    skipped: u32,
}

fn rewrite(input: &[u8], plan: &Plan, two_passes: bool) -> Result {
    let fields = FieldPlans::default();
    let plans = Plans {
        json: plan,
        fields: &fields,
    };
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    if two_passes {
        // The request-wide collecting pass: the proxy's two passes.
        let mut discard = Vec::new();
        let _ = cx.collect_request(|cx| {
            rewrite_payload(Format::Json, input, plans, &LIMITS, cx, &mut discard).map(drop)
        });
    }
    let doc =
        rewrite_payload(Format::Json, input, plans, &LIMITS, &mut cx, &mut out).map(|o| match o {
            Outcome::Unchanged => None,
            Outcome::Rewritten => Some(out),
        });
    Result {
        doc,
        counts: cx.counts,
        disclosed: format!("{:?}", cx.disclosed),
        detected: {
            let mut e: Vec<String> = cx
                .detected
                .entries()
                .map(|(p, c, n)| format!("{p} {} {n}", c.as_str()))
                .collect();
            e.sort();
            e.join("; ")
        },
        skipped: cx.echo_skipped,
    }
}

/// A JSON string literal of `text`, each character escaped (`\uXXXX`, `\n`) or not as
/// `escapes` says, cycling.
fn literal(text: &str, escapes: &[bool]) -> String {
    let mut s = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        let escape = escapes
            .get(i % escapes.len().max(1))
            .copied()
            .unwrap_or(false);
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c if escape && (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

const NAMES: &[&str] = &[
    "Ottilie Brandt",
    "Jo Li",
    "José Ñandú",
    "Amara Okafor-Smith",
    "ANNA",
    "van der Berg",
];

const WORDS: &[&str] = &[
    "wrote",
    "about",
    "order",
    "call",
    "mail ada@example.com",
    "ring +44 20 7946 0958",
    "<b>",
    "&amp;",
    "then",
    "from 10.1.2.3",
    "\n",
];

/// One member: (key, value text); a note mixes words with the names and ids of the batch.
fn member(ids: &[String]) -> impl Strategy<Value = (String, String)> + use<> {
    let names = NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let mut pool = names.clone();
    pool.extend(ids.iter().cloned());
    pool.extend(WORDS.iter().map(|w| w.to_string()));
    let pick = prop::sample::select(pool);
    let note = prop::collection::vec(
        (pick, prop::sample::select(vec!["", "lower", "upper"])),
        0..8,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(p, case)| match case {
                "lower" => p.to_lowercase(),
                "upper" => p.to_uppercase(),
                _ => p,
            })
            .collect::<Vec<_>>()
            .join(" ")
    });
    prop_oneof![
        prop::sample::select(names).prop_map(|n| ("name".to_owned(), n)),
        prop::sample::select(ids.to_vec()).prop_map(|u| ("uid".to_owned(), u)),
        // Many ids at once: an array of them (joined here, split when written).
        prop::sample::subsequence(ids.to_vec(), 0..=ids.len())
            .prop_map(|u| ("uid".to_owned(), u.join("\u{1}"))),
        note.clone().prop_map(|n| ("note".to_owned(), n)),
        note.clone().prop_map(|n| ("title".to_owned(), n)),
        note.clone().prop_map(|n| ("gone".to_owned(), n)),
        note.clone().prop_map(|n| ("kept".to_owned(), n)),
        note.prop_map(|n| ("other".to_owned(), n)),
    ]
}

/// A batch of events, members in any order, strings escaped at random; `tags` arrays and
/// nested objects put texts at several depths. Up to 90 distinct ids, past the echo bounds.
fn document() -> impl Strategy<Value = String> {
    (1usize..90)
        .prop_flat_map(|n| {
            let ids: Vec<String> = (0..n).map(|i| format!("u{i:04}x")).collect();
            let event = prop::collection::vec(
                (
                    member(&ids),
                    prop::collection::vec(any::<bool>(), 1..4),
                    0u8..4,
                ),
                0..6,
            );
            prop::collection::vec(event, 0..12)
        })
        .prop_map(|events| {
            let mut doc = String::from("[");
            for (i, event) in events.iter().enumerate() {
                if i > 0 {
                    doc.push_str(", ");
                }
                doc.push('{');
                for (j, ((key, value), escapes, shape)) in event.iter().enumerate() {
                    if j > 0 {
                        doc.push(',');
                    }
                    let v = if value.contains('\u{1}') {
                        let items: Vec<String> =
                            value.split('\u{1}').map(|u| literal(u, escapes)).collect();
                        format!("[{}]", items.join(","))
                    } else {
                        literal(value, escapes)
                    };
                    let value = match shape {
                        1 => format!("{{\"ctx\":{{\"{key}\":{v}}}}}"),
                        2 if key == "note" => format!("{{\"tags\":[{v},\"plain\",{v}]}}"),
                        _ => v,
                    };
                    let key = if *shape == 1 || (*shape == 2 && key == "note") {
                        format!("e{j}")
                    } else {
                        key.clone()
                    };
                    doc.push_str(&format!("\"{key}\": {value}"));
                }
                doc.push('}');
            }
            doc.push(']');
            doc
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn one_pass_equals_collecting_then_policing(doc in document(), variant in 0u8..4) {
        let plan = plan_with(variant);
        let one = rewrite(doc.as_bytes(), &plan, false);
        let two = rewrite(doc.as_bytes(), &plan, true);
        prop_assert_eq!(one, two, "{}", doc);
    }
}

#[test]
fn the_generator_reaches_echoes_overflow_and_drops() {
    // A property that never sees an echo, or never passes the bounds, proves little.
    let plan = plan_with(2);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut echoed, mut unselected, mut overflowed, mut dropped) = (0, 0, 0, 0);
    for _ in 0..300 {
        let doc = document().new_tree(&mut runner).expect("tree").current();
        let one = rewrite(doc.as_bytes(), &plan, false);
        if let Ok(Some(out)) = &one.doc {
            let out = String::from_utf8_lossy(out);
            echoed += usize::from(out.contains("[ECHO]"));
            unselected += usize::from(out.contains("[UNSELECTED ECHO]"));
            dropped += usize::from(doc.contains("\"gone\"") && !out.contains("\"gone\""));
        }
        overflowed += usize::from(one.skipped > 0);
    }
    assert!(
        echoed > 50 && unselected > 50 && overflowed > 5 && dropped > 20,
        "{echoed} {unselected} {overflowed} {dropped}"
    );
}

#[test]
fn a_name_after_the_text_that_repeats_it_is_found_in_one_pass() {
    let plan = plan();
    let doc = br#"{"note":"Ottilie called; Brandt too","user":{"name":"Ottilie Brandt"},"uid":"u0001x","t":{"note":"id U0001X"}}"#;
    let one = rewrite(doc, &plan, false);
    let out =
        String::from_utf8(one.doc.clone().expect("rewritten").expect("changed")).expect("utf-8");
    assert_eq!(
        out,
        r#"{"note":"[ECHO] called; [ECHO] too","user":{"name":"******* *****t"},"uid":"[ID]","t":{"note":"id [ECHO]"}}"#
    );
    assert_eq!(one, rewrite(doc, &plan, true));
}

#[test]
fn a_dropped_value_is_searched_for_where_a_text_repeats_it() {
    // `drop` removes a value unread; it is still one the rules select, found before and
    // after the texts, from its escaped spelling, and as a number.
    let plan = plan();
    let doc = br#"{"note":"ask Kestrel-Nine, ref 918273","gone":"Kestrel\u002dNine","t":{"gone":918273},"tags":["kestrel-nine"]}"#;
    let one = rewrite(doc, &plan, false);
    let out =
        String::from_utf8(one.doc.clone().expect("rewritten").expect("changed")).expect("utf-8");
    assert_eq!(
        out,
        r#"{"note":"ask [ECHO], ref [ECHO]","t":{},"tags":["[ECHO]"]}"#
    );
    assert_eq!(one, rewrite(doc, &plan, true));
}

#[test]
fn the_strings_inside_a_dropped_object_are_searched_for_but_not_its_names() {
    // A Measurement Protocol user property: `{"value": "…"}` under the dropped name.
    let plan = plan();
    let doc = br#"{"note":"thanks Marguerite, value noted","user":{"gone":{"value":"Marguerite","list":["Quillfeather"]}},"tags":["quillfeather"]}"#;
    let one = rewrite(doc, &plan, false);
    let out =
        String::from_utf8(one.doc.clone().expect("rewritten").expect("changed")).expect("utf-8");
    assert_eq!(
        out,
        r#"{"note":"thanks [ECHO], value noted","user":{},"tags":["[ECHO]"]}"#
    );
    assert_eq!(one, rewrite(doc, &plan, true));
}

#[test]
fn texts_with_nothing_else_changed_are_filled_into_the_input() {
    // Only the scrubbed text changes: the one pass copies the input once around it.
    let plan = plan();
    let doc = br#"{"kept":"x","note":"no names here","tags":["Jo Li"],"other":1}"#;
    let one = rewrite(doc, &plan, false);
    assert_eq!(one.doc, Ok(None));
    let doc = br#"{"tags":["ring Jo", "x"],"name":"Jo Li"}"#;
    let one = rewrite(doc, &plan, false);
    assert_eq!(one, rewrite(doc, &plan, true));
}

#[test]
fn a_search_the_one_pass_could_not_leave_for_later_undoes_it() {
    // The safety net behind the plan check: a text searched before every value is known
    // makes the pass be redone, its counts undone.
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    cx.echo_skipped = 2;
    let saved = cx.begin_one_pass().expect("no collection under way");
    assert!(cx.begin_one_pass().is_none(), "one collection at a time");
    let leaf = crate::policy::Leaf {
        text: "Ottilie",
        kind: crate::policy::LeafKind::String,
        field: "name",
    };
    let mut out = Vec::new();
    cx.treat(&redact("R"), Some(Class::PersonName), &leaf, &mut out)
        .expect("redact");
    assert_eq!(out, b"R", "the one pass applies actions");
    assert_eq!(cx.counts.total(), 1, "and counts them");
    cx.searching();
    assert!(!cx.end_one_pass(), "a search before the end is a miss");
    cx.abandon_one_pass(saved);
    assert_eq!(cx.counts.total(), 0);
    assert_eq!(cx.echo_skipped, 2);
    assert!(!cx.collecting() && !cx.has_echo());
}

#[test]
fn a_member_named_by_a_selected_value_goes_wherever_the_value_is_selected() {
    // Scores keyed by the user id a rule selects, before and after the rule's own member;
    // the id escaped in the name. Detection finds no class in `u0001x`: only the echo can.
    let plan = plan_with(2);
    for doc in [
        &br#"{"scores":{"u0001x":3,"team":1},"uid":"u0001x"}"#[..],
        br#"{"uid":"u0001x","scores":{"team":1,"\u0075\u0030001x":3}}"#,
        br#"{"name":"Ottilie Brandt","by_name":{"Ottilie Brandt":2,"team":1}}"#,
    ] {
        let one = rewrite(doc, &plan, false);
        let out = String::from_utf8(one.doc.clone().expect("rewritten").expect("changed"))
            .expect("utf-8");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        let scores = v
            .get("scores")
            .or_else(|| v.get("by_name"))
            .and_then(|s| s.as_object())
            .expect("the map stays");
        assert_eq!(
            scores.keys().collect::<Vec<_>>(),
            ["team"],
            "{}",
            String::from_utf8_lossy(doc)
        );
        assert!(!out.contains("u0001x") && !out.contains("Ottilie"), "{out}");
        // The redone two passes count what the proxy's two passes count.
        assert_eq!(
            one,
            rewrite(doc, &plan, true),
            "{}",
            String::from_utf8_lossy(doc)
        );
    }
}

#[test]
fn a_member_named_by_a_selected_value_is_only_counted_under_observe() {
    let plan = plan_with(1);
    let doc = br#"{"scores":{"u0001x":3},"uid":"u0001x"}"#;
    let one = rewrite(doc, &plan, false);
    let out =
        String::from_utf8(one.doc.clone().expect("rewritten").expect("changed")).expect("utf-8");
    assert_eq!(out, r#"{"scores":{"u0001x":3},"uid":"[ID]"}"#);
    // The name's echo is counted: one more value forwarded in clear than without the map.
    let without = rewrite(br#"{"uid":"u0001x"}"#, &plan, false);
    assert_ne!(one.disclosed, without.disclosed);
    assert_eq!(one, rewrite(doc, &plan, true));
}
