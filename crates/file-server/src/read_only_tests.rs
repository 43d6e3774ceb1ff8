//! A read-only share (`ShareDef::read_only`) in the file server alone,
//! whatever the SMB service in front of it let through: no open that
//! writes, creates or overwrites; MAXIMUM_ALLOWED without the write bits;
//! no change through an open of the share. Share "rw" sees the same root
//! and may do all of it.

use bytes::Bytes;
use holdfast_types::access::*;
use holdfast_types::ntstatus::NtStatus;
use holdfast_types::share::ShareDef;

use crate::access::{FILE_CREATE, FILE_OPEN, FILE_OPEN_IF, FILE_OVERWRITE_IF, FILE_SUPERSEDE, READ_ONLY_DENIED};
use crate::park::tests::Rig;
use crate::proto::{OpenReq, Reply, Request, SetInfoReq};
use crate::Fail;

async fn open(rig: &Rig, share: &str, path: &str, access: u32, disposition: u32) -> Result<(u64, u32), Fail> {
    let o = OpenReq { share: share.into(), path: path.into(), desired_access: access, share_access: 7, disposition, ..Default::default() };
    match rig.server.handle(Request::Open(o)).await? {
        Reply::Opened { fid, granted, .. } => Ok((fid, granted)),
        r => panic!("open answered {r:?}"),
    }
}

fn status<T>(r: Result<T, Fail>) -> NtStatus {
    match r {
        Ok(_) => NtStatus::SUCCESS,
        Err(f) => f.status,
    }
}

#[tokio::test]
async fn read_only_share_writes_nothing() {
    let ro = ShareDef { read_only: true, ..ShareDef::new("ro", "v") };
    let rig = Rig::with_shares(vec![ShareDef::new("rw", "v"), ro]).await;
    rig.mount(1, None).await.unwrap();
    let (fid, _) = open(&rig, "rw", "f", GENERIC_ALL, FILE_CREATE).await.unwrap();
    rig.server.handle(Request::Write { fid, offset: 0, data: Bytes::from_static(b"abc") }).await.unwrap();
    rig.server.handle(Request::Close { fid }).await.unwrap();

    const DENIED: NtStatus = NtStatus::ACCESS_DENIED;
    for a in [FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_WRITE_ATTRIBUTES, FILE_WRITE_EA, DELETE, WRITE_DAC, WRITE_OWNER, GENERIC_WRITE, GENERIC_ALL] {
        assert_eq!(status(open(&rig, "ro", "f", a, FILE_OPEN).await), DENIED, "access {a:#x}");
    }
    for d in [FILE_SUPERSEDE, FILE_CREATE, FILE_OVERWRITE_IF] {
        assert_eq!(status(open(&rig, "ro", "new", GENERIC_READ, d).await), DENIED, "disposition {d}");
    }
    assert_eq!(status(open(&rig, "ro", "f", GENERIC_READ, FILE_OVERWRITE_IF).await), DENIED, "an overwrite");
    // OPEN_IF opens what exists and creates nothing, a stream's file neither.
    assert_eq!(status(open(&rig, "ro", "new", GENERIC_READ, FILE_OPEN_IF).await), DENIED);
    assert_eq!(status(open(&rig, "ro", "g:s", GENERIC_READ, FILE_OPEN_IF).await), DENIED);
    assert_eq!(status(open(&rig, "ro", "f:s", GENERIC_READ, FILE_OPEN_IF).await), DENIED);
    for p in ["new", "g"] {
        assert_eq!(status(open(&rig, "rw", p, GENERIC_READ, FILE_OPEN).await), NtStatus::OBJECT_NAME_NOT_FOUND, "{p} was created");
    }
    let (_, g) = open(&rig, "ro", "f", GENERIC_READ, FILE_OPEN_IF).await.unwrap();
    assert_eq!(g, FILE_GENERIC_READ);
    let (fid, g) = open(&rig, "ro", "f", MAXIMUM_ALLOWED, FILE_OPEN).await.unwrap();
    assert_eq!(g & READ_ONLY_DENIED, 0, "MAXIMUM_ALLOWED gets no write bit: {g:#x}");
    assert_ne!(g & FILE_READ_DATA, 0);

    // Through an open of the read-only share nothing changes, not even
    // what looks at no access (attributes and times).
    let attrs = SetInfoReq { fid, attributes: Some(FILE_ATTRIBUTE_READONLY_BIT), last_write_time: Some(1), ..Default::default() };
    let changes = [
        Request::SetInfo(attrs.clone()),
        Request::Write { fid, offset: 0, data: Bytes::from_static(b"x") },
        Request::Rename { fid, new_path: "moved".into(), replace: false },
        Request::ZeroData { fid, offset: 0, beyond: 1 },
    ];
    for r in changes {
        let what = format!("{r:?}");
        assert_eq!(status(rig.server.handle(r).await), DENIED, "{what}");
    }
    let data = rig.server.handle(Request::Read { fid, offset: 0, length: 16 }).await.unwrap();
    assert_eq!(data, Reply::Data(Bytes::from_static(b"abc")), "reading is allowed and nothing changed");
    // The same through the read-write share's open is allowed.
    let (rw, _) = open(&rig, "rw", "f", GENERIC_READ, FILE_OPEN).await.unwrap();
    assert_eq!(status(rig.server.handle(Request::SetInfo(SetInfoReq { fid: rw, ..attrs })).await), NtStatus::SUCCESS);
}

/// FILE_ATTRIBUTE_READONLY.
const FILE_ATTRIBUTE_READONLY_BIT: u32 = 0x01;
