//! `[store]`: the backend (embedded file or PostgreSQL), the secret cache and ledger flush
//! bounds, and the key that turns subject ids into store keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::keys::KeySource;
use super::limits::Bounded;
use crate::config::diag::{Diagnostics, Source};
use crate::config::reader::At;
use crate::config::spec::{ConfigSpec, StoreSpec};
use crate::config::{Env, StoreSettings};

pub(super) fn store_settings(
    spec: &ConfigSpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    state_dir: &Path,
    env: &dyn Env,
    keys: &KeySource,
    d: &mut Diagnostics,
) -> Option<StoreSettings> {
    use crate::store::{CacheConfig, PostgresConfig, StoreConfig, SubjectKeyer};
    let s = spec.store.as_ref();
    let get = |f: fn(&StoreSpec) -> &Option<At<u64>>| s.and_then(|s| f(s).as_ref());
    let bounded =
        |v: Option<&At<u64>>, default: u64, min: u64, max: u64, key: &str, d: &mut Diagnostics| {
            Bounded {
                key,
                default,
                min,
                max,
            }
            .read(v, src, d)
        };
    let capacity = bounded(
        get(|s| &s.cache_capacity),
        100_000,
        0,
        10_000_000,
        "cache_capacity",
        d,
    );
    let ttl = bounded(get(|s| &s.cache_ttl_secs), 30, 0, 3600, "cache_ttl_secs", d);
    let flush = bounded(
        get(|s| &s.ledger_flush_secs),
        10,
        1,
        3600,
        "ledger_flush_secs",
        d,
    );
    let pool = bounded(get(|s| &s.max_connections), 8, 1, 256, "max_connections", d);
    let kind = s.and_then(|s| s.kind.as_ref());
    let backend = match kind.map(|k| k.value.as_str()) {
        None | Some("embedded") => {
            let path = s
                .and_then(|s| s.path.as_ref())
                .map_or_else(|| state_dir.join("piigate.db"), |p| resolve(&p.value));
            StoreConfig::Embedded { path }
        }
        Some("postgres") => {
            let var = s
                .and_then(|s| s.url_env.as_ref())
                .map_or("PIIGATE_POSTGRES_URL", |v| v.value.as_str());
            let span = s
                .and_then(|s| s.url_env.as_ref())
                .map_or_else(|| s.map_or(0..0, |s| s.span.clone()), |v| v.span.clone());
            let Some(url) = env.var(var) else {
                d.error(
                    src,
                    span,
                    "missing_env",
                    format!(
                        "`kind = \"postgres\"` needs the PostgreSQL URL in ${var}, which is not set"
                    ),
                );
                return None;
            };
            let mut pg = match PostgresConfig::from_url(&url, var) {
                Ok(pg) => pg,
                // The error names the variable, never the URL (it can hold a password).
                Err(e) => {
                    d.error(src, span, "bad_value", format!("${var}: {e}"));
                    return None;
                }
            };
            if let Some(ca) = s.and_then(|s| s.ca.as_ref()) {
                match std::fs::read(resolve(&ca.value)) {
                    Ok(pem) => match pg.with_ca_pem(&pem) {
                        Ok(p) => pg = p,
                        Err(e) => {
                            d.error(src, ca.span.clone(), "bad_tls", format!("store `ca`: {e}"));
                            return None;
                        }
                    },
                    Err(e) => {
                        d.error(
                            src,
                            ca.span.clone(),
                            "unreadable_file",
                            format!("cannot read `{}`: {e}", ca.value),
                        );
                        return None;
                    }
                }
            }
            StoreConfig::Postgres(pg.with_max_connections(usize::try_from(pool).unwrap_or(8)))
        }
        Some(_) => {
            let k = kind.map_or(0..0, |k| k.span.clone());
            d.error(
                src,
                k,
                "bad_value",
                "store `kind` must be \"embedded\" or \"postgres\"",
            );
            return None;
        }
    };
    let pinned = s.and_then(|s| s.subject_key_id.as_ref());
    let keyer = match (&keys.ring, pinned) {
        (None, _) => None,
        (Some(ring), Some(id)) => match ring.get(&id.value) {
            Some(k) if k.status() != crate::keys::KeyStatus::Retired => Some(k),
            _ => {
                d.error(
                    src,
                    id.span.clone(),
                    "bad_value",
                    format!(
                        "`subject_key_id`: no usable key `{}` in the keyring",
                        id.value
                    ),
                );
                return None;
            }
        },
        (Some(ring), None) => ring.primary(),
    }
    .map(|k| {
        let derived =
            crate::keys::derive::derive(k.secret(), crate::keys::Purpose::Subject, "subject-ids");
        Arc::new(SubjectKeyer::from_secret(&derived))
    });
    if pinned.is_none() && keyer.is_some() && spec.routes.iter().any(|r| r.subject.is_some()) {
        d.warning(
            src,
            s.map_or(0..0, |s| s.span.clone()),
            "unpinned_subject_key",
            "subject ids are keyed with the primary key; after a rotation every subject would get a new pseudonym",
        )
        .help("pin it: [store] subject_key_id = \"<the current primary key id>\"");
    }
    Some(StoreSettings {
        backend,
        cache: CacheConfig {
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
            ttl: Duration::from_secs(ttl),
        },
        ledger_flush: Duration::from_secs(flush),
        keyer,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ROUTE, compile, compile_in, diagnose};
    use crate::store::StoreConfig;

    #[test]
    fn store_bounds_and_kind_are_checked_at_their_values() {
        let text = format!(
            "[store]\nkind = \"sqlite\"\ncache_ttl_secs = 7200\nledger_flush_secs = 0\n{ROUTE}"
        );
        assert_eq!(
            diagnose(&text),
            [
                "2:8 error[bad_value]: store `kind` must be \"embedded\" or \"postgres\"",
                "3:18 error[bad_value]: `cache_ttl_secs` must be between 0 and 3600",
                "4:21 error[bad_value]: `ledger_flush_secs` must be between 1 and 3600",
            ]
        );
    }

    #[test]
    fn postgres_needs_its_url_variable_and_never_quotes_the_url() {
        assert_eq!(
            diagnose(&format!("[store]\nkind = \"postgres\"\n{ROUTE}")),
            [
                "1:1 error[missing_env]: `kind = \"postgres\"` needs the PostgreSQL URL in \
              $PIIGATE_POSTGRES_URL, which is not set"
            ]
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("[store]\nkind = \"postgres\"\nurl_env = \"PG\"\n{ROUTE}");
        let c = compile_in(&text, dir.path(), &[("PG", "mysql://app:hunter2@db/app")]);
        let lines = c.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].starts_with("3:11 error[bad_value]: $PG: "),
            "{lines:#?}"
        );
        assert!(!lines[0].contains("hunter2"), "{lines:#?}");
    }

    #[test]
    fn the_embedded_store_defaults_to_the_state_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = compile_in(ROUTE, dir.path(), &[]);
        let store = c.config.expect("compiles").store;
        assert!(
            matches!(&store.backend, StoreConfig::Embedded { path }
                if *path == dir.path().join("state/piigate.db")),
            "{:?}",
            store.backend
        );
        assert!(store.keyer.is_some(), "the primary key keys subject ids");
    }

    #[test]
    fn the_subject_key_must_be_usable_and_should_be_pinned() {
        for id in ["k0", "k9"] {
            let text = format!("[store]\nsubject_key_id = \"{id}\"\n{ROUTE}");
            assert_eq!(
                diagnose(&text),
                [format!(
                    "2:18 error[bad_value]: `subject_key_id`: no usable key `{id}` in the keyring"
                )]
            );
        }
        let subject = format!("{ROUTE}subject = \"$.userId\"\n");
        assert_eq!(
            diagnose(&subject),
            [
                "1:1 warning[unpinned_subject_key]: subject ids are keyed with the primary key; \
              after a rotation every subject would get a new pseudonym"
            ]
        );
        let pinned = format!("[store]\nsubject_key_id = \"k1\"\n{subject}");
        assert_eq!(compile(&pinned).lines(), Vec::<String>::new());
    }
}
