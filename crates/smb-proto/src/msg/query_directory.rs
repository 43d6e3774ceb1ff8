//! QUERY_DIRECTORY ([MS-SMB2] 2.2.33, 2.2.34). The entry encoders for the
//! directory information classes are in `info::dir`.
//!
//! ```text
//! request (33): StructureSize u16, FileInformationClass u8, Flags u8, FileIndex u32,
//!               FileId 16, FileNameOffset u16, FileNameLength u16,
//!               OutputBufferLength u32, Buffer (the search pattern)
//! response (9): StructureSize u16, OutputBufferOffset u16, OutputBufferLength u32, Buffer
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::header::HEADER_BYTES;
use crate::limits::{NAME_BYTES_MAX, TRANSACT_BYTES_MAX};
use crate::msg::{clip32, impl_encode_body, len16, len32, put_odd_pad, FileId};
use crate::utf16::{put_utf16le, utf16le_len};
use crate::wire::{check_max, check_structure_size, decode_name, fixed_end, pdu_range, Reader};

const REQUEST: &str = "QUERY_DIRECTORY request";
const RESPONSE: &str = "QUERY_DIRECTORY response";

/// Flags.
pub mod query_directory_flags {
    pub const RESTART_SCANS: u8 = 0x01;
    pub const RETURN_SINGLE_ENTRY: u8 = 0x02;
    pub const INDEX_SPECIFIED: u8 = 0x04;
    pub const REOPEN: u8 = 0x10;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryDirectoryRequest {
    /// See `info::dir::DirInfoClass`.
    pub file_information_class: u8,
    pub flags: u8,
    pub file_index: u32,
    pub file_id: FileId,
    /// The search pattern, e.g. `*`.
    pub pattern: String,
    pub output_buffer_length: u32,
}

impl QueryDirectoryRequest {
    pub const STRUCTURE_SIZE: u16 = 33;
    const FIXED_BYTES: usize = 32;

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<QueryDirectoryRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let file_information_class = r.u8()?;
        let flags = r.u8()?;
        let file_index = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let name_offset = r.u16()?;
        let name_length = r.u16()?;
        let output_buffer_length = r.u32()?;
        check_max("QUERY_DIRECTORY OutputBufferLength", output_buffer_length.into(), TRANSACT_BYTES_MAX.into())?;
        let bytes = pdu_range(
            pdu,
            name_offset.into(),
            name_length.into(),
            fixed_end(Self::FIXED_BYTES),
            "QUERY_DIRECTORY FileName",
        )?;
        let pattern = decode_name(bytes, "QUERY_DIRECTORY FileName")?;
        Ok(QueryDirectoryRequest { file_information_class, flags, file_index, file_id, pattern, output_buffer_length })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let name_len = utf16le_len(&self.pattern).min(NAME_BYTES_MAX);
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.file_information_class);
        out.put_u8(self.flags);
        out.put_u32_le(self.file_index);
        self.file_id.put(out);
        out.put_u16_le((HEADER_BYTES + Self::FIXED_BYTES) as u16);
        out.put_u16_le(len16(name_len));
        out.put_u32_le(self.output_buffer_length);
        put_utf16le(out, &self.pattern);
        out.truncate(start + Self::FIXED_BYTES + name_len);
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }
}

/// The entries borrow from the caller's encode buffer (`info::dir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryDirectoryResponse<'a> {
    pub output: &'a [u8],
}

impl<'a> QueryDirectoryResponse<'a> {
    pub const STRUCTURE_SIZE: u16 = 9;
    const FIXED_BYTES: usize = 8;

    pub fn encode(&self, out: &mut BytesMut) {
        encode_output_body(self.output, out);
    }

    pub fn decode(body: &[u8], pdu: &'a [u8]) -> Result<QueryDirectoryResponse<'a>> {
        Ok(QueryDirectoryResponse { output: decode_output_body(body, pdu, RESPONSE)? })
    }
}

/// The StructureSize 9 body shared by QUERY_DIRECTORY, QUERY_INFO and
/// CHANGE_NOTIFY responses: OutputBufferOffset u16, OutputBufferLength u32.
pub(crate) fn encode_output_body(output: &[u8], out: &mut BytesMut) {
    let start = out.len();
    let output = clip32(output);
    out.put_u16_le(QueryDirectoryResponse::STRUCTURE_SIZE);
    out.put_u16_le((HEADER_BYTES + QueryDirectoryResponse::FIXED_BYTES) as u16);
    out.put_u32_le(len32(output.len()));
    out.put_slice(output);
    put_odd_pad(out, start, QueryDirectoryResponse::STRUCTURE_SIZE);
}

pub(crate) fn decode_output_body<'a>(body: &[u8], pdu: &'a [u8], what: &'static str) -> Result<&'a [u8]> {
    check_structure_size(body, QueryDirectoryResponse::STRUCTURE_SIZE, what)?;
    let mut r = Reader::new(body, what);
    r.skip(2)?;
    let offset = r.u16()?;
    let length = r.u32()?;
    check_max("OutputBufferLength", length.into(), TRANSACT_BYTES_MAX.into())?;
    pdu_range(pdu, offset.into(), length.into(), fixed_end(QueryDirectoryResponse::FIXED_BYTES), "OutputBuffer")
}

impl_encode_body!(QueryDirectoryRequest, QueryDirectoryResponse<'_>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};
    use crate::utf16::to_utf16le;

    #[test]
    fn decode_spec_layout() {
        let pat = to_utf16le("*");
        let mut b = Vec::new();
        b.extend(le16(33));
        b.push(37);
        b.push(query_directory_flags::RESTART_SCANS);
        b.extend(le32(0));
        b.extend(le64(1));
        b.extend(le64(2));
        b.extend(le16(0x60));
        b.extend(le16(pat.len() as u16));
        b.extend(le32(65536));
        b.extend(&pat);
        let p = pdu(Command::QueryDirectory, &b);
        let r = QueryDirectoryRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.pattern, "*");
        assert_eq!(r.file_information_class, 37);
        assert_eq!(r.output_buffer_length, 65536);
        let mut z = p.clone();
        z[64 + 28..64 + 32].copy_from_slice(&le32(u32::MAX));
        assert!(QueryDirectoryRequest::decode(&z[64..], &z).is_err());
        let mut z = p;
        z[64 + 26] = 4;
        assert!(QueryDirectoryRequest::decode(&z[64..], &z).is_err());
    }

    #[test]
    fn round_trips() {
        let req = QueryDirectoryRequest {
            file_information_class: 3,
            flags: 0,
            file_index: 0,
            file_id: FileId { persistent: 4, volatile: 5 },
            pattern: "*.txt".into(),
            output_buffer_length: 4096,
        };
        let p = encode_with(Command::QueryDirectory, |o| req.encode(o));
        assert_eq!(QueryDirectoryRequest::decode(&p[64..], &p).unwrap(), req);
        let data = [1u8; 100];
        let rsp = QueryDirectoryResponse { output: &data };
        let p = encode_with(Command::QueryDirectory, |o| rsp.encode(o));
        assert_eq!(&p[66..68], &le16(0x48));
        assert_eq!(QueryDirectoryResponse::decode(&p[64..], &p).unwrap(), rsp);
    }
}
