//! The file server: one per host, inside the node daemon. It mounts the
//! share volumes whose objects this host owns (the file system on the
//! persistent object, the handle table on the in-memory object) and serves
//! file and handle operations to the SMB service over a local socket.

pub mod access;
pub mod client;
pub mod codec;
pub mod device;
mod ea_ops;
mod file_ops;
mod handle_ops;
mod internal_streams;
pub mod listener;
/// Test support: a volume on objects in memory (file-server and smb-server tests).
#[doc(hidden)]
pub mod mem_volume;
pub mod opens;
pub mod park;
pub mod proto;
pub mod recover;
mod security_ops;
pub mod server;
pub mod system_user;
mod sparse_ops;
pub mod time;
pub mod volume;

pub use client::{ClientError, FsClient};
pub use device::{ObjectDevice, ObjectIo};
pub use park::{ParkedTable, Prepared, TableExpect};
pub use server::{Fail, FileServer, ServeGate};
