//! Rewrite engine throughput against its floors, on Segment-shaped payloads (1 KB event,
//! 16 KB and 1 MB batches of many people's events, and a 16 KB batch of one person's).
//!
//! Each size is one criterion group with `Throughput::Bytes`, so ratios are read off one run:
//!
//! - `memcpy`, `memchr_quotes`: the floors — copying the body, and finding every `"` in it;
//! - `serde_ignored_any`: serde_json validating into `IgnoredAny` (validation, no DOM);
//! - `serde_dom_policy`: parse to `Value`, apply the typical policy with the same actions,
//!   serialise — what a straightforward implementation costs;
//! - `engine_no_rules`: validate and forward (the route without rules);
//! - `engine_policy`: the typical policy (tokenize user id and emails, encrypt phone, mask name,
//!   drop IP, redact address);
//! - `engine_policy_cheap`: same selectors, every value action a constant `redact`: the scan and
//!   splice cost without crypto;
//! - `engine_policy_explicit`: the typical policy with emails named by path instead of
//!   `$..email` (the payload's emails are all in `traits`, so the output is the same): what the
//!   descendant selector costs;
//! - `actions_only`: the typical policy's actions applied to the same leaves with no JSON at all,
//!   i.e. the crypto the policy asks for. `engine_policy` should be close to
//!   `engine_no_rules + actions_only`;
//! - `engine_policy_no_memo`: the typical policy with the request's memo of deterministic
//!   results turned off (every token computed, however often its value repeats).
//! - `engine_policy_scrub`, `engine_policy_scrub_echo` (ratios mode): the typical policy plus
//!   a `scrub` of each page title and product name, without and with looking for the selected
//!   values there, through `rewrite_payload`: the difference is what echo recognition costs a
//!   request (the collecting first pass over the document, and the search).
//!
//!
//! The line and pair formats have groups of their own (`1k_form`: a URL-encoded form body;
//! `16k_form_lines`: a gtag.js batch, one form a line; `16k_ndjson`): `memcpy`, then
//! `engine_no_rules`, `engine_policy` (user id and email tokenized, phone encrypted; NDJSON
//! the typical policy) and `engine_policy_cheap`, each through `rewrite_payload`.
//!
//! Run: `cargo bench --bench rewrite`; CI smoke: `cargo test --benches`.
//!
//! On a shared machine, sequential criterion samples drift with the load. With
//! `PIIGATE_BENCH_RATIOS=1 cargo bench --bench rewrite` the same variants instead run
//! interleaved, round-robin, and each keeps its fastest round: the minimum is what the code
//! costs when it gets the core, so the ratios the targets are stated in stay meaningful.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group};
use piigate::crypto::{OsNonces, with_thread_nonces};
use piigate::policy::{Action, ApplyCx, DetectMode, FieldPlans, Leaf, LeafKind, Plan, RuleId};
use piigate::rewrite::json::{reference, rewrite_json};
use piigate::rewrite::{Format, Limits, Plans, rewrite_payload};
use serde::de::IgnoredAny;
use serde_json::Value;

mod support;

use support::{Kind, TYPICAL};

const LIMITS: Limits = Limits { max_depth: 128 };

/// Nonces come from the per-thread batch, as on the proxy's request path: a fresh
/// [`OsNonces`] per iteration would time one `getrandom` call per payload instead.
fn engine(input: &[u8], plan: &Plan) -> Vec<u8> {
    engine_memo(input, plan, true)
}

/// [`engine`] with the request's memo of deterministic results on or off.
fn engine_memo(input: &[u8], plan: &Plan, memo: bool) -> Vec<u8> {
    with_thread_nonces(|nonces| {
        let mut cx = ApplyCx::new(nonces);
        if !memo {
            cx = cx.without_memo();
        }
        let mut out = Vec::new();
        rewrite_json(input, plan, &LIMITS, &mut cx, &mut out).expect("valid payload");
        out
    })
}

/// `input` in `format` through `rewrite_payload` with `json` and `fields` (which runs the
/// collecting first pass when a `scrub` of the plans looks for selected values); `read` takes
/// what the request counted and its output.
fn run<R>(
    format: Format,
    input: &[u8],
    json: &Plan,
    fields: &FieldPlans,
    read: impl FnOnce(&ApplyCx<'_>, Vec<u8>) -> R,
) -> R {
    let plans = Plans { json, fields };
    with_thread_nonces(|nonces| {
        let mut cx = ApplyCx::new(nonces);
        let mut out = Vec::new();
        rewrite_payload(format, input, plans, &LIMITS, &mut cx, &mut out).expect("valid payload");
        read(&cx, out)
    })
}

/// The output of `plan` on `input` through `rewrite_payload`.
fn payload(input: &[u8], plan: &Plan) -> Vec<u8> {
    run(
        Format::Json,
        input,
        plan,
        &FieldPlans::default(),
        |_, out| out,
    )
}

/// The typical policy plus a `scrub` of the free text of each event (page title, product
/// names), looking for the selected values there when `echo`.
fn scrub_plan(echo: bool) -> Plan {
    use piigate::detect::spans::{SPAN_CLASSES, TextKind};
    use piigate::policy::action::{RedactAction, ScrubAction};
    use piigate::policy::selector::parse;
    use piigate::policy::{Automaton, Rule};
    let (mut paths, plan) = support::plan(TYPICAL, |k| k);
    let id = plan.rules.len() as RuleId;
    for s in [
        "$.context.page.title",
        "$.batch[*].context.page.title",
        "$.properties.products[*].name",
        "$.batch[*].properties.products[*].name",
    ] {
        paths.push((parse(s).expect("selector"), id));
    }
    let redact = || {
        Action::Redact(RedactAction {
            replacement: "[REDACTED]".into(),
        })
    };
    let scrub = ScrubAction::new(
        TextKind::Auto,
        SPAN_CLASSES.iter().map(|c| (c, redact())),
        echo.then(redact),
    );
    let mut rules = plan.rules;
    rules.push(Rule::new(Action::Scrub(scrub)));
    Plan::new(Automaton::build(&paths).expect("automaton"), rules)
}

/// How many values `plan` treats in `input` but drops (on a plan without `scrub`: the values
/// echo recognition looks for), and how many values were past the echo bounds.
fn echo_values(input: &[u8], plan: &Plan) -> (u32, u32) {
    use piigate::policy::ActionKind;
    run(
        Format::Json,
        input,
        plan,
        &FieldPlans::default(),
        |cx, _| {
            let c = cx.counts;
            (c.total() - c.get(ActionKind::Drop), cx.echo_skipped)
        },
    )
}

/// The typical policy written against serde_json's DOM, using the same actions.
struct DomPolicy {
    tokenize: Action,
    tokenize_email: Action,
    encrypt: Action,
    mask: Action,
    redact: Action,
}

fn apply_str(action: &Action, v: &mut Value, field: &str, cx: &mut ApplyCx<'_>, buf: &mut Vec<u8>) {
    let text = match v {
        Value::String(s) => std::mem::take(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return,
    };
    buf.clear();
    let leaf = Leaf {
        text: &text,
        kind: LeafKind::String,
        field,
    };
    action.apply(&leaf, cx, buf).expect("action");
    *v = Value::String(String::from_utf8_lossy(buf).into_owned());
}

fn apply_all(action: &Action, v: &mut Value, field: &str, cx: &mut ApplyCx<'_>, buf: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                apply_all(action, child, k, cx, buf);
            }
        }
        Value::Array(items) => {
            for child in items {
                apply_all(action, child, field, cx, buf);
            }
        }
        Value::Null => {}
        leaf => apply_str(action, leaf, field, cx, buf),
    }
}

fn emails(p: &DomPolicy, v: &mut Value, cx: &mut ApplyCx<'_>, buf: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "email" {
                    apply_all(&p.tokenize_email, child, k, cx, buf);
                } else {
                    emails(p, child, cx, buf);
                }
            }
        }
        Value::Array(items) => {
            for child in items {
                emails(p, child, cx, buf);
            }
        }
        _ => {}
    }
}

fn dom_event(p: &DomPolicy, ev: &mut Value, cx: &mut ApplyCx<'_>, buf: &mut Vec<u8>) {
    let Some(obj) = ev.as_object_mut() else {
        return;
    };
    if let Some(v) = obj.get_mut("userId") {
        apply_all(&p.tokenize, v, "userId", cx, buf);
    }
    if let Some(ctx) = obj.get_mut("context").and_then(Value::as_object_mut) {
        ctx.remove("ip");
    }
    if let Some(traits) = obj.get_mut("traits").and_then(Value::as_object_mut) {
        if let Some(v) = traits.get_mut("phone") {
            apply_all(&p.encrypt, v, "phone", cx, buf);
        }
        if let Some(v) = traits.get_mut("name") {
            apply_all(&p.mask, v, "name", cx, buf);
        }
        if let Some(v) = traits.get_mut("address") {
            apply_all(&p.redact, v, "address", cx, buf);
        }
    }
}

fn dom_transform(p: &DomPolicy, input: &[u8]) -> Vec<u8> {
    with_thread_nonces(|nonces| {
        let mut cx = ApplyCx::new(nonces);
        let mut buf = Vec::new();
        let mut v: Value = serde_json::from_slice(input).expect("valid payload");
        match v.get_mut("batch").and_then(Value::as_array_mut) {
            Some(batch) => {
                for ev in batch {
                    dom_event(p, ev, &mut cx, &mut buf);
                }
            }
            None => dom_event(p, &mut v, &mut cx, &mut buf),
        }
        emails(p, &mut v, &mut cx, &mut buf);
        serde_json::to_vec(&v).expect("serialise")
    })
}

/// The leaves the typical policy touches in `input`, as the actions see them.
fn touched(input: &[u8]) -> Vec<(String, String, RuleId)> {
    let (paths, plan) = support::plan(TYPICAL, |k| k);
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let r = reference::rewrite(input, &paths, &plan, 128, &mut cx).expect("reference");
    r.touched
        .into_iter()
        .map(|t| (t.text, t.field, t.rule))
        .collect()
}

/// The policy's actions applied to `leaves` (from [`touched`]) with no JSON around them.
fn actions_only(policy: &Plan, leaves: &[(String, String, RuleId)]) -> usize {
    with_thread_nonces(|nonces| {
        let mut cx = ApplyCx::new(nonces);
        let mut out = Vec::new();
        for (text, field, rule) in leaves {
            out.clear();
            let leaf = Leaf {
                text,
                kind: LeafKind::String,
                field,
            };
            policy
                .rule(*rule)
                .action
                .apply(&leaf, &mut cx, &mut out)
                .expect("action");
        }
        out.len()
    })
}

fn group(c: &mut Criterion, name: &str, input: &[u8]) {
    let no_rules = Plan::empty();
    let (_, policy) = support::plan(TYPICAL, |k| k);
    let (_, cheap) = support::plan(TYPICAL, support::cheap);
    let (_, explicit) = support::plan(support::EXPLICIT, |k| k);
    let dom = DomPolicy {
        tokenize: support::action(Kind::Tokenize),
        tokenize_email: support::action(Kind::TokenizeEmail),
        encrypt: support::action(Kind::Encrypt),
        mask: support::action(Kind::Mask),
        redact: support::action(Kind::Redact),
    };
    let leaves = touched(input);
    if input.len() < 64 * 1024 {
        // The bench is only meaningful if the engine computes what the reference does.
        let (paths, _) = support::plan(TYPICAL, |k| k);
        let mut nonces = || -> Box<dyn piigate::crypto::NonceSource> { Box::new(OsNonces::new()) };
        let (_, cheap_plan) = support::plan(TYPICAL, support::cheap);
        reference::differential(input, &paths, &cheap_plan, &LIMITS, &mut nonces)
            .expect("engine agrees with the reference")
            .expect("payload is valid");
        // The payload keeps its emails in `traits`, so both policies select the same values.
        let (_, cheap_explicit) = support::plan(support::EXPLICIT, support::cheap);
        assert_eq!(engine(input, &cheap_plan), engine(input, &cheap_explicit));
    }

    let mut g = c.benchmark_group(format!("rewrite/{name}"));
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("memcpy", |b| b.iter(|| black_box(input).to_vec()));
    g.bench_function("memchr_quotes", |b| {
        b.iter(|| memchr::memchr_iter(b'"', black_box(input)).count())
    });
    g.bench_function("serde_ignored_any", |b| {
        b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(input)).expect("valid"))
    });
    g.bench_function("serde_dom_policy", |b| {
        b.iter(|| dom_transform(&dom, black_box(input)))
    });
    g.bench_function("engine_no_rules", |b| {
        b.iter(|| engine(black_box(input), &no_rules))
    });
    g.bench_function("engine_policy", |b| {
        b.iter(|| engine(black_box(input), &policy))
    });
    g.bench_function("engine_policy_cheap", |b| {
        b.iter(|| engine(black_box(input), &cheap))
    });
    g.bench_function("engine_policy_explicit", |b| {
        b.iter(|| engine(black_box(input), &explicit))
    });
    g.bench_function("actions_only", |b| {
        b.iter(|| actions_only(&policy, &leaves))
    });
    g.bench_function("engine_policy_no_memo", |b| {
        b.iter(|| engine_memo(black_box(input), &policy, false))
    });
    g.finish();
}

/// A labelled closure timed by [`ratios`].
type Variant<'a> = (&'static str, Box<dyn Fn() -> usize + 'a>);

/// Interleaved min-of-rounds timing of every variant; prints throughput and the target ratios.
fn ratios(name: &str, input: &[u8]) {
    let no_rules = Plan::empty();
    let (_, policy) = support::plan(TYPICAL, |k| k);
    let (_, cheap) = support::plan(TYPICAL, support::cheap);
    let (_, explicit) = support::plan(support::EXPLICIT, |k| k);
    let dom = DomPolicy {
        tokenize: support::action(Kind::Tokenize),
        tokenize_email: support::action(Kind::TokenizeEmail),
        encrypt: support::action(Kind::Encrypt),
        mask: support::action(Kind::Mask),
        redact: support::action(Kind::Redact),
    };
    let (scrub, scrub_echo) = (scrub_plan(false), scrub_plan(true));
    let leaves = touched(input);
    let actions = || actions_only(&policy, &leaves);
    let variants: Vec<Variant<'_>> = vec![
        (
            "serde_ignored_any",
            Box::new(|| {
                serde_json::from_slice::<IgnoredAny>(black_box(input)).expect("valid");
                0
            }),
        ),
        (
            "serde_dom_policy",
            Box::new(|| dom_transform(&dom, black_box(input)).len()),
        ),
        (
            "engine_no_rules",
            Box::new(|| engine(black_box(input), &no_rules).len()),
        ),
        (
            "engine_policy",
            Box::new(|| engine(black_box(input), &policy).len()),
        ),
        (
            "engine_policy_cheap",
            Box::new(|| engine(black_box(input), &cheap).len()),
        ),
        ("actions_only", Box::new(actions)),
        (
            "engine_policy_explicit",
            Box::new(|| engine(black_box(input), &explicit).len()),
        ),
        (
            "engine_policy_no_memo",
            Box::new(|| engine_memo(black_box(input), &policy, false).len()),
        ),
        (
            "engine_policy_scrub",
            Box::new(|| payload(black_box(input), &scrub).len()),
        ),
        (
            "engine_policy_scrub_echo",
            Box::new(|| payload(black_box(input), &scrub_echo).len()),
        ),
    ];
    // Iterations per sample so that the slowest variant takes about 2 ms.
    let probe = std::time::Instant::now();
    black_box(dom_transform(&dom, input));
    let per = probe.elapsed().as_secs_f64();
    let iters = ((0.002 / per).ceil() as usize).max(1);
    let mut best = vec![f64::INFINITY; variants.len()];
    for _ in 0..40 {
        for (v, (_, f)) in variants.iter().enumerate() {
            let t = std::time::Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            best[v] = best[v].min(t.elapsed().as_secs_f64() / iters as f64);
        }
    }
    let mbps = |t: f64| input.len() as f64 / t / 1e6;
    println!(
        "{name} ({} bytes), fastest of 40 interleaved rounds:",
        input.len()
    );
    for ((label, _), t) in variants.iter().zip(&best) {
        println!("  {label:22} {:>10.2} us {:>9.0} MB/s", t * 1e6, mbps(*t));
    }
    let [
        ignored,
        dom_t,
        none,
        pol,
        _cheap,
        act,
        explicit_t,
        no_memo,
        scrub_t,
        echo_t,
    ] = best[..]
    else {
        return;
    };
    println!(
        "  engine_policy vs serde_dom_policy:           {:.2}x faster",
        dom_t / pol
    );
    println!(
        "  engine_no_rules vs serde_ignored_any:        {:.2}x faster",
        ignored / none
    );
    println!(
        "  engine_policy / (engine_no_rules + actions):  {:.2}",
        pol / (none + act)
    );
    println!(
        "  with explicit email paths: {:.2}x the DOM, {:.2} of no rules + actions",
        dom_t / explicit_t,
        explicit_t / (none + act)
    );
    println!(
        "  memo: engine_policy / engine_policy_no_memo:  {:.3}",
        pol / no_memo
    );
    let (values, _) = echo_values(input, &policy);
    let (_, skipped) = echo_values(input, &scrub_echo);
    println!(
        "  echo: scrub_echo / scrub: {:.3}, +{:.2} us per KB, +{:.3} us per selected value \
         ({values} values, {skipped} past the bounds)",
        echo_t / scrub_t,
        (echo_t - scrub_t) * 1e6 / (input.len() as f64 / 1024.0),
        (echo_t - scrub_t) * 1e6 / f64::from(values.max(1))
    );
}

/// One line-or-pair format through `rewrite_payload` with the bench's rules ([`forms_case`]).
fn format_payload(format: Format, input: &[u8], json: &Plan, fields: &FieldPlans) -> Vec<u8> {
    run(format, input, json, fields, |_, out| out)
}

/// The form and line formats' cases: (row, format, payload). The policies are
/// [`support::field_plans`] for the forms and [`TYPICAL`] for NDJSON.
fn forms_cases() -> Vec<(&'static str, Format, Vec<u8>)> {
    vec![
        ("1k_form", Format::Form, support::form_body()),
        (
            "16k_form_lines",
            Format::FormLines,
            support::form_lines(16 * 1024),
        ),
        ("16k_ndjson", Format::Ndjson, support::ndjson(16 * 1024)),
    ]
}

/// A case's plans: `policy` is `engine_policy`, `engine_policy_cheap` or `engine_no_rules`.
fn forms_plans(policy: &str) -> (Plan, FieldPlans) {
    match policy {
        "engine_no_rules" => (Plan::empty(), FieldPlans::default()),
        "engine_policy" => (support::plan(TYPICAL, |k| k).1, support::field_plans(|k| k)),
        "engine_policy_cheap" => (
            support::plan(TYPICAL, support::cheap).1,
            support::field_plans(support::cheap),
        ),
        // Profile only: the typical rules, and the fields they leave to detection (enforce)
        // and to the search for the values the rules selected.
        "engine_policy_detect_echo" => {
            let mut fields = support::field_plans(|k| k);
            let detect = support::detecting_echo(Plan::empty(), DetectMode::Enforce, true);
            fields.form.unselected = detect.unselected;
            fields.form.unselected.root = "form:".into();
            (support::plan(TYPICAL, |k| k).1, fields)
        }
        _ => panic!("unknown policy {policy}"),
    }
}

/// Form bodies, gtag.js batches (one form a line) and NDJSON, each with no rules, its typical
/// rules and the same rules with constant actions.
fn forms(c: &mut Criterion) {
    let policies = ["engine_no_rules", "engine_policy", "engine_policy_cheap"];
    let plans: Vec<(Plan, FieldPlans)> = policies.iter().map(|p| forms_plans(p)).collect();
    for (name, format, input) in forms_cases() {
        // The rows are only meaningful if the rules find what they select.
        let out = format_payload(format, &input, &plans[1].0, &plans[1].1);
        assert!(
            out != input && !String::from_utf8_lossy(&out).contains("%40example.com"),
            "{name}: the policy rewrites the selected values"
        );
        let mut g = c.benchmark_group(format!("rewrite/{name}"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("memcpy", |b| b.iter(|| black_box(&input[..]).to_vec()));
        for (policy, (json, fields)) in policies.iter().zip(&plans) {
            g.bench_function(*policy, |b| {
                b.iter(|| format_payload(format, black_box(&input), json, fields))
            });
        }
        g.finish();
    }
}

fn benches(c: &mut Criterion) {
    forms(c);
    group(c, "1k_event", &support::track_event());
    group(c, "16k_batch", &support::batch(16 * 1024));
    group(c, "1m_batch", &support::batch(1024 * 1024));
    group(c, "16k_person_batch", &support::person_batch(16 * 1024));
}

criterion_group! {
    name = rewrite;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}

/// Exactly `N` runs of one policy through `rewrite_payload` (the proxy's entry point, which
/// also decides whether a first pass is needed), for `perf stat -e instructions`: a count of
/// instructions holds on a loaded machine, so two builds compare where timings would not.
/// `PIIGATE_BENCH_PROFILE=16k_batch/engine_policy@2000 target/release/deps/rewrite-…`, with a
/// size of `1k_event`, `16k_batch`, `1m_batch`, `16k_person_batch` and a policy of
/// `engine_no_rules`, `engine_policy`, `engine_policy_no_memo`, `engine_policy_cheap`,
/// `engine_policy_scrub` or `engine_policy_scrub_echo`; or a format case (`1k_form`,
/// `16k_form_lines`, `16k_ndjson`) with `engine_no_rules`, `engine_policy`,
/// `engine_policy_cheap` or (forms only, no criterion row) `engine_policy_detect_echo`.
fn profile(which: &str) {
    let (which, runs) = which.split_once('@').expect("SIZE/POLICY@RUNS");
    let runs: u64 = runs.parse().expect("a number of runs");
    let (size, policy) = which.split_once('/').expect("SIZE/POLICY");
    if let Some((_, format, input)) = forms_cases().into_iter().find(|(n, ..)| *n == size) {
        let (json, fields) = forms_plans(policy);
        let start = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..runs {
            bytes += format_payload(format, black_box(&input), &json, &fields).len();
        }
        println!(
            "{which}: {runs} runs, {:.2} us each ({bytes} bytes out)",
            start.elapsed().as_secs_f64() * 1e6 / runs as f64
        );
        return;
    }
    let input = match size {
        "1k_event" => support::track_event(),
        "16k_batch" => support::batch(16 * 1024),
        "1m_batch" => support::batch(1024 * 1024),
        "16k_person_batch" => support::person_batch(16 * 1024),
        _ => panic!("unknown size {size}"),
    };
    let plan = match policy {
        "engine_no_rules" => Plan::empty(),
        "engine_policy" | "engine_policy_no_memo" => support::plan(TYPICAL, |k| k).1,
        "engine_policy_cheap" => support::plan(TYPICAL, support::cheap).1,
        "engine_policy_scrub" => scrub_plan(false),
        "engine_policy_scrub_echo" => scrub_plan(true),
        _ => panic!("unknown policy {policy}"),
    };
    let memo_off = policy == "engine_policy_no_memo";
    let fields = FieldPlans::default();
    let plans = Plans {
        json: &plan,
        fields: &fields,
    };
    let start = std::time::Instant::now();
    let mut bytes = 0;
    for _ in 0..runs {
        bytes += with_thread_nonces(|nonces| {
            let mut cx = ApplyCx::new(nonces);
            if memo_off {
                cx = cx.without_memo();
            }
            let mut out = Vec::new();
            rewrite_payload(
                Format::Json,
                black_box(&input),
                plans,
                &LIMITS,
                &mut cx,
                &mut out,
            )
            .expect("valid payload");
            out.len()
        });
    }
    println!(
        "{which}: {runs} runs, {:.2} us each ({bytes} bytes out)",
        start.elapsed().as_secs_f64() * 1e6 / runs as f64
    );
}

fn main() {
    if let Some(which) = std::env::var_os("PIIGATE_BENCH_PROFILE") {
        profile(&which.to_string_lossy());
        return;
    }
    if std::env::var_os("PIIGATE_BENCH_RATIOS").is_some() {
        ratios("1k_event", &support::track_event());
        ratios("16k_batch", &support::batch(16 * 1024));
        ratios("1m_batch", &support::batch(1024 * 1024));
        ratios("16k_person_batch", &support::person_batch(16 * 1024));
        return;
    }
    rewrite();
    Criterion::default().configure_from_args().final_summary();
}
