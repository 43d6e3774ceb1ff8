//! The node's peer connections as seen by replication and the directory.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use holdfast_directory::RaftTransport;
use holdfast_replication::engine::BoxFut;
use holdfast_replication::PeerTransport;
use holdfast_types::{ErrorCode, HoldfastError, NodeId};
use holdfast_wire::msg::{ComponentWrite, Fence};
use holdfast_wire::{Conn, FrameKind};
use tokio::sync::OwnedSemaphorePermit;

use crate::peers::Peers;

/// How long replication waits to get a connection to a peer.
const CONNECT_WAIT_MS: u64 = 1000;
const RAFT_RPC_TIMEOUT_MS: u64 = 2000;
const FENCE_TIMEOUT_MS: u64 = 5000;
const WRITE_TIMEOUT_MS: u64 = 2000;

pub struct PeerLink {
    pub peers: Arc<Peers>,
}

fn expect_ok(kind: u8, node: NodeId) -> Result<(), HoldfastError> {
    if kind == FrameKind::Ok as u8 {
        Ok(())
    } else {
        Err(HoldfastError::new(ErrorCode::BadFrame, format!("node {node} answered with frame kind {kind:#04x}")))
    }
}

impl PeerTransport for PeerLink {
    type Permit = (Arc<Conn>, OwnedSemaphorePermit);

    fn reserve(&self, node: NodeId) -> BoxFut<Result<Self::Permit, HoldfastError>> {
        let peers = self.peers.clone();
        Box::pin(async move {
            let conn = peers.get(node, Duration::from_millis(CONNECT_WAIT_MS)).await?;
            let permit = conn.reserve().await.map_err(|e| e.to_holdfast())?;
            Ok((conn, permit))
        })
    }

    fn send_write(&self, permit: Self::Permit, node: NodeId, w: &ComponentWrite) -> BoxFut<Result<(), HoldfastError>> {
        let (conn, permit) = permit;
        let chunks = vec![Bytes::copy_from_slice(&w.encode_fixed()), w.data.clone()];
        let pending = conn.send_request(permit, FrameKind::ComponentWrite, chunks);
        Box::pin(async move {
            let f = pending.map_err(|e| e.to_holdfast())?.wait(Duration::from_millis(WRITE_TIMEOUT_MS)).await.map_err(|e| e.to_holdfast())?;
            expect_ok(f.header.kind, node)
        })
    }

    fn send_fence(&self, node: NodeId, f: Fence) -> BoxFut<Result<(), HoldfastError>> {
        let peers = self.peers.clone();
        Box::pin(async move {
            let conn = peers.get(node, Duration::from_millis(CONNECT_WAIT_MS)).await?;
            let r = conn.call(FrameKind::Fence, vec![f.encode()], Duration::from_millis(FENCE_TIMEOUT_MS)).await;
            let fr = r.map_err(|e| e.to_holdfast())?;
            expect_ok(fr.header.kind, node)
        })
    }
}

impl RaftTransport for PeerLink {
    fn call(&self, target: NodeId, body: Bytes) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Bytes, String>> + Send>> {
        let peers = self.peers.clone();
        Box::pin(async move {
            let conn = peers.get(target, Duration::from_millis(CONNECT_WAIT_MS)).await.map_err(|e| e.to_string())?;
            let f = conn
                .call(FrameKind::Raft, vec![body], Duration::from_millis(RAFT_RPC_TIMEOUT_MS))
                .await
                .map_err(|e| e.to_string())?;
            Ok(f.body)
        })
    }
}
