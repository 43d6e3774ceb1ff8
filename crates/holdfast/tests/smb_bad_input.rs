//! Bad input over the wire against a real `holdfast smbd` on a 3-node
//! cluster: malformed headers, bad offsets and lengths, an oversized
//! frame, broken compounds, unsigned requests on a signed session, a wrong
//! password and share escapes. Each case must end in an error status or a
//! disconnect, and afterwards another client must still be served.

mod common;

use bytes::BytesMut;
use holdfast_smb_client::proto::msg::create::disposition;
use holdfast_smb_client::proto::msg::echo::EchoRequest;
use holdfast_smb_client::proto::msg::write::WriteRequest;
use holdfast_smb_client::proto::{Command, FileId};
use holdfast_smb_client::{unc, ClientConfig, ClientError, Credentials, NtStatus, OpenOptions, SmbClient, Tree};

const USER: &str = "tester";
const PASSWORD: &str = "Correct-Horse-42";

/// What the server did with one bad input.
#[derive(Debug, PartialEq)]
enum Outcome {
    Status(NtStatus),
    Disconnected,
}

fn creds() -> Credentials {
    Credentials::new(USER, PASSWORD, "WORKGROUP")
}

async fn logged_on(addr: &str) -> (SmbClient, Tree) {
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.expect("connect");
    c.session_setup(&creds(), 0).await.expect("log on");
    let tree = c.tree_connect(&unc("127.0.0.1", "share")).await.expect("tree connect");
    (c, tree)
}

/// The reply to MessageId `id`, or the disconnect. A hang fails the test
/// (the client's reply timeout), as it should.
async fn outcome(c: &mut SmbClient, id: u64) -> Outcome {
    match c.recv_reply(id).await {
        Ok(r) => Outcome::Status(r.status()),
        Err(e) if e.is_disconnect() => Outcome::Disconnected,
        Err(ClientError::Io(e)) => panic!("i/o error other than a disconnect: {e}"),
        Err(e) => panic!("no clean answer: {e}"),
    }
}

/// After a message the server cannot parse there is no MessageId to
/// answer: a disconnect, or (if it answers anyway) an error.
async fn any_outcome(c: &mut SmbClient) -> Outcome {
    match c.recv().await {
        Ok(r) => Outcome::Status(r.status()),
        Err(e) if e.is_disconnect() => Outcome::Disconnected,
        Err(e) => panic!("no clean answer: {e}"),
    }
}

fn show(o: &Outcome) -> String {
    match o {
        Outcome::Status(s) => s.to_string(),
        Outcome::Disconnected => "disconnected".into(),
    }
}

fn assert_refused(case: &str, o: &Outcome) {
    eprintln!("{case}: {}", show(o));
    match o {
        Outcome::Disconnected => {}
        Outcome::Status(s) => assert!(s.is_error(), "{case}: expected an error or a disconnect, got {s}"),
    }
}

/// Another client still gets a full CREATE / WRITE / READ / CLOSE.
async fn still_serves(addr: &str, case: &str) {
    let (mut c, tree) = logged_on(addr).await;
    let o = c.create(&tree, &OpenOptions::new("health.dat")).await.unwrap_or_else(|e| panic!("after {case}: {e}"));
    c.write(&tree, o.file_id, 0, case.as_bytes()).await.unwrap_or_else(|e| panic!("after {case}: {e}"));
    let back = c.read(&tree, o.file_id, 0, case.len() as u32).await.unwrap_or_else(|e| panic!("after {case}: {e}"));
    assert_eq!(back, case.as_bytes(), "after {case}: read back");
    c.close(&tree, o.file_id).await.unwrap_or_else(|e| panic!("after {case}: {e}"));
}

fn le16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn le32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// What the server does with one message sent on a fresh TCP connection,
/// before any NEGOTIATE.
async fn first_message_outcome(addr: &str, message: &[u8]) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut framed = vec![0u8, (message.len() >> 16) as u8, (message.len() >> 8) as u8, message.len() as u8];
    framed.extend_from_slice(message);
    if s.write_all(&framed).await.is_err() {
        return Outcome::Disconnected;
    }
    let mut h = [0u8; 4];
    match tokio::time::timeout(std::time::Duration::from_secs(30), s.read_exact(&mut h)).await {
        Err(_) => panic!("no answer and no disconnect after 30 s"),
        Ok(Err(_)) => return Outcome::Disconnected,
        Ok(Ok(_)) => {}
    }
    let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
    let mut m = vec![0u8; len];
    if s.read_exact(&mut m).await.is_err() || len < 12 {
        return Outcome::Disconnected;
    }
    Outcome::Status(NtStatus(u32::from_le_bytes([m[8], m[9], m[10], m[11]])))
}

fn negotiate_pdu(patch: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    use holdfast_smb_client::proto::msg::negotiate::NegotiateRequest;
    use holdfast_smb_client::proto::msg::negotiate_ctx::NegotiateContext;
    let req = NegotiateRequest {
        security_mode: 1,
        capabilities: 0,
        client_guid: [7; 16],
        dialects: vec![0x0302, 0x0311],
        negotiate_contexts: vec![NegotiateContext::PreauthIntegrity { hash_algorithms: vec![1], salt: vec![1; 32] }],
    };
    let mut out = BytesMut::new();
    holdfast_smb_client::proto::encode_pdu(&holdfast_smb_client::proto::Header::request(Command::Negotiate, 0, 0, 0), &req, &mut out);
    let mut pdu = out.to_vec();
    patch(&mut pdu);
    pdu
}

async fn negotiate_cases(addr: &str) {
    // Body offsets below are after the 64-byte header.
    let cases: [(&str, Vec<u8>); 5] = [
        ("NEGOTIATE DialectCount 0", negotiate_pdu(|p| le16(p, 64 + 2, 0))),
        ("NEGOTIATE DialectCount 0xFFFF", negotiate_pdu(|p| le16(p, 64 + 2, 0xFFFF))),
        ("NEGOTIATE NegotiateContextOffset past the end", negotiate_pdu(|p| le32(p, 64 + 28, 0x10000))),
        ("NEGOTIATE NegotiateContextCount 0xFFFF", negotiate_pdu(|p| le16(p, 64 + 32, 0xFFFF))),
        ("NEGOTIATE truncated body", negotiate_pdu(|p| p.truncate(64 + 20))),
    ];
    for (case, pdu) in cases {
        assert_refused(case, &first_message_outcome(addr, &pdu).await);
        still_serves(addr, case).await;
    }
    // An SMB1 NEGOTIATE cut short, and random bytes.
    let smb1 = [0xFF, b'S', b'M', b'B', 0x72, 0, 0, 0, 0, 0x18, 0x53, 0xC8];
    assert_refused("truncated SMB1 NEGOTIATE", &first_message_outcome(addr, &smb1).await);
    still_serves(addr, "truncated SMB1 NEGOTIATE").await;
    let noise: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    assert_refused("random bytes", &first_message_outcome(addr, &noise).await);
    still_serves(addr, "random bytes").await;
}

async fn session_cases(addr: &str) {
    use holdfast_smb_client::proto::msg::session_setup::SessionSetupRequest;
    let setup = |token: Vec<u8>| {
        let mut b = BytesMut::new();
        SessionSetupRequest { flags: 0, security_mode: 1, capabilities: 0, channel: 0, previous_session_id: 0, security_buffer: token }.encode(&mut b);
        b.to_vec()
    };
    // SecurityBufferOffset/Length past the end of the PDU.
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    let mut body = setup(vec![0x60, 0x03, 0x06, 0x01, 0x00]);
    le16(&mut body, 14, 0x4000);
    let (pdu, id) = c.build_pdu(Command::SessionSetup, 0, &body, false).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("SESSION_SETUP SecurityBufferLength past the end", &outcome(&mut c, id).await);
    still_serves(addr, "SESSION_SETUP buffer").await;

    // A security blob that is not SPNEGO or NTLMSSP.
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    let (pdu, id) = c.build_pdu(Command::SessionSetup, 0, &setup(b"this is no token at all".to_vec()), false).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("SESSION_SETUP garbage token", &outcome(&mut c, id).await);
    still_serves(addr, "SESSION_SETUP garbage").await;

    // An NTLMSSP AUTHENTICATE out of the blue (no CHALLENGE before it).
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    let mut auth = b"NTLMSSP\0\x03\0\0\0".to_vec();
    auth.resize(88, 0xEE);
    let (pdu, id) = c.build_pdu(Command::SessionSetup, 0, &setup(auth), false).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("SESSION_SETUP AUTHENTICATE first", &outcome(&mut c, id).await);
    still_serves(addr, "SESSION_SETUP AUTHENTICATE first").await;

    // TREE_CONNECT with an odd-length (not UTF-16) path, then a path
    // offset outside the PDU.
    for (case, patch) in [("TREE_CONNECT odd PathLength", (6usize, 7u16)), ("TREE_CONNECT PathOffset outside", (4, 0x7000))] {
        let (mut c, _) = logged_on(addr).await;
        let mut b = BytesMut::new();
        holdfast_smb_client::proto::msg::tree_connect::TreeConnectRequest { flags: 0, path: "\\\\127.0.0.1\\share".into() }.encode(&mut b);
        let mut body = b.to_vec();
        le16(&mut body, patch.0, patch.1);
        let (pdu, id) = c.build_pdu(Command::TreeConnect, 0, &body, true).unwrap();
        c.send_message(&pdu).await.unwrap();
        assert_refused(case, &outcome(&mut c, id).await);
        still_serves(addr, case).await;
    }

    // A MessageId used twice ends the connection (or is refused).
    let (mut c, tree) = logged_on(addr).await;
    let (pdu, id) = c.build_pdu(Command::Echo, tree.id, &echo_body(), true).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_eq!(outcome(&mut c, id).await, Outcome::Status(NtStatus::SUCCESS));
    c.send_message(&pdu).await.unwrap();
    assert_refused("MessageId reused", &any_outcome(&mut c).await);
    still_serves(addr, "MessageId reused").await;

    // LOCK with LockCount 0, and READ longer than READ_BYTES_MAX.
    let (mut c, tree) = logged_on(addr).await;
    let open = c.create(&tree, &OpenOptions::new("counts.dat")).await.unwrap();
    let mut lock = BytesMut::new();
    holdfast_smb_client::proto::msg::lock::LockRequest {
        lock_sequence_number: 0,
        lock_sequence_index: 0,
        file_id: open.file_id,
        locks: vec![holdfast_smb_client::proto::msg::lock::LockElement { offset: 0, length: 1, flags: 2 }],
    }
    .encode(&mut lock);
    let mut lock = lock.to_vec();
    le16(&mut lock, 2, 0);
    let (pdu, id) = c.build_pdu(Command::Lock, tree.id, &lock, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("LOCK LockCount 0", &outcome(&mut c, id).await);
    let mut read = BytesMut::new();
    holdfast_smb_client::proto::msg::read::ReadRequest {
        padding: 0x50,
        flags: 0,
        length: 1,
        offset: 0,
        file_id: open.file_id,
        minimum_count: 0,
        channel: 0,
        remaining_bytes: 0,
    }
    .encode(&mut read);
    let mut read = read.to_vec();
    le32(&mut read, 4, 0x4000_0000);
    let (pdu, id) = c.build_pdu(Command::Read, tree.id, &read, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("READ Length 1 GiB", &outcome(&mut c, id).await);
    still_serves(addr, "LOCK and READ counts").await;
}

fn echo_body() -> Vec<u8> {
    let mut b = BytesMut::new();
    EchoRequest.encode(&mut b);
    b.to_vec()
}

async fn header_cases(addr: &str) {
    // Bad ProtocolId (the header cannot be read at all).
    let (mut c, tree) = logged_on(addr).await;
    let (mut pdu, _) = c.build_pdu(Command::Echo, tree.id, &echo_body(), true).unwrap();
    pdu[0] = 0xFF;
    c.send_message(&pdu).await.unwrap();
    assert_refused("bad protocol id", &any_outcome(&mut c).await);
    still_serves(addr, "bad protocol id").await;

    // Header StructureSize 65 instead of 64.
    let (mut c, tree) = logged_on(addr).await;
    let (mut pdu, _) = c.build_pdu(Command::Echo, tree.id, &echo_body(), false).unwrap();
    le16(&mut pdu, 4, 65);
    c.sign(&mut pdu).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("header StructureSize 65", &any_outcome(&mut c).await);
    still_serves(addr, "header StructureSize").await;

    // A message of 40 bytes: a truncated header.
    let (mut c, tree) = logged_on(addr).await;
    let (pdu, _) = c.build_pdu(Command::Echo, tree.id, &echo_body(), true).unwrap();
    c.send_message(&pdu[..40]).await.unwrap();
    assert_refused("truncated header", &any_outcome(&mut c).await);
    still_serves(addr, "truncated header").await;

    // A body StructureSize that does not match the command (ECHO 5).
    let (mut c, tree) = logged_on(addr).await;
    let (pdu, id) = c.build_pdu(Command::Echo, tree.id, &[5, 0, 0, 0], true).unwrap();
    c.send_message(&pdu).await.unwrap();
    let o = outcome(&mut c, id).await;
    assert_refused("ECHO StructureSize 5", &o);
    still_serves(addr, "ECHO StructureSize").await;

    // A frame header announcing 9 MiB, over FRAME_BYTES_MAX (8 MiB + 1 KiB).
    let (mut c, _) = logged_on(addr).await;
    c.send_raw(&[0x00, 0x90, 0x00, 0x00]).await.unwrap();
    let _ = c.send_raw(&[0u8; 4096]).await;
    assert_refused("NetBIOS length 9 MiB", &any_outcome(&mut c).await);
    still_serves(addr, "NetBIOS length over the cap").await;

    // A frame that never finishes, and a connection that never speaks,
    // held open while another client is served.
    let (mut stalled, _) = logged_on(addr).await;
    stalled.send_raw(&[0x00, 0x00, 0x04, 0x00, 0xFE, b'S', b'M', b'B']).await.unwrap();
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    still_serves(addr, "a half-sent frame and a silent connection").await;
    drop((stalled, silent));

    // A NetBIOS message type other than a session message.
    let (mut c, _) = logged_on(addr).await;
    c.send_raw(&[0x85, 0x00, 0x00, 0x00]).await.unwrap();
    let _ = c.send_raw(&[0u8; 64]).await;
    assert_refused("NetBIOS type 0x85", &any_outcome(&mut c).await);
    still_serves(addr, "NetBIOS type").await;
}

async fn offset_cases(addr: &str) {
    // CREATE whose NameOffset/NameLength point past the end of the PDU.
    let (mut c, tree) = logged_on(addr).await;
    let mut body = BytesMut::new();
    OpenOptions::new("name.dat").to_request().encode(&mut body);
    let mut body = body.to_vec();
    le16(&mut body, 44, 0x7FF0);
    le16(&mut body, 46, 200);
    let (pdu, id) = c.build_pdu(Command::Create, tree.id, &body, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    let o = outcome(&mut c, id).await;
    assert_refused("CREATE NameOffset outside the PDU", &o);
    still_serves(addr, "CREATE NameOffset").await;

    // CREATE whose NameOffset points into the fixed part (aliasing its fields).
    let (mut c, tree) = logged_on(addr).await;
    let mut body = BytesMut::new();
    OpenOptions::new("name.dat").to_request().encode(&mut body);
    let mut body = body.to_vec();
    le16(&mut body, 44, 64);
    let (pdu, id) = c.build_pdu(Command::Create, tree.id, &body, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("CREATE NameOffset into the header", &outcome(&mut c, id).await);
    still_serves(addr, "CREATE NameOffset into the header").await;

    // CREATE with CreateContextsOffset/Length beyond the PDU.
    let (mut c, tree) = logged_on(addr).await;
    let mut body = BytesMut::new();
    OpenOptions::new("ctx.dat").to_request().encode(&mut body);
    let mut body = body.to_vec();
    le32(&mut body, 48, 0x100);
    le32(&mut body, 52, 0x1000);
    let (pdu, id) = c.build_pdu(Command::Create, tree.id, &body, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("CREATE contexts outside the PDU", &outcome(&mut c, id).await);
    still_serves(addr, "CREATE contexts").await;

    // WRITE whose DataOffset lies beyond the end, on a real open.
    let (mut c, tree) = logged_on(addr).await;
    let open = c.create(&tree, &OpenOptions::new("offsets.dat")).await.unwrap();
    let data = [7u8; 16];
    let mut body = BytesMut::new();
    WriteRequest { offset: 0, file_id: open.file_id, channel: 0, remaining_bytes: 0, flags: 0, data: &data }.encode(&mut body);
    let mut body = body.to_vec();
    le16(&mut body, 2, 0xFFF0);
    le32(&mut body, 4, 4096);
    let (pdu, id) = c.build_pdu(Command::Write, tree.id, &body, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("WRITE DataOffset beyond the end", &outcome(&mut c, id).await);
    still_serves(addr, "WRITE DataOffset").await;

    // WRITE with Length larger than the bytes present.
    let (mut c, tree) = logged_on(addr).await;
    let open = c.create(&tree, &OpenOptions::new("offsets.dat")).await.unwrap();
    let mut body = BytesMut::new();
    WriteRequest { offset: 0, file_id: open.file_id, channel: 0, remaining_bytes: 0, flags: 0, data: &data }.encode(&mut body);
    let mut body = body.to_vec();
    le32(&mut body, 4, 0x7FFF_FFFF);
    let (pdu, id) = c.build_pdu(Command::Write, tree.id, &body, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("WRITE Length past the PDU", &outcome(&mut c, id).await);
    still_serves(addr, "WRITE Length").await;

    // READ of an unknown FileId.
    let (mut c, tree) = logged_on(addr).await;
    let e = c.read(&tree, FileId { persistent: 0xDEAD, volatile: 0xBEEF }, 0, 10).await.unwrap_err();
    eprintln!("READ unknown FileId: {e}");
    assert!(e.status().is_some_and(|s| s.is_error()), "READ of an unknown FileId: {e}");
    still_serves(addr, "unknown FileId").await;
}

async fn compound_cases(addr: &str) {
    for (case, next) in [("NextCommand beyond the message", 0x1000u32), ("NextCommand not 8-aligned", 67), ("NextCommand inside the header", 8)] {
        let (mut c, tree) = logged_on(addr).await;
        let (mut first, id) = c.build_pdu(Command::Echo, tree.id, &echo_body(), false).unwrap();
        let (second, _) = c.build_pdu(Command::Echo, tree.id, &echo_body(), true).unwrap();
        le32(&mut first, 20, next);
        c.sign(&mut first).unwrap();
        first.resize(first.len().div_ceil(8) * 8, 0);
        first.extend_from_slice(&second);
        c.send_message(&first).await.unwrap();
        let o = match c.recv().await {
            Ok(r) if r.header.message_id == id => Outcome::Status(r.status()),
            Ok(r) => Outcome::Status(r.status()),
            Err(e) if e.is_disconnect() => Outcome::Disconnected,
            Err(e) => panic!("{case}: no clean answer: {e}"),
        };
        assert_refused(case, &o);
        still_serves(addr, case).await;
    }
}

async fn security_cases(addr: &str) {
    // An unsigned request on a signed 3.1.1 session.
    let (mut c, tree) = logged_on(addr).await;
    assert_eq!(c.negotiated().dialect, 0x0311);
    let (pdu, id) = c.build_pdu(Command::Echo, tree.id, &echo_body(), false).unwrap();
    c.send_message(&pdu).await.unwrap();
    let o = outcome(&mut c, id).await;
    eprintln!("unsigned ECHO: {}", show(&o));
    assert!(matches!(o, Outcome::Disconnected | Outcome::Status(NtStatus::ACCESS_DENIED)), "unsigned request: {o:?}");
    still_serves(addr, "unsigned request").await;

    // A badly signed CREATE (one bit of the signature flipped).
    let (mut c, tree) = logged_on(addr).await;
    let mut body = BytesMut::new();
    OpenOptions::new("signed.dat").to_request().encode(&mut body);
    let (mut pdu, id) = c.build_pdu(Command::Create, tree.id, &body, true).unwrap();
    pdu[50] ^= 0x01;
    c.send_message(&pdu).await.unwrap();
    let o = outcome(&mut c, id).await;
    eprintln!("badly signed CREATE: {}", show(&o));
    assert!(matches!(o, Outcome::Disconnected | Outcome::Status(NtStatus::ACCESS_DENIED)), "bad signature: {o:?}");
    still_serves(addr, "bad signature").await;

    // Wrong password.
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    let e = c.session_setup(&Credentials::new(USER, "wrong-password", "WORKGROUP"), 0).await.unwrap_err();
    eprintln!("wrong password: {e}");
    assert_eq!(e.status(), Some(NtStatus::LOGON_FAILURE), "wrong password: {e}");
    // Unknown user.
    let mut c = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    let e = c.session_setup(&Credentials::new("nobody-here", PASSWORD, "WORKGROUP"), 0).await.unwrap_err();
    assert_eq!(e.status(), Some(NtStatus::LOGON_FAILURE), "unknown user: {e}");
    still_serves(addr, "wrong password").await;

    // A CREATE on a session id that does not exist, signed with our key.
    let (mut c, tree) = logged_on(addr).await;
    let mut body = BytesMut::new();
    OpenOptions::new("nosession.dat").to_request().encode(&mut body);
    let (mut pdu, id) = c.build_pdu(Command::Create, tree.id, &body, false).unwrap();
    pdu[40..48].copy_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
    c.sign(&mut pdu).unwrap();
    c.send_message(&pdu).await.unwrap();
    assert_refused("unknown SessionId", &outcome(&mut c, id).await);
    still_serves(addr, "unknown SessionId").await;
}

async fn path_cases(addr: &str) {
    let passwd_before = std::fs::metadata("/etc/passwd").and_then(|m| m.modified()).ok();
    let (mut c, tree) = logged_on(addr).await;
    let names = [
        "..\\..\\etc\\passwd",
        "..\\escape.dat",
        "a\\..\\..\\escape.dat",
        "\\etc\\passwd",
        "C:\\etc\\passwd",
        "a\0b.dat",
        "..",
        "dir\\.\\..\\..\\x",
        "/etc/passwd",
    ];
    for name in names {
        let o = OpenOptions::new(name).disposition(disposition::OPEN_IF);
        match c.create(&tree, &o).await {
            Ok(open) => {
                let _ = c.close(&tree, open.file_id).await;
                panic!("CREATE {name:?} succeeded");
            }
            Err(e) => {
                eprintln!("CREATE {name:?}: {e}");
                assert!(e.status().is_some_and(|s| s.is_error()), "CREATE {name:?}: {e}");
            }
        }
    }
    // Nothing outside the share was touched, and no escape file was made
    // at the share root either.
    assert_eq!(std::fs::metadata("/etc/passwd").and_then(|m| m.modified()).ok(), passwd_before);
    let e = c.create(&tree, &OpenOptions::new("escape.dat").disposition(disposition::OPEN)).await.unwrap_err();
    assert_eq!(e.status(), Some(NtStatus::OBJECT_NAME_NOT_FOUND), "no escape.dat in the share root: {e}");
    still_serves(addr, "paths").await;
}

#[test]
fn bad_input_gets_errors_and_the_service_lives_on() {
    let (c, _smbd, addr) = common::smb_cluster_with_smbd("smb-bad-input", USER, PASSWORD);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let log = || std::fs::read_to_string(c.dir.join("smbd.log")).unwrap_or_default();
    rt.block_on(async {
        still_serves(&addr, "start").await;
        negotiate_cases(&addr).await;
        session_cases(&addr).await;
        header_cases(&addr).await;
        offset_cases(&addr).await;
        compound_cases(&addr).await;
        security_cases(&addr).await;
        path_cases(&addr).await;
    });
    let l = log();
    assert!(!l.contains("panicked"), "smbd panicked:\n{l}");
}
