//! Keeps the local store in step with the directory, from inside the
//! directory's apply.
//!
//! Volatility is decided here. While the node replays log entries from
//! before its own `NodeBooted` entry, it is *not live*: those entries
//! describe RAM this process never had, so no memory component is created
//! for them. Only when this incarnation's `NodeBooted` is applied (which also
//! marks its old memory components STALE in the directory) does the node
//! open its persistent components and start creating new ones.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use holdfast_directory::{ApplyHook, ClusterState, Command, CommandResult};
use holdfast_local_store::LocalStore;
use holdfast_types::{ComponentState, LogIndex, NodeId, ObjectKind};

pub struct NodeHook {
    me: NodeId,
    boot_id: u64,
    store: Arc<LocalStore>,
    live: AtomicBool,
    boot_index: AtomicU64,
}

impl NodeHook {
    pub fn new(me: NodeId, boot_id: u64, store: Arc<LocalStore>) -> NodeHook {
        NodeHook { me, boot_id, store, live: AtomicBool::new(false), boot_index: AtomicU64::new(0) }
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    fn become_live(&self, index: LogIndex, state: &ClusterState) {
        for obj in state.objects.values() {
            let Some(comp) = obj.component(self.me) else { continue };
            if obj.kind != ObjectKind::Persistent || comp.state != ComponentState::Active {
                continue;
            }
            match self.store.open_persistent(obj.id, obj.size_bytes) {
                Ok(c) => c.observe_epoch(obj.epoch),
                Err(e) => tracing::error!(object = obj.id, error = %e, "cannot open persistent component"),
            }
        }
        self.boot_index.store(index, Ordering::Release);
        self.live.store(true, Ordering::Release);
        tracing::info!(index, "node is live in the directory");
    }

    /// Creates local components placed after our boot, and tells existing
    /// ones about raised epochs so a deposed owner's writes bounce even
    /// before the new owner's fence arrives.
    fn sync_components(&self, state: &ClusterState) {
        let boot_index = self.boot_index.load(Ordering::Acquire);
        for obj in state.objects.values() {
            let Some(comp) = obj.component(self.me) else { continue };
            let local = match self.store.get(obj.id) {
                Some(c) => c,
                None if comp.created_index > boot_index && comp.state == ComponentState::Active => {
                    let r = match obj.kind {
                        ObjectKind::Memory => self.store.create_memory(obj.id, obj.size_bytes),
                        ObjectKind::Persistent => self.store.create_persistent(obj.id, obj.size_bytes),
                    };
                    match r {
                        Ok(c) => c,
                        Err(e) => {
                            tracing::error!(object = obj.id, error = %e, "cannot create component");
                            continue;
                        }
                    }
                }
                None => continue,
            };
            local.observe_epoch(obj.epoch);
        }
        // Components the directory moved elsewhere (re-protection) free
        // their memory or file here.
        for c in self.store.list() {
            let placed = state.objects.get(&c.object).is_some_and(|o| o.component(self.me).is_some());
            if !placed {
                tracing::info!(object = c.object, "dropping a component no longer placed on this node");
                if let Err(e) = self.store.remove(c.object) {
                    tracing::warn!(object = c.object, error = %e, "cannot drop component");
                }
            }
        }
    }
}

impl ApplyHook for NodeHook {
    fn applied(&self, index: LogIndex, cmd: &Command, _result: &CommandResult, state: &ClusterState) {
        if let Command::NodeBooted { node, boot_id, .. } = cmd {
            if *node == self.me && *boot_id == self.boot_id {
                self.become_live(index, state);
            }
        }
        if self.is_live() {
            self.sync_components(state);
        }
    }

    fn snapshot_installed(&self, state: &ClusterState) {
        // A snapshot can carry this incarnation's own NodeBooted, which we
        // then never see applied one by one.
        if !self.is_live() {
            if let Some(n) = state.nodes.get(&self.me) {
                if n.boot_id == self.boot_id {
                    self.become_live(n.boot_index, state);
                }
            }
        }
        if self.is_live() {
            self.sync_components(state);
        }
    }
}
