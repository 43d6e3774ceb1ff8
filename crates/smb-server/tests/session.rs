//! The service in process, without a file server: NEGOTIATE 3.1.1 with
//! pre-auth integrity, NTLMv2 SESSION_SETUP with our test client, the
//! signed final response, and the signing rules afterwards (an unsigned
//! request on the session is refused, a signed one answered and signed).
//! The srvsvc pipe on IPC$ through WRITE, READ and FSCTL_PIPE_TRANSCEIVE
//! (calls that need no share list).

use std::path::PathBuf;

use bytes::BytesMut;
use holdfast_smb_proto::frame::{begin_frame, finish_frame};
use holdfast_smb_proto::msg::echo::EchoRequest;
use holdfast_smb_proto::msg::logoff::LogoffRequest;
use holdfast_smb_proto::msg::negotiate::{NegotiateRequest, NegotiateResponse};
use holdfast_smb_proto::msg::negotiate_ctx::{hash_algorithm, signing_algorithm, NegotiateContext};
use holdfast_smb_proto::msg::session_setup::{SessionSetupRequest, SessionSetupResponse};
use holdfast_smb_proto::msg::tree_connect::{TreeConnectRequest, TreeConnectResponse};
use holdfast_smb_proto::{dialect, encode_pdu, take_frame, Command, EncodeBody, Header, HEADER_BYTES};
use holdfast_smb_security::test_client::{NtlmClient, SpnegoClient};
use holdfast_smb_security::{derive_session_keys, Dialect, PreauthHash, Signer, SigningAlgorithm, Users};
use holdfast_smb_server::{serve, Limits, SmbdConfig};
use holdfast_types::ntstatus::NtStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pass";

struct Client {
    sock: TcpStream,
    buf: BytesMut,
    next_id: u64,
}

impl Client {
    async fn send<B: EncodeBody>(&mut self, h: &Header, body: &B, signer: Option<&Signer>) -> Vec<u8> {
        let mut pdu = BytesMut::new();
        encode_pdu(h, body, &mut pdu);
        if let Some(s) = signer {
            s.sign(&mut pdu).unwrap();
        }
        let mut out = BytesMut::new();
        let start = begin_frame(&mut out);
        out.extend_from_slice(&pdu);
        finish_frame(&mut out, start).unwrap();
        self.sock.write_all(&out).await.unwrap();
        pdu.to_vec()
    }

    async fn recv(&mut self) -> Vec<u8> {
        loop {
            if let Some((m, used)) = take_frame(&self.buf).unwrap() {
                let m = m.to_vec();
                let _ = self.buf.split_to(used);
                return m;
            }
            assert!(self.sock.read_buf(&mut self.buf).await.unwrap() > 0, "server closed the connection");
        }
    }

    fn header(&mut self, cmd: Command, session_id: u64, tree_id: u32) -> Header {
        self.next_id += 1;
        Header::request(cmd, self.next_id - 1, session_id, tree_id)
    }
}

async fn start() -> (std::net::SocketAddr, PathBuf) {
    let dir = std::env::temp_dir().join(format!("hf-smbd-session-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut users = Users::new();
    users.add(USER, PASSWORD).unwrap();
    users.save(&dir).unwrap();
    let cfg = SmbdConfig {
        listen: "127.0.0.1:0".into(),
        fs_socket: dir.join("no-file-server.sock"),
        users_file: Users::path(&dir),
        server_name: "TESTSRV".into(),
        shares: vec![],
        limits: Limits::default(),
        conns_file: None,
        min_dialect: "2.0.2".into(),
        user: holdfast_types::share::SMBD_USER_DEFAULT.into(),
    };
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(serve(l, cfg));
    (addr, dir)
}

/// NEGOTIATE 3.1.1; returns the connection's pre-auth hash.
async fn negotiate(c: &mut Client, signing: u16) -> PreauthHash {
    let req = NegotiateRequest {
        security_mode: 1,
        capabilities: 0,
        client_guid: [7; 16],
        dialects: vec![dialect::SMB_3_0_2, dialect::SMB_3_1_1],
        negotiate_contexts: vec![
            NegotiateContext::PreauthIntegrity { hash_algorithms: vec![hash_algorithm::SHA_512], salt: vec![1; 32] },
            NegotiateContext::Signing { algorithms: vec![signing] },
        ],
    };
    let h = c.header(Command::Negotiate, 0, 0);
    let sent = c.send(&h, &req, None).await;
    let resp = c.recv().await;
    let rh = Header::decode(&resp).unwrap();
    assert_eq!(rh.status, NtStatus::SUCCESS);
    let r = NegotiateResponse::decode(&resp[HEADER_BYTES..], &resp).unwrap();
    assert_eq!(r.dialect_revision, dialect::SMB_3_1_1);
    assert_eq!(r.security_mode & 2, 2, "signing required");
    let mut hash = PreauthHash::new();
    hash.update(&sent);
    hash.update(&resp);
    hash
}

/// Two SESSION_SETUP rounds; returns the session id and the signer, or
/// the failing status.
async fn logon(c: &mut Client, mut hash: PreauthHash, password: &str, signing: u16) -> Result<(u64, Signer), NtStatus> {
    let mut sp = SpnegoClient::new(NtlmClient::new(USER, password, "WORKGROUP"));
    let req = setup(sp.initial_token());
    let h = c.header(Command::SessionSetup, 0, 0);
    hash.update(&c.send(&h, &req, None).await);
    let resp = c.recv().await;
    let rh = Header::decode(&resp).unwrap();
    assert_eq!(rh.status, NtStatus::MORE_PROCESSING_REQUIRED);
    hash.update(&resp);
    let sid = rh.session_id;
    let r = SessionSetupResponse::decode(&resp[HEADER_BYTES..], &resp).unwrap();
    let token = sp.step(&r.security_buffer).unwrap().expect("authenticate token");
    let req = setup(token);
    let h = c.header(Command::SessionSetup, sid, 0);
    hash.update(&c.send(&h, &req, None).await);
    let mut resp = c.recv().await;
    let rh = Header::decode(&resp).unwrap();
    if rh.status != NtStatus::SUCCESS {
        return Err(rh.status);
    }
    let key = sp.session_key().expect("session key");
    let keys = derive_session_keys(Dialect::Smb311, &key, None, Some(hash.value())).unwrap();
    let signer = Signer::new(SigningAlgorithm::from_id(signing).unwrap(), &keys.signing_key);
    assert!(rh.is_signed(), "the final SESSION_SETUP response is signed on 3.1.1");
    signer.verify(&mut resp).expect("final SESSION_SETUP response signature");
    Ok((sid, signer))
}

fn setup(security_buffer: Vec<u8>) -> SessionSetupRequest {
    SessionSetupRequest { flags: 0, security_mode: 1, capabilities: 0, channel: 0, previous_session_id: 0, security_buffer }
}

async fn connect(addr: std::net::SocketAddr) -> Client {
    Client { sock: TcpStream::connect(addr).await.unwrap(), buf: BytesMut::new(), next_id: 0 }
}

#[tokio::test]
async fn logon_signs_and_refuses_unsigned_requests_cmac() {
    signing_rules(signing_algorithm::AES_CMAC).await;
}

#[tokio::test]
async fn logon_signs_and_refuses_unsigned_requests_gmac() {
    signing_rules(signing_algorithm::AES_GMAC).await;
}

async fn signing_rules(alg: u16) {
    let (addr, dir) = start().await;
    let mut c = connect(addr).await;
    let hash = negotiate(&mut c, alg).await;
    let (sid, signer) = logon(&mut c, hash, PASSWORD, alg).await.expect("logon");

    // Unsigned ECHO on a signing session: STATUS_ACCESS_DENIED.
    let h = c.header(Command::Echo, sid, 0);
    c.send(&h, &EchoRequest, None).await;
    let resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::ACCESS_DENIED);

    // Signed: answered and signed.
    let h = c.header(Command::Echo, sid, 0);
    c.send(&h, &EchoRequest, Some(&signer)).await;
    let mut resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::SUCCESS);
    signer.verify(&mut resp).expect("ECHO response signature");

    // A bad signature: STATUS_ACCESS_DENIED.
    let h = c.header(Command::Echo, sid, 0);
    let other = Signer::new(SigningAlgorithm::AesCmac, &[9; 16]);
    c.send(&h, &EchoRequest, Some(&other)).await;
    let resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::ACCESS_DENIED);

    // IPC$ needs no file server: a pipe share.
    let h = c.header(Command::TreeConnect, sid, 0);
    c.send(&h, &TreeConnectRequest { flags: 0, path: format!("\\\\{}\\IPC$", addr.ip()) }, Some(&signer)).await;
    let mut resp = c.recv().await;
    let rh = Header::decode(&resp).unwrap();
    assert_eq!(rh.status, NtStatus::SUCCESS);
    assert_ne!(rh.tree_id(), Some(0));
    signer.verify(&mut resp).unwrap();
    let t = TreeConnectResponse::decode(&resp[HEADER_BYTES..], &resp).unwrap();
    assert_eq!(t.share_type, holdfast_smb_proto::share_type::PIPE);

    // LOGOFF is answered signed; the session is gone afterwards.
    let h = c.header(Command::Logoff, sid, 0);
    c.send(&h, &LogoffRequest, Some(&signer)).await;
    let mut resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::SUCCESS);
    signer.verify(&mut resp).expect("LOGOFF response signature");
    let h = c.header(Command::TreeConnect, sid, 0);
    c.send(&h, &TreeConnectRequest { flags: 0, path: format!("\\\\{}\\IPC$", addr.ip()) }, Some(&signer)).await;
    let resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus(0xC000_0203), "USER_SESSION_DELETED");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn wrong_password_is_logon_failure() {
    let (addr, dir) = start().await;
    let mut c = connect(addr).await;
    let hash = negotiate(&mut c, signing_algorithm::AES_CMAC).await;
    assert_eq!(logon(&mut c, hash, "not-the-password", signing_algorithm::AES_CMAC).await.err(), Some(NtStatus::LOGON_FAILURE));
    let _ = std::fs::remove_dir_all(dir);
}

/// Two SESSION_SETUP rounds on the live session `sid` (a
/// re-authentication), signed with its signer; the final status, and the
/// final response verified with the session's unchanged signer.
async fn reauth(c: &mut Client, sid: u64, signer: &Signer, user: &str, password: &str) -> NtStatus {
    let mut sp = SpnegoClient::new(NtlmClient::new(user, password, "WORKGROUP"));
    let h = c.header(Command::SessionSetup, sid, 0);
    c.send(&h, &setup(sp.initial_token()), Some(signer)).await;
    let mut resp = c.recv().await;
    let rh = Header::decode(&resp).unwrap();
    assert_eq!(rh.status, NtStatus::MORE_PROCESSING_REQUIRED);
    signer.verify(&mut resp).expect("a re-authentication round is signed with the session's key");
    assert_eq!(rh.session_id, sid, "the same session");
    let r = SessionSetupResponse::decode(&resp[HEADER_BYTES..], &resp).unwrap();
    let token = sp.step(&r.security_buffer).unwrap().expect("authenticate token");
    let h = c.header(Command::SessionSetup, sid, 0);
    c.send(&h, &setup(token), Some(signer)).await;
    let mut resp = c.recv().await;
    let status = Header::decode(&resp).unwrap().status;
    if status == NtStatus::SUCCESS {
        signer.verify(&mut resp).expect("the session keeps its signing key");
    }
    status
}

/// Re-authentication of a valid session (Windows does it when a ticket
/// expires): the same user succeeds and the session keeps its keys;
/// another user is refused and the session goes on; a wrong password ends
/// the session.
#[tokio::test]
async fn reauthentication_keeps_the_session() {
    let (addr, dir) = start().await;
    let mut users = Users::load_file(&Users::path(&dir)).unwrap();
    users.add("bob", "bobs-Pass-1").unwrap();
    users.save(&dir).unwrap();
    let mut c = connect(addr).await;
    let hash = negotiate(&mut c, signing_algorithm::AES_CMAC).await;
    let (sid, signer) = logon(&mut c, hash, PASSWORD, signing_algorithm::AES_CMAC).await.expect("logon");
    assert_eq!(reauth(&mut c, sid, &signer, USER, PASSWORD).await, NtStatus::SUCCESS);
    assert_eq!(reauth(&mut c, sid, &signer, "bob", "bobs-Pass-1").await, NtStatus::ACCESS_DENIED, "another user");
    let h = c.header(Command::Echo, sid, 0);
    c.send(&h, &EchoRequest, Some(&signer)).await;
    let mut resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::SUCCESS, "the session goes on");
    signer.verify(&mut resp).unwrap();
    assert_eq!(reauth(&mut c, sid, &signer, USER, "wrong-Pass-9").await, NtStatus::LOGON_FAILURE);
    let h = c.header(Command::TreeConnect, sid, 0);
    c.send(&h, &TreeConnectRequest { flags: 0, path: format!("\\\\{}\\IPC$", addr.ip()) }, Some(&signer)).await;
    let resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::USER_SESSION_DELETED, "a failed re-authentication ends the session");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn reused_message_id_ends_the_connection() {
    let (addr, dir) = start().await;
    let mut c = connect(addr).await;
    let _ = negotiate(&mut c, signing_algorithm::AES_CMAC).await;
    // MessageId 0 was the NEGOTIATE's: using it again is outside the window.
    let h = Header::request(Command::Echo, 0, 0, 0);
    c.send(&h, &EchoRequest, None).await;
    let mut b = [0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.sock.read(&mut b)).await.expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "connection closed, not answered: {n:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The srvsvc pipe's SMB side: CREATE on IPC$ (another name is
/// STATUS_OBJECT_NAME_NOT_FOUND), a BIND by WRITE and its BIND_ACK by READ,
/// a call by FSCTL_PIPE_TRANSCEIVE whose answer does not fit the output
/// (STATUS_BUFFER_OVERFLOW, the rest by READ), STATUS_PIPE_EMPTY, CLOSE.
#[tokio::test]
async fn srvsvc_pipe_write_read_transceive() {
    use holdfast_smb_proto::msg::close::CloseRequest;
    use holdfast_smb_proto::msg::create::{CreateRequest, CreateResponse};
    use holdfast_smb_proto::msg::ioctl::{IoctlRequest, IoctlResponse, IOCTL_IS_FSCTL};
    use holdfast_smb_proto::msg::read::{ReadRequest, ReadResponse};
    use holdfast_smb_proto::msg::write::WriteRequest;
    use holdfast_smb_proto::rpc::pdu::{self, ptype, Bind, BindAck, ContextElem};
    use holdfast_smb_proto::rpc::{fault, NDR20, SRVSVC};
    use holdfast_smb_proto::FileId;

    let (addr, dir) = start().await;
    let mut c = connect(addr).await;
    let alg = signing_algorithm::AES_CMAC;
    let hash = negotiate(&mut c, alg).await;
    let (sid, signer) = logon(&mut c, hash, PASSWORD, alg).await.expect("logon");
    let h = c.header(Command::TreeConnect, sid, 0);
    c.send(&h, &TreeConnectRequest { flags: 0, path: format!("\\\\{}\\IPC$", addr.ip()) }, Some(&signer)).await;
    let resp = c.recv().await;
    let tid = Header::decode(&resp).unwrap().tree_id().unwrap();

    let create = |name: &str| CreateRequest {
        security_flags: 0,
        requested_oplock_level: 0,
        impersonation_level: 2,
        smb_create_flags: 0,
        desired_access: 0x0012_019F,
        file_attributes: 0,
        share_access: 3,
        create_disposition: 1,
        create_options: 0,
        name: name.into(),
        contexts: vec![],
    };
    let h = c.header(Command::Create, sid, tid);
    c.send(&h, &create("winreg"), Some(&signer)).await;
    assert_eq!(Header::decode(&c.recv().await).unwrap().status, NtStatus::OBJECT_NAME_NOT_FOUND);
    let h = c.header(Command::Create, sid, tid);
    c.send(&h, &create("srvsvc"), Some(&signer)).await;
    let resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::SUCCESS);
    let fid: FileId = CreateResponse::decode(&resp[HEADER_BYTES..], &resp).unwrap().file_id;

    // BIND by WRITE, BIND_ACK by READ.
    let mut bind = BytesMut::new();
    Bind {
        max_xmit_frag: 4280,
        max_recv_frag: 4280,
        assoc_group: 0,
        contexts: vec![ContextElem { id: 0, abstract_syntax: SRVSVC, transfer_syntaxes: vec![NDR20] }],
    }
    .encode(ptype::BIND, 1, &mut bind);
    let h = c.header(Command::Write, sid, tid);
    c.send(&h, &WriteRequest { offset: 0, file_id: fid, channel: 0, remaining_bytes: 0, flags: 0, data: &bind }, Some(&signer)).await;
    assert_eq!(Header::decode(&c.recv().await).unwrap().status, NtStatus::SUCCESS);
    let read = |length| ReadRequest {
        padding: 0x50,
        flags: 0,
        length,
        offset: 0,
        file_id: fid,
        minimum_count: 0,
        channel: 0,
        remaining_bytes: 0,
    };
    let h = c.header(Command::Read, sid, tid);
    c.send(&h, &read(4280), Some(&signer)).await;
    let resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::SUCCESS);
    let data = ReadResponse::decode(&resp[HEADER_BYTES..], &resp).unwrap().data.to_vec();
    let ph = pdu::Header::decode(&data).unwrap();
    assert_eq!(ph.ptype, ptype::BIND_ACK);
    assert_eq!(BindAck::decode(&ph, &data).unwrap().results[0].result, 0);

    // An opnum srvsvc does not serve, by TRANSCEIVE with 20 bytes of
    // output: the first 20 bytes of the FAULT, then the rest by READ.
    let mut req = BytesMut::new();
    pdu::Request { alloc_hint: 0, context_id: 0, opnum: 21, stub: &[] }.encode(2, 3, &mut req);
    let h = c.header(Command::Ioctl, sid, tid);
    let ioctl = IoctlRequest {
        ctl_code: 0x0011_C017,
        file_id: fid,
        input: &req,
        max_input_response: 0,
        output: &[],
        max_output_response: 20,
        flags: IOCTL_IS_FSCTL,
    };
    c.send(&h, &ioctl, Some(&signer)).await;
    let resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::BUFFER_OVERFLOW);
    let mut fault_pdu = IoctlResponse::decode(&resp[HEADER_BYTES..], &resp).unwrap().output.to_vec();
    assert_eq!(fault_pdu.len(), 20);
    let h = c.header(Command::Read, sid, tid);
    c.send(&h, &read(4280), Some(&signer)).await;
    let resp = c.recv().await;
    assert_eq!(Header::decode(&resp).unwrap().status, NtStatus::SUCCESS);
    fault_pdu.extend_from_slice(ReadResponse::decode(&resp[HEADER_BYTES..], &resp).unwrap().data);
    assert_eq!(pdu::decode_response(&fault_pdu).unwrap(), Err(fault::OP_RNG_ERROR));

    // Nothing queued.
    let h = c.header(Command::Read, sid, tid);
    c.send(&h, &read(4280), Some(&signer)).await;
    assert_eq!(Header::decode(&c.recv().await).unwrap().status, NtStatus::PIPE_EMPTY);

    // CLOSE frees it.
    let h = c.header(Command::Close, sid, tid);
    c.send(&h, &CloseRequest { flags: 0, file_id: fid }, Some(&signer)).await;
    assert_eq!(Header::decode(&c.recv().await).unwrap().status, NtStatus::SUCCESS);
    let h = c.header(Command::Read, sid, tid);
    c.send(&h, &read(4280), Some(&signer)).await;
    assert_eq!(Header::decode(&c.recv().await).unwrap().status, NtStatus::FILE_CLOSED);
    let _ = std::fs::remove_dir_all(dir);
}
