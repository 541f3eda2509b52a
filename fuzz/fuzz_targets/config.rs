//! Fuzzing the configuration loader: arbitrary text never panics, and every problem comes
//! back as located diagnostics that render without quoting keyring material.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use piigate::config::{Env, from_toml};

struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A base path that does not exist: file references fail as diagnostics, not panics.
    if let Err(d) = from_toml(text, "fuzz.toml", Path::new("/nonexistent-piigate-fuzz"), &NoEnv) {
        let rendered = d.to_string();
        assert!(!rendered.is_empty());
        for item in d.items() {
            assert!(item.file == "fuzz.toml" || item.line == 0 || item.file.starts_with('$') || item.file.starts_with('/'));
        }
    }
});
