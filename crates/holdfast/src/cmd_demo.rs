//! `holdfast demo failover`: the whole story once, narrated with a
//! timeline: on the `holdfast up` cluster named with --dir (its serving
//! host is killed; `up` restarts it), else on a temporary 3-node cluster
//! started the way `up` starts one. A client (the Rust SMB
//! client) opens a file on the CA share with a persistent handle and an RH
//! lease, writes, and locks a byte range; the host running the SMB service
//! is killed (`kill -9`: its RAM, file server and smbd gone); a second
//! client's conflicting open is refused while the handle is disconnected;
//! the directory moves the volume and the service to a survivor, which
//! starts smbd on the same address; the client reconnects, reclaims the
//! handle with DH2C (same persistent FileId, lease back), reads its bytes
//! back, finds its lock still held against the second client, and writes
//! again; the killed host returns and its copies are rebuilt. Every step is
//! checked; a failed check ends the demo with an error.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::{Args, Subcommand};
use holdfast_client::Client;
use holdfast_types::ntstatus::NtStatus;

use crate::bench::cluster::{wait_all_active, BenchCluster};
use crate::bench::failover::service_ready;
use crate::smb_story::{self, Target};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to watch the directory for the service's new placement.
const MOVE_WATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes the client writes before the kill.
const DATA_BYTES: usize = 256 * 1024;

#[derive(Subcommand)]
pub enum DemoCmd {
    /// Kill the host serving a persistent handle; the client reclaims it
    /// from the survivor on the same address. On the `holdfast up` cluster
    /// named with --dir (whose `up` restarts the killed node), else on a
    /// temporary cluster of its own.
    Failover(DemoArgs),
}

#[derive(Args)]
pub struct DemoArgs {
    /// Keep the temporary cluster's directory (logs) afterwards.
    #[arg(long)]
    keep_dir: bool,
    /// Also print one JSON object with the timeline and the checks.
    #[arg(long)]
    json: bool,
}

pub fn run(dir: Option<&Path>, c: DemoCmd) -> anyhow::Result<()> {
    let DemoCmd::Failover(a) = c;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let t = Instant::now();
        let events = std::cell::RefCell::new(Vec::<(f64, String)>::new());
        let say = |what: String| {
            let at = t.elapsed().as_secs_f64();
            println!("[{at:>7.3} s] {what}");
            events.borrow_mut().push((at, what));
        };
        let mut cluster = match dir {
            Some(d) => {
                say(format!("using the running cluster in {}", d.display()));
                BenchCluster::open(Some(d)).await?
            }
            None => {
                say("starting a temporary 3-node cluster on loopback (as `holdfast up` does)".into());
                BenchCluster::start_temp(true).await?
            }
        };
        let r = story(&mut cluster, &say).await;
        if r.is_err() || a.keep_dir {
            if let Some(d) = cluster.keep_dir() {
                println!("cluster directory kept (node-N/node.log, node-N/smbd-share.log): {}", d.display());
            }
        }
        if a.json {
            let ev: Vec<serde_json::Value> = events.borrow().iter().map(|(at, w)| serde_json::json!({"at_s": at, "event": w})).collect();
            let mut out = serde_json::json!({"ok": r.is_ok(), "timeline": ev});
            if let Ok(c) = &r {
                out["checks"] = serde_json::to_value(c)?;
            }
            println!("{}", serde_json::to_string(&out)?);
        }
        r.map(|_| ())
    })
}

/// What the demo checked, for --json and the test that runs it.
#[derive(serde::Serialize, Default)]
pub struct Checks {
    pub persistent_granted: bool,
    pub conflicting_open_refused: String,
    pub reclaim_ms: u128,
    pub same_persistent_file_id: bool,
    pub lease_state_back: u32,
    pub bytes_read_back: bool,
    pub conflicting_lock: String,
    /// Another client's blocking LOCK on the range waited on the survivor
    /// and was granted once the reclaimed handle unlocked it.
    pub blocking_lock_woke: bool,
    /// The alternate data stream written before the kill reads back as its
    /// last version after the reclaim (not missing, not an older one).
    pub stream_read_back: bool,
    pub write_after_reclaim_ms: u128,
    pub killed_node: u64,
    pub new_node: u64,
}

async fn story(cluster: &mut BenchCluster, say: &impl Fn(String)) -> anyhow::Result<Checks> {
    let mut c = Checks::default();
    let dir = cluster.info.dir.clone();
    let client = Arc::new(Client::from_cluster(&cluster.info));
    crate::volumes::ensure_volumes(&client, &cluster.info).await?;
    crate::cmd_smb::ensure_default_user(&dir)?;
    let creds = crate::cmd_smb::read_credentials(&dir.join(crate::cmd_smb::CREDENTIALS_FILE))?;
    let svc = cluster.info.file.services.first().context("the temporary cluster has no service")?.clone();
    let vol = cluster.info.file.volumes.first().context("no volume")?.clone();
    let share = svc.shares.first().context("the service has no share")?.clone();
    for object in [vol.data_object(), vol.handle_object()] {
        wait_all_active(&client, &object, 3, READY_TIMEOUT).await?;
    }
    let node = service_ready(&client, &dir, &svc.name, &svc.listen).await?;
    say(format!(
        "volume {:?} (objects {} and {}, a copy of each on every host) is owned by node {node}; \
         the directory places service {:?} there, and node {node} runs its smbd on {}",
        vol.name,
        vol.data_object(),
        vol.handle_object(),
        svc.name,
        svc.listen
    ));
    let t = Target { addr: svc.listen.clone(), share: share.clone(), creds };
    let name = "demo-failover.dat";
    let data: Vec<u8> = (0..DATA_BYTES).map(|i| (i * 7 + i / 4096) as u8).collect();
    let (mut held, h) = smb_story::open_and_hold(&t, name, &data).await?;
    c.persistent_granted = true;
    let stream_versions: [&[u8]; 2] = [b"first version of the stream", b"last version"];
    smb_story::write_stream(&mut held, name, &stream_versions).await?;
    say(format!(
        "client A: opened \\\\{}\\{share}\\{name} with a persistent handle (FileId.Persistent {:#x}) and an RH lease, \
         wrote {DATA_BYTES} bytes, locked bytes {}..{}, and wrote stream {name}{} twice; the handle record is in RAM on all 3 hosts",
        svc.listen,
        h.file_id.persistent,
        smb_story::LOCK_OFFSET,
        smb_story::LOCK_OFFSET + smb_story::LOCK_LEN,
        smb_story::STREAM
    ));
    let killed_at = Instant::now();
    cluster.kill_host(node)?;
    // Client A's connection is gone with the host; it holds nothing now.
    drop(held);
    c.killed_node = node;
    say(format!("kill -9 node {node}: its RAM, its file server and its smbd are gone"));
    let deadline = killed_at + smb_story::SERVICE_WAIT;
    let refused = smb_story::conflicting_open(&t, name, deadline).await?;
    say(format!(
        "client B: an open of {name} that shares nothing, while A's handle is disconnected: {} (+{} ms)",
        refused.name(),
        killed_at.elapsed().as_millis()
    ));
    ensure!(refused == NtStatus::FILE_NOT_AVAILABLE, "client B's conflicting open got {refused}, not STATUS_FILE_NOT_AVAILABLE");
    c.conflicting_open_refused = refused.name().into();
    let watch = Instant::now() + MOVE_WATCH_TIMEOUT;
    let to = loop {
        if let Ok(s) = client.status().await {
            if let Some(x) = s.services.iter().find(|x| x.name == svc.name && x.node != node) {
                break x.node;
            }
        }
        ensure!(Instant::now() < watch, "the service did not move within {} s", MOVE_WATCH_TIMEOUT.as_secs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    c.new_node = to;
    say(format!("directory: {} and service {:?} are on node {to} now", vol.data_object(), svc.name));
    let (mut s, open, at) = smb_story::reclaim(&t, &h, deadline).await?;
    c.reclaim_ms = (at - killed_at).as_millis();
    c.same_persistent_file_id = open.file_id.persistent == h.file_id.persistent;
    c.lease_state_back = smb_story::lease_state(&open).unwrap_or(0);
    say(format!(
        "client A: reconnected to {} (same ClientGuid, PreviousSessionId), DH2C reclaimed FileId.Persistent {:#x} with lease state {:#x}: {} ms after the kill",
        svc.listen,
        open.file_id.persistent,
        c.lease_state_back,
        c.reclaim_ms
    ));
    ensure!(c.same_persistent_file_id, "DH2C answered FileId.Persistent {:#x}, not {:#x}", open.file_id.persistent, h.file_id.persistent);
    ensure!(c.lease_state_back == smb_story::LEASE_RH, "the lease came back as {:#x}, not RH", c.lease_state_back);
    let back = smb_story::read_all(&mut s, open.file_id, DATA_BYTES).await?;
    c.bytes_read_back = back == data;
    say(format!("client A: read back {} bytes: {}", back.len(), if c.bytes_read_back { "identical" } else { "DIFFERENT" }));
    ensure!(c.bytes_read_back, "the bytes read back differ from those written before the kill");
    let stream = smb_story::read_stream(&mut s, name, 4096).await?;
    c.stream_read_back = stream == stream_versions[1];
    say(format!("client A: read stream {name}{}: {:?}", smb_story::STREAM, String::from_utf8_lossy(&stream)));
    ensure!(c.stream_read_back, "the stream read back as {:?}, not its last version", String::from_utf8_lossy(&stream));
    let lock = smb_story::conflicting_lock(&t, name).await?;
    c.conflicting_lock = lock.name().into();
    say(format!("client B: opened {name} and tried to lock bytes {}..{}: {} (A's lock is held)", smb_story::LOCK_OFFSET, smb_story::LOCK_OFFSET + smb_story::LOCK_LEN, lock.name()));
    ensure!(lock == NtStatus::LOCK_NOT_GRANTED, "client B's conflicting lock got {lock}, not STATUS_LOCK_NOT_GRANTED");
    c.blocking_lock_woke = smb_story::blocking_lock_waits_for_unlock(&t, &mut s, open.file_id, name).await?;
    say(format!(
        "client B: a blocking lock of the range waited until client A unlocked it, then was granted: {}",
        if c.blocking_lock_woke { "yes" } else { "NO" }
    ));
    ensure!(c.blocking_lock_woke, "client B's blocking lock was granted before client A unlocked the range");
    s.client.write(&s.tree, open.file_id, DATA_BYTES as u64, b"written after the failover").await.context("WRITE after the reclaim")?;
    c.write_after_reclaim_ms = killed_at.elapsed().as_millis();
    say(format!("client A: wrote again (+{} ms) and closes the handle", c.write_after_reclaim_ms));
    s.client.close(&s.tree, open.file_id).await.context("CLOSE")?;
    cluster.host_back(node).await?;
    say(format!("node {node} is back with empty RAM; rebuilding its copies"));
    for object in [vol.data_object(), vol.handle_object()] {
        wait_all_active(&client, &object, 3, READY_TIMEOUT).await?;
    }
    say("every copy ACTIVE again; done".into());
    Ok(c)
}
