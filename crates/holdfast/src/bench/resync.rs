//! `holdfast bench resync`: how fast the owner rebuilds a restarted host's
//! copy of a memory object, against raw loopback TCP streaming measured in
//! the same run, and what the rebuild does to foreground write latency.
//!
//! One run: loopback streaming baseline; create a 3-copy memory object and
//! write some scattered data; foreground 512 B write latency while idle;
//! then, with the same foreground writer running, SIGKILL a non-owner host,
//! start it again and time its component from RESYNCING to ACTIVE (polling
//! the owner's directory view every 10 ms). Needs its own temporary cluster.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use holdfast_client::{Client, ClusterInfo};
use holdfast_types::limits::BLOCK_BYTES;
use holdfast_types::{ComponentState, NodeId, ObjectKind};
use holdfast_wire::control::{ControlReply, ControlRequest, ObjectView};
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::cluster::{require_own_cluster, BenchCluster};
use super::stats::{round1, Samples};
use crate::local::{human_bytes, parse_size};

const STREAM_BUF_BYTES: usize = 256 << 10;
const STREAM_SECONDS: f64 = 2.0;
const FG_WRITE_BYTES: usize = 512;
const SEED_WRITE_BYTES: usize = 4096;
const SEED_WRITES_MAX: u64 = 1024;
const POLL_MS: u64 = 10;
/// The temporary cluster's nodes have 8 GiB each but share this machine.
const SIZE_MAX: u64 = 4 << 30;
const SIZE_MIN: u64 = 1 << 20;

#[derive(Args)]
pub struct ResyncArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Size of the 3-copy memory object whose restarted copy is rebuilt.
    #[arg(long, default_value = "1GiB")]
    size: String,
    /// Foreground write samples for the idle baseline.
    #[arg(long, default_value_t = 3000)]
    samples: usize,
    /// Keep the temporary cluster's directory (node logs) after the run.
    /// It is always kept when the run fails.
    #[arg(long)]
    keep_dir: bool,
}

/// One foreground write: when it started, how long it took, whether it was
/// acknowledged.
struct FgWrite {
    start: Instant,
    ns: u128,
    ok: bool,
}

/// Raw loopback streaming: one TCP connection between two threads, the
/// sender writing 256 KiB buffers for `seconds`. GB/s as counted by the
/// receiver.
fn stream_gbps(seconds: f64) -> anyhow::Result<f64> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let mut s = TcpStream::connect(addr)?;
        let mut buf = vec![0u8; STREAM_BUF_BYTES];
        rand::thread_rng().fill(&mut buf[..]);
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < deadline {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let (mut r, _) = l.accept()?;
    let mut buf = vec![0u8; STREAM_BUF_BYTES];
    let mut total = 0u64;
    let mut started: Option<Instant> = None;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        started.get_or_insert_with(Instant::now);
        total += n as u64;
    }
    let secs = started.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
    sender.join().map_err(|_| anyhow::anyhow!("stream sender thread panicked"))??;
    anyhow::ensure!(secs > 0.0 && total > 0, "loopback stream moved no data");
    Ok(total as f64 / secs / 1e9)
}

/// A single foreground writer of 512 B at random offsets to the owner, on
/// its own thread and runtime so the bench's polling does not delay it.
/// Stops after `max` writes (if given) or when `stop` is set.
fn spawn_fg_writer(
    info: &ClusterInfo,
    owner: (NodeId, String),
    object: u64,
    size: u64,
    max: Option<usize>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<anyhow::Result<Vec<FgWrite>>> {
    let credential = info.credential.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let mut conn = Client::dial(&credential, owner.0, &owner.1).await?;
            let data = Bytes::from(vec![0xa5u8; FG_WRITE_BYTES]);
            let slots = size / FG_WRITE_BYTES as u64;
            let mut rng = rand::rngs::StdRng::from_entropy();
            let mut out = Vec::with_capacity(max.unwrap_or(1 << 16));
            while !stop.load(Ordering::Relaxed) && max.is_none_or(|m| out.len() < m) {
                let off = rng.gen_range(0..slots) * FG_WRITE_BYTES as u64;
                let start = Instant::now();
                let ok = Client::write_at(&conn, object, off, data.clone()).await.is_ok();
                out.push(FgWrite { start, ns: start.elapsed().as_nanos(), ok });
                if !ok {
                    if conn.is_closed() {
                        if let Ok(c) = Client::dial(&credential, owner.0, &owner.1).await {
                            conn = c;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            anyhow::Ok(out)
        })
    })
}

async fn join_writer(h: std::thread::JoinHandle<anyhow::Result<Vec<FgWrite>>>) -> anyhow::Result<Vec<FgWrite>> {
    tokio::task::spawn_blocking(move || h.join().map_err(|_| anyhow::anyhow!("foreground writer panicked"))?).await?
}

/// Writes `count` 4 KiB blocks of random bytes spread evenly over the
/// object, so its copies are not all zero.
async fn seed(conn: &Arc<holdfast_wire::Conn>, object: u64, size: u64) -> anyhow::Result<u64> {
    let count = (size / SEED_WRITE_BYTES as u64).min(SEED_WRITES_MAX);
    let stride = size / count / BLOCK_BYTES * BLOCK_BYTES;
    let mut rng = rand::thread_rng();
    let mut buf = vec![0u8; SEED_WRITE_BYTES];
    for i in 0..count {
        rng.fill(&mut buf[..]);
        Client::write_at(conn, object, i * stride, Bytes::copy_from_slice(&buf)).await?;
    }
    Ok(count * SEED_WRITE_BYTES as u64)
}

/// The object as node `node`'s directory sees it (one control call; the
/// owner's view, which its own state changes reach first).
async fn view_at(client: &Client, node: NodeId, name: &str) -> anyhow::Result<ObjectView> {
    match client.control_at(node, &ControlRequest::Lookup { name: name.to_string() }).await? {
        ControlReply::Object(o) => Ok(o),
        other => anyhow::bail!("lookup of {name} at node {node}: unexpected reply {other:?}"),
    }
}

fn component_state(o: &ObjectView, node: NodeId) -> Option<ComponentState> {
    o.components.iter().find(|c| c.node == node).map(|c| c.state)
}

/// Seconds since midnight UTC of a node.log line (`2024-01-02T03:04:05.678901Z ...`).
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?;
    let tod = stamp.split_once('T')?.1.trim_end_matches('Z');
    let mut parts = tod.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// The owner's own account of the rebuild from its node.log: seconds from
/// its last "rebuilding component" line for (object, node) to "rebuilt
/// component is ACTIVE". A cross-check of the polled figure.
fn rebuild_s_from_log(log: &str, object: u64, node: NodeId) -> Option<f64> {
    let (o, n) = (format!("object={object}"), format!("node={node}"));
    let ours = |l: &&str| {
        let mut toks = l.split_whitespace();
        let mut toks2 = l.split_whitespace();
        toks.any(|t| t == o) && toks2.any(|t| t == n)
    };
    let lines: Vec<&str> = log.lines().filter(ours).collect();
    let end = lines.iter().rposition(|l| l.contains("rebuilt component is ACTIVE"))?;
    let start = lines[..end].iter().rposition(|l| l.contains("rebuilding component"))?;
    let mut d = log_time(lines[end])? - log_time(lines[start])?;
    if d < 0.0 {
        d += 86_400.0;
    }
    Some(d)
}

/// What [`kill_restart_and_watch`] saw.
struct Watched {
    state_before_restart: Option<ComponentState>,
    resyncing_before_restart: bool,
    down_ms: f64,
    restarted: Instant,
    /// First poll after the restart that showed the component RESYNCING.
    resyncing_seen: Option<Instant>,
    /// When the owner started copying, from its progress report
    /// (`done_bytes / rate_bytes_per_s` before the poll).
    copy_started: Option<Instant>,
    /// First poll that showed the component ACTIVE again.
    active: Instant,
    polls: u64,
    /// Longest time the owner's reported progress stood still.
    max_stall: Duration,
}

/// SIGKILLs `victim`, starts it again, and polls the owner every 10 ms
/// until the victim's component is ACTIVE again.
async fn kill_restart_and_watch(
    cluster: &mut BenchCluster,
    client: &Client,
    name: &str,
    object: u64,
    owner: NodeId,
    victim: NodeId,
    size: u64,
) -> anyhow::Result<Watched> {
    // Some foreground writes before the kill.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.kill_node(victim)?;
    let killed_at = Instant::now();
    // The running writer makes the owner commit the dead copy ABSENT.
    let mut state_before_restart = None;
    while killed_at.elapsed() < Duration::from_secs(10) {
        if let Ok(v) = view_at(client, owner, name).await {
            state_before_restart = component_state(&v, victim);
            if state_before_restart != Some(ComponentState::Active) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
    let down_ms = killed_at.elapsed().as_secs_f64() * 1000.0;
    cluster.restart_node(victim)?;
    let restarted = Instant::now();
    let mut left_active = state_before_restart.is_some_and(|s| s != ComponentState::Active);
    let (mut resyncing_seen, mut copy_started, mut copy_started_exact) = (None, None, false);
    let mut polls = 0u64;
    let mut last = None;
    let (mut progress_since, mut max_stall): (Option<(u64, Instant)>, Duration) = (None, Duration::ZERO);
    let limit = Duration::from_secs(120 + size / (50 << 20));
    loop {
        anyhow::ensure!(
            restarted.elapsed() < limit,
            "node {victim}'s component of {name} not ACTIVE {} s after restart (last state {:?}, RESYNCING seen: {})",
            limit.as_secs(),
            last,
            resyncing_seen.is_some()
        );
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        let Ok(v) = view_at(client, owner, name).await else { continue };
        let now = Instant::now();
        polls += 1;
        anyhow::ensure!(v.owner == owner, "ownership of {name} moved from node {owner} to node {} during the rebuild", v.owner);
        let s = component_state(&v, victim);
        last = s;
        if s != Some(ComponentState::Active) {
            left_active = true;
            if s == Some(ComponentState::Resyncing) {
                resyncing_seen.get_or_insert(now);
            }
            // The owner's copy: the progress entry exists only while it runs.
            if let Ok(ControlReply::Resyncs { resyncs }) = client.control_at(owner, &ControlRequest::ResyncProgress).await {
                let now = Instant::now();
                if let Some(r) = resyncs.iter().find(|r| r.object == object && r.node == victim) {
                    match progress_since {
                        Some((done, since)) if done == r.done_bytes => max_stall = max_stall.max(now - since),
                        _ => progress_since = Some((r.done_bytes, now)),
                    }
                    if r.done_bytes > 0 && r.rate_bytes_per_s > 0.0 && !copy_started_exact {
                        let ran = Duration::from_secs_f64(r.done_bytes as f64 / r.rate_bytes_per_s);
                        copy_started = Some(now.checked_sub(ran).unwrap_or(now));
                        copy_started_exact = true;
                    } else if copy_started.is_none() {
                        copy_started = Some(now);
                    }
                }
            }
        }
        match s {
            Some(ComponentState::Active) if left_active => {
                return Ok(Watched {
                    state_before_restart,
                    resyncing_before_restart: state_before_restart == Some(ComponentState::Resyncing),
                    down_ms,
                    restarted,
                    resyncing_seen,
                    copy_started,
                    active: now,
                    polls,
                    max_stall,
                });
            }
            Some(_) => {}
            None => anyhow::bail!("node {victim} lost its component of {name}"),
        }
    }
}

pub fn run(dir: Option<&Path>, a: ResyncArgs) -> anyhow::Result<()> {
    require_own_cluster(dir, "resync")?;
    let size = parse_size(&a.size)?;
    anyhow::ensure!(
        (SIZE_MIN..=SIZE_MAX).contains(&size) && size.is_multiple_of(BLOCK_BYTES),
        "--size must be a multiple of 4KiB from {} to {} (the temporary cluster's 3 copies share this machine's RAM), got {}",
        human_bytes(SIZE_MIN),
        human_bytes(SIZE_MAX),
        a.size
    );
    anyhow::ensure!(a.samples >= 100, "--samples must be at least 100");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut cluster = BenchCluster::open(None).await?;
        let r = measure(&mut cluster, &a, size).await;
        if r.is_err() || a.keep_dir {
            if let Some(d) = cluster.keep_dir() {
                eprintln!("cluster directory kept (node-N/node.log): {}", d.display());
            }
        }
        r
    })
}

async fn measure(cluster: &mut BenchCluster, a: &ResyncArgs, size: u64) -> anyhow::Result<()> {
    let stream = tokio::task::spawn_blocking(|| stream_gbps(STREAM_SECONDS)).await??;

    let client = Client::from_cluster(&cluster.info);
    let name = format!("bench-resync-{:08x}", rand::random::<u32>());
    let o = client.create_object(ControlRequest::CreateObject { name: name.clone(), kind: ObjectKind::Memory, size_bytes: size, replicas: 3 }).await?;
    let owner = (o.owner, o.owner_addr.clone());
    let conn = Client::dial(&cluster.info.credential, o.owner, &o.owner_addr).await?;
    let seeded = seed(&conn, o.id, size).await?;
    drop(conn);

    // Idle baseline: the same writer alone, first tenth discarded as warm-up.
    let warm = a.samples / 10;
    let idle = spawn_fg_writer(&cluster.info, owner.clone(), o.id, size, Some(a.samples + warm), Arc::new(AtomicBool::new(false)));
    let idle = join_writer(idle).await?;
    let idle_failed = idle.iter().filter(|w| !w.ok).count();
    anyhow::ensure!(idle_failed == 0, "{idle_failed} foreground writes failed on the idle cluster");
    let mut idle_lat = Samples::with_capacity(a.samples);
    for w in &idle[warm..] {
        idle_lat.push_ns(w.ns);
    }

    let victim = o.components.iter().map(|c| c.node).filter(|&n| n != o.owner).min().context("the object has no copy off its owner")?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_fg_writer(&cluster.info, owner.clone(), o.id, size, None, stop.clone());
    let timed = kill_restart_and_watch(cluster, &client, &name, o.id, o.owner, victim, size).await;
    stop.store(true, Ordering::Relaxed);
    let fg = join_writer(writer).await?;
    let t = timed?;

    let mut notes = Vec::new();
    if t.resyncing_before_restart {
        notes.push(format!(
            "the owner committed node {victim}'s component RESYNCING before the node was restarted (it started a rebuild toward the dead host, which then waited for the connection)"
        ));
    }
    let (from, source) = match (t.copy_started, t.resyncing_seen) {
        (Some(c), _) => (c, "owner_progress"),
        (None, Some(r)) => {
            notes.push("the owner's progress report was never seen; rebuild timed from the first RESYNCING poll after the restart".into());
            (r, "resyncing_poll")
        }
        (None, None) => {
            notes.push(format!(
                "neither RESYNCING nor the owner's progress was seen in {} polls every {POLL_MS} ms: the component went from {} to active between polls; rebuild timed from the restart (includes the node's start-up)",
                t.polls,
                t.state_before_restart.map(|s| s.as_str()).unwrap_or("?")
            ));
            (t.restarted, "restart")
        }
    };
    let active = t.active;
    let rebuild_s = (active - from).as_secs_f64();
    let rebuild_gbps = size as f64 / rebuild_s / 1e9;
    let mut rs_lat = Samples::with_capacity(fg.len());
    let mut rs_failed = 0usize;
    for w in fg.iter().filter(|w| w.start >= from && w.start <= active) {
        if w.ok {
            rs_lat.push_ns(w.ns);
        } else {
            rs_failed += 1;
        }
    }
    let fg_failed_total = fg.iter().filter(|w| !w.ok).count();
    let log = std::fs::read_to_string(cluster.node_log(o.owner)).unwrap_or_default();
    let log_s = rebuild_s_from_log(&log, o.id, victim);

    let idle_p99 = idle_lat.percentile(99.0);
    let rs_p99 = (rs_lat.len() > 0).then(|| rs_lat.percentile(99.0));
    if rs_lat.len() == 0 {
        notes.push("no foreground write was acknowledged inside the rebuild window, so fg_p99_resync_us is null".into());
    }
    let mut out = json!({
        "cluster": cluster.label(),
        "object": name,
        "size_bytes": size,
        "seeded_bytes": seeded,
        "owner": o.owner,
        "restarted_node": victim,
        "stream_gbps": round3(stream),
        "rebuild_gbps": round3(rebuild_gbps),
        "rebuild_ratio": round3(rebuild_gbps / stream),
        "rebuild_s": round3(rebuild_s),
        "rebuild_start": source,
        "rebuild_s_polled": t.resyncing_seen.map(|r| round3((active - r).as_secs_f64())),
        "rebuild_s_owner_log": log_s.map(round3),
        "restart_to_active_s": round3((active - t.restarted).as_secs_f64()),
        "state_before_restart": t.state_before_restart.map(|s| s.as_str()),
        "killed_to_restart_ms": round1(t.down_ms),
        "polls": t.polls,
        "rebuild_max_stall_ms": round1(t.max_stall.as_secs_f64() * 1000.0),
        "fg_p50_idle_us": round1(idle_lat.percentile(50.0)),
        "fg_p99_idle_us": round1(idle_p99),
        "fg_p50_resync_us": (rs_lat.len() > 0).then(|| round1(rs_lat.percentile(50.0))),
        "fg_p99_resync_us": rs_p99.map(round1),
        "fg_samples_idle": a.samples,
        "fg_samples_resync": rs_lat.len(),
        "fg_failed_resync": rs_failed,
        "fg_failed_total": fg_failed_total,
    });
    if !notes.is_empty() {
        out["note"] = json!(notes.join("; "));
    }
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("bench resync on {} (object {name}, {} memory object, 3 copies; node {victim} killed and restarted)", cluster.label(), human_bytes(size));
        for (k, v) in out.as_object().expect("object") {
            println!("  {k:<22} {v}");
        }
        println!("targets: rebuild_ratio >= 0.5, fg_p99_resync_us <= 2 x fg_p99_idle_us");
    }
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
