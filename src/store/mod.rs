//! The gateway's persistent state: per-subject secrets, erasure tombstones, recipient records
//! and the disclosure ledger.
//!
//! [`Store`] is a cheap-to-clone handle over one of two backends, chosen by `[store] kind`:
//!
//! - `embedded`: a single [redb](https://docs.rs/redb) file. Transactional and crash-safe, but
//!   one process at a time (the file is locked); the default for a single gateway.
//! - `postgres`: a PostgreSQL database shared by any number of replicas, through a small bounded
//!   connection pool. The schema is migrated at start.
//!
//! Why an enum and not a `dyn Store` trait: the set of backends is closed and small, the methods
//! are `async` (a trait object would box every future), and an exhaustive `match` keeps both
//! backends in step whenever an operation is added. The conformance suite in
//! `tests/store.rs` runs the same cases against both.
//!
//! In front of the backend sits a bounded cache of secrets (see [`CacheConfig`]): at most
//! `capacity` subjects, each used for at most `ttl` after it was fetched. `ttl` is therefore the
//! bound on how long an erasure made through *another* replica can take to be honoured here;
//! erasures through this handle invalidate the local entry at once.
//!
//! # Subjects, generations and tombstones
//!
//! Each subject has one row, keyed by its [`SubjectKey`] (a keyed hash: the store never holds a
//! subject id), with a generation counter, the secret (absent once erased) and the time of the
//! last erasure. The first secret is generation 0. Erasure deletes the secret and stamps the row
//! (the tombstone). The next event for that subject creates a *fresh* random secret with the
//! next generation: a new, unlinkable pseudonym. So a tombstone does not block re-creation; it
//! records that every generation up to the erased one is gone
//! ([`SubjectStatus::is_generation_erased`]).
//!
//! # Race-free creation
//!
//! Two replicas seeing a new subject at the same moment must agree on one secret. Both backends
//! serialise creation on the subject's row: each caller proposes a fresh random secret and
//! inserts it only if no live secret exists (PostgreSQL: `INSERT … ON CONFLICT DO UPDATE …
//! WHERE secret IS NULL`; redb: one write transaction at a time), then reads back whichever
//! secret won. The losers' proposals are zeroized and never used.

mod cache;
mod embedded;
pub mod ledger;
mod pg_tls;
mod postgres;
mod subject;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

pub use cache::CacheConfig;
pub use ledger::{
    Day, DisclosureKey, DisclosureRow, FieldRow, FieldStats, FlushStats, Label, Ledger,
    LedgerBatch, LedgerCell, LedgerDelta, LedgerFlusher, LedgerReport, OTHER_PATHS,
};
pub use postgres::PostgresConfig;
pub use subject::{
    ErasureReceipt, SubjectKey, SubjectKeyer, SubjectSecret, SubjectStatus, Tombstone,
};

use cache::SecretCache;
pub(crate) use subject::hex;

/// Which backend, and how to reach it: the compiled form of `[store]`.
// Built once per (re)load; the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `kind = "embedded"`: a redb file at `path`.
    Embedded {
        /// The store file; created if missing (its directory must exist).
        path: PathBuf,
    },
    /// `kind = "postgres"`: see [`PostgresConfig::from_env`].
    Postgres(PostgresConfig),
}

/// The backend kind, for logs and `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A redb file.
    Embedded,
    /// A PostgreSQL database.
    Postgres,
}

/// Why a store operation failed. Messages name the cause and, where an operator can act, the
/// fix; they never carry a subject key, a secret or a connection password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The embedded store file is locked by another process (or another handle in this one):
    /// redb allows one writer process per file.
    #[error(
        "store file {path} is already open in another process; run one gateway per embedded \
         store, or use [store] kind = \"postgres\" for several replicas"
    )]
    EmbeddedLocked {
        /// The store file.
        path: PathBuf,
    },
    /// redb reported an I/O or consistency error.
    #[error("embedded store {path}: {source}")]
    Embedded {
        /// The store file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// The env var that should hold the PostgreSQL URL is unset or empty.
    #[error(
        "environment variable `{var}` (named by [store] url_env) is not set; set it to a \
         postgres:// URL"
    )]
    MissingUrl {
        /// The variable's name.
        var: String,
    },
    /// The PostgreSQL URL did not parse. The URL itself is not echoed (it may hold a password).
    #[error(
        "the PostgreSQL URL in `{var}` is invalid; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB"
    )]
    InvalidUrl {
        /// Where the URL came from.
        var: String,
    },
    /// The CA given for the PostgreSQL connection is not usable.
    #[error("the PostgreSQL CA is not a PEM file of usable CA certificates")]
    InvalidCa,
    /// A schema name outside `[a-z_][a-z0-9_]*` (it is interpolated into DDL).
    #[error("PostgreSQL schema name must match [a-z_][a-z0-9_]{{0,62}}")]
    InvalidSchema,
    /// A PostgreSQL operation failed. `reason` is the server's primary message or the client's
    /// error, never the server's DETAIL line (which can quote row values).
    #[error("PostgreSQL {op} failed: {reason}")]
    Postgres {
        /// What the store was doing.
        op: &'static str,
        /// The SQLSTATE, for server errors.
        sqlstate: Option<String>,
        /// Sanitised cause.
        reason: String,
    },
    /// No pooled connection became free in time: the database is slow or the pool too small.
    #[error(
        "no PostgreSQL connection available within {0:?}; check the database or raise max_connections"
    )]
    PoolTimeout(Duration),
    /// The database was migrated by a newer piigate; this one does not know that schema.
    #[error(
        "store schema version {found} is newer than this piigate supports ({supported}); upgrade piigate"
    )]
    SchemaTooNew {
        /// Version found in the store.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// A stored value has the wrong shape.
    #[error("store data is corrupt: {0}")]
    Corrupt(&'static str),
    /// Creation kept colliding with concurrent erasures of the same subject.
    #[error("subject secret creation did not settle after {0} attempts (concurrent erasures)")]
    Contention(u32),
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed")]
    Random,
    /// A store worker task panicked or was cancelled.
    #[error("a store worker task failed")]
    Worker,
}

/// A handle to the store. Clone it freely; clones share the backend, the pool and the cache.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    cache: SecretCache,
    rng: SystemRandom,
}

// One per process; boxing would only add an indirection to every call.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Embedded(embedded::Embedded),
    Postgres(postgres::Postgres),
}

/// A subject row as both backends store it.
pub(crate) struct SubjectRow {
    pub(crate) generation: u64,
    pub(crate) secret: Option<Zeroizing<[u8; 32]>>,
    pub(crate) erased_at: Option<i64>,
}

/// How many times creation retries when an erasure keeps slipping in between.
const CREATE_ATTEMPTS: u32 = 5;

// === impl StoreError ===

impl StoreError {
    /// A stable snake_case code for logs and metrics.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::EmbeddedLocked { .. } => "store_locked",
            Self::Embedded { .. } => "store_embedded",
            Self::MissingUrl { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidSchema
            | Self::InvalidCa => "store_config",
            Self::Postgres { .. } => "store_postgres",
            Self::PoolTimeout(_) => "store_pool_timeout",
            Self::SchemaTooNew { .. } => "store_schema_too_new",
            Self::Corrupt(_) => "store_corrupt",
            Self::Contention(_) => "store_contention",
            Self::Random => "store_random",
            Self::Worker => "store_worker",
        }
    }
}

// === impl SubjectRow ===

impl SubjectRow {
    fn status(&self) -> SubjectStatus {
        let live_generation = self.secret.as_ref().map(|_| self.generation);
        // A live row with an erasure stamp was re-created after it: the erased generation is
        // the previous one.
        let erased_generation = if self.secret.is_some() {
            self.generation.checked_sub(1)
        } else {
            Some(self.generation)
        };
        let last_erasure = match (self.erased_at, erased_generation) {
            (Some(t), Some(generation)) => Some(Tombstone {
                generation,
                erased_at: ledger::from_unix_secs(t),
            }),
            _ => None,
        };
        SubjectStatus {
            live_generation,
            last_erasure,
        }
    }
}

// === impl Store ===

impl Store {
    /// Opens the backend (running PostgreSQL migrations) with a cache of `cache` bounds.
    ///
    /// # Errors
    ///
    /// The file is locked or unreadable, the database is unreachable or its schema is newer
    /// than this build, or a migration failed.
    pub async fn open(config: &StoreConfig, cache: CacheConfig) -> Result<Self, StoreError> {
        let backend = match config {
            StoreConfig::Embedded { path } => {
                Backend::Embedded(embedded::Embedded::open(path.clone()).await?)
            }
            StoreConfig::Postgres(pg) => Backend::Postgres(postgres::Postgres::open(pg).await?),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                cache: SecretCache::new(cache),
                rng: SystemRandom::new(),
            }),
        })
    }

    /// A cheap round trip to the backend, for `/readyz`.
    ///
    /// # Errors
    ///
    /// The backend is unreachable (PostgreSQL down, pool exhausted) or unreadable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.inner.backend {
            Backend::Embedded(b) => b.ping().await,
            Backend::Postgres(b) => b.ping().await,
        }
    }

    /// Which backend this is.
    pub fn kind(&self) -> StoreKind {
        match self.inner.backend {
            Backend::Embedded(_) => StoreKind::Embedded,
            Backend::Postgres(_) => StoreKind::Postgres,
        }
    }

    /// The subject's live secret, creating a fresh one (the next generation after any erasure)
    /// if there is none. Served from the cache while the cached copy is younger than the TTL.
    ///
    /// Race-free: concurrent callers in this process or on other replicas sharing the database
    /// all get the same secret.
    ///
    /// # Errors
    ///
    /// The backend failed; nothing was cached and the caller must not fall back to a secret of
    /// its own (fail closed).
    pub async fn get_or_create_subject_secret(
        &self,
        key: &SubjectKey,
    ) -> Result<SubjectSecret, StoreError> {
        let cache = &self.inner.cache;
        if let Some(s) = cache.get(key) {
            return Ok(s);
        }
        let epoch = cache.epoch();
        let secret = self.fetch_or_create(key).await?;
        cache.insert(*key, secret.clone(), epoch);
        Ok(secret)
    }

    async fn fetch_or_create(&self, key: &SubjectKey) -> Result<SubjectSecret, StoreError> {
        for _ in 0..CREATE_ATTEMPTS {
            // Most cache misses are subjects that already exist: read first.
            if let Some(s) = self.live_secret(key).await? {
                return Ok(s);
            }
            let mut proposal = Zeroizing::new([0u8; 32]);
            self.inner
                .rng
                .fill(&mut proposal[..])
                .map_err(|_| StoreError::Random)?;
            let now = ledger::unix_secs(SystemTime::now());
            let created = match &self.inner.backend {
                Backend::Embedded(b) => b.create(*key, proposal).await?,
                Backend::Postgres(b) => b.create(key, proposal, now).await?,
            };
            if let Some((generation, bytes)) = created {
                return Ok(SubjectSecret::new(bytes, generation));
            }
            // Lost to a concurrent creator (read its secret on the next turn) or to an erasure
            // that slipped in between (create again).
        }
        Err(StoreError::Contention(CREATE_ATTEMPTS))
    }

    async fn live_secret(&self, key: &SubjectKey) -> Result<Option<SubjectSecret>, StoreError> {
        let row = self.row(key).await?;
        Ok(row.and_then(|r| r.secret.map(|s| SubjectSecret::new(s, r.generation))))
    }

    async fn row(&self, key: &SubjectKey) -> Result<Option<SubjectRow>, StoreError> {
        match &self.inner.backend {
            Backend::Embedded(b) => b.subject(*key).await,
            Backend::Postgres(b) => b.subject(key).await,
        }
    }

    /// Erases a subject: deletes its secret (crypto-shredding everything derived from it),
    /// stamps the tombstone and returns the recipients to notify. Idempotent. The local cache
    /// entry is dropped at once; other replicas drop theirs within the cache TTL.
    ///
    /// # Errors
    ///
    /// The backend failed; the erasure did not happen and must be retried.
    pub async fn erase_subject(&self, key: &SubjectKey) -> Result<ErasureReceipt, StoreError> {
        let now = SystemTime::now();
        // Invalidate before and after: before, so no local fetch starting now caches the old
        // secret; after, so one that read it just before the erasure cannot keep it.
        self.inner.cache.invalidate(key);
        let result = match &self.inner.backend {
            Backend::Embedded(b) => b.erase(*key, ledger::unix_secs(now)).await,
            Backend::Postgres(b) => b.erase(key, ledger::unix_secs(now)).await,
        };
        self.inner.cache.invalidate(key);
        let (generation, destroyed, recipients) = result?;
        Ok(ErasureReceipt {
            generation,
            destroyed,
            erased_at: ledger::from_unix_secs(ledger::unix_secs(now)),
            recipients,
        })
    }

    /// Records that `route` received data of the subject (for the erasure receipt). Written
    /// once per (subject, route) per cache TTL; repeated calls inside that window are free.
    ///
    /// # Errors
    ///
    /// The backend failed.
    pub async fn record_recipient(&self, key: &SubjectKey, route: &str) -> Result<(), StoreError> {
        if self.inner.cache.has_recipient(key, route) {
            return Ok(());
        }
        let now = ledger::unix_secs(SystemTime::now());
        match &self.inner.backend {
            Backend::Embedded(b) => b.record_recipient(*key, route.to_owned(), now).await?,
            Backend::Postgres(b) => b.record_recipient(key, route, now).await?,
        }
        self.inner.cache.add_recipient(key, route);
        Ok(())
    }

    /// Every route recorded as a recipient of the subject, sorted.
    ///
    /// # Errors
    ///
    /// The backend failed.
    pub async fn recipients(&self, key: &SubjectKey) -> Result<Vec<String>, StoreError> {
        match &self.inner.backend {
            Backend::Embedded(b) => b.recipients(*key).await,
            Backend::Postgres(b) => b.recipients(key).await,
        }
    }

    /// `true` if the subject was ever erased (a tombstone exists), even if a fresh secret has
    /// been created since. Always asks the backend.
    ///
    /// # Errors
    ///
    /// The backend failed.
    pub async fn is_erased(&self, key: &SubjectKey) -> Result<bool, StoreError> {
        Ok(self.subject_status(key).await?.was_erased())
    }

    /// The live generation and the last erasure, without creating anything. Always asks the
    /// backend.
    ///
    /// # Errors
    ///
    /// The backend failed.
    pub async fn subject_status(&self, key: &SubjectKey) -> Result<SubjectStatus, StoreError> {
        Ok(self.row(key).await?.map(|r| r.status()).unwrap_or_default())
    }

    /// Drops the cached secret of `key` (the store is not touched).
    pub fn invalidate(&self, key: &SubjectKey) {
        self.inner.cache.invalidate(key);
    }

    /// Drops every cached secret, e.g. after a reload that changed the subject keyer.
    pub fn invalidate_all(&self) {
        self.inner.cache.clear();
    }

    /// Adds ledger counts in one transaction (usually through [`Ledger::flush`]).
    ///
    /// # Errors
    ///
    /// The backend failed; nothing was written.
    pub async fn add_ledger(&self, delta: &LedgerDelta) -> Result<(), StoreError> {
        if delta.is_empty() {
            return Ok(());
        }
        match &self.inner.backend {
            Backend::Embedded(b) => b.add_ledger(delta).await,
            Backend::Postgres(b) => b.add_ledger(delta).await,
        }
    }

    /// Ledger totals for the days `from..=to` (what has been flushed; call [`Ledger::flush`]
    /// first to include this process's pending counts).
    ///
    /// # Errors
    ///
    /// The backend failed.
    pub async fn ledger_report(&self, from: Day, to: Day) -> Result<LedgerReport, StoreError> {
        let (mut disclosures, mut fields) = match &self.inner.backend {
            Backend::Embedded(b) => b.ledger_report(from, to).await?,
            Backend::Postgres(b) => b.ledger_report(from, to).await?,
        };
        disclosures.sort();
        fields.sort();
        Ok(LedgerReport {
            from,
            to,
            disclosures,
            fields,
        })
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}
