//! `holdfast bench failover`: from SIGKILL of the host running the SMB
//! service to the client's successful reclaim of its persistent handle on
//! the same address (DESIGN.md target: ≤ 2 s with default settings).
//!
//! The client is Python smbprotocol (`tests/smb/failover.py bench`, built
//! into the binary and written to the cluster directory). Per trial: every
//! copy of the share's two objects ACTIVE and the service listening; the
//! client opens a file with a persistent handle and writes; the service's
//! host gets SIGKILL (t0, wall clock) and the client is told at once; it
//! drops its connection and reconnects every 20 ms until the survivor's
//! smbd answers, then DH2C and a read of its bytes (t1, wall clock, taken
//! by the client). The killed node is restarted and rebuilt before the
//! next trial.
//!
//! Baseline, same run and same client code: the reclaim after the client
//! drops its own connection while the service stays where it is, so the
//! ratio isolates what the failover adds. Needs its own temporary cluster.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use holdfast_client::Client;
use holdfast_types::NodeId;
use serde_json::json;

use super::cluster::{require_own_cluster, wait_all_active, BenchCluster};
use super::stats::round1;
use crate::smbpy::{find_python, unix_ms_now, write_scripts, Holder};

const TRIALS_MAX: usize = 100;
const BASELINE_RUNS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args)]
pub struct FailoverArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Host kills to time.
    #[arg(long, default_value_t = 5)]
    trials: usize,
    /// Python with smbprotocol. Default: $HOLDFAST_SMB_VENV/bin/python3,
    /// else ./target/smb-venv/bin/python3 (scripts/install-deps.sh makes
    /// it), else python3.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Keep the temporary cluster's directory (node and smbd logs) after the
    /// run. It is always kept when the run fails.
    #[arg(long)]
    keep_dir: bool,
}

/// The node the service is placed on, once its smbd answers there.
pub async fn service_ready(client: &Client, dir: &Path, name: &str, addr: &str) -> anyhow::Result<NodeId> {
    let s = client.status().await?;
    let node = s.services.iter().find(|x| x.name == name).map(|x| x.node).with_context(|| format!("service {name} not in the directory"))?;
    let pid_file = dir.join(format!("node-{node}/smbd-{name}.pid"));
    crate::cmd_service::wait_listening(&pid_file, addr, LISTEN_TIMEOUT).await?;
    Ok(node)
}

pub fn run(dir: Option<&Path>, a: FailoverArgs) -> anyhow::Result<()> {
    require_own_cluster(dir, "failover")?;
    anyhow::ensure!((1..=TRIALS_MAX).contains(&a.trials), "--trials must be from 1 to {TRIALS_MAX}, got {}", a.trials);
    let py = find_python(a.python.clone())?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut cluster = BenchCluster::start_temp(true).await?;
        let r = measure(&mut cluster, &a, &py).await;
        if r.is_err() || a.keep_dir {
            if let Some(d) = cluster.keep_dir() {
                eprintln!("cluster directory kept (node-N/node.log, node-N/smbd-share.log): {}", d.display());
            }
        }
        r
    })
}

async fn measure(cluster: &mut BenchCluster, a: &FailoverArgs, py: &Path) -> anyhow::Result<()> {
    let dir = cluster.info.dir.clone();
    let (script, password) = write_scripts(&dir)?;
    let scripts = script.parent().context("script directory")?.to_path_buf();

    let client = Arc::new(Client::from_cluster(&cluster.info));
    crate::volumes::ensure_volumes(&client, &cluster.info).await?;
    let svc = cluster.info.file.services.first().context("the temporary cluster has no service")?.clone();
    let vol = cluster.info.file.volumes.first().context("no volume")?.clone();
    let state = scripts.join("state.json");

    // Baseline: the same reclaim after a dropped connection, no failover.
    service_ready(&client, &dir, &svc.name, &svc.listen).await?;
    let mut baseline = Vec::with_capacity(BASELINE_RUNS);
    for _ in 0..BASELINE_RUNS {
        let (t0, t1) = Holder::start(py, &script, &svc.listen, &password, &state, "bench")?.reclaim("drop")?;
        baseline.push(round1(t1 - t0));
    }

    let mut ms = Vec::with_capacity(a.trials);
    let mut killed = Vec::with_capacity(a.trials);
    let mut new_node = Vec::with_capacity(a.trials);
    for i in 0..a.trials {
        let trial = format!("trial {} of {}", i + 1, a.trials);
        for object in [vol.data_object(), vol.handle_object()] {
            wait_all_active(&client, &object, 3, READY_TIMEOUT).await.with_context(|| trial.clone())?;
        }
        let node = service_ready(&client, &dir, &svc.name, &svc.listen).await.with_context(|| trial.clone())?;
        let holder = Holder::start(py, &script, &svc.listen, &password, &state, "bench").with_context(|| trial.clone())?;
        let t0 = unix_ms_now();
        cluster.kill_node(node)?;
        let (_, t1) = holder.reclaim("go").with_context(|| trial.clone())?;
        let to = service_ready(&client, &dir, &svc.name, &svc.listen).await.with_context(|| trial.clone())?;
        anyhow::ensure!(to != node, "{trial}: the service is still placed on the killed node {node}");
        if !a.json {
            eprintln!("trial {:>3}: killed node {node}, reclaimed from node {to} after {:.1} ms", i + 1, t1 - t0);
        }
        ms.push(round1(t1 - t0));
        killed.push(node);
        new_node.push(to);
        cluster.restart_node(node)?;
    }
    for object in [vol.data_object(), vol.handle_object()] {
        wait_all_active(&client, &object, 3, READY_TIMEOUT).await?;
    }

    let pct = |v: &[f64], p: f64| {
        let mut s = v.to_vec();
        s.sort_by(|x, y| x.partial_cmp(y).expect("finite"));
        let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
        s[rank.clamp(1, s.len()) - 1]
    };
    let base_p50 = pct(&baseline, 50.0);
    let p50 = pct(&ms, 50.0);
    let out = json!({
        "cluster": cluster.label(),
        "service": svc.name,
        "addr": svc.listen,
        "trials": a.trials,
        "failover_p50_ms": p50,
        "failover_max_ms": pct(&ms, 100.0),
        "failover_min_ms": pct(&ms, 0.0),
        "failover_ms": ms,
        "baseline_reclaim_p50_ms": base_p50,
        "baseline_reclaim_ms": baseline,
        "failover_over_baseline_p50": if base_p50 > 0.0 { round1(p50 / base_p50) } else { 0.0 },
        "killed": killed,
        "new_node": new_node,
    });
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("bench failover on {} (service {} at {}, Python smbprotocol client, DH2C + read)", cluster.label(), svc.name, svc.listen);
        for (k, v) in out.as_object().expect("object") {
            println!("  {k:<28} {v}");
        }
        println!("target: failover_max_ms <= 2000 (host kill to the client's successful reclaim)");
    }
    Ok(())
}
