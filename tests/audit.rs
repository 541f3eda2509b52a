//! The audit log: survives restarts, and `verify` catches every single-byte edit, every deleted,
//! duplicated or reordered line, and truncation.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use piigate::audit::{self, AuditError, AuditEvent, AuditKind, AuditLog, Break, Outcome};
use piigate::store::SubjectKeyer;
use proptest::prelude::*;

const SUBJECT_ID: &str = "alice.canary@example.com";

fn event(kind: AuditKind, route: Option<&str>) -> AuditEvent {
    let keyer = SubjectKeyer::new(&[3; 32]);
    AuditEvent {
        kind,
        actor: "admin".to_owned(),
        outcome: Outcome::Succeeded,
        route: route.map(str::to_owned),
        subject: Some(keyer.subject_key(SUBJECT_ID.as_bytes())),
        recipients: vec!["ga4".to_owned(), "segment".to_owned()],
        detail: Some("generation 0".to_owned()),
    }
}

/// A log of five entries written across two process "lifetimes".
fn sample(dir: &Path) -> PathBuf {
    let path = dir.join("audit.jsonl");
    {
        let log = AuditLog::open(&path).expect("open new");
        log.append(&event(AuditKind::Reload, None)).expect("append");
        log.append(&event(AuditKind::Reveal, Some("segment")))
            .expect("append");
        log.append(&event(AuditKind::Erasure, None))
            .expect("append");
    }
    let log = AuditLog::open(&path).expect("reopen");
    assert_eq!(log.len(), 3);
    log.append(&event(AuditKind::KeyChange, None))
        .expect("append");
    log.append(&event(AuditKind::Reveal, Some("stripe")))
        .expect("append");
    path
}

fn head(path: &Path) -> PathBuf {
    path.with_file_name("audit.jsonl.head")
}

fn broken_line(r: Result<audit::VerifyReport, AuditError>) -> (u64, Break) {
    match r {
        Err(AuditError::Broken { line, reason, .. }) => (line, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).expect("write");
}

#[test]
fn chain_survives_restarts_and_verifies() {
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    let report = audit::verify(&path).expect("intact");
    assert_eq!(report.entries, 5);
    assert!(!report.head_lagging);
    let (log, head_bytes) = (
        fs::read(&path).expect("log"),
        fs::read(head(&path)).expect("head"),
    );
    assert_eq!(
        audit::verify_bytes(&log, Some(&head_bytes)),
        Ok(report.clone())
    );
    assert_eq!(
        audit::verify_bytes(&log, None),
        Err((5, Break::HeadMissing))
    );
    let last = lines(&path).pop().expect("entries");
    assert!(
        last.ends_with(&format!("\"hash\":\"{}\"}}", report.head)),
        "{last}"
    );
    let text = fs::read_to_string(&path).expect("read");
    assert!(!text.contains(SUBJECT_ID), "no subject id in clear");
    assert!(!text.contains("alice"), "no part of it either");
    let keyed = SubjectKeyer::new(&[3; 32])
        .subject_key(SUBJECT_ID.as_bytes())
        .to_hex();
    assert!(
        text.contains(&keyed),
        "the keyed hash is the subject reference"
    );
}

#[test]
fn every_single_byte_flip_is_detected() {
    // In memory (verify_bytes is what verify runs after reading the two files): thousands of
    // cases without thousands of file writes.
    let (original, head_bytes) = sample_bytes();
    assert!(audit::verify_bytes(original, Some(head_bytes)).is_ok());
    for pos in 0..original.len() {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut bytes = original.clone();
            bytes[pos] ^= mask;
            let r = audit::verify_bytes(&bytes, Some(head_bytes));
            assert!(r.is_err(), "flip {mask:#04x} at byte {pos} not detected");
        }
    }
}

/// The sample log's bytes and its head's, built once (appends fsync; cases only copy).
fn sample_bytes() -> &'static (Vec<u8>, Vec<u8>) {
    static SAMPLE: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("dir");
        let path = sample(dir.path());
        (
            fs::read(&path).expect("log"),
            fs::read(head(&path)).expect("head"),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn any_byte_replacement_is_detected(pos_seed in any::<usize>(), value in any::<u8>()) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.jsonl");
        let (log, head_bytes) = sample_bytes();
        fs::write(head(&path), head_bytes).expect("head");
        let mut bytes = log.clone();
        let pos = pos_seed % bytes.len();
        prop_assume!(bytes[pos] != value);
        bytes[pos] = value;
        fs::write(&path, &bytes).expect("write");
        let (line, _) = broken_line(audit::verify(&path));
        // The reported line is the one holding the byte (or the next, for a newline).
        let holding = bytes[..pos].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        prop_assert!(line == holding || line == holding + 1, "line {} for byte {} (line {})", line, pos, holding);
    }
}

#[test]
fn deleted_duplicated_and_reordered_lines_are_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    let original = lines(&path);
    let n = original.len();
    for i in 0..n {
        let mut l = original.clone();
        l.remove(i);
        write_lines(&path, &l);
        let (line, _) = broken_line(audit::verify(&path));
        assert_eq!(line, (i + 1) as u64, "deleting line {}", i + 1);
    }
    for i in 0..n {
        let mut l = original.clone();
        l.insert(i, original[i].clone());
        write_lines(&path, &l);
        let (line, _) = broken_line(audit::verify(&path));
        assert_eq!(line, (i + 2) as u64, "duplicating line {}", i + 1);
    }
    for i in 0..n - 1 {
        let mut l = original.clone();
        l.swap(i, i + 1);
        write_lines(&path, &l);
        let (line, reason) = broken_line(audit::verify(&path));
        assert_eq!(
            line,
            (i + 1) as u64,
            "swapping lines {} and {}",
            i + 1,
            i + 2
        );
        assert!(matches!(reason, Break::SeqMismatch { .. }), "{reason}");
    }
}

#[test]
fn truncation_is_detected_by_the_head() {
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    let mut l = lines(&path);
    l.pop();
    write_lines(&path, &l);
    let (line, reason) = broken_line(audit::verify(&path));
    assert_eq!(line, 5);
    assert_eq!(
        reason,
        Break::Truncated {
            head_seq: 5,
            found: 4
        }
    );
    // open refuses to extend a truncated chain.
    assert!(matches!(
        AuditLog::open(&path),
        Err(AuditError::Broken { .. })
    ));
    // Emptying the file is truncation too.
    fs::write(&path, "").expect("write");
    assert_eq!(
        broken_line(audit::verify(&path)).1,
        Break::Truncated {
            head_seq: 5,
            found: 0
        }
    );
    // And so is deleting the head.
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    fs::remove_file(head(&path)).expect("rm");
    assert_eq!(broken_line(audit::verify(&path)), (5, Break::HeadMissing));
    assert!(AuditLog::open(&path).is_err());
}

/// The documented limit: the chain is unkeyed, so whoever can write both files can cut the tail
/// and rewrite the head consistently. An off-host copy of the head hash catches it.
#[test]
fn rewriting_log_and_head_together_is_not_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    let before = audit::verify(&path).expect("intact").head;
    let mut l = lines(&path);
    l.pop();
    write_lines(&path, &l);
    let last: serde_json::Value = serde_json::from_str(l.last().expect("line")).expect("json");
    fs::write(
        head(&path),
        format!("{{\"seq\":4,\"hash\":{}}}\n", last["hash"]),
    )
    .expect("head");
    let after = audit::verify(&path).expect("consistent forgery passes");
    assert_ne!(
        after.head, before,
        "…but the head hash differs from an off-host copy"
    );
}

#[test]
fn torn_tail_is_cut_on_open_and_recorded() {
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    let mut bytes = fs::read(&path).expect("read");
    bytes.extend_from_slice(b"{\"seq\":6,\"time\":\"2026-");
    fs::write(&path, &bytes).expect("write");
    assert_eq!(broken_line(audit::verify(&path)), (6, Break::TornTail));
    let log = AuditLog::open(&path).expect("open repairs a torn, unacknowledged tail");
    assert_eq!(log.len(), 6);
    drop(log);
    let report = audit::verify(&path).expect("repaired");
    assert_eq!(report.entries, 6);
    let last = lines(&path).pop().expect("line");
    assert!(last.contains("\"kind\":\"recovery\""), "{last}");
    assert!(last.contains("cut 22 bytes"), "{last}");
}

#[test]
fn torn_first_append_is_recovered() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("audit.jsonl");
    fs::write(&path, b"{\"seq\":1,").expect("write");
    let log = AuditLog::open(&path).expect("nothing was acknowledged");
    assert_eq!(log.len(), 1, "only the recovery entry");
    assert_eq!(audit::verify(&path).expect("valid").entries, 1);
}

#[test]
fn lagging_head_is_accepted_and_repaired() {
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    let l = lines(&path);
    let fourth: serde_json::Value = serde_json::from_str(&l[3]).expect("json");
    fs::write(
        head(&path),
        format!("{{\"seq\":4,\"hash\":{}}}\n", fourth["hash"]),
    )
    .expect("head");
    let report = audit::verify(&path).expect("one behind is a crash between two writes");
    assert!(report.head_lagging);
    AuditLog::open(&path).expect("open repairs");
    assert!(!audit::verify(&path).expect("repaired").head_lagging);
}

#[test]
fn open_refuses_an_edited_tail() {
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    let mut l = lines(&path);
    let last = l.pop().expect("line").replace("stripe", "strife");
    l.push(last);
    write_lines(&path, &l);
    match AuditLog::open(&path) {
        Err(AuditError::Broken {
            line: 5,
            reason: Break::HashMismatch,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_canonical_but_equivalent_json_is_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let path = sample(dir.path());
    let mut l = lines(&path);
    l[1] = l[1].replacen("\"actor\"", "\"act\\u006fr\"", 1);
    write_lines(&path, &l);
    assert_eq!(broken_line(audit::verify(&path)), (2, Break::NotCanonical));
}

#[tokio::test]
async fn record_appends_from_async_code() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).expect("open");
    let hash = log
        .record(event(AuditKind::Erasure, None))
        .await
        .expect("record");
    assert_eq!(audit::verify(&path).expect("valid").head, hash);
    let err = audit::verify(&dir.path().join("missing.jsonl")).expect_err("no log");
    assert!(matches!(err, AuditError::Io { .. }));
}
