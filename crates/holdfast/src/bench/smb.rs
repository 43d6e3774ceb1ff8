//! `holdfast bench smb`: SMB opens per second, Holdfast against Samba,
//! driven by the same client code in the same run. One op is CREATE with a
//! durable v2 context (PERSISTENT on Holdfast's CA share; Samba 4.17
//! grants no persistent handles, so plain durable v2 there), WRITE 4 KiB,
//! CLOSE. Steps: 1 and 16 clients, each its own TCP connection and session.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use holdfast_client::Client;
use holdfast_smb_client::proto::msg::create_ctx::{lease_state, Lease, LeaseV2, DHANDLE_FLAG_PERSISTENT};
use holdfast_smb_client::proto::msg::write::write_flags;
use holdfast_smb_client::{unc, ClientConfig, Credentials, Durable, OpenOptions, SmbClient, Tree};
use serde_json::json;

use super::cluster::BenchCluster;
use super::samba::Samba;
use super::stats::{round1, Samples};

const WRITE_BYTES: usize = 4096;
/// The "many clients" step of `bench smb` and `bench io`.
pub(super) const CLIENTS_MANY: usize = 16;

#[derive(Args)]
pub struct SmbArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Seconds of timed ops in each of the four steps.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Seconds of untimed ops before each step.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Holdfast share (continuously available) to open files on.
    #[arg(long, default_value = "share")]
    share: String,
    /// Send every WRITE with WRITE_THROUGH, so Samba (strict sync, its
    /// default) also makes it durable before answering, as Holdfast
    /// always does (fdatasync of every copy of the share's volume).
    #[arg(long)]
    write_through: bool,
    /// Samba's smbd binary.
    #[arg(long, default_value = "/usr/sbin/smbd")]
    samba_smbd: PathBuf,
}

/// Where one server is and how to log on to it.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) name: &'static str,
    pub(super) addr: String,
    pub(super) share: String,
    pub(super) creds: Credentials,
    pub(super) persistent: bool,
}

impl Target {
    /// The Samba smbd that `bench` started, as a target.
    pub(super) fn samba(samba: &Samba) -> Target {
        Target {
            name: "samba",
            addr: format!("127.0.0.1:{}", samba.port),
            share: "share".into(),
            creds: Credentials::new(&samba.user, &samba.password, "WORKGROUP"),
            persistent: false,
        }
    }

    /// Connected, logged on and tree connected.
    pub(super) async fn logon(&self) -> anyhow::Result<(SmbClient, Tree)> {
        let mut c = SmbClient::connect(&self.addr, ClientConfig::default()).await.with_context(|| format!("{}: connect {}", self.name, self.addr))?;
        c.session_setup(&self.creds, 0).await.with_context(|| format!("{}: log on as {}", self.name, self.creds.user))?;
        let tree = c.tree_connect(&unc("127.0.0.1", &self.share)).await.with_context(|| format!("{}: tree connect {}", self.name, self.share))?;
        Ok((c, tree))
    }
}

struct Step {
    ops_per_s: f64,
    open_p50_us: f64,
    /// Shown in the table only, to say where an op's time goes.
    write_p50_us: f64,
    close_p50_us: f64,
}

/// Latencies of the three requests of one op.
struct OpTimes {
    create: Duration,
    write: Duration,
    close: Duration,
}

/// `username = …` / `password = …` / `domain = …` (smbclient -A format).

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One client: connected, logged on, tree connected, holding a lease key.
struct Worker {
    c: SmbClient,
    tree: Tree,
    file: String,
    lease_key: [u8; 16],
    persistent: bool,
    write_flags: u32,
}

impl Worker {
    async fn connect(t: &Target, i: usize, write_flags: u32) -> anyhow::Result<Worker> {
        let (c, tree) = t.logon().await?;
        let file = format!("bench-smb-{}-{i}.dat", std::process::id());
        Ok(Worker { c, tree, file, lease_key: rand::random(), persistent: t.persistent, write_flags })
    }

    /// CREATE (durable v2, RWH lease), WRITE 4 KiB, CLOSE; returns the
    /// latencies and the granted DH2Q flags (None: not durable).
    async fn op(&mut self, data: &[u8]) -> anyhow::Result<(OpTimes, Option<u32>)> {
        // The lease is what makes Samba grant durability (it needs a
        // handle-caching lease or a batch oplock); Holdfast ignores it.
        let lease = Lease {
            key: self.lease_key,
            state: lease_state::READ_CACHING | lease_state::WRITE_CACHING | lease_state::HANDLE_CACHING,
            flags: 0,
            duration: 0,
            v2: Some(LeaseV2 { parent_key: [0; 16], epoch: 0 }),
        };
        let o = OpenOptions::new(&self.file)
            .durable(Durable::V2 { create_guid: rand::random(), timeout_ms: 0, persistent: self.persistent })
            .lease(lease);
        let t = Instant::now();
        let open = self.c.create(&self.tree, &o).await?;
        let create = t.elapsed();
        let t = Instant::now();
        let n = self.c.write_with_flags(&self.tree, open.file_id, 0, data, self.write_flags).await?;
        let write = t.elapsed();
        anyhow::ensure!(n as usize == data.len(), "short write: {n} of {}", data.len());
        let t = Instant::now();
        self.c.close(&self.tree, open.file_id).await?;
        let close = t.elapsed();
        Ok((OpTimes { create, write, close }, open.durable_v2().map(|(flags, _)| flags)))
    }
}

/// Runs `clients` workers for warm-up then `seconds`; ops/s over the timed
/// part and the CREATE p50 of the timed ops.
async fn step(t: &Target, clients: usize, warmup: f64, seconds: f64, write_flags: u32) -> anyhow::Result<Step> {
    let mut workers = Vec::new();
    for i in 0..clients {
        workers.push(Worker::connect(t, i, write_flags).await?);
    }
    // Check once that the server grants what the benchmark claims to measure.
    let data = vec![0x5au8; WRITE_BYTES];
    let (_, granted) = workers[0].op(&data).await.with_context(|| format!("{}: first op", t.name))?;
    let want = if t.persistent { Some(DHANDLE_FLAG_PERSISTENT) } else { Some(0) };
    anyhow::ensure!(
        granted.map(|f| f & DHANDLE_FLAG_PERSISTENT) == want,
        "{}: asked for a {} handle, the server granted DH2Q flags {granted:?}",
        t.name,
        if t.persistent { "persistent" } else { "durable v2" }
    );
    let begin = Instant::now();
    let warm_end = begin + Duration::from_secs_f64(warmup);
    let end = warm_end + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for mut w in workers {
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = [Samples::with_capacity(1024), Samples::with_capacity(1024), Samples::with_capacity(1024)];
            let mut ops = 0u64;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                let (t, _) = w.op(&data).await?;
                if started >= warm_end && Instant::now() <= end {
                    ops += 1;
                    s[0].push_ns(t.create.as_nanos());
                    s[1].push_ns(t.write.as_nanos());
                    s[2].push_ns(t.close.as_nanos());
                }
            }
            let _ = w.c.logoff().await;
            anyhow::Ok((ops, s))
        }));
    }
    let mut ops = 0u64;
    let mut all = [Samples::with_capacity(4096), Samples::with_capacity(4096), Samples::with_capacity(4096)];
    for task in tasks {
        let (n, s) = task.await.context("bench client task")?.with_context(|| format!("{} with {clients} clients", t.name))?;
        ops += n;
        for (a, s) in all.iter_mut().zip(s) {
            a.extend(s);
        }
    }
    anyhow::ensure!(all[0].len() > 0, "{}: no op finished in {seconds} s", t.name);
    let [mut c, mut w, mut cl] = all;
    Ok(Step { ops_per_s: ops as f64 / seconds, open_p50_us: c.percentile(50.0), write_p50_us: w.percentile(50.0), close_p50_us: cl.percentile(50.0) })
}

/// Holdfast's service for `share`: the one the directory placed (on the
/// live cluster with --dir, or on the temporary cluster started here),
/// once it listens.
pub(super) async fn holdfast_target(cluster: &BenchCluster, share: &str) -> anyhow::Result<Target> {
    let dir = cluster.info.dir.clone();
    let client = Client::from_cluster(&cluster.info);
    let sh = cluster.info.file.shares.iter().find(|s| s.name == share).with_context(|| format!("no share {share:?} in the cluster config"))?;
    anyhow::ensure!(sh.ca, "share {share:?} is not continuously available: persistent handles need a CA share");
    let svc = cluster
        .info
        .file
        .services
        .iter()
        .find(|s| s.shares.iter().any(|x| x == share))
        .with_context(|| format!("no service serves share {share:?} (cluster.toml [[services]])"))?
        .clone();
    if cluster.procs.is_some() {
        crate::volumes::ensure_volumes(&std::sync::Arc::new(Client::from_cluster(&cluster.info)), &cluster.info).await?;
        crate::cmd_smb::ensure_default_user(&dir)?;
    }
    crate::bench::failover::service_ready(&client, &dir, &svc.name, &svc.listen).await?;
    let creds = crate::cmd_smb::read_credentials(&dir.join(crate::cmd_smb::CREDENTIALS_FILE))?;
    Ok(Target { name: "holdfast", addr: svc.listen.clone(), share: share.to_string(), creds, persistent: true })
}

/// The two servers a `bench` compares: Holdfast's service for `share` (on
/// the cluster of `dir`, or a temporary one started here) and a Samba
/// smbd started on a free loopback port. Samba stops when its guard drops.
pub(super) async fn holdfast_and_samba(dir: Option<&Path>, share: &str, samba_smbd: &Path) -> anyhow::Result<(BenchCluster, Target, Samba, Target)> {
    let cluster = match dir {
        Some(_) => BenchCluster::open(dir).await?,
        None => BenchCluster::start_temp(true).await?,
    };
    let hf = holdfast_target(&cluster, share).await?;
    let samba = Samba::start(samba_smbd, free_port()?)?;
    let sb = Target::samba(&samba);
    eprintln!("holdfast smbd on {}, Samba smbd on {}", hf.addr, sb.addr);
    Ok((cluster, hf, samba, sb))
}

pub fn run(dir: Option<&Path>, a: SmbArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.seconds > 0.0 && a.seconds <= 600.0, "--seconds must be in (0, 600]");
    anyhow::ensure!(a.warmup_seconds >= 0.0 && a.warmup_seconds <= 60.0, "--warmup-seconds must be in [0, 60]");
    // One thread for all clients: they mostly wait, and the servers need
    // the cores.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let r = rt.block_on(async {
        let (cluster, hf, samba, sb) = holdfast_and_samba(dir, &a.share, &a.samba_smbd).await?;
        let mut results = Vec::new();
        for clients in [1, CLIENTS_MANY] {
            for t in [&hf, &sb] {
                eprintln!("{} with {clients} client(s): {} s warm-up, {} s timed", t.name, a.warmup_seconds, a.seconds);
                let flags = if a.write_through { write_flags::WRITE_THROUGH } else { 0 };
                results.push(step(t, clients, a.warmup_seconds, a.seconds, flags).await?);
            }
        }
        drop(samba);
        let (hf1, sb1, hf16, sb16) = (&results[0], &results[1], &results[2], &results[3]);
        let out = json!({
            "holdfast_ops_per_s_1": hf1.ops_per_s.round(),
            "samba_ops_per_s_1": sb1.ops_per_s.round(),
            "holdfast_ops_per_s_16": hf16.ops_per_s.round(),
            "samba_ops_per_s_16": sb16.ops_per_s.round(),
            "ratio_1": (hf1.ops_per_s / sb1.ops_per_s * 100.0).round() / 100.0,
            "ratio_16": (hf16.ops_per_s / sb16.ops_per_s * 100.0).round() / 100.0,
            "holdfast_open_p50_us": round1(hf1.open_p50_us),
            "samba_open_p50_us": round1(sb1.open_p50_us),
        });
        if a.json {
            println!("{}", serde_json::to_string(&out)?);
        } else {
            let wt = if a.write_through { " (write-through)" } else { "" };
            println!("bench smb on {}: CREATE (DH2Q) + WRITE 4 KiB{wt} + CLOSE per op", cluster.label());
            let n = |k: &str| out[k].as_f64().unwrap_or(f64::NAN);
            println!("  {:<10} {:>14} {:>14} {:>16}", "server", "ops/s 1 client", "ops/s 16", "open p50 us (1)");
            for who in ["holdfast", "samba"] {
                let (o1, o16, p50) = (n(&format!("{who}_ops_per_s_1")), n(&format!("{who}_ops_per_s_16")), n(&format!("{who}_open_p50_us")));
                println!("  {who:<10} {o1:>14} {o16:>14} {p50:>16}");
            }
            println!("  p50 us with 1 client: holdfast CREATE {:.1} WRITE {:.1} CLOSE {:.1}; samba CREATE {:.1} WRITE {:.1} CLOSE {:.1}",
                hf1.open_p50_us, hf1.write_p50_us, hf1.close_p50_us, sb1.open_p50_us, sb1.write_p50_us, sb1.close_p50_us);
            println!("  ratio holdfast/samba: 1 client {}, 16 clients {}", out["ratio_1"], out["ratio_16"]);
            println!("targets: ratio_16 >= 1.0, ratio_1 >= 0.8 (holdfast persistent vs Samba durable v2)");
        }
        anyhow::Ok(())
    });
    r
}
