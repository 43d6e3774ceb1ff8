//! Clocks. File times are Windows FILETIMEs (100 ns since 1601), which is
//! what SMB carries; handle deadlines are wall-clock Unix milliseconds, so a
//! deadline written on one host means the same instant on another.

use std::time::{SystemTime, UNIX_EPOCH};

/// FILETIME of the Unix epoch.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

pub fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn now_filetime() -> u64 {
    let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    FILETIME_UNIX_EPOCH + ns / 100
}
