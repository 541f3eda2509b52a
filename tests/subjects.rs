//! Data subjects through the real stack: subject-scoped keys, erasure by crypto-shredding, opt-out
//! signals, the audit trail.

use std::net::SocketAddr;

use http::Method;
use serde_json::Value;

use crate::support::{
    Client, Proto, Reply, Stack, TestGateway, Upstream, assert_absent, beacon_form,
};

const TOKEN: &str = "subjects-admin-token";

const ROUTES: &str = r#"
[admin]
listen = "127.0.0.1:0"
token_env = "ADMIN_TOKEN"
[store]
subject_key_id = "k2"

[[routes]]
name = "seg"
path_prefix = "/seg"
upstream = "http://{up}"
subject = "$.batch[*].userId"
on_opt_out = "strict"

[[routes.rules]]
select = ["$.batch[*].userId", "$..traits.email"]
action = "tokenize"

[[routes.rules]]
select = "$..traits.phone"
action = "encrypt"

[[routes.response_rules]]
select = "$..traits.phone"
action = "reveal"

[[routes]]
name = "ads"
path_prefix = "/ads"
upstream = "http://{up}"
purpose = "sale_or_share"
on_opt_out = "block"

[[routes.rules]]
select = "$.user_id"
action = "tokenize"
"#;

async fn env(reply: Reply) -> (Upstream, TestGateway, Client, Admin) {
    let Stack { up, gw, client } =
        Stack::start_with_env(reply, ROUTES, &[("ADMIN_TOKEN", TOKEN)]).await;
    let admin = Admin {
        addr: gw.admin.expect("admin listener"),
    };
    (up, gw, client, admin)
}

struct Admin {
    addr: SocketAddr,
}

impl Admin {
    async fn call(&self, method: Method, path: &str, body: &str) -> (u16, Value) {
        let client = Client::new(self.addr, None, Proto::H1);
        let auth = format!("Bearer {TOKEN}");
        let got = client
            .send(
                method,
                path,
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ],
                body.to_owned(),
            )
            .await;
        let v = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
        (got.status.as_u16(), v)
    }
}

fn batch(events: &[(&str, &str)]) -> String {
    let items: Vec<String> = events
        .iter()
        .map(|(user, email)| format!(r#"{{"type":"identify","traits":{{"email":"{email}","phone":"+1 555 0100"}},"userId":"{user}"}}"#))
        .collect();
    format!(r#"{{"batch":[{}]}}"#, items.join(","))
}

fn event(body: &[u8], i: usize) -> Value {
    let v: Value = serde_json::from_slice(body).expect("json");
    v["batch"][i].clone()
}

#[tokio::test]
async fn erasure_end_to_end() {
    let (up, _gw, client, admin) = env(Reply::Ok).await;
    // Two people in one batch; the email comes before the userId that names its person.
    let body = batch(&[
        ("alice-01", "same@example.com"),
        ("bob-02", "same@example.com"),
    ]);
    assert_eq!(client.post_json("/seg/v1/batch", &body).await.status, 200);
    let first = up.requests()[0].body.clone();
    assert_absent(
        &first,
        &["alice-01", "bob-02", "same@example.com", "+1 555 0100"],
    );
    let (a, b) = (event(&first, 0), event(&first, 1));
    assert_ne!(
        a["traits"]["email"], b["traits"]["email"],
        "per-person keys: the same email does not link two people"
    );
    assert!(
        a["traits"]["phone"]
            .as_str()
            .expect("env")
            .starts_with("pgs1.k2.g0.")
    );

    // Same person again: same pseudonym (their secret is stable until erased).
    assert_eq!(
        client
            .post_json("/seg/v1/batch", &batch(&[("alice-01", "same@example.com")]))
            .await
            .status,
        200
    );
    let again = event(&up.requests()[1].body, 0);
    assert_eq!(again["userId"], a["userId"]);

    // Access request: the owner reveals what it holds for Alice.
    let sent = String::from_utf8(first.to_vec()).expect("utf8");
    let (status, revealed) = admin
        .call(Method::POST, "/v1/reveal/seg?subject=alice-01", &sent)
        .await;
    assert_eq!(
        status, 422,
        "Bob's envelope does not open with Alice's keys: {revealed}"
    );
    let alice_only = format!(r#"{{"batch":[{}]}}"#, a);
    let (status, revealed) = admin
        .call(Method::POST, "/v1/reveal/seg?subject=alice-01", &alice_only)
        .await;
    assert_eq!(status, 200, "{revealed}");
    assert_eq!(revealed["batch"][0]["traits"]["phone"], "+1 555 0100");

    // Erase Alice: the answer lists the recipients, never her id.
    let (status, receipt) = admin
        .call(Method::DELETE, "/v1/subjects/alice-01", "")
        .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["recipients"], serde_json::json!(["seg"]));
    assert_eq!(receipt["secret_destroyed"], true);
    assert_absent(receipt.to_string().as_bytes(), &["alice-01"]);

    // Her envelopes no longer reveal, with a clear error that leaks nothing.
    let (status, err) = admin
        .call(Method::POST, "/v1/reveal/seg?subject=alice-01", &alice_only)
        .await;
    assert_eq!(status, 410, "{err}");
    assert_eq!(err["error"]["code"], "subject_erased");
    assert_absent(err.to_string().as_bytes(), &["alice-01", "+1 555 0100"]);

    // Later events get a fresh, unlinkable pseudonym; Bob is untouched.
    assert_eq!(
        client
            .post_json(
                "/seg/v1/batch",
                &batch(&[
                    ("alice-01", "same@example.com"),
                    ("bob-02", "same@example.com")
                ])
            )
            .await
            .status,
        200
    );
    let after = &up.requests()[2].body;
    assert_ne!(
        event(after, 0)["userId"],
        a["userId"],
        "a new pseudonym after erasure"
    );
    assert!(
        event(after, 0)["traits"]["phone"]
            .as_str()
            .expect("env")
            .starts_with("pgs1.k2.g1.")
    );
    assert_eq!(
        event(after, 1)["userId"],
        b["userId"],
        "other people keep theirs"
    );
}

#[tokio::test]
async fn response_reveal_uses_the_requests_people() {
    let (up, _gw, client, _admin) = env(Reply::Echo).await;
    let got = client
        .post_json("/seg/v1/batch", &batch(&[("carol-03", "c@example.com")]))
        .await;
    assert_eq!(got.status, 200);
    assert_absent(&up.requests()[0].body, &["+1 555 0100"]);
    assert_eq!(got.json()["batch"][0]["traits"]["phone"], "+1 555 0100");
}

#[tokio::test]
async fn the_admin_reveal_refuses_a_missing_document() {
    let (_up, _gw, _client, admin) = env(Reply::Ok).await;
    // No body, so no document to open: a client error in JSON, never an empty 200.
    let (status, err) = admin.call(Method::POST, "/v1/reveal/seg", "").await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "malformed_body");
}

#[tokio::test]
async fn opt_out_signals() {
    let (up, _gw, client, _admin) = env(Reply::Ok).await;
    // `block`: 451, nothing recorded upstream.
    for header in [("sec-gpc", "1"), ("dnt", "1")] {
        let got = client
            .send(
                Method::POST,
                "/ads/conversions",
                &[("content-type", "application/json"), header],
                br#"{"user_id":"dave-04"}"#.to_vec(),
            )
            .await;
        assert_eq!(got.status, 451, "{header:?}");
        assert_eq!(got.error_code(), "opt_out_blocked");
    }
    assert!(up.requests().is_empty());
    // Without the signal it flows.
    assert_eq!(
        client
            .post_json("/ads/conversions", r#"{"user_id":"dave-04"}"#)
            .await
            .status,
        200
    );
    // `strict`: linkable identifiers are dropped instead of tokenized; the rest still applies.
    let got = client
        .send(
            Method::POST,
            "/seg/v1/batch",
            &[("content-type", "application/json"), ("sec-gpc", "1")],
            batch(&[("erin-05", "e@example.com")]),
        )
        .await;
    assert_eq!(got.status, 200);
    let e = event(&up.requests()[1].body, 0);
    assert!(
        e.get("userId").is_none() && e["traits"].get("email").is_none(),
        "{e}"
    );
    assert!(
        e["traits"]["phone"]
            .as_str()
            .expect("env")
            .starts_with("pgs1."),
        "unlinkable encryption stays"
    );
}

#[tokio::test]
async fn audit_log_records_and_verifies() {
    let (_up, gw, client, admin) = env(Reply::Ok).await;
    assert_eq!(
        client
            .post_json("/seg/v1/batch", &batch(&[("frank-06", "f@example.com")]))
            .await
            .status,
        200
    );
    assert_eq!(
        admin
            .call(Method::DELETE, "/v1/subjects/frank-06", "")
            .await
            .0,
        200
    );
    assert_eq!(admin.call(Method::POST, "/v1/reload", "").await.0, 200);
    let (status, doc) = admin.call(Method::GET, "/v1/openapi.json", "").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");

    let log_path = gw.dir.path().join("piigate-audit.jsonl");
    let text = std::fs::read_to_string(&log_path).expect("audit log");
    assert!(
        text.contains(r#""kind":"erasure""#) && text.contains(r#""kind":"reload""#),
        "{text}"
    );
    assert_absent(text.as_bytes(), &["frank-06", "f@example.com"]);

    let verify = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_piigate"))
            .args(["audit", "verify", "--config"])
            .arg(path)
            .output()
            .expect("run")
    };
    let ok = verify(&gw.config_path());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok, "));

    // Any single changed byte is detected.
    let mut bytes = std::fs::read(&log_path).expect("read");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&log_path, &bytes).expect("write");
    let bad = verify(&gw.config_path());
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stdout)
    );
}

/// posthog-js's `sendBeacon` fallback: the batch as base64 in a form's `data` field
/// (`?compression=base64`). The people in it are found inside the field, as the rewrite reads
/// it, so they get their own keys exactly as in the same batch sent as JSON.
const BEACON: &str = r#"
[store]
subject_key_id = "k2"

[[routes]]
name = "ph"
path_prefix = "/ph"
upstream = "http://{up}"
subject = "$.batch[*].distinct_id"

[routes.body_coding]
param = "compression"
values = { base64 = "form:data=>base64" }

[[routes.rules]]
select = ["$.batch[*].distinct_id", "$..email"]
action = "tokenize"

[[routes.rules]]
select = "$..phone"
action = "encrypt"
"#;

fn beacon_batch() -> String {
    let event = |id: &str| {
        format!(
            r#"{{"event":"$pageview","distinct_id":"{id}","properties":{{"email":"same@example.com","phone":"+1 555 0100"}}}}"#
        )
    };
    format!(r#"{{"batch":[{},{}]}}"#, event("alice-01"), event("bob-02"))
}

/// The beacon as posthog-js sends it, with the library version the SDK appends.
fn versioned_beacon(doc: &str) -> String {
    format!("{}&ver=1.449.2", beacon_form(doc))
}

fn beacon_document(form: &[u8]) -> Value {
    use base64::Engine as _;
    let text = std::str::from_utf8(form).expect("form");
    let data = text
        .split('&')
        .find_map(|p| p.strip_prefix("data="))
        .expect("data");
    let b64 = data
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=");
    let doc = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    serde_json::from_slice(&doc).expect("JSON")
}

#[tokio::test]
async fn people_inside_a_base64_beacon_form_get_their_own_keys_as_in_json() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, BEACON).await;
    let doc = beacon_batch();
    assert_eq!(client.post_json("/ph/e/", &doc).await.status, 200);
    let form = "application/x-www-form-urlencoded";
    let got = client
        .send(
            Method::POST,
            "/ph/e/?compression=base64",
            &[("content-type", form)],
            versioned_beacon(&doc),
        )
        .await;
    assert_eq!(got.status, 200, "{:?}", String::from_utf8_lossy(&got.body));
    let seen = up.requests();
    let json: Value = serde_json::from_slice(&seen[0].body).expect("JSON");
    let beacon = beacon_document(&seen[1].body);
    for i in 0..2 {
        let (a, b) = (&json["batch"][i], &beacon["batch"][i]);
        // The same person, the same secret: the same pseudonyms whichever way the batch came.
        assert_eq!(a["distinct_id"], b["distinct_id"], "event {i}");
        assert_eq!(
            a["properties"]["email"], b["properties"]["email"],
            "event {i}"
        );
        // A subject-scoped envelope, not one under the route's key.
        let phone = b["properties"]["phone"].as_str().expect("phone");
        assert!(phone.starts_with("pgs1.k2."), "event {i}: {phone}");
    }
    assert_ne!(
        beacon["batch"][0]["properties"]["email"], beacon["batch"][1]["properties"]["email"],
        "per-person keys inside the form: the same email does not link two people"
    );
    assert_absent(
        &seen[1].body,
        &["alice-01", "bob-02", "same@example.com", "+1 555 0100"],
    );

    // Whose document is it, when the field comes twice? Refused, nothing forwarded.
    let twice = format!("{}&{}", versioned_beacon(&doc), versioned_beacon(&doc));
    let got = client
        .send(
            Method::POST,
            "/ph/e/?compression=base64",
            &[("content-type", form)],
            twice,
        )
        .await;
    assert_eq!(got.status, 400);
    assert_eq!(got.error_code(), "ambiguous_request");
    // A field that does not decode: refused before any secret is fetched.
    let got = client
        .send(
            Method::POST,
            "/ph/e/?compression=base64",
            &[("content-type", form)],
            "data=%7Bnot-json".to_owned(),
        )
        .await;
    assert_eq!(got.status, 400, "{:?}", String::from_utf8_lossy(&got.body));
    assert_eq!(got.error_code(), "malformed_wrapped_value");
    assert_eq!(up.requests().len(), 2, "nothing more was forwarded");
}
