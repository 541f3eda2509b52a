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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testing::{ROUTE, compile_in};

    /// A self-signed CA (certificate and key PEM) written to `dir`.
    fn ca(dir: &Path) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("cert");
        std::fs::write(dir.join("ca.pem"), cert.pem()).expect("write");
        std::fs::write(dir.join("ca.key"), key.serialize_pem()).expect("write");
    }

    fn lines(text: &str, dir: &Path) -> Vec<String> {
        compile_in(text, dir, &[]).lines()
    }

    #[test]
    fn listener_material_that_cannot_be_loaded_is_reported_per_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("empty.pem"), "").expect("write");
        let text = format!(
            "[server.tls]\ncert = \"absent.pem\"\nkey = \"empty.pem\"\nclient_ca = \"absent-ca.pem\"\n{ROUTE}"
        );
        let got = lines(&text, dir.path());
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].starts_with("2:8 error[bad_tls]: cannot load certificate chain `absent.pem`: "),
            "{got:#?}"
        );
        assert!(
            got[1].starts_with("3:7 error[bad_tls]: cannot load private key `empty.pem`: "),
            "{got:#?}"
        );
        assert!(
            got[2].starts_with("4:13 error[bad_tls]: cannot load client CA `absent-ca.pem`: "),
            "{got:#?}"
        );
    }

    #[test]
    fn a_certificate_and_a_key_that_are_not_a_pair_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        ca(dir.path());
        let other = rcgen::KeyPair::generate().expect("key");
        std::fs::write(dir.path().join("other.key"), other.serialize_pem()).expect("write");
        let text = format!("[server.tls]\ncert = \"ca.pem\"\nkey = \"other.key\"\n{ROUTE}");
        let got = lines(&text, dir.path());
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].starts_with(
                "1:1 error[bad_tls]: certificate and private key do not form a usable pair"
            ),
            "{got:#?}"
        );
        let text = format!("[server.tls]\ncert = \"ca.pem\"\nkey = \"ca.key\"\n{ROUTE}");
        let c = compile_in(&text, dir.path(), &[]);
        assert_eq!(c.lines(), Vec::<String>::new());
        assert!(c.config.expect("compiles").server.tls.is_some());
    }

    #[test]
    fn the_forward_proxy_needs_both_halves_of_a_usable_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        ca(dir.path());
        std::fs::write(dir.path().join("junk.pem"), "not pem").expect("write");
        let missing = format!("[forward_proxy]\nca_cert = \"ca.pem\"\n{ROUTE}");
        assert_eq!(
            lines(&missing, dir.path()),
            ["1:1 error[missing_key]: [forward_proxy] is missing `ca_key`"]
        );
        let junk = format!("[forward_proxy]\nca_cert = \"junk.pem\"\nca_key = \"ca.key\"\n{ROUTE}");
        let got = lines(&junk, dir.path());
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].starts_with("1:1 error[bad_tls]: interception CA: "),
            "{got:#?}"
        );
        let unreadable =
            format!("[forward_proxy]\nca_cert = \"ca.pem\"\nca_key = \"absent.key\"\n{ROUTE}");
        let got = lines(&unreadable, dir.path());
        assert!(
            got[0].starts_with("3:10 error[unreadable_file]: cannot read `absent.key`: "),
            "{got:#?}"
        );
        let good = format!(
            "[forward_proxy]\nca_cert = \"ca.pem\"\nca_key = \"ca.key\"\n{ROUTE}host = \"api.example.com\"\n"
        );
        let c = compile_in(&good, dir.path(), &[]);
        assert_eq!(c.lines(), Vec::<String>::new());
        assert!(c.config.expect("compiles").forward_proxy.is_some());
    }

    #[test]
    fn an_upstream_ca_must_load_and_be_a_usable_anchor() {
        let dir = tempfile::tempdir().expect("tempdir");
        ca(dir.path());
        std::fs::write(dir.path().join("junk.pem"), "not pem").expect("write");
        let text = |ca: &str| format!("{ROUTE}upstream_ca = \"{ca}\"\n");
        let got = lines(&text("absent.pem"), dir.path());
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].starts_with("5:15 error[bad_tls]: cannot load upstream CA `absent.pem`: "),
            "{got:#?}"
        );
        let got = lines(&text("junk.pem"), dir.path());
        assert!(
            got[0].starts_with("5:15 error[bad_tls]: cannot load upstream CA `junk.pem`: "),
            "{got:#?}"
        );
        assert_eq!(lines(&text("ca.pem"), dir.path()), Vec::<String>::new());
    }
}
