//! Every JSONTestSuite file (tests/data/jsontestsuite, MIT, Nicolas Seriot): `y_` accepted,
//! `n_` refused, `i_` deterministic, and the engine equal to the reference on all accepted ones.

use std::fs;
use std::path::{Path, PathBuf};

use piigate::crypto::OsNonces;
use piigate::policy::{ApplyCx, Plan};
use piigate::rewrite::json::{reference, rewrite_json};
use piigate::rewrite::{Limits, Outcome, RewriteError};

use super::support::{ActionSpec, build, counter_nonces};

const LIMITS: Limits = Limits { max_depth: 128 };

fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/jsontestsuite")
        .join(dir);
    let mut paths: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, fs::read(&p).expect("readable"))
        })
        .collect()
}

fn run(input: &[u8], plan: &Plan) -> Result<(Outcome, Vec<u8>), RewriteError> {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    rewrite_json(input, plan, &LIMITS, &mut cx, &mut out).map(|o| (o, out))
}

#[test]
fn parsing_suite() {
    let empty = Plan::empty();
    let (_, everything) = build(&[(vec!["$..*"], ActionSpec::Redact)]);
    let files = files("test_parsing");
    assert!(files.len() > 300, "suite missing: {} files", files.len());
    let mut failures = Vec::new();
    for (name, input) in &files {
        let plain = run(input, &empty);
        let selected = run(input, &everything);
        // Validation does not depend on the policy.
        if plain.is_ok() != selected.is_ok() {
            failures.push(format!(
                "{name}: no rules {plain:?} vs all selected {selected:?}"
            ));
        }
        match &name[..2] {
            "y_" if plain.is_err() => failures.push(format!("{name}: refused {plain:?}")),
            "y_" if plain.as_ref().map(|p| p.0) != Ok(Outcome::Unchanged) => {
                failures.push(format!("{name}: no-rules run changed the input"));
            }
            "n_" if plain.is_ok() => failures.push(format!("{name}: accepted")),
            "i_" => {
                // Implementation-defined: whatever we decide, we decide it every time.
                let again = run(input, &empty);
                if again.as_ref().map(|p| p.0) != plain.as_ref().map(|p| p.0) {
                    failures.push(format!("{name}: not deterministic"));
                }
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn engine_equals_reference_on_the_suite() {
    let policies = [
        build(&[(vec!["$..*"], ActionSpec::Tokenize)]),
        build(&[(vec!["$[0]", "$..a"], ActionSpec::Drop)]),
        build(&[(vec!["$"], ActionSpec::Mask)]),
        build(&[
            (vec!["$[*]"], ActionSpec::Encrypt),
            (vec!["$..*"], ActionSpec::Drop),
        ]),
    ];
    let mut failures = Vec::new();
    let mut compared = 0;
    for dir in ["test_parsing", "test_transform"] {
        for (name, input) in files(dir) {
            if name.starts_with("n_") {
                continue;
            }
            // serde_json (the reference's parser) refuses nesting past 128 on its own.
            if name.contains("nested") {
                continue;
            }
            for (paths, plan) in &policies {
                match reference::differential(&input, paths, plan, &LIMITS, &mut counter_nonces()) {
                    Ok(Some(_)) => compared += 1,
                    Ok(None) => {}
                    Err(e) => failures.push(format!("{dir}/{name}: {e}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // 95 `y_` files and the accepted `i_` and transform files, under four policies.
    assert!(compared > 4 * 95, "only {compared} comparisons ran");
}

#[test]
fn transform_suite_is_forwarded_byte_for_byte_when_unselected() {
    let (_, unrelated) = build(&[(vec!["$..not_in_any_file"], ActionSpec::Encrypt)]);
    for (name, input) in files("test_transform") {
        for plan in [&Plan::empty(), &unrelated] {
            match run(&input, plan) {
                // Unchanged means the proxy forwards the original bytes untouched.
                Ok((Outcome::Unchanged, out)) => assert!(out.is_empty(), "{name}"),
                Ok((Outcome::Rewritten, _)) => panic!("{name}: rewritten with nothing selected"),
                // Invalid code points (lone surrogates, bad UTF-8) are refused, by design.
                Err(RewriteError::Malformed { .. }) => {
                    assert!(name.contains("invalid_codepoint"), "{name}: refused")
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
}
