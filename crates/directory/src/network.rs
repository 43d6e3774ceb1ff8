//! Openraft's outbound side: turns each Raft RPC into one
//! [`RaftTransport::call`] and maps every way it can fail onto the error
//! openraft knows how to react to.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use holdfast_types::NodeId;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{AnyError, BasicNode, RPCTypes, RaftNetwork, RaftNetworkFactory};
use serde::Deserialize;

use crate::raft_types::TypeConfig;
use crate::rpc::{decode_reply, encode_request, RpcFailure, RpcRequest};
use crate::RaftTransport;

pub(crate) struct NetworkFactory {
    pub self_id: NodeId,
    pub transport: Arc<dyn RaftTransport>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerClient {
        // Peers are addressed by id; the node's transport knows their addresses.
        PeerClient { self_id: self.self_id, target, transport: self.transport.clone() }
    }
}

pub(crate) struct PeerClient {
    self_id: NodeId,
    target: NodeId,
    transport: Arc<dyn RaftTransport>,
}

/// How one call failed, before it is shaped into the RPC's own error type.
enum CallError {
    /// No answer, or an answer we cannot make sense of: back off and retry.
    Unreachable(String),
    Timeout(Duration),
    Remote(RpcFailure),
}

impl PeerClient {
    async fn call<T: for<'de> Deserialize<'de>>(&self, req: RpcRequest, ttl: Duration) -> Result<T, CallError> {
        let body = encode_request(&req).map_err(|e| CallError::Unreachable(format!("cannot encode request: {e}")))?;
        let reply = match tokio::time::timeout(ttl, self.transport.call(self.target, body)).await {
            Err(_) => return Err(CallError::Timeout(ttl)),
            Ok(Err(e)) => return Err(CallError::Unreachable(e)),
            Ok(Ok(reply)) => reply,
        };
        match decode_reply::<T>(&reply) {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(failure)) => Err(CallError::Remote(failure)),
            Err(e) => Err(CallError::Unreachable(format!("undecodable reply from node {}: {e}", self.target))),
        }
    }

    fn to_rpc_error<E: Error>(
        &self,
        action: RPCTypes,
        e: CallError,
        remote: impl FnOnce(RpcFailure) -> Option<RaftError<NodeId, E>>,
    ) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
        let unreachable = |msg: String| RPCError::Unreachable(Unreachable::new(&AnyError::error(msg)));
        match e {
            CallError::Unreachable(msg) => unreachable(msg),
            CallError::Timeout(timeout) => {
                RPCError::Timeout(Timeout { action, id: self.self_id, target: self.target, timeout })
            }
            // A peer that cannot read what we send (version skew, a mangled
            // message) will not do better if asked again at once.
            CallError::Remote(RpcFailure::BadRequest(msg)) => {
                unreachable(format!("node {} refused the request: {msg}", self.target))
            }
            CallError::Remote(f) => {
                let msg = f.to_string();
                match remote(f) {
                    Some(raft_err) => RPCError::RemoteError(RemoteError::new(self.target, raft_err)),
                    None => RPCError::Network(NetworkError::new(&AnyError::error(format!(
                        "unexpected {action} reply from node {}: {msg}",
                        self.target
                    )))),
                }
            }
        }
    }
}

fn fatal_only<E>(f: RpcFailure) -> Option<RaftError<NodeId, E>> {
    match f {
        RpcFailure::Fatal(fatal) => Some(RaftError::Fatal(fatal)),
        _ => None,
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(RpcRequest::AppendEntries(rpc), option.hard_ttl())
            .await
            .map_err(|e| self.to_rpc_error(RPCTypes::AppendEntries, e, fatal_only))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        self.call(RpcRequest::InstallSnapshot(rpc), option.hard_ttl()).await.map_err(|e| {
            self.to_rpc_error(RPCTypes::InstallSnapshot, e, |f| match f {
                RpcFailure::SnapshotMismatch(m) => Some(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))),
                other => fatal_only(other),
            })
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(RpcRequest::Vote(rpc), option.hard_ttl())
            .await
            .map_err(|e| self.to_rpc_error(RPCTypes::Vote, e, fatal_only))
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use bytes::Bytes;
    use openraft::error::Fatal;
    use openraft::Vote;

    use super::*;
    use crate::rpc::{encode_reply, RpcReply};

    /// Answers every call the same way.
    enum Canned {
        Fails,
        Garbage,
        Hangs,
        Reply(Bytes),
    }

    impl RaftTransport for Canned {
        fn call(&self, _target: NodeId, _body: Bytes) -> Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send>> {
            let out = match self {
                Canned::Fails => Some(Err("connection refused".to_string())),
                Canned::Garbage => Some(Ok(Bytes::from_static(b"{\"Ok\": 17"))),
                Canned::Hangs => None,
                Canned::Reply(b) => Some(Ok(b.clone())),
            };
            Box::pin(async move {
                match out {
                    Some(r) => r,
                    None => futures::future::pending().await,
                }
            })
        }
    }

    async fn vote_via(t: Canned) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let mut f = NetworkFactory { self_id: 1, transport: Arc::new(t) };
        let mut c = f.new_client(2, &BasicNode::default()).await;
        let req = VoteRequest { vote: Vote::new(3, 1), last_log_id: None };
        c.vote(req, RPCOption::new(Duration::from_millis(100))).await
    }

    #[tokio::test]
    async fn transport_failures_map_to_errors_openraft_backs_off_on() {
        assert!(matches!(vote_via(Canned::Fails).await, Err(RPCError::Unreachable(_))));
        assert!(matches!(vote_via(Canned::Garbage).await, Err(RPCError::Unreachable(_))));
        let bad = encode_reply::<()>(&Err(RpcFailure::BadRequest("eh".into())));
        assert!(matches!(vote_via(Canned::Reply(bad)).await, Err(RPCError::Unreachable(_))));
        match vote_via(Canned::Hangs).await {
            Err(RPCError::Timeout(t)) => {
                assert_eq!((t.id, t.target, t.timeout), (1, 2, Duration::from_millis(100)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn remote_replies_decode() {
        let stopped = encode_reply::<()>(&Err(RpcFailure::Fatal(Fatal::Stopped)));
        match vote_via(Canned::Reply(stopped)).await {
            Err(RPCError::RemoteError(e)) => {
                assert_eq!(e.target, 2);
                assert_eq!(e.source, RaftError::Fatal(Fatal::Stopped));
            }
            other => panic!("{other:?}"),
        }
        let ok: RpcReply<VoteResponse<NodeId>> =
            Ok(VoteResponse { vote: Vote::new(3, 1), vote_granted: true, last_log_id: None });
        let resp = vote_via(Canned::Reply(encode_reply(&ok))).await.expect("vote reply");
        assert!(resp.vote_granted);
    }
}
