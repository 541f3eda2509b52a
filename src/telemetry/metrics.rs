//! Prometheus metrics.
//!
//! Every label value comes from a bounded set: route names (from the config), status classes,
//! rejection codes and action kinds (closed enums), key ids (from the keyring). No label is ever
//! derived from a request. Per-route handles are resolved once per configuration generation
//! ([`RouteMetrics`]); the request path only increments atomics.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::RejectCode;
use crate::policy::action::{ActionCounts, ActionKind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteClass {
    route: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteCode {
    route: String,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteAction {
    route: String,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteDirection {
    route: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabel {
    key_id: String,
    status: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~26 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 19,
    ))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabel {
    version: &'static str,
}

/// The process-wide metrics registry and families.
pub struct Metrics {
    registry: Registry,
    /// Unprefixed: the standard `process_*` metrics every Prometheus client exports.
    process: Registry,
    requests: Family<RouteClass, Counter>,
    rejections: Family<RouteCode, Counter>,
    actions: Family<RouteAction, Counter>,
    bytes: Family<RouteDirection, Counter>,
    upstream_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    rewrite_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    reveal_failures: Family<RouteLabel, Counter>,
    echo_skipped: Family<RouteLabel, Counter>,
    in_flight: Family<RouteLabel, Gauge>,
    overloaded: Family<RouteLabel, Counter>,
    reloads: Family<ResultLabel, Counter>,
    keys: Family<KeyLabel, Gauge>,
    example_keys: Gauge,
    detections: Family<RouteClass, Counter>,
    /// Open client connections (all listeners).
    pub open_connections: Gauge,
    /// The configuration generation now serving (1 at start, +1 per successful reload).
    pub generation: Gauge,
}

/// What a route can do, which decides the series it exports.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteShape {
    /// `detect` is on.
    pub detect: bool,
    /// `on_opt_out = "block"`.
    pub blocks_opt_out: bool,
    /// The route names a `subject` (store lookups on the request path).
    pub subject: bool,
    /// A `scrub` (or detection) of the route searches for the values its rules select, so a
    /// request can pass the bounds of echo recognition.
    pub echoes: bool,
    /// The route has response rules, so an envelope in a response can fail to open.
    pub reveals: bool,
}

/// Handles for one route, resolved when a configuration generation is built.
#[derive(Clone)]
pub struct RouteMetrics {
    class: [Counter; 5],
    /// Only the codes that can occur where these handles count (see [`RouteShape`]).
    rejected: Vec<(RejectCode, Counter)>,
    actions: Vec<Counter>,
    bytes_in: Counter,
    bytes_out: Counter,
    /// Upstream time to response headers.
    pub upstream_seconds: Histogram,
    /// Time spent policing (decode, rewrite, re-encode).
    pub rewrite_seconds: Histogram,
    /// Routes with response rules only (see [`RouteShape`]).
    reveal_failures: Option<Counter>,
    /// Routes that search for echoes only (see [`RouteShape`]).
    echo_skipped: Option<Counter>,
    /// Requests of this route now in flight.
    pub in_flight: Gauge,
    overloaded: Counter,
    /// Per detection class (routes with `detect` only; empty otherwise).
    detections: Vec<Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteMetrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every family.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("piigate");
        let requests = Family::<RouteClass, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route and status class",
            requests.clone(),
        );
        let rejections = Family::<RouteCode, Counter>::default();
        registry.register(
            "rejections",
            "Requests refused or failed by the gateway, by route and code",
            rejections.clone(),
        );
        let actions = Family::<RouteAction, Counter>::default();
        registry.register(
            "actions_applied",
            "Values changed by rules, by route and action",
            actions.clone(),
        );
        let bytes = Family::<RouteDirection, Counter>::default();
        registry.register(
            "body_bytes",
            "Policed request body bytes received (in) and forwarded (out)",
            bytes.clone(),
        );
        let upstream_seconds =
            Family::<RouteLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "upstream_duration_seconds",
            "Upstream time to response headers",
            upstream_seconds.clone(),
        );
        let rewrite_seconds =
            Family::<RouteLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "rewrite_duration_seconds",
            "Time spent policing a request (decode, rewrite, encode)",
            rewrite_seconds.clone(),
        );
        let reveal_failures = Family::<RouteLabel, Counter>::default();
        registry.register(
            "reveal_failures",
            "Envelopes in responses that did not open",
            reveal_failures.clone(),
        );
        let echo_skipped = Family::<RouteLabel, Counter>::default();
        registry.register(
            "echo_values_skipped",
            "Selected values not searched for where they recur in a request's text, because \
             the request passed the bounds of echo recognition (the request is still policed)",
            echo_skipped.clone(),
        );
        let in_flight = Family::<RouteLabel, Gauge>::default();
        registry.register(
            "in_flight_requests",
            "Requests being processed, by route",
            in_flight.clone(),
        );
        let overloaded = Family::<RouteLabel, Counter>::default();
        registry.register(
            "overloaded",
            "Requests refused with 503 because the route was at its concurrency limit",
            overloaded.clone(),
        );
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reload attempts by result",
            reloads.clone(),
        );
        let keys = Family::<KeyLabel, Gauge>::default();
        registry.register(
            "keyring_keys",
            "Keys in the loaded keyring (1 per key id and status)",
            keys.clone(),
        );
        let example_keys = Gauge::default();
        registry.register(
            "example_keys",
            "Keys in the loaded keyring that are the public keys.example material (must be 0)",
            example_keys.clone(),
        );
        let detections = Family::<RouteClass, Counter>::default();
        registry.register(
            "detections",
            "Values no rule selected that detection classified, by route and PII class",
            detections.clone(),
        );
        let build = Family::<BuildLabel, Gauge>::default();
        build
            .get_or_create(&BuildLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "piigate's version (the value is 1)", build);
        let mut process = Registry::default();
        process.register_collector(Box::new(super::process::ProcessCollector));
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Open client connections",
            open_connections.clone(),
        );
        let generation = Gauge::default();
        registry.register(
            "config_generation",
            "Configuration generation now serving",
            generation.clone(),
        );
        Self {
            registry,
            process,
            requests,
            rejections,
            actions,
            bytes,
            upstream_seconds,
            rewrite_seconds,
            reveal_failures,
            echo_skipped,
            in_flight,
            overloaded,
            reloads,
            keys,
            example_keys,
            detections,
            open_connections,
            generation,
        }
    }

    /// Resolves the handles of `route`, exporting only series that can occur on it: per-class
    /// detection counters when it detects, `opt_out_blocked` when it blocks on opt-out,
    /// `store_unavailable` when it keys subjects, values skipped by echo recognition when it
    /// searches for echoes, envelopes that did not open when it has response rules, never a
    /// code decided before routing.
    pub fn route_detecting(&self, route: &str, detect: bool) -> RouteMetrics {
        self.route_shaped(
            route,
            &RouteShape {
                detect,
                ..RouteShape::default()
            },
        )
    }

    /// As [`Self::route_detecting`], from the route's shape.
    pub(crate) fn route_shaped(&self, route: &str, shape: &RouteShape) -> RouteMetrics {
        let mut m = self.handles(route, |code| match code {
            RejectCode::OptOutBlocked => shape.blocks_opt_out,
            RejectCode::StoreUnavailable => shape.subject,
            c => !c.before_routing_only(),
        });
        if shape.echoes {
            m.echo_skipped = Some(self.echo_counter(route));
        }
        if shape.reveals {
            m.reveal_failures = Some(self.reveal_counter(route));
        }
        if shape.detect {
            m.detections = crate::detect::Class::ALL
                .iter()
                .map(|c| {
                    self.detections.get_or_create_owned(&RouteClass {
                        route: route.to_owned(),
                        class: c.as_str(),
                    })
                })
                .collect();
        }
        m
    }

    /// The handles for requests no route took (route label `-`): their answers, by status class
    /// and by the codes that need no route. Nothing else can happen to such a request (no body
    /// is read, no rule applied, no upstream called), so the other handles are detached: never
    /// exported, and nothing counts on them.
    pub(crate) fn unrouted(&self) -> RouteMetrics {
        let (class, rejected) = self.answers("-", |c| !c.needs_route());
        RouteMetrics {
            class,
            rejected,
            actions: Vec::new(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            upstream_seconds: latency_histogram(),
            rewrite_seconds: latency_histogram(),
            reveal_failures: None,
            echo_skipped: None,
            in_flight: Gauge::default(),
            overloaded: Counter::default(),
            detections: Vec::new(),
        }
    }

    /// Resolves the handles of `route` with every rejection code, the echo and the reveal
    /// counters (tests, benches).
    pub fn route(&self, route: &str) -> RouteMetrics {
        let mut m = self.handles(route, |_| true);
        m.echo_skipped = Some(self.echo_counter(route));
        m.reveal_failures = Some(self.reveal_counter(route));
        m
    }

    fn reveal_counter(&self, route: &str) -> Counter {
        self.reveal_failures.get_or_create_owned(&RouteLabel {
            route: route.to_owned(),
        })
    }

    fn echo_counter(&self, route: &str) -> Counter {
        self.echo_skipped.get_or_create_owned(&RouteLabel {
            route: route.to_owned(),
        })
    }

    /// `route`'s answer counters: per status class, and per rejection code that `codes` keeps.
    fn answers(
        &self,
        route: &str,
        codes: impl Fn(RejectCode) -> bool,
    ) -> ([Counter; 5], Vec<(RejectCode, Counter)>) {
        let r = || route.to_owned();
        let class = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|class| {
            self.requests
                .get_or_create_owned(&RouteClass { route: r(), class })
        });
        let rejected = RejectCode::ALL
            .iter()
            .filter(|c| codes(**c))
            .map(|c| {
                let counter = self.rejections.get_or_create_owned(&RouteCode {
                    route: r(),
                    code: c.as_str(),
                });
                (*c, counter)
            })
            .collect();
        (class, rejected)
    }

    fn handles(&self, route: &str, codes: impl Fn(RejectCode) -> bool) -> RouteMetrics {
        let r = || route.to_owned();
        let (class, rejected) = self.answers(route, codes);
        RouteMetrics {
            class,
            rejected,
            actions: ActionKind::ALL
                .iter()
                .map(|a| {
                    self.actions.get_or_create_owned(&RouteAction {
                        route: r(),
                        action: a.as_str(),
                    })
                })
                .collect(),
            bytes_in: self.bytes.get_or_create_owned(&RouteDirection {
                route: r(),
                direction: "in",
            }),
            bytes_out: self.bytes.get_or_create_owned(&RouteDirection {
                route: r(),
                direction: "out",
            }),
            upstream_seconds: self
                .upstream_seconds
                .get_or_create_owned(&RouteLabel { route: r() }),
            rewrite_seconds: self
                .rewrite_seconds
                .get_or_create_owned(&RouteLabel { route: r() }),
            reveal_failures: None,
            echo_skipped: None,
            in_flight: self
                .in_flight
                .get_or_create_owned(&RouteLabel { route: r() }),
            overloaded: self
                .overloaded
                .get_or_create_owned(&RouteLabel { route: r() }),
            detections: Vec::new(),
        }
    }

    /// Records a reload attempt.
    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabel {
                result: if ok { "success" } else { "failure" },
            })
            .inc();
    }

    /// Replaces the keyring gauges with the keys of the serving generation; `example` counts
    /// the keys that are public example material.
    pub(crate) fn set_keys(&self, keys: &[(String, &'static str)], example: usize) {
        self.example_keys
            .set(i64::try_from(example).unwrap_or(i64::MAX));
        self.keys.clear();
        for (id, status) in keys {
            self.keys
                .get_or_create(&KeyLabel {
                    key_id: id.clone(),
                    status,
                })
                .set(1);
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &self.process);
        let _ = encode_eof(&mut out);
        out
    }
}

impl RouteMetrics {
    /// Counts an answered request.
    pub fn answered(&self, status: u16, code: Option<RejectCode>) {
        let i = usize::from(status / 100).clamp(1, 5) - 1;
        self.class[i].inc();
        if let Some(code) = code
            && let Some((_, counter)) = self.rejected.iter().find(|(c, _)| c.slot() == code.slot())
        {
            counter.inc();
        }
    }

    /// Adds a request's action tally.
    pub fn applied(&self, counts: &ActionCounts) {
        for (kind, counter) in ActionKind::ALL.iter().zip(&self.actions) {
            let n = counts.get(*kind);
            if n > 0 {
                counter.inc_by(u64::from(n));
            }
        }
    }

    /// Adds body sizes.
    pub fn bytes(&self, bytes_in: usize, bytes_out: usize) {
        self.bytes_in.inc_by(bytes_in as u64);
        self.bytes_out.inc_by(bytes_out as u64);
    }

    /// Counts envelopes that did not open on the response path.
    pub fn reveal_failed(&self, n: u32) {
        if n > 0
            && let Some(counter) = &self.reveal_failures
        {
            counter.inc_by(u64::from(n));
        }
    }

    /// Adds a request's selected values that echo recognition did not search for (its bounds).
    pub fn echo_skipped(&self, n: u32) {
        if n > 0
            && let Some(counter) = &self.echo_skipped
        {
            counter.inc_by(u64::from(n));
        }
    }

    /// Adds a request's detections, indexed by [`crate::detect::Class::index`].
    pub fn detected(&self, per_class: &[u32]) {
        for (counter, n) in self.detections.iter().zip(per_class) {
            if *n > 0 {
                counter.inc_by(u64::from(*n));
            }
        }
    }

    /// Counts a request refused because the route was at its concurrency limit.
    pub fn overloaded(&self) {
        self.overloaded.inc();
    }
}

/// Shared handle.
pub type SharedMetrics = Arc<Metrics>;
