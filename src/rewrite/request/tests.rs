//! Idempotence of the boundary: what piigate forwards, piigate reads again unchanged.
//!
//! Requests are generated from the grammar's hard cases (dot and encoded segments, `;`,
//! backslashes, folded and padded names, duplicated and listed content types, `_` header
//! spellings). Whatever [`reread`] accepts must be accepted again and come out byte for byte
//! the same: no dot segment or escape left to normalise, no content header left to
//! canonicalise, and no pair that a rule would select only on the second reading.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::*;
use crate::crypto::OsNonces;
use crate::policy::action::RedactAction;
use crate::policy::selector::parse;
use crate::policy::{Action, Automaton, FieldPlan, FieldPlans, FieldRule, FieldTarget, Plan, Rule};

fn plan() -> FieldPlan {
    let rule = |name: &str, target| FieldRule {
        name: name.into(),
        target,
        class: None,
    };
    let redact = || {
        FieldTarget::Whole(Action::Redact(RedactAction {
            replacement: "[R]".into(),
        }))
    };
    FieldPlan {
        rules: vec![
            rule("email", redact()),
            rule("user_email", redact()),
            rule("ip", FieldTarget::Whole(Action::Drop)),
        ],
        ..FieldPlan::default()
    }
}

fn fields() -> FieldPlans {
    FieldPlans {
        form: plan(),
        query: FieldPlan::default(),
        header: FieldPlan::default(),
        cookie: FieldPlan::default(),
    }
}

/// JSON selectors, as a route compiles them: its own, then one per parameter rule.
fn json() -> Plan {
    let redact = || {
        Rule::new(Action::Redact(RedactAction {
            replacement: "[R]".into(),
        }))
    };
    let selectors = [
        ("$.user.email", 0),
        ("$..phone", 1),
        ("$.email", 0),
        ("$.user_email", 0),
        ("$.ip", 2),
    ];
    let paths: Vec<_> = selectors
        .iter()
        .map(|&(p, r)| (parse(p).expect("selector"), r))
        .collect();
    Plan::new(
        Automaton::build(&paths).expect("automaton"),
        vec![redact(), redact(), Rule::new(Action::Drop)],
    )
}

/// Form rules only, so the query is policed by them and by the JSON selectors as a merging
/// framework reads parameters.
fn with_plans<T>(f: impl FnOnce(Plans<'_>) -> T) -> T {
    let (json, fields) = (json(), fields());
    f(Plans {
        json: &json,
        fields: &fields,
    })
}

/// Path atoms the grammar normalises (most) or refuses (the second list).
const SEGMENTS: &[&str] = &[
    "a", "B", ".", "..", "", "%41", "%7e", "%7E", "%C3%A9", "é", "{x}", "x%3a", "~", "a.b",
];
const HARD_SEGMENTS: &[&str] = &[
    "%2e", "%2E%2e", ".%2e", "%2f", "%5C", "\\", ";x", "%3b", "%00", "%25", "%u002e", "%c0%ae",
];
/// Field names the rules match after folding (most) or the grammar refuses (the second list).
const NAMES: &[&str] = &[
    "email",
    "EMAIL",
    "Email",
    "user.email",
    "user+email",
    "%65mail",
    "email[]",
    "email[a]",
    "ema%C4%B1l",
    "plan",
    "a",
    "",
    "ip",
    "IP",
    "user_email",
    "items[0][sku]",
    "user[email]",
    "USER[Email]",
    "a[phone]",
    "Phone",
];
const HARD_NAMES: &[&str] = &[
    "+email",
    "[email]",
    "email]",
    "email%00",
    "email%20",
    "%2565mail",
];
const VALUES: &[&str] = &[
    "x",
    "a+b",
    "%40",
    "",
    "%zz",
    "%7B%7D",
    "%5BR%5D",
    "caf%C3%A9",
    "1",
    "x%20y",
];
const SEPARATORS: &[&str] = &["&", "&", "&", "&", "&", "&", "&&", ";"];
const CONTENT_TYPES: &[&[&str]] = &[
    &[],
    &["application/x-www-form-urlencoded"],
    &["Application/X-WWW-Form-Urlencoded;charset=UTF-8"],
    &["application/x-www-form-urlencoded ; charset=\"utf-8\""],
    &["application/x-www-form-urlencoded, application/json"],
    &["application/x-www-form-urlencoded", "application/json"],
    &["application/json"],
    &["text/plain;;charset=utf-8;"],
    &["application/x-www-form-urlencoded; charset*=utf-8''utf-7"],
];
const HEADERS: &[(&str, &str)] = &[
    ("x-user-email", "a"),
    ("x_user_email", "b"),
    ("content_type", "text/plain"),
    ("cookie", "a=1"),
    ("cookie", "b=2"),
    ("cookie", "email=x; a=1"),
    ("cookie", "User.Email=y"),
    ("content-encoding", "identity"),
    ("content-encoding", "GZIP , identity"),
    ("accept", "*/*"),
];

fn pairs() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop_oneof![8 => prop::sample::select(NAMES), 1 => prop::sample::select(HARD_NAMES)],
            prop::option::of(prop::sample::select(VALUES)),
            prop::sample::select(SEPARATORS),
        ),
        0..6,
    )
    .prop_map(|ps| {
        let mut s = String::new();
        for (i, (n, v, sep)) in ps.into_iter().enumerate() {
            if i > 0 {
                s.push_str(sep);
            }
            s.push_str(n);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        s
    })
}

fn request() -> impl Strategy<Value = (String, HeaderMap, Vec<u8>)> {
    (
        prop::collection::vec(
            prop::collection::vec(
                prop_oneof![
                    12 => prop::sample::select(SEGMENTS),
                    1 => prop::sample::select(HARD_SEGMENTS),
                ],
                1..3,
            ),
            0..5,
        ),
        prop::option::of(pairs()),
        prop_oneof![
            3 => prop::sample::select(&CONTENT_TYPES[..4]),
            1 => prop::sample::select(CONTENT_TYPES),
        ],
        prop::collection::vec(prop::sample::select(HEADERS), 0..2),
        prop_oneof![
            pairs().prop_map(String::into_bytes),
            Just(b"{\"email\":\"x\"}".to_vec()),
            Just(b"{\"EMAIL\":\"x\",\"user\":{\"Email\":1},\"a\":[{\"phone\":\"x\"}]}".to_vec()),
        ],
    )
        .prop_map(|(segments, query, types, extra, body)| {
            let mut target = String::new();
            for seg in segments {
                target.push('/');
                target.extend(seg);
            }
            if target.is_empty() {
                target.push('/');
            }
            if let Some(q) = query {
                target.push('?');
                target.push_str(&q);
            }
            let mut headers = HeaderMap::new();
            for t in types {
                headers.append(http::header::CONTENT_TYPE, HeaderValue::from_static(t));
            }
            for (n, v) in extra {
                headers.append(HeaderName::from_static(n), HeaderValue::from_static(v));
            }
            (target, headers, body)
        })
}

/// The boundary's invariant: whatever [`reread`] accepts, it accepts again unchanged.
fn reads_the_same_again(
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), proptest::test_runner::TestCaseError> {
    with_plans(|plans| {
        let limits = Limits { max_depth: 32 };
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        if let Ok(once) = reread(target, headers, body, plans, &limits, &mut cx) {
            let twice = reread(
                &once.target,
                &once.headers,
                &once.body,
                plans,
                &limits,
                &mut cx,
            );
            prop_assert_eq!(twice.as_ref(), Ok(&once), "{} {:?}", target, headers);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn what_went_out_reads_the_same_again((target, headers, body) in request()) {
        reads_the_same_again(&target, &headers, &body)?;
    }
}

#[test]
fn the_generator_reaches_both_outcomes() {
    // A property that only ever sees refusals (or only acceptances) proves little.
    let (json, fields) = (json(), fields());
    let plans = Plans {
        json: &json,
        fields: &fields,
    };
    let limits = Limits { max_depth: 32 };
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut ok, mut refused, mut rewritten) = (0, 0, 0);
    for _ in 0..500 {
        let (target, headers, body) = request().new_tree(&mut runner).expect("tree").current();
        match reread(&target, &headers, &body, plans, &limits, &mut cx) {
            Ok(f) => {
                ok += 1;
                if f.target != target || f.body != body {
                    rewritten += 1;
                }
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        ok > 50 && refused > 50 && rewritten > 20,
        "{ok} {refused} {rewritten}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The fuzz target's invariant on arbitrary text: any target the HTTP parser accepts, any
    /// header values, any body.
    #[test]
    fn arbitrary_requests_are_refused_or_read_the_same_again(
        target in "(/|\\?)[ -~\\u{80}-\\u{10FFFF}]{0,40}",
        ct in "[ -~]{0,40}",
        extra in prop::collection::vec(("[a-z_-]{1,12}", "[ -~]{0,20}"), 0..3),
        body in prop::collection::vec(any::<u8>(), 0..60),
    ) {
        let Ok(pq) = target.parse::<http::uri::PathAndQuery>() else { return Ok(()) };
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&ct) {
            headers.append(http::header::CONTENT_TYPE, v);
        }
        for (n, v) in extra {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n.as_bytes()), HeaderValue::from_str(&v)) {
                headers.append(n, v);
            }
        }
        reads_the_same_again(pq.as_str(), &headers, &body)?;
    }
}

#[test]
fn every_parameter_rule_polices_every_parameter_source() {
    let (json, fields) = (json(), fields());
    let plans = Plans {
        json: &json,
        fields: &fields,
    };
    let limits = Limits { max_depth: 32 };
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let form = |ct: &'static str| {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
        h
    };
    // A `form:` rule on the query; JSON selectors on query and form pairs read as nesting.
    let out = reread(
        "/x?email=c1&user[email]=c2&a[b][phone]=c3&keep=1",
        &HeaderMap::new(),
        b"",
        plans,
        &limits,
        &mut cx,
    )
    .expect("accepted");
    assert_eq!(
        out.target,
        "/x?email=%5BR%5D&user[email]=%5BR%5D&a[b][phone]=%5BR%5D&keep=1"
    );
    let out = reread(
        "/x",
        &form("application/x-www-form-urlencoded"),
        b"USER.email=c1&user[EMAIL]=c2&ip=1&keep=1",
        plans,
        &limits,
        &mut cx,
    )
    .expect("accepted");
    assert_eq!(out.body, b"USER.email=%5BR%5D&user[EMAIL]=%5BR%5D&keep=1");
    // Folded member names in JSON.
    let out = reread(
        "/x",
        &form("application/json"),
        br#"{"EMAIL":"c1","User":{"eMail":"c2"},"Ip":"1","k":1}"#,
        plans,
        &limits,
        &mut cx,
    )
    .expect("accepted");
    assert_eq!(out.body, br#"{"EMAIL":"[R]","User":{"eMail":"[R]"},"k":1}"#);
}

/// The JSON plan with a `scrub` of `$.note` that searches for the values the rules select.
fn json_with_echo() -> Plan {
    use crate::detect::spans::{SPAN_CLASSES, TextKind};
    use crate::policy::action::ScrubAction;
    let redact = || {
        Action::Redact(RedactAction {
            replacement: "[R]".into(),
        })
    };
    let scrub = ScrubAction::new(
        TextKind::Auto,
        SPAN_CLASSES.iter().map(|c| (c, redact())),
        Some(redact()),
    );
    let paths: Vec<_> = [("$.email", 0), ("$.ip", 1), ("$.note", 2)]
        .iter()
        .map(|&(p, r)| (parse(p).expect("selector"), r))
        .collect();
    Plan::new(
        Automaton::build(&paths).expect("automaton"),
        vec![
            Rule::new(redact()),
            Rule::new(Action::Drop),
            Rule::new(Action::Scrub(scrub)),
        ],
    )
}

#[test]
fn values_the_query_selects_are_found_in_the_body_text_either_way() {
    let (json, fields) = (json_with_echo(), fields());
    let plans = Plans {
        json: &json,
        fields: &fields,
    };
    assert!(plans.echoes());
    let limits = Limits { max_depth: 32 };
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // The dropped `ip` and the redacted `email` of the query, and the body's own `email`,
    // each repeated in the note (the body's before the member that selects it).
    let body = br#"{"note":"Ottilie, 10.1.2.3; ask Brandvold or kai_w","email":"kai_w"}"#;
    let out = reread(
        "/x?ip=Ottilie&email=Brandvold",
        &headers,
        body,
        plans,
        &limits,
        &mut cx,
    )
    .expect("accepted");
    assert_eq!(out.target, "/x?email=%5BR%5D");
    let policed: serde_json::Value = serde_json::from_slice(&out.body).expect("JSON");
    assert_eq!(policed["note"], "[R], [R]; ask [R] or [R]");
    assert_eq!(policed["email"], "[R]");
    let twice = reread(
        &out.target,
        &out.headers,
        &out.body,
        plans,
        &limits,
        &mut cx,
    );
    assert_eq!(twice.as_ref(), Ok(&out));
}
