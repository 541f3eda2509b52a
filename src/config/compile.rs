//! Spec → runtime types. Collects every diagnostic; never stops at the first error.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::diag::{Diagnostics, Source};
use super::reader::At;
use super::spec::{ConfigSpec, OptionValue, RouteSpec, RuleSpec, StoreSpec, TlsSpec};
use super::{
    ADMIN_MAX_CONNECTIONS, Admin, AdminToken, Config, DEFAULT_ADMIN_TOKEN_ENV, DEFAULT_KEYRING_ENV,
    Env, Limits, OptOut, Purpose, Route, Runtime, Server, StoreSettings, Upstream,
};
use crate::detect::{Class, Detector};
use crate::keys::Keyring;
use crate::policy::action::{
    ActionKind, BuildError, EncryptAction, EncryptDeterministicAction, FpeAction, FpeMode,
    GeneralizeAction, HashAction, MaskAction, Normalize, OptionDefault, RedactAction, RevealAction,
    Side, TokenizeAction,
};
use crate::policy::selector::Test;
use crate::policy::transform::fpe::{FpeAlphabet, FpeSpec};
use crate::policy::transform::generalize::GeneralizeTo;
use crate::policy::transform::hash::HashSpec;
use crate::policy::transform::hash::{HashField, HashPreset};
use crate::policy::{
    Action, Automaton, DetectMode, DetectPolicy, FieldPlan, FieldPlans, FieldRule, FieldTarget,
    JsonPath, Plan, Rule, RuleId, Unselected, selector,
};
use crate::tls::{self, TlsError};

/// How to get a keyring, for every diagnostic about a missing one.
const NO_KEYRING_HELP: &str = "create one with `piigate keygen --keyring keys.toml` (its first key \
     becomes primary) and set [keys] file = \"keys.toml\", or put the keyring text in \
     $PIIGATE_KEYRING; keys.example is public material for trying piigate, never for real data";

/// Why there is no keyring when none is configured (the only case the keygen help is for; a
/// keyring with errors has its own diagnostics).
const NOT_CONFIGURED: &str = "no keyring is configured";

/// The keyring, loaded once per compile, with where it came from.
struct KeySource {
    ring: Option<Keyring>,
    /// Why there is no keyring, for messages on rules that need one.
    missing: &'static str,
    /// Where the keyring came from (a path or `$VAR`), for keyring-level diagnostics.
    origin: String,
    /// A keyring without a primary key is reported once, at the keyring, not at every rule
    /// that needs one.
    no_primary_reported: std::cell::Cell<bool>,
}

impl KeySource {
    fn none(missing: &'static str) -> Self {
        Self {
            ring: None,
            missing,
            origin: String::new(),
            no_primary_reported: std::cell::Cell::new(false),
        }
    }
}

/// Compiles a spec. Returns `None` when an error prevents building a config; callers also
/// check `d.has_errors()`.
pub fn compile(
    spec: &ConfigSpec,
    src: Source<'_>,
    base: &Path,
    env: &dyn Env,
    d: &mut Diagnostics,
) -> Option<Config> {
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };

    let listen = socket(spec.server.listen.as_ref(), "127.0.0.1:8443", src, d);
    let tls = spec
        .server
        .tls
        .as_ref()
        .and_then(|t| server_tls(t, src, &resolve, d));
    let workers = spec.server.workers.as_ref().and_then(|w| match w.value {
        1..=1024 => usize::try_from(w.value).ok(),
        _ => {
            d.error(
                src,
                w.span.clone(),
                "bad_value",
                "`workers` must be between 1 and 1024",
            );
            None
        }
    });
    let runtime = match spec
        .server
        .runtime
        .as_ref()
        .map(|r| (r.value.as_str(), r.span.clone()))
    {
        None | Some(("work_stealing", _)) => Runtime::WorkStealing,
        Some(("per_core", _)) => Runtime::PerCore,
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`runtime` must be \"work_stealing\" or \"per_core\"",
            );
            Runtime::WorkStealing
        }
    };

    let admin = spec.admin.as_ref().map(|a| {
        let listen = socket(a.listen.as_ref(), "127.0.0.1:9901", src, d);
        let token_env = a
            .token_env
            .as_ref()
            .map_or_else(|| DEFAULT_ADMIN_TOKEN_ENV.to_owned(), |t| t.value.clone());
        let token = env.var(&token_env).filter(|t| !t.trim().is_empty()).map(|t| AdminToken::new(&zeroize::Zeroizing::new(t)));
        if let Some(l) = listen
            && !l.ip().is_loopback()
            && token.is_none()
        {
            let span = a.listen.as_ref().map_or(0..0, |v| v.span.clone());
            d.error(
                src,
                span,
                "admin_without_token",
                format!("the admin listener is not on loopback, so it needs a bearer token in ${token_env}"),
            )
            .help(format!("set {token_env} (e.g. `openssl rand -hex 32`) or listen on 127.0.0.1"));
        }
        let max_connections = match &a.max_connections {
            None => ADMIN_MAX_CONNECTIONS,
            Some(At { value, span }) => match usize::try_from(*value) {
                Ok(n @ 1..=4096) => n,
                _ => {
                    d.error(
                        src,
                        span.clone(),
                        "bad_value",
                        "`max_connections` must be between 1 and 4096",
                    );
                    ADMIN_MAX_CONNECTIONS
                }
            },
        };
        listen.map(|listen| Admin {
            listen,
            token_env,
            token,
            max_connections,
        })
    });

    let limits = limits(spec, src, d);
    let keys = load_keyring(spec, src, &resolve, env, d);

    // Explicit paths resolve against the config's folder like every path in the file; the
    // defaults live in the state directory, never beside a (read-only) config.
    let state = super::state::StateDir::resolve(
        spec.state
            .as_ref()
            .and_then(|s| s.dir.as_ref())
            .map(|d| resolve(&d.value)),
        env,
    );
    let store = store_settings(spec, src, &resolve, &state.path, env, &keys, d);
    let audit_path = spec
        .audit
        .as_ref()
        .and_then(|a| a.path.as_ref())
        .map_or_else(
            || state.path.join("piigate-audit.jsonl"),
            |p| resolve(&p.value),
        );
    let forward_proxy = spec
        .forward_proxy
        .as_ref()
        .and_then(|f| forward_proxy(f, src, &resolve, d));

    let mut routes = Vec::new();
    let mut names = HashSet::new();
    let mut matchers = HashSet::new();
    for r in &spec.routes {
        if let Some(route) = compile_route(r, src, &resolve, &keys, &limits, d) {
            if !names.insert(route.name.clone()) {
                d.error(
                    src,
                    r.name.as_ref().map_or(r.span.clone(), |n| n.span.clone()),
                    "duplicate_route",
                    format!("route name `{}` is used twice", route.name),
                );
            }
            if !matchers.insert((route.host.clone(), route.path_prefix.clone())) {
                d.error(
                    src,
                    r.path_prefix
                        .as_ref()
                        .map_or(r.span.clone(), |n| n.span.clone()),
                    "duplicate_route",
                    format!(
                        "route `{}` has the same host and path_prefix as an earlier route",
                        route.name
                    ),
                );
            }
            routes.push(Arc::new(route));
        }
    }
    if spec.routes.is_empty() {
        d.warning(
            src,
            0..0,
            "no_routes",
            "no [[routes]] are configured: every request will be answered 404",
        );
    }

    let example_keys = keys
        .ring
        .as_ref()
        .map_or_else(Vec::new, Keyring::public_example_ids);
    if !example_keys.is_empty() {
        let span = spec
            .keys
            .file
            .as_ref()
            .map_or_else(|| spec.keys.span.clone(), |f| f.span.clone());
        d.warning(
            src,
            span,
            "example_keys",
            format!(
                "PUBLIC EXAMPLE KEYS IN USE ({}): the keyring holds the published keys.example \
                 material; anyone can open these envelopes and link these tokens",
                example_keys.join(", ")
            ),
        )
        .help(
            "generate a keyring of your own with `piigate keygen --keyring keys.toml` and point \
             [keys] file at it (or pass its text in $PIIGATE_KEYRING)",
        );
    }
    let key_ids = keys.ring.as_ref().map_or_else(Vec::new, |k| {
        k.iter()
            .map(|m| (m.id().to_string(), m.status().as_str()))
            .collect()
    });
    let admin = match admin {
        Some(None) => return None,
        Some(Some(a)) => Some(a),
        None => None,
    };
    if let Some(f) = &spec.forward_proxy
        && forward_proxy.is_some()
        && !routes.iter().any(|r| r.host.is_some())
    {
        d.warning(
            src,
            f.span.clone(),
            "no_hosts",
            "no route names a `host`, so the forward proxy will refuse every target",
        );
    }
    Some(Config {
        server: Server {
            listen: listen?,
            tls,
            workers,
            runtime,
        },
        admin,
        forward_proxy,
        limits,
        routes,
        key_ids,
        example_keys,
        store: store?,
        audit_path,
        state,
    })
}

fn store_settings(
    spec: &ConfigSpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    state_dir: &Path,
    env: &dyn Env,
    keys: &KeySource,
    d: &mut Diagnostics,
) -> Option<StoreSettings> {
    use crate::store::{CacheConfig, PostgresConfig, StoreConfig, SubjectKeyer};
    let s = spec.store.as_ref();
    let get = |f: fn(&StoreSpec) -> &Option<At<u64>>| s.and_then(|s| f(s).as_ref());
    let bounded =
        |v: Option<&At<u64>>, default: u64, min: u64, max: u64, key: &str, d: &mut Diagnostics| {
            match v {
                Some(At { value, span }) if *value < min || *value > max => {
                    d.error(
                        src,
                        span.clone(),
                        "bad_value",
                        format!("`{key}` must be between {min} and {max}"),
                    );
                    default
                }
                Some(At { value, .. }) => *value,
                None => default,
            }
        };
    let capacity = bounded(
        get(|s| &s.cache_capacity),
        100_000,
        0,
        10_000_000,
        "cache_capacity",
        d,
    );
    let ttl = bounded(get(|s| &s.cache_ttl_secs), 30, 0, 3600, "cache_ttl_secs", d);
    let flush = bounded(
        get(|s| &s.ledger_flush_secs),
        10,
        1,
        3600,
        "ledger_flush_secs",
        d,
    );
    let pool = bounded(get(|s| &s.max_connections), 8, 1, 256, "max_connections", d);
    let kind = s.and_then(|s| s.kind.as_ref());
    let backend = match kind.map(|k| k.value.as_str()) {
        None | Some("embedded") => {
            let path = s
                .and_then(|s| s.path.as_ref())
                .map_or_else(|| state_dir.join("piigate.db"), |p| resolve(&p.value));
            StoreConfig::Embedded { path }
        }
        Some("postgres") => {
            let var = s
                .and_then(|s| s.url_env.as_ref())
                .map_or("PIIGATE_POSTGRES_URL", |v| v.value.as_str());
            let span = s
                .and_then(|s| s.url_env.as_ref())
                .map_or_else(|| s.map_or(0..0, |s| s.span.clone()), |v| v.span.clone());
            let Some(url) = env.var(var) else {
                d.error(
                    src,
                    span,
                    "missing_env",
                    format!(
                        "`kind = \"postgres\"` needs the PostgreSQL URL in ${var}, which is not set"
                    ),
                );
                return None;
            };
            let mut pg = match PostgresConfig::from_url(&url, var) {
                Ok(pg) => pg,
                // The error names the variable, never the URL (it can hold a password).
                Err(e) => {
                    d.error(src, span, "bad_value", format!("${var}: {e}"));
                    return None;
                }
            };
            if let Some(ca) = s.and_then(|s| s.ca.as_ref()) {
                match std::fs::read(resolve(&ca.value)) {
                    Ok(pem) => match pg.with_ca_pem(&pem) {
                        Ok(p) => pg = p,
                        Err(e) => {
                            d.error(src, ca.span.clone(), "bad_tls", format!("store `ca`: {e}"));
                            return None;
                        }
                    },
                    Err(e) => {
                        d.error(
                            src,
                            ca.span.clone(),
                            "unreadable_file",
                            format!("cannot read `{}`: {e}", ca.value),
                        );
                        return None;
                    }
                }
            }
            StoreConfig::Postgres(pg.with_max_connections(usize::try_from(pool).unwrap_or(8)))
        }
        Some(_) => {
            let k = kind.map_or(0..0, |k| k.span.clone());
            d.error(
                src,
                k,
                "bad_value",
                "store `kind` must be \"embedded\" or \"postgres\"",
            );
            return None;
        }
    };
    let pinned = s.and_then(|s| s.subject_key_id.as_ref());
    let keyer = match (&keys.ring, pinned) {
        (None, _) => None,
        (Some(ring), Some(id)) => match ring.get(&id.value) {
            Some(k) if k.status() != crate::keys::KeyStatus::Retired => Some(k),
            _ => {
                d.error(
                    src,
                    id.span.clone(),
                    "bad_value",
                    format!(
                        "`subject_key_id`: no usable key `{}` in the keyring",
                        id.value
                    ),
                );
                return None;
            }
        },
        (Some(ring), None) => ring.primary(),
    }
    .map(|k| {
        let derived =
            crate::keys::derive::derive(k.secret(), crate::keys::Purpose::Subject, "subject-ids");
        Arc::new(SubjectKeyer::from_secret(&derived))
    });
    if pinned.is_none() && keyer.is_some() && spec.routes.iter().any(|r| r.subject.is_some()) {
        d.warning(
            src,
            s.map_or(0..0, |s| s.span.clone()),
            "unpinned_subject_key",
            "subject ids are keyed with the primary key; after a rotation every subject would get a new pseudonym",
        )
        .help("pin it: [store] subject_key_id = \"<the current primary key id>\"");
    }
    Some(StoreSettings {
        backend,
        cache: CacheConfig {
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
            ttl: Duration::from_secs(ttl),
        },
        ledger_flush: Duration::from_secs(flush),
        keyer,
    })
}

fn forward_proxy(
    f: &super::spec::ForwardProxySpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    d: &mut Diagnostics,
) -> Option<super::ForwardProxy> {
    let listen = socket(f.listen.as_ref(), "127.0.0.1:3128", src, d);
    let read = |v: &Option<At<String>>, what: &str, d: &mut Diagnostics| -> Option<String> {
        let Some(v) = v else {
            d.error(
                src,
                f.span.clone(),
                "missing_key",
                format!("[forward_proxy] is missing `{what}`"),
            );
            return None;
        };
        match std::fs::read_to_string(resolve(&v.value)) {
            Ok(t) => Some(t),
            Err(e) => {
                d.error(
                    src,
                    v.span.clone(),
                    "unreadable_file",
                    format!("cannot read `{}`: {e}", v.value),
                );
                None
            }
        }
    };
    let cert = read(&f.ca_cert, "ca_cert", d);
    let key = read(&f.ca_key, "ca_key", d);
    let (cert, key) = (cert?, key?);
    match crate::tls::Minter::from_pem(&cert, &key) {
        Ok(m) => Some(super::ForwardProxy {
            listen: listen?,
            minter: Arc::new(m),
        }),
        Err(e) => {
            d.error(
                src,
                f.span.clone(),
                "bad_tls",
                format!("interception CA: {e}"),
            );
            None
        }
    }
}

fn socket(
    v: Option<&At<String>>,
    default: &str,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<SocketAddr> {
    let text = v.map_or(default, |v| v.value.as_str());
    match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            let span = v.map_or(0..0, |v| v.span.clone());
            d.error(
                src,
                span,
                "bad_address",
                "`listen` must be an IP socket address such as \"127.0.0.1:8443\" or \"[::]:8443\"",
            );
            None
        }
    }
}

fn limits(spec: &ConfigSpec, src: Source<'_>, d: &mut Diagnostics) -> Limits {
    let l = &spec.limits;
    let mut get = |v: &Option<At<u64>>, default: u64, min: u64, max: u64, key: &str| -> u64 {
        match v {
            Some(At { value, span }) if *value < min || *value > max => {
                d.error(
                    src,
                    span.clone(),
                    "bad_value",
                    format!("`{key}` must be between {min} and {max}"),
                );
                default
            }
            Some(At { value, .. }) => *value,
            None => default,
        }
    };
    const GIB: u64 = 1 << 30;
    let max_body = get(&l.max_body_bytes, 10 << 20, 1, GIB, "max_body_bytes");
    let max_decoded = get(
        &l.max_decoded_bytes,
        50 << 20,
        1,
        4 * GIB,
        "max_decoded_bytes",
    );
    let depth = get(&l.max_json_depth, 128, 1, 10_000, "max_json_depth");
    let req = get(
        &l.request_timeout_ms,
        30_000,
        1,
        3_600_000,
        "request_timeout_ms",
    );
    let up = get(
        &l.upstream_timeout_ms,
        30_000,
        1,
        3_600_000,
        "upstream_timeout_ms",
    );
    let hdr = get(
        &l.header_read_timeout_ms,
        10_000,
        1,
        3_600_000,
        "header_read_timeout_ms",
    );
    let conns = get(&l.max_connections, 10_000, 1, 1_000_000, "max_connections");
    let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Limits {
        max_body_bytes: as_usize(max_body),
        max_decoded_bytes: as_usize(max_decoded),
        max_json_depth: as_usize(depth),
        request_timeout: Duration::from_millis(req),
        upstream_timeout: Duration::from_millis(up),
        header_read_timeout: Duration::from_millis(hdr),
        max_connections: as_usize(conns),
    }
}

fn load_keyring(
    spec: &ConfigSpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    env: &dyn Env,
    d: &mut Diagnostics,
) -> KeySource {
    let var = spec
        .keys
        .env
        .as_ref()
        .map_or(DEFAULT_KEYRING_ENV, |e| e.value.as_str());
    let (text, origin) = if let Some(text) = env.var(var) {
        (text, format!("${var}"))
    } else if let Some(file) = &spec.keys.file {
        let path = resolve(&file.value);
        match std::fs::read_to_string(&path) {
            Ok(t) => (t, path.display().to_string()),
            Err(e) => {
                d.error(
                    src,
                    file.span.clone(),
                    "unreadable_file",
                    format!("cannot read keyring `{}`: {e}", path.display()),
                );
                return KeySource::none("the keyring could not be read");
            }
        }
    } else {
        return KeySource::none(NOT_CONFIGURED);
    };
    // Wrapped entries are unwrapped through the keyring's HSM here (start, check, reload).
    let loaded = crate::keys::KeyringFile::parse(&text, &origin)
        .and_then(|file| file.load(&|name| env.var(name)));
    match loaded {
        Ok(ring) => KeySource {
            ring: Some(ring),
            missing: "",
            origin,
            no_primary_reported: std::cell::Cell::new(false),
        },
        Err(errors) => {
            for e in errors {
                d.push_diag(super::Diagnostic {
                    severity: super::Severity::Error,
                    code: "bad_keyring",
                    file: e.origin,
                    line: e.line,
                    col: e.col,
                    message: e.message,
                    help: None,
                });
            }
            KeySource::none("the keyring has errors")
        }
    }
}

/// `[server.tls]`: the listener's certificate chain, key and optional client CA, built into
/// the listener's server configuration by [`crate::tls::server_config`].
fn server_tls(
    t: &TlsSpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    d: &mut Diagnostics,
) -> Option<Arc<rustls::ServerConfig>> {
    let (cert, key) = (t.cert.as_ref()?, t.key.as_ref()?);
    let certs = match tls::certs_from_file(&resolve(&cert.value)) {
        Ok(c) => Some(c),
        Err(e) => {
            d.error(
                src,
                cert.span.clone(),
                "bad_tls",
                format!("cannot load certificate chain `{}`: {e}", cert.value),
            );
            None
        }
    };
    let pkey = match tls::key_from_file(&resolve(&key.value)) {
        Ok(k) => Some(k),
        // The error names the file, not its contents.
        Err(e) => {
            d.error(
                src,
                key.span.clone(),
                "bad_tls",
                format!("cannot load private key `{}`: {e}", key.value),
            );
            None
        }
    };
    let client_roots = match &t.client_ca {
        None => None,
        Some(ca) => match tls::certs_from_file(&resolve(&ca.value)) {
            Ok(certs) => Some(certs),
            Err(e) => {
                d.error(
                    src,
                    ca.span.clone(),
                    "bad_tls",
                    format!("cannot load client CA `{}`: {e}", ca.value),
                );
                return None;
            }
        },
    };
    let (certs, pkey) = (certs?, pkey?);
    match tls::server_config(certs, pkey, client_roots) {
        Ok(cfg) => Some(cfg),
        Err(TlsError::NoUsableCa) => {
            let ca = t.client_ca.as_ref().map_or("", |c| c.value.as_str());
            let span = t
                .client_ca
                .as_ref()
                .map_or(t.span.clone(), |c| c.span.clone());
            d.error(
                src,
                span,
                "bad_tls",
                format!("`{ca}` holds no usable CA certificate"),
            );
            None
        }
        Err(e @ TlsError::Verifier(_)) => {
            d.error(src, t.span.clone(), "bad_tls", e.to_string());
            None
        }
        Err(e) => {
            d.error(
                src,
                t.span.clone(),
                "bad_tls",
                format!("certificate and private key do not form a usable pair: {e}"),
            );
            None
        }
    }
}

/// A route's upstream TLS client configuration: the webpki roots plus `upstream_ca`.
fn client_tls(
    ca: Option<&At<String>>,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    d: &mut Diagnostics,
) -> Arc<rustls::ClientConfig> {
    let extra = match ca.map(|ca| (ca, tls::certs_from_file(&resolve(&ca.value)))) {
        None => Vec::new(),
        Some((_, Ok(certs))) => certs,
        Some((ca, Err(e))) => {
            d.error(
                src,
                ca.span.clone(),
                "bad_tls",
                format!("cannot load upstream CA `{}`: {e}", ca.value),
            );
            Vec::new()
        }
    };
    match (tls::client_config(extra), ca) {
        (Ok(cfg), _) => cfg,
        (Err(_), ca) => {
            if let Some(ca) = ca {
                d.error(
                    src,
                    ca.span.clone(),
                    "bad_tls",
                    format!(
                        "`{}` holds a certificate that cannot be used as a trust anchor",
                        ca.value
                    ),
                );
            }
            // The load fails on the error above; the webpki roots keep the types simple.
            tls::default_client_config()
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn compile_route(
    r: &RouteSpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    keys: &KeySource,
    limits: &Limits,
    d: &mut Diagnostics,
) -> Option<Route> {
    // The route as compiled: its own rules, then its preset's (see `config::preset`).
    let expansion = super::preset::expand(r, src, d);
    let r = &expansion.route;
    let name = r.name.as_ref()?;
    if !valid_name(&name.value) {
        d.error(
            src,
            name.span.clone(),
            "bad_value",
            "route `name` must be 1-64 characters of letters, digits, `_` or `-`",
        );
    }
    let path_prefix = r.path_prefix.as_ref().and_then(|p| {
        let v = p.value.as_str();
        if !v.starts_with('/') || v.contains(['?', '#', ' ']) {
            d.error(
                src,
                p.span.clone(),
                "bad_value",
                "`path_prefix` must start with `/` and contain no `?`, `#` or spaces",
            );
            return None;
        }
        let trimmed = v.trim_end_matches('/');
        Some(if trimmed.is_empty() {
            "/".to_owned()
        } else {
            trimmed.to_owned()
        })
    });
    let host = r.host.as_ref().and_then(|h| {
        let v = h.value.to_ascii_lowercase();
        if v.is_empty() || v.contains(['/', ' ', ':']) {
            d.error(src, h.span.clone(), "bad_value", "`host` must be a bare host name such as \"api.segment.io\" (no scheme, port or path)");
            None
        } else {
            Some(v)
        }
    });
    let upstream = r.upstream.as_ref().and_then(|u| upstream(u, src, d));
    let upstream_tls = client_tls(r.upstream_ca.as_ref(), src, resolve, d);
    let domain = match &r.domain {
        Some(dom) if !valid_name(&dom.value) => {
            d.error(
                src,
                dom.span.clone(),
                "bad_value",
                "`domain` must be 1-64 characters of letters, digits, `_` or `-`",
            );
            dom.value.clone()
        }
        Some(dom) => dom.value.clone(),
        None => name.value.clone(),
    };
    let purpose = match r
        .purpose
        .as_ref()
        .map(|p| (p.value.as_str(), p.span.clone()))
    {
        None | Some(("analytics", _)) => Purpose::Analytics,
        Some(("marketing", _)) => Purpose::Marketing,
        Some(("processor", _)) => Purpose::Processor,
        Some(("sale_or_share", _)) => Purpose::SaleOrShare,
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`purpose` must be one of analytics, marketing, sale_or_share, processor",
            );
            Purpose::Analytics
        }
    };
    let detect_mode = match r
        .detect
        .as_ref()
        .map(|v| (v.value.as_str(), v.span.clone()))
    {
        None | Some(("off", _)) => None,
        Some(("observe", _)) => Some(DetectMode::Observe),
        Some(("enforce", _)) => Some(DetectMode::Enforce),
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`detect` must be \"off\", \"observe\" or \"enforce\"",
            );
            None
        }
    };
    let unknown_drop = match r
        .unknown_fields
        .as_ref()
        .map(|v| (v.value.as_str(), v.span.clone()))
    {
        None | Some(("allow", _)) => false,
        Some(("drop", _)) => true,
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`unknown_fields` must be \"allow\" or \"drop\"",
            );
            false
        }
    };
    if let Some(t) = &r.detect_actions
        && detect_mode != Some(DetectMode::Enforce)
    {
        d.warning(
            src,
            t.span.clone(),
            "unused_detect_actions",
            "`detect_actions` only apply with detect = \"enforce\"; they are ignored",
        );
    }
    let max_body_bytes = match &r.max_body_bytes {
        Some(m) if m.value == 0 || m.value > limits.max_body_bytes as u64 => {
            d.error(
                src,
                m.span.clone(),
                "bad_value",
                "route `max_body_bytes` must be between 1 and [limits] max_body_bytes",
            );
            limits.max_body_bytes
        }
        Some(m) => usize::try_from(m.value).unwrap_or(limits.max_body_bytes),
        None => limits.max_body_bytes,
    };

    let max_concurrent_requests = match &r.max_concurrent_requests {
        Some(m) if m.value == 0 || m.value > 1_000_000 => {
            d.error(
                src,
                m.span.clone(),
                "bad_value",
                "`max_concurrent_requests` must be between 1 and 1000000",
            );
            1024
        }
        Some(m) => usize::try_from(m.value).unwrap_or(1024),
        None => 1024,
    };
    let rotation = r.rotate_pseudonyms_every.as_ref().and_then(|p| match parse_period(&p.value) {
        Some(secs) => Some(secs),
        None => {
            d.error(src, p.span.clone(), "bad_value", "`rotate_pseudonyms_every` must be a duration of at least one hour such as \"180d\", \"12w\" or \"24h\"");
            None
        }
    });
    let subject = r.subject.as_ref().and_then(|s| {
        let path = parse_json_path(&s.value, s, 0, src, d)?;
        if !crate::rewrite::subject::is_subject_path(&path) {
            d.error(
                src,
                s.span.clone(),
                "bad_selector",
                "a `subject` selector must use child steps only (`$.userId`, `$.batch[*].userId`)",
            );
            return None;
        }
        Some(path)
    });
    let subject_bases = match (&r.subject, &keys.ring) {
        (Some(s), Some(ring)) => match crate::policy::subject::SubjectBases::new(ring, &domain) {
            Some(b) => Some(Arc::new(b)),
            None => {
                d.error(
                    src,
                    s.span.clone(),
                    "no_primary_key",
                    "a route `subject` needs a key with status = \"primary\"",
                );
                None
            }
        },
        (Some(s), None) => {
            let diag = d.error(
                src,
                s.span.clone(),
                "no_keyring",
                format!("a route `subject` needs a keyring, but {}", keys.missing),
            );
            if keys.missing == NOT_CONFIGURED {
                diag.help(NO_KEYRING_HELP);
            }
            None
        }
        _ => None,
    };
    let opt_out = match r
        .on_opt_out
        .as_ref()
        .map(|o| (o.value.as_str(), o.span.clone()))
    {
        None | Some(("none", _)) => OptOut::None,
        Some(("block", _)) => OptOut::Block,
        Some(("strict", _)) => OptOut::Strict,
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`on_opt_out` must be \"none\", \"block\" or \"strict\"",
            );
            OptOut::None
        }
    };
    let rcx = |side, strict| RuleCtx {
        side,
        domain: &domain,
        keys,
        rotation,
        strict,
        inverse: false,
        subject: r.subject.is_some(),
    };
    let unselected = |strict: bool, d: &mut Diagnostics| Unselected {
        detect: detect_mode.and_then(|mode| {
            detect_policy(mode, r, &rcx(Side::Request, strict), src, d).map(Arc::new)
        }),
        drop: unknown_drop,
        root: "$".into(),
    };
    let request_unselected = unselected(false, d);
    let request = compile_rules(
        &r.rules,
        &rcx(Side::Request, false),
        &request_unselected,
        src,
        d,
    );
    let response = compile_rules(
        &r.response_rules,
        &rcx(Side::Response, false),
        &Unselected::default(),
        src,
        d,
    );
    let strict = if opt_out == OptOut::Strict {
        let mut quiet = Diagnostics::new();
        // Observe-mode detection forwards what it sees either way; enforce-mode actions get the
        // strict treatment like rules do.
        let strict_unselected = match detect_mode {
            Some(DetectMode::Enforce) => unselected(true, &mut quiet),
            _ => request_unselected.clone(),
        };
        compile_rules(
            &r.rules,
            &rcx(Side::Request, true),
            &strict_unselected,
            src,
            &mut quiet,
        )
    } else {
        None
    };
    let (Some(request), Some(response)) = (request, response) else {
        return None;
    };
    let (reveal_plan, reveal_fields) = reveal_everything(&domain, keys, &request.1);
    // The route's inverse: its own selectors, each reversible action reversed with its
    // options. Diagnostics were reported by the request compile above.
    let inverse = if keys.ring.is_some() {
        compile_rules(
            &r.rules,
            &RuleCtx {
                inverse: true,
                ..rcx(Side::Request, false)
            },
            &Unselected::default(),
            src,
            &mut Diagnostics::new(),
        )
    } else {
        None
    }
    .unwrap_or_else(|| (Plan::empty(), FieldPlans::default()));
    Some(Route {
        name: name.value.clone(),
        path_prefix: path_prefix?,
        host,
        upstream: upstream?,
        upstream_tls,
        domain,
        preset: expansion.preset.as_ref().map(|(p, _)| p.name),
        purpose,
        plan: request.0,
        fields: request.1,
        subject,
        subject_bases,
        opt_out,
        strict,
        response_plan: response.0,
        detect: detect_mode,
        allow_list: unknown_drop,
        reveal_plan,
        reveal_fields,
        inverse_plan: inverse.0,
        inverse_fields: inverse.1,
        max_body_bytes,
        max_concurrent_requests,
    })
}

/// `180d`, `12w`, `24h`: at least one hour.
fn parse_period(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    let secs = n.checked_mul(match unit {
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    })?;
    (secs >= 3600).then_some(secs)
}

fn upstream(u: &At<String>, src: Source<'_>, d: &mut Diagnostics) -> Option<Upstream> {
    let bad = |d: &mut Diagnostics, why: &str| {
        d.error(
            src,
            u.span.clone(),
            "bad_upstream",
            format!("`upstream` {why}"),
        )
        .help("write it as \"https://api.example.com\" or \"http://127.0.0.1:9000/base\"");
    };
    let Ok(uri) = u.value.parse::<http::Uri>() else {
        bad(d, "is not a valid URL");
        return None;
    };
    let scheme = match uri.scheme_str() {
        Some("http") => http::uri::Scheme::HTTP,
        Some("https") => http::uri::Scheme::HTTPS,
        _ => {
            bad(d, "must start with http:// or https://");
            return None;
        }
    };
    let Some(authority) = uri.authority().cloned() else {
        bad(d, "has no host");
        return None;
    };
    if authority.as_str().contains('@') {
        bad(d, "must not contain credentials");
        return None;
    }
    if uri.query().is_some() {
        bad(d, "must not contain a query string");
        return None;
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Some(Upstream {
        scheme,
        authority,
        base_path,
    })
}

/// Which named-field kind a selector addresses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Cookie,
    Form,
    Header,
    Query,
}

/// A parsed selector.
enum Target {
    /// A JSONPath into the JSON (or NDJSON) body.
    Json(JsonPath),
    /// A named field, as a whole or (with `=>`) as a JSON document.
    Field {
        kind: FieldKind,
        name: String,
        json: Option<JsonPath>,
    },
}

/// A JSON-in-field plan being assembled: (kind, field name, paths, actions).
type NestedPlan = (FieldKind, String, Vec<(JsonPath, RuleId)>, Vec<Rule>);

/// Compiles rules into the body plan and the field plans. Field rules get their own copies of
/// the action (actions hold keys and are not `Clone`; copies are derived again, which is
/// deterministic and happens only at load).
fn compile_rules(
    rules: &[RuleSpec],
    cx: &RuleCtx<'_>,
    unselected: &Unselected,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<(Plan, FieldPlans)> {
    let side = cx.side;
    let mut paths: Vec<(JsonPath, RuleId)> = Vec::new();
    let mut body_rules = Vec::new();
    let mut fields = FieldPlans::default();
    fields.form.unselected = unselected.rooted("form:");
    fields.query.unselected = unselected.rooted("query:");
    // Headers carry the protocol and the recipient's credentials: neither detection nor
    // allow-list mode applies to them (see README, "Detection").
    fields.header.unselected = Unselected::default();
    fields.cookie.unselected = Unselected::default();
    let detector = Detector::default();
    // (kind, name) → paths and actions of a JSON-in-field plan, in first-seen order.
    let mut nested: Vec<NestedPlan> = Vec::new();
    let errors_before = d.error_count();
    for spec in rules {
        // A preset's rule is located in its preset file.
        let src = spec.source(src);
        let explicit = rule_class(spec, side, src, d);
        let Some(action) = compile_action(spec, cx, src, d) else {
            // Still check the selectors, so every problem is reported in one run.
            for sel in &spec.select {
                let _ = parse_selector(sel, side, src, d);
            }
            continue;
        };
        let is_drop = action.is_drop();
        let mut action = Some(action);
        // Later copies are compiled quietly: the first compile already reported any problem.
        let mut copy_any = || {
            action
                .take()
                .or_else(|| compile_action(spec, cx, src, &mut Diagnostics::new()))
        };
        // Under an opt-out, a declared identifier kept in clear is dropped like a tokenized one.
        let mut copy = |class: Option<Class>| {
            copy_any().map(|a| {
                if cx.strict && a.is_keep() && class.is_some() {
                    Action::Drop
                } else {
                    a
                }
            })
        };
        // One compiled rule per class the rule's selectors name, so the ledger can tell them
        // apart (`select = ["$.email", "$.phone"]` discloses two categories).
        let mut body_ids: Vec<(Option<Class>, RuleId)> = Vec::new();
        for sel in &spec.select {
            let target = parse_selector(sel, side, src, d);
            let class =
                explicit.or_else(|| target.as_ref().and_then(|t| infer_class(&detector, t)));
            match target {
                Some(Target::Json(path)) if is_drop && path.steps.is_empty() => {
                    d.error(
                        src,
                        sel.span.clone(),
                        "bad_selector",
                        "`drop` cannot select the whole document (`$`)",
                    )
                    .help("select the members to drop, e.g. \"$.context\"");
                }
                Some(Target::Json(path)) => {
                    let id = match body_ids.iter().find(|(c, _)| *c == class) {
                        Some((_, id)) => *id,
                        None => {
                            let Ok(id) = RuleId::try_from(body_rules.len()) else {
                                d.error(
                                    src,
                                    spec.span.clone(),
                                    "too_many_rules",
                                    "a route may have at most 65535 rules",
                                );
                                return None;
                            };
                            body_rules.push(Rule::with_class(copy(class)?, class));
                            body_ids.push((class, id));
                            id
                        }
                    };
                    paths.push((path, id));
                }
                Some(Target::Field {
                    kind,
                    name,
                    json: None,
                }) => {
                    if kind == FieldKind::Header && name == "cookie" {
                        // Every route removes the cookies its rules do not name.
                        if is_drop {
                            d.warning(
                                src,
                                sel.span.clone(),
                                "redundant_rule",
                                "every route removes the cookies no `cookie:` rule names; this rule changes nothing",
                            );
                        } else {
                            d.error(
                                src,
                                sel.span.clone(),
                                "bad_selector",
                                "cookies are selected one by one: `cookie:NAME` (a route forwards only the cookies it names)",
                            )
                            .help("e.g. select = \"cookie:sp\" with action = \"keep\"; \"cookie:*\" names every cookie");
                        }
                        continue;
                    }
                    let plan = match kind {
                        FieldKind::Cookie => &mut fields.cookie,
                        FieldKind::Form => &mut fields.form,
                        FieldKind::Header => &mut fields.header,
                        FieldKind::Query => &mut fields.query,
                    };
                    plan.rules.push(FieldRule {
                        name: name.into(),
                        target: FieldTarget::Whole(copy(class)?),
                        class,
                    });
                }
                Some(Target::Field {
                    kind,
                    name,
                    json: Some(path),
                }) => {
                    let at = match nested
                        .iter()
                        .position(|(k, n, _, _)| *k == kind && *n == name)
                    {
                        Some(at) => at,
                        None => {
                            nested.push((kind, name.clone(), Vec::new(), Vec::new()));
                            // Reserve the field's place in declaration order.
                            let plan = match kind {
                                FieldKind::Cookie => &mut fields.cookie,
                                FieldKind::Form => &mut fields.form,
                                FieldKind::Header | FieldKind::Query => &mut fields.query,
                            };
                            plan.rules.push(FieldRule {
                                name: name.clone().into(),
                                target: FieldTarget::Json(Plan::empty()),
                                class: None,
                            });
                            nested.len() - 1
                        }
                    };
                    let (_, _, paths, actions) = &mut nested[at];
                    let id = RuleId::try_from(actions.len()).unwrap_or(RuleId::MAX);
                    actions.push(Rule::with_class(copy(class)?, class));
                    paths.push((path, id));
                }
                None => {}
            }
        }
    }
    if d.error_count() > errors_before {
        return None;
    }
    let build = |paths: &[(JsonPath, RuleId)],
                 compiled: Vec<Rule>,
                 unselected: Unselected,
                 d: &mut Diagnostics| {
        match Automaton::build(paths) {
            Ok(automaton) => Some(Plan {
                automaton,
                rules: compiled,
                unselected,
            }),
            Err(e) => {
                let span = rules.first().map_or(0..0, |r| r.span.clone());
                d.error(src, span, "bad_selector", e.to_string());
                None
            }
        }
    };
    let body = build(&paths, body_rules, unselected.clone(), d)?;
    for (kind, name, paths, actions) in nested {
        let prefix = match kind {
            FieldKind::Cookie => "cookie:",
            FieldKind::Form => "form:",
            FieldKind::Header | FieldKind::Query => "query:",
        };
        let root = format!("{prefix}{}=>$", report_name(&detector, &name));
        // JSON read out of a named cookie is a document like JSON in a form field: detection
        // and allow-list mode reach its unselected leaves (a vendor's cookie holds the super
        // properties an app registered, under names no rule can know).
        let plan = build(&paths, actions, unselected.rooted(&root), d)?;
        let list = match kind {
            FieldKind::Cookie => &mut fields.cookie,
            FieldKind::Form => &mut fields.form,
            FieldKind::Header | FieldKind::Query => &mut fields.query,
        };
        if let Some(slot) = list.rules.iter_mut().find(|r| {
            *r.name == *name && matches!(r.target, FieldTarget::Json(ref p) if p.is_empty())
        }) {
            slot.target = FieldTarget::Json(plan);
        }
    }
    Some((body, fields))
}

/// Plans that open every envelope of `domain` wherever it is: the whole JSON document, every
/// form and query field, and every JSON document inside the fields `fields` reads as JSON.
fn reveal_everything(domain: &str, keys: &KeySource, fields: &FieldPlans) -> (Plan, FieldPlans) {
    let Some(ring) = &keys.ring else {
        return (Plan::empty(), FieldPlans::default());
    };
    let document = || {
        let Ok(root) = selector::parse("$") else {
            return Plan::empty();
        };
        let Ok(automaton) = Automaton::build(&[(root, 0)]) else {
            return Plan::empty();
        };
        Plan::new(
            automaton,
            vec![Rule::new(Action::Reveal(RevealAction::new(ring, domain)))],
        )
    };
    let every_field = |named: &FieldPlan| {
        let mut plan = FieldPlan::every(FieldTarget::Whole(Action::Reveal(RevealAction::new(
            ring, domain,
        ))));
        plan.rules = named
            .rules
            .iter()
            .filter(|r| matches!(r.target, FieldTarget::Json(_)))
            .map(|r| FieldRule {
                name: r.name.clone(),
                target: FieldTarget::Json(document()),
                class: None,
            })
            .collect();
        plan
    };
    let plans = FieldPlans {
        form: every_field(&fields.form),
        query: every_field(&fields.query),
        header: FieldPlan::default(),
        cookie: FieldPlan::default(),
    };
    (document(), plans)
}

/// A field name as report paths write it (`items[*][email]`, `*` for data-like names).
fn report_name(detector: &Detector, name: &str) -> String {
    let mut s = String::new();
    crate::policy::names::push_field_name(&mut s, detector, name);
    s
}

/// The rule's `class` option, checked. Response rules have no use for it.
fn rule_class(spec: &RuleSpec, side: Side, src: Source<'_>, d: &mut Diagnostics) -> Option<Class> {
    let src = spec.source(src);
    let c = spec.class.as_ref()?;
    if side == Side::Response {
        d.error(
            src,
            c.span.clone(),
            "bad_option",
            "`class` applies to request rules (the disclosure ledger), not response rules",
        );
        return None;
    }
    match c.value.parse::<Class>() {
        Ok(class) => Some(class),
        Err(_) => {
            let names: Vec<&str> = Class::ALL.iter().map(|c| c.as_str()).collect();
            let diag = d.error(
                src,
                c.span.clone(),
                "bad_value",
                format!("`{}` is not a PII class piigate knows", c.value),
            );
            match super::diag::did_you_mean(&c.value, &names) {
                Some(s) => diag.help(format!("did you mean `{s}`?")),
                None => diag.help(format!("one of: {}", names.join(", "))),
            };
            None
        }
    }
}

/// What a selector's own words say its values are: the nearest member name from the end of a
/// JSONPath (`$.batch[*].traits.email` → `email`), or a field's name. `None` when names
/// disagree (`$['email','phone']`) or say nothing.
fn infer_class(detector: &Detector, target: &Target) -> Option<Class> {
    let path = match target {
        Target::Json(p) | Target::Field { json: Some(p), .. } => p,
        Target::Field { name, .. } => return detector.classify_key(name),
    };
    let step = path
        .steps
        .iter()
        .rev()
        .find(|s| s.tests.iter().any(|t| matches!(t, Test::Name(_))))?;
    let mut classes = step.tests.iter().map(|t| match t {
        Test::Name(n) => detector.classify_key(n),
        Test::Index(_) | Test::Wildcard => None,
    });
    let first = classes.next()?;
    classes.all(|c| c == first).then_some(first)?
}

/// The natural normalisation of a class for `tokenize` and `hash` when a `detect_actions`
/// entry does not name one.
fn class_normalize(class: Class, action: &str) -> Option<&'static str> {
    match (action, class) {
        ("tokenize" | "hash", Class::Email) => Some("email"),
        ("tokenize" | "hash", Class::Phone) => Some("phone"),
        ("hash", Class::DateOfBirth) => Some("date_of_birth"),
        ("hash", Class::City) => Some("city"),
        ("hash", Class::PostalCode) => Some("zip"),
        ("hash", Class::Gender) => Some("gender"),
        _ => None,
    }
}

/// A route's detection policy: the detector and, in `enforce` mode, one action per class —
/// the class's `detect_actions` entry, else `default`, else `redact` with
/// `[REDACTED:<class>]`. Entries are validated like rules (same options, same messages).
fn detect_policy(
    mode: DetectMode,
    r: &RouteSpec,
    cx: &RuleCtx<'_>,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<DetectPolicy> {
    let detector = Detector::default();
    if mode == DetectMode::Observe {
        return Some(DetectPolicy {
            mode,
            detector,
            actions: Vec::new(),
        });
    }
    let entries = r
        .detect_actions
        .as_ref()
        .map_or(&[][..], |t| &t.entries[..]);
    let entry = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(_, e)| e)
    };
    let errors_before = d.error_count();
    // Report each entry's problems once: compile every entry loudly first.
    for (key, spec) in entries {
        let class = key.value.parse::<Class>().ok();
        let spec = detect_spec(spec, class);
        if let Some(a) = spec.action.as_ref()
            && a.value == "reveal"
        {
            d.error(
                src,
                a.span.clone(),
                "bad_action",
                "`reveal` decrypts; detected values can only be protected, kept or dropped",
            );
            continue;
        }
        let _ = compile_action(&spec, cx, src, d);
    }
    if d.error_count() > errors_before {
        return None;
    }
    let mut actions = Vec::with_capacity(Class::COUNT);
    for class in Class::ALL {
        let spec = entry(class.as_str()).or_else(|| entry("default"));
        let action = match spec {
            Some(spec) => {
                let spec = detect_spec(spec, Some(class));
                let a = compile_action(&spec, cx, src, &mut Diagnostics::new())?;
                // Under an opt-out a detected identifier is never kept in clear.
                if cx.strict && a.is_keep() {
                    Action::Drop
                } else {
                    a
                }
            }
            None => Action::Redact(RedactAction {
                replacement: format!("[REDACTED:{}]", class.as_str()).into(),
            }),
        };
        actions.push(action);
    }
    Some(DetectPolicy {
        mode,
        detector,
        actions,
    })
}

/// A `detect_actions` entry made concrete for one class: `redact` says which class it
/// replaced, `tokenize`/`hash` normalise by class unless told otherwise.
fn detect_spec(spec: &RuleSpec, class: Option<Class>) -> RuleSpec {
    let mut spec = spec.clone();
    let Some(action) = spec.action.clone() else {
        return spec;
    };
    if let Some(class) = class {
        if action.value == "redact" && spec.option("replacement").is_none() {
            spec.set_text(
                "replacement",
                At {
                    value: format!("[REDACTED:{}]", class.as_str()),
                    span: action.span.clone(),
                },
            );
        }
        if spec.option("normalize").is_none()
            && let Some(n) = class_normalize(class, &action.value)
        {
            spec.set_text(
                "normalize",
                At {
                    value: n.to_owned(),
                    span: action.span.clone(),
                },
            );
        }
    }
    spec
}

fn parse_selector(
    sel: &At<String>,
    side: Side,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<Target> {
    let text = sel.value.as_str();
    let field = text.split_once(':').and_then(|(k, rest)| {
        let kind = match k {
            "cookie" => FieldKind::Cookie,
            "form" => FieldKind::Form,
            "query" => FieldKind::Query,
            "header" => FieldKind::Header,
            _ => return None,
        };
        Some((kind, rest))
    });
    if let Some((kind, rest)) = field {
        if side == Side::Response {
            d.error(
                src,
                sel.span.clone(),
                "bad_selector",
                "response rules select JSON values (`$…`), not fields",
            );
            return None;
        }
        let (name, json) = match rest.split_once("=>") {
            Some((name, path)) => (name, Some(path.trim())),
            None => (rest, None),
        };
        let name = name.trim();
        if name.is_empty() {
            d.error(
                src,
                sel.span.clone(),
                "bad_selector",
                "a field selector needs a name, e.g. \"form:email\"",
            );
            return None;
        }
        if kind == FieldKind::Cookie
            && !name
                .split('*')
                .all(|part| part.is_empty() || crate::canon::cookies::name_is_token(part))
        {
            d.error(
                src,
                sel.span.clone(),
                "bad_selector",
                format!(
                    "`{name}` is not a cookie name (a token; `*` matches any run of characters)"
                ),
            );
            return None;
        }
        if kind == FieldKind::Header {
            if json.is_some() {
                d.error(
                    src,
                    sel.span.clone(),
                    "bad_selector",
                    "`=>` (JSON inside a field) applies to form and query fields, not headers",
                );
                return None;
            }
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                d.error(
                    src,
                    sel.span.clone(),
                    "bad_selector",
                    format!("`{name}` is not a valid header name"),
                );
                return None;
            }
            if matches!(
                name.to_ascii_lowercase().as_str(),
                "host"
                    | "content-length"
                    | "transfer-encoding"
                    | "connection"
                    | "content-encoding"
                    | "content-type"
            ) {
                d.error(
                    src,
                    sel.span.clone(),
                    "bad_selector",
                    format!(
                        "`{name}` frames the request; piigate manages it and rules cannot change it"
                    ),
                );
                return None;
            }
        }
        let json = match json {
            None => None,
            Some(path) => {
                let offset = text[..text.len() - path.len()].chars().count();
                Some(parse_json_path(path, sel, offset, src, d)?)
            }
        };
        let name = if kind == FieldKind::Header {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        };
        return Some(Target::Field { kind, name, json });
    }
    parse_json_path(text, sel, 0, src, d).map(Target::Json)
}

/// Parses the JSONPath at char offset `offset` of the selector text, locating errors in the file.
fn parse_json_path(
    path: &str,
    sel: &At<String>,
    offset: usize,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<JsonPath> {
    match selector::parse(path) {
        Ok(p) => Some(p),
        Err(e) => {
            // +1 skips the opening quote of the TOML string.
            let text = sel.value.as_str();
            let chars = offset + e.offset;
            let at = sel.span.start
                + 1
                + text
                    .char_indices()
                    .nth(chars)
                    .map_or(text.len(), |(i, _)| i);
            d.error(src, at..at, "bad_selector", format!("invalid selector: {}", e.message))
                .help("supported: $.a.b  $['a b']  $.a[*]  $.a[0]  $..email  $.*  form:NAME  query:NAME  header:NAME  cookie:NAME  form:NAME=>$.path");
            None
        }
    }
}

/// What compiling one rule needs to know about its route.
struct RuleCtx<'a> {
    side: Side,
    domain: &'a str,
    keys: &'a KeySource,
    /// `rotate_pseudonyms_every`, in seconds.
    rotation: Option<u64>,
    /// Compiling the opt-out (`on_opt_out = "strict"`) variant: linkable actions become `drop`.
    strict: bool,
    /// Compiling the route's inverse (`reveal --route`): reversible actions become their
    /// reversal at the same selectors, every other action `keep`.
    inverse: bool,
    /// The route names a data subject (subject-scoped keys).
    subject: bool,
}

/// A rule's `fpe` options (shared by `fpe`, `reveal` with fpe options, and the inverse).
fn fpe_spec(opts: &Options<'_>, d: &mut Diagnostics) -> Option<FpeSpec> {
    Some(FpeSpec {
        alphabet: opts.choice("alphabet", FpeAlphabet::parse, d)??,
        keep_last: opts.usize("keep_last").unwrap_or(0),
        luhn: opts.flag("luhn"),
        min_length: opts.usize("min_length"),
    })
}

/// The reversal of a request action for `reveal --route`, at the rule's own selectors: `fpe`
/// decrypts with the rule's options and key. Envelopes (`encrypt`, `encrypt_deterministic`)
/// name their kind and key, so the reveal plans open them wherever they are, these paths
/// included (`ops::reveal_for` runs them next); every other action cannot be reversed and
/// leaves the value as it is (`keep`).
fn inverse_action(opts: &Options<'_>, cx: &RuleCtx<'_>, d: &mut Diagnostics) -> Option<Action> {
    let ring = cx.keys.ring.as_ref()?;
    Some(match opts.kind {
        ActionKind::Fpe => {
            let spec = fpe_spec(opts, d)?;
            let key_id = opts.rule.text("key_id").map(|k| k.value.as_str());
            FpeAction::new(ring, cx.domain, spec, key_id, FpeMode::Reveal)
                .map(Action::Fpe)
                .ok()?
        }
        _ => Action::Keep,
    })
}

fn compile_action(
    r: &RuleSpec,
    cx: &RuleCtx<'_>,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<Action> {
    let (side, domain, keys) = (cx.side, cx.domain, cx.keys);
    let src = r.source(src);
    let action = r.action.as_ref()?;
    let name = action.value.as_str();
    let Some(kind) = ActionKind::parse(name) else {
        let names: Vec<&str> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
        let diag = d.error(
            src,
            action.span.clone(),
            "bad_action",
            format!("unknown action `{name}`"),
        );
        match super::diag::did_you_mean(name, &names) {
            Some(s) => diag.help(format!("did you mean `{s}`?")),
            None => diag.help(format!("expected one of: {}", names.join(", "))),
        };
        return None;
    };
    // `reveal` takes `fpe`'s options to open FPE values, which `alphabet` marks; a plain
    // reveal takes none.
    let fpe_reveal = kind == ActionKind::Reveal && r.option("alphabet").is_some();
    let allowed = match kind {
        ActionKind::Reveal if !fpe_reveal => &[][..],
        _ => kind.options(),
    };
    // Options each action accepts; anything else set on the rule is an error, not ignored.
    let mut ok = true;
    for (opt, value) in &r.options {
        if !allowed.iter().any(|o| o.name == *opt) {
            d.error(
                src,
                value.span(),
                "bad_option",
                format!("`{opt}` does not apply to action `{name}`"),
            );
            ok = false;
        }
    }
    match (side, kind.side()) {
        (Side::Response, Side::Request) => {
            d.error(
                src,
                action.span.clone(),
                "bad_action",
                format!("response rules can only `reveal`, not `{name}`"),
            );
            return None;
        }
        (Side::Request, Side::Response) => {
            d.error(
                src,
                action.span.clone(),
                "bad_action",
                "`reveal` belongs in [[routes.response_rules]]: decrypting on the way out would send cleartext",
            );
            return None;
        }
        _ => {}
    }
    if !ok {
        return None;
    }
    let key_id = r.text("key_id");
    if cx.subject
        && let Some(k) = key_id
    {
        d.error(
            src,
            k.span.clone(),
            "bad_option",
            "`key_id` cannot be combined with a route `subject`: subject keys always derive from the primary key",
        );
        return None;
    }
    let opts = Options {
        rule: r,
        kind,
        src,
        action_span: action.span.clone(),
    };
    if cx.inverse {
        return inverse_action(&opts, cx, d);
    }
    // Under an opt-out (`on_opt_out = "strict"`), nothing linkable leaves: identifiers that
    // would be tokenized, hashed or deterministically encrypted are dropped instead.
    if cx.strict && kind.linkable() {
        return Some(Action::Drop);
    }
    let ring = |d: &mut Diagnostics| -> Option<&Keyring> {
        match &keys.ring {
            Some(r) => Some(r),
            None => {
                let diag = d.error(
                    src,
                    action.span.clone(),
                    "no_keyring",
                    format!("action `{name}` needs a keyring, but {}", keys.missing),
                );
                // A keyring with errors has its own diagnostics; the keygen help is for none.
                if keys.missing == NOT_CONFIGURED {
                    diag.help(NO_KEYRING_HELP);
                }
                None
            }
        }
    };
    let built = |d: &mut Diagnostics, res: Result<Action, BuildError>| -> Option<Action> {
        match res {
            Ok(a) => Some(a),
            Err(BuildError::NoPrimaryKey) => {
                if !keys.no_primary_reported.replace(true) {
                    let (line, col) = crate::keys::line_col(src.text, action.span.start);
                    d.push_diag(super::Diagnostic {
                        severity: super::Severity::Error,
                        code: "no_primary_key",
                        file: keys.origin.clone(),
                        line: 0,
                        col: 0,
                        message: format!(
                            "the keyring has no key with status = \"primary\", which new tokens \
                             and envelopes need (first needed by action `{name}` at {}:{line}:{col})",
                            src.name
                        ),
                        help: Some(
                            "mark one key status = \"primary\"; `piigate keygen --keyring FILE` \
                             makes the first key of a new keyring primary"
                                .into(),
                        ),
                    });
                }
                None
            }
            Err(e) => {
                let span = match &e {
                    BuildError::UnknownKey(_) | BuildError::RetiredKey(_) => {
                        key_id.map_or(action.span.clone(), |k| k.span.clone())
                    }
                    _ => action.span.clone(),
                };
                d.error(src, span, "bad_action", format!("action `{name}`: {e}"));
                None
            }
        }
    };
    let key_id = key_id.map(|k| k.value.as_str());
    let fpe = |d: &mut Diagnostics, mode: FpeMode| -> Option<Action> {
        let ring = ring(d)?;
        let spec = fpe_spec(&opts, d)?;
        built(
            d,
            FpeAction::new(ring, domain, spec, key_id, mode).map(Action::Fpe),
        )
    };
    Some(match kind {
        ActionKind::Drop => Action::Drop,
        ActionKind::Keep => Action::Keep,
        ActionKind::Tokenize => {
            let ring = ring(d)?;
            let normalize = opts
                .choice("normalize", Normalize::parse, d)?
                .unwrap_or(Normalize::None);
            let prefix = opts.text("prefix").unwrap_or_default();
            if prefix.len() > 32
                || !prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                d.error(
                    src,
                    opts.span("prefix"),
                    "bad_value",
                    "`prefix` must be at most 32 characters of letters, digits, `_` or `-`",
                );
                return None;
            }
            let made = TokenizeAction::new(ring, domain, normalize, prefix, key_id);
            let made = match cx.rotation {
                Some(p) => made.and_then(|t| t.rotating(ring, domain, key_id, p)),
                None => made,
            };
            built(d, made.map(Action::Tokenize))?
        }
        ActionKind::Encrypt => {
            let ring = ring(d)?;
            built(d, EncryptAction::new(ring, domain).map(Action::Encrypt))?
        }
        ActionKind::EncryptDeterministic => {
            let ring = ring(d)?;
            built(
                d,
                EncryptDeterministicAction::new(ring, domain).map(Action::EncryptDeterministic),
            )?
        }
        ActionKind::Fpe => fpe(d, FpeMode::Encrypt)?,
        ActionKind::Reveal if fpe_reveal => fpe(d, FpeMode::Reveal)?,
        ActionKind::Reveal => Action::Reveal(RevealAction::new(ring(d)?, domain)),
        ActionKind::Hash => {
            let preset = opts.choice("preset", HashPreset::parse, d)??;
            let field = opts.choice("normalize", HashField::parse, d)??;
            let default_country_code = match r.uint("default_country_code") {
                Some(c) => match u16::try_from(c.value) {
                    Ok(v) if (1..=999).contains(&v) => Some(v),
                    _ => {
                        d.error(
                            src,
                            c.span.clone(),
                            "bad_value",
                            "`default_country_code` must be a calling code between 1 and 999",
                        );
                        return None;
                    }
                },
                None => None,
            };
            built(
                d,
                HashAction::new(HashSpec {
                    preset,
                    field,
                    default_country_code,
                })
                .map(Action::Hash),
            )?
        }
        ActionKind::Generalize => {
            let to = opts.choice("to", GeneralizeTo::parse, d)??;
            Action::Generalize(GeneralizeAction { to })
        }
        ActionKind::Mask => Action::Mask(MaskAction {
            keep_last: opts.usize("keep_last").unwrap_or(0),
        }),
        ActionKind::Redact => Action::Redact(RedactAction {
            replacement: opts.text("replacement").unwrap_or_default().into(),
        }),
    })
}

/// A rule's options read against its action kind's declaration: a value set on the rule, else
/// the declared default.
struct Options<'r> {
    rule: &'r RuleSpec,
    kind: ActionKind,
    src: Source<'r>,
    action_span: std::ops::Range<usize>,
}

impl<'r> Options<'r> {
    fn default(&self, name: &str) -> OptionDefault {
        self.kind
            .option(name)
            .map_or(OptionDefault::Unset(""), |o| o.default)
    }

    /// Where the option is written (the action's span when it is not).
    fn span(&self, name: &str) -> std::ops::Range<usize> {
        self.rule
            .option(name)
            .map_or_else(|| self.action_span.clone(), OptionValue::span)
    }

    fn text(&self, name: &str) -> Option<&'r str> {
        match (self.rule.text(name), self.default(name)) {
            (Some(v), _) => Some(v.value.as_str()),
            (None, OptionDefault::Text(t)) => Some(t),
            (None, _) => None,
        }
    }

    fn usize(&self, name: &str) -> Option<usize> {
        let v = match (self.rule.uint(name), self.default(name)) {
            (Some(v), _) => v.value,
            (None, OptionDefault::Uint(n)) => n,
            (None, _) => return None,
        };
        Some(usize::try_from(v).unwrap_or(usize::MAX))
    }

    fn flag(&self, name: &str) -> bool {
        match (self.rule.flag(name), self.default(name)) {
            (Some(v), _) => v.value,
            (None, OptionDefault::Bool(b)) => b,
            (None, _) => false,
        }
    }

    /// A choice option parsed by `parse`. `None`: an error was reported (an unknown value, or
    /// a required option missing); `Some(None)`: unset, with no default.
    fn choice<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        d: &mut Diagnostics,
    ) -> Option<Option<T>> {
        let values = self.kind.option(name).map_or(&[][..], |o| o.values);
        let Some(text) = self.text(name) else {
            if self.default(name) == OptionDefault::Required {
                let diag = d.error(
                    self.src,
                    self.action_span.clone(),
                    "missing_key",
                    format!("`{}` needs `{name}`", self.kind.as_str()),
                );
                if !values.is_empty() {
                    diag.help(format!("one of: {}", values.join(", ")));
                }
                return None;
            }
            return Some(None);
        };
        match parse(text) {
            Some(v) => Some(Some(v)),
            None => {
                d.error(
                    self.src,
                    self.span(name),
                    "bad_value",
                    format!(
                        "`{name} = \"{text}\"` is not a value `{}` takes",
                        self.kind.as_str()
                    ),
                )
                .help(format!("one of: {}", values.join(", ")));
                None
            }
        }
    }
}
