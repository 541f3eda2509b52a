//! What PII detection costs per MB of real analytics traffic.
//!
//! Every string leaf of a Segment-shaped payload (with its member name) goes through
//! `Detector::classify`, exactly what the rewriter will do for leaves no rule selected. Floors
//! in the same group make the cost visible:
//!
//! - `serde_ignored`: serde_json validating the bytes into `IgnoredAny` (a parse, no DOM);
//! - `walk`: the same leaves visited without detection (key and value touched, nothing else);
//! - `classify`: detection over the pre-extracted leaves — its cost minus `walk` is detection;
//! - `classify_key`: key-name classification alone;
//! - `classify_hinted`: detection with each key analysed beforehand (`Detector::hint`), the
//!   cost when the rewriter reuses the analysis per distinct member name;
//! - `dom_classify`: `serde_json::Value` parse plus a recursive walk plus detection, an
//!   end-to-end upper bound for a DOM-based integration.
//!
//! Payloads: one ~1 KB track event, a ~16 KB batch and a ~1 MB batch of varied events (user
//! and anonymous ids, traits with email/phone/name/address, context ip/userAgent/library
//! version/locale/page, properties with order ids, prices, currencies, products, UUIDs,
//! timestamps, coupons). Throughput is payload bytes.
//!
//! `cargo bench --bench detect`; docs/BENCHMARKS.md ("Detection") records the numbers.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use piigate::detect::Detector;
use serde_json::{Value, json};

/// A tiny deterministic generator so payloads are identical across runs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[(self.next() % 16) as usize]))
            .collect()
    }

    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }
}

const FIRST: &[&str] = &[
    "Alice", "Bilal", "Chen", "Dagmar", "Élodie", "Farah", "Gopal", "Hannah",
];
const LAST: &[&str] = &[
    "Smith", "Khan", "Müller", "Dubois", "Patel", "Nguyen", "Okafor", "Rossi",
];
const STREETS: &[&str] = &[
    "Evergreen Terrace",
    "Baker Street",
    "Mall Road",
    "Hauptstraße",
    "rue de la Paix",
];
const CITIES: &[&str] = &[
    "Springfield",
    "London",
    "Lahore",
    "Berlin",
    "Paris",
    "Mumbai",
];
const EVENTS: &[&str] = &[
    "Order Completed",
    "Product Viewed",
    "Checkout Started",
    "Cart Viewed",
    "Signed Up",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
];

fn event(r: &mut Lcg) -> Value {
    let first = r.pick(FIRST);
    let last = r.pick(LAST);
    let products: Vec<Value> = (0..1 + r.next() % 3)
        .map(|_| {
            json!({
                "product_id": r.hex(24),
                "sku": format!("SKU-{}", r.digits(6)),
                "name": r.pick(&["Blue T-Shirt", "Espresso Mug", "Trail Backpack", "Running Shoe"]),
                "category": r.pick(&["Apparel", "Kitchen", "Outdoor"]),
                "price": format!("{}.{}", 5 + r.next() % 200, r.digits(2)),
                "quantity": 1 + r.next() % 4,
            })
        })
        .collect();
    let phone = match r.next() % 3 {
        0 => format!("+92 3{} {}", r.digits(2), r.digits(7)),
        1 => format!("({}) 555-{}", 200 + r.next() % 700, r.digits(4)),
        _ => format!("+44 20 {} {}", r.digits(4), r.digits(4)),
    };
    json!({
        "type": "track",
        "event": r.pick(EVENTS),
        "userId": format!("user_{}", r.digits(8)),
        "anonymousId": r.uuid(),
        "messageId": format!("ajs-next-{}-{}", r.digits(13), r.hex(8)),
        "timestamp": format!("2026-11-{:02}T{:02}:{:02}:{:02}.{}Z", 1 + r.next() % 28, r.next() % 24, r.next() % 60, r.next() % 60, r.digits(3)),
        "sentAt": format!("2026-11-22T10:{:02}:{:02}.000Z", r.next() % 60, r.next() % 60),
        "context": {
            "ip": format!("{}.{}.{}.{}", 1 + r.next() % 223, r.next() % 256, r.next() % 256, 1 + r.next() % 254),
            "userAgent": r.pick(AGENTS),
            "locale": r.pick(&["en-US", "en-GB", "de-DE", "ur-PK"]),
            "library": { "name": "analytics.js", "version": format!("{}.{}.{}", r.next() % 5, r.next() % 30, r.next() % 10) },
            "page": {
                "path": "/checkout",
                "referrer": "https://www.google.com/",
                "title": "Checkout",
                "url": format!("https://shop.example.com/checkout?step={}", r.next() % 4),
            },
        },
        "traits": {
            "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
            "phone": phone,
            "firstName": first,
            "lastName": last,
            "address": {
                "street": format!("{} {}", 1 + r.next() % 999, r.pick(STREETS)),
                "city": r.pick(CITIES),
                "postalCode": r.digits(5),
                "country": r.pick(&["US", "GB", "PK", "DE"]),
            },
        },
        "properties": {
            "order_id": format!("ORD-{}", r.digits(9)),
            "checkout_id": r.uuid(),
            "total": format!("{}.{}", 10 + r.next() % 900, r.digits(2)),
            "revenue": format!("{}.{}", 10 + r.next() % 900, r.digits(2)),
            "currency": r.pick(&["USD", "EUR", "PKR", "GBP"]),
            "coupon": format!("SAVE{}", r.digits(2)),
            "products": products,
        },
    })
}

/// A payload of at least `bytes` bytes: one event, or a `{"batch": [...]}`.
fn payload(bytes: usize) -> Vec<u8> {
    let mut r = Lcg(42);
    if bytes <= 1500 {
        return serde_json::to_vec(&event(&mut r)).expect("serialisable");
    }
    let mut batch = Vec::new();
    let mut size = 0;
    while size < bytes {
        let e = event(&mut r);
        size += serde_json::to_vec(&e).expect("serialisable").len() + 1;
        batch.push(e);
    }
    serde_json::to_vec(&json!({ "batch": batch, "sentAt": "2026-11-22T10:00:00.000Z" }))
        .expect("serialisable")
}

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
    for (label, size) in [("1KB", 1000), ("16KB", 16 * 1024), ("1MB", 1024 * 1024)] {
        let bytes = payload(size);
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
