//! objfs: the on-object file system. A share volume is one persistent object
//! laid out by this crate (superblock, checkpointed inode table, redo
//! journal, extent-mapped data); its handle table is one in-memory object
//! laid out by [`handles`]. The byte-level format is in `docs/objfs.md` and
//! `docs/handle-table.md`, using the names of this code.
//!
//! Modules of the file system: `layout` (regions and superblock), `journal`
//! (records, group commit framing, replay scan), `meta` (the in-memory
//! state and the one `apply`), `checkpoint`, `alloc` (free blocks and
//! deferred frees), `load` (reading a volume without changing it), `fs`
//! (the mounted API), `fsck`.

pub mod device;
pub mod handles;
pub mod names;

pub mod alloc;
pub mod checkpoint;
mod codec;
pub mod error;
pub mod fs;
pub mod fsck;
mod io;
pub mod journal;
pub mod layout;
pub mod load;
pub mod meta;

pub use device::{Device, MemDevice};
pub use error::FsError;
pub use fs::{Attr, DirEntry, FileKind, FormatOptions, Fs, Ino, LayoutOptions, SetAttr, StatFs, ROOT_INO};
pub use fsck::{fsck, FsckReport};
