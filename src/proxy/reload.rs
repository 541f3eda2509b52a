//! Hot reload: validate the new configuration and keyring with the same code as `piigate
//! check`, then swap the generation atomically. On any error the old generation keeps serving.
//! Requests already running keep the generation they started with.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{error, info, warn};

use crate::audit::{AuditEvent, AuditKind, Outcome};

use super::generation::{Current, Generation};
use crate::config::{self, Diagnostics, Env};
use crate::services::Services;

/// Where a gateway's configuration comes from, so it can be read again.
#[derive(Clone)]
pub struct ReloadSource {
    /// The `proxy.toml` path.
    pub path: PathBuf,
    /// The environment (keyring and admin-token variables).
    pub env: Arc<dyn Env + Send + Sync>,
}

/// Re-reads the configuration a gateway was started from.
pub struct Reloader {
    path: PathBuf,
    env: Arc<dyn Env + Send + Sync>,
    current: Current,
    services: Arc<Services>,
    next: AtomicU64,
    /// Serialises reloads (SIGHUP and the admin endpoint may race).
    lock: tokio::sync::Mutex<()>,
}

fn key_summary(keys: &[(String, &'static str)]) -> String {
    let mut v: Vec<String> = keys.iter().map(|(id, st)| format!("{id}={st}")).collect();
    v.sort();
    v.join(",")
}

fn store_changed(old: &crate::config::Config, new: &crate::config::Config) -> bool {
    use crate::store::StoreConfig;
    let backend = |c: &crate::config::Config| match &c.store.backend {
        StoreConfig::Embedded { path } => format!("embedded:{}", path.display()),
        StoreConfig::Postgres(_) => "postgres".to_owned(),
    };
    backend(old) != backend(new) || old.audit_path != new.audit_path
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    async fn audit(&self, kind: AuditKind, actor: &str, outcome: Outcome, detail: Option<String>) {
        self.services
            .audit(AuditEvent {
                kind,
                actor: actor.to_owned(),
                outcome,
                route: None,
                subject: None,
                recipients: Vec::new(),
                detail,
            })
            .await;
    }

    /// A reloader for the config `source` serving into `current`.
    pub fn new(source: ReloadSource, current: Current, services: Arc<Services>) -> Self {
        let next = current.load().number + 1;
        Self {
            path: source.path,
            env: source.env,
            current,
            services,
            next: AtomicU64::new(next),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads, validates and swaps. Returns the new generation number.
    ///
    /// # Errors
    /// Every diagnostic of the rejected configuration; the old generation keeps serving.
    ///
    /// `actor` names who asked (`signal`, `admin`) for the audit log.
    pub async fn reload(&self, actor: &str) -> Result<u64, Diagnostics> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        let env = Arc::clone(&self.env);
        // Loading reads files and derives keys: keep it off the async workers.
        let loaded = tokio::task::spawn_blocking(move || config::load(&path, env.as_ref()))
            .await
            .unwrap_or_else(|_| {
                let mut d = Diagnostics::new();
                d.error_at_file("reload", "internal", "the reload task failed");
                Err(d)
            });
        match loaded {
            Ok(l) => {
                let number = self.next.fetch_add(1, Ordering::SeqCst);
                let old = self.current.load_full();
                if store_changed(&old.config, &l.config) {
                    warn!("`[store]` or `[audit]` changed; those take effect at the next restart.");
                }
                let keys_before = key_summary(&old.config.key_ids);
                let keys_after = key_summary(&l.config.key_ids);
                self.current.store(Arc::new(Generation::new(
                    l.config,
                    number,
                    Arc::clone(&self.services),
                )));
                self.services.metrics.reload(true);
                info!(generation = number, "Configuration reloaded.");
                self.audit(
                    AuditKind::Reload,
                    actor,
                    Outcome::Succeeded,
                    Some(format!("generation {number}")),
                )
                .await;
                if keys_before != keys_after {
                    // Key ids and statuses are public metadata (they appear in tokens).
                    self.audit(
                        AuditKind::KeyChange,
                        actor,
                        Outcome::Succeeded,
                        Some(format!("keys: {keys_after}")),
                    )
                    .await;
                }
                Ok(number)
            }
            Err(d) => {
                self.services.metrics.reload(false);
                self.audit(
                    AuditKind::Reload,
                    actor,
                    Outcome::Failed,
                    Some(format!("{} error(s)", d.error_count())),
                )
                .await;
                error!(
                    errors = d.error_count(),
                    "Reload rejected; the previous configuration keeps serving."
                );
                for diag in d.items() {
                    error!(diagnostic = %diag, "Reload problem.");
                }
                Err(d)
            }
        }
    }
}
