//! Prints precision and recall per class on the detection corpus, and the misses.
//!
//! `cargo run --release --example detect_eval [-- CORPUS [--misses N]]`; eval/detect/run.sh
//! regenerates the corpus first. The table is the one in docs/DETECTION.md.

#![allow(missing_docs, unreachable_pub)]

#[path = "../tests/detect/score.rs"]
mod score;

use std::time::Instant;

use piigate::detect::Detector;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut path = String::from("eval/detect/corpus.jsonl");
    let mut show = 40usize;
    while let Some(a) = args.next() {
        if a == "--misses" {
            show = args.next().ok_or("--misses needs a number")?.parse()?;
        } else {
            path = a;
        }
    }
    let corpus = std::fs::read_to_string(&path)?;
    let detector = Detector::default();
    let start = Instant::now();
    let s = score::score(&corpus, &detector);
    let secs = start.elapsed().as_secs_f64();

    println!("{} records from {path}\n", s.records);
    println!("| class | labelled | TP | FP | FN | precision | recall | recall, value only |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (class, c) in &s.classes {
        println!(
            "| {class} | {} | {} | {} | {} | {:.2}% | {:.2}% | {:.2}% |",
            c.tp + c.fn_,
            c.tp,
            c.fp,
            c.fn_,
            100.0 * c.precision(),
            100.0 * c.recall(),
            100.0 * c.value_only_recall(),
        );
    }
    println!(
        "\nscored in {:.1} ms (two classify calls per record, debug builds are slower)",
        secs * 1e3
    );
    println!("\n{} misses; the first {show}:", s.misses.len());
    let mut misses: Vec<_> = s.misses.iter().collect();
    misses.sort_by(|a, b| (a.want.as_deref(), &a.r#gen).cmp(&(b.want.as_deref(), &b.r#gen)));
    for m in misses.iter().take(show) {
        println!(
            "  {:32} key={:?} value={:?} want={:?} got={:?}",
            m.r#gen, m.key, m.value, m.want, m.got
        );
    }
    Ok(())
}
