//! objfs: the on-object file system. A share volume is one persistent object
//! laid out by this crate (superblock, checkpointed inode table, redo
//! journal, extent-mapped data); its handle table is one in-memory object
//! laid out by [`handles`]. The byte-level format is in `docs/objfs.md` and
//! `docs/handle-table.md`, using the names of this code.

pub mod device;
pub mod handles;
pub mod names;

pub use device::{Device, MemDevice};
