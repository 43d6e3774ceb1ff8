//! The size table checked before any request is parsed, as ksmbd does
//! (smb2misc.c): every command's request has a fixed StructureSize
//! ([MS-SMB2] 2.2.x); a body whose StructureSize differs, or that is
//! shorter than its fixed part, is rejected with STATUS_INVALID_PARAMETER
//! before a decoder reads any other field. Decoders then check each
//! (offset, length) pair and count themselves (`wire::pdu_range`,
//! `wire::check_max`).

use crate::error::{ProtoError, Result};
use crate::header::Command;
use crate::msg::oplock_break::{LeaseBreakAck, OplockBreak};
use crate::wire::check_structure_size;

/// The StructureSize of each command's request. OPLOCK_BREAK also allows
/// the lease break acknowledgment's 36 (see [`check_request`]).
pub const fn request_structure_size(command: Command) -> u16 {
    match command {
        Command::Negotiate => 36,
        Command::SessionSetup => 25,
        Command::Logoff => 4,
        Command::TreeConnect => 9,
        Command::TreeDisconnect => 4,
        Command::Create => 57,
        Command::Close => 24,
        Command::Flush => 24,
        Command::Read => 49,
        Command::Write => 49,
        Command::Lock => 48,
        Command::Ioctl => 57,
        Command::Cancel => 4,
        Command::Echo => 4,
        Command::QueryDirectory => 33,
        Command::ChangeNotify => 32,
        Command::QueryInfo => 41,
        Command::SetInfo => 33,
        Command::OplockBreak => 24,
    }
}

/// The StructureSize of each command's success response (CANCEL has none;
/// OPLOCK_BREAK also has the lease forms, 44 and 36).
pub const fn response_structure_size(command: Command) -> Option<u16> {
    Some(match command {
        Command::Negotiate => 65,
        Command::SessionSetup => 9,
        Command::Logoff => 4,
        Command::TreeConnect => 16,
        Command::TreeDisconnect => 4,
        Command::Create => 89,
        Command::Close => 60,
        Command::Flush => 4,
        Command::Read => 17,
        Command::Write => 17,
        Command::Lock => 4,
        Command::Ioctl => 49,
        Command::Cancel => return None,
        Command::Echo => 4,
        Command::QueryDirectory => 9,
        Command::ChangeNotify => 9,
        Command::QueryInfo => 9,
        Command::SetInfo => 2,
        Command::OplockBreak => 24,
    })
}

/// Checks a request body against the table: StructureSize equal, body at
/// least as long as the fixed part.
pub fn check_request(command: Command, body: &[u8]) -> Result<()> {
    let what = command.name();
    if command == Command::OplockBreak {
        // An oplock break ack (24) or a lease break ack (36).
        return match body.get(0..2).map(|b| u16::from_le_bytes([b[0], b[1]])) {
            Some(LeaseBreakAck::STRUCTURE_SIZE) => check_structure_size(body, LeaseBreakAck::STRUCTURE_SIZE, what),
            Some(_) => check_structure_size(body, OplockBreak::STRUCTURE_SIZE, what),
            None => Err(ProtoError::Truncated { what, offset: 0, need: 2, have: body.len() }),
        };
    }
    check_structure_size(body, request_structure_size(command), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rejects_wrong_sizes_before_parsing() {
        for c in Command::ALL {
            let size = request_structure_size(c);
            let mut body = vec![0u8; 128];
            body[0..2].copy_from_slice(&size.to_le_bytes());
            assert!(check_request(c, &body).is_ok(), "{c:?}");
            body[0..2].copy_from_slice(&(size + 2).to_le_bytes());
            assert!(matches!(check_request(c, &body), Err(ProtoError::StructureSize { .. })), "{c:?}");
            body[0..2].copy_from_slice(&size.to_le_bytes());
            let fixed = usize::from(size & !1);
            assert!(check_request(c, &body[..fixed - 1]).is_err(), "{c:?}");
            assert!(check_request(c, &body[..fixed]).is_ok(), "{c:?}");
        }
        let mut lease_ack = vec![0u8; 36];
        lease_ack[0] = 36;
        assert!(check_request(Command::OplockBreak, &lease_ack).is_ok());
        assert!(check_request(Command::OplockBreak, &[]).is_err());
    }

    #[test]
    fn response_table_matches_the_encoders() {
        use crate::msg::*;
        assert_eq!(response_structure_size(Command::Negotiate), Some(negotiate::NegotiateResponse::STRUCTURE_SIZE));
        assert_eq!(response_structure_size(Command::Create), Some(create::CreateResponse::STRUCTURE_SIZE));
        assert_eq!(response_structure_size(Command::Close), Some(close::CloseResponse::STRUCTURE_SIZE));
        assert_eq!(response_structure_size(Command::Read), Some(read::ReadResponse::STRUCTURE_SIZE));
        assert_eq!(response_structure_size(Command::Ioctl), Some(ioctl::IoctlResponse::STRUCTURE_SIZE));
        assert_eq!(response_structure_size(Command::SetInfo), Some(set_info::SetInfoResponse::STRUCTURE_SIZE));
        assert_eq!(response_structure_size(Command::Cancel), None);
    }
}
