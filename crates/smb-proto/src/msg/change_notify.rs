//! CHANGE_NOTIFY ([MS-SMB2] 2.2.35, 2.2.36), and the
//! FILE_NOTIFY_INFORMATION entries of its response ([MS-FSCC] 2.4.42).
//!
//! ```text
//! request (32): StructureSize u16, Flags u16, OutputBufferLength u32, FileId 16,
//!               CompletionFilter u32, Reserved u32
//! response (9): StructureSize u16, OutputBufferOffset u16, OutputBufferLength u32,
//!               Buffer: FILE_NOTIFY_INFORMATION entries, each 4-aligned:
//!               NextEntryOffset u32 (0 on the last), Action u32,
//!               FileNameLength u32 (bytes), FileName UTF-16LE
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::header::HEADER_BYTES;
use crate::limits::TRANSACT_BYTES_MAX;
use crate::msg::{impl_encode_body, FileId};
use crate::utf16::{decode_utf16le, put_utf16le, utf16le_len};
use crate::wire::{check_max, check_structure_size, Reader};

/// CompletionFilter bits ([MS-SMB2] 2.2.35).
pub mod filter {
    pub const FILE_NAME: u32 = 0x0001;
    pub const DIR_NAME: u32 = 0x0002;
    pub const ATTRIBUTES: u32 = 0x0004;
    pub const SIZE: u32 = 0x0008;
    pub const LAST_WRITE: u32 = 0x0010;
    pub const LAST_ACCESS: u32 = 0x0020;
    pub const CREATION: u32 = 0x0040;
    pub const EA: u32 = 0x0080;
    pub const SECURITY: u32 = 0x0100;
}

/// FILE_NOTIFY_INFORMATION Action values.
pub mod action {
    pub const ADDED: u32 = 1;
    pub const REMOVED: u32 = 2;
    pub const MODIFIED: u32 = 3;
    pub const RENAMED_OLD_NAME: u32 = 4;
    pub const RENAMED_NEW_NAME: u32 = 5;
}

/// Bytes one FILE_NOTIFY_INFORMATION entry for `name` takes in a response
/// buffer, padding included.
pub fn notify_information_bytes(name: &str) -> usize {
    (12 + utf16le_len(name)).next_multiple_of(4)
}

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

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(self.flags);
        out.put_u32_le(self.output_buffer_length);
        self.file_id.put(out);
        out.put_u32_le(self.completion_filter);
        out.put_u32_le(0);
    }
}

/// The changes of a CHANGE_NOTIFY response: (Action, FileName) in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeNotifyResponse {
    pub changes: Vec<(u32, String)>,
}

const RESPONSE: &str = "CHANGE_NOTIFY response";

impl ChangeNotifyResponse {
    pub const STRUCTURE_SIZE: u16 = 9;

    pub fn encode(&self, out: &mut BytesMut) {
        let mut buf = BytesMut::new();
        for (i, (action, name)) in self.changes.iter().enumerate() {
            let len = notify_information_bytes(name);
            let last = i + 1 == self.changes.len();
            buf.put_u32_le(if last { 0 } else { len as u32 });
            buf.put_u32_le(*action);
            buf.put_u32_le(utf16le_len(name) as u32);
            put_utf16le(&mut buf, name);
            if !last {
                buf.resize(buf.len().next_multiple_of(4), 0);
            }
        }
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(if buf.is_empty() { 0 } else { (HEADER_BYTES + 8) as u16 });
        out.put_u32_le(buf.len() as u32);
        if buf.is_empty() {
            out.put_u8(0);
        } else {
            out.extend_from_slice(&buf);
        }
    }

    /// `pdu` is the whole response, header included (the offset counts
    /// from it); `body` is the part after the header.
    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<ChangeNotifyResponse> {
        let mut r = Reader::new(body, RESPONSE);
        let size = r.u16()?;
        if size != Self::STRUCTURE_SIZE {
            return Err(ProtoError::StructureSize { what: RESPONSE, got: size, expected: Self::STRUCTURE_SIZE });
        }
        let offset = r.u16()? as usize;
        let len = r.u32()? as usize;
        if len == 0 {
            return Ok(ChangeNotifyResponse::default());
        }
        let out_of_bounds = || ProtoError::OutOfBounds { field: "OutputBuffer", offset: offset as u64, length: len as u64, start: HEADER_BYTES + 8, end: pdu.len() };
        let buf = offset.checked_add(len).and_then(|end| pdu.get(offset..end)).ok_or_else(out_of_bounds)?;
        let mut changes = Vec::new();
        let mut at = 0usize;
        loop {
            let truncated = |need| ProtoError::Truncated { what: "FILE_NOTIFY_INFORMATION", offset: at, need, have: buf.len().saturating_sub(at) };
            let entry = buf.get(at..).filter(|e| e.len() >= 12).ok_or_else(|| truncated(12))?;
            let next = u32::from_le_bytes(entry[0..4].try_into().expect("4")) as usize;
            let action = u32::from_le_bytes(entry[4..8].try_into().expect("4"));
            let name_len = u32::from_le_bytes(entry[8..12].try_into().expect("4")) as usize;
            let name = entry.get(12..12usize.saturating_add(name_len)).ok_or_else(|| truncated(12usize.saturating_add(name_len)))?;
            let name = decode_utf16le(name).map_err(|reason| ProtoError::InvalidUtf16 { field: "FileName", reason })?;
            changes.push((action, name));
            if next == 0 {
                return Ok(ChangeNotifyResponse { changes });
            }
            if next < 12 + name_len {
                return Err(ProtoError::InvalidValue { field: "NextEntryOffset", value: next as u64 });
            }
            at += next;
        }
    }
}

impl_encode_body!(ChangeNotifyRequest, ChangeNotifyResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

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

    #[test]
    fn response_round_trip_and_bad_buffers() {
        let r = ChangeNotifyResponse { changes: vec![(action::ADDED, "a.txt".into()), (action::RENAMED_NEW_NAME, "dir\\bé".into())] };
        let p = encode_with(Command::ChangeNotify, |out| r.encode(out));
        assert_eq!(u16::from_le_bytes([p[66], p[67]]), 72, "the buffer follows the fixed part");
        // The first entry is padded to 4: 12 + 10 bytes of name -> 24.
        assert_eq!(u32::from_le_bytes(p[72..76].try_into().unwrap()), 24);
        assert_eq!(ChangeNotifyResponse::decode(&p[64..], &p).unwrap(), r);
        let empty = encode_with(Command::ChangeNotify, |out| ChangeNotifyResponse::default().encode(out));
        assert_eq!(empty.len(), 64 + 9);
        assert_eq!(ChangeNotifyResponse::decode(&empty[64..], &empty).unwrap(), ChangeNotifyResponse::default());
        // Lengths and offsets that point anywhere else are errors.
        for (at, v) in [(68usize, 1000u32), (72, 3), (80, 1000)] {
            let mut bad = p.clone();
            bad[at..at + 4].copy_from_slice(&v.to_le_bytes());
            assert!(ChangeNotifyResponse::decode(&bad[64..], &bad).is_err(), "{at} = {v}");
        }
        assert!(ChangeNotifyResponse::decode(&p[64..70], &p).is_err());
    }
}
