//! The cluster a benchmark runs against: a live one named with --dir, or a
//! temporary 3-node cluster started for the run and removed after it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use holdfast_client::{Client, ClusterInfo};

use crate::procs::{wait_healthy, NodeProcs};
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

impl BenchCluster {
    pub async fn open(dir: Option<&Path>) -> anyhow::Result<BenchCluster> {
        if let Some(d) = dir {
            let info = ClusterInfo::load(d).map_err(|e| anyhow::anyhow!(e))?;
            return Ok(BenchCluster { info, procs: None, temp_dir: None });
        }
        let tmp = std::env::temp_dir().join(format!("holdfast-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let args = InitArgs { nodes: 3, base_port: free_base_port(3)?, memory: "8GiB".into(), fault_injection: false };
        crate::cluster_dir::init(&tmp, &args)?;
        let info = ClusterInfo::load(&tmp).map_err(|e| anyhow::anyhow!(e))?;
        let procs = NodeProcs::start(&info)?;
        let client = Client::from_cluster(&info);
        wait_healthy(&client, 3, Duration::from_secs(60)).await?;
        Ok(BenchCluster { info, procs: Some(procs), temp_dir: Some(tmp) })
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
