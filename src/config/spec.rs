//! The operator's `proxy.toml`, as written: raw `*Spec` structs with source spans.
//!
//! Nothing here is validated beyond types; [`super::compile`] turns a spec into a runtime
//! [`super::Config`]. Each field's doc comment is the reference for its key (README's
//! configuration table mirrors it).

use std::ops::Range;
use std::sync::LazyLock;

use toml::de::DeTable;

use super::diag::{Diagnostics, Source};
use super::reader::{At, TableReader};
use crate::detect::Class;
use crate::policy::action::{OptionType, option_keys};

/// The whole file.
#[derive(Debug, Default)]
pub struct ConfigSpec {
    /// `[server]`: the application-facing listener.
    pub server: ServerSpec,
    /// `[admin]`: the operations listener.
    pub admin: Option<AdminSpec>,
    /// `[keys]`: where the keyring comes from.
    pub keys: KeysSpec,
    /// `[store]`: subject secrets, ledger.
    pub store: Option<StoreSpec>,
    /// `[audit]`: the audit log.
    pub audit: Option<AuditSpec>,
    /// `[state]`: where the store and the audit log live by default.
    pub state: Option<StateSpec>,
    /// `[limits]`: size and time limits.
    pub limits: LimitsSpec,
    /// `[forward_proxy]`: HTTPS_PROXY mode.
    pub forward_proxy: Option<ForwardProxySpec>,
    /// `[[routes]]`.
    pub routes: Vec<RouteSpec>,
}

/// `[server]`.
#[derive(Debug, Default)]
pub struct ServerSpec {
    /// `listen`: socket address, default `127.0.0.1:8443`.
    pub listen: Option<At<String>>,
    /// `[server.tls]`: omit for plain HTTP (a loopback sidecar).
    pub tls: Option<TlsSpec>,
    /// `workers`: runtime worker threads, default: one per CPU.
    pub workers: Option<At<u64>>,
    /// `runtime`: `"per_core"` (default: one single-thread runtime per worker, each with its own
    /// `SO_REUSEPORT` listener) or `"work_stealing"` (one multi-thread tokio runtime).
    pub runtime: Option<At<String>>,
}

/// `[server.tls]`.
#[derive(Debug)]
pub struct TlsSpec {
    /// Span of the table.
    pub span: Range<usize>,
    /// `cert`: PEM certificate chain.
    pub cert: Option<At<String>>,
    /// `key`: PEM private key.
    pub key: Option<At<String>>,
    /// `client_ca`: require client certificates from this CA (mTLS).
    pub client_ca: Option<At<String>>,
}

/// `[admin]`.
#[derive(Debug)]
pub struct AdminSpec {
    /// `listen`: default `127.0.0.1:9901`.
    pub listen: Option<At<String>>,
    /// `token_env`: the env var holding the bearer token, default `PIIGATE_ADMIN_TOKEN`.
    pub token_env: Option<At<String>>,
    /// `max_connections`: concurrent admin connections, default 64.
    pub max_connections: Option<At<u64>>,
}

/// `[keys]`.
#[derive(Debug, Default)]
pub struct KeysSpec {
    /// Span of the table (or 0..0 when absent).
    pub span: Range<usize>,
    /// `file`: keyring path, relative to the config file.
    pub file: Option<At<String>>,
    /// `env`: env var holding keyring text, default `PIIGATE_KEYRING`; it wins over `file`.
    pub env: Option<At<String>>,
}

/// `[store]`.
#[derive(Debug)]
pub struct StoreSpec {
    /// Span of the table.
    pub span: Range<usize>,
    /// `kind`: `embedded` | `postgres`.
    pub kind: Option<At<String>>,
    /// `path`: embedded store file.
    pub path: Option<At<String>>,
    /// `url_env`: env var with the PostgreSQL URL.
    pub url_env: Option<At<String>>,
    /// `ca`: PEM CA that signs the PostgreSQL server certificate (TLS is always verified).
    pub ca: Option<At<String>>,
    /// `max_connections`: PostgreSQL pool size, default 8.
    pub max_connections: Option<At<u64>>,
    /// `cache_capacity`: subjects whose secrets are cached, default 100 000.
    pub cache_capacity: Option<At<u64>>,
    /// `cache_ttl_secs`: how long a cached secret is used; the bound on how late another
    /// replica's erasure is honoured here. Default 30.
    pub cache_ttl_secs: Option<At<u64>>,
    /// `ledger_flush_secs`: how often the disclosure ledger is written, default 10.
    pub ledger_flush_secs: Option<At<u64>>,
    /// `subject_key_id`: the master key that keys subject ids; must never change.
    pub subject_key_id: Option<At<String>>,
}

/// `[audit]`.
#[derive(Debug)]
pub struct AuditSpec {
    /// `path`: the hash-chained audit log, default `piigate-audit.jsonl` beside the config.
    pub path: Option<At<String>>,
}

/// `[state]`.
#[derive(Debug)]
pub struct StateSpec {
    /// `dir`: the state directory (default: `$STATE_DIRECTORY`, `$PIIGATE_STATE_DIR`,
    /// `$XDG_STATE_HOME/piigate`, `~/.local/state/piigate`, `/var/lib/piigate`).
    pub dir: Option<At<String>>,
}

/// `[limits]`.
#[derive(Debug, Default)]
pub struct LimitsSpec {
    /// `max_body_bytes`: default 10 MiB.
    pub max_body_bytes: Option<At<u64>>,
    /// `max_decoded_bytes`: default 50 MiB.
    pub max_decoded_bytes: Option<At<u64>>,
    /// `max_json_depth`: default 128.
    pub max_json_depth: Option<At<u64>>,
    /// `request_timeout_ms`: reading the whole request, default 30 000.
    pub request_timeout_ms: Option<At<u64>>,
    /// `upstream_timeout_ms`: connect + response headers, default 30 000.
    pub upstream_timeout_ms: Option<At<u64>>,
    /// `header_read_timeout_ms`: reading request headers (slowloris), default 10 000.
    pub header_read_timeout_ms: Option<At<u64>>,
    /// `max_connections`: concurrent client connections, default 10 000.
    pub max_connections: Option<At<u64>>,
}

/// `[forward_proxy]`.
#[derive(Debug)]
pub struct ForwardProxySpec {
    /// Span of the table.
    pub span: Range<usize>,
    /// `listen`.
    pub listen: Option<At<String>>,
    /// `ca_cert`.
    pub ca_cert: Option<At<String>>,
    /// `ca_key`.
    pub ca_key: Option<At<String>>,
}

/// `[[routes]]`.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// Span of the route table.
    pub span: Range<usize>,
    /// `name`: unique; default pseudonymisation domain.
    pub name: Option<At<String>>,
    /// `path_prefix`: matched on whole segments, stripped before forwarding.
    pub path_prefix: Option<At<String>>,
    /// `host`: only requests for this host match.
    pub host: Option<At<String>>,
    /// `upstream`: `http(s)://authority[/base]`.
    pub upstream: Option<At<String>>,
    /// `upstream_ca`: extra PEM trust anchor for the upstream.
    pub upstream_ca: Option<At<String>>,
    /// `preset`: a vendor rule set (`presets/<name>.toml`) the route's own rules extend and
    /// override (see [`super::preset`]).
    pub preset: Option<At<String>>,
    /// `domain`: pseudonymisation domain, default the route name.
    pub domain: Option<At<String>>,
    /// `subject`: the data subject's id selector.
    pub subject: Option<At<String>>,
    /// `detect`: `off` (default) | `observe` (classify values no rule selects, count them per
    /// field path and class, forward them unchanged) | `enforce` (also apply the class's action
    /// from `detect_actions`, default `redact` with `[REDACTED:<class>]`).
    pub detect: Option<At<String>>,
    /// `[routes.detect_actions]`: per class (`email`, `phone`, … or `default` for every class
    /// not listed) an action name or an inline table `{ action = "…", <rule options> }`.
    pub detect_actions: Option<DetectActionsSpec>,
    /// `[routes.body_coding]`: how the body is coded when the vendor says so outside
    /// `Content-Encoding` (a query parameter, or nothing but the bytes).
    pub body_coding: Option<BodyCodingSpec>,
    /// `unknown_fields`: `allow` (default) | `drop` (allow-list mode: only members, elements
    /// and form/query fields a rule selects are forwarded).
    pub unknown_fields: Option<At<String>>,
    /// `on_opt_out`: `none` | `block` | `strict`.
    pub on_opt_out: Option<At<String>>,
    /// `purpose`: `analytics` | `marketing` | `sale_or_share` | `processor`.
    pub purpose: Option<At<String>>,
    /// `rotate_pseudonyms_every`: e.g. `180d`; tokens of different periods cannot be linked.
    pub rotate_pseudonyms_every: Option<At<String>>,
    /// `max_body_bytes`: overrides `[limits]` for this route.
    pub max_body_bytes: Option<At<u64>>,
    /// `max_concurrent_requests`: in flight at once; beyond it 503 + `Retry-After`. Default 1024.
    pub max_concurrent_requests: Option<At<u64>>,
    /// `[[routes.rules]]`: request rewriting.
    pub rules: Vec<RuleSpec>,
    /// `[[routes.response_rules]]`: response rewriting (reveal).
    pub response_rules: Vec<RuleSpec>,
}

/// `[routes.body_coding]` (`[body_coding]` in a preset).
#[derive(Debug, Clone)]
pub struct BodyCodingSpec {
    /// Span of the table.
    pub span: Range<usize>,
    /// `param`: the query parameter naming the coding (`compression`).
    pub param: Option<At<String>>,
    /// `values`: each value of `param` and what it means (`"gzip"`, `"identity"`, or the
    /// form field holding the document: `"form:data=>base64"`), in file order.
    pub values: Vec<(At<String>, At<String>)>,
    /// `sniff`: `"gzip"` — with no `param` in the query, a text body starting with gzip's
    /// magic bytes is a gzip stream.
    pub sniff: Option<At<String>>,
    /// `text`: `"json"` (default) | `"form_lines"` — what a text body holds once decoded.
    pub text: Option<At<String>>,
    /// The preset file the table was written in (spans refer to it), else the config file.
    pub origin: Option<Source<'static>>,
}

/// `[routes.detect_actions]`.
#[derive(Debug, Clone)]
pub struct DetectActionsSpec {
    /// Span of the table.
    pub span: Range<usize>,
    /// (class name or `default`, its action), in file order. The spec's `select` is empty.
    pub entries: Vec<(At<String>, RuleSpec)>,
}

/// `[[routes.rules]]` / `[[routes.response_rules]]`.
#[derive(Debug, Clone, Default)]
pub struct RuleSpec {
    /// Span of the rule table.
    pub span: Range<usize>,
    /// `select`: one selector or a list.
    pub select: Vec<At<String>>,
    /// `action`.
    pub action: Option<At<String>>,
    /// The action's options as written (`normalize`, `keep_last`, …), typed as their
    /// declaration says ([`ActionKind::options`](crate::policy::ActionKind::options)); which apply to the action is checked when
    /// the rule is compiled.
    pub options: Vec<(&'static str, OptionValue)>,
    /// `class`: the class of personal data the selected values hold (`email`, `phone`, …),
    /// for the disclosure ledger. Default: what the selector's last member name says, else
    /// `unclassified`.
    pub class: Option<At<String>>,
    /// `why`: what the field is and why it gets this treatment. Documentation only (printed by
    /// `piigate check --expand`); required in presets.
    pub why: Option<At<String>>,
    /// The file the rule was written in when it is not the config file (a preset's rules and
    /// actions); spans refer to it.
    pub origin: Option<Source<'static>>,
}

/// One action option's value, as its declared [`OptionType`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// A boolean option.
    Bool(At<bool>),
    /// A string option.
    Text(At<String>),
    /// An integer option.
    Uint(At<u64>),
}

impl OptionValue {
    /// Where the value is in the file.
    pub(crate) fn span(&self) -> Range<usize> {
        match self {
            Self::Bool(v) => v.span.clone(),
            Self::Text(v) => v.span.clone(),
            Self::Uint(v) => v.span.clone(),
        }
    }
}

impl RuleSpec {
    /// The option `name`, if set.
    pub fn option(&self, name: &str) -> Option<&OptionValue> {
        self.options
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// A string option, if set.
    pub fn text(&self, name: &str) -> Option<&At<String>> {
        match self.option(name)? {
            OptionValue::Text(v) => Some(v),
            OptionValue::Bool(_) | OptionValue::Uint(_) => None,
        }
    }

    /// An integer option, if set.
    pub(crate) fn uint(&self, name: &str) -> Option<&At<u64>> {
        match self.option(name)? {
            OptionValue::Uint(v) => Some(v),
            OptionValue::Bool(_) | OptionValue::Text(_) => None,
        }
    }

    /// A boolean option, if set.
    pub(crate) fn flag(&self, name: &str) -> Option<&At<bool>> {
        match self.option(name)? {
            OptionValue::Bool(v) => Some(v),
            OptionValue::Text(_) | OptionValue::Uint(_) => None,
        }
    }

    /// The file the rule's spans point into: its preset, else the config file `src`.
    pub fn source<'a>(&self, src: Source<'a>) -> Source<'a> {
        match self.origin {
            Some(o) => o,
            None => src,
        }
    }

    /// Sets a string option (a `detect_actions` entry made concrete for one class).
    pub(crate) fn set_text(&mut self, name: &'static str, value: At<String>) {
        self.options.retain(|(n, _)| *n != name);
        self.options.push((name, OptionValue::Text(value)));
    }
}

const TOP: &[&str] = &[
    "server",
    "admin",
    "keys",
    "store",
    "audit",
    "state",
    "limits",
    "forward_proxy",
    "routes",
];
const SERVER: &[&str] = &["listen", "tls", "workers", "runtime"];
const TLS: &[&str] = &["cert", "key", "client_ca"];
const ADMIN: &[&str] = &["listen", "max_connections", "token_env"];
const KEYS: &[&str] = &["file", "env"];
const STORE: &[&str] = &[
    "kind",
    "path",
    "url_env",
    "ca",
    "max_connections",
    "cache_capacity",
    "cache_ttl_secs",
    "ledger_flush_secs",
    "subject_key_id",
];
const AUDIT: &[&str] = &["path"];
const STATE: &[&str] = &["dir"];
const LIMITS: &[&str] = &[
    "max_body_bytes",
    "max_decoded_bytes",
    "max_json_depth",
    "request_timeout_ms",
    "upstream_timeout_ms",
    "header_read_timeout_ms",
    "max_connections",
];
const FORWARD: &[&str] = &["listen", "ca_cert", "ca_key"];
const ROUTE: &[&str] = &[
    "name",
    "path_prefix",
    "host",
    "upstream",
    "upstream_ca",
    "preset",
    "domain",
    "subject",
    "detect",
    "detect_actions",
    "body_coding",
    "unknown_fields",
    "on_opt_out",
    "purpose",
    "rotate_pseudonyms_every",
    "max_body_bytes",
    "max_concurrent_requests",
    "rules",
    "response_rules",
];
/// Keys of a rule: `select`, `action`, `class`, `why` and every action option.
static RULE: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    ["select", "action", "class", "why"]
        .into_iter()
        .chain(option_keys().map(|(name, _)| name))
        .collect()
});
/// Keys of `[routes.detect_actions]`: `default`, a class, `text` (leaves whose data was
/// found inside free text) or `echo` (selected values recurring in unselected leaves).
static DETECT_ACTIONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    ["default", "echo", "text"]
        .into_iter()
        .chain(Class::ALL.iter().map(|c| c.as_str()))
        .collect()
});
/// Options of an inline `detect_actions` entry: a rule without `select` and `class`.
static DETECT_ACTION: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    std::iter::once("action")
        .chain(option_keys().map(|(name, _)| name))
        .collect()
});

/// Parses `src` into a spec, recording every problem in `d`.
pub fn read(src: Source<'_>, d: &mut Diagnostics) -> ConfigSpec {
    let (doc, errors) = DeTable::parse_recoverable(src.text);
    for e in &errors {
        // The parser's Display quotes the offending line; the message alone is enough.
        let span = e.span().unwrap_or(0..0);
        d.error(
            src,
            span,
            "invalid_toml",
            format!("invalid TOML: {}", e.message().trim()),
        );
    }
    if !errors.is_empty() {
        return ConfigSpec::default();
    }
    let top = TableReader::new(src, doc.get_ref(), doc.span(), "the top level", TOP);
    top.finish(d);

    let mut spec = ConfigSpec::default();
    if let Some(t) = top.table(d, "server", "[server]", SERVER) {
        spec.server.listen = t.string(d, "listen");
        spec.server.workers = t.uint(d, "workers");
        spec.server.runtime = t.string(d, "runtime");
        spec.server.tls = t.table(d, "tls", "[server.tls]", TLS).map(|tls| {
            let s = TlsSpec {
                span: tls.span.clone(),
                cert: tls.required_string(d, "cert"),
                key: tls.required_string(d, "key"),
                client_ca: tls.string(d, "client_ca"),
            };
            tls.finish(d);
            s
        });
        t.finish(d);
    }
    spec.admin = top.table(d, "admin", "[admin]", ADMIN).map(|t| {
        let s = AdminSpec {
            listen: t.string(d, "listen"),
            token_env: t.string(d, "token_env"),
            max_connections: t.uint(d, "max_connections"),
        };
        t.finish(d);
        s
    });
    if let Some(t) = top.table(d, "keys", "[keys]", KEYS) {
        spec.keys = KeysSpec {
            span: t.span.clone(),
            file: t.string(d, "file"),
            env: t.string(d, "env"),
        };
        t.finish(d);
    }
    spec.store = top.table(d, "store", "[store]", STORE).map(|t| {
        let s = StoreSpec {
            span: t.span.clone(),
            kind: t.string(d, "kind"),
            path: t.string(d, "path"),
            url_env: t.string(d, "url_env"),
            ca: t.string(d, "ca"),
            max_connections: t.uint(d, "max_connections"),
            cache_capacity: t.uint(d, "cache_capacity"),
            cache_ttl_secs: t.uint(d, "cache_ttl_secs"),
            ledger_flush_secs: t.uint(d, "ledger_flush_secs"),
            subject_key_id: t.string(d, "subject_key_id"),
        };
        t.finish(d);
        s
    });
    spec.audit = top.table(d, "audit", "[audit]", AUDIT).map(|t| {
        let s = AuditSpec {
            path: t.string(d, "path"),
        };
        t.finish(d);
        s
    });
    spec.state = top.table(d, "state", "[state]", STATE).map(|t| {
        let s = StateSpec {
            dir: t.string(d, "dir"),
        };
        t.finish(d);
        s
    });
    if let Some(t) = top.table(d, "limits", "[limits]", LIMITS) {
        spec.limits = LimitsSpec {
            max_body_bytes: t.uint(d, "max_body_bytes"),
            max_decoded_bytes: t.uint(d, "max_decoded_bytes"),
            max_json_depth: t.uint(d, "max_json_depth"),
            request_timeout_ms: t.uint(d, "request_timeout_ms"),
            upstream_timeout_ms: t.uint(d, "upstream_timeout_ms"),
            header_read_timeout_ms: t.uint(d, "header_read_timeout_ms"),
            max_connections: t.uint(d, "max_connections"),
        };
        t.finish(d);
    }
    spec.forward_proxy = top
        .table(d, "forward_proxy", "[forward_proxy]", FORWARD)
        .map(|t| {
            let s = ForwardProxySpec {
                span: t.span.clone(),
                listen: t.string(d, "listen"),
                ca_cert: t.string(d, "ca_cert"),
                ca_key: t.string(d, "ca_key"),
            };
            t.finish(d);
            s
        });
    for mut r in top.tables(d, "routes", "[[routes]]", ROUTE) {
        let name = r.required_string(d, "name");
        if let Some(n) = &name {
            r.rename(format!("route `{}`", n.value));
        }
        let route = RouteSpec {
            span: r.span.clone(),
            name,
            path_prefix: r.required_string(d, "path_prefix"),
            host: r.string(d, "host"),
            upstream: r.required_string(d, "upstream"),
            upstream_ca: r.string(d, "upstream_ca"),
            preset: r.string(d, "preset"),
            domain: r.string(d, "domain"),
            subject: r.string(d, "subject"),
            detect: r.string(d, "detect"),
            detect_actions: read_detect_actions(&r, d),
            body_coding: read_body_coding(&r, d, "[routes.body_coding]"),
            unknown_fields: r.string(d, "unknown_fields"),
            on_opt_out: r.string(d, "on_opt_out"),
            purpose: r.string(d, "purpose"),
            rotate_pseudonyms_every: r.string(d, "rotate_pseudonyms_every"),
            max_body_bytes: r.uint(d, "max_body_bytes"),
            max_concurrent_requests: r.uint(d, "max_concurrent_requests"),
            rules: read_rules(&r, d, "rules", "[[routes.rules]]"),
            response_rules: read_rules(&r, d, "response_rules", "[[routes.response_rules]]"),
        };
        r.finish(d);
        spec.routes.push(route);
    }
    spec
}

/// Reads the array of rule tables under `key` (`[[routes.rules]]` in proxy.toml, `[[rules]]`
/// in a preset); `what` names one in messages.
pub(super) fn read_rules(
    parent: &TableReader<'_, '_>,
    d: &mut Diagnostics,
    key: &str,
    what: &str,
) -> Vec<RuleSpec> {
    parent
        .tables(d, key, what, &RULE)
        .into_iter()
        .map(|t| {
            if !t.has("select") {
                d.error(
                    t.src,
                    t.span.clone(),
                    "missing_key",
                    "rule is missing `select`",
                )
                .help("add select = \"$.path.to.field\" (or a list of selectors)");
            }
            let rule = RuleSpec {
                span: t.span.clone(),
                select: t.strings(d, "select").unwrap_or_default(),
                action: t.required_string(d, "action"),
                options: read_options(&t, d),
                class: t.string(d, "class"),
                why: t.string(d, "why"),
                origin: None,
            };
            t.finish(d);
            rule
        })
        .collect()
}

/// Keys of `[routes.body_coding]`.
const BODY_CODING: &[&str] = &["param", "values", "sniff", "text"];

/// Reads `[routes.body_coding]` (`[body_coding]` in a preset, named `what`) from `parent`.
pub(super) fn read_body_coding(
    parent: &TableReader<'_, '_>,
    d: &mut Diagnostics,
    what: &str,
) -> Option<BodyCodingSpec> {
    let t = parent.table(d, "body_coding", what, BODY_CODING)?;
    let spec = BodyCodingSpec {
        span: t.span.clone(),
        param: t.string(d, "param"),
        values: t.string_map(d, "values").unwrap_or_default(),
        sniff: t.string(d, "sniff"),
        text: t.string(d, "text"),
        origin: None,
    };
    t.finish(d);
    Some(spec)
}

/// Reads `[routes.detect_actions]` (`[detect_actions]` in a preset) from `parent`.
pub(super) fn read_detect_actions(
    parent: &TableReader<'_, '_>,
    d: &mut Diagnostics,
) -> Option<DetectActionsSpec> {
    let t = parent.table(
        d,
        "detect_actions",
        "[routes.detect_actions]",
        &DETECT_ACTIONS,
    )?;
    let mut entries = Vec::new();
    for &key in DETECT_ACTIONS.iter() {
        match t.string_or_table(d, key, "[routes.detect_actions]", &DETECT_ACTION) {
            None => {}
            Some(Ok(action)) => entries.push((
                At {
                    value: key.to_owned(),
                    span: action.span.clone(),
                },
                RuleSpec {
                    span: action.span.clone(),
                    action: Some(action),
                    ..RuleSpec::default()
                },
            )),
            Some(Err(e)) => {
                let rule = RuleSpec {
                    span: e.span.clone(),
                    action: e.required_string(d, "action"),
                    options: read_options(&e, d),
                    ..RuleSpec::default()
                };
                e.finish(d);
                entries.push((
                    At {
                        value: key.to_owned(),
                        span: e.span.clone(),
                    },
                    rule,
                ));
            }
        }
    }
    let span = t.span.clone();
    t.finish(d);
    // Entries in file order, so diagnostics come out in the order the operator wrote them.
    entries.sort_by_key(|(k, _)| k.span.start);
    Some(DetectActionsSpec { span, entries })
}

/// Every action option set in a rule's table, read as its declaration types it.
fn read_options(t: &TableReader<'_, '_>, d: &mut Diagnostics) -> Vec<(&'static str, OptionValue)> {
    option_keys()
        .filter_map(|(name, ty)| {
            let value = match ty {
                OptionType::Bool => OptionValue::Bool(t.boolean(d, name)?),
                OptionType::Text => OptionValue::Text(t.string(d, name)?),
                OptionType::Uint => OptionValue::Uint(t.uint(d, name)?),
            };
            Some((name, value))
        })
        .collect()
}
