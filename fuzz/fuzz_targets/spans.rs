//! Fuzzing the span scanner (`piigate::detect::spans`).
//!
//! The first byte picks how the text is read (auto, HTML, plain, URL) and whether an echo set
//! is searched too; the rest, as UTF-8 (lossily), is the text. The oracle is
//! `piigate::detect::spans::check::invariants`: spans in order, disjoint and on character
//! boundaries; bytes outside spans unchanged; a replacement made of markup and delimiters leaves
//! the HTML or URL structure as it was; `Keep` writes nothing. No panic anywhere.

#![no_main]

use libfuzzer_sys::fuzz_target;
use piigate::detect::spans::check::invariants;
use piigate::detect::spans::{EchoBuilder, EchoKind, EchoLimits, EchoTag, SpanScanner, TextKind};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let kind = [TextKind::Auto, TextKind::Html, TextKind::Plain, TextKind::Url][usize::from(selector & 3)];
    let scanner = SpanScanner::default();
    if selector & 4 == 0 {
        invariants(&scanner, &text, kind, None);
        return;
    }
    // Echo the text's own words back: the hardest case for overlaps with detected spans.
    let mut b = EchoBuilder::new(EchoLimits::default());
    for (i, w) in text.split_whitespace().take(8).enumerate() {
        let k = if i % 2 == 0 { EchoKind::PersonName } else { EchoKind::Value };
        b.add(w, k, EchoTag(i as u32));
    }
    b.add("Alice Smith", EchoKind::PersonName, EchoTag(99));
    let echo = b.build();
    invariants(&scanner, &text, kind, Some(&echo));
});
