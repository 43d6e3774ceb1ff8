//! Small helpers shared by the commands.

use std::future::Future;

/// Runs a client-side future on a single-threaded runtime: CLI commands
/// are one client, and one thread keeps latency low on a busy machine.
pub fn block_on<F: Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

/// `64MiB`-style sizes.
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    holdfast_types::size::parse_size_bytes(text).map_err(|e| anyhow::anyhow!(e))
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (u, m) in UNITS {
        if n >= m && n % m == 0 {
            return format!("{}{u}", n / m);
        }
    }
    format!("{n}B")
}
