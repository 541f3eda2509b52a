//! The integration suite: one binary, real sockets, real TLS, real files.

// Test helpers are `pub` for use across modules of this one binary.
#![allow(unreachable_pub)]

mod audit;
mod cli;
mod config;
mod detect;
mod engine;
mod forward;
mod lifecycle;
mod payloads;
mod proxy;
mod store;
mod support;
mod vectors;
