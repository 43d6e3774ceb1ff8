//! The entry point shared by the cargo-fuzz target (`fuzz/fuzz_targets/
//! smb_pdu.rs`) and the corpus replay test, so CI exercises the same code
//! path as the fuzzer without a nightly toolchain.
//!
//! It treats the input as a receive buffer of NetBIOS frames and, failing
//! that, as one bare message; classifies each message; splits SMB2
//! messages into compound PDUs; and runs every PDU through
//! [`parse_request`], the typed payload decoders (SET_INFO classes, FSCTL
//! inputs), the request encoders (re-encoding what was decoded), and every
//! response decoder (a client parses server bytes too).

use bytes::BytesMut;

use crate::frame::{classify_message, split_compound, take_frame, MessageKind};
use crate::header::{Command, Header, HEADER_BYTES};
use crate::info::set::SetFileInfo;
use crate::msg::fsctl::{Fsctl, ValidateNegotiateInfoResponse};
use crate::msg::*;
use crate::request::{parse_request, Request};
use crate::smb1::Smb1Negotiate;
use crate::transform::TransformHeader;

/// How many frames a single input may contain before the rest is ignored
/// (keeps one fuzz iteration short).
const FRAMES_MAX: usize = 16;

/// What one input produced, for the corpus test's assertions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub frames: usize,
    pub requests_ok: usize,
    pub requests_err: usize,
}

pub fn smb_pdu(data: &[u8]) -> Outcome {
    let mut outcome = Outcome::default();
    let mut rest = data;
    while outcome.frames < FRAMES_MAX {
        match take_frame(rest) {
            Ok(Some((msg, used))) => {
                outcome.frames += 1;
                message(msg, &mut outcome);
                rest = rest.get(used..).unwrap_or(&[]);
            }
            _ => break,
        }
    }
    if outcome.frames == 0 {
        message(data, &mut outcome);
    }
    outcome
}

fn message(msg: &[u8], outcome: &mut Outcome) {
    match classify_message(msg) {
        Ok(MessageKind::Smb2) => {
            if let Ok(pdus) = split_compound(msg) {
                for pdu in pdus {
                    match parse_request(pdu.bytes) {
                        Ok(req) => {
                            outcome.requests_ok += 1;
                            deeper(&req);
                        }
                        Err(e) => {
                            outcome.requests_err += 1;
                            let _ = (e.status(), e.is_fatal(), e.to_string());
                        }
                    }
                    responses(pdu.bytes);
                }
            }
        }
        Ok(MessageKind::Smb1) => {
            if let Ok(n) = Smb1Negotiate::decode(msg) {
                let _ = n.smb2_dialect();
            }
        }
        Ok(MessageKind::Transform) => {
            if let Ok((h, _)) = TransformHeader::decode(msg) {
                let _ = h.associated_data();
            }
        }
        Ok(MessageKind::Compressed) | Err(_) => {}
    }
}

/// Decodes payloads inside a request and re-encodes it.
fn deeper(req: &Request<'_>) {
    let mut out = BytesMut::new();
    match req {
        Request::Negotiate(r) => r.encode(&mut out),
        Request::SessionSetup(r) => r.encode(&mut out),
        Request::TreeConnect(r) => r.encode(&mut out),
        Request::Create(r) => r.encode(&mut out),
        Request::Close(r) => r.encode(&mut out),
        Request::Flush(r) => r.encode(&mut out),
        Request::Read(r) => r.encode(&mut out),
        Request::Write(r) => r.encode(&mut out),
        Request::Lock(r) => r.encode(&mut out),
        Request::Ioctl(r) => {
            let _ = Fsctl::decode(r.ctl_code, r.input);
            r.encode(&mut out);
        }
        Request::QueryDirectory(r) => r.encode(&mut out),
        Request::QueryInfo(r) => r.encode(&mut out),
        Request::SetInfo(r) => {
            let _ = SetFileInfo::decode(r.file_info_class, r.buffer);
            r.encode(&mut out);
        }
        Request::OplockBreak(r) => r.encode(&mut out),
        Request::Logoff(_)
        | Request::TreeDisconnect(_)
        | Request::Cancel(_)
        | Request::Echo(_)
        | Request::ChangeNotify(_) => {}
    }
}

/// Runs the response decoders a client would run on this PDU.
fn responses(pdu: &[u8]) {
    let header = match Header::decode(pdu) {
        Ok(h) => h,
        Err(_) => return,
    };
    let body = pdu.get(HEADER_BYTES..).unwrap_or(&[]);
    let _ = error::ErrorResponse::decode(body, pdu);
    match header.command {
        Command::Negotiate => drop(negotiate::NegotiateResponse::decode(body, pdu)),
        Command::SessionSetup => drop(session_setup::SessionSetupResponse::decode(body, pdu)),
        Command::TreeConnect => drop(tree_connect::TreeConnectResponse::decode(body, pdu)),
        Command::Create => drop(create::CreateResponse::decode(body, pdu)),
        Command::Close => drop(close::CloseResponse::decode(body, pdu)),
        Command::Read => drop(read::ReadResponse::decode(body, pdu)),
        Command::Write => drop(write::WriteResponse::decode(body, pdu)),
        Command::Lock => drop(lock::LockResponse::decode(body, pdu)),
        Command::Echo => drop(echo::EchoResponse::decode(body, pdu)),
        Command::Ioctl => {
            if let Ok(r) = ioctl::IoctlResponse::decode(body, pdu) {
                let _ = ValidateNegotiateInfoResponse::decode(r.output);
            }
        }
        Command::QueryDirectory => drop(query_directory::QueryDirectoryResponse::decode(body, pdu)),
        Command::QueryInfo => drop(query_info::QueryInfoResponse::decode(body, pdu)),
        Command::SetInfo => drop(set_info::SetInfoResponse::decode(body, pdu)),
        Command::OplockBreak => {
            let _ = oplock_break::LeaseBreakNotification::decode(body, pdu);
            let _ = oplock_break::OplockBreak::decode(body, pdu);
        }
        Command::Logoff | Command::TreeDisconnect | Command::Flush | Command::Cancel | Command::ChangeNotify => {}
    }
}

/// Most DCE/RPC PDUs one `rpc_pdu` input is taken apart into.
const RPC_PDUS_MAX: usize = 16;

/// The entry point of the `rpc_pdu` fuzz target: the input as bytes
/// written to a named pipe. Each whole PDU is decoded as the server does
/// (header, BIND / ALTER_CONTEXT, REQUEST) and as a client would (BIND_ACK,
/// RESPONSE, FAULT); every REQUEST stub, and the input itself, go through
/// both srvsvc request decoders and the response decoder. Returns how many
/// PDUs decoded.
pub fn rpc_pdu(data: &[u8]) -> usize {
    use crate::rpc::{pdu, srvsvc};
    let stubs = |s: &[u8]| {
        let _ = srvsvc::ShareEnumRequest::decode(s);
        let _ = srvsvc::ShareGetInfoRequest::decode(s);
        let _ = srvsvc::decode_share_enum_response(s);
    };
    stubs(data);
    let mut rest = data;
    let mut n = 0;
    while n < RPC_PDUS_MAX {
        let len = match pdu::pdu_length(rest) {
            Ok(Some(len)) => len,
            _ => break,
        };
        let (one, tail) = rest.split_at(len);
        rest = tail;
        let Ok(h) = pdu::Header::decode(one) else { break };
        n += 1;
        match h.ptype {
            pdu::ptype::BIND | pdu::ptype::ALTER_CONTEXT => {
                if let Ok(b) = pdu::Bind::decode(&h, one) {
                    let mut out = BytesMut::new();
                    b.encode(h.ptype, h.call_id, &mut out);
                }
            }
            pdu::ptype::REQUEST => {
                if let Ok(r) = pdu::Request::decode(&h, one) {
                    stubs(r.stub);
                }
            }
            pdu::ptype::BIND_ACK | pdu::ptype::ALTER_CONTEXT_RESP => {
                let _ = pdu::BindAck::decode(&h, one);
            }
            _ => {
                if let Ok(Ok((_, _, s))) = pdu::decode_response(one) {
                    stubs(s);
                }
            }
        }
    }
    n
}
