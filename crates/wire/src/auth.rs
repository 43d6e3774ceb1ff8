//! Mutual authentication with the cluster secret: an HMAC-SHA256 challenge.
//!
//! We chose an HMAC challenge over mutual TLS: every host already shares one
//! secret written by `holdfast up`/`init`, and it keeps a CA, certificate
//! issuance and a TLS stack out of the build. The exchange (see
//! `docs/wire-protocol.md`):
//!
//! ```text
//! dialer   -> Hello     { role, node_id, nonce_d }
//! acceptor -> Challenge { node_id, nonce_a, proof_a = HMAC(secret, "holdfast/1 acceptor" | transcript) }
//! dialer   -> Proof     { proof_d = HMAC(secret, "holdfast/1 dialer" | transcript) }
//! acceptor -> Welcome   {}            (or Error UNAUTHENTICATED, then close)
//! transcript = role u8 | dialer node_id u64 | acceptor node_id u64 | nonce_d | nonce_a
//! ```
//! Both sides prove the secret over fresh nonces from both sides, so a
//! recorded exchange cannot be replayed, and the distinct labels stop a
//! proof from one side being reflected back as the other's. Nothing but
//! these four frames is read before the proof checks out.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use holdfast_types::limits::HANDSHAKE_BODY_BYTES_MAX;
use holdfast_types::{ErrorCode, HoldfastError, NodeId};
use rand::RngCore;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame::FrameKind;
use crate::msg::{decode_error, encode_error, Challenge, Hello, Role, NONCE_BYTES, PROOF_BYTES};
use crate::mux::{read_frame, write_frame, ReadFrameError};

pub const SECRET_BYTES: usize = 32;
/// How long a handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 3000;

/// The cluster secret. Debug output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret([u8; SECRET_BYTES]);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    pub fn generate() -> ClusterSecret {
        let mut b = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut b);
        ClusterSecret(b)
    }

    pub fn from_bytes(b: [u8; SECRET_BYTES]) -> ClusterSecret {
        ClusterSecret(b)
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Result<ClusterSecret, String> {
        let t = text.trim();
        if t.len() != SECRET_BYTES * 2 || !t.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("cluster secret must be {} hex digits", SECRET_BYTES * 2));
        }
        let mut b = [0u8; SECRET_BYTES];
        for (i, chunk) in t.as_bytes().chunks(2).enumerate() {
            let s = std::str::from_utf8(chunk).map_err(|e| e.to_string())?;
            b[i] = u8::from_str_radix(s, 16).map_err(|e| e.to_string())?;
        }
        Ok(ClusterSecret(b))
    }

    pub fn load(path: &Path) -> Result<ClusterSecret, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read cluster secret {}: {e}", path.display()))?;
        ClusterSecret::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn proof(&self, label: &[u8], transcript: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label);
        mac.update(transcript);
        mac
    }
}

const LABEL_ACCEPTOR: &[u8] = b"holdfast/1 acceptor";
const LABEL_DIALER: &[u8] = b"holdfast/1 dialer";

fn transcript(role: Role, dialer: NodeId, acceptor: NodeId, nonce_d: &[u8], nonce_a: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(1 + 16 + 2 * NONCE_BYTES);
    t.push(role as u8);
    t.extend_from_slice(&dialer.to_le_bytes());
    t.extend_from_slice(&acceptor.to_le_bytes());
    t.extend_from_slice(nonce_d);
    t.extend_from_slice(nonce_a);
    t
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("peer did not prove the cluster secret")]
    BadProof,
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

fn nonce() -> [u8; NONCE_BYTES] {
    let mut n = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
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

/// Runs the dialer side. Returns the acceptor's node id.
pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: &ClusterSecret,
    role: Role,
    my_id: NodeId,
) -> Result<NodeId, AuthError> {
    let fut = async {
        let nonce_d = nonce();
        let hello = Hello { role, node_id: my_id, nonce: nonce_d };
        write_frame(s, FrameKind::Hello, 0, 0, &[&hello.encode()]).await?;
        let ch = Challenge::decode(&expect_frame(s, FrameKind::Challenge).await?)
            .map_err(|e| AuthError::Protocol(e.to_string()))?;
        let t = transcript(role, my_id, ch.node_id, &nonce_d, &ch.nonce);
        secret.proof(LABEL_ACCEPTOR, &t).verify_slice(&ch.proof).map_err(|_| AuthError::BadProof)?;
        let proof: [u8; PROOF_BYTES] = secret.proof(LABEL_DIALER, &t).finalize().into_bytes().into();
        write_frame(s, FrameKind::Proof, 0, 0, &[&proof]).await?;
        expect_frame(s, FrameKind::Welcome).await?;
        Ok(ch.node_id)
    };
    tokio::time::timeout(Duration::from_millis(HANDSHAKE_TIMEOUT_MS), fut).await.map_err(|_| AuthError::Timeout)?
}

/// Runs the acceptor side. On failure it tells the dialer why (when the
/// stream still works) and the caller closes the connection.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: &ClusterSecret,
    my_id: NodeId,
) -> Result<PeerIdentity, AuthError> {
    let fut = async {
        let hello = Hello::decode(&expect_frame(s, FrameKind::Hello).await?)
            .map_err(|e| AuthError::Protocol(e.to_string()))?;
        let nonce_a = nonce();
        let t = transcript(hello.role, hello.node_id, my_id, &hello.nonce, &nonce_a);
        let proof: [u8; PROOF_BYTES] = secret.proof(LABEL_ACCEPTOR, &t).finalize().into_bytes().into();
        let ch = Challenge { node_id: my_id, nonce: nonce_a, proof };
        write_frame(s, FrameKind::Challenge, 0, 0, &[&ch.encode()]).await?;
        let body = expect_frame(s, FrameKind::Proof).await?;
        if secret.proof(LABEL_DIALER, &t).verify_slice(&body).is_err() {
            let e = HoldfastError::new(ErrorCode::Unauthenticated, "proof of the cluster secret did not verify");
            let _ = write_frame(s, FrameKind::Error, 0, 0, &[&encode_error(&e)]).await;
            return Err(AuthError::BadProof);
        }
        write_frame(s, FrameKind::Welcome, 0, 0, &[]).await?;
        Ok(PeerIdentity { role: hello.role, node_id: hello.node_id })
    };
    tokio::time::timeout(Duration::from_millis(HANDSHAKE_TIMEOUT_MS), fut).await.map_err(|_| AuthError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_secret_authenticates() {
        let secret = ClusterSecret::generate();
        let (mut a, mut b) = tokio::io::duplex(4096);
        let s2 = secret.clone();
        let acc = tokio::spawn(async move { accept(&mut b, &s2, 7).await });
        let acceptor = dial(&mut a, &secret, Role::Node, 3).await.unwrap();
        assert_eq!(acceptor, 7);
        let peer = acc.await.unwrap().unwrap();
        assert_eq!(peer, PeerIdentity { role: Role::Node, node_id: 3 });
    }

    #[tokio::test]
    async fn wrong_secret_fails_both_ways() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let good = ClusterSecret::generate();
        let acc = tokio::spawn(async move { accept(&mut b, &good, 1).await });
        let r = dial(&mut a, &ClusterSecret::generate(), Role::Client, 0).await;
        // The dialer notices the acceptor cannot prove *our* secret first.
        assert!(matches!(r, Err(AuthError::BadProof)), "{r:?}");
        drop(a);
        assert!(acc.await.unwrap().is_err());
    }

    #[test]
    fn secret_hex_round_trip() {
        let s = ClusterSecret::generate();
        assert_eq!(ClusterSecret::from_hex(&s.to_hex()).unwrap(), s);
        assert!(ClusterSecret::from_hex("abc").is_err());
        assert!(ClusterSecret::from_hex(&"zz".repeat(32)).is_err());
    }
}
