//! WRITE ([MS-SMB2] 2.2.21, 2.2.22), both directions. Channel information
//! (RDMA) is bounds-checked but otherwise ignored.
//!
//! ```text
//! request (49):  StructureSize u16, DataOffset u16, Length u32, Offset u64, FileId 16,
//!                Channel u32, RemainingBytes u32,
//!                WriteChannelInfoOffset u16, WriteChannelInfoLength u16, Flags u32, Buffer
//! response (17): StructureSize u16, Reserved u16, Count u32, Remaining u32,
//!                WriteChannelInfoOffset u16, WriteChannelInfoLength u16
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::header::HEADER_BYTES;
use crate::limits::WRITE_BYTES_MAX;
use crate::msg::{clip32, impl_encode_body, len32, FileId};
use crate::wire::{check_max, check_structure_size, fixed_end, pdu_range, Reader};

const REQUEST: &str = "WRITE request";
const RESPONSE: &str = "WRITE response";

/// Request Flags.
pub mod write_flags {
    pub const WRITE_THROUGH: u32 = 0x0000_0001;
    pub const WRITE_UNBUFFERED: u32 = 0x0000_0002;
}

/// The data borrows from the PDU: an 8 MiB write is never copied by the
/// codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteRequest<'a> {
    pub offset: u64,
    pub file_id: FileId,
    pub channel: u32,
    pub remaining_bytes: u32,
    pub flags: u32,
    pub data: &'a [u8],
}

impl<'a> WriteRequest<'a> {
    pub const STRUCTURE_SIZE: u16 = 49;
    const FIXED_BYTES: usize = 48;

    pub fn decode(body: &[u8], pdu: &'a [u8]) -> Result<WriteRequest<'a>> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let data_offset = r.u16()?;
        let length = r.u32()?;
        let offset = r.u64()?;
        let file_id = FileId::read(&mut r)?;
        let channel = r.u32()?;
        let remaining_bytes = r.u32()?;
        let info_offset = r.u16()?;
        let info_length = r.u16()?;
        let flags = r.u32()?;
        check_max("WRITE Length", length.into(), WRITE_BYTES_MAX.into())?;
        let end = fixed_end(Self::FIXED_BYTES);
        pdu_range(pdu, info_offset.into(), info_length.into(), end, "WRITE WriteChannelInfo")?;
        let data = pdu_range(pdu, data_offset.into(), length.into(), end, "WRITE Data")?;
        Ok(WriteRequest { offset, file_id, channel, remaining_bytes, flags, data })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let data = clip32(self.data);
        out.reserve(Self::FIXED_BYTES + data.len().max(1));
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le((HEADER_BYTES + Self::FIXED_BYTES) as u16);
        out.put_u32_le(len32(data.len()));
        out.put_u64_le(self.offset);
        self.file_id.put(out);
        out.put_u32_le(self.channel);
        out.put_u32_le(self.remaining_bytes);
        out.put_u16_le(0);
        out.put_u16_le(0);
        out.put_u32_le(self.flags);
        if data.is_empty() {
            out.put_u8(0);
        } else {
            out.put_slice(data);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteResponse {
    pub count: u32,
    pub remaining: u32,
}

impl WriteResponse {
    pub const STRUCTURE_SIZE: u16 = 17;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(0);
        out.put_u32_le(self.count);
        out.put_u32_le(self.remaining);
        out.put_u16_le(0);
        out.put_u16_le(0);
        out.put_u8(0);
    }

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<WriteResponse> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        let mut r = Reader::new(body, RESPONSE);
        r.skip(4)?;
        let count = r.u32()?;
        Ok(WriteResponse { count, remaining: r.u32()? })
    }
}

impl_encode_body!(WriteRequest<'_>, WriteResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtoError;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

    fn write_bytes(data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(le16(49));
        b.extend(le16(0x70));
        b.extend(le32(data.len() as u32));
        b.extend(le64(512));
        b.extend(le64(3));
        b.extend(le64(4));
        b.extend(le32(0));
        b.extend(le32(0));
        b.extend(le16(0));
        b.extend(le16(0));
        b.extend(le32(write_flags::WRITE_THROUGH));
        b.extend(data);
        pdu(Command::Write, &b)
    }

    #[test]
    fn decode_spec_layout() {
        let p = write_bytes(b"hello world");
        let r = WriteRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.data, b"hello world");
        assert_eq!(r.offset, 512);
        assert_eq!(r.flags, write_flags::WRITE_THROUGH);
    }

    #[test]
    fn data_offset_and_length_are_checked() {
        let p = write_bytes(b"hello world");
        let mut z = p.clone();
        z[64 + 4] = 12; // one byte past the end
        assert!(matches!(WriteRequest::decode(&z[64..], &z), Err(ProtoError::OutOfBounds { .. })));
        let mut z = p.clone();
        z[64 + 2] = 0x6F; // inside the fixed part
        assert!(WriteRequest::decode(&z[64..], &z).is_err());
        let mut z = p.clone();
        z[64 + 2..64 + 4].copy_from_slice(&le16(0xFFFF));
        assert!(WriteRequest::decode(&z[64..], &z).is_err());
        let mut z = p;
        z[64 + 4..64 + 8].copy_from_slice(&le32(u32::MAX));
        assert!(matches!(WriteRequest::decode(&z[64..], &z), Err(ProtoError::TooMany { .. })));
    }

    #[test]
    fn round_trips() {
        let data = vec![7u8; 5000];
        let req = WriteRequest {
            offset: 1 << 40,
            file_id: FileId { persistent: 9, volatile: 8 },
            channel: 0,
            remaining_bytes: 0,
            flags: 0,
            data: &data,
        };
        let p = encode_with(Command::Write, |o| req.encode(o));
        assert_eq!(WriteRequest::decode(&p[64..], &p).unwrap(), req);
        let rsp = WriteResponse { count: 5000, remaining: 0 };
        let p = encode_with(Command::Write, |o| rsp.encode(o));
        assert_eq!(p.len(), 64 + 17);
        assert_eq!(WriteResponse::decode(&p[64..], &p).unwrap(), rsp);
    }
}
