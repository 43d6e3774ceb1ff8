//! The service supervisor: runs one `holdfast smbd` per SMB service that
//! the directory places on this host, once this host's file server has the
//! service's volume mounted (docs/services.md).
//!
//! - placed here and mounted, no child: run the address hook `add` (once
//!   per stay on this host), write `smbd-NAME.toml`, start the child;
//! - the child exited while still wanted: log it and start it again after
//!   a backoff (100 ms doubling to 5 s; a child that ran 10 s resets it).
//!   A new smbd that finds the address still bound by a dying one exits,
//!   and this restart is its retry;
//! - placed elsewhere, volume unmounted, or address changed: SIGTERM, then
//!   SIGKILL after `STOP_GRACE_MS`, reap, hook `remove`;
//! - node shutdown: every child is stopped the same way.
//!
//! It runs on its own OS thread, not on the runtime: hooks and stops block
//! for bounded times, and `PR_SET_PDEATHSIG` ties each child to the thread
//! that forked it, so that thread must live as long as the node process
//! (then a `kill -9` of the node takes its smbd with it, which frees the
//! address for the survivor).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdfast_file_server::system_user::SystemUser;
use holdfast_file_server::FileServer;
use holdfast_types::share::{service_volume, ServiceDef};
use serde::Serialize;

use crate::config::SharesSection;
use crate::node::NodeInner;

/// How often placement is compared with the running children.
const TICK_MS: u64 = 100;
/// The supervisor fences this long before the lease ends (and wakes in
/// time to): an smbd answers requests that need no file server (NEGOTIATE,
/// SESSION_SETUP, ECHO) by itself, and none of those may go out after the
/// lease, when a new owner may already answer on the same address.
const FENCE_AHEAD_MS: u64 = 50;
const RESTART_BACKOFF_MS_MIN: u64 = 100;
const RESTART_BACKOFF_MS_MAX: u64 = 5_000;
/// A child that ran this long before exiting restarts without backoff
/// history: it was not crash-looping.
const STABLE_RUN_MS: u64 = 10_000;
/// SIGTERM first; SIGKILL if the child has not exited after this.
const STOP_GRACE_MS: u64 = 3_000;
/// How long a takeover waits for its new smbd before it sends tickles.
const TICKLE_LISTEN_WAIT_MS: u64 = 2_000;
/// A connection list is sent again this often even when unchanged.
const CONNS_RESEND_MS: u64 = 5_000;
/// The user file `holdfast user` writes, next to the cluster config.
const USERS_FILE: &str = "smb-users";

/// What `holdfast smbd` reads (`holdfast_smb_server::SmbdConfig`, which
/// refuses unknown fields, so a mismatch shows in the smbd log at once).
/// Not that type itself: the node does not link the SMB service.
#[derive(Serialize)]
struct SmbdToml<'a> {
    listen: &'a str,
    fs_socket: &'a Path,
    users_file: &'a Path,
    server_name: &'a str,
    shares: &'a [String],
    conns_file: &'a Path,
    /// `[service_host] min_dialect`; none: smbd's default (every dialect).
    #[serde(skip_serializing_if = "Option::is_none")]
    min_dialect: Option<&'a str>,
    /// `[service_host] smbd_user`: who smbd becomes after binding, when
    /// started as root (this node runs as root).
    user: &'a str,
}

/// One service this node runs (or is about to).
struct Slot {
    addr: String,
    child: Option<Child>,
    started: Instant,
    /// The hook's `add` succeeded for `addr`; `remove` is owed.
    address_added: bool,
    /// Exits or failed starts in a row, for the backoff.
    failures: u32,
    next_start: Instant,
    /// The lease count (`Lease::taken`) when the child started: a child
    /// from before a lapse of the lease is killed at once, never drained.
    lease_taken: u64,
}

pub struct Supervisor {
    inner: Arc<NodeInner>,
    fs: Arc<FileServer>,
    config: SharesSection,
    /// The cluster directory (parent of the cluster config).
    cluster_dir: PathBuf,
    exe: PathBuf,
    slots: BTreeMap<String, Slot>,
    /// Directory services without a `[[services]]` entry here, logged once.
    unknown_logged: std::collections::BTreeSet<String>,
    /// The node's runtime, for the messages the supervisor sends.
    rt: tokio::runtime::Handle,
    /// Per service: the connection list last sent to the other nodes, and
    /// when.
    conns_sent: BTreeMap<String, (String, Instant)>,
    /// The user smbd drops to, when this node runs as root.
    smbd_user: Option<SystemUser>,
}

/// Starts the supervisor thread; it stops its children and returns once
/// `stop` is set.
pub fn spawn(
    inner: Arc<NodeInner>,
    fs: Arc<FileServer>,
    config: SharesSection,
    cluster_file: &Path,
    smbd_user: Option<SystemUser>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let exe = std::env::current_exe()?;
    let cluster_dir = cluster_file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let mut sup = Supervisor {
        inner,
        fs,
        config,
        cluster_dir,
        exe,
        slots: BTreeMap::new(),
        unknown_logged: Default::default(),
        rt: tokio::runtime::Handle::current(),
        conns_sent: BTreeMap::new(),
        smbd_user,
    };
    let mut grew = sup.inner.serving_changed.subscribe();
    std::thread::Builder::new().name("services".into()).spawn(move || {
        sup.kill_leftovers();
        while !stop.load(Ordering::Acquire) {
            sup.tick();
            // Next tick: at once when this host may serve more (a takeover
            // goes on without waiting a tick), at the fencing point of the
            // lease, else after TICK_MS.
            let tick = Duration::from_millis(TICK_MS);
            let wait = sup.inner.lease.remaining().map_or(tick, |r| r.saturating_sub(Duration::from_millis(FENCE_AHEAD_MS)).max(Duration::from_millis(1)).min(tick));
            let _ = sup.rt.block_on(async { tokio::time::timeout(wait, grew.changed()).await });
        }
        let names: Vec<String> = sup.slots.keys().cloned().collect();
        for name in names {
            sup.retire(&name, "the node is shutting down");
        }
    })
}

fn backoff(failures: u32) -> Duration {
    let ms = RESTART_BACKOFF_MS_MIN.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    Duration::from_millis(ms.min(RESTART_BACKOFF_MS_MAX))
}

impl Supervisor {
    fn node_dir(&self) -> &Path {
        &self.inner.cfg.data_dir
    }

    fn file(&self, name: &str, ext: &str) -> PathBuf {
        self.node_dir().join(format!("smbd-{name}.{ext}"))
    }

    /// The connection list smbd writes: in the directory it may write to.
    fn conns_file(&self, name: &str) -> PathBuf {
        self.inner.cfg.smbd_dir().join(format!("smbd-{name}.conns"))
    }

    /// smbd re-reads the users file at every logon, after dropping root:
    /// the file is made readable by the smbd user's group (0640, owner
    /// unchanged), which cannot read anything else of the cluster's
    /// (docs/security.md). `holdfast user` writes it so; this covers a
    /// file written before the user existed. A missing file is an empty
    /// users list to smbd.
    fn share_users_file(&self, path: &Path) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let Some(user) = &self.smbd_user else { return Ok(()) };
        if !path.exists() {
            return Ok(());
        }
        std::os::unix::fs::chown(path, None, Some(user.gid))
            .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)))
            .map_err(|e| format!("give group {} read access to {}: {e}", user.gid, path.display()))
    }

    /// The services that should run here now: placed on this node, known
    /// to the config, volume mounted. Name → (address, definition).
    fn wanted(&mut self) -> BTreeMap<String, (String, ServiceDef)> {
        let mut out = BTreeMap::new();
        let Ok(dir) = self.inner.dir() else { return out };
        let state = dir.state();
        if self.inner.may_serve(&[]).is_err() || state.stopping.is_some() {
            // A planned whole-cluster stop: no service runs until a node
            // starts again (docs/restarts.md).
            return out;
        }
        for svc in state.services.values().filter(|s| s.node == self.inner.id) {
            let Some(def) = self.config.services.iter().find(|d| d.name == svc.name) else {
                if self.unknown_logged.insert(svc.name.clone()) {
                    tracing::warn!(service = %svc.name, "the directory places a service here that this node's cluster config does not define; not started");
                }
                continue;
            };
            let Some(volume) = service_volume(def, &self.config.shares) else { continue };
            if self.fs.is_mounted(volume) {
                out.insert(svc.name.clone(), (svc.addr.clone(), def.clone()));
            }
        }
        out
    }

    fn tick(&mut self) {
        // Fencing: without a lease this host serves nothing, and a new owner
        // may start the same services as soon as the lease has run out. So
        // kill at once, no grace, then give the addresses back; the same for
        // a child started before a lapse of the lease (a host that woke from
        // a freeze and renewed before this tick).
        let fenced = self.inner.may_serve_for(Duration::from_millis(FENCE_AHEAD_MS)).is_err();
        let taken = self.inner.lease.taken();
        let doomed: Vec<String> = self.slots.iter().filter(|(_, s)| fenced || s.lease_taken != taken).map(|(n, _)| n.clone()).collect();
        for name in doomed {
            self.retire_now(&name, "this host lost its lease");
        }
        if fenced {
            return;
        }
        self.share_conns();
        let wanted = self.wanted();
        let stale: Vec<(String, &'static str)> = self
            .slots
            .iter()
            .filter_map(|(name, slot)| match wanted.get(name) {
                None => Some((name.clone(), "placed on another node, or its volume is not mounted here")),
                Some((addr, _)) if *addr != slot.addr => Some((name.clone(), "its address changed")),
                Some(_) => None,
            })
            .collect();
        for (name, why) in stale {
            self.retire(&name, why);
        }
        for (name, (addr, def)) in wanted {
            let slot = self.slots.entry(name.clone()).or_insert_with(|| Slot {
                addr: addr.clone(),
                child: None,
                started: Instant::now(),
                address_added: false,
                failures: 0,
                next_start: Instant::now(),
                lease_taken: taken,
            });
            if let Some(child) = slot.child.as_mut() {
                match child.try_wait() {
                    Ok(None) => continue,
                    Ok(Some(status)) => {
                        let ran = slot.started.elapsed();
                        slot.failures = if ran >= Duration::from_millis(STABLE_RUN_MS) { 1 } else { slot.failures + 1 };
                        let wait = backoff(slot.failures);
                        tracing::warn!(service = %name, %status, ran_ms = ran.as_millis() as u64, restart_in_ms = wait.as_millis() as u64, "smbd exited; restarting it here");
                        slot.child = None;
                        slot.next_start = Instant::now() + wait;
                        let _ = std::fs::remove_file(self.file(&name, "pid"));
                    }
                    Err(e) => {
                        tracing::error!(service = %name, error = %e, "cannot poll smbd");
                        continue;
                    }
                }
            }
            let slot = self.slots.get_mut(&name).expect("slot inserted above");
            if Instant::now() < slot.next_start {
                continue;
            }
            if let Err(e) = self.start(&name, &addr, &def) {
                let slot = self.slots.get_mut(&name).expect("slot inserted above");
                slot.failures += 1;
                let wait = backoff(slot.failures);
                slot.next_start = Instant::now() + wait;
                tracing::error!(service = %name, error = %e, retry_in_ms = wait.as_millis() as u64, "cannot start smbd");
            }
        }
    }

    /// Hook `add` (once per stay), config, spawn.
    fn start(&mut self, name: &str, addr: &str, def: &ServiceDef) -> Result<(), String> {
        let added = self.slots.get(name).is_some_and(|s| s.address_added);
        if !added {
            self.run_hook("add", addr, name)?;
            self.slots.get_mut(name).expect("slot exists").address_added = true;
        }
        let cfg_path = self.file(name, "toml");
        let fs_socket = self.inner.cfg.smbd_dir().join(crate::config::SMBD_FS_SOCKET);
        let users_file = self.cluster_dir.join(USERS_FILE);
        self.share_users_file(&users_file)?;
        let conns_file = self.conns_file(name);
        let toml = toml::to_string(&SmbdToml {
            listen: addr,
            fs_socket: &fs_socket,
            users_file: &users_file,
            server_name: "HOLDFAST",
            shares: &def.shares,
            conns_file: &conns_file,
            min_dialect: self.config.service_host.min_dialect.as_deref(),
            user: self.config.service_host.smbd_user(),
        })
            .map_err(|e| format!("smbd config: {e}"))?;
        std::fs::write(&cfg_path, toml).map_err(|e| format!("write {}: {e}", cfg_path.display()))?;
        let log_path = self.file(name, "log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(|e| format!("open {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("smbd").arg("--config").arg(&cfg_path).stdin(Stdio::null()).stdout(log2).stderr(log);
        let node_pid = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe and touch no
        // memory of ours. If the node died between fork and prctl, the
        // signal will never come: do not start an unsupervised smbd.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != node_pid {
                    return Err(std::io::Error::other("the node exited while starting smbd"));
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("spawn {} smbd: {e}", self.exe.display()))?;
        let pid = child.id();
        // For operators and tests (`kill` the service alone).
        let _ = std::fs::write(self.file(name, "pid"), format!("{pid}\n"));
        tracing::info!(service = %name, %addr, pid, log = %log_path.display(), "smbd started");
        let slot = self.slots.get_mut(name).expect("slot exists");
        slot.child = Some(child);
        slot.started = Instant::now();
        if !added {
            self.tickle(name, addr);
        }
        Ok(())
    }

    /// A service taken over from another host: once its smbd answers, the
    /// clients of the old host get tickle ACKs, so they reconnect now
    /// instead of at their next TCP retransmission (tickle.rs).
    fn tickle(&mut self, name: &str, addr: &str) {
        let Some(list) = self.inner.tickles.lock().expect("tickles lock").remove(name) else {
            tracing::info!(service = %name, "no connection list from the previous host; no tickle ACKs");
            return;
        };
        let moving = self.config.service_host.address_hook.is_some() && !self.config.service_host.no_tickle_acks;
        let Ok(sa) = addr.parse::<std::net::SocketAddr>() else { return };
        if !moving || sa.ip().is_loopback() {
            return;
        }
        let deadline = Instant::now() + Duration::from_millis(TICKLE_LISTEN_WAIT_MS);
        while std::net::TcpStream::connect_timeout(&sa, Duration::from_millis(100)).is_err() {
            if Instant::now() >= deadline {
                tracing::warn!(service = %name, "smbd not answering; tickling anyway");
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let conns: Vec<_> = list.iter().filter_map(|l| crate::tickle::parse_line(l)).filter(|(_, s)| std::net::SocketAddr::V4(*s) == sa).collect();
        match crate::tickle::send_tickles(&conns) {
            Ok(n) => tracing::warn!(event = "tickle_acks", service = %name, connections = n, "tickle ACKs sent to the old host's clients"),
            Err(e) => tracing::error!(service = %name, error = %e, "cannot send tickle ACKs (needs CAP_NET_RAW)"),
        }
    }

    /// Sends each running service's connection list to the other nodes when
    /// it changed, and every `CONNS_RESEND_MS` (a peer that restarted).
    fn share_conns(&mut self) {
        for name in self.slots.iter().filter(|(_, s)| s.child.is_some()).map(|(n, _)| n.clone()).collect::<Vec<_>>() {
            let text = std::fs::read_to_string(self.conns_file(&name)).unwrap_or_default();
            let fresh = self.conns_sent.get(&name).is_some_and(|(t, at)| *t == text && at.elapsed() < Duration::from_millis(CONNS_RESEND_MS));
            if fresh {
                continue;
            }
            self.conns_sent.insert(name.clone(), (text.clone(), Instant::now()));
            let conns: Vec<String> = text.lines().take(crate::tickle::TICKLE_CONNS_MAX).map(str::to_string).collect();
            let inner = self.inner.clone();
            self.rt.spawn(async move { inner.share_tickle_list(&name, conns).await });
        }
    }

    /// Stops the service's child if any, reaps it, and gives its address
    /// back (hook `remove`).
    fn retire(&mut self, name: &str, why: &str) {
        self.retire_with(name, why, false)
    }

    /// [`Supervisor::retire`] with SIGKILL at once.
    fn retire_now(&mut self, name: &str, why: &str) {
        self.retire_with(name, why, true)
    }

    fn retire_with(&mut self, name: &str, why: &str, kill_now: bool) {
        let Some(mut slot) = self.slots.remove(name) else { return };
        if let Some(mut child) = slot.child.take() {
            tracing::info!(service = %name, pid = child.id(), why, kill_now, "stopping smbd");
            if kill_now {
                let _ = child.kill();
                let _ = child.wait();
            } else {
                stop_child(&mut child);
            }
        }
        let _ = std::fs::remove_file(self.file(name, "pid"));
        if slot.address_added {
            if let Err(e) = self.run_hook("remove", &slot.addr, name) {
                tracing::error!(service = %name, error = %e, "address hook remove failed; the address may still be configured here");
            }
        }
    }

    /// Runs the address hook, if configured: `HOOK ACTION IP NAME`, with
    /// `HOLDFAST_SERVICE_LISTEN` (IP:PORT) and `HOLDFAST_NODE` set. Exit 0
    /// is success; anything else, or running past the timeout (it is then
    /// killed), is a failure.
    fn run_hook(&self, action: &str, addr: &str, name: &str) -> Result<(), String> {
        let Some(hook) = self.config.service_host.address_hook.as_deref() else { return Ok(()) };
        let ip = addr.parse::<std::net::SocketAddr>().map(|a| a.ip().to_string()).unwrap_or_else(|_| addr.to_string());
        let timeout = Duration::from_millis(self.config.service_host.address_hook_timeout_ms());
        let mut child = Command::new(hook)
            .args([action, &ip, name])
            .env("HOLDFAST_SERVICE_LISTEN", addr)
            .env("HOLDFAST_NODE", self.inner.id.to_string())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("address hook {hook}: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(st)) if st.success() => {
                    tracing::info!(service = %name, action, %ip, "address hook done");
                    return Ok(());
                }
                Ok(Some(st)) => return Err(format!("address hook `{hook} {action} {ip} {name}` failed: {st}")),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("address hook `{hook} {action} {ip} {name}` ran over {} ms; killed", timeout.as_millis()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(format!("address hook {hook}: {e}")),
            }
        }
    }

    /// An smbd left by an earlier process of this node (its pid file still
    /// here, the process still running that config) would hold the
    /// address forever: kill it before starting anything.
    fn kill_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(self.node_dir()) else { return };
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_prefix("smbd-").and_then(|f| f.strip_suffix(".pid")) else { continue };
            let pid: Option<i32> = std::fs::read_to_string(e.path()).ok().and_then(|t| t.trim().parse().ok());
            let cmdline = pid.and_then(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok()).unwrap_or_default();
            let want = self.file(name, "toml").display().to_string();
            let theirs = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if let Some(p) = pid.filter(|_| theirs.contains(" smbd ") && theirs.contains(&want)) {
                tracing::warn!(service = %name, pid = p, "killing an smbd left by an earlier process of this node");
                // SAFETY: kill(2) on a pid whose command line we just checked.
                unsafe {
                    libc::kill(p, libc::SIGKILL);
                }
            }
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE_MS`]; always reaped.
fn stop_child(c: &mut Child) {
    // SAFETY: kill(2) on our own, not yet reaped, child.
    unsafe {
        libc::kill(c.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_millis(STOP_GRACE_MS);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    tracing::warn!(pid = c.id(), "smbd ignored SIGTERM for {STOP_GRACE_MS} ms; SIGKILL");
    let _ = c.kill();
    let _ = c.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(6), Duration::from_millis(3200));
        assert_eq!(backoff(7), Duration::from_millis(5000));
        assert_eq!(backoff(u32::MAX), Duration::from_millis(5000));
    }
}
