//! The 64-byte SMB2 packet header ([MS-SMB2] 2.2.1), sync and async forms.
//!
//! ```text
//! offset size field
//!  0     4    ProtocolId      0xFE 'S' 'M' 'B'
//!  4     2    StructureSize   64
//!  6     2    CreditCharge
//!  8     4    Status (responses) | ChannelSequence u16 + Reserved u16 (3.x requests)
//! 12     2    Command
//! 14     2    CreditRequest / CreditResponse
//! 16     4    Flags
//! 20     4    NextCommand     offset of the next PDU of a compound, 0 if last
//! 24     8    MessageId
//! 32     8    AsyncId (ASYNC_COMMAND set) | Reserved u32 + TreeId u32
//! 40     8    SessionId
//! 48    16    Signature
//! ```

use bytes::{BufMut, BytesMut};
use holdfast_types::ntstatus::NtStatus;

use crate::error::{ProtoError, Result};
use crate::wire::Reader;

pub const HEADER_BYTES: usize = 64;
pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
/// Byte range of NextCommand inside a header.
pub const NEXT_COMMAND_RANGE: std::ops::Range<usize> = 20..24;
/// Byte range of Flags inside a header.
pub const FLAGS_RANGE: std::ops::Range<usize> = 16..20;
/// Byte range of the Signature inside a header: zeroed while signing.
pub const SIGNATURE_RANGE: std::ops::Range<usize> = 48..64;

/// Header Flags ([MS-SMB2] 2.2.1.2).
pub mod flags {
    pub const SERVER_TO_REDIR: u32 = 0x0000_0001;
    pub const ASYNC_COMMAND: u32 = 0x0000_0002;
    pub const RELATED_OPERATIONS: u32 = 0x0000_0004;
    pub const SIGNED: u32 = 0x0000_0008;
    pub const PRIORITY_MASK: u32 = 0x0000_0070;
    pub const DFS_OPERATIONS: u32 = 0x1000_0000;
    pub const REPLAY_OPERATION: u32 = 0x2000_0000;
}

/// The 19 SMB2 commands ([MS-SMB2] 2.2.1.2, Command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum Command {
    Negotiate = 0x0000,
    SessionSetup = 0x0001,
    Logoff = 0x0002,
    TreeConnect = 0x0003,
    TreeDisconnect = 0x0004,
    Create = 0x0005,
    Close = 0x0006,
    Flush = 0x0007,
    Read = 0x0008,
    Write = 0x0009,
    Lock = 0x000A,
    Ioctl = 0x000B,
    Cancel = 0x000C,
    Echo = 0x000D,
    QueryDirectory = 0x000E,
    ChangeNotify = 0x000F,
    QueryInfo = 0x0010,
    SetInfo = 0x0011,
    OplockBreak = 0x0012,
}

impl Command {
    pub const ALL: [Command; 19] = [
        Command::Negotiate,
        Command::SessionSetup,
        Command::Logoff,
        Command::TreeConnect,
        Command::TreeDisconnect,
        Command::Create,
        Command::Close,
        Command::Flush,
        Command::Read,
        Command::Write,
        Command::Lock,
        Command::Ioctl,
        Command::Cancel,
        Command::Echo,
        Command::QueryDirectory,
        Command::ChangeNotify,
        Command::QueryInfo,
        Command::SetInfo,
        Command::OplockBreak,
    ];

    pub fn from_u16(v: u16) -> Option<Command> {
        Command::ALL.get(usize::from(v)).copied()
    }

    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// The name used in [MS-SMB2], for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Command::Negotiate => "NEGOTIATE",
            Command::SessionSetup => "SESSION_SETUP",
            Command::Logoff => "LOGOFF",
            Command::TreeConnect => "TREE_CONNECT",
            Command::TreeDisconnect => "TREE_DISCONNECT",
            Command::Create => "CREATE",
            Command::Close => "CLOSE",
            Command::Flush => "FLUSH",
            Command::Read => "READ",
            Command::Write => "WRITE",
            Command::Lock => "LOCK",
            Command::Ioctl => "IOCTL",
            Command::Cancel => "CANCEL",
            Command::Echo => "ECHO",
            Command::QueryDirectory => "QUERY_DIRECTORY",
            Command::ChangeNotify => "CHANGE_NOTIFY",
            Command::QueryInfo => "QUERY_INFO",
            Command::SetInfo => "SET_INFO",
            Command::OplockBreak => "OPLOCK_BREAK",
        }
    }
}

/// Bytes 32..40: an AsyncId when ASYNC_COMMAND is set, else Reserved (the
/// old ProcessId) and TreeId. The enum keeps the flag and the field from
/// disagreeing: encoding sets or clears ASYNC_COMMAND to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOrAsync {
    Sync { process_id: u32, tree_id: u32 },
    Async { async_id: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub credit_charge: u16,
    /// Status in responses. In 3.x requests the low 16 bits are the
    /// ChannelSequence ([`Header::channel_sequence`]) and the rest Reserved.
    pub status: NtStatus,
    pub command: Command,
    /// CreditRequest in requests, CreditResponse in responses.
    pub credits: u16,
    pub flags: u32,
    pub next_command: u32,
    pub message_id: u64,
    pub id: SyncOrAsync,
    pub session_id: u64,
    pub signature: [u8; 16],
}

impl Header {
    /// A sync request header with no credits charged and one requested.
    pub fn request(command: Command, message_id: u64, session_id: u64, tree_id: u32) -> Header {
        Header {
            credit_charge: 1,
            status: NtStatus::SUCCESS,
            command,
            credits: 1,
            flags: 0,
            next_command: 0,
            message_id,
            id: SyncOrAsync::Sync { process_id: 0xFEFF, tree_id },
            session_id,
            signature: [0; 16],
        }
    }

    /// The header of a response to `req`: same command, MessageId,
    /// SessionId, tree or async id and CreditCharge; SERVER_TO_REDIR set,
    /// RELATED_OPERATIONS and the priority kept; not signed yet.
    pub fn response_to(req: &Header, status: NtStatus, credits: u16) -> Header {
        let kept = req.flags & (flags::RELATED_OPERATIONS | flags::PRIORITY_MASK | flags::ASYNC_COMMAND);
        Header {
            credit_charge: req.credit_charge,
            status,
            command: req.command,
            credits,
            flags: flags::SERVER_TO_REDIR | kept,
            next_command: 0,
            message_id: req.message_id,
            id: req.id,
            session_id: req.session_id,
            signature: [0; 16],
        }
    }

    pub fn decode(pdu: &[u8]) -> Result<Header> {
        let mut r = Reader::new(pdu, "SMB2 header");
        let protocol: [u8; 4] = r.array()?;
        if protocol != PROTOCOL_ID {
            return Err(ProtoError::ProtocolId { got: protocol });
        }
        let structure_size = r.u16()?;
        if structure_size != HEADER_BYTES as u16 {
            return Err(ProtoError::StructureSize {
                what: "SMB2 header",
                got: structure_size,
                expected: HEADER_BYTES as u16,
            });
        }
        let credit_charge = r.u16()?;
        let status = NtStatus(r.u32()?);
        let raw_command = r.u16()?;
        let command = Command::from_u16(raw_command).ok_or(ProtoError::UnknownCommand(raw_command))?;
        let credits = r.u16()?;
        let flags = r.u32()?;
        let next_command = r.u32()?;
        let message_id = r.u64()?;
        let id = if flags & flags::ASYNC_COMMAND != 0 {
            SyncOrAsync::Async { async_id: r.u64()? }
        } else {
            let process_id = r.u32()?;
            SyncOrAsync::Sync { process_id, tree_id: r.u32()? }
        };
        let session_id = r.u64()?;
        let signature = r.array()?;
        Ok(Header {
            credit_charge,
            status,
            command,
            credits,
            flags,
            next_command,
            message_id,
            id,
            session_id,
            signature,
        })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(HEADER_BYTES);
        out.put_slice(&PROTOCOL_ID);
        out.put_u16_le(HEADER_BYTES as u16);
        out.put_u16_le(self.credit_charge);
        out.put_u32_le(self.status.0);
        out.put_u16_le(self.command.as_u16());
        out.put_u16_le(self.credits);
        match self.id {
            SyncOrAsync::Sync { process_id, tree_id } => {
                out.put_u32_le(self.flags & !flags::ASYNC_COMMAND);
                out.put_u32_le(self.next_command);
                out.put_u64_le(self.message_id);
                out.put_u32_le(process_id);
                out.put_u32_le(tree_id);
            }
            SyncOrAsync::Async { async_id } => {
                out.put_u32_le(self.flags | flags::ASYNC_COMMAND);
                out.put_u32_le(self.next_command);
                out.put_u64_le(self.message_id);
                out.put_u64_le(async_id);
            }
        }
        out.put_u64_le(self.session_id);
        out.put_slice(&self.signature);
    }

    pub fn is_response(&self) -> bool {
        self.flags & flags::SERVER_TO_REDIR != 0
    }

    pub fn is_related(&self) -> bool {
        self.flags & flags::RELATED_OPERATIONS != 0
    }

    pub fn is_signed(&self) -> bool {
        self.flags & flags::SIGNED != 0
    }

    pub fn is_replay(&self) -> bool {
        self.flags & flags::REPLAY_OPERATION != 0
    }

    /// The 3-bit priority (3.1.1), 0 if none.
    pub fn priority(&self) -> u8 {
        ((self.flags & flags::PRIORITY_MASK) >> 4) as u8
    }

    /// ChannelSequence of a 3.x request (low 16 bits of the Status field).
    pub fn channel_sequence(&self) -> u16 {
        self.status.0 as u16
    }

    /// The TreeId of a sync header, None for an async one.
    pub fn tree_id(&self) -> Option<u32> {
        match self.id {
            SyncOrAsync::Sync { tree_id, .. } => Some(tree_id),
            SyncOrAsync::Async { .. } => None,
        }
    }

    /// The AsyncId of an async header.
    pub fn async_id(&self) -> Option<u64> {
        match self.id {
            SyncOrAsync::Async { async_id } => Some(async_id),
            SyncOrAsync::Sync { .. } => None,
        }
    }
}

/// Appends the header of an error response to a request whose header is
/// well formed except for an unknown Command ([`ProtoError::UnknownCommand`]):
/// such a request is answered (STATUS_INVALID_PARAMETER, as Windows and
/// Samba do), not dropped, and [`Header`] cannot hold the unknown value,
/// so this copies the request's header bytes and turns them into a
/// response: SERVER_TO_REDIR set, SIGNED cleared (the signer sets it),
/// other flags kept, the given status and credits, NextCommand and
/// Signature zero.
pub fn encode_unknown_command_response(pdu: &[u8], status: NtStatus, credits: u16, out: &mut BytesMut) -> Result<()> {
    let request = pdu.get(..HEADER_BYTES).ok_or(ProtoError::Truncated {
        what: "SMB2 header",
        offset: 0,
        need: HEADER_BYTES,
        have: pdu.len(),
    })?;
    let mut h = [0u8; HEADER_BYTES];
    h.copy_from_slice(request);
    let protocol = [h[0], h[1], h[2], h[3]];
    if protocol != PROTOCOL_ID {
        return Err(ProtoError::ProtocolId { got: protocol });
    }
    let flags = u32::from_le_bytes([h[16], h[17], h[18], h[19]]) | flags::SERVER_TO_REDIR;
    h[8..12].copy_from_slice(&status.0.to_le_bytes());
    h[14..16].copy_from_slice(&credits.to_le_bytes());
    h[FLAGS_RANGE].copy_from_slice(&(flags & !flags::SIGNED).to_le_bytes());
    h[NEXT_COMMAND_RANGE].copy_from_slice(&[0; 4]);
    h[SIGNATURE_RANGE].copy_from_slice(&[0; 16]);
    out.put_slice(&h);
    Ok(())
}

/// Overwrites NextCommand of the encoded header at the start of `pdu`
/// (compounding patches it after the PDU's length is known).
pub fn patch_next_command(pdu: &mut [u8], next_command: u32) -> Result<()> {
    patch(pdu, NEXT_COMMAND_RANGE, &next_command.to_le_bytes())
}

/// Overwrites Flags of the encoded header at the start of `pdu`.
pub fn patch_flags(pdu: &mut [u8], flags: u32) -> Result<()> {
    patch(pdu, FLAGS_RANGE, &flags.to_le_bytes())
}

/// Overwrites the Signature of the encoded header at the start of `pdu`.
pub fn patch_signature(pdu: &mut [u8], signature: &[u8; 16]) -> Result<()> {
    patch(pdu, SIGNATURE_RANGE, signature)
}

fn patch(pdu: &mut [u8], range: std::ops::Range<usize>, bytes: &[u8]) -> Result<()> {
    let have = pdu.len();
    match pdu.get_mut(range.clone()) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            Ok(())
        }
        None => Err(ProtoError::Truncated { what: "SMB2 header", offset: range.start, need: range.len(), have }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            credit_charge: 3,
            status: NtStatus::SUCCESS,
            command: Command::Create,
            credits: 31,
            flags: flags::RELATED_OPERATIONS | flags::SIGNED | flags::REPLAY_OPERATION,
            next_command: 0x98,
            message_id: 0x0102_0304_0506_0708,
            id: SyncOrAsync::Sync { process_id: 0xFEFF, tree_id: 7 },
            session_id: 0x1122_3344_5566_7788,
            signature: [0xAB; 16],
        }
    }

    #[test]
    fn sync_header_layout_and_round_trip() {
        let h = sample();
        let mut out = BytesMut::new();
        h.encode(&mut out);
        assert_eq!(out.len(), 64);
        assert_eq!(&out[0..4], &[0xFE, b'S', b'M', b'B']);
        assert_eq!(&out[4..6], &[64, 0]);
        assert_eq!(&out[6..8], &[3, 0]);
        assert_eq!(&out[12..14], &[5, 0]);
        assert_eq!(&out[14..16], &[31, 0]);
        assert_eq!(&out[16..20], &0x2000_000Cu32.to_le_bytes());
        assert_eq!(&out[20..24], &[0x98, 0, 0, 0]);
        assert_eq!(&out[32..36], &0xFEFFu32.to_le_bytes());
        assert_eq!(&out[36..40], &7u32.to_le_bytes());
        assert_eq!(&out[48..64], &[0xAB; 16]);
        let d = Header::decode(&out).unwrap();
        assert_eq!(d, h);
        assert!(d.is_related() && d.is_signed() && d.is_replay() && !d.is_response());
        assert_eq!(d.tree_id(), Some(7));
    }

    #[test]
    fn async_header_round_trip_sets_the_flag() {
        let mut h = sample();
        h.id = SyncOrAsync::Async { async_id: 0xDEAD_BEEF };
        h.status = NtStatus::PENDING;
        let mut out = BytesMut::new();
        h.encode(&mut out);
        let d = Header::decode(&out).unwrap();
        assert_eq!(d.async_id(), Some(0xDEAD_BEEF));
        assert_eq!(d.flags & flags::ASYNC_COMMAND, flags::ASYNC_COMMAND);
        assert_eq!(d.status, NtStatus::PENDING);
    }

    #[test]
    fn channel_sequence_and_priority() {
        let mut h = sample();
        h.status = NtStatus(0x0000_0005);
        h.flags |= 0x30;
        assert_eq!(h.channel_sequence(), 5);
        assert_eq!(h.priority(), 3);
    }

    #[test]
    fn response_to_copies_ids() {
        let req = sample();
        let rsp = Header::response_to(&req, NtStatus::ACCESS_DENIED, 10);
        assert!(rsp.is_response() && rsp.is_related() && !rsp.is_signed());
        assert_eq!(rsp.message_id, req.message_id);
        assert_eq!(rsp.tree_id(), Some(7));
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        let mut out = BytesMut::new();
        sample().encode(&mut out);
        assert!(matches!(Header::decode(&out[..63]), Err(ProtoError::Truncated { .. })));
        let mut b = out.to_vec();
        b[0] = 0xFF;
        assert!(matches!(Header::decode(&b), Err(ProtoError::ProtocolId { .. })));
        let mut b = out.to_vec();
        b[4] = 65;
        assert!(matches!(Header::decode(&b), Err(ProtoError::StructureSize { .. })));
        let mut b = out.to_vec();
        b[12] = 0x13;
        assert_eq!(Header::decode(&b), Err(ProtoError::UnknownCommand(0x13)));
    }

    #[test]
    fn unknown_command_is_answered_with_its_own_command() {
        let mut req = BytesMut::new();
        sample().encode(&mut req);
        req[12] = 0x42;
        assert_eq!(Header::decode(&req), Err(ProtoError::UnknownCommand(0x42)));
        let mut out = BytesMut::new();
        encode_unknown_command_response(&req, NtStatus::INVALID_PARAMETER, 1, &mut out).unwrap();
        assert_eq!(out.len(), 64);
        assert_eq!(&out[12..14], &[0x42, 0]);
        assert_eq!(&out[8..12], &0xC000_000Du32.to_le_bytes());
        assert_eq!(&out[24..48], &req[24..48]);
        assert_eq!(&out[48..64], &[0; 16]);
        let f = u32::from_le_bytes([out[16], out[17], out[18], out[19]]);
        assert_eq!(f & (flags::SERVER_TO_REDIR | flags::SIGNED), flags::SERVER_TO_REDIR);
        assert!(encode_unknown_command_response(&req[..10], NtStatus::INVALID_PARAMETER, 1, &mut out).is_err());
    }

    #[test]
    fn all_commands_map_both_ways() {
        for (i, c) in Command::ALL.iter().enumerate() {
            assert_eq!(c.as_u16() as usize, i);
            assert_eq!(Command::from_u16(i as u16), Some(*c));
        }
        assert_eq!(Command::from_u16(19), None);
    }

    #[test]
    fn patches_touch_only_their_fields() {
        let mut out = BytesMut::new();
        sample().encode(&mut out);
        patch_next_command(&mut out, 0x100).unwrap();
        patch_signature(&mut out, &[1; 16]).unwrap();
        let d = Header::decode(&out).unwrap();
        assert_eq!(d.next_command, 0x100);
        assert_eq!(d.signature, [1; 16]);
        assert!(patch_flags(&mut [0u8; 10], 1).is_err());
    }
}
