//! The local store: this host's copy (component) of each object.
//!
//! - [`backend`]: the narrow [`BlockBackend`] trait and its contract.
//! - [`memory`]: RAM components, counted against a per-node budget.
//! - [`file`]: persistent components in a file, synced with `fdatasync`.
//! - [`component`]: epoch fencing, write ordering and bounds checks, shared
//!   by both kinds.
//! - [`store`]: the set of components on this host.
//! - `sim_disk` (feature `test-switches`): the simulation's page cache, so a
//!   simulated host can lose its unsynced writes.

pub mod backend;
pub mod component;
pub mod error;
pub mod file;
pub mod memory;
#[cfg(feature = "test-switches")]
pub mod sim_disk;
pub mod store;

pub use backend::BlockBackend;
pub use component::Component;
pub use error::StoreError;
pub use store::LocalStore;
