//! LOCK on a persistent handle whose handle record cannot be written
//! (issue 15): the request fails, and the locks the file server holds and
//! the record this service keeps are both as before it, so a later record
//! write or a failover restores exactly what the client was told.
//!
//! The file server runs in process over objects in memory (the same
//! `FileServer`, socket and objfs a node runs); its handle object can be
//! made to refuse writes, as a replicated write that cannot commit its
//! missing copies ABSENT does.

use std::path::PathBuf;
use std::sync::Arc;

use holdfast_file_server::mem_volume::{self, MemObjects};
use holdfast_file_server::FsClient;
use holdfast_smb_client::proto::msg::lock::{lock_flags, LockElement};
use holdfast_smb_client::{unc, ClientConfig, Credentials, Durable, OpenOptions, SmbClient};
use holdfast_smb_security::Users;
use holdfast_smb_server::{serve, Limits, SmbdConfig};
use holdfast_types::share::ShareDef;
use holdfast_types::ErrorCode;
use tokio::net::TcpListener;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pass";

/// A file server serving CA share "s" on its socket, and an SMB service
/// over it; returns the objects, the socket and the SMB address.
async fn start() -> (Arc<MemObjects>, PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("hf-lock-record-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let (objects, server) = mem_volume::mounted(ShareDef { handle_timeout_ms: 60_000, acls: false, ..ShareDef::new("s", mem_volume::VOLUME) }).await;
    let socket = dir.join("fs.sock");
    let s = socket.clone();
    tokio::spawn(async move { holdfast_file_server::listener::serve_unix(server, &s, Default::default()).await });
    while !socket.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let mut users = Users::new();
    users.add(USER, PASSWORD).unwrap();
    users.save(&dir).unwrap();
    let cfg = SmbdConfig {
        listen: "127.0.0.1:0".into(),
        fs_socket: socket.clone(),
        users_file: Users::path(&dir),
        server_name: "TESTSRV".into(),
        shares: vec![],
        limits: Limits::default(),
        conns_file: None,
        min_dialect: "2.0.2".into(),
        user: holdfast_types::share::SMBD_USER_DEFAULT.into(),
    };
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(serve(l, cfg));
    (objects, socket, addr)
}

fn range(offset: u64, flags: u32) -> Vec<LockElement> {
    vec![LockElement { offset, length: 10, flags }]
}

/// The locks the stored handle record lists, by offset.
async fn recorded(socket: &PathBuf) -> Vec<u64> {
    let fs = FsClient::connect(socket).await.unwrap();
    let recs = fs.handle_list("s").await.unwrap();
    assert_eq!(recs.len(), 1, "one persistent handle");
    let mut v: Vec<u64> = recs[0].byte_range_locks.iter().map(|b| b.offset).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_whose_record_fails_fails_and_leaves_no_trace() {
    let (objects, socket, addr) = start().await;
    let creds = Credentials::new(USER, PASSWORD, "WORKGROUP");
    let mut a = SmbClient::connect(&addr, ClientConfig::default()).await.unwrap();
    a.session_setup(&creds, 0).await.unwrap();
    let ta = a.tree_connect(&unc("127.0.0.1", "s")).await.unwrap();
    let durable = Durable::V2 { create_guid: rand::random(), timeout_ms: 60_000, persistent: true };
    let oa = a.create(&ta, &OpenOptions::new("f.txt").durable(durable)).await.unwrap();
    assert!(oa.durable_v2().is_some_and(|(flags, _)| flags & 2 != 0), "the open is persistent");
    let excl = lock_flags::EXCLUSIVE_LOCK | lock_flags::FAIL_IMMEDIATELY;

    a.lock(&ta, oa.file_id, range(0, excl)).await.unwrap();
    assert_eq!(recorded(&socket).await, vec![0]);

    // The record cannot be written: the LOCK must fail...
    objects.refuse_writes(Some((mem_volume::HANDLES, ErrorCode::Timeout)));
    let e = a.lock(&ta, oa.file_id, range(100, excl)).await.expect_err("a LOCK whose record was not written succeeded");
    assert!(e.status().is_some(), "the client gets a status: {e}");
    // ...and so must an UNLOCK, which keeps its lock.
    a.lock(&ta, oa.file_id, range(0, lock_flags::UNLOCK)).await.expect_err("an UNLOCK whose record was not written succeeded");
    objects.refuse_writes(None);

    // The file server holds what the record says: another open gets range
    // 100 (never granted) but not range 0 (still held).
    let mut b = SmbClient::connect(&addr, ClientConfig::default()).await.unwrap();
    b.session_setup(&creds, 0).await.unwrap();
    let tb = b.tree_connect(&unc("127.0.0.1", "s")).await.unwrap();
    let ob = b.create(&tb, &OpenOptions::new("f.txt")).await.unwrap();
    b.lock(&tb, ob.file_id, range(100, excl)).await.expect("range 100 was left locked by the failed LOCK");
    b.lock(&tb, ob.file_id, range(0, excl)).await.expect_err("range 0 was released by the failed UNLOCK");
    b.lock(&tb, ob.file_id, range(100, lock_flags::UNLOCK)).await.unwrap();

    // The record kept in memory matches: the next write of it lists the
    // lock held and the one just taken, not the refused one.
    a.lock(&ta, oa.file_id, range(200, excl)).await.unwrap();
    assert_eq!(recorded(&socket).await, vec![0, 200], "the refused lock reached the record, or the kept one left it");
}
