//! The node daemon: one per host. It runs the local store, replication, a
//! directory member, and a listener for peers and CLI clients.
//!
//! - [`config`]: `node.toml`.
//! - [`peers`]: one authenticated connection per pair of hosts.
//! - [`transport`]: those connections as replication and Raft see them.
//! - [`hook`]: keeps the local store in step with the directory.
//! - [`handler`]: dispatch of incoming frames.
//! - [`control`]: control-plane operations (status, create, move).
//! - [`fileserve`]: the host's file server (share volumes, handle tables).
//! - [`lease`]: time-bounded ownership: renewal, the serve gate, barriers.
//! - [`reconcile`]: activates objects this node owns, demotes the rest.
//! - [`services`]: runs the SMB services the directory places here.

pub mod config;
pub mod control;
pub mod fileserve;
pub mod handler;
pub mod hook;
pub mod lease;
pub mod node;
pub mod peers;
pub mod reconcile;
pub mod services;
pub mod tickle;
pub mod transport;

pub use config::NodeConfig;
pub use node::{run, run_node, NodeError};
