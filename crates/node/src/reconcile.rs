//! Makes this node's part of the cluster match the directory, every time the
//! directory changes and on a short tick:
//! - activate every object this node owns at the directory's epoch, demote
//!   every object it no longer owns;
//! - as owner, rebuild components that are not ACTIVE once their host is up;
//! - as directory leader, move ownership away from owners that are down;
//! - report ACTIVE components this node lost (a bad file after restart).

use std::sync::Arc;
use std::time::Duration;

use holdfast_directory::{ClusterState, Command, CommandResult};
use holdfast_types::{ComponentState, NodeId, ObjectState};
use tokio::time::Instant;

use crate::node::NodeInner;

/// Retry period for activations and rebuilds that failed, and for failure
/// detection on the leader.
const RECONCILE_TICK_MS: u64 = 100;

pub async fn reconcile_loop(inner: Arc<NodeInner>) {
    let Some(dir) = inner.directory.get() else { return };
    let mut applied = dir.applied_index();
    loop {
        reconcile(&inner);
        // Also the moment a peer turns down, so a failover does not start
        // up to a tick late.
        let tick = Instant::now() + Duration::from_millis(RECONCILE_TICK_MS);
        let next = inner.peers.next_down_at(inner.down_after()).map_or(tick, |at| at.min(tick));
        tokio::select! {
            r = applied.changed() => if r.is_err() { return },
            _ = tokio::time::sleep_until(next) => {}
        }
    }
}

impl NodeInner {
    fn down_after(&self) -> Duration {
        Duration::from_millis(self.cfg.peer_down_ms)
    }

    /// Up, and its current process is live in the directory.
    pub fn node_ready(&self, node: NodeId) -> bool {
        node == self.id || (self.peers.is_up(node, self.down_after()) && self.peers.peer_live(node))
    }

    /// Down for long enough to act on: not heard from within the timeout,
    /// and this process has been running long enough to have heard.
    pub fn node_down(&self, node: NodeId) -> bool {
        node != self.id && self.started.elapsed() > self.down_after() && !self.peers.is_up(node, self.down_after())
    }
}

fn reconcile(inner: &Arc<NodeInner>) {
    if !inner.hook.is_live() {
        return;
    }
    let Some(dir) = inner.directory.get() else { return };
    let state = dir.state();
    activate_and_demote(inner, &state);
    start_rebuilds(inner, &state);
    if dir.leader() == Some(inner.id) {
        fail_over_dead_owners(inner, &state);
        reprotect(inner, &state);
    }
    report_lost_components(inner, &state);
}

fn activate_and_demote(inner: &Arc<NodeInner>, state: &ClusterState) {
    let owned = inner.replicator.owned();
    for obj in state.objects.values() {
        // A parked handle table is never served: its image on the volume
        // must stay its last state (docs/restarts.md).
        let mine = obj.owner == inner.id
            && obj.state != ObjectState::Lost
            && obj.table.parked.is_none()
            && obj.component(inner.id).map(|c| c.state) == Some(ComponentState::Active);
        if !mine {
            if owned.contains_key(&obj.id) {
                tracing::info!(object = obj.id, epoch = obj.epoch, "demoted: no longer the owner");
                inner.replicator.demote(obj.id);
            }
            continue;
        }
        if owned.get(&obj.id).is_some_and(|&(e, serving)| e == obj.epoch && serving) {
            continue;
        }
        if !inner.activating.lock().expect("activating lock").insert((obj.id, obj.epoch)) {
            continue;
        }
        let inner = inner.clone();
        let (object, epoch, index, active) = (obj.id, obj.epoch, obj.epoch_index, obj.active_nodes());
        tokio::spawn(async move {
            // No other host may still serve this object under an older
            // directory: the leader waits out their leases (lease.rs).
            let r = match inner.lease_barrier(index).await {
                Ok(()) => inner.replicator.activate(object, epoch, index, active).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => {
                    tracing::info!(object, epoch, "serving as owner");
                    inner.serving_grew();
                }
                Err(e) => match inner.replicator.newer_owner(object) {
                    Some(to) => {
                        tracing::warn!(object, epoch, to, error = %e, "behind a newer component that cannot bring this one level; handing ownership to it");
                        let cmd = Command::MoveOwner { object, to, expected_epoch: Some(epoch) };
                        if let Err(e) = inner.propose(cmd).await {
                            tracing::warn!(object, epoch, to, error = %e, "handing ownership over failed; will retry");
                        }
                    }
                    None => tracing::warn!(object, epoch, error = %e, "activation failed; will retry"),
                },
            }
            inner.activating.lock().expect("activating lock").remove(&(object, epoch));
        });
    }
    for id in owned.keys() {
        if !state.objects.contains_key(id) {
            inner.replicator.demote(*id);
        }
    }
}

fn start_rebuilds(inner: &Arc<NodeInner>, state: &ClusterState) {
    let owned = inner.replicator.owned();
    for obj in state.objects.values() {
        if !owned.get(&obj.id).is_some_and(|&(e, serving)| e == obj.epoch && serving) {
            continue;
        }
        for c in &obj.components {
            if c.node == inner.id || c.state == ComponentState::Active || !inner.node_ready(c.node) {
                continue;
            }
            if !inner.resyncing.lock().expect("resyncing lock").insert((obj.id, c.node)) {
                continue;
            }
            let inner = inner.clone();
            let (object, node) = (obj.id, c.node);
            tokio::spawn(async move {
                tracing::info!(object, node, "rebuilding component");
                if let Err(e) = inner.replicator.resync(object, node).await {
                    tracing::warn!(object, node, error = %e, "rebuild failed; will retry");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                inner.resyncing.lock().expect("resyncing lock").remove(&(object, node));
            });
        }
    }
}

/// On the directory leader: an owner that is down hands its objects to a
/// host with an ACTIVE component, which then converges and serves.
fn fail_over_dead_owners(inner: &Arc<NodeInner>, state: &ClusterState) {
    for obj in state.objects.values() {
        if obj.state == ObjectState::Lost || !inner.node_down(obj.owner) {
            continue;
        }
        let Some(to) = obj
            .components
            .iter()
            .filter(|c| c.state == ComponentState::Active && c.node != obj.owner && inner.node_ready(c.node))
            .map(|c| c.node)
            .min()
        else {
            continue;
        };
        if !inner.failovers.lock().expect("failovers lock").insert((obj.id, obj.epoch)) {
            continue;
        }
        let inner = inner.clone();
        let cmd = Command::OwnerFailed { object: obj.id, failed: obj.owner, to, expected_epoch: obj.epoch };
        let (object, failed, epoch_at) = (obj.id, obj.owner, obj.epoch);
        tokio::spawn(async move {
            match inner.propose(cmd).await {
                Ok((_, CommandResult::Moved { epoch, .. })) => tracing::warn!(object, failed, to, epoch, "owner is down; moved ownership"),
                Ok((_, r)) => tracing::info!(object, failed, result = ?r, "owner failover not applied"),
                Err(e) => {
                    tracing::warn!(object, failed, error = %e, "owner failover failed; will retry");
                    inner.failovers.lock().expect("failovers lock").remove(&(object, epoch_at));
                }
            }
        });
    }
}

/// An ACTIVE component the directory places here but this process does not
/// hold (its file was missing or corrupt at start): say it is STALE so the
/// owner rebuilds it, instead of letting the owner's writes fail on it.
fn report_lost_components(inner: &Arc<NodeInner>, state: &ClusterState) {
    for obj in state.objects.values() {
        let Some(c) = obj.component(inner.id) else { continue };
        if c.state != ComponentState::Active || obj.owner == inner.id || inner.store.get(obj.id).is_some() {
            continue;
        }
        if !inner.reprotections.lock().expect("reprotections lock").insert((obj.id, obj.epoch, inner.id)) {
            continue;
        }
        let inner = inner.clone();
        let cmd = Command::SetComponentState { object: obj.id, nodes: vec![inner.id], state: ComponentState::Stale, expected_epoch: obj.epoch };
        let object = obj.id;
        tokio::spawn(async move {
            if let Err(e) = inner.propose(cmd).await {
                tracing::warn!(object, error = %e, "cannot report a lost component");
            }
        });
    }
}

/// On the directory leader: a component whose host has been down longer
/// than the repair delay is replaced by one on a host that has none, so the
/// object gets its full copy count back instead of waiting for that host.
fn reprotect(inner: &Arc<NodeInner>, state: &ClusterState) {
    let delay = Duration::from_millis(inner.cfg.repair_delay_ms);
    let now = tokio::time::Instant::now();
    let overdue: Vec<NodeId> = {
        let mut since = inner.down_since.lock().expect("down_since lock");
        for m in &inner.cfg.members {
            if inner.node_down(m.id) {
                since.entry(m.id).or_insert(now);
            } else {
                since.remove(&m.id);
            }
        }
        since.iter().filter(|(_, &t)| now.duration_since(t) >= delay).map(|(&n, _)| n).collect()
    };
    for obj in state.objects.values() {
        // A copy on a host that is long gone but missed no write is still
        // ACTIVE; take it out first (this only shrinks what a write needs).
        let idle: Vec<NodeId> = obj
            .components
            .iter()
            .filter(|c| overdue.contains(&c.node) && c.state == ComponentState::Active && c.node != obj.owner)
            .map(|c| c.node)
            .collect();
        if !idle.is_empty() && inner.reprotections.lock().expect("reprotections lock").insert((obj.id, obj.epoch, 0)) {
            let inner = inner.clone();
            let cmd = Command::SetComponentState { object: obj.id, nodes: idle, state: ComponentState::Absent, expected_epoch: obj.epoch };
            tokio::spawn(async move {
                if let Err(e) = inner.propose(cmd).await {
                    tracing::warn!(error = %e, "cannot mark a long-gone component ABSENT");
                }
            });
        }
        for c in obj.components.iter().filter(|c| overdue.contains(&c.node) && c.state != ComponentState::Active && c.node != obj.owner) {
            let spare = state
                .nodes
                .values()
                .filter(|n| obj.component(n.id).is_none() && inner.node_ready(n.id))
                .filter(|n| obj.kind != holdfast_types::ObjectKind::Memory || state.memory_used_bytes(n.id) + obj.size_bytes <= n.memory_bytes_max)
                .min_by_key(|n| (state.memory_used_bytes(n.id), n.id));
            let Some(spare) = spare else { continue };
            if !inner.reprotections.lock().expect("reprotections lock").insert((obj.id, obj.epoch, c.node)) {
                continue;
            }
            let inner = inner.clone();
            let cmd = Command::ReplaceComponent { object: obj.id, old: c.node, new: spare.id, expected_epoch: obj.epoch };
            let (object, old, new) = (obj.id, c.node, spare.id);
            tokio::spawn(async move {
                match inner.propose(cmd).await {
                    Ok((_, CommandResult::Ok)) => tracing::warn!(object, old, new, "re-protected: replaced a component whose host stayed down past the repair delay"),
                    Ok((_, r)) => tracing::info!(object, old, new, result = ?r, "re-protection not applied"),
                    Err(e) => tracing::warn!(object, old, error = %e, "re-protection failed; will retry"),
                }
            });
        }
    }
}
