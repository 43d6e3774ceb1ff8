//! CLOSE ([MS-SMB2] 2.2.15, 2.2.16), both directions.
//!
//! ```text
//! request (24):  StructureSize u16, Flags u16, Reserved u32, FileId 16
//! response (60): StructureSize u16, Flags u16, Reserved u32,
//!                CreationTime, LastAccessTime, LastWriteTime, ChangeTime u64,
//!                AllocationSize u64, EndofFile u64, FileAttributes u32
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::msg::{impl_encode_body, FileId};
use crate::wire::{check_structure_size, Reader};

const REQUEST: &str = "CLOSE request";
const RESPONSE: &str = "CLOSE response";

/// Flags: return the attributes in the response.
pub const CLOSE_FLAG_POSTQUERY_ATTRIB: u16 = 0x0001;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseRequest {
    pub flags: u16,
    pub file_id: FileId,
}

impl CloseRequest {
    pub const STRUCTURE_SIZE: u16 = 24;

    pub fn wants_attributes(&self) -> bool {
        self.flags & CLOSE_FLAG_POSTQUERY_ATTRIB != 0
    }

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<CloseRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let flags = r.u16()?;
        r.skip(4)?;
        Ok(CloseRequest { flags, file_id: FileId::read(&mut r)? })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(self.flags);
        out.put_u32_le(0);
        self.file_id.put(out);
    }
}

/// Without POSTQUERY_ATTRIB every field but `flags` is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseResponse {
    pub flags: u16,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
}

impl CloseResponse {
    pub const STRUCTURE_SIZE: u16 = 60;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(self.flags);
        out.put_u32_le(0);
        out.put_u64_le(self.creation_time);
        out.put_u64_le(self.last_access_time);
        out.put_u64_le(self.last_write_time);
        out.put_u64_le(self.change_time);
        out.put_u64_le(self.allocation_size);
        out.put_u64_le(self.end_of_file);
        out.put_u32_le(self.file_attributes);
    }

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<CloseResponse> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        let mut r = Reader::new(body, RESPONSE);
        r.skip(2)?;
        let flags = r.u16()?;
        r.skip(4)?;
        Ok(CloseResponse {
            flags,
            creation_time: r.u64()?,
            last_access_time: r.u64()?,
            last_write_time: r.u64()?,
            change_time: r.u64()?,
            allocation_size: r.u64()?,
            end_of_file: r.u64()?,
            file_attributes: r.u32()?,
        })
    }
}

impl_encode_body!(CloseRequest, CloseResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le64, pdu};

    #[test]
    fn decode_spec_layout() {
        let mut b = Vec::new();
        b.extend(le16(24));
        b.extend(le16(1));
        b.extend([0; 4]);
        b.extend(le64(0xAA));
        b.extend(le64(0xBB));
        let p = pdu(Command::Close, &b);
        let r = CloseRequest::decode(&p[64..], &p).unwrap();
        assert!(r.wants_attributes());
        assert_eq!(r.file_id, FileId { persistent: 0xAA, volatile: 0xBB });
    }

    #[test]
    fn round_trips() {
        let req = CloseRequest { flags: 0, file_id: FileId::ANY };
        let p = encode_with(Command::Close, |o| req.encode(o));
        assert_eq!(CloseRequest::decode(&p[64..], &p).unwrap(), req);
        let rsp = CloseResponse {
            flags: CLOSE_FLAG_POSTQUERY_ATTRIB,
            creation_time: 1,
            last_access_time: 2,
            last_write_time: 3,
            change_time: 4,
            allocation_size: 5,
            end_of_file: 6,
            file_attributes: 0x20,
        };
        let p = encode_with(Command::Close, |o| rsp.encode(o));
        assert_eq!(p.len(), 64 + 60);
        assert_eq!(CloseResponse::decode(&p[64..], &p).unwrap(), rsp);
    }
}
