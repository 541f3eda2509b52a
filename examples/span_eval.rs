//! Prints span precision and recall per class on the free-text corpus, and the mistakes.
//!
//! `cargo run --release --example span_eval [-- CORPUS [--misses N]]`; eval/detect/run.sh
//! regenerates the corpus first. The table is the one in docs/DETECTION.md.

#![allow(missing_docs, unreachable_pub)]

#[path = "../tests/detect/span_score.rs"]
mod span_score;

use std::time::Instant;

use piigate::detect::spans::SpanScanner;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut path = String::from("eval/detect/spans.jsonl");
    let mut show = 40usize;
    while let Some(a) = args.next() {
        if a == "--misses" {
            show = args.next().ok_or("--misses needs a number")?.parse()?;
        } else {
            path = a;
        }
    }
    let corpus = std::fs::read_to_string(&path)?;
    let start = Instant::now();
    let s = span_score::score(&corpus, &SpanScanner::default());
    let secs = start.elapsed().as_secs_f64();

    println!("{} texts, {} bytes, from {path}\n", s.records, s.bytes);
    println!("| class | labelled | recalled | found | correct | exact | precision | recall |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (class, c) in &s.classes {
        println!(
            "| {class} | {} | {} | {} | {} | {} | {:.2}% | {:.2}% |",
            c.labelled,
            c.recalled,
            c.found,
            c.correct,
            c.exact,
            100.0 * c.precision(),
            100.0 * c.recall(),
        );
    }
    println!(
        "\nscored in {:.1} ms ({:.0} MB/s including JSON parsing)",
        secs * 1e3,
        s.bytes as f64 / secs / 1e6
    );
    println!("\n{} mistakes; the first {show} by class:", s.misses.len());
    let mut misses: Vec<_> = s.misses.iter().collect();
    misses.sort_by(|a, b| (&a.class, a.what, &a.r#gen).cmp(&(&b.class, b.what, &b.r#gen)));
    for m in misses.iter().take(show) {
        println!(
            "  {:14} {:14} {:24} {}",
            m.class, m.what, m.r#gen, m.context
        );
    }
    Ok(())
}
