//! The integration suite: one binary, real sockets, real TLS, real files.

// Test helpers are `pub` for use across modules of this one binary.
#![allow(unreachable_pub)]

mod audit;
mod body_coding;
mod boundary;
mod canaries;
mod cli;
mod config;
mod detect;
mod engine;
mod faults;
mod first_party;
mod forward;
mod hsm;
mod http1;
mod layers;
mod lifecycle;
mod limits;
mod payloads;
mod presets;
mod proxy;
mod replicas;
mod report;
mod scrub;
mod shipped_presets;
mod signals;
mod smuggling;
mod startup;
mod store;
mod subjects;
mod support;
mod telemetry;
mod tls;
mod upstream;
mod upstream_framing;
mod vectors;
mod wrapped;
