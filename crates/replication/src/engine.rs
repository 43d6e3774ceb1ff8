//! Drives [`OwnerCore`]s over a [`PeerTransport`], the directory and the
//! local store. See `docs/replication.md` for the protocol in prose.
//!
//! The write path, for one client write on the owner:
//! 1. check the range, so a bad request never consumes a sequence number;
//! 2. reserve a request slot on each target's connection (backpressure);
//! 3. under the object's lock: take the next sequence number, queue the
//!    component write to every remote target, apply it locally. Holding the
//!    lock while queueing is what makes every connection carry this object's
//!    writes in sequence order;
//! 4. outside the lock: wait for the targets' acknowledgements (a
//!    persistent component syncs first only when its disk lag is at its
//!    bound; otherwise the write is acknowledged from RAM, and `flush`
//!    brings the disks level);
//! 5. the core decides: acknowledge; or first commit the components that
//!    did not apply it ABSENT in the directory, then acknowledge; or fail.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use holdfast_local_store::component::{check_range, RecentWrite};
use holdfast_local_store::{Component, LocalStore};
use holdfast_types::{ComponentState, Epoch, ErrorCode, HoldfastError, LogIndex, NodeId, ObjectId, ObjectKind};
use holdfast_wire::msg::{self, ComponentWrite, RecentWrites, RepairWrite};
use holdfast_wire::FrameKind;

use crate::core::{OwnerCore, Position, WriteDecision};
use crate::dirty::DirtyMap;

pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Syncs a component's disk. `sync` blocks (an fdatasync, or a wait
/// behind another caller's in the group commit): off the async workers,
/// or inline under the simulator's switch.
pub async fn sync_component(c: Arc<Component>) -> Result<(), HoldfastError> {
    if holdfast_types::io_mode::inline_blocking() {
        return c.sync().map_err(|e| e.to_holdfast());
    }
    let r = tokio::task::spawn_blocking(move || c.sync()).await;
    r.map_err(|e| HoldfastError::new(ErrorCode::Internal, e.to_string()))?.map_err(|e| e.to_holdfast())
}

/// How the owner reaches other hosts' local stores.
pub trait PeerTransport: Send + Sync + 'static {
    /// A reserved request slot on the connection to one node.
    type Permit: Send + 'static;
    /// Waits for a free request slot on the connection to `node`.
    fn reserve(&self, node: NodeId) -> BoxFut<Result<Self::Permit, HoldfastError>>;
    /// Queues a request *before returning* (so calls made in order reach
    /// `node` in order); the future resolves to the reply body, or an error
    /// after `timeout`.
    fn send(&self, permit: Self::Permit, node: NodeId, kind: FrameKind, chunks: Vec<Bytes>, timeout: Duration) -> BoxFut<Result<Bytes, HoldfastError>>;
}

/// The directory changes replication needs to commit.
pub trait DirectoryOps: Send + Sync + 'static {
    /// Commits `nodes`' components of `object` to `state`, guarded by the
    /// epoch; returns the log index it committed at.
    fn set_state(&self, object: ObjectId, nodes: Vec<NodeId>, state: ComponentState, expected_epoch: Epoch) -> BoxFut<Result<LogIndex, HoldfastError>>;
    /// The committed (epoch, state) of `node`'s component, as this node's
    /// directory has applied it.
    fn component_state(&self, object: ObjectId, node: NodeId) -> Option<(Epoch, ComponentState)>;
}

#[derive(Debug, Clone)]
pub struct ReplicatorConfig {
    /// A component that has not acknowledged a write by then is committed
    /// ABSENT before the write is acknowledged.
    pub write_timeout: Duration,
    /// Fences, recent-write fetches, rebuild steps.
    pub rpc_timeout: Duration,
    pub resync_chunk_bytes: u64,
    /// Rebuild chunks in flight at once.
    pub resync_window: usize,
    /// Rebuild rate cap, bytes per second; 0 = none.
    pub resync_bytes_per_s_max: u64,
    /// BREAKS DURABILITY ON PURPOSE. Acknowledge a write once the owner has
    /// applied it, without waiting for the other components. Exists only so
    /// the simulator can show that its oracle catches a broken rule; only
    /// in builds with the `test-switches` feature.
    #[cfg(feature = "test-switches")]
    pub test_only_ack_without_replicas: bool,
    /// BREAKS DURABILITY ON PURPOSE. A write that an ACTIVE component
    /// failed is acknowledged without committing that component ABSENT
    /// (the core stops sending to it as if the commit had landed), so the
    /// directory keeps listing ACTIVE a copy that misses the write. Only in
    /// builds with the `test-switches` feature.
    #[cfg(feature = "test-switches")]
    pub test_only_ack_without_absent_commit: bool,
    /// BREAKS DURABILITY ON PURPOSE. A rebuilt component is committed
    /// ACTIVE in the directory before the core counts it as ACTIVE: the
    /// promotion race the simulator found (docs/simulation.md, bug 4),
    /// as the code first had it. Only in builds with `test-switches`.
    #[cfg(feature = "test-switches")]
    pub test_only_commit_active_before_promote: bool,
}

impl Default for ReplicatorConfig {
    fn default() -> Self {
        ReplicatorConfig {
            write_timeout: Duration::from_millis(1000),
            rpc_timeout: Duration::from_millis(5000),
            resync_chunk_bytes: 256 * 1024,
            resync_window: 8,
            resync_bytes_per_s_max: 0,
            #[cfg(feature = "test-switches")]
            test_only_ack_without_replicas: false,
            #[cfg(feature = "test-switches")]
            test_only_ack_without_absent_commit: false,
            #[cfg(feature = "test-switches")]
            test_only_commit_active_before_promote: false,
        }
    }
}

/// Progress of one rebuild.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResyncProgress {
    pub object: ObjectId,
    pub node: NodeId,
    pub done_bytes: u64,
    pub total_bytes: u64,
    pub started: Instant,
}

/// A write whose order is fixed (steps 1-3 done), waiting for its targets.
struct StartedWrite {
    slot: Arc<OwnerSlot>,
    ticket: crate::core::WriteTicket,
    /// The owner's own apply.
    local: Result<(), HoldfastError>,
    remote: Vec<(NodeId, BoxFut<Result<Bytes, HoldfastError>>)>,
    offset: u64,
    len: u64,
    persistent: bool,
}

struct OwnerSlot {
    core: Mutex<OwnerCore>,
    component: Arc<Component>,
    /// Regions missed by components that are not ACTIVE (persistent objects).
    dirty: Mutex<HashMap<NodeId, DirtyMap>>,
    progress: Mutex<HashMap<NodeId, ResyncProgress>>,
}

pub struct Replicator<T: PeerTransport, D: DirectoryOps> {
    me: NodeId,
    store: Arc<LocalStore>,
    transport: Arc<T>,
    dir: Arc<D>,
    slots: RwLock<HashMap<ObjectId, Arc<OwnerSlot>>>,
    /// Per object whose activation found this node behind a component
    /// whose log no longer reaches back to it: that component. It must
    /// own the object instead (`newer_owner`).
    behind: Mutex<HashMap<ObjectId, NodeId>>,
    pub cfg: ReplicatorConfig,
}

fn not_owner(me: NodeId, object: ObjectId) -> HoldfastError {
    HoldfastError::new(ErrorCode::NotOwner, format!("node {me} does not own object {object}"))
}

fn decode_err(e: impl std::fmt::Display) -> HoldfastError {
    HoldfastError::new(ErrorCode::BadFrame, e.to_string())
}

impl<T: PeerTransport, D: DirectoryOps> Replicator<T, D> {
    pub fn new(me: NodeId, store: Arc<LocalStore>, transport: Arc<T>, dir: Arc<D>, cfg: ReplicatorConfig) -> Replicator<T, D> {
        Replicator { me, store, transport, dir, slots: RwLock::new(HashMap::new()), behind: Mutex::new(HashMap::new()), cfg }
    }

    /// After an activation of `object` failed with `NotCovered`: the
    /// component newer than this node's that should own it, if that was
    /// the reason. This node can never catch up by the log then; serving
    /// would lose that component's writes, and retrying never ends.
    pub fn newer_owner(&self, object: ObjectId) -> Option<NodeId> {
        self.behind.lock().expect("behind lock").remove(&object)
    }

    fn slot(&self, object: ObjectId) -> Result<Arc<OwnerSlot>, HoldfastError> {
        self.slots.read().expect("slots lock").get(&object).cloned().ok_or_else(|| not_owner(self.me, object))
    }

    /// (epoch, serving) for every object this node currently owns.
    pub fn owned(&self) -> HashMap<ObjectId, (Epoch, bool)> {
        self.slots
            .read()
            .expect("slots lock")
            .iter()
            .map(|(id, s)| {
                let c = s.core.lock().expect("core lock");
                (*id, (c.epoch(), c.is_serving()))
            })
            .collect()
    }

    /// Rebuilds this node is driving.
    pub fn resync_progress(&self) -> Vec<ResyncProgress> {
        let slots: Vec<Arc<OwnerSlot>> = self.slots.read().expect("slots lock").values().cloned().collect();
        slots.iter().flat_map(|s| s.progress.lock().expect("progress lock").values().copied().collect::<Vec<_>>()).collect()
    }

    /// Queues one request to `node` and returns its reply future.
    async fn call(&self, node: NodeId, kind: FrameKind, chunks: Vec<Bytes>, timeout: Duration) -> Result<Bytes, HoldfastError> {
        let permit = tokio::time::timeout(timeout, self.transport.reserve(node))
            .await
            .map_err(|_| HoldfastError::new(ErrorCode::Timeout, format!("no connection to node {node} within {} ms", timeout.as_millis())))??;
        self.transport.send(permit, node, kind, chunks, timeout).await
    }

    /// Becomes owner of `object` at `epoch`: fences every ACTIVE component,
    /// brings them level (convergence), then serves.
    pub async fn activate(&self, object: ObjectId, epoch: Epoch, dir_index: LogIndex, active: Vec<NodeId>) -> Result<(), HoldfastError> {
        let component = self.store.get(object).ok_or_else(|| {
            HoldfastError::new(ErrorCode::NoComponent, format!("node {} holds no component of object {object}", self.me))
        })?;
        let slot = Arc::new(OwnerSlot {
            core: Mutex::new(OwnerCore::new(self.me, object, epoch, dir_index, active)),
            component,
            dirty: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
        });
        {
            let mut slots = self.slots.write().expect("slots lock");
            if let Some(old) = slots.get(&object) {
                let old_epoch = old.core.lock().expect("core lock").epoch();
                if old_epoch > epoch {
                    return Err(HoldfastError::new(ErrorCode::StaleEpoch, format!("already own object {object} at epoch {old_epoch}")));
                }
                // What other components missed is still missed at the new epoch.
                *slot.dirty.lock().expect("dirty lock") = std::mem::take(&mut *old.dirty.lock().expect("dirty lock"));
            }
            slots.insert(object, slot.clone());
        }
        let r = self.converge(&slot, epoch).await;
        if r.is_err() {
            // Leave no half-activated slot behind; reconcile retries.
            let mut slots = self.slots.write().expect("slots lock");
            if slots.get(&object).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                slots.remove(&object);
            }
        }
        r
    }

    async fn converge(&self, slot: &Arc<OwnerSlot>, epoch: Epoch) -> Result<(), HoldfastError> {
        let (fence, targets) = {
            let c = slot.core.lock().expect("core lock");
            (c.fence(), c.active().to_vec())
        };
        let object = fence.object;
        let mut replies = Vec::new();
        let mut futs = Vec::new();
        for &n in &targets {
            if n == self.me {
                let r = slot.component.fence(epoch).map(|position| msg::FenceReply { position, unclean: slot.component.unclean() });
                replies.push((n, r.map_err(|e| e.to_holdfast())));
            } else {
                futs.push(async move {
                    let r = self.call(n, FrameKind::Fence, vec![fence.encode()], self.cfg.rpc_timeout).await;
                    (n, r.and_then(|b| msg::FenceReply::decode(&b).map_err(decode_err)))
                });
            }
        }
        replies.extend(futures::future::join_all(futs).await);
        let unclean: Vec<NodeId> = replies.iter().filter(|(_, r)| r.as_ref().is_ok_and(|r| r.unclean)).map(|(n, _)| *n).collect();
        let replies: Vec<(NodeId, Result<Position, HoldfastError>)> = replies.into_iter().map(|(n, r)| (n, r.map(|r| r.position))).collect();
        let plan = slot.core.lock().expect("core lock").plan_convergence(&replies)?;
        if plan.source != self.me && (unclean.contains(&plan.source) || unclean.contains(&self.me)) {
            // An unclean copy is either the source everything is rebuilt
            // from or rebuilt itself: the source must own the object.
            self.behind.lock().expect("behind lock").insert(object, plan.source);
            return Err(HoldfastError::new(
                ErrorCode::NotCovered,
                format!("node {} holds the newest copy and a copy is unclean after a host restart; it must own object {object}", plan.source),
            ));
        }
        let mut removed = Vec::new();
        if !plan.unreachable.is_empty() {
            tracing::warn!(object, epoch, nodes = ?plan.unreachable, "components did not answer the fence; committing them ABSENT");
            self.dir.set_state(object, plan.unreachable.clone(), ComponentState::Absent, epoch).await?;
            removed.extend(plan.unreachable.iter().copied());
        }
        let mut stale = Vec::new();
        // This copy lost unsynced writes to a host restart, so the bytes
        // after its position are a mix nobody else holds. As the source
        // (checked above) it is the truth from now on: every other copy is
        // rebuilt from it, even one at the same position.
        let unclean_source = unclean.contains(&self.me);
        let reached = targets.iter().copied().filter(|&n| n != self.me && !plan.unreachable.contains(&n));
        // Another unclean copy may hold past its position a mix that the
        // source does not: rebuilt whole, whatever its position.
        stale.extend(reached.filter(|n| unclean_source || unclean.contains(n)));
        let rebuilt_whole = stale.clone();
        for &(n, pos) in plan.lagging.iter().filter(|(n, _)| !rebuilt_whole.contains(n)) {
            let r = match self.fetch_missing(slot, plan.source, epoch, pos).await {
                Ok(Some(writes)) => self.repair(slot, n, epoch, writes).await,
                Ok(None) => Err(HoldfastError::new(ErrorCode::NotCovered, format!("node {} no longer holds the writes after {pos:?}", plan.source))),
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                if n == self.me {
                    if e.code == ErrorCode::NotCovered {
                        self.behind.lock().expect("behind lock").insert(object, plan.source);
                    }
                    return Err(e);
                }
                tracing::warn!(object, epoch, node = n, error = %e, "cannot bring component level; committing it STALE for a rebuild");
                stale.push(n);
            }
        }
        if !stale.is_empty() {
            self.dir.set_state(object, stale.clone(), ComponentState::Stale, epoch).await?;
            removed.extend(stale);
        }
        if unclean_source {
            tracing::warn!(object, epoch, "this copy was unclean after a host restart; every other copy is rebuilt from it");
            slot.component.mark_clean().map_err(|e| e.to_holdfast())?;
        }
        if !plan.lagging.is_empty() {
            tracing::info!(object, epoch, newest = ?plan.newest, lagging = ?plan.lagging, "converged components");
        }
        // A copy taken out here missed an unknown part of what came before:
        // a write of the last epoch still in flight marks the old slot's
        // dirty maps after they moved to this one, and an unreachable copy
        // may hold writes nobody acknowledged. Its rebuild copies it whole;
        // the simulation found a delta rebuild that left 30 acknowledged
        // slots out (seed 50024 with 20 s of faults).
        if slot.component.is_persistent() {
            let mut dirty = slot.dirty.lock().expect("dirty lock");
            for &n in &removed {
                dirty.entry(n).or_insert_with(|| DirtyMap::new(slot.component.size_bytes())).mark(0, slot.component.size_bytes());
            }
        }
        slot.core.lock().expect("core lock").on_converged(&removed);
        Ok(())
    }

    /// The writes `source` applied after `after`, or `None` when its log no
    /// longer reaches back that far.
    async fn fetch_missing(&self, slot: &OwnerSlot, source: NodeId, epoch: Epoch, after: Position) -> Result<Option<Vec<RecentWrite>>, HoldfastError> {
        if source == self.me {
            return Ok(slot.component.recent_since(after));
        }
        let mut out = Vec::new();
        let mut from = after;
        loop {
            let req = RecentWrites { object: slot.component.object, epoch, after: from };
            let body = match self.call(source, FrameKind::RecentWrites, vec![req.encode()], self.cfg.rpc_timeout).await {
                Ok(b) => b,
                Err(e) if e.code == ErrorCode::NotCovered => return Ok(None),
                Err(e) => return Err(e),
            };
            let page = msg::decode_write_page(body).map_err(decode_err)?;
            let Some(last) = page.last() else { return Ok(Some(out)) };
            if last.position <= from {
                return Err(HoldfastError::new(ErrorCode::BadFrame, format!("node {source} sent writes out of order")));
            }
            from = last.position;
            out.extend(page.into_iter().map(|w| RecentWrite { position: w.position, offset: w.offset, data: w.data }));
        }
    }

    async fn repair(&self, slot: &OwnerSlot, node: NodeId, epoch: Epoch, writes: Vec<RecentWrite>) -> Result<(), HoldfastError> {
        if node == self.me {
            for w in &writes {
                slot.component.repair(epoch, w).map_err(|e| e.to_holdfast())?;
            }
            if slot.component.sync_due() {
                sync_component(slot.component.clone()).await?;
            }
            return Ok(());
        }
        let mut futs = Vec::with_capacity(writes.len());
        for w in writes {
            let rw = RepairWrite { object: slot.component.object, epoch, position: w.position, offset: w.offset, data: w.data };
            let permit = self.transport.reserve(node).await?;
            let chunks = vec![Bytes::copy_from_slice(&rw.encode_fixed()), rw.data.clone()];
            futs.push(self.transport.send(permit, node, FrameKind::RepairWrite, chunks, self.cfg.rpc_timeout));
        }
        for r in futures::future::join_all(futs).await {
            r?;
        }
        Ok(())
    }

    /// Stops owning `object` (the directory moved it away).
    pub fn demote(&self, object: ObjectId) {
        self.slots.write().expect("slots lock").remove(&object);
    }

    /// Replicates one write and returns once every ACTIVE component applied
    /// it, or was committed ABSENT.
    pub async fn write(&self, object: ObjectId, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        let started = self.start_write(object, offset, data).await?;
        self.finish_started(started).await
    }

    /// [`Replicator::write`] in two halves: returns once the write's place
    /// in the object's order is fixed (it has its seq, is queued to every
    /// target and applied to this owner's component, so a read here sees
    /// it and any later write lands after it on every component); the
    /// returned future finishes it (waits for the targets, commits
    /// ABSENT as needed). objfs sends a journal record right behind the
    /// data it maps this way, and pays one round trip for both.
    pub async fn write_ordered(self: &Arc<Self>, object: ObjectId, offset: u64, data: Bytes) -> Result<BoxFut<Result<(), HoldfastError>>, HoldfastError> {
        let started = self.start_write(object, offset, data).await?;
        if started.local.is_err() {
            // Not applied here: the caller must not send anything behind it.
            let r = self.finish_started(started).await;
            return Err(r.err().unwrap_or_else(|| HoldfastError::new(ErrorCode::Internal, "a write the owner did not apply was acknowledged")));
        }
        let me = self.clone();
        Ok(Box::pin(async move { me.finish_started(started).await }))
    }

    /// Steps 1-3 of a write (module comment).
    async fn start_write(&self, object: ObjectId, offset: u64, data: Bytes) -> Result<StartedWrite, HoldfastError> {
        let slot = self.slot(object)?;
        check_range(offset, data.len() as u64, slot.component.size_bytes()).map_err(|e| e.to_holdfast())?;
        let persistent = slot.component.kind() == ObjectKind::Persistent;
        let len = data.len() as u64;
        let remote_targets = |c: &OwnerCore| -> Vec<NodeId> { c.active().iter().chain(c.catching_up()).copied().filter(|&n| n != self.me).collect() };
        loop {
            let targets = remote_targets(&slot.core.lock().expect("core lock"));
            let mut permits = Vec::with_capacity(targets.len());
            for &n in &targets {
                permits.push((n, self.transport.reserve(n).await));
            }
            let mut core = slot.core.lock().expect("core lock");
            if remote_targets(&core) != targets {
                continue; // Targets changed while we waited for slots.
            }
            let ticket = core.begin_write()?;
            let cw = ComponentWrite { object, epoch: ticket.epoch, seq: ticket.seq, offset, data };
            let remote: Vec<_> = permits
                .into_iter()
                .map(|(n, p)| {
                    let f: BoxFut<Result<Bytes, HoldfastError>> = match p {
                        Ok(p) => {
                            let chunks = vec![Bytes::copy_from_slice(&cw.encode_fixed()), cw.data.clone()];
                            self.transport.send(p, n, FrameKind::ComponentWrite, chunks, self.cfg.write_timeout)
                        }
                        Err(e) => Box::pin(async move { Err(e) }),
                    };
                    (n, f)
                })
                .collect();
            if persistent {
                for d in slot.dirty.lock().expect("dirty lock").values_mut() {
                    d.mark(offset, cw.data.len() as u64);
                }
            }
            let local = slot.component.write(ticket.epoch, ticket.seq, offset, &cw.data).map_err(|e| e.to_holdfast());
            drop(core);
            return Ok(StartedWrite { slot: slot.clone(), ticket, local, remote, offset, len, persistent });
        }
    }

    /// Steps 4-6 of a write (module comment).
    async fn finish_started(&self, w: StartedWrite) -> Result<(), HoldfastError> {
        let StartedWrite { slot, ticket, local, remote, offset, len, persistent } = w;
        let object = ticket.object;
        let local_fut = async {
            match local {
                Ok(()) if slot.component.sync_due() => sync_component(slot.component.clone()).await,
                r => r,
            }
        };
        #[cfg(feature = "test-switches")]
        if self.cfg.test_only_ack_without_replicas {
            // The deliberately broken rule: the replicas' answers are ignored.
            for (_, f) in remote {
                tokio::spawn(f);
            }
            return local_fut.await;
        }
        let remote_fut = futures::future::join_all(remote.into_iter().map(|(n, f)| async move { (n, f.await.map(|_| ())) }));
        let (local_result, mut results) = futures::future::join(local_fut, remote_fut).await;
        results.push((self.me, local_result));
        let decision: WriteDecision = {
            let mut core = slot.core.lock().expect("core lock");
            let d = core.finish_write(&ticket, &results);
            for &n in &d.drop_catching_up {
                core.drop_catching_up(n);
                #[cfg(feature = "test-switches")]
                crate::observe::push(crate::observe::RebuildEvent::Dropped { owner: self.me, object, node: n, epoch: ticket.epoch, seq: ticket.seq });
            }
            d
        };
        if persistent {
            // Every node that did not apply this write missed its range,
            // whether or not another write already took it out of ACTIVE.
            let mut dirty = slot.dirty.lock().expect("dirty lock");
            for (n, r) in &results {
                if *n != self.me && r.is_err() {
                    dirty.entry(*n).or_insert_with(|| DirtyMap::new(slot.component.size_bytes())).mark(offset, len);
                }
            }
        }
        if let Some(e) = decision.fail {
            tracing::error!(object, error = %e, "write failed on the owner's own component");
            return Err(e);
        }
        if !decision.mark_absent.is_empty() {
            let why: Vec<String> = results.iter().filter(|(n, r)| decision.mark_absent.contains(n) && r.is_err()).map(|(n, r)| format!("node {n}: {}", r.as_ref().unwrap_err())).collect();
            tracing::warn!(object, seq = ticket.seq, nodes = ?decision.mark_absent, why = ?why, "components missed a write; committing them ABSENT before acknowledging");
            #[cfg(feature = "test-switches")]
            if self.cfg.test_only_ack_without_absent_commit {
                // The deliberately broken rule: no commit, yet acknowledged.
                slot.core.lock().expect("core lock").on_absent(&decision.mark_absent);
                return Ok(());
            }
            self.dir.set_state(object, decision.mark_absent.clone(), ComponentState::Absent, ticket.epoch).await.map_err(|e| {
                HoldfastError::new(e.code, format!("write not acknowledged: cannot commit nodes {:?} ABSENT: {}", decision.mark_absent, e.message))
            })?;
            slot.core.lock().expect("core lock").on_absent(&decision.mark_absent);
        }
        Ok(())
    }

    /// Makes every write acknowledged before this call durable on the disk
    /// of every ACTIVE component (FLUSH, write-through): each syncs and
    /// answers. `ComponentSync` is queued behind the object's writes on
    /// each connection, so it covers them. A component that does not
    /// answer Ok is committed ABSENT before the flush is acknowledged, as
    /// for a write, with its whole range dirty: what its disk holds is
    /// unknown. Memory objects have no disk: Ok at once.
    pub async fn flush(&self, object: ObjectId) -> Result<(), HoldfastError> {
        let slot = self.slot(object)?;
        if !slot.component.is_persistent() {
            return Ok(());
        }
        let remote_targets = |c: &OwnerCore| -> Vec<NodeId> { c.active().iter().copied().filter(|&n| n != self.me).collect() };
        let (epoch, remote) = loop {
            let targets = remote_targets(&slot.core.lock().expect("core lock"));
            let mut permits = Vec::with_capacity(targets.len());
            for &n in &targets {
                permits.push((n, self.transport.reserve(n).await));
            }
            let core = slot.core.lock().expect("core lock");
            if remote_targets(&core) != targets {
                continue; // Targets changed while we waited for slots.
            }
            let (epoch, _) = core.begin_flush()?;
            let body = msg::ComponentSync { object, epoch }.encode();
            let remote: Vec<_> = permits
                .into_iter()
                .map(|(n, p)| {
                    let f: BoxFut<Result<Bytes, HoldfastError>> = match p {
                        Ok(p) => self.transport.send(p, n, FrameKind::ComponentSync, vec![body.clone()], self.cfg.rpc_timeout),
                        Err(e) => Box::pin(async move { Err(e) }),
                    };
                    (n, f)
                })
                .collect();
            break (epoch, remote);
        };
        let remote_fut = futures::future::join_all(remote.into_iter().map(|(n, f)| async move { (n, f.await) }));
        let (local, results) = futures::future::join(sync_component(slot.component.clone()), remote_fut).await;
        if let Err(e) = local {
            tracing::error!(object, error = %e, "flush failed on the owner's own component");
            return Err(e);
        }
        let failed: Vec<NodeId> = {
            let core = slot.core.lock().expect("core lock");
            results.iter().filter(|(n, r)| r.is_err() && core.active().contains(n)).map(|(n, _)| *n).collect()
        };
        if failed.is_empty() {
            return Ok(());
        }
        {
            let mut dirty = slot.dirty.lock().expect("dirty lock");
            for &n in &failed {
                dirty.entry(n).or_insert_with(|| DirtyMap::new(slot.component.size_bytes())).mark(0, slot.component.size_bytes());
            }
        }
        let why: Vec<String> = results.iter().filter_map(|(n, r)| r.as_ref().err().map(|e| format!("node {n}: {e}"))).collect();
        tracing::warn!(object, nodes = ?failed, why = ?why, "components did not sync; committing them ABSENT before acknowledging the flush");
        self.dir.set_state(object, failed.clone(), ComponentState::Absent, epoch).await.map_err(|e| {
            HoldfastError::new(e.code, format!("flush not acknowledged: cannot commit nodes {failed:?} ABSENT: {}", e.message))
        })?;
        slot.core.lock().expect("core lock").on_absent(&failed);
        Ok(())
    }

    /// Reads from this owner's own component with no round trip: the caller
    /// holds a lease (docs/leases.md), so no other host can have taken the
    /// object over and acknowledged a write this copy lacks.
    pub fn read_leased(&self, object: ObjectId, offset: u64, length: u64) -> Result<Vec<u8>, HoldfastError> {
        let slot = self.slot(object)?;
        check_range(offset, length, slot.component.size_bytes()).map_err(|e| e.to_holdfast())?;
        let epoch = {
            let c = slot.core.lock().expect("core lock");
            if !c.is_serving() {
                return Err(HoldfastError::new(ErrorCode::NotReady, format!("object {object} is not serving yet")));
            }
            c.epoch()
        };
        slot.component.read(Some(epoch), offset, length).map_err(|e| e.to_holdfast())
    }
}

mod rebuild;
