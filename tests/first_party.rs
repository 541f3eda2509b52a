//! First-party proxy hygiene through the real stack: a browser on the site's origin sends every
//! cookie of that origin and the page's full URL; a route forwards only the cookies it names
//! (each through its rule), the `Referer` and `Origin` as origins, and lets back only the
//! `Set-Cookie` lines of cookies it names.

use http::Method;

use crate::support::{Client, Proto, Reply, Stack, TestGateway, Upstream, assert_absent};

const EMAIL: &str = "ottilie.brandvold@example.org";
const SESSION: &str = "sess-7Hq2LmZ9xK4";
const UID: &str = "user-7f3a9c2e";

/// What a browser on `https://shop.example.com/checkout?email=…` attaches to a same-origin
/// request: the site's session, a first-party cookie with the email, Mixpanel's cookie
/// (percent-encoded JSON with the id and a registered email), Snowplow's collector cookie.
fn browser_headers() -> Vec<(&'static str, String)> {
    let mp = "%7B%22distinct_id%22%3A%22user-7f3a9c2e%22%2C%22%24device_id%22%3A%22d-19a%22%2C%22email%22%3A%22ottilie.brandvold%40example.org%22%7D";
    vec![
        (
            "cookie",
            format!(
                "site_session={SESSION}; last_login=ottilie.brandvold%40example.org; mp_tok123_mixpanel={mp}; sp=4b5e9d1c-7a4e-4f0e-9a62-0c1d2e3f4a5b"
            ),
        ),
        (
            "referer",
            format!(
                "https://shop.example.com/checkout/confirm?email=ottilie.brandvold%40example.org&uid={UID}"
            ),
        ),
        ("origin", "https://shop.example.com".to_owned()),
        ("content-type", "application/json".to_owned()),
    ]
}

const ROUTES: &str = r#"
# A route without a single rule: still no cookie and no full URL leaves.
[[routes]]
name = "plain"
path_prefix = "/plain"
upstream = "http://{up}"

[[routes]]
name = "vendor"
path_prefix = "/vendor"
upstream = "http://{up}"

[[routes.rules]]
select = "cookie:sp"
action = "keep"

[[routes.rules]]
select = ["cookie:mp_*_mixpanel=>$.distinct_id", "cookie:mp_*_mixpanel=>$.email"]
action = "tokenize"

[[routes.rules]]
select = "$.email"
action = "tokenize"

# A route that wants the full Referer names it.
[[routes]]
name = "named"
path_prefix = "/named"
upstream = "http://{up}"

[[routes.rules]]
select = "header:referer"
action = "keep"

[[routes.rules]]
select = "cookie:*"
action = "keep"
"#;

async fn setup(reply: Reply) -> (Upstream, TestGateway) {
    let Stack { up, gw, .. } = Stack::start(reply, ROUTES).await;
    (up, gw)
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> Vec<&'a str> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().expect("text"))
        .collect()
}

#[tokio::test]
async fn a_route_without_rules_forwards_no_cookie_and_only_the_origin() {
    let (up, gw) = setup(Reply::Ok).await;
    for proto in [Proto::H1, Proto::H2] {
        let client = Client::new(gw.addr, None, proto);
        let hs = browser_headers();
        let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = client.send(Method::POST, "/plain/track", &hs, "{}").await;
        assert_eq!(got.status, 200, "{proto:?}");
    }
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert!(r.headers.get("cookie").is_none(), "{:?}", r.headers);
        assert_eq!(header(&r.headers, "referer"), ["https://shop.example.com/"]);
        assert_eq!(header(&r.headers, "origin"), ["https://shop.example.com"]);
    }
    assert_absent(&up.raw_bytes(), &[EMAIL, SESSION, UID, "sp=", "mixpanel"]);
}

#[tokio::test]
async fn named_cookies_pass_through_their_rules_and_the_rest_are_removed() {
    let (up, gw) = setup(Reply::Ok).await;
    let client = Client::new(gw.addr, None, Proto::H1);
    let hs = browser_headers();
    let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let got = client
        .send(
            Method::POST,
            "/vendor/track",
            &hs,
            format!(r#"{{"email":"{EMAIL}"}}"#),
        )
        .await;
    assert_eq!(got.status, 200);
    let seen = up.requests();
    let cookie = header(&seen[0].headers, "cookie");
    assert_eq!(cookie.len(), 1, "one Cookie line");
    let pairs: Vec<(&str, &str)> = cookie[0]
        .split("; ")
        .map(|p| p.split_once('=').expect("pair"))
        .collect();
    let names: Vec<&str> = pairs.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["mp_tok123_mixpanel", "sp"]);
    assert_eq!(pairs[1].1, "4b5e9d1c-7a4e-4f0e-9a62-0c1d2e3f4a5b");
    // Mixpanel's cookie is still percent-encoded JSON its script reads back, with the id and
    // the email tokenized and the device id untouched.
    let decoded = percent_decode(pairs[0].1);
    let doc: serde_json::Value = serde_json::from_str(&decoded).expect("JSON");
    assert!(
        doc["distinct_id"].as_str().expect("s").starts_with("tok_"),
        "{doc}"
    );
    assert!(
        doc["email"].as_str().expect("s").starts_with("tok_"),
        "{doc}"
    );
    assert_eq!(doc["$device_id"], "d-19a");
    assert_absent(
        &up.raw_bytes(),
        &[EMAIL, SESSION, UID, "site_session", "last_login"],
    );
}

#[tokio::test]
async fn a_forwarded_cookie_with_two_readings_is_refused_and_an_unnamed_one_is_just_removed() {
    let (up, gw) = setup(Reply::Ok).await;
    let client = Client::new(gw.addr, None, Proto::H1);
    // RFC 2965 servers split on `,`: `sp=x, site_session=…` would hand them the session.
    for cookie in [
        format!("sp=x, site_session={SESSION}"),
        "sp=a b".to_owned(),
        "sp=\"open".to_owned(),
    ] {
        let got = client
            .send(Method::POST, "/vendor/t", &[("cookie", &cookie)], "")
            .await;
        assert_eq!(got.status, 400, "{cookie}");
        assert_eq!(got.error_code(), "ambiguous_request", "{cookie}");
    }
    // The same shapes in cookies nobody forwards cost nothing.
    let got = client
        .send(
            Method::POST,
            "/vendor/t",
            &[(
                "cookie",
                &format!("a=x, site_session={SESSION}; b=c d; sp=ok"),
            )],
            "",
        )
        .await;
    assert_eq!(got.status, 200);
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(header(&seen[0].headers, "cookie"), ["sp=ok"]);
}

#[tokio::test]
async fn http2_cookie_crumbs_are_joined_before_they_are_filtered() {
    let (up, gw) = setup(Reply::Ok).await;
    let client = Client::new(gw.addr, None, Proto::H2);
    let got = client
        .send(
            Method::GET,
            "/vendor/i",
            &[
                ("cookie", &format!("site_session={SESSION}")),
                ("cookie", "sp=crumb"),
                ("cookie", "other=1"),
            ],
            "",
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(header(&up.requests()[0].headers, "cookie"), ["sp=crumb"]);
}

#[tokio::test]
async fn a_header_rule_takes_over_the_referer_and_cookie_star_forwards_every_cookie() {
    let (up, gw) = setup(Reply::Ok).await;
    let client = Client::new(gw.addr, None, Proto::H1);
    let hs = browser_headers();
    let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let got = client.send(Method::POST, "/named/x", &hs, "{}").await;
    assert_eq!(got.status, 200);
    let r = &up.requests()[0];
    assert!(header(&r.headers, "referer")[0].contains("uid=user-7f3a9c2e"));
    assert!(header(&r.headers, "cookie")[0].contains(&format!("site_session={SESSION}")));
}

#[tokio::test]
async fn referrer_spellings_and_odd_origins_are_reduced_or_removed() {
    let (up, gw) = setup(Reply::Ok).await;
    let client = Client::new(gw.addr, None, Proto::H1);
    let got = client
        .send(
            Method::GET,
            "/plain/x",
            &[
                // express's req.get('referer') answers the `Referrer` spelling first.
                (
                    "referrer",
                    "https://Shop.example.com:8443/p?email=a%40b.example",
                ),
                (
                    "origin",
                    "https://shop.example.com/with/a/path?uid=user-7f3a9c2e",
                ),
            ],
            "",
        )
        .await;
    assert_eq!(got.status, 200);
    let got = client
        .send(
            Method::GET,
            "/plain/y",
            &[
                ("referer", "/relative?email=a%40b.example"),
                ("origin", "null"),
            ],
            "",
        )
        .await;
    assert_eq!(got.status, 200);
    let seen = up.requests();
    assert_eq!(
        header(&seen[0].headers, "referrer"),
        ["https://shop.example.com:8443/"]
    );
    assert_eq!(
        header(&seen[0].headers, "origin"),
        ["https://shop.example.com"]
    );
    assert!(seen[1].headers.get("referer").is_none());
    assert_eq!(header(&seen[1].headers, "origin"), ["null"]);
    assert_absent(&up.raw_bytes(), &["a%40b.example", UID]);
}

#[tokio::test]
async fn only_named_cookies_are_set_back_on_the_site() {
    let (_up, gw) = setup(Reply::SetCookies(&[
        "sp=4b5e; Path=/; Max-Age=31536000; SameSite=None; Secure",
        "site_session=attacker; Path=/; HttpOnly",
        "tracking=1",
    ]))
    .await;
    let client = Client::new(gw.addr, None, Proto::H1);
    let got = client.send(Method::GET, "/vendor/i", &[], "").await;
    assert_eq!(
        header(&got.headers, "set-cookie"),
        ["sp=4b5e; Path=/; Max-Age=31536000; SameSite=None; Secure"]
    );
    let got = client.send(Method::GET, "/plain/i", &[], "").await;
    assert!(got.headers.get("set-cookie").is_none());
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// The `Cookie`, `Referer` and `Origin` headers the browser SDKs really sent (the recordings
/// under tests/data/sdk), replayed on routes that name only their vendor's preset: the site's
/// session and its email cookie never leave, each vendor's own cookies leave policed (ids
/// tokenized, the registered email tokenized, the landing URL dropped), and no value of the
/// test person is in any header the upstream gets, percent-decoded or not.
#[tokio::test]
async fn recorded_browser_cookies_leave_only_as_their_vendors_preset_polices_them() {
    let mut routes = String::new();
    for (vendor, preset) in [
        ("mixpanel", "mixpanel"),
        ("posthog", "posthog"),
        ("segment", "segment"),
        ("snowplow", "snowplow"),
    ] {
        routes.push_str(&format!(
            "[[routes]]\nname = \"{vendor}\"\npath_prefix = \"/{vendor}\"\nupstream = \"http://{{up}}\"\npreset = \"{preset}\"\n",
        ));
    }
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, &routes).await;
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "mixpanel/mixpanel-browser.jsonl",
            "mixpanel",
            &["mp_mp_test_project_token_mixpanel"],
        ),
        (
            "posthog/posthog-js.jsonl",
            "posthog",
            &["ph_phc_test_project_key_posthog"],
        ),
        (
            "segment/analytics-next.jsonl",
            "segment",
            &["ajs_user_id", "ajs_anonymous_id"],
        ),
        ("snowplow/snowplow-browser.jsonl", "snowplow", &[]),
    ];
    for (i, (file, vendor, names)) in cases.iter().enumerate() {
        let text = std::fs::read_to_string(crate::support::repo(&format!("tests/data/sdk/{file}")))
            .expect("recording");
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("a request")).expect("JSON line");
        let mut hs: Vec<(String, String)> =
            vec![("content-type".into(), "application/json".into())];
        for h in first["headers"].as_array().expect("headers") {
            let (k, v) = (h[0].as_str().expect("name"), h[1].as_str().expect("value"));
            if ["cookie", "referer", "origin"].contains(&k.to_ascii_lowercase().as_str()) {
                hs.push((k.to_ascii_lowercase(), v.to_owned()));
            }
        }
        assert!(hs.iter().any(|(k, _)| k == "cookie"), "{file} sent cookies");
        let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let got = client
            .send(Method::POST, &format!("/{vendor}/t"), &hs, "{}")
            .await;
        assert_eq!(got.status, 200, "{file}: {:?}", got.body);
        let seen = &up.requests()[i];
        let cookie = header(&seen.headers, "cookie");
        let sent: Vec<&str> = cookie
            .iter()
            .flat_map(|c| c.split("; "))
            .map(|p| p.split_once('=').expect("pair").0)
            .collect();
        assert_eq!(&sent, names, "{file}: {cookie:?}");
        for r in header(&seen.headers, "referer") {
            assert_eq!(r, "http://127.0.0.1:47155/", "{file}");
        }
        let decoded: Vec<String> = cookie.iter().map(|c| percent_decode(c)).collect();
        let all = format!("{cookie:?} {decoded:?} {:?}", seen.headers);
        assert_absent(
            all.as_bytes(),
            &[
                EMAIL,
                SESSION,
                UID,
                "site_session",
                "last_login",
                "Brandvold",
            ],
        );
    }
}

/// JSON read out of a named cookie is a document like any other: on a route with detection
/// enforced, a value under a name no rule knows (a super property an app registered) is treated
/// by its class before the cookie leaves.
#[tokio::test]
async fn detection_reaches_the_json_inside_a_named_cookie() {
    let routes = "[[routes]]\nname = \"v\"\npath_prefix = \"/v\"\nupstream = \"http://{up}\"\n\
                  detect = \"enforce\"\n\
                  [[routes.rules]]\nselect = \"cookie:state=>$.id\"\naction = \"tokenize\"\n";
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, routes).await;
    let state = "%7B%22id%22%3A%22user-7f3a9c2e%22%2C%22contact%22%3A%22ottilie.brandvold%40example.org%22%2C%22plan%22%3A%22pro%22%7D";
    let got = client
        .send(
            Method::POST,
            "/v/t",
            &[
                ("cookie", &format!("state={state}; site_session={SESSION}")),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    assert_eq!(got.status, 200);
    let seen = up.requests();
    let cookie = header(&seen[0].headers, "cookie");
    let value = cookie[0]
        .strip_prefix("state=")
        .expect("only the named cookie");
    let doc: serde_json::Value = serde_json::from_str(&percent_decode(value)).expect("JSON");
    assert!(doc["id"].as_str().expect("s").starts_with("tok_"), "{doc}");
    assert_eq!(doc["contact"], "[REDACTED:email]", "{doc}");
    assert_eq!(doc["plan"], "pro");
    assert_absent(&up.raw_bytes(), &[EMAIL, UID, SESSION]);
}

/// Mixpanel's cookie persists the landing page's referrer; through the mixpanel preset its
/// `email` and `uid` parameters are tokenized inside the URL inside the JSON inside the cookie,
/// and the cookie is still the percent-encoded JSON mixpanel-browser reads back.
#[tokio::test]
async fn a_url_inside_a_vendor_cookie_loses_the_persons_parameters() {
    let routes = "[[routes]]\nname = \"mixpanel\"\npath_prefix = \"/mixpanel\"\n\
                  upstream = \"http://{up}\"\npreset = \"mixpanel\"\n";
    let Stack {
        up,
        gw: _gw,
        client,
    } = Stack::start(Reply::Ok, routes).await;
    let doc = serde_json::json!({
        "distinct_id": "$device:5c1",
        "$initial_referrer": format!("https://mail.example.net/inbox?email=ottilie.brandvold%40example.org&uid={UID}&tab=1"),
        "plan": "pro",
    });
    let value: String = doc
        .to_string()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let got = client
        .send(
            Method::POST,
            "/mixpanel/track/",
            &[
                ("cookie", &format!("mp_tok_mixpanel={value}")),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "data=e30%3D",
        )
        .await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let seen = up.requests();
    let cookie = header(&seen[0].headers, "cookie");
    let v = cookie[0]
        .strip_prefix("mp_tok_mixpanel=")
        .expect("the cookie");
    let out: serde_json::Value = serde_json::from_str(&percent_decode(v)).expect("JSON");
    let url = out["$initial_referrer"].as_str().expect("URL");
    assert!(
        url.starts_with("https://mail.example.net/inbox?email=tok_"),
        "{url}"
    );
    assert!(
        url.contains("&uid=tok_") && url.ends_with("&tab=1"),
        "{url}"
    );
    assert_eq!(out["plan"], "pro");
    assert_absent(&up.raw_bytes(), &[EMAIL, UID]);
}
