//! Hot reload: validate the new configuration and keyring with the same code as `piigate
//! check`, then swap the generation atomically. On any error the old generation keeps serving.
//! Requests already running keep the generation they started with.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{error, info};

use crate::config::{self, Diagnostics, Env};
use crate::proxy::{Current, Generation};
use crate::telemetry::metrics::SharedMetrics;

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
    metrics: SharedMetrics,
    next: AtomicU64,
    /// Serialises reloads (SIGHUP and the admin endpoint may race).
    lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for the config `source` serving into `current`.
    pub fn new(source: ReloadSource, current: Current, metrics: SharedMetrics) -> Self {
        let next = current.load().number + 1;
        Self {
            path: source.path,
            env: source.env,
            current,
            metrics,
            next: AtomicU64::new(next),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads, validates and swaps. Returns the new generation number.
    ///
    /// # Errors
    /// Every diagnostic of the rejected configuration; the old generation keeps serving.
    pub async fn reload(&self) -> Result<u64, Diagnostics> {
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
                self.current.store(Arc::new(Generation::new(
                    l.config,
                    number,
                    Arc::clone(&self.metrics),
                )));
                self.metrics.reload(true);
                info!(generation = number, "Configuration reloaded.");
                Ok(number)
            }
            Err(d) => {
                self.metrics.reload(false);
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
