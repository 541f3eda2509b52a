//! Per-field cost of every action, with the raw primitives as the floor.
//!
//! Each group is one value size (16, 32, 64 bytes). `floor/*` are the bare primitives with
//! pre-built keys (AES-256-GCM seal of the value, HMAC-SHA256 of the value); every action then
//! runs through `Action::apply` exactly as the rewriter calls it: one `ApplyCx` per "request",
//! reused across fields, and an output buffer cleared per field. The difference between an
//! action and the floor is our overhead (key setup, framing, encoding).
//!
//! `nonce/24B` is the XAES nonce source as the worker uses it, 24 bytes at a time, against
//! the batches of 4 KiB drawn from `getrandom` it replaced on 2026-12-07 (ARCHITECTURE.md).
//!
//! Run: `cargo bench --bench crypto` (quick: `-- --quick`).

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use piigate::crypto::{NonceSource, OsNonces};
use piigate::keys::{KeyId, KeyStatus, Keyring, MasterKey, SecretKey};
use piigate::policy::action::{
    Action, ApplyCx, EncryptAction, EncryptDeterministicAction, FpeAction, FpeMode,
    GeneralizeAction, HashAction, Leaf, LeafKind, MaskAction, Normalize, RedactAction,
    RevealAction, TokenizeAction,
};
use piigate::policy::transform::fpe::FpeSpec;
use piigate::policy::transform::generalize::GeneralizeTo;
use piigate::policy::transform::hash::{HashField, HashPreset, HashSpec};
use ring::rand::SecureRandom;

const SIZES: [usize; 3] = [16, 32, 64];
const DOMAIN: &str = "segment";

fn keyring() -> Keyring {
    Keyring::from_keys(vec![MasterKey::new(
        KeyId::new("k1").expect("id"),
        KeyStatus::Primary,
        SecretKey::from_bytes([7; 32]),
    )])
}

/// A value of `len` bytes shaped for the action (an email for `hash`, digits for `fpe`, …).
fn value(action: &str, len: usize) -> String {
    match action {
        "hash" => {
            let local = "a".repeat(len.saturating_sub("@example.com".len()).max(1));
            format!("{local}@example.com")
        }
        "fpe" => "4".repeat(len),
        "generalize" => "203.0.113.77".to_owned(),
        _ => "x".repeat(len),
    }
}

fn actions(ring: &Keyring) -> Vec<(&'static str, Action)> {
    vec![
        ("drop", Action::Drop),
        (
            "redact",
            Action::Redact(RedactAction {
                replacement: "[REDACTED]".into(),
            }),
        ),
        ("mask", Action::Mask(MaskAction { keep_last: 4 })),
        (
            "tokenize",
            Action::Tokenize(
                TokenizeAction::new(ring, DOMAIN, Normalize::None, "tok_", None).expect("key"),
            ),
        ),
        (
            "encrypt",
            Action::Encrypt(EncryptAction::new(ring, DOMAIN).expect("key")),
        ),
        (
            "encrypt_deterministic",
            Action::EncryptDeterministic(
                EncryptDeterministicAction::new(ring, DOMAIN).expect("key"),
            ),
        ),
        (
            "fpe",
            Action::Fpe(
                FpeAction::new(ring, DOMAIN, FpeSpec::default(), None, FpeMode::Encrypt)
                    .expect("fpe"),
            ),
        ),
        (
            "hash",
            Action::Hash(
                HashAction::new(HashSpec {
                    preset: HashPreset::Meta,
                    field: HashField::Email,
                    default_country_code: None,
                })
                .expect("hash"),
            ),
        ),
        (
            "generalize",
            Action::Generalize(GeneralizeAction {
                to: GeneralizeTo::Ip24,
            }),
        ),
    ]
}

/// `(name, envelope)` pairs for the reveal benches: one of each envelope kind.
fn envelopes(ring: &Keyring, len: usize) -> Vec<(&'static str, String)> {
    let mut nonces = OsNonces::new();
    let mut cx = ApplyCx::new(&mut nonces);
    let v = "x".repeat(len);
    let leaf = Leaf {
        text: &v,
        kind: LeafKind::String,
        field: "email",
    };
    let mut out = Vec::new();
    let mut seal = |a: Action| {
        out.clear();
        a.apply(&leaf, &mut cx, &mut out).expect("seal");
        String::from_utf8(out.clone()).expect("ascii")
    };
    vec![
        (
            "reveal_pge1",
            seal(Action::Encrypt(
                EncryptAction::new(ring, DOMAIN).expect("key"),
            )),
        ),
        (
            "reveal_pgd1",
            seal(Action::EncryptDeterministic(
                EncryptDeterministicAction::new(ring, DOMAIN).expect("key"),
            )),
        ),
    ]
}

fn per_field(c: &mut Criterion) {
    let ring = keyring();
    let actions = actions(&ring);
    let reveal = Action::Reveal(RevealAction::new(&ring, DOMAIN));
    let gcm = aes_gcm::Aes256Gcm::new_from_slice(&[7; 32]).expect("key");
    let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]);
    for size in SIZES {
        let mut g = c.benchmark_group(format!("crypto/{size}B"));
        g.throughput(Throughput::Bytes(size as u64));
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_secs(1));
        g.sample_size(30);
        let raw = vec![0x61u8; size];
        let mut buf = Vec::with_capacity(size + 16);
        g.bench_function("floor/aes256gcm_seal", |b| {
            let nonce = aes_gcm::Nonce::from_slice(&[1; 12]);
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(&raw));
                black_box(
                    gcm.encrypt_in_place_detached(nonce, b"", &mut buf)
                        .expect("seal"),
                )
            })
        });
        if size == SIZES[0] {
            // Key-setup costs that the keyed actions pay per field (XAES derives an AES-256-GCM
            // key per message; GCM-SIV derives two subkeys per message).
            g.bench_function("setup/aes256gcm_new", |b| {
                b.iter(|| black_box(aes_gcm::Aes256Gcm::new_from_slice(black_box(&[7; 32]))))
            });
            let xaes = piigate::crypto::xaes::XaesKey::new(&SecretKey::from_bytes([7; 32]));
            g.bench_function("floor/xaes_seal_raw", |b| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(black_box(&raw));
                    black_box(xaes.seal_in_place(&[1; 24], b"", &mut buf))
                })
            });
        }
        g.bench_function("floor/hmac_sha256", |b| {
            b.iter(|| black_box(ring::hmac::sign(&hmac, black_box(&raw))))
        });
        let mut nonces = OsNonces::new();
        let mut cx = ApplyCx::new(&mut nonces);
        let mut out = Vec::with_capacity(256);
        for (name, action) in &actions {
            let text = value(name, size);
            let leaf = Leaf {
                text: &text,
                kind: LeafKind::String,
                field: "email",
            };
            g.bench_function(BenchmarkId::new("action", name), |b| {
                b.iter(|| {
                    out.clear();
                    black_box(action.apply(black_box(&leaf), &mut cx, &mut out)).ok()
                })
            });
        }
        for (name, env) in envelopes(&ring, size) {
            let leaf = Leaf {
                text: &env,
                kind: LeafKind::String,
                field: "email",
            };
            g.bench_function(BenchmarkId::new("action", name), |b| {
                b.iter(|| {
                    out.clear();
                    black_box(reveal.apply(black_box(&leaf), &mut cx, &mut out)).ok()
                })
            });
        }
        g.finish();
    }
}

/// The batches of 4 KiB straight from `getrandom` (ring's `SystemRandom`) that `OsNonces`
/// handed out before 2026-12-07, for comparison.
struct OsBatch {
    rng: ring::rand::SystemRandom,
    buf: [u8; 4096],
    pos: usize,
}

impl OsBatch {
    fn fill(&mut self, out: &mut [u8]) {
        if self.buf.len() - self.pos < out.len() {
            self.rng.fill(&mut self.buf).expect("getrandom");
            self.pos = 0;
        }
        out.copy_from_slice(&self.buf[self.pos..self.pos + out.len()]);
        self.buf[self.pos..self.pos + out.len()].fill(0);
        self.pos += out.len();
    }
}

/// One XAES nonce at a time; the refills (one per 170 nonces) are averaged in.
fn nonces(c: &mut Criterion) {
    let mut g = c.benchmark_group("nonce/24B");
    g.throughput(Throughput::Bytes(24));
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));
    let mut ours = OsNonces::new();
    g.bench_function("os_nonces", |b| {
        b.iter(|| {
            let mut n = [0u8; 24];
            ours.fill(&mut n).expect("nonce");
            black_box(n)
        })
    });
    let mut before = OsBatch {
        rng: ring::rand::SystemRandom::new(),
        buf: [0; 4096],
        pos: 4096,
    };
    g.bench_function("getrandom_4k_batch", |b| {
        b.iter(|| {
            let mut n = [0u8; 24];
            before.fill(&mut n);
            black_box(n)
        })
    });
    g.finish();
}

mod group {
    #![allow(missing_docs)]
    use super::{nonces, per_field};
    criterion::criterion_group!(benches, per_field, nonces);
}

criterion_main!(group::benches);
