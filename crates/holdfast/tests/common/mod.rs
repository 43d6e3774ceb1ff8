//! Test harness: a real cluster of `holdfast node` processes on loopback,
//! configured by the real `holdfast init`, driven by the real CLI and the
//! client library.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use holdfast_client::{Client, ClusterInfo};
use holdfast_wire::control::StatusView;

pub const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

static NEXT_PORT_BLOCK: AtomicU16 = AtomicU16::new(0);

/// A base port with `n` free ports after it, distinct per test in this
/// process and spread by pid across test binaries.
pub fn free_base_port(n: u16) -> u16 {
    loop {
        let block = NEXT_PORT_BLOCK.fetch_add(1, Ordering::Relaxed);
        let base = 21_000 + ((std::process::id() as u16 % 400) * 50 + block * 10) % 30_000;
        if (1..=n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hf-test-{tag}-{}-{}", std::process::id(), rand_suffix()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn rand_suffix() -> u32 {
    use std::time::SystemTime;
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("clock").subsec_nanos()
}

pub struct TestCluster {
    pub dir: PathBuf,
    pub info: ClusterInfo,
    pub children: HashMap<u64, Child>,
}

impl TestCluster {
    /// `holdfast init` + one `holdfast node` process per node.
    pub fn start(tag: &str, nodes: u32) -> TestCluster {
        let dir = temp_dir(tag);
        let base = free_base_port(nodes as u16);
        let out = Command::new(BIN)
            .args(["--dir", dir.to_str().expect("utf8"), "init", "--nodes", &nodes.to_string(), "--base-port", &base.to_string(), "--memory", "1GiB"])
            .output()
            .expect("run holdfast init");
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        let info = ClusterInfo::load(&dir).expect("load cluster");
        let mut c = TestCluster { dir, info, children: HashMap::new() };
        for id in 1..=nodes as u64 {
            c.start_node(id);
        }
        c
    }

    pub fn start_node(&mut self, id: u64) {
        let cfg = self.dir.join(format!("node-{id}/node.toml"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(format!("node-{id}/node.log"))).expect("log");
        let child = Command::new(BIN)
            .args(["node", "--config", cfg.to_str().expect("utf8")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn node");
        self.children.insert(id, child);
    }

    /// SIGKILL: the process and its RAM are gone at once.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.children.remove(&id) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn kill_all(&mut self) {
        let ids: Vec<u64> = self.children.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
    }

    pub fn client(&self) -> Client {
        Client::from_cluster(&self.info)
    }

    /// Runs the CLI against this cluster.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN).arg("--dir").arg(&self.dir).args(args).output().expect("run holdfast")
    }

    pub fn cli_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "holdfast {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        out.stdout
    }

    pub fn status(&self) -> StatusView {
        let out = self.cli_ok(&["status", "--json"]);
        serde_json::from_slice(&out).expect("status JSON")
    }

    /// Waits until there is a leader and `nodes` nodes are up and registered.
    pub fn wait_healthy(&self, nodes: usize) -> StatusView {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.cli(&["status", "--json"]);
            if out.status.success() {
                let s: StatusView = serde_json::from_slice(&out.stdout).expect("status JSON");
                let up = s.nodes.iter().filter(|n| n.state == "up" && n.registered).count();
                if s.leader.is_some() && up >= nodes {
                    return s;
                }
            }
            assert!(Instant::now() < deadline, "cluster not healthy in 60 s\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        for id in self.info.nodes.keys() {
            let p = self.dir.join(format!("node-{id}/node.log"));
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            s.push_str(&format!("--- node {id} log (last lines) ---\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.kill_all();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("cluster dir kept for inspection: {}", self.dir.display());
        }
    }
}

pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write data file");
    p
}

/// Deterministic pseudo-random bytes (xorshift), so failures are repeatable.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}
