//! `holdfast-smb-proto`: the SMB 2/3 wire codec of Holdfast's SMB service,
//! with no I/O. Bytes in, typed messages out, and back; every length,
//! offset and count from the network is checked before use, and no input
//! can make it panic (property tests and a cargo-fuzz target check this).
//!
//! Modules:
//! - [`frame`]: NetBIOS session-service framing (4-byte length prefix),
//!   message classification, compound splitting and composing;
//! - [`header`]: the 64-byte SMB2 header (sync and async) and [`Command`];
//! - [`smb1`]: detection of an SMB1 NEGOTIATE for multi-protocol negotiate;
//! - [`transform`]: the TRANSFORM_HEADER of encrypted messages, and
//!   recognition of the (rejected) COMPRESSION_TRANSFORM_HEADER;
//! - [`msg`]: one module per command, each request with
//!   `decode(body, pdu)` and each response with `encode(&self, out)`;
//!   NEGOTIATE, SESSION_SETUP, TREE_CONNECT, CREATE, CLOSE, READ, WRITE,
//!   LOCK and ECHO also have request encoders and response decoders for a
//!   test client; plus the ERROR response, create contexts, negotiate
//!   contexts and FSCTL payloads;
//! - [`info`]: QUERY_INFO / QUERY_DIRECTORY encoders, SET_INFO decoders and
//!   a minimal security descriptor;
//! - [`request`]: the [`Request`] enum and [`parse_request`];
//! - [`validate`]: the StructureSize table checked before any parse;
//! - [`utf16`]: strict UTF-16LE conversion;
//! - [`limits`]: every bound, unit last in each name;
//! - [`error`]: [`ProtoError`], which carries the NTSTATUS to answer with.
//!
//! The byte layouts and validation rules are in `docs/smb-proto.md`.

pub mod error;
pub mod frame;
pub mod fuzzing;
pub mod header;
pub mod info;
pub mod limits;
pub mod msg;
pub mod request;
pub mod rpc;
pub mod smb1;
pub mod transform;
pub mod utf16;
pub mod validate;
mod wire;

pub use error::ProtoError;
pub use frame::{
    classify_message, compose_compound, split_compound, take_frame, CompoundPdu, MessageKind,
};
pub use header::{Command, Header, SyncOrAsync, HEADER_BYTES};
pub use msg::{encode_pdu, EncodeBody, FileId};
pub use request::{decode_request_body, parse_request, Request};
pub use wire::Guid;

/// Dialect revisions.
pub mod dialect {
    pub const SMB_2_0_2: u16 = 0x0202;
    pub const SMB_2_1: u16 = 0x0210;
    pub const SMB_3_0: u16 = 0x0300;
    pub const SMB_3_0_2: u16 = 0x0302;
    pub const SMB_3_1_1: u16 = 0x0311;
    /// "SMB 2.???": the answer to an SMB1 NEGOTIATE that offers it.
    pub const SMB2_WILDCARD: u16 = 0x02FF;
    /// Every dialect the server speaks, oldest first.
    pub const ALL: [u16; 5] = [SMB_2_0_2, SMB_2_1, SMB_3_0, SMB_3_0_2, SMB_3_1_1];
}

/// Global capabilities (NEGOTIATE, SESSION_SETUP, VALIDATE_NEGOTIATE_INFO).
pub mod caps {
    pub const DFS: u32 = 0x0000_0001;
    pub const LEASING: u32 = 0x0000_0002;
    pub const LARGE_MTU: u32 = 0x0000_0004;
    pub const MULTI_CHANNEL: u32 = 0x0000_0008;
    pub const PERSISTENT_HANDLES: u32 = 0x0000_0010;
    pub const DIRECTORY_LEASING: u32 = 0x0000_0020;
    pub const ENCRYPTION: u32 = 0x0000_0040;
    pub const NOTIFICATIONS: u32 = 0x0000_0080;
}

/// SecurityMode.
pub mod security_mode {
    pub const SIGNING_ENABLED: u16 = 0x0001;
    pub const SIGNING_REQUIRED: u16 = 0x0002;
}

pub use msg::tree_connect::share_type;

/// TREE_CONNECT response ShareFlags.
pub mod share_flags {
    pub const MANUAL_CACHING: u32 = 0x0000_0000;
    pub const AUTO_CACHING: u32 = 0x0000_0010;
    pub const VDO_CACHING: u32 = 0x0000_0020;
    pub const NO_CACHING: u32 = 0x0000_0030;
    pub const DFS: u32 = 0x0000_0001;
    pub const DFS_ROOT: u32 = 0x0000_0002;
    pub const RESTRICT_EXCLUSIVE_OPENS: u32 = 0x0000_0100;
    pub const FORCE_SHARED_DELETE: u32 = 0x0000_0200;
    pub const ALLOW_NAMESPACE_CACHING: u32 = 0x0000_0400;
    pub const ACCESS_BASED_DIRECTORY_ENUM: u32 = 0x0000_0800;
    pub const FORCE_LEVELII_OPLOCK: u32 = 0x0000_1000;
    pub const ENABLE_HASH_V1: u32 = 0x0000_2000;
    pub const ENABLE_HASH_V2: u32 = 0x0000_4000;
    pub const ENCRYPT_DATA: u32 = 0x0000_8000;
    pub const IDENTITY_REMOTING: u32 = 0x0004_0000;
    pub const COMPRESS_DATA: u32 = 0x0010_0000;
}

/// TREE_CONNECT response Capabilities.
pub mod share_caps {
    pub const DFS: u32 = 0x0000_0008;
    pub const CONTINUOUS_AVAILABILITY: u32 = 0x0000_0010;
    pub const SCALEOUT: u32 = 0x0000_0020;
    pub const CLUSTER: u32 = 0x0000_0040;
    pub const ASYMMETRIC: u32 = 0x0000_0080;
    pub const REDIRECT_TO_OWNER: u32 = 0x0000_0100;
}

/// File attributes ([MS-FSCC] 2.6).
pub mod file_attr {
    pub const READONLY: u32 = 0x0000_0001;
    pub const HIDDEN: u32 = 0x0000_0002;
    pub const SYSTEM: u32 = 0x0000_0004;
    pub const DIRECTORY: u32 = 0x0000_0010;
    pub const ARCHIVE: u32 = 0x0000_0020;
    pub const NORMAL: u32 = 0x0000_0080;
    pub const TEMPORARY: u32 = 0x0000_0100;
    pub const SPARSE_FILE: u32 = 0x0000_0200;
    pub const REPARSE_POINT: u32 = 0x0000_0400;
    pub const COMPRESSED: u32 = 0x0000_0800;
    pub const OFFLINE: u32 = 0x0000_1000;
    pub const NOT_CONTENT_INDEXED: u32 = 0x0000_2000;
    pub const ENCRYPTED: u32 = 0x0000_4000;
    pub const INTEGRITY_STREAM: u32 = 0x0000_8000;
    pub const NO_SCRUB_DATA: u32 = 0x0002_0000;
}

/// Access mask bits ([MS-SMB2] 2.2.13.1), shared with the file server.
pub use holdfast_types::access;
