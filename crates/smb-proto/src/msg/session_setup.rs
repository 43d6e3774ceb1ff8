//! SESSION_SETUP ([MS-SMB2] 2.2.5, 2.2.6), both directions.
//!
//! ```text
//! request (25):  StructureSize u16, Flags u8, SecurityMode u8, Capabilities u32,
//!                Channel u32, SecurityBufferOffset u16, SecurityBufferLength u16,
//!                PreviousSessionId u64, Buffer
//! response (9):  StructureSize u16, SessionFlags u16,
//!                SecurityBufferOffset u16, SecurityBufferLength u16, Buffer
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::header::HEADER_BYTES;
use crate::msg::{clip16, impl_encode_body, len16, put_odd_pad};
use crate::wire::{check_structure_size, fixed_end, pdu_range, Reader};

const REQUEST: &str = "SESSION_SETUP request";
const RESPONSE: &str = "SESSION_SETUP response";

/// Request Flags.
pub const SESSION_FLAG_BINDING: u8 = 0x01;

/// Response SessionFlags.
pub mod session_flags {
    pub const IS_GUEST: u16 = 0x0001;
    pub const IS_NULL: u16 = 0x0002;
    pub const ENCRYPT_DATA: u16 = 0x0004;
}

/// The SecurityBuffer of either direction: `length` bytes at `offset`
/// from the start of the PDU, after the body's `fixed_bytes`.
fn security_buffer(pdu: &[u8], offset: u16, length: u16, fixed_bytes: usize) -> Result<Vec<u8>> {
    Ok(pdu_range(pdu, offset.into(), length.into(), fixed_end(fixed_bytes), "SESSION_SETUP SecurityBuffer")?.to_vec())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetupRequest {
    pub flags: u8,
    pub security_mode: u8,
    pub capabilities: u32,
    /// Always 0 (no RDMA channel); kept for completeness.
    pub channel: u32,
    pub previous_session_id: u64,
    /// GSS/SPNEGO token, opaque here.
    pub security_buffer: Vec<u8>,
}

impl SessionSetupRequest {
    pub const STRUCTURE_SIZE: u16 = 25;
    const FIXED_BYTES: usize = 24;

    pub fn is_binding(&self) -> bool {
        self.flags & SESSION_FLAG_BINDING != 0
    }

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<SessionSetupRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let flags = r.u8()?;
        let security_mode = r.u8()?;
        let capabilities = r.u32()?;
        let channel = r.u32()?;
        let offset = r.u16()?;
        let length = r.u16()?;
        let previous_session_id = r.u64()?;
        let security_buffer = security_buffer(pdu, offset, length, Self::FIXED_BYTES)?;
        Ok(SessionSetupRequest { flags, security_mode, capabilities, channel, previous_session_id, security_buffer })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let token = clip16(&self.security_buffer);
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.flags);
        out.put_u8(self.security_mode);
        out.put_u32_le(self.capabilities);
        out.put_u32_le(self.channel);
        out.put_u16_le((HEADER_BYTES + Self::FIXED_BYTES) as u16);
        out.put_u16_le(len16(token.len()));
        out.put_u64_le(self.previous_session_id);
        out.put_slice(token);
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSetupResponse {
    pub session_flags: u16,
    pub security_buffer: Vec<u8>,
}

impl SessionSetupResponse {
    pub const STRUCTURE_SIZE: u16 = 9;
    const FIXED_BYTES: usize = 8;

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let token = clip16(&self.security_buffer);
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(self.session_flags);
        out.put_u16_le((HEADER_BYTES + Self::FIXED_BYTES) as u16);
        out.put_u16_le(len16(token.len()));
        out.put_slice(token);
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<SessionSetupResponse> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        let mut r = Reader::new(body, RESPONSE);
        r.skip(2)?;
        let session_flags = r.u16()?;
        let offset = r.u16()?;
        let length = r.u16()?;
        let security_buffer = security_buffer(pdu, offset, length, Self::FIXED_BYTES)?;
        Ok(SessionSetupResponse { session_flags, security_buffer })
    }
}

impl_encode_body!(SessionSetupRequest, SessionSetupResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtoError;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};

    pub(crate) fn session_setup_bytes() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(le16(25));
        b.push(0);
        b.push(1);
        b.extend(le32(1));
        b.extend(le32(0));
        b.extend(le16(0x58));
        b.extend(le16(6));
        b.extend(le64(0));
        b.extend([0x60, 0x04, 0x06, 0x02, 0x2B, 0x06]);
        pdu(Command::SessionSetup, &b)
    }

    #[test]
    fn decode_spec_layout() {
        let p = session_setup_bytes();
        let r = SessionSetupRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.security_mode, 1);
        assert_eq!(r.capabilities, 1);
        assert_eq!(r.security_buffer, vec![0x60, 0x04, 0x06, 0x02, 0x2B, 0x06]);
        assert!(!r.is_binding());
    }

    #[test]
    fn buffer_outside_the_pdu_or_inside_the_fixed_part_is_rejected() {
        let mut p = session_setup_bytes();
        p[64 + 14] = 7; // length 7 runs past the end
        assert!(matches!(SessionSetupRequest::decode(&p[64..], &p), Err(ProtoError::OutOfBounds { .. })));
        let mut p = session_setup_bytes();
        p[64 + 12] = 0x50; // points into the fixed part
        assert!(SessionSetupRequest::decode(&p[64..], &p).is_err());
    }

    #[test]
    fn round_trips() {
        let req = SessionSetupRequest {
            flags: SESSION_FLAG_BINDING,
            security_mode: 2,
            capabilities: 1,
            channel: 0,
            previous_session_id: 77,
            security_buffer: vec![1, 2, 3],
        };
        let p = encode_with(Command::SessionSetup, |o| req.encode(o));
        assert_eq!(SessionSetupRequest::decode(&p[64..], &p).unwrap(), req);
        let rsp = SessionSetupResponse { session_flags: session_flags::ENCRYPT_DATA, security_buffer: vec![9; 40] };
        let p = encode_with(Command::SessionSetup, |o| rsp.encode(o));
        assert_eq!(&p[64 + 4..64 + 6], &le16(0x48));
        assert_eq!(SessionSetupResponse::decode(&p[64..], &p).unwrap(), rsp);
        let rsp = SessionSetupResponse { session_flags: session_flags::IS_GUEST, security_buffer: vec![] };
        let p = encode_with(Command::SessionSetup, |o| rsp.encode(o));
        assert_eq!(p.len(), 64 + 9);
        assert_eq!(SessionSetupResponse::decode(&p[64..], &p).unwrap(), rsp);
    }
}
