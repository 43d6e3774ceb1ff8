//! The Rust SMB client (`holdfast-smb-client`) against a real `holdfast
//! smbd` on a 3-node cluster: every dialect it offers, a persistent handle
//! reclaimed with DH2C on a new connection after the old one dropped, a
//! PreviousSessionId logon, byte-range locks, a lease request, the
//! CreateGuid replay rule, and per-file security descriptors.

mod common;

use holdfast_smb_client::proto::msg::create::disposition;
use holdfast_smb_client::proto::msg::create_ctx::{lease_state, Lease, LeaseV2, DHANDLE_FLAG_PERSISTENT};
use holdfast_smb_client::proto::msg::lock::{lock_flags, LockElement};
use holdfast_smb_client::proto::{dialect, share_caps};
use holdfast_smb_client::{unc, ClientConfig, Credentials, Durable, NtStatus, OpenOptions, SmbClient, Tree};

const USER: &str = "tester";
const PASSWORD: &str = "Correct-Horse-42";

fn creds() -> Credentials {
    Credentials::new(USER, PASSWORD, "WORKGROUP")
}

async fn logged_on(addr: &str, cfg: ClientConfig, previous: u64) -> (SmbClient, Tree) {
    let mut c = SmbClient::connect(addr, cfg).await.expect("connect");
    c.session_setup(&creds(), previous).await.expect("log on");
    let tree = c.tree_connect(&unc("127.0.0.1", "share")).await.expect("tree connect");
    (c, tree)
}

async fn every_dialect(addr: &str) {
    for d in [dialect::SMB_2_1, dialect::SMB_3_0, dialect::SMB_3_0_2, dialect::SMB_3_1_1] {
        let cfg = ClientConfig { dialects: vec![d], ..Default::default() };
        let (mut c, tree) = logged_on(addr, cfg, 0).await;
        assert_eq!(c.negotiated().dialect, d);
        let name = format!("dialect-{d:04x}.dat");
        let o = c.create(&tree, &OpenOptions::new(&name)).await.unwrap();
        let data = vec![d as u8; 100_000];
        assert_eq!(c.write(&tree, o.file_id, 0, &data).await.unwrap(), data.len() as u32);
        assert_eq!(c.read(&tree, o.file_id, 0, data.len() as u32).await.unwrap(), data);
        let closed = c.close(&tree, o.file_id).await.unwrap();
        assert_eq!(closed.end_of_file, data.len() as u64);
        c.echo().await.unwrap();
        c.tree_disconnect(&tree).await.unwrap();
        c.logoff().await.unwrap();
    }
}

/// Multi-credit requests: a WRITE and a READ of MaxWriteSize / MaxReadSize
/// (4 MiB: CreditCharge 64), and one beyond it refused by the client.
async fn large_io(addr: &str) {
    let (mut c, tree) = logged_on(addr, ClientConfig::default(), 0).await;
    let n = c.negotiated().max_write_bytes.min(c.negotiated().max_read_bytes) as usize;
    let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let o = c.create(&tree, &OpenOptions::new("large.dat")).await.unwrap();
    for round in 0..3u64 {
        assert_eq!(c.write(&tree, o.file_id, round * n as u64, &data).await.unwrap() as usize, n);
        assert_eq!(c.read(&tree, o.file_id, round * n as u64, n as u32).await.unwrap(), data);
    }
    let too_big = vec![0u8; n + 1];
    let e = c.write(&tree, o.file_id, 0, &too_big).await.unwrap_err();
    assert!(matches!(e, holdfast_smb_client::ClientError::BadRequest(_)), "{e}");
    c.close(&tree, o.file_id).await.unwrap();
}

async fn persistent_reclaim(addr: &str) {
    let cfg = ClientConfig::default();
    let (mut c1, tree) = logged_on(addr, cfg.clone(), 0).await;
    assert_ne!(tree.capabilities & share_caps::CONTINUOUS_AVAILABILITY, 0, "the share is CA");
    let create_guid: [u8; 16] = rand::random();
    let durable = Durable::V2 { create_guid, timeout_ms: 60_000, persistent: true };
    let o = c1.create(&tree, &OpenOptions::new("persistent.dat").durable(durable.clone())).await.unwrap();
    let (flags, _timeout) = o.durable_v2().expect("DH2Q granted");
    assert_eq!(flags & DHANDLE_FLAG_PERSISTENT, DHANDLE_FLAG_PERSISTENT);
    c1.write(&tree, o.file_id, 0, b"kept across connections").await.unwrap();
    // A second CREATE with the same CreateGuid and no replay flag.
    let e = c1.create(&tree, &OpenOptions::new("persistent.dat").durable(durable)).await.unwrap_err();
    assert_eq!(e.status(), Some(NtStatus::DUPLICATE_OBJECTID), "{e}");
    let old_session = c1.session_id();
    drop(c1);

    // New connection, same ClientGuid, PreviousSessionId: reclaim.
    let (mut c2, tree) = logged_on(addr, cfg, old_session).await;
    let reconnect = Durable::ReconnectV2 { file_id: o.file_id, create_guid, persistent: true };
    let o2 = c2.create(&tree, &OpenOptions::new("persistent.dat").durable(reconnect)).await.unwrap();
    assert_eq!(o2.file_id.persistent, o.file_id.persistent);
    assert_eq!(c2.read(&tree, o2.file_id, 0, 23).await.unwrap(), b"kept across connections");
    c2.close(&tree, o2.file_id).await.unwrap();

    // The handle is gone for good after CLOSE.
    let again = Durable::ReconnectV2 { file_id: o.file_id, create_guid, persistent: true };
    let e = c2.create(&tree, &OpenOptions::new("persistent.dat").durable(again)).await.unwrap_err();
    assert_eq!(e.status(), Some(NtStatus::OBJECT_NAME_NOT_FOUND), "{e}");
}

async fn locks_and_lease(addr: &str) {
    let (mut a, ta) = logged_on(addr, ClientConfig::default(), 0).await;
    let (mut b, tb) = logged_on(addr, ClientConfig::default(), 0).await;
    let lease = Lease {
        key: rand::random(),
        state: lease_state::READ_CACHING | lease_state::HANDLE_CACHING,
        flags: 0,
        duration: 0,
        v2: Some(LeaseV2 { parent_key: [0; 16], epoch: 0 }),
    };
    let oa = a.create(&ta, &OpenOptions::new("locks.dat").lease(lease)).await.unwrap();
    let ob = b.create(&tb, &OpenOptions::new("locks.dat").disposition(disposition::OPEN)).await.unwrap();
    let lock = |flags| vec![LockElement { offset: 0, length: 10, flags }];
    a.lock(&ta, oa.file_id, lock(lock_flags::EXCLUSIVE_LOCK | lock_flags::FAIL_IMMEDIATELY)).await.unwrap();
    let e = b.lock(&tb, ob.file_id, lock(lock_flags::EXCLUSIVE_LOCK | lock_flags::FAIL_IMMEDIATELY)).await.unwrap_err();
    assert_eq!(e.status(), Some(NtStatus::LOCK_NOT_GRANTED), "{e}");
    a.lock(&ta, oa.file_id, lock(lock_flags::UNLOCK)).await.unwrap();
    b.lock(&tb, ob.file_id, lock(lock_flags::SHARED_LOCK | lock_flags::FAIL_IMMEDIATELY)).await.unwrap();
    a.close(&ta, oa.file_id).await.unwrap();
    b.close(&tb, ob.file_id).await.unwrap();
    // Whatever break notifications came were set aside, not mistaken for replies.
    let _ = a.take_notifications();
}

/// A DH2Q CREATE that waits for a lease break and is cancelled is over:
/// a replay of its CreateGuid afterwards is served, not refused with
/// STATUS_FILE_NOT_AVAILABLE as a replay of a still-pending CREATE is.
async fn cancelled_pending_create_can_be_replayed(addr: &str) {
    use bytes::BytesMut;
    use holdfast_smb_client::proto::msg::EncodeBody;
    use holdfast_smb_client::proto::header::flags;
    use holdfast_smb_client::proto::Command;

    let (mut a, ta) = logged_on(addr, ClientConfig::default(), 0).await;
    let (mut b, tb) = logged_on(addr, ClientConfig::default(), 0).await;
    let key: [u8; 16] = rand::random();
    let rwh = lease_state::READ_CACHING | lease_state::WRITE_CACHING | lease_state::HANDLE_CACHING;
    let lease = Lease { key, state: rwh, flags: 0, duration: 0, v2: Some(LeaseV2 { parent_key: [0; 16], epoch: 0 }) };
    let oa = a.create(&ta, &OpenOptions::new("cancelled.dat").lease(lease)).await.unwrap();
    let granted = oa.response.contexts.iter().find_map(|c| match c {
        holdfast_smb_client::proto::msg::create_ctx::CreateResponseContext::Lease(l) => Some(l.state),
        _ => None,
    });
    assert_eq!(granted, Some(rwh), "the first open holds an RWH lease");

    // B's open needs A's write caching broken: it goes async.
    let create_guid: [u8; 16] = rand::random();
    let durable = Durable::V2 { create_guid, timeout_ms: 0, persistent: false };
    let opts = OpenOptions::new("cancelled.dat").disposition(disposition::OPEN).durable(durable.clone());
    let mut body = BytesMut::new();
    opts.to_request().encode_body(&mut body);
    let (pdu, id) = b.build_pdu(Command::Create, tb.id, &body, true).unwrap();
    b.send_message(&pdu).await.unwrap();
    let interim = loop {
        let r = b.recv().await.unwrap();
        if r.header.message_id == id {
            break r;
        }
    };
    assert_eq!(interim.status(), NtStatus::PENDING, "the CREATE waits for the break");
    let async_id = interim.header.async_id().expect("an interim response carries an AsyncId");

    // CANCEL it by AsyncId.
    let (mut cancel, _) = b.build_pdu(Command::Cancel, tb.id, &[4, 0, 0, 0], false).unwrap();
    let f = u32::from_le_bytes(cancel[16..20].try_into().unwrap()) | flags::ASYNC_COMMAND;
    cancel[16..20].copy_from_slice(&f.to_le_bytes());
    cancel[32..40].copy_from_slice(&async_id.to_le_bytes());
    b.sign(&mut cancel).unwrap();
    b.send_message(&cancel).await.unwrap();
    let r = b.recv_reply(id).await.unwrap();
    assert_eq!(r.status(), NtStatus::CANCELLED);

    // A acknowledges its break; then B replays the cancelled CREATE.
    let n = a.next_notification().await.unwrap();
    let brk = holdfast_smb_client::lease_break(&n).expect("a lease break");
    a.ack_lease_break(&ta, key, brk.new_lease_state).await.unwrap();
    let mut replay = opts.clone();
    replay.replay = true;
    let ob = b.create(&tb, &replay).await.expect("a replay of a cancelled CREATE is served");
    b.close(&tb, ob.file_id).await.unwrap();
    a.close(&ta, oa.file_id).await.unwrap();
}

/// Sends a CHANGE_NOTIFY on `dir` and returns its MessageId once the
/// interim response says it waits.
async fn notify_pending(c: &mut SmbClient, tree: &Tree, dir: holdfast_smb_client::proto::FileId) -> u64 {
    use bytes::BytesMut;
    use holdfast_smb_client::proto::msg::change_notify::{filter, ChangeNotifyRequest};
    use holdfast_smb_client::proto::msg::EncodeBody;
    use holdfast_smb_client::proto::Command;
    let req = ChangeNotifyRequest { flags: 0, output_buffer_length: 4096, file_id: dir, completion_filter: filter::FILE_NAME | filter::DIR_NAME };
    let mut body = BytesMut::new();
    req.encode_body(&mut body);
    let (pdu, id) = c.build_pdu(Command::ChangeNotify, tree.id, &body, true).unwrap();
    c.send_message(&pdu).await.unwrap();
    let interim = c.recv().await.unwrap();
    assert_eq!((interim.header.message_id, interim.status()), (id, NtStatus::PENDING), "CHANGE_NOTIFY goes async");
    id
}

/// CHANGE_NOTIFY reports another client's CREATE in the watched directory,
/// and a request still waiting when its session logs off ends with
/// STATUS_NOTIFY_CLEANUP, signed, after the LOGOFF response.
async fn change_notify_reports_changes_and_ends_at_logoff(addr: &str) {
    use holdfast_smb_client::proto::msg::change_notify::{action, ChangeNotifyResponse};
    use holdfast_smb_client::proto::msg::create::create_options;
    use holdfast_smb_client::proto::msg::logoff::LogoffRequest;
    use holdfast_smb_client::proto::msg::EncodeBody;
    use holdfast_smb_client::proto::Command;

    let (mut a, ta) = logged_on(addr, ClientConfig::default(), 0).await;
    let (mut b, tb) = logged_on(addr, ClientConfig::default(), 0).await;
    let mut dir = OpenOptions::new("notify-dir");
    dir.create_options = create_options::DIRECTORY_FILE;
    let d = a.create(&ta, &dir).await.unwrap();
    let id = notify_pending(&mut a, &ta, d.file_id).await;
    let name = format!("new-{}.txt", rand::random::<u32>());
    let f = b.create(&tb, &OpenOptions::new(&format!("notify-dir\\{name}"))).await.unwrap();
    b.close(&tb, f.file_id).await.unwrap();
    let r = a.recv_reply(id).await.unwrap();
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let changes = ChangeNotifyResponse::decode(&r.pdu[64..], &r.pdu).unwrap().changes;
    assert_eq!(changes, vec![(action::ADDED, name)]);

    let id = notify_pending(&mut a, &ta, d.file_id).await;
    let mut body = bytes::BytesMut::new();
    LogoffRequest.encode_body(&mut body);
    let (pdu, logoff_id) = a.build_pdu(Command::Logoff, 0, &body, true).unwrap();
    a.send_message(&pdu).await.unwrap();
    let r = a.recv_reply(logoff_id).await.unwrap();
    assert_eq!(r.status(), NtStatus::SUCCESS);
    let r = a.recv_reply(id).await.expect("the waiting CHANGE_NOTIFY is answered, signed");
    assert_eq!(r.status(), NtStatus::NOTIFY_CLEANUP);
}

/// A second user, for descriptors.
const OTHER: &str = "bob";

/// The share enforces per-file descriptors: a file created with a DACL
/// that names only its creator refuses another user (for MAXIMUM_ALLOWED
/// too), a file without one inherits the share's (everyone may), and a
/// malformed descriptor is refused.
async fn descriptors_are_enforced(addr: &str) {
    use holdfast_smb_client::proto::msg::create_ctx::CreateContext;
    use holdfast_types::access::{FILE_ALL_ACCESS, FILE_READ_DATA, MAXIMUM_ALLOWED};
    use holdfast_types::security::{control, user_sid, Ace, Acl, SecurityDescriptor};
    let me = user_sid(holdfast_types::security::HOLDFAST_DOMAIN_SEED, USER);
    let mine = SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT,
        owner: Some(me.clone()),
        group: None,
        sacl: None,
        dacl: Some(Acl::new(vec![Ace::allowed(me, FILE_ALL_ACCESS, 0)])),
    };
    let (mut a, tree) = logged_on(addr, ClientConfig::default(), 0).await;
    let mut o = OpenOptions::new("mine.dat").disposition(disposition::CREATE);
    o.extra_contexts.push(CreateContext::SecurityDescriptor(mine.encode()));
    let f = a.create(&tree, &o).await.expect("create with a descriptor");
    a.write(&tree, f.file_id, 0, b"private").await.unwrap();
    a.close(&tree, f.file_id).await.unwrap();
    let f = a.create(&tree, &OpenOptions::new("everyones.dat").disposition(disposition::CREATE)).await.unwrap();
    a.close(&tree, f.file_id).await.unwrap();
    let mut bad = OpenOptions::new("bad-sd.dat").disposition(disposition::CREATE);
    bad.extra_contexts.push(CreateContext::SecurityDescriptor(vec![1, 0, 4]));
    assert_eq!(a.create(&tree, &bad).await.unwrap_err().status(), Some(NtStatus::INVALID_SECURITY_DESCR));

    let mut b = SmbClient::connect(addr, ClientConfig::default()).await.unwrap();
    b.session_setup(&Credentials::new(OTHER, PASSWORD, "WORKGROUP"), 0).await.expect("bob logs on");
    let bt = b.tree_connect(&unc("127.0.0.1", "share")).await.unwrap();
    for access in [FILE_READ_DATA, MAXIMUM_ALLOWED] {
        let mut o = OpenOptions::new("mine.dat").disposition(disposition::OPEN);
        o.desired_access = access;
        assert_eq!(b.create(&bt, &o).await.unwrap_err().status(), Some(NtStatus::ACCESS_DENIED), "bob, access {access:#x}");
    }
    let f = b.create(&bt, &OpenOptions::new("everyones.dat").disposition(disposition::OPEN)).await.expect("a file without a descriptor of its own");
    b.close(&bt, f.file_id).await.unwrap();
    let f = a.create(&tree, &OpenOptions::new("mine.dat").disposition(disposition::OPEN)).await.expect("the owner opens it");
    assert_eq!(a.read(&tree, f.file_id, 0, 7).await.unwrap(), b"private");
    a.close(&tree, f.file_id).await.unwrap();
}

#[test]
fn rust_client_against_holdfast_smbd() {
    let (c, _smbd, addr) = common::smb_cluster_with_smbd("smb-rust-client", USER, PASSWORD);
    c.cli_ok(&["user", "add", OTHER, "--password", PASSWORD]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        every_dialect(&addr).await;
        large_io(&addr).await;
        persistent_reclaim(&addr).await;
        locks_and_lease(&addr).await;
        cancelled_pending_create_can_be_replayed(&addr).await;
        change_notify_reports_changes_and_ends_at_logoff(&addr).await;
        descriptors_are_enforced(&addr).await;
    });
}
