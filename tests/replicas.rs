//! Two gateway processes sharing one PostgreSQL store: they agree on new subjects and honour
//! each other's erasures within the documented cache TTL.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;

use crate::support::{Client, Process, Proto, Reply, Upstream, postgres_url, write_config};

#[tokio::test]
async fn two_replicas_agree_on_subjects_and_erasures() {
    let Some(url) = postgres_url("replicas::two_replicas_agree_on_subjects_and_erasures") else {
        return;
    };
    let up = Upstream::start(None, Reply::Ok).await;
    let ca_line = std::env::var("PIIGATE_TEST_POSTGRES_CA")
        .map(|p| format!("ca = \"{p}\"\n"))
        .unwrap_or_default();
    let cfg = format!(
        r#"
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
token_env = "ADMIN_TOKEN"
[keys]
file = "keys.toml"
[store]
kind = "postgres"
url_env = "PIIGATE_POSTGRES_URL"
cache_ttl_secs = 1
subject_key_id = "k2"
{ca_line}
[audit]
path = "audit-{{replica}}.jsonl"

[[routes]]
name = "seg"
path_prefix = "/seg"
upstream = "http://{up}"
subject = "$.userId"

[[routes.rules]]
select = "$.userId"
action = "tokenize"
"#,
        up = up.addr
    );
    // Each replica needs its own audit log file; everything else is shared.
    let (dir, _) = write_config("");
    let paths: Vec<_> = ["a", "b"]
        .iter()
        .map(|r| {
            let p = dir.path().join(format!("proxy-{r}.toml"));
            std::fs::write(&p, cfg.replace("{replica}", r)).expect("write");
            p
        })
        .collect();
    let envs = [
        ("PIIGATE_POSTGRES_URL", url.as_str()),
        ("ADMIN_TOKEN", "replica-token"),
    ];
    let a = Process::spawn(&paths[0], &envs);
    let b = Process::spawn(&paths[1], &envs);

    // A subject neither replica has seen, sent to both at once.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let subject = format!("replica-user-{nanos}");
    let body = format!(r#"{{"userId":"{subject}","event":"x"}}"#);
    let (ca, cb) = (
        Client::new(a.proxy, None, Proto::H1),
        Client::new(b.proxy, None, Proto::H1),
    );
    let (ra, rb) = tokio::join!(
        ca.post_json("/seg/v1/track", &body),
        cb.post_json("/seg/v1/track", &body)
    );
    assert_eq!((ra.status.as_u16(), rb.status.as_u16()), (200, 200));
    let tokens: Vec<Value> = up
        .requests()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).expect("json")["userId"].clone())
        .collect();
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        tokens[0], tokens[1],
        "both replicas agreed on one secret for the new subject"
    );

    // Erase through A; B must honour it within the cache TTL (1 s) plus a request.
    let admin = Client::new(a.admin.expect("admin"), None, Proto::H1);
    let erased = admin
        .send(
            Method::DELETE,
            &format!("/v1/subjects/{subject}"),
            &[("authorization", "Bearer replica-token")],
            Vec::new(),
        )
        .await;
    assert_eq!(erased.status, 200, "{:?}", erased.body);
    let started = Instant::now();
    let new_token = loop {
        assert_eq!(cb.post_json("/seg/v1/track", &body).await.status, 200);
        let last = up
            .requests()
            .last()
            .map(|r| serde_json::from_slice::<Value>(&r.body).expect("json")["userId"].clone())
            .expect("request");
        if last != tokens[0] {
            break last;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "replica B still used the erased secret after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "honoured after {:?}",
        started.elapsed()
    );
    assert_ne!(new_token, tokens[0]);
    assert!(a.stop() && b.stop(), "both replicas shut down cleanly");
}
