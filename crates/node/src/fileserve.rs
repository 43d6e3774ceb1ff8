//! The host's file server inside the node: it mounts each configured
//! volume whose two objects this node owns and serves, unmounts it when
//! ownership moves away, and runs the handle scavenger. Mounting after an
//! owner failover is the takeover: the journal is replayed from this host's
//! copy and the handle table read from this host's RAM.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use holdfast_directory::{ClusterState, Command, CommandResult, ObjectInfo};
use holdfast_file_server::device::{BoxFut, PendingWrite};
use holdfast_file_server::time::now_unix_ms;
use holdfast_file_server::{FileServer, ObjectDevice, ObjectIo, Prepared, TableExpect};
use holdfast_types::share::VolumeDef;
use holdfast_types::{ComponentState, Epoch, ErrorCode, HoldfastError, ObjectId, ObjectState};

use crate::node::NodeInner;

/// How often ownership is checked against what is mounted.
const MOUNT_CHECK_MS: u64 = 100;
/// How soon a mount that failed is tried again at the same epochs and
/// lease (an unformatted volume becomes mountable once `holdfast` formats
/// it); a lease taken anew retries at once.
const MOUNT_RETRY_MS: u64 = 1000;
/// How often disconnected handles are checked for expiry.
const SCAVENGE_MS: u64 = 500;
/// How soon a directory command that left the epoch unchanged is asked
/// again.
const ASK_RETRY_MS: u64 = 2000;
/// Least time between two handle censuses of one volume.
const CENSUS_MS: u64 = 1000;

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
            n.write_object(object, offset, data).await
        })
    }

    fn read(&self, object: ObjectId, offset: u64, len: u64) -> BoxFut<'_, Result<Vec<u8>, HoldfastError>> {
        Box::pin(async move {
            let n = self.node.upgrade().ok_or_else(gone)?;
            n.read_object(object, offset, len)
        })
    }

    fn write_ordered(&self, object: ObjectId, offset: u64, data: Bytes) -> BoxFut<'_, Result<PendingWrite, HoldfastError>> {
        Box::pin(async move {
            let n = self.node.upgrade().ok_or_else(gone)?;
            n.write_object_ordered(object, offset, data).await
        })
    }

    fn flush(&self, object: ObjectId) -> BoxFut<'_, Result<(), HoldfastError>> {
        Box::pin(async move {
            let n = self.node.upgrade().ok_or_else(gone)?;
            n.flush_object(object).await
        })
    }
}

pub async fn file_server_loop(inner: Arc<NodeInner>, fs: Arc<FileServer>) {
    let io: Arc<dyn ObjectIo> = Arc::new(NodeObjectIo { node: Arc::downgrade(&inner) });
    let mut m = Mounter { inner: inner.clone(), fs: fs.clone(), io, failed: HashMap::new(), asked: HashMap::new(), census_at: HashMap::new() };
    let mut tick = tokio::time::interval(Duration::from_millis(MOUNT_CHECK_MS));
    let mut last_scavenge = tokio::time::Instant::now();
    let mut grew = inner.serving_changed.subscribe();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = grew.changed() => if r.is_err() { return },
        }
        if last_scavenge.elapsed() >= Duration::from_millis(SCAVENGE_MS) {
            fs.scavenge().await;
            last_scavenge = tokio::time::Instant::now();
        }
        let Ok(dir) = inner.dir() else { continue };
        let state = dir.state();
        for vol in fs.volumes().to_vec() {
            m.volume(&state, &vol).await;
        }
    }
}

/// What the file-server loop remembers between ticks.
struct Mounter {
    inner: Arc<NodeInner>,
    fs: Arc<FileServer>,
    io: Arc<dyn ObjectIo>,
    /// Per volume: the (data epoch, handle epoch, lease count) a mount last
    /// failed at, so a broken volume is logged once per ownership change or
    /// lease, not every tick.
    failed: HashMap<String, ((Epoch, Epoch, u64), tokio::time::Instant)>,
    /// Directory commands already proposed, by (object, what) -> (epoch,
    /// when), so each is asked once per epoch unless it stays unapplied.
    asked: HashMap<(ObjectId, &'static str), (Epoch, tokio::time::Instant)>,
    /// When each volume's census was last proposed.
    census_at: HashMap<String, tokio::time::Instant>,
}

impl Mounter {
    fn serving(&self, id: ObjectId, epoch: Epoch) -> bool {
        self.inner.replicator.owned().get(&id).is_some_and(|&(e, s)| s && e == epoch)
    }

    /// Proposes `cmd` in the background, once per (object, what, epoch),
    /// again after `ASK_RETRY_MS` if the directory still shows that epoch.
    fn ask(&mut self, object: ObjectId, what: &'static str, epoch: Epoch, cmd: Command) {
        let now = tokio::time::Instant::now();
        if let Some((e, at)) = self.asked.get(&(object, what)) {
            if *e == epoch && now.duration_since(*at) < Duration::from_millis(ASK_RETRY_MS) {
                return;
            }
        }
        self.asked.insert((object, what), (epoch, now));
        let inner = self.inner.clone();
        tokio::spawn(async move {
            match inner.propose(cmd).await {
                Ok((_, CommandResult::Refused { message, .. })) => tracing::info!(object, what, message, "not applied; will retry"),
                Ok((_, r)) => tracing::info!(object, what, result = ?r, "applied"),
                Err(e) => tracing::info!(object, what, error = %e, "failed; will retry"),
            }
        });
    }

    async fn volume(&mut self, state: &ClusterState, vol: &VolumeDef) {
        let data = state.object_by_name(&vol.data_object());
        let handles = state.object_by_name(&vol.handle_object());
        let (Some(data), Some(handles)) = (data, handles) else {
            if self.fs.is_mounted(&vol.name) {
                self.fs.unmount(&vol.name);
            }
            return;
        };
        let me = self.inner.id;
        let mine = data.owner == me && handles.owner == me;
        if self.fs.is_mounted(&vol.name) {
            if state.stopping.is_some() && mine {
                self.park(vol, handles).await;
            } else if !mine || !self.serving(data.id, data.epoch) || !self.serving(handles.id, handles.epoch) {
                self.fs.unmount(&vol.name);
            } else {
                self.census(vol, handles);
            }
            return;
        }
        if data.owner != me || state.stopping.is_some() {
            return;
        }
        if self.bring_back(handles) {
            return;
        }
        if handles.owner != me {
            // The two objects of a volume are served together: ask for
            // the handle table to follow the namespace here.
            if !self.inner.node_down(handles.owner) {
                let cmd = Command::MoveOwner { object: handles.id, to: me, expected_epoch: Some(handles.epoch) };
                self.ask(handles.id, "move the handle table here", handles.epoch, cmd);
            }
            return;
        }
        if !self.serving(data.id, data.epoch) || !self.serving(handles.id, handles.epoch) {
            return;
        }
        let at = (data.epoch, handles.epoch, self.inner.lease.taken());
        if self.failed.get(&vol.name).is_some_and(|(a, when)| *a == at && when.elapsed() < Duration::from_millis(MOUNT_RETRY_MS)) {
            return;
        }
        let data_dev = ObjectDevice::new(self.io.clone(), data.id, data.size_bytes);
        let handle_dev = ObjectDevice::new(self.io.clone(), handles.id, handles.size_bytes);
        let table = TableExpect { incarnation: handles.incarnation, restore_from: handles.current_reset().and_then(|r| r.restored_from) };
        match self.fs.mount(&vol.name, data_dev, handle_dev, table).await {
            Ok(prepared) => {
                self.failed.remove(&vol.name);
                log_prepared(&vol.name, handles, &prepared);
                tracing::info!(volume = %vol.name, epoch = data.epoch, "serving volume");
                self.inner.serving_grew();
            }
            Err(e) => {
                if self.failed.insert(vol.name.clone(), (at, tokio::time::Instant::now())).map(|(a, _)| a) != Some(at) {
                    tracing::error!(volume = %vol.name, error = %e, "cannot mount volume; will retry");
                }
            }
        }
    }

    /// A handle table that a whole-cluster restart left parked or LOST is
    /// brought back by the volume's server (docs/restarts.md). True while
    /// that is under way and the volume must not mount.
    fn bring_back(&mut self, handles: &ObjectInfo) -> bool {
        let me = self.inner.id;
        if handles.state == ObjectState::Lost {
            // From the parked image when there is one, else empty: the
            // directory decides, and records it.
            let cmd = Command::ResetLost { object: handles.id, to: me, at_unix_ms: now_unix_ms(), expected_epoch: handles.epoch };
            self.ask(handles.id, "reset the LOST handle table", handles.epoch, cmd);
            return true;
        }
        if handles.table.parked.is_none() {
            return false;
        }
        // A copy still ACTIVE on a host that is up never lost its RAM (a
        // restart would have made it STALE): it is the table as parked, so
        // it serves as it is. Copies ACTIVE only on hosts that are down will
        // come back STALE, and then the object is LOST and restored above.
        let kept = handles.components.iter().any(|c| c.state == ComponentState::Active && self.inner.node_ready(c.node));
        if kept {
            let cmd = Command::UnparkTable { object: handles.id, expected_epoch: handles.epoch };
            self.ask(handles.id, "unpark the handle table", handles.epoch, cmd);
        }
        true
    }

    /// A planned stop: writes the table into the volume and records it.
    async fn park(&mut self, vol: &VolumeDef, handles: &ObjectInfo) {
        match self.fs.park(&vol.name).await {
            Ok(p) => {
                let cmd = Command::ParkTable {
                    object: handles.id,
                    incarnation: p.incarnation,
                    records: p.records,
                    at_unix_ms: now_unix_ms(),
                    expected_epoch: handles.epoch,
                };
                match self.inner.propose(cmd).await {
                    Ok((_, CommandResult::Ok)) => tracing::warn!(volume = %vol.name, records = p.records, "planned stop: handle table parked"),
                    Ok((_, r)) => tracing::error!(volume = %vol.name, result = ?r, "planned stop: the directory refused the park; handles will be lost at restart"),
                    Err(e) => tracing::error!(volume = %vol.name, error = %e, "planned stop: cannot record the park; handles will be lost at restart"),
                }
            }
            Err(e) => tracing::error!(volume = %vol.name, error = %e, "planned stop: cannot park the handle table; handles will be lost at restart"),
        }
    }

    /// Tells the directory how many records the table holds when that
    /// changed, at most every `CENSUS_MS`: what a reset after a power loss
    /// reports as lost.
    fn census(&mut self, vol: &VolumeDef, handles: &ObjectInfo) {
        let Some((incarnation, records)) = self.fs.table_census(&vol.name) else { return };
        let known = handles.table.census.as_ref().map(|c| c.records);
        if known == Some(records) || incarnation != handles.incarnation {
            return;
        }
        if self.census_at.get(&vol.name).is_some_and(|t| t.elapsed() < Duration::from_millis(CENSUS_MS)) {
            return;
        }
        self.census_at.insert(vol.name.clone(), tokio::time::Instant::now());
        let inner = self.inner.clone();
        let cmd = Command::TableCensus { object: handles.id, incarnation, records, at_unix_ms: now_unix_ms() };
        tokio::spawn(async move {
            if let Err(e) = inner.propose(cmd).await {
                tracing::info!(error = %e, "handle census not recorded; will retry");
            }
        });
    }
}

/// The event log line for what a mount did to the handle table.
fn log_prepared(volume: &str, handles: &ObjectInfo, prepared: &Prepared) {
    let reset = handles.current_reset();
    match (prepared, reset) {
        (Prepared::Restored { records }, _) => tracing::warn!(
            event = "handle_table_restored",
            volume,
            records,
            incarnation = handles.incarnation,
            "handle table restored from the image parked at the planned stop"
        ),
        (Prepared::Formatted, Some(r)) => tracing::warn!(
            event = "handle_table_reset",
            volume,
            records_lost = r.records_lost.map_or_else(|| "unknown".to_string(), |n| n.to_string()),
            incarnation = handles.incarnation,
            "handle table reset empty after every copy of its RAM was lost; clients reopen their files"
        ),
        (Prepared::Formatted, None) => tracing::info!(volume, "new handle table formatted"),
        (Prepared::AsItWas, _) => {}
    }
}
