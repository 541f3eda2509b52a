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
//!   end-to-end upper bound for a DOM-based integration.
//!
//! Throughput is payload bytes. Run: `cargo bench --bench detect`; docs/BENCHMARKS.md
//! ("Detection") records the numbers.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use piigate::crypto::OsNonces;
use piigate::detect::Detector;
use piigate::policy::{ApplyCx, Plan};
use piigate::rewrite::Limits;
use piigate::rewrite::json::rewrite_json;
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
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
