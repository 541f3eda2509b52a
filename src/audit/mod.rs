//! The audit log: an append-only, hash-chained JSON-lines file of reveals, erasures, reloads and
//! key changes.
//!
//! # Format
//!
//! One entry per line, compact JSON with the fields in this fixed order:
//!
//! ```text
//! {"seq":1,"time":"2026-11-22T10:00:00.123Z","kind":"erasure","actor":"admin",
//!  "outcome":"succeeded","route":null,"subject":"<64 hex>","recipients":["segment"],
//!  "detail":null,"prev":"<64 hex>","hash":"<64 hex>"}
//! ```
//!
//! - `seq` counts entries from 1, so the count is sealed into every entry;
//! - `prev` is the previous entry's `hash` (64 zeros for the first entry);
//! - `hash` is `SHA-256("piigate-audit-v1\n" ‖ body)`, where `body` is the line up to and
//!   excluding `,"hash":…` with a closing `}` — every other field, in order;
//! - `subject` is a keyed hash ([`crate::store::SubjectKey`]), never a subject id;
//!   nothing in an entry is a payload value.
//!
//! A line is valid only if it is byte-for-byte the canonical serialisation of the values it
//! parses to, so a change that keeps the JSON meaning (an escape, a space) is still detected.
//!
//! Next to the log, `<log>.head` holds `{"seq":N,"hash":"…"}` of the last entry, replaced
//! atomically (write, fsync, rename) after every append. The chain alone cannot show that
//! entries were cut off the end; the head can.
//!
//! # What verification proves, and what it does not
//!
//! [`verify`] detects, and names the first line affected by: any edited byte, a reordered,
//! inserted or deleted entry, a torn last line, and truncation of trailing entries (against the
//! head). It does **not** stop someone who can write both files from rewriting the whole chain
//! and the head consistently: SHA-256 is unkeyed, so anyone can recompute it. Against that, ship
//! the head hash somewhere the host cannot rewrite (the gateway logs it at INFO on every append,
//! so a central log pipeline holds an independent copy) and compare. A keyed chain (HMAC under
//! a keyring-derived key) would need the key to forge; see `docs/STORE.md`.
//!
//! # Crashes
//!
//! An append writes and fsyncs the line, then the head. A crash between the two leaves the head
//! one entry behind, which both [`AuditLog::open`] (repairing it) and [`verify`] accept when the
//! extra entry chains onto the head. A crash mid-line leaves a torn tail that the head proves
//! was never acknowledged; `open` cuts it off, logs a warning and appends a `recovery` entry
//! saying how many bytes it removed. Anything else wrong at open is refused: the operator runs
//! `piigate audit verify`, keeps the file as evidence, and starts a new log.
//!
//! Each gateway process writes its own log; replicas do not share one file.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{SubjectKey, hex};

/// What kind of event an entry records. Serialised snake_case; names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A data subject's secret was erased (crypto-shredding).
    Erasure,
    /// The keyring changed (rotation, a key retired or added).
    KeyChange,
    /// The log itself was repaired at open (a torn tail cut off).
    Recovery,
    /// The configuration was reloaded (or a reload was refused).
    Reload,
    /// Ciphertext was revealed (admin API or CLI).
    Reveal,
}

/// How the audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Refused (bad token, policy forbids it).
    Denied,
    /// Attempted and failed.
    Failed,
    /// Done.
    Succeeded,
}

/// An event to append. Every field is metadata: never put a payload value or a subject id in
/// `actor`, `route` or `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditKind,
    /// Who did it: `admin`, `cli`, `signal`, a token name. Not a person's name or email.
    pub actor: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The route concerned, if any.
    pub route: Option<String>,
    /// The data subject concerned, as its keyed hash.
    pub subject: Option<SubjectKey>,
    /// Recipients notified or concerned (for an erasure: the receipt's routes).
    pub recipients: Vec<String>,
    /// A fixed, value-free note, e.g. `"generation 3"` or `"key k2026 now primary"`.
    pub detail: Option<String>,
}

/// What a successful [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries in the log.
    pub entries: u64,
    /// Hash of the last entry (64 zeros for an empty log): compare with an off-host copy.
    pub head: String,
    /// `true` if the head file was one entry behind (a crash between the line and the head
    /// write); the next `open` repairs it.
    pub head_lagging: bool,
}

/// Why the chain is broken. `line` numbers in [`AuditError::Broken`] are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The entry does not chain onto the previous one (`prev` differs): reordered, inserted,
    /// deleted or edited entries.
    ChainMismatch,
    /// The `.head` file names a different last entry (the last entry was replaced).
    HeadMismatch,
    /// The `.head` file is missing although the log has entries.
    HeadMissing,
    /// The `.head` file is not `{"seq":N,"hash":"…"}`.
    HeadMalformed,
    /// The entry's `hash` is not the hash of its fields: an edited entry.
    HashMismatch,
    /// Not a valid entry (bad JSON, unknown or missing fields).
    Malformed,
    /// Valid JSON, but not byte-for-byte canonical: an edit that kept the meaning.
    NotCanonical,
    /// `seq` is not one more than the previous entry's.
    SeqMismatch {
        /// Expected sequence number.
        expected: u64,
        /// Found sequence number.
        found: u64,
    },
    /// The file does not end with a newline: a torn or edited last line.
    TornTail,
    /// The head file records more entries than the log has: entries cut off the end.
    Truncated {
        /// Entries the head records.
        head_seq: u64,
        /// Entries found.
        found: u64,
    },
}

/// Audit log failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing the log or its head failed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The chain is broken at `line`.
    #[error("audit log {path}: line {line}: {reason}")]
    Broken {
        /// The log file.
        path: PathBuf,
        /// The first bad line, 1-based (one past the last line for truncation). At
        /// [`AuditLog::open`], which reads only the tail, it is the last entry's `seq`, or 0
        /// when not even that is readable.
        line: u64,
        /// What is wrong.
        reason: Break,
    },
    /// An earlier append failed half-way; reopen the log (which repairs a torn tail).
    #[error("audit log {path} is unusable after a failed write; restart to recover")]
    Poisoned {
        /// The log file.
        path: PathBuf,
    },
    /// The blocking append task panicked.
    #[error("audit log worker failed")]
    Worker,
}

/// An open audit log. Cheap to clone; appends are serialised.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Mutex<Writer>>,
}

struct Writer {
    path: PathBuf,
    head_path: PathBuf,
    file: File,
    seq: u64,
    last_hash: String,
    poisoned: bool,
}

/// Hash-domain prefix: a version bump changes every hash.
const HASH_PREFIX: &[u8] = b"piigate-audit-v1\n";
const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields covered by `hash`, in line order.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    time: &'a str,
    kind: AuditKind,
    actor: &'a str,
    outcome: Outcome,
    route: Option<&'a str>,
    subject: Option<&'a str>,
    recipients: &'a [String],
    detail: Option<&'a str>,
    prev: &'a str,
}

/// A parsed line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    seq: u64,
    time: String,
    kind: AuditKind,
    actor: String,
    outcome: Outcome,
    route: Option<String>,
    subject: Option<String>,
    recipients: Vec<String>,
    detail: Option<String>,
    prev: String,
    hash: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    seq: u64,
    hash: String,
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC); a clock before 1970 reads as 1970-01-01.
fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        since.subsec_millis()
    )
}

fn body_json(b: &Body<'_>) -> String {
    // A struct of strings, integers and unit enums always serialises.
    serde_json::to_string(b).expect("audit body serialises")
}

fn hash_body(body: &str) -> String {
    let mut h = Sha256::new();
    h.update(HASH_PREFIX);
    h.update(body.as_bytes());
    hex(&h.finalize())
}

/// `body` with `,"hash":"…"` spliced in before its closing brace.
fn line_of(body: &str, hash: &str) -> String {
    let open = body.strip_suffix('}').unwrap_or(body);
    format!("{open},\"hash\":\"{hash}\"}}")
}

fn head_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".head");
    path.with_file_name(name)
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks one line (without its newline) against the previous entry. Returns (seq, hash).
fn check_line(line: &[u8], prev: Option<(u64, &str)>) -> Result<(u64, String), Break> {
    let e: Entry = serde_json::from_slice(line).map_err(|_| Break::Malformed)?;
    let body = body_json(&Body {
        seq: e.seq,
        time: &e.time,
        kind: e.kind,
        actor: &e.actor,
        outcome: e.outcome,
        route: e.route.as_deref(),
        subject: e.subject.as_deref(),
        recipients: &e.recipients,
        detail: e.detail.as_deref(),
        prev: &e.prev,
    });
    if line_of(&body, &e.hash).as_bytes() != line {
        return Err(Break::NotCanonical);
    }
    if hash_body(&body) != e.hash {
        return Err(Break::HashMismatch);
    }
    let (expected_seq, expected_prev) = prev.map_or((1, ZERO_HASH), |(s, h)| (s + 1, h));
    if e.seq != expected_seq {
        return Err(Break::SeqMismatch {
            expected: expected_seq,
            found: e.seq,
        });
    }
    if e.prev != expected_prev {
        return Err(Break::ChainMismatch);
    }
    Ok((e.seq, e.hash))
}

fn parse_head(bytes: &[u8]) -> Result<Head, Break> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    serde_json::from_slice::<Head>(text).map_err(|_| Break::HeadMalformed)
}

fn read_head(path: &Path) -> Result<Option<Result<Head, Break>>, AuditError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(parse_head(&bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn write_head(path: &Path, seq: u64, hash: &str) -> io::Result<()> {
    let tmp = path.with_extension("head.tmp");
    let mut text = serde_json::to_vec(&Head {
        seq,
        hash: hash.to_owned(),
    })
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    text.push(b'\n');
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Compares the last entry with the head. `Ok(true)` if the head lags by exactly that entry.
fn check_head(
    head: Option<Result<Head, Break>>,
    last: Option<(u64, &str, &str)>, // (seq, hash, prev)
    lines: u64,
) -> Result<bool, (u64, Break)> {
    match (head, last) {
        (None, None) => Ok(false),
        (None, Some(_)) => Err((lines, Break::HeadMissing)),
        (Some(Err(b)), _) => Err((lines.max(1), b)),
        (Some(Ok(h)), None) if h.seq == 0 => Ok(false),
        (Some(Ok(h)), None) => Err((
            1,
            Break::Truncated {
                head_seq: h.seq,
                found: 0,
            },
        )),
        (Some(Ok(h)), Some((seq, hash, prev))) => {
            if h.seq == seq && h.hash == hash {
                Ok(false)
            } else if h.seq + 1 == seq && h.hash == prev {
                Ok(true)
            } else if h.seq > seq {
                Err((
                    lines + 1,
                    Break::Truncated {
                        head_seq: h.seq,
                        found: seq,
                    },
                ))
            } else {
                Err((lines, Break::HeadMismatch))
            }
        }
    }
}

/// Verifies the whole chain of the log at `path` and its `.head` file.
///
/// # Errors
///
/// [`AuditError::Broken`] naming the first bad line, or [`AuditError::Io`] if a file cannot be
/// read (a missing log is an I/O error: there is nothing to verify).
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let head = read_head(&head_path(path))?;
    verify_parts(&bytes, head).map_err(|(line, reason)| AuditError::Broken {
        path: path.to_path_buf(),
        line,
        reason,
    })
}

/// [`verify`] over in-memory contents: the log's bytes and the head file's, if it exists.
///
/// # Errors
///
/// The first bad line (1-based) and what is wrong with it.
pub fn verify_bytes(log: &[u8], head: Option<&[u8]>) -> Result<VerifyReport, (u64, Break)> {
    verify_parts(log, head.map(parse_head))
}

fn verify_parts(
    bytes: &[u8],
    head: Option<Result<Head, Break>>,
) -> Result<VerifyReport, (u64, Break)> {
    let mut prev: Option<(u64, String)> = None;
    let mut prev_of_last = ZERO_HASH.to_owned();
    let mut lines = 0u64;
    let mut rest = bytes;
    while !rest.is_empty() {
        lines += 1;
        let Some(end) = memchr::memchr(b'\n', rest) else {
            return Err((lines, Break::TornTail));
        };
        let (seq, hash) = check_line(&rest[..end], prev.as_ref().map(|(s, h)| (*s, h.as_str())))
            .map_err(|b| (lines, b))?;
        prev_of_last = prev.map_or_else(|| ZERO_HASH.to_owned(), |p| p.1);
        prev = Some((seq, hash));
        rest = &rest[end + 1..];
    }
    let last = prev
        .as_ref()
        .map(|(s, h)| (*s, h.as_str(), prev_of_last.as_str()));
    let head_lagging = check_head(head, last, lines)?;
    Ok(VerifyReport {
        entries: prev.as_ref().map_or(0, |p| p.0),
        head: prev.map_or_else(|| ZERO_HASH.to_owned(), |p| p.1),
        head_lagging,
    })
}

/// Reads the last line (without its newline) and the offset where it starts; `None` for an
/// empty file. Scans backwards in growing windows, so opening a large log is cheap.
fn last_line(file: &mut File, len: u64) -> io::Result<Option<(u64, Vec<u8>)>> {
    if len == 0 {
        return Ok(None);
    }
    let mut window = 8 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
        Read::by_ref(file).take(len - start).read_to_end(&mut buf)?;
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if let Some(i) = memchr::memrchr(b'\n', body) {
            return Ok(Some((start + i as u64 + 1, body[i + 1..].to_vec())));
        }
        if start == 0 {
            return Ok(Some((0, body.to_vec())));
        }
        window *= 4;
    }
}

// === impl AuditLog ===

impl AuditLog {
    /// Opens (or creates) the log at `path`, checking its last entry against the `.head` file,
    /// then appends after it. Does not verify the whole chain (that is [`verify`]'s job); a
    /// repaired torn tail is recorded as a `recovery` entry.
    ///
    /// # Errors
    ///
    /// [`AuditError::Broken`] if the tail or the head is inconsistent (refusing to extend a
    /// chain that is already broken), [`AuditError::Io`] on file errors.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let head_path = head_path(path);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err(path))?;
        let broken = |line: u64, reason: Break| AuditError::Broken {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let len = file.metadata().map_err(io_err(path))?.len();
        let head = read_head(&head_path)?;
        let mut torn_bytes = 0u64;
        let mut state = (0u64, ZERO_HASH.to_owned(), ZERO_HASH.to_owned()); // seq, hash, prev
        if let Some((start, line)) = last_line(&mut file, len).map_err(io_err(path))? {
            let ends_with_newline = start + line.len() as u64 + 1 == len;
            let line = if ends_with_newline {
                line
            } else {
                // A torn tail: the line before it must be the one the head acknowledges.
                let complete = last_line(&mut file, start).map_err(io_err(path))?;
                let ok = match (&head, &complete) {
                    (Some(Ok(h)), Some((_, l))) => {
                        let e: Option<Entry> = serde_json::from_slice(l).ok();
                        e.is_some_and(|e| e.seq == h.seq && e.hash == h.hash)
                    }
                    // The very first append was torn: nothing was ever acknowledged.
                    (Some(Ok(h)), None) => h.seq == 0,
                    (None, None) => true,
                    _ => false,
                };
                if !ok {
                    return Err(broken(0, Break::TornTail));
                }
                torn_bytes = len - start;
                file.set_len(start).map_err(io_err(path))?;
                file.sync_all().map_err(io_err(path))?;
                tracing::warn!(
                    bytes = torn_bytes,
                    "Audit log had a torn last line that was never acknowledged; cut it off."
                );
                complete.map(|c| c.1).unwrap_or_default()
            };
            if !line.is_empty() {
                let e: Entry =
                    serde_json::from_slice(&line).map_err(|_| broken(0, Break::Malformed))?;
                // Check the entry against itself; its predecessor is not read here (that is
                // `verify`'s job), so only the first entry's `prev` is pinned.
                let prev = (e.seq > 1).then(|| (e.seq - 1, e.prev.as_str()));
                let (seq, hash) = check_line(&line, prev).map_err(|b| broken(e.seq, b))?;
                state = (seq, hash, e.prev);
            }
        }
        let last = (state.0 > 0).then_some((state.0, state.1.as_str(), state.2.as_str()));
        let lagging = check_head(head, last, state.0).map_err(|(l, b)| broken(l, b))?;
        if lagging {
            write_head(&head_path, state.0, &state.1).map_err(io_err(&head_path))?;
        }
        let log = Self {
            inner: Arc::new(Mutex::new(Writer {
                path: path.to_path_buf(),
                head_path,
                file,
                seq: state.0,
                last_hash: state.1,
                poisoned: false,
            })),
        };
        if torn_bytes > 0 {
            log.append(&AuditEvent {
                kind: AuditKind::Recovery,
                actor: "piigate".to_owned(),
                outcome: Outcome::Succeeded,
                route: None,
                subject: None,
                recipients: Vec::new(),
                detail: Some(format!(
                    "cut {torn_bytes} bytes of a torn, unacknowledged line"
                )),
            })?;
        }
        Ok(log)
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // The writer's fields change only after a successful write; `poisoned` covers the rest.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `event`, fsyncs it and updates the head. Blocking file I/O: from async code use
    /// [`AuditLog::record`]. Returns the new entry's hash.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`]; after a failed line write the log refuses further appends
    /// ([`AuditError::Poisoned`]) until reopened.
    pub fn append(&self, event: &AuditEvent) -> Result<String, AuditError> {
        self.append_at(SystemTime::now(), event)
    }

    fn append_at(&self, now: SystemTime, event: &AuditEvent) -> Result<String, AuditError> {
        let mut w = self.lock();
        if w.poisoned {
            return Err(AuditError::Poisoned {
                path: w.path.clone(),
            });
        }
        let time = rfc3339(now);
        let subject = event.subject.as_ref().map(SubjectKey::to_hex);
        let seq = w.seq + 1;
        let body = body_json(&Body {
            seq,
            time: &time,
            kind: event.kind,
            actor: &event.actor,
            outcome: event.outcome,
            route: event.route.as_deref(),
            subject: subject.as_deref(),
            recipients: &event.recipients,
            detail: event.detail.as_deref(),
            prev: &w.last_hash,
        });
        let hash = hash_body(&body);
        let mut line = line_of(&body, &hash);
        line.push('\n');
        let written = w
            .file
            .write_all(line.as_bytes())
            .and_then(|()| w.file.sync_data());
        if let Err(e) = written {
            w.poisoned = true;
            return Err(io_err(&w.path)(e));
        }
        w.seq = seq;
        w.last_hash.clone_from(&hash);
        // The entry is durable; a failed head write leaves the head lagging, which open and
        // verify both accept and open repairs.
        write_head(&w.head_path, seq, &hash).map_err(io_err(&w.head_path))?;
        tracing::info!(seq, kind = ?event.kind, head = %hash, "Audit entry appended.");
        Ok(hash)
    }

    /// [`AuditLog::append`] on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`AuditLog::append`], or [`AuditError::Worker`].
    pub async fn record(&self, event: AuditEvent) -> Result<String, AuditError> {
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.append(&event))
            .await
            .map_err(|_| AuditError::Worker)?
    }

    /// Entries written so far (the last `seq`).
    pub fn len(&self) -> u64 {
        self.lock().seq
    }

    /// `true` if the log has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.lock();
        f.debug_struct("AuditLog")
            .field("path", &w.path)
            .field("seq", &w.seq)
            .finish()
    }
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChainMismatch => f.write_str("`prev` does not match the previous entry's hash (entries reordered, inserted, deleted or edited)"),
            Self::HeadMismatch => f.write_str("the last entry is not the one the .head file records (replaced entry)"),
            Self::HeadMissing => f.write_str("the .head file is missing; trailing entries cannot be checked"),
            Self::HeadMalformed => f.write_str("the .head file is malformed"),
            Self::HashMismatch => f.write_str("`hash` does not match the entry's contents (edited entry)"),
            Self::Malformed => f.write_str("not a valid audit entry"),
            Self::NotCanonical => f.write_str("entry is not in canonical form (edited entry)"),
            Self::SeqMismatch { expected, found } => {
                write!(f, "sequence number {found}, expected {expected} (entries deleted, inserted or reordered)")
            }
            Self::TornTail => f.write_str("the last line is incomplete (torn write or edit)"),
            Self::Truncated { head_seq, found } => {
                write!(f, "the .head file records {head_seq} entries but the log has {found} (entries cut off the end)")
            }
        }
    }
}

#[cfg(test)]
mod tests;
