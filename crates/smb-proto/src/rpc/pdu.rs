//! Connection-oriented DCE/RPC PDUs ([C706] 12.6, [MS-RPCE] 2.2.2), in
//! little-endian data representation only (every client of a Windows-like
//! server sends that; a big-endian PDU is refused).
//!
//! Common header, 16 bytes: rpc_vers 5, rpc_vers_minor 0 or 1, PTYPE,
//! pfc_flags, drep (4 bytes, byte 0 = 0x10), frag_length u16,
//! auth_length u16, call_id u32.

use bytes::{BufMut, BytesMut};

use super::ndr::Reader;
use super::{Result, RpcError, SyntaxId};
use crate::limits::RPC_FRAG_BYTES_MAX;

pub const HEADER_BYTES: usize = 16;
/// Header of REQUEST, RESPONSE and FAULT: common header, alloc_hint,
/// p_cont_id, opnum (or cancel_count and a reserved byte).
pub const CALL_HEADER_BYTES: usize = 24;
/// A FAULT PDU: the call header, status, 4 reserved bytes.
pub const FAULT_BYTES: usize = 32;

/// PTYPE values.
pub mod ptype {
    pub const REQUEST: u8 = 0;
    pub const RESPONSE: u8 = 2;
    pub const FAULT: u8 = 3;
    pub const BIND: u8 = 11;
    pub const BIND_ACK: u8 = 12;
    pub const BIND_NAK: u8 = 13;
    pub const ALTER_CONTEXT: u8 = 14;
    pub const ALTER_CONTEXT_RESP: u8 = 15;
    pub const AUTH3: u8 = 16;
    pub const SHUTDOWN: u8 = 17;
    pub const CO_CANCEL: u8 = 18;
    pub const ORPHANED: u8 = 19;
}

/// pfc_flags bits.
pub mod pfc {
    pub const FIRST_FRAG: u8 = 0x01;
    pub const LAST_FRAG: u8 = 0x02;
    pub const DID_NOT_EXECUTE: u8 = 0x20;
    pub const OBJECT_UUID: u8 = 0x80;
}

/// p_cont_def_result_t and p_provider_reason_t of a BIND_ACK result.
pub mod result {
    pub const ACCEPTANCE: u16 = 0;
    pub const PROVIDER_REJECTION: u16 = 2;
    pub const REASON_NOT_SPECIFIED: u16 = 0;
    pub const ABSTRACT_SYNTAX_NOT_SUPPORTED: u16 = 1;
    pub const TRANSFER_SYNTAXES_NOT_SUPPORTED: u16 = 2;
    pub const LOCAL_LIMIT_EXCEEDED: u16 = 3;
}

/// BIND_NAK reject reasons ([MS-RPCE] 2.2.2.5).
pub mod nak {
    pub const LOCAL_LIMIT_EXCEEDED: u16 = 2;
    pub const PROTOCOL_VERSION_NOT_SUPPORTED: u16 = 4;
    pub const AUTHENTICATION_TYPE_NOT_RECOGNIZED: u16 = 8;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub ptype: u8,
    pub flags: u8,
    pub frag_length: u16,
    pub auth_length: u16,
    pub call_id: u32,
}

/// Length of the whole PDU at the start of `buf`: `Ok(None)` while fewer
/// than 16 bytes are there (or fewer than frag_length), an error when the
/// header cannot start a PDU (then the stream cannot be resynchronised).
pub fn pdu_length(buf: &[u8]) -> Result<Option<usize>> {
    if buf.len() < HEADER_BYTES {
        return Ok(None);
    }
    let h = Header::decode_prefix(buf)?;
    let n = usize::from(h.frag_length);
    Ok((buf.len() >= n).then_some(n))
}

impl Header {
    /// Decodes and checks the common header of `buf` (which may hold more
    /// than one PDU).
    fn decode_prefix(buf: &[u8]) -> Result<Header> {
        let mut r = Reader::new(buf);
        let vers = r.u8("rpc_vers")?;
        let minor = r.u8("rpc_vers_minor")?;
        if vers != 5 {
            return Err(RpcError::InvalidValue { field: "rpc_vers", value: vers.into() });
        }
        if minor > 1 {
            return Err(RpcError::InvalidValue { field: "rpc_vers_minor", value: minor.into() });
        }
        let ptype = r.u8("PTYPE")?;
        let flags = r.u8("pfc_flags")?;
        let drep = r.bytes("drep", 4)?;
        // Integer representation in the high nibble: 1 is little-endian.
        if drep[0] >> 4 != 1 {
            return Err(RpcError::InvalidValue { field: "drep", value: drep[0].into() });
        }
        let frag_length = r.u16("frag_length")?;
        let auth_length = r.u16("auth_length")?;
        let call_id = r.u32("call_id")?;
        if usize::from(frag_length) < HEADER_BYTES || frag_length > RPC_FRAG_BYTES_MAX {
            return Err(RpcError::InvalidValue { field: "frag_length", value: frag_length.into() });
        }
        // The auth trailer (8 bytes) and its credentials must fit.
        if auth_length > 0 && usize::from(auth_length) + 8 + HEADER_BYTES > usize::from(frag_length) {
            return Err(RpcError::InvalidValue { field: "auth_length", value: auth_length.into() });
        }
        Ok(Header { ptype, flags, frag_length, auth_length, call_id })
    }

    /// Decodes the header of one whole PDU (`pdu.len()` must be its
    /// frag_length).
    pub fn decode(pdu: &[u8]) -> Result<Header> {
        let h = Header::decode_prefix(pdu)?;
        if usize::from(h.frag_length) != pdu.len() {
            return Err(RpcError::InvalidValue { field: "frag_length", value: h.frag_length.into() });
        }
        Ok(h)
    }

    /// The PDU's body without its auth trailer.
    fn body(&self, pdu: &[u8]) -> usize {
        let auth = if self.auth_length > 0 { usize::from(self.auth_length) + 8 } else { 0 };
        pdu.len().saturating_sub(auth)
    }
}

/// Writes a common header; frag_length is patched by [`finish`].
fn begin(out: &mut BytesMut, ptype: u8, flags: u8, call_id: u32) -> usize {
    let start = out.len();
    out.put_slice(&[5, 0, ptype, flags, 0x10, 0, 0, 0]);
    out.put_u16_le(0);
    out.put_u16_le(0);
    out.put_u32_le(call_id);
    start
}

fn finish(out: &mut BytesMut, start: usize) {
    let n = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    out[start + 8..start + 10].copy_from_slice(&n.to_le_bytes());
}

fn syntax(r: &mut Reader<'_>, what: &'static str) -> Result<SyntaxId> {
    let b = r.bytes(what, 16)?;
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(b);
    Ok(SyntaxId { uuid, version: r.u32(what)? })
}

fn put_syntax(out: &mut BytesMut, s: &SyntaxId) {
    out.put_slice(&s.uuid);
    out.put_u32_le(s.version);
}

/// One p_cont_elem_t of a BIND or ALTER_CONTEXT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextElem {
    pub id: u16,
    pub abstract_syntax: SyntaxId,
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// BIND and ALTER_CONTEXT ([C706] 12.6.4.3 and 12.6.4.1): same layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub max_xmit_frag: u16,
    pub max_recv_frag: u16,
    pub assoc_group: u32,
    pub contexts: Vec<ContextElem>,
}

impl Bind {
    pub fn decode(h: &Header, pdu: &[u8]) -> Result<Bind> {
        let body = &pdu[..h.body(pdu)];
        let mut r = Reader::new(body);
        r.bytes("header", HEADER_BYTES)?;
        let max_xmit_frag = r.u16("max_xmit_frag")?;
        let max_recv_frag = r.u16("max_recv_frag")?;
        let assoc_group = r.u32("assoc_group_id")?;
        let n = r.u8("n_context_elem")?;
        r.bytes("reserved", 3)?;
        // n is at most 255 and each element takes at least 44 bytes of a
        // PDU of at most RPC_FRAG_BYTES_MAX: the loop ends on truncation.
        let mut contexts = Vec::new();
        for _ in 0..n {
            let id = r.u16("p_cont_id")?;
            let n_ts = r.u8("n_transfer_syn")?;
            r.u8("reserved")?;
            let abstract_syntax = syntax(&mut r, "abstract_syntax")?;
            let mut transfer_syntaxes = Vec::new();
            for _ in 0..n_ts {
                transfer_syntaxes.push(syntax(&mut r, "transfer_syntax")?);
            }
            contexts.push(ContextElem { id, abstract_syntax, transfer_syntaxes });
        }
        Ok(Bind { max_xmit_frag, max_recv_frag, assoc_group, contexts })
    }

    /// A client's BIND (or ALTER_CONTEXT with `ptype`), for tests and
    /// clients.
    pub fn encode(&self, ptype: u8, call_id: u32, out: &mut BytesMut) {
        let start = begin(out, ptype, pfc::FIRST_FRAG | pfc::LAST_FRAG, call_id);
        out.put_u16_le(self.max_xmit_frag);
        out.put_u16_le(self.max_recv_frag);
        out.put_u32_le(self.assoc_group);
        out.put_u8(self.contexts.len().min(255) as u8);
        out.put_bytes(0, 3);
        for c in self.contexts.iter().take(255) {
            out.put_u16_le(c.id);
            out.put_u8(c.transfer_syntaxes.len().min(255) as u8);
            out.put_u8(0);
            put_syntax(out, &c.abstract_syntax);
            for t in c.transfer_syntaxes.iter().take(255) {
                put_syntax(out, t);
            }
        }
        finish(out, start);
    }
}

/// One p_result_t of a BIND_ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextResult {
    pub result: u16,
    pub reason: u16,
    /// The accepted transfer syntax; zeros in a rejection.
    pub transfer_syntax: SyntaxId,
}

/// BIND_ACK and ALTER_CONTEXT_RESP ([C706] 12.6.4.4 and 12.6.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAck {
    pub max_xmit_frag: u16,
    pub max_recv_frag: u16,
    pub assoc_group: u32,
    /// The secondary address: the pipe's name (`\PIPE\srvsvc`) in a
    /// BIND_ACK, empty in an ALTER_CONTEXT_RESP.
    pub sec_addr: String,
    pub results: Vec<ContextResult>,
}

impl BindAck {
    pub fn encode(&self, ptype: u8, call_id: u32, out: &mut BytesMut) {
        let start = begin(out, ptype, pfc::FIRST_FRAG | pfc::LAST_FRAG, call_id);
        out.put_u16_le(self.max_xmit_frag);
        out.put_u16_le(self.max_recv_frag);
        out.put_u32_le(self.assoc_group);
        // port_any_t: length including the NUL, ASCII, NUL; empty is 0.
        let addr = self.sec_addr.as_bytes();
        if addr.is_empty() {
            out.put_u16_le(0);
        } else {
            out.put_u16_le(u16::try_from(addr.len() + 1).unwrap_or(u16::MAX));
            out.put_slice(addr);
            out.put_u8(0);
        }
        let pad = (4 - (out.len() - start) % 4) % 4;
        out.put_bytes(0, pad);
        out.put_u8(self.results.len().min(255) as u8);
        out.put_bytes(0, 3);
        for r in self.results.iter().take(255) {
            out.put_u16_le(r.result);
            out.put_u16_le(r.reason);
            put_syntax(out, &r.transfer_syntax);
        }
        finish(out, start);
    }

    /// For tests and clients.
    pub fn decode(h: &Header, pdu: &[u8]) -> Result<BindAck> {
        let mut r = Reader::new(&pdu[..h.body(pdu)]);
        r.bytes("header", HEADER_BYTES)?;
        let max_xmit_frag = r.u16("max_xmit_frag")?;
        let max_recv_frag = r.u16("max_recv_frag")?;
        let assoc_group = r.u32("assoc_group_id")?;
        let n = r.u16("sec_addr length")?;
        let addr = r.bytes("sec_addr", n.into())?;
        let sec_addr = String::from_utf8_lossy(addr.strip_suffix(&[0]).unwrap_or(addr)).into_owned();
        r.align("sec_addr padding", 4)?;
        let count = r.u8("n_results")?;
        r.bytes("reserved", 3)?;
        let mut results = Vec::new();
        for _ in 0..count {
            let result = r.u16("result")?;
            let reason = r.u16("reason")?;
            results.push(ContextResult { result, reason, transfer_syntax: syntax(&mut r, "transfer_syntax")? });
        }
        Ok(BindAck { max_xmit_frag, max_recv_frag, assoc_group, sec_addr, results })
    }
}

/// BIND_NAK ([MS-RPCE] 2.2.2.5): the reason and the one protocol version
/// served, 5.0.
pub fn encode_bind_nak(call_id: u32, reason: u16, out: &mut BytesMut) {
    let start = begin(out, ptype::BIND_NAK, pfc::FIRST_FRAG | pfc::LAST_FRAG, call_id);
    out.put_u16_le(reason);
    out.put_u8(1);
    out.put_slice(&[5, 0]);
    finish(out, start);
}

/// One REQUEST fragment ([C706] 12.6.4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub alloc_hint: u32,
    pub context_id: u16,
    pub opnum: u16,
    pub stub: &'a [u8],
}

impl<'a> Request<'a> {
    /// Authenticated requests are refused (no BIND with auth is ever
    /// accepted), so a non-zero auth_length is an error.
    pub fn decode(h: &Header, pdu: &'a [u8]) -> Result<Request<'a>> {
        if h.auth_length != 0 {
            return Err(RpcError::InvalidValue { field: "auth_length", value: h.auth_length.into() });
        }
        let mut r = Reader::new(pdu);
        r.bytes("header", HEADER_BYTES)?;
        let alloc_hint = r.u32("alloc_hint")?;
        let context_id = r.u16("p_cont_id")?;
        let opnum = r.u16("opnum")?;
        if h.flags & pfc::OBJECT_UUID != 0 {
            r.bytes("object", 16)?;
        }
        let stub = &pdu[r.position()..];
        Ok(Request { alloc_hint, context_id, opnum, stub })
    }

    /// One REQUEST PDU with `flags`, for tests and clients.
    pub fn encode(&self, call_id: u32, flags: u8, out: &mut BytesMut) {
        let start = begin(out, ptype::REQUEST, flags, call_id);
        out.put_u32_le(self.alloc_hint);
        out.put_u16_le(self.context_id);
        out.put_u16_le(self.opnum);
        out.put_slice(self.stub);
        finish(out, start);
    }
}

/// The RESPONSE PDUs carrying `stub`, each at most `frag_bytes_max`
/// bytes (the client's max_recv_frag), appended to `out` one per
/// fragment. Every fragment but the last carries a multiple of 8 stub
/// bytes, so NDR alignment holds across fragments whatever the client
/// does.
pub fn encode_response(call_id: u32, context_id: u16, stub: &[u8], frag_bytes_max: u16, out: &mut Vec<BytesMut>) {
    let room = usize::from(frag_bytes_max).saturating_sub(CALL_HEADER_BYTES) / 8 * 8;
    let room = room.max(8);
    let alloc_hint = u32::try_from(stub.len()).unwrap_or(u32::MAX);
    let mut chunks: Vec<&[u8]> = stub.chunks(room).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut flags = 0;
        if i == 0 {
            flags |= pfc::FIRST_FRAG;
        }
        if i == last {
            flags |= pfc::LAST_FRAG;
        }
        let mut pdu = BytesMut::with_capacity(CALL_HEADER_BYTES + chunk.len());
        let start = begin(&mut pdu, ptype::RESPONSE, flags, call_id);
        pdu.put_u32_le(alloc_hint);
        pdu.put_u16_le(context_id);
        pdu.put_u8(0); // cancel_count
        pdu.put_u8(0);
        pdu.put_slice(chunk);
        finish(&mut pdu, start);
        out.push(pdu);
    }
}

/// A FAULT ([C706] 12.6.4.7) with `status`; `did_not_execute` tells the
/// client the call had no effect (an opnum out of range, say).
pub fn encode_fault(call_id: u32, context_id: u16, status: u32, did_not_execute: bool, out: &mut BytesMut) {
    let mut flags = pfc::FIRST_FRAG | pfc::LAST_FRAG;
    if did_not_execute {
        flags |= pfc::DID_NOT_EXECUTE;
    }
    let start = begin(out, ptype::FAULT, flags, call_id);
    out.put_u32_le(0); // alloc_hint
    out.put_u16_le(context_id);
    out.put_u8(0); // cancel_count
    out.put_u8(0);
    out.put_u32_le(status);
    out.put_u32_le(0);
    finish(out, start);
}

/// A RESPONSE fragment's (pfc_flags, context id, stub), or a FAULT's
/// status as `Err`.
pub type ResponseOrFault<'a> = std::result::Result<(u8, u16, &'a [u8]), u32>;

/// For tests and clients: one RESPONSE or FAULT PDU.
pub fn decode_response(pdu: &[u8]) -> Result<ResponseOrFault<'_>> {
    let h = Header::decode(pdu)?;
    let mut r = Reader::new(&pdu[..h.body(pdu)]);
    r.bytes("header", HEADER_BYTES)?;
    r.u32("alloc_hint")?;
    let context_id = r.u16("p_cont_id")?;
    r.bytes("cancel_count", 2)?;
    match h.ptype {
        ptype::RESPONSE => Ok(Ok((h.flags, context_id, &pdu[r.position()..h.body(pdu)]))),
        ptype::FAULT => Ok(Err(r.u32("status")?)),
        t => Err(RpcError::InvalidValue { field: "PTYPE", value: t.into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{NDR20, NDR64, SRVSVC};

    fn bind() -> Bind {
        Bind {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group: 0,
            contexts: vec![
                ContextElem { id: 0, abstract_syntax: SRVSVC, transfer_syntaxes: vec![NDR20] },
                ContextElem { id: 1, abstract_syntax: SRVSVC, transfer_syntaxes: vec![NDR64] },
            ],
        }
    }

    #[test]
    fn bind_round_trip_and_layout() {
        let mut out = BytesMut::new();
        bind().encode(ptype::BIND, 2, &mut out);
        assert_eq!(out.len(), 28 + 2 * 44);
        assert_eq!(&out[..4], &[5, 0, 11, 3]);
        assert_eq!(u16::from_le_bytes([out[8], out[9]]) as usize, out.len());
        assert_eq!(pdu_length(&out).unwrap(), Some(out.len()));
        assert_eq!(pdu_length(&out[..20]).unwrap(), None);
        let h = Header::decode(&out).unwrap();
        assert_eq!((h.ptype, h.call_id), (ptype::BIND, 2));
        assert_eq!(Bind::decode(&h, &out).unwrap(), bind());
    }

    #[test]
    fn bind_ack_layout() {
        let ack = BindAck {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group: 0x1234,
            sec_addr: "\\PIPE\\srvsvc".into(),
            results: vec![ContextResult { result: result::ACCEPTANCE, reason: 0, transfer_syntax: NDR20 }],
        };
        let mut out = BytesMut::new();
        ack.encode(ptype::BIND_ACK, 2, &mut out);
        // 16 + 8 + 2 + 13 ("\PIPE\srvsvc" NUL) + 1 pad + 4 + 24.
        assert_eq!(out.len(), 68);
        assert_eq!(&out[24..26], &[13, 0]);
        let h = Header::decode(&out).unwrap();
        assert_eq!(BindAck::decode(&h, &out).unwrap(), ack);
    }

    #[test]
    fn fragments_of_a_long_response() {
        let stub: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut frags = Vec::new();
        encode_response(7, 0, &stub, 1432, &mut frags);
        assert_eq!(frags.len(), 4);
        let mut back = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1432);
            let (flags, ctx, s) = decode_response(f).unwrap().unwrap();
            assert_eq!(ctx, 0);
            assert_eq!(flags & pfc::FIRST_FRAG != 0, i == 0);
            assert_eq!(flags & pfc::LAST_FRAG != 0, i == 3);
            if i < 3 {
                assert_eq!(s.len() % 8, 0);
            }
            back.extend_from_slice(s);
        }
        assert_eq!(back, stub);
    }

    #[test]
    fn fault_layout() {
        let mut out = BytesMut::new();
        encode_fault(9, 0, crate::rpc::fault::OP_RNG_ERROR, true, &mut out);
        assert_eq!(out.len(), FAULT_BYTES);
        assert_eq!(out[3], pfc::FIRST_FRAG | pfc::LAST_FRAG | pfc::DID_NOT_EXECUTE);
        assert_eq!(decode_response(&out).unwrap(), Err(0x1C01_0002));
    }

    #[test]
    fn malformed_headers_are_errors() {
        let mut good = BytesMut::new();
        bind().encode(ptype::BIND, 1, &mut good);
        let bad = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.to_vec();
            f(&mut b);
            b
        };
        for b in [
            bad(&|b| b[0] = 4),                                   // version
            bad(&|b| b[1] = 2),                                   // minor version
            bad(&|b| b[4] = 0x00),                                // big-endian
            bad(&|b| b[8..10].copy_from_slice(&10u16.to_le_bytes())), // frag_length < 16
            bad(&|b| b[8..10].copy_from_slice(&u16::MAX.to_le_bytes())), // beyond the limit
            bad(&|b| b[10..12].copy_from_slice(&200u16.to_le_bytes())), // auth beyond the PDU
        ] {
            assert!(pdu_length(&b).is_err() || Header::decode(&b).is_err(), "{b:?}");
        }
        // frag_length shorter than the bytes given to decode.
        let b = bad(&|b| b[8..10].copy_from_slice(&20u16.to_le_bytes()));
        assert!(Header::decode(&b).is_err());
    }

    #[test]
    fn truncated_bind_bodies_are_errors() {
        let mut good = BytesMut::new();
        bind().encode(ptype::BIND, 1, &mut good);
        for n in HEADER_BYTES..good.len() {
            let mut b = good[..n].to_vec();
            b[8..10].copy_from_slice(&(n as u16).to_le_bytes());
            let h = Header::decode(&b).unwrap();
            assert!(Bind::decode(&h, &b).is_err(), "{n} bytes");
        }
        // A huge context count with nothing behind it.
        let mut b = good[..28].to_vec();
        b[24] = 255;
        b[8..10].copy_from_slice(&28u16.to_le_bytes());
        let h = Header::decode(&b).unwrap();
        assert!(Bind::decode(&h, &b).is_err());
    }

    #[test]
    fn request_with_object_uuid_and_auth() {
        let mut out = BytesMut::new();
        Request { alloc_hint: 4, context_id: 1, opnum: 15, stub: &[1, 2, 3, 4] }.encode(3, pfc::FIRST_FRAG | pfc::LAST_FRAG, &mut out);
        let h = Header::decode(&out).unwrap();
        let r = Request::decode(&h, &out).unwrap();
        assert_eq!((r.context_id, r.opnum, r.stub), (1, 15, &[1u8, 2, 3, 4][..]));
        // OBJECT_UUID set but no room for the object.
        let mut b = out.to_vec();
        b[3] |= pfc::OBJECT_UUID;
        assert!(Request::decode(&Header::decode(&b).unwrap(), &b).is_err());
        // A request carrying auth is refused.
        let mut b = out.to_vec();
        b.extend_from_slice(&[0; 16]);
        let n = b.len() as u16;
        b[8..10].copy_from_slice(&n.to_le_bytes());
        b[10..12].copy_from_slice(&8u16.to_le_bytes());
        assert!(Request::decode(&Header::decode(&b).unwrap(), &b).is_err());
    }
}
