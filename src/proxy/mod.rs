//! The hyper/rustls shell.
