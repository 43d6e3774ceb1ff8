//! Errors of the service as a whole, and the statuses the codec crates
//! do not name.

use holdfast_types::ntstatus::NtStatus;

#[derive(Debug, thiserror::Error)]
pub enum SmbdError {
    #[error("config: {0}")]
    Config(String),
    #[error("listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
}

/// Why a connection ends (logged, never sent).
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Proto(#[from] holdfast_smb_proto::ProtoError),
    #[error("credits: {0}")]
    Window(#[from] crate::credits::WindowError),
    #[error("{0}")]
    Fatal(&'static str),
}

/// NTSTATUS values the service answers with that `holdfast_types` lacks.
pub mod status {
    use super::NtStatus;
    pub const USER_SESSION_DELETED: NtStatus = NtStatus(0xC000_0203);
    pub const NETWORK_NAME_DELETED: NtStatus = NtStatus(0xC000_00C9);
    pub const NOT_FOUND: NtStatus = NtStatus(0xC000_0225);
    pub const REQUEST_NOT_ACCEPTED: NtStatus = NtStatus(0xC000_00D0);
    pub const FS_DRIVER_REQUIRED: NtStatus = NtStatus(0xC000_019C);
    pub const CANCELLED: NtStatus = NtStatus(0xC000_0120);
    pub const INVALID_OPLOCK_PROTOCOL: NtStatus = NtStatus(0xC000_00E3);
    pub const UNSUCCESSFUL: NtStatus = NtStatus(0xC000_0001);
}
