//! The client's error type.

use std::time::Duration;

use holdfast_smb_proto::ProtoError;
use holdfast_types::ntstatus::NtStatus;

pub type Result<T> = std::result::Result<T, ClientError>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("no reply to {what} within {timeout:?}")]
    Timeout { what: &'static str, timeout: Duration },
    #[error("the server closed the connection")]
    Closed,
    #[error("malformed message from the server: {0}")]
    Proto(#[from] ProtoError),
    #[error("authentication or signing: {0}")]
    Security(#[from] holdfast_smb_security::Error),
    /// The server answered with an error NTSTATUS.
    #[error("{command} failed: {status}")]
    Status { command: &'static str, status: NtStatus },
    /// The server broke the protocol (wrong MessageId, missing signature, ...).
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("a {command} request needs {charge} credits; {available} are left")]
    NoCredits { command: &'static str, charge: u16, available: u32 },
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ClientError {
    /// The NTSTATUS of a [`ClientError::Status`].
    pub fn status(&self) -> Option<NtStatus> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the connection is gone (closed, reset or unreadable).
    pub fn is_disconnect(&self) -> bool {
        match self {
            ClientError::Closed => true,
            ClientError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        }
    }
}
