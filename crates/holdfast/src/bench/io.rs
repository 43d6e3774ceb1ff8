//! `holdfast bench io`: file I/O through SMB, Holdfast's CA share against
//! Samba's smbd (default settings: its writes stay in the page cache)
//! started on loopback, driven by the same Rust client in the same run.
//!
//! - Sequential: one client writes a file in 1 MiB WRITEs, then reads it
//!   back in 1 MiB READs; MB/s.
//! - Random: 4 KiB WRITEs at random 4 KiB-aligned offsets of that file;
//!   queue depth 1 (one client) and 16 (16 clients, each its own
//!   connection, one request in flight each); IOPS, p50 and p99.
//! - Metadata: per op, CREATE a new file, WRITE 4 KiB, CLOSE, open it again
//!   and CLOSE (a stat), open it with DELETE_ON_CLOSE and CLOSE (a delete);
//!   1 and 16 clients, each in a directory of its own; ops/s.
//!
//! Every figure is reported for both servers with its ratio (Holdfast over
//! Samba for rates, so above 1 means Holdfast is faster). Holdfast makes
//! every WRITE durable on every copy before answering; Samba only puts it
//! in its host's page cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use holdfast_smb_client::proto::msg::create::{create_options, disposition};
use holdfast_smb_client::{OpenOptions, SmbClient, Tree};
use holdfast_types::access::{DELETE, FILE_READ_ATTRIBUTES, GENERIC_READ, GENERIC_WRITE};
use serde_json::{json, Map, Value};

use super::smb::{holdfast_and_samba, Target, CLIENTS_MANY};
use super::stats::{round1, Samples};

const SEQ_IO_BYTES: usize = 1 << 20;
const RANDOM_IO_BYTES: usize = 4096;

#[derive(Args)]
pub struct IoArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// MiB of the sequential file (also the span of the random writes).
    #[arg(long, default_value_t = 64)]
    seq_mib: u64,
    /// Seconds of each timed random and metadata step.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Holdfast share (continuously available) to use.
    #[arg(long, default_value = "share")]
    share: String,
    /// Samba's smbd binary.
    #[arg(long, default_value = "/usr/sbin/smbd")]
    samba_smbd: PathBuf,
}

/// One server's figures, by report key suffix, in report order.
type Figures = Vec<(String, f64)>;

fn file_name(tag: &str) -> String {
    format!("bench-io-{}-{tag}", std::process::id())
}

/// Sequential write then read of `mib` MiB in 1 MiB requests; MB/s each.
async fn sequential(t: &Target, mib: u64) -> anyhow::Result<(f64, f64)> {
    let (mut c, tree) = t.logon().await?;
    let data: Vec<u8> = (0..SEQ_IO_BYTES).map(|i| (i % 251) as u8).collect();
    let o = OpenOptions::new(&file_name("seq")).disposition(disposition::OVERWRITE_IF);
    let f = c.create(&tree, &o).await.with_context(|| format!("{}: create the sequential file", t.name))?;
    let begin = Instant::now();
    for i in 0..mib {
        let n = c.write(&tree, f.file_id, i * SEQ_IO_BYTES as u64, &data).await.with_context(|| format!("{}: sequential write", t.name))?;
        anyhow::ensure!(n as usize == SEQ_IO_BYTES, "{}: short write {n}", t.name);
    }
    let write_s = begin.elapsed().as_secs_f64();
    let begin = Instant::now();
    for i in 0..mib {
        let back = c.read(&tree, f.file_id, i * SEQ_IO_BYTES as u64, SEQ_IO_BYTES as u32).await.with_context(|| format!("{}: sequential read", t.name))?;
        anyhow::ensure!(back == data, "{}: block {i} read back differs", t.name);
    }
    let read_s = begin.elapsed().as_secs_f64();
    c.close(&tree, f.file_id).await?;
    let mb = (mib * SEQ_IO_BYTES as u64) as f64 / 1e6;
    Ok((mb / write_s, mb / read_s))
}

/// `clients` clients each write 4 KiB at random aligned offsets of the
/// sequential file for `seconds`: (IOPS, p50 µs, p99 µs).
async fn random(t: &Target, clients: usize, mib: u64, seconds: f64) -> anyhow::Result<(f64, f64, f64)> {
    let blocks = mib * (SEQ_IO_BYTES / RANDOM_IO_BYTES) as u64;
    let mut tasks = Vec::new();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    for _ in 0..clients {
        let (mut c, tree) = t.logon().await?;
        let mut o = OpenOptions::new(&file_name("seq")).disposition(disposition::OPEN);
        o.share_access = 0x7;
        let f = c.create(&tree, &o).await.with_context(|| format!("{}: open the file for random writes", t.name))?;
        tasks.push(tokio::spawn(async move {
            let data = vec![0xa5u8; RANDOM_IO_BYTES];
            let mut s = Samples::with_capacity(4096);
            while Instant::now() < end {
                let at = rand::random::<u64>() % blocks * RANDOM_IO_BYTES as u64;
                let began = Instant::now();
                c.write(&tree, f.file_id, at, &data).await?;
                s.push_ns(began.elapsed().as_nanos());
            }
            c.close(&tree, f.file_id).await?;
            anyhow::Ok(s)
        }));
    }
    let mut all = Samples::with_capacity(4096 * clients);
    for task in tasks {
        all.extend(task.await.context("random-write task")?.with_context(|| format!("{}: random writes", t.name))?);
    }
    anyhow::ensure!(all.len() > 0, "{}: no random write finished in {seconds} s", t.name);
    Ok((all.len() as f64 / seconds, all.percentile(50.0), all.percentile(99.0)))
}

/// One metadata op on `name`: create + write 4 KiB + close, stat, delete.
async fn metadata_op(c: &mut SmbClient, tree: &Tree, name: &str, data: &[u8]) -> anyhow::Result<()> {
    let f = c.create(tree, &OpenOptions::new(name).disposition(disposition::CREATE)).await?;
    c.write(tree, f.file_id, 0, data).await?;
    c.close(tree, f.file_id).await?;
    let mut stat = OpenOptions::new(name).disposition(disposition::OPEN);
    stat.desired_access = FILE_READ_ATTRIBUTES;
    let f = c.create(tree, &stat).await?;
    c.close(tree, f.file_id).await?;
    let mut del = OpenOptions::new(name).disposition(disposition::OPEN);
    del.desired_access = DELETE;
    del.create_options |= create_options::DELETE_ON_CLOSE;
    let f = c.create(tree, &del).await?;
    c.close(tree, f.file_id).await?;
    Ok(())
}

/// `clients` clients run metadata ops in directories of their own for
/// `seconds`: ops/s.
async fn metadata(t: &Target, clients: usize, seconds: f64) -> anyhow::Result<f64> {
    let mut tasks = Vec::new();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    for i in 0..clients {
        let (mut c, tree) = t.logon().await?;
        let dir = file_name(&format!("meta-{clients}-{i}"));
        let mut mkdir = OpenOptions::new(&dir).disposition(disposition::OPEN_IF);
        mkdir.create_options = create_options::DIRECTORY_FILE;
        mkdir.desired_access = GENERIC_READ | GENERIC_WRITE;
        let d = c.create(&tree, &mkdir).await.with_context(|| format!("{}: mkdir {dir}", t.name))?;
        c.close(&tree, d.file_id).await?;
        tasks.push(tokio::spawn(async move {
            let data = vec![0x3cu8; RANDOM_IO_BYTES];
            let mut ops = 0u64;
            while Instant::now() < end {
                metadata_op(&mut c, &tree, &format!("{dir}\\f{ops}"), &data).await?;
                ops += 1;
            }
            anyhow::Ok(ops)
        }));
    }
    let mut ops = 0;
    for task in tasks {
        ops += task.await.context("metadata task")?.with_context(|| format!("{}: metadata ops", t.name))?;
    }
    Ok(ops as f64 / seconds)
}

async fn measure(t: &Target, a: &IoArgs) -> anyhow::Result<Figures> {
    eprintln!("{}: sequential {} MiB", t.name, a.seq_mib);
    let (w, r) = sequential(t, a.seq_mib).await?;
    let mut f: Figures = vec![("seq_write_mb_s".into(), w), ("seq_read_mb_s".into(), r)];
    for (clients, key) in [(1, "1"), (CLIENTS_MANY, "16")] {
        eprintln!("{}: random 4 KiB writes, {clients} client(s), {} s", t.name, a.seconds);
        let (iops, p50, p99) = random(t, clients, a.seq_mib, a.seconds).await?;
        f.extend([(format!("rand_iops_{key}"), iops), (format!("rand_p50_us_{key}"), p50), (format!("rand_p99_us_{key}"), p99)]);
        eprintln!("{}: metadata ops, {clients} client(s), {} s", t.name, a.seconds);
        f.push((format!("meta_ops_per_s_{key}"), metadata(t, clients, a.seconds).await?));
    }
    Ok(f)
}

/// Rates where higher is better get Holdfast/Samba; latencies get the
/// same ratio, so below 1 means Holdfast is faster there.
fn report(hf: &Figures, sb: &Figures) -> Value {
    let mut out = Map::new();
    for ((k, h), (k2, s)) in hf.iter().zip(sb) {
        assert_eq!(k, k2, "both servers report the same figures");
        out.insert(format!("holdfast_{k}"), json!(round1(*h)));
        out.insert(format!("samba_{k}"), json!(round1(*s)));
        out.insert(format!("ratio_{k}"), json!((h / s * 100.0).round() / 100.0));
    }
    Value::Object(out)
}

pub fn run(dir: Option<&Path>, a: IoArgs) -> anyhow::Result<()> {
    anyhow::ensure!((1..=4096).contains(&a.seq_mib), "--seq-mib must be in 1..=4096");
    anyhow::ensure!(a.seconds > 0.0 && a.seconds <= 600.0, "--seconds must be in (0, 600]");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let (cluster, hf, samba, sb) = holdfast_and_samba(dir, &a.share, &a.samba_smbd).await?;
        let h = measure(&hf, &a).await?;
        let s = measure(&sb, &a).await?;
        drop(samba);
        let out = report(&h, &s);
        if a.json {
            println!("{}", serde_json::to_string(&out)?);
        } else {
            println!("bench io on {}: {} MiB sequential, {} s per random and metadata step", cluster.label(), a.seq_mib, a.seconds);
            println!("  {:<22} {:>12} {:>12} {:>8}", "figure", "holdfast", "samba", "ratio");
            let n = |k: String| out[k].as_f64().unwrap_or(f64::NAN);
            for (k, _) in &h {
                println!("  {k:<22} {:>12} {:>12} {:>8}", n(format!("holdfast_{k}")), n(format!("samba_{k}")), n(format!("ratio_{k}")));
            }
            println!("targets (issue 14): rates ratio >= 1.0 (seq, rand_iops_16, meta_ops_per_s_16); rand_p50_us_1 <= Samba's + one replicated-write round trip");
        }
        anyhow::Ok(())
    })
}
