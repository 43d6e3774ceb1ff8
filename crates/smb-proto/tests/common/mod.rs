//! Seed messages built with the public encoders, shared by the compound,
//! no-panic and corpus tests (and written to `fuzz/corpus/smb_pdu/`).
#![allow(dead_code)]

use bytes::BytesMut;
use holdfast_smb_proto::frame::{begin_frame, finish_frame};
use holdfast_smb_proto::header::flags;
use holdfast_smb_proto::msg::close::CloseRequest;
use holdfast_smb_proto::msg::create::{disposition, oplock_level, CreateRequest};
use holdfast_smb_proto::msg::create_ctx::{CreateContext, Lease, LeaseV2, DHANDLE_FLAG_PERSISTENT};
use holdfast_smb_proto::msg::negotiate::NegotiateRequest;
use holdfast_smb_proto::msg::negotiate_ctx::{cipher, signing_algorithm, NegotiateContext};
use holdfast_smb_proto::msg::session_setup::SessionSetupRequest;
use holdfast_smb_proto::msg::write::WriteRequest;
use holdfast_smb_proto::{compose_compound, dialect, encode_pdu, Command, EncodeBody, FileId, Header};

pub fn pdu(command: Command, message_id: u64, body: &dyn EncodeBody) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_pdu(&Header::request(command, message_id, 0x1000_0000_0000_0001, 5), body, &mut out);
    out.to_vec()
}

pub fn framed(message: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let start = begin_frame(&mut out);
    out.extend_from_slice(message);
    finish_frame(&mut out, start).unwrap();
    out.to_vec()
}

pub fn negotiate_311() -> Vec<u8> {
    let req = NegotiateRequest {
        security_mode: 1,
        capabilities: 0x7F,
        client_guid: [0x5A; 16],
        dialects: dialect::ALL.to_vec(),
        negotiate_contexts: vec![
            NegotiateContext::PreauthIntegrity { hash_algorithms: vec![1], salt: vec![0x33; 32] },
            NegotiateContext::Encryption {
                ciphers: vec![cipher::AES_128_GCM, cipher::AES_128_CCM, cipher::AES_256_GCM, cipher::AES_256_CCM],
            },
            NegotiateContext::Signing { algorithms: vec![signing_algorithm::AES_GMAC, signing_algorithm::AES_CMAC] },
            NegotiateContext::Other { context_type: 5, data: b"h\0o\0s\0t\0".to_vec() },
        ],
    };
    pdu(Command::Negotiate, 0, &req)
}

pub fn session_setup() -> Vec<u8> {
    // The start of an SPNEGO NegTokenInit wrapping NTLMSSP NEGOTIATE.
    let mut token = vec![0x60, 0x48, 0x06, 0x06, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x02, 0xA0, 0x3E];
    token.extend_from_slice(b"NTLMSSP\0\x01\0\0\0\x97\x82\x08\xe2");
    token.resize(74, 0);
    let req = SessionSetupRequest {
        flags: 0,
        security_mode: 1,
        capabilities: 1,
        channel: 0,
        previous_session_id: 0,
        security_buffer: token,
    };
    pdu(Command::SessionSetup, 1, &req)
}

pub fn create_request() -> CreateRequest {
    CreateRequest {
        security_flags: 0,
        requested_oplock_level: oplock_level::LEASE,
        impersonation_level: 2,
        smb_create_flags: 0,
        desired_access: 0x0013_019F,
        file_attributes: 0x80,
        share_access: 7,
        create_disposition: disposition::OPEN_IF,
        create_options: 0x40,
        name: "docs\\report.docx".into(),
        contexts: vec![
            CreateContext::DurableRequestV2 { timeout: 0, flags: DHANDLE_FLAG_PERSISTENT, create_guid: [0x11; 16] },
            CreateContext::Lease(Lease {
                key: [0x22; 16],
                state: 7,
                flags: 0,
                duration: 0,
                v2: Some(LeaseV2 { parent_key: [0; 16], epoch: 0 }),
            }),
            CreateContext::QueryMaximalAccess { timestamp: None },
            CreateContext::QueryOnDiskId,
            CreateContext::AppInstanceId([0x33; 16]),
            CreateContext::Unknown { name: b"AAPL".to_vec(), data: vec![1, 0, 0, 0, 0, 0, 0, 0] },
        ],
    }
}

pub fn create_with_contexts() -> Vec<u8> {
    pdu(Command::Create, 2, &create_request())
}

/// CREATE + WRITE + CLOSE chained as related operations, the way Windows
/// sends a small file copy.
pub fn compound_create_write_close() -> Vec<u8> {
    let create = create_with_contexts();
    let data = b"compounded bytes".to_vec();
    let write = WriteRequest {
        offset: 0,
        file_id: FileId::ANY,
        channel: 0,
        remaining_bytes: 0,
        flags: 0,
        data: &data,
    };
    let mut write_pdu = pdu(Command::Write, 3, &write);
    let mut close_pdu = pdu(Command::Close, 4, &CloseRequest { flags: 1, file_id: FileId::ANY });
    for p in [&mut write_pdu, &mut close_pdu] {
        let f = flags::RELATED_OPERATIONS.to_le_bytes();
        p[16..20].copy_from_slice(&f);
    }
    let mut out = BytesMut::new();
    compose_compound(&[&create, &write_pdu, &close_pdu], &mut out).unwrap();
    out.to_vec()
}

/// Every seed, framed, with the file name it has in the corpus.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("negotiate-311", framed(&negotiate_311())),
        ("session-setup", framed(&session_setup())),
        ("create-contexts", framed(&create_with_contexts())),
        ("compound-create-write-close", framed(&compound_create_write_close())),
    ]
}
