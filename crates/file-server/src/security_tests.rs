//! Descriptors through the file server's requests, on in-memory objects:
//! who may open what, MAXIMUM_ALLOWED, creating in a directory, a stream's
//! descriptor, SetSecurity, a remount, and the share's off switch.

use bytes::Bytes;
use holdfast_types::access::*;
use holdfast_types::ntstatus::NtStatus;
use holdfast_types::security::{ace_flags, control, user_sid, well_known, Ace, Acl, SecurityDescriptor, Sid};

use crate::park::tests::Rig;
use crate::proto::{OpenReq, Reply, Request};
use crate::Fail;

fn token(user: &str) -> Vec<Sid> {
    vec![user_sid(b"test", user), well_known::world(), well_known::authenticated_users()]
}

/// A descriptor owned by `owner` whose DACL is `aces`.
fn sd(owner: &str, aces: Vec<Ace>) -> Bytes {
    let sd = SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT,
        owner: Some(user_sid(b"test", owner)),
        group: None,
        sacl: None,
        dacl: Some(Acl::new(aces)),
    };
    Bytes::from(sd.encode())
}

async fn open(rig: &Rig, user: &str, path: &str, access: u32, disposition: u32, options: u32, security: Bytes) -> Result<(u64, u32), Fail> {
    let o = OpenReq {
        share: "s".into(),
        path: path.into(),
        desired_access: access,
        share_access: 7,
        disposition,
        create_options: options,
        token: token(user),
        security,
        ..Default::default()
    };
    match rig.server.handle(Request::Open(o)).await? {
        Reply::Opened { fid, granted, .. } => {
            rig.server.handle(Request::Close { fid }).await?;
            Ok((fid, granted))
        }
        r => panic!("open answered {r:?}"),
    }
}

fn denied(r: Result<(u64, u32), Fail>) -> bool {
    matches!(r, Err(f) if f.status == NtStatus::ACCESS_DENIED)
}

#[tokio::test]
async fn descriptors_decide_who_opens_what() {
    let rig = Rig::with_acls(true).await;
    rig.mount(1, None).await.unwrap();
    let alice_only = sd("alice", vec![Ace::allowed(user_sid(b"test", "alice"), FILE_ALL_ACCESS, 0)]);
    open(&rig, "alice", "private", GENERIC_ALL, 2, 0, alice_only.clone()).await.expect("alice creates with her descriptor");
    open(&rig, "alice", "public", GENERIC_ALL, 2, 0, Bytes::new()).await.expect("a file that inherits the root's");
    assert!(denied(open(&rig, "bob", "private", FILE_READ_DATA, 1, 0, Bytes::new()).await), "bob may not read alice's file");
    assert!(denied(open(&rig, "bob", "private", MAXIMUM_ALLOWED, 1, 0, Bytes::new()).await), "nothing is granted to bob");
    assert!(denied(open(&rig, "bob", "private:s", FILE_READ_DATA, 3, 0, Bytes::new()).await), "a stream has its file's descriptor");
    let (_, g) = open(&rig, "alice", "private", MAXIMUM_ALLOWED, 1, 0, Bytes::new()).await.unwrap();
    assert_eq!(g, FILE_ALL_ACCESS, "MAXIMUM_ALLOWED is what the DACL grants");
    let (_, g) = open(&rig, "bob", "public", GENERIC_READ, 1, 0, Bytes::new()).await.unwrap();
    assert_eq!(g, FILE_GENERIC_READ, "generic rights are mapped");

    // A directory that lets bob only list: he may not create in it, nor
    // delete alice's file there unless the directory allows it.
    let inherit = ace_flags::OBJECT_INHERIT | ace_flags::CONTAINER_INHERIT;
    let dir_sd = sd("alice", vec![Ace::allowed(user_sid(b"test", "alice"), FILE_ALL_ACCESS, inherit), Ace::allowed(user_sid(b"test", "bob"), FILE_GENERIC_READ, inherit)]);
    open(&rig, "alice", "d", GENERIC_ALL, 2, 1, dir_sd).await.expect("mkdir with a descriptor");
    assert!(denied(open(&rig, "bob", "d\\new", GENERIC_WRITE, 2, 0, Bytes::new()).await), "no FILE_ADD_FILE for bob");
    open(&rig, "alice", "d\\a", GENERIC_ALL, 2, 0, Bytes::new()).await.unwrap();
    let (_, g) = open(&rig, "bob", "d\\a", MAXIMUM_ALLOWED, 1, 0, Bytes::new()).await.expect("inherited read for bob");
    assert_eq!(g, FILE_GENERIC_READ);
    assert!(denied(open(&rig, "bob", "d\\a", DELETE, 1, 0, Bytes::new()).await));

    // SetSecurity through alice's open adds bob; the open must hold WRITE_DAC.
    let o = OpenReq { share: "s".into(), path: "private".into(), desired_access: READ_CONTROL, share_access: 7, disposition: 1, token: token("alice"), ..Default::default() };
    let Reply::Opened { fid, .. } = rig.server.handle(Request::Open(o.clone())).await.unwrap() else { panic!() };
    let both = sd("alice", vec![Ace::allowed(user_sid(b"test", "alice"), FILE_ALL_ACCESS, 0), Ace::allowed(user_sid(b"test", "bob"), FILE_GENERIC_READ, 0)]);
    let set = Request::SetSecurity { fid, info: 4, sd: both.clone() };
    assert!(matches!(rig.server.handle(set).await, Err(f) if f.status == NtStatus::ACCESS_DENIED), "READ_CONTROL is not WRITE_DAC");
    let Reply::Opened { fid: w, .. } = rig.server.handle(Request::Open(OpenReq { desired_access: WRITE_DAC | READ_CONTROL, ..o })).await.unwrap() else { panic!() };
    rig.server.handle(Request::SetSecurity { fid: w, info: 4, sd: both }).await.unwrap();
    let Reply::Data(raw) = rig.server.handle(Request::GetSecurity { fid }).await.unwrap() else { panic!() };
    assert_eq!(SecurityDescriptor::decode(&raw).unwrap().dacl.unwrap().aces.len(), 2);
    for f in [fid, w] {
        rig.server.handle(Request::Close { fid: f }).await.unwrap();
    }
    open(&rig, "bob", "private", FILE_READ_DATA, 1, 0, Bytes::new()).await.expect("bob may read now");
    assert!(denied(open(&rig, "bob", "private", FILE_WRITE_DATA, 1, 0, Bytes::new()).await), "but not write");

    // Stored with the file: a remount (a takeover) still refuses bob.
    rig.mount(2, Some(1)).await.unwrap();
    assert!(denied(open(&rig, "bob", "d\\a", FILE_WRITE_DATA, 1, 0, Bytes::new()).await));
}

#[tokio::test]
async fn a_share_without_acls_checks_none() {
    let rig = Rig::with_acls(false).await;
    rig.mount(1, None).await.unwrap();
    let nobody = sd("alice", vec![]);
    open(&rig, "alice", "f", GENERIC_ALL, 2, 0, nobody).await.unwrap();
    open(&rig, "bob", "f", GENERIC_ALL, 1, 0, Bytes::new()).await.expect("the share does not enforce descriptors");
}
