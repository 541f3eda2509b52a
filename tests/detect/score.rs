//! Scores a detector on the labelled corpus `eval/detect/corpus.jsonl`.
//!
//! Shared by the regression test (`tests/detect/mod.rs`) and the report printer
//! (`examples/detect_eval.rs`), so the numbers in docs/DETECTION.md and the thresholds CI
//! enforces come from one computation.

use std::collections::BTreeMap;

use piigate::detect::{Class, Detector};

/// One labelled leaf.
#[derive(serde::Deserialize)]
pub struct Record {
    /// Nearest member name.
    pub key: Option<String>,
    /// The string value.
    pub value: String,
    /// Class name, or `None` for a hard negative.
    pub label: Option<String>,
    /// The generator that made it (`phone/pk_mobile_dash`, `neg/uuid`).
    pub r#gen: String,
}

/// Confusion counts for one class.
#[derive(Default, Clone, Copy)]
pub struct Counts {
    /// Labelled the class and detected as it.
    pub tp: u32,
    /// Detected as the class, labelled otherwise.
    pub fp: u32,
    /// Labelled the class, detected as something else or nothing.
    pub fn_: u32,
    /// Labelled the class and detected by `classify_value(None, value)` alone.
    pub value_only: u32,
}

/// A record the detector got wrong.
pub struct Miss {
    /// Generator name.
    pub r#gen: String,
    /// Member name.
    pub key: Option<String>,
    /// Value.
    pub value: String,
    /// Expected class.
    pub want: Option<String>,
    /// Detected class.
    pub got: Option<&'static str>,
}

/// Scores for a whole corpus.
#[derive(Default)]
pub struct Scores {
    /// Per class name.
    pub classes: BTreeMap<String, Counts>,
    /// Every wrong record.
    pub misses: Vec<Miss>,
    /// Records read.
    pub records: usize,
    /// Total bytes of values, for a throughput figure.
    pub bytes: usize,
}

impl Counts {
    /// TP / (TP + FP); 1.0 when nothing was detected.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// TP / (TP + FN); 1.0 when nothing was labelled.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Share of the labelled records found from the value alone, without the key.
    pub fn value_only_recall(&self) -> f64 {
        ratio(self.value_only, self.tp + self.fn_)
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        1.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

/// Parses JSON lines and scores `detector.classify(key, value)` against the labels.
///
/// # Panics
/// On a malformed line or an unknown label: the corpus is generated, so either is a bug.
pub fn score(corpus: &str, detector: &Detector) -> Scores {
    let mut s = Scores::default();
    for (i, line) in corpus.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Record =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        if let Some(l) = &r.label {
            l.parse::<Class>()
                .unwrap_or_else(|_| panic!("line {}: unknown label {l}", i + 1));
        }
        s.records += 1;
        s.bytes += r.value.len();
        let got = detector
            .classify(r.key.as_deref(), &r.value)
            .map(|d| d.class.as_str());
        let want = r.label.as_deref();
        if let Some(w) = want {
            let c = s.classes.entry(w.to_owned()).or_default();
            if got == Some(w) {
                c.tp += 1;
            } else {
                c.fn_ += 1;
            }
            if detector.classify_value(None, &r.value).map(Class::as_str) == Some(w) {
                c.value_only += 1;
            }
        }
        if let Some(g) = got
            && want != Some(g)
        {
            s.classes.entry(g.to_owned()).or_default().fp += 1;
        }
        if got != want {
            s.misses.push(Miss {
                r#gen: r.r#gen,
                key: r.key,
                value: r.value,
                want: r.label,
                got,
            });
        }
    }
    s
}
