//! Logging setup and telemetry events.
//!
//! Every telemetry fact is a struct in [`events`] with an `emit()` that writes the log line:
//! one place to review for PII. Events carry route names, codes, counts and timings — never a
//! payload value, a path or a query string (both can carry PII).

pub mod events;
pub mod metrics;
pub mod process;
pub mod request_id;
pub mod trace;

use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Keeps the background log writer alive; dropping it flushes what is still buffered.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: tracing_appender::non_blocking::WorkerGuard,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the default `info` level.
///
/// Log lines go to stderr through a buffered background writer (one request, one line: a
/// write system call per line cost ~20% of a small request's CPU). It applies backpressure
/// rather than dropping lines when its buffer is full. Colour codes only on a terminal.
pub fn init(format: LogFormat) -> LogGuard {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Protocol libraries log peer-controlled bytes at DEBUG/TRACE (h2 logs rejected header
    // values and GOAWAY debug data). Whatever RUST_LOG asks for, they stay at INFO: piigate's
    // own events are the reviewed, value-free ones.
    for lib in [
        "h2",
        "hyper",
        "hyper_util",
        "rustls",
        "tokio_rustls",
        "hyper_rustls",
        "tokio_postgres",
        "redb",
    ] {
        if let Ok(directive) = format!("{lib}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    // A second init (tests) is harmless; ignore the error.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    LogGuard { _writer: guard }
}
