//! `holdfast bench handles`: handle put latency and throughput through the
//! file-server socket, against the replicated 512 B write measured in the
//! same run on the same owner host. A put is meant to cost one replicated
//! write plus little else (target: put_p50 - write_p50 <= 20 us).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use holdfast_client::Client;
use holdfast_file_server::access::{FILE_OPEN_IF, FILE_SHARE_READ, FILE_SHARE_WRITE, GENERIC_READ, GENERIC_WRITE};
use holdfast_file_server::proto::OpenReq;
use holdfast_file_server::FsClient;
use holdfast_objfs::handles::HandleRecord;
use holdfast_types::ObjectKind;
use holdfast_wire::control::ControlRequest;
use serde_json::json;

use super::cluster::BenchCluster;
use super::stats::{round1, Samples};

const BASELINE_OBJECT_BYTES: u64 = 16 << 20;
const CALLERS: usize = 32;

#[derive(Args)]
pub struct HandlesArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Latency samples per measurement.
    #[arg(long, default_value_t = 10_000)]
    samples: usize,
    /// Seconds of timed puts in the throughput measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Share whose handle table is used.
    #[arg(long, default_value = "share")]
    share: String,
}

fn record(share: &str, ino: u64, n: u64) -> HandleRecord {
    let mut r = HandleRecord { share: share.to_string(), path: "bench-handles.dat".into(), ino, ..Default::default() };
    r.create_guid[..8].copy_from_slice(&n.to_le_bytes());
    r.create_guid[8..].copy_from_slice(&rand::random::<u64>().to_le_bytes());
    r.client_guid = [0xb5; 16];
    r.granted_access = GENERIC_READ | GENERIC_WRITE;
    r.share_access = FILE_SHARE_READ | FILE_SHARE_WRITE;
    r.is_durable = true;
    r.is_persistent = true;
    r.timeout_ms = 60_000;
    r.durable_owner = "HOLDFAST\\bench".into();
    r
}

/// Waits until the host that owns the share's volume serves it; returns
/// that host and a socket client.
async fn share_server(cluster: &BenchCluster, client: &Client, share: &str) -> anyhow::Result<(u64, FsClient)> {
    let def = cluster.info.file.shares.iter().find(|s| s.name == share).ok_or_else(|| anyhow::anyhow!("no share {share:?} in the cluster config"))?;
    let vol = cluster.info.file.volumes.iter().find(|v| v.name == def.volume).ok_or_else(|| anyhow::anyhow!("share {share:?}: no volume"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let owner = client.lookup(&vol.data_object()).await?.owner;
        let sock = crate::cluster_dir::node_dir(&cluster.info.dir, owner).join("fs.sock");
        match FsClient::connect(&sock).await {
            Ok(c) => match c.shares().await {
                Ok(s) if s.iter().any(|x| x.name == share) => return Ok((owner, c)),
                Ok(_) => last = format!("node {owner} does not serve {share:?} yet"),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("share {share:?} not served after 60 s: {last}")
}

pub fn run(dir: Option<&Path>, a: HandlesArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.samples >= 100, "--samples must be at least 100");
    anyhow::ensure!(a.seconds > 0.0 && a.seconds <= 600.0, "--seconds must be in (0, 600]");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let cluster = BenchCluster::open(dir).await?;
        let client = Arc::new(Client::from_cluster(&cluster.info));
        crate::volumes::ensure_volumes(&client, &cluster.info).await?;
        let (owner, fs) = share_server(&cluster, &client, &a.share).await?;
        let fs = Arc::new(fs);
        eprintln!("share {} served by node {owner}; measuring the write baseline", a.share);

        // Baseline: a 512 B replicated write on a 3-copy memory object owned
        // by the same host, sent straight to it over TCP.
        let name = format!("bench-handles-{:08x}", rand::random::<u32>());
        let replicas = cluster.info.nodes.len().min(3) as u32;
        client
            .create_object(ControlRequest::CreateObject { name: name.clone(), kind: ObjectKind::Memory, size_bytes: BASELINE_OBJECT_BYTES, replicas })
            .await?;
        let o = client.move_object(&name, owner).await?;
        anyhow::ensure!(o.owner == owner, "baseline object did not move to node {owner}");
        let conn = Client::dial(&cluster.info.credential, o.owner, &o.owner_addr).await?;
        let mut write = Samples::with_capacity(a.samples);
        let data = Bytes::from(vec![0xa5u8; 512]);
        for i in 0..a.samples + a.samples / 10 {
            let off = (i as u64 % (BASELINE_OBJECT_BYTES / 512)) * 512;
            let t = Instant::now();
            Client::write_at(&conn, o.id, off, data.clone()).await?;
            if i >= a.samples / 10 {
                write.push_ns(t.elapsed().as_nanos());
            }
        }

        let open = OpenReq {
            share: a.share.clone(),
            path: "bench-handles.dat".into(),
            desired_access: GENERIC_READ | GENERIC_WRITE,
            share_access: FILE_SHARE_READ | FILE_SHARE_WRITE,
            disposition: FILE_OPEN_IF,
            create_options: 0,
            file_attributes: 0,
            allocation_size: 0,
            ..Default::default()
        };
        let (fid, _, info) = fs.open(open).await?;
        eprintln!("measuring handle put latency");
        // Put latency: each put timed alone; its delete is not.
        let mut put = Samples::with_capacity(a.samples);
        for i in 0..a.samples + a.samples / 10 {
            let rec = record(&a.share, info.ino, i as u64);
            let t = Instant::now();
            let r = fs.handle_put(&a.share, 0, &rec).await?;
            if i >= a.samples / 10 {
                put.push_ns(t.elapsed().as_nanos());
            }
            fs.handle_delete(&a.share, r.persistent_id).await?;
        }

        // The socket round trip alone (a get answered from memory), to
        // show where a put's time goes.
        let probe = fs.handle_put(&a.share, 0, &record(&a.share, info.ino, u64::MAX)).await?;
        let mut get = Samples::with_capacity(a.samples);
        for i in 0..a.samples + a.samples / 10 {
            let t = Instant::now();
            fs.handle_get(&a.share, probe.persistent_id).await?;
            if i >= a.samples / 10 {
                get.push_ns(t.elapsed().as_nanos());
            }
        }
        fs.handle_delete(&a.share, probe.persistent_id).await?;

        // Throughput: rounds in which 32 callers fill most of the free
        // slots as fast as they can (timed), then empty them (not timed).
        let capacity_free = {
            let list = fs.handle_list(&a.share).await?.len();
            let cap = (cluster.info.file.volumes.iter().find(|v| v.name == "share").and_then(|v| v.handle_size_bytes().ok()).unwrap_or(16 << 20) / 4096).saturating_sub(1) as usize;
            cap.saturating_sub(list) * 3 / 4
        };
        anyhow::ensure!(capacity_free >= CALLERS * 4, "the handle table has too few free slots for the throughput run");
        let per_caller = capacity_free / CALLERS;
        eprintln!("measuring put throughput with {CALLERS} callers");
        let (mut timed, mut puts) = (0.0f64, 0usize);
        let mut n = 1u64 << 40;
        while timed < a.seconds {
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..CALLERS {
                let (fs, share, ino, base) = (fs.clone(), a.share.clone(), info.ino, n);
                n += per_caller as u64;
                tasks.push(tokio::spawn(async move {
                    let mut ids = Vec::with_capacity(per_caller);
                    for k in 0..per_caller as u64 {
                        ids.push(fs.handle_put(&share, 0, &record(&share, ino, base + k)).await?.persistent_id);
                    }
                    anyhow::Ok(ids)
                }));
            }
            let mut ids = Vec::new();
            for t in tasks {
                ids.extend(t.await??);
            }
            timed += start.elapsed().as_secs_f64();
            puts += ids.len();
            let mut dels = Vec::new();
            for chunk in ids.chunks(ids.len().div_ceil(CALLERS)) {
                let (fs, share, chunk) = (fs.clone(), a.share.clone(), chunk.to_vec());
                dels.push(tokio::spawn(async move {
                    for id in chunk {
                        fs.handle_delete(&share, id).await?;
                    }
                    anyhow::Ok(())
                }));
            }
            for d in dels {
                d.await??;
            }
        }
        fs.close(fid).await?;

        let (w50, w99) = (write.percentile(50.0), write.percentile(99.0));
        let (p50, p99) = (put.percentile(50.0), put.percentile(99.0));
        let out = json!({
            "cluster": cluster.label(),
            "share": a.share,
            "owner": owner,
            "samples": a.samples,
            "write_p50_us": round1(w50),
            "write_p99_us": round1(w99),
            "put_p50_us": round1(p50),
            "put_p99_us": round1(p99),
            "put_overhead_p50_us": round1(p50 - w50),
            "get_p50_us": round1(get.percentile(50.0)),
            "puts_per_s_32": (puts as f64 / timed).round(),
        });
        if a.json {
            println!("{}", serde_json::to_string(&out)?);
        } else {
            println!("bench handles on {} (share {}, volume owner node {owner})", cluster.label(), a.share);
            for (k, v) in out.as_object().expect("object") {
                println!("  {k:<20} {v}");
            }
            println!("targets: put_overhead_p50_us <= 20, puts_per_s_32 >= 30000");
        }
        anyhow::Ok(())
    })
}
