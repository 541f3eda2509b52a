//! Property tests of the keyed actions, through the public `Action::apply` interface:
//! determinism, domain separation, binding of envelopes to field and domain, and rotation.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;
use crate::crypto::OsNonces;
use crate::keys::{KeyId, KeyStatus, Keyring, MasterKey, SecretKey};
use crate::policy::transform::fpe::FpeSpec;

fn key(id: &str, status: KeyStatus, byte: u8) -> MasterKey {
    MasterKey::new(
        KeyId::new(id).expect("id"),
        status,
        SecretKey::from_bytes([byte; 32]),
    )
}

fn ring_k1() -> Keyring {
    Keyring::from_keys(vec![key("k1", KeyStatus::Primary, 1)])
}

fn apply(action: &Action, text: &str, field: &str) -> Result<(Applied, String), ActionError> {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut out = Vec::new();
    let leaf = Leaf {
        text,
        kind: LeafKind::String,
        field,
    };
    let applied = action.apply(&leaf, &mut cx, &mut out)?;
    Ok((applied, String::from_utf8(out).expect("utf8 output")))
}

fn tokenize(ring: &Keyring, domain: &str) -> Action {
    Action::Tokenize(
        TokenizeAction::new(ring, domain, Normalize::None, "tok_", None).expect("primary"),
    )
}

/// Opens `env` with the domain's reveal action; `None` if it stayed as it was.
fn reveal(ring: &Keyring, domain: &str, env: &str, field: &str) -> Option<String> {
    let r = Action::Reveal(RevealAction::new(ring, domain));
    match apply(&r, env, field).expect("reveal never errors") {
        (Applied::Replaced, pt) => Some(pt),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn same_input_domain_key_gives_same_token(v in ".{0,64}") {
        let ring = ring_k1();
        let a = tokenize(&ring, "segment");
        let b = tokenize(&ring, "segment");
        prop_assert_eq!(apply(&a, &v, "x").expect("ok"), apply(&b, &v, "y").expect("ok"));
    }

    #[test]
    fn envelopes_bound_to_field_and_domain(v in ".{0,64}", det in any::<bool>()) {
        let ring = ring_k1();
        let action = if det {
            Action::EncryptDeterministic(EncryptDeterministicAction::new(&ring, "segment").expect("primary"))
        } else {
            Action::Encrypt(EncryptAction::new(&ring, "segment").expect("primary"))
        };
        let (_, env) = apply(&action, &v, "email").expect("seal");
        let prefix = if det { "pgd1.k1." } else { "pge1.k1." };
        prop_assert!(env.starts_with(prefix));
        prop_assert_eq!(reveal(&ring, "segment", &env, "email"), Some(v.clone()));
        prop_assert_eq!(reveal(&ring, "segment", &env, "name"), None);
        prop_assert_eq!(reveal(&ring, "ga4", &env, "email"), None);
        if det {
            // Deterministic: same value, domain and field → same envelope; other field → other.
            let again = apply(&action, &v, "email").expect("seal").1;
            prop_assert_eq!(again, env.as_str());
            prop_assert_ne!(apply(&action, &v, "name").expect("seal").1, env);
        }
    }

    #[test]
    fn fpe_round_trips_and_keeps_shape(d in "[0-9]{6,20}", sep in "[ -]?") {
        let ring = ring_k1();
        let text = format!("{}{}{}", &d[..3], sep, &d[3..]);
        let spec = FpeSpec::default();
        let enc = Action::Fpe(FpeAction::new(&ring, "crm", spec, None, FpeMode::Encrypt).expect("fpe"));
        let dec = Action::Fpe(FpeAction::new(&ring, "crm", spec, None, FpeMode::Reveal).expect("fpe"));
        let (_, ct) = apply(&enc, &text, "acct").expect("encrypt");
        prop_assert_eq!(ct.len(), text.len());
        prop_assert_eq!(&ct[3..3 + sep.len()], sep.as_str());
        let back = apply(&dec, &ct, "acct").expect("decrypt").1;
        prop_assert_eq!(back, text.as_str());
        // Another field's reveal does not restore it (a different tweak).
        if d.len() >= 10 {
            prop_assert_ne!(apply(&dec, &ct, "other").expect("decrypt").1, text);
        }
    }
}

/// 10^5 random identifiers tokenized for two recipients: not one token in common.
#[test]
fn different_domains_share_no_token() {
    let ring = ring_k1();
    let (a, b) = (tokenize(&ring, "segment"), tokenize(&ring, "ga4"));
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let mut seen = HashSet::with_capacity(100_000);
    let mut out = Vec::with_capacity(64);
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut ids = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        // xorshift64*: cheap, deterministic, good enough for distinct test identifiers.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        ids.push(format!(
            "user-{:016x}",
            rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
        ));
    }
    let leaf = |text| Leaf {
        text,
        kind: LeafKind::String,
        field: "userId",
    };
    for id in &ids {
        out.clear();
        a.apply(&leaf(id), &mut cx, &mut out).expect("tokenize");
        seen.insert(out.clone());
    }
    assert_eq!(seen.len(), ids.len(), "tokens are distinct within a domain");
    for id in &ids {
        out.clear();
        b.apply(&leaf(id), &mut cx, &mut out).expect("tokenize");
        assert!(!seen.contains(&out), "a token appeared in both domains");
    }
}

/// Rotation: after k2 becomes primary (k1 active), old envelopes of both kinds still open and
/// new ones name k2; once k1 is retired its envelopes are refused with `UnknownKey`.
#[test]
fn rotation_keeps_old_envelopes_until_retired() {
    let before = ring_k1();
    let old_r = apply(
        &Action::Encrypt(EncryptAction::new(&before, "d").expect("p")),
        "alice",
        "f",
    )
    .expect("seal")
    .1;
    let old_d = apply(
        &Action::EncryptDeterministic(EncryptDeterministicAction::new(&before, "d").expect("p")),
        "alice",
        "f",
    )
    .expect("seal")
    .1;
    let old_t = apply(&tokenize(&before, "d"), "alice", "f").expect("tok").1;

    let rotated = Keyring::from_keys(vec![
        key("k1", KeyStatus::Active, 1),
        key("k2", KeyStatus::Primary, 2),
    ]);
    for env in [&old_r, &old_d] {
        assert_eq!(
            reveal(&rotated, "d", env, "f").as_deref(),
            Some("alice"),
            "{env}"
        );
    }
    let new_r = apply(
        &Action::Encrypt(EncryptAction::new(&rotated, "d").expect("p")),
        "alice",
        "f",
    )
    .expect("seal")
    .1;
    assert!(new_r.starts_with("pge1.k2."));
    let new_t = apply(&tokenize(&rotated, "d"), "alice", "f")
        .expect("tok")
        .1;
    assert!(new_t.starts_with("tok_k2_") && old_t.starts_with("tok_k1_"));
    assert_ne!(
        new_t[7..],
        old_t[7..],
        "a rotated token key gives unrelated tokens"
    );
    // Overlap window: pin the old key for tokens while encryption moves on.
    let pinned = Action::Tokenize(
        TokenizeAction::new(&rotated, "d", Normalize::None, "tok_", Some("k1")).expect("k1"),
    );
    assert_eq!(apply(&pinned, "alice", "f").expect("tok").1, old_t);

    let retired = Keyring::from_keys(vec![
        key("k1", KeyStatus::Retired, 1),
        key("k2", KeyStatus::Primary, 2),
    ]);
    let opener = EnvelopeOpener::for_domain(&retired, "d");
    let (mut scratch, mut out) = (Vec::new(), Vec::new());
    for env in [&old_r, &old_d] {
        assert_eq!(
            opener.open(
                env,
                Aad {
                    domain: "d",
                    field: "f"
                },
                &mut scratch,
                &mut out
            ),
            Err(CryptoError::UnknownKey)
        );
    }
    assert_eq!(reveal(&retired, "d", &new_r, "f").as_deref(), Some("alice"));
    assert_eq!(
        TokenizeAction::new(&retired, "d", Normalize::None, "tok_", Some("k1")).err(),
        Some(BuildError::RetiredKey("k1".into()))
    );
}

#[test]
fn no_primary_is_a_build_error() {
    let ring = Keyring::from_keys(vec![key("k1", KeyStatus::Active, 1)]);
    assert_eq!(
        EncryptAction::new(&ring, "d").err(),
        Some(BuildError::NoPrimaryKey)
    );
    assert_eq!(
        EncryptDeterministicAction::new(&ring, "d").err(),
        Some(BuildError::NoPrimaryKey)
    );
}

#[test]
fn hash_and_generalize_drop_what_they_cannot_read() {
    use crate::policy::transform::generalize::GeneralizeTo;
    use crate::policy::transform::hash::{HashField, HashPreset, HashSpec};
    let h = Action::Hash(
        HashAction::new(HashSpec {
            preset: HashPreset::Meta,
            field: HashField::Email,
            default_country_code: None,
        })
        .expect("valid"),
    );
    assert_eq!(
        apply(&h, "not an email", "em").expect("ok").0,
        Applied::Dropped
    );
    let (applied, hex) = apply(&h, "John_Smith@gmail.com", "em").expect("ok");
    assert_eq!(applied, Applied::Replaced);
    assert_eq!(
        hex,
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    );
    let g = Action::Generalize(GeneralizeAction {
        to: GeneralizeTo::Ip24,
    });
    assert_eq!(apply(&g, "garbage", "ip").expect("ok").0, Applied::Dropped);
    assert_eq!(
        apply(&g, "198.51.100.7", "ip").expect("ok").1,
        "198.51.100.0"
    );
    let f = Action::Fpe(
        FpeAction::new(&ring_k1(), "d", FpeSpec::default(), None, FpeMode::Encrypt).expect("fpe"),
    );
    assert_eq!(apply(&f, "12345", "x"), Err(ActionError::FpeTooShort));
    assert_eq!(apply(&f, "12345a7", "x"), Err(ActionError::FpeInvalidValue));
}

#[test]
fn kinds_are_consistent() {
    for (i, k) in ActionKind::ALL.iter().enumerate() {
        assert_eq!(k.index(), i);
    }
    let names: HashSet<_> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(names.len(), ActionKind::COUNT);
    for n in ["encrypt_deterministic", "fpe", "hash", "generalize"] {
        assert!(names.contains(n), "{n}");
    }
}

/// The mask as first written: count the letters and digits, then star all but the last
/// `keep_last`, char by char. The one-pass and byte-wise paths must write what it writes.
fn mask_by_count(text: &str, keep_last: usize) -> String {
    let alnum = text.chars().filter(|c| c.is_alphanumeric()).count();
    let keep = if alnum > keep_last { keep_last } else { 0 };
    let mut seen = 0;
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen > alnum - keep { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

proptest! {
    /// `mask` writes what counting first writes, for ASCII and non-ASCII text (letters and
    /// digits of other scripts, combining marks, punctuation) and any `keep_last`.
    #[test]
    fn mask_stars_what_counting_first_stars(
        text in "([a-zA-Z0-9 @._+-]|[éßİıſ\u{212A}٣४ж中]|\u{301}){0,24}",
        keep_last in 0usize..6,
    ) {
        let (applied, out) =
            apply(&Action::Mask(MaskAction { keep_last }), &text, "f").expect("mask");
        prop_assert_eq!(applied, Applied::Replaced);
        prop_assert_eq!(out, mask_by_count(&text, keep_last));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `redact` taken without reading the value ([`ApplyCx::treat_constant`]) writes what the
    /// step that reads it ([`ApplyCx::treat`]) writes, and counts and tallies it the same, for
    /// any value, field, class and replacement; while values are collected for echo
    /// recognition it leaves the value to `treat`. Other actions always go to `treat`.
    #[test]
    fn redact_unread_counts_and_writes_what_treat_does(
        text in "\\PC{0,24}",
        field in "\\PC{0,8}",
        class in proptest::option::of(proptest::sample::select(Class::ALL.to_vec())),
        replacement in "\\PC{0,16}",
        kind in proptest::sample::select(vec![LeafKind::String, LeafKind::Number, LeafKind::Bool]),
    ) {
        let redact = Action::Redact(RedactAction { replacement: replacement.into() });
        let leaf = Leaf { text: &text, kind, field: &field };
        let (mut n1, mut n2, mut n3) = (OsNonces::new(), OsNonces::new(), OsNonces::new());
        let mut read = ApplyCx::new(&mut n1);
        let mut out = Vec::new();
        let applied = read.treat(&redact, class, &leaf, &mut out).expect("redact never fails");
        prop_assert_eq!(applied, Applied::Replaced);
        let mut unread = ApplyCx::new(&mut n2);
        let written = unread.treat_constant(&redact, class);
        prop_assert_eq!(written.map(str::as_bytes), Some(&out[..]));
        prop_assert_eq!(read.counts, unread.counts);
        prop_assert_eq!(read.disclosed.cells().collect::<Vec<_>>(), unread.disclosed.cells().collect::<Vec<_>>());

        let mut collecting = ApplyCx::new(&mut n3);
        let saved = collecting.begin_collect();
        prop_assert!(saved.is_some());
        prop_assert_eq!(collecting.treat_constant(&redact, class), None);
        prop_assert_eq!(collecting.counts, ActionCounts::default());
        let mask = Action::Mask(MaskAction { keep_last: 2 });
        prop_assert_eq!(unread.treat_constant(&mask, class), None);
        prop_assert_eq!(unread.treat_constant(&Action::Keep, class), None);
    }
}
