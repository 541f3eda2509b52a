//! What PII detection costs per MB of real analytics traffic.
//!
//! Every string leaf of the rewrite bench's Segment-shaped payloads (`benches/support`: a 1 KB
//! track event, 16 KB and 1 MB batches), with its member name, goes through
//! `Detector::classify`, exactly what the rewriter will do for leaves no rule selected. Floors
//! in the same group make the cost visible:
//!
//! - `serde_ignored`: serde_json validating the bytes into `IgnoredAny` (a parse, no DOM);
//! - `engine_no_rules`: piigate's rewriter validating and forwarding the payload (the pass
//!   detection will ride on);
//! - `walk`: the same leaves visited without detection (key and value touched, nothing else);
//! - `classify`: detection over the pre-extracted leaves — its cost minus `walk` is detection;
//! - `classify_key`: key-name classification alone;
//! - `classify_hinted`: detection with each key analysed beforehand (`Detector::hint`), the
//!   cost when the rewriter reuses the analysis per distinct member name;
//! - `dom_classify`: `serde_json::Value` parse plus a recursive walk plus detection, an
//!   end-to-end upper bound for a DOM-based integration;
//! - the rewrite path itself, `rewrite_payload` on the same payload with the rewrite bench's
//!   typical policy: `policy` (no detection, the floor for the three that follow),
//!   `policy_observe` (`detect = "observe"`: every unselected string and number classified,
//!   counted per path), `policy_enforce` (`detect = "enforce"`, default `redact` per class),
//!   and `no_rules_observe` (detection on a route without rules); `policy_observe_echo` and
//!   `policy_enforce_echo` add the search for the request's selected values in the unselected
//!   leaves detection found nothing in (the collecting first pass and the echo search). Every
//!   row goes through `rewrite_payload`, the proxy's entry point.
//!
//! Throughput is payload bytes. Run: `cargo bench --bench detect`; docs/BENCHMARKS.md
//! ("Detection") records the numbers. On a shared machine,
//! `PIIGATE_BENCH_RATIOS=1 cargo bench --bench detect` runs the rewrite-path rows interleaved
//! (fastest of 40 rounds each) and prints MB/s and the ratios to the plain rewrite;
//! `PIIGATE_BENCH_PROFILE=SIZE/ROW@N` runs one of them `N` times, for instruction counts.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use piigate::crypto::{OsNonces, with_thread_nonces};
use piigate::detect::Detector;
use piigate::policy::{ActionKind, ApplyCx, DetectMode, FieldPlans, Plan};
use piigate::rewrite::json::rewrite_json;
use piigate::rewrite::{Format, Limits, Plans, rewrite_payload};
use serde_json::Value;

// Shared with benches/rewrite.rs (it allows its own dead code); this bench uses the payloads.
mod support;

/// Every string leaf with its nearest member name (`None` inside arrays of scalars).
fn leaves(v: &Value, key: Option<&str>, out: &mut Vec<(Option<String>, String)>) {
    match v {
        Value::String(s) => out.push((key.map(str::to_owned), s.clone())),
        Value::Array(a) => a.iter().for_each(|x| leaves(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| leaves(x, Some(k), out)),
        _ => {}
    }
}

fn classify_dom(d: &Detector, v: &Value, key: Option<&str>, hits: &mut usize) {
    match v {
        Value::String(s) => *hits += usize::from(d.classify(key, s).is_some()),
        Value::Array(a) => a.iter().for_each(|x| classify_dom(d, x, key, hits)),
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| classify_dom(d, x, Some(k), hits)),
        _ => {}
    }
}

/// One rewrite of `input` with a fresh per-request context and nonces from the per-thread
/// batch, as the proxy does it; `read` looks at the context the rewrite left.
fn run<R>(input: &[u8], plan: &Plan, out: &mut Vec<u8>, read: impl FnOnce(&ApplyCx<'_>) -> R) -> R {
    with_thread_nonces(|nonces| {
        let mut cx = ApplyCx::new(nonces);
        out.clear();
        let fields = FieldPlans::default();
        let plans = Plans {
            json: plan,
            fields: &fields,
        };
        rewrite_payload(
            Format::Json,
            input,
            plans,
            &Limits { max_depth: 128 },
            &mut cx,
            out,
        )
        .expect("valid payload");
        read(&cx)
    })
}

/// A timed rewrite: its output length plus what detection counted, so neither is optimised out.
fn rewrite(input: &[u8], plan: &Plan, out: &mut Vec<u8>) -> usize {
    run(input, plan, out, |cx| cx.detected.total() as usize) + out.len()
}

/// How many values `plan` treats in `input` but drops (on the plain `policy`: the values echo
/// recognition looks for), and how many values were past the echo bounds.
fn echo_values(input: &[u8], plan: &Plan) -> (u32, u32) {
    run(input, plan, &mut Vec::new(), |cx| {
        (
            cx.counts.total() - cx.counts.get(ActionKind::Drop),
            cx.echo_skipped,
        )
    })
}

/// The rewrite-path plans: (label, plan).
fn rewrite_plans() -> Vec<(&'static str, Plan)> {
    let typical = || support::plan(support::TYPICAL, |k| k).1;
    vec![
        ("engine_no_rules", Plan::empty()),
        ("policy", typical()),
        (
            "policy_observe",
            support::detecting(typical(), DetectMode::Observe),
        ),
        (
            "policy_enforce",
            support::detecting(typical(), DetectMode::Enforce),
        ),
        (
            "no_rules_observe",
            support::detecting(Plan::empty(), DetectMode::Observe),
        ),
        (
            "policy_observe_echo",
            support::detecting_echo(typical(), DetectMode::Observe, true),
        ),
        (
            "policy_enforce_echo",
            support::detecting_echo(typical(), DetectMode::Enforce, true),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let detector = Detector::default();
    let payloads = [
        ("1k_event", support::track_event()),
        ("16k_batch", support::batch(16 * 1024)),
        ("1m_batch", support::batch(1024 * 1024)),
    ];
    let no_rules = Plan::empty();
    for (label, bytes) in payloads {
        let dom: Value = serde_json::from_slice(&bytes).expect("valid JSON");
        let mut flat = Vec::new();
        leaves(&dom, None, &mut flat);
        let mut g = c.benchmark_group(format!("detect/{label}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("serde_ignored", bytes.len()), |b| {
            b.iter(|| {
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&bytes)).expect("valid")
            })
        });
        g.bench_function(BenchmarkId::new("engine_no_rules", bytes.len()), |b| {
            let mut nonces = OsNonces::new();
            let mut out = Vec::with_capacity(bytes.len());
            b.iter(|| {
                let mut cx = ApplyCx::new(&mut nonces);
                out.clear();
                rewrite_json(
                    black_box(&bytes),
                    &no_rules,
                    &Limits { max_depth: 128 },
                    &mut cx,
                    &mut out,
                )
                .expect("valid payload")
            })
        });
        g.bench_function(BenchmarkId::new("walk", flat.len()), |b| {
            b.iter(|| {
                flat.iter()
                    .map(|(k, v)| {
                        black_box(k.as_deref()).map_or(0, str::len) + black_box(v.as_str()).len()
                    })
                    .sum::<usize>()
            })
        });
        g.bench_function(BenchmarkId::new("classify", flat.len()), |b| {
            b.iter(|| {
                flat.iter()
                    .filter(|(k, v)| {
                        detector
                            .classify(black_box(k.as_deref()), black_box(v))
                            .is_some()
                    })
                    .count()
            })
        });
        let hinted: Vec<_> = flat
            .iter()
            .map(|(k, v)| {
                (
                    k.as_deref().map(|k| detector.hint(k)).unwrap_or_default(),
                    v.as_str(),
                )
            })
            .collect();
        g.bench_function(BenchmarkId::new("classify_hinted", flat.len()), |b| {
            b.iter(|| {
                hinted
                    .iter()
                    .filter(|(h, v)| detector.classify_hinted(*h, black_box(v)).is_some())
                    .count()
            })
        });
        g.bench_function(BenchmarkId::new("classify_key", flat.len()), |b| {
            b.iter(|| {
                flat.iter()
                    .filter_map(|(k, _)| k.as_deref())
                    .filter(|k| detector.classify_key(black_box(k)).is_some())
                    .count()
            })
        });
        g.bench_function(BenchmarkId::new("dom_classify", bytes.len()), |b| {
            b.iter(|| {
                let v: Value = serde_json::from_slice(black_box(&bytes)).expect("valid");
                let mut hits = 0;
                classify_dom(&detector, &v, None, &mut hits);
                hits
            })
        });
        let mut out = Vec::with_capacity(bytes.len() * 2);
        for (name, plan) in rewrite_plans().iter().skip(1) {
            g.bench_function(BenchmarkId::new(*name, bytes.len()), |b| {
                b.iter(|| rewrite(black_box(&bytes), plan, &mut out))
            });
        }
        g.finish();
    }
}

/// The rewrite-path rows interleaved, fastest of 40 rounds each, with ratios to `policy`.
fn ratios(name: &str, input: &[u8]) {
    let plans = rewrite_plans();
    let mut out = Vec::with_capacity(input.len() * 2);
    let probe = std::time::Instant::now();
    black_box(rewrite(input, &plans[3].1, &mut out));
    let iters = ((0.002 / probe.elapsed().as_secs_f64()).ceil() as usize).max(1);
    let mut best = vec![f64::INFINITY; plans.len()];
    for _ in 0..40 {
        for (i, (_, plan)) in plans.iter().enumerate() {
            let t = std::time::Instant::now();
            for _ in 0..iters {
                black_box(rewrite(black_box(input), plan, &mut out));
            }
            best[i] = best[i].min(t.elapsed().as_secs_f64() / iters as f64);
        }
    }
    println!(
        "{name} ({} bytes), fastest of 40 interleaved rounds:",
        input.len()
    );
    let policy = best[1];
    for ((label, _), t) in plans.iter().zip(&best) {
        println!(
            "  {label:18} {:>10.2} us {:>7.0} MB/s  {:>5.2}x the time of `policy`",
            t * 1e6,
            input.len() as f64 / t / 1e6,
            t / policy
        );
    }
    // What echo recognition adds to each mode: per KB of payload and per selected value.
    let (values, _) = echo_values(input, &plans[1].1);
    let (_, skipped) = echo_values(input, &plans[5].1);
    let kb = input.len() as f64 / 1024.0;
    for (mode, plain, echo) in [("observe", 2, 5), ("enforce", 3, 6)] {
        let extra = (best[echo] - best[plain]) * 1e6;
        println!(
            "  echo in {mode}: +{extra:.2} us, {:.2} us per KB, {:.3} us per selected value \
             ({values} values, {skipped} past the bounds)",
            extra / kb,
            extra / f64::from(values.max(1)),
        );
    }
}

criterion_group!(benches, bench);

/// Exactly `N` runs of one rewrite-path row, for instruction counts (`valgrind --tool=callgrind`
/// or `perf stat -e instructions`), which hold on a loaded machine where timings do not:
/// `PIIGATE_BENCH_PROFILE=16k_batch/policy_enforce@200 target/release/deps/detect-…`, with a
/// size of `1k_event`, `16k_batch` or `1m_batch` and a row of [`rewrite_plans`]. The cost of
/// a row is `(Ir@N - Ir@0) / N`: the difference takes out building the payload and the plans.
fn profile(which: &str) {
    let (which, runs) = which.split_once('@').expect("SIZE/ROW@RUNS");
    let runs: u64 = runs.parse().expect("a number of runs");
    let (size, row) = which.split_once('/').expect("SIZE/ROW");
    let input = match size {
        "1k_event" => support::track_event(),
        "16k_batch" => support::batch(16 * 1024),
        "1m_batch" => support::batch(1024 * 1024),
        _ => panic!("unknown size {size}"),
    };
    let (_, plan) = rewrite_plans()
        .into_iter()
        .find(|(label, _)| *label == row)
        .unwrap_or_else(|| panic!("unknown row {row}"));
    let mut out = Vec::with_capacity(input.len() * 2);
    let mut total = 0;
    for _ in 0..runs {
        total += rewrite(black_box(&input), &plan, &mut out);
    }
    println!("{which}: {runs} runs ({total})");
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
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
