//! Cryptographic primitives over typed keys.
//!
//! Pure functions: no config, no I/O, no clock. Randomness enters only through a
//! [`NonceSource`], so tests can make encryption deterministic by injecting one.
//!
//! Public outputs (tokens, envelopes) are plain text that may leave the boundary; the keys that
//! make them are private types built from [`crate::keys::SecretKey`].

pub mod cpu;
pub mod envelope;
pub mod ff1;
pub mod nonce;
pub mod siv;
pub mod token;
mod wire;
pub mod xaes;

pub use envelope::{Aad, EnvelopeKind, EnvelopeOpener, EnvelopeSealer};
pub use ff1::{Ff1Error, Ff1Key};
#[cfg(any(test, feature = "danger-test-nonces"))]
pub use nonce::DangerCounterNonces;
pub use nonce::{NonceSource, OsNonces, with_thread_nonces};
pub use siv::{DetSealer, SivKey};
pub use token::TokenKey;

/// Why a cryptographic operation failed. Deliberately uninformative: an authentication failure
/// says exactly that and nothing about the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The text is not a piigate envelope (wrong prefix, bad base64, too short).
    #[error("not a piigate envelope")]
    NotAnEnvelope,
    /// The envelope names a key this keyring does not hold (or holds as retired).
    #[error("envelope key is unknown or retired")]
    UnknownKey,
    /// Authentication failed: tampered, moved to another field or domain, or a foreign key.
    #[error("envelope failed authentication")]
    Decrypt,
    /// The OS random number generator failed.
    #[error("random number generator failed")]
    Rng,
}
