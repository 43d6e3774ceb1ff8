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

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use holdfast_client::Client;
use holdfast_types::NodeId;
use serde_json::json;

use super::cluster::{require_own_cluster, wait_all_active, BenchCluster};
use super::stats::round1;

const TRIALS_MAX: usize = 100;
const BASELINE_RUNS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
const USER: &str = "bench";
/// The client scripts, so the benchmark runs from the binary alone.
const FAILOVER_PY: &str = include_str!("../../../../tests/smb/failover.py");
const TEST_PERSISTENT_PY: &str = include_str!("../../../../tests/smb/test_persistent.py");

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

fn find_python(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let mut tried = Vec::new();
    let candidates: Vec<PathBuf> = match given {
        Some(p) => vec![p],
        None => {
            let mut v = Vec::new();
            if let Some(venv) = std::env::var_os("HOLDFAST_SMB_VENV") {
                v.push(PathBuf::from(venv).join("bin/python3"));
            }
            v.push(PathBuf::from("target/smb-venv/bin/python3"));
            v.push(PathBuf::from("python3"));
            v
        }
    };
    for py in candidates {
        let ok = Command::new(&py).args(["-c", "import smbprotocol"]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py);
        }
        tried.push(py.display().to_string());
    }
    bail!("no Python with smbprotocol (tried {}); run scripts/install-deps.sh or pass --python", tried.join(", "))
}

fn unix_ms_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// One `failover.py bench` client holding a persistent handle.
struct Holder {
    child: Child,
    out: BufReader<ChildStdout>,
    seen: String,
}

impl Holder {
    fn start(py: &Path, script: &Path, addr: &str, password: &str, state: &Path) -> anyhow::Result<Holder> {
        let (host, port) = addr.rsplit_once(':').context("service address is not IP:PORT")?;
        let mut child = Command::new(py)
            .arg(script)
            .args(["bench", &state.display().to_string()])
            .env("SMB_HOST", host)
            .env("SMB_PORT", port)
            .env("SMB_USER", USER)
            .env("SMB_PASSWORD", password)
            .env("SMB_SHARE", "share")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", py.display()))?;
        let out = BufReader::new(child.stdout.take().context("client stdout")?);
        let mut h = Holder { child, out, seen: String::new() };
        h.wait_line("READY")?;
        Ok(h)
    }

    /// Reads lines until one starts with `prefix`; returns it.
    fn wait_line(&mut self, prefix: &str) -> anyhow::Result<String> {
        loop {
            let mut line = String::new();
            if self.out.read_line(&mut line)? == 0 {
                let st = self.child.wait()?;
                bail!("the smbprotocol client exited ({st}) before {prefix}:\n{}", self.seen);
            }
            self.seen.push_str(&line);
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    }

    /// Sends `cmd`, waits for `RECLAIMED T0 T1`; returns (t0, t1) in Unix ms.
    fn reclaim(mut self, cmd: &str) -> anyhow::Result<(f64, f64)> {
        writeln!(self.child.stdin.as_mut().context("client stdin")?, "{cmd}")?;
        let line = self.wait_line("RECLAIMED")?;
        let mut it = line.split_whitespace().skip(1).map(|x| x.parse::<f64>());
        let (Some(Ok(t0)), Some(Ok(t1))) = (it.next(), it.next()) else { bail!("bad client line {line:?}") };
        let st = self.child.wait()?;
        anyhow::ensure!(st.success(), "the smbprotocol client failed ({st}):\n{}", self.seen);
        Ok((t0, t1))
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The node the service is placed on, once its smbd answers there.
async fn service_ready(client: &Client, dir: &Path, name: &str, addr: &str) -> anyhow::Result<NodeId> {
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
    let scripts = dir.join("bench-smb");
    std::fs::create_dir_all(&scripts)?;
    std::fs::write(scripts.join("failover.py"), FAILOVER_PY)?;
    std::fs::write(scripts.join("test_persistent.py"), TEST_PERSISTENT_PY)?;
    let script = scripts.join("failover.py");
    let password: String = {
        use rand::Rng;
        rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(20).map(char::from).collect()
    };
    let mut users = holdfast_smb_security::Users::load(&dir)?;
    users.add(USER, &password)?;
    users.save(&dir)?;

    let client = Arc::new(Client::from_cluster(&cluster.info));
    crate::volumes::ensure_volumes(&client, &cluster.info).await?;
    let svc = cluster.info.file.services.first().context("the temporary cluster has no service")?.clone();
    let vol = cluster.info.file.volumes.first().context("no volume")?.clone();
    let state = scripts.join("state.json");

    // Baseline: the same reclaim after a dropped connection, no failover.
    service_ready(&client, &dir, &svc.name, &svc.listen).await?;
    let mut baseline = Vec::with_capacity(BASELINE_RUNS);
    for _ in 0..BASELINE_RUNS {
        let (t0, t1) = Holder::start(py, &script, &svc.listen, &password, &state)?.reclaim("drop")?;
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
        let holder = Holder::start(py, &script, &svc.listen, &password, &state).with_context(|| trial.clone())?;
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
