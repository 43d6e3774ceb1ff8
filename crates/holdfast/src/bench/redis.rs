//! SET + `WAIT n 0` against a Redis primary, speaking RESP directly so the
//! client costs the same as ours. Used by `bench/peers/redis-wait.sh`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::stats::{round1, Samples};

#[derive(Args)]
pub struct RedisArgs {
    /// Address of the Redis primary.
    #[arg(long, default_value = "127.0.0.1:6390")]
    addr: String,
    /// Replicas WAIT must hear from.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    #[arg(long, default_value_t = 20_000)]
    samples: usize,
    #[arg(long)]
    json: bool,
}

fn bulk(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        v.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        v.extend_from_slice(p);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Reads one simple reply line (`+OK`, `:2`, or an error).
fn reply(r: &mut BufReader<TcpStream>) -> anyhow::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    anyhow::ensure!(!line.is_empty(), "redis closed the connection");
    anyhow::ensure!(!line.starts_with('-'), "redis error: {}", line.trim());
    Ok(line.trim().to_string())
}

pub fn run(a: RedisArgs) -> anyhow::Result<()> {
    let s = TcpStream::connect(&a.addr)?;
    s.set_nodelay(true)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let value = vec![b'x'; 512];
    let replicas = a.replicas.to_string();
    let mut lat = Samples::with_capacity(a.samples);
    let mut short = 0u64;
    for i in 0..a.samples + a.samples / 10 {
        let key = format!("k{}", i % 4096);
        let mut req = bulk(&[b"SET", key.as_bytes(), &value]);
        req.extend(bulk(&[b"WAIT", replicas.as_bytes(), b"0"]));
        let t = Instant::now();
        w.write_all(&req)?;
        reply(&mut r)?;
        let acked = reply(&mut r)?;
        if i >= a.samples / 10 {
            lat.push_ns(t.elapsed().as_nanos());
            if acked.trim_start_matches(':') != replicas {
                short += 1;
            }
        }
    }
    let out = json!({
        "redis_set_wait_p50_us": round1(lat.percentile(50.0)),
        "redis_set_wait_p99_us": round1(lat.percentile(99.0)),
        "redis_set_wait_p999_us": round1(lat.percentile(99.9)),
        "redis_wait_short_acks": short,
        "samples": a.samples,
    });
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}
