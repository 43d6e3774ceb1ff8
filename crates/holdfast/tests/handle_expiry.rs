//! Persistent handles across a takeover and to their expiry, on a real
//! 3-process cluster whose node daemons run the service: a disconnected
//! handle keeps blocking conflicting opens (STATUS_FILE_NOT_AVAILABLE)
//! on the survivor exactly as on the old host and is still reclaimable
//! before its timeout; one left alone expires at its timeout, once for the
//! whole cluster (gone on the survivor and on the host after it), and its
//! delete-on-close is honoured at expiry.

mod common;

use std::time::{Duration, Instant};

use common::wait_service;
use holdfast_smb_client::proto::msg::create::{create_options, disposition};
use holdfast_smb_client::proto::{access, FileId, Guid};
use holdfast_smb_client::{unc, ClientConfig, ClientError, Credentials, Durable, NtStatus, OpenOptions, SmbClient, Tree};

const USER: &str = "tester";
const PASSWORD: &str = "Correct-Horse-42";
/// DH2Q Timeouts: the handle left to expire, and the one reclaimed after
/// a takeover (long, so no takeover on a loaded machine outlasts it).
const EXPIRE_TIMEOUT_MS: u32 = 3_000;
const KEEP_TIMEOUT_MS: u32 = 120_000;

fn creds() -> Credentials {
    Credentials::new(USER, PASSWORD, "WORKGROUP")
}

/// Logs on, retrying while the service is away (a takeover under way).
async fn logon(addr: &str, client_guid: Guid, previous: u64) -> (SmbClient, Tree) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = async {
            let mut c = SmbClient::connect(addr, ClientConfig { client_guid, ..Default::default() }).await?;
            c.session_setup(&creds(), previous).await?;
            let tree = c.tree_connect(&unc("127.0.0.1", "share")).await?;
            Ok::<_, ClientError>((c, tree))
        }
        .await;
        match r {
            Ok(x) => return x,
            Err(e) if Instant::now() < deadline => {
                eprintln!("logon: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("logon to {addr}: {e}"),
        }
    }
}

struct Held {
    name: String,
    client_guid: Guid,
    create_guid: Guid,
    session_id: u64,
    file_id: FileId,
}

/// A persistent handle on `name`; the connection is dropped without a
/// CLOSE (the client went away).
async fn hold_and_drop(addr: &str, name: &str, timeout_ms: u32, delete_on_close: bool) -> Held {
    let client_guid: Guid = rand::random();
    let create_guid: Guid = rand::random();
    let (mut c, tree) = logon(addr, client_guid, 0).await;
    let mut o = OpenOptions::new(name)
        .durable(Durable::V2 { create_guid, timeout_ms, persistent: true })
        .disposition(disposition::OVERWRITE_IF);
    if delete_on_close {
        o.desired_access |= access::DELETE;
        o.create_options |= create_options::DELETE_ON_CLOSE;
    }
    let open = c.create(&tree, &o).await.expect("persistent CREATE");
    assert_eq!(open.durable_v2().map(|(_, t)| t), Some(timeout_ms), "timeout granted as asked");
    c.write(&tree, open.file_id, 0, name.as_bytes()).await.expect("WRITE");
    let h = Held { name: name.into(), client_guid, create_guid, session_id: c.session_id(), file_id: open.file_id };
    drop(c);
    h
}

/// Another client's open of `name` sharing nothing: its status. A
/// SHARING_VIOLATION means the service has not yet seen the holder's
/// connection go (it closed a moment ago): asked again, briefly.
async fn conflicting_open(addr: &str, name: &str, disp: u32) -> NtStatus {
    let (mut c, tree) = logon(addr, rand::random(), 0).await;
    let mut o = OpenOptions::new(name).disposition(disp);
    o.share_access = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.create(&tree, &o).await {
            Ok(open) => {
                c.close(&tree, open.file_id).await.expect("close");
                return NtStatus::SUCCESS;
            }
            Err(e) if e.status() == Some(NtStatus::SHARING_VIOLATION) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => return e.status().unwrap_or_else(|| panic!("open of {name}: {e}")),
        }
    }
}

async fn reclaim(addr: &str, h: &Held) -> Result<(SmbClient, Tree, FileId), NtStatus> {
    let (mut c, tree) = logon(addr, h.client_guid, h.session_id).await;
    let o = OpenOptions::new(&h.name)
        .durable(Durable::ReconnectV2 { file_id: h.file_id, create_guid: h.create_guid, persistent: true })
        .disposition(disposition::OPEN);
    match c.create(&tree, &o).await {
        Ok(open) => Ok((c, tree, open.file_id)),
        Err(e) => Err(e.status().unwrap_or_else(|| panic!("DH2C of {}: {e}", h.name))),
    }
}

#[test]
fn persistent_handles_survive_a_takeover_and_expire_once_with_delete_on_close() {
    let (mut c, addr, first) = common::smb_cluster_with_service("expiry", USER, PASSWORD);
    let rt = common::runtime();

    // Two handles, their clients gone: one to reclaim, one to expire.
    let (keep, expire, dropped_at) = rt.block_on(async {
        let expire = hold_and_drop(&addr, "expires.dat", EXPIRE_TIMEOUT_MS, true).await;
        let dropped_at = Instant::now();
        let keep = hold_and_drop(&addr, "kept.dat", KEEP_TIMEOUT_MS, false).await;
        (keep, expire, dropped_at)
    });
    rt.block_on(async {
        assert_eq!(conflicting_open(&addr, "kept.dat", disposition::OPEN).await, NtStatus::FILE_NOT_AVAILABLE, "on the first host");
    });

    // The host serving them dies; the survivor takes the share over.
    c.kill(first.node);
    let second = wait_service(&c, "share", Some(first.node), None);
    rt.block_on(async {
        assert_eq!(
            conflicting_open(&addr, "kept.dat", disposition::OPEN).await,
            NtStatus::FILE_NOT_AVAILABLE,
            "on the survivor, before the timeout, the disconnected handle still blocks"
        );
        let (mut cl, tree, fid) = reclaim(&addr, &keep).await.expect("reclaim before the timeout, after the takeover");
        assert_eq!(fid.persistent, keep.file_id.persistent);
        assert_eq!(cl.read(&tree, fid, 0, 8).await.expect("read"), b"kept.dat");
        cl.close(&tree, fid).await.expect("close");
    });

    // Past the timeout (plus the scavenger's period): gone, and with it
    // the file (delete-on-close).
    let expiry = dropped_at + Duration::from_millis(EXPIRE_TIMEOUT_MS as u64 + 1_500);
    std::thread::sleep(expiry.saturating_duration_since(Instant::now()));
    rt.block_on(async {
        assert_eq!(reclaim(&addr, &expire).await.err(), Some(NtStatus::OBJECT_NAME_NOT_FOUND), "DH2C after the timeout");
        assert_eq!(
            conflicting_open(&addr, "expires.dat", disposition::OPEN).await,
            NtStatus::OBJECT_NAME_NOT_FOUND,
            "delete-on-close honoured at expiry"
        );
    });

    // Once for the whole cluster: the host after the survivor neither
    // brings the handle nor the file back.
    c.start_node(first.node);
    c.wait_all_active(3);
    c.kill(second.node);
    let third = wait_service(&c, "share", Some(second.node), None);
    assert_ne!(third.node, second.node);
    rt.block_on(async {
        assert_eq!(reclaim(&addr, &expire).await.err(), Some(NtStatus::OBJECT_NAME_NOT_FOUND), "DH2C on the third host");
        assert_eq!(conflicting_open(&addr, "expires.dat", disposition::OPEN).await, NtStatus::OBJECT_NAME_NOT_FOUND);
        assert_eq!(conflicting_open(&addr, "kept.dat", disposition::OPEN).await, NtStatus::SUCCESS, "the closed file is there");
    });
}

/// `holdfast volume ensure` on a live cluster (as `up` and `demo --dir`
/// run it) leaves a mounted file system alone: it once mounted the volume
/// from the CLI to read its id, and that mount's checkpoint hid every
/// later write of the serving host from the survivors.
#[test]
fn volume_ensure_on_a_live_cluster_keeps_what_the_file_server_writes() {
    let (mut c, addr, first) = common::smb_cluster_with_service("ensure-live", USER, PASSWORD);
    let rt = common::runtime();
    rt.block_on(async {
        let (mut cl, tree) = logon(&addr, rand::random(), 0).await;
        let o = cl.create(&tree, &OpenOptions::new("before.dat")).await.expect("create");
        cl.write(&tree, o.file_id, 0, b"before").await.expect("write");
        cl.close(&tree, o.file_id).await.expect("close");
    });
    c.cli_ok(&["volume", "ensure"]);
    rt.block_on(async {
        let (mut cl, tree) = logon(&addr, rand::random(), 0).await;
        let o = cl.create(&tree, &OpenOptions::new("after.dat")).await.expect("create");
        cl.write(&tree, o.file_id, 0, b"after").await.expect("write");
        cl.close(&tree, o.file_id).await.expect("close");
    });
    c.kill(first.node);
    wait_service(&c, "share", Some(first.node), None);
    rt.block_on(async {
        let (mut cl, tree) = logon(&addr, rand::random(), 0).await;
        for (name, want) in [("before.dat", &b"before"[..]), ("after.dat", &b"after"[..])] {
            let o = cl.create(&tree, &OpenOptions::new(name).disposition(disposition::OPEN)).await.unwrap_or_else(|e| panic!("{name} after the failover: {e}"));
            assert_eq!(cl.read(&tree, o.file_id, 0, 16).await.expect("read"), want, "{name}");
            cl.close(&tree, o.file_id).await.expect("close");
        }
    });
}
