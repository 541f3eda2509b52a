use super::*;

#[test]
fn rfc3339_matches_known_instants() {
    const CASES: &[(u64, &str)] = &[
        (0, "1970-01-01T00:00:00.000Z"),
        // Leap day, and milliseconds kept.
        (951_782_400_123, "2000-02-29T00:00:00.123Z"),
        // End of a non-leap century year.
        (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),
        (1_795_000_000_000, "2026-11-18T11:06:40.000Z"),
    ];
    for (ms, want) in CASES {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(*ms);
        assert_eq!(rfc3339(t), *want, "{ms}");
    }
}

#[test]
fn line_splices_hash_before_the_closing_brace() {
    assert_eq!(line_of("{\"a\":1}", "ff"), "{\"a\":1,\"hash\":\"ff\"}");
}

#[test]
fn head_path_is_beside_the_log() {
    assert_eq!(
        head_path(Path::new("/var/log/audit.jsonl")),
        Path::new("/var/log/audit.jsonl.head")
    );
}
