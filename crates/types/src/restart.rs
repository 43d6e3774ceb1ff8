//! What the directory records about handle tables across whole-cluster
//! restarts (a planned stop parks them; a reset brings a LOST one back).
//! The rules are in `holdfast_directory::restart` and docs/restarts.md;
//! these are the records, shared by the directory and `holdfast status`.

use serde::{Deserialize, Serialize};

use crate::LogIndex;

/// Resets kept per object; older ones are dropped (the node logs keep
/// every one).
pub const RESETS_KEPT: usize = 8;

/// A planned whole-cluster stop under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopping {
    /// Log index of the `StopCluster` that began it.
    pub index: LogIndex,
    pub at_unix_ms: u64,
}

/// A handle table's image, written to its volume by a planned stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked {
    /// The object's incarnation when it was parked.
    pub incarnation: u32,
    pub records: u32,
    pub at_unix_ms: u64,
    pub index: LogIndex,
}

/// The record count a file server last reported for its table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    pub records: u32,
    pub at_unix_ms: u64,
}

/// One `ResetLost`, kept for `holdfast status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetRecord {
    pub index: LogIndex,
    pub at_unix_ms: u64,
    /// The incarnation the object came back as.
    pub incarnation: u32,
    /// `Some(i)`: rebuilt from the image parked at incarnation `i`.
    pub restored_from: Option<u32>,
    /// Records the parked image held (0 when nothing was parked).
    pub records_restored: u32,
    /// Records lost with the RAM: 0 after a restore, the last census
    /// otherwise, `None` when no census was ever taken.
    pub records_lost: Option<u32>,
    /// When the census behind `records_lost` was taken.
    pub census_at_unix_ms: Option<u64>,
}

/// Handle-table bookkeeping of one memory object (empty for objects that
/// hold no table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    pub parked: Option<Parked>,
    pub census: Option<Census>,
    /// The last `RESETS_KEPT` resets, oldest first.
    pub resets: Vec<ResetRecord>,
}

