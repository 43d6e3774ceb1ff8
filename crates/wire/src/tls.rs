//! A host's TLS credential: the cluster CA it trusts, and its own
//! certificate and key (made by [`crate::pki`]).
//!
//! Every host link is TLS 1.3 with certificates on both sides, checked
//! against the cluster CA alone, so every frame after the handshake is
//! encrypted and authenticated, and an injected or altered byte ends the
//! link. Which node a certificate speaks for is checked in [`crate::auth`].

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

/// Where a host's credential lives: `[tls]` in `node.toml` and
/// `cluster.toml` (there relative to the cluster directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The cluster CA's certificate (PEM): the only one trusted.
    pub ca: PathBuf,
    /// This host's certificate (PEM), signed by the CA.
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The same files under `dir`, for paths kept relative to it.
    pub fn under(&self, dir: &Path) -> TlsFiles {
        TlsFiles { ca: dir.join(&self.ca), cert: dir.join(&self.cert), key: dir.join(&self.key) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path} is readable by other users (mode {mode:04o}); it holds a private key: chmod 600 it")]
    KeyMode { path: String, mode: u32 },
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// What a host presents and trusts on its links. Cheap to clone.
#[derive(Clone)]
pub struct Credential {
    pub(crate) client: Arc<ClientConfig>,
    pub(crate) server: Arc<ServerConfig>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential { .. }")
    }
}

// ring is deprecated in rustls for lacking post-quantum key exchange; we
// keep it because aws-lc-rs needs CMake to build, and links stay inside
// the cluster's own network. Revisit when ring gains ML-KEM.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Credential {
    /// Reads the CA certificate, this host's certificate and its key. The
    /// key must be its owner's alone.
    pub fn load(files: &TlsFiles) -> Result<Credential, CredentialError> {
        let (ca, cert, key) = (files.ca.as_path(), files.cert.as_path(), files.key.as_path());
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| CredentialError::File { path: p.display().to_string(), message: e.to_string() })
        };
        let mode = std::fs::metadata(key)
            .map_err(|e| CredentialError::File { path: key.display().to_string(), message: e.to_string() })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(CredentialError::KeyMode { path: key.display().to_string(), mode: mode & 0o7777 });
        }
        Credential::from_pem(&read(ca)?, &read(cert)?, &read(key)?).map_err(|e| match e {
            CredentialError::Tls(m) => CredentialError::Tls(format!("{} / {} / {}: {m}", ca.display(), cert.display(), key.display())),
            other => other,
        })
    }

    pub fn from_pem(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<Credential, CredentialError> {
        let tls = |m: String| CredentialError::Tls(m);
        let mut roots = RootCertStore::empty();
        let mut n = 0;
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(c.map_err(|e| tls(format!("CA certificate: {e}")))?).map_err(|e| tls(format!("CA certificate: {e}")))?;
            n += 1;
        }
        if n == 0 {
            return Err(tls("no CA certificate in the CA file".into()));
        }
        let roots = Arc::new(roots);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| tls(format!("certificate: {e}")))?;
        if chain.is_empty() {
            return Err(tls("no certificate in the certificate file".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| tls(format!("private key: {e}")))?;
        let versions = &[&rustls::version::TLS13];
        let client = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| tls(e.to_string()))?
            .with_root_certificates(roots.clone())
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| tls(format!("certificate and key: {e}")))?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider()).build().map_err(|e| tls(e.to_string()))?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| tls(format!("certificate and key: {e}")))?;
        Ok(Credential { client: Arc::new(client), server: Arc::new(server) })
    }
}
