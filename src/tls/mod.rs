//! TLS material: the one place piigate builds rustls configurations — the listener's server
//! configuration, every client configuration (upstreams, PostgreSQL) and the forward proxy's
//! minted leaves ([`Minter`]). One crypto provider (ring) and one set of defaults.

mod mint;

pub use mint::Minter;
