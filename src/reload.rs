//! Hot reload: validate the new configuration and keyring with the same code as `piigate
//! check`, then swap the generation atomically. On any error the old generation keeps serving.
//! Requests already running keep the generation they started with.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{error, info};

use crate::config::{self, Diagnostics, ProcessEnv};
use crate::proxy::{Current, Generation};
use crate::telemetry::metrics::SharedMetrics;

/// Re-reads the configuration a gateway was started from.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    current: Current,
    metrics: SharedMetrics,
    next: AtomicU64,
    /// Serialises reloads (SIGHUP and the admin endpoint may race).
    lock: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// A reloader for the config at `path` serving into `current`.
    pub fn new(path: PathBuf, current: Current, metrics: SharedMetrics) -> Self {
        let next = current.load().number + 1;
        Self {
            path,
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
        // Loading reads files and derives keys: keep it off the async workers.
        let loaded = tokio::task::spawn_blocking(move || config::load(&path, &ProcessEnv))
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
