//! piigate: a PII pseudonymisation and encryption gateway.
//!
//! Data flows one way: `proxy.toml` is compiled into a policy, the policy drives the rewriting
//! engine, and the proxy runs the engine on each request. The modules sit in layers, bottom to
//! top; a module imports only from layers below its own and no two files import each other,
//! but for the rewriters' declared recursion through `rewrite::wrap` (`tests/layers.rs` checks
//! both from the source).
//!
//! 0. [`error`] owns the stable rejection codes; [`codec`] the bounded content codings;
//!    [`detect`] the PII classifiers; [`keys`] key material (keyring, HSM unwrapping, subject
//!    secrets, HKDF derivation); [`tls`] every rustls configuration.
//! 1. [`crypto`] owns the primitives over typed keys (tokens, envelopes, FF1), pure and without
//!    I/O; [`canon`] one reading of a request before it is routed; [`store`] subject secrets,
//!    erasures and the disclosure ledger (redb or PostgreSQL).
//! 2. [`policy`] owns the compiled policy: selectors, actions and the per-value step;
//!    [`audit`] the hash-chained audit log.
//! 3. [`rewrite`] owns sans-io payload rewriting in every format; [`telemetry`] logs, events and
//!    metrics; [`report`] the ledger shaped for a privacy officer.
//! 4. [`config`] owns `proxy.toml`: diagnostics, or a compiled [`config::Config`].
//! 5. [`ops`] owns offline preview and reveal; [`services`] the process-wide services that
//!    outlive a reload.
//! 6. [`proxy`] owns the network shell (hyper, rustls, tokio), its configuration generations
//!    and their reload.
//!
//! `rewrite` and `crypto` build without tokio and hyper, which keeps them fuzzable and benchable.

pub mod audit;
pub mod canon;
pub mod codec;
pub mod config;
pub mod crypto;
pub mod detect;
pub mod error;
pub mod keys;
pub mod ops;
pub mod policy;
pub mod proxy;
pub mod report;
pub mod rewrite;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod tls;
