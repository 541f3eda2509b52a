//! One struct per telemetry fact.

use std::time::Duration;

use tracing::{info, warn};

use crate::error::RejectCode;
use crate::policy::action::{ActionCounts, ActionKind, with_action_kinds};

/// A request finished (forwarded or rejected).
#[derive(Debug)]
pub struct RequestDone<'a> {
    /// The id minted for this request (also sent as `x-piigate-request-id`).
    pub request_id: super::request_id::RequestId,
    /// The client's W3C `traceparent`: its trace id is logged, a malformed one as `invalid`.
    pub trace: super::trace::TraceParent,
    /// Route name, when one matched.
    pub route: Option<&'a str>,
    /// HTTP method.
    pub method: &'a http::Method,
    /// Status sent to the client.
    pub status: u16,
    /// Rejection code, when the gateway refused or failed.
    pub code: Option<RejectCode>,
    /// Time from request head to response head.
    pub latency: Duration,
    /// Request body bytes received (policed routes).
    pub bytes_in: usize,
    /// Request body bytes forwarded (policed routes).
    pub bytes_out: usize,
    /// Actions applied, logged per kind (every kind, zeros included).
    pub counts: &'a ActionCounts,
    /// Unselected values detection classified.
    pub detected: u64,
    /// Envelopes on the response path that did not open.
    pub reveal_failures: u32,
    /// Selected values not searched for in the request's text: past the echo bounds.
    pub echo_skipped: u32,
}

/// The access-log line of a forwarded request, with one count field per action kind (from
/// [`with_action_kinds!`]: a new kind is logged without touching this file).
macro_rules! log_forwarded {
    (
        $done:ident, $counts:ident, $route:ident, $latency_us:ident, $trace_id:ident;
        $($variant:ident $name:ident),*
    ) => {
        info!(
            request_id = %$done.request_id,
            trace_id = $trace_id,
            route = $route,
            method = %$done.method,
            status = $done.status,
            latency_us = $latency_us,
            bytes_in = $done.bytes_in,
            bytes_out = $done.bytes_out,
            $($name = $counts.get(ActionKind::$variant),)*
            detected = $done.detected,
            reveal_failures = $done.reveal_failures,
            echo_skipped = $done.echo_skipped,
            "Request forwarded."
        )
    };
}

impl RequestDone<'_> {
    /// Writes the access-log line.
    pub(crate) fn emit(self) {
        let counts = self.counts;
        let latency_us = u64::try_from(self.latency.as_micros()).unwrap_or(u64::MAX);
        let route = self.route.unwrap_or("-");
        let trace_id = self.trace.log_value().map(tracing::field::display);
        match self.code {
            Some(code) => warn!(
                request_id = %self.request_id,
                trace_id,
                route,
                method = %self.method,
                status = self.status,
                code = code.as_str(),
                latency_us,
                "Request rejected."
            ),
            None => {
                let done = &self;
                with_action_kinds!(log_forwarded!(done, counts, route, latency_us, trace_id))
            }
        }
    }
}

/// The gateway started listening.
#[derive(Debug)]
pub struct Listening<'a> {
    /// Which listener.
    pub what: &'a str,
    /// Bound address.
    pub addr: std::net::SocketAddr,
    /// Whether TLS terminates here.
    pub tls: bool,
}

impl Listening<'_> {
    /// Writes the lifecycle line.
    pub(crate) fn emit(self) {
        info!(listener = self.what, addr = %self.addr, tls = self.tls, "Listening.");
    }
}

/// The forward proxy refused a CONNECT to a host no route names.
#[derive(Debug)]
pub struct TunnelRefused;

impl TunnelRefused {
    /// Writes the line. The target host is not logged: a host can itself identify a person's
    /// activity, and the count is what operators need.
    pub(crate) fn emit(self) {
        tracing::warn!(code = "target_not_allowed", "Forward-proxy target refused.");
    }
}

/// The store failed on the request path (the request was refused with 503).
#[derive(Debug)]
pub struct StoreFailed<'a> {
    /// Route name.
    pub route: &'a str,
    /// The store error's stable code.
    pub code: &'static str,
}

impl StoreFailed<'_> {
    /// Writes the line: operator action is needed.
    pub(crate) fn emit(self) {
        tracing::error!(
            route = self.route,
            code = self.code,
            "Store unavailable; request refused."
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A `MakeWriter` into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_forwarded_line_counts_every_action_kind() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .finish();
        let mut counts = ActionCounts::default();
        for (n, kind) in (1..).zip(ActionKind::ALL) {
            for _ in 0..n {
                counts.bump(kind);
            }
        }
        tracing::subscriber::with_default(subscriber, || {
            RequestDone {
                request_id: super::super::request_id::RequestId::next(),
                trace: super::super::trace::TraceParent::from_headers(&http::HeaderMap::new()),
                route: Some("r"),
                method: &http::Method::POST,
                status: 200,
                code: None,
                latency: Duration::from_micros(5),
                bytes_in: 1,
                bytes_out: 1,
                counts: &counts,
                detected: 0,
                reveal_failures: 0,
                echo_skipped: 3,
            }
            .emit();
        });
        let line = out.0.lock().expect("lock").clone();
        let v: serde_json::Value = serde_json::from_slice(&line).expect("one JSON line");
        for (n, kind) in (1..).zip(ActionKind::ALL) {
            assert_eq!(v[kind.as_str()], n, "{}", kind.as_str());
        }
        assert_eq!(v["echo_skipped"], 3);
    }
}
