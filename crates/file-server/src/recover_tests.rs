//! A volume whose journal write failed for a moment: it refuses reads and
//! writes with a clear error, then remounts by itself and serves again,
//! with what was committed before the failure.

use std::sync::Arc;
use std::time::Duration;

use holdfast_objfs::MemDevice;
use holdfast_types::ntstatus::NtStatus;
use holdfast_types::share::ShareDef;
use holdfast_types::ErrorCode;

use crate::access::{FILE_CREATE, FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_SHARE_READ, GENERIC_READ, GENERIC_WRITE};
use crate::mem_volume::{MemObjects, DATA, DATA_BYTES, VOLUME};
use crate::proto::{OpenReq, Reply, Request};
use crate::{Fail, FileServer};

async fn mounted() -> (Arc<MemObjects>, Arc<FileServer>) {
    crate::mem_volume::mounted(ShareDef { handle_timeout_ms: 60_000, acls: false, ..ShareDef::new("s", VOLUME) }).await
}

/// The journal write fails as a replicated write does when it cannot
/// commit a missing copy ABSENT while the directory elects a leader.
fn refuse_data_writes(io: &MemObjects, on: bool) {
    io.refuse_writes(on.then_some((DATA, ErrorCode::NotLeader)));
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
    refuse_data_writes(&io, true);
    assert!(open_close(&server, "during", FILE_CREATE).await.is_err());
    refuse_data_writes(&io, false);

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
    refuse_data_writes(&io, true);
    assert!(open_close(&server, "during", FILE_CREATE).await.is_err());
    // The device now holds no file system at all: every attempt fails,
    // each after a longer wait, and the volume never serves in between.
    refuse_data_writes(&io, false);
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
