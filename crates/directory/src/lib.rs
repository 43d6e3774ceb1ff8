//! The directory: Holdfast's cluster-wide configuration (members, objects,
//! owners, epochs), replicated with Raft (openraft) across every node.
//!
//! [`state`] holds the deterministic state and its apply function; the rest
//! of this crate is Raft plumbing behind [`Directory`]: a durable log
//! ([`log_store`]), the state machine with on-disk snapshots
//! ([`state_machine`]), and RPCs carried over the node's own connections
//! through [`RaftTransport`].

pub mod state;
pub mod services;
pub mod restart;

mod fsutil;
mod log_store;
mod network;
mod raft_types;
mod rpc;
mod state_machine;

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod test_util;

pub use state::*;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use holdfast_types::{LogIndex, NodeId};
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Config, SnapshotPolicy};
use tokio::sync::watch;

use crate::log_store::LogStore;
use crate::network::NetworkFactory;
use crate::raft_types::Raft;
use crate::state_machine::StateMachine;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("not the directory leader (leader is {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("directory storage failed: {0}")]
    Storage(String),
    #[error("directory timed out: {0}")]
    Timeout(String),
    #[error("directory error: {0}")]
    Raft(String),
    #[error("bad directory message: {0}")]
    Decode(String),
}

#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    pub node_id: NodeId,
    /// Raft log, vote and snapshot files live in `data_dir/raft/`.
    pub data_dir: PathBuf,
    /// All voters of the cluster, id -> "host:port". Every node is a voter.
    pub members: BTreeMap<NodeId, String>,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
}

impl DirectoryConfig {
    pub fn new(node_id: NodeId, data_dir: impl Into<PathBuf>, members: BTreeMap<NodeId, String>) -> Self {
        DirectoryConfig {
            node_id,
            data_dir: data_dir.into(),
            members,
            heartbeat_ms: 100,
            election_timeout_min_ms: 400,
            election_timeout_max_ms: 800,
        }
    }
}

/// Snapshot after this many applied entries; the directory's commands are
/// rare, so this bounds restart replay without snapshotting constantly.
const SNAPSHOT_EVERY_LOGS: u64 = 500;
/// Entries kept after a snapshot, so a briefly lagging follower catches up
/// from the log instead of needing a whole snapshot.
const LOGS_KEPT_AFTER_SNAPSHOT: u64 = 300;
/// Snapshot chunks are JSON (bytes become number arrays, roughly 4x), so
/// keep them well under any sane transport frame limit.
const SNAPSHOT_CHUNK_BYTES: u64 = 256 << 10;

/// Bounds each snapshot chunk RPC, the last of which includes the peer
/// writing and fsyncing the snapshot; openraft's 200 ms default is too tight
/// for that on a busy disk.
const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 2_000;

/// How the directory reaches peers. The node implements it over its
/// authenticated host-to-host connections. `body` is opaque bytes produced by
/// the directory; the peer passes them to its own [`Directory::handle_rpc`]
/// and the reply comes back.
pub trait RaftTransport: Send + Sync + 'static {
    fn call(
        &self,
        target: NodeId,
        body: bytes::Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<bytes::Bytes, String>> + Send>>;
}

/// Called synchronously by the state machine on every node, right after each
/// committed command is applied to [`ClusterState`] (and after a snapshot is
/// installed, including the one loaded from disk at start). Must be fast and
/// must not block on async work.
pub trait ApplyHook: Send + Sync + 'static {
    fn applied(&self, index: LogIndex, cmd: &Command, result: &CommandResult, state: &ClusterState);
    fn snapshot_installed(&self, state: &ClusterState);
}

/// A running directory member. Cheap to clone; clones share one Raft node.
#[derive(Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

struct Inner {
    raft: Raft,
    state: watch::Receiver<Arc<ClusterState>>,
    applied: watch::Receiver<LogIndex>,
    propose_timeout: Duration,
}

impl Directory {
    /// Opens (or creates) the on-disk log/vote/snapshot and starts openraft.
    /// If `node_id` is the lowest id in `members` and Raft is not yet
    /// initialized, initializes the cluster with all members as voters.
    pub async fn start(
        cfg: DirectoryConfig,
        transport: Arc<dyn RaftTransport>,
        hook: Arc<dyn ApplyHook>,
    ) -> Result<Directory, DirectoryError> {
        let Some(&lowest) = cfg.members.keys().next() else {
            return Err(DirectoryError::Raft("the directory needs at least one member".into()));
        };
        if !cfg.members.contains_key(&cfg.node_id) {
            return Err(DirectoryError::Raft(format!(
                "node {} is not among the directory members {:?}",
                cfg.node_id,
                cfg.members.keys().collect::<Vec<_>>()
            )));
        }
        let raft_config = Config {
            cluster_name: "holdfast-directory".into(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_min_ms,
            election_timeout_max: cfg.election_timeout_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY_LOGS),
            max_in_snapshot_log_to_keep: LOGS_KEPT_AFTER_SNAPSHOT,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
            ..Default::default()
        }
        .validate()
        .map_err(|e| DirectoryError::Raft(format!("bad raft timing configuration: {e}")))?;

        let raft_dir = cfg.data_dir.join("raft");
        let open = move || {
            let log = LogStore::open(&raft_dir).map_err(|e| DirectoryError::Storage(e.to_string()))?;
            let sm = StateMachine::open(&raft_dir, hook).map_err(|e| DirectoryError::Storage(e.to_string()))?;
            Ok::<_, DirectoryError>((log, sm))
        };
        let (log_store, (sm, published)) = if holdfast_types::io_mode::inline_blocking() {
            open()?
        } else {
            tokio::task::spawn_blocking(open)
                .await
                .map_err(|e| DirectoryError::Storage(format!("opening the raft files failed: {e}")))??
        };

        let network = NetworkFactory { self_id: cfg.node_id, transport };
        let raft = Raft::new(cfg.node_id, Arc::new(raft_config), network, log_store, sm)
            .await
            .map_err(|e| DirectoryError::Raft(format!("cannot start raft: {e}")))?;

        if cfg.node_id == lowest {
            let initialized = raft.is_initialized().await.map_err(|e| DirectoryError::Raft(e.to_string()))?;
            if !initialized {
                let nodes: BTreeMap<NodeId, BasicNode> =
                    cfg.members.iter().map(|(&id, addr)| (id, BasicNode::new(addr))).collect();
                match raft.initialize(nodes).await {
                    Ok(()) => tracing::info!(node = cfg.node_id, "initialized the directory cluster"),
                    // Another start or a vote from a peer got there first;
                    // either way the cluster exists.
                    Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
                        tracing::info!(node = cfg.node_id, "directory already initialized: {e}")
                    }
                    Err(e) => return Err(DirectoryError::Raft(format!("cannot initialize the directory: {e}"))),
                }
            }
        }

        // Long enough for several elections and a slow fsync; after that the
        // caller is better told than left hanging.
        let propose_timeout = Duration::from_millis((cfg.election_timeout_max_ms * 10).max(5_000));
        Ok(Directory {
            inner: Arc::new(Inner { raft, state: published.state, applied: published.applied, propose_timeout }),
        })
    }

    /// Peer side of [`RaftTransport`]: decodes a request, hands it to
    /// openraft and encodes the reply. Garbage in yields an encoded error
    /// reply, never a panic.
    pub async fn handle_rpc(&self, body: bytes::Bytes) -> bytes::Bytes {
        rpc::serve(&self.inner.raft, &body).await
    }

    /// Proposes a command; returns the log index it was committed at and its
    /// result. On a non-leader returns [`DirectoryError::NotLeader`]. A
    /// [`DirectoryError::Timeout`] means the outcome is unknown: the command
    /// may still commit.
    pub async fn propose(&self, cmd: Command) -> Result<(LogIndex, CommandResult), DirectoryError> {
        let write = self.inner.raft.client_write(cmd);
        match tokio::time::timeout(self.inner.propose_timeout, write).await {
            Err(_) => Err(DirectoryError::Timeout(format!(
                "proposal not committed within {:?}; it may still commit",
                self.inner.propose_timeout
            ))),
            Ok(Ok(resp)) => Ok((resp.log_id.index, resp.data)),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(DirectoryError::NotLeader { leader: f.leader_id })
            }
            Ok(Err(RaftError::APIError(e))) => Err(DirectoryError::Raft(e.to_string())),
            Ok(Err(RaftError::Fatal(f))) => Err(DirectoryError::Raft(format!("raft is not running: {f}"))),
        }
    }

    /// The latest applied state (an `Arc` clone).
    pub fn state(&self) -> Arc<ClusterState> {
        self.inner.state.borrow().clone()
    }

    /// Watch of the applied log index, updated after each apply once the
    /// hook has run.
    pub fn applied_index(&self) -> watch::Receiver<LogIndex> {
        self.inner.applied.clone()
    }

    pub async fn wait_applied(&self, index: LogIndex, timeout: Duration) -> Result<(), DirectoryError> {
        let mut rx = self.inner.applied.clone();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|&i| i >= index)).await.map(|r| r.is_ok());
        match waited {
            Ok(true) => Ok(()),
            Ok(false) => Err(DirectoryError::Raft("the directory has shut down".into())),
            Err(_) => Err(DirectoryError::Timeout(format!(
                "log index {index} not applied within {timeout:?} (applied: {})",
                *self.inner.applied.borrow()
            ))),
        }
    }

    /// Waits until this node's view of the term or the leader changes
    /// (from `seen`, as returned last time) and returns the new view;
    /// `None` once the directory has shut down.
    pub async fn leadership_changed(&self, seen: (u64, Option<NodeId>)) -> Option<(u64, Option<NodeId>)> {
        let mut rx = self.inner.raft.metrics();
        let m = rx.wait_for(|m| (m.current_term, m.current_leader) != seen).await.ok()?;
        Some((m.current_term, m.current_leader))
    }

    /// Current leader as this node knows it.
    pub fn leader(&self) -> Option<NodeId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    /// The leader, confirmed: when this node believes it leads, it checks
    /// with a quorum (a Raft read index) and waits until its state machine
    /// has applied everything committed before the check. A deposed leader
    /// that has not yet heard of the new term (say, right after a partition
    /// heals) would otherwise keep answering with its old view of the
    /// cluster. Returns `None` when the check fails within `timeout`; a
    /// follower's answer is its own belief, unconfirmed.
    pub async fn confirmed_leader(&self, self_id: NodeId, timeout: Duration) -> Option<NodeId> {
        let believed = self.leader()?;
        if believed != self_id {
            return Some(believed);
        }
        let check = async {
            let read = self.inner.raft.ensure_linearizable().await.ok()?;
            if let Some(log_id) = read {
                self.wait_applied(log_id.index, timeout).await.ok()?;
            }
            Some(self_id)
        };
        tokio::time::timeout(timeout, check).await.ok().flatten()
    }

    pub fn term(&self) -> u64 {
        self.inner.raft.metrics().borrow().current_term
    }

    /// Stops Raft; later calls on any clone fail with an error.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "directory raft did not shut down cleanly");
        }
    }

    #[cfg(test)]
    pub(crate) fn raft(&self) -> &Raft {
        &self.inner.raft
    }
}
