//! Configuration loading through the public API: the shipped files, located diagnostics.

use std::path::Path;

use piigate::config::{self, Env};
use piigate::detect::Class;
use piigate::policy::{ActionKind, OptionDefault};

use crate::support::{NoEnv, repo};

#[test]
fn shipped_proxy_toml_and_keyring_load_with_only_the_example_key_warning() {
    let loaded = match config::load(&repo("proxy.toml"), &NoEnv) {
        Ok(l) => l,
        Err(d) => panic!("proxy.toml does not load:\n{d}"),
    };
    let codes: Vec<&str> = loaded.warnings.items().iter().map(|w| w.code).collect();
    assert_eq!(codes, ["example_keys"], "{}", loaded.warnings);
    let names: Vec<&str> = loaded
        .config
        .routes
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "segment",
            "rudderstack",
            "posthog",
            "mixpanel",
            "amplitude",
            "ga4",
            "snowplow",
            "meta",
            "stripe",
            "sendgrid",
            "crm"
        ]
    );
    assert!(loaded.config.routes.iter().all(|r| r.polices_body()));
    assert_eq!(loaded.config.key_ids.len(), 3);
}

const THREE_MISTAKES: &str = r#"[server]
listen = "127.0.0.1:0"

[keys]
file = "keys.toml"

[[routes]]
name = "segment"
pathprefix = "/segment"
upstream = "https://api.segment.io"

[[routes.rules]]
select = ["$.userId", "$.batch[*"]
action = "tokenise"
"#;

#[test]
fn every_mistake_is_reported_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), crate::support::KEYS).expect("write");
    let d = config::from_toml(THREE_MISTAKES, "bad.toml", dir.path(), &NoEnv)
        .expect_err("three mistakes");
    let rendered = d.to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .filter(|l| l.contains(": error["))
        .collect();
    assert_eq!(
        lines,
        [
            "bad.toml:7:1: error[missing_key]: route `segment` is missing `path_prefix`",
            "bad.toml:9:1: error[unknown_key]: unknown key `pathprefix` in route `segment`",
            "bad.toml:13:31: error[bad_selector]: invalid selector: unclosed `[`",
            "bad.toml:14:10: error[bad_action]: unknown action `tokenise`",
        ],
        "{rendered}"
    );
    assert!(rendered.contains("help: did you mean `path_prefix`?"));
    assert!(rendered.contains("help: did you mean `tokenize`?"));
}

struct KeyringInEnv(String);

impl Env for KeyringInEnv {
    fn var(&self, name: &str) -> Option<String> {
        (name == "PIIGATE_KEYRING").then(|| self.0.clone())
    }
}

#[test]
fn keyring_env_var_wins_and_errors_never_echo_material() {
    let text = "[keys]\nfile = \"does-not-exist.toml\"\n\n[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\n[[routes.rules]]\nselect = \"$.a\"\naction = \"encrypt\"\n";
    let ok = config::from_toml(
        text,
        "p.toml",
        Path::new("."),
        &KeyringInEnv(crate::support::KEYS.to_owned()),
    );
    assert!(ok.is_ok(), "{:?}", ok.err());

    let secret = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0";
    let bad = format!("[[keys]]\nid = \"k1\"\nstatus = \"primary\"\nsecret = \"{secret}\"\n");
    let d = config::from_toml(text, "p.toml", Path::new("."), &KeyringInEnv(bad))
        .expect_err("bad keyring");
    let rendered = d.to_string();
    assert!(
        rendered.contains("$PIIGATE_KEYRING:4:10: error[bad_keyring]"),
        "{rendered}"
    );
    assert!(!rendered.contains(secret), "{rendered}");
}

/// Detection, allow-list mode and rule classes: every bad value located, with a fix.
#[test]
fn detection_options_are_validated_like_rules() {
    let route = "[keys]\nfile = \"keys.toml\"\n[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\n";
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), crate::support::KEYS).expect("write");
    let load =
        |extra: &str| config::from_toml(&format!("{route}{extra}"), "p.toml", dir.path(), &NoEnv);
    let bad = [
        (
            "detect = \"watch\"\n",
            "p.toml:7:10: error[bad_value]: `detect` must be",
        ),
        (
            "unknown_fields = \"deny\"\n",
            "p.toml:7:18: error[bad_value]: `unknown_fields` must be",
        ),
        (
            "detect = \"enforce\"\n[routes.detect_actions]\nemial = \"mask\"\n",
            "p.toml:9:1: error[unknown_key]: unknown key `emial`",
        ),
        (
            "detect = \"enforce\"\n[routes.detect_actions]\nphone = { action = \"mask\", to = \"ip/24\" }\n",
            "error[bad_option]: `to` does not apply to action `mask`",
        ),
        (
            "detect = \"enforce\"\n[routes.detect_actions]\nemail = \"reveal\"\n",
            "error[bad_action]: `reveal` decrypts",
        ),
        (
            "detect = \"enforce\"\n[routes.detect_actions]\ndefault = \"tokenise\"\n",
            "error[bad_action]: unknown action `tokenise`",
        ),
        (
            "[[routes.rules]]\nselect = \"$.a\"\naction = \"keep\"\nclass = \"emial\"\n",
            "p.toml:10:9: error[bad_value]: `emial` is not a PII class piigate knows",
        ),
        (
            "[[routes.response_rules]]\nselect = \"$.a\"\naction = \"keep\"\n",
            "error[bad_action]: response rules can only `reveal`, not `keep`",
        ),
    ];
    for (extra, want) in bad {
        let d = load(extra).expect_err(extra);
        let rendered = d.to_string();
        assert!(rendered.contains(want), "{extra}\n{rendered}");
    }
    let d = load("detect = \"enforce\"\n[routes.detect_actions]\nemial = \"mask\"\n")
        .expect_err("typo");
    assert!(d.to_string().contains("did you mean `email`?"), "{d}");

    // Actions for observe mode are accepted with a warning: they would do nothing.
    let loaded = load("detect = \"observe\"\n[routes.detect_actions]\nemail = \"mask\"\n")
        .expect("observe loads");
    assert!(
        loaded
            .warnings
            .to_string()
            .contains("warning[unused_detect_actions]"),
        "{}",
        loaded.warnings
    );

    // Every class gets an action; inline tables carry rule options; `default` fills the rest.
    let loaded = load(
        "detect = \"enforce\"\nunknown_fields = \"drop\"\n[routes.detect_actions]\nemail = \"tokenize\"\nphone = { action = \"mask\", keep_last = 2 }\ndefault = \"drop\"\n[[routes.rules]]\nselect = [\"$.batch[*].traits.email\", \"$.phone\", \"$.event\"]\naction = \"keep\"\n[[routes.rules]]\nselect = \"form:contact\"\naction = \"redact\"\nclass = \"phone\"\n",
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let r = &loaded.config.routes[0];
    assert!(r.allow_list && r.detect.is_some() && r.polices_body());
    let policy = r.plan.unselected.detect.as_ref().expect("detection");
    let kind = |c: Class| policy.action(c).map(|a| a.kind().as_str());
    assert_eq!(kind(Class::Email), Some("tokenize"));
    assert_eq!(kind(Class::Phone), Some("mask"));
    assert_eq!(kind(Class::Ssn), Some("drop"));
    // One compiled rule per class the selectors name, so the ledger tells them apart; then
    // the `form:` rule once more, for the top-level JSON member of that name.
    let classes: Vec<_> = r.plan.rules.iter().map(|r| r.class).collect();
    assert_eq!(
        classes,
        vec![
            Some(Class::Email),
            Some(Class::Phone),
            None,
            Some(Class::Phone)
        ]
    );
    assert_eq!(r.fields.form.rules[0].class, Some(Class::Phone));
    assert_eq!(&*r.fields.form.unselected.root, "form:");
}

/// `[server] runtime`: both spellings compile; anything else is located and named.
#[test]
fn server_runtime_is_work_stealing_or_per_core() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), crate::support::KEYS).expect("write");
    let with = |line: &str| {
        format!("[server]\nlisten = \"127.0.0.1:0\"\n{line}\n[keys]\nfile = \"keys.toml\"\n")
    };
    for (line, want) in [
        ("", config::Runtime::PerCore),
        ("runtime = \"work_stealing\"", config::Runtime::WorkStealing),
        ("runtime = \"per_core\"", config::Runtime::PerCore),
    ] {
        let loaded = config::from_toml(&with(line), "rt.toml", dir.path(), &NoEnv)
            .unwrap_or_else(|d| panic!("{line}: {d}"));
        assert_eq!(loaded.config.server.runtime, want, "{line}");
    }
    let d = config::from_toml(
        &with("runtime = \"thread_per_core\""),
        "rt.toml",
        dir.path(),
        &NoEnv,
    )
    .expect_err("unknown runtime");
    let rendered = d.to_string();
    assert!(
        rendered.contains("rt.toml:3:11: error[bad_value]: `runtime` must be"),
        "{rendered}"
    );
}

/// The options cell of the README's action table for `kind`, rendered from the action's own
/// declaration (the names, the values a choice takes, the defaults).
fn options_cell(kind: ActionKind) -> String {
    let options = kind.options();
    if options.is_empty() {
        return "—".to_owned();
    }
    let cells: Vec<String> = options
        .iter()
        .map(|o| {
            let mut cell = format!("`{}`", o.name);
            if !o.values.is_empty() {
                let values: Vec<String> = o.values.iter().map(|v| format!("`{v}`")).collect();
                cell.push_str(&format!(" = {}", values.join(" \\| ")));
            }
            cell.push_str(&match o.default {
                OptionDefault::Bool(b) => format!(" (default `{b}`)"),
                OptionDefault::Required => " (required)".to_owned(),
                OptionDefault::Text(t) => format!(" (default `{t}`)"),
                OptionDefault::Uint(n) => format!(" (default `{n}`)"),
                OptionDefault::Unset(what) => format!(" (default: {what})"),
            });
            cell
        })
        .collect();
    cells.join("; ")
}

#[test]
fn the_readme_action_table_matches_the_declared_options() {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README.md");
    for kind in ActionKind::ALL {
        let start = format!("| `{}` |", kind.as_str());
        let row = readme
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("README's action table has no row for `{}`", kind.as_str()));
        let cell = options_cell(kind);
        assert!(
            row.contains(&format!("| {cell} |")),
            "README row of `{}` should list its options as\n| {cell} |\nbut is\n{row}",
            kind.as_str()
        );
    }
}

/// `[routes.body_coding]`: every mistake located; a table that loads names its layers.
#[test]
fn body_codings_are_validated_and_located() {
    let route = "[keys]\nfile = \"keys.toml\"\n[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\n";
    let rules = "[[routes.rules]]\nselect = \"$..email\"\naction = \"redact\"\n";
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), crate::support::KEYS).expect("write");
    let load = |extra: &str| {
        config::from_toml(
            &format!("{route}{extra}{rules}"),
            "p.toml",
            dir.path(),
            &NoEnv,
        )
    };
    let bad = [
        (
            "[routes.body_coding]\nparam = \"compression\"\n",
            "p.toml:8:9: error[missing_key]: `param` names the coding by its values",
        ),
        (
            "[routes.body_coding]\nvalues = { gzip = \"gzip\" }\n",
            "error[missing_key]: `values` are values of a query parameter",
        ),
        (
            "[routes.body_coding]\nparam = \"compression\"\nvalues = { lz64 = \"lz-string\" }\n",
            "p.toml:9:19: error[bad_value]: `lz-string` is not a body coding",
        ),
        (
            "[routes.body_coding]\nparam = \"compression\"\nvalues = { b = \"form:data=>url\" }\n",
            "error[bad_value]: `form:data=>url` is not a body coding",
        ),
        (
            "[routes.body_coding]\nparam = \"compression\"\nvalues = { b = \"query:data=>base64\" }\n",
            "error[bad_value]: `query:data=>base64` is not a body coding",
        ),
        (
            "[routes.body_coding]\nsniff = \"zstd\"\n",
            "p.toml:8:9: error[bad_value]: `sniff` recognises \"gzip\"",
        ),
        (
            "[routes.body_coding]\nparam = \" c\"\nvalues = { gzip = \"gzip\" }\n",
            "error[bad_value]: `param` must be a plain query parameter name",
        ),
        (
            "[routes.body_coding]\nsnif = \"gzip\"\n",
            "did you mean `sniff`?",
        ),
    ];
    for (extra, want) in bad {
        let d = load(extra).expect_err(extra);
        let rendered = d.to_string();
        assert!(rendered.contains(want), "{extra}\n{rendered}");
    }
    let loaded = load(
        "on_opt_out = \"strict\"\n[routes.body_coding]\nparam = \"compression\"\nvalues = { \"gzip-js\" = \"gzip\", base64 = \"form:data=>base64\", none = \"identity\" }\nsniff = \"gzip\"\n",
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let coding = loaded.config.routes[0]
        .body_coding
        .as_ref()
        .expect("compiled");
    assert_eq!(coding.param.as_deref(), Some("compression"));
    assert!(coding.sniff_gzip);
    assert!(matches!(
        coding.layer("gzip-js"),
        Some(piigate::policy::BodyLayer::Gzip)
    ));
    assert!(matches!(
        coding.layer("none"),
        Some(piigate::policy::BodyLayer::Identity)
    ));
    let Some(piigate::policy::BodyLayer::Form(doc)) = coding.layer("base64") else {
        panic!("a form layer");
    };
    // The document's plan is the route's own, under the opt-out too.
    assert_eq!(&*doc.plans.form.rules[0].name, "data");
    assert!(doc.strict.is_some());
    assert!(coding.layer("lz64").is_none());
}

/// No rule may name a field that says how the request is framed or read: the gateway reads the
/// body's `Content-Type` once, before the header rules run, and polices the body as it said.
#[test]
fn header_rules_cannot_name_the_fields_that_frame_the_body() {
    let route = "[keys]\nfile = \"keys.toml\"\n[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\n";
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), crate::support::KEYS).expect("write");
    for name in ["content-type", "Content-Type", "content-encoding"] {
        for select in [format!("header:{name}"), format!("header:{name}=>base64")] {
            let toml =
                format!("{route}[[routes.rules]]\nselect = \"{select}\"\naction = \"redact\"\n");
            let d = config::from_toml(&toml, "p.toml", dir.path(), &NoEnv)
                .expect_err("a rule on a framing field");
            let rendered = d.to_string();
            assert!(
                rendered.contains("error[bad_selector]") && rendered.contains("frames the request"),
                "{select}: {rendered}"
            );
        }
    }
}
