//! Bodies coded outside `Content-Encoding` by a vendor's convention (`[routes.body_coding]`),
//! as posthog-js sends them (the recordings in `tests/data/sdk/posthog/`): gzip labelled
//! `text/plain` with no signal, gzip named by `?compression=gzip-js`, and `sendBeacon` forms
//! whose `data` is base64 (`?compression=base64`). Through the real gateway to a recording
//! upstream: every request arrives coded as it was sent, decodable by the vendor, with no value
//! of the test person in any form the vendor could decode; what does not decode as the route
//! says is refused and nothing is forwarded.

use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use serde_json::Value;

use crate::support::recipient::{
    SdkRequest, assert_none_in_clear, percent_decode, person_values, sdk_requests,
};
use crate::support::{Client, Got, Proto, Reply, Stack, beacon_form};

/// The posthog preset, the vendor's codings, and (`sniff`) the unsignalled gzip of current
/// posthog-js releases. A second route without `sniff` shows it is opt-in.
const POSTHOG: &str = r#"
[[routes]]
name = "posthog"
path_prefix = "/posthog"
upstream = "http://{up}"
preset = "posthog"

[routes.body_coding]
param = "compression"
values = { "gzip-js" = "gzip", gzip = "gzip", base64 = "form:data=>base64" }
sniff = "gzip"

# The page URLs posthog-js reports carry the site's own query (the preset leaves URLs to
# the route); the project key is no person's.
[[routes.rules]]
select = [
  "$..['$current_url']=>url=>query:email", "$..['$session_entry_url']=>url=>query:email",
  "$..['$initial_current_url']=>url=>query:email",
  "$..['$referrer']=>url=>query:email", "$..u=>url=>query:email",
]
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = [
  "$..['$current_url']=>url=>query:uid", "$..['$session_entry_url']=>url=>query:uid",
  "$..['$initial_current_url']=>url=>query:uid",
  "$..['$referrer']=>url=>query:uid", "$..u=>url=>query:uid",
]
action = "tokenize"

[[routes.rules]]
select = ["$.api_key", "$.token"]
action = "keep"

[[routes]]
name = "unsniffed"
path_prefix = "/unsniffed"
upstream = "http://{up}"
preset = "posthog"

[routes.body_coding]
param = "compression"
values = { "gzip-js" = "gzip" }
"#;

async fn replay(client: &Client, r: &SdkRequest, target: &str) -> Got {
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    client
        .send(r.method.clone(), target, &headers, r.body.clone())
        .await
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("the vendor can gunzip it");
    out
}

/// What PostHog's capture reads out of a body: the coding the query names, else gzip by its
/// magic bytes, else the text itself.
fn vendor_reads(uri: &str, body: &[u8]) -> Value {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|p| p == "compression=base64") {
        let text = std::str::from_utf8(body).expect("form is text");
        let data = text
            .split('&')
            .find_map(|p| p.strip_prefix("data="))
            .expect("a data field");
        let b64 = String::from_utf8(percent_decode(data)).expect("UTF-8");
        let doc = STANDARD
            .decode(&b64)
            .unwrap_or_else(|e| panic!("standard padded base64 ({e}): {b64}"));
        return serde_json::from_slice(&doc).expect("JSON inside the base64");
    }
    let plain = if body.starts_with(&[0x1f, 0x8b]) {
        gunzip(body)
    } else {
        body.to_vec()
    };
    serde_json::from_slice(&plain).expect("a JSON document")
}

/// Every `distinct_id` in a document.
fn distinct_ids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("distinct_id", Value::String(s)) => out.push(s.clone()),
                    _ => distinct_ids(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| distinct_ids(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn posthog_js_gzip_and_base64_bodies_are_policed_and_arrive_coded_as_sent() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, POSTHOG).await;
    let recorded = sdk_requests("posthog/posthog-js.jsonl");
    // As recorded, then each unsignalled gzip body again as older releases send it, named
    // by `?compression=gzip-js` (the other parameters kept).
    let mut sends: Vec<(&SdkRequest, String)> =
        recorded.iter().map(|r| (r, r.target.clone())).collect();
    for r in &recorded {
        if r.body.starts_with(&[0x1f, 0x8b]) {
            let sep = if r.target.contains('?') { '&' } else { '?' };
            sends.push((
                r,
                format!("{}{sep}compression=gzip-js&ver=1.449.2", r.target),
            ));
        }
    }
    assert!(
        recorded
            .iter()
            .any(|r| r.target.contains("compression=base64")),
        "the recording has a sendBeacon form"
    );
    for (r, target) in &sends {
        let got = replay(&client, r, target).await;
        assert_eq!(
            got.status,
            200,
            "{target}: {:?}",
            String::from_utf8_lossy(&got.body)
        );
    }
    let got = up.requests();
    assert_eq!(got.len(), sends.len(), "every request was forwarded once");
    let person = person_values();
    let mut policed = 0;
    for ((sent, target), r) in sends.iter().zip(&got) {
        assert_none_in_clear(target, r, &person);
        if sent.body.is_empty() {
            continue;
        }
        // Coded as it came: gzip stays gzip, the form stays a form of standard base64.
        assert_eq!(
            r.body.starts_with(&[0x1f, 0x8b]),
            sent.body.starts_with(&[0x1f, 0x8b]),
            "{target}"
        );
        assert_eq!(
            r.body.starts_with(b"data="),
            sent.body.starts_with(b"data="),
            "{target}"
        );
        let doc = vendor_reads(&r.uri, &r.body);
        let before = vendor_reads(target, &sent.body);
        let mut ids = Vec::new();
        distinct_ids(&doc, &mut ids);
        let mut ids_before = Vec::new();
        distinct_ids(&before, &mut ids_before);
        assert_eq!(ids.len(), ids_before.len(), "{target}");
        for (id, was) in ids.iter().zip(&ids_before) {
            assert!(id.starts_with("tok_") && id != was, "{target}: {id}");
        }
        // What is not the person's arrives as it was sent.
        for key in ["api_key", "token"] {
            assert_eq!(doc.get(key), before.get(key), "{target}: {key}");
        }
        policed += 1;
    }
    assert!(
        policed >= 8,
        "the recording's bodies were all read: {policed}"
    );
}

#[tokio::test]
async fn bodies_that_do_not_decode_as_the_vendor_says_are_refused() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, POSTHOG).await;
    let secret = "ottilie.brandvold@example.org";
    let doc = format!(r#"{{"api_key":"k","batch":[{{"distinct_id":"{secret}"}}]}}"#);
    let gz = {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(doc.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    };
    let form = "application/x-www-form-urlencoded";
    let text = "text/plain";
    let b64 = STANDARD.encode(&doc);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        // A coding the route does not list (posthog's LZ-string `lz64`).
        (
            "/posthog/e/?compression=lz64",
            text,
            doc.clone().into_bytes(),
            415,
            "unsupported_media_type",
        ),
        // Named gzip, but not gzip.
        (
            "/posthog/e/?compression=gzip-js",
            text,
            doc.clone().into_bytes(),
            400,
            "malformed_body",
        ),
        // Two codings named: which one the vendor believes is anyone's guess.
        (
            "/posthog/e/?compression=gzip-js&compression=base64",
            text,
            gz.clone(),
            400,
            "ambiguous_request",
        ),
        // A spelling only case-folding servers read as the parameter.
        (
            "/posthog/e/?Compression=base64",
            form,
            format!("data={b64}").into_bytes(),
            400,
            "ambiguous_request",
        ),
        // base64 that is not base64.
        (
            "/posthog/e/?compression=base64",
            form,
            format!("data={}*", &b64[..12]).into_bytes(),
            400,
            "malformed_wrapped_value",
        ),
        // The base64 layer on a body that is not a form.
        (
            "/posthog/e/?compression=base64",
            text,
            b64.clone().into_bytes(),
            415,
            "unsupported_media_type",
        ),
        // Truncated gzip, sniffed.
        (
            "/posthog/e/",
            text,
            gz[..gz.len() - 12].to_vec(),
            400,
            "malformed_body",
        ),
        // Unsignalled gzip on a route that does not sniff: not JSON, refused.
        ("/unsniffed/e/", text, gz.clone(), 400, "malformed_body"),
    ];
    for (target, ct, body, status, code) in cases {
        let got = client
            .send(Method::POST, target, &[("content-type", ct)], body)
            .await;
        assert_eq!(
            got.status,
            status,
            "{target}: {:?}",
            String::from_utf8_lossy(&got.body)
        );
        assert_eq!(got.error_code(), code, "{target}");
        let shown = String::from_utf8_lossy(&got.body).to_string();
        assert!(
            !shown.contains(secret) && !shown.contains("ottilie"),
            "{shown}"
        );
    }
    assert!(up.requests().is_empty(), "nothing reached the upstream");
}

/// A route `ph` whose form field `data` is base64 JSON when `?compression=base64` says so, with
/// its `distinct_id`s tokenized; `keys` are more keys of the route.
fn ph_base64(keys: &str) -> String {
    format!(
        r#"
[[routes]]
name = "ph"
path_prefix = "/ph"
upstream = "http://{{up}}"
{keys}

[routes.body_coding]
param = "compression"
values = {{ base64 = "form:data=>base64" }}

[[routes.rules]]
select = "$..distinct_id"
action = "tokenize"
"#
    )
}

/// POSTs `form` as `application/x-www-form-urlencoded` with `headers` added (to the gateway or
/// the admin listener) and expects a 200.
async fn post_form(client: &Client, path: &str, headers: &[(&str, &str)], form: &str) -> Got {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    let got = client.send(Method::POST, path, &all, form.to_owned()).await;
    assert_eq!(
        got.status,
        200,
        "{path}: {:?}",
        String::from_utf8_lossy(&got.body)
    );
    got
}

#[tokio::test]
async fn an_opted_out_persons_base64_beacon_gets_the_strict_policy_inside() {
    let routes = ph_base64("on_opt_out = \"strict\"");
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, &routes).await;
    let doc = r#"{"api_key":"k","batch":[{"event":"e","distinct_id":"user-7f3a9c2e"}]}"#;
    let body = beacon_form(doc);
    for headers in [&[][..], &[("sec-gpc", "1")]] {
        post_form(&client, "/ph/e/?compression=base64", headers, &body).await;
    }
    let got = up.requests();
    let read = |i: usize| vendor_reads(&got[i].uri, &got[i].body);
    let (normal, strict) = (read(0), read(1));
    let id = normal["batch"][0]["distinct_id"].as_str().expect("an id");
    assert!(id.starts_with("tok_"), "{normal}");
    assert!(
        strict["batch"][0].get("distinct_id").is_none(),
        "a linkable id is dropped under the opt-out: {strict}"
    );
    assert_eq!(strict["batch"][0]["event"], "e");
}

/// Name-value pairs in order, as a parser returns them.
type Pairs = Vec<(String, String)>;

/// Each line of a body as Python's `urllib.parse` reads it (`str.splitlines`, then
/// `parse_qsl` with strict parsing, blank values kept): one list of pairs per line, and the
/// query string likewise. The recipient side of gtag.js's batch, by a real parser.
fn python_reads(query: &str, body: &[u8]) -> (Pairs, Vec<Pairs>) {
    use std::io::Write as _;
    const SCRIPT: &str = r#"
import json, sys, urllib.parse
def pairs(text):
    return urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True,
                                  encoding="utf-8", errors="strict")
query = sys.argv[1]
body = sys.stdin.buffer.read().decode("utf-8")
print(json.dumps({"query": pairs(query), "lines": [pairs(l) for l in body.splitlines() if l]}))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT, query])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (the project's toolchain has it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("write");
    let out = child.wait_with_output().expect("python3 ran");
    assert!(
        out.status.success(),
        "Python cannot parse it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = |v: &Value| -> Pairs {
        v.as_array()
            .expect("pairs")
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("name").to_owned(),
                    p[1].as_str().expect("value").to_owned(),
                )
            })
            .collect()
    };
    (
        list(&v["query"]),
        v["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(list)
            .collect(),
    )
}

const GA4: &str = r#"
[[routes]]
name = "ga4"
path_prefix = "/ga4"
upstream = "http://{up}"
preset = "ga4"
"#;

#[tokio::test]
async fn gtag_batches_are_policed_line_by_line_and_read_by_python_as_sent() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, GA4).await;
    let sent = sdk_requests("ga4/gtag-collect-hand.jsonl")
        .into_iter()
        .find(|r| r.method == Method::POST)
        .expect("the recording has gtag.js's batch");
    assert!(
        sent.body.windows(2).any(|w| w == b"\r\n"),
        "CRLF-joined hits"
    );
    let got = replay(&client, &sent, &sent.target).await;
    assert_eq!(got.status, 200, "{:?}", String::from_utf8_lossy(&got.body));
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "forwarded once");
    let r = &seen[0];
    let (_, sent_query) = sent.target.split_once('?').expect("query");
    let (_, got_query) = r.uri.split_once('?').expect("query");
    let (_, before) = python_reads(sent_query, &sent.body);
    let (query, lines) = python_reads(got_query, &r.body);
    // The hits arrive as hits: same lines, same line ends, each a form Python reads strictly.
    assert_eq!(lines.len(), before.len(), "one hit per line");
    assert_eq!(
        r.body.iter().filter(|&&b| b == b'\n').count(),
        sent.body.iter().filter(|&&b| b == b'\n').count()
    );
    assert!(r.body.windows(2).any(|w| w == b"\r\n"), "CRLF kept");
    let get = |pairs: &[(String, String)], name: &str| -> Option<String> {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    for (line, was) in lines.iter().zip(&before) {
        // The event name and every parameter the policy keeps arrive as sent.
        assert_eq!(get(line, "en"), get(was, "en"));
        assert_eq!(get(line, "epn.value"), get(was, "epn.value"));
        assert_eq!(
            get(line, "ep.transaction_id"),
            get(was, "ep.transaction_id")
        );
        assert_eq!(get(line, "_et"), get(was, "_et"));
    }
    // Line 1: the email inside the event parameter is gone, the rest of the value stays.
    let email = get(&lines[0], "ep.customer_email").expect("the parameter stays");
    assert!(!email.contains('@'), "{email}");
    // Line 2: the postal address the preset drops is gone.
    assert_eq!(get(&lines[1], "ep.address"), None);
    // The shared parameters: the user id tokenized, the random client id kept.
    assert!(get(&query, "uid").is_some_and(|u| u.starts_with("tok_")));
    let (sent_shared, _) = python_reads(sent_query, b"");
    assert_eq!(get(&query, "cid"), get(&sent_shared, "cid"));
    assert_eq!(get(&query, "tid"), get(&sent_shared, "tid"));
    // Nowhere any value of the person, in any form GA could decode, but the page title's
    // name: free text with nothing in the hit naming the person (docs/PRESETS.md).
    let mut without_title = r.clone();
    let kept: Vec<&str> = got_query
        .split('&')
        .filter(|p| !p.starts_with("dt="))
        .collect();
    without_title.uri = format!("/ga4/g/collect?{}", kept.join("&"));
    assert_none_in_clear("gtag batch", &without_title, &person_values());
}

/// A gtag.js page title that names the person, on the shipped ga4 preset: where the hit also
/// gives the name as a user property (in its query, or in a line of a batch), the property is
/// dropped and the title loses the name, whole and by part, and the email and phone inside it;
/// the rest of the title and of the hit arrive as sent, read by Python's strict parser.
#[tokio::test]
async fn a_page_title_loses_the_name_the_hit_gives_as_a_property_and_still_parses() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, GA4).await;
    let shared = "v=2&tid=G-TEST12345&cid=1183956261.1764997200&uid=user-7f3a9c2e";
    // "Order confirmed – Ottilie Brandvold (ottilie.brandvold@example.org, +1 415 555 0199)",
    // then the surname alone, as a title may repeat it.
    let title = "dt=Order+confirmed+%E2%80%93+Ottilie+Brandvold+\
                 (ottilie.brandvold%40example.org%2C+%2B1+415+555+0199)+%C2%B7+Brandvold+household";
    let name = "up.first_name=Ottilie&up.last_name=Brandvold";
    let text = [("content-type", "text/plain;charset=UTF-8")];
    // A single hit in the query; a batch whose first line gives the name for the shared title.
    let hit = format!("/ga4/g/collect?{shared}&en=purchase&{name}&ep.item=Blue+mug&{title}");
    let got = client.send(Method::GET, &hit, &[], "").await;
    assert_eq!(got.status, 200, "{:?}", String::from_utf8_lossy(&got.body));
    let batch = format!("/ga4/g/collect?{shared}&{title}");
    let lines = format!("en=purchase&{name}&ep.item=Blue+mug\r\nen=user_engagement&_et=1200");
    let got = client.send(Method::POST, &batch, &text, lines).await;
    assert_eq!(got.status, 200, "{:?}", String::from_utf8_lossy(&got.body));

    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    let get = |pairs: &[(String, String)], name: &str| -> Option<String> {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    for (label, r) in ["query", "batch"].iter().zip(&seen) {
        let (_, query) = r.uri.split_once('?').expect("query");
        let (query, lines) = python_reads(query, &r.body);
        let dt = get(&query, "dt").expect("the title stays");
        assert!(dt.starts_with("Order confirmed \u{2013} "), "{label}: {dt}");
        assert!(dt.ends_with(" household"), "{label}: {dt}");
        for gone in ["Ottilie", "Brandvold", "@", "415"] {
            assert!(!dt.contains(gone), "{label}: {gone} in {dt}");
        }
        assert!(get(&query, "uid").is_some_and(|u| u.starts_with("tok_")));
        assert_eq!(get(&query, "tid").as_deref(), Some("G-TEST12345"));
        assert_eq!(get(&query, "cid").as_deref(), Some("1183956261.1764997200"));
        let hit = if lines.is_empty() { &query } else { &lines[0] };
        assert_eq!(get(hit, "en").as_deref(), Some("purchase"), "{label}");
        assert_eq!(get(hit, "ep.item").as_deref(), Some("Blue mug"), "{label}");
        assert_eq!(get(hit, "up.first_name"), None, "{label}");
        assert_eq!(get(hit, "up.last_name"), None, "{label}");
        assert_none_in_clear(label, r, &["Ottilie".to_owned(), "Brandvold".to_owned()]);
    }
    assert_eq!(python_reads("", &seen[1].body).1.len(), 2, "two hits");
}

/// The name after `ep.`/`up.` is the site's own and the rule on `ep`/`up` treats the value:
/// a name that is the person's address or card (`ep.ottilie.brandvold@example.org=1`) goes
/// with its pair, in the query hit and in a batch line, and the rest arrives as sent.
#[tokio::test]
async fn event_parameters_named_by_the_person_leave_the_ga4_preset_without_the_person() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, GA4).await;
    let shared = "v=2&tid=G-TEST12345&cid=1183956261.1764997200";
    let named = "ep.ottilie.brandvold%40example.org=1&up.4242+4242+4242+4242=visa&ep.item=Blue+mug";
    let text = [("content-type", "text/plain;charset=UTF-8")];
    let hit = format!("/ga4/g/collect?{shared}&en=purchase&{named}");
    let got = client.send(Method::GET, &hit, &[], "").await;
    assert_eq!(got.status, 200, "{:?}", String::from_utf8_lossy(&got.body));
    let batch = format!("/ga4/g/collect?{shared}");
    let lines = format!("en=purchase&{named}\r\nen=user_engagement&_et=1200");
    let got = client.send(Method::POST, &batch, &text, lines).await;
    assert_eq!(got.status, 200, "{:?}", String::from_utf8_lossy(&got.body));

    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    for (label, r) in ["query", "batch"].iter().zip(&seen) {
        let (_, query) = r.uri.split_once('?').expect("query");
        let (query, lines) = python_reads(query, &r.body);
        let hit = if lines.is_empty() { &query } else { &lines[0] };
        let params: Vec<(&str, &str)> = hit
            .iter()
            .filter(|(k, _)| k.starts_with("ep.") || k.starts_with("up."))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(params, [("ep.item", "Blue mug")], "{label}");
        assert!(
            hit.iter().any(|(k, v)| k == "en" && v == "purchase"),
            "{label}"
        );
        assert_none_in_clear(
            label,
            r,
            &[
                "ottilie.brandvold@example.org".to_owned(),
                "4242 4242 4242 4242".to_owned(),
                "4242424242424242".to_owned(),
            ],
        );
    }
}

#[tokio::test]
async fn gtag_batch_lines_that_line_splitters_read_differently_are_refused() {
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, GA4).await;
    let secret = "ottilie.brandvold%40example.org";
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        // A lone CR: a line break to `splitlines`, text to a CRLF splitter.
        (
            format!("en=a\ruid={secret}").into_bytes(),
            400,
            "ambiguous_request",
        ),
        // U+2028 raw: a line break to Python's `str.splitlines`.
        (
            format!("en=a&ep.x=1\u{2028}uid={secret}").into_bytes(),
            400,
            "ambiguous_request",
        ),
        // A line whose escape does not decode.
        (
            format!("en=a\r\nuid={secret}&ep.y=%zz").into_bytes(),
            400,
            "malformed_body",
        ),
        // A raw `;`: a pair separator to some servers.
        (
            format!("en=a;uid={secret}").into_bytes(),
            400,
            "ambiguous_request",
        ),
        // JSON labelled as the batch's text: not what the route reads text as.
        (
            format!(r#"{{"uid":"{secret}"}}"#).into_bytes(),
            400,
            "ambiguous_request",
        ),
    ];
    for (body, status, code) in cases {
        let got = client
            .send(
                Method::POST,
                "/ga4/g/collect?v=2&tid=G-TEST12345",
                &[("content-type", "text/plain;charset=UTF-8")],
                body.clone(),
            )
            .await;
        let label = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(
            got.status,
            status,
            "{label}: {:?}",
            String::from_utf8_lossy(&got.body)
        );
        assert_eq!(got.error_code(), code, "{label}");
        assert!(!String::from_utf8_lossy(&got.body).contains("ottilie"));
    }
    assert!(up.requests().is_empty(), "nothing reached the upstream");
}

#[tokio::test]
async fn the_admin_preview_reads_the_coding_its_request_query_names() {
    let routes = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_env = \"ADMIN_TOKEN\"\n{}",
        ph_base64("")
    );
    let Stack { up, gw, client } =
        Stack::start_with_env(Reply::Ok, &routes, &[("ADMIN_TOKEN", "t0ken")]).await;
    let admin = Client::new(gw.admin.expect("admin listener"), None, Proto::H1);
    let doc = r#"{"batch":[{"event":"$pageview","distinct_id":"ottilie-7f3a"}]}"#;
    let form = beacon_form(doc);
    let token = [("authorization", "Bearer t0ken")];
    let preview = "/v1/preview/ph?request_query=compression%3Dbase64";
    let got = post_form(&admin, preview, &token, &form).await;
    let previewed = vendor_reads("/e/?compression=base64", &got.body);
    let id = previewed["batch"][0]["distinct_id"].as_str().expect("id");
    assert!(id.starts_with("tok_"), "{previewed}");
    // The gateway forwards the same bytes for the same request.
    post_form(&client, "/ph/e/?compression=base64", &[], &form).await;
    assert_eq!(up.requests()[0].body, got.body, "preview == forward");
    // Without the query the body is a plain form whose `data` no rule reads.
    let got = post_form(&admin, "/v1/preview/ph", &token, &form).await;
    assert_eq!(got.body, form.as_bytes());
}
