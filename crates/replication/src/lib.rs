//! Replication: the object's owner turns each block write into copies on
//! every ACTIVE component and acknowledges once all have applied it.
//!
//! - [`core`]: the owner's protocol state and decisions, with no I/O, so it
//!   can be driven by a simulator as well as by sockets.
//! - [`engine`]: drives the core over a [`PeerTransport`] and the local store.

pub mod core;
pub mod dirty;
pub mod engine;
#[cfg(feature = "test-switches")]
pub mod observe;

pub use crate::core::{OwnerCore, WriteDecision, WriteTicket};
pub use crate::engine::{DirectoryOps, PeerTransport, Replicator, ReplicatorConfig};
