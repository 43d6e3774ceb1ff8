//! `holdfast bench failover`: from SIGKILL of the host running the SMB
//! service, under a client workload, to the client's successful DH2C
//! reclaim of its persistent handle on the same address, and to its next
//! successful WRITE (DESIGN.md target: reclaim ≤ 2 s with default
//! settings).
//!
//! Per trial, on a temporary 3-node cluster with the default service:
//! every copy of the share's two objects ACTIVE and the service listening;
//! a client (the Rust SMB client, `smb_story.rs`) opens a file with a
//! persistent handle, an RH lease and a byte-range lock, and writes 4 KiB
//! blocks back to back; the service's host gets SIGKILL (t0) while writes
//! are in flight; the client reconnects every 20 ms, reclaims with DH2C
//! (t1), writes again (t2), and reads back every block whose WRITE was
//! acknowledged before the kill. The killed node is restarted and rebuilt
//! before the next trial.
//!
//! `lost_handles`: trials whose handle could not be reclaimed.
//! `lost_acked_writes`: acknowledged blocks that did not read back.
//! Baseline, same run and client code: the reclaim after the client drops
//! its own connection while the service stays put, so the ratio isolates
//! what the failover adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use holdfast_client::Client;
use holdfast_types::NodeId;
use serde_json::json;

use super::cluster::{require_own_cluster, wait_all_active, BenchCluster};
use super::stats::round1;
use crate::smb_story::{self, HandleRef, Session, Target};

const TRIALS_MAX: usize = 100;
const BASELINE_RUNS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes written at open, and per workload WRITE.
const INITIAL_BYTES: usize = 64 * 1024;
const BLOCK_BYTES: usize = 4096;
/// Workload before the kill, so writes are in flight when it lands.
const WORKLOAD_BEFORE_KILL: Duration = Duration::from_millis(300);

#[derive(Args)]
pub struct FailoverArgs {
    /// Print one JSON object.
    #[arg(long)]
    pub(super) json: bool,
    /// Host kills to time.
    #[arg(long, default_value_t = 10)]
    pub(super) trials: usize,
    /// Keep the temporary cluster's directory (node and smbd logs) after the
    /// run. It is always kept when the run fails.
    #[arg(long)]
    pub(super) keep_dir: bool,
    /// Run with the documented tuned failure detection (heartbeat 50 ms,
    /// peer down after 250 ms, elections 150..300 ms) instead of the
    /// defaults (100, 600, 400..800).
    #[arg(long)]
    tuned: bool,
    /// Separate hosts in network namespaces and a silent death (link down,
    /// then SIGKILL), with and without tickle ACKs. Needs root.
    #[arg(long, conflicts_with = "tuned")]
    silent: bool,
    /// With --silent: partition trials after the silent deaths (the
    /// serving host cut off from the other hosts, its client kept).
    #[arg(long, default_value_t = 5, requires = "silent")]
    pub(super) partition_trials: usize,
}

/// The node the service is placed on, once its smbd answers there.
pub async fn service_ready(client: &Client, dir: &std::path::Path, name: &str, addr: &str) -> anyhow::Result<NodeId> {
    let s = client.status().await?;
    let node = s.services.iter().find(|x| x.name == name).map(|x| x.node).with_context(|| format!("service {name} not in the directory"))?;
    let pid_file = dir.join(format!("node-{node}/smbd-{name}.pid"));
    crate::cmd_service::wait_listening(&pid_file, addr, LISTEN_TIMEOUT).await?;
    Ok(node)
}

/// The content of workload block `i` of trial `trial`.
fn block(trial: usize, i: u64) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_BYTES];
    for (j, x) in b.iter_mut().enumerate() {
        *x = (trial as u64 * 131 + i * 31 + j as u64 * 7) as u8;
    }
    b
}

fn initial(trial: usize) -> Vec<u8> {
    (0..INITIAL_BYTES).map(|j| (trial * 17 + j * 3) as u8).collect()
}

/// Writes blocks after the initial bytes until a WRITE fails (the host
/// died); returns the session's remains and how many were acknowledged.
async fn workload(mut s: Session, file_id: holdfast_smb_client::proto::FileId, trial: usize, acked: Arc<AtomicU64>) -> u64 {
    loop {
        let i = acked.load(Ordering::SeqCst);
        let off = (INITIAL_BYTES + i as usize * BLOCK_BYTES) as u64;
        match s.client.write(&s.tree, file_id, off, &block(trial, i)).await {
            Ok(_) => {
                acked.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => return acked.load(Ordering::SeqCst),
        }
    }
}

struct Trial {
    reclaim_ms: f64,
    write_resume_ms: f64,
    acked: u64,
    lost_writes: u64,
    killed: NodeId,
    new_node: NodeId,
}

/// A client holding its handle under a write workload (`hold`).
pub(super) struct Held {
    h: HandleRef,
    init: Vec<u8>,
    writer: tokio::task::JoinHandle<u64>,
    n: usize,
}

/// What a trial measured after the kill at `t0`.
pub(super) struct Outcome {
    pub reclaim_ms: f64,
    pub write_resume_ms: f64,
    pub acked: u64,
    pub lost_writes: u64,
}

/// Opens file `n` with a persistent handle, an RH lease and a lock, and
/// writes blocks back to back, long enough that writes are in flight.
pub(super) async fn hold(t: &Target, n: usize) -> anyhow::Result<Held> {
    let name = format!("bench-failover-{}-{n}.dat", std::process::id());
    let init = initial(n);
    let (s, h) = smb_story::open_and_hold(t, &name, &init).await?;
    let acked = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(workload(s, h.file_id, n, acked));
    tokio::time::sleep(WORKLOAD_BEFORE_KILL).await;
    Ok(Held { h, init, writer, n })
}

/// After the kill at `t0`: the workload notices, the client reclaims with
/// DH2C, writes again and reads back every acknowledged block. `Err` is a
/// lost handle.
pub(super) async fn finish(t: &Target, held: Held, t0: Instant) -> anyhow::Result<Result<Outcome, String>> {
    let Held { h, init, writer, n } = held;
    let acked = writer.await.context("workload task")?;
    let (mut s, open, t1) = match smb_story::reclaim(t, &h, t0 + smb_story::SERVICE_WAIT).await {
        Ok(r) => r,
        Err(e) => return Ok(Err(format!("trial {n}: handle lost: {e:#}"))),
    };
    anyhow::ensure!(open.file_id.persistent == h.file_id.persistent, "trial {n}: DH2C answered another handle");
    let next = (INITIAL_BYTES + acked as usize * BLOCK_BYTES) as u64;
    s.client.write(&s.tree, open.file_id, next, &block(n, acked)).await.context("WRITE after the reclaim")?;
    let t2 = Instant::now();
    let back = smb_story::read_all(&mut s, open.file_id, INITIAL_BYTES + acked as usize * BLOCK_BYTES).await?;
    let mut lost = 0;
    if back.get(..INITIAL_BYTES) != Some(&init[..]) {
        lost += 1;
    }
    for i in 0..acked {
        let at = INITIAL_BYTES + i as usize * BLOCK_BYTES;
        if back.get(at..at + BLOCK_BYTES) != Some(&block(n, i)[..]) {
            lost += 1;
        }
    }
    let _ = s.client.close(&s.tree, open.file_id).await;
    Ok(Ok(Outcome {
        reclaim_ms: (t1 - t0).as_secs_f64() * 1e3,
        write_resume_ms: (t2 - t0).as_secs_f64() * 1e3,
        acked,
        lost_writes: lost,
    }))
}

async fn trial(cluster: &mut BenchCluster, client: &Client, t: &Target, n: usize) -> anyhow::Result<Result<Trial, String>> {
    let dir = cluster.info.dir.clone();
    let svc = cluster.info.file.services.first().context("no service")?.clone();
    let node = service_ready(client, &dir, &svc.name, &svc.listen).await?;
    let held = hold(t, n).await?;
    let t0 = Instant::now();
    cluster.kill_node(node)?;
    let o = match finish(t, held, t0).await? {
        Ok(o) => o,
        Err(e) => {
            cluster.restart_node(node)?;
            return Ok(Err(e));
        }
    };
    let to = service_ready(client, &dir, &svc.name, &svc.listen).await?;
    cluster.restart_node(node)?;
    Ok(Ok(Trial {
        reclaim_ms: o.reclaim_ms,
        write_resume_ms: o.write_resume_ms,
        acked: o.acked,
        lost_writes: o.lost_writes,
        killed: node,
        new_node: to,
    }))
}

/// The same reclaim after the client drops its own connection: no host
/// dies, the service stays.
async fn baseline(t: &Target, n: usize) -> anyhow::Result<f64> {
    let (s, h): (Session, HandleRef) = smb_story::open_and_hold(t, &format!("bench-failover-base-{}-{n}.dat", std::process::id()), &initial(n)).await?;
    let t0 = Instant::now();
    drop(s);
    let (mut s, open, t1) = smb_story::reclaim(t, &h, t0 + smb_story::SERVICE_WAIT).await?;
    let _ = s.client.close(&s.tree, open.file_id).await;
    Ok((t1 - t0).as_secs_f64() * 1e3)
}

pub fn run(dir: Option<&std::path::Path>, a: FailoverArgs) -> anyhow::Result<()> {
    require_own_cluster(dir, "failover")?;
    anyhow::ensure!((1..=TRIALS_MAX).contains(&a.trials), "--trials must be from 1 to {TRIALS_MAX}, got {}", a.trials);
    if a.silent {
        return super::failover_silent::run(&a);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let timing = if a.tuned { crate::TimingArgs::TUNED } else { crate::TimingArgs::DEFAULT };
        let mut cluster = BenchCluster::start_temp_with(true, timing).await?;
        let r = measure(&mut cluster, &a).await;
        if r.is_err() || a.keep_dir {
            if let Some(d) = cluster.keep_dir() {
                eprintln!("cluster directory kept (node-N/node.log, node-N/smbd-share.log): {}", d.display());
            }
        }
        r
    })
}

pub(super) fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(|x, y| x.partial_cmp(y).expect("finite"));
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

async fn measure(cluster: &mut BenchCluster, a: &FailoverArgs) -> anyhow::Result<()> {
    let dir = cluster.info.dir.clone();
    let client = Client::from_cluster(&cluster.info);
    crate::volumes::ensure_volumes(&Arc::new(Client::from_cluster(&cluster.info)), &cluster.info).await?;
    crate::cmd_smb::ensure_default_user(&dir)?;
    let creds = crate::cmd_smb::read_credentials(&dir.join(crate::cmd_smb::CREDENTIALS_FILE))?;
    let svc = cluster.info.file.services.first().context("the temporary cluster has no service")?.clone();
    let vol = cluster.info.file.volumes.first().context("no volume")?.clone();
    let share = svc.shares.first().context("the service has no share")?.clone();
    let t = Target { addr: svc.listen.clone(), share, creds };
    service_ready(&client, &dir, &svc.name, &svc.listen).await?;
    let mut base = Vec::with_capacity(BASELINE_RUNS);
    for i in 0..BASELINE_RUNS {
        base.push(round1(baseline(&t, i).await?));
    }
    let (mut reclaim, mut resume, mut killed, mut new_node, mut acked) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut lost_handles, mut lost_writes) = (0u64, 0u64);
    for i in 0..a.trials {
        for object in [vol.data_object(), vol.handle_object()] {
            wait_all_active(&client, &object, 3, READY_TIMEOUT).await.with_context(|| format!("before trial {}", i + 1))?;
        }
        match trial(cluster, &client, &t, i).await.with_context(|| format!("trial {}", i + 1))? {
            Ok(r) => {
                if !a.json {
                    eprintln!(
                        "trial {:>3}: killed node {} under {} acked writes, reclaimed from node {} after {:.1} ms, next write at {:.1} ms, {} acked writes lost",
                        i + 1, r.killed, r.acked, r.new_node, r.reclaim_ms, r.write_resume_ms, r.lost_writes
                    );
                }
                reclaim.push(round1(r.reclaim_ms));
                resume.push(round1(r.write_resume_ms));
                lost_writes += r.lost_writes;
                killed.push(r.killed);
                new_node.push(r.new_node);
                acked.push(r.acked);
            }
            Err(why) => {
                eprintln!("{why}");
                lost_handles += 1;
            }
        }
    }
    for object in [vol.data_object(), vol.handle_object()] {
        wait_all_active(&client, &object, 3, READY_TIMEOUT).await?;
    }
    let base_p50 = pct(&base, 50.0);
    let p50 = pct(&reclaim, 50.0);
    let out = json!({
        "trials": a.trials,
        "timing": if a.tuned { "tuned" } else { "default" },
        "reclaim_p50_ms": p50,
        "reclaim_max_ms": pct(&reclaim, 100.0),
        "write_resume_p50_ms": pct(&resume, 50.0),
        "lost_handles": lost_handles,
        "lost_acked_writes": lost_writes,
        "reclaim_ms": reclaim,
        "write_resume_ms": resume,
        "acked_writes_at_kill": acked,
        "baseline_reclaim_p50_ms": base_p50,
        "reclaim_over_baseline_p50": if base_p50 > 0.0 { round1(p50 / base_p50) } else { 0.0 },
        "killed": killed,
        "new_node": new_node,
        "cluster": cluster.label(),
        "addr": svc.listen,
    });
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("bench failover on {} (service {} at {}, Rust SMB client: DH2C with lease, then WRITE)", cluster.label(), svc.name, svc.listen);
        for (k, v) in out.as_object().expect("object") {
            println!("  {k:<28} {v}");
        }
        println!("targets: reclaim_p50_ms <= 2000 and reclaim_max_ms <= 3000 (default timing), reclaim_p50_ms <= 1000 (--tuned); lost_handles = lost_acked_writes = 0");
    }
    anyhow::ensure!(lost_handles == 0 && lost_writes == 0, "lost {lost_handles} handles and {lost_writes} acknowledged writes");
    Ok(())
}
