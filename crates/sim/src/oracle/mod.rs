//! The oracle: what the workload and the fault driver observed, and one
//! check per invariant (one file each).

pub mod convergence;
pub mod durability;
pub mod fencing;
pub mod lease;
pub mod linearizable;
pub mod loss;
pub mod promotion;
pub mod slots;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use holdfast_types::{NodeId, ObjectId};

pub use slots::{block, decode, Seen, SLOT_BYTES};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Faults,
    Liveness,
    Done,
}

/// One write of the workload. Times in `started`/`ended` are the
/// client's logical clock ([`History::tick`]), which orders what the client
/// saw exactly: simulated time has a 1 ms grain, and an acknowledgement
/// and a read's start often share a tick.
#[derive(Debug, Clone)]
pub struct WriteRecord {
    pub slot: u32,
    pub version: u32,
    pub started: u64,
    /// When `Client::write` returned; `None` while it had not (a run that
    /// stopped mid-write).
    pub ended: Option<u64>,
    /// Simulated time of the acknowledgement; `None` if the write failed
    /// (it may or may not have been applied) or had not returned.
    pub acked_at: Option<Duration>,
}

/// One successful read of a slot, in logical time like [`WriteRecord`].
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub slot: u32,
    pub started: u64,
    pub ended: u64,
    /// Simulated time the read was sent, for messages.
    pub started_at: Duration,
    pub seen: Seen,
}

/// Everything the run observed. Shared by the client host and the driver.
#[derive(Debug, Default)]
pub struct History {
    pub phase: Phase,
    pub object: Option<ObjectId>,
    pub created_at: Option<Duration>,
    /// Nodes holding a component of the object.
    pub placement: Vec<NodeId>,
    /// The client's logical clock (see [`WriteRecord`]).
    pub clock: u64,
    /// Every write sent, in the order sent.
    pub writes: Vec<WriteRecord>,
    pub reads: Vec<ReadRecord>,
    pub reads_checked: usize,
    /// Node -> simulated times it was crashed (RAM lost).
    pub crashes: BTreeMap<NodeId, Vec<Duration>>,
    /// Simulated times the fault phase started and ended (`faults::drive`).
    pub fault_start: Option<Duration>,
    pub fault_end: Option<Duration>,
    /// Simulated time each writer stopped.
    pub writers_stopped: Vec<Duration>,
    /// When status first showed the object LOST.
    pub lost_at: Option<Duration>,
    /// Latest status: a leader, every node up, every component ACTIVE.
    pub healthy: bool,
    /// Latest status: the nodes whose component of the object is ACTIVE.
    pub active: Vec<NodeId>,
    /// After the liveness phase: each ACTIVE component's bytes.
    pub final_components: Vec<(NodeId, Vec<u8>)>,
    /// After the object was LOST and the faults healed: each placed node's
    /// copy as it read back (`None`: it could not be read), for `loss`.
    pub copies_at_loss: Vec<(NodeId, Option<Vec<u8>>)>,
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

impl History {
    /// The next logical time.
    pub fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Records a write about to be sent; returns its index for
    /// [`History::end_write`].
    pub fn begin_write(&mut self, slot: u32, version: u32) -> usize {
        let started = self.tick();
        self.writes.push(WriteRecord { slot, version, started, ended: None, acked_at: None });
        self.writes.len() - 1
    }

    pub fn end_write(&mut self, i: usize, acked_at: Option<Duration>) {
        let ended = self.tick();
        let w = &mut self.writes[i];
        w.ended = Some(ended);
        w.acked_at = acked_at;
    }

    pub fn acked_writes(&self) -> usize {
        self.writes.iter().filter(|w| w.acked_at.is_some()).count()
    }

    /// Writes acknowledged while faults were being injected: what the
    /// issue asked of the workload is that this keeps growing to the end
    /// of the fault phase.
    pub fn acked_in_fault_phase(&self) -> usize {
        let (Some(from), Some(to)) = (self.fault_start, self.fault_end) else { return 0 };
        self.writes.iter().filter(|w| w.acked_at.is_some_and(|t| t >= from && t <= to)).count()
    }

    /// Writers that were still writing when the fault phase ended (a writer
    /// stops early only on `OBJECT_LOST`).
    pub fn writers_busy_at_fault_end(&self) -> usize {
        let Some(end) = self.fault_end else { return 0 };
        self.writers_stopped.iter().filter(|&&t| t >= end).count()
    }

    /// The most versions any one slot received.
    pub fn versions_max(&self) -> u32 {
        self.writes.iter().map(|w| w.version).max().unwrap_or(0)
    }
}
