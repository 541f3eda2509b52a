//! Detector-level tests: precedence, key hints, class filtering, and never panicking.

use super::*;
use proptest::prelude::*;

/// What a case expects: a class and its evidence, or nothing.
type Expect = Option<(Class, Source)>;

/// (key, value, expectation)
const CASES: &[(Option<&str>, &str, Expect)] = &[
    // Whole values, no key needed.
    (
        None,
        "alice@example.com",
        Some((Class::Email, Source::Value)),
    ),
    (
        None,
        "  alice@example.com ",
        Some((Class::Email, Source::Value)),
    ),
    (None, "+92 300 1234567", Some((Class::Phone, Source::Value))),
    (None, "0300-1234567", Some((Class::Phone, Source::Value))),
    (None, "03001234567", Some((Class::Phone, Source::Value))),
    (None, "(415) 555-0100", Some((Class::Phone, Source::Value))),
    (
        None,
        "4111 1111 1111 1111",
        Some((Class::PaymentCard, Source::Value)),
    ),
    (
        None,
        "DE89 3704 0044 0532 0130 00",
        Some((Class::Iban, Source::Value)),
    ),
    (
        None,
        "192.168.1.20",
        Some((Class::IpAddress, Source::Value)),
    ),
    (None, "2001:db8::1", Some((Class::IpAddress, Source::Value))),
    (None, "35202-1234567-1", Some((Class::Cnic, Source::Value))),
    (None, "536-22-8726", Some((Class::Ssn, Source::Value))),
    (
        None,
        "AKIAIOSFODNN7EXAMPLE",
        Some((Class::ApiKey, Source::Value)),
    ),
    (
        None,
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        Some((Class::Jwt, Source::Value)),
    ),
    (
        None,
        "742 Evergreen Terrace",
        Some((Class::StreetAddress, Source::Value)),
    ),
    // The value wins over the key: an email under `address`.
    (
        Some("address"),
        "alice@example.com",
        Some((Class::Email, Source::Value)),
    ),
    // Key hints on ambiguous values.
    (
        Some("dob"),
        "1985-03-15",
        Some((Class::DateOfBirth, Source::Value)),
    ),
    (
        Some("dob"),
        "19850315",
        Some((Class::DateOfBirth, Source::Value)),
    ),
    (None, "1985-03-15", None),
    (Some("created_at"), "1985-03-15", None),
    (
        Some("cnic"),
        "3520212345671",
        Some((Class::Cnic, Source::Value)),
    ),
    (
        Some("national_id"),
        "3520212345671",
        Some((Class::Cnic, Source::Value)),
    ),
    (None, "3520212345671", None),
    (Some("ssn"), "536228726", Some((Class::Ssn, Source::Value))),
    (
        Some("phone"),
        "4155550100",
        Some((Class::Phone, Source::Value)),
    ),
    (None, "4155550100", None),
    // A dotted quad under a version key is a version.
    (Some("app_version"), "4.0.3.1", None),
    (
        Some("ip"),
        "4.0.3.1",
        Some((Class::IpAddress, Source::Value)),
    ),
    // Key alone: the value has no detectable shape.
    (
        Some("first_name"),
        "Alice",
        Some((Class::PersonName, Source::Key)),
    ),
    (
        Some("user_agent"),
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0",
        Some((Class::UserAgent, Source::Key)),
    ),
    (Some("email"), "", None),
    (Some("email"), "null", None),
    (Some("gender"), "female", Some((Class::Gender, Source::Key))),
    // Free text.
    (
        Some("subject"),
        "Please call me on 0300-1234567",
        Some((Class::Phone, Source::Text)),
    ),
    (
        Some("message"),
        "my email is bob@example.org!",
        Some((Class::Email, Source::Text)),
    ),
    // An address whose `@` is escaped as its reader decodes it.
    (
        Some("link"),
        "mailto:bob%40example.org",
        Some((Class::Email, Source::Text)),
    ),
    (
        Some("href"),
        "https://t.example/c?e=bob%40example.org&a=1",
        Some((Class::Email, Source::Text)),
    ),
    (
        Some("note"),
        "write to bob&#64;example.org",
        Some((Class::Email, Source::Text)),
    ),
    (
        Some("body"),
        "<p>bob&#x40;example.org</p>",
        Some((Class::Email, Source::Text)),
    ),
    (
        Some("ref"),
        "bob%40example.org",
        Some((Class::Email, Source::Text)),
    ),
    (Some("discount"), "40%40off", None),
    (Some("q"), "a%40b&c=1", None),
    (Some("title"), "R&D &#64; night", None),
    // Hard negatives.
    (
        Some("anonymousId"),
        "550e8400-e29b-41d4-a716-446655440000",
        None,
    ),
    (Some("messageId"), "ajs-next-1700000000000-abc", None),
    (Some("timestamp"), "2024-01-15T10:30:00.000Z", None),
    (Some("version"), "1.2.3", None),
    (None, "10.0.0.1.5", None),
    (Some("price"), "19.99", None),
    (Some("order_id"), "ORD-2024-000123", None),
    (
        Some("sha"),
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        None,
    ),
    (Some("event"), "Order Completed", None),
    (Some("name"), "Blue T-Shirt", None),
    (
        Some("url"),
        "https://example.com/products/123?ref=home",
        None,
    ),
    (Some("tracking"), "1Z999AA10123456784", None),
    // An address as a whole segment of a path; a URL's user, a remote and a package are not.
    (
        Some("path"),
        "/users/kai@example.org/settings",
        Some((Class::Email, Source::Text)),
    ),
    (
        Some("page"),
        "https://shop.example/u/kai%40example.org/x",
        Some((Class::Email, Source::Text)),
    ),
    // A street address inside free text, numbered or named by its postcode and town.
    (
        Some("note"),
        "Ship to 742 Evergreen Terrace today",
        Some((Class::StreetAddress, Source::Text)),
    ),
    (
        Some("note"),
        "Livraison rue de la Paix, 75002 Paris demain",
        Some((Class::StreetAddress, Source::Text)),
    ),
    (Some("note"), "Order 12345 shipped in 2 boxes", None),
    (Some("note"), "bureau de 75002 Paris", None),
    (Some("title"), "Version 1.2.3 released", None),
    // A substitution tag made of an address.
    (
        None,
        "-jane.doe@example.org-",
        Some((Class::Email, Source::Text)),
    ),
    // Files named after the person.
    (
        Some("file"),
        "jane.doe@example.org.pdf",
        Some((Class::Email, Source::Text)),
    ),
    (
        Some("note"),
        "sent +44 20 7946 0958.txt today",
        Some((Class::Phone, Source::Text)),
    ),
    (
        Some("note"),
        "file call-02079460958.pdf",
        Some((Class::Phone, Source::Text)),
    ),
    (Some("asset"), "logo@2x.png", None),
    (Some("file"), "ORD-2024-000123.pdf", None),
    (Some("file"), "release-2.4.1.tgz", None),
    (Some("repo"), "ssh://git@host.example/org/repo", None),
    (Some("remote"), "git@github.com:org/repo.git", None),
    (
        Some("src"),
        "https://cdn.example/npm/react@18.2.0/umd",
        None,
    ),
];

#[test]
fn classify_table() {
    let d = Detector::default();
    for &(key, value, want) in CASES {
        let got = d.classify(key, value).map(|x| (x.class, x.source));
        assert_eq!(got, want, "key={key:?} value={value:?}");
    }
}

#[test]
fn classify_value_ignores_key_only_classes() {
    let d = Detector::default();
    assert_eq!(d.classify_value(Some("first_name"), "Alice"), None);
    assert_eq!(
        d.classify_value(Some("dob"), "1985-03-15"),
        Some(Class::DateOfBirth)
    );
    assert_eq!(d.classify_key("emailAddress"), Some(Class::Email));
}

#[test]
fn disabled_classes_are_never_returned() {
    let d = Detector::new(DetectorOptions {
        classes: ClassSet::all()
            .without(Class::Email)
            .without(Class::PersonName),
        text: TextScan::On,
    });
    assert_eq!(d.classify(None, "alice@example.com"), None);
    assert_eq!(d.classify_key("first_name"), None);
    assert_eq!(d.classify(Some("note"), "mail alice@example.com"), None);
    assert_eq!(
        d.classify(None, "0300-1234567").map(|x| x.class),
        Some(Class::Phone)
    );
}

#[test]
fn text_scan_can_be_turned_off() {
    let d = Detector::new(DetectorOptions {
        classes: ClassSet::all(),
        text: TextScan::Off,
    });
    assert_eq!(d.classify(Some("subject"), "call 0300-1234567"), None);
}

#[test]
fn detector_is_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Detector>();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary Unicode never panics, with or without a key.
    #[test]
    fn never_panics_on_any_string(key in proptest::option::of(".{0,40}"), value in ".{0,300}") {
        let d = Detector::default();
        let _ = d.classify(key.as_deref(), &value);
        let _ = d.classify_value(key.as_deref(), &value);
    }

    /// Strings from the detectors' own alphabets reach the parsers' edge cases.
    #[test]
    fn never_panics_on_detector_alphabets(
        key in proptest::sample::select(vec!["", "dob", "cnic", "ssn", "phone", "card_number", "version", "ip"]),
        value in "[0-9 +()./:@a-fA-FxX_-]{0,60}",
    ) {
        let d = Detector::default();
        let _ = d.classify(Some(key), &value);
    }

    /// Tokens with JWT and API-key prefixes and IBAN starts.
    #[test]
    fn never_panics_on_prefixed_tokens(
        prefix in proptest::sample::select(vec!["eyJ", "AKIA", "sk_live_", "SG.", "DE89", "GB82 ", "+92 ", "00"]),
        body in "[A-Za-z0-9._ -]{0,80}",
    ) {
        let d = Detector::default();
        let v = format!("{prefix}{body}");
        let _ = d.classify(None, &v);
        let _ = d.classify(Some("note"), &format!("see {v} here"));
    }
}

#[test]
fn values_a_reader_decodes_or_folds_are_read_as_the_reader_reads_them() {
    let d = Detector::default();
    let found = [
        ("ottilie.brandvold＠example．org", Class::Email),
        ("write to ottilie＠example.org today", Class::Email),
        ("﹫ and ottilie﹫example.org", Class::Email),
        ("4242\u{a0}4242\u{a0}4242\u{a0}4242", Class::PaymentCard),
        (
            "card 4242\u{2009}4242\u{2009}4242\u{2009}4242",
            Class::PaymentCard,
        ),
        (
            "card ４２４２ ４２４２ ４２４２ ４２４２",
            Class::PaymentCard,
        ),
        ("card 4242.4242.4242.4242 exp 12/29", Class::PaymentCard),
        ("4242/4242/4242/4242", Class::PaymentCard),
        ("IBAN DE89-3704-0044-0532-0130-00 thanks", Class::Iban),
        ("DE89.3704.0044.0532.0130.00", Class::Iban),
        (
            "IBAN DE89\u{a0}3704\u{a0}0044\u{a0}0532\u{a0}0130\u{a0}00",
            Class::Iban,
        ),
        ("call ＋１ ４１５ ５５５ ０１９９", Class::Phone),
        ("b3R0aWxpZS5icmFuZHZvbGRAZXhhbXBsZS5vcmc=", Class::Email),
        ("eyJlbWFpbCI6Im90dGlsaWVAZXhhbXBsZS5vcmcifQ", Class::Email),
        (
            "data:text/plain;base64,ZW1haWw9b3R0aWxpZUBleGFtcGxlLm9yZw==",
            Class::Email,
        ),
        ("data:text/plain,ottilie%40example.org", Class::Email),
        // Base64 of base64 (a wrapper wrapped again): decoded twice.
        (
            "YjNSMGFXeHBaUzVpY21GdVpIWnZiR1JBWlhoaGJYQnNaUzV2Y21jPQ==",
            Class::Email,
        ),
        (
            "https://x.example/r?u=https%3A%2F%2Fy.example%2F%3Femail%3Dottilie%2540example.org",
            Class::Email,
        ),
    ];
    for (value, class) in found {
        assert_eq!(
            d.classify(Some("note"), value).map(|f| f.class),
            Some(class),
            "{value}"
        );
    }
    // Hard negatives in the same shapes: versions, dates, prices, ids, hashes, base64 of
    // binary, and text with look-alikes but nothing personal.
    for value in [
        "v4.2.4.2",
        "2024.01.31",
        "12/29/2024",
        "1.2.3.4.5.6.7.8",
        "ORD-2024-000123",
        "１２３ items for ＄19.99",
        "Tromsø\u{a0}— 9008 visitors",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "550e8400-e29b-41d4-a716-446655440000",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "SGVsbG8gd29ybGQsIG5vdGhpbmcgaGVyZQ==",
        "U0dWc2JHOGdkMjl5YkdRc0lHNXZkR2hwYm1jZ2FHVnlaUT09",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        "https://x.example/r?u=https%3A%2F%2Fy.example%2F%3Fq%3D100%2525",
        "4111.1111.1111.1112",
        "DE89-3704-0044-0532-0130-01",
    ] {
        assert_eq!(d.classify(Some("note"), value), None, "{value}");
    }
}
