//! SET_INFO ([MS-SMB2] 2.2.39, 2.2.40). The information class decoders are
//! in `info::set`.
//!
//! ```text
//! request (33): StructureSize u16, InfoType u8, FileInfoClass u8, BufferLength u32,
//!               BufferOffset u16, Reserved u16, AdditionalInformation u32, FileId 16, Buffer
//! response (2): StructureSize u16
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::limits::TRANSACT_BYTES_MAX;
use crate::msg::{clip32, impl_encode_body, len32, put_odd_pad, FileId};
use crate::wire::{check_max, check_structure_size, fixed_end, pdu_range, Reader};

const REQUEST: &str = "SET_INFO request";
const RESPONSE: &str = "SET_INFO response";

/// The buffer borrows from the PDU; decode it with
/// `info::set::SetFileInfo::decode` for InfoType FILE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetInfoRequest<'a> {
    pub info_type: u8,
    pub file_info_class: u8,
    pub buffer: &'a [u8],
    pub additional_information: u32,
    pub file_id: FileId,
}

impl<'a> SetInfoRequest<'a> {
    pub const STRUCTURE_SIZE: u16 = 33;
    const FIXED_BYTES: usize = 32;

    pub fn decode(body: &[u8], pdu: &'a [u8]) -> Result<SetInfoRequest<'a>> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let info_type = r.u8()?;
        let file_info_class = r.u8()?;
        let length = r.u32()?;
        let offset = r.u16()?;
        r.skip(2)?;
        let additional_information = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        check_max("SET_INFO BufferLength", length.into(), TRANSACT_BYTES_MAX.into())?;
        let buffer =
            pdu_range(pdu, offset.into(), length.into(), fixed_end(Self::FIXED_BYTES), "SET_INFO Buffer")?;
        Ok(SetInfoRequest { info_type, file_info_class, buffer, additional_information, file_id })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let buffer = clip32(self.buffer);
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.info_type);
        out.put_u8(self.file_info_class);
        out.put_u32_le(len32(buffer.len()));
        out.put_u16_le(fixed_end(Self::FIXED_BYTES) as u16);
        out.put_u16_le(0);
        out.put_u32_le(self.additional_information);
        self.file_id.put(out);
        out.put_slice(buffer);
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetInfoResponse;

impl SetInfoResponse {
    pub const STRUCTURE_SIZE: u16 = 2;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
    }

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<SetInfoResponse> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        Ok(SetInfoResponse)
    }
}

impl_encode_body!(SetInfoRequest<'_>, SetInfoResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

    #[test]
    fn decode_spec_layout() {
        let mut b = Vec::new();
        b.extend(le16(33));
        b.push(1);
        b.push(13);
        b.extend(le32(1));
        b.extend(le16(0x60));
        b.extend(le16(0));
        b.extend(le32(0));
        b.extend(le64(1));
        b.extend(le64(2));
        b.push(1);
        let p = pdu(Command::SetInfo, &b);
        let r = SetInfoRequest::decode(&p[64..], &p).unwrap();
        assert_eq!((r.info_type, r.file_info_class, r.buffer), (1, 13, &[1u8][..]));
        let mut z = p;
        z[64 + 4] = 2;
        assert!(SetInfoRequest::decode(&z[64..], &z).is_err());
    }

    #[test]
    fn round_trips() {
        let req = SetInfoRequest {
            info_type: 1,
            file_info_class: 20,
            buffer: &[0, 0x10, 0, 0, 0, 0, 0, 0],
            additional_information: 0,
            file_id: FileId { persistent: 3, volatile: 4 },
        };
        let p = encode_with(Command::SetInfo, |o| req.encode(o));
        assert_eq!(SetInfoRequest::decode(&p[64..], &p).unwrap(), req);
        let p = encode_with(Command::SetInfo, |o| SetInfoResponse.encode(o));
        assert_eq!(p.len(), 66);
        assert_eq!(SetInfoResponse::decode(&p[64..], &p).unwrap(), SetInfoResponse);
    }
}
