//! Makes replication match the directory: activate every object this node
//! owns at the directory's epoch, demote every object it no longer owns.

use std::sync::Arc;
use std::time::Duration;

use holdfast_types::{ComponentState, ObjectState};

use crate::node::NodeInner;

/// Retry period for activations that failed (a peer not up yet, say).
const RECONCILE_TICK_MS: u64 = 250;

pub async fn reconcile_loop(inner: Arc<NodeInner>) {
    let Some(dir) = inner.directory.get() else { return };
    let mut applied = dir.applied_index();
    loop {
        reconcile(&inner);
        tokio::select! {
            r = applied.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(Duration::from_millis(RECONCILE_TICK_MS)) => {}
        }
    }
}

fn reconcile(inner: &Arc<NodeInner>) {
    if !inner.hook.is_live() {
        return;
    }
    let Some(dir) = inner.directory.get() else { return };
    let state = dir.state();
    let owned = inner.replicator.owned();
    for obj in state.objects.values() {
        let mine = obj.owner == inner.id
            && obj.state != ObjectState::Lost
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
        let (object, epoch, index, targets) = (obj.id, obj.epoch, obj.epoch_index, obj.active_nodes());
        tokio::spawn(async move {
            match inner.replicator.activate(object, epoch, index, targets).await {
                Ok(()) => tracing::info!(object, epoch, "serving as owner"),
                Err(e) => tracing::warn!(object, epoch, error = %e, "activation failed; will retry"),
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
