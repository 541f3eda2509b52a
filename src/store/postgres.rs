//! The PostgreSQL backend: shared state for several gateway replicas.
//!
//! # Pool
//!
//! A hand-rolled bounded pool (a semaphore and a stack of idle clients, each with its own
//! prepared-statement cache) rather than deadpool or bb8: the gateway needs exactly "at most N
//! connections, wait at most T for one, drop broken ones", which is ~80 lines here against three
//! more crates and their configuration surface. Broken connections are detected by
//! `Client::is_closed` (the connection task notices EOF at once) and dropped when returned; a
//! request that hits a connection as it breaks fails (fail closed) and the next one reconnects.
//!
//! # Schema and migrations
//!
//! Tables are prefixed `piigate_` (optionally inside a dedicated schema, see
//! [`PostgresConfig::with_schema`]). Migrations are numbered, run at start inside one
//! transaction that holds a transaction-scoped advisory lock, and recorded in
//! `piigate_schema_migrations`; a second gateway starting at the same moment waits on the lock
//! and then finds nothing to do. A database migrated by a newer piigate is refused
//! ([`StoreError::SchemaTooNew`]) rather than written with assumptions that no longer hold.
//!
//! # Concurrency
//!
//! Everything runs at PostgreSQL's default READ COMMITTED isolation; correctness comes from
//! row locks on the one row per subject:
//!
//! - creation is `INSERT … ON CONFLICT (subject_key) DO UPDATE … WHERE secret IS NULL
//!   RETURNING`: the first inserter wins; a concurrent one blocks on the row until the winner
//!   commits, then updates nothing and re-reads the winner's secret with a fresh snapshot;
//! - erasure locks the row (`SELECT … FOR UPDATE`) before deleting the secret, so it is ordered
//!   against creation;
//! - ledger flushes add counts with `ON CONFLICT DO UPDATE SET count = count + EXCLUDED.count`,
//!   rows sorted so two replicas flushing the same cells lock them in the same order.
//!
//! # Transport
//!
//! The URL's `sslmode` decides whether TLS is used (`disable`, `prefer` — the default, which
//! falls back to plain TCP if the server does not offer TLS — or `require`). When it is, the
//! connection uses rustls with certificate and host-name verification against the webpki roots
//! plus any CA from [`PostgresConfig::with_ca_pem`] (see `pg_tls`). Production across hosts:
//! `sslmode=require`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};
use zeroize::Zeroizing;

use super::ledger::{self, Day, DisclosureRow, FieldRow, LedgerDelta};
use super::pg_tls::MakeRustls;
use super::{StoreError, SubjectKey, SubjectRow};

/// Connection settings for the `postgres` backend. `Debug` redacts the password.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    pg: tokio_postgres::Config,
    tls: Arc<rustls::ClientConfig>,
    schema: Option<String>,
    max_connections: usize,
    acquire_timeout: Duration,
}

/// Serialises migrations of every piigate schema in a database: `"piigate1"` as an i64.
const MIGRATION_LOCK: i64 = 0x7069_6967_6174_6531;

/// Numbered migrations. Append only: never edit one that has shipped.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE piigate_subjects (
        subject_key BYTEA PRIMARY KEY CHECK (octet_length(subject_key) = 32),
        generation  BIGINT NOT NULL CHECK (generation >= 0),
        secret      BYTEA CHECK (secret IS NULL OR octet_length(secret) = 32),
        created_at  TIMESTAMPTZ NOT NULL,
        erased_at   TIMESTAMPTZ
    );
    CREATE TABLE piigate_recipients (
        subject_key BYTEA NOT NULL,
        route       TEXT NOT NULL,
        first_seen  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (subject_key, route)
    );
    CREATE TABLE piigate_disclosures (
        day       INTEGER NOT NULL,
        route     TEXT NOT NULL,
        purpose   TEXT NOT NULL,
        category  TEXT NOT NULL,
        treatment TEXT NOT NULL,
        count     BIGINT NOT NULL,
        PRIMARY KEY (day, route, purpose, category, treatment)
    );
    CREATE TABLE piigate_fields (
        day        INTEGER NOT NULL,
        route      TEXT NOT NULL,
        field_path TEXT NOT NULL,
        class      TEXT NOT NULL,
        count      BIGINT NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL,
        last_seen  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (day, route, field_path, class)
    );",
)];

const SELECT_SUBJECT: &str =
    "SELECT generation, secret, erased_at FROM piigate_subjects WHERE subject_key = $1";
const CREATE_SUBJECT: &str = "INSERT INTO piigate_subjects AS s \
     (subject_key, generation, secret, created_at) VALUES ($1, 0, $2, $3) \
     ON CONFLICT (subject_key) DO UPDATE \
     SET generation = s.generation + 1, secret = EXCLUDED.secret, created_at = EXCLUDED.created_at \
     WHERE s.secret IS NULL \
     RETURNING generation, secret";
const LOCK_SUBJECT: &str = "SELECT generation, secret IS NOT NULL FROM piigate_subjects \
     WHERE subject_key = $1 FOR UPDATE";
const ERASE_SUBJECT: &str =
    "UPDATE piigate_subjects SET secret = NULL, erased_at = $2 WHERE subject_key = $1";
const TOMBSTONE_UNKNOWN: &str = "INSERT INTO piigate_subjects \
     (subject_key, generation, secret, created_at, erased_at) VALUES ($1, 0, NULL, $2, $2) \
     ON CONFLICT (subject_key) DO NOTHING";
const SELECT_RECIPIENTS: &str =
    "SELECT route FROM piigate_recipients WHERE subject_key = $1 ORDER BY route";
const RECORD_RECIPIENT: &str = "INSERT INTO piigate_recipients (subject_key, route, first_seen) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const ADD_DISCLOSURES: &str = "INSERT INTO piigate_disclosures AS d \
     (day, route, purpose, category, treatment, count) \
     SELECT * FROM UNNEST($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
     ON CONFLICT (day, route, purpose, category, treatment) \
     DO UPDATE SET count = d.count + EXCLUDED.count";
const ADD_FIELDS: &str = "INSERT INTO piigate_fields AS f \
     (day, route, field_path, class, count, first_seen, last_seen) \
     SELECT d, r, p, c, n, to_timestamp(fs), to_timestamp(ls) FROM UNNEST(\
       $1::int4[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[]) \
       AS u(d, r, p, c, n, fs, ls) \
     ON CONFLICT (day, route, field_path, class) DO UPDATE SET \
       count = f.count + EXCLUDED.count, \
       first_seen = LEAST(f.first_seen, EXCLUDED.first_seen), \
       last_seen = GREATEST(f.last_seen, EXCLUDED.last_seen)";
const REPORT_DISCLOSURES: &str = "SELECT route, purpose, category, treatment, sum(count)::int8 \
     FROM piigate_disclosures WHERE day BETWEEN $1 AND $2 GROUP BY 1, 2, 3, 4";
const REPORT_FIELDS: &str = "SELECT route, field_path, class, sum(count)::int8, \
       extract(epoch FROM min(first_seen))::int8, extract(epoch FROM max(last_seen))::int8 \
     FROM piigate_fields WHERE day BETWEEN $1 AND $2 GROUP BY 1, 2, 3";

pub(crate) struct Postgres {
    pool: Pool,
}

struct Pool {
    config: tokio_postgres::Config,
    tls: MakeRustls,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    acquire_timeout: Duration,
}

struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// A checked-out connection; returned to the pool on drop unless it broke.
struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    _permit: SemaphorePermit<'a>,
}

/// Maps a client error to [`StoreError::Postgres`] without the server's DETAIL (row values).
fn pg(op: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| match e.as_db_error() {
        Some(db) => StoreError::Postgres {
            op,
            sqlstate: Some(db.code().code().to_owned()),
            reason: format!("{}: {}", db.severity(), db.message()),
        },
        None => {
            // Client-side errors (I/O, TLS, timeouts) name their cause one level down, e.g.
            // "error performing TLS handshake: invalid peer certificate: UnknownIssuer".
            let mut reason = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                reason.push_str(": ");
                reason.push_str(&c.to_string());
                cause = c.source();
            }
            StoreError::Postgres {
                op,
                sqlstate: None,
                reason,
            }
        }
    }
}

fn count_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn secret_from(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let mut s = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(StoreError::Corrupt("subject secret is not 32 bytes"));
    }
    s.copy_from_slice(bytes);
    Ok(s)
}

fn generation_from(g: i64) -> Result<u64, StoreError> {
    u64::try_from(g).map_err(|_| StoreError::Corrupt("negative subject generation"))
}

// === impl PostgresConfig ===

impl PostgresConfig {
    /// Reads the URL from the environment variable `var` (`[store] url_env`).
    ///
    /// # Errors
    ///
    /// [`StoreError::MissingUrl`] if it is unset or empty, [`StoreError::InvalidUrl`] if it
    /// does not parse.
    pub fn from_env(var: &str) -> Result<Self, StoreError> {
        match std::env::var(var) {
            Ok(url) if !url.trim().is_empty() => Self::from_url(&url, var),
            _ => Err(StoreError::MissingUrl {
                var: var.to_owned(),
            }),
        }
    }

    /// Parses a `postgres://` URL (or a libpq key=value string). `origin` names where it came
    /// from, for the error message; the URL itself is never echoed.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidUrl`].
    pub fn from_url(url: &str, origin: &str) -> Result<Self, StoreError> {
        let mut pg: tokio_postgres::Config = url.parse().map_err(|_| StoreError::InvalidUrl {
            var: origin.to_owned(),
        })?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(5));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("piigate");
        }
        Ok(Self {
            pg,
            tls: crate::tls::default_client_config(),
            schema: None,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        })
    }

    /// Keeps piigate's tables in `schema` (created if missing) instead of the user's default
    /// search path. Used by the tests to isolate runs; useful when the database is shared.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidSchema`] unless `schema` matches `[a-z_][a-z0-9_]{0,62}`.
    pub fn with_schema(mut self, schema: &str) -> Result<Self, StoreError> {
        let ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .enumerate()
                .all(|(i, b)| b == b'_' || b.is_ascii_lowercase() || (i > 0 && b.is_ascii_digit()));
        if !ok {
            return Err(StoreError::InvalidSchema);
        }
        let options = match self.pg.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c search_path={schema}"),
            _ => format!("-c search_path={schema}"),
        };
        self.pg.options(options);
        self.schema = Some(schema.to_owned());
        Ok(self)
    }

    /// Also trusts the CA certificates in `pem` (for a database with a private CA), besides the
    /// webpki roots. Applies when the URL's `sslmode` selects TLS.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidCa`] if `pem` holds no certificate or one that cannot be a trust
    /// anchor.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, StoreError> {
        let certs = crate::tls::certs_from_pem(pem).map_err(|_| StoreError::InvalidCa)?;
        self.tls = crate::tls::client_config(certs).map_err(|_| StoreError::InvalidCa)?;
        Ok(self)
    }

    /// Uses `tls` for the connection (e.g. the same client configuration the gateway builds
    /// for an upstream CA). Applies when the URL's `sslmode` selects TLS.
    #[must_use]
    pub fn with_tls_config(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// At most `n` connections (default 8; at least 1).
    #[must_use]
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long a caller waits for a free connection before [`StoreError::PoolTimeout`]
    /// (default 5 s), and the TCP connect timeout unless the URL sets `connect_timeout`.
    #[must_use]
    pub fn with_timeouts(mut self, acquire: Duration, connect: Duration) -> Self {
        self.acquire_timeout = acquire;
        self.pg.connect_timeout(connect);
        self
    }
}

// === impl Pool ===

impl Pool {
    fn idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        // Only push/pop happen under this lock; a poisoned lock still holds valid clients.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| StoreError::PoolTimeout(self.acquire_timeout))?
            .map_err(|_| StoreError::Worker)?;
        let reused = loop {
            match self.idle().pop() {
                Some(c) if c.client.is_closed() => {}
                other => break other,
            }
        };
        let conn = match reused {
            Some(c) => c,
            None => self.connect().await?,
        };
        Ok(Pooled {
            pool: self,
            conn: Some(conn),
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Conn, StoreError> {
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(pg("connect"))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                let e = pg("connection")(e);
                tracing::warn!(error = %e, "PostgreSQL connection closed.");
            }
        });
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }
}

// === impl Pooled ===

impl Pooled<'_> {
    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a Pooled holds its connection until drop")
    }

    /// A prepared statement for `sql`, cached per connection.
    async fn prepare(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        let conn = self.conn();
        if let Some(s) = conn.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = conn.client.prepare(sql).await.map_err(pg("prepare"))?;
        conn.statements.insert(sql, s.clone());
        Ok(s)
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take()
            && !c.client.is_closed()
        {
            self.pool.idle().push(c);
        }
    }
}

// === impl Postgres ===

impl Postgres {
    pub(crate) async fn open(config: &PostgresConfig) -> Result<Self, StoreError> {
        let pool = Pool {
            config: config.pg.clone(),
            tls: MakeRustls(config.tls.clone()),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(config.max_connections),
            acquire_timeout: config.acquire_timeout,
        };
        {
            let mut c = pool.get().await?;
            migrate(&mut c.conn().client, config.schema.as_deref()).await?;
        }
        Ok(Self { pool })
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.pool.get().await?;
        c.conn()
            .client
            .simple_query("SELECT 1")
            .await
            .map_err(pg("ping"))?;
        Ok(())
    }

    pub(crate) async fn subject(&self, key: &SubjectKey) -> Result<Option<SubjectRow>, StoreError> {
        let mut c = self.pool.get().await?;
        let stmt = c.prepare(SELECT_SUBJECT).await?;
        let key_bytes: &[u8] = key.as_bytes();
        let row = c
            .conn()
            .client
            .query_opt(&stmt, &[&key_bytes])
            .await
            .map_err(pg("subject read"))?;
        let Some(row) = row else { return Ok(None) };
        let generation: i64 = row.try_get(0).map_err(pg("subject read"))?;
        let secret: Option<&[u8]> = row.try_get(1).map_err(pg("subject read"))?;
        let erased_at: Option<SystemTime> = row.try_get(2).map_err(pg("subject read"))?;
        Ok(Some(SubjectRow {
            generation: generation_from(generation)?,
            secret: secret.map(secret_from).transpose()?,
            erased_at: erased_at.map(ledger::unix_secs),
        }))
    }

    /// Inserts `proposal` if the subject has no live secret. `None` means another writer holds
    /// a live secret: read it again.
    pub(crate) async fn create(
        &self,
        key: &SubjectKey,
        proposal: Zeroizing<[u8; 32]>,
        now: i64,
    ) -> Result<Option<(u64, Zeroizing<[u8; 32]>)>, StoreError> {
        let mut c = self.pool.get().await?;
        let stmt = c.prepare(CREATE_SUBJECT).await?;
        let key_bytes: &[u8] = key.as_bytes();
        let secret: &[u8] = &proposal[..];
        let now = ledger::from_unix_secs(now);
        let row = c
            .conn()
            .client
            .query_opt(&stmt, &[&key_bytes, &secret, &now])
            .await
            .map_err(pg("subject create"))?;
        let Some(row) = row else { return Ok(None) };
        let generation: i64 = row.try_get(0).map_err(pg("subject create"))?;
        let stored: &[u8] = row.try_get(1).map_err(pg("subject create"))?;
        Ok(Some((generation_from(generation)?, secret_from(stored)?)))
    }

    pub(crate) async fn erase(
        &self,
        key: &SubjectKey,
        now: i64,
    ) -> Result<(u64, bool, Vec<String>), StoreError> {
        const OP: &str = "subject erase";
        let mut c = self.pool.get().await?;
        let lock = c.prepare(LOCK_SUBJECT).await?;
        let erase = c.prepare(ERASE_SUBJECT).await?;
        let tombstone = c.prepare(TOMBSTONE_UNKNOWN).await?;
        let recipients = c.prepare(SELECT_RECIPIENTS).await?;
        let key_bytes: &[u8] = key.as_bytes();
        let now = ledger::from_unix_secs(now);
        let tx = c.conn().client.transaction().await.map_err(pg(OP))?;
        let mut outcome = None;
        // An unknown subject gets a tombstone row; if a creator inserts it first, lock that row
        // and erase it instead. Two turns always suffice (rows are never deleted).
        for _ in 0..3 {
            if let Some(row) = tx.query_opt(&lock, &[&key_bytes]).await.map_err(pg(OP))? {
                let generation: i64 = row.try_get(0).map_err(pg(OP))?;
                let live: bool = row.try_get(1).map_err(pg(OP))?;
                tx.execute(&erase, &[&key_bytes, &now])
                    .await
                    .map_err(pg(OP))?;
                outcome = Some((generation_from(generation)?, live));
                break;
            }
            if tx
                .execute(&tombstone, &[&key_bytes, &now])
                .await
                .map_err(pg(OP))?
                == 1
            {
                outcome = Some((0, false));
                break;
            }
        }
        let (generation, destroyed) = outcome.ok_or(StoreError::Contention(3))?;
        let routes = tx
            .query(&recipients, &[&key_bytes])
            .await
            .map_err(pg(OP))?
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(pg(OP))?;
        tx.commit().await.map_err(pg(OP))?;
        Ok((generation, destroyed, routes))
    }

    pub(crate) async fn record_recipient(
        &self,
        key: &SubjectKey,
        route: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.pool.get().await?;
        let stmt = c.prepare(RECORD_RECIPIENT).await?;
        let key_bytes: &[u8] = key.as_bytes();
        let now = ledger::from_unix_secs(now);
        c.conn()
            .client
            .execute(&stmt, &[&key_bytes, &route, &now])
            .await
            .map_err(pg("recipient record"))?;
        Ok(())
    }

    pub(crate) async fn recipients(&self, key: &SubjectKey) -> Result<Vec<String>, StoreError> {
        let mut c = self.pool.get().await?;
        let stmt = c.prepare(SELECT_RECIPIENTS).await?;
        let key_bytes: &[u8] = key.as_bytes();
        c.conn()
            .client
            .query(&stmt, &[&key_bytes])
            .await
            .map_err(pg("recipients read"))?
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(pg("recipients read"))
    }

    pub(crate) async fn add_ledger(&self, delta: &LedgerDelta) -> Result<(), StoreError> {
        const OP: &str = "ledger flush";
        // Sorted, so concurrent flushes from several replicas lock rows in one order.
        let mut d: Vec<_> = delta.disclosure_rows().collect();
        d.sort_by(|a, b| {
            (a.0, &a.1.route, &a.1.purpose, &a.1.category, &a.1.treatment).cmp(&(
                b.0,
                &b.1.route,
                &b.1.purpose,
                &b.1.category,
                &b.1.treatment,
            ))
        });
        let mut f: Vec<_> = delta.field_rows().collect();
        f.sort_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));

        let d_day: Vec<i32> = d.iter().map(|r| r.0.days_since_epoch()).collect();
        let d_route: Vec<&str> = d.iter().map(|r| &*r.1.route).collect();
        let d_purpose: Vec<&str> = d.iter().map(|r| &*r.1.purpose).collect();
        let d_category: Vec<&str> = d.iter().map(|r| &*r.1.category).collect();
        let d_treatment: Vec<&str> = d.iter().map(|r| &*r.1.treatment).collect();
        let d_count: Vec<i64> = d.iter().map(|r| count_i64(r.2)).collect();
        let f_day: Vec<i32> = f.iter().map(|r| r.0.days_since_epoch()).collect();
        let f_route: Vec<&str> = f.iter().map(|r| r.1).collect();
        let f_path: Vec<&str> = f.iter().map(|r| r.2).collect();
        let f_class: Vec<&str> = f.iter().map(|r| r.3).collect();
        let f_count: Vec<i64> = f.iter().map(|r| count_i64(r.4.count)).collect();
        let f_first: Vec<i64> = f.iter().map(|r| r.4.first_seen).collect();
        let f_last: Vec<i64> = f.iter().map(|r| r.4.last_seen).collect();

        let mut c = self.pool.get().await?;
        let add_d = c.prepare(ADD_DISCLOSURES).await?;
        let add_f = c.prepare(ADD_FIELDS).await?;
        let tx = c.conn().client.transaction().await.map_err(pg(OP))?;
        if !d.is_empty() {
            let params: [&(dyn ToSql + Sync); 6] = [
                &d_day,
                &d_route,
                &d_purpose,
                &d_category,
                &d_treatment,
                &d_count,
            ];
            tx.execute(&add_d, &params).await.map_err(pg(OP))?;
        }
        if !f.is_empty() {
            let params: [&(dyn ToSql + Sync); 7] = [
                &f_day, &f_route, &f_path, &f_class, &f_count, &f_first, &f_last,
            ];
            tx.execute(&add_f, &params).await.map_err(pg(OP))?;
        }
        tx.commit().await.map_err(pg(OP))
    }

    pub(crate) async fn ledger_report(
        &self,
        from: Day,
        to: Day,
    ) -> Result<(Vec<DisclosureRow>, Vec<FieldRow>), StoreError> {
        const OP: &str = "ledger report";
        let (from, to) = (from.days_since_epoch(), to.days_since_epoch());
        let mut c = self.pool.get().await?;
        let rd = c.prepare(REPORT_DISCLOSURES).await?;
        let rf = c.prepare(REPORT_FIELDS).await?;
        let client = &c.conn().client;
        let mut disclosures = Vec::new();
        for r in client.query(&rd, &[&from, &to]).await.map_err(pg(OP))? {
            disclosures.push(DisclosureRow {
                route: r.try_get(0).map_err(pg(OP))?,
                purpose: r.try_get(1).map_err(pg(OP))?,
                category: r.try_get(2).map_err(pg(OP))?,
                treatment: r.try_get(3).map_err(pg(OP))?,
                count: count_u64(r.try_get(4).map_err(pg(OP))?),
            });
        }
        let mut fields = Vec::new();
        for r in client.query(&rf, &[&from, &to]).await.map_err(pg(OP))? {
            fields.push(FieldRow {
                route: r.try_get(0).map_err(pg(OP))?,
                field_path: r.try_get(1).map_err(pg(OP))?,
                class: r.try_get(2).map_err(pg(OP))?,
                count: count_u64(r.try_get(3).map_err(pg(OP))?),
                first_seen: r.try_get(4).map_err(pg(OP))?,
                last_seen: r.try_get(5).map_err(pg(OP))?,
            });
        }
        Ok((disclosures, fields))
    }
}

/// Brings the schema up to the latest migration. Safe to run from several processes at once.
async fn migrate(client: &mut Client, schema: Option<&str>) -> Result<(), StoreError> {
    const OP: &str = "migration";
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    let tx = client.transaction().await.map_err(pg(OP))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg(OP))?;
    if let Some(schema) = schema {
        // Validated by `with_schema` to be a plain lower-case identifier.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(pg(OP))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS piigate_schema_migrations (
            version    BIGINT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(pg(OP))?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM piigate_schema_migrations",
            &[],
        )
        .await
        .map_err(pg(OP))?
        .try_get(0)
        .map_err(pg(OP))?;
    if current > latest {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: latest,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).await.map_err(pg(OP))?;
        tx.execute(
            "INSERT INTO piigate_schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(pg(OP))?;
        tracing::info!(version, "Store schema migrated.");
    }
    tx.commit().await.map_err(pg(OP))
}
