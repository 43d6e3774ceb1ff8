//! The oracle: what the workload and the fault driver observed, and one
//! check per invariant (one file each).

pub mod convergence;
pub mod durability;
pub mod fencing;
pub mod lease;
pub mod linearizable;
pub mod loss;
pub mod promotion;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use holdfast_types::{NodeId, ObjectId};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Faults,
    Liveness,
    Done,
}

#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub slot: u64,
    /// Simulated time the read was sent.
    pub started: Duration,
    pub bytes: Vec<u8>,
}

/// Everything the run observed. Shared by the client host and the driver.
#[derive(Debug, Default)]
pub struct History {
    pub phase: Phase,
    pub object: Option<ObjectId>,
    pub created_at: Option<Duration>,
    /// Nodes holding a component of the object.
    pub placement: Vec<NodeId>,
    /// Slot -> simulated time its write was acknowledged.
    pub acked: BTreeMap<u64, Duration>,
    /// Writes that returned an error: applied or not, nobody knows.
    pub uncertain: BTreeSet<u64>,
    pub reads: Vec<ReadRecord>,
    pub reads_checked: usize,
    /// Node -> simulated times it was crashed (RAM lost).
    pub crashes: BTreeMap<NodeId, Vec<Duration>>,
    /// When status first showed the object LOST.
    pub lost_at: Option<Duration>,
    /// Latest status: a leader, every node up, every component ACTIVE.
    pub healthy: bool,
    /// Latest status: the nodes whose component of the object is ACTIVE.
    pub active: Vec<NodeId>,
    /// After the liveness phase: each ACTIVE component's bytes.
    pub final_components: Vec<(NodeId, Vec<u8>)>,
    pub liveness_failure: Option<String>,
    /// Every read and write a host served, in order (the lease oracle).
    pub served: Vec<holdfast_node::lease::observe::Served>,
    /// Every epoch each component learned or accepted, in order (the
    /// fencing oracle).
    pub epochs: Vec<holdfast_local_store::component::observe::EpochEvent>,
    /// What owners did with rebuilt copies, in order (the promotion
    /// oracle; the fault schedule aims crashes with it too).
    pub rebuilds: Vec<holdfast_replication::observe::RebuildEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

/// Bytes of one workload slot.
pub const SLOT_BYTES: usize = 512;

/// What the workload writes into slot `i`: unique per slot.
pub fn slot_content(i: u64) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v: Vec<u8> = (0..SLOT_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    v[..8].copy_from_slice(&(i + 1).to_le_bytes());
    v
}

pub fn check_all(h: &History) -> Vec<Violation> {
    let mut v = Vec::new();
    v.extend(durability::check(h));
    v.extend(linearizable::check(h));
    v.extend(convergence::check(h));
    v.extend(loss::check(h));
    v.extend(lease::check(h));
    v.extend(fencing::check(h));
    v.extend(promotion::check(h));
    v
}

/// First bytes of a slot, for messages.
pub fn describe(bytes: &[u8]) -> String {
    match bytes.get(..8) {
        Some(b) if b.iter().all(|&x| x == 0) => "zeroes (never written)".into(),
        Some(b) => format!("the write of slot {}", u64::from_le_bytes(b.try_into().expect("8")).wrapping_sub(1)),
        None => format!("{} bytes", bytes.len()),
    }
}
