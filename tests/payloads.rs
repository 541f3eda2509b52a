//! Every payload real clients send, through the real stack: compressed JSON batches, NDJSON,
//! Stripe-style forms with bracket keys, Mixpanel forms carrying JSON, query-string collectors,
//! header rules — and the rejections when a payload cannot be policed.

use std::io::{Read, Write};

use http::Method;
use serde_json::Value;

use crate::support::{Client, Reply, Stack, TestGateway, Upstream, assert_absent};

const ROUTES: &str = r#"
[limits]
max_decoded_bytes = 1048576

[[routes]]
name = "posthog"
path_prefix = "/posthog"
upstream = "http://{up}"

[[routes.rules]]
select = "$.batch[*].distinct_id"
action = "tokenize"

[[routes.rules]]
select = "$..properties['$email']"
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = "$..properties['$ip']"
action = "drop"

[[routes]]
name = "stripe"
path_prefix = "/stripe"
upstream = "http://{up}"

[[routes.rules]]
select = "form:card[number]"
action = "mask"
keep_last = 4

[[routes.rules]]
select = ["form:billing_details[address]", "form:card[cvc]"]
action = "redact"

[[routes.rules]]
select = "form:email"
action = "tokenize"
normalize = "email"

[[routes]]
name = "mixpanel"
path_prefix = "/mixpanel"
upstream = "http://{up}"

[[routes.rules]]
select = ["form:data=>$..['$email']", "form:data=>$..distinct_id"]
action = "tokenize"

[[routes.rules]]
select = "form:data=>$..['$phone']"
action = "redact"

[[routes]]
name = "ua"
path_prefix = "/ua"
upstream = "http://{up}"

[[routes.rules]]
select = "query:uid"
action = "tokenize"

[[routes.rules]]
select = "query:uip"
action = "drop"

[[routes.rules]]
select = "query:dl"
action = "redact"
replacement = "[REDACTED:url]"

[[routes.rules]]
select = "header:x-user-id"
action = "tokenize"

[[routes.rules]]
select = "header:x-debug-email"
action = "drop"
"#;

async fn env() -> (Upstream, TestGateway, Client) {
    let Stack { up, gw, client } = Stack::start(Reply::Ok, ROUTES).await;
    (up, gw, client)
}

const POSTHOG: &str = r#"{"api_key":"phc_test","batch":[{"event":"$pageview","distinct_id":"user-4410","properties":{"$email":"Zoe@example.io","$ip":"192.0.2.77","$current_url":"https://shop.example/cart"}},{"event":"purchase","distinct_id":"user-4410","properties":{"$email":"zoe@example.io","amount":12.5}}]}"#;
const POSTHOG_PII: &[&str] = &[
    "user-4410",
    "Zoe@example.io",
    "zoe@example.io",
    "192.0.2.77",
];

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

#[tokio::test]
async fn compressed_batches_are_decoded_policed_and_reencoded() {
    let (up, _gw, client) = env().await;
    let codings: [(&str, Vec<u8>); 3] = [
        ("gzip", gzip(POSTHOG.as_bytes())),
        (
            "zstd",
            zstd::bulk::compress(POSTHOG.as_bytes(), 3).expect("zstd"),
        ),
        ("br", {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(POSTHOG.as_bytes()).expect("br");
            }
            out
        }),
    ];
    for (coding, body) in &codings {
        let got = client
            .send(
                Method::POST,
                "/posthog/batch",
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", coding),
                ],
                body.clone(),
            )
            .await;
        assert_eq!(got.status, 200, "{coding}: {:?}", got.body);
    }
    let seen = up.requests();
    assert_eq!(seen.len(), 3);
    for (r, (coding, _)) in seen.iter().zip(&codings) {
        assert_eq!(
            r.headers["content-encoding"], *coding,
            "re-encoded with the coding it came in"
        );
        assert_eq!(
            r.headers["content-length"].to_str().expect("ascii"),
            r.body.len().to_string()
        );
        let plain = match *coding {
            "gzip" => gunzip(&r.body),
            "zstd" => zstd::stream::decode_all(&r.body[..]).expect("zstd"),
            _ => {
                let mut out = Vec::new();
                brotli::Decompressor::new(&r.body[..], 4096)
                    .read_to_end(&mut out)
                    .expect("br");
                out
            }
        };
        assert_absent(&plain, POSTHOG_PII);
        let v: Value = serde_json::from_slice(&plain).expect("json");
        assert_eq!(v["batch"][0]["distinct_id"], v["batch"][1]["distinct_id"]);
        assert_eq!(
            v["batch"][0]["properties"]["$email"],
            v["batch"][1]["properties"]["$email"]
        );
        assert!(v["batch"][0]["properties"].get("$ip").is_none());
        assert_eq!(
            v["batch"][0]["properties"]["$current_url"],
            "https://shop.example/cart"
        );
    }
}

#[tokio::test]
async fn ndjson_lines_are_each_policed() {
    let (up, _gw, client) = env().await;
    let body = "{\"batch\":[{\"distinct_id\":\"user-4410\"}]}\n{\"batch\":[{\"distinct_id\":\"user-9\",\"properties\":{\"$ip\":\"192.0.2.77\"}}]}\n";
    let got = client
        .send(
            Method::POST,
            "/posthog/e",
            &[("content-type", "application/x-ndjson")],
            body.to_owned(),
        )
        .await;
    assert_eq!(got.status, 200);
    let r = &up.requests()[0];
    assert_absent(&r.body, &["user-4410", "user-9", "192.0.2.77"]);
    let text = String::from_utf8(r.body.to_vec()).expect("utf8");
    assert_eq!(text.lines().count(), 2);
    assert!(text.ends_with('\n'));
}

#[tokio::test]
async fn stripe_form_with_bracket_keys() {
    let (up, _gw, client) = env().await;
    let form = "type=card&card[number]=4242+4242+4242+4242&card[exp_month]=12&card%5Bcvc%5D=123&billing_details[address][line1]=1+Infinite+Loop&billing_details[address][city]=Cupertino&billing_details[name]=Jenny&email=Jenny%40Example.com";
    let got = client
        .send(
            Method::POST,
            "/stripe/v1/payment_methods",
            &[("content-type", "application/x-www-form-urlencoded")],
            form.to_owned(),
        )
        .await;
    assert_eq!(got.status, 200);
    let r = &up.requests()[0];
    let sent = String::from_utf8(r.body.to_vec()).expect("ascii");
    assert_absent(
        r.body.as_ref(),
        &[
            "4242+4242+4242+4242",
            "1+Infinite+Loop",
            "Cupertino",
            "Jenny%40Example.com",
            "card%5Bcvc%5D=123",
        ],
    );
    let pairs: Vec<(String, String)> = url_pairs(&sent);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("type"), Some("card"));
    assert_eq!(get("card[number]"), Some("**** **** **** 4242"));
    assert_eq!(
        get("card[exp_month]"),
        Some("12"),
        "unselected bracket siblings stay"
    );
    assert_eq!(get("card[cvc]"), Some("[REDACTED]"));
    assert_eq!(get("billing_details[address][line1]"), Some("[REDACTED]"));
    assert_eq!(get("billing_details[address][city]"), Some("[REDACTED]"));
    assert_eq!(get("billing_details[name]"), Some("Jenny"), "not selected");
    assert!(get("email").is_some_and(|v| v.starts_with("tok_k2_")));
    assert!(
        sent.starts_with("type=card&card[number]="),
        "untouched pairs keep their bytes: {sent}"
    );
    assert!(
        sent.contains("&card[exp_month]=12&card%5Bcvc%5D="),
        "names keep their spelling: {sent}"
    );
}

#[tokio::test]
async fn mixpanel_form_carrying_json() {
    let (up, _gw, client) = env().await;
    let data = r#"[{"event":"Signed Up","properties":{"distinct_id":"user-77","$email":"max@example.de","$phone":"+49 30 901820","plan":"pro"}}]"#;
    let form = format!("data={}&verbose=1", url_encode(data));
    let got = client
        .send(
            Method::POST,
            "/mixpanel/track",
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(got.status, 200);
    let r = &up.requests()[0];
    let pairs = url_pairs(std::str::from_utf8(&r.body).expect("ascii"));
    let v: Value = serde_json::from_str(&pairs[0].1).expect("data is still JSON");
    let props = &v[0]["properties"];
    assert!(
        props["distinct_id"]
            .as_str()
            .expect("token")
            .starts_with("tok_")
    );
    assert!(props["$email"].as_str().expect("token").starts_with("tok_"));
    assert_eq!(props["$phone"], "[REDACTED]");
    assert_eq!(props["plan"], "pro");
    assert_eq!(pairs[1], ("verbose".to_owned(), "1".to_owned()));
    assert_absent(
        pairs[0].1.as_bytes(),
        &["user-77", "max@example.de", "+49 30 901820"],
    );
}

#[tokio::test]
async fn query_string_collector_and_headers_on_get() {
    let (up, _gw, client) = env().await;
    let path = "/ua/collect?v=1&tid=UA-123-1&uid=user-31&uip=203.0.113.50&dl=https%3A%2F%2Fshop.example%2F%3Femail%3Dbob%40x.com&t=pageview";
    let got = client
        .send(
            Method::GET,
            path,
            &[
                ("x-user-id", "user-31"),
                ("x-debug-email", "bob@x.com"),
                ("x-kept", "1"),
            ],
            Vec::new(),
        )
        .await;
    assert_eq!(got.status, 200);
    let r = &up.requests()[0];
    assert_absent(
        r.uri.as_bytes(),
        &["user-31", "203.0.113.50", "bob%40x.com"],
    );
    assert!(
        r.uri.starts_with("/collect?v=1&tid=UA-123-1&uid=tok_k2_"),
        "{}",
        r.uri
    );
    assert!(
        r.uri.ends_with("&dl=%5BREDACTED%3Aurl%5D&t=pageview"),
        "{}",
        r.uri
    );
    assert!(
        r.headers["x-user-id"]
            .to_str()
            .expect("ascii")
            .starts_with("tok_k2_")
    );
    assert!(r.headers.get("x-debug-email").is_none());
    assert_eq!(r.headers["x-kept"], "1");
    // Same id in the query and the header: same token (same route, same domain).
    let uid = url_pairs(r.uri.split_once('?').expect("query").1)
        .into_iter()
        .find(|(k, _)| k == "uid")
        .expect("uid")
        .1;
    assert_eq!(uid, r.headers["x-user-id"].to_str().expect("ascii"));
}

#[tokio::test]
async fn unpoliceable_payloads_are_refused_and_nothing_is_forwarded() {
    let (up, _gw, client) = env().await;
    let bomb = gzip(&vec![b' '; 4 << 20]);
    let mut truncated = gzip(POSTHOG.as_bytes());
    truncated.truncate(truncated.len() - 8);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "/posthog/batch",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            bomb,
            413,
            "body_too_large",
        ),
        (
            "/posthog/batch",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            truncated,
            400,
            "malformed_body",
        ),
        (
            "/posthog/batch",
            vec![
                ("content-type", "application/json"),
                ("content-encoding", "snappy"),
            ],
            POSTHOG.into(),
            415,
            "unsupported_media_type",
        ),
        (
            "/stripe/v1/x",
            vec![("content-type", "application/x-www-form-urlencoded")],
            b"email=a%4&card[number]=4242".to_vec(),
            400,
            "malformed_body",
        ),
        // JSON in a type piigate does not read (Laravel reads any `…/json…` type as JSON)
        // would slip past the rules: refused.
        (
            "/stripe/v1/x",
            vec![("content-type", "text/json")],
            br#"{"email":"a@b.c"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/posthog/batch",
            vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=iso-8859-1",
            )],
            b"distinct_id=user-4410".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/posthog/batch",
            vec![("content-type", "multipart/form-data; boundary=x")],
            b"--x--".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/mixpanel/track",
            vec![("content-type", "application/x-www-form-urlencoded")],
            b"data=%7Bnot-json".to_vec(),
            400,
            "malformed_wrapped_value",
        ),
    ];
    for (path, headers, body, status, code) in cases {
        let got = client.send(Method::POST, path, &headers, body).await;
        assert_eq!(got.status, status, "{path} {code}: {:?}", got.body);
        assert_eq!(got.error_code(), code);
    }
    let got = client
        .send(Method::GET, "/ua/collect?uid=%zz", &[], Vec::new())
        .await;
    assert_eq!(
        (got.status.as_u16(), got.error_code().as_str()),
        (400, "malformed_query")
    );
    assert!(up.requests().is_empty(), "nothing may reach the upstream");
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn url_pairs(s: &str) -> Vec<(String, String)> {
    let decode = |x: &str| {
        let bytes = x.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&x[i + 1..i + 3], 16).expect("hex"));
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).expect("utf8")
    };
    s.split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}
