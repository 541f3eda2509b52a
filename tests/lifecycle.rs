//! Key and action lifecycle through the running proxy: every action on a Segment batch, reveal on the response
//! path and through the admin API, key rotation by reload, retired keys refused.

use std::net::SocketAddr;

use http::Method;
use serde_json::Value;

use crate::support::{Client, Proto, Reply, Stack, assert_absent};

const TOKEN: &str = "test-admin-token-5d1c";

/// Every action on one route; the admin API's token comes from `admin_token_env`.
fn routes(admin_token_env: &str) -> String {
    format!(
        r#"
[admin]
listen = "127.0.0.1:0"
token_env = "{admin_token_env}"

[[routes]]
name = "crypto"
path_prefix = "/seg"
upstream = "http://{{up}}"

[[routes.rules]]
select = "$.batch[*].userId"
action = "tokenize"

[[routes.rules]]
select = "$..traits.phone"
action = "encrypt"

[[routes.rules]]
select = "$..traits.email"
action = "encrypt_deterministic"

[[routes.rules]]
select = "$..traits.card"
action = "fpe"
keep_last = 4
luhn = true

[[routes.rules]]
select = "$..properties.em"
action = "hash"
preset = "meta"
normalize = "email"

[[routes.rules]]
select = "$..context.ip"
action = "generalize"
to = "ip/24"

[[routes.rules]]
select = "$..traits.birthday"
action = "generalize"
to = "date/year"

[[routes.rules]]
select = "$..traits.age"
action = "generalize"
to = "age/10"

[[routes.rules]]
select = "$..traits.ssn"
action = "mask"
keep_last = 4

[[routes.rules]]
select = "$..traits.name"
action = "redact"

[[routes.rules]]
select = "$..context.device"
action = "drop"

[[routes.response_rules]]
select = ["$..traits.phone", "$..traits.email"]
action = "reveal"

[[routes.response_rules]]
select = "$..traits.card"
action = "reveal"
alphabet = "digits"
keep_last = 4
luhn = true
"#
    )
}

const BATCH: &str = r#"{"batch":[{"userId":"user-1001","traits":{"name":"Ada Lovelace","email":"ada@example.com","phone":"+44 20 7946 0018","card":"4111 1111 1111 1111","birthday":"1990-12-10","age":36,"ssn":"078-05-1120"},"context":{"ip":"203.0.113.77","device":{"id":"dev-9"}},"properties":{"em":"  Ada@Example.COM "}},{"userId":"user-1001","traits":{"email":"ada@example.com"}}]}"#;
const PII: &[&str] = &[
    "user-1001",
    "Ada Lovelace",
    "ada@example.com",
    "+44 20 7946 0018",
    "4111 1111 1111 1111",
    "1990-12-10",
    "078-05-1120",
    "203.0.113.77",
    "dev-9",
];

fn luhn_ok(digits: &str) -> bool {
    let ds: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

struct Admin {
    addr: SocketAddr,
}

impl Admin {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let client = Client::new(self.addr, None, Proto::H1);
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        let got = client.send(method, path, &headers, body.to_owned()).await;
        (
            got.status.as_u16(),
            String::from_utf8_lossy(&got.body).into_owned(),
        )
    }
}

#[tokio::test]
async fn every_action_through_the_proxy_and_reveal_for_the_app() {
    let Stack { up, gw, .. } = Stack::start_with_env(
        Reply::Echo,
        &routes("ADMIN_TOKEN"),
        &[("ADMIN_TOKEN", TOKEN)],
    )
    .await;
    let client = Client::new(gw.addr, None, Proto::H2);
    let got = client.post_json("/seg/v1/batch", BATCH).await;
    assert_eq!(got.status, 200, "{:?}", got.body);

    let sent = &up.requests()[0];
    assert_absent(&sent.body, PII);
    let v: Value = serde_json::from_slice(&sent.body).expect("json");
    let (e0, e1) = (&v["batch"][0], &v["batch"][1]);
    let t = &e0["traits"];
    assert!(e0["userId"].as_str().expect("token").starts_with("tok_k2_"));
    assert!(
        t["phone"]
            .as_str()
            .expect("envelope")
            .starts_with("pge1.k2.")
    );
    assert!(
        t["email"]
            .as_str()
            .expect("envelope")
            .starts_with("pgd1.k2.")
    );
    assert_eq!(
        t["email"], e1["traits"]["email"],
        "deterministic: same value, same envelope"
    );
    let card = t["card"].as_str().expect("fpe");
    assert_eq!(card.len(), "4111 1111 1111 1111".len());
    assert!(
        card.ends_with(" 1111") && card != "4111 1111 1111 1111" && luhn_ok(card),
        "{card}"
    );
    assert_eq!(t["birthday"], "1990");
    assert_eq!(t["age"], "30-39");
    assert_eq!(t["ssn"], "***-**-1120");
    assert_eq!(t["name"], "[REDACTED]");
    assert_eq!(e0["context"], serde_json::json!({"ip":"203.0.113.0"}));
    // Meta's documented normalisation: trim + lower-case, then SHA-256.
    let em = e0["properties"]["em"].as_str().expect("hash");
    assert_eq!(em, hex_sha256("ada@example.com"));

    // The echo upstream returned the policed body; response rules revealed it for the app.
    let back = got.json();
    let bt = &back["batch"][0]["traits"];
    assert_eq!(bt["phone"], "+44 20 7946 0018");
    assert_eq!(bt["email"], "ada@example.com");
    assert_eq!(bt["card"], "4111 1111 1111 1111");
    assert_eq!(bt["name"], "[REDACTED]", "one-way actions stay one-way");
}

fn hex_sha256(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn admin_reveal_needs_the_token() {
    let Stack { up, gw, client } =
        Stack::start_with_env(Reply::Ok, &routes("ADMIN_TOKEN"), &[("ADMIN_TOKEN", TOKEN)]).await;
    assert_eq!(client.post_json("/seg/v1/batch", BATCH).await.status, 200);
    let sent = String::from_utf8(up.requests()[0].body.to_vec()).expect("utf8");
    let admin = Admin {
        addr: gw.admin.expect("admin"),
    };

    assert_eq!(
        admin
            .call(Method::POST, "/v1/reveal/crypto", None, &sent)
            .await
            .0,
        401
    );
    assert_eq!(
        admin
            .call(
                Method::POST,
                "/v1/reveal/crypto",
                Some("wrong-token"),
                &sent
            )
            .await
            .0,
        401
    );
    let (status, body) = admin
        .call(Method::POST, "/v1/reveal/crypto", Some(TOKEN), &sent)
        .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["batch"][0]["traits"]["phone"], "+44 20 7946 0018");
    assert_eq!(v["batch"][0]["traits"]["email"], "ada@example.com");

    // A tampered envelope: a clear, non-leaking error.
    let phone = v["batch"][0]["traits"]["phone"]
        .as_str()
        .expect("phone")
        .to_owned();
    let sv: Value = serde_json::from_str(&sent).expect("json");
    let env = sv["batch"][0]["traits"]["phone"]
        .as_str()
        .expect("env")
        .to_owned();
    let mut bad = env.clone().into_bytes();
    let n = bad.len() - 5;
    bad[n] = if bad[n] == b'A' { b'B' } else { b'A' };
    let tampered = sent.replace(&env, std::str::from_utf8(&bad).expect("ascii"));
    let (status, body) = admin
        .call(Method::POST, "/v1/reveal/crypto", Some(TOKEN), &tampered)
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("reveal_failed"));
    assert_absent(body.as_bytes(), &[&phone, "ada@example.com"]);

    // Preview through the admin API polices exactly like the proxy.
    let (status, body) = admin
        .call(Method::POST, "/v1/preview/crypto", Some(TOKEN), BATCH)
        .await;
    assert_eq!(status, 200);
    assert_absent(body.as_bytes(), PII);

    // Metrics: open, bounded labels, no values.
    let (status, metrics) = admin.call(Method::GET, "/metrics", None, "").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"piigate_requests_total{route="crypto",class="2xx"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"piigate_actions_applied_total{route="crypto",action="fpe"} 1"#),
        "{metrics}"
    );
    // The test keyring is keys.example: all three keys are public material, and said so.
    assert!(metrics.contains("\npiigate_example_keys 3\n"), "{metrics}");
    assert_absent(metrics.as_bytes(), PII);
}

#[tokio::test]
async fn rotation_by_reload_keeps_old_envelopes_and_refuses_retired_keys() {
    let Stack { up, gw, client } =
        Stack::start_with_env(Reply::Ok, &routes("ADMIN_TOKEN"), &[("ADMIN_TOKEN", TOKEN)]).await;
    let admin = Admin {
        addr: gw.admin.expect("admin"),
    };
    let event = r#"{"batch":[{"userId":"user-1001","traits":{"phone":"+44 20 7946 0018"}}]}"#;
    assert_eq!(client.post_json("/seg/v1/batch", event).await.status, 200);

    // Rotate: a new primary k3, k2 demoted to active.
    let keys_path = gw.dir.path().join("keys.toml");
    let old = std::fs::read_to_string(&keys_path).expect("keys");
    let k3 = "[[keys]]\nid = \"k3\"\nstatus = \"primary\"\nsecret = \"MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=\"\n\n";
    let rotated = format!(
        "{k3}{}",
        old.replace(
            "id = \"k2\"\nstatus = \"primary\"",
            "id = \"k2\"\nstatus = \"active\""
        )
    );
    std::fs::write(&keys_path, &rotated).expect("write keys");
    let (status, body) = admin
        .call(Method::POST, "/v1/reload", Some(TOKEN), "")
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""generation":2"#), "{body}");
    assert_eq!(client.post_json("/seg/v1/batch", event).await.status, 200);

    let seen = up.requests();
    let phone = |i: usize| -> String {
        let v: Value = serde_json::from_slice(&seen[i].body).expect("json");
        v["batch"][0]["traits"]["phone"]
            .as_str()
            .expect("env")
            .to_owned()
    };
    let user = |i: usize| -> String {
        let v: Value = serde_json::from_slice(&seen[i].body).expect("json");
        v["batch"][0]["userId"].as_str().expect("tok").to_owned()
    };
    assert!(phone(0).starts_with("pge1.k2.") && phone(1).starts_with("pge1.k3."));
    assert!(
        user(0).starts_with("tok_k2_") && user(1).starts_with("tok_k3_"),
        "rotation is visible in tokens"
    );
    for (i, r) in seen.iter().take(2).enumerate() {
        let body = String::from_utf8(r.body.to_vec()).expect("utf8");
        let (status, out) = admin
            .call(Method::POST, "/v1/reveal/crypto", Some(TOKEN), &body)
            .await;
        assert_eq!(status, 200, "envelope {i} reveals after rotation: {out}");
        assert!(out.contains("+44 20 7946 0018"));
    }

    // A broken keyring is refused; the running generation keeps serving.
    std::fs::write(
        &keys_path,
        "[[keys]]\nid = \"k3\"\nstatus = \"primary\"\nsecret = \"not base64!\"\n",
    )
    .expect("write");
    let (status, body) = admin
        .call(Method::POST, "/v1/reload", Some(TOKEN), "")
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("bad_keyring") && !body.contains("not base64"),
        "{body}"
    );
    assert_eq!(
        client.post_json("/seg/v1/batch", event).await.status,
        200,
        "old generation still serves"
    );

    // Retire k2: its envelopes no longer open, k3's still do.
    std::fs::write(
        &keys_path,
        rotated.replace(
            "id = \"k2\"\nstatus = \"active\"",
            "id = \"k2\"\nstatus = \"retired\"",
        ),
    )
    .expect("write");
    assert_eq!(
        admin
            .call(Method::POST, "/v1/reload", Some(TOKEN), "")
            .await
            .0,
        200
    );
    let old_body = String::from_utf8(seen[0].body.to_vec()).expect("utf8");
    let (status, out) = admin
        .call(Method::POST, "/v1/reveal/crypto", Some(TOKEN), &old_body)
        .await;
    assert_eq!(status, 422, "{out}");
    let new_body = String::from_utf8(seen[1].body.to_vec()).expect("utf8");
    assert_eq!(
        admin
            .call(Method::POST, "/v1/reveal/crypto", Some(TOKEN), &new_body)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn without_a_token_the_v1_api_is_disabled() {
    let Stack { up: _up, gw, .. } = Stack::start(Reply::Ok, &routes("UNSET_TOKEN_VAR")).await;
    let admin = Admin {
        addr: gw.admin.expect("admin"),
    };
    let (status, body) = admin
        .call(Method::POST, "/v1/reload", Some("anything"), "")
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(admin.call(Method::GET, "/healthz", None, "").await.0, 200);
    assert_eq!(admin.call(Method::GET, "/readyz", None, "").await.0, 200);
}
