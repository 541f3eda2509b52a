//! Fuzzing selector chains: values wrapped in base64 (both alphabets, `base64?`), JSON text in
//! JSON strings, URLs and query strings, as the config compiler builds them.
//!
//! The first byte picks a route and a format; the rest is the payload. Invariants: no panic;
//! a payload the route accepts and rewrites is accepted again and comes out the same (the
//! redaction is idempotent, so a second pass over what was forwarded changes nothing — the
//! re-encoded wrapping decodes exactly as the first pass read it); a payload that is not
//! valid for its format without any rule is never made valid by the rules.
//!
//! Form payloads are also read as a text body of one form per line (`Format::FormLines`), so
//! every chain is fuzzed inside batch lines too, with their line-break refusals.
//!
//! The last route has a vendor body coding (`[routes.body_coding]`): a form whose `data`
//! field is base64 of the document its `$` rules police (posthog-js `sendBeacon`), policed
//! with the form layer's plans; and the query parameter naming a coding is read on every
//! input (a query it reads is one the form grammar accepts).

#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use piigate::config::{Env, Route, from_toml};
use piigate::crypto::OsNonces;
use piigate::policy::{ApplyCx, BodyLayer, FieldPlans, Plan};
use piigate::rewrite::{Format, Limits, Outcome, Plans, rewrite_payload};

struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

const RULES: &[&str] = &[
    "form:d=>base64=>$..e",
    "form:d=>base64url?=>$[*].e=>url=>query:e",
    "query:d=>base64url=>$.e",
    "query:u=>url=>query:e",
    "query:q=>query:e",
    "$.c=>$..e",
    "$..u=>url=>query:e",
    "$.b=>base64?=>$.e=>base64url=>$.e",
    "$.s=>query:e",
];

fn routes() -> &'static [Arc<Route>] {
    static ROUTES: OnceLock<Vec<Arc<Route>>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let mut text = String::new();
        for (n, sel) in RULES.iter().enumerate() {
            text.push_str(&format!(
                "[[routes]]\nname = \"r{n}\"\npath_prefix = \"/r{n}\"\nupstream = \"http://127.0.0.1:9\"\n\
                 [[routes.rules]]\nselect = {sel:?}\naction = \"redact\"\nreplacement = \"R\"\n"
            ));
        }
        // Every chain at once on one route: overlapping places share one reading.
        text.push_str("[[routes]]\nname = \"all\"\npath_prefix = \"/all\"\nupstream = \"http://127.0.0.1:9\"\n");
        for sel in RULES.iter().filter(|s| !s.starts_with("form:d=>base64url?")) {
            text.push_str(&format!("[[routes.rules]]\nselect = {sel:?}\naction = \"redact\"\nreplacement = \"R\"\n"));
        }
        text.push_str(
            "[[routes]]\nname = \"beacon\"\npath_prefix = \"/beacon\"\nupstream = \"http://127.0.0.1:9\"\n\
             [routes.body_coding]\nparam = \"c\"\nvalues = { b = \"form:data=>base64\" }\n\
             [[routes.rules]]\nselect = [\"$..e\", \"$.c=>$..e\", \"$..u=>url=>query:e\"]\naction = \"redact\"\nreplacement = \"R\"\n",
        );
        match from_toml(&text, "fuzz.toml", Path::new("."), &NoEnv) {
            Ok(l) => l.config.routes,
            Err(d) => panic!("fuzz config: {d}"),
        }
    })
}

fn police(format: Format, input: &[u8], plans: Plans<'_>) -> (Result<Outcome, piigate::rewrite::RewriteError>, Vec<u8>) {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    let r = rewrite_payload(format, input, plans, &Limits { max_depth: 32 }, &mut cx, &mut out);
    (r, out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else { return };
    let routes = routes();
    let route = &routes[usize::from(pick >> 2) % routes.len()];
    let format = match pick & 3 {
        0 => Format::Form,
        1 => Format::Query,
        2 => Format::Json,
        // gtag.js's batch: one form per line, each with the route's parameter rules.
        _ => Format::FormLines,
    };
    let empty_plan = Plan::empty();
    let empty_fields = FieldPlans::default();
    let empty = Plans { json: &empty_plan, fields: &empty_fields };
    let (baseline, _) = police(format, input, empty);
    if piigate::rewrite::form::values_named(input, "c").is_ok() {
        let (query, _) = police(Format::Query, input, empty);
        assert!(query.is_ok(), "the coding parameter is read only from a query the grammar accepts");
    }
    // The form layer's plans police a form body in place of the route's form rules.
    let plans = match (&route.body_coding, format) {
        (Some(coding), Format::Form) => match coding.layer("b") {
            Some(BodyLayer::Form(doc)) => Plans { json: &route.plan, fields: &doc.plans },
            _ => route.plans(),
        },
        _ => route.plans(),
    };
    let (first, out) = police(format, input, plans);
    match first {
        Ok(Outcome::Unchanged) => assert!(out.is_empty()),
        Ok(Outcome::Rewritten) => {
            assert!(baseline.is_ok(), "rules never make an invalid payload valid");
            let (second, again) = police(format, &out, plans);
            match second {
                Ok(Outcome::Unchanged) => {}
                Ok(Outcome::Rewritten) => assert_eq!(again, out, "a second pass changes nothing"),
                Err(e) => panic!("the forwarded payload is refused on a second pass: {e}"),
            }
        }
        Err(_) => {}
    }
});
