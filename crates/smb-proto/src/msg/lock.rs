//! LOCK ([MS-SMB2] 2.2.26, 2.2.27), both directions.
//!
//! ```text
//! request (48):  StructureSize u16, LockCount u16,
//!                LockSequenceNumber 4 bits (low) / LockSequenceIndex 28 bits (high) u32,
//!                FileId 16, Locks[LockCount] of 24 bytes:
//!                Offset u64, Length u64, Flags u32, Reserved u32
//! response (4):  StructureSize u16, Reserved u16
//! ```
//! StructureSize 48 counts the first lock element, so LockCount is at
//! least 1.

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::limits::LOCK_ELEMENTS_MAX;
use crate::msg::{impl_encode_body, len16, FileId};
use crate::wire::{check_max, check_structure_size, Reader};

const REQUEST: &str = "LOCK request";

/// LOCK_ELEMENT Flags.
pub mod lock_flags {
    pub const SHARED_LOCK: u32 = 0x0000_0001;
    pub const EXCLUSIVE_LOCK: u32 = 0x0000_0002;
    pub const UNLOCK: u32 = 0x0000_0004;
    pub const FAIL_IMMEDIATELY: u32 = 0x0000_0010;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockElement {
    pub offset: u64,
    pub length: u64,
    pub flags: u32,
}

const ELEMENT_BYTES: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRequest {
    /// Low 4 bits of the LockSequence field.
    pub lock_sequence_number: u8,
    /// High 28 bits of the LockSequence field.
    pub lock_sequence_index: u32,
    pub file_id: FileId,
    pub locks: Vec<LockElement>,
}

impl LockRequest {
    pub const STRUCTURE_SIZE: u16 = 48;
    const FIXED_BYTES: usize = 24;

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<LockRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let count = r.u16()?;
        let sequence = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        if count == 0 {
            return Err(ProtoError::InvalidValue { field: "LOCK LockCount", value: 0 });
        }
        check_max("LOCK LockCount", count.into(), LOCK_ELEMENTS_MAX as u64)?;
        let mut locks = Vec::with_capacity(count.into());
        for _ in 0..count {
            let offset = r.u64()?;
            let length = r.u64()?;
            let flags = r.u32()?;
            r.skip(4)?;
            locks.push(LockElement { offset, length, flags });
        }
        debug_assert_eq!(r.pos(), Self::FIXED_BYTES + ELEMENT_BYTES * locks.len());
        Ok(LockRequest {
            lock_sequence_number: (sequence & 0xF) as u8,
            lock_sequence_index: sequence >> 4,
            file_id,
            locks,
        })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let locks = &self.locks[..self.locks.len().min(LOCK_ELEMENTS_MAX)];
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(len16(locks.len()));
        out.put_u32_le((self.lock_sequence_index << 4) | u32::from(self.lock_sequence_number & 0xF));
        self.file_id.put(out);
        for l in locks {
            out.put_u64_le(l.offset);
            out.put_u64_le(l.length);
            out.put_u32_le(l.flags);
            out.put_u32_le(0);
        }
    }
}

crate::msg::reserved_only_body!(LockResponse, "LOCK response");
impl_encode_body!(LockRequest);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

    fn lock_bytes(count: u16, elements: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(le16(48));
        b.extend(le16(count));
        b.extend(le32((5 << 4) | 3));
        b.extend(le64(1));
        b.extend(le64(2));
        for i in 0..elements as u64 {
            b.extend(le64(i * 100));
            b.extend(le64(10));
            b.extend(le32(lock_flags::EXCLUSIVE_LOCK | lock_flags::FAIL_IMMEDIATELY));
            b.extend(le32(0));
        }
        pdu(Command::Lock, &b)
    }

    #[test]
    fn decode_spec_layout() {
        let p = lock_bytes(2, 2);
        let r = LockRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.lock_sequence_number, 3);
        assert_eq!(r.lock_sequence_index, 5);
        assert_eq!(r.locks.len(), 2);
        assert_eq!(r.locks[1], LockElement { offset: 100, length: 10, flags: 0x12 });
    }

    #[test]
    fn counts_are_checked() {
        let p = lock_bytes(0, 1);
        assert!(LockRequest::decode(&p[64..], &p).is_err());
        let p = lock_bytes(3, 2);
        assert!(matches!(LockRequest::decode(&p[64..], &p), Err(ProtoError::Truncated { .. })));
        let p = lock_bytes(LOCK_ELEMENTS_MAX as u16 + 1, LOCK_ELEMENTS_MAX + 1);
        assert!(matches!(LockRequest::decode(&p[64..], &p), Err(ProtoError::TooMany { .. })));
        let p = lock_bytes(LOCK_ELEMENTS_MAX as u16, LOCK_ELEMENTS_MAX);
        assert!(LockRequest::decode(&p[64..], &p).is_ok());
    }

    #[test]
    fn round_trips() {
        let req = LockRequest {
            lock_sequence_number: 0xF,
            lock_sequence_index: 64,
            file_id: FileId { persistent: 5, volatile: 6 },
            locks: vec![LockElement { offset: 0, length: u64::MAX, flags: lock_flags::UNLOCK }],
        };
        let p = encode_with(Command::Lock, |o| req.encode(o));
        assert_eq!(p.len(), 64 + 48);
        assert_eq!(LockRequest::decode(&p[64..], &p).unwrap(), req);
        let p = encode_with(Command::Lock, |o| LockResponse.encode(o));
        assert_eq!(LockResponse::decode(&p[64..], &p).unwrap(), LockResponse);
    }
}
