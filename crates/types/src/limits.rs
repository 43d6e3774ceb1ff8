//! Hard limits. Every frame, name, queue and I/O has an explicit bound; the
//! unit is the last word of each name.

/// Allocation, rebuild and dirty-tracking unit of an object.
pub const BLOCK_BYTES: u64 = 4096;
/// Alignment of every block I/O (offset and length). Objects behave like a
/// "512e" disk: 4 KiB blocks addressed in 512-byte sectors, so that a
/// 512-byte handle record is one write, not a read-modify-write of 4 KiB.
pub const SECTOR_BYTES: u64 = 512;
/// Largest single read or write.
pub const IO_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Largest object.
pub const OBJECT_BYTES_MAX: u64 = 1 << 40;
/// Largest object name, in bytes of UTF-8.
pub const OBJECT_NAME_BYTES_MAX: usize = 128;
/// Size of the fixed frame header on the host-to-host wire.
pub const FRAME_HEADER_BYTES: usize = 16;
/// Largest frame body after authentication: one maximal I/O plus room for
/// its fixed fields.
pub const FRAME_BODY_BYTES_MAX: usize = IO_BYTES_MAX as usize + 4096;
/// Largest frame body before authentication: handshake messages are tiny,
/// and an unauthenticated peer must not make us allocate much.
pub const HANDSHAKE_BODY_BYTES_MAX: usize = 256;
/// Requests one connection may have outstanding at once (per direction).
pub const CONN_INFLIGHT_MAX: usize = 1024;
/// Client connections one node accepts at once.
pub const CLIENT_CONNS_MAX: usize = 256;
/// Longest error message carried in an error frame.
pub const ERROR_MESSAGE_BYTES_MAX: usize = 1024;
/// Most nodes a cluster may have.
pub const NODES_MAX: usize = 16;
/// Most objects a cluster may have.
pub const OBJECTS_MAX: usize = 65_536;

const _: () = assert!(BLOCK_BYTES % SECTOR_BYTES == 0);
const _: () = assert!(IO_BYTES_MAX % BLOCK_BYTES == 0);
const _: () = assert!(FRAME_BODY_BYTES_MAX > IO_BYTES_MAX as usize);
const _: () = assert!(HANDSHAKE_BODY_BYTES_MAX < FRAME_BODY_BYTES_MAX);
