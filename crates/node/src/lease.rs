//! Time-bounded ownership: a host serves only while it holds a lease that
//! the directory's leader renewed with a majority (docs/leases.md).
//!
//! - **Renewal** (`lease_loop`, every heartbeat): the node sends
//!   `LeaseRenew { applied }` to the leader. The leader confirms with a
//!   quorum that it still leads (a Raft read index), records the grant and
//!   the node's applied index, and answers with its own applied index `g`.
//!   The node extends its lease to `send time + lease_ms` once its own
//!   directory has applied `g`, so the state it serves from is at least as
//!   new as the leader's when it granted.
//! - **Gate** (`NodeInner::may_serve`): every file-server operation, every
//!   block read or write from a client, and every SMB service of the host
//!   require a valid lease and, for an object, that this node's directory
//!   names it the owner.
//! - **Barrier** (`lease_barrier`): before a node starts serving an object
//!   at a new epoch, the leader waits until every other node has either
//!   told it (in a renewal) that it applied that epoch's entry, or let
//!   every lease it could hold from before run out. Only then does the new
//!   owner serve: no two hosts serve one object in overlapping leases.
//!
//! Leases use the monotonic clock (`tokio::time::Instant`, which follows
//! the simulated clock in `holdfast-sim`), which keeps running while a
//! process is stopped: a host that wakes from a freeze finds its lease
//! over before it answers anything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use holdfast_types::{ErrorCode, HoldfastError, LogIndex, NodeId};
use holdfast_wire::FrameKind;
use tokio::time::Instant;

use crate::node::NodeInner;

/// Clock-rate drift a lease allows for, in parts per million: the holder
/// counts its lease on its clock, the leader on its own.
pub const LEASE_DRIFT_PPM: u64 = 10_000;
/// Added to every wait for a lease to run out.
pub const LEASE_MARGIN_MS: u64 = 50;
/// While a node holds no lease it asks this many times per heartbeat.
const LEASE_RETRY_DIVISOR: u32 = 4;
/// Longest a barrier waits for the leases of other nodes.
const BARRIER_WAIT_MS_MAX: u64 = 30_000;

/// How long after its last grant a lease has surely ended, on any clock.
pub fn lease_bound(lease_ms: u64) -> Duration {
    Duration::from_millis(lease_ms + lease_ms * LEASE_DRIFT_PPM / 1_000_000 + LEASE_MARGIN_MS)
}

/// This host's lease.
#[derive(Default)]
pub struct Lease {
    /// When it ends, and how many times it was taken after a lapse (or for
    /// the first time): what was started under an earlier count was started
    /// before this host was fenced.
    until: Mutex<(Option<Instant>, u64)>,
}

impl Lease {
    pub fn valid(&self) -> bool {
        self.until.lock().expect("lease lock").0.is_some_and(|u| Instant::now() < u)
    }

    /// How many times the lease was taken after a lapse.
    pub fn taken(&self) -> u64 {
        self.until.lock().expect("lease lock").1
    }

    /// How long ago it ended, if it did.
    pub fn over_for(&self) -> Option<Duration> {
        let until = self.until.lock().expect("lease lock").0?;
        Instant::now().checked_duration_since(until)
    }

    /// Time left, if any.
    pub fn remaining(&self) -> Option<Duration> {
        let until = self.until.lock().expect("lease lock").0?;
        until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    fn extend_to(&self, until: Instant) {
        let mut u = self.until.lock().expect("lease lock");
        let now = Instant::now();
        if u.0.is_none_or(|old| old <= now) {
            u.1 += 1;
        }
        if u.0.is_none_or(|old| old < until) {
            u.0 = Some(until);
        }
    }
}

/// What the leader knows of the leases it granted.
#[derive(Default)]
pub struct Grants {
    /// The term these records belong to and when this node saw itself
    /// become leader in it (no earlier than its election): leases a former
    /// leader granted end at most `lease_bound` after that.
    term: u64,
    leader_since: Option<Instant>,
    /// Per node: when it was last granted (its receive time here) and the
    /// highest directory index it said it had applied.
    nodes: HashMap<NodeId, (Instant, LogIndex)>,
}

impl NodeInner {
    /// The gate in front of everything a host serves: a valid lease, and,
    /// for `objects`, this node as their owner in its directory.
    pub fn may_serve(&self, objects: &[u64]) -> Result<(), HoldfastError> {
        self.may_serve_for(Duration::ZERO)?;
        self.owns(objects)
    }

    /// A lease that lasts at least `ahead` more.
    pub fn may_serve_for(&self, ahead: Duration) -> Result<(), HoldfastError> {
        // `validate` refuses the switch in a build without the feature.
        let ignore_lease = cfg!(feature = "test-switches") && self.cfg.test_only_serve_without_lease;
        if !ignore_lease && self.lease.remaining().is_none_or(|r| r <= ahead) {
            return Err(HoldfastError::new(
                ErrorCode::NotReady,
                format!("node {} holds no lease (it cannot reach a directory majority); it serves nothing", self.id),
            ));
        }
        Ok(())
    }

    fn owns(&self, objects: &[u64]) -> Result<(), HoldfastError> {
        if objects.is_empty() {
            return Ok(());
        }
        let state = self.dir()?.state();
        for o in objects {
            match state.objects.get(o) {
                Some(obj) if obj.owner == self.id => {}
                Some(obj) => {
                    return Err(HoldfastError::new(ErrorCode::NotOwner, format!("node {} does not own object {:?}; node {} does", self.id, obj.name, obj.owner)))
                }
                None => return Err(HoldfastError::new(ErrorCode::NoSuchObject, format!("no object with id {o}"))),
            }
        }
        Ok(())
    }

    /// Leader side of `LeaseRenew`: grants `from` a lease, as of the
    /// applied index returned.
    pub async fn grant_lease(&self, from: NodeId, acked: LogIndex) -> Result<LogIndex, HoldfastError> {
        let dir = self.dir()?;
        let wait = Duration::from_millis(self.cfg.lease_ms);
        if dir.confirmed_leader(self.id, wait).await != Some(self.id) {
            return Err(HoldfastError::new(ErrorCode::NotLeader, format!("node {} does not lead the directory", self.id)));
        }
        let term = dir.term();
        let applied = dir.state().applied_index;
        let now = Instant::now();
        self.became_leader(term);
        let mut g = self.grants.lock().expect("grants lock");
        let e = g.nodes.entry(from).or_insert((now, 0));
        e.0 = now;
        e.1 = e.1.max(acked);
        Ok(applied)
    }

    /// Leader side of `LeaseBarrier`: returns once no node other than
    /// `requester` can still serve from a directory older than `index`
    /// (it said it applied `index`, or its leases have run out).
    pub async fn barrier_local(&self, requester: NodeId, index: LogIndex) -> Result<(), HoldfastError> {
        let dir = self.dir()?;
        let wait = Duration::from_millis(self.cfg.lease_ms.max(1000));
        if dir.confirmed_leader(self.id, wait).await != Some(self.id) {
            return Err(HoldfastError::new(ErrorCode::NotLeader, format!("node {} does not lead the directory", self.id)));
        }
        dir.wait_applied(index, wait).await.map_err(crate::control::dir_error)?;
        let bound = lease_bound(self.cfg.lease_ms);
        let deadline = Instant::now() + Duration::from_millis(BARRIER_WAIT_MS_MAX);
        loop {
            let now = Instant::now();
            let term = dir.term();
            let open: Vec<(NodeId, Duration)> = {
                let g = self.grants.lock().expect("grants lock");
                // Until this leader has seen itself lead in this term, any
                // node may hold a lease from the one before.
                let since = if g.term == term { g.leader_since } else { None }.unwrap_or(now);
                self.cfg
                    .members
                    .iter()
                    .filter(|m| m.id != requester)
                    .filter_map(|m| {
                        let mine = g.nodes.get(&m.id).copied().filter(|_| g.term == term);
                        if mine.is_some_and(|(_, acked)| acked >= index) {
                            return None;
                        }
                        // A former leader granted before this one was
                        // elected (it needed a quorum in its own term), so
                        // before `since`; this leader's own grants after.
                        let ends = mine.map_or(since, |(at, _)| at.max(since)) + bound;
                        (now < ends).then(|| (m.id, ends - now))
                    })
                    .collect()
            };
            if open.is_empty() {
                return Ok(());
            }
            if now >= deadline {
                return Err(HoldfastError::new(ErrorCode::Timeout, format!("leases of nodes {:?} still open after {BARRIER_WAIT_MS_MAX} ms", open)));
            }
            let nap = open.iter().map(|(_, d)| *d).min().unwrap_or_default().min(Duration::from_millis(10));
            tokio::time::sleep(nap).await;
        }
    }

    /// Waits, through the leader, until this node may serve an object at
    /// the epoch set at directory `index` (see [`NodeInner::barrier_local`]).
    pub async fn lease_barrier(&self, index: LogIndex) -> Result<(), HoldfastError> {
        let leader = self.dir()?.leader().ok_or_else(|| HoldfastError::new(ErrorCode::NotLeader, "the directory has no leader"))?;
        if leader == self.id {
            return self.barrier_local(self.id, index).await;
        }
        let conn = self.peers.get(leader, Duration::from_millis(1000)).await?;
        let body = Bytes::copy_from_slice(&index.to_le_bytes());
        let timeout = Duration::from_millis(BARRIER_WAIT_MS_MAX + 2000);
        let f = conn.call(FrameKind::LeaseBarrier, vec![body], timeout).await.map_err(|e| e.to_holdfast())?;
        match FrameKind::from_u8(f.header.kind) {
            Some(FrameKind::Ok) => Ok(()),
            _ => Err(HoldfastError::new(ErrorCode::BadFrame, format!("leader {leader} answered a lease barrier with kind {:#04x}", f.header.kind))),
        }
    }

    /// One renewal: asks the leader, and extends the lease once this node's
    /// directory has caught up with the grant.
    async fn renew(&self) -> Result<(), HoldfastError> {
        let dir = self.dir()?;
        let leader = dir.leader().ok_or_else(|| HoldfastError::new(ErrorCode::NotLeader, "the directory has no leader"))?;
        let sent = Instant::now();
        let acked = dir.state().applied_index;
        let lease = Duration::from_millis(self.cfg.lease_ms);
        let granted = if leader == self.id {
            self.grant_lease(self.id, acked).await?
        } else {
            let conn = self.peers.get(leader, lease).await?;
            let f = conn.call(FrameKind::LeaseRenew, vec![Bytes::copy_from_slice(&acked.to_le_bytes())], lease).await.map_err(|e| e.to_holdfast())?;
            let b: [u8; 8] = f.body.as_ref().try_into().map_err(|_| HoldfastError::new(ErrorCode::BadFrame, format!("lease grant of {} bytes, not 8", f.body.len())))?;
            u64::from_le_bytes(b)
        };
        let until = sent + lease;
        let left = until.saturating_duration_since(Instant::now());
        dir.wait_applied(granted, left).await.map_err(crate::control::dir_error)?;
        let had = self.lease.valid();
        self.lease.extend_to(until);
        if !had {
            tracing::info!(node = self.id, leader, lease_ms = self.cfg.lease_ms, "lease acquired: serving");
            self.serving_grew();
        }
        Ok(())
    }

    /// This node just saw itself lead in `term`: leases a former leader
    /// granted are bounded from now (see `barrier_local`), which is no
    /// earlier than the election.
    fn became_leader(&self, term: u64) {
        let mut g = self.grants.lock().expect("grants lock");
        if g.term != term || g.leader_since.is_none() {
            *g = Grants { term, leader_since: Some(Instant::now()), nodes: HashMap::new() };
        }
    }
}

/// Renews this node's lease every heartbeat, for as long as the node runs;
/// every `LEASE_RETRY_DIVISOR`th of one while it holds none, and at once
/// when the directory's leader changes, so that a takeover after a
/// leader's death does not wait a heartbeat for the survivors' leases.
pub async fn lease_loop(inner: std::sync::Arc<NodeInner>) {
    let Some(dir) = inner.directory.get() else { return };
    let every = Duration::from_millis(inner.cfg.heartbeat_ms);
    let retry = every / LEASE_RETRY_DIVISOR;
    let mut held = false;
    let mut seen = (0, None);
    // A new leader (or term) ends a renewal still waiting on the old one
    // and starts the next at once. False once the directory is gone.
    let new_leader = |seen: &mut (u64, Option<NodeId>), view: Option<(u64, Option<NodeId>)>| {
        let Some(v) = view else { return false };
        *seen = v;
        if v.1 == Some(inner.id) {
            inner.became_leader(v.0);
        }
        true
    };
    loop {
        let started = Instant::now();
        tokio::select! {
            r = inner.renew() => if let Err(e) = r {
                tracing::debug!(error = %e, "lease not renewed");
            },
            view = dir.leadership_changed(seen) => if new_leader(&mut seen, view) { continue } else { return },
        }
        let valid = inner.lease.valid();
        if held && !valid {
            let over_ms = inner.lease.over_for().unwrap_or_default().as_millis() as u64;
            tracing::warn!(event = "lease_lost", node = inner.id, over_ms, "lease expired: no directory majority renewed it; serving nothing until it does");
        }
        held = valid;
        let nap = if valid { every } else { retry }.saturating_sub(started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            view = dir.leadership_changed(seen) => if !new_leader(&mut seen, view) { return },
        }
    }
}

/// The file server's gate: this node's lease and directory.
pub struct NodeGate(pub std::sync::Weak<NodeInner>);

impl holdfast_file_server::ServeGate for NodeGate {
    fn may_serve(&self, objects: &[u64]) -> Result<(), String> {
        let n = self.0.upgrade().ok_or_else(|| "the node is shutting down".to_string())?;
        n.may_serve(objects).map_err(|e| e.message)
    }
}

/// What the simulation's lease oracle sees: every read and write a host
/// served, in the order they happened. The simulator runs every host of a
/// run on its own thread, so the record is per thread: that order, and no
/// mixing of two runs on two threads. Off unless the simulator turns it on
/// on its thread; bounded.
pub mod observe {
    use std::cell::RefCell;

    use holdfast_types::{Epoch, NodeId, ObjectId};

    /// Events kept per run; later ones are dropped (the oracle says so).
    pub const SERVES_MAX: usize = 1 << 20;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Served {
        pub node: NodeId,
        pub object: ObjectId,
        pub epoch: Epoch,
    }

    thread_local! {
        static LOG: RefCell<Option<Vec<Served>>> = const { RefCell::new(None) };
    }

    /// Starts a new, empty record on this thread.
    pub fn start() {
        LOG.with(|l| *l.borrow_mut() = Some(Vec::new()));
    }

    /// Stops recording on this thread and returns what was recorded.
    pub fn take() -> Vec<Served> {
        LOG.with(|l| l.borrow_mut().take()).unwrap_or_default()
    }

    pub(crate) fn served(node: NodeId, object: ObjectId, epoch: Option<Epoch>) {
        let Some(epoch) = epoch else { return };
        LOG.with(|l| {
            if let Some(log) = l.borrow_mut().as_mut() {
                if log.len() < SERVES_MAX {
                    log.push(Served { node, object, epoch });
                }
            }
        });
    }
}

impl NodeInner {
    /// Records a read or write this host just served (for the oracle).
    pub(crate) fn served(&self, object: u64) {
        observe::served(self.id, object, self.replicator.owned().get(&object).map(|&(e, _)| e));
    }
}
