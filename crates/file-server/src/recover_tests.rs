//! A volume whose journal write failed for a moment: it refuses reads and
//! writes with a clear error, then remounts by itself and serves again,
//! with what was committed before the failure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use holdfast_objfs::fs::{FormatOptions, Fs};
use holdfast_objfs::{Device, MemDevice};
use holdfast_types::ntstatus::NtStatus;
use holdfast_types::share::{ShareDef, VolumeDef};
use holdfast_types::{ErrorCode, HoldfastError, ObjectId};

use crate::access::{FILE_CREATE, FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_SHARE_READ, GENERIC_READ, GENERIC_WRITE};
use crate::device::{BoxFut, ObjectIo};
use crate::proto::{OpenReq, Reply, Request};
use crate::{Fail, FileServer, ObjectDevice, TableExpect};

const DATA: ObjectId = 1;
const HANDLES: ObjectId = 2;
const DATA_BYTES: u64 = 16 << 20;
const HANDLE_BYTES: u64 = 64 << 10;

/// Objects in memory whose data object refuses writes while
/// `refuse_data_writes` is set: a replicated write that could not commit
/// a missing copy ABSENT while the directory elected a leader.
#[derive(Default)]
struct FlakyIo {
    devs: Mutex<HashMap<ObjectId, Arc<MemDevice>>>,
    refuse_data_writes: AtomicBool,
}

impl FlakyIo {
    fn dev(&self, o: ObjectId) -> Arc<MemDevice> {
        self.devs.lock().unwrap().get(&o).cloned().expect("object")
    }
}

impl ObjectIo for FlakyIo {
    fn write(&self, object: ObjectId, offset: u64, data: Bytes) -> BoxFut<'_, Result<(), HoldfastError>> {
        let refuse = object == DATA && self.refuse_data_writes.load(Ordering::SeqCst);
        let d = self.dev(object);
        Box::pin(async move {
            if refuse {
                return Err(HoldfastError::new(ErrorCode::NotLeader, "write not acknowledged: cannot commit nodes [3] ABSENT: no leader"));
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

async fn mounted() -> (Arc<FlakyIo>, Arc<FileServer>) {
    let io = Arc::new(FlakyIo::default());
    io.devs.lock().unwrap().insert(DATA, Arc::new(MemDevice::new(DATA_BYTES)));
    io.devs.lock().unwrap().insert(HANDLES, Arc::new(MemDevice::new(HANDLE_BYTES)));
    Fs::format(io.dev(DATA).as_ref(), &FormatOptions { volume_id: [7; 16], label: "v".into(), now: 1 }).await.unwrap();
    let vol = VolumeDef { name: "v".into(), size: "16MiB".into(), handle_size: "64KiB".into(), replicas: 0 };
    let share = ShareDef { handle_timeout_ms: 60_000, acls: false, ..ShareDef::new("s", "v") };
    let server = FileServer::new(vec![vol], vec![share], 0);
    let dyn_io: Arc<dyn ObjectIo> = io.clone();
    let (d, h) = (ObjectDevice::new(dyn_io.clone(), DATA, DATA_BYTES), ObjectDevice::new(dyn_io, HANDLES, HANDLE_BYTES));
    server.mount("v", d, h, TableExpect { incarnation: 0, restore_from: None }).await.unwrap();
    (io, server)
}

/// Opens (or creates) `name` and closes it again.
async fn open_close(server: &FileServer, name: &str, disposition: u32) -> Result<(), Fail> {
    let req = OpenReq {
        share: "s".into(),
        path: name.into(),
        desired_access: GENERIC_READ | GENERIC_WRITE,
        share_access: FILE_SHARE_READ,
        disposition,
        create_options: FILE_NON_DIRECTORY_FILE,
        file_attributes: 0,
        allocation_size: 0,
        ..Default::default()
    };
    let Reply::Opened { fid, .. } = server.handle(Request::Open(req)).await? else { panic!("open {name}: not an Opened reply") };
    server.handle(Request::Close { fid }).await.map(|_| ())
}

#[tokio::test]
async fn a_volume_whose_journal_write_failed_remounts_by_itself() {
    let (io, server) = mounted().await;
    open_close(&server, "before", FILE_CREATE).await.unwrap();

    // The failure: the journal write of this create is refused.
    io.refuse_data_writes.store(true, Ordering::SeqCst);
    assert!(open_close(&server, "during", FILE_CREATE).await.is_err());
    io.refuse_data_writes.store(false, Ordering::SeqCst);

    // Until it has remounted, the volume refuses reads too, and says why.
    let e = open_close(&server, "before", FILE_OPEN).await.expect_err("a failed volume served a read");
    assert_eq!(e.status, NtStatus::DEVICE_NOT_READY, "{e:?}");
    assert!(e.message.contains("remounting") && e.message.contains("journal write"), "unclear error: {}", e.message);

    // Nobody remounts it by hand: it comes back by itself.
    let _recovery = server.spawn_recovery();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while open_close(&server, "before", FILE_OPEN).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the volume did not remount itself within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What was committed before the failure is there; changes are taken.
    open_close(&server, "after", FILE_CREATE).await.expect("the remounted volume takes changes");
    open_close(&server, "after", FILE_OPEN).await.unwrap();
}

#[tokio::test]
async fn a_remount_that_fails_is_retried_with_backoff() {
    let (io, server) = mounted().await;
    io.refuse_data_writes.store(true, Ordering::SeqCst);
    assert!(open_close(&server, "during", FILE_CREATE).await.is_err());
    // The device now holds no file system at all: every attempt fails,
    // each after a longer wait, and the volume never serves in between.
    io.refuse_data_writes.store(false, Ordering::SeqCst);
    io.devs.lock().unwrap().insert(DATA, Arc::new(MemDevice::new(DATA_BYTES)));
    let attempts = |s: &FileServer| s.remounts.lock().unwrap().get("v").map(|e| e.0);
    assert!(server.remount_failed().await.is_empty(), "remounted before the first backoff");
    assert_eq!(attempts(&server), Some(0));
    tokio::time::sleep(Duration::from_millis(crate::recover::REMOUNT_BACKOFF_MS_MIN + 20)).await;
    assert!(server.remount_failed().await.is_empty(), "a volume with no file system remounted");
    assert_eq!(attempts(&server), Some(1), "no attempt after the backoff");
    assert!(server.remount_failed().await.is_empty());
    assert_eq!(attempts(&server), Some(1), "retried before the doubled backoff ran out");
    let e = open_close(&server, "x", FILE_OPEN).await.expect_err("a failed volume served");
    assert_eq!(e.status, NtStatus::DEVICE_NOT_READY);
}
