//! TLS material: the one place piigate builds rustls configurations — the listener's server
//! configuration, every client configuration (upstreams, PostgreSQL) and the forward proxy's
//! minted leaves ([`Minter`]). One crypto provider (ring) and one set of defaults, so the
//! listener, the minted leaves, the upstream connections and the store cannot drift apart.

mod mint;

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub use mint::Minter;

/// The ALPN protocols piigate offers as a server and asks for as a client, in preference
/// order: HTTP/2, then HTTP/1.1.
pub const HTTP_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why TLS material could not be used. Messages describe the problem, never the material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file or text is not PEM, or could not be read.
    #[error("{0}")]
    Pem(String),
    /// The PEM holds no certificate.
    #[error("no PEM certificate found")]
    NoCertificate,
    /// A certificate cannot serve as a trust anchor.
    #[error("a certificate cannot be used as a trust anchor")]
    BadAnchor,
    /// A client CA bundle leaves no usable anchor.
    #[error("no usable CA certificate")]
    NoUsableCa,
    /// The client-certificate verifier could not be built from the client CA.
    #[error("cannot build the client certificate verifier: {0}")]
    Verifier(String),
    /// rustls refused the configuration (a certificate and key that do not match).
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider of every configuration: ring (no second crypto backend, no C build).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file, in order.
///
/// # Errors
/// [`TlsError::Pem`] when the file cannot be read or parsed, [`TlsError::NoCertificate`] when
/// it holds none.
pub(crate) fn certs_from_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    non_empty(certs)
}

/// The certificates of PEM text, in order.
///
/// # Errors
/// As [`certs_from_file`].
pub(crate) fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    non_empty(certs)
}

fn non_empty(
    certs: Vec<CertificateDer<'static>>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certs)
}

/// The private key of a PEM file.
///
/// # Errors
/// [`TlsError::Pem`], naming the problem, not the file's contents.
pub(crate) fn key_from_file(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem(e.to_string()))
}

/// The one rustls client configuration builder: the ring provider, rustls' safe default
/// protocol versions (TLS 1.2 and 1.3), server certificates verified against the webpki
/// (Mozilla) roots plus `extra_roots` (a private CA), no client certificate. ALPN is the
/// caller's: an upstream asks for [`HTTP_ALPN`], PostgreSQL for none.
///
/// # Errors
/// [`TlsError::BadAnchor`] when one of `extra_roots` cannot be a trust anchor.
pub fn client_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = webpki_roots();
    let (_, bad) = roots.add_parsable_certificates(extra_roots);
    if bad > 0 {
        return Err(TlsError::BadAnchor);
    }
    Ok(client_config_with(roots))
}

/// [`client_config`] with the webpki roots alone.
pub(crate) fn default_client_config() -> Arc<ClientConfig> {
    client_config_with(webpki_roots())
}

fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn client_config_with(roots: RootCertStore) -> Arc<ClientConfig> {
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .expect("the ring provider supports the default protocol versions");
    Arc::new(cfg)
}

/// A server configuration for piigate's listeners and minted leaves: TLS 1.3 only, ALPN
/// [`HTTP_ALPN`], no 0-RTT (early data is replayable: a gateway that forwarded it could send
/// an event twice), presenting `chain` with `key`. With `client_roots`, clients must present a
/// certificate issued by one of them.
///
/// # Errors
/// [`TlsError::NoUsableCa`] / [`TlsError::Verifier`] for the client CA, [`TlsError::Rustls`]
/// when the chain and key do not form a usable pair.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<Vec<CertificateDer<'static>>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match client_roots {
        None => builder.with_no_client_auth(),
        Some(certs) => {
            let mut roots = RootCertStore::empty();
            let (_, bad) = roots.add_parsable_certificates(certs);
            if bad > 0 || roots.is_empty() {
                return Err(TlsError::NoUsableCa);
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_single_cert(chain, key)?;
    cfg.alpn_protocols = HTTP_ALPN.iter().map(|p| p.to_vec()).collect();
    cfg.max_early_data_size = 0;
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_configs_trust_the_webpki_roots_plus_extra_anchors() {
        assert!(client_config(Vec::new()).is_ok());
        let not_a_cert = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(matches!(
            client_config(vec![not_a_cert]),
            Err(TlsError::BadAnchor)
        ));
        assert!(matches!(
            certs_from_pem(b"no pem here"),
            Err(TlsError::NoCertificate)
        ));
    }

    #[test]
    fn server_configs_are_tls13_only_with_alpn_and_no_early_data() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let der = PrivateKeyDer::try_from(key.serialize_der()).expect("pkcs8");
        let cfg = server_config(vec![cert.der().clone()], der, None).expect("config");
        assert_eq!(cfg.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(cfg.max_early_data_size, 0);
        let other = rcgen::KeyPair::generate().expect("key");
        let mismatched = PrivateKeyDer::try_from(other.serialize_der()).expect("pkcs8");
        assert!(matches!(
            server_config(vec![cert.der().clone()], mismatched, None),
            Err(TlsError::Rustls(_))
        ));
        let no_ca = server_config(
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).expect("pkcs8"),
            Some(Vec::new()),
        );
        assert!(matches!(no_ca, Err(TlsError::NoUsableCa)));
    }
}
