//! The host's file server inside the node: it mounts each configured
//! volume whose two objects this node owns and serves, unmounts it when
//! ownership moves away, and runs the handle scavenger. Mounting after an
//! owner failover is the takeover: the journal is replayed from this host's
//! copy and the handle table read from this host's RAM.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use holdfast_directory::Command;
use holdfast_file_server::device::BoxFut;
use holdfast_file_server::{FileServer, ObjectDevice, ObjectIo};
use holdfast_types::{Epoch, ErrorCode, HoldfastError, ObjectId};

use crate::node::NodeInner;

/// How often ownership is checked against what is mounted.
const MOUNT_CHECK_MS: u64 = 100;
/// How soon a mount that failed is tried again at the same epochs (an
/// unformatted volume becomes mountable once `holdfast` formats it).
const MOUNT_RETRY_MS: u64 = 1000;
/// How often disconnected handles are checked for expiry.
const SCAVENGE_MS: u64 = 500;

/// Block I/O of the file server: straight into this node's replicator,
/// which must own the object.
pub struct NodeObjectIo {
    pub node: Weak<NodeInner>,
}

fn gone() -> HoldfastError {
    HoldfastError::new(ErrorCode::NotReady, "node is shutting down")
}

impl ObjectIo for NodeObjectIo {
    fn write(&self, object: ObjectId, offset: u64, data: Bytes) -> BoxFut<'_, Result<(), HoldfastError>> {
        Box::pin(async move {
            let n = self.node.upgrade().ok_or_else(gone)?;
            n.check_object_usable(object)?;
            n.replicator.write(object, offset, data).await
        })
    }

    fn read(&self, object: ObjectId, offset: u64, len: u64) -> BoxFut<'_, Result<Vec<u8>, HoldfastError>> {
        Box::pin(async move {
            let n = self.node.upgrade().ok_or_else(gone)?;
            n.check_object_usable(object)?;
            n.replicator.read(object, offset, len).await
        })
    }
}

pub async fn file_server_loop(inner: Arc<NodeInner>, fs: Arc<FileServer>) {
    let io: Arc<dyn ObjectIo> = Arc::new(NodeObjectIo { node: Arc::downgrade(&inner) });
    // Per volume: the (data epoch, handle epoch) a mount last failed at, so
    // a broken volume is logged once per ownership change, not every tick.
    let mut failed: HashMap<String, ((Epoch, Epoch), tokio::time::Instant)> = HashMap::new();
    let mut moves_asked: HashMap<ObjectId, Epoch> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(MOUNT_CHECK_MS));
    let mut last_scavenge = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if last_scavenge.elapsed() >= Duration::from_millis(SCAVENGE_MS) {
            fs.scavenge().await;
            last_scavenge = tokio::time::Instant::now();
        }
        let Ok(dir) = inner.dir() else { continue };
        let state = dir.state();
        let owned = inner.replicator.owned();
        for vol in fs.volumes().to_vec() {
            let data = state.object_by_name(&vol.data_object());
            let handles = state.object_by_name(&vol.handle_object());
            let (Some(data), Some(handles)) = (data, handles) else {
                if fs.is_mounted(&vol.name) {
                    fs.unmount(&vol.name);
                }
                continue;
            };
            let serving = |id: ObjectId, epoch: Epoch| owned.get(&id).is_some_and(|&(e, s)| s && e == epoch);
            let mine = data.owner == inner.id && handles.owner == inner.id;
            if fs.is_mounted(&vol.name) {
                if !mine || !serving(data.id, data.epoch) || !serving(handles.id, handles.epoch) {
                    fs.unmount(&vol.name);
                }
                continue;
            }
            if data.owner != inner.id {
                continue;
            }
            if handles.owner != inner.id {
                // The two objects of a volume are served together: ask for
                // the handle table to follow the namespace here.
                if moves_asked.get(&handles.id) != Some(&handles.epoch) && !inner.node_down(handles.owner) {
                    moves_asked.insert(handles.id, handles.epoch);
                    let cmd = Command::MoveOwner { object: handles.id, to: inner.id, expected_epoch: Some(handles.epoch) };
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        if let Err(e) = inner.propose(cmd).await {
                            tracing::info!(error = %e, "moving the handle table to this node failed; will retry");
                        }
                    });
                }
                continue;
            }
            if !serving(data.id, data.epoch) || !serving(handles.id, handles.epoch) {
                continue;
            }
            if failed.get(&vol.name).is_some_and(|(at, when)| *at == (data.epoch, handles.epoch) && when.elapsed() < Duration::from_millis(MOUNT_RETRY_MS)) {
                continue;
            }
            let data_dev = ObjectDevice::new(io.clone(), data.id, data.size_bytes);
            let handle_dev = ObjectDevice::new(io.clone(), handles.id, handles.size_bytes);
            match fs.mount(&vol.name, data_dev, handle_dev).await {
                Ok(()) => {
                    failed.remove(&vol.name);
                    tracing::info!(volume = %vol.name, epoch = data.epoch, "serving volume");
                }
                Err(e) => {
                    let at = (data.epoch, handles.epoch);
                    if failed.insert(vol.name.clone(), (at, tokio::time::Instant::now())).map(|(a, _)| a) != Some(at) {
                        tracing::error!(volume = %vol.name, error = %e, "cannot mount volume; will retry");
                    }
                }
            }
        }
    }
}
