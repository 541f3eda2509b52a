//! Leaf certificates minted on the fly for forward-proxy interception.
//!
//! A client that uses piigate as its `HTTPS_PROXY` trusts the interception CA; for each
//! CONNECT target that a route names, piigate presents a short-lived leaf for that host signed
//! by the CA. Only configured hosts are ever minted, so the cache is bounded by the route table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How long a minted leaf is valid; it is re-minted after half of that.
const LEAF_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The interception CA and the leaves minted from it.
pub struct Minter {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    leaf_key: KeyPair,
    cache: Mutex<HashMap<String, (Arc<rustls::ServerConfig>, SystemTime)>>,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Minter(<redacted>)")
    }
}

impl Minter {
    /// Loads the CA certificate and key (PEM) and generates the leaf key pair.
    ///
    /// # Errors
    /// A description of what is wrong with the CA material (never the material itself).
    pub fn from_pem(ca_cert_pem: &str, ca_key_pem: &str) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        let key =
            KeyPair::from_pem(ca_key_pem).map_err(|e| format!("the CA key cannot be used: {e}"))?;
        let ca_der = CertificateDer::from_pem_slice(ca_cert_pem.as_bytes())
            .map_err(|e| format!("the CA certificate is not PEM: {e}"))?;
        let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, key)
            .map_err(|e| format!("the CA certificate cannot be used: {e}"))?;
        let leaf_key =
            KeyPair::generate().map_err(|e| format!("cannot generate the leaf key: {e}"))?;
        Ok(Self {
            issuer,
            ca_der,
            leaf_key,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// A TLS 1.3 server configuration presenting a leaf for `host` (cached).
    ///
    /// # Errors
    /// When signing fails.
    pub fn server_config(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, String> {
        let now = SystemTime::now();
        if let Some((cfg, minted)) = self
            .cache
            .lock()
            .map_err(|_| "mint cache poisoned")?
            .get(host)
            && now.duration_since(*minted).unwrap_or_default() < LEAF_LIFETIME / 2
        {
            return Ok(Arc::clone(cfg));
        }
        let cfg = self.mint(host, now)?;
        self.cache
            .lock()
            .map_err(|_| "mint cache poisoned")?
            .insert(host.to_owned(), (Arc::clone(&cfg), now));
        Ok(cfg)
    }

    fn mint(&self, host: &str, now: SystemTime) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut params =
            CertificateParams::new(vec![host.to_owned()]).map_err(|e| e.to_string())?;
        params.distinguished_name.push(DnType::CommonName, host);
        params.not_before = (now - Duration::from_secs(3600)).into();
        params.not_after = (now + LEAF_LIFETIME).into();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params
            .signed_by(&self.leaf_key, &self.issuer)
            .map_err(|e| e.to_string())?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        let cfg = super::server_config(vec![leaf.der().clone(), self.ca_der.clone()], key, None)
            .map_err(|e| e.to_string())?;
        Ok(cfg)
    }
}
