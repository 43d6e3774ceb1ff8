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
        // Clients hold the same secret as nodes, so roles are not a security
        // boundary; they keep tools away from the directory and from fences.
        // ComponentWrite stays open to clients so that an operator (or a
        // test) can prove fencing: an old-epoch write bounces everywhere.
        let node_only = matches!(kind, FrameKind::Fence | FrameKind::Raft);
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
            FrameKind::Write => {
                let conn = conn.clone();
                tokio::spawn(async move { me.on_write(&conn, rid, frame.body).await });
            }
            FrameKind::Read => me.on_read(conn, rid, &frame.body),
            FrameKind::Control => {
                let conn = conn.clone();
                tokio::spawn(async move { me.on_control(&conn, rid, &frame.body, from_node).await });
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
            FrameKind::Hello | FrameKind::Challenge | FrameKind::Proof | FrameKind::Welcome => {
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
        if !c.needs_sync() {
            return conn.respond(rid, FrameKind::Ok, vec![]);
        }
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || match c.sync() {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e.to_holdfast()),
        });
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
            let c = self.store.get(f.object).ok_or_else(|| {
                HoldfastError::new(ErrorCode::NoComponent, format!("node {} holds no component of object {}", self.id, f.object))
            })?;
            c.fence(f.epoch).map_err(|e| e.to_holdfast())
        }
        .await;
        match r {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    /// Refuses I/O on objects the directory does not know or declared LOST,
    /// with a message naming the object.
    fn check_object_usable(&self, object: u64) -> Result<(), HoldfastError> {
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
            return Err(HoldfastError::new(
                ErrorCode::NotOwner,
                format!("node {} does not own object {:?}; node {} does", self.id, obj.name, obj.owner),
            ));
        }
        Ok(())
    }

    async fn on_write(&self, conn: &Arc<Conn>, rid: u64, body: Bytes) {
        let w = match msg::Write::decode(body) {
            Ok(w) => w,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let r = match self.check_object_usable(w.object) {
            Ok(()) => self.replicator.write(w.object, w.offset, w.data).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => conn.respond(rid, FrameKind::Ok, vec![]),
            Err(e) => conn.respond_error(rid, &e),
        }
    }

    fn on_read(&self, conn: &Arc<Conn>, rid: u64, body: &[u8]) {
        let r = match msg::Read::decode(body) {
            Ok(r) => r,
            Err(e) => return conn.fail(rid, &bad_frame(e)),
        };
        let data = self.check_object_usable(r.object).and_then(|()| self.replicator.read(r.object, r.offset, r.length as u64));
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
        if matches!(req, ControlRequest::Propose { .. }) && !from_node {
            return conn.respond_error(rid, &HoldfastError::new(ErrorCode::Unauthenticated, "propose is for cluster nodes only"));
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
