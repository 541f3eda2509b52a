//! Writes the load script's request bodies: the same Segment-shaped 1 KB track event, 16 KB
//! batch (many people's events, as a server-side SDK flushes them) and 16 KB batch of one
//! person's events (as a browser or mobile SDK flushes them) that `benches/rewrite.rs`
//! measures, so the end-to-end numbers and the engine numbers describe the same bytes.
//!
//! Usage: `cargo run --release --example load_payloads -- DIR` (writes `DIR/track-1k.json`,
//! `DIR/batch-16k.json` and `DIR/person-16k.json`). `scripts/load.sh` runs it.

use std::path::PathBuf;

#[path = "../benches/support/mod.rs"]
mod support;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    for (name, body) in [
        ("track-1k.json", support::track_event()),
        ("batch-16k.json", support::batch(16 * 1024)),
        ("person-16k.json", support::person_batch(16 * 1024)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &body)?;
        println!("{} {} bytes", path.display(), body.len());
    }
    Ok(())
}
