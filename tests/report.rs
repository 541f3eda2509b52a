//! Detection and disclosure through the real stack: detection (`observe`, `enforce`), allow-list mode, the
//! disclosure ledger and its report, restarts of the real binary, and canaries in the store.

use std::net::SocketAddr;
use std::time::Duration;

use http::Method;
use serde_json::Value;

use crate::support::{
    Client, Piigate, Proto, Reply, Stack, TestGateway, Upstream, assert_absent, gateway_config,
    postgres_url, write_config,
};

const TOKEN: &str = "report-admin-token";

/// Values no rule names; each must be found, and none may reach the ledger.
const EMAIL: &str = "canary.contact@report-test.example";
const PHONE: &str = "+92 300 7654321";
const CARD: &str = "4111 1111 1111 1111";

const ROUTES: &str = r#"
[[routes]]
name = "seg"
path_prefix = "/seg"
upstream = "http://{up}"
purpose = "analytics"
detect = "observe"

[[routes.rules]]
select = "$.batch[*].userId"
action = "tokenize"

[[routes]]
name = "crm"
path_prefix = "/crm"
upstream = "http://{up}"
purpose = "processor"
detect = "enforce"

[routes.detect_actions]
phone = { action = "mask", keep_last = 3 }

[[routes.rules]]
select = "$.userId"
action = "hash"
preset = "meta"
normalize = "external_id"

[[routes]]
name = "ads"
path_prefix = "/ads"
upstream = "http://{up}"
purpose = "sale_or_share"
unknown_fields = "drop"
detect = "observe"
on_opt_out = "block"

[[routes.rules]]
select = ["$.event", "$.properties.value"]
action = "keep"

[[routes.rules]]
select = "$.email"
action = "hash"
preset = "google"
normalize = "email"

[[routes]]
name = "collect"
path_prefix = "/collect"
upstream = "http://{up}"
purpose = "marketing"
detect = "enforce"
"#;

/// Everything but the shared header ([`gateway_config`]): the admin API, `store`, the routes.
fn rest(store: &str) -> String {
    format!("[admin]\nlisten = \"127.0.0.1:0\"\ntoken_env = \"ADMIN_TOKEN\"\n{store}\n{ROUTES}")
}

fn config(up: SocketAddr, store: &str) -> String {
    gateway_config(up, &rest(store))
}

const FILE_STORE: &str = "[store]\npath = \"{dir}/store.db\"";

fn batch() -> String {
    format!(
        r#"{{"batch":[{{"userId":"u1","properties":{{"contact_email":"{EMAIL}","plan":"pro"}}}},{{"userId":"u2","properties":{{"contact_email":"b.{EMAIL}"}},"context":{{"support":{{"subject":"call me on {PHONE} please"}}}}}}]}}"#
    )
}

async fn admin(addr: SocketAddr, path: &str, auth: Option<&str>) -> crate::support::Got {
    let client = Client::new(addr, None, Proto::H1);
    let header = auth.map_or_else(|| format!("Bearer {TOKEN}"), str::to_owned);
    client
        .send(Method::GET, path, &[("authorization", header.as_str())], "")
        .await
}

async fn report(addr: SocketAddr) -> Value {
    let got = admin(addr, "/v1/report", None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    got.json()
}

fn field<'a>(report: &'a Value, route: &str, path: &str) -> Option<&'a Value> {
    report["undeclared_fields"]
        .as_array()?
        .iter()
        .find(|f| f["route"] == route && f["field_path"] == path)
}

fn cell(report: &Value, route: &str, category: &str, treatment: &str) -> u64 {
    report["disclosures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["route"] == route && r["category"] == category && r["treatment"] == treatment)
        .filter_map(|r| r["count"].as_u64())
        .sum()
}

#[tokio::test]
async fn observe_forwards_unchanged_and_the_report_names_path_and_class() {
    let Stack { up, gw, client } =
        Stack::start_with_env(Reply::Ok, &rest(FILE_STORE), &[("ADMIN_TOKEN", TOKEN)]).await;
    let body = batch();
    let got = client.post_json("/seg/v1/batch", &body).await;
    assert_eq!(got.status, 200);
    let sent: Value = serde_json::from_slice(&up.requests()[0].body).expect("json");
    // The rule still applies; everything else is byte for byte what the app sent.
    let token = |i: usize| {
        sent["batch"][i]["userId"]
            .as_str()
            .expect("token")
            .to_owned()
    };
    assert!(token(0).starts_with("tok_"));
    let expected = body
        .replace(r#""userId":"u1""#, &format!(r#""userId":"{}""#, token(0)))
        .replace(r#""userId":"u2""#, &format!(r#""userId":"{}""#, token(1)));
    assert_eq!(String::from_utf8_lossy(&up.requests()[0].body), expected);

    let r = report(gw.admin.expect("admin")).await;
    let email = field(&r, "seg", "$.batch[*].properties.contact_email").expect("email field");
    assert_eq!(email["class"], "email");
    assert_eq!(email["count"], 2);
    assert_eq!(email["letter"], "A");
    let phone = field(&r, "seg", "$.batch[*].context.support.subject").expect("phone in text");
    assert_eq!(phone["class"], "phone");
    assert_eq!(cell(&r, "seg", "identifiers", "clear"), 2);
    assert_eq!(cell(&r, "seg", "customer_records", "clear"), 1);
    // `userId` names no class: its tokens are counted, unclassified.
    assert_eq!(cell(&r, "seg", "unclassified", "tokenized"), 2);
    // The notice: identifiers went to `seg` for a business purpose, in clear.
    let a = &r["notice"][0];
    assert_eq!(a["letter"], "A");
    assert_eq!(a["business_purpose"], serde_json::json!(["seg"]));
}

#[tokio::test]
async fn enforce_redacts_detected_values_and_applies_configured_class_actions() {
    let Stack { up, gw, client } =
        Stack::start_with_env(Reply::Ok, &rest(FILE_STORE), &[("ADMIN_TOKEN", TOKEN)]).await;
    let body = format!(
        r#"{{"userId":"u-77","ticket":{{"requester":"{EMAIL}","callback":"{PHONE}","card":"{CARD}","body":"hello"}}}}"#
    );
    assert_eq!(client.post_json("/crm/tickets", &body).await.status, 200);
    let sent: Value = serde_json::from_slice(&up.requests()[0].body).expect("json");
    let t = &sent["ticket"];
    assert_eq!(t["requester"], "[REDACTED:email]");
    assert_eq!(
        t["callback"], "+** *** ****321",
        "phone = mask, keep_last = 3"
    );
    assert_eq!(t["card"], "[REDACTED:payment_card]");
    assert_eq!(t["body"], "hello");
    assert_eq!(
        sent["userId"].as_str().map(str::len),
        Some(64),
        "the rule still hashes"
    );
    assert_absent(
        &up.requests()[0].body,
        &[EMAIL, "7654321", "1111 1111 1111"],
    );

    // Forms and query strings too.
    let form = format!(
        "email={}&plan=pro&items%5B0%5D%5Bphone%5D={}",
        EMAIL.replace('@', "%40"),
        PHONE.replace('+', "%2B").replace(' ', "+")
    );
    let got = client
        .send(
            Method::POST,
            &format!("/crm/form?ref=x&contact={}", EMAIL.replace('@', "%40")),
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(got.status, 200);
    let rec = &up.requests()[1];
    assert_eq!(
        String::from_utf8_lossy(&rec.body),
        "email=%5BREDACTED%3Aemail%5D&plan=pro&items%5B0%5D%5Bphone%5D=%2B**+***+****321"
    );
    assert!(
        rec.uri.ends_with("?ref=x&contact=%5BREDACTED%3Aemail%5D"),
        "{}",
        rec.uri
    );

    let r = report(gw.admin.expect("admin")).await;
    assert_eq!(cell(&r, "crm", "identifiers", "redacted"), 3);
    assert_eq!(cell(&r, "crm", "customer_records", "masked"), 2);
    assert_eq!(cell(&r, "crm", "customer_records", "redacted"), 1);
    for path in [
        "$.ticket.requester",
        "$.ticket.callback",
        "form:email",
        "form:items[*][phone]",
        "query:contact",
    ] {
        assert!(field(&r, "crm", path).is_some(), "{path}: {r}");
    }
    // Redacted values never reached `crm`: only masked phones count as disclosed.
    assert_eq!(r["notice"][0]["business_purpose"], serde_json::json!([]));
    assert_eq!(
        r["notice"][1]["business_purpose"],
        serde_json::json!(["crm"])
    );
}

#[tokio::test]
async fn allow_list_forwards_only_named_fields_and_opt_outs_are_recorded() {
    let Stack { up, gw, client } =
        Stack::start_with_env(Reply::Ok, &rest(FILE_STORE), &[("ADMIN_TOKEN", TOKEN)]).await;
    let body = format!(
        r#"{{"event":"Purchase","email":"{EMAIL}","properties":{{"value":42,"coupon":"X1","buyer_phone":"{PHONE}"}},"context":{{"ip":"203.0.113.9"}}}}"#
    );
    assert_eq!(client.post_json("/ads/track", &body).await.status, 200);
    let sent: Value = serde_json::from_slice(&up.requests()[0].body).expect("json");
    let keys: Vec<&str> = sent
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec!["email", "event", "properties"],
        "serde_json sorts keys"
    );
    assert_eq!(sent["properties"], serde_json::json!({"value": 42}));
    assert_eq!(sent["email"].as_str().map(str::len), Some(64));
    assert_absent(&up.requests()[0].body, &[EMAIL, "7654321", "203.0.113.9"]);

    // Sec-GPC on a `block` route: nothing is sent; the signal is counted.
    let got = client
        .send(
            Method::POST,
            "/ads/track",
            &[("content-type", "application/json"), ("sec-gpc", "1")],
            body.clone(),
        )
        .await;
    assert_eq!(got.status, 451);
    assert_eq!(up.requests().len(), 1);

    let r = report(gw.admin.expect("admin")).await;
    // Dropped values are reported where detection found them.
    let dropped = field(&r, "ads", "$.properties.buyer_phone").expect("dropped phone");
    assert_eq!(dropped["class"], "phone");
    assert!(field(&r, "ads", "$.context.ip").is_some());
    assert_eq!(cell(&r, "ads", "customer_records", "dropped"), 1);
    assert_eq!(
        cell(&r, "ads", "identifiers", "hashed"),
        1,
        "$.email is an identifier"
    );
    assert_eq!(cell(&r, "ads", "opt_out", "blocked"), 1);
    let ads = r["recipients"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["route"] == "ads"))
        .expect("ads");
    assert_eq!(ads["opt_out"]["blocked"], 1);
    // Hashed emails went to a sale/share recipient.
    assert_eq!(r["notice"][0]["sold_or_shared"], serde_json::json!(["ads"]));
}

#[tokio::test]
async fn report_endpoints_need_the_token_and_validate_dates() {
    let Stack { up: _up, gw, .. } =
        Stack::start_with_env(Reply::Ok, &rest(FILE_STORE), &[("ADMIN_TOKEN", TOKEN)]).await;
    let addr = gw.admin.expect("admin");
    let client = Client::new(addr, None, Proto::H1);
    let plain = client.send(Method::GET, "/report", &[], "").await;
    assert_eq!(plain.status, 401);
    assert!(
        plain.headers["www-authenticate"]
            .to_str()
            .is_ok_and(|v| v.starts_with("Basic ")),
        "browsers are asked for the token"
    );
    assert_eq!(
        admin(addr, "/v1/report", Some("Bearer wrong")).await.status,
        401
    );
    assert_eq!(
        admin(addr, "/report", Some("Basic d3Jvbmc6d3Jvbmc="))
            .await
            .status,
        401
    );
    // Basic: any user name, the token as the password. Bearer works too.
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("officer:{TOKEN}"))
    );
    for auth in [basic.as_str(), &format!("Bearer {TOKEN}")] {
        let page = admin(addr, "/report?from=2020-01-01", Some(auth)).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .is_ok_and(|v| v.starts_with("default-src 'none'"))
        );
        let html = String::from_utf8_lossy(&page.body);
        assert!(html.contains("<section id=\"notice\">"));
        assert!(html.contains("2020-01-01"));
    }
    // A basic header is not accepted on the API.
    assert_eq!(admin(addr, "/v1/report", Some(&basic)).await.status, 401);
    for bad in [
        "from=2024-02-30",
        "to=yesterday",
        "from=2024-13-01",
        "to=2024-1-1",
    ] {
        let got = admin(addr, &format!("/v1/report?{bad}"), None).await;
        assert_eq!(got.status, 400, "{bad}");
        assert_eq!(got.error_code(), "bad_date_range");
    }
    // `from` after `to` is an empty range, not an error.
    let got = admin(addr, "/v1/report?from=2026-02-01&to=2026-01-01", None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["recipients"], serde_json::json!([]));
    let r = report(addr).await;
    assert_eq!(r["notice"].as_array().map(Vec::len), Some(11));
}

fn store_canaries() -> [&'static str; 4] {
    [EMAIL, "7654321", "1111 1111 1111", "u-secret-user"]
}

/// The real binary, killed hard after a flush and stopped cleanly after more traffic: each
/// restart's report shows everything recorded before the last flush, and neither the store
/// file nor the report ever contains a value.
#[tokio::test]
async fn report_survives_restarts_of_the_real_binary_and_holds_no_values() {
    let up = Upstream::start(None, Reply::Ok).await;
    let (dir, path) = write_config(&config(
        up.addr,
        "[store]\npath = \"{dir}/store.db\"\nledger_flush_secs = 1",
    ));
    let env = [("ADMIN_TOKEN", TOKEN)];
    let send = |addr: SocketAddr| async move {
        let client = Client::new(addr, None, Proto::H1);
        let body = format!(
            r#"{{"batch":[{{"userId":"u-secret-user","properties":{{"contact_email":"{EMAIL}","card":"{CARD}"}},"context":{{"phone":"{PHONE}"}}}}]}}"#
        );
        assert_eq!(client.post_json("/seg/v1/batch", &body).await.status, 200);
    };

    let first = Piigate::start(&path, &env, "info", true);
    send(first.addr).await;
    // Past one flush interval, then SIGKILL: only the periodic flush can have saved it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(first);

    let second = Piigate::start(&path, &env, "info", true);
    let r = report(second.admin.expect("admin")).await;
    let email = field(&r, "seg", "$.batch[*].properties.contact_email").expect("kept over SIGKILL");
    assert_eq!(email["count"], 1);
    assert!(field(&r, "seg", "$.batch[*].properties.card").is_some());
    // Another request, then a clean stop: the shutdown flush saves it.
    send(second.addr).await;
    second.signal("TERM");
    let (status, log) = second.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{log}");
    assert_absent(log.as_bytes(), &store_canaries());

    let third = Piigate::start(&path, &env, "info", true);
    let admin_addr = third.admin.expect("admin");
    let r = report(admin_addr).await;
    let email = field(&r, "seg", "$.batch[*].properties.contact_email").expect("kept");
    assert_eq!(email["count"], 2);
    assert_eq!(
        cell(&r, "seg", "customer_records", "clear"),
        4,
        "card + phone, twice"
    );
    let html = admin(admin_addr, "/report", None).await;
    assert!(String::from_utf8_lossy(&html.body).contains("$.batch[*].context.phone"));
    third.signal("TERM");
    let (_, log) = third.wait_exit(Duration::from_secs(20)).await;

    // Canaries: the store file, the report and the logs hold counts and paths, never values.
    let store = std::fs::read(dir.path().join("store.db")).expect("store file");
    assert!(!store.is_empty());
    assert_absent(&store, &store_canaries());
    assert_absent(&serde_json::to_vec(&r).expect("json"), &store_canaries());
    assert_absent(&html.body, &store_canaries());
    assert_absent(log.as_bytes(), &store_canaries());
}

/// The same report from a PostgreSQL-backed gateway (skipped without a test database).
#[tokio::test]
async fn report_from_a_postgres_store() {
    let Some(url) = postgres_url("report::report_from_a_postgres_store") else {
        return;
    };
    let up = Upstream::start(None, Reply::Ok).await;
    let ca_line = std::env::var("PIIGATE_TEST_POSTGRES_CA")
        .map(|p| format!("ca = \"{p}\"\n"))
        .unwrap_or_default();
    // Other tests share the database: a route name of our own keeps the rows apart.
    let route = format!("seg{}", std::process::id());
    let cfg = config(
        up.addr,
        &format!("[store]\nkind = \"postgres\"\nurl_env = \"PG_URL\"\n{ca_line}"),
    )
    .replace("name = \"seg\"", &format!("name = \"{route}\""));
    let gw = TestGateway::start_with_env(&cfg, &[("ADMIN_TOKEN", TOKEN), ("PG_URL", &url)]).await;
    let client = Client::new(gw.addr, None, Proto::H1);
    assert_eq!(
        client.post_json("/seg/v1/batch", &batch()).await.status,
        200
    );
    let r = report(gw.admin.expect("admin")).await;
    let email = field(&r, &route, "$.batch[*].properties.contact_email").expect("email");
    assert_eq!(email["count"], 2);
    assert_absent(&serde_json::to_vec(&r).expect("json"), &[EMAIL, "7654321"]);
}
