//! TLS material named by the config — the listener's certificate and client CA, each route's
//! upstream CA, the forward proxy's interception CA — loaded and built through [`crate::tls`].

use std::path::PathBuf;
use std::sync::Arc;

use super::listeners::socket;
use crate::config::diag::{Diagnostics, Source};
use crate::config::reader::At;
use crate::config::spec::TlsSpec;
use crate::tls::{self, TlsError};

pub(super) fn forward_proxy(
    f: &crate::config::spec::ForwardProxySpec,
    src: Source<'_>,
    resolve: &dyn Fn(&str) -> PathBuf,
    d: &mut Diagnostics,
) -> Option<crate::config::ForwardProxy> {
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
        Ok(m) => Some(crate::config::ForwardProxy {
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

/// `[server.tls]`: the listener's certificate chain, key and optional client CA, built into
/// the listener's server configuration by [`crate::tls::server_config`].
pub(super) fn server_tls(
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
pub(super) fn client_tls(
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
