//! Dispatch of frames arriving on any connection.
//!
//! Component writes are applied on the reader task, before the next frame
//! is read, so that a connection's arrival order is the component's apply
//! order. Everything that may wait (client writes, fences, control, Raft)
//! is spawned.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use holdfast_types::{ErrorCode, HoldfastError, ObjectState};
use holdfast_wire::control::{ControlRequest, CONTROL_BODY_BYTES_MAX};
use holdfast_wire::msg::{self, Role};
use holdfast_wire::{Conn, Frame, FrameKind, RequestHandler};

use crate::node::NodeInner;

/// How long a component waits for its directory to catch up with a fence.
const FENCE_CATCH_UP_MS: u64 = 5000;

fn bad_frame(e: impl std::fmt::Display) -> HoldfastError {
    HoldfastError::new(ErrorCode::BadFrame, e.to_string())
}

impl RequestHandler for NodeInner {
    fn on_request(&self, conn: &Arc<Conn>, frame: Frame) {
        let rid = frame.header.request_id;
        let Some(kind) = FrameKind::from_u8(frame.header.kind) else {
            conn.fail(rid, &HoldfastError::new(ErrorCode::UnknownType, format!("unknown frame type {:#04x}", frame.header.kind)));
            return;
        };
        let from_node = conn.peer.role == Role::Node;
        // A client's certificate names no node (`auth::accept`), so this
        // is a security boundary: a CLI or benchmark credential cannot write
        // a component behind its owner's back, fence, or vote.
        let node_only = matches!(
            kind,
            FrameKind::ComponentWrite
                | FrameKind::Fence
                | FrameKind::Raft
                | FrameKind::RepairWrite
                | FrameKind::RecentWrites
                | FrameKind::ResyncPrepare
                | FrameKind::ResyncStart
                | FrameKind::ResyncChunk
                | FrameKind::ResyncFinish
                | FrameKind::EpochCheck
                | FrameKind::ComponentSync
                | FrameKind::LeaseRenew
                | FrameKind::LeaseBarrier
        );
        if node_only && !from_node {
            conn.respond_error(rid, &HoldfastError::new(ErrorCode::Unauthenticated, format!("{kind:?} is for cluster nodes only")));
            return;
        }
        let me = self.self_arc();
        match kind {
            // The reply says whether this incarnation is live in the
            // directory, so peers can report it in status.
            FrameKind::Ping => conn.respond(rid, FrameKind::Data, vec![Bytes::from(vec![self.hook.is_live() as u8])]),
            FrameKind::ComponentWrite => me.on_component_write(conn, rid, frame.body),
            FrameKind::ComponentRead => me.on_component_read(conn, rid, &frame.body),
            FrameKind::Fence => {
                let conn = conn.clone();
                tokio::spawn(async move { me.on_fence(&conn, rid, &frame.body).await });
            }
            FrameKind::RepairWrite => me.on_repair_write(conn, rid, frame.body),
            FrameKind::RecentWrites => me.on_recent_writes(conn, rid, &frame.body),
            FrameKind::ResyncPrepare => {
                let conn = conn.clone();
                tokio::spawn(async move { me.on_resync_prepare(&conn, rid, &frame.body).await });
            }
            FrameKind::ResyncStart => me.on_resync_start(conn, rid, &frame.body),
            FrameKind::ResyncChunk => me.on_resync_chunk(conn, rid, frame.body),
            FrameKind::ResyncFinish => me.on_resync_finish(conn, rid, &frame.body),
            FrameKind::Write => {
                let conn = conn.clone();
                tokio::spawn(async move { me.on_write(&conn, rid, frame.body).await });
            }
            FrameKind::Read => {
                let conn = conn.clone();
                tokio::spawn(async move { me.on_read(&conn, rid, &frame.body).await });
            }
            FrameKind::EpochCheck => me.on_epoch_check(conn, rid, &frame.body),
            FrameKind::ComponentSync => me.on_component_sync(conn, rid, &frame.body),
            FrameKind::Flush => {
                let conn = conn.clone();
                tokio::spawn(async move { me.on_flush(&conn, rid, &frame.body).await });
            }
            FrameKind::Control => {
                let conn = conn.clone();
                tokio::spawn(async move { me.on_control(&conn, rid, &frame.body, from_node).await });
            }
            FrameKind::LeaseRenew | FrameKind::LeaseBarrier => {
                let conn = conn.clone();
                tokio::spawn(async move {
                    let Ok(b) = <[u8; 8]>::try_from(frame.body.as_ref()) else {
                        conn.respond_error(rid, &bad_frame(format!("{kind:?} body of {} bytes, not 8", frame.body.len())));
                        return;
                    };
                    let index = u64::from_le_bytes(b);
                    let from = conn.peer.node_id;
                    let r = if kind == FrameKind::LeaseRenew {
                        me.grant_lease(from, index).await.map(|g| (FrameKind::Data, vec![Bytes::copy_from_slice(&g.to_le_bytes())]))
                    } else {
                        me.barrier_local(from, index).await.map(|()| (FrameKind::Ok, vec![]))
                    };
                    match r {
                        Ok((k, body)) => conn.respond(rid, k, body),
                        Err(e) => conn.respond_error(rid, &e),
                    }
                });
            }
            FrameKind::Raft => {
                let conn = conn.clone();
                tokio::spawn(async move {
                    match me.dir() {
                        Ok(d) => {
                            let reply = d.handle_rpc(frame.body).await;
                            conn.respond(rid, FrameKind::Data, vec![reply]);
                        }
                        Err(e) => conn.respond_error(rid, &e),
                    }
                });
            }
            FrameKind::Hello | FrameKind::Welcome => {
                conn.fail(rid, &bad_frame(format!("{kind:?} frame after authentication")))
            }
            FrameKind::Ok | FrameKind::Data | FrameKind::Error | FrameKind::Json => {
                conn.fail(rid, &bad_frame(format!("{kind:?} frame sent as a request")))
            }
        }
    }

    fn on_close(&self, conn: &Arc<Conn>) {
        if conn.peer.role == Role::Client {
            self.client_conns.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl NodeInner {
    /// The handler is only ever called through the `Arc` the connections
    /// hold; this recovers it for spawned work.
    fn self_arc(&self) -> Arc<NodeInner> {
        self.me_weak.get().and_then(|w| w.upgrade()).expect("node is alive while it handles frames")
    }

    fn on_component_write(self: Arc<Self>, conn: &Arc<Conn>, rid: u64, body: Bytes) {
        let w = match msg::ComponentWrite::decode(body) {
            Ok(w) => w,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let Some(c) = self.store.get(w.object) else {
            let e = HoldfastError::new(ErrorCode::NoComponent, format!("node {} holds no component of object {}", self.id, w.object));
            return conn.respond_error(rid, &e);
        };
        if let Err(e) = c.write(w.epoch, w.seq, w.offset, &w.data) {
            return conn.respond_error(rid, &e.to_holdfast());
        }
        self.respond_when_applied(conn, rid, c);
    }

    fn on_component_read(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let r = match msg::ComponentRead::decode(body) {
            Ok(r) => r,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let Some(c) = self.store.get(r.object) else {
            let e = HoldfastError::new(ErrorCode::NoComponent, format!("node {} holds no component of object {}", self.id, r.object));
            return conn.respond_error(rid, &e);
        };
        let epoch = (r.epoch != 0).then_some(r.epoch);
        match c.read(epoch, r.offset, r.length as u64) {
            Ok(data) => conn.respond(rid, FrameKind::Data, vec![Bytes::from(data)]),
            Err(e) => conn.respond_error(rid, &e.to_holdfast()),
        }
    }

    async fn on_fence(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let f = match msg::Fence::decode(body) {
            Ok(f) => f,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let r = async {
            let dir = self.dir()?;
            dir.wait_applied(f.dir_index, Duration::from_millis(FENCE_CATCH_UP_MS))
                .await
                .map_err(|e| HoldfastError::new(ErrorCode::NotReady, e.to_string()))?;
            // Just after a restart this node reopens its persistent
            // components only when its own NodeBooted is applied; a fence
            // that comes first must wait for that, not report them missing.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(FENCE_CATCH_UP_MS);
            while self.store.get(f.object).is_none() && !self.hook.is_live() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let c = self.store.get(f.object).ok_or_else(|| {
                HoldfastError::new(ErrorCode::NoComponent, format!("node {} holds no component of object {}", self.id, f.object))
            })?;
            c.fence(f.epoch).map(|position| msg::FenceReply { position, unclean: c.unclean() }).map_err(|e| e.to_holdfast())
        }
        .await;
        match r {
            Ok(reply) => conn.respond(rid, FrameKind::Data, vec![reply.encode()]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    fn component(&self, object: u64) -> Result<Arc<holdfast_local_store::Component>, HoldfastError> {
        self.store.get(object).ok_or_else(|| {
            HoldfastError::new(ErrorCode::NoComponent, format!("node {} holds no component of object {object}", self.id))
        })
    }

    /// Answers Ok once `c` applied a write: at once, unless its disk lag
    /// is at its bound, then after a sync (off the reader task).
    fn respond_when_applied(&self, conn: &Arc<Conn>, rid: u64, c: Arc<holdfast_local_store::Component>) {
        if !c.sync_due() {
            return conn.respond(rid, FrameKind::Ok, vec![]);
        }
        self.respond_when_synced(conn, rid, c)
    }

    /// Answers Ok once everything `c` applied is on its disk (fdatasync,
    /// off the reader task; nothing to do for memory).
    fn respond_when_synced(&self, conn: &Arc<Conn>, rid: u64, c: Arc<holdfast_local_store::Component>) {
        let done = move |conn: &Arc<Conn>, c: &holdfast_local_store::Component| match c.sync() {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e.to_holdfast()),
        };
        if holdfast_types::io_mode::inline_blocking() {
            return done(conn, &c);
        }
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || done(&conn, &c));
    }

    fn on_repair_write(&self, conn: &Arc<Conn>, rid: u64, body: Bytes) {
        let w = match msg::RepairWrite::decode(body) {
            Ok(w) => w,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let r = self.component(w.object).and_then(|c| {
            let rw = holdfast_local_store::component::RecentWrite { position: w.position, offset: w.offset, data: w.data };
            c.repair(w.epoch, &rw).map_err(|e| e.to_holdfast())?;
            Ok(c)
        });
        match r {
            // A rebuilt copy's disk is level before it becomes ACTIVE, so
            // that its synced position vouches for its bytes (unclean rule).
            Ok(c) => self.respond_when_synced(conn, rid, c),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    fn on_recent_writes(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let q = match msg::RecentWrites::decode(body) {
            Ok(q) => q,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let r = self.component(q.object).and_then(|c| {
            if q.epoch < c.epoch() {
                return Err(HoldfastError::new(ErrorCode::StaleEpoch, format!("epoch {} is older than {}", q.epoch, c.epoch())));
            }
            c.recent_since(q.after).ok_or_else(|| {
                HoldfastError::new(ErrorCode::NotCovered, format!("object {}: recent writes no longer reach {:?}", q.object, q.after))
            })
        });
        match r {
            Ok(writes) => {
                // One page: at least one write, and within one frame body
                // (4-byte count plus a 28-byte header per write).
                let mut page = Vec::new();
                let mut bytes = 4usize;
                for w in writes {
                    if !page.is_empty() && bytes + 28 + w.data.len() > holdfast_types::limits::FRAME_BODY_BYTES_MAX {
                        break;
                    }
                    bytes += 28 + w.data.len();
                    page.push(msg::PagedWrite { position: w.position, offset: w.offset, data: w.data });
                }
                conn.respond(rid, FrameKind::Data, vec![msg::encode_write_page(&page)]);
            }
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    async fn on_resync_prepare(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let p = match msg::ResyncPrepare::decode(body) {
            Ok(p) => p,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let r = async {
            let dir = self.dir()?;
            dir.wait_applied(p.dir_index, Duration::from_millis(FENCE_CATCH_UP_MS))
                .await
                .map_err(|e| HoldfastError::new(ErrorCode::NotReady, e.to_string()))?;
            let state = dir.state();
            let obj = state
                .objects
                .get(&p.object)
                .ok_or_else(|| HoldfastError::new(ErrorCode::NoSuchObject, format!("no object with id {}", p.object)))?;
            if obj.component(self.id).is_none() {
                return Err(HoldfastError::new(ErrorCode::NoComponent, format!("node {} is not placed for object {}", self.id, obj.name)));
            }
            let failed = match self.store.get(obj.id) {
                // An unclean copy (a host restart lost unsynced writes) may
                // miss writes from before the range its owner knows it
                // missed, and `resync_start` will mark it clean: only a full
                // copy makes that true (simulation, power losses: a delta
                // rebuild left acknowledged writes out).
                Some(c) if !c.is_failed() => return Ok(c.unclean()),
                Some(_) => {
                    // A sync failed on it: what its file holds is unknown
                    // (local-store's component.rs), so a new one replaces it.
                    tracing::warn!(object = obj.id, "replacing a failed component by a new one for its rebuild");
                    self.store.remove(obj.id).map_err(|e| e.to_holdfast())?;
                    true
                }
                None => false,
            };
            // Ok(true): created empty, or reopened unclean; Ok(false):
            // reopened with its old bytes.
            let fresh = match obj.kind {
                holdfast_types::ObjectKind::Memory => self.store.create_memory(obj.id, obj.size_bytes).map(|_| true),
                holdfast_types::ObjectKind::Persistent if failed => self.store.create_persistent(obj.id, obj.size_bytes).map(|_| true),
                holdfast_types::ObjectKind::Persistent => match self.store.open_persistent(obj.id, obj.size_bytes) {
                    Ok(c) => Ok(c.unclean()),
                    Err(e) => {
                        tracing::warn!(object = obj.id, error = %e, "rebuilding persistent component from scratch");
                        self.store.discard_persistent_file(obj.id).and_then(|()| self.store.create_persistent(obj.id, obj.size_bytes)).map(|_| true)
                    }
                },
            };
            fresh.map_err(|e| e.to_holdfast())
        }
        .await;
        // One byte: 1 when the rebuild must copy everything (the component
        // was created afresh, or is unclean), 0 when a delta will do.
        match r {
            Ok(fresh) => conn.respond(rid, FrameKind::Data, vec![Bytes::from(vec![fresh as u8])]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    fn on_resync_start(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let s = match msg::ResyncStart::decode(body) {
            Ok(s) => s,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        match self.component(s.object).and_then(|c| c.resync_start(s.epoch, s.position).map_err(|e| e.to_holdfast())) {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    fn on_resync_chunk(&self, conn: &Arc<Conn>, rid: u64, body: Bytes) {
        let c = match msg::ResyncChunk::decode(body) {
            Ok(c) => c,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        match self.component(c.object).and_then(|comp| comp.resync_chunk(c.epoch, c.offset, &c.data).map_err(|e| e.to_holdfast())) {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    fn on_resync_finish(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let f = match msg::ResyncFinish::decode(body) {
            Ok(f) => f,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        match self.component(f.object) {
            Ok(c) if f.epoch < c.epoch() => {
                conn.respond_error(rid, &HoldfastError::new(ErrorCode::StaleEpoch, format!("epoch {} is older than {}", f.epoch, c.epoch())))
            }
            // A rebuilt copy's disk is level before it becomes ACTIVE, so
            // that its synced position vouches for its bytes (unclean rule).
            Ok(c) => self.respond_when_synced(conn, rid, c),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    /// Refuses I/O on objects the directory does not know or declared LOST,
    /// with a message naming the object.
    /// A read served by this owner: under its lease, from its own copy.
    pub(crate) fn read_object(&self, object: u64, offset: u64, length: u64) -> Result<Vec<u8>, HoldfastError> {
        self.check_object_usable(object)?;
        let data = self.replicator.read_leased(object, offset, length)?;
        self.served(object);
        Ok(data)
    }

    /// A write served by this owner, from a client or the file server. The
    /// gate is passed again once the write is done: a write admitted under
    /// the lease may finish after it ended, when a new owner may already
    /// serve; its outcome is then unknown to the writer (an error, as for a
    /// timeout), never a success from a host without a lease.
    pub(crate) async fn write_object(&self, object: u64, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        self.check_object_usable(object)?;
        self.replicator.write(object, offset, data).await?;
        self.check_object_usable(object)?;
        self.served(object);
        Ok(())
    }

    /// [`NodeInner::write_object`] in two halves (`Replicator::write_ordered`):
    /// returns once the write's order is fixed; the future finishes it,
    /// passing the gate again as `write_object` does.
    pub(crate) async fn write_object_ordered(self: &Arc<Self>, object: u64, offset: u64, data: Bytes) -> Result<holdfast_file_server::device::PendingWrite, HoldfastError> {
        self.check_object_usable(object)?;
        let rest = self.replicator.write_ordered(object, offset, data).await?;
        let me = self.clone();
        Ok(Box::pin(async move {
            rest.await?;
            me.check_object_usable(object)?;
            me.served(object);
            Ok(())
        }))
    }

    /// FLUSH of an object this node owns: every write acknowledged before
    /// it reaches the disk of every ACTIVE component. Gated like a write.
    pub(crate) async fn flush_object(&self, object: u64) -> Result<(), HoldfastError> {
        self.check_object_usable(object)?;
        self.replicator.flush(object).await?;
        self.check_object_usable(object)
    }

    pub(crate) fn check_object_usable(&self, object: u64) -> Result<(), HoldfastError> {
        let state = self.dir()?.state();
        let Some(obj) = state.objects.get(&object) else {
            return Err(HoldfastError::new(ErrorCode::NoSuchObject, format!("no object with id {object}")));
        };
        if obj.state == ObjectState::Lost {
            return Err(HoldfastError::new(
                ErrorCode::ObjectLost,
                format!("object {:?} is LOST: every component that held its bytes is gone", obj.name),
            ));
        }
        if obj.owner != self.id {
            let candidate = obj.components.iter().any(|c| {
                c.state == holdfast_types::ComponentState::Active && c.node != obj.owner && self.node_ready(c.node)
            });
            if self.node_down(obj.owner) && !candidate {
                return Err(HoldfastError::new(
                    ErrorCode::Unavailable,
                    format!("object {:?}: its owner node {} is down and no other ACTIVE copy is reachable", obj.name, obj.owner),
                ));
            }
            return Err(HoldfastError::new(
                ErrorCode::NotOwner,
                format!("node {} does not own object {:?}; node {} does", self.id, obj.name, obj.owner),
            ));
        }
        self.may_serve(&[])
    }

    async fn on_write(&self, conn: &Arc<Conn>, rid: u64, body: Bytes) {
        let w = match msg::Write::decode(body) {
            Ok(w) => w,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        match self.write_object(w.object, w.offset, w.data).await {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    /// The owner's FLUSH reached this component: sync once everything
    /// queued before it on this connection is applied (it is: writes apply
    /// on the reader task, in order).
    fn on_component_sync(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let q = match msg::ComponentSync::decode(body) {
            Ok(q) => q,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        match self.component(q.object).and_then(|c| c.check_epoch_current(q.epoch).map(|()| c).map_err(|e| e.to_holdfast())) {
            Ok(c) => self.respond_when_synced(conn, rid, c),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    async fn on_flush(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let f = match msg::Flush::decode(body) {
            Ok(f) => f,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        match self.flush_object(f.object).await {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    fn on_epoch_check(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let q = match msg::EpochCheck::decode(body) {
            Ok(q) => q,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        match self.component(q.object).and_then(|c| c.check_epoch_current(q.epoch).map_err(|e| e.to_holdfast())) {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    async fn on_read(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let r = match msg::Read::decode(body) {
            Ok(r) => r,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let data = self.read_object(r.object, r.offset, r.length as u64);
        match data {
            Ok(d) => conn.respond(rid, FrameKind::Data, vec![Bytes::from(d)]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    async fn on_control(&self, conn: &Arc<Conn>, rid: u64, body: &[u8], from_node: bool) {
        if body.len() > CONTROL_BODY_BYTES_MAX {
            return conn.fail(rid, &bad_frame(format!("control body of {} bytes is over {CONTROL_BODY_BYTES_MAX}", body.len())));
        }
        let req: ControlRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return conn.respond_error(rid, &HoldfastError::new(ErrorCode::Invalid, format!("bad control request: {e}"))),
        };
        if matches!(req, ControlRequest::Propose { .. } | ControlRequest::TickleList { .. }) && !from_node {
            return conn.respond_error(rid, &HoldfastError::new(ErrorCode::Unauthenticated, "propose and tickle lists are for cluster nodes only"));
        }
        match self.control(req).await {
            Ok(reply) => {
                let body = serde_json::to_vec(&reply).expect("control replies serialise");
                conn.respond(rid, FrameKind::Json, vec![Bytes::from(body)]);
            }
            Err(e) => conn.respond_error(rid, &e),
        }
    }
}
