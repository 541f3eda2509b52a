//! One struct per telemetry fact.

use std::time::Duration;

use tracing::{info, warn};

use crate::error::RejectCode;
use crate::policy::action::{ActionCounts, ActionKind};

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
    /// Actions applied.
    pub counts: &'a ActionCounts,
    /// Unselected values detection classified.
    pub detected: u64,
    /// Envelopes on the response path that did not open.
    pub reveal_failures: u32,
}

impl RequestDone<'_> {
    /// Writes the access-log line.
    pub fn emit(self) {
        let c = self.counts;
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
                rule = code.rule(),
                latency_us,
                "Request rejected."
            ),
            None => info!(
                request_id = %self.request_id,
                trace_id,
                route,
                method = %self.method,
                status = self.status,
                latency_us,
                bytes_in = self.bytes_in,
                bytes_out = self.bytes_out,
                tokenize = c.get(ActionKind::Tokenize),
                encrypt = c.get(ActionKind::Encrypt),
                mask = c.get(ActionKind::Mask),
                redact = c.get(ActionKind::Redact),
                drop = c.get(ActionKind::Drop),
                reveal = c.get(ActionKind::Reveal),
                keep = c.get(ActionKind::Keep),
                detected = self.detected,
                reveal_failures = self.reveal_failures,
                "Request forwarded."
            ),
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
    pub fn emit(self) {
        info!(listener = self.what, addr = %self.addr, tls = self.tls, "Listening.");
    }
}

/// The forward proxy refused a CONNECT to a host no route names.
#[derive(Debug)]
pub struct TunnelRefused;

impl TunnelRefused {
    /// Writes the line. The target host is not logged: a host can itself identify a person's
    /// activity, and the count is what operators need.
    pub fn emit(self) {
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
    pub fn emit(self) {
        tracing::error!(
            route = self.route,
            code = self.code,
            "Store unavailable; request refused."
        );
    }
}
