//! `holdfast bench failover --silent`: the same trials as `bench failover`,
//! but on separate hosts (`scripts/netns-cluster.sh`, built into this
//! binary) and with a **silent** death: the serving host's link goes down,
//! then every process of it gets SIGKILL, so no kernel resets the client's
//! connection. The client (the Rust SMB client, run on a thread inside the
//! client's network namespace) is writing when it happens; it learns of the
//! death only from its own TCP: a reset provoked by the new host's tickle
//! ACK, or a retransmission that reaches the new host once the address has
//! moved.
//!
//! The trials run twice, on two rigs: with tickle ACKs and without them
//! (`no_tickle_acks`), so the report shows what the tickles buy. Needs
//! root; the rig uses 198.18.0.0/24 on a bridge with no uplink.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use holdfast_wire::control::StatusView;
use serde_json::json;

use super::failover::{finish, hold, pct, FailoverArgs};
use super::stats::round1;
use crate::smb_story::Target;

/// The rig script, as in the repository.
const RIG_SCRIPT: &str = include_str!("../../../../scripts/netns-cluster.sh");
const SERVICE: &str = "198.18.0.50:445";
const RIG_USER: &str = "benchuser";
const RIG_PASSWORD: &str = "Bench-Failover-7";
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One rig, removed when dropped.
pub(super) struct Rig {
    script: PathBuf,
    dir: PathBuf,
    prefix: &'static str,
    no_tickle: bool,
    keep: bool,
}

impl Rig {
    fn up(work: &Path, prefix: &'static str, no_tickle: bool, keep: bool) -> anyhow::Result<Rig> {
        let script = work.join("netns-cluster.sh");
        std::fs::write(&script, RIG_SCRIPT)?;
        let rig = Rig { script, dir: work.join(prefix), prefix, no_tickle, keep };
        let _ = rig.run(&["down"]);
        rig.ok(&["up", "3"])?;
        rig.ok(&["wait-service", "60"])?;
        Ok(rig)
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        let exe = std::env::current_exe().context("locate the holdfast binary")?;
        Command::new("bash")
            .arg(&self.script)
            .args(args)
            .env("HOLDFAST_BIN", exe)
            .env("RIG_DIR", &self.dir)
            .env("RIG_PREFIX", self.prefix)
            .env("RIG_SMB_USER", RIG_USER)
            .env("RIG_SMB_PASSWORD", RIG_PASSWORD)
            .env("RIG_NO_TICKLE_ACKS", if self.no_tickle { "1" } else { "0" })
            .env("RIG_KEEP", if self.keep { "1" } else { "0" })
            .output()
            .context("run the rig script")
    }

    pub(super) fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let o = self.run(args)?;
        if !o.status.success() {
            bail!("rig {args:?}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Host `n`'s node log.
    pub(super) fn node_log(&self, n: u64) -> PathBuf {
        self.dir.join(format!("host-{n}/node-{n}/node.log"))
    }

    /// The status as the directory's confirmed leader gives it.
    fn status(&self) -> anyhow::Result<StatusView> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(out) = self.ok(&["cli", "status", "--json"]) {
                if let Ok(s) = serde_json::from_str::<StatusView>(&out) {
                    if s.leader == Some(s.node) {
                        return Ok(s);
                    }
                }
            }
            if Instant::now() >= deadline {
                bail!("no status from a confirmed leader within {} s", READY_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every host up and every component ACTIVE; returns the serving host.
    pub(super) fn ready(&self) -> anyhow::Result<u64> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let s = self.status()?;
            let all = s.nodes.iter().all(|n| n.state == "up" && n.registered)
                && s.objects.iter().all(|o| o.components.iter().all(|c| c.state.as_str() == "active"));
            if let (true, Some(sv)) = (all, s.services.iter().find(|x| x.name == "share")) {
                self.ok(&["wait-service", "60"])?;
                return Ok(sv.node);
            }
            if Instant::now() >= deadline {
                bail!("the rig did not become healthy within {} s", READY_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

/// Moves the calling thread into network namespace `name`: sockets it
/// opens from then on live there.
fn enter_netns(name: &str) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/var/run/netns/{name}")).with_context(|| format!("open network namespace {name}"))?;
    // SAFETY: setns(2) on a namespace file we hold open.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {name}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// What the trials on one rig measured.
struct Measured {
    reclaim: Vec<f64>,
    resume: Vec<f64>,
    lost_handles: u64,
    lost_writes: u64,
    /// The partition trials' report, if any ran.
    partition: Option<serde_json::Value>,
}

/// `n` silent deaths on one rig, then `partitions` partition trials
/// (`failover_partition.rs`).
fn trials(rig: &Rig, n: usize, partitions: usize, verbose: bool) -> anyhow::Result<Measured> {
    let client_ns = format!("{}-c1", rig.prefix);
    std::thread::scope(|sc| {
        sc.spawn(|| -> anyhow::Result<_> {
            enter_netns(&client_ns)?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let creds = holdfast_smb_client::Credentials::new(RIG_USER, RIG_PASSWORD, "");
            let t = Target { addr: SERVICE.into(), share: "share".into(), creds };
            let (mut reclaim, mut resume, mut lost_handles, mut lost_writes) = (Vec::new(), Vec::new(), 0, 0);
            for i in 0..n {
                let victim = rig.ready()?;
                let held = rt.block_on(hold(&t, i))?;
                let t0 = Instant::now();
                rig.ok(&["kill", &victim.to_string()])?;
                match rt.block_on(finish(&t, held, t0))? {
                    Ok(o) => {
                        if verbose {
                            eprintln!(
                                "  trial {:>3}: host {victim} died silently under {} acked writes; reclaim {:.1} ms, next write {:.1} ms, {} lost",
                                i + 1,
                                o.acked,
                                o.reclaim_ms,
                                o.write_resume_ms,
                                o.lost_writes
                            );
                        }
                        reclaim.push(round1(o.reclaim_ms));
                        resume.push(round1(o.write_resume_ms));
                        lost_writes += o.lost_writes;
                    }
                    Err(why) => {
                        eprintln!("  {why}");
                        lost_handles += 1;
                    }
                }
                rig.ok(&["start", &victim.to_string()])?;
            }
            rig.ready()?;
            let partition = match partitions {
                0 => None,
                k => Some(super::failover_partition::trials(rig, &rt, &t, k, verbose)?),
            };
            Ok(Measured { reclaim, resume, lost_handles, lost_writes, partition })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the client thread panicked"))?
    })
}

pub fn run(a: &FailoverArgs) -> anyhow::Result<()> {
    // SAFETY: geteuid(2) reads no memory of ours.
    if unsafe { libc::geteuid() } != 0 {
        bail!("--silent builds separate hosts in network namespaces, which needs root");
    }
    let work = std::env::temp_dir().join(format!("holdfast-bench-silent-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut modes = Vec::new();
    let mut partitioned = None;
    for (prefix, no_tickle) in [("hfbt", false), ("hfbn", true)] {
        if !a.json {
            eprintln!("{} tickle ACKs:", if no_tickle { "without" } else { "with" });
        }
        let rig = Rig::up(&work, prefix, no_tickle, a.keep_dir)?;
        // The partition trials need no second run: tickle ACKs play no part.
        let Measured { reclaim, resume, lost_handles, lost_writes, partition } = trials(&rig, a.trials, if no_tickle { 0 } else { a.partition_trials }, !a.json)?;
        drop(rig);
        partitioned = partitioned.or(partition);
        modes.push(json!({
            "reclaim_p50_ms": pct(&reclaim, 50.0),
            "reclaim_max_ms": pct(&reclaim, 100.0),
            "write_resume_p50_ms": pct(&resume, 50.0),
            "lost_handles": lost_handles,
            "lost_acked_writes": lost_writes,
            "reclaim_ms": reclaim,
        }));
    }
    if a.keep_dir {
        eprintln!("the hosts' logs are kept in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    let (with, without) = (&modes[0], &modes[1]);
    let p50 = with["reclaim_p50_ms"].as_f64().unwrap_or(0.0);
    let p50_off = without["reclaim_p50_ms"].as_f64().unwrap_or(0.0);
    let mut out = with.clone();
    let o = out.as_object_mut().expect("object");
    o.insert("trials".into(), json!(a.trials));
    o.insert("death".into(), json!("silent: link down, then SIGKILL of every process of the host"));
    o.insert("no_tickle".into(), without.clone());
    o.insert("tickle_speedup_p50".into(), json!(if p50 > 0.0 { round1(p50_off / p50) } else { 0.0 }));
    if let Some(p) = &partitioned {
        o.insert("partition".into(), p.clone());
    }
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("bench failover --silent (3 hosts in network namespaces, service {SERVICE}, Rust SMB client writing when the host dies)");
        for (k, v) in out.as_object().expect("object") {
            println!("  {k:<22} {v}");
        }
        println!("targets: reclaim_p50_ms <= 2000, reclaim_max_ms <= 3000, lost_handles = lost_acked_writes = 0, tickle_speedup_p50 >= 2;");
        println!("  partition: answers_after_lease_end = conflicting_lock_grants = 0 in every trial");
    }
    let lost = |m: &serde_json::Value| m["lost_handles"].as_u64().unwrap_or(0) + m["lost_acked_writes"].as_u64().unwrap_or(0);
    anyhow::ensure!(lost(with) == 0 && lost(without) == 0, "handles or acknowledged writes were lost");
    let broken = |k: &str| partitioned.as_ref().and_then(|p| p[k].as_array().map(|v| v.iter().any(|x| x.as_u64() != Some(0)))).unwrap_or(false);
    anyhow::ensure!(!broken("answers_after_lease_end"), "a partitioned host answered after its lease ended");
    anyhow::ensure!(!broken("conflicting_lock_grants"), "a conflicting lock was granted");
    Ok(())
}
