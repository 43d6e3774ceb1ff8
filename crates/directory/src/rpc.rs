//! Wire encoding of Raft RPCs between directories.
//!
//! A request is JSON of [`RpcRequest`], e.g. `{"Vote":{...}}`. A reply is
//! JSON of `Result<Response, RpcFailure>`, i.e. `{"Ok":{...}}` or
//! `{"Err":{"Fatal":...}}`. Failures are typed rather than plain strings
//! because openraft reacts differently to them: a snapshot-stream mismatch
//! restarts the stream, a stopped peer is a remote error, and an
//! undecodable exchange is treated like an unreachable peer.

use bytes::Bytes;
use holdfast_types::NodeId;
use openraft::error::{Fatal, InstallSnapshotError, RaftError, SnapshotMismatch};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::{Deserialize, Serialize};

use crate::raft_types::{Raft, TypeConfig};

#[derive(Serialize, Deserialize)]
pub(crate) enum RpcRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
}

#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub(crate) enum RpcFailure {
    #[error("peer could not decode the request: {0}")]
    BadRequest(String),
    #[error("peer raft is not running: {0}")]
    Fatal(Fatal<NodeId>),
    #[error(transparent)]
    SnapshotMismatch(SnapshotMismatch),
}

pub(crate) type RpcReply<T> = Result<T, RpcFailure>;

/// Used when even encoding a reply fails, so the peer still gets a reply
/// it can decode as a failure.
const UNENCODABLE_REPLY: &[u8] = br#"{"Err":{"BadRequest":"the peer could not encode its reply"}}"#;

pub(crate) fn encode_request(req: &RpcRequest) -> Result<Bytes, serde_json::Error> {
    serde_json::to_vec(req).map(Bytes::from)
}

pub(crate) fn encode_reply<T: Serialize>(reply: &RpcReply<T>) -> Bytes {
    match serde_json::to_vec(reply) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a directory RPC reply");
            Bytes::from_static(UNENCODABLE_REPLY)
        }
    }
}

pub(crate) fn decode_reply<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<RpcReply<T>, serde_json::Error> {
    serde_json::from_slice(body)
}

fn fatal_only(e: RaftError<NodeId>) -> RpcFailure {
    match e {
        RaftError::APIError(never) => match never {},
        RaftError::Fatal(f) => RpcFailure::Fatal(f),
    }
}

/// Serves one request from a peer. Never panics: anything undecodable gets
/// a `BadRequest` reply.
pub(crate) async fn serve(raft: &Raft, body: &[u8]) -> Bytes {
    let req: RpcRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, bytes = body.len(), "undecodable directory RPC");
            return encode_reply::<()>(&Err(RpcFailure::BadRequest(e.to_string())));
        }
    };
    match req {
        RpcRequest::AppendEntries(r) => encode_reply(&raft.append_entries(r).await.map_err(fatal_only)),
        RpcRequest::Vote(r) => encode_reply(&raft.vote(r).await.map_err(fatal_only)),
        RpcRequest::InstallSnapshot(r) => {
            let res = raft.install_snapshot(r).await.map_err(|e| match e {
                RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m)) => RpcFailure::SnapshotMismatch(m),
                RaftError::Fatal(f) => RpcFailure::Fatal(f),
            });
            encode_reply(&res)
        }
    }
}
