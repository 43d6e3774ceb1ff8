//! CHANGE_NOTIFY ([MS-SMB2] 2.2.35). Parsed so the server can answer it
//! deliberately (STATUS_NOT_SUPPORTED); no response body is defined here.
//!
//! ```text
//! request (32): StructureSize u16, Flags u16, OutputBufferLength u32, FileId 16,
//!               CompletionFilter u32, Reserved u32
//! ```

use crate::error::Result;
use crate::limits::TRANSACT_BYTES_MAX;
use crate::msg::FileId;
use crate::wire::{check_max, check_structure_size, Reader};

const REQUEST: &str = "CHANGE_NOTIFY request";

/// Flags.
pub const WATCH_TREE: u16 = 0x0001;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeNotifyRequest {
    pub flags: u16,
    pub output_buffer_length: u32,
    pub file_id: FileId,
    pub completion_filter: u32,
}

impl ChangeNotifyRequest {
    pub const STRUCTURE_SIZE: u16 = 32;

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<ChangeNotifyRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let flags = r.u16()?;
        let output_buffer_length = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let completion_filter = r.u32()?;
        check_max("CHANGE_NOTIFY OutputBufferLength", output_buffer_length.into(), TRANSACT_BYTES_MAX.into())?;
        Ok(ChangeNotifyRequest { flags, output_buffer_length, file_id, completion_filter })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{le16, le32, le64, pdu};

    #[test]
    fn decode_spec_layout() {
        let mut b = Vec::new();
        b.extend(le16(32));
        b.extend(le16(WATCH_TREE));
        b.extend(le32(4096));
        b.extend(le64(1));
        b.extend(le64(2));
        b.extend(le32(0x17));
        b.extend(le32(0));
        let p = pdu(Command::ChangeNotify, &b);
        let r = ChangeNotifyRequest::decode(&p[64..], &p).unwrap();
        assert_eq!((r.flags, r.output_buffer_length, r.completion_filter), (1, 4096, 0x17));
        assert!(ChangeNotifyRequest::decode(&p[64..90], &p).is_err());
    }
}
