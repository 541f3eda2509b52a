//! The `piigate` binary as a user runs it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use http::Method;

use crate::support::{Reply, Stack, Upstream, assert_absent, beacon_form, repo, write_config};

fn piigate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_piigate"));
    c.env_remove("PIIGATE_KEYRING").env_remove("RUST_LOG");
    c
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = piigate()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn piigate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn check_accepts_the_shipped_config() {
    let out = piigate()
        .args(["check", "--config"])
        .arg(repo("proxy.toml"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok (11 route(s), 3 key(s)"));
    // Every route with where it sends and what it does.
    assert!(
        stdout.contains(
            "route crm: /crm -> https://crm.example.com/api (processor; domain crm): encrypt, mask; response reveal"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("route segment: /segment -> https://api.segment.io (analytics; domain segment): tokenize, encrypt, generalize, redact, drop, keep; preset segment, detect enforce"), "{stdout}");
}

/// `check` says how a route reads bodies its vendor codes outside `Content-Encoding`.
#[test]
fn check_names_a_routes_body_coding() {
    let (_dir, path) = write_config(
        "[keys]\nfile = \"keys.toml\"\n[[routes]]\nname = \"ph\"\npath_prefix = \"/ph\"\nupstream = \"http://127.0.0.1:9\"\n\
         [routes.body_coding]\nparam = \"compression\"\nvalues = { \"gzip-js\" = \"gzip\", base64 = \"form:data=>base64\" }\nsniff = \"gzip\"\n\
         [[routes.rules]]\nselect = \"$..distinct_id\"\naction = \"tokenize\"\n",
    );
    let out = piigate()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("tokenize; body coding compression=gzip-js|base64, sniff gzip"),
        "{stdout}"
    );
}

#[test]
fn check_reports_problems_and_exits_1() {
    let (dir, path) = write_config(
        "[server]\nlisten = \"nope\"\n[[routes]]\nname = \"x\"\npath_prefix = \"/x\"\nupstream = \"ftp://x\"\n",
    );
    let out = piigate()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let p = path.display().to_string();
    assert!(
        stdout.contains(&format!("{p}:2:10: error[bad_address]")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{p}:6:12: error[bad_upstream]")),
        "{stdout}"
    );
    drop(dir);
}

#[test]
fn preview_then_reveal_round_trips() {
    let event = br#"{"userId":"user-1","traits":{"email":"Eve@Example.com","phone":"+92 300 1234567","name":"Eve"},"context":{"ip":"198.51.100.4"}}"#;
    let config = repo("proxy.toml").display().to_string();
    let out = run_with_stdin(
        &["preview", "--config", &config, "--route", "segment"],
        event,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_absent(
        &out.stdout,
        &[
            "user-1",
            "Eve@Example.com",
            "+92 300 1234567",
            "198.51.100.4",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("preview prints JSON");
    assert_eq!(v["traits"]["name"], "[REDACTED:name]");
    assert_eq!(v["context"], serde_json::json!({}));

    let back = run_with_stdin(
        &["reveal", "--config", &config, "--route", "segment"],
        &out.stdout,
    );
    assert!(
        back.status.success(),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    let r: Value = serde_json::from_slice(&back.stdout).expect("reveal prints JSON");
    assert_eq!(r["traits"]["phone"], "+92 300 1234567");

    // Another recipient's keys cannot open it, and the error says nothing about the value.
    let foreign = run_with_stdin(
        &["reveal", "--config", &config, "--route", "crm"],
        &out.stdout,
    );
    assert!(!foreign.status.success());
    let err = String::from_utf8_lossy(&foreign.stderr);
    assert!(err.contains("could not be opened"), "{err}");
    assert_absent(err.as_bytes(), &["+92 300 1234567"]);
}

/// A route with deterministic actions only (the CLI's preview must equal what the gateway
/// forwards byte for byte) on every format: form fields, query parameters and NDJSON lines.
const PARITY: &str = r#"
[[routes]]
name = "app"
path_prefix = "/app"
upstream = "http://{up}"

[[routes.rules]]
select = ["form:email", "query:uid", "$.userId"]
action = "tokenize"
normalize = "lowercase"

[[routes.rules]]
select = ["form:phone", "query:phone", "$.traits.phone"]
action = "encrypt_deterministic"

[[routes.rules]]
select = ["form:card[number]", "$.traits.card"]
action = "mask"

[[routes.rules]]
select = ["form:ip", "query:ip", "$.context.ip"]
action = "drop"
"#;

/// Runs `piigate ARGS... -` on `stdin` and returns stdout without the newline `write_output`
/// adds to a payload that does not end with one.
fn cli_payload(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = run_with_stdin(args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut stdout = out.stdout;
    if !stdin.ends_with(b"\n") && stdout.ends_with(b"\n") {
        stdout.pop();
    }
    stdout
}

#[tokio::test]
async fn preview_and_reveal_agree_with_the_gateway_on_forms_ndjson_and_queries() {
    let Stack { up, gw, client } = Stack::start(Reply::Ok, PARITY).await;
    let config = gw.config_path().display().to_string();
    const PHONE: &str = "+1 415 555 0100";
    let form = "email=Eve%40Example.com&phone=%2B1+415+555+0100&card[number]=4111+1111+1111+1234&ip=198.51.100.4&plan=pro";
    let ndjson = "{\"userId\":\"User-1\",\"traits\":{\"phone\":\"+1 415 555 0100\",\"card\":\"4111 1111 1111 1234\"},\"context\":{\"ip\":\"198.51.100.4\"}}\r\n\n{\"userId\":\"user-2\",\"event\":\"x\"}\n";
    let query = "uid=User-1&phone=%2B1+415+555+0100&ip=198.51.100.4&v=1";
    let cases = [
        ("application/x-www-form-urlencoded", form),
        ("application/x-ndjson", ndjson),
    ];
    for (i, (content_type, body)) in cases.into_iter().enumerate() {
        let got = client
            .send(
                Method::POST,
                "/app/v1/e",
                &[("content-type", content_type)],
                body.to_owned(),
            )
            .await;
        assert_eq!(got.status, 200, "{content_type}");
        let forwarded = up.requests()[i].body.clone();
        assert_absent(
            &forwarded,
            &["Eve@Example.com", "User-1", "198.51.100.4", PHONE],
        );
        let args = [
            "preview",
            "--config",
            &config,
            "--route",
            "app",
            "--content-type",
            content_type,
        ];
        assert_eq!(
            cli_payload(&args, body.as_bytes()),
            forwarded,
            "preview of a {content_type} body is what the gateway forwarded"
        );
        let args = [
            "reveal",
            "--config",
            &config,
            "--route",
            "app",
            "--content-type",
            content_type,
        ];
        let revealed = cli_payload(&args, &forwarded);
        let text = String::from_utf8(revealed).expect("utf8");
        let phone = if content_type.contains("form") {
            "phone=%2B1+415+555+0100"
        } else {
            PHONE
        };
        assert!(text.contains(phone), "{content_type}: {text}");
        assert!(
            !text.contains("pgd1."),
            "{content_type}: every envelope opened: {text}"
        );
    }

    let got = client
        .send(Method::GET, &format!("/app/v1/e?{query}"), &[], "")
        .await;
    assert_eq!(got.status, 200);
    let uri = up.requests()[2].uri.clone();
    let forwarded = uri.split_once('?').map(|(_, q)| q).expect("a query");
    assert_absent(forwarded.as_bytes(), &["User-1", "198.51.100.4"]);
    let args = ["preview", "--config", &config, "--route", "app", "--query"];
    assert_eq!(
        String::from_utf8(cli_payload(&args, query.as_bytes())).expect("utf8"),
        forwarded,
        "preview of a query string is what the gateway forwarded"
    );
    let args = ["reveal", "--config", &config, "--route", "app", "--query"];
    let revealed = String::from_utf8(cli_payload(&args, forwarded.as_bytes())).expect("utf8");
    assert!(revealed.contains("phone=%2B1+415+555+0100"), "{revealed}");
}

/// Routes whose vendors code bodies outside `Content-Encoding` (posthog-js: gzip sniffed or
/// named by `?compression=`, a base64 form beacon; gtag.js: one form per text line), with
/// deterministic actions only, so the CLI's preview must equal the gateway's forward byte for
/// byte.
const CODED: &str = r#"
[[routes]]
name = "ph"
path_prefix = "/ph"
upstream = "http://{up}"

[routes.body_coding]
param = "compression"
values = { "gzip-js" = "gzip", base64 = "form:data=>base64" }
sniff = "gzip"

[[routes.rules]]
select = "$..distinct_id"
action = "tokenize"

[[routes.rules]]
select = "$..email"
action = "encrypt_deterministic"

[[routes]]
name = "ga"
path_prefix = "/ga"
upstream = "http://{up}"

[routes.body_coding]
text = "form_lines"

[[routes.rules]]
select = "query:uid"
action = "tokenize"

[[routes.rules]]
select = "query:ep.email"
action = "encrypt_deterministic"
"#;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(bytes), &mut out)
        .expect("gunzip");
    out
}

#[tokio::test]
async fn preview_and_reveal_read_vendor_body_codings_as_the_gateway_does() {
    use base64::Engine as _;
    let Stack { up, gw, client } = Stack::start(Reply::Ok, CODED).await;
    let config = gw.config_path().display().to_string();
    const EMAIL: &str = "eve@example.com";
    let doc = format!(
        r#"{{"api_key":"k","batch":[{{"distinct_id":"User-1","properties":{{"email":"{EMAIL}"}}}}]}}"#
    );
    let beacon = beacon_form(&doc);
    let lines = "en=purchase&ep.email=eve%40example.com&uid=User-1\r\nen=x&uid=User-1\r\n";
    // (route, request query, content type, content encoding, body, the document is base64 in
    // the form's `data`)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Vec<u8>, bool);
    let cases: Vec<Case<'_>> = vec![
        // posthog-js today: gzip labelled text, no signal but the magic bytes.
        ("ph", "", "text/plain", None, gzip(doc.as_bytes()), false),
        // Older posthog-js: the coding named in the query.
        (
            "ph",
            "compression=gzip-js",
            "text/plain",
            None,
            gzip(doc.as_bytes()),
            false,
        ),
        // The sendBeacon fallback: a form whose `data` is base64 of the batch.
        (
            "ph",
            "compression=base64",
            "application/x-www-form-urlencoded",
            None,
            beacon.clone().into_bytes(),
            true,
        ),
        // posthog-node: JSON with Content-Encoding.
        (
            "ph",
            "",
            "application/json",
            Some("gzip"),
            gzip(doc.as_bytes()),
            false,
        ),
        // gtag.js's batch: one hit per text line.
        (
            "ga",
            "",
            "text/plain;charset=UTF-8",
            None,
            lines.as_bytes().to_vec(),
            false,
        ),
    ];
    for (i, (route, query, content_type, encoding, body, in_field)) in cases.into_iter().enumerate()
    {
        let label = format!("{route} ?{query} {content_type} {encoding:?}");
        let target = format!("/{route}/e/?{query}");
        let mut headers = vec![("content-type", content_type)];
        if let Some(e) = encoding {
            headers.push(("content-encoding", e));
        }
        let got = client
            .send(Method::POST, &target, &headers, body.clone())
            .await;
        assert_eq!(
            got.status,
            200,
            "{label}: {:?}",
            String::from_utf8_lossy(&got.body)
        );
        let forwarded = up.requests()[i].body.to_vec();
        let mut args = vec![
            "--config",
            &config,
            "--route",
            route,
            "--content-type",
            content_type,
        ];
        if let Some(e) = encoding {
            args.extend(["--content-encoding", e]);
        }
        if !query.is_empty() {
            args.extend(["--request-query", query]);
        }
        let mut preview = vec!["preview"];
        preview.extend(&args);
        let out = run_with_stdin(&preview, &body);
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut previewed = out.stdout;
        // Text gets a newline for the terminal; coded bytes come as they are.
        if !forwarded.ends_with(b"\n") && std::str::from_utf8(&forwarded).is_ok() {
            assert_eq!(previewed.pop(), Some(b'\n'), "{label}");
        }
        assert_eq!(
            previewed, forwarded,
            "{label}: preview is byte for byte what the gateway forwarded"
        );
        let plain = if forwarded.starts_with(&[0x1f, 0x8b]) {
            gunzip(&forwarded)
        } else {
            forwarded.clone()
        };
        assert_absent(&plain, &[EMAIL, "eve%40example.com", "User-1"]);
        let mut reveal = vec!["reveal"];
        reveal.extend(&args);
        let out = run_with_stdin(&reveal, &forwarded);
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Coded back as it came, with the envelope open inside.
        assert_eq!(
            out.stdout.starts_with(&[0x1f, 0x8b]),
            forwarded.starts_with(&[0x1f, 0x8b]),
            "{label}"
        );
        let opened = if out.stdout.starts_with(&[0x1f, 0x8b]) {
            gunzip(&out.stdout)
        } else {
            out.stdout.clone()
        };
        let mut text = String::from_utf8(opened).expect("utf8");
        if in_field {
            // Still the beacon form, its document opened inside the base64.
            let data = text
                .trim_end()
                .strip_prefix("data=")
                .expect("the beacon form")
                .replace("%2B", "+")
                .replace("%2F", "/")
                .replace("%3D", "=");
            let doc = base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("standard base64");
            text = String::from_utf8(doc).expect("utf8");
        }
        assert!(
            text.contains(EMAIL) || text.contains("eve%40example.com"),
            "{label}: {text}"
        );
    }
}

#[test]
fn keygen_prints_a_usable_entry() {
    let out = piigate()
        .args(["keygen", "--id", "k9", "--status", "primary"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    let ring = piigate::keys::Keyring::from_text(&text, "keygen").expect("parses");
    assert_eq!(ring.primary().map(|k| k.id().as_str()), Some("k9"));
    let again = piigate()
        .args(["keygen", "--id", "k9"])
        .output()
        .expect("run");
    assert_ne!(
        text.as_bytes(),
        &again.stdout[..],
        "fresh randomness each time"
    );
}

/// `reveal --route` is the route's inverse: with only the route name, every reversible action
/// at its rules' paths is undone — FPE with its own options (Luhn, keep_last, an alphanumeric
/// alphabet), both envelope kinds, in a JSON body and a form — and what does not open is named
/// by field, never by value.
#[test]
fn reveal_inverts_the_routes_fpe_and_envelopes_and_names_fields_that_do_not_open() {
    let (_dir, path) = write_config(
        "[keys]\nfile = \"keys.toml\"\n\
         [[routes]]\nname = \"pay\"\npath_prefix = \"/pay\"\nupstream = \"http://127.0.0.1:9\"\n\
         [[routes.rules]]\nselect = [\"$.card\", \"form:card\"]\naction = \"fpe\"\nluhn = true\nkeep_last = 4\n\
         [[routes.rules]]\nselect = \"$.account\"\naction = \"fpe\"\nalphabet = \"alphanumeric\"\n\
         [[routes.rules]]\nselect = [\"$.phone\", \"form:phone\"]\naction = \"encrypt\"\n\
         [[routes.rules]]\nselect = \"$.email\"\naction = \"encrypt_deterministic\"\n\
         [[routes.rules]]\nselect = \"$.userId\"\naction = \"tokenize\"\n",
    );
    let config = path.display().to_string();
    let event = br#"{"userId":"u-77","card":"4111 1111 1111 1111","account":"AB12CD34EF","phone":"+44 20 7946 0321","email":"eve@example.com","note":"kept"}"#;
    let sealed = run_with_stdin(&["preview", "--config", &config, "--route", "pay"], event);
    assert!(
        sealed.status.success(),
        "{}",
        String::from_utf8_lossy(&sealed.stderr)
    );
    let v: Value = serde_json::from_slice(&sealed.stdout).expect("json");
    assert_ne!(v["card"], "4111 1111 1111 1111");
    assert!(v["card"].as_str().expect("card").ends_with("1111"));
    assert_ne!(v["account"], "AB12CD34EF");

    let back = run_with_stdin(
        &["reveal", "--config", &config, "--route", "pay"],
        &sealed.stdout,
    );
    assert!(
        back.status.success(),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    let r: Value = serde_json::from_slice(&back.stdout).expect("json");
    assert_eq!(r["card"], "4111 1111 1111 1111");
    assert_eq!(r["account"], "AB12CD34EF");
    assert_eq!(r["phone"], "+44 20 7946 0321");
    assert_eq!(r["email"], "eve@example.com");
    assert_eq!(r["note"], "kept");
    assert_eq!(
        r["userId"], v["userId"],
        "a token cannot be reversed and stays"
    );

    // A form: the same rules at form: selectors.
    let form = b"card=4111111111111111&phone=%2B44+20+7946+0321";
    let form_args = ["--content-type", "application/x-www-form-urlencoded"];
    let mut args = vec!["preview", "--config", &config, "--route", "pay"];
    args.extend(form_args);
    let sealed_form = run_with_stdin(&args, form);
    assert!(
        sealed_form.status.success(),
        "{}",
        String::from_utf8_lossy(&sealed_form.stderr)
    );
    let mut args = vec!["reveal", "--config", &config, "--route", "pay"];
    args.extend(form_args);
    // The CLI ends its output with a newline; the form itself is the line.
    let sealed_form = sealed_form.stdout.strip_suffix(b"\n").expect("a line");
    let back_form = run_with_stdin(&args, sealed_form);
    assert!(
        back_form.status.success(),
        "{}",
        String::from_utf8_lossy(&back_form.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&back_form.stdout).trim_end(),
        String::from_utf8_lossy(form)
    );

    // A tampered envelope and an fpe field holding no digits: refused, fields named, no value.
    let mut broken = v.clone();
    let phone = v["phone"].as_str().expect("phone");
    let mut tampered = phone.as_bytes().to_vec();
    let n = tampered.len() - 3;
    tampered[n] = if tampered[n] == b'A' { b'B' } else { b'A' };
    broken["phone"] = Value::from(String::from_utf8(tampered).expect("ascii"));
    broken["card"] = Value::from("card-on-file");
    let broken = serde_json::to_vec(&broken).expect("json");
    let out = run_with_stdin(&["reveal", "--config", &config, "--route", "pay"], &broken);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no partial output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 value(s) could not be opened, in field(s) card, phone"),
        "{err}"
    );
    assert_absent(
        err.as_bytes(),
        &["card-on-file", "7946", "eve@example.com", "AB12CD34EF"],
    );
}

/// A new user's first keyring works: the first key `keygen` writes is primary, the next ones
/// are active (a second primary would be refused), the file is owner-only and the key is never
/// printed when it goes to a file.
#[test]
fn keygen_keyring_makes_the_first_key_primary_and_later_ones_active() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = dir.path().join("keys.toml");
    let add = |id: &str, extra: &[&str]| {
        piigate()
            .args(["keygen", "--id", id, "--keyring"])
            .arg(&ring)
            .args(extra)
            .output()
            .expect("run")
    };
    let first = add("k1", &[]);
    assert!(first.status.success());
    assert!(
        first.stdout.is_empty(),
        "nothing printed: the key went to the file"
    );
    let second = add("k2", &[]);
    assert!(second.status.success());
    let text = std::fs::read_to_string(&ring).expect("read");
    for secret in text.lines().filter(|l| l.starts_with("secret")) {
        let b64 = secret.split('"').nth(1).expect("quoted");
        for out in [&first, &second] {
            assert!(!String::from_utf8_lossy(&out.stderr).contains(b64));
        }
    }
    let keys = piigate::keys::Keyring::from_text(&text, "keys.toml").expect("parses");
    assert_eq!(keys.primary().map(|k| k.id().as_str()), Some("k1"));
    assert_eq!(
        keys.get("k2").map(piigate::keys::MasterKey::status),
        Some(piigate::keys::KeyStatus::Active)
    );
    let mode = std::fs::metadata(&ring).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second primary, or a duplicate id, is refused and the file is unchanged.
    let refused = add("k3", &["--status", "primary"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already has a primary key"));
    let dup = add("k1", &[]);
    assert!(!dup.status.success());
    assert_eq!(std::fs::read_to_string(&ring).expect("read"), text);
}

/// The public example keys are called out by `check` and `serve`, and counted on /metrics.
#[test]
fn example_keys_are_warned_about_by_check() {
    let out = piigate()
        .args(["check", "--config"])
        .arg(repo("proxy.toml"))
        .env("PIIGATE_STATE_DIR", std::env::temp_dir())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("warning[example_keys]: PUBLIC EXAMPLE KEYS IN USE (k2, k1, k0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("WARNING: the keyring holds the PUBLIC example keys"),
        "{stdout}"
    );
}

/// A rule that needs a key, with no keyring, explains how to make one (not the example file).
#[test]
fn missing_keyring_help_explains_keygen() {
    let (_dir, path) = write_config(
        "[[routes]]\nname = \"x\"\npath_prefix = \"/x\"\nupstream = \"http://127.0.0.1:9\"\n\
         [[routes.rules]]\nselect = \"$.a\"\naction = \"encrypt\"\n",
    );
    let out = piigate()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("error[no_keyring]"), "{stdout}");
    assert!(
        stdout.contains("piigate keygen --keyring keys.toml"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("set [keys] file = \"keys.example\""),
        "{stdout}"
    );
}

/// A keyring without a primary key is one error at the keyring, not one per rule.
#[test]
fn a_keyring_without_a_primary_key_is_reported_once_at_the_keyring() {
    let (dir, path) = write_config(
        "[keys]\nfile = \"active.toml\"\n[[routes]]\nname = \"x\"\npath_prefix = \"/x\"\n\
         upstream = \"http://127.0.0.1:9\"\n\
         [[routes.rules]]\nselect = \"$.a\"\naction = \"encrypt\"\n\
         [[routes.rules]]\nselect = \"$.b\"\naction = \"tokenize\"\n",
    );
    let ring = dir.path().join("active.toml");
    let gen_ = piigate()
        .args(["keygen", "--id", "k1", "--status", "active"])
        .output()
        .expect("keygen");
    std::fs::write(&ring, &gen_.stdout).expect("write");
    let out = piigate()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(stdout.matches("error[").count(), 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!("{}: error[no_primary_key]", ring.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("first needed by action `encrypt` at"),
        "{stdout}"
    );
}

/// Canaries through the real binary: success and error paths; none may reach the log.
#[tokio::test]
async fn serve_logs_never_contain_payload_values() {
    let up = Upstream::start(None, Reply::Ok).await;
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[keys]\nfile = \"keys.toml\"\n\
         [[routes]]\nname = \"segment\"\npath_prefix = \"/segment\"\nupstream = \"http://{}\"\n\
         [[routes.rules]]\nselect = \"$..email\"\naction = \"tokenize\"\n",
        up.addr
    );
    let (dir, path) = write_config(&cfg);
    let mut child = piigate()
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&path)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).expect("read") > 0,
            "piigate exited early: {log}"
        );
        log.push_str(&line);
        if line.contains("Listening.") && line.contains("\"proxy\"") {
            let v: Value = serde_json::from_str(&line).expect("json log line");
            break v["addr"].as_str().expect("addr").to_owned();
        }
    };
    let canary = "canary-7f3a9c@leak.example";
    let bodies = [
        format!(r#"{{"email":"{canary}"}}"#), // forwarded, tokenized
        format!(r#"{{"email":"{canary}""#),   // malformed
        format!(
            r#"{{"a":{}"{canary}"{}}}"#,
            "[".repeat(300),
            "]".repeat(300)
        ), // too deep
    ];
    let client = reqwest_like::Client;
    for b in &bodies {
        client
            .post(&format!("http://{addr}/segment/v1/track?email={canary}"), b)
            .await;
    }
    client
        .post(&format!("http://{addr}/nowhere/{canary}"), "{}")
        .await;
    assert_absent(&up.requests()[0].body, &[canary]);

    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read");
    log.push_str(&rest);
    let exit = child.wait().expect("wait");
    assert!(
        exit.success(),
        "SIGTERM is a clean shutdown: {exit:?}\n{log}"
    );
    assert!(
        log.contains("Request forwarded.") && log.contains("Request rejected."),
        "{log}"
    );
    assert_absent(log.as_bytes(), &[canary, "leak.example"]);
    drop(dir);
}

/// Minimal HTTP/1.1 client over a raw socket (keeps this test independent of the client
/// used elsewhere).
mod reqwest_like {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub struct Client;

    impl Client {
        pub async fn post(&self, url: &str, body: &str) -> String {
            let rest = url.strip_prefix("http://").expect("http url");
            let (host, path) = rest.split_once('/').expect("path");
            let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
            let req = format!(
                "POST /{path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).await.expect("write");
            let mut out = String::new();
            tokio::time::timeout(super::Duration::from_secs(10), s.read_to_string(&mut out))
                .await
                .expect("answer")
                .expect("read");
            out
        }
    }
}
