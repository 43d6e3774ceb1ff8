//! Hard bounds of the codec. Every count, length and offset read from the
//! network is checked against one of these before it sizes an allocation
//! or a loop. The unit is the last word of each name, as in
//! `holdfast_types::limits`.

/// Largest NetBIOS session-service frame body (one SMB2 message or
/// compound, or one TRANSFORM_HEADER plus its ciphertext): a maximal READ
/// or WRITE payload plus room for headers.
pub const FRAME_BYTES_MAX: usize = 8 * 1024 * 1024 + 1024;
/// Most PDUs in one compound message.
pub const COMPOUND_PDUS_MAX: usize = 64;
/// Most create contexts in one CREATE request or response.
pub const CREATE_CONTEXTS_MAX: usize = 32;
/// Longest file, path or pattern name, in bytes of UTF-16LE (Windows' path
/// limit of 32,767 UTF-16 units).
pub const NAME_BYTES_MAX: usize = 2 * 32_767;
/// Most LOCK_ELEMENTs in one LOCK request.
pub const LOCK_ELEMENTS_MAX: usize = 64;
/// Largest READ Length the codec accepts (the server advertises at most
/// this as MaxReadSize).
pub const READ_BYTES_MAX: u32 = 8 * 1024 * 1024;
/// Largest WRITE Length the codec accepts (MaxWriteSize).
pub const WRITE_BYTES_MAX: u32 = 8 * 1024 * 1024;
/// Largest buffer of QUERY_INFO, SET_INFO, QUERY_DIRECTORY, CHANGE_NOTIFY
/// and IOCTL, in either direction (MaxTransactSize).
pub const TRANSACT_BYTES_MAX: u32 = 8 * 1024 * 1024;
/// Most dialects in a NEGOTIATE request or FSCTL_VALIDATE_NEGOTIATE_INFO.
pub const DIALECTS_MAX: usize = 64;
/// Most negotiate contexts in a NEGOTIATE request or response.
pub const NEGOTIATE_CONTEXTS_MAX: usize = 32;
/// Most algorithms (hashes, ciphers, signing algorithms) in one negotiate
/// context.
pub const NEGOTIATE_ALGORITHMS_MAX: usize = 32;
/// Most dialect strings in an SMB1 NEGOTIATE.
pub const SMB1_DIALECTS_MAX: usize = 64;
/// Most entries a FileStreamInformation encoder writes.
pub const STREAM_ENTRIES_MAX: usize = 1024;

const _: () = assert!(FRAME_BYTES_MAX > READ_BYTES_MAX as usize + 64 + 48);
const _: () = assert!(FRAME_BYTES_MAX > WRITE_BYTES_MAX as usize + 64 + 48);
const _: () = assert!(NAME_BYTES_MAX <= u16::MAX as usize);

/// Largest DCE/RPC fragment accepted on a named pipe, and the most the
/// server offers in BIND_ACK (Windows' value; Samba's client asks 4280).
pub const RPC_FRAG_BYTES_MAX: u16 = 5840;
/// Smallest fragment a client may ask the server to send ([MS-RPCE]
/// 3.3.1.5.2: every implementation must receive 1432-byte fragments); a
/// BIND asking less is refused, so responses always make progress.
pub const RPC_FRAG_BYTES_MIN: u16 = 1432;
/// Largest request stub after reassembling its fragments (srvsvc requests
/// are a few hundred bytes).
pub const RPC_STUB_BYTES_MAX: usize = 64 * 1024;
/// Longest NDR string accepted in a request, in UTF-16 units (terminator
/// included): server and share names.
pub const RPC_STRING_UNITS_MAX: u32 = 1024;
