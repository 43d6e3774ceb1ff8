//! Node processes started by `up` and by the benchmarks.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use holdfast_client::{Client, ClusterInfo};
use holdfast_wire::control::StatusView;

use crate::cluster_dir::{node_config_path, node_dir};

pub struct NodeProcs {
    pub children: Vec<(u64, Child)>,
}

/// Starts `holdfast node` for node `id` of the cluster in `dir`, logging to
/// `node-N/node.log`. The child gets SIGTERM if this process dies, so a
/// killed `up` never leaves nodes behind.
pub fn spawn_node(dir: &Path, id: u64) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("locate the holdfast binary")?;
    let log_path = node_dir(dir, id).join("node.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).with_context(|| format!("open {}", log_path.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("node").arg("--config").arg(node_config_path(dir, id)).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn().with_context(|| format!("start node {id}"))
}

impl NodeProcs {
    pub fn start(info: &ClusterInfo) -> anyhow::Result<NodeProcs> {
        let mut procs = NodeProcs { children: Vec::new() };
        for &id in info.nodes.keys() {
            procs.children.push((id, spawn_node(&info.dir, id)?));
        }
        Ok(procs)
    }

    /// Node ids whose process has exited, with how, and whether it exited
    /// cleanly (status 0).
    pub fn exited(&mut self) -> Vec<(u64, String, bool)> {
        self.children
            .iter_mut()
            .filter_map(|(id, c)| match c.try_wait() {
                Ok(Some(status)) => Some((*id, status.to_string(), status.success())),
                _ => None,
            })
            .collect()
    }

    /// SIGKILL to node `id` (its process and RAM are gone at once), reaped
    /// before returning. For failure benchmarks.
    pub fn kill(&mut self, id: u64) -> anyhow::Result<()> {
        let i = self.children.iter().position(|(n, _)| *n == id).with_context(|| format!("node {id} is not running under this process"))?;
        let (_, mut child) = self.children.remove(i);
        child.kill().with_context(|| format!("SIGKILL node {id}"))?;
        child.wait().with_context(|| format!("reap node {id}"))?;
        Ok(())
    }

    /// Starts node `id` of the cluster in `dir` again after [`NodeProcs::kill`].
    pub fn restart(&mut self, dir: &Path, id: u64) -> anyhow::Result<()> {
        anyhow::ensure!(!self.children.iter().any(|(n, _)| *n == id), "node {id} is still running");
        self.children.push((id, spawn_node(dir, id)?));
        Ok(())
    }

    /// SIGTERM to every node, then SIGKILL to those still running after 5 s.
    pub fn stop(&mut self) {
        for (_, c) in &self.children {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, c) in &mut self.children {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for NodeProcs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Asks `client` for the cluster status every `every` until `check`
/// accepts an answer or `timeout` passes. `check` returns what the caller
/// waits for, or why this answer is not it; on timeout the error is the
/// last such reason (or the last failure to get an answer).
pub async fn poll_status<T>(
    client: &Client,
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut(StatusView) -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        match client.status().await {
            Ok(s) => match check(s) {
                Ok(t) => return Ok(t),
                Err(why) => last = why,
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(every).await;
    }
    Err(last)
}

/// Waits until there is a leader and every node is up and registered.
pub async fn wait_healthy(client: &Client, nodes: usize, timeout: Duration) -> anyhow::Result<StatusView> {
    poll_status(client, timeout, Duration::from_millis(100), |s| {
        let up = s.nodes.iter().filter(|n| n.state == "up" && n.registered).count();
        if s.leader.is_some() && up == nodes {
            return Ok(s);
        }
        Err(format!("leader {:?}, {up} of {nodes} nodes up and registered", s.leader))
    })
    .await
    .map_err(|last| anyhow::anyhow!("cluster not healthy after {} s: {last}", timeout.as_secs()))
}

/// SIGKILL to node `id` of a cluster this process did not start (a running
/// `holdfast up`), and to its children (the smbd it supervises): the host
/// is gone. The processes are found in /proc by their command line
/// (`holdfast node --config DIR/node-N/node.toml`), since `up` keeps no
/// pid files. Returns the pids killed.
pub fn kill_host(dir: &Path, id: u64) -> anyhow::Result<Vec<i32>> {
    let cfg = crate::cluster_dir::node_config_path(dir, id);
    let cfg = cfg.canonicalize().unwrap_or(cfg);
    let mut node = Vec::new();
    let mut parents: Vec<(i32, i32)> = Vec::new();
    for e in std::fs::read_dir("/proc").context("read /proc")?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) {
            // The parent pid is the 2nd field after the parenthesised name.
            if let Some(ppid) = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok()) {
                parents.push((pid, ppid));
            }
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let is_node = args.iter().any(|a| a == "node")
            && args.windows(2).any(|w| w[0] == "--config" && Path::new(&w[1]).canonicalize().is_ok_and(|p| p == cfg));
        if is_node {
            node.push(pid);
        }
    }
    anyhow::ensure!(!node.is_empty(), "no running process of node {id} found (is the cluster in {} up?)", dir.display());
    let mut all = node.clone();
    all.extend(parents.iter().filter(|(_, pp)| node.contains(pp)).map(|(p, _)| *p));
    for &p in &all {
        // SAFETY: kill(2) on a pid just read from /proc; no memory is touched.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
    Ok(all)
}
