//! The `piigate` command line.
fn main() {}
