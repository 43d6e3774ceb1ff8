//! FLUSH ([MS-SMB2] 2.2.17, 2.2.18).
//!
//! ```text
//! request (24): StructureSize u16, Reserved1 u16, Reserved2 u32, FileId 16
//! response (4): StructureSize u16, Reserved u16
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::msg::{impl_encode_body, FileId};
use crate::wire::{check_structure_size, Reader};

const WHAT: &str = "FLUSH request";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushRequest {
    pub file_id: FileId,
}

impl FlushRequest {
    pub const STRUCTURE_SIZE: u16 = 24;

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<FlushRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, WHAT)?;
        let mut r = Reader::new(body, WHAT);
        r.skip(8)?;
        Ok(FlushRequest { file_id: FileId::read(&mut r)? })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(0);
        out.put_u32_le(0);
        self.file_id.put(out);
    }
}

crate::msg::reserved_only_body!(FlushResponse, "FLUSH response");
impl_encode_body!(FlushRequest);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le64, pdu};

    #[test]
    fn decode_spec_layout() {
        let mut b = Vec::new();
        b.extend(le16(24));
        b.extend([0; 6]);
        b.extend(le64(1));
        b.extend(le64(2));
        let p = pdu(Command::Flush, &b);
        let r = FlushRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.file_id, FileId { persistent: 1, volatile: 2 });
        assert!(FlushRequest::decode(&p[64..80], &p).is_err());
    }

    #[test]
    fn round_trip() {
        let req = FlushRequest { file_id: FileId { persistent: 9, volatile: 10 } };
        let p = encode_with(Command::Flush, |o| req.encode(o));
        assert_eq!(FlushRequest::decode(&p[64..], &p).unwrap(), req);
    }
}
