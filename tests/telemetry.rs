//! What the operator sees: the access log ties a request to the client's trace, and `/metrics`
//! carries build and process information and no series that cannot occur.

use http::Method;

use crate::support::{Client, Process, Proto, Reply, Stack, Upstream, write_config};

const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn access_log_carries_the_trace_id_and_metrics_export_only_possible_series() {
    let up = Upstream::start(None, Reply::Ok).await;
    let (_dir, path) = write_config(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [keys]\nfile = \"keys.toml\"\n\
         [[routes]]\nname = \"seg\"\npath_prefix = \"/seg\"\nupstream = \"http://{}\"\n\
         [[routes.rules]]\nselect = \"$.email\"\naction = \"tokenize\"\n",
        up.addr
    ));
    let gw = Process::spawn(&path, &[]);
    let client = Client::new(gw.proxy, None, Proto::H1);
    let body = r#"{"email":"ann@example.com"}"#.to_owned();
    let ct = ("content-type", "application/json");
    let r = client
        .send(
            Method::POST,
            "/seg/t",
            &[ct, ("traceparent", TRACE)],
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 200);
    // A malformed header (here carrying an email) is logged as `invalid`, never as its text.
    let r = client
        .send(
            Method::POST,
            "/seg/t",
            &[ct, ("traceparent", "00-bob@example.com-trace")],
            body,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = client.send(Method::GET, "/nowhere", &[], "").await;
    assert_eq!(r.status, 404);

    let admin = Client::new(gw.admin.expect("admin"), None, Proto::H1);
    let metrics = admin.send(Method::GET, "/metrics", &[], "").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains(&format!(
            "piigate_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{metrics}"
    );
    for process in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(
            metrics.contains(&format!("\n{process}")),
            "{process}: {metrics}"
        );
    }
    assert!(metrics.ends_with("# EOF\n"));
    assert_eq!(metrics.matches("# EOF").count(), 1);
    // Codes decided before routing exist only under route `-`; codes that need a route never
    // there. (`no_route` exists on a route too: a path that cannot be joined to its upstream.)
    assert!(
        metrics.contains(r#"piigate_rejections_total{route="-",code="no_route"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"{route="seg",code="method_not_allowed"}"#));
    assert!(
        !metrics.contains(r#"{route="seg",code="opt_out_blocked"}"#),
        "no opt-out blocking here"
    );
    assert!(
        !metrics.contains(r#"{route="seg",code="store_unavailable"}"#),
        "no subject here"
    );
    assert!(metrics.contains(r#"{route="seg",code="upstream_timeout"} 0"#));
    assert!(!metrics.contains(r#"{route="-",code="upstream_timeout"}"#));
    // No `scrub` on `seg` searches for echoes, and a request no route took has none: no
    // series that would suggest echo recognition runs there.
    assert!(
        !metrics.contains("piigate_echo_values_skipped_total{"),
        "{metrics}"
    );
    // A request no route took is answered and perhaps refused; nothing else happens to it
    // (no body read, no rule, no upstream), so route `-` has no other series.
    for line in metrics.lines().filter(|l| l.contains(r#"route="-""#)) {
        assert!(
            line.starts_with("piigate_requests_total{")
                || line.starts_with("piigate_rejections_total{"),
            "{line}"
        );
    }
    assert!(metrics.contains(r#"piigate_requests_total{route="-",class="4xx"} 1"#));

    let log = std::sync::Arc::clone(&gw.log);
    assert!(gw.stop());
    let log = log.lock().expect("log").clone();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.contains("Request forwarded.") || l.contains("Request rejected."))
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(lines[0]["request_id"].is_string());
    assert_eq!(lines[1]["trace_id"], "invalid");
    assert!(lines[2].get("trace_id").is_none(), "no header, no field");
    assert!(!log.contains("bob@example.com") && !log.contains("ann@example.com"));
}

/// A response value a `reveal` rule cannot open is counted on its route; a route without
/// response rules never reveals, so it has no such series.
#[tokio::test]
async fn envelopes_that_do_not_open_are_counted_only_on_routes_that_reveal() {
    const ROUTES: &str = r#"
[admin]
listen = "127.0.0.1:0"

[[routes]]
name = "vault"
path_prefix = "/vault"
upstream = "http://{up}"

[[routes.rules]]
select = "$.phone"
action = "encrypt"

[[routes.response_rules]]
select = "$.phone"
action = "reveal"

[[routes]]
name = "plain"
path_prefix = "/plain"
upstream = "http://{up}"

[[routes.rules]]
select = "$.phone"
action = "encrypt"
"#;
    let answer = r#"{"phone":"pge1.k1.not-an-envelope"}"#;
    let Stack { up, gw, client } = Stack::start(Reply::Fixed(200, answer), ROUTES).await;
    for path in ["/vault/e", "/plain/e"] {
        let got = client
            .post_json(path, r#"{"phone":"+1 415 555 0199"}"#)
            .await;
        assert_eq!(got.status, 200, "{path}");
        // Left as it came: the ciphertext it claims to be, never an error that loses the rest.
        assert_eq!(got.json()["phone"], "pge1.k1.not-an-envelope", "{path}");
    }
    assert_eq!(up.requests().len(), 2);
    let admin = Client::new(gw.admin.expect("admin"), None, Proto::H1);
    let metrics = admin.send(Method::GET, "/metrics", &[], "").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains(r#"piigate_reveal_failures_total{route="vault"} 1"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"piigate_reveal_failures_total{route="plain"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"piigate_reveal_failures_total{route="-"}"#));
}
