//! `scrub`: personal data inside text values, found and treated span by span, through the
//! compiled config and the rewriter, and through the real stack (gateway and recording
//! upstream) with a SendGrid mail and a Stripe charge.

use std::path::Path;
use std::sync::Arc;

use http::Method;
use piigate::config::{self, Route};
use piigate::crypto::OsNonces;
use piigate::detect::Class;
use piigate::policy::{ActionKind, ApplyCx, DetectPolicy, Treatment};
use piigate::rewrite::{Format, Limits, Outcome, rewrite_payload};
use serde_json::Value;

use crate::support::{Client, KEYS, NoEnv, Proto, Reply, Stack, assert_absent, gateway_config};

const NAME: &str = "Ottilie Brandvold";
const EMAIL: &str = "ottilie.brandvold@example.org";
const PHONE: &str = "+44 20 7946 0958";
const CARD: &str = "4111 1111 1111 1111";

const ROUTES: &str = r#"
[[routes]]
name = "sendgrid"
path_prefix = "/sendgrid"
upstream = "http://{up}"

[[routes.rules]]
select = "$.personalizations[*].to[*].name"
action = "tokenize"
class = "person_name"

[[routes.rules]]
select = "$.personalizations[*].to[*].email"
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = ["$.subject", "$.content[*].value"]
action = "scrub"
email = "tokenize"

[[routes]]
name = "stripe"
path_prefix = "/stripe"
upstream = "http://{up}"

[[routes.rules]]
select = "form:description"
action = "scrub"
text = "plain"
echo = "off"

[[routes.rules]]
select = "form:receipt_email"
action = "tokenize"
normalize = "email"

[[routes]]
name = "tickets"
path_prefix = "/tickets"
upstream = "http://{up}"
detect = "enforce"

[routes.detect_actions]
text = "scrub"

[[routes]]
name = "across"
path_prefix = "/across"
upstream = "http://{up}"

[[routes.rules]]
select = "query:q"
action = "scrub"

[[routes.rules]]
select = "query:uid"
action = "tokenize"

[[routes.rules]]
select = "header:x-account"
action = "tokenize"

[[routes.rules]]
select = "cookie:crm"
action = "tokenize"

[[routes.rules]]
select = "$.note"
action = "scrub"

[[routes.rules]]
select = "$.user.name"
action = "tokenize"
class = "person_name"

[[routes]]
name = "crm"
path_prefix = "/crm"
upstream = "http://{up}"
detect = "enforce"

[[routes.rules]]
select = "$.user.name"
action = "tokenize"
class = "person_name"

[[routes.rules]]
select = ["$.user.id", "query:uid"]
action = "tokenize"

[[routes]]
name = "crm_observe"
path_prefix = "/crm-observe"
upstream = "http://{up}"
detect = "observe"

[[routes.rules]]
select = "$.user.name"
action = "tokenize"
class = "person_name"

[[routes.rules]]
select = "$.user.id"
action = "tokenize"

[[routes]]
name = "crm_echo_off"
path_prefix = "/crm-echo-off"
upstream = "http://{up}"
detect = "enforce"

[routes.detect_actions]
echo = "off"

[[routes.rules]]
select = "$.user.name"
action = "tokenize"
class = "person_name"

[[routes]]
name = "crm_echo_mask"
path_prefix = "/crm-echo-mask"
upstream = "http://{up}"
detect = "enforce"

[routes.detect_actions]
echo = "mask"

[[routes.rules]]
select = "$.user.name"
action = "tokenize"
class = "person_name"

[[routes]]
name = "whole"
path_prefix = "/whole"
upstream = "http://{up}"
detect = "enforce"

[[routes]]
name = "dropped"
path_prefix = "/dropped"
upstream = "http://{up}"

[[routes.rules]]
select = ["$.title", "$.messages[*].text"]
action = "scrub"

[[routes.rules]]
select = "$.profile.nickname"
action = "drop"

[[routes.rules]]
select = "$.profile.full_name"
action = "drop"
class = "person_name"
"#;

fn routes() -> Vec<Arc<Route>> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), KEYS).expect("write");
    let loaded = config::from_toml(
        &gateway_config(([127, 0, 0, 1], 9).into(), ROUTES),
        "p.toml",
        dir.path(),
        &NoEnv,
    )
    .unwrap_or_else(|d| panic!("{d}"));
    loaded.config.routes
}

fn route(routes: &[Arc<Route>], name: &str) -> Arc<Route> {
    routes
        .iter()
        .find(|r| r.name == name)
        .cloned()
        .expect("route")
}

/// The `tickets` route and the detection its unselected JSON leaves get.
fn tickets_detect(routes: &[Arc<Route>]) -> (Arc<Route>, Arc<DetectPolicy>) {
    let tickets = route(routes, "tickets");
    let detect = tickets.plans().json.unselected.detect.clone();
    (tickets, detect.expect("the tickets route detects"))
}

/// A SendGrid v3 mail whose HTML body greets the recipient, repeats their email (as an HTML
/// reference), phone and card, and links to a `mailto:`. The body comes *before* the
/// personalizations that name the person.
fn mail() -> String {
    let html = format!(
        "<html><body><p>Dear Ottilie,</p><p>Your order has shipped. Questions? Write to \
         <a href=\"mailto:ottilie.brandvold%40example.org\">ottilie.brandvold&#64;example.org</a> \
         or we call {PHONE}.</p><p>Charged to {CARD}, Brandvold household.</p></body></html>"
    );
    serde_json::json!({
        "from": {"email": "shop@example.com"},
        "subject": format!("Your order, {NAME}"),
        "content": [{"type": "text/html", "value": html}],
        "personalizations": [{"to": [{"email": EMAIL, "name": NAME}]}],
    })
    .to_string()
}

fn rewrite(route: &Route, format: Format, input: &str) -> (String, ApplyCx<'static>) {
    let nonces: &'static mut OsNonces = Box::leak(Box::new(OsNonces::new()));
    let mut cx = ApplyCx::new(nonces);
    let mut out = Vec::new();
    let limits = Limits { max_depth: 64 };
    let got = rewrite_payload(
        format,
        input.as_bytes(),
        route.plans(),
        &limits,
        &mut cx,
        &mut out,
    )
    .expect("rewrite");
    let text = match got {
        Outcome::Unchanged => input.to_owned(),
        Outcome::Rewritten => String::from_utf8(out).expect("utf8"),
    };
    (text, cx)
}

#[test]
fn scrub_replaces_the_spans_and_keeps_the_rest_of_the_mail() {
    let routes = routes();
    let (out, cx) = rewrite(&route(&routes, "sendgrid"), Format::Json, &mail());
    let doc: Value = serde_json::from_str(&out).expect("still JSON");
    let html = doc["content"][0]["value"].as_str().expect("html");
    // Everything around the spans is as it came, markup included.
    assert!(html.starts_with("<html><body><p>Dear "), "{html}");
    assert!(
        html.contains("Your order has shipped. Questions? Write to"),
        "{html}"
    );
    assert!(
        html.contains("</a> or we call [REDACTED:phone].</p>"),
        "{html}"
    );
    // Cards are masked to their last four by default.
    assert!(html.contains("Charged to **** **** **** 1111, "), "{html}");
    // The email (in the link, percent-encoded, and in the text, as `&#64;`) is tokenized as
    // an email: both spellings give the same token.
    let tokens: Vec<&str> = html
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| w.starts_with("tok_"))
        .collect();
    assert_eq!(tokens.len(), 2, "{html}");
    assert_eq!(tokens[0], tokens[1], "one token for both spellings");
    // The name the personalizations give is found in the body and the subject although it
    // comes after them in the document, whole and by its parts.
    assert_absent(
        out.as_bytes(),
        &[NAME, "Ottilie", "Brandvold", EMAIL, PHONE, CARD],
    );
    assert!(html.contains("<p>Dear [REDACTED],</p>"), "{html}");
    assert_eq!(doc["subject"], "Your order, [REDACTED]");
    assert!(
        doc["personalizations"][0]["to"][0]["name"]
            .as_str()
            .is_some_and(|t| t.starts_with("tok_"))
    );

    // The ledger counts each span under its class's category and its treatment, as it
    // counts fields; the access log counts each span's action, and `scrub` once per text it
    // changed.
    let d = &cx.disclosed;
    let cells: Vec<_> = d.cells().collect();
    // Identifiers: the email and name fields, and the two spellings of the email in the body
    // (tokenized); the echoes of the name, "Ottilie" and "Brandvold" in the body and the full
    // name in the subject (redacted).
    assert_eq!(
        d.get(Some(Class::Email), Treatment::Tokenized),
        2 + 2,
        "{cells:?}"
    );
    assert_eq!(
        d.get(Some(Class::PersonName), Treatment::Redacted),
        3,
        "{cells:?}"
    );
    // Customer records: the card (masked) and the phone (redacted).
    assert_eq!(
        d.get(Some(Class::PaymentCard), Treatment::Masked),
        1,
        "{cells:?}"
    );
    assert_eq!(
        d.get(Some(Class::Phone), Treatment::Redacted),
        1,
        "{cells:?}"
    );
    assert_eq!(d.total(), 4 + 3 + 1 + 1, "{cells:?}");
    assert_eq!(cx.counts.get(ActionKind::Scrub), 2);
    assert_eq!(cx.counts.get(ActionKind::Redact), 4);
    assert_eq!(cx.counts.get(ActionKind::Mask), 1);
}

#[test]
fn text_without_personal_data_is_forwarded_untouched() {
    let routes = routes();
    let input = r#"{"subject":"Your order has shipped","content":[{"type":"text/plain","value":"Order 4471-2298 ships on 2026-12-08, v2.4.1, total $1,299.00."}]}"#;
    let (out, cx) = rewrite(&route(&routes, "sendgrid"), Format::Json, input);
    assert_eq!(out, input);
    assert_eq!(cx.counts.total(), 0);
    assert_eq!(cx.disclosed.total(), 0);
}

#[test]
fn form_fields_are_scrubbed_in_their_decoded_form() {
    let routes = routes();
    let input = "amount=2000&currency=usd&description=Refund+for+ottilie.brandvold%40example.org%2C+card+4111-1111-1111-1111&receipt_email=ottilie.brandvold%40example.org";
    let (out, _) = rewrite(&route(&routes, "stripe"), Format::Form, input);
    assert!(
        out.starts_with("amount=2000&currency=usd&description=Refund"),
        "{out}"
    );
    let description = out
        .split('&')
        .find_map(|p| p.strip_prefix("description="))
        .expect("description");
    let decoded = percent_decode(description);
    assert_eq!(
        decoded,
        "Refund for [REDACTED:email], card ****-****-****-1111"
    );
    assert_absent(out.as_bytes(), &[EMAIL, "4111-1111"]);
}

#[test]
fn detection_can_scrub_free_text_instead_of_replacing_the_leaf() {
    let routes = routes();
    let input = r#"{"ticket":{"body":"Hi, I am locked out. Mail me at ottilie.brandvold@example.org please.","status":"open"}}"#;
    let (tickets, detect) = tickets_detect(&routes);
    assert_eq!(detect.actions.len(), Class::COUNT + 1, "the text action");
    let text = "Hi, I am locked out. Mail me at ottilie.brandvold@example.org please.";
    let found = detect.detector.classify(Some("body"), text).expect("found");
    assert_eq!(found.source, piigate::detect::Source::Text, "{found:?}");
    let scanner = piigate::detect::spans::SpanScanner::default();
    let n = scanner.find(text, piigate::detect::spans::TextKind::Auto, None, |_| {});
    assert_eq!(n, 1);
    let (scrubbed, cx) = rewrite(&tickets, Format::Json, input);
    let doc: Value = serde_json::from_str(&scrubbed).expect("JSON");
    assert_eq!(
        doc["ticket"]["body"],
        "Hi, I am locked out. Mail me at [REDACTED:email] please."
    );
    assert_eq!(doc["ticket"]["status"], "open");
    assert_eq!(cx.disclosed.get(Some(Class::Email), Treatment::Redacted), 1);
    // Without `detect_actions.text` the whole leaf goes.
    let (whole, _) = rewrite(&route(&routes, "whole"), Format::Json, input);
    let doc: Value = serde_json::from_str(&whole).expect("JSON");
    assert_eq!(doc["ticket"]["body"], "[REDACTED:email]");
}

#[test]
fn scrub_options_are_checked_against_the_declaration() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("keys.toml"), KEYS).expect("write");
    let route = "[keys]\nfile = \"keys.toml\"\n[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\n[[routes.rules]]\nselect = \"$.text\"\naction = \"scrub\"\n";
    for (extra, want) in [
        (
            "email = \"shred\"\n",
            "`email = \"shred\"` is not a value `scrub` takes",
        ),
        (
            "text = \"pdf\"\n",
            "`text = \"pdf\"` is not a value `scrub` takes",
        ),
        (
            "echo = \"hash\"\n",
            "`echo = \"hash\"` is not a value `scrub` takes",
        ),
    ] {
        let d = config::from_toml(&format!("{route}{extra}"), "p.toml", dir.path(), &NoEnv)
            .expect_err(extra);
        assert!(d.to_string().contains(want), "{d}");
    }
    // Defaults need no keyring: only `tokenize` and `encrypt` treatments do.
    let no_keys = "[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\n[[routes.rules]]\nselect = \"$.text\"\naction = \"scrub\"\n";
    let ok = config::from_toml(no_keys, "p.toml", Path::new("."), &NoEnv);
    assert!(ok.is_ok(), "{:?}", ok.err().map(|d| d.to_string()));
}

fn percent_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf8")
}

// === through the real stack ===

#[tokio::test]
async fn a_sendgrid_mail_leaves_with_its_body_scrubbed() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, ROUTES).await;
    let got = client
        .send(
            Method::POST,
            "/sendgrid/v3/mail/send",
            &[("content-type", "application/json")],
            mail(),
        )
        .await;
    assert_eq!(got.status, 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let doc: Value = serde_json::from_slice(&seen[0].body).expect("the upstream parses it");
    let html = doc["content"][0]["value"].as_str().expect("html");
    assert!(html.contains("Your order has shipped."), "{html}");
    assert!(html.contains("**** **** **** 1111"), "{html}");
    assert_absent(
        &up.raw_bytes(),
        &[NAME, "Ottilie", "Brandvold", EMAIL, PHONE, CARD],
    );
}

#[tokio::test]
async fn a_stripe_description_leaves_scrubbed_and_bad_text_is_refused() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, ROUTES).await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let got = client
        .send(
            Method::POST,
            "/stripe/v1/charges",
            &form,
            "amount=2000&currency=usd&description=Refund+for+ottilie.brandvold%40example.org",
        )
        .await;
    assert_eq!(got.status, 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let body = String::from_utf8(seen[0].body.to_vec()).expect("form");
    let description = body
        .strip_prefix("amount=2000&currency=usd&description=")
        .expect("the other fields as they came");
    assert_eq!(percent_decode(description), "Refund for [REDACTED:email]");

    // A description that is not UTF-8 cannot be searched: refused, nothing forwarded.
    let got = client
        .send(
            Method::POST,
            "/stripe/v1/charges",
            &form,
            "amount=2000&description=Refund+%FF%FE+ottilie",
        )
        .await;
    assert_eq!(got.status, 400);
    let err: Value = serde_json::from_slice(&got.body).expect("a JSON error");
    assert!(err["error"]["code"].is_string(), "{err}");
    assert!(!String::from_utf8_lossy(&got.body).contains("ottilie"));
    assert_eq!(up.requests().len(), 1, "nothing more forwarded");
}

/// Values selected in one document of a request (query, header, cookie, body) recur in the
/// text another document scrubs, before or after the value in the order the gateway reads
/// them: every one is found, and the rest of each text is as it came.
#[tokio::test]
async fn values_selected_anywhere_in_a_request_are_found_in_all_its_scrubbed_text() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, ROUTES).await;
    const UID: &str = "cust-88412-kq";
    const ACCOUNT: &str = "ACCT-5573-ZX";
    const CRM: &str = "crm77fd91e";
    // The query's text names the person the body selects and the account the header
    // selects; the body's note repeats the query's user id and the cookie's CRM id.
    let target = format!("/across/track?q=looking+for+Ottilie+Brandvold+{ACCOUNT}&uid={UID}");
    let body = serde_json::json!({
        "note": format!("{UID} asked about {CRM}; Brandvold called twice."),
        "user": {"name": NAME},
    })
    .to_string();
    let got = client
        .send(
            Method::POST,
            &target,
            &[
                ("content-type", "application/json"),
                ("x-account", ACCOUNT),
                ("cookie", &format!("crm={CRM}; session=s3cr3t")),
            ],
            body,
        )
        .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let uri = &seen[0].uri;
    let q = uri
        .split_once("?q=")
        .and_then(|(_, rest)| rest.split('&').next())
        .expect("q");
    // The full name is one span; the header's account id another.
    assert_eq!(
        percent_decode(q),
        "looking for [REDACTED] [REDACTED]",
        "{uri}"
    );
    let doc: Value = serde_json::from_slice(&seen[0].body).expect("JSON");
    assert_eq!(
        doc["note"],
        "[REDACTED] asked about [REDACTED]; [REDACTED] called twice."
    );
    assert!(
        doc["user"]["name"]
            .as_str()
            .is_some_and(|t| t.starts_with("tok_"))
    );
    assert_absent(
        &up.raw_bytes(),
        &[NAME, "Ottilie", "Brandvold", UID, ACCOUNT, CRM],
    );
}

/// A value a `drop` rule removes is never forwarded, and neither is its echo: the texts of the
/// same request that repeat it (before and after it in the document, by a part of the name,
/// in another case, from its escaped spelling) are scrubbed of it, and what leaves parses.
#[tokio::test]
async fn a_dropped_value_leaves_neither_in_its_field_nor_where_a_scrubbed_text_repeats_it() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, ROUTES).await;
    // The title comes before the profile that names the person, the messages after it; the
    // nickname is written with its `-` escaped.
    let body = r#"{"title":"Welcome back, Ottilie \u00b7 Orders","profile":{"nickname":"Kestrel\u002dNine","full_name":"Ottilie Brandvold","plan":"pro"},"messages":[{"text":"KESTREL-NINE asked for a call back"},{"text":"the Brandvold household, second contact"}]}"#;
    let got = client
        .send(
            Method::POST,
            "/dropped/v1/events",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let doc: Value = serde_json::from_slice(&seen[0].body).expect("the upstream parses it");
    assert_eq!(doc["profile"], serde_json::json!({"plan": "pro"}), "{doc}");
    assert_eq!(
        doc["title"], "Welcome back, [REDACTED] \u{b7} Orders",
        "{doc}"
    );
    assert_eq!(
        doc["messages"],
        serde_json::json!([
            {"text": "[REDACTED] asked for a call back"},
            {"text": "the [REDACTED] household, second contact"},
        ]),
        "{doc}"
    );
    assert_absent(
        &up.raw_bytes(),
        &["Ottilie", "Brandvold", "Kestrel", "KESTREL", "Nine", "NINE"],
    );
}

// === echoes in the leaves no rule selects ===

const UID: &str = "cust-88412-kq";

/// A CRM event whose free-text fields, before the fields that name the person, repeat the
/// person's name and id; one more leaf is an email detection finds whole.
fn crm_event() -> String {
    serde_json::json!({
        "properties": {
            "note": format!("Ottilie Brandvold asked for a call back (ref {UID})."),
            "summary": "Brandvold household, second contact",
            "plan": "premium",
            "contact": EMAIL,
        },
        "user": {"name": NAME, "id": UID},
    })
    .to_string()
}

/// With `detect = "enforce"`, a value a rule selects is replaced where it recurs in a leaf no
/// rule selects and the detector found nothing in: the span gets the route's action for the
/// value's class (`[REDACTED:person_name]` by default), a value whose rule names no class
/// `[REDACTED]`; the rest of the text stays. Whole-leaf detection is unchanged.
#[tokio::test]
async fn enforced_detection_replaces_selected_values_where_unselected_text_repeats_them() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, ROUTES).await;
    let got = client
        .send(
            Method::POST,
            "/crm/v1/events",
            &[("content-type", "application/json")],
            crm_event(),
        )
        .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let doc: Value = serde_json::from_slice(&seen[0].body).expect("JSON");
    let props = &doc["properties"];
    assert_eq!(
        props["note"],
        "[REDACTED:person_name] asked for a call back (ref [REDACTED])."
    );
    assert_eq!(
        props["summary"],
        "[REDACTED:person_name] household, second contact"
    );
    assert_eq!(props["plan"], "premium");
    assert_eq!(props["contact"], "[REDACTED:email]");
    assert_absent(&up.raw_bytes(), &[NAME, "Ottilie", "Brandvold", UID, EMAIL]);

    // A form body on the same route: the query selects the id, an unselected form field
    // repeats it.
    let got = client
        .send(
            Method::POST,
            &format!("/crm/v1/forms?uid={UID}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("topic=billing&memo=callback+for+{UID}+today"),
        )
        .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    let seen = up.requests();
    let body = String::from_utf8(seen[1].body.to_vec()).expect("form");
    let memo = body
        .strip_prefix("topic=billing&memo=")
        .expect("the other field as it came");
    assert_eq!(percent_decode(memo), "callback for [REDACTED] today");
    assert!(!seen[1].uri.contains(UID), "{}", seen[1].uri);
}

/// With `detect = "observe"` the same leaves leave byte for byte as they came; each echo is
/// counted as disclosed in clear under the value's class, and the leaf's path is reported.
#[test]
fn observed_detection_counts_echoes_and_changes_nothing() {
    let routes = routes();
    let input = crm_event();
    let (out, cx) = rewrite(&route(&routes, "crm_observe"), Format::Json, &input);
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let sent: Value = serde_json::from_str(&input).expect("JSON");
    assert_eq!(
        doc["properties"], sent["properties"],
        "unselected leaves unchanged"
    );
    assert!(
        doc["user"]["name"]
            .as_str()
            .is_some_and(|t| t.starts_with("tok_")),
        "rules still apply"
    );
    let d = &cx.disclosed;
    let cells: Vec<_> = d.cells().collect();
    // Identifiers: "Ottilie Brandvold" in the note and "Brandvold" in the summary, and the
    // email detected whole; unclassified: the id in the note.
    assert_eq!(
        d.get(Some(Class::PersonName), Treatment::Clear),
        3,
        "{cells:?}"
    );
    assert_eq!(d.get(None, Treatment::Clear), 1, "{cells:?}");
    let paths: Vec<(String, Class)> = cx
        .detected
        .entries()
        .map(|(p, c, _)| (p.to_owned(), c))
        .collect();
    assert!(
        paths.contains(&("$.properties.note".to_owned(), Class::PersonName)),
        "{paths:?}"
    );
    assert!(
        paths.contains(&("$.properties.summary".to_owned(), Class::PersonName)),
        "{paths:?}"
    );
    assert_eq!(cx.counts.get(ActionKind::Scrub), 0);
}

/// `detect_actions.echo` overrides what echoes in unselected leaves get: `off` leaves them as
/// they came, a treatment applies to every one; any other value is refused where it is
/// written.
#[test]
fn detect_actions_echo_turns_leaf_echoes_off_or_picks_their_treatment() {
    let routes = routes();
    let input = crm_event();
    let (off, _) = rewrite(&route(&routes, "crm_echo_off"), Format::Json, &input);
    let doc: Value = serde_json::from_str(&off).expect("JSON");
    assert_eq!(
        doc["properties"]["note"],
        format!("Ottilie Brandvold asked for a call back (ref {UID}).")
    );
    // Detection of whole values is unaffected.
    assert_eq!(doc["properties"]["contact"], "[REDACTED:email]");
    let (masked, _) = rewrite(&route(&routes, "crm_echo_mask"), Format::Json, &input);
    let doc: Value = serde_json::from_str(&masked).expect("JSON");
    assert_eq!(
        doc["properties"]["note"],
        format!("******* *****vold asked for a call back (ref {UID}).")
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = "[[routes]]\nname = \"r\"\npath_prefix = \"/r\"\nupstream = \"http://127.0.0.1:9\"\ndetect = \"enforce\"\n[routes.detect_actions]\necho = \"hash\"\n";
    let d = config::from_toml(bad, "p.toml", dir.path(), &NoEnv).expect_err("refused");
    assert!(
        d.to_string().contains(
            "`echo` in `detect_actions` takes one of encrypt, keep, mask, off, redact, tokenize"
        ),
        "{d}"
    );
}

/// Detection saw a value in the text (a bare number read as a phone) where the span scanner
/// finds none (`PO` before a bare number unmakes a phone): the text is not forwarded as it
/// came; the class's action takes the whole leaf, as without a `text` action.
#[test]
fn text_detection_found_but_scrub_did_not_replaces_the_whole_leaf() {
    let routes = routes();
    let text = "PO 0485835879 was shipped";
    let (tickets, detect) = tickets_detect(&routes);
    let found = detect.detector.classify(Some("body"), text).expect("found");
    assert_eq!(
        (found.class, found.source),
        (Class::Phone, piigate::detect::Source::Text)
    );
    let scanner = piigate::detect::spans::SpanScanner::default();
    let n = scanner.find(text, piigate::detect::spans::TextKind::Auto, None, |_| {});
    assert_eq!(n, 0, "the scanner finds nothing here");
    let input = format!(r#"{{"ticket":{{"body":"{text}","status":"open"}}}}"#);
    let (out, _) = rewrite(&tickets, Format::Json, &input);
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let (whole, _) = rewrite(&route(&routes, "whole"), Format::Json, &input);
    let whole: Value = serde_json::from_str(&whole).expect("JSON");
    assert_ne!(doc["ticket"]["body"], text, "forwarded in clear");
    assert_eq!(doc["ticket"]["body"], whole["ticket"]["body"]);
    assert_eq!(doc["ticket"]["status"], "open");
}

// === past the bounds of echo recognition ===

/// A route whose request names more people than echo recognition searches for (64 distinct
/// values per request), with the admin listener for `/metrics`.
const CROWD: &str = r#"
[admin]
listen = "127.0.0.1:0"
token_env = "PIIGATE_TEST_UNSET_TOKEN"

[[routes]]
name = "crowd"
path_prefix = "/crowd"
upstream = "http://{up}"
detect = "enforce"

[[routes.rules]]
select = "$.people[*].name"
action = "tokenize"
class = "person_name"

[[routes.rules]]
select = "$.note"
action = "scrub"
"#;

/// The `i`th person of the crowd: one capitalised word, distinct per `i`.
fn crowd_name(i: usize) -> String {
    let letter = |n: usize| char::from(b'a' + u8::try_from(n % 26).expect("letter"));
    format!("Quillon{}{}", letter(i / 26), letter(i))
}

/// Past the bounds the request is still forwarded (fail-open for the search only): every
/// selected value gets its rule's treatment, values within the bounds are found where they
/// recur, those past them are not searched for — and the operator sees how many on
/// `/metrics`, under the route's name and no value.
#[tokio::test]
async fn values_past_the_echo_bounds_are_forwarded_unsearched_and_counted() {
    let Stack { up, gw, client } = Stack::start(Reply::Ok, CROWD).await;
    let names: Vec<String> = (0..70).map(crowd_name).collect();
    let (first, last) = (&names[0], &names[69]);
    let body = serde_json::json!({
        "note": format!("Ask {first} about {last}."),
        "memo": format!("{first} and {last} called"),
        // The first person again: a repeated value takes no room.
        "people": names
            .iter()
            .chain([first])
            .map(|n| serde_json::json!({"name": n}))
            .collect::<Vec<_>>(),
    })
    .to_string();
    let ct = [("content-type", "application/json")];
    let got = client.send(Method::POST, "/crowd/e", &ct, body).await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    let doc: Value = serde_json::from_slice(&seen[0].body).expect("JSON");
    assert_eq!(doc["note"], format!("Ask [REDACTED] about {last}."));
    assert_eq!(
        doc["memo"],
        format!("[REDACTED:person_name] and {last} called")
    );
    let people = doc["people"].as_array().expect("people");
    assert_eq!(people.len(), 71);
    assert!(
        people
            .iter()
            .all(|p| p["name"].as_str().is_some_and(|t| t.starts_with("tok_"))),
        "every selected name is treated, within the bounds or not"
    );

    let admin = Client::new(gw.admin.expect("admin"), None, Proto::H1);
    let metrics = admin.send(Method::GET, "/metrics", &[], "").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains(r#"piigate_echo_values_skipped_total{route="crowd"} 6"#),
        "{metrics}"
    );
    assert_absent(metrics.as_bytes(), &[first, last, "Quillon"]);

    // A request within the bounds adds nothing.
    let small = serde_json::json!({
        "note": format!("Ask {last}."),
        "people": [{"name": last}],
    })
    .to_string();
    let got = client.send(Method::POST, "/crowd/e", &ct, small).await;
    assert_eq!(got.status, 200);
    let doc: Value = serde_json::from_slice(&up.requests()[1].body).expect("JSON");
    assert_eq!(doc["note"], "Ask [REDACTED].");
    let metrics = admin.send(Method::GET, "/metrics", &[], "").await;
    assert!(
        String::from_utf8_lossy(&metrics.body)
            .contains(r#"piigate_echo_values_skipped_total{route="crowd"} 6"#)
    );
}

/// Whether a request searches its scrubbed texts for the selected values is derived once per
/// configuration, not per request: a reload that adds a `scrub` of a text makes the next
/// request find the selected value repeated in it, and one that removes it forwards the text
/// as it came.
#[tokio::test]
async fn the_search_for_selected_values_follows_a_reload() {
    const TOKEN: &str = "scrub-reload-admin-token-5d1e";
    const UID: &str = "cust-30571-wp";
    const ROUTE: &str = r#"
[admin]
listen = "127.0.0.1:0"
token_env = "ADMIN_TOKEN"

[[routes]]
name = "notes"
path_prefix = "/notes"
upstream = "http://{up}"

[[routes.rules]]
select = "$.user.id"
action = "tokenize"
"#;
    const SCRUB: &str = "\n[[routes.rules]]\nselect = \"$.note\"\naction = \"scrub\"\n";
    let Stack { up, gw, client } =
        Stack::start_with_env(Reply::Ok, ROUTE, &[("ADMIN_TOKEN", TOKEN)]).await;
    let admin = Client::new(gw.admin.expect("admin"), None, Proto::H1);
    let path = gw.config_path();
    let first = std::fs::read_to_string(&path).expect("config");
    let reload = |config: String| {
        let (path, admin) = (&path, &admin);
        async move {
            std::fs::write(path, config).expect("write config");
            let auth = format!("Bearer {TOKEN}");
            let r = admin
                .send(Method::POST, "/v1/reload", &[("authorization", &auth)], "")
                .await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        }
    };
    let body = serde_json::json!({"note": format!("call {UID} back"), "user": {"id": UID}});
    let note = || async {
        let got = client
            .send(
                Method::POST,
                "/notes/track",
                &[("content-type", "application/json")],
                body.to_string(),
            )
            .await;
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
        let seen = up.requests();
        let doc: Value = serde_json::from_slice(&seen[seen.len() - 1].body).expect("JSON");
        assert!(
            doc["user"]["id"]
                .as_str()
                .is_some_and(|t| t.starts_with("tok_"))
        );
        doc["note"].as_str().expect("note").to_owned()
    };
    // No scrub: the note is not searched and leaves as it came.
    assert_eq!(note().await, format!("call {UID} back"));
    reload(format!("{first}{SCRUB}")).await;
    assert_eq!(gw.current.load().number, 2);
    assert_eq!(note().await, "call [REDACTED] back");
    reload(first.clone()).await;
    assert_eq!(gw.current.load().number, 3);
    assert_eq!(note().await, format!("call {UID} back"));
}
