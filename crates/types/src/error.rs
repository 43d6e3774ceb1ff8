//! Error codes that cross the wire. Each has a stable number (documented in
//! `docs/wire-protocol.md`) and a message that names the problem.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// A frame or message could not be decoded.
    BadFrame = 1,
    /// Protocol version not spoken here.
    BadVersion = 2,
    /// Message type not known.
    UnknownType = 3,
    /// The peer did not prove the cluster secret.
    Unauthenticated = 4,
    /// Offset or length not a multiple of the sector size.
    Misaligned = 10,
    /// I/O beyond the object's end, or larger than the I/O limit.
    OutOfRange = 11,
    /// The command carried an epoch older than the component knows.
    StaleEpoch = 12,
    /// This node is not the object's owner; the message names the owner.
    NotOwner = 13,
    /// No object with that name or id.
    NoSuchObject = 14,
    /// This node holds no component of that object, or not an ACTIVE one.
    NoComponent = 15,
    /// Every copy of the object is gone.
    ObjectLost = 16,
    /// The node's memory budget cannot fit the component.
    MemoryBudget = 17,
    /// The owner is still activating the object; retry shortly.
    NotReady = 18,
    /// The directory has no leader right now, or this node is not it.
    NotLeader = 19,
    /// A name or argument is invalid.
    Invalid = 20,
    /// An object with that name already exists.
    Exists = 21,
    /// A replica did not acknowledge in time.
    Timeout = 22,
    /// A component's local disk or memory failed.
    Io = 23,
    /// A component's recent-write log no longer reaches the asked position.
    NotCovered = 24,
    /// The owner is down and no other ACTIVE copy is reachable: the object
    /// cannot serve until one comes back. Its bytes are not known lost.
    Unavailable = 25,
    /// Anything else; the message says what.
    Internal = 99,
}

impl ErrorCode {
    pub fn from_u16(v: u16) -> Option<ErrorCode> {
        use ErrorCode::*;
        Some(match v {
            1 => BadFrame,
            2 => BadVersion,
            3 => UnknownType,
            4 => Unauthenticated,
            10 => Misaligned,
            11 => OutOfRange,
            12 => StaleEpoch,
            13 => NotOwner,
            14 => NoSuchObject,
            15 => NoComponent,
            16 => ObjectLost,
            17 => MemoryBudget,
            18 => NotReady,
            19 => NotLeader,
            20 => Invalid,
            21 => Exists,
            22 => Timeout,
            23 => Io,
            24 => NotCovered,
            25 => Unavailable,
            99 => Internal,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadFrame => "BAD_FRAME",
            BadVersion => "BAD_VERSION",
            UnknownType => "UNKNOWN_TYPE",
            Unauthenticated => "UNAUTHENTICATED",
            Misaligned => "MISALIGNED",
            OutOfRange => "OUT_OF_RANGE",
            StaleEpoch => "STALE_EPOCH",
            NotOwner => "NOT_OWNER",
            NoSuchObject => "NO_SUCH_OBJECT",
            NoComponent => "NO_COMPONENT",
            ObjectLost => "OBJECT_LOST",
            MemoryBudget => "MEMORY_BUDGET",
            NotReady => "NOT_READY",
            NotLeader => "NOT_LEADER",
            Invalid => "INVALID",
            Exists => "EXISTS",
            Timeout => "TIMEOUT",
            Io => "IO",
            NotCovered => "NOT_COVERED",
            Unavailable => "UNAVAILABLE",
            Internal => "INTERNAL",
        }
    }

    /// Whether a client may retry the same request after a short pause.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::NotReady | ErrorCode::NotLeader | ErrorCode::Timeout)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error with a wire code and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct HoldfastError {
    pub code: ErrorCode,
    pub message: String,
}

impl HoldfastError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > crate::limits::ERROR_MESSAGE_BYTES_MAX {
            let mut cut = crate::limits::ERROR_MESSAGE_BYTES_MAX;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        HoldfastError { code, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn codes_round_trip() {
        for v in 0..200u16 {
            if let Some(c) = ErrorCode::from_u16(v) {
                assert_eq!(c as u16, v);
            }
        }
        assert_eq!(ErrorCode::from_u16(12), Some(ErrorCode::StaleEpoch));
    }
}
