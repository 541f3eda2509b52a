//! Wrapped payloads as vendors' own clients send them (the recordings in `tests/data/sdk/`),
//! through the real gateway to a recording upstream: base64 JSON in forms and query strings,
//! base64url contexts, JSON text inside JSON strings, URLs whose query names the person. No
//! value of the test person reaches the upstream in any form it would decode, and the upstream
//! can still decode everything it got, in the encoding it came in.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::Method;
use serde_json::Value;

use crate::support::recipient::{
    SdkRequest, assert_none_in_clear, percent_decode, person_values, sdk_requests,
};
use crate::support::{Client, Got, Recorded, Reply, Stack};

/// Rules a user writes with chains for what these vendors send. Every selector below reaches
/// into a wrapped value; plain fields are there only where the recordings carry the person
/// next to the wrapped values.
fn routes() -> String {
    let headers = r#"
[[routes.rules]]
select = "header:cookie"
action = "drop"

[[routes.rules]]
select = ["header:referer=>url=>query:email", "header:referer=>url=>query:uid"]
action = "tokenize"
"#;
    format!(
        r#"
[[routes]]
name = "mixpanel"
path_prefix = "/mixpanel"
upstream = "http://{{up}}"
{headers}
# The browser SDK sends base64 in a form; the Python SDK plain JSON; a pixel base64 in the query.
[[routes.rules]]
select = [
  "form:data=>base64?=>$..['$email']", "form:data=>base64?=>$..email",
  "form:data=>base64?=>$..customer_email", "query:data=>base64?=>$..['$email']",
]
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = [
  "form:data=>base64?=>$..distinct_id", "form:data=>base64?=>$..['$distinct_id']",
  "form:data=>base64?=>$..['$user_id']", "query:data=>base64?=>$..distinct_id",
  "form:data=>base64?=>$..['$current_url']=>url=>query:uid",
  "query:data=>base64?=>$..['$current_url']=>url=>query:uid",
]
action = "tokenize"

[[routes.rules]]
select = [
  "form:data=>base64?=>$..['$current_url']=>url=>query:email",
  "query:data=>base64?=>$..['$current_url']=>url=>query:email",
  "form:data=>base64?=>$..['$referrer']=>url=>query:to",
]
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = ["form:data=>base64?=>$..['$phone']", "form:data=>base64?=>$..address"]
action = "encrypt"

[[routes.rules]]
select = [
  "form:data=>base64?=>$..['$name']", "form:data=>base64?=>$..['$city']",
  "form:data=>base64?=>$..birthday", "form:data=>base64?=>$..['$last_name']",
  "form:data=>base64?=>$..['$first_name']",
]
action = "redact"

[[routes.rules]]
select = ["form:data=>base64?=>$..ip", "form:data=>base64?=>$..['$ip']", "query:data=>base64?=>$..ip"]
action = "drop"

[[routes]]
name = "segment"
path_prefix = "/segment"
upstream = "http://{{up}}"
{headers}
[[routes.rules]]
select = ["query:data=>base64=>$.userId", "query:data=>base64=>$.context.page.url=>url=>query:uid"]
action = "tokenize"

[[routes.rules]]
select = [
  "query:data=>base64=>$..email",
  "query:data=>base64=>$.context.page.url=>url=>query:email",
]
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = "query:data=>base64=>$.traits.phone"
action = "encrypt"

[[routes.rules]]
select = "query:data=>base64=>$.traits.name"
action = "redact"

[[routes.rules]]
select = "query:data=>base64=>$.context.ip"
action = "drop"

[[routes]]
name = "snowplow"
path_prefix = "/snowplow"
upstream = "http://{{up}}"
{headers}
[[routes.rules]]
select = [
  "query:uid", "query:url=>url=>query:uid",
  "query:cx=>base64url=>$.data[*].data.user_id",
  "$.data[*].uid", "$.data[*].url=>url=>query:uid",
  "$.data[*].co=>$.data[*].data.user_id",
]
action = "tokenize"

[[routes.rules]]
select = [
  "query:url=>url=>query:email", "query:refr=>url=>query:to",
  "query:cx=>base64url=>$.data[*].data.email", "query:ue_px=>base64url=>$.data.data.email",
  "$.data[*].url=>url=>query:email", "$.data[*].refr=>url=>query:to",
  "$.data[*].co=>$.data[*].data.email", "$.data[*].ue_pr=>$.data.data.email",
]
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = ["query:cx=>base64url=>$.data[*].data.phone", "$.data[*].co=>$.data[*].data.phone"]
action = "encrypt"

[[routes.rules]]
select = ["query:ue_px=>base64url=>$.data.data.name", "$.data[*].ue_pr=>$.data.data.name"]
action = "redact"
"#
    )
}

async fn replay(client: &Client, r: &SdkRequest) -> Got {
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    client
        .send(r.method.clone(), &r.target, &headers, r.body.clone())
        .await
}

fn query_pairs(uri: &str) -> Vec<(String, String)> {
    let q = uri.split_once('?').map_or("", |(_, q)| q);
    pairs(q)
}

fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| String::from_utf8(percent_decode(s)).expect("UTF-8");
            (d(k), d(v))
        })
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The recipient's own reading of a base64 field: its documented alphabet, padding as sent.
fn base64_json(value: &str, url_safe: bool) -> Value {
    let bytes = if url_safe {
        URL_SAFE_NO_PAD.decode(value.trim_end_matches('='))
    } else {
        STANDARD.decode(value)
    }
    .unwrap_or_else(|e| panic!("not base64 as the vendor reads it ({e}): {value}"));
    serde_json::from_slice(&bytes).expect("the decoded document is JSON")
}

/// What the vendor decodes out of one request it got; panics if it could not.
fn vendor_reads(vendor: &str, r: &Recorded) -> Vec<Value> {
    let mut docs = Vec::new();
    let query = query_pairs(&r.uri);
    if vendor == "snowplow" {
        for name in ["cx", "ue_px"] {
            if let Some(v) = field(&query, name) {
                assert!(!v.contains('='), "Snowplow strips base64url padding: {v}");
                docs.push(base64_json(v, true));
            }
        }
        if r.method == Method::POST {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
            for event in body["data"].as_array().expect("events") {
                for name in ["co", "ue_pr"] {
                    if let Some(text) = event[name].as_str() {
                        docs.push(serde_json::from_str(text).expect("JSON text in a string"));
                    }
                }
            }
            docs.push(body);
        }
    } else if let Some(v) = field(&query, "data") {
        docs.push(base64_json(v, false));
    } else if r.method == Method::POST {
        let form = pairs(std::str::from_utf8(&r.body).expect("form is text"));
        let data = field(&form, "data").expect("a data field");
        docs.push(match data.as_bytes().first() {
            Some(b'{' | b'[') => serde_json::from_str(data).expect("JSON data"),
            _ => base64_json(data, false),
        });
    }
    docs
}

/// The upstream got exactly the requests sent, every one 200, none with the person in clear,
/// each one decodable by its vendor; returns what the vendor read.
async fn deliver(files: &[&str]) -> Vec<(Recorded, Vec<Value>)> {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, &routes()).await;
    let mut sent = 0;
    for file in files {
        for r in sdk_requests(file) {
            let got = replay(&client, &r).await;
            assert_eq!(got.status, 200, "{file} {}: {:?}", r.target, got.body);
            sent += 1;
        }
    }
    let got = up.requests();
    assert_eq!(got.len(), sent, "every request was forwarded once");
    let person = person_values();
    got.into_iter()
        .map(|r| {
            assert_none_in_clear(&r.uri, &r, &person);
            let vendor = files[0].split('/').next().unwrap_or_default();
            let docs = vendor_reads(vendor, &r);
            (r, docs)
        })
        .collect()
}

#[tokio::test]
async fn mixpanel_browser_and_pixel_data_are_policed_inside_their_base64() {
    let got = deliver(&[
        "mixpanel/mixpanel-browser.jsonl",
        "mixpanel/mixpanel-get-hand.jsonl",
        "mixpanel/mixpanel-python.jsonl",
    ])
    .await;
    let sent = sdk_requests("mixpanel/mixpanel-browser.jsonl");
    // The browser's `/track/` batch: what is not the person's arrives as it was sent.
    let (track, docs) = &got[0];
    assert!(
        track.uri.starts_with("/track/?verbose=1&ip=1&_="),
        "{}",
        track.uri
    );
    let before = vendor_reads(
        "mixpanel",
        &Recorded {
            body: sent[0].body.clone().into(),
            ..track.clone()
        },
    );
    let (a, b) = (&before[0], &docs[0]);
    assert_eq!(a.as_array().map(Vec::len), b.as_array().map(Vec::len));
    for (x, y) in a
        .as_array()
        .into_iter()
        .flatten()
        .zip(b.as_array().into_iter().flatten())
    {
        assert_eq!(x["event"], y["event"]);
        assert_eq!(x["properties"]["$browser"], y["properties"]["$browser"]);
        assert_eq!(x["properties"]["token"], y["properties"]["token"]);
    }
    let email = &b[1]["properties"]["email"];
    assert!(
        email.as_str().is_some_and(|e| e.starts_with("tok_")),
        "{email}"
    );
    // The current URL keeps its other parameters.
    let url = b[0]["properties"]["$current_url"].as_str().expect("url");
    assert!(
        url.contains("utm_source=newsletter") && url.contains("email=tok_"),
        "{url}"
    );
    // The Python SDK's plain JSON `data` stays plain JSON.
    let python = got
        .iter()
        .rev()
        .find(|(r, _)| r.uri == "/engage")
        .expect("engage");
    assert!(
        python.0.body.starts_with(b"data=%7B"),
        "{:?}",
        python.0.body
    );
}

#[tokio::test]
async fn segment_pixel_data_is_policed_inside_its_base64() {
    let got = deliver(&["segment/segment-pixel-hand.jsonl"]).await;
    let identify = &got[0].1[0];
    assert_eq!(identify["writeKey"], "seg_write_key_test");
    assert!(
        identify["context"].get("ip").is_none(),
        "dropped: {identify}"
    );
    assert_eq!(identify["traits"]["name"], "[REDACTED]");
    assert!(
        identify["traits"]["phone"]
            .as_str()
            .is_some_and(|p| p.starts_with("pge1."))
    );
    // The pixel's base64 stays standard and padded.
    let data = field(&query_pairs(&got[0].0.uri), "data")
        .expect("data")
        .to_owned();
    assert_eq!(data.len() % 4, 0, "padded: {data}");
}

#[tokio::test]
async fn snowplow_contexts_are_policed_in_base64url_and_in_json_text() {
    let got = deliver(&[
        "snowplow/snowplow-browser.jsonl",
        "snowplow/snowplow-get-hand.jsonl",
    ])
    .await;
    let post = got
        .iter()
        .find(|(r, _)| r.method == Method::POST)
        .expect("the tp2 POST");
    let body: Value = serde_json::from_slice(&post.0.body).expect("JSON");
    let co: Value = serde_json::from_str(body["data"][0]["co"].as_str().expect("co text"))
        .expect("co is still JSON text");
    let user = &co["data"][0]["data"];
    assert!(
        user["email"]
            .as_str()
            .is_some_and(|e| e.starts_with("tok_")),
        "{user}"
    );
    assert!(
        user["phone"]
            .as_str()
            .is_some_and(|e| e.starts_with("pge1.")),
        "{user}"
    );
    assert_eq!(
        co["data"][1]["schema"],
        "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0"
    );
    // GET contexts: base64url, unpadded, same structure.
    for (r, docs) in got.iter().filter(|(r, _)| r.method == Method::GET) {
        assert!(!docs.is_empty(), "{}", r.uri);
        assert!(
            query_pairs(&r.uri)
                .iter()
                .any(|(k, v)| k == "tv" && v == "js-4.10.1")
        );
    }
}

#[tokio::test]
async fn wrapped_values_that_do_not_decode_are_refused_with_a_fixed_error() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, &routes()).await;
    let secret = "ottilie.brandvold@example.org";
    let b64 = STANDARD.encode(format!(r#"{{"properties":{{"$email":"{secret}"}}}}"#));
    let cases: Vec<(Method, String, &str, String, &str)> = vec![
        // Not base64: `*` is in neither alphabet.
        (
            Method::GET,
            format!("/mixpanel/track?data={}*", &b64[..8]),
            "",
            String::new(),
            "malformed_wrapped_value",
        ),
        // Both alphabets at once.
        (
            Method::GET,
            format!("/mixpanel/track?data={}_-", &b64[..8]),
            "",
            String::new(),
            "ambiguous_request",
        ),
        // Base64 of something that is not JSON, carrying the person.
        (
            Method::GET,
            format!(
                "/mixpanel/track?data={}",
                STANDARD.encode(format!("email={secret}"))
            ),
            "",
            String::new(),
            "malformed_wrapped_value",
        ),
        // A URL with a newline inside (WHATWG parsers drop it, others keep it).
        (
            Method::POST,
            "/snowplow/com.snowplowanalytics.snowplow/tp2".into(),
            "application/json",
            format!(r#"{{"data":[{{"url":"https://a/x?email={secret}\n&b=1"}}]}}"#),
            "malformed_wrapped_value",
        ),
        // A doubly-encoded URL.
        (
            Method::POST,
            "/snowplow/com.snowplowanalytics.snowplow/tp2".into(),
            "application/json",
            r#"{"data":[{"url":"https%3A%2F%2Fa%2Fx%3Femail%3Dx"}]}"#.to_owned(),
            "ambiguous_request",
        ),
        // JSON text that is not JSON.
        (
            Method::POST,
            "/snowplow/com.snowplowanalytics.snowplow/tp2".into(),
            "application/json",
            format!(r#"{{"data":[{{"co":"{{\"data\":[{{\"data\":{{\"email\":\"{secret}\"}}"}}]}}"#),
            "malformed_wrapped_value",
        ),
    ];
    for (method, target, ct, body, code) in cases {
        let headers: Vec<(&str, &str)> = if ct.is_empty() {
            vec![]
        } else {
            vec![("content-type", ct)]
        };
        let got = client.send(method, &target, &headers, body).await;
        assert_eq!(got.status, 400, "{target}: {:?}", got.body);
        assert_eq!(got.error_code(), code, "{target}");
        let text = String::from_utf8_lossy(&got.body).to_string();
        assert!(
            !text.contains(secret) && !text.contains("ottilie"),
            "{text}"
        );
        assert!(
            got.json()["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .ends_with("nothing was forwarded")
        );
    }
    assert!(up.requests().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn the_owner_reveals_envelopes_inside_json_text_and_base64url() {
    let Stack { up, gw, client } = Stack::start(Reply::Ok, &routes()).await;
    for r in sdk_requests("snowplow/snowplow-browser.jsonl")
        .iter()
        .chain(&sdk_requests("snowplow/snowplow-get-hand.jsonl"))
    {
        assert_eq!(replay(&client, r).await.status, 200, "{}", r.target);
    }
    let loaded =
        piigate::config::load(&gw.config_path(), &piigate::config::ProcessEnv).expect("config");
    let route = piigate::ops::route(&loaded.config, "snowplow").expect("route");
    let got = up.requests();
    // The tp2 POST: the phone inside `co` (JSON text in a JSON string) opens in place.
    let post = got
        .iter()
        .find(|r| r.method == Method::POST)
        .expect("the tp2 POST");
    let revealed = piigate::ops::reveal(
        &loaded.config,
        route,
        &piigate::ops::Payload::typed("application/json", &post.body).expect("type"),
    )
    .expect("reveal");
    let body: Value = serde_json::from_slice(&revealed).expect("JSON");
    let co: Value = serde_json::from_str(body["data"][0]["co"].as_str().expect("co text"))
        .expect("co is still JSON text");
    assert_eq!(co["data"][0]["data"]["phone"], "+1 415 555 0199", "{co}");
    // A GET's `cx` (base64url JSON in the query): reveal reads the query as the route does.
    let get = got
        .iter()
        .find(|r| r.method == Method::GET && r.uri.contains("cx="))
        .expect("a GET with cx");
    let query = get.uri.split_once('?').map_or("", |(_, q)| q);
    let revealed = piigate::ops::reveal(
        &loaded.config,
        route,
        &piigate::ops::Payload::query(query.as_bytes()),
    )
    .expect("reveal");
    let cx = field(&pairs(std::str::from_utf8(&revealed).expect("text")), "cx")
        .map(|v| base64_json(v, true))
        .expect("cx");
    assert!(
        cx.to_string().contains("+1 415 555 0199"),
        "the phone opened inside base64url: {cx}"
    );
}
