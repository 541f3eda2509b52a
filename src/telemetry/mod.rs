//! Logging setup and telemetry events.
