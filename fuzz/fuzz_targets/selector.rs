//! Fuzzing the JSONPath parser and the automaton builder: no panic on any text, errors point
//! inside the selector, and every parsed path compiles (or is refused for size) without panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use piigate::policy::Automaton;
use piigate::policy::selector::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Several selectors separated by newlines: one automaton, as a route builds it.
    let mut paths = Vec::new();
    for (i, line) in text.lines().take(16).enumerate() {
        match parse(line) {
            Ok(p) => paths.push((p, u16::try_from(i).unwrap_or(u16::MAX))),
            Err(e) => assert!(e.offset <= line.chars().count()),
        }
    }
    let _ = Automaton::build(&paths);
});
