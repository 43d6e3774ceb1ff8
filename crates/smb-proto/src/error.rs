//! The one error type of the codec. Every variant names the field or
//! structure at fault and maps to the NTSTATUS the server answers with
//! ([`ProtoError::status`]), so a handler can turn any decode failure into
//! an ERROR response without a second lookup.

use holdfast_types::ntstatus::NtStatus;
use thiserror::Error;

use crate::utf16::Utf16Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtoError {
    /// A structure ended before a field it must contain.
    #[error("{what}: truncated: need {need} bytes at offset {offset}, have {have}")]
    Truncated { what: &'static str, offset: usize, need: usize, have: usize },

    /// The StructureSize field does not match the size table.
    #[error("{what}: StructureSize {got}, expected {expected}")]
    StructureSize { what: &'static str, got: u16, expected: u16 },

    /// An (offset, length) pair points outside the PDU or into its fixed part.
    #[error("{field}: offset {offset} length {length} is not within bytes {start}..{end}")]
    OutOfBounds { field: &'static str, offset: u64, length: u64, start: usize, end: usize },

    /// A count or length exceeds its limit (see `limits.rs`).
    #[error("{field}: {count} exceeds the limit {max}")]
    TooMany { field: &'static str, count: u64, max: u64 },

    /// A field holds a value the protocol does not allow here.
    #[error("{field}: invalid value {value:#x}")]
    InvalidValue { field: &'static str, value: u64 },

    /// An offset that the protocol requires to be 8-byte aligned is not.
    #[error("{field}: offset {offset} is not 8-byte aligned")]
    Misaligned { field: &'static str, offset: u64 },

    /// A file or path name is not valid UTF-16LE.
    #[error("{field}: invalid name: {reason}")]
    InvalidName { field: &'static str, reason: Utf16Error },

    /// Some other UTF-16LE string is invalid.
    #[error("{field}: invalid UTF-16: {reason}")]
    InvalidUtf16 { field: &'static str, reason: Utf16Error },

    /// An information buffer is shorter than its class requires.
    #[error("{field}: buffer of {have} bytes, class needs {need}")]
    InfoLength { field: &'static str, need: usize, have: usize },

    /// An information class this codec has no encoder or decoder for.
    #[error("{field}: unknown information class {class}")]
    InfoClass { field: &'static str, class: u8 },

    /// The first four bytes are not a protocol this server speaks.
    #[error("protocol id {got:02x?} is not SMB2")]
    ProtocolId { got: [u8; 4] },

    /// A COMPRESSION_TRANSFORM_HEADER: the server never negotiates
    /// compression, so a compressed message is rejected, not decoded.
    #[error("compressed messages are not supported")]
    Compressed,

    /// The Command field is not one of the 19 SMB2 commands.
    #[error("unknown command {0:#06x}")]
    UnknownCommand(u16),

    /// A NetBIOS session-service frame is malformed or too large.
    #[error("frame: {reason} ({value})")]
    Frame { reason: &'static str, value: u64 },
}

pub type Result<T> = std::result::Result<T, ProtoError>;

impl ProtoError {
    /// The NTSTATUS the server should answer with.
    pub fn status(&self) -> NtStatus {
        match self {
            ProtoError::InvalidName { .. } => NtStatus::OBJECT_NAME_INVALID,
            ProtoError::InfoLength { .. } => NtStatus::INFO_LENGTH_MISMATCH,
            ProtoError::InfoClass { .. } => NtStatus::INVALID_INFO_CLASS,
            ProtoError::Compressed => NtStatus::NOT_SUPPORTED,
            // MS-SMB2 3.3.5.2.6: an unknown command is INVALID_PARAMETER,
            // as is every other malformed request.
            _ => NtStatus::INVALID_PARAMETER,
        }
    }

    /// Whether the connection should be dropped rather than answered:
    /// framing and protocol-id errors leave no header to answer.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ProtoError::Frame { .. } | ProtoError::ProtocolId { .. } | ProtoError::Compressed
        )
    }
}
