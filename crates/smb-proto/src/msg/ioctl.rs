//! IOCTL ([MS-SMB2] 2.2.31, 2.2.32), both directions. The FSCTL payloads
//! the server understands are in `fsctl`.
//!
//! ```text
//! request (57):  StructureSize u16, Reserved u16, CtlCode u32, FileId 16,
//!                InputOffset u32, InputCount u32, MaxInputResponse u32,
//!                OutputOffset u32, OutputCount u32, MaxOutputResponse u32,
//!                Flags u32, Reserved2 u32, Buffer
//! response (49): StructureSize u16, Reserved u16, CtlCode u32, FileId 16,
//!                InputOffset u32, InputCount u32, OutputOffset u32, OutputCount u32,
//!                Flags u32, Reserved2 u32, Buffer
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::limits::TRANSACT_BYTES_MAX;
use crate::msg::{clip32, impl_encode_body, len32, put_odd_pad, FileId};
use crate::wire::{check_max, check_structure_size, fixed_end, pdu_range, wire_offset, Reader};

const REQUEST: &str = "IOCTL request";
const RESPONSE: &str = "IOCTL response";

/// Flags: the CtlCode is an FSCTL (the only kind SMB2 carries).
pub const IOCTL_IS_FSCTL: u32 = 0x0000_0001;

/// Buffers borrow from the PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlRequest<'a> {
    pub ctl_code: u32,
    pub file_id: FileId,
    pub input: &'a [u8],
    pub max_input_response: u32,
    /// Clients send none; kept for the FSCTLs that define one.
    pub output: &'a [u8],
    pub max_output_response: u32,
    pub flags: u32,
}

impl<'a> IoctlRequest<'a> {
    pub const STRUCTURE_SIZE: u16 = 57;
    const FIXED_BYTES: usize = 56;

    pub fn is_fsctl(&self) -> bool {
        self.flags & IOCTL_IS_FSCTL != 0
    }

    pub fn decode(body: &[u8], pdu: &'a [u8]) -> Result<IoctlRequest<'a>> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(4)?;
        let ctl_code = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let input_offset = r.u32()?;
        let input_count = r.u32()?;
        let max_input_response = r.u32()?;
        let output_offset = r.u32()?;
        let output_count = r.u32()?;
        let max_output_response = r.u32()?;
        let flags = r.u32()?;
        let max = u64::from(TRANSACT_BYTES_MAX);
        check_max("IOCTL InputCount", input_count.into(), max)?;
        check_max("IOCTL OutputCount", output_count.into(), max)?;
        check_max("IOCTL MaxInputResponse", max_input_response.into(), max)?;
        check_max("IOCTL MaxOutputResponse", max_output_response.into(), max)?;
        let end = fixed_end(Self::FIXED_BYTES);
        let input = pdu_range(pdu, input_offset.into(), input_count.into(), end, "IOCTL Input")?;
        let output = pdu_range(pdu, output_offset.into(), output_count.into(), end, "IOCTL Output")?;
        Ok(IoctlRequest { ctl_code, file_id, input, max_input_response, output, max_output_response, flags })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let input = clip32(self.input);
        let output = clip32(self.output);
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(0);
        out.put_u32_le(self.ctl_code);
        self.file_id.put(out);
        let input_offset = if input.is_empty() { 0 } else { fixed_end(Self::FIXED_BYTES) };
        let output_start = crate::wire::align8(Self::FIXED_BYTES + input.len()).unwrap_or(usize::MAX);
        let output_offset = if output.is_empty() { 0 } else { fixed_end(output_start) };
        out.put_u32_le(len32(input_offset));
        out.put_u32_le(len32(input.len()));
        out.put_u32_le(self.max_input_response);
        out.put_u32_le(len32(output_offset));
        out.put_u32_le(len32(output.len()));
        out.put_u32_le(self.max_output_response);
        out.put_u32_le(self.flags);
        out.put_u32_le(0);
        out.put_slice(input);
        if !output.is_empty() {
            crate::wire::pad8(out, start);
            out.put_slice(output);
        }
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }
}

/// Buffers borrow from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlResponse<'a> {
    pub ctl_code: u32,
    pub file_id: FileId,
    /// Usually empty ([MS-SMB2] 3.3.5.15: InputCount SHOULD be 0).
    pub input: &'a [u8],
    pub output: &'a [u8],
    pub flags: u32,
}

impl<'a> IoctlResponse<'a> {
    pub const STRUCTURE_SIZE: u16 = 49;
    const FIXED_BYTES: usize = 48;

    /// Input goes right after the fixed part, output at the next 8-byte
    /// boundary. Offsets of empty buffers point where the buffer would be,
    /// as Windows does.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let input = clip32(self.input);
        let output = clip32(self.output);
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(0);
        out.put_u32_le(self.ctl_code);
        self.file_id.put(out);
        let input_offset = fixed_end(Self::FIXED_BYTES);
        let output_rel = crate::wire::align8(Self::FIXED_BYTES + input.len()).unwrap_or(usize::MAX);
        out.put_u32_le(len32(input_offset));
        out.put_u32_le(len32(input.len()));
        out.put_u32_le(len32(fixed_end(output_rel)));
        out.put_u32_le(len32(output.len()));
        out.put_u32_le(self.flags);
        out.put_u32_le(0);
        out.put_slice(input);
        if !output.is_empty() {
            crate::wire::pad8(out, start);
            debug_assert_eq!(wire_offset(out, start), fixed_end(output_rel));
            out.put_slice(output);
        }
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }

    pub fn decode(body: &[u8], pdu: &'a [u8]) -> Result<IoctlResponse<'a>> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        let mut r = Reader::new(body, RESPONSE);
        r.skip(4)?;
        let ctl_code = r.u32()?;
        let file_id = FileId::read(&mut r)?;
        let input_offset = r.u32()?;
        let input_count = r.u32()?;
        let output_offset = r.u32()?;
        let output_count = r.u32()?;
        let flags = r.u32()?;
        let end = fixed_end(Self::FIXED_BYTES);
        let input = pdu_range(pdu, input_offset.into(), input_count.into(), end, "IOCTL Input")?;
        let output = pdu_range(pdu, output_offset.into(), output_count.into(), end, "IOCTL Output")?;
        Ok(IoctlResponse { ctl_code, file_id, input, output, flags })
    }
}

impl_encode_body!(IoctlRequest<'_>, IoctlResponse<'_>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtoError;
    use crate::header::Command;
    use crate::msg::fsctl::FSCTL_VALIDATE_NEGOTIATE_INFO;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

    #[test]
    fn decode_spec_layout() {
        let input = [1u8, 2, 3, 4, 5, 6];
        let mut b = Vec::new();
        b.extend(le16(57));
        b.extend(le16(0));
        b.extend(le32(FSCTL_VALIDATE_NEGOTIATE_INFO));
        b.extend(le64(u64::MAX));
        b.extend(le64(u64::MAX));
        b.extend(le32(0x78));
        b.extend(le32(input.len() as u32));
        b.extend(le32(0));
        b.extend(le32(0));
        b.extend(le32(0));
        b.extend(le32(24));
        b.extend(le32(IOCTL_IS_FSCTL));
        b.extend(le32(0));
        b.extend(input);
        let p = pdu(Command::Ioctl, &b);
        let r = IoctlRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.input, &input);
        assert!(r.is_fsctl() && r.file_id.is_any());
        assert_eq!(r.max_output_response, 24);
        let mut z = p.clone();
        z[64 + 28] = 7;
        assert!(matches!(IoctlRequest::decode(&z[64..], &z), Err(ProtoError::OutOfBounds { .. })));
        let mut z = p;
        z[64 + 44..64 + 48].copy_from_slice(&le32(u32::MAX));
        assert!(matches!(IoctlRequest::decode(&z[64..], &z), Err(ProtoError::TooMany { .. })));
    }

    #[test]
    fn round_trips() {
        let req = IoctlRequest {
            ctl_code: 0x0011_C017,
            file_id: FileId { persistent: 1, volatile: 1 },
            input: &[9; 13],
            max_input_response: 0,
            output: &[8; 3],
            max_output_response: 1024,
            flags: IOCTL_IS_FSCTL,
        };
        let p = encode_with(Command::Ioctl, |o| req.encode(o));
        assert_eq!(IoctlRequest::decode(&p[64..], &p).unwrap(), req);
        let rsp = IoctlResponse { ctl_code: req.ctl_code, file_id: req.file_id, input: &[], output: &[7; 24], flags: 0 };
        let p = encode_with(Command::Ioctl, |o| rsp.encode(o));
        assert_eq!(&p[64 + 32..64 + 36], &le32(0x70));
        assert_eq!(IoctlResponse::decode(&p[64..], &p).unwrap(), rsp);
        let empty = IoctlResponse { output: &[], ..rsp };
        let p = encode_with(Command::Ioctl, |o| empty.encode(o));
        assert_eq!(p.len(), 64 + 49);
        assert_eq!(IoctlResponse::decode(&p[64..], &p).unwrap(), empty);
    }
}
