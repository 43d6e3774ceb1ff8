//! QUERY_INFO ([MS-SMB2] 2.2.37, 2.2.38). The information class encoders
//! are in `info`.
//!
//! ```text
//! request (41): StructureSize u16, InfoType u8, FileInfoClass u8, OutputBufferLength u32,
//!               InputBufferOffset u16, Reserved u16, InputBufferLength u32,
//!               AdditionalInformation u32, Flags u32, FileId 16, Buffer
//! response (9): StructureSize u16, OutputBufferOffset u16, OutputBufferLength u32, Buffer
//! ```

use bytes::{BufMut, BytesMut};
use holdfast_types::ntstatus::NtStatus;

use crate::error::{ProtoError, Result};
use crate::limits::TRANSACT_BYTES_MAX;
use crate::msg::query_directory::{decode_output_body, encode_output_body};
use crate::msg::{clip32, impl_encode_body, len32, put_odd_pad, FileId};
use crate::wire::{check_max, check_structure_size, fixed_end, pdu_range, Reader};

const REQUEST: &str = "QUERY_INFO request";
const RESPONSE: &str = "QUERY_INFO response";

/// InfoType (QUERY_INFO and SET_INFO).
pub mod info_type {
    pub const FILE: u8 = 0x01;
    pub const FILESYSTEM: u8 = 0x02;
    pub const SECURITY: u8 = 0x03;
    pub const QUOTA: u8 = 0x04;
}

/// AdditionalInformation bits for InfoType SECURITY are
/// `holdfast_types::security::secinfo`.

/// The input buffer borrows from the PDU (used by QUOTA and EA queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryInfoRequest<'a> {
    pub info_type: u8,
    pub file_info_class: u8,
    pub output_buffer_length: u32,
    pub input: &'a [u8],
    pub additional_information: u32,
    pub flags: u32,
    pub file_id: FileId,
}

impl<'a> QueryInfoRequest<'a> {
    pub const STRUCTURE_SIZE: u16 = 41;
    const FIXED_BYTES: usize = 40;

    pub fn decode(body: &[u8], pdu: &'a [u8]) -> Result<QueryInfoRequest<'a>> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let info_type = r.u8()?;
        let file_info_class = r.u8()?;
        let output_buffer_length = r.u32()?;
        let input_offset = r.u16()?;
        r.skip(2)?;
        let input_length = r.u32()?;
        let additional_information = r.u32()?;
        let flags = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let max = u64::from(TRANSACT_BYTES_MAX);
        check_max("QUERY_INFO OutputBufferLength", output_buffer_length.into(), max)?;
        check_max("QUERY_INFO InputBufferLength", input_length.into(), max)?;
        let input = pdu_range(
            pdu,
            input_offset.into(),
            input_length.into(),
            fixed_end(Self::FIXED_BYTES),
            "QUERY_INFO InputBuffer",
        )?;
        Ok(QueryInfoRequest {
            info_type,
            file_info_class,
            output_buffer_length,
            input,
            additional_information,
            flags,
            file_id,
        })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let input = clip32(self.input);
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.info_type);
        out.put_u8(self.file_info_class);
        out.put_u32_le(self.output_buffer_length);
        out.put_u16_le(if input.is_empty() { 0 } else { fixed_end(Self::FIXED_BYTES) as u16 });
        out.put_u16_le(0);
        out.put_u32_le(len32(input.len()));
        out.put_u32_le(self.additional_information);
        out.put_u32_le(self.flags);
        self.file_id.put(out);
        out.put_slice(input);
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryInfoResponse<'a> {
    pub output: &'a [u8],
}

impl<'a> QueryInfoResponse<'a> {
    pub const STRUCTURE_SIZE: u16 = 9;

    pub fn encode(&self, out: &mut BytesMut) {
        encode_output_body(self.output, out);
    }

    pub fn decode(body: &[u8], pdu: &'a [u8]) -> Result<QueryInfoResponse<'a>> {
        Ok(QueryInfoResponse { output: decode_output_body(body, pdu, RESPONSE)? })
    }
}

/// Fits an encoded information buffer to the client's OutputBufferLength
/// ([MS-SMB2] 3.3.5.20.1): a buffer smaller than the class's fixed part is
/// STATUS_INFO_LENGTH_MISMATCH; a variable-length class that does not fit
/// whole is truncated and answered with STATUS_BUFFER_OVERFLOW.
/// The smallest OutputBufferLength Windows takes for a class before it
/// answers INFO_LENGTH_MISMATCH: the size of its structure with the
/// variable part empty, rounded up to the structure's alignment (so larger
/// than [MS-FSCC]'s fixed part for some). Measured against Windows by
/// Samba's smbtorture (`smb2.getinfo.qfs_buffercheck`,
/// `qfile_buffercheck`). `None`: the encoder's fixed part stands.
pub fn windows_min_output_bytes(info_type: u8, class: u8) -> Option<usize> {
    let fs = [(1, 24), (3, 24), (4, 8), (5, 16), (6, 48), (7, 32), (11, 28)];
    let file = [(4, 40), (5, 24), (6, 8), (7, 4), (8, 4), (16, 4), (17, 4), (18, 104), (21, 8), (22, 32), (28, 16), (34, 56), (35, 8)];
    let table: &[(u8, usize)] = match info_type {
        info_type::FILESYSTEM => &fs,
        info_type::FILE => &file,
        _ => return None,
    };
    table.iter().find(|(c, _)| *c == class).map(|(_, n)| *n)
}

pub fn fit_info_output(encoded: &[u8], fixed_bytes: usize, output_buffer_length: u32) -> Result<(&[u8], NtStatus)> {
    let max = output_buffer_length as usize;
    if max < fixed_bytes {
        return Err(ProtoError::InfoLength { field: "QUERY_INFO OutputBufferLength", need: fixed_bytes, have: max });
    }
    if encoded.len() <= max {
        Ok((encoded, NtStatus::SUCCESS))
    } else {
        Ok((&encoded[..max], NtStatus::BUFFER_OVERFLOW))
    }
}

impl_encode_body!(QueryInfoRequest<'_>, QueryInfoResponse<'_>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

    #[test]
    fn decode_spec_layout() {
        let mut b = Vec::new();
        b.extend(le16(41));
        b.push(info_type::FILE);
        b.push(18);
        b.extend(le32(4096));
        b.extend(le16(0x68));
        b.extend(le16(0));
        b.extend(le32(0));
        b.extend(le32(0));
        b.extend(le32(0));
        b.extend(le64(1));
        b.extend(le64(2));
        b.push(0);
        let p = pdu(Command::QueryInfo, &b);
        let r = QueryInfoRequest::decode(&p[64..], &p).unwrap();
        assert_eq!((r.info_type, r.file_info_class, r.output_buffer_length), (1, 18, 4096));
        assert!(r.input.is_empty());
        let mut z = p;
        z[64 + 12] = 8;
        assert!(QueryInfoRequest::decode(&z[64..], &z).is_err());
    }

    #[test]
    fn round_trips() {
        let req = QueryInfoRequest {
            info_type: info_type::SECURITY,
            file_info_class: 0,
            output_buffer_length: 1024,
            input: &[],
            additional_information: holdfast_types::security::secinfo::OWNER | holdfast_types::security::secinfo::DACL,
            flags: 0,
            file_id: FileId { persistent: 1, volatile: 2 },
        };
        let p = encode_with(Command::QueryInfo, |o| req.encode(o));
        assert_eq!(QueryInfoRequest::decode(&p[64..], &p).unwrap(), req);
        let with_input = QueryInfoRequest { input: &[1, 2, 3], info_type: info_type::QUOTA, ..req };
        let p = encode_with(Command::QueryInfo, |o| with_input.encode(o));
        assert_eq!(QueryInfoRequest::decode(&p[64..], &p).unwrap(), with_input);
        let rsp = QueryInfoResponse { output: &[5; 40] };
        let p = encode_with(Command::QueryInfo, |o| rsp.encode(o));
        assert_eq!(QueryInfoResponse::decode(&p[64..], &p).unwrap(), rsp);
    }

    #[test]
    fn fit_info_output_rules() {
        let buf = [0u8; 120];
        assert_eq!(fit_info_output(&buf, 100, 200).unwrap(), (&buf[..], NtStatus::SUCCESS));
        assert_eq!(fit_info_output(&buf, 100, 110).unwrap(), (&buf[..110], NtStatus::BUFFER_OVERFLOW));
        assert_eq!(
            fit_info_output(&buf, 100, 90).unwrap_err().status(),
            NtStatus::INFO_LENGTH_MISMATCH
        );
    }
}
