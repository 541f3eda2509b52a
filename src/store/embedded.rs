//! The embedded backend: one redb file.
//!
//! redb is synchronous, so every operation runs on tokio's blocking pool. Each write is one
//! transaction committed with redb's default (immediate, fsync'd) durability: a secret is on
//! disk before anyone derives a pseudonym from it. redb runs one write transaction at a time,
//! which is what makes creation race-free inside the process; the file lock keeps other
//! processes out.
//!
//! Tables (schema version 1):
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `subjects` | subject key (32 bytes) | encoded [`SubjectRow`] (59 bytes, see `encode_row`) |
//! | `recipients` | (subject key, route) | first seen, Unix seconds |
//! | `disclosures` | (day, route, purpose, category, treatment) | count |
//! | `fields` | (day, route, field path, class) | (count, first seen, last seen) |
//! | `meta` | `"schema_version"` | 1 |

// redb's error type is 160 bytes. It only travels on the cold error path of the blocking
// closures here and is boxed as soon as it becomes a `StoreError`.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use zeroize::Zeroizing;

use super::ledger::{Day, DisclosureRow, FieldRow, FieldStats, LedgerDelta};
use super::{StoreError, SubjectKey, SubjectRow};

const SCHEMA_VERSION: u64 = 1;
/// redb's page cache; the default (1 GiB) is far more than a gateway needs.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

const SUBJECTS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("subjects");
const RECIPIENTS: TableDefinition<'_, (&[u8; 32], &str), i64> = TableDefinition::new("recipients");
type DisclosureCell<'a> = (i32, &'a str, &'a str, &'a str, &'a str);
const DISCLOSURES: TableDefinition<'_, DisclosureCell<'_>, u64> =
    TableDefinition::new("disclosures");
type FieldCell<'a> = (i32, &'a str, &'a str, &'a str);
const FIELDS: TableDefinition<'_, FieldCell<'_>, (u64, i64, i64)> = TableDefinition::new("fields");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

const ROW_LEN: usize = 1 + 8 + 1 + 8 + 1 + 32 + 8;
const ROW_FORMAT: u8 = 1;

pub(crate) struct Embedded {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

type Created = Option<(u64, Zeroizing<[u8; 32]>)>;

/// `format ‖ generation ‖ has_erased ‖ erased_at ‖ has_secret ‖ secret ‖ reserved`, integers
/// little-endian. The secret slot is zero when absent.
fn encode_row(row: &SubjectRow) -> Zeroizing<[u8; ROW_LEN]> {
    let mut out = Zeroizing::new([0u8; ROW_LEN]);
    out[0] = ROW_FORMAT;
    out[1..9].copy_from_slice(&row.generation.to_le_bytes());
    if let Some(t) = row.erased_at {
        out[9] = 1;
        out[10..18].copy_from_slice(&t.to_le_bytes());
    }
    if let Some(s) = &row.secret {
        out[18] = 1;
        out[19..51].copy_from_slice(&s[..]);
    }
    out
}

fn decode_row(bytes: &[u8]) -> Result<SubjectRow, StoreError> {
    const BAD: StoreError = StoreError::Corrupt("subject row has the wrong length or format");
    if bytes.len() != ROW_LEN || bytes[0] != ROW_FORMAT || bytes[9] > 1 || bytes[18] > 1 {
        return Err(BAD);
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        b
    };
    let secret = (bytes[18] == 1).then(|| {
        let mut s = Zeroizing::new([0u8; 32]);
        s.copy_from_slice(&bytes[19..51]);
        s
    });
    Ok(SubjectRow {
        generation: u64::from_le_bytes(u64_at(1)),
        erased_at: (bytes[9] == 1).then(|| i64::from_le_bytes(u64_at(10))),
        secret,
    })
}

// === impl Embedded ===

impl Embedded {
    pub(crate) async fn open(path: PathBuf) -> Result<Self, StoreError> {
        let path = Arc::new(path);
        let p = path.clone();
        let db = tokio::task::spawn_blocking(move || open_blocking(&p))
            .await
            .map_err(|_| StoreError::Worker)??;
        Ok(Self {
            db: Arc::new(db),
            path,
        })
    }

    /// Runs `f` on the blocking pool with the database.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let db = self.db.clone();
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(redb::Error::Corrupted(_))) => {
                Err(StoreError::Corrupt("redb reported a corrupted page"))
            }
            Ok(Err(source)) => Err(StoreError::Embedded {
                path: (*path).clone(),
                source: Box::new(source),
            }),
            Err(_) => Err(StoreError::Worker),
        }
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.run(|db| {
            let tx = db.begin_read()?;
            tx.open_table(META)?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn subject(&self, key: SubjectKey) -> Result<Option<SubjectRow>, StoreError> {
        let raw = self
            .run(move |db| {
                let tx = db.begin_read()?;
                let t = tx.open_table(SUBJECTS)?;
                Ok(t.get(key.as_bytes())?
                    .map(|v| Zeroizing::new(v.value().to_vec())))
            })
            .await?;
        raw.map(|b| decode_row(&b)).transpose()
    }

    pub(crate) async fn create(
        &self,
        key: SubjectKey,
        proposal: Zeroizing<[u8; 32]>,
    ) -> Result<Created, StoreError> {
        self.run(move |db| {
            let tx = db.begin_write()?;
            let result = {
                let mut t = tx.open_table(SUBJECTS)?;
                let existing = t.get(key.as_bytes())?.map(|v| decode_row(v.value()));
                let row = match existing {
                    Some(Ok(SubjectRow {
                        generation,
                        secret: Some(s),
                        ..
                    })) => {
                        // Created since our read: the existing secret wins.
                        return Ok(Some((generation, s)));
                    }
                    Some(Ok(r)) => SubjectRow {
                        generation: r.generation.saturating_add(1),
                        secret: Some(proposal),
                        erased_at: r.erased_at,
                    },
                    Some(Err(_)) => return Err(redb::Error::Corrupted("subject row".to_owned())),
                    None => SubjectRow {
                        generation: 0,
                        secret: Some(proposal),
                        erased_at: None,
                    },
                };
                t.insert(key.as_bytes(), &encode_row(&row)[..])?;
                row.secret.map(|s| (row.generation, s))
            };
            tx.commit()?;
            Ok(result)
        })
        .await
    }

    pub(crate) async fn erase(
        &self,
        key: SubjectKey,
        now: i64,
    ) -> Result<(u64, bool, Vec<String>), StoreError> {
        self.run(move |db| {
            let tx = db.begin_write()?;
            let result = {
                let mut t = tx.open_table(SUBJECTS)?;
                let existing = match t.get(key.as_bytes())?.map(|v| decode_row(v.value())) {
                    Some(Err(_)) => return Err(redb::Error::Corrupted("subject row".to_owned())),
                    Some(Ok(r)) => Some(r),
                    None => None,
                };
                let (generation, destroyed) =
                    existing.map_or((0, false), |r| (r.generation, r.secret.is_some()));
                let row = SubjectRow {
                    generation,
                    secret: None,
                    erased_at: Some(now),
                };
                t.insert(key.as_bytes(), &encode_row(&row)[..])?;
                let r = tx.open_table(RECIPIENTS)?;
                let recipients = recipients_of(&r, &key)?;
                (generation, destroyed, recipients)
            };
            tx.commit()?;
            Ok(result)
        })
        .await
    }

    pub(crate) async fn record_recipient(
        &self,
        key: SubjectKey,
        route: String,
        now: i64,
    ) -> Result<(), StoreError> {
        self.run(move |db| {
            // Read first: an already recorded recipient costs no write transaction (and no
            // fsync).
            {
                let tx = db.begin_read()?;
                let t = tx.open_table(RECIPIENTS)?;
                if t.get((key.as_bytes(), route.as_str()))?.is_some() {
                    return Ok(());
                }
            }
            let tx = db.begin_write()?;
            {
                let mut t = tx.open_table(RECIPIENTS)?;
                if t.get((key.as_bytes(), route.as_str()))?.is_none() {
                    t.insert((key.as_bytes(), route.as_str()), now)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn recipients(&self, key: SubjectKey) -> Result<Vec<String>, StoreError> {
        self.run(move |db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(RECIPIENTS)?;
            recipients_of(&t, &key)
        })
        .await
    }

    pub(crate) async fn add_ledger(&self, delta: &LedgerDelta) -> Result<(), StoreError> {
        // Owned copies: the write runs on another thread.
        let disclosures: Vec<(i32, [String; 4], u64)> = delta
            .disclosure_rows()
            .map(|(d, k, n)| {
                let labels = [
                    k.route.to_string(),
                    k.purpose.to_string(),
                    k.category.to_string(),
                    k.treatment.to_string(),
                ];
                (d.days_since_epoch(), labels, n)
            })
            .collect();
        let fields: Vec<(i32, [String; 3], FieldStats)> = delta
            .field_rows()
            .map(|(d, route, path, class, s)| {
                (
                    d.days_since_epoch(),
                    [route.to_owned(), path.to_owned(), class.to_owned()],
                    s,
                )
            })
            .collect();
        self.run(move |db| {
            let tx = db.begin_write()?;
            {
                let mut t = tx.open_table(DISCLOSURES)?;
                for (day, [r, p, c, tr], n) in &disclosures {
                    let k = (*day, r.as_str(), p.as_str(), c.as_str(), tr.as_str());
                    let old = t.get(k)?.map_or(0, |v| v.value());
                    t.insert(k, old.saturating_add(*n))?;
                }
                let mut t = tx.open_table(FIELDS)?;
                for (day, [r, p, c], s) in &fields {
                    let k = (*day, r.as_str(), p.as_str(), c.as_str());
                    let mut merged = *s;
                    if let Some(v) = t.get(k)? {
                        let (count, first_seen, last_seen) = v.value();
                        merged.absorb(FieldStats {
                            count,
                            first_seen,
                            last_seen,
                        });
                    }
                    t.insert(k, (merged.count, merged.first_seen, merged.last_seen))?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn ledger_report(
        &self,
        from: Day,
        to: Day,
    ) -> Result<(Vec<DisclosureRow>, Vec<FieldRow>), StoreError> {
        let (from, to) = (from.days_since_epoch(), to.days_since_epoch());
        self.run(move |db| {
            let tx = db.begin_read()?;
            let mut disclosures: BTreeMap<[String; 4], u64> = BTreeMap::new();
            let mut fields: BTreeMap<[String; 3], FieldStats> = BTreeMap::new();
            if from <= to {
                let t = tx.open_table(DISCLOSURES)?;
                for item in t.range((from, "", "", "", "")..)? {
                    let (k, v) = item?;
                    let (day, r, p, c, tr) = k.value();
                    if day > to {
                        break;
                    }
                    let cell = [r.to_owned(), p.to_owned(), c.to_owned(), tr.to_owned()];
                    *disclosures.entry(cell).or_insert(0) += v.value();
                }
                let t = tx.open_table(FIELDS)?;
                for item in t.range((from, "", "", "")..)? {
                    let (k, v) = item?;
                    let (day, r, p, c) = k.value();
                    if day > to {
                        break;
                    }
                    let (count, first_seen, last_seen) = v.value();
                    let s = FieldStats {
                        count,
                        first_seen,
                        last_seen,
                    };
                    fields
                        .entry([r.to_owned(), p.to_owned(), c.to_owned()])
                        .and_modify(|m| m.absorb(s))
                        .or_insert(s);
                }
            }
            let disclosures = disclosures
                .into_iter()
                .map(
                    |([route, purpose, category, treatment], count)| DisclosureRow {
                        route,
                        purpose,
                        category,
                        treatment,
                        count,
                    },
                )
                .collect();
            let fields = fields
                .into_iter()
                .map(|([route, field_path, class], s)| FieldRow {
                    route,
                    field_path,
                    class,
                    count: s.count,
                    first_seen: s.first_seen,
                    last_seen: s.last_seen,
                })
                .collect();
            Ok((disclosures, fields))
        })
        .await
    }
}

fn recipients_of(
    t: &impl ReadableTable<(&'static [u8; 32], &'static str), i64>,
    key: &SubjectKey,
) -> Result<Vec<String>, redb::Error> {
    let mut out = Vec::new();
    for item in t.range((key.as_bytes(), "")..)? {
        let (k, _) = item?;
        let (subject, route) = k.value();
        if subject != key.as_bytes() {
            break;
        }
        out.push(route.to_owned());
    }
    Ok(out)
}

fn open_blocking(path: &PathBuf) -> Result<Database, StoreError> {
    let err = |source: redb::Error| match source {
        redb::Error::DatabaseAlreadyOpen => StoreError::EmbeddedLocked { path: path.clone() },
        source => StoreError::Embedded {
            path: path.clone(),
            source: Box::new(source),
        },
    };
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|e| err(e.into()))?;
    // Create every table and check the schema version in one transaction.
    let tx = db.begin_write().map_err(|e| err(e.into()))?;
    {
        let mut meta = tx.open_table(META).map_err(|e| err(e.into()))?;
        let found = meta
            .get("schema_version")
            .map_err(|e| err(e.into()))?
            .map(|v| v.value());
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::SchemaTooNew {
                    found: i64::try_from(v).unwrap_or(i64::MAX),
                    supported: SCHEMA_VERSION as i64,
                });
            }
            Some(_) => {}
            None => {
                meta.insert("schema_version", SCHEMA_VERSION)
                    .map_err(|e| err(e.into()))?;
            }
        }
        tx.open_table(SUBJECTS).map_err(|e| err(e.into()))?;
        tx.open_table(RECIPIENTS).map_err(|e| err(e.into()))?;
        tx.open_table(DISCLOSURES).map_err(|e| err(e.into()))?;
        tx.open_table(FIELDS).map_err(|e| err(e.into()))?;
    }
    tx.commit().map_err(|e| err(e.into()))?;
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_encoding_round_trips() {
        for row in [
            SubjectRow {
                generation: 0,
                secret: Some(Zeroizing::new([7; 32])),
                erased_at: None,
            },
            SubjectRow {
                generation: 9,
                secret: None,
                erased_at: Some(-5),
            },
            SubjectRow {
                generation: u64::MAX,
                secret: Some(Zeroizing::new([1; 32])),
                erased_at: Some(1),
            },
        ] {
            let back = decode_row(&encode_row(&row)[..]).expect("valid row");
            assert_eq!(back.generation, row.generation);
            assert_eq!(back.erased_at, row.erased_at);
            assert_eq!(back.secret.as_deref(), row.secret.as_deref());
        }
        assert!(decode_row(&[0; ROW_LEN]).is_err());
        assert!(decode_row(&[1; 10]).is_err());
    }
}
