//! Test harness, by role: a throwaway PKI ([`pki`]), recording upstreams ([`upstream`]), the
//! gateway in process or as the real binary ([`gateway`]), clients over plain TCP, TLS and raw
//! sockets ([`client`]), a recipient that checks what it receives ([`recipient`]), and the
//! shared bits below. Everything runs on real sockets on 127.0.0.1:0.

#![allow(dead_code)]

pub mod client;
pub mod gateway;
pub mod pki;
pub mod recipient;
pub mod upstream;

pub use client::*;
pub use gateway::*;
pub use pki::*;
pub use upstream::*;

use std::path::{Path, PathBuf};

use piigate::config::Env;

/// The example keyring shipped with the repo.
pub const KEYS: &str = include_str!("../../keys.example");

/// `doc` as posthog-js's `sendBeacon` sends it under `?compression=base64`: a form whose `data`
/// is the standard padded base64 of `doc`, percent-encoded.
pub fn beacon_form(doc: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc);
    let escaped = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("data={escaped}")
}

/// An environment with nothing set (tests must not depend on the developer's shell).
pub struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// An environment with exactly these variables.
pub struct MapEnv(pub std::collections::HashMap<String, String>);

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// Every spelling of `value` a JSON document could carry it in: raw and with each character
/// `\u`-escaped.
pub fn spellings(value: &str) -> Vec<String> {
    let escaped: String = value
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let upper: String = value
        .chars()
        .map(|c| format!("\\u{:04X}", c as u32))
        .collect();
    vec![value.to_owned(), escaped, upper]
}

/// Asserts that none of `values` appears, in any spelling, in `haystack`.
pub fn assert_absent(haystack: &[u8], values: &[&str]) {
    let text = String::from_utf8_lossy(haystack);
    for v in values {
        for s in spellings(v) {
            if text.contains(&s) {
                // Show only the offending lines of a long haystack (a log, say).
                let lines: Vec<&str> = text.lines().filter(|l| l.contains(&s)).collect();
                let shown = if text.lines().count() > 5 {
                    lines.join("\n")
                } else {
                    text.to_string()
                };
                panic!("PII value leaked (spelling {s:?}) in: {shown}");
            }
        }
    }
}

/// Path of a file in the repo.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The test PostgreSQL URL, or `None` with a printed notice (a failure when
/// `PIIGATE_TEST_POSTGRES_REQUIRED` is set, as in CI).
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("PIIGATE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("PIIGATE_TEST_POSTGRES_REQUIRED").is_none(),
                "PIIGATE_TEST_POSTGRES_REQUIRED is set but PIIGATE_TEST_POSTGRES_URL is not"
            );
            eprintln!(
                "note: skipping {test}: PIIGATE_TEST_POSTGRES_URL is not set (eval \"$(bash scripts/postgres-test.sh)\" to run it)"
            );
            None
        }
    }
}
