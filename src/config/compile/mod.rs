//! Spec → runtime types. Collects every diagnostic; never stops at the first error.

mod actions;
mod body_coding;
mod detect;
mod keys;
mod limits;
mod listeners;
mod routes;
mod rules;
mod store;
#[cfg(test)]
mod testing;
mod tls;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::{Diagnostics, Source};
use super::reader::At;
use super::spec::ConfigSpec;
use super::{
    ADMIN_MAX_CONNECTIONS, Admin, AdminToken, Config, DEFAULT_ADMIN_TOKEN_ENV, Env, Runtime, Server,
};
use crate::keys::Keyring;
use keys::load_keyring;
use limits::limits;
use listeners::socket;
use routes::compile_route;
use store::store_settings;
use tls::{forward_proxy, server_tls};

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
        Some(("work_stealing", _)) => Runtime::WorkStealing,
        None | Some(("per_core", _)) => Runtime::PerCore,
        Some((_, span)) => {
            d.error(
                src,
                span,
                "bad_value",
                "`runtime` must be \"work_stealing\" or \"per_core\"",
            );
            Runtime::PerCore
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

#[cfg(test)]
mod tests {
    use super::testing::{ROUTE, compile, compile_in, diagnose};

    #[test]
    fn server_settings_are_checked_at_their_values() {
        let text = format!("[server]\nworkers = 0\nruntime = \"green\"\n{ROUTE}");
        assert_eq!(
            diagnose(&text),
            [
                "2:11 error[bad_value]: `workers` must be between 1 and 1024",
                "3:11 error[bad_value]: `runtime` must be \"work_stealing\" or \"per_core\"",
            ]
        );
    }

    #[test]
    fn an_admin_listener_off_loopback_needs_a_token() {
        let text = format!("[admin]\nlisten = \"0.0.0.0:9901\"\nmax_connections = 5000\n{ROUTE}");
        let c = compile(&text);
        assert_eq!(
            c.lines(),
            [
                "2:10 error[admin_without_token]: the admin listener is not on loopback, so it \
                 needs a bearer token in $PIIGATE_ADMIN_TOKEN",
                "3:19 error[bad_value]: `max_connections` must be between 1 and 4096",
            ]
        );
        assert!(
            c.help("admin_without_token")
                .is_some_and(|h| h.contains("PIIGATE_ADMIN_TOKEN"))
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!("[admin]\nlisten = \"0.0.0.0:9901\"\ntoken_env = \"T\"\n{ROUTE}");
        let c = compile_in(&text, dir.path(), &[("T", "s3cret-token")]);
        assert_eq!(c.lines(), Vec::<String>::new());
        let admin = c.config.expect("compiles").admin.expect("admin");
        assert!(admin.token.is_some_and(|t| t.matches(b"s3cret-token")));
    }

    #[test]
    fn routes_are_unique_by_name_and_by_host_and_path() {
        let second = ROUTE.replace("/r\"", "/s\"");
        let third = ROUTE.replace("\"r\"", "\"t\"");
        assert_eq!(
            diagnose(&format!("{ROUTE}{second}{third}")),
            [
                "6:8 error[duplicate_route]: route name `r` is used twice",
                "11:15 error[duplicate_route]: route `t` has the same host and path_prefix as \
                 an earlier route",
            ]
        );
    }

    #[test]
    fn a_config_that_cannot_do_anything_useful_says_so() {
        assert_eq!(
            diagnose(""),
            [
                "1:1 warning[no_routes]: no [[routes]] are configured: every request will be \
              answered 404"
            ]
        );
        let c = compile(ROUTE);
        let example: Vec<_> = c
            .diagnostics
            .iter()
            .filter(|d| d.code == "example_keys")
            .collect();
        assert_eq!(example.len(), 1);
        assert!(
            example[0]
                .message
                .starts_with("PUBLIC EXAMPLE KEYS IN USE (k2, k1, k0)"),
            "{}",
            example[0].message
        );
    }
}
