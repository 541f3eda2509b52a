//! Vendor presets: every preset compiles on a route with zero diagnostics, a route's own rules
//! win over its preset's as documented, and `check --expand` shows the rules as they apply.

use piigate::config::{self, preset};
use piigate::rewrite::Format;

use crate::support::{NoEnv, write_config};

fn route_with(extra: &str) -> String {
    format!(
        "[keys]\nfile = \"keys.toml\"\n\n[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\n\
         upstream = \"http://127.0.0.1:9\"\n{extra}"
    )
}

/// A config written to a temp dir (kept as long as this lives) and loaded.
#[derive(Debug)]
struct Loaded {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    loaded: config::Loaded,
}

impl std::ops::Deref for Loaded {
    type Target = config::Loaded;
    fn deref(&self) -> &config::Loaded {
        &self.loaded
    }
}

fn load(text: &str) -> Result<Loaded, config::Diagnostics> {
    let (dir, path) = write_config(text);
    let loaded = config::load(&path, &NoEnv)?;
    Ok(Loaded {
        _dir: dir,
        path,
        loaded,
    })
}

fn preview(loaded: &Loaded, format: Format, input: &str) -> serde_json::Value {
    let route = piigate::ops::route(&loaded.config, "r").expect("route");
    let payload = match format {
        Format::Query => piigate::ops::Payload::query(input.as_bytes()),
        _ => piigate::ops::Payload::typed("application/json", input.as_bytes()).expect("type"),
    };
    let out = piigate::ops::preview(&loaded.config, route, &payload).expect("preview");
    serde_json::from_slice(&out).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8(out).expect("utf-8 output"))
    })
}

#[test]
fn every_preset_compiles_on_a_route_with_no_diagnostic_but_the_example_keys() {
    for p in preset::PRESETS {
        let loaded = load(&route_with(&format!("preset = \"{}\"\n", p.name)))
            .unwrap_or_else(|d| panic!("preset {} does not compile:\n{d}", p.name));
        let codes: Vec<&str> = loaded.warnings.items().iter().map(|w| w.code).collect();
        assert_eq!(codes, ["example_keys"], "{}: {}", p.name, loaded.warnings);
        let route = &loaded.config.routes[0];
        assert!(route.polices(), "{} polices requests", p.name);
    }
}

#[test]
fn an_unknown_preset_is_located_with_a_suggestion() {
    let d = load(&route_with("preset = \"segmnet\"\n")).expect_err("unknown preset");
    let text = d.to_string();
    assert!(
        text.contains("proxy.toml:8:10: error[bad_value]: there is no preset `segmnet`"),
        "{text}"
    );
    assert!(text.contains("help: did you mean `segment`?"), "{text}");
}

#[test]
fn a_mistake_in_a_route_rule_next_to_a_preset_is_still_located_in_the_config() {
    let d = load(&route_with(
        "preset = \"segment\"\n[[routes.rules]]\nselect = \"$.a[\"\naction = \"drop\"\n",
    ))
    .expect_err("bad selector");
    let text = d.to_string();
    assert!(
        text.contains("proxy.toml:10:15: error[bad_selector]"),
        "{text}"
    );
    assert!(!text.contains("presets/"), "{text}");
}

/// The preset tokenizes `$..traits.email`; the route says `keep` on the same selector (written
/// another way), so that field passes while the preset still applies everywhere else.
#[test]
fn a_route_rule_on_the_same_selector_replaces_the_presets() {
    let loaded = load(&route_with(
        "preset = \"segment\"\ndetect = \"off\"\n[[routes.rules]]\nselect = \"$..['traits'].email\"\naction = \"keep\"\n",
    ))
    .expect("loads");
    let out = preview(
        &loaded,
        Format::Json,
        r#"{"userId":"u-1","traits":{"email":"a@example.org","phone":"+1 415 555 0199"},"properties":{"email":"b@example.org"}}"#,
    );
    assert_eq!(out["traits"]["email"], "a@example.org", "{out}");
    let tok = out["properties"]["email"].as_str().expect("string");
    assert!(tok.starts_with("tok_"), "{out}");
    assert!(out["userId"].as_str().expect("s").starts_with("tok_"));
    assert!(
        out["traits"]["phone"]
            .as_str()
            .expect("s")
            .starts_with("pge1.")
    );

    let text = config::expand_route(&loaded.path, "r").expect("expand");
    assert!(
        text.contains("# preset selectors the route's own rules replace:"),
        "{text}"
    );
    assert!(
        text.contains("\"$..traits.email\" (presets/segment.toml:"),
        "{text}"
    );
}

/// A route rule that selects a value the preset also selects (a different selector, the same
/// node) wins because the route's rules come first.
#[test]
fn a_route_rule_wins_where_it_meets_a_preset_rule() {
    let loaded = load(&route_with(
        "preset = \"segment\"\ndetect = \"off\"\n[[routes.rules]]\nselect = \"$.batch[*].userId\"\naction = \"redact\"\n",
    ))
    .expect("loads");
    let out = preview(
        &loaded,
        Format::Json,
        r#"{"batch":[{"userId":"u-1","context":{"userId":"u-2"}}]}"#,
    );
    assert_eq!(out["batch"][0]["userId"], "[REDACTED]", "{out}");
    assert!(
        out["batch"][0]["context"]["userId"]
            .as_str()
            .expect("s")
            .starts_with("tok_"),
        "{out}"
    );
}

/// The analytics presets scrub free text an app puts in a property instead of replacing it
/// whole: the words stay, the email inside gets the email fields' token, a card its last four,
/// and the name a rule of the same request selects is found where the text repeats it.
#[test]
fn analytics_presets_scrub_free_text_and_keep_its_words() {
    for vendor in ["segment", "rudderstack"] {
        let loaded = load(&route_with(&format!("preset = \"{vendor}\"\n"))).expect("loads");
        let out = preview(
            &loaded,
            Format::Json,
            r#"{"batch":[{"type":"identify","userId":"u-1","traits":{"email":"alice.smith@example.com","name":"Alice Smith","note":"Alice asked: refund card 4111 1111 1111 1111 to alice.smith@example.com please"}}]}"#,
        );
        let traits = &out["batch"][0]["traits"];
        let note = traits["note"].as_str().expect("note stays a string");
        let token = traits["email"].as_str().expect("email token");
        assert!(token.starts_with("tok_"), "{vendor}: {out}");
        assert!(note.contains(" asked: refund card "), "{vendor}: {note}");
        assert!(
            note.ends_with(&format!("1111 to {token} please")),
            "{vendor}: {note}"
        );
        for gone in ["Alice", "4111 1111 1111 1111", "alice.smith@example.com"] {
            assert!(!note.contains(gone), "{vendor}: {gone} in {note}");
        }
    }
}

/// The ga4 preset drops a Measurement Protocol user property or event parameter that names
/// the person: detection reads a property's `value` under the member name `value`, which says
/// nothing, so only a rule on the property's own name catches it. Other properties stay.
#[test]
fn ga4_drops_measurement_protocol_properties_that_name_the_person() {
    let loaded = load(&route_with("preset = \"ga4\"\n")).expect("loads");
    let out = preview(
        &loaded,
        Format::Json,
        r#"{"client_id":"1.2","user_properties":{"first_name":{"value":"Ottilie"},"last_name":{"value":"Brandvold"},"customer_tier":{"value":"gold"}},"events":[{"name":"purchase","params":{"full_name":"Ottilie Brandvold","currency":"EUR"}}]}"#,
    );
    assert_eq!(
        out["user_properties"],
        serde_json::json!({"customer_tier": {"value": "gold"}}),
        "{out}"
    );
    assert_eq!(
        out["events"][0]["params"],
        serde_json::json!({"currency": "EUR"}),
        "{out}"
    );
}

/// A page title that repeats the name only a dropped Measurement Protocol user property gives
/// (`{"value": "…"}`) loses it: the dropped property's value is still one the rules select.
#[test]
fn ga4_page_title_loses_the_name_a_dropped_user_property_gives() {
    let loaded = load(&route_with("preset = \"ga4\"\n")).expect("loads");
    let out = preview(
        &loaded,
        Format::Json,
        r#"{"client_id":"1.2","events":[{"name":"page_view","params":{"page_title":"Welcome back, Ottilie Brandvold · Orders","currency":"EUR"}}],"user_properties":{"first_name":{"value":"Ottilie"},"last_name":{"value":"Brandvold"}}}"#,
    );
    let title = out["events"][0]["params"]["page_title"]
        .as_str()
        .expect("the title stays a string");
    assert!(title.starts_with("Welcome back, "), "{out}");
    assert!(title.ends_with(" · Orders"), "{out}");
    for gone in ["Ottilie", "Brandvold"] {
        assert!(!title.contains(gone), "{gone} in {title}");
    }
    assert_eq!(out["user_properties"], serde_json::json!({}), "{out}");
}

/// `purpose` and `detect` of the route beat the preset's; `detect_actions` merge per class.
#[test]
fn route_keys_beat_preset_keys_and_detect_actions_merge_per_class() {
    let loaded = load(&route_with(
        "preset = \"segment\"\npurpose = \"processor\"\n[routes.detect_actions]\nemail = \"drop\"\n",
    ))
    .expect("loads");
    let route = &loaded.config.routes[0];
    assert_eq!(route.purpose, config::Purpose::Processor);
    assert_eq!(route.detect, Some(piigate::policy::DetectMode::Enforce));
    // An email under a name no rule selects: the route's `email = "drop"` wins over the
    // preset's `tokenize`; a phone gets the preset's `encrypt`.
    let out = preview(
        &loaded,
        Format::Json,
        r#"{"properties":{"contact":"c@example.org","mobile_number":"+1 415 555 0199"}}"#,
    );
    assert!(out["properties"].get("contact").is_none(), "{out}");
    assert!(
        out["properties"]["mobile_number"]
            .as_str()
            .expect("s")
            .starts_with("pge1."),
        "{out}"
    );

    let off = load(&route_with("preset = \"segment\"\ndetect = \"off\"\n")).expect("loads");
    assert_eq!(off.config.routes[0].detect, None);
    assert!(
        off.warnings
            .items()
            .iter()
            .all(|w| w.code == "example_keys"),
        "{}",
        off.warnings
    );
}

/// docs/PRESETS.md holds each preset's reference section as `config::preset::reference`
/// renders it from the preset file, between markers, so the document and the data cannot
/// drift. `PIIGATE_UPDATE_DOCS=1 cargo test --test tests presets::` rewrites the sections.
#[test]
fn docs_presets_md_is_the_rendering_of_every_preset() {
    let path = crate::support::repo("docs/PRESETS.md");
    let mut doc = std::fs::read_to_string(&path).expect("docs/PRESETS.md");
    let update = std::env::var_os("PIIGATE_UPDATE_DOCS").is_some();
    for p in preset::PRESETS {
        let begin = format!("<!-- preset:{}:begin -->\n", p.name);
        let end = format!("<!-- preset:{}:end -->", p.name);
        let (Some(a), Some(b)) = (doc.find(&begin), doc.find(&end)) else {
            panic!("docs/PRESETS.md has no section for preset `{}`", p.name);
        };
        let want = preset::reference(p);
        let have = &doc[a + begin.len()..b];
        if have != want {
            assert!(
                update,
                "docs/PRESETS.md is out of date for preset `{}`: run PIIGATE_UPDATE_DOCS=1 cargo test --test tests presets::",
                p.name
            );
            doc.replace_range(a + begin.len()..b, &want);
        }
    }
    if update {
        std::fs::write(&path, doc).expect("write docs/PRESETS.md");
    }
}
