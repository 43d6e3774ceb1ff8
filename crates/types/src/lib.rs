//! Holdfast's shared vocabulary: ids, epochs, limits, states and error codes.
//!
//! No I/O lives here. Every other crate speaks in these names, and `docs/`
//! uses the same names, so a reader can move between prose and code.

pub mod access;
pub mod checksum;
pub mod ea;
pub mod error;
pub mod ntstatus;
pub mod io_mode;
pub mod limits;
pub mod object;
pub mod restart;
pub mod security;
pub mod share;
pub mod size;

pub use error::{ErrorCode, HoldfastError};
pub use object::{ComponentState, ObjectKind, ObjectState};

/// A host in the cluster. Ids start at 1; 0 means "no node".
pub type NodeId = u64;
/// An object's cluster-wide id, assigned by the directory. 0 is never used.
pub type ObjectId = u64;
/// An object's ownership epoch. Raised by every committed owner change;
/// components reject block commands that carry an older one.
pub type Epoch = u64;
/// Per-(object, epoch) sequence number of a replicated write, starting at 1.
pub type Seq = u64;
/// A Raft log index of the directory.
pub type LogIndex = u64;
