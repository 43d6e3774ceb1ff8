//! The cluster a benchmark runs against: a live one named with --dir, or a
//! temporary 3-node cluster started for the run and removed after it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use holdfast_client::{Client, ClusterInfo};
use holdfast_types::ComponentState;
use holdfast_wire::control::ObjectView;

use crate::procs::{poll_status, wait_healthy, NodeProcs};
use crate::InitArgs;

pub struct BenchCluster {
    pub info: ClusterInfo,
    pub procs: Option<NodeProcs>,
    temp_dir: Option<PathBuf>,
}

/// Finds `n` consecutive free loopback ports after a base derived from our pid.
fn free_base_port(n: u16) -> anyhow::Result<u16> {
    let start = 20_000 + (std::process::id() % 2000) as u16 * 10;
    for attempt in 0..50u16 {
        let base = start.wrapping_add(attempt * 37) % 40_000 + 20_000;
        let free = (1..=n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return Ok(base);
        }
    }
    anyhow::bail!("no {n} consecutive free loopback ports found")
}

/// Failure benchmarks kill and restart node processes, which they can do
/// only to the temporary cluster they start themselves.
pub fn require_own_cluster(dir: Option<&Path>, bench: &str) -> anyhow::Result<()> {
    if let Some(d) = dir {
        anyhow::bail!(
            "bench {bench} kills and restarts nodes, so it needs its own temporary cluster; it cannot run on the live cluster in {} \
             (run it without --dir, and with HOLDFAST_DIR unset)",
            d.display()
        );
    }
    Ok(())
}

/// Waits until the directory leader reports `nodes` nodes up and registered
/// and every component of object `name` ACTIVE; returns the object. The view
/// must come from the leader itself: a restarting node replaying its log
/// can show components ACTIVE that are not any more.
pub async fn wait_all_active(client: &Client, name: &str, nodes: usize, timeout: Duration) -> anyhow::Result<ObjectView> {
    poll_status(client, timeout, Duration::from_millis(50), |s| {
        let up = s.nodes.iter().filter(|n| n.state == "up" && n.registered).count();
        let obj = s.objects.iter().find(|o| o.name == name);
        match obj {
            Some(o) if s.leader == Some(s.node) && up == nodes && o.components.iter().all(|c| c.state == ComponentState::Active) => Ok(o.clone()),
            Some(o) => {
                let comps: Vec<String> = o.components.iter().map(|c| format!("node {} {}", c.node, c.state.as_str())).collect();
                Err(format!("answered by node {}, leader {:?}, {up} of {nodes} nodes up and registered, owner {} epoch {}, components [{}]", s.node, s.leader, o.owner, o.epoch, comps.join(", ")))
            }
            None => Err(format!("answered by node {}: no object named {name:?}", s.node)),
        }
    })
    .await
    .map_err(|last| anyhow::anyhow!("object {name} not fully ACTIVE after {} s: {last}", timeout.as_secs()))
}

impl BenchCluster {
    pub async fn open(dir: Option<&Path>) -> anyhow::Result<BenchCluster> {
        if let Some(d) = dir {
            let info = ClusterInfo::load(d).map_err(|e| anyhow::anyhow!(e))?;
            return Ok(BenchCluster { info, procs: None, temp_dir: None });
        }
        BenchCluster::start_temp(false).await
    }

    /// A temporary 3-node cluster; with `service`, the default SMB service
    /// `share` on 127.0.0.1 and a free port, run by the nodes.
    pub async fn start_temp(service: bool) -> anyhow::Result<BenchCluster> {
        Self::start_temp_with(service, crate::TimingArgs::DEFAULT).await
    }

    /// [`BenchCluster::start_temp`] with the given failure-detection timing.
    pub async fn start_temp_with(service: bool, timing: crate::TimingArgs) -> anyhow::Result<BenchCluster> {
        let tmp = std::env::temp_dir().join(format!("holdfast-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let args = InitArgs {
            nodes: 3,
            // Nodes on base+1..=base+3; a service on base+4.
            base_port: free_base_port(if service { 4 } else { 3 })?,
            node_addrs: Vec::new(),
            memory: "8GiB".into(),
            fault_injection: false,
            repair_delay_ms: 3_600_000,
            volume_size: "1GiB".into(),
            // Room for the handle benchmark's bursts of puts.
            handle_size: "64MiB".into(),
            timing,
        };
        if service {
            let smb_port = args.base_port + 4;
            crate::cluster_dir::init_with_service(&tmp, &args, &crate::SmbArgs { smb_port, no_smb_service: false, address_hook: None, services: Vec::new() })?;
        } else {
            crate::cluster_dir::init(&tmp, &args)?;
        }
        let info = ClusterInfo::load(&tmp).map_err(|e| anyhow::anyhow!(e))?;
        // As `up`: a node run as root with a service needs smbd's user.
        crate::cmd_smb::ensure_smbd_user(&info.dir)?;
        let procs = NodeProcs::start(&info)?;
        let client = Client::from_cluster(&info);
        wait_healthy(&client, 3, Duration::from_secs(60)).await?;
        Ok(BenchCluster { info, procs: Some(procs), temp_dir: Some(tmp) })
    }

    /// The node processes, when this run started them (no --dir).
    fn own_procs(&mut self) -> anyhow::Result<&mut NodeProcs> {
        self.procs.as_mut().context("this benchmark kills and restarts nodes, so it needs its own temporary cluster, not a live one given with --dir")
    }

    /// SIGKILL to node `id` of the temporary cluster.
    pub fn kill_node(&mut self, id: u64) -> anyhow::Result<()> {
        self.own_procs()?.kill(id)
    }

    /// The host of node `id` dies (SIGKILL to its processes): on the
    /// temporary cluster through its child, on a live one (`up`) found in
    /// /proc.
    pub fn kill_host(&mut self, id: u64) -> anyhow::Result<()> {
        if self.procs.is_some() {
            return self.kill_node(id);
        }
        crate::procs::kill_host(&self.info.dir, id).map(|_| ())
    }

    /// The host of node `id` comes back: restarted here on the temporary
    /// cluster; on a live one, `holdfast up` restarts it, and this waits
    /// until the directory sees it up.
    pub async fn host_back(&mut self, id: u64) -> anyhow::Result<()> {
        if self.procs.is_some() {
            return self.restart_node(id);
        }
        let client = Client::from_cluster(&self.info);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(s) = client.status().await {
                if s.nodes.iter().any(|n| n.id == id && n.state == "up" && n.registered) {
                    return Ok(());
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "node {id} did not come back in 60 s: `holdfast up` restarts a node that dies; is it still running?");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Starts node `id` of the temporary cluster again.
    pub fn restart_node(&mut self, id: u64) -> anyhow::Result<()> {
        let dir = self.info.dir.clone();
        self.own_procs()?.restart(&dir, id)
    }

    /// Node `id`'s log file.
    pub fn node_log(&self, id: u64) -> PathBuf {
        crate::cluster_dir::node_dir(&self.info.dir, id).join("node.log")
    }

    /// Leaves the temporary cluster directory (configs, node logs) in place
    /// when the benchmark ends; returns it. Nodes are still stopped.
    pub fn keep_dir(&mut self) -> Option<PathBuf> {
        self.temp_dir.take()
    }

    pub fn label(&self) -> String {
        if self.temp_dir.is_some() {
            "temporary 3-node cluster".into()
        } else {
            self.info.dir.display().to_string()
        }
    }
}

impl Drop for BenchCluster {
    fn drop(&mut self) {
        if let Some(mut p) = self.procs.take() {
            p.stop();
        }
        if let Some(t) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}
