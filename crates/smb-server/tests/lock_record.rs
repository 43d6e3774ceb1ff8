//! LOCK on a persistent handle whose handle record cannot be written
//! (issue 15): the request fails, and the locks the file server holds and
//! the record this service keeps are both as before it, so a later record
//! write or a failover restores exactly what the client was told.
//!
//! The file server runs in process over objects in memory (the same
//! `FileServer`, socket and objfs a node runs); its handle object can be
//! made to refuse writes, as a replicated write that cannot commit its
//! missing copies ABSENT does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use holdfast_file_server::device::BoxFut;
use holdfast_file_server::{FileServer, FsClient, ObjectDevice, ObjectIo, TableExpect};
use holdfast_objfs::fs::{FormatOptions, Fs};
use holdfast_objfs::{Device, MemDevice};
use holdfast_smb_client::proto::msg::lock::{lock_flags, LockElement};
use holdfast_smb_client::{unc, ClientConfig, Credentials, Durable, OpenOptions, SmbClient};
use holdfast_smb_security::Users;
use holdfast_smb_server::{serve, Limits, SmbdConfig};
use holdfast_types::share::{ShareDef, VolumeDef};
use holdfast_types::{ErrorCode, HoldfastError, ObjectId};
use tokio::net::TcpListener;

const DATA: ObjectId = 1;
const HANDLES: ObjectId = 2;
const DATA_BYTES: u64 = 16 << 20;
const HANDLE_BYTES: u64 = 64 << 10;
const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pass";

/// The volume's two objects in memory; writes to the handle object fail
/// while `refuse_handle_writes` is set.
#[derive(Default)]
struct Objects {
    devs: Mutex<HashMap<ObjectId, Arc<MemDevice>>>,
    refuse_handle_writes: AtomicBool,
}

impl Objects {
    fn dev(&self, o: ObjectId) -> Arc<MemDevice> {
        self.devs.lock().unwrap().get(&o).cloned().expect("object")
    }
}

impl ObjectIo for Objects {
    fn write(&self, object: ObjectId, offset: u64, data: Bytes) -> BoxFut<'_, Result<(), HoldfastError>> {
        let refuse = object == HANDLES && self.refuse_handle_writes.load(Ordering::SeqCst);
        let d = self.dev(object);
        Box::pin(async move {
            if refuse {
                return Err(HoldfastError::new(ErrorCode::Timeout, "write not acknowledged: cannot commit nodes [2] ABSENT"));
            }
            d.write(offset, data).await
        })
    }

    fn read(&self, object: ObjectId, offset: u64, len: u64) -> BoxFut<'_, Result<Vec<u8>, HoldfastError>> {
        let d = self.dev(object);
        Box::pin(async move { d.read(offset, len).await })
    }

    fn flush(&self, _object: ObjectId) -> BoxFut<'_, Result<(), HoldfastError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A file server serving CA share "s" on its socket, and an SMB service
/// over it; returns the objects, the socket and the SMB address.
async fn start() -> (Arc<Objects>, PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("hf-lock-record-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let objects = Arc::new(Objects::default());
    objects.devs.lock().unwrap().insert(DATA, Arc::new(MemDevice::new(DATA_BYTES)));
    objects.devs.lock().unwrap().insert(HANDLES, Arc::new(MemDevice::new(HANDLE_BYTES)));
    Fs::format(objects.dev(DATA).as_ref(), &FormatOptions { volume_id: [7; 16], label: "v".into(), now: 1 }).await.unwrap();
    let vol = VolumeDef { name: "v".into(), size: "16MiB".into(), handle_size: "64KiB".into(), replicas: 0 };
    let share = ShareDef { handle_timeout_ms: 60_000, acls: false, ..ShareDef::new("s", "v") };
    let server = FileServer::new(vec![vol], vec![share], 0);
    let io: Arc<dyn ObjectIo> = objects.clone();
    let (d, h) = (ObjectDevice::new(io.clone(), DATA, DATA_BYTES), ObjectDevice::new(io, HANDLES, HANDLE_BYTES));
    server.mount("v", d, h, TableExpect { incarnation: 0, restore_from: None }).await.unwrap();
    let socket = dir.join("fs.sock");
    let s = socket.clone();
    tokio::spawn(async move { holdfast_file_server::listener::serve_unix(server, &s).await });
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
    objects.refuse_handle_writes.store(true, Ordering::SeqCst);
    let e = a.lock(&ta, oa.file_id, range(100, excl)).await.expect_err("a LOCK whose record was not written succeeded");
    assert!(e.status().is_some(), "the client gets a status: {e}");
    // ...and so must an UNLOCK, which keeps its lock.
    a.lock(&ta, oa.file_id, range(0, lock_flags::UNLOCK)).await.expect_err("an UNLOCK whose record was not written succeeded");
    objects.refuse_handle_writes.store(false, Ordering::SeqCst);

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
