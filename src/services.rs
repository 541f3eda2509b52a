//! Process-wide services that outlive configuration generations: the metrics registry, the
//! store (subject secrets, ledger), the audit log and the ledger flusher.
//!
//! They are opened once at start. A reload builds a new [`crate::proxy::Generation`] around the
//! same services; changing `[store]` or `[audit]` needs a restart (a reload says so).

use std::sync::{Arc, Mutex};

use crate::audit::{AuditError, AuditEvent, AuditLog};
use crate::config::Config;
use crate::store::{Ledger, LedgerFlusher, Store, StoreError, SubjectKeyer};
use crate::telemetry::metrics::Metrics;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address it was to listen on.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store could not be opened. The store's own error names the file or database.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    /// The audit log could not be opened (or failed verification of its tail); the error
    /// names the file.
    #[error("cannot open the audit log: {0}")]
    Audit(#[from] AuditError),
}

/// The shared services.
pub struct Services {
    /// Prometheus registry and families.
    pub metrics: Metrics,
    /// Subject secrets, tombstones, recipients, ledger persistence.
    pub store: Store,
    /// The hash-chained audit log.
    pub audit: AuditLog,
    /// In-memory disclosure counts, flushed to the store periodically.
    pub ledger: Arc<Ledger>,
    /// Keys subject ids (fixed at start: changing it would re-key every subject).
    pub keyer: Option<Arc<SubjectKeyer>>,
    flusher: Mutex<Option<LedgerFlusher>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("store", &self.store.kind())
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Opens the store and the audit log named by `config` and starts the ledger flusher.
    ///
    /// # Errors
    /// [`StartError`] when the store or the audit log cannot be opened.
    pub async fn start(config: &Config) -> Result<Arc<Self>, StartError> {
        let store = Store::open(&config.store.backend, config.store.cache).await?;
        let path = config.audit_path.clone();
        let audit = tokio::task::spawn_blocking(move || AuditLog::open(&path))
            .await
            .map_err(|_| StartError::Audit(AuditError::Worker))??;
        let ledger = Arc::new(Ledger::new());
        let flusher = LedgerFlusher::spawn(
            Arc::clone(&ledger),
            store.clone(),
            config.store.ledger_flush,
        );
        Ok(Arc::new(Self {
            metrics: Metrics::new(),
            store,
            audit,
            ledger,
            keyer: config.store.keyer.clone(),
            flusher: Mutex::new(Some(flusher)),
        }))
    }

    /// Appends to the audit log without blocking the caller's runtime thread for long; a
    /// failure is logged (the action itself already happened).
    pub async fn audit(&self, event: AuditEvent) {
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(error = %e, "Cannot append to the audit log.");
        }
    }

    /// Flushes the ledger one last time (after requests have drained).
    pub async fn stop(&self) {
        let flusher = self.flusher.lock().ok().and_then(|mut f| f.take());
        if let Some(f) = flusher
            && let Err(e) = f.shutdown().await
        {
            tracing::error!(error = %e, "Final ledger flush failed.");
        }
    }
}
