//! The cluster's certificate authority: `init` makes one, and it signs a
//! certificate for every node and one for the command-line clients.
//!
//! A certificate's subject alternative name is its identity on host links
//! (`docs/wire-protocol.md`): `node-N.holdfast.invalid` for node N,
//! `client.holdfast.invalid` for a client. The `.invalid` top-level domain
//! is reserved (RFC 2606), so no public certificate can carry these names,
//! and a client certificate names no node, so it cannot claim the node role.
//! The CA and every certificate is ECDSA P-256.

use std::path::Path;

/// SAN suffix of every Holdfast identity.
const NAME_SUFFIX: &str = ".holdfast.invalid";
const CA_COMMON_NAME: &str = "Holdfast cluster CA";

/// The DNS name in node `id`'s certificate.
pub fn node_name(id: u64) -> String {
    format!("node-{id}{NAME_SUFFIX}")
}

/// The DNS name in a client's certificate.
pub fn client_name() -> String {
    format!("client{NAME_SUFFIX}")
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Who a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Node(u64),
    Client,
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct IssuedPem {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuedPem { .. }")
    }
}

impl IssuedPem {
    /// Writes `CERT` (0644: public) and `KEY` (0600: the holder's alone);
    /// refuses to overwrite either.
    pub fn write(&self, cert: &Path, key: &Path) -> Result<(), PkiError> {
        write_new(cert, self.cert_pem.as_bytes(), 0o644)?;
        write_new(key, self.key_pem.as_bytes(), 0o600)
    }
}

/// Creates `path` with `mode` from the start, so a private key is never
/// readable by others, not even for a moment.
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PkiError::Io { path: path.display().to_string(), source };
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)
}

/// The CA: its certificate and the key that signs.
pub struct ClusterCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl ClusterCa {
    pub fn generate() -> Result<ClusterCa, PkiError> {
        let key = rcgen::KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        Ok(ClusterCa { cert, key })
    }

    /// The CA from its key alone: the certificate is made again from the
    /// same name and key, which is all a signature by it depends on.
    pub fn from_key_pem(key_pem: &str) -> Result<ClusterCa, PkiError> {
        let key = rcgen::KeyPair::from_pem(key_pem)?;
        let cert = ca_params().self_signed(&key)?;
        Ok(ClusterCa { cert, key })
    }

    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A new key and a certificate for `subject`, signed by this CA.
    pub fn issue(&self, subject: Subject) -> Result<IssuedPem, PkiError> {
        let name = match subject {
            Subject::Node(id) => node_name(id),
            Subject::Client => client_name(),
        };
        let mut p = rcgen::CertificateParams::new(vec![name.clone()])?;
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        // A node both accepts links and dials them; a client only dials.
        p.extended_key_usages = match subject {
            Subject::Node(_) => vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth],
            Subject::Client => vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth],
        };
        let key = rcgen::KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.cert, &self.key)?;
        Ok(IssuedPem { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

fn ca_params() -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::default();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.distinguished_name.push(rcgen::DnType::CommonName, CA_COMMON_NAME);
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    p
}
