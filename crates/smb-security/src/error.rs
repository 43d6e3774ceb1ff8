//! Typed errors of the security layer and the NTSTATUS each one becomes on
//! the wire.

use holdfast_types::ntstatus::NtStatus;

/// Everything that can go wrong while authenticating a client, signing,
/// verifying, encrypting or decrypting.
///
/// The SMB server answers a failed SESSION_SETUP with [`Error::nt_status`];
/// the text is for logs only (it never names which of "unknown user" and
/// "wrong password" happened in a way the client can see).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Wrong password, unknown user, a bad MIC or mechListMIC, or a response
    /// type we refuse (NTLMv1, LM). `STATUS_LOGON_FAILURE`.
    #[error("logon failure: {0}")]
    LogonFailure(&'static str),
    /// Bytes from the network that do not parse: a truncated NTLMSSP
    /// message, an offset past the end, bad DER. `STATUS_INVALID_PARAMETER`.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Well formed, but asks for something we do not do (Kerberos only, no
    /// NTLMSSP in the mechanism list). `STATUS_NOT_SUPPORTED`.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// A `step` after the exchange finished or failed.
    /// `STATUS_INVALID_PARAMETER`.
    #[error("authentication exchange is already over")]
    InvalidState,
    /// A signed message whose signature does not match. `STATUS_ACCESS_DENIED`.
    #[error("bad signature")]
    BadSignature,
    /// An encrypted message that does not authenticate (wrong key, flipped
    /// bit, wrong nonce) or whose transform header is inconsistent.
    /// `STATUS_ACCESS_DENIED`.
    #[error("decryption failed: {0}")]
    DecryptionFailed(&'static str),
    /// A key of the wrong length or a dialect/cipher combination that does
    /// not exist: a bug in the caller, not the client. `STATUS_INTERNAL_ERROR`.
    #[error("invalid key or parameters: {0}")]
    InvalidKey(&'static str),
}

impl Error {
    /// The NTSTATUS the SMB server puts in the response header.
    pub fn nt_status(&self) -> NtStatus {
        match self {
            Error::LogonFailure(_) => NtStatus::LOGON_FAILURE,
            Error::Malformed(_) | Error::InvalidState => NtStatus::INVALID_PARAMETER,
            Error::Unsupported(_) => NtStatus::NOT_SUPPORTED,
            Error::BadSignature | Error::DecryptionFailed(_) => NtStatus::ACCESS_DENIED,
            Error::InvalidKey(_) => NtStatus::INTERNAL_ERROR,
        }
    }

    /// [`Error::nt_status`] as the raw 32-bit value.
    pub fn status_code(&self) -> u32 {
        self.nt_status().0
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values() {
        assert_eq!(Error::LogonFailure("x").status_code(), 0xC000_006D);
        assert_eq!(Error::Malformed("x").status_code(), 0xC000_000D);
        assert_eq!(Error::InvalidState.status_code(), 0xC000_000D);
        assert_eq!(Error::BadSignature.status_code(), 0xC000_0022);
        assert_eq!(Error::DecryptionFailed("x").status_code(), 0xC000_0022);
        assert_eq!(NtStatus::MORE_PROCESSING_REQUIRED.0, 0xC000_0016);
    }
}
