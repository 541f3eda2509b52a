//! Scores the span scanner on the labelled free-text corpus `eval/detect/spans.jsonl`.
//!
//! Shared by the regression test (`tests/detect/spans.rs`) and the report printer
//! (`examples/span_eval.rs`), so docs/DETECTION.md and CI use one computation.
//!
//! Per class:
//! - a **labelled** span is *recalled* when spans found with its class cover every byte of it
//!   (trailing `.`/`,` aside; in HTML, a tag inside the label is markup, not value: `Flat
//!   76E<br>Smith Walk` is two text nodes, covered by one span in each): a value half replaced
//!   is half leaked;
//! - a **found** span is *correct* when it overlaps a labelled span of its class; otherwise it
//!   is a false positive (a hard negative, or a value read as the wrong class);
//! - *exact* counts found spans with exactly a label's boundaries.

use std::collections::BTreeMap;

use piigate::detect::spans::{Origin, SpanScanner, TextKind};

/// One labelled text.
#[derive(serde::Deserialize)]
pub struct Record {
    /// `plain`, `html` or `url`.
    pub kind: String,
    /// Faker locale the values came from.
    pub locale: String,
    /// Generator (`sentence/en`, `html/mail`, …).
    pub r#gen: String,
    /// The text.
    pub text: String,
    /// `[start, end, class]`, UTF-8 byte offsets.
    pub spans: Vec<(usize, usize, String)>,
}

/// Counts for one class.
#[derive(Default, Clone, Copy)]
pub struct Counts {
    /// Labelled spans.
    pub labelled: u32,
    /// Labelled spans fully covered by found spans of the class.
    pub recalled: u32,
    /// Found spans.
    pub found: u32,
    /// Found spans overlapping a labelled span of the class.
    pub correct: u32,
    /// Found spans with a label's exact boundaries.
    pub exact: u32,
}

/// A mistake, for the report.
pub struct Miss {
    /// `missed` (a label not covered) or `false positive`.
    pub what: &'static str,
    /// Class (labelled or found).
    pub class: String,
    /// Generator of the text.
    pub r#gen: String,
    /// The span's text and a little context.
    pub context: String,
}

/// Scores for a corpus.
#[derive(Default)]
pub struct Scores {
    /// Per class name.
    pub classes: BTreeMap<String, Counts>,
    /// Every mistake.
    pub misses: Vec<Miss>,
    /// Texts read.
    pub records: usize,
    /// Bytes of text.
    pub bytes: usize,
}

impl Counts {
    /// Correct / found; 1.0 when nothing was found.
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.found)
    }

    /// Recalled / labelled; 1.0 when nothing was labelled.
    pub fn recall(&self) -> f64 {
        ratio(self.recalled, self.labelled)
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        1.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

fn kind(k: &str) -> TextKind {
    match k {
        "html" => TextKind::Html,
        "url" => TextKind::Url,
        _ => TextKind::Plain,
    }
}

fn context(text: &str, s: usize, e: usize) -> String {
    let mut a = s.saturating_sub(30);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (e + 30).min(text.len());
    while !text.is_char_boundary(b) {
        b += 1;
    }
    format!("{:?} in …{:?}…", &text[s..e], &text[a..b])
}

/// Where the tags written from `at` end (`<br>`, `<br/>`), not past `end`: `at` itself when
/// none starts there.
fn past_tags(text: &str, mut at: usize, end: usize) -> usize {
    let t = text.as_bytes();
    while at < end
        && t[at] == b'<'
        && let Some(gt) = t[at..end].iter().position(|&b| b == b'>')
    {
        at += gt + 1;
    }
    at
}

/// Parses JSON lines and scores `scanner` against the labels.
///
/// # Panics
/// On a malformed line: the corpus is generated, so that is a bug.
pub fn score(corpus: &str, scanner: &SpanScanner) -> Scores {
    let mut s = Scores::default();
    for (i, line) in corpus.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Record =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        s.records += 1;
        s.bytes += r.text.len();
        let mut found = Vec::new();
        scanner.find(&r.text, kind(&r.kind), None, |sp| {
            if let Origin::Class(c) = sp.origin {
                found.push((sp.start, sp.end, c.as_str()));
            }
        });
        for &(ls, le, ref class) in &r.spans {
            let c = s.classes.entry(class.clone()).or_default();
            c.labelled += 1;
            let mut le = le;
            while le > ls && matches!(r.text.as_bytes()[le - 1], b'.' | b',') {
                le -= 1;
            }
            // Covered: walk the found spans of the class in order.
            let mut at = ls;
            for &(fs, fe, fc) in &found {
                if r.kind == "html" {
                    at = past_tags(&r.text, at, le);
                }
                if fc == class && fs <= at && fe > at {
                    at = fe;
                }
            }
            if at >= le {
                c.recalled += 1;
            } else {
                s.misses.push(Miss {
                    what: "missed",
                    class: class.clone(),
                    r#gen: format!("{}/{}", r.r#gen, r.locale),
                    context: context(&r.text, ls, le),
                });
            }
        }
        for &(fs, fe, fc) in &found {
            let c = s.classes.entry(fc.to_owned()).or_default();
            c.found += 1;
            let overlapping = r
                .spans
                .iter()
                .filter(|(ls, le, lc)| lc == fc && *ls < fe && fs < *le)
                .collect::<Vec<_>>();
            if overlapping.is_empty() {
                s.misses.push(Miss {
                    what: "false positive",
                    class: fc.to_owned(),
                    r#gen: format!("{}/{}", r.r#gen, r.locale),
                    context: context(&r.text, fs, fe),
                });
            } else {
                c.correct += 1;
                if overlapping.iter().any(|(ls, le, _)| *ls == fs && *le == fe) {
                    c.exact += 1;
                }
            }
        }
    }
    s
}
