//! The node's peer connections and directory, as replication and Raft see them.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use holdfast_directory::{Command, CommandResult, RaftTransport};
use holdfast_replication::engine::BoxFut;
use holdfast_replication::{DirectoryOps, PeerTransport};
use holdfast_types::{ComponentState, Epoch, ErrorCode, HoldfastError, LogIndex, NodeId, ObjectId};
use holdfast_wire::{Conn, FrameKind};
use tokio::sync::OwnedSemaphorePermit;

use crate::node::NodeInner;
use crate::peers::Peers;

/// How long replication waits to get a connection to a peer.
const CONNECT_WAIT_MS: u64 = 1000;
const RAFT_RPC_TIMEOUT_MS: u64 = 2000;
/// How long the data path waits to commit a component state change.
const DATA_PATH_PROPOSE_MS: u64 = 3000;

pub struct PeerLink {
    pub peers: Arc<Peers>,
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

    fn send(&self, permit: Self::Permit, node: NodeId, kind: FrameKind, chunks: Vec<Bytes>, timeout: Duration) -> BoxFut<Result<Bytes, HoldfastError>> {
        let (conn, permit) = permit;
        let pending = conn.send_request(permit, kind, chunks);
        Box::pin(async move {
            let f = pending.map_err(|e| e.to_holdfast())?.wait(timeout).await.map_err(|e| e.to_holdfast())?;
            match FrameKind::from_u8(f.header.kind) {
                Some(FrameKind::Ok | FrameKind::Data) => Ok(f.body),
                _ => Err(HoldfastError::new(ErrorCode::BadFrame, format!("node {node} answered {kind:?} with frame kind {:#04x}", f.header.kind))),
            }
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

/// Replication's view of the directory: component state changes proposed
/// through this node (forwarded to the leader when needed).
#[derive(Default)]
pub struct NodeDirOps {
    pub node: OnceLock<Weak<NodeInner>>,
}

impl DirectoryOps for NodeDirOps {
    fn set_state(&self, object: ObjectId, nodes: Vec<NodeId>, state: ComponentState, expected_epoch: Epoch) -> BoxFut<Result<LogIndex, HoldfastError>> {
        let inner = self.node.get().and_then(|w| w.upgrade());
        Box::pin(async move {
            let inner = inner.ok_or_else(|| HoldfastError::new(ErrorCode::NotReady, "node is shutting down"))?;
            // Bounded: an owner cut off from the majority must fail its
            // writes promptly rather than hold clients for long.
            let cmd = Command::SetComponentState { object, nodes, state, expected_epoch };
            let (index, r) = inner.propose_within(cmd, Duration::from_millis(DATA_PATH_PROPOSE_MS)).await?;
            match r {
                CommandResult::Refused { code, message } => Err(HoldfastError::new(ErrorCode::from_u16(code).unwrap_or(ErrorCode::Internal), message)),
                _ => Ok(index),
            }
        })
    }

    fn component_state(&self, object: ObjectId, node: NodeId) -> Option<(Epoch, ComponentState)> {
        let inner = self.node.get()?.upgrade()?;
        let state = inner.dir().ok()?.state();
        let obj = state.objects.get(&object)?;
        Some((obj.epoch, obj.component(node)?.state))
    }
}
