//! A compound of three PDUs end to end: split a CREATE + WRITE + CLOSE
//! chain, parse each, answer each, compose the answers and decode them as
//! a client would.

mod common;

use bytes::BytesMut;
use holdfast_smb_proto::msg::close::CloseResponse;
use holdfast_smb_proto::msg::create::CreateResponse;
use holdfast_smb_proto::msg::create_ctx::CreateResponseContext;
use holdfast_smb_proto::msg::write::WriteResponse;
use holdfast_smb_proto::{
    compose_compound, encode_pdu, parse_request, split_compound, EncodeBody, FileId, Header, Request,
};
use holdfast_types::ntstatus::NtStatus;

#[test]
fn split_parse_answer_compose_decode() {
    let msg = common::compound_create_write_close();
    let pdus = split_compound(&msg).unwrap();
    assert_eq!(pdus.len(), 3);
    assert_eq!(pdus[0].offset, 0);
    assert!(pdus.iter().all(|p| p.offset % 8 == 0));
    assert_eq!(pdus[2].offset + pdus[2].bytes.len(), msg.len());

    let requests: Vec<_> = pdus.iter().map(|p| parse_request(p.bytes).unwrap()).collect();
    let Request::Create(create) = &requests[0] else { panic!("not a CREATE: {:?}", requests[0]) };
    assert_eq!(create.name, "docs\\report.docx");
    assert_eq!(create.contexts.len(), 6);
    let Request::Write(write) = &requests[1] else { panic!("not a WRITE") };
    assert_eq!(write.data, b"compounded bytes");
    assert!(write.file_id.is_any());
    let Request::Close(close) = &requests[2] else { panic!("not a CLOSE") };
    assert!(close.wants_attributes());
    let headers: Vec<_> = pdus.iter().map(|p| Header::decode(p.bytes).unwrap()).collect();
    assert!(!headers[0].is_related() && headers[1].is_related() && headers[2].is_related());
    assert_eq!(headers[0].next_command as usize, pdus[1].offset);

    // Answer each and compose the answers into one compound.
    let file_id = FileId { persistent: 7, volatile: 8 };
    let create_rsp = CreateResponse {
        oplock_level: 0xFF,
        flags: 0,
        create_action: 2,
        creation_time: 1,
        last_access_time: 1,
        last_write_time: 1,
        change_time: 1,
        allocation_size: 0,
        end_of_file: 0,
        file_attributes: 0x20,
        file_id,
        contexts: vec![CreateResponseContext::MaximalAccess { query_status: 0, maximal_access: 0x001F_01FF }],
    };
    let write_rsp = WriteResponse { count: 16, remaining: 0 };
    let close_rsp = CloseResponse { flags: 1, end_of_file: 16, allocation_size: 4096, ..Default::default() };
    let bodies: [&dyn EncodeBody; 3] = [&create_rsp, &write_rsp, &close_rsp];
    let encoded: Vec<Vec<u8>> = headers
        .iter()
        .zip(bodies)
        .map(|(h, body)| {
            let mut out = BytesMut::new();
            encode_pdu(&Header::response_to(h, NtStatus::SUCCESS, 10), body, &mut out);
            out.to_vec()
        })
        .collect();
    let refs: Vec<&[u8]> = encoded.iter().map(|v| v.as_slice()).collect();
    let mut out = BytesMut::new();
    let ranges = compose_compound(&refs, &mut out).unwrap();
    assert_eq!(ranges.len(), 3);

    let answers = split_compound(&out).unwrap();
    assert_eq!(answers.len(), 3);
    for (a, r) in answers.iter().zip(&ranges) {
        assert_eq!(a.offset, r.start);
        assert_eq!(a.bytes.len(), r.len());
        let h = Header::decode(a.bytes).unwrap();
        assert!(h.is_response());
    }
    let body = |i: usize| &answers[i].bytes[64..];
    assert_eq!(CreateResponse::decode(body(0), answers[0].bytes).unwrap(), create_rsp);
    assert_eq!(WriteResponse::decode(body(1), answers[1].bytes).unwrap(), write_rsp);
    assert_eq!(CloseResponse::decode(body(2), answers[2].bytes).unwrap(), close_rsp);
    assert!(Header::decode(answers[1].bytes).unwrap().is_related());
}
