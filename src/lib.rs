//! piigate: a PII pseudonymisation and encryption gateway.
//!
//! Data flows one way through the crate, and the module order below is the dependency order:
//! lower layers never import higher ones.
//!
//! - [`error`]: stable rejection codes shared by every layer.
//! - [`keys`]: the keyring (master keys, zeroized, never printed) and HKDF working-key derivation.
//! - [`crypto`]: pure primitives over typed keys (tokens, envelopes); no config, no I/O.
//! - [`policy`]: what the operator asked for, compiled: selectors into one automaton per route,
//!   actions with their pre-built crypto contexts.
//! - [`rewrite`]: sans-io payload rewriting (bytes in, bytes out); no tokio, no hyper, no clock.
//! - [`canon`]: one reading of a request (path, content headers, header spellings) before it
//!   is routed and policed; sans-io over `http` types.
//! - [`config`]: `proxy.toml` → diagnostics or a compiled [`config::Config`].
//! - [`proxy`]: the hyper/rustls shell that routes, polices and forwards requests.
//! - [`store`]: subject secrets, erasure tombstones and the disclosure ledger (redb or
//!   PostgreSQL); [`audit`]: the hash-chained audit log; [`report`]: the ledger shaped for a
//!   privacy officer (JSON and HTML).
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
pub mod reload;
pub mod report;
pub mod rewrite;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod tls;
