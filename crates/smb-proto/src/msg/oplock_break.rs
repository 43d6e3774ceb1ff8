//! OPLOCK_BREAK ([MS-SMB2] 2.2.23, 2.2.24, 2.2.25): oplock and lease break
//! notifications (server to client), acknowledgments (client to server)
//! and responses (server to client). The StructureSize tells them apart.
//!
//! ```text
//! oplock break notification / ack / response (24):
//!     StructureSize u16, OplockLevel u8, Reserved u8, Reserved2 u32, FileId 16
//! lease break notification (44):
//!     StructureSize u16, NewEpoch u16, Flags u32, LeaseKey 16,
//!     CurrentLeaseState u32, NewLeaseState u32, BreakReason u32,
//!     AccessMaskHint u32, ShareMaskHint u32
//! lease break ack / response (36):
//!     StructureSize u16, Reserved u16, Flags u32, LeaseKey 16,
//!     LeaseState u32, LeaseDuration u64
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::msg::{impl_encode_body, FileId};
use crate::wire::{check_structure_size, Reader};

/// Lease break notification Flags.
pub const NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED: u32 = 0x01;

/// Oplock break notification, acknowledgment and response share a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OplockBreak {
    pub oplock_level: u8,
    pub file_id: FileId,
}

impl OplockBreak {
    pub const STRUCTURE_SIZE: u16 = 24;

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<OplockBreak> {
        check_structure_size(body, Self::STRUCTURE_SIZE, "OPLOCK_BREAK")?;
        let mut r = Reader::new(body, "OPLOCK_BREAK");
        r.skip(2)?;
        let oplock_level = r.u8()?;
        r.skip(5)?;
        Ok(OplockBreak { oplock_level, file_id: FileId::read(&mut r)? })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.oplock_level);
        out.put_u8(0);
        out.put_u32_le(0);
        self.file_id.put(out);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseBreakNotification {
    pub new_epoch: u16,
    pub flags: u32,
    pub lease_key: [u8; 16],
    pub current_lease_state: u32,
    pub new_lease_state: u32,
    pub break_reason: u32,
    pub access_mask_hint: u32,
    pub share_mask_hint: u32,
}

impl LeaseBreakNotification {
    pub const STRUCTURE_SIZE: u16 = 44;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(self.new_epoch);
        out.put_u32_le(self.flags);
        out.put_slice(&self.lease_key);
        out.put_u32_le(self.current_lease_state);
        out.put_u32_le(self.new_lease_state);
        out.put_u32_le(self.break_reason);
        out.put_u32_le(self.access_mask_hint);
        out.put_u32_le(self.share_mask_hint);
    }

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<LeaseBreakNotification> {
        check_structure_size(body, Self::STRUCTURE_SIZE, "LEASE_BREAK notification")?;
        let mut r = Reader::new(body, "LEASE_BREAK notification");
        r.skip(2)?;
        Ok(LeaseBreakNotification {
            new_epoch: r.u16()?,
            flags: r.u32()?,
            lease_key: r.array()?,
            current_lease_state: r.u32()?,
            new_lease_state: r.u32()?,
            break_reason: r.u32()?,
            access_mask_hint: r.u32()?,
            share_mask_hint: r.u32()?,
        })
    }
}

/// Lease break acknowledgment and response share a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseBreakAck {
    pub flags: u32,
    pub lease_key: [u8; 16],
    pub lease_state: u32,
    pub lease_duration: u64,
}

impl LeaseBreakAck {
    pub const STRUCTURE_SIZE: u16 = 36;

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<LeaseBreakAck> {
        check_structure_size(body, Self::STRUCTURE_SIZE, "LEASE_BREAK ack")?;
        let mut r = Reader::new(body, "LEASE_BREAK ack");
        r.skip(4)?;
        Ok(LeaseBreakAck {
            flags: r.u32()?,
            lease_key: r.array()?,
            lease_state: r.u32()?,
            lease_duration: r.u64()?,
        })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(0);
        out.put_u32_le(self.flags);
        out.put_slice(&self.lease_key);
        out.put_u32_le(self.lease_state);
        out.put_u64_le(self.lease_duration);
    }
}

/// What a client sends with command OPLOCK_BREAK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OplockBreakRequest {
    Oplock(OplockBreak),
    Lease(LeaseBreakAck),
}

impl OplockBreakRequest {
    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<OplockBreakRequest> {
        let size = match body.get(0..2) {
            Some(b) => u16::from_le_bytes([b[0], b[1]]),
            None => {
                return Err(ProtoError::Truncated { what: "OPLOCK_BREAK request", offset: 0, need: 2, have: body.len() })
            }
        };
        match size {
            OplockBreak::STRUCTURE_SIZE => Ok(OplockBreakRequest::Oplock(OplockBreak::decode(body, pdu)?)),
            LeaseBreakAck::STRUCTURE_SIZE => Ok(OplockBreakRequest::Lease(LeaseBreakAck::decode(body, pdu)?)),
            got => Err(ProtoError::StructureSize {
                what: "OPLOCK_BREAK request",
                got,
                expected: OplockBreak::STRUCTURE_SIZE,
            }),
        }
    }

    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            OplockBreakRequest::Oplock(o) => o.encode(out),
            OplockBreakRequest::Lease(l) => l.encode(out),
        }
    }
}

impl_encode_body!(OplockBreak, LeaseBreakNotification, LeaseBreakAck, OplockBreakRequest);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

    #[test]
    fn decode_oplock_ack_and_lease_ack_by_size() {
        let mut b = Vec::new();
        b.extend(le16(24));
        b.push(1);
        b.extend([0; 5]);
        b.extend(le64(7));
        b.extend(le64(8));
        let p = pdu(Command::OplockBreak, &b);
        assert_eq!(
            OplockBreakRequest::decode(&p[64..], &p).unwrap(),
            OplockBreakRequest::Oplock(OplockBreak { oplock_level: 1, file_id: FileId { persistent: 7, volatile: 8 } })
        );
        let mut b = Vec::new();
        b.extend(le16(36));
        b.extend(le16(0));
        b.extend(le32(0));
        b.extend([3; 16]);
        b.extend(le32(1));
        b.extend(le64(0));
        let p = pdu(Command::OplockBreak, &b);
        assert_eq!(
            OplockBreakRequest::decode(&p[64..], &p).unwrap(),
            OplockBreakRequest::Lease(LeaseBreakAck { flags: 0, lease_key: [3; 16], lease_state: 1, lease_duration: 0 })
        );
        let p = pdu(Command::OplockBreak, &[44, 0]);
        assert!(OplockBreakRequest::decode(&p[64..], &p).is_err());
        assert!(OplockBreakRequest::decode(&[], &p).is_err());
    }

    #[test]
    fn notifications_round_trip() {
        let n = LeaseBreakNotification {
            new_epoch: 2,
            flags: NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED,
            lease_key: [4; 16],
            current_lease_state: 7,
            new_lease_state: 1,
            break_reason: 0,
            access_mask_hint: 0,
            share_mask_hint: 0,
        };
        let p = encode_with(Command::OplockBreak, |o| n.encode(o));
        assert_eq!(p.len(), 64 + 44);
        assert_eq!(LeaseBreakNotification::decode(&p[64..], &p).unwrap(), n);
        let o = OplockBreak { oplock_level: 0, file_id: FileId { persistent: 1, volatile: 2 } };
        let p = encode_with(Command::OplockBreak, |out| o.encode(out));
        assert_eq!(p.len(), 64 + 24);
        assert_eq!(OplockBreak::decode(&p[64..], &p).unwrap(), o);
        let a = LeaseBreakAck { flags: 0, lease_key: [5; 16], lease_state: 3, lease_duration: 0 };
        let p = encode_with(Command::OplockBreak, |out| a.encode(out));
        assert_eq!(p.len(), 64 + 36);
        assert_eq!(LeaseBreakAck::decode(&p[64..], &p).unwrap(), a);
    }
}
