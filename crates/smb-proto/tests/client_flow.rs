//! The test client's view: every request it sends is encoded with the
//! request encoders, framed, parsed by the server side (`take_frame`,
//! `parse_request`), answered with the response encoders and decoded
//! with the response decoders. One pass over NEGOTIATE, SESSION_SETUP,
//! TREE_CONNECT, CREATE, WRITE, READ, LOCK, ECHO, CLOSE and an ERROR.

mod common;

use bytes::BytesMut;
use holdfast_smb_proto::frame::{begin_frame, finish_frame};
use holdfast_smb_proto::msg::close::{CloseRequest, CloseResponse};
use holdfast_smb_proto::msg::create::CreateResponse;
use holdfast_smb_proto::msg::echo::{EchoRequest, EchoResponse};
use holdfast_smb_proto::msg::error::ErrorResponse;
use holdfast_smb_proto::msg::lock::{lock_flags, LockElement, LockRequest, LockResponse};
use holdfast_smb_proto::msg::negotiate::NegotiateResponse;
use holdfast_smb_proto::msg::negotiate_ctx::NegotiateContext;
use holdfast_smb_proto::msg::read::{ReadRequest, ReadResponse};
use holdfast_smb_proto::msg::session_setup::{SessionSetupResponse, SESSION_FLAG_BINDING};
use holdfast_smb_proto::msg::tree_connect::{TreeConnectRequest, TreeConnectResponse};
use holdfast_smb_proto::msg::write::{WriteRequest, WriteResponse};
use holdfast_smb_proto::{
    encode_pdu, parse_request, share_caps, share_type, take_frame, Command, EncodeBody, FileId, Header, Request,
};
use holdfast_types::ntstatus::NtStatus;

/// Client side: frame one request.
fn send(command: Command, message_id: u64, body: &dyn EncodeBody) -> Vec<u8> {
    let mut out = BytesMut::new();
    let start = begin_frame(&mut out);
    encode_pdu(&Header::request(command, message_id, 9, 1), body, &mut out);
    finish_frame(&mut out, start).unwrap();
    out.to_vec()
}

/// Server side: unframe, parse, answer with `answer`, frame the reply.
fn serve(wire: &[u8], answer: impl FnOnce(&Request<'_>) -> (NtStatus, Vec<u8>)) -> Vec<u8> {
    let (msg, used) = take_frame(wire).unwrap().unwrap();
    assert_eq!(used, wire.len());
    let header = Header::decode(msg).unwrap();
    let req = parse_request(msg).unwrap();
    assert_eq!(req.command(), header.command);
    let (status, body) = answer(&req);
    let mut out = BytesMut::new();
    let start = begin_frame(&mut out);
    Header::response_to(&header, status, 8).encode(&mut out);
    out.extend_from_slice(&body);
    finish_frame(&mut out, start).unwrap();
    out.to_vec()
}

fn body_of(b: &dyn EncodeBody) -> Vec<u8> {
    let mut out = BytesMut::new();
    b.encode_body(&mut out);
    out.to_vec()
}

/// Client side: unframe a reply and return (header, pdu).
fn receive(wire: &[u8]) -> (Header, Vec<u8>) {
    let (msg, _) = take_frame(wire).unwrap().unwrap();
    (Header::decode(msg).unwrap(), msg.to_vec())
}

#[test]
fn a_session_from_negotiate_to_close() {
    // NEGOTIATE.
    let wire = common::framed(&common::negotiate_311());
    let reply = serve(&wire, |req| {
        let Request::Negotiate(n) = req else { panic!() };
        assert!(n.dialects.contains(&0x0311));
        let rsp = NegotiateResponse {
            security_mode: 1,
            dialect_revision: 0x0311,
            server_guid: [1; 16],
            capabilities: 0x47,
            max_transact_size: 1 << 20,
            max_read_size: 1 << 20,
            max_write_size: 1 << 20,
            system_time: 0,
            server_start_time: 0,
            security_buffer: vec![0x60, 0x28],
            negotiate_contexts: vec![NegotiateContext::PreauthIntegrity { hash_algorithms: vec![1], salt: vec![2; 32] }],
        };
        (NtStatus::SUCCESS, body_of(&rsp))
    });
    let (h, pdu) = receive(&reply);
    assert!(h.is_response());
    let n = NegotiateResponse::decode(&pdu[64..], &pdu).unwrap();
    assert_eq!(n.dialect_revision, 0x0311);
    assert_eq!(n.negotiate_contexts.len(), 1);

    // SESSION_SETUP, first leg: MORE_PROCESSING_REQUIRED still carries a body.
    let wire = common::framed(&common::session_setup());
    let reply = serve(&wire, |req| {
        let Request::SessionSetup(s) = req else { panic!() };
        assert_eq!(s.flags & SESSION_FLAG_BINDING, 0);
        let rsp = SessionSetupResponse { session_flags: 0, security_buffer: vec![0xA1; 200] };
        (NtStatus::MORE_PROCESSING_REQUIRED, body_of(&rsp))
    });
    let (h, pdu) = receive(&reply);
    assert_eq!(h.status, NtStatus::MORE_PROCESSING_REQUIRED);
    assert_eq!(SessionSetupResponse::decode(&pdu[64..], &pdu).unwrap().security_buffer.len(), 200);

    // TREE_CONNECT.
    let tc = TreeConnectRequest { flags: 0, path: "\\\\127.0.0.1\\share".into() };
    let reply = serve(&send(Command::TreeConnect, 3, &tc), |req| {
        let Request::TreeConnect(t) = req else { panic!() };
        assert_eq!(t.share_name(), "share");
        let rsp = TreeConnectResponse {
            share_type: share_type::DISK,
            share_flags: 0,
            capabilities: share_caps::CONTINUOUS_AVAILABILITY,
            maximal_access: 0x001F_01FF,
        };
        (NtStatus::SUCCESS, body_of(&rsp))
    });
    let (_, pdu) = receive(&reply);
    assert_eq!(
        TreeConnectResponse::decode(&pdu[64..], &pdu).unwrap().capabilities,
        share_caps::CONTINUOUS_AVAILABILITY
    );

    // CREATE.
    let file_id = FileId { persistent: 0xAB, volatile: 0xCD };
    let reply = serve(&common::framed(&common::create_with_contexts()), |req| {
        let Request::Create(c) = req else { panic!() };
        assert_eq!(c.contexts, common::create_request().contexts);
        let rsp = CreateResponse {
            oplock_level: 0,
            flags: 0,
            create_action: 2,
            creation_time: 0,
            last_access_time: 0,
            last_write_time: 0,
            change_time: 0,
            allocation_size: 0,
            end_of_file: 0,
            file_attributes: 0x20,
            file_id,
            contexts: vec![],
        };
        (NtStatus::SUCCESS, body_of(&rsp))
    });
    let (_, pdu) = receive(&reply);
    assert_eq!(CreateResponse::decode(&pdu[64..], &pdu).unwrap().file_id, file_id);

    // WRITE then READ of the same 64 KiB.
    let data: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
    let write = WriteRequest { offset: 4096, file_id, channel: 0, remaining_bytes: 0, flags: 0, data: &data };
    let reply = serve(&send(Command::Write, 5, &write), |req| {
        let Request::Write(w) = req else { panic!() };
        assert_eq!(w.data, &data[..]);
        (NtStatus::SUCCESS, body_of(&WriteResponse { count: w.data.len() as u32, remaining: 0 }))
    });
    let (_, pdu) = receive(&reply);
    assert_eq!(WriteResponse::decode(&pdu[64..], &pdu).unwrap().count, 65536);
    let read = ReadRequest {
        padding: 0x50,
        flags: 0,
        length: 65536,
        offset: 4096,
        file_id,
        minimum_count: 0,
        channel: 0,
        remaining_bytes: 0,
    };
    let reply = serve(&send(Command::Read, 6, &read), |req| {
        let Request::Read(r) = req else { panic!() };
        assert_eq!(r.length, 65536);
        (NtStatus::SUCCESS, body_of(&ReadResponse { data_remaining: 0, flags: 0, data: &data }))
    });
    let (_, pdu) = receive(&reply);
    assert_eq!(ReadResponse::decode(&pdu[64..], &pdu).unwrap().data, &data[..]);

    // LOCK, ECHO.
    let lock = LockRequest {
        lock_sequence_number: 1,
        lock_sequence_index: 2,
        file_id,
        locks: vec![LockElement { offset: 0, length: 10, flags: lock_flags::EXCLUSIVE_LOCK }],
    };
    let reply = serve(&send(Command::Lock, 7, &lock), |req| {
        assert_eq!(req, &Request::Lock(lock.clone()));
        (NtStatus::SUCCESS, body_of(&LockResponse))
    });
    let (_, pdu) = receive(&reply);
    assert!(LockResponse::decode(&pdu[64..], &pdu).is_ok());
    let reply = serve(&send(Command::Echo, 8, &EchoRequest), |_| (NtStatus::SUCCESS, body_of(&EchoResponse)));
    let (_, pdu) = receive(&reply);
    assert!(EchoResponse::decode(&pdu[64..], &pdu).is_ok());

    // A CLOSE of an unknown handle gets an ERROR body.
    let bad = CloseRequest { flags: 0, file_id: FileId { persistent: 1, volatile: 1 } };
    let reply = serve(&send(Command::Close, 9, &bad), |_| (NtStatus::FILE_CLOSED, body_of(&ErrorResponse::EMPTY)));
    let (h, pdu) = receive(&reply);
    assert_eq!(h.status, NtStatus::FILE_CLOSED);
    assert_eq!(ErrorResponse::decode(&pdu[64..], &pdu).unwrap(), ErrorResponse::EMPTY);

    // CLOSE.
    let close = CloseRequest { flags: 1, file_id };
    let reply = serve(&send(Command::Close, 10, &close), |_| {
        (NtStatus::SUCCESS, body_of(&CloseResponse { flags: 1, end_of_file: 69632, ..Default::default() }))
    });
    let (_, pdu) = receive(&reply);
    assert_eq!(CloseResponse::decode(&pdu[64..], &pdu).unwrap().end_of_file, 69632);
}
