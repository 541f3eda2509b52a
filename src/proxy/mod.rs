//! The hyper/rustls shell around the sans-io core.
//!
//! ```text
//! TcpListener ─▶ connection limit ─▶ TLS 1.3 (rustls, ALPN h2/http1.1) ─▶ hyper auto (h1/h2)
//!   ─▶ service::handle: router ─▶ body limits ─▶ rewrite ─▶ worker's upstream connection
//!   ─▶ response rules
//! ```
//!
//! A request runs entirely on one [`Generation`] (config + router + upstream clients), taken
//! from an `ArcSwap` when the request arrives, so a reload never mixes two policies in one
//! request.

pub mod body;
mod deadline;
mod forward;
mod generation;
mod listener;
mod police;
pub mod reload;
pub mod respond;
pub mod router;
pub mod server;
mod service;
mod slab;
mod tls_io;
pub mod upstream;
mod usage;

pub use generation::{Current, Generation};
pub use listener::{Gateway, ShutdownHandle};

/// The error type of bodies crossing the proxy.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub use body::Body;

mod admin;
