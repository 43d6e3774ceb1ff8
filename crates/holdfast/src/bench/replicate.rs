//! `holdfast bench replicate`: replicated write latency and throughput on a
//! 3-copy memory object, against 64-byte TCP ping-pong on loopback measured
//! in the same run; and what the host links' TLS adds to a round trip
//! (`link_*`: the same ping-pong plain and inside TLS).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use holdfast_client::Client;
use holdfast_types::ObjectKind;
use holdfast_wire::control::ControlRequest;
use holdfast_wire::Conn;
use rand::Rng;
use serde_json::json;

use super::cluster::BenchCluster;
use super::stats::{round1, Samples};

const OBJECT_BYTES: u64 = 64 << 20;
const RTT_MESSAGE_BYTES: usize = 64;

#[derive(Args)]
pub struct ReplicateArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Latency samples per measurement.
    #[arg(long, default_value_t = 20_000)]
    samples: usize,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

/// 64-byte ping-pong over loopback TCP between two threads: the floor any
/// networked write must pay at least once.
fn tcp_rtt(samples: usize) -> anyhow::Result<Samples> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = l.accept()?;
        s.set_nodelay(true)?;
        let mut b = [0u8; RTT_MESSAGE_BYTES];
        while s.read_exact(&mut b).is_ok() {
            s.write_all(&b)?;
        }
        Ok(())
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut b = [7u8; RTT_MESSAGE_BYTES];
    let mut out = Samples::with_capacity(samples);
    for i in 0..samples + samples / 10 {
        let t = Instant::now();
        c.write_all(&b)?;
        c.read_exact(&mut b)?;
        if i >= samples / 10 {
            out.push_ns(t.elapsed().as_nanos());
        }
    }
    drop(c);
    let _ = echo.join();
    Ok(out)
}

/// Ping-pong of `len` bytes over loopback TCP between two tasks of this
/// runtime, plain or inside a host link's TLS (a throwaway CA, the same
/// configuration as the nodes'): the difference is what TLS costs a round
/// trip of a replicated write.
async fn link_rtt(tls: bool, len: usize, samples: usize) -> anyhow::Result<Samples> {
    use holdfast_wire::pki::{ClusterCa, Subject};
    use holdfast_wire::tls::Credential;
    use holdfast_wire::{auth, msg::Role};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
    impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
    let ca = ClusterCa::generate()?;
    let cred = |s| -> anyhow::Result<Credential> {
        let p = ca.issue(s)?;
        Ok(Credential::from_pem(ca.cert_pem().as_bytes(), p.cert_pem.as_bytes(), p.key_pem.as_bytes())?)
    };
    let (server_cred, client_cred) = (cred(Subject::Node(1))?, cred(Subject::Client)?);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let echo = tokio::spawn(async move {
        let (s, _) = l.accept().await?;
        s.set_nodelay(true)?;
        let mut s: Box<dyn Stream> = if tls { Box::new(auth::accept(s, &server_cred, 1).await?.0) } else { Box::new(s) };
        let mut b = vec![0u8; len];
        while s.read_exact(&mut b).await.is_ok() {
            s.write_all(&b).await?;
            s.flush().await?;
        }
        anyhow::Ok(())
    });
    let c = tokio::net::TcpStream::connect(addr).await?;
    c.set_nodelay(true)?;
    let mut c: Box<dyn Stream> = if tls { Box::new(auth::dial(c, &client_cred, Role::Client, 0, 1).await?) } else { Box::new(c) };
    let mut b = vec![7u8; len];
    let mut out = Samples::with_capacity(samples);
    for i in 0..samples + samples / 10 {
        let t = Instant::now();
        c.write_all(&b).await?;
        c.flush().await?;
        c.read_exact(&mut b).await?;
        if i >= samples / 10 {
            out.push_ns(t.elapsed().as_nanos());
        }
    }
    drop(c);
    echo.await??;
    Ok(out)
}

fn random_offset(rng: &mut impl Rng, len: usize) -> u64 {
    let slots = OBJECT_BYTES / len as u64;
    rng.gen_range(0..slots) * len as u64
}

async fn write_latency(conn: &Arc<Conn>, object: u64, len: usize, samples: usize) -> anyhow::Result<Samples> {
    let data = Bytes::from(vec![0xa5u8; len]);
    let mut rng = rand::thread_rng();
    let mut out = Samples::with_capacity(samples);
    for i in 0..samples + samples / 10 {
        let off = random_offset(&mut rng, len);
        let t = Instant::now();
        Client::write_at(conn, object, off, data.clone()).await?;
        if i >= samples / 10 {
            out.push_ns(t.elapsed().as_nanos());
        }
    }
    Ok(out)
}

/// `writers` concurrent writers, each on its own connection, for `seconds`.
async fn throughput(info: &holdfast_client::ClusterInfo, owner: (u64, String), object: u64, writers: usize, seconds: f64) -> anyhow::Result<(f64, Samples)> {
    let mut conns = Vec::new();
    for _ in 0..writers {
        conns.push(Client::dial(&info.credential, owner.0, &owner.1).await?);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for conn in conns {
        tasks.push(tokio::spawn(async move {
            let data = Bytes::from(vec![0x5au8; 512]);
            let mut rng = rand::rngs::StdRng::from_entropy();
            let mut s = Samples::with_capacity(65_536);
            while Instant::now() < deadline {
                let off = random_offset(&mut rng, 512);
                let t = Instant::now();
                Client::write_at(&conn, object, off, data.clone()).await?;
                s.push_ns(t.elapsed().as_nanos());
            }
            anyhow::Ok(s)
        }));
    }
    let mut all = Samples::with_capacity(1 << 20);
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok((all.len() as f64 / elapsed, all))
}

use rand::SeedableRng;

pub fn run(dir: Option<&Path>, a: ReplicateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.samples >= 100, "--samples must be at least 100");
    anyhow::ensure!(a.seconds > 0.0 && a.seconds <= 600.0, "--seconds must be in (0, 600]");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let cluster = BenchCluster::open(dir).await?;
        let client = Client::from_cluster(&cluster.info);
        let name = format!("bench-replicate-{:08x}", rand::random::<u32>());
        let o = client
            .create_object(ControlRequest::CreateObject { name: name.clone(), kind: ObjectKind::Memory, size_bytes: OBJECT_BYTES, replicas: 3 })
            .await?;
        let conn = Client::dial(&cluster.info.credential, o.owner, &o.owner_addr).await?;

        let mut rtt = tcp_rtt(a.samples)?;
        let mut link = Vec::new();
        for len in [RTT_MESSAGE_BYTES, 4096] {
            let plain = link_rtt(false, len, a.samples).await?.percentile(50.0);
            let tls = link_rtt(true, len, a.samples).await?.percentile(50.0);
            link.push((len, plain, tls));
        }
        let mut w512 = write_latency(&conn, o.id, 512, a.samples).await?;
        let mut w4k = write_latency(&conn, o.id, 4096, a.samples).await?;
        let owner = (o.owner, o.owner_addr.clone());
        let (tp1, _) = throughput(&cluster.info, owner.clone(), o.id, 1, a.seconds).await?;
        let (tp8, _) = throughput(&cluster.info, owner.clone(), o.id, 8, a.seconds).await?;
        let (tp32, mut lat32) = throughput(&cluster.info, owner, o.id, 32, a.seconds).await?;

        let (rtt50, rtt99) = (rtt.percentile(50.0), rtt.percentile(99.0));
        let (w50, w99, w999) = (w512.percentile(50.0), w512.percentile(99.0), w512.percentile(99.9));
        let out = json!({
            "cluster": cluster.label(),
            "object": name,
            "samples": a.samples,
            "rtt_p50_us": round1(rtt50),
            "rtt_p99_us": round1(rtt99),
            "write_512_p50_us": round1(w50),
            "write_512_p99_us": round1(w99),
            "write_512_p999_us": round1(w999),
            "write_4k_p50_us": round1(w4k.percentile(50.0)),
            "write_4k_p99_us": round1(w4k.percentile(99.0)),
            "ratio_p50": (w50 / rtt50 * 100.0).round() / 100.0,
            "ratio_p99": (w99 / rtt99 * 100.0).round() / 100.0,
            "writes_per_s_1": tp1.round(),
            "writes_per_s_8": tp8.round(),
            "writes_per_s_32": tp32.round(),
            "p99_us_32": round1(lat32.percentile(99.0)),
        });
        let mut out = out;
        for (len, plain, tls) in link {
            let k = if len == 4096 { "4k".to_string() } else { len.to_string() };
            out[format!("link_{k}_plain_p50_us")] = json!(round1(plain));
            out[format!("link_{k}_tls_p50_us")] = json!(round1(tls));
            out[format!("link_{k}_tls_cost_p50_us")] = json!(round1(tls - plain));
        }
        if a.json {
            println!("{}", serde_json::to_string(&out)?);
        } else {
            println!("bench replicate on {} (object {name}, 3 memory copies)", cluster.label());
            for (k, v) in out.as_object().expect("object") {
                println!("  {k:<20} {v}");
            }
            println!("targets: ratio_p50 <= 2.0, ratio_p99 <= 3.0, writes_per_s_32 >= 40000 with p99_us_32 <= 1000");
        }
        anyhow::Ok(())
    })
}
