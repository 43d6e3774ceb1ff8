//! READ ([MS-SMB2] 2.2.19, 2.2.20), both directions. Channel information
//! (RDMA) is bounds-checked but otherwise ignored: the server offers no
//! RDMA transport.
//!
//! ```text
//! request (49):  StructureSize u16, Padding u8, Flags u8, Length u32, Offset u64,
//!                FileId 16, MinimumCount u32, Channel u32, RemainingBytes u32,
//!                ReadChannelInfoOffset u16, ReadChannelInfoLength u16, Buffer
//! response (17): StructureSize u16, DataOffset u8, Reserved u8, DataLength u32,
//!                DataRemaining u32, Flags u32, Buffer (data at 0x50)
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::header::HEADER_BYTES;
use crate::limits::READ_BYTES_MAX;
use crate::msg::{clip32, impl_encode_body, len32, FileId};
use crate::wire::{check_max, check_structure_size, fixed_end, pdu_range, Reader};

const REQUEST: &str = "READ request";
const RESPONSE: &str = "READ response";

/// Request Flags.
pub mod read_flags {
    pub const UNBUFFERED: u8 = 0x01;
    pub const REQUEST_COMPRESSED: u8 = 0x02;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest {
    /// Where the client wants the data in the response; the server always
    /// uses 0x50 ([`READ_DATA_OFFSET`]).
    pub padding: u8,
    pub flags: u8,
    pub length: u32,
    pub offset: u64,
    pub file_id: FileId,
    pub minimum_count: u32,
    pub channel: u32,
    pub remaining_bytes: u32,
}

/// DataOffset of every READ response: header (64) + fixed part (16).
pub const READ_DATA_OFFSET: u8 = 0x50;

impl ReadRequest {
    pub const STRUCTURE_SIZE: u16 = 49;
    const FIXED_BYTES: usize = 48;

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<ReadRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let padding = r.u8()?;
        let flags = r.u8()?;
        let length = r.u32()?;
        let offset = r.u64()?;
        let file_id = FileId::read(&mut r)?;
        let minimum_count = r.u32()?;
        let channel = r.u32()?;
        let remaining_bytes = r.u32()?;
        let info_offset = r.u16()?;
        let info_length = r.u16()?;
        check_max("READ Length", length.into(), READ_BYTES_MAX.into())?;
        pdu_range(pdu, info_offset.into(), info_length.into(), fixed_end(Self::FIXED_BYTES), "READ ReadChannelInfo")?;
        Ok(ReadRequest { padding, flags, length, offset, file_id, minimum_count, channel, remaining_bytes })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.padding);
        out.put_u8(self.flags);
        out.put_u32_le(self.length);
        out.put_u64_le(self.offset);
        self.file_id.put(out);
        out.put_u32_le(self.minimum_count);
        out.put_u32_le(self.channel);
        out.put_u32_le(self.remaining_bytes);
        out.put_u16_le(0);
        out.put_u16_le(0);
        // The one-byte Buffer that StructureSize 49 counts.
        out.put_u8(0);
    }
}

/// The data borrows from the caller (server: its read buffer; client: the
/// received PDU), so an 8 MiB read is never copied by the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadResponse<'a> {
    pub data_remaining: u32,
    pub flags: u32,
    pub data: &'a [u8],
}

impl<'a> ReadResponse<'a> {
    pub const STRUCTURE_SIZE: u16 = 17;
    const FIXED_BYTES: usize = 16;

    /// Writes the 16 fixed bytes for `data_len` bytes of data, which the
    /// caller appends itself (or sends from its own buffer).
    pub fn encode_fixed(data_len: u32, data_remaining: u32, flags: u32, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(READ_DATA_OFFSET);
        out.put_u8(0);
        out.put_u32_le(data_len);
        out.put_u32_le(data_remaining);
        out.put_u32_le(flags);
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let data = clip32(self.data);
        out.reserve(Self::FIXED_BYTES + data.len().max(1));
        Self::encode_fixed(len32(data.len()), self.data_remaining, self.flags, out);
        if data.is_empty() {
            out.put_u8(0);
        } else {
            out.put_slice(data);
        }
    }

    pub fn decode(body: &[u8], pdu: &'a [u8]) -> Result<ReadResponse<'a>> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        let mut r = Reader::new(body, RESPONSE);
        r.skip(2)?;
        let data_offset = r.u8()?;
        r.skip(1)?;
        let data_length = r.u32()?;
        let data_remaining = r.u32()?;
        let flags = r.u32()?;
        check_max("READ DataLength", data_length.into(), READ_BYTES_MAX.into())?;
        let data =
            pdu_range(pdu, data_offset.into(), data_length.into(), fixed_end(Self::FIXED_BYTES), "READ Data")?;
        Ok(ReadResponse { data_remaining, flags, data })
    }
}

const _: () = assert!(READ_DATA_OFFSET as usize == HEADER_BYTES + 16);

impl_encode_body!(ReadRequest, ReadResponse<'_>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtoError;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

    #[test]
    fn decode_spec_layout() {
        let mut b = Vec::new();
        b.extend(le16(49));
        b.push(0x50);
        b.push(0);
        b.extend(le32(65536));
        b.extend(le64(4096));
        b.extend(le64(1));
        b.extend(le64(2));
        b.extend(le32(1));
        b.extend(le32(0));
        b.extend(le32(0));
        b.extend(le16(0));
        b.extend(le16(0));
        b.push(0);
        let p = pdu(Command::Read, &b);
        let r = ReadRequest::decode(&p[64..], &p).unwrap();
        assert_eq!((r.length, r.offset, r.minimum_count), (65536, 4096, 1));
        // 48 bytes without the Buffer byte is accepted too.
        assert!(ReadRequest::decode(&p[64..112], &p[..112]).is_ok());
        // A Length over the limit is not.
        let mut z = p.clone();
        z[64 + 4..64 + 8].copy_from_slice(&le32(READ_BYTES_MAX + 1));
        assert!(matches!(ReadRequest::decode(&z[64..], &z), Err(ProtoError::TooMany { .. })));
        // Channel info pointing outside.
        let mut z = p;
        z[64 + 44] = 0x70;
        z[64 + 46] = 8;
        assert!(ReadRequest::decode(&z[64..], &z).is_err());
    }

    #[test]
    fn round_trips() {
        let req = ReadRequest {
            padding: 0x50,
            flags: 0,
            length: 1 << 20,
            offset: 1 << 30,
            file_id: FileId { persistent: 1, volatile: 2 },
            minimum_count: 0,
            channel: 0,
            remaining_bytes: 0,
        };
        let p = encode_with(Command::Read, |o| req.encode(o));
        assert_eq!(p.len(), 64 + 49);
        assert_eq!(ReadRequest::decode(&p[64..], &p).unwrap(), req);
        let data = vec![0x5A; 3000];
        let rsp = ReadResponse { data_remaining: 0, flags: 0, data: &data };
        let p = encode_with(Command::Read, |o| rsp.encode(o));
        assert_eq!(p[64 + 2], 0x50);
        assert_eq!(&p[80..], &data[..]);
        assert_eq!(ReadResponse::decode(&p[64..], &p).unwrap(), rsp);
        let empty = ReadResponse { data_remaining: 0, flags: 0, data: &[] };
        let p = encode_with(Command::Read, |o| empty.encode(o));
        assert_eq!(p.len(), 64 + 17);
        assert_eq!(ReadResponse::decode(&p[64..], &p).unwrap(), empty);
    }
}
