//! Test harness: a real cluster of `holdfast node` processes on loopback,
//! configured by the real `holdfast init`, driven by the real CLI and the
//! client library.

#![allow(dead_code)]

pub mod smbpy;

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
    /// No SMB service is defined (tests start smbd by hand, see
    /// [`start_smbd`]; [`TestCluster::start_with`] with `--smb-port`
    /// defines one, which the nodes run).
    pub fn start(tag: &str, nodes: u32) -> TestCluster {
        let dir = temp_dir(tag);
        let base = free_base_port(nodes as u16);
        let out = Command::new(BIN)
            .args(["--dir", dir.to_str().expect("utf8"), "init", "--nodes", &nodes.to_string(), "--base-port", &base.to_string(), "--memory", "1GiB", "--no-smb-service"])
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
        self.start_node_env(id, &[]);
    }

    /// `start_node` with extra environment variables for the node process.
    pub fn start_node_env(&mut self, id: u64, env: &[(&str, &str)]) {
        ensure_smbd_user();
        let cfg = self.dir.join(format!("node-{id}/node.toml"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(format!("node-{id}/node.log"))).expect("log");
        let child = Command::new(BIN)
            .args(["node", "--config", cfg.to_str().expect("utf8")])
            .envs(env.iter().copied())
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

/// Bytes of one writer slot.
pub const SLOT_BYTES: usize = 512;

/// The content the writer puts in slot `i`: recognisable and distinct.
pub fn slot_content(i: u64) -> Vec<u8> {
    let mut v = pattern(SLOT_BYTES, i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// A writer that fills slots 0, 1, 2, ... of an object once each, retrying
/// a slot until it is acknowledged, and records what was acknowledged.
pub struct Writer {
    pub acked: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub handle: tokio::task::JoinHandle<Result<u64, String>>,
}

impl Writer {
    pub fn start(client: std::sync::Arc<Client>, object: &str, slots_max: u64) -> Writer {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let acked = std::sync::Arc::new(AtomicU64::new(0));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (a, s, name) = (acked.clone(), stop.clone(), object.to_string());
        let handle = tokio::spawn(async move {
            let mut i = 0u64;
            while i < slots_max && !s.load(Ordering::Relaxed) {
                let data = bytes::Bytes::from(slot_content(i));
                // The client rides through failovers itself; an error here
                // means the object stayed unavailable for its whole wait.
                client.write(&name, i * SLOT_BYTES as u64, data).await.map_err(|e| format!("slot {i}: {e}"))?;
                i += 1;
                a.store(i, Ordering::Release);
            }
            Ok(i)
        });
        Writer { acked, stop, handle }
    }

    pub fn acked(&self) -> u64 {
        self.acked.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until `n` slots are acknowledged (bounded).
    pub async fn wait_acked(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acked() < n {
            assert!(Instant::now() < deadline, "writer stalled at {} of {n} slots", self.acked());
            assert!(!self.handle.is_finished(), "writer ended early at {}", self.acked());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.await.expect("writer task").unwrap_or_else(|e| panic!("writer failed: {e}"))
    }
}

/// Reads `len` bytes of `node`'s own component of `object`.
pub async fn component_bytes(client: &Client, node: u64, object: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    let step = 4 << 20;
    let mut at = 0;
    while at < len {
        let n = step.min(len - at) as u32;
        out.extend_from_slice(&client.component_read(node, object, at, n).await.unwrap_or_else(|e| panic!("read node {node}: {e}")));
        at += n as u64;
    }
    out
}

/// Every ACTIVE component holds identical bytes, and each of the first
/// `acked` slots holds what the writer wrote there. Returns the ACTIVE nodes.
pub async fn check_acked_everywhere(c: &TestCluster, name: &str, acked: u64) -> Vec<u64> {
    let client = c.client();
    // The leader's view: a follower (say, a host that just restarted) may
    // not have applied the last ACTIVE commit yet.
    let status = c.status_async().await;
    let view = status.objects.iter().find(|o| o.name == name).expect("object in status");
    let active: Vec<u64> =
        view.components.iter().filter(|x| x.state.as_str() == "active").map(|x| x.node).collect();
    assert!(!active.is_empty(), "no ACTIVE component of {name}");
    let len = acked * SLOT_BYTES as u64;
    let reference = component_bytes(&client, active[0], view.id, len.max(SLOT_BYTES as u64)).await;
    for i in 0..acked {
        let at = (i as usize) * SLOT_BYTES;
        assert!(reference[at..at + SLOT_BYTES] == slot_content(i)[..], "acknowledged slot {i} lost on node {}", active[0]);
    }
    for &n in &active[1..] {
        let other = component_bytes(&client, n, view.id, len.max(SLOT_BYTES as u64)).await;
        assert!(other == reference, "node {n} differs from node {}", active[0]);
    }
    active
}

impl TestCluster {
    /// Waits until every component of every object is ACTIVE and all nodes are up.
    pub fn wait_all_active(&self, nodes: usize) -> StatusView {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = self.wait_healthy(nodes);
            if s.objects.iter().all(|o| o.components.iter().all(|c| c.state.as_str() == "active")) {
                return s;
            }
            assert!(Instant::now() < deadline, "components not all ACTIVE in 90 s: {:?}\n{}", s.objects, self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Cluster status through the client library, for async tests.
    pub async fn status_async(&self) -> StatusView {
        let client = self.client();
        client.status().await.expect("status")
    }

    pub fn start_with(tag: &str, nodes: u32, extra: &[&str]) -> TestCluster {
        let dir = temp_dir(tag);
        let base = free_base_port(nodes as u16);
        let mut args = vec!["--dir".to_string(), dir.to_str().expect("utf8").to_string(), "init".into(), "--nodes".into(), nodes.to_string(), "--base-port".into(), base.to_string(), "--memory".into(), "2GiB".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        // Parallel test clusters must not all run a service on the default
        // port: a service only when the test asks for one.
        if !extra.contains(&"--smb-port") {
            args.push("--no-smb-service".into());
        }
        let out = Command::new(BIN).args(&args).output().expect("run holdfast init");
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        let info = ClusterInfo::load(&dir).expect("load cluster");
        let mut c = TestCluster { dir, info, children: HashMap::new() };
        for id in 1..=nodes as u64 {
            c.start_node(id);
        }
        c
    }
}

/// The user smbd drops to when started as root (the default
/// `[service_host] smbd_user`).
pub const SMBD_USER: &str = "holdfast-smbd";

/// A node run as root with a service refuses to start without the smbd
/// user, and `holdfast up` creates it, but the tests start nodes
/// themselves: create it as `scripts/install-deps.sh` and a package's
/// postinst would. Parallel test processes may race on /etc/passwd's lock,
/// so a failed `useradd` is retried while the user is still missing.
pub fn ensure_smbd_user() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let exists = || Command::new("id").arg(SMBD_USER).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        for _ in 0..20 {
            if exists() {
                return;
            }
            let _ = Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SMBD_USER]).status();
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(exists(), "cannot create system user {SMBD_USER} (useradd)");
    });
}

/// The uid and gid of the smbd user.
pub fn smbd_ids() -> (u32, u32) {
    ensure_smbd_user();
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, SMBD_USER]).output().expect("run id");
        String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().unwrap_or_else(|_| panic!("id {flag} {SMBD_USER}: {out:?}"))
    };
    (id("-u"), id("-g"))
}

/// A `holdfast smbd` started by a test; killed when dropped.
pub struct Smbd(Child);

impl Drop for Smbd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The node whose file server serves `share` (polls until one does).
pub fn serving_node(c: &TestCluster, share: &str) -> u64 {
    serving_node_except(c, share, None)
}

/// Like [`serving_node`], skipping node `not`.
pub fn serving_node_except(c: &TestCluster, share: &str, not: Option<u64>) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for &id in c.children.keys().filter(|&&id| Some(id) != not) {
                let sock = c.dir.join(format!("node-{id}/fs.sock"));
                if let Ok(fs) = holdfast_file_server::FsClient::connect(&sock).await {
                    if fs.shares().await.is_ok_and(|s| s.iter().any(|x| x.name == share)) {
                        return id;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no node serves {share:?}\n{}", c.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Starts `holdfast smbd` on `port` against `node`'s file server (the
/// socket the node opens to smbd, `DIR/node-N-smbd/fs.sock`: run as root,
/// as in CI, it drops to the smbd user as the node's would); config and
/// log are `DIR/TAG.toml` and `DIR/TAG.log`.
pub fn start_smbd(c: &TestCluster, node: u64, port: u16, tag: &str) -> Smbd {
    start_smbd_with(c, node, port, tag, "")
}

/// [`start_smbd`] with `extra` appended to its `smbd.toml`: top-level
/// keys, or a table such as `[limits]` (then last).
pub fn start_smbd_with(c: &TestCluster, node: u64, port: u16, tag: &str, extra: &str) -> Smbd {
    let dir = c.dir.canonicalize().unwrap();
    let cfg = format!(
        "listen = \"127.0.0.1:{port}\"\nfs_socket = \"{}\"\nusers_file = \"{}\"\n{extra}",
        dir.join(format!("node-{node}-smbd/fs.sock")).display(),
        dir.join("smb-users").display()
    );
    let path = dir.join(format!("{tag}.toml"));
    std::fs::write(&path, cfg).unwrap();
    let log = std::fs::File::create(dir.join(format!("{tag}.log"))).unwrap();
    let child = Command::new(BIN)
        .args(["smbd", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start smbd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "smbd does not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Smbd(child)
}

/// Where a supervised service runs: its node and its smbd's pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceAt {
    pub node: u64,
    pub pid: u32,
}

/// The service's address from the cluster config.
pub fn service_addr(c: &TestCluster, name: &str) -> String {
    c.info.file.services.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no service {name:?} in cluster.toml")).listen.clone()
}

/// Waits until the directory places service `name` on a node other than
/// `not_node`, that node's supervisor runs an smbd for it whose pid is not
/// `not_pid` (its pid file `DIR/node-N/smbd-NAME.pid`), and the service's
/// address accepts connections.
pub fn wait_service(c: &TestCluster, name: &str, not_node: Option<u64>, not_pid: Option<u32>) -> ServiceAt {
    let addr = service_addr(c, name);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        let out = c.cli(&["status", "--json"]);
        if out.status.success() {
            let s: StatusView = serde_json::from_slice(&out.stdout).expect("status JSON");
            match s.services.iter().find(|x| x.name == name) {
                Some(sv) if Some(sv.node) != not_node => {
                    let pid_file = c.dir.join(format!("node-{}/smbd-{name}.pid", sv.node));
                    let pid = std::fs::read_to_string(&pid_file).ok().and_then(|t| t.trim().parse::<u32>().ok());
                    match pid {
                        Some(pid) if Some(pid) != not_pid && std::net::TcpStream::connect(&addr).is_ok() => {
                            return ServiceAt { node: sv.node, pid };
                        }
                        _ => last = format!("placed on node {}, pid {pid:?}", sv.node),
                    }
                }
                Some(sv) => last = format!("still placed on node {}", sv.node),
                None => last = "not in the directory".into(),
            }
        }
        assert!(Instant::now() < deadline, "service {name} not running in 60 s ({last})\n{}", c.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The smbd log of service `name` on `node`.
pub fn service_log(c: &TestCluster, node: u64, name: &str) -> String {
    std::fs::read_to_string(c.dir.join(format!("node-{node}/smbd-{name}.log"))).unwrap_or_default()
}

/// A hook that records `NODE ACTION IP NAME LISTEN` per call in `hook.log`
/// beside it.
pub fn recording_hook(tag: &str) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("hook.sh");
    let log = dir.join("hook.log");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$HOLDFAST_NODE $1 $2 $3 $HOLDFAST_SERVICE_LISTEN\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

pub fn hook_calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The hook's calls once there are at least `n` (the old host runs
/// `remove` after reaping its smbd, which may be after the new one binds).
pub fn hook_calls_at_least(log: &Path, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let calls = hook_calls(log);
        if calls.len() >= n || std::time::Instant::now() >= deadline {
            return calls;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}


/// A 3-node cluster with a 64 MiB share volume and SMB user `user`, whose
/// share `share` is served by an smbd this test starts by hand on a free
/// port against the serving node: (cluster, smbd, its `ip:port`).
pub fn smb_cluster_with_smbd(tag: &str, user: &str, password: &str) -> (TestCluster, Smbd, String) {
    let c = TestCluster::start_with(tag, 3, &["--volume-size", "64MiB"]);
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", user, "--password", password]);
    let node = serving_node(&c, "share");
    let port = free_base_port(1) + 1;
    let smbd = start_smbd(&c, node, port, "smbd");
    (c, smbd, format!("127.0.0.1:{port}"))
}

/// A 3-node cluster with a 64 MiB share volume and SMB user `user`, whose
/// service `share` the node daemons run on a port of its own: (cluster,
/// the service's `ip:port`, where it runs).
pub fn smb_cluster_with_service(tag: &str, user: &str, password: &str) -> (TestCluster, String, ServiceAt) {
    let port = free_base_port(1) + 1;
    let c = TestCluster::start_with(tag, 3, &["--volume-size", "64MiB", "--smb-port", &port.to_string()]);
    c.wait_healthy(3);
    c.cli_ok(&["volume", "ensure"]);
    c.cli_ok(&["user", "add", user, "--password", password]);
    let at = wait_service(&c, "share", None, None);
    let addr = service_addr(&c, "share");
    (c, addr, at)
}
