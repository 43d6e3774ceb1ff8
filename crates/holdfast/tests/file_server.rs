//! The file server across real processes: a handle put on the volume's
//! owner is visible through `get` on another host's file server after the
//! owner is killed (takeover: journal replay + handle table from RAM), and
//! the file data written before the kill is there too.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::TestCluster;
use holdfast_file_server::access::*;
use holdfast_file_server::proto::OpenReq;
use holdfast_file_server::FsClient;
use holdfast_objfs::handles::{ByteRangeLock, HandleRecord};
use holdfast_types::ntstatus::NtStatus;

fn socket(c: &TestCluster, node: u64) -> PathBuf {
    c.dir.join(format!("node-{node}/fs.sock"))
}

/// Waits until some live node's file server serves `share`; returns it.
async fn serving(c: &TestCluster, share: &str, not: Option<u64>) -> (u64, FsClient) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for &id in c.children.keys() {
            if Some(id) == not {
                continue;
            }
            if let Ok(fs) = FsClient::connect(&socket(c, id)).await {
                if fs.shares().await.is_ok_and(|s| s.iter().any(|x| x.name == share)) {
                    return (id, fs);
                }
            }
        }
        assert!(Instant::now() < deadline, "no node serves share {share:?} after 60 s\n{}", c.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn open_req(path: &str, disposition: u32) -> OpenReq {
    OpenReq {
        share: "share".into(),
        path: path.into(),
        desired_access: GENERIC_READ | GENERIC_WRITE | DELETE,
        share_access: FILE_SHARE_READ,
        disposition,
        create_options: FILE_NON_DIRECTORY_FILE,
        file_attributes: 0,
        allocation_size: 0,
        ..Default::default()
    }
}

#[test]
fn handle_put_survives_the_owner_being_killed() {
    let mut c = TestCluster::start_with("fs-takeover", 3, &["--volume-size", "64MiB", "--handle-size", "1MiB"]);
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (owner, fs) = serving(&c, "share", None).await;
        let err = fs.open(open_req("docs\\report.txt", FILE_CREATE)).await.expect_err("parent missing");
        assert_eq!(err.status(), Some(NtStatus::OBJECT_PATH_NOT_FOUND), "{err}");
        let mut dir = open_req("docs", FILE_CREATE);
        dir.create_options = FILE_DIRECTORY_FILE;
        let (dfid, _, _) = fs.open(dir).await.expect("mkdir docs");
        fs.close(dfid).await.unwrap();
        let (fid, action, info) = fs.open(open_req("docs\\Report.TXT", FILE_CREATE)).await.expect("create");
        assert_eq!(action, FILE_CREATED);
        let payload = Bytes::from((0..10_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        assert_eq!(fs.write(fid, 3, payload.clone()).await.unwrap(), payload.len() as u32);
        // A second open that would need write sharing is refused.
        let err = fs.open(open_req("DOCS\\report.txt", FILE_OPEN)).await.unwrap_err();
        assert_eq!(err.status(), Some(NtStatus::SHARING_VIOLATION), "{err}");

        let mut rec = HandleRecord {
            share: "share".into(),
            path: "docs\\Report.TXT".into(),
            ino: info.ino,
            create_guid: [7; 16],
            client_guid: [9; 16],
            durable_owner: "HOLDFAST\\holdfast".into(),
            granted_access: GENERIC_READ | GENERIC_WRITE | DELETE,
            share_access: FILE_SHARE_READ,
            create_options: FILE_NON_DIRECTORY_FILE,
            create_disposition: FILE_CREATE,
            create_action: FILE_CREATED,
            is_durable: true,
            is_persistent: true,
            timeout_ms: 60_000,
            ..Default::default()
        };
        rec.byte_range_locks.push(ByteRangeLock { offset: 0, length: 10, exclusive: true });
        let put = fs.handle_put("share", fid, &rec).await.expect("put");
        assert_ne!(put.persistent_id, 0);
        rec.persistent_id = put.persistent_id;
        assert_eq!(put, rec);

        c.kill(owner);
        let (survivor, fs2) = serving(&c, "share", Some(owner)).await;
        assert_ne!(survivor, owner);
        let got = fs2.handle_get("share", put.persistent_id).await.expect("get on the survivor");
        // The survivor marks the handle disconnected as of the takeover.
        assert_ne!(got.disconnect_time_unix_ms, 0);
        let mut expect = rec.clone();
        expect.disconnect_time_unix_ms = got.disconnect_time_unix_ms;
        assert_eq!(got, expect);
        assert_eq!(fs2.handle_find("share", [9; 16], [7; 16]).await.expect("find").persistent_id, put.persistent_id);
        // The disconnected persistent handle blocks a conflicting open.
        let err = fs2.open(open_req("docs\\report.txt", FILE_OPEN)).await.unwrap_err();
        assert_eq!(err.status(), Some(NtStatus::FILE_NOT_AVAILABLE), "{err}");
        // Reclaim it: the data written before the kill is all there.
        let (fid2, info2) = fs2.reopen("share", put.persistent_id).await.expect("reopen");
        assert_eq!(info2.size_bytes, 3 + payload.len() as u64);
        let back = fs2.read(fid2, 3, payload.len() as u32).await.unwrap();
        assert_eq!(back, payload);
        fs2.handle_delete("share", put.persistent_id).await.unwrap();
        fs2.close(fid2).await.unwrap();
    });
    let out = c.cli(&["fsck", "share"]);
    assert!(out.status.success(), "fsck: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let out = c.cli(&["fsck", "share", "--handles"]);
    assert!(out.status.success(), "fsck --handles: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    c.kill_all();
}

#[test]
fn paths_cannot_escape_the_share_and_the_handle_table_is_hidden() {
    let mut c = TestCluster::start_with("fs-escape", 3, &["--volume-size", "32MiB", "--handle-size", "64KiB"]);
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (node, fs) = serving(&c, "share", None).await;
        for (path, status) in [
            ("..\\etc\\passwd", NtStatus::OBJECT_NAME_INVALID),
            ("a\\..\\..\\x", NtStatus::OBJECT_NAME_INVALID),
            ("\\abs", NtStatus::INVALID_PARAMETER),
            ("/etc/passwd", NtStatus::INVALID_PARAMETER),
            ("nul\0byte", NtStatus::OBJECT_NAME_INVALID),
            // A stream (`a:s`) is a name; a stream type other than $DATA,
            // or a stream in the middle of a path, is not.
            ("a:s:$INDEX_ALLOCATION", NtStatus::OBJECT_NAME_INVALID),
            ("a:s\\b", NtStatus::OBJECT_NAME_INVALID),
            (".holdfast-handles", NtStatus::ACCESS_DENIED),
            (".HOLDFAST-HANDLES\\x", NtStatus::ACCESS_DENIED),
        ] {
            let err = fs.open(open_req(path, FILE_OPEN_IF)).await.expect_err(path);
            assert_eq!(err.status(), Some(status), "{path:?}: {err}");
        }
        let long = "n".repeat(256);
        let err = fs.open(open_req(&long, FILE_OPEN_IF)).await.unwrap_err();
        assert_eq!(err.status(), Some(NtStatus::OBJECT_NAME_INVALID), "{err}");
        // The root listing never shows the handle table.
        let mut root = open_req("", FILE_OPEN);
        root.create_options = FILE_DIRECTORY_FILE;
        root.desired_access = GENERIC_READ;
        root.share_access = 7;
        let (rfid, _, _) = fs.open(root).await.expect("open root");
        let (f, _, _) = fs.open(open_req("visible.txt", FILE_CREATE)).await.unwrap();
        fs.close(f).await.unwrap();
        let names: Vec<String> = match fs.call(&holdfast_file_server::proto::Request::Readdir { fid: rfid, after: String::new(), max: 100 }).await.unwrap() {
            holdfast_file_server::proto::Reply::Entries(v) => v.into_iter().map(|e| e.name).collect(),
            r => panic!("{r:?}"),
        };
        assert_eq!(names, vec!["visible.txt".to_string()]);
        abandoned_connection(&socket(&c, node)).await;
        // A full handle table is a clear error: a 64 KiB table has 15 slots.
        let (fid, _, info) = fs.open(open_req("h.txt", FILE_CREATE)).await.unwrap();
        let mut full = None;
        for i in 0..100u8 {
            let rec = HandleRecord { share: "share".into(), path: "h.txt".into(), ino: info.ino, create_guid: [i; 16], client_guid: [1; 16], ..Default::default() };
            if let Err(e) = fs.handle_put("share", 0, &rec).await {
                full = Some((i, e));
                break;
            }
        }
        let (at, e) = full.expect("the table fills up");
        assert_eq!(e.status(), Some(NtStatus::INSUFFICIENT_RESOURCES), "{e}");
        assert!(e.to_string().contains("handle"), "message names the handle table: {e}");
        assert!(at >= 10, "only {at} handles fit");
        fs.close(fid).await.unwrap();
        file_operations(&fs).await;
    });
    c.kill_all();
}

/// A socket client that goes away without closing: its plain opens are
/// closed, its persistent handle stays as a disconnected open.
async fn abandoned_connection(sock: &std::path::Path) {
    let a = FsClient::connect(sock).await.unwrap();
    let (plain, _, _) = a.open(open_req("abandoned-plain", FILE_CREATE)).await.unwrap();
    let (kept, _, info) = a.open(open_req("abandoned-kept", FILE_CREATE)).await.unwrap();
    let _ = plain;
    let rec = HandleRecord {
        share: "share".into(),
        path: "abandoned-kept".into(),
        ino: info.ino,
        create_guid: [3; 16],
        client_guid: [4; 16],
        granted_access: GENERIC_READ | GENERIC_WRITE | DELETE,
        share_access: FILE_SHARE_READ,
        is_durable: true,
        is_persistent: true,
        timeout_ms: 60_000,
        ..Default::default()
    };
    let put = a.handle_put("share", kept, &rec).await.unwrap();
    drop(a);
    let b = FsClient::connect(sock).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The plain open is closed: a conflicting open succeeds.
    loop {
        match b.open(open_req("abandoned-plain", FILE_OPEN)).await {
            Ok((f, _, _)) => {
                b.close(f).await.unwrap();
                break;
            }
            Err(e) => {
                assert_eq!(e.status(), Some(NtStatus::SHARING_VIOLATION), "{e}");
                assert!(Instant::now() < deadline, "the abandoned plain open was never closed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    // The persistent one stays, disconnected, with a disconnect time.
    let err = b.open(open_req("abandoned-kept", FILE_OPEN)).await.unwrap_err();
    assert_eq!(err.status(), Some(NtStatus::FILE_NOT_AVAILABLE), "{err}");
    assert_ne!(b.handle_get("share", put.persistent_id).await.unwrap().disconnect_time_unix_ms, 0);
    let (fid, _) = b.reopen("share", put.persistent_id).await.unwrap();
    // The CLOSE of a durable open: record and open go in one request.
    b.handle_delete_close("share", put.persistent_id, fid).await.unwrap();
    assert!(b.handle_get("share", put.persistent_id).await.is_err(), "the record is gone");
    let (again, _, _) = b.open(open_req("abandoned-kept", FILE_OPEN)).await.expect("the open is closed: no conflict left");
    b.close(again).await.unwrap();
    let err = b.close(fid).await.unwrap_err();
    assert_eq!(err.status(), Some(NtStatus::FILE_CLOSED), "{err}");
}

/// Readdir with resume, rename with and without replace, delete-on-close,
/// end of file, and byte-range locks across two opens.
async fn file_operations(fs: &FsClient) {
    use holdfast_file_server::proto::{Reply, Request, SetInfoReq};
    let mut d = open_req("many", FILE_CREATE);
    d.create_options = FILE_DIRECTORY_FILE;
    let (dfid, _, _) = fs.open(d).await.unwrap();
    for i in 0..50 {
        let (f, _, _) = fs.open(open_req(&format!("many\\f{i:02}"), FILE_CREATE)).await.unwrap();
        fs.close(f).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        match fs.call(&Request::Readdir { fid: dfid, after: after.clone(), max: 7 }).await {
            Ok(Reply::Entries(v)) => {
                assert!(v.len() <= 7);
                after = v.last().unwrap().name.clone();
                seen.extend(v.into_iter().map(|e| e.name));
            }
            Err(e) if e.status() == Some(NtStatus::NO_MORE_FILES) => break,
            r => panic!("{r:?}"),
        }
    }
    assert_eq!(seen, (0..50).map(|i| format!("f{i:02}")).collect::<Vec<_>>());
    fs.close(dfid).await.unwrap();

    // Rename: refused onto an existing name without replace, done with it.
    let (a, _, _) = fs.open(open_req("many\\f00", FILE_OPEN)).await.unwrap();
    let err = fs.call(&Request::Rename { fid: a, new_path: "many\\f01".into(), replace: false }).await.unwrap_err();
    assert_eq!(err.status(), Some(NtStatus::OBJECT_NAME_COLLISION), "{err}");
    fs.call(&Request::Rename { fid: a, new_path: "many\\F01".into(), replace: true }).await.unwrap();
    fs.write(a, 0, Bytes::from_static(b"0123456789")).await.unwrap();
    fs.call(&Request::SetInfo(SetInfoReq { fid: a, end_of_file: Some(4), ..Default::default() })).await.unwrap();
    fs.close(a).await.unwrap();
    let (b, _, info) = fs.open(open_req("many\\f01", FILE_OPEN)).await.unwrap();
    assert_eq!(info.size_bytes, 4);
    assert_eq!(fs.read(b, 0, 100).await.unwrap(), Bytes::from_static(b"0123"));
    let err = fs.open(open_req("many\\f00", FILE_OPEN)).await.unwrap_err();
    assert_eq!(err.status(), Some(NtStatus::OBJECT_NAME_NOT_FOUND), "{err}");

    // Byte-range locks between two opens of one file.
    let mut shared = open_req("many\\f02", FILE_OPEN);
    shared.share_access = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
    let (x, _, _) = fs.open(shared.clone()).await.unwrap();
    let (y, _, _) = fs.open(shared).await.unwrap();
    fs.call(&Request::Lock { fid: x, offset: 0, length: 10, exclusive: true, owner: 1 }).await.unwrap();
    let err = fs.call(&Request::Lock { fid: y, offset: 5, length: 1, exclusive: false, owner: 2 }).await.unwrap_err();
    assert_eq!(err.status(), Some(NtStatus::LOCK_NOT_GRANTED), "{err}");
    let err = fs.write(y, 0, Bytes::from_static(b"z")).await.unwrap_err();
    assert_eq!(err.status(), Some(NtStatus::FILE_LOCK_CONFLICT), "{err}");
    fs.call(&Request::Unlock { fid: x, offset: 0, length: 10, owner: 1 }).await.unwrap();
    fs.write(y, 0, Bytes::from_static(b"z")).await.unwrap();

    // Delete-on-close: pending while open, gone after the last close.
    fs.call(&Request::SetInfo(SetInfoReq { fid: x, delete_on_close: Some(true), ..Default::default() })).await.unwrap();
    let err = fs.open(open_req("many\\f02", FILE_OPEN)).await.unwrap_err();
    assert_eq!(err.status(), Some(NtStatus::DELETE_PENDING), "{err}");
    fs.close(x).await.unwrap();
    fs.close(y).await.unwrap();
    let err = fs.open(open_req("many\\f02", FILE_OPEN)).await.unwrap_err();
    assert_eq!(err.status(), Some(NtStatus::OBJECT_NAME_NOT_FOUND), "{err}");
    fs.close(b).await.unwrap();
}

#[test]
fn fsck_refuses_foreign_and_blank_images_by_name() {
    let dir = common::temp_dir("fsck-image");
    std::fs::create_dir_all(&dir).unwrap();
    let blank = dir.join("blank.img");
    std::fs::write(&blank, vec![0u8; 16 << 20]).unwrap();
    let foreign = dir.join("foreign.img");
    let mut bytes = vec![0u8; 16 << 20];
    // An ext4 superblock magic where ext4 keeps it.
    bytes[1024 + 56] = 0x53;
    bytes[1024 + 57] = 0xEF;
    bytes[0..8].copy_from_slice(b"NOTOURFS");
    std::fs::write(&foreign, bytes).unwrap();
    for (img, want) in [(&blank, "no file system"), (&foreign, "")] {
        let out = std::process::Command::new(common::BIN).args(["fsck", "--image", img.to_str().unwrap()]).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "fsck of {} passed: {text}", img.display());
        assert!(text.contains("problem:"), "names the problem: {text}");
        assert!(text.contains(want), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
