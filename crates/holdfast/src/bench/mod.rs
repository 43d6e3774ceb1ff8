//! `holdfast bench …`. Every benchmark measures its own baseline in the same
//! run and reports ratios, because the machine is shared and noisy.

pub(crate) mod cluster;
pub(crate) mod failover;
mod failover_partition;
mod failover_silent;
mod failover_store;
mod handles;
mod io;
mod redis;
mod replicate;
mod resync;
mod samba;
mod smb;
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
    /// Rebuild throughput of a restarted host's copy against loopback TCP
    /// streaming, and foreground write p99 during the rebuild against idle.
    /// Starts its own temporary cluster (kills and restarts a node).
    Resync(resync::ResyncArgs),
    /// Time from SIGKILL of an object's owner host to the first write
    /// acknowledged by the new owner, over several trials. Starts its own
    /// temporary cluster (kills and restarts nodes).
    FailoverStore(failover_store::FailoverStoreArgs),
    /// Time from SIGKILL of the host running the SMB service to the moment
    /// a Python smbprotocol client has reclaimed its persistent handle
    /// (DH2C) from the survivor on the same address and read its bytes
    /// back; baseline: the same reclaim after a plain dropped connection.
    /// Starts its own temporary cluster (kills and restarts nodes).
    Failover(failover::FailoverArgs),
    /// Persistent-handle put latency through the file-server socket against
    /// a replicated 512 B write, and put throughput with 32 callers.
    Handles(handles::HandlesArgs),
    /// SMB opens per second (CREATE with a durable v2 / persistent handle,
    /// WRITE 4 KiB, CLOSE) on Holdfast's CA share against Samba's smbd
    /// started on loopback, with 1 and 16 clients.
    Smb(smb::SmbArgs),
    /// File I/O through SMB on Holdfast's CA share against Samba's smbd on
    /// loopback: sequential 1 MiB writes and reads, 4 KiB random writes at
    /// queue depth 1 and 16, and a create/write/stat/delete mix.
    Io(io::IoArgs),
}

pub fn run(dir: Option<&Path>, cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Replicate(a) => replicate::run(dir, a),
        BenchCmd::RedisWait(a) => redis::run(a),
        BenchCmd::Resync(a) => resync::run(dir, a),
        BenchCmd::FailoverStore(a) => failover_store::run(dir, a),
        BenchCmd::Failover(a) => failover::run(dir, a),
        BenchCmd::Handles(a) => handles::run(dir, a),
        BenchCmd::Smb(a) => smb::run(dir, a),
        BenchCmd::Io(a) => io::run(dir, a),
    }
}
