//! The integration suite: one binary, real sockets, real TLS, real files.

// Test helpers are `pub` for use across modules of this one binary.
#![allow(unreachable_pub)]

mod cli;
mod config;
mod detect;
mod proxy;
mod support;
