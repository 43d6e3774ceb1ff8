//! `holdfast bench …`. Every benchmark measures its own baseline in the same
//! run and reports ratios, because the machine is shared and noisy.

mod cluster;
mod redis;
mod replicate;
pub mod stats;

use std::path::Path;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Replicated write latency and throughput against loopback TCP RTT.
    Replicate(replicate::ReplicateArgs),
    /// SET + WAIT latency against a running Redis primary (used by
    /// bench/peers/redis-wait.sh for the side-by-side figure).
    RedisWait(redis::RedisArgs),
}

pub fn run(dir: Option<&Path>, cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Replicate(a) => replicate::run(dir, a),
        BenchCmd::RedisWait(a) => redis::run(a),
    }
}
