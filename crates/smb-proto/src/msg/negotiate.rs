//! NEGOTIATE ([MS-SMB2] 2.2.3, 2.2.4), both directions.
//!
//! ```text
//! request (36):  StructureSize u16, DialectCount u16, SecurityMode u16, Reserved u16,
//!                Capabilities u32, ClientGuid 16,
//!                NegotiateContextOffset u32 + Count u16 + Reserved u16 (3.1.1) | ClientStartTime u64,
//!                Dialects[DialectCount] u16, padding, NegotiateContextList
//! response (65): StructureSize u16, SecurityMode u16, DialectRevision u16,
//!                NegotiateContextCount u16, ServerGuid 16, Capabilities u32,
//!                MaxTransactSize u32, MaxReadSize u32, MaxWriteSize u32,
//!                SystemTime u64, ServerStartTime u64,
//!                SecurityBufferOffset u16, SecurityBufferLength u16,
//!                NegotiateContextOffset u32, Buffer, padding, NegotiateContextList
//! ```
//! Negotiate contexts are present only when 3.1.1 is offered (request) or
//! chosen (response).

use bytes::{BufMut, BytesMut};

use crate::dialect;
use crate::error::{ProtoError, Result};
use crate::limits::DIALECTS_MAX;
use crate::msg::negotiate_ctx::{decode_negotiate_contexts, encode_negotiate_contexts, NegotiateContext};
use crate::msg::{clip16, impl_encode_body, len16, put_odd_pad};
use crate::wire::{align8, check_max, check_structure_size, fixed_end, pdu_range, wire_offset, Guid, Reader};

const REQUEST: &str = "NEGOTIATE request";
const RESPONSE: &str = "NEGOTIATE response";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateRequest {
    pub security_mode: u16,
    pub capabilities: u32,
    pub client_guid: Guid,
    pub dialects: Vec<u16>,
    /// Empty unless 3.1.1 is among the dialects.
    pub negotiate_contexts: Vec<NegotiateContext>,
}

impl NegotiateRequest {
    pub const STRUCTURE_SIZE: u16 = 36;
    const FIXED_BYTES: usize = 36;

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<NegotiateRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let dialect_count = r.u16()?;
        let security_mode = r.u16()?;
        r.skip(2)?;
        let capabilities = r.u32()?;
        let client_guid = r.array()?;
        let context_offset = r.u32()?;
        let context_count = r.u16()?;
        r.skip(2)?;
        // 3.3.5.4: a NEGOTIATE with no dialects is invalid.
        if dialect_count == 0 {
            return Err(ProtoError::InvalidValue { field: "NEGOTIATE DialectCount", value: 0 });
        }
        check_max("NEGOTIATE DialectCount", dialect_count.into(), DIALECTS_MAX as u64)?;
        let dialects = (0..dialect_count).map(|_| r.u16()).collect::<Result<Vec<u16>>>()?;
        let negotiate_contexts = if dialects.contains(&dialect::SMB_3_1_1) && context_count > 0 {
            let end = fixed_end(Self::FIXED_BYTES + 2 * dialects.len());
            decode_negotiate_contexts(pdu, context_offset, context_count, end)?
        } else {
            Vec::new()
        };
        Ok(NegotiateRequest { security_mode, capabilities, client_guid, dialects, negotiate_contexts })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let dialects = &self.dialects[..self.dialects.len().min(DIALECTS_MAX)];
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(len16(dialects.len()));
        out.put_u16_le(self.security_mode);
        out.put_u16_le(0);
        out.put_u32_le(self.capabilities);
        out.put_slice(&self.client_guid);
        if self.negotiate_contexts.is_empty() {
            out.put_u64_le(0);
        } else {
            let after_dialects = Self::FIXED_BYTES + 2 * dialects.len();
            let offset = crate::header::HEADER_BYTES + align8(after_dialects).unwrap_or(after_dialects);
            out.put_u32_le(offset as u32);
            out.put_u16_le(len16(self.negotiate_contexts.len()));
            out.put_u16_le(0);
        }
        for d in dialects {
            out.put_u16_le(*d);
        }
        if !self.negotiate_contexts.is_empty() {
            crate::wire::pad8(out, start);
            encode_negotiate_contexts(&self.negotiate_contexts, out, start);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateResponse {
    pub security_mode: u16,
    pub dialect_revision: u16,
    pub server_guid: Guid,
    pub capabilities: u32,
    pub max_transact_size: u32,
    pub max_read_size: u32,
    pub max_write_size: u32,
    /// FILETIME (100 ns since 1601).
    pub system_time: u64,
    pub server_start_time: u64,
    /// The SPNEGO token, opaque here.
    pub security_buffer: Vec<u8>,
    /// Sent only with dialect 3.1.1.
    pub negotiate_contexts: Vec<NegotiateContext>,
}

impl NegotiateResponse {
    pub const STRUCTURE_SIZE: u16 = 65;
    const FIXED_BYTES: usize = 64;

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let token = clip16(&self.security_buffer);
        let with_contexts = !self.negotiate_contexts.is_empty();
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(self.security_mode);
        out.put_u16_le(self.dialect_revision);
        out.put_u16_le(if with_contexts { len16(self.negotiate_contexts.len()) } else { 0 });
        out.put_slice(&self.server_guid);
        out.put_u32_le(self.capabilities);
        out.put_u32_le(self.max_transact_size);
        out.put_u32_le(self.max_read_size);
        out.put_u32_le(self.max_write_size);
        out.put_u64_le(self.system_time);
        out.put_u64_le(self.server_start_time);
        // Windows always points SecurityBufferOffset at the buffer (0x80),
        // even when the token is empty.
        out.put_u16_le((crate::header::HEADER_BYTES + Self::FIXED_BYTES) as u16);
        out.put_u16_le(len16(token.len()));
        let context_offset = if with_contexts {
            let after = Self::FIXED_BYTES + token.len();
            crate::header::HEADER_BYTES + align8(after).unwrap_or(after)
        } else {
            0
        };
        out.put_u32_le(context_offset as u32);
        out.put_slice(token);
        if with_contexts {
            crate::wire::pad8(out, start);
            debug_assert_eq!(wire_offset(out, start), context_offset);
            encode_negotiate_contexts(&self.negotiate_contexts, out, start);
        }
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<NegotiateResponse> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        let mut r = Reader::new(body, RESPONSE);
        r.skip(2)?;
        let security_mode = r.u16()?;
        let dialect_revision = r.u16()?;
        let context_count = r.u16()?;
        let server_guid = r.array()?;
        let capabilities = r.u32()?;
        let max_transact_size = r.u32()?;
        let max_read_size = r.u32()?;
        let max_write_size = r.u32()?;
        let system_time = r.u64()?;
        let server_start_time = r.u64()?;
        let token_offset = r.u16()?;
        let token_len = r.u16()?;
        let context_offset = r.u32()?;
        let end = fixed_end(Self::FIXED_BYTES);
        let security_buffer =
            pdu_range(pdu, token_offset.into(), token_len.into(), end, "NEGOTIATE SecurityBuffer")?.to_vec();
        let negotiate_contexts = if dialect_revision == dialect::SMB_3_1_1 && context_count > 0 {
            decode_negotiate_contexts(pdu, context_offset, context_count, end)?
        } else {
            Vec::new()
        };
        Ok(NegotiateResponse {
            security_mode,
            dialect_revision,
            server_guid,
            capabilities,
            max_transact_size,
            max_read_size,
            max_write_size,
            system_time,
            server_start_time,
            security_buffer,
            negotiate_contexts,
        })
    }
}

impl_encode_body!(NegotiateRequest, NegotiateResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::negotiate_ctx::{cipher, context_type, hash_algorithm, signing_algorithm};
    use crate::msg::testutil::{encode_with, le16, le32, pdu};

    /// A 3.1.1 NEGOTIATE laid out by hand from 2.2.3, like Windows 11 sends.
    pub(crate) fn windows_negotiate_bytes() -> Vec<u8> {
        let dialects = [0x0202u16, 0x0210, 0x0300, 0x0302, 0x0311];
        let mut b = Vec::new();
        b.extend(le16(36));
        b.extend(le16(dialects.len() as u16));
        b.extend(le16(1)); // SIGNING_ENABLED
        b.extend(le16(0));
        b.extend(le32(0x7F));
        b.extend([0x11; 16]);
        // 36 + 10 = 46 -> contexts at body 48, header offset 112.
        b.extend(le32(112));
        b.extend(le16(3));
        b.extend(le16(0));
        for d in dialects {
            b.extend(le16(d));
        }
        b.extend([0, 0]);
        // PREAUTH: count 1, salt 32, SHA-512, salt.
        b.extend(le16(1));
        b.extend(le16(38));
        b.extend(le32(0));
        b.extend(le16(1));
        b.extend(le16(32));
        b.extend(le16(1));
        b.extend([0xAA; 32]);
        b.extend([0, 0]); // 46 -> 48
        // ENCRYPTION: AES-128-GCM, AES-128-CCM.
        b.extend(le16(2));
        b.extend(le16(6));
        b.extend(le32(0));
        b.extend(le16(2));
        b.extend(le16(2));
        b.extend(le16(1));
        b.extend([0, 0]); // 14 -> 16
        // NETNAME "ab".
        b.extend(le16(5));
        b.extend(le16(4));
        b.extend(le32(0));
        b.extend([b'a', 0, b'b', 0]);
        pdu(Command::Negotiate, &b)
    }

    #[test]
    fn decode_hand_built_311_request() {
        let p = windows_negotiate_bytes();
        // The header says 3 contexts; the bytes hold 3.
        let r = NegotiateRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.dialects, vec![0x0202, 0x0210, 0x0300, 0x0302, 0x0311]);
        assert_eq!(r.security_mode, 1);
        assert_eq!(r.capabilities, 0x7F);
        assert_eq!(r.client_guid, [0x11; 16]);
        assert_eq!(r.negotiate_contexts.len(), 3);
        assert_eq!(
            r.negotiate_contexts[0],
            NegotiateContext::PreauthIntegrity { hash_algorithms: vec![hash_algorithm::SHA_512], salt: vec![0xAA; 32] }
        );
        assert_eq!(
            r.negotiate_contexts[1],
            NegotiateContext::Encryption { ciphers: vec![cipher::AES_128_GCM, cipher::AES_128_CCM] }
        );
        assert_eq!(r.negotiate_contexts[2].context_type(), context_type::NETNAME_NEGOTIATE_CONTEXT_ID);
    }

    #[test]
    fn request_round_trip_and_contexts_ignored_without_311() {
        let req = NegotiateRequest {
            security_mode: 2,
            capabilities: 0x45,
            client_guid: [3; 16],
            dialects: vec![0x0300, 0x0302, 0x0311],
            negotiate_contexts: vec![
                NegotiateContext::PreauthIntegrity { hash_algorithms: vec![1], salt: vec![5; 3] },
                NegotiateContext::Signing { algorithms: vec![signing_algorithm::AES_CMAC] },
            ],
        };
        let p = encode_with(Command::Negotiate, |o| req.encode(o));
        assert_eq!(NegotiateRequest::decode(&p[64..], &p).unwrap(), req);
        let req2 = NegotiateRequest { dialects: vec![0x0202, 0x0210], negotiate_contexts: vec![], ..req };
        let p = encode_with(Command::Negotiate, |o| req2.encode(o));
        assert_eq!(NegotiateRequest::decode(&p[64..], &p).unwrap(), req2);
    }

    #[test]
    fn bad_requests() {
        let p = windows_negotiate_bytes();
        // Zero dialects.
        let mut z = p.clone();
        z[66] = 0;
        assert!(NegotiateRequest::decode(&z[64..], &z).is_err());
        // More dialects than bytes.
        let mut z = p.clone();
        z[66] = 60;
        assert!(NegotiateRequest::decode(&z[64..], &z).is_err());
        // Too many dialects.
        let mut z = p.clone();
        z[66] = 0xFF;
        assert!(matches!(NegotiateRequest::decode(&z[64..], &z), Err(ProtoError::TooMany { .. })));
        // Context offset inside the dialect list.
        let mut z = p.clone();
        z[64 + 28] = 104;
        assert!(NegotiateRequest::decode(&z[64..], &z).is_err());
        // Wrong StructureSize.
        let mut z = p;
        z[64] = 37;
        assert!(matches!(NegotiateRequest::decode(&z[64..], &z), Err(ProtoError::StructureSize { .. })));
    }

    fn sample_response(contexts: bool) -> NegotiateResponse {
        NegotiateResponse {
            security_mode: 3,
            dialect_revision: if contexts { 0x0311 } else { 0x0210 },
            server_guid: [9; 16],
            capabilities: 0x47,
            max_transact_size: 8 << 20,
            max_read_size: 8 << 20,
            max_write_size: 8 << 20,
            system_time: 133_000_000_000_000_000,
            server_start_time: 0,
            security_buffer: vec![0x60, 0x48, 1, 2, 3],
            negotiate_contexts: if contexts {
                vec![
                    NegotiateContext::PreauthIntegrity { hash_algorithms: vec![1], salt: vec![1; 32] },
                    NegotiateContext::Encryption { ciphers: vec![cipher::AES_128_GCM] },
                ]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn response_layout_and_round_trip() {
        let rsp = sample_response(true);
        let p = encode_with(Command::Negotiate, |o| rsp.encode(o));
        let body = &p[64..];
        assert_eq!(&body[56..58], &le16(0x80));
        assert_eq!(&body[58..60], &le16(5));
        // 64 + 5 = 69 -> 72, so contexts at 0x80 + 8 = 136.
        assert_eq!(&body[60..64], &le32(136));
        assert_eq!(&body[6..8], &le16(2));
        assert_eq!(&p[128..133], &[0x60, 0x48, 1, 2, 3]);
        assert_eq!(NegotiateResponse::decode(body, &p).unwrap(), rsp);
        let rsp = sample_response(false);
        let p = encode_with(Command::Negotiate, |o| rsp.encode(o));
        assert_eq!(NegotiateResponse::decode(&p[64..], &p).unwrap(), rsp);
    }

    #[test]
    fn empty_token_response_has_its_odd_byte() {
        let rsp = NegotiateResponse { security_buffer: vec![], ..sample_response(false) };
        let p = encode_with(Command::Negotiate, |o| rsp.encode(o));
        assert_eq!(p.len(), 64 + 65);
        assert_eq!(NegotiateResponse::decode(&p[64..], &p).unwrap(), rsp);
    }
}
