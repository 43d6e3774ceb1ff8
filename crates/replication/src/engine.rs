//! Drives [`OwnerCore`]s over a [`PeerTransport`] and the local store.
//!
//! The write path, for one client write on the owner:
//! 1. check the range, so a bad request never consumes a sequence number;
//! 2. reserve a request slot on each peer connection (backpressure);
//! 3. under the object's lock: take the next sequence number, queue the
//!    component write to every remote target, apply it to the local
//!    component. Holding the lock while queueing is what makes every
//!    connection carry this object's writes in sequence order;
//! 4. outside the lock: sync the local component if persistent, and wait
//!    for every remote acknowledgement;
//! 5. let the core decide.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use holdfast_local_store::component::check_range;
use holdfast_local_store::{Component, LocalStore};
use holdfast_types::{Epoch, ErrorCode, HoldfastError, LogIndex, NodeId, ObjectId};
use holdfast_wire::msg::{ComponentWrite, Fence};

use crate::core::{OwnerCore, WriteOutcome};

pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How the owner reaches other hosts' local stores.
pub trait PeerTransport: Send + Sync + 'static {
    /// A reserved request slot on the connection to one node.
    type Permit: Send + 'static;
    /// Waits for a free request slot on the connection to `node`.
    fn reserve(&self, node: NodeId) -> BoxFut<Result<Self::Permit, HoldfastError>>;
    /// Queues the write *before returning* (so calls made in order reach
    /// `node` in order); the future resolves when `node` acknowledges.
    fn send_write(&self, permit: Self::Permit, node: NodeId, w: &ComponentWrite) -> BoxFut<Result<(), HoldfastError>>;
    fn send_fence(&self, node: NodeId, f: Fence) -> BoxFut<Result<(), HoldfastError>>;
}

struct OwnerSlot {
    core: Mutex<OwnerCore>,
    component: Arc<Component>,
}

pub struct Replicator<T: PeerTransport> {
    me: NodeId,
    store: Arc<LocalStore>,
    transport: Arc<T>,
    slots: RwLock<HashMap<ObjectId, Arc<OwnerSlot>>>,
    pub write_timeout: Duration,
    pub fence_timeout: Duration,
}

fn not_owner(me: NodeId, object: ObjectId) -> HoldfastError {
    HoldfastError::new(ErrorCode::NotOwner, format!("node {me} does not own object {object}"))
}

impl<T: PeerTransport> Replicator<T> {
    pub fn new(me: NodeId, store: Arc<LocalStore>, transport: Arc<T>) -> Replicator<T> {
        Replicator {
            me,
            store,
            transport,
            slots: RwLock::new(HashMap::new()),
            write_timeout: Duration::from_millis(2000),
            fence_timeout: Duration::from_millis(5000),
        }
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

    /// Becomes owner of `object` at `epoch`: fences every target, then serves.
    pub async fn activate(
        &self,
        object: ObjectId,
        epoch: Epoch,
        dir_index: LogIndex,
        targets: Vec<NodeId>,
    ) -> Result<(), HoldfastError> {
        let component = self.store.get(object).ok_or_else(|| {
            HoldfastError::new(ErrorCode::NoComponent, format!("node {} holds no component of object {object}", self.me))
        })?;
        let slot = Arc::new(OwnerSlot { core: Mutex::new(OwnerCore::new(object, epoch, dir_index, targets)), component });
        {
            let mut slots = self.slots.write().expect("slots lock");
            if let Some(old) = slots.get(&object) {
                let old_epoch = old.core.lock().expect("core lock").epoch();
                if old_epoch > epoch {
                    return Err(HoldfastError::new(ErrorCode::StaleEpoch, format!("already own object {object} at epoch {old_epoch}")));
                }
            }
            slots.insert(object, slot.clone());
        }
        let (fence, targets) = {
            let c = slot.core.lock().expect("core lock");
            (c.fence(), c.targets().to_vec())
        };
        let mut futs = Vec::new();
        let mut results = Vec::new();
        for &n in &targets {
            if n == self.me {
                results.push((n, slot.component.fence(epoch).map_err(|e| e.to_holdfast())));
            } else {
                let f = self.transport.send_fence(n, fence);
                let t = self.fence_timeout;
                futs.push(async move {
                    let r = tokio::time::timeout(t, f).await.unwrap_or_else(|_| {
                        Err(HoldfastError::new(ErrorCode::Timeout, format!("node {n} did not answer the fence in {} ms", t.as_millis())))
                    });
                    (n, r)
                });
            }
        }
        results.extend(futures::future::join_all(futs).await);
        let r = slot.core.lock().expect("core lock").on_fenced(&results);
        if r.is_err() {
            // Leave no half-activated slot behind; the caller retries.
            let mut slots = self.slots.write().expect("slots lock");
            if slots.get(&object).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                slots.remove(&object);
            }
        }
        r
    }

    /// Stops owning `object` (the directory moved it away).
    pub fn demote(&self, object: ObjectId) {
        self.slots.write().expect("slots lock").remove(&object);
    }

    /// Replicates one write and returns once every ACTIVE component applied it.
    pub async fn write(&self, object: ObjectId, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        let slot = self.slot(object)?;
        check_range(offset, data.len() as u64, slot.component.size_bytes()).map_err(|e| e.to_holdfast())?;
        let targets = slot.core.lock().expect("core lock").targets().to_vec();
        let mut permits = Vec::with_capacity(targets.len());
        for &n in targets.iter().filter(|&&n| n != self.me) {
            permits.push((n, self.transport.reserve(n).await?));
        }
        let (ticket, local, remote) = {
            let mut core = slot.core.lock().expect("core lock");
            let ticket = core.begin_write()?;
            let cw = ComponentWrite { object, epoch: ticket.epoch, seq: ticket.seq, offset, data };
            let remote: Vec<_> = permits.into_iter().map(|(n, p)| (n, self.transport.send_write(p, n, &cw))).collect();
            let local = ticket
                .targets
                .contains(&self.me)
                .then(|| slot.component.write(ticket.epoch, ticket.seq, offset, &cw.data).map_err(|e| e.to_holdfast()));
            (ticket, local, remote)
        };
        let local_fut = async {
            match local {
                Some(Ok(())) if slot.component.needs_sync() => {
                    let c = slot.component.clone();
                    let r = tokio::task::spawn_blocking(move || c.sync()).await;
                    let r = r.map_err(|e| HoldfastError::new(ErrorCode::Internal, e.to_string()))?;
                    r.map_err(|e| e.to_holdfast())
                }
                Some(r) => r,
                None => Ok(()),
            }
        };
        let t = self.write_timeout;
        let remote_fut = futures::future::join_all(remote.into_iter().map(|(n, f)| async move {
            let r = tokio::time::timeout(t, f).await.unwrap_or_else(|_| {
                Err(HoldfastError::new(ErrorCode::Timeout, format!("no acknowledgement within {} ms", t.as_millis())))
            });
            (n, r)
        }));
        let (local_result, mut results) = futures::future::join(local_fut, remote_fut).await;
        if ticket.targets.contains(&self.me) {
            results.push((self.me, local_result));
        }
        let outcome = slot.core.lock().expect("core lock").finish_write(&ticket, &results);
        match outcome {
            WriteOutcome::Ack => Ok(()),
            WriteOutcome::Fail(e) => {
                tracing::warn!(object, error = %e, "write failed");
                Err(e)
            }
        }
    }

    /// Reads from the owner's own ACTIVE component.
    pub fn read(&self, object: ObjectId, offset: u64, length: u64) -> Result<Vec<u8>, HoldfastError> {
        let slot = self.slot(object)?;
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
