//! What owners did with rebuilt copies, recorded for the simulator while
//! it runs (its hosts share one thread; `start` and `take` bracket a run),
//! as `holdfast_local_store::component::observe` records epochs. Only in
//! builds with `test-switches`; elsewhere nothing is recorded.
//!
//! Two users: the fault schedule aims a crash at the moment a rebuild has
//! copied everything and its ACTIVE commit is about to start (`Copied`),
//! the window of the promotion race (docs/simulation.md, "Mutations"); and
//! the oracle checks that no copy is committed ACTIVE after it missed a
//! write during its rebuild.

use std::cell::RefCell;

use holdfast_types::{Epoch, NodeId, ObjectId};

/// Events kept per run; later ones are dropped (the oracle says so).
pub const EVENTS_MAX: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildEvent {
    /// `owner` started sending every write to `node` (its rebuild's copy
    /// begins): from here the copy must apply each write.
    CatchingUp { owner: NodeId, object: ObjectId, node: NodeId, epoch: Epoch },
    /// `node` failed write `seq` while catching up, and the owner stopped
    /// sending to it: the copy misses that write.
    Dropped { owner: NodeId, object: ObjectId, node: NodeId, epoch: Epoch, seq: u64 },
    /// The rebuild's copy is complete; the promotion and the ACTIVE commit
    /// come next.
    Copied { owner: NodeId, object: ObjectId, node: NodeId, epoch: Epoch },
    /// The directory confirmed `node` ACTIVE at `epoch` after its rebuild.
    ActiveCommitted { owner: NodeId, object: ObjectId, node: NodeId, epoch: Epoch },
}

thread_local! {
    static LOG: RefCell<Option<Vec<RebuildEvent>>> = const { RefCell::new(None) };
}

/// Starts a new, empty record on this thread.
pub fn start() {
    LOG.with(|l| *l.borrow_mut() = Some(Vec::new()));
}

/// Stops recording on this thread and returns what was recorded.
pub fn take() -> Vec<RebuildEvent> {
    LOG.with(|l| l.borrow_mut().take()).unwrap_or_default()
}

/// The events recorded so far from index `from` on, without stopping: the
/// fault driver reads them between simulation steps.
pub fn since(from: usize) -> Vec<RebuildEvent> {
    LOG.with(|l| l.borrow().as_ref().map(|log| log.get(from..).unwrap_or_default().to_vec()).unwrap_or_default())
}

pub(crate) fn push(e: RebuildEvent) {
    LOG.with(|l| {
        if let Some(log) = l.borrow_mut().as_mut() {
            if log.len() < EVENTS_MAX {
                log.push(e);
            }
        }
    });
}
