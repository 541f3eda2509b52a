//! `proxy.toml` → a validated, compiled [`Config`].
//!
//! Loading has two stages that both collect every problem instead of stopping at the first:
//! [`spec::read`] turns TOML into raw `*Spec` structs (unknown keys and wrong types are
//! diagnostics), then [`compile`] checks values, loads the keyring and TLS material, derives the
//! working keys for every route's domain and builds each route's [`crate::policy::Plan`].
//! `piigate check`, `serve` and reload all go through [`load`], so they can never disagree.

mod chains;
mod compile;
pub mod diag;
pub mod preset;
mod reader;
pub mod spec;
pub mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use compile::compile;
pub use diag::{Diagnostic, Diagnostics, Severity, Source};
pub use reader::At;

use crate::policy::Plan;
use crate::rewrite::Plans;

/// The default `[keys] env`.
pub const DEFAULT_KEYRING_ENV: &str = "PIIGATE_KEYRING";
/// The default `[admin] token_env`.
pub const DEFAULT_ADMIN_TOKEN_ENV: &str = "PIIGATE_ADMIN_TOKEN";
/// Default `[admin] max_connections`: probes, a scraper and an operator need a handful.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// A compiled configuration: everything a running gateway needs, validated.
#[derive(Debug)]
pub struct Config {
    /// The application-facing listener.
    pub server: Server,
    /// The operations listener, if configured.
    pub admin: Option<Admin>,
    /// The HTTPS_PROXY listener, if configured.
    pub forward_proxy: Option<ForwardProxy>,
    /// Global limits (routes may tighten `max_body_bytes`).
    pub limits: Limits,
    /// Routes, in file order.
    pub routes: Vec<Arc<Route>>,
    /// Ids of the keys in the keyring with their status (for metrics and logs; never material).
    pub key_ids: Vec<(String, &'static str)>,
    /// Ids of keys that are the public `keys.example` material (warned about, and exported
    /// as `piigate_example_keys`).
    pub example_keys: Vec<String>,
    /// `[store]`, compiled.
    pub store: StoreSettings,
    /// Where the audit log lives.
    pub audit_path: PathBuf,
    /// The state directory the store and audit paths default into.
    pub state: state::StateDir,
}

/// `[store]`, compiled.
#[derive(Debug)]
pub struct StoreSettings {
    /// Backend and how to reach it.
    pub backend: crate::store::StoreConfig,
    /// Secret cache bounds.
    pub cache: crate::store::CacheConfig,
    /// Ledger flush interval.
    pub ledger_flush: Duration,
    /// Keys subject ids into store keys; `None` without a keyring.
    pub keyer: Option<Arc<crate::store::SubjectKeyer>>,
}

/// `[server]`, compiled.
#[derive(Debug)]
pub struct Server {
    /// Where to listen.
    pub listen: SocketAddr,
    /// TLS 1.3 server configuration; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Worker threads (`None`: one per CPU).
    pub workers: Option<usize>,
    /// How connections are spread over the worker threads.
    pub runtime: Runtime,
}

impl Server {
    /// Worker threads to start: `workers`, or one per CPU this process may run on.
    pub fn worker_threads(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

/// `server.runtime`: the shape of the async runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Runtime {
    /// One multi-thread tokio runtime with `workers` threads and one listener; idle workers steal
    /// tasks from busy ones.
    WorkStealing,
    /// The default (measured: docs/BENCHMARKS.md, ARCHITECTURE.md 2026-12-06). `workers` threads, each running its own single-thread runtime and accepting on its own
    /// `SO_REUSEPORT` socket bound to the same address: the kernel spreads connections, and a
    /// connection never leaves its thread (no task migration, no cross-thread wake-ups).
    #[default]
    PerCore,
}

impl Runtime {
    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WorkStealing => "work_stealing",
            Self::PerCore => "per_core",
        }
    }
}

/// `[admin]`, compiled.
#[derive(Debug)]
pub struct Admin {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The env var holding the bearer token.
    pub token_env: String,
    /// The bearer token, read from `token_env` at load; `None` disables the `/v1` endpoints.
    pub token: Option<AdminToken>,
    /// Concurrent admin connections; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
}

/// The admin bearer token: zeroized on drop, never printed, compared in constant time.
pub struct AdminToken(zeroize::Zeroizing<String>);

impl AdminToken {
    /// Wraps a token.
    pub fn new(token: &str) -> Self {
        Self(zeroize::Zeroizing::new(token.trim().to_owned()))
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        // Compare fixed-length digests so the length of the token does not leak either.
        let a = ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes());
        let b = ring::digest::digest(&ring::digest::SHA256, presented);
        a.as_ref().ct_eq(b.as_ref()).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// `[forward_proxy]`, compiled.
#[derive(Debug)]
pub struct ForwardProxy {
    /// Where to listen for `CONNECT` and absolute-form requests.
    pub listen: SocketAddr,
    /// The interception CA, minting leaves for the hosts routes name.
    pub minter: Arc<crate::tls::Minter>,
}

/// `[limits]`, compiled.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Largest body after decompression.
    pub max_decoded_bytes: usize,
    /// Deepest JSON nesting accepted.
    pub max_json_depth: usize,
    /// Time to receive the whole request body.
    pub request_timeout: Duration,
    /// Time for the upstream to connect and answer with headers.
    pub upstream_timeout: Duration,
    /// Time to receive the request headers.
    pub header_read_timeout: Duration,
    /// Concurrent client connections.
    pub max_connections: usize,
}

/// One compiled route.
#[derive(Debug)]
pub struct Route {
    /// Unique name (metric label, log field, default domain).
    pub name: String,
    /// Path prefix matched on whole segments and stripped before forwarding (`/` keeps all).
    pub path_prefix: String,
    /// Host the route is limited to (lower-case, no port).
    pub host: Option<String>,
    /// Where requests go.
    pub upstream: Upstream,
    /// TLS client configuration for the upstream (webpki roots plus `upstream_ca`).
    pub upstream_tls: Arc<rustls::ClientConfig>,
    /// Pseudonymisation domain.
    pub domain: String,
    /// The vendor preset the route's rules were expanded with, if any.
    pub preset: Option<&'static str>,
    /// Why data goes to this recipient (for the disclosure report).
    pub purpose: Purpose,
    /// Request policy for JSON and NDJSON bodies.
    pub plan: Plan,
    /// Request policy for form fields, query parameters and headers.
    pub fields: crate::policy::FieldPlans,
    /// Where each event's data subject id is (`subject`), for subject-scoped keys.
    pub subject: Option<crate::policy::JsonPath>,
    /// The route's working keys that subject keys derive from.
    pub subject_bases: Option<Arc<crate::policy::subject::SubjectBases>>,
    /// What `Sec-GPC: 1` / `DNT: 1` selects.
    pub opt_out: OptOut,
    /// The opt-out variant of the request policy (`on_opt_out = "strict"`).
    pub strict: Option<(Plan, crate::policy::FieldPlans)>,
    /// Response policy (reveal); empty when the route has no response rules.
    pub response_plan: Plan,
    /// `detect`: `None` when off. The compiled policy lives in the plans' `unselected`.
    pub detect: Option<crate::policy::DetectMode>,
    /// `unknown_fields = "drop"`: allow-list mode.
    pub allow_list: bool,
    /// Opens every envelope of this route's domain anywhere in a payload (`piigate reveal`,
    /// admin reveal); empty when there is no keyring.
    pub reveal_plan: Plan,
    /// The same for form bodies and query strings: every field, and the JSON inside fields the
    /// route reads as JSON.
    pub reveal_fields: crate::policy::FieldPlans,
    /// The route's inverse at the selectors of its rules (see [`Route::inverse_plans`]).
    pub inverse_plan: Plan,
    /// The inverse for form fields, query parameters and headers.
    pub inverse_fields: crate::policy::FieldPlans,
    /// Which request bodies the route reads.
    pub bodies: Bodies,
    /// Largest request body for this route.
    pub max_body_bytes: usize,
    /// Requests of this route in flight at once.
    pub max_concurrent_requests: usize,
    /// Codings of the body the vendor signals outside `Content-Encoding`
    /// (`[routes.body_coding]`).
    pub body_coding: Option<crate::policy::BodyCoding>,
}

/// Which request bodies a route reads (docs/BOUNDARY.md, "Parameter sources").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bodies {
    /// No rule reaches a body: bodies stream through unread.
    Unread,
    /// Only `query:` rules reach a body, because frameworks merge a form or JSON body's
    /// parameters with the query's: such bodies are read and policed with them, a multipart
    /// body and a JSON-like type piigate cannot read are refused, every other body streams
    /// through unread (an unlabelled one labelled `application/octet-stream`, which no
    /// framework reads as parameters).
    Parameters,
    /// Rules for bodies, detection or allow-list mode: every body is read and policed.
    All,
}

/// What an opt-out signal (`Sec-GPC: 1`, `DNT: 1`) does on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOut {
    /// Refuse with 451 `opt_out_blocked`; nothing is forwarded.
    Block,
    /// Ignore the signal.
    None,
    /// Apply the strict policy: linkable identifiers (tokenized, hashed, deterministically
    /// encrypted, FPE) are dropped.
    Strict,
}

/// A route's upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// `http` or `https`.
    pub scheme: http::uri::Scheme,
    /// Host and optional port.
    pub authority: http::uri::Authority,
    /// Path prepended to the stripped request path (no trailing `/`; empty for none).
    pub base_path: String,
}

/// Why a recipient receives data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Product analytics.
    Analytics,
    /// Marketing and advertising.
    Marketing,
    /// A service provider processing on our behalf.
    Processor,
    /// Sale or sharing under CCPA.
    SaleOrShare,
}

impl Purpose {
    /// The config spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Analytics => "analytics",
            Self::Marketing => "marketing",
            Self::Processor => "processor",
            Self::SaleOrShare => "sale_or_share",
        }
    }
}

impl Route {
    /// The request policy, for every payload format.
    pub fn plans(&self) -> Plans<'_> {
        Plans {
            json: &self.plan,
            fields: &self.fields,
        }
    }

    /// The policy a request body of this route is policed with: the route's plans, or its
    /// strict variant when the person `opted_out` and the route says so.
    pub fn body_policy(&self, opted_out: bool) -> crate::rewrite::body::Policy<'_> {
        let plans = match (&self.strict, opted_out) {
            (Some((plan, fields)), true) => Plans { json: plan, fields },
            _ => self.plans(),
        };
        crate::rewrite::body::Policy {
            plans,
            observe_only: self.observes_only(),
            coding: self.body_coding.as_ref(),
        }
    }

    /// How this request's body is coded by the vendor's convention, from the request's
    /// `query` ([`crate::rewrite::body::layer`]).
    ///
    /// # Errors
    /// As [`crate::rewrite::body::layer`].
    pub fn body_layer(
        &self,
        opted_out: bool,
        query: Option<&str>,
    ) -> Result<crate::rewrite::body::Layer<'_>, crate::error::RejectCode> {
        crate::rewrite::body::layer(
            self.body_coding.as_ref(),
            opted_out && self.opt_out == OptOut::Strict,
            query,
        )
    }

    /// The route's inverse (offline and admin reveal, run before [`Self::reveal_plans`]): at
    /// the selectors of its request rules, envelopes open and `fpe` values decrypt with the
    /// rule's options; what cannot be reversed is left as it is.
    pub(crate) fn inverse_plans(&self) -> Plans<'_> {
        Plans {
            json: &self.inverse_plan,
            fields: &self.inverse_fields,
        }
    }

    /// The plans that open every envelope of the route's domain (offline and admin reveal).
    pub(crate) fn reveal_plans(&self) -> Plans<'_> {
        Plans {
            json: &self.reveal_plan,
            fields: &self.reveal_fields,
        }
    }

    /// Whether the route reads every request body: rules for them, detection or allow-list
    /// mode. (A route with [`Bodies::Parameters`] reads only the bodies that carry parameters.)
    pub fn polices_body(&self) -> bool {
        self.bodies == Bodies::All
    }

    /// Whether the route changes anything in a request: rules of any kind, allow-list mode
    /// or enforced detection. Such a route reads every part of a request in one canonical way
    /// and refuses what has two readings (docs/BOUNDARY.md); the others only normalise paths.
    pub fn polices(&self) -> bool {
        !self.observes_only()
            && (self.bodies != Bodies::Unread
                || self.fields.query.polices()
                || !self.fields.header.is_empty()
                || !self.fields.cookie.is_empty())
    }

    /// Whether the route only observes (`detect = "observe"`, no rules, no allow-list): it
    /// changes nothing, so a body or query it cannot read is forwarded as it came instead of
    /// refused — an observation mode must not break traffic.
    pub(crate) fn observes_only(&self) -> bool {
        self.detect == Some(crate::policy::DetectMode::Observe)
            && !self.allow_list
            && self.plan.is_empty()
            && self.fields.form.is_empty()
            && self.fields.query.is_empty()
            && self.fields.header.is_empty()
            && self.fields.cookie.is_empty()
    }
}

/// How the loader reads the environment (injected so tests need not mutate process env).
pub trait Env {
    /// The value of variable `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A successful load: the config and any warnings.
#[derive(Debug)]
pub struct Loaded {
    /// The compiled configuration.
    pub config: Config,
    /// Warnings (the config is usable).
    pub warnings: Diagnostics,
}

/// Reads and compiles the config at `path` (relative paths inside resolve against its folder).
///
/// # Errors
/// Every diagnostic found, when at least one is an error.
pub fn load(path: &Path, env: &dyn Env) -> Result<Loaded, Diagnostics> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        let mut d = Diagnostics::new();
        d.error_at_file(
            &name,
            "unreadable_file",
            format!("cannot read the config file: {e}"),
        );
        d
    })?;
    let base = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    from_toml(&text, &name, &base, env)
}

/// The rules of route `route` in the config at `path` as they apply: its own, then its
/// preset's, annotated (`piigate check --expand`). Call after [`load`] succeeded.
///
/// # Errors
/// The file cannot be read, or has no route of that name.
pub fn expand_route(path: &Path, route: &str) -> Result<String, String> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the config file: {e}"))?;
    let src = Source {
        name: &name,
        text: &text,
    };
    let mut d = Diagnostics::new();
    let spec = spec::read(src, &mut d);
    let r = spec
        .routes
        .iter()
        .find(|r| r.name.as_ref().is_some_and(|n| n.value == route))
        .ok_or_else(|| {
            let names: Vec<&str> = spec
                .routes
                .iter()
                .filter_map(|r| r.name.as_ref().map(|n| n.value.as_str()))
                .collect();
            format!("no route `{route}` (routes: {})", names.join(", "))
        })?;
    Ok(preset::expand(r, src, &mut d).render(src))
}

/// Compiles config text. `name` labels diagnostics; `base` resolves relative paths.
///
/// # Errors
/// Every diagnostic found, when at least one is an error.
pub fn from_toml(
    text: &str,
    name: &str,
    base: &Path,
    env: &dyn Env,
) -> Result<Loaded, Diagnostics> {
    let src = Source { name, text };
    let mut d = Diagnostics::new();
    let spec = spec::read(src, &mut d);
    let config = compile(&spec, src, base, env, &mut d);
    d.sort();
    match config {
        Some(config) if !d.has_errors() => Ok(Loaded {
            config,
            warnings: d,
        }),
        _ => Err(d),
    }
}
