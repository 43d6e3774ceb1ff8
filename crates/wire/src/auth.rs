//! Opening a host link: mutual TLS 1.3 with the cluster CA, then who is
//! who (see `docs/wire-protocol.md`):
//!
//! ```text
//! dialer  <-> acceptor   TLS 1.3 handshake, certificates both ways, each
//!                        checked against the cluster CA; the dialer also
//!                        checks that the acceptor's names node-A
//! dialer   -> Hello      { role, node_id }
//! acceptor -> Welcome    { node_id }   (or Error UNAUTHENTICATED, then close)
//! ```
//! A Hello claiming the node role is taken only if the dialer's certificate
//! names that node, so a client credential, or one node's, cannot stand in
//! for another node. TLS encrypts and authenticates every later frame: an
//! injected or altered byte fails its record and ends the link.
//!
//! We chose TLS over the HMAC challenge of wire version 1: that proved a
//! secret every CLI user held, and left the frames after it unprotected.

use std::time::Duration;

use bytes::Bytes;
use holdfast_types::limits::HANDSHAKE_BODY_BYTES_MAX;
use holdfast_types::{ErrorCode, HoldfastError, NodeId};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use crate::frame::FrameKind;
use crate::msg::{decode_error, encode_error, Hello, Role, Welcome};
use crate::mux::{read_frame, write_frame, ReadFrameError};
use crate::pki;
use crate::tls::Credential;

/// How long opening a link (TLS handshake, Hello, Welcome) may take before
/// the connection is dropped: also the acceptor's first-frame deadline.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 3000;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("certificate does not name node {0}")]
    NotThatNode(NodeId),
    #[error("peer refused us: {0}")]
    Refused(HoldfastError),
    #[error("handshake timed out after {HANDSHAKE_TIMEOUT_MS} ms")]
    Timeout,
    #[error("handshake failed: {0}")]
    Protocol(String),
    #[error("handshake I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ReadFrameError> for AuthError {
    fn from(e: ReadFrameError) -> Self {
        match e {
            ReadFrameError::Io(e) => AuthError::Io(e),
            other => AuthError::Protocol(other.to_string()),
        }
    }
}

/// Who is on the other end of an authenticated connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIdentity {
    pub role: Role,
    /// The peer's node id (0 for a client).
    pub node_id: NodeId,
}

async fn expect_frame<S: AsyncRead + Unpin>(s: &mut S, want: FrameKind) -> Result<Bytes, AuthError> {
    let f = read_frame(s, HANDSHAKE_BODY_BYTES_MAX).await?;
    if f.header.kind == FrameKind::Error as u8 {
        let e = decode_error(&f.body).map_err(|e| AuthError::Protocol(e.to_string()))?;
        return Err(AuthError::Refused(e));
    }
    if f.header.kind != want as u8 {
        return Err(AuthError::Protocol(format!("expected {want:?} frame, got kind {:#04x}", f.header.kind)));
    }
    Ok(f.body)
}

fn node_server_name(id: NodeId) -> ServerName<'static> {
    ServerName::try_from(pki::node_name(id)).expect("node names are valid DNS names")
}

/// Opens a link to node `acceptor` over `s` as `role` (`my_id` 0 for a
/// client). Fails unless the acceptor proves it is that node.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    cred: &Credential,
    role: Role,
    my_id: NodeId,
    acceptor: NodeId,
) -> Result<TlsStream<S>, AuthError> {
    let fut = async {
        let mut tls = TlsConnector::from(cred.client.clone()).connect(node_server_name(acceptor), s).await.map_err(AuthError::Tls)?;
        write_frame(&mut tls, FrameKind::Hello, 0, 0, &[&Hello { role, node_id: my_id }.encode()]).await?;
        let w = Welcome::decode(&expect_frame(&mut tls, FrameKind::Welcome).await?).map_err(|e| AuthError::Protocol(e.to_string()))?;
        // The certificate already named the node; a different id here is
        // a misconfigured node, worth a clear error.
        if w.node_id != acceptor {
            return Err(AuthError::Protocol(format!("node {acceptor} answered as node {}", w.node_id)));
        }
        Ok(TlsStream::Client(tls))
    };
    tokio::time::timeout(Duration::from_millis(HANDSHAKE_TIMEOUT_MS), fut).await.map_err(|_| AuthError::Timeout)?
}

/// Runs the acceptor side. On failure after TLS it tells the dialer why,
/// and the caller drops the connection.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    cred: &Credential,
    my_id: NodeId,
) -> Result<(TlsStream<S>, PeerIdentity), AuthError> {
    let fut = async {
        let mut tls = TlsAcceptor::from(cred.server.clone()).accept(s).await.map_err(AuthError::Tls)?;
        let hello = Hello::decode(&expect_frame(&mut tls, FrameKind::Hello).await?).map_err(|e| AuthError::Protocol(e.to_string()))?;
        let peer = match hello.role {
            Role::Node => {
                let named = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).is_some_and(|leaf| {
                    webpki::EndEntityCert::try_from(leaf)
                        .is_ok_and(|ee| ee.verify_is_valid_for_subject_name(&node_server_name(hello.node_id)).is_ok())
                });
                if !named {
                    let e = HoldfastError::new(ErrorCode::Unauthenticated, format!("certificate does not name node {}", hello.node_id));
                    let _ = write_frame(&mut tls, FrameKind::Error, 0, 0, &[&encode_error(&e)]).await;
                    return Err(AuthError::NotThatNode(hello.node_id));
                }
                PeerIdentity { role: Role::Node, node_id: hello.node_id }
            }
            Role::Client => PeerIdentity { role: Role::Client, node_id: 0 },
        };
        write_frame(&mut tls, FrameKind::Welcome, 0, 0, &[&Welcome { node_id: my_id }.encode()]).await?;
        Ok((TlsStream::Server(tls), peer))
    };
    tokio::time::timeout(Duration::from_millis(HANDSHAKE_TIMEOUT_MS), fut).await.map_err(|_| AuthError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{ClusterCa, Subject};

    fn cred(ca: &ClusterCa, s: Subject) -> Credential {
        let p = ca.issue(s).unwrap();
        Credential::from_pem(ca.cert_pem().as_bytes(), p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn nodes_of_one_ca_authenticate_each_other() {
        let ca = ClusterCa::generate().unwrap();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let n7 = cred(&ca, Subject::Node(7));
        let acc = tokio::spawn(async move { accept(b, &n7, 7).await.map(|(_, p)| p) });
        dial(a, &cred(&ca, Subject::Node(3)), Role::Node, 3, 7).await.unwrap();
        assert_eq!(acc.await.unwrap().unwrap(), PeerIdentity { role: Role::Node, node_id: 3 });
    }

    #[tokio::test]
    async fn a_client_credential_cannot_claim_the_node_role() {
        let ca = ClusterCa::generate().unwrap();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let n1 = cred(&ca, Subject::Node(1));
        let acc = tokio::spawn(async move { accept(b, &n1, 1).await.map(|(_, p)| p) });
        let r = dial(a, &cred(&ca, Subject::Client), Role::Node, 2, 1).await;
        assert!(matches!(&r, Err(AuthError::Refused(e)) if e.code == ErrorCode::Unauthenticated), "{r:?}");
        assert!(matches!(acc.await.unwrap(), Err(AuthError::NotThatNode(2))));
    }

    #[tokio::test]
    async fn one_node_cannot_pose_as_another() {
        let ca = ClusterCa::generate().unwrap();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let n1 = cred(&ca, Subject::Node(1));
        let acc = tokio::spawn(async move { accept(b, &n1, 1).await.map(|(_, p)| p) });
        assert!(dial(a, &cred(&ca, Subject::Node(3)), Role::Node, 2, 1).await.is_err());
        assert!(matches!(acc.await.unwrap(), Err(AuthError::NotThatNode(2))));
    }

    #[tokio::test]
    async fn a_dialer_refuses_an_acceptor_that_is_not_the_node_it_dialed() {
        let ca = ClusterCa::generate().unwrap();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let n1 = cred(&ca, Subject::Node(1));
        let acc = tokio::spawn(async move { accept(b, &n1, 1).await.map(|(_, p)| p) });
        let r = dial(a, &cred(&ca, Subject::Client), Role::Client, 0, 2).await;
        assert!(matches!(r, Err(AuthError::Tls(_))), "{r:?}");
        assert!(acc.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn another_clusters_credential_fails_both_ways() {
        let (ours, theirs) = (ClusterCa::generate().unwrap(), ClusterCa::generate().unwrap());
        let (a, b) = tokio::io::duplex(64 * 1024);
        let n1 = cred(&ours, Subject::Node(1));
        let acc = tokio::spawn(async move { accept(b, &n1, 1).await.map(|(_, p)| p) });
        assert!(matches!(dial(a, &cred(&theirs, Subject::Client), Role::Client, 0, 1).await, Err(AuthError::Tls(_))));
        assert!(acc.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_ca_restored_from_its_key_signs_certificates_the_old_ca_file_accepts() {
        let ca = ClusterCa::generate().unwrap();
        let again = ClusterCa::from_key_pem(&ca.key_pem()).unwrap();
        let p = again.issue(Subject::Node(4)).unwrap();
        let n4 = Credential::from_pem(ca.cert_pem().as_bytes(), p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let acc = tokio::spawn(async move { accept(b, &n4, 4).await.map(|(_, p)| p) });
        dial(a, &cred(&ca, Subject::Client), Role::Client, 0, 4).await.unwrap();
        assert_eq!(acc.await.unwrap().unwrap(), PeerIdentity { role: Role::Client, node_id: 0 });
    }
}
