//! One configuration generation and what is built from it (router, upstream clients, metric
//! handles, concurrency permits), swapped whole on reload.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{router, upstream};
use crate::config::Config;
use crate::policy::DisclosureTally;
use crate::services::Services;
use crate::store::ledger::{DisclosureKey, LedgerCell};
use crate::telemetry::metrics::RouteMetrics;

/// One configuration generation with what was built from it.
pub struct Generation {
    /// 1 for the configuration loaded at start, +1 per successful reload.
    pub number: u64,
    /// The compiled config.
    pub config: Config,
    /// Routes of this config.
    pub router: router::Router,
    /// One upstream (with each worker's connections) per route, same order as `config.routes`.
    pub upstreams: Vec<upstream::Upstream>,
    /// Metric handles per route, same order.
    pub metrics: Vec<RouteMetrics>,
    /// Metric handles for requests that match no route.
    pub unrouted: RouteMetrics,
    /// Concurrency limit per route, same order.
    pub permits: Vec<Arc<tokio::sync::Semaphore>>,
    /// Route names as the disclosure ledger keys them, same order.
    pub ledger_names: Vec<Arc<str>>,
    /// Per route (same order), the ledger key of every disclosure cell with its hash, indexed
    /// as [`DisclosureTally::counted`] yields them: built once here, so a request adds its
    /// counts without building, cloning or hashing a key.
    pub ledger_cells: Vec<Box<[LedgerCell]>>,
    /// Process-wide services (metrics, store, audit log, ledger); they survive reloads.
    pub services: Arc<Services>,
    /// Per route (same order), whether a request searches its scrubbed texts for the values
    /// the rules select ([`super::police::echoes`]), with the route's policy (`[0]`) and its
    /// opt-out variant (`[1]`): a function of the configuration, so derived here and not per
    /// request. It holds for a body policed with the route's own plans; a body read through
    /// a form layer has the layer's plans, and the service derives it for that request.
    pub echoes: Box<[[bool; 2]]>,
    /// Per route (same order), whether a request's fields are read by name on it
    /// (`service::reads_request_fields`).
    pub reads_fields: Box<[bool]>,
    /// Per route (same order), whether the only request field read by name on it is the
    /// body's `Content-Type` (`service::reads_body_type_only`).
    pub body_type_only: Box<[bool]>,
    /// Whether some route reads no request field, or only the body's type: piigate's own
    /// HTTP/1.1 server then keeps a plain request's fields as the bytes they arrived in
    /// (`server::fields::RequestFields`).
    pub keeps_fields_plain: bool,
}

impl Generation {
    /// Builds routers, clients and metric handles for `config`.
    pub fn new(config: Config, number: u64, services: Arc<Services>) -> Self {
        let registry = &services.metrics;
        let router = router::Router::new(config.routes.clone());
        let echoes: Box<[[bool; 2]]> = config
            .routes
            .iter()
            .map(|r| {
                [false, true].map(|opted_out| super::police::echoes(r.body_policy(opted_out), None))
            })
            .collect();
        let upstreams = config
            .routes
            .iter()
            .map(|r| upstream::Upstream::new(r))
            .collect();
        let metrics = config
            .routes
            .iter()
            .zip(&echoes)
            .map(|(r, echoes)| {
                registry.route_shaped(
                    &r.name,
                    &crate::telemetry::metrics::RouteShape {
                        detect: r.detect.is_some(),
                        blocks_opt_out: r.opt_out == crate::config::OptOut::Block,
                        subject: r.subject.is_some(),
                        // Whether a request could search for echoes, with the route's policy
                        // or its opt-out variant.
                        echoes: echoes.iter().any(|e| *e),
                        // As the service decides whether a response is policed.
                        reveals: !r.response_plan.is_empty(),
                    },
                )
            })
            .collect();
        let ledger_names = config
            .routes
            .iter()
            .map(|r| Arc::from(r.name.as_str()))
            .collect();
        let ledger_cells = config
            .routes
            .iter()
            .zip(&ledger_names)
            .map(|(r, name)| {
                (0..DisclosureTally::CELLS)
                    .map(|cell| {
                        let (category, treatment) = DisclosureTally::cell_labels(cell);
                        LedgerCell::new(DisclosureKey::new(
                            Arc::clone(name),
                            r.purpose.as_str(),
                            category,
                            treatment.as_str(),
                        ))
                    })
                    .collect()
            })
            .collect();
        let permits = config
            .routes
            .iter()
            .map(|r| Arc::new(tokio::sync::Semaphore::new(r.max_concurrent_requests)))
            .collect();
        registry.set_keys(&config.key_ids, config.example_keys.len());
        let gen_number = i64::try_from(number).unwrap_or(i64::MAX);
        registry.generation.set(gen_number);
        let reads_fields: Box<[bool]> = config
            .routes
            .iter()
            .map(|r| super::service::reads_request_fields(r))
            .collect();
        let body_type_only: Box<[bool]> = config
            .routes
            .iter()
            .map(|r| super::service::reads_body_type_only(r))
            .collect();
        let keeps_fields_plain = reads_fields
            .iter()
            .zip(&body_type_only)
            .any(|(reads, type_only)| !reads || *type_only);
        Self {
            number,
            unrouted: registry.unrouted(),
            config,
            router,
            upstreams,
            metrics,
            permits,
            ledger_names,
            ledger_cells,
            services,
            echoes,
            reads_fields,
            body_type_only,
            keeps_fields_plain,
        }
    }
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("number", &self.number)
            .field("routes", &self.config.routes.len())
            .finish_non_exhaustive()
    }
}

/// The swappable current generation.
pub type Current = Arc<ArcSwap<Generation>>;
