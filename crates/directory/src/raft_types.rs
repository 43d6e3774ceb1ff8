//! Openraft type configuration and short aliases for the generic types.

use std::io::Cursor;

use holdfast_types::NodeId;
use openraft::{AnyError, BasicNode, ErrorSubject, ErrorVerb, StorageIOError};

use crate::state::{Command, CommandResult};

openraft::declare_raft_types!(
    /// The directory's Raft: every log entry carries one [`Command`].
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = NodeId,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type Raft = openraft::Raft<TypeConfig>;

/// Wraps any error as an openraft storage error. Openraft treats every
/// storage error as fatal for the node, which is what we want: a node whose
/// log cannot be written must stop voting and accepting entries.
pub(crate) fn storage_error<E: std::error::Error + 'static>(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: &E,
) -> StorageError {
    StorageError::from(StorageIOError::new(subject, verb, AnyError::new(e)))
}
