//! Errors of the service as a whole, and the statuses the codec crates
//! do not name.

use holdfast_types::ntstatus::NtStatus;

#[derive(Debug, thiserror::Error)]
pub enum SmbdError {
    #[error("config: {0}")]
    Config(String),
    #[error("listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error(transparent)]
    Privilege(#[from] crate::privilege::PrivilegeError),
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
    #[error("closed: {0}")]
    Deadline(#[from] crate::conn_deadline::Expired),
    #[error("a {bytes}-byte message before any session (preauth_frame_bytes_max {max})")]
    PreauthFrame { bytes: usize, max: usize },
}

/// Short names for the statuses the handlers use most (all are in
/// `holdfast_types::ntstatus`, which names them in logs).
pub mod status {
    use super::NtStatus;
    pub const USER_SESSION_DELETED: NtStatus = NtStatus::USER_SESSION_DELETED;
    pub const NETWORK_NAME_DELETED: NtStatus = NtStatus::NETWORK_NAME_DELETED;
    pub const NOT_FOUND: NtStatus = NtStatus::NOT_FOUND;
    pub const REQUEST_NOT_ACCEPTED: NtStatus = NtStatus::REQUEST_NOT_ACCEPTED;
    pub const FS_DRIVER_REQUIRED: NtStatus = NtStatus::FS_DRIVER_REQUIRED;
    pub const CANCELLED: NtStatus = NtStatus::CANCELLED;
    pub const INVALID_OPLOCK_PROTOCOL: NtStatus = NtStatus::INVALID_OPLOCK_PROTOCOL;
    pub const UNSUCCESSFUL: NtStatus = NtStatus::UNSUCCESSFUL;
}
