//! What finding and replacing personal data inside text costs, against a `regex` union pattern
//! that finds the same spans.
//!
//! Corpora (`benches/spans/corpus.rs`, generated from a seed): English support tickets
//! (`prose`) and HTML transactional mails (`html`), 64 KB each, and a 1 KB ticket (`leaf_1k`,
//! the per-call overhead a JSON leaf pays). Rows, one criterion group per corpus so the ratios
//! come from one run:
//!
//! - `memchr_at` (floor): count every `@` with `memchr`, the cheapest scan of the bytes;
//! - `spans_find`: `SpanScanner::find`, every span reported, nothing written;
//! - `spans_scrub`: `SpanScanner::scrub` with a fixed replacement per class (the output);
//! - `regex_scrub`: the baseline — one `regex::bytes::Regex` union of per-class patterns
//!   (ASCII mode, so the lazy DFA runs), each match validated with the same value detectors
//!   (`Detector::classify_value`: Luhn, mod-97, octet ranges, the JWT header) and replaced;
//! - `echo_4`, `echo_64`: `scrub` with an echo set of 4 or 64 selected values (a name, an
//!   email, a user id, a phone; then 60 more names) on top of the detectors;
//! - `echo_only_4`, `echo_only_64`: echo recognition alone (no detector classes).
//!
//! Before timing, the bench asserts that `spans_scrub` and `regex_scrub` produce byte-identical
//! output on each corpus. Throughput is corpus bytes. Run `cargo bench --bench spans`;
//! `PIIGATE_BENCH_RATIOS=1 cargo bench --bench spans` runs the rows interleaved (fastest of 40
//! rounds) and prints MB/s and the ratio to `regex_scrub`. docs/BENCHMARKS.md ("Spans in
//! text") records the numbers.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use piigate::detect::spans::{
    Echo, EchoBuilder, EchoKind, EchoLimits, EchoTag, Origin, Replacement, SpanScanner, TextKind,
};
use piigate::detect::{Class, ClassSet, Detector, DetectorOptions, TextScan};
use regex::bytes::{CaptureLocations, Regex};

#[path = "spans/corpus.rs"]
mod corpus;

/// The replacement for a span: unreserved characters only, so it needs no escaping in any
/// context and the two implementations' outputs can be compared byte for byte.
fn replacement(origin: Origin) -> &'static [u8] {
    match origin {
        Origin::Class(Class::Email) => b"REDACTED_EMAIL",
        Origin::Class(Class::Phone) => b"REDACTED_PHONE",
        Origin::Class(Class::PaymentCard) => b"REDACTED_CARD",
        Origin::Class(Class::Iban) => b"REDACTED_IBAN",
        Origin::Class(Class::IpAddress) => b"REDACTED_IP",
        Origin::Class(Class::Ssn) => b"REDACTED_SSN",
        Origin::Class(Class::Cnic) => b"REDACTED_CNIC",
        Origin::Class(Class::Jwt) => b"REDACTED_JWT",
        Origin::Class(Class::ApiKey) => b"REDACTED_KEY",
        Origin::Class(Class::DateOfBirth) => b"REDACTED_DOB",
        Origin::Class(Class::StreetAddress) => b"REDACTED_ADDRESS",
        Origin::Class(_) => b"REDACTED",
        Origin::Echo(_) => b"REDACTED_ECHO",
    }
}

fn scrub(
    s: &SpanScanner,
    text: &str,
    kind: TextKind,
    echo: Option<&Echo>,
    out: &mut Vec<u8>,
) -> usize {
    out.clear();
    let done = s
        .scrub(
            text,
            kind,
            echo,
            |sp, buf| {
                buf.extend_from_slice(replacement(sp.origin));
                Ok::<_, ()>(Replacement::Replaced)
            },
            out,
        )
        .expect("infallible");
    done.replaced
}

/// The baseline: one union pattern, an alternative per class, validated by the detectors.
struct RegexScrubber {
    re: Regex,
    locs: CaptureLocations,
    detector: Detector,
}

/// Capture groups of the union, in pattern order.
const GROUPS: &[&str] = &["dob", "addr", "email", "key", "iban", "ipv6", "num"];

impl RegexScrubber {
    fn new() -> Self {
        let re = Regex::new(
            r"(?x-u)
            (?i:\b(?:born\ on|dob:?|date\ of\ birth:?)\ ?)
                (?P<dob>\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4})
            | (?P<addr>\b\d{1,5}\ (?:[A-Z][a-z]+\ ){1,3}
                (?:Street|Avenue|Road|Lane|Drive|Court|Way|Terrace|Boulevard)\b)
            | (?P<email>[A-Za-z0-9][A-Za-z0-9._+'-]*(?:@|&\#64;|&\#x40;|&commat;|%40)
                [A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)
            | (?P<key>\b(?:eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*
                |(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|A[KS]IA[A-Z0-9]{16}
                |gh[pousr]_[A-Za-z0-9]{36}|xox[bpare]-[A-Za-z0-9-]{10,})\b)
            | (?P<iban>\b[A-Z]{2}\d{2}(?:\ ?[A-Z0-9]{4}){2,7}(?:\ ?[A-Z0-9]{1,3})?\b)
            | (?P<ipv6>\b[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7}\b)
            | (?P<num>(?:\+|\(|\b)\d[\d\ ().\-/]*\d\b\)?)
            ",
        )
        .expect("valid pattern");
        let locs = re.capture_locations();
        let detector = Detector::new(DetectorOptions {
            classes: ClassSet::all(),
            text: TextScan::Off,
        });
        Self { re, locs, detector }
    }

    /// The class of a candidate, validated.
    fn validate(&self, group: &str, value: &[u8]) -> Option<Class> {
        let value = std::str::from_utf8(value).ok()?;
        let decoded;
        let v = if group == "email" {
            decoded = value
                .replace("&#64;", "@")
                .replace("&#x40;", "@")
                .replace("&commat;", "@")
                .replace("%40", "@");
            decoded.as_str()
        } else {
            value
        };
        match group {
            "dob" => self
                .detector
                .classify_value(Some("dob"), v)
                .filter(|&c| c == Class::DateOfBirth),
            "addr" => Some(Class::StreetAddress),
            _ => self.detector.classify_value(None, v).filter(|c| {
                matches!(
                    (group, c),
                    ("email", Class::Email)
                        | ("key", Class::Jwt | Class::ApiKey)
                        | ("iban", Class::Iban)
                        | ("ipv6", Class::IpAddress)
                        | (
                            "num",
                            Class::IpAddress
                                | Class::Cnic
                                | Class::Ssn
                                | Class::PaymentCard
                                | Class::Phone
                        )
                )
            }),
        }
    }

    fn scrub(&mut self, text: &str, out: &mut Vec<u8>) -> usize {
        out.clear();
        let hay = text.as_bytes();
        let (mut at, mut copied, mut n) = (0, 0, 0);
        while at <= hay.len() {
            let Some(m) = self.re.captures_read_at(&mut self.locs, hay, at) else {
                break;
            };
            let (group, (s, e)) = GROUPS
                .iter()
                .enumerate()
                .find_map(|(i, g)| self.locs.get(i + 1).map(|r| (*g, r)))
                .expect("one alternative matched");
            if let Some(class) = self.validate(group, &hay[s..e]) {
                out.extend_from_slice(&hay[copied..s]);
                out.extend_from_slice(replacement(Origin::Class(class)));
                copied = e;
                n += 1;
            }
            at = m.end().max(m.start() + 1);
        }
        if n > 0 {
            out.extend_from_slice(&hay[copied..]);
        }
        n
    }
}

fn echo_set(values: usize) -> Echo {
    let mut b = EchoBuilder::new(EchoLimits::default());
    b.add("Alice Smith", EchoKind::PersonName, EchoTag(0));
    b.add("alice.smith@example.com", EchoKind::Value, EchoTag(1));
    b.add("u_48213", EchoKind::Value, EchoTag(2));
    b.add("+44 20 7946 0958", EchoKind::Value, EchoTag(3));
    let mut r = corpus::Rng::new(7);
    for i in 4..values {
        let p = corpus::Person::new(&mut r);
        b.add(
            &format!("{} {}{}", p.first, p.last, i),
            EchoKind::PersonName,
            EchoTag(i as u32),
        );
    }
    b.build()
}

struct Corpus {
    label: &'static str,
    text: String,
    kind: TextKind,
}

fn corpora() -> Vec<Corpus> {
    vec![
        Corpus {
            label: "prose",
            text: corpus::prose(17, 64 * 1024),
            kind: TextKind::Plain,
        },
        Corpus {
            label: "html",
            text: corpus::html(17, 64 * 1024),
            kind: TextKind::Html,
        },
        Corpus {
            label: "leaf_1k",
            text: corpus::prose(23, 1024),
            kind: TextKind::Plain,
        },
    ]
}

/// Equal output before timing: the comparison is only meaningful if both find the same spans.
fn assert_equal(c: &Corpus, scanner: &SpanScanner, re: &mut RegexScrubber) -> usize {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let n = scrub(scanner, &c.text, c.kind, None, &mut a);
    let m = re.scrub(&c.text, &mut b);
    if a != b {
        let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
        let from = first.saturating_sub(120);
        panic!(
            "{}: spans_scrub ({n} spans) and regex_scrub ({m}) differ at byte {first}:\n spans: {:?}\n regex: {:?}",
            c.label,
            String::from_utf8_lossy(&a[from..(first + 120).min(a.len())]),
            String::from_utf8_lossy(&b[from..(first + 120).min(b.len())]),
        );
    }
    assert!(n > 0 || c.label == "leaf_1k", "{}: no spans", c.label);
    n
}

type Row<'a> = (&'static str, Box<dyn FnMut() -> usize + 'a>);

fn rows<'a>(
    c: &'a Corpus,
    scanner: &'a SpanScanner,
    echo_only: &'a SpanScanner,
    echoes: &'a [Echo; 2],
    re: &'a mut RegexScrubber,
) -> Vec<Row<'a>> {
    let text = c.text.as_str();
    let kind = c.kind;
    let out = || Vec::with_capacity(text.len() * 2);
    let (mut o1, mut o2, mut o3, mut o4, mut o5, mut o6) =
        (out(), out(), out(), out(), out(), out());
    vec![
        (
            "memchr_at",
            Box::new(move || memchr::memchr_iter(b'@', black_box(text.as_bytes())).count()),
        ),
        (
            "spans_find",
            Box::new(move || {
                scanner.find(black_box(text), kind, None, |sp| {
                    black_box(sp);
                })
            }),
        ),
        (
            "spans_scrub",
            Box::new(move || scrub(scanner, black_box(text), kind, None, &mut o1)),
        ),
        (
            "regex_scrub",
            Box::new(move || re.scrub(black_box(text), &mut o2)),
        ),
        (
            "echo_4",
            Box::new(move || scrub(scanner, black_box(text), kind, Some(&echoes[0]), &mut o3)),
        ),
        (
            "echo_64",
            Box::new(move || scrub(scanner, black_box(text), kind, Some(&echoes[1]), &mut o4)),
        ),
        (
            "echo_only_4",
            Box::new(move || scrub(echo_only, black_box(text), kind, Some(&echoes[0]), &mut o5)),
        ),
        (
            "echo_only_64",
            Box::new(move || scrub(echo_only, black_box(text), kind, Some(&echoes[1]), &mut o6)),
        ),
        ("echo_build_64", Box::new(|| echo_set(64).needles())),
        ("echo_build_4", Box::new(|| echo_set(4).needles())),
    ]
}

fn bench(c: &mut Criterion) {
    let scanner = SpanScanner::default();
    let echo_only = SpanScanner::new(ClassSet::empty());
    let echoes = [echo_set(4), echo_set(64)];
    for corpus in corpora() {
        let mut re = RegexScrubber::new();
        assert_equal(&corpus, &scanner, &mut re);
        let mut g = c.benchmark_group(format!("spans/{}", corpus.label));
        g.throughput(Throughput::Bytes(corpus.text.len() as u64));
        for (name, mut f) in rows(&corpus, &scanner, &echo_only, &echoes, &mut re) {
            g.bench_function(BenchmarkId::new(name, corpus.text.len()), |b| {
                b.iter(&mut f)
            });
        }
        g.finish();
    }
}

/// Every row interleaved, fastest of 40 rounds each, with the ratio to `regex_scrub`.
fn ratios() {
    let scanner = SpanScanner::default();
    let echo_only = SpanScanner::new(ClassSet::empty());
    let echoes = [echo_set(4), echo_set(64)];
    for corpus in corpora() {
        let mut re = RegexScrubber::new();
        let spans = assert_equal(&corpus, &scanner, &mut re);
        let mut rows = rows(&corpus, &scanner, &echo_only, &echoes, &mut re);
        let probe = Instant::now();
        black_box((rows[3].1)());
        let iters = ((0.004 / probe.elapsed().as_secs_f64()).ceil() as usize).max(1);
        let mut best = vec![f64::INFINITY; rows.len()];
        for _ in 0..40 {
            for (i, (_, f)) in rows.iter_mut().enumerate() {
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(f());
                }
                best[i] = best[i].min(t.elapsed().as_secs_f64() / iters as f64);
            }
        }
        let len = corpus.text.len();
        println!(
            "{} ({len} bytes, {spans} spans), fastest of 40 interleaved rounds:",
            corpus.label
        );
        let regex = best[3];
        for ((label, _), t) in rows.iter().zip(&best) {
            println!(
                "  {label:14} {:>10.2} us {:>8.0} MB/s  {:>6.2} us/KB  regex/this {:>6.2}x",
                t * 1e6,
                len as f64 / t / 1e6,
                t * 1e6 / (len as f64 / 1024.0),
                regex / t
            );
        }
    }
}

criterion_group!(benches, bench);

/// One row on one corpus for `secs` seconds, for `perf record`:
/// `PIIGATE_BENCH_PROFILE=prose/spans_scrub target/release/deps/spans-…`.
fn profile(which: &str) {
    // `corpus/row@N`: exactly N runs (for `perf stat -e instructions`), else 5 seconds.
    let (which, runs) = match which.split_once('@') {
        Some((w, n)) => (w, n.parse::<u64>().ok()),
        None => (which, None),
    };
    let (corpus_label, row) = which.split_once('/').expect("corpus/row");
    let scanner = SpanScanner::default();
    let echo_only = SpanScanner::new(ClassSet::empty());
    let echoes = [echo_set(4), echo_set(64)];
    for corpus in corpora().into_iter().filter(|c| c.label == corpus_label) {
        let mut re = RegexScrubber::new();
        for (label, mut f) in rows(&corpus, &scanner, &echo_only, &echoes, &mut re) {
            if label == row {
                let t = Instant::now();
                let mut n = 0u64;
                while runs.map_or(t.elapsed().as_secs() < 5, |r| n < r) {
                    black_box(f());
                    n += 1;
                }
                println!(
                    "{which}: {n} runs, {:.2} us each",
                    t.elapsed().as_secs_f64() * 1e6 / n as f64
                );
            }
        }
    }
}

fn main() {
    if let Some(which) = std::env::var_os("PIIGATE_BENCH_PROFILE") {
        profile(&which.to_string_lossy());
        return;
    }
    if std::env::var_os("PIIGATE_BENCH_RATIOS").is_some() {
        ratios();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
