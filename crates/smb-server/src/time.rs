//! FILETIME: 100 ns intervals since 1601-01-01 UTC.

const UNIX_EPOCH_FILETIME: u64 = 116_444_736_000_000_000;

pub fn now_filetime() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH_FILETIME + d.as_secs() * 10_000_000 + u64::from(d.subsec_nanos() / 100)
}

pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
