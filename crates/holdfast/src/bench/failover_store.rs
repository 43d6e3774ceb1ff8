//! `holdfast bench failover-store`: time from a SIGKILL of the owner host of
//! a 3-copy memory object to the first write acknowledged by the new owner.
//!
//! Per trial: wait until all 3 nodes are up and every component is ACTIVE;
//! a writer tries a 512 B write every ~1 ms on a connection to whichever
//! node the latest lookup names as owner, and on an error looks the object
//! up again; the owner's process gets SIGKILL (t0 just before); the trial's
//! figure is t0 to the first write acknowledged by another node. The killed
//! node is then started again and rebuilt before the next trial. Needs its
//! own temporary cluster.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use holdfast_client::Client;
use holdfast_types::{NodeId, ObjectKind};
use holdfast_wire::control::ControlRequest;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::cluster::{require_own_cluster, wait_all_active, BenchCluster};
use super::stats::round1;

const OBJECT_BYTES: u64 = 64 << 20;
const WRITE_BYTES: usize = 512;
const WRITE_PERIOD_MS: u64 = 1;
/// Writes acknowledged by the owner before it is killed: the writer is in
/// its steady state.
const ACKS_BEFORE_KILL: u64 = 100;
const TRIALS_MAX: usize = 1000;
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args)]
pub struct FailoverStoreArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Owner kills to time.
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// Keep the temporary cluster's directory (node logs) after the run.
    /// It is always kept when the run fails.
    #[arg(long)]
    keep_dir: bool,
}

/// What the writer saw, shared with the trial driver.
#[derive(Default)]
struct WriterState {
    /// First write acknowledged by a node other than the killed owner.
    first_other_ack: Option<(Instant, NodeId)>,
    failed: u64,
    last_error: Option<String>,
}

struct Writer {
    stop: Arc<AtomicBool>,
    acks_by_owner: Arc<AtomicU64>,
    state: Arc<Mutex<WriterState>>,
    task: tokio::task::JoinHandle<()>,
}

/// A writer on this runtime: one 512 B write about every millisecond to the
/// node the latest lookup names as owner.
fn start_writer(client: Arc<Client>, name: String, object: u64, owner: NodeId) -> Writer {
    let stop = Arc::new(AtomicBool::new(false));
    let acks_by_owner = Arc::new(AtomicU64::new(0));
    let state = Arc::new(Mutex::new(WriterState::default()));
    let (s, a, st) = (stop.clone(), acks_by_owner.clone(), state.clone());
    let task = tokio::spawn(async move {
        let data = Bytes::from(vec![0x3cu8; WRITE_BYTES]);
        let slots = OBJECT_BYTES / WRITE_BYTES as u64;
        let mut rng = rand::rngs::StdRng::from_entropy();
        let mut tick = tokio::time::interval(Duration::from_millis(WRITE_PERIOD_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut target: Option<NodeId> = Some(owner);
        while !s.load(Ordering::Relaxed) {
            tick.tick().await;
            if target.is_none() {
                match client.lookup(&name).await {
                    Ok(v) => target = Some(v.owner),
                    Err(e) => {
                        st.lock().expect("writer state").last_error = Some(format!("lookup: {e}"));
                        continue;
                    }
                }
            }
            let node = target.expect("looked up");
            let r = async {
                let conn = client.conn(node).await?;
                let off = rng.gen_range(0..slots) * WRITE_BYTES as u64;
                Client::write_at(&conn, object, off, data.clone()).await
            }
            .await;
            let mut g = st.lock().expect("writer state");
            match r {
                Ok(()) if node == owner => {
                    a.fetch_add(1, Ordering::Relaxed);
                }
                Ok(()) => {
                    g.first_other_ack.get_or_insert((Instant::now(), node));
                }
                Err(e) => {
                    g.failed += 1;
                    g.last_error = Some(format!("write via node {node}: {e}"));
                    target = None;
                }
            }
        }
    });
    Writer { stop, acks_by_owner, state, task }
}

impl Writer {
    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

struct Trial {
    killed: NodeId,
    new_owner: NodeId,
    ms: f64,
    killed_was_leader: bool,
    failed_writes: u64,
}

async fn trial(cluster: &mut BenchCluster, client: &Arc<Client>, name: &str, object: u64) -> anyhow::Result<Trial> {
    let o = wait_all_active(client, name, 3, READY_TIMEOUT).await?;
    // The owner serves (its activation may still be running after a rebuild).
    client.write(name, 0, Bytes::from(vec![0u8; WRITE_BYTES])).await.map_err(|e| anyhow::anyhow!("probe write to {name}: {e}"))?;
    let leader = client.status().await.ok().and_then(|s| s.leader);
    let owner = o.owner;

    let w = start_writer(client.clone(), name.to_string(), object, owner);
    let warm = Instant::now();
    while w.acks_by_owner.load(Ordering::Relaxed) < ACKS_BEFORE_KILL {
        if warm.elapsed() > Duration::from_secs(10) || w.task.is_finished() {
            let why = w.state.lock().expect("writer state").last_error.clone();
            w.finish().await;
            anyhow::bail!("writer got no steady acknowledgements from owner node {owner} before the kill (last error: {why:?})");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t0 = Instant::now();
    cluster.kill_node(owner)?;
    let acked = loop {
        if let Some(a) = w.state.lock().expect("writer state").first_other_ack {
            break Some(a);
        }
        if t0.elapsed() > FAILOVER_TIMEOUT {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let (failed_writes, last_error) = {
        let g = w.state.lock().expect("writer state");
        (g.failed, g.last_error.clone())
    };
    w.finish().await;
    let Some((at, new_owner)) = acked else {
        anyhow::bail!(
            "no write acknowledged by a new owner {} s after killing owner node {owner} of {name} ({failed_writes} writes failed, last error: {})",
            FAILOVER_TIMEOUT.as_secs(),
            last_error.unwrap_or_default()
        );
    };
    cluster.restart_node(owner)?;
    Ok(Trial { killed: owner, new_owner, ms: (at - t0).as_secs_f64() * 1000.0, killed_was_leader: leader == Some(owner), failed_writes })
}

pub fn run(dir: Option<&Path>, a: FailoverStoreArgs) -> anyhow::Result<()> {
    require_own_cluster(dir, "failover-store")?;
    anyhow::ensure!((1..=TRIALS_MAX).contains(&a.trials), "--trials must be from 1 to {TRIALS_MAX}, got {}", a.trials);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut cluster = BenchCluster::open(None).await?;
        let r = measure(&mut cluster, &a).await;
        if r.is_err() || a.keep_dir {
            if let Some(d) = cluster.keep_dir() {
                eprintln!("cluster directory kept (node-N/node.log): {}", d.display());
            }
        }
        r
    })
}

async fn measure(cluster: &mut BenchCluster, a: &FailoverStoreArgs) -> anyhow::Result<()> {
    let client = Arc::new(Client::from_cluster(&cluster.info));
    let name = format!("bench-failover-{:08x}", rand::random::<u32>());
    let o = client.create_object(ControlRequest::CreateObject { name: name.clone(), kind: ObjectKind::Memory, size_bytes: OBJECT_BYTES, replicas: 3 }).await?;
    let mut trials = Vec::with_capacity(a.trials);
    for i in 0..a.trials {
        let t = trial(cluster, &client, &name, o.id).await.map_err(|e| e.context(format!("trial {} of {}", i + 1, a.trials)))?;
        if !a.json {
            eprintln!(
                "trial {:>3}: killed owner node {}{}, node {} acknowledged after {:.1} ms ({} writes failed meanwhile)",
                i + 1,
                t.killed,
                if t.killed_was_leader { " (directory leader)" } else { "" },
                t.new_owner,
                t.ms,
                t.failed_writes
            );
        }
        trials.push(t);
    }
    // Leave the cluster whole: the last killed node rebuilt.
    wait_all_active(&client, &name, 3, READY_TIMEOUT).await?;

    let ms: Vec<f64> = trials.iter().map(|t| round1(t.ms)).collect();
    let mut sorted = ms.clone();
    sorted.sort_by(|x, y| x.partial_cmp(y).expect("finite"));
    let pct = |p: f64| {
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    let leader_ms: Vec<f64> = trials.iter().filter(|t| t.killed_was_leader).map(|t| round1(t.ms)).collect();
    let out = json!({
        "cluster": cluster.label(),
        "object": name,
        "object_bytes": OBJECT_BYTES,
        "trials": a.trials,
        "failover_p50_ms": pct(50.0),
        "failover_max_ms": pct(100.0),
        "failover_min_ms": pct(0.0),
        "failover_ms": ms,
        "killed": trials.iter().map(|t| t.killed).collect::<Vec<_>>(),
        "new_owner": trials.iter().map(|t| t.new_owner).collect::<Vec<_>>(),
        "killed_was_leader": trials.iter().map(|t| t.killed_was_leader).collect::<Vec<_>>(),
        "failover_ms_leader_killed": leader_ms,
    });
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("bench failover-store on {} (object {name}, 64MiB memory object, 3 copies)", cluster.label());
        for (k, v) in out.as_object().expect("object") {
            println!("  {k:<26} {v}");
        }
        println!("targets: failover_p50_ms <= 1000, failover_max_ms <= 2000");
    }
    Ok(())
}
