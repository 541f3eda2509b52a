//! Checks allocation budgets with a counting global allocator: `rewrite_json`'s, and a whole
//! request's through the gateway over real sockets.
//!
//! Its own test binary (`harness = false`): a global allocator counts every thread, and the
//! libtest harness would allocate concurrently. The engine's budget, as `rewrite_json`'s docs
//! state it: no allocation at all when nothing is live below the root; otherwise a constant
//! number (frame stack, one output reservation, scratch buffers) that does not grow with the
//! number of values in the payload.
//!
//! End to end (`e2e`): a client and an upstream that allocate nothing per request (plain
//! threads, fixed buffers; checked by running the client straight at the upstream) exchange
//! keep-alive requests through a gateway on its own current-thread runtime, so the process's
//! count per request is the gateway's: accept-side parsing, routing, policing, the upstream
//! exchange, the response and the bookkeeping.

use std::alloc::System;

use piigate::crypto::OsNonces;

use piigate::policy::{ApplyCx, DetectMode, Plan};
use piigate::rewrite::json::rewrite_json;
use piigate::rewrite::{Limits, Outcome};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[path = "../benches/support/mod.rs"]
mod support;

#[path = "alloc_budget/e2e.rs"]
mod e2e;

const LIMITS: Limits = Limits { max_depth: 128 };

/// Allocations (including reallocations) made by one rewrite of `input` under `plan`, the
/// per-request context and output buffer included.
fn allocations(input: &[u8], plan: &Plan, expect: Outcome) -> usize {
    let region = Region::new(GLOBAL);
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    let outcome = rewrite_json(input, plan, &LIMITS, &mut cx, &mut out).expect("valid payload");
    assert_eq!(outcome, expect);
    drop(out);
    drop(cx);
    let stats = region.change();
    stats.allocations + stats.reallocations
}

fn main() {
    // A test runner lists a binary's tests first (`--list --format terse`, then again with
    // `--ignored`): this binary is one test, which any other invocation runs.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("alloc_budget: test");
        }
        return;
    }
    let small = support::batch(16 * 1024);
    let large = support::batch(1024 * 1024);
    // The typical policy as configured, `normalize = "email"` included: lower-casing a
    // non-ASCII address writes into the request's scratch buffer, not a new `String`.
    let (_, typical) = support::plan(support::TYPICAL, |k| k);
    let (_, unrelated) = support::plan(&[(&["$.nothing.here"], support::Kind::Encrypt)], |k| k);

    // No rules: validation only, not one allocation.
    for input in [&small, &large] {
        let n = allocations(input, &Plan::empty(), Outcome::Unchanged);
        assert_eq!(n, 0, "no-rules rewrite allocated {n} times");
    }

    // Rules that match nothing in the payload: the root frame lives in the walker, its members
    // are dead, so nothing is allocated either.
    for input in [&small, &large] {
        let n = allocations(input, &unrelated, Outcome::Unchanged);
        assert_eq!(n, 0, "unmatched policy allocated {n} times");
    }

    // The typical policy: a constant, whatever the number of selected values.
    let few = allocations(&small, &typical, Outcome::Rewritten);
    let many = allocations(&large, &typical, Outcome::Rewritten);
    assert!(few <= 40, "16 KB batch: {few} allocations");
    assert!(many <= 40, "1 MB batch: {many} allocations");
    // 64× the values; the difference is at most the output buffer outgrowing its reservation.
    assert!(
        many <= few + 4,
        "allocations grow with the payload: {few} → {many}"
    );

    // Detection (observe and enforce) on top of the typical policy: the hint cache, the path
    // buffers and one allocation per distinct field path — the same for 64× the leaves.
    let observe = support::detecting(
        support::plan(support::TYPICAL, |k| k).1,
        DetectMode::Observe,
    );
    let enforce = support::detecting(
        support::plan(support::TYPICAL, |k| k).1,
        DetectMode::Enforce,
    );
    let mut detect = Vec::new();
    for plan in [&observe, &enforce] {
        let few = allocations(&small, plan, Outcome::Rewritten);
        let many = allocations(&large, plan, Outcome::Rewritten);
        assert!(few <= 120, "16 KB batch with detection: {few} allocations");
        assert!(
            many <= few + 4,
            "detection allocates per leaf: {few} → {many}"
        );
        detect.push((few, many));
    }

    // The boundary on an already canonical request head: no allocation at all.
    let canonical_head = boundary_allocations();
    assert_eq!(
        canonical_head, 0,
        "canonical request head: {canonical_head} allocations"
    );

    println!(
        "alloc_budget: no rules 0, unmatched 0, typical policy {few} (16 KB) / {many} (1 MB), \
         + observe {}/{}, + enforce {}/{}, canonical head 0",
        detect[0].0, detect[0].1, detect[1].0, detect[1].1
    );
    e2e::run(GLOBAL);
    println!("6 passed, 0 failed");
}

/// Allocations of the boundary checks on ordinary, already canonical requests: the path
/// normaliser, the content headers and the header spellings (headers built outside the
/// measured region).
fn boundary_allocations() -> usize {
    use http::header::{self, HeaderMap, HeaderValue};
    let mut heads = Vec::new();
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
    ] {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        h.insert(header::COOKIE, HeaderValue::from_static("a=1"));
        h.insert("x-user-id", HeaderValue::from_static("u1"));
        heads.push(h);
    }
    let region = Region::new(GLOBAL);
    for h in &mut heads {
        for path in ["/segment/v1/batch", "/", "/a-b/c.d/"] {
            let n = piigate::canon::path::normalize(path).expect("normal path");
            assert!(matches!(n.path, std::borrow::Cow::Borrowed(_)));
        }
        piigate::canon::headers::check_spellings(h).expect("no collision");
        piigate::canon::headers::join_cookies(h);
        piigate::canon::content::canonicalize(h).expect("canonical");
    }
    let stats = region.change();
    stats.allocations + stats.reallocations
}
