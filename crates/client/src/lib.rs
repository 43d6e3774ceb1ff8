//! Client library for a Holdfast cluster: what the CLI, the benchmarks and
//! the tests use to talk to nodes. It dials over TLS with the clients'
//! certificate (`DIR/tls/client.pem`), as role `client`.

pub mod cluster;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use holdfast_types::{ComponentState, ErrorCode, HoldfastError, NodeId, ObjectId};
use holdfast_wire::auth::{self, PeerIdentity};
use holdfast_wire::tls::Credential;
use holdfast_wire::control::{ControlReply, ControlRequest, ObjectView, ResyncView, StatusView};
use holdfast_wire::msg::{self, Role};
use holdfast_wire::{Conn, ConnError, Frame, FrameKind, RequestHandler};
use holdfast_wire::net::{Net, TokioNet};

pub use cluster::ClusterInfo;

pub const CONNECT_TIMEOUT_MS: u64 = 2000;
pub const CALL_TIMEOUT_MS: u64 = 15_000;
/// How long a write or read keeps re-resolving the owner while ownership
/// moves, a host fails over, or the directory elects a leader.
pub const FAILOVER_WAIT_MS: u64 = 15_000;
const REDIRECT_PAUSE_MS: u64 = 25;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to node {node} at {addr}: {message}")]
    Connect { node: NodeId, addr: String, message: String },
    #[error("{0}")]
    Remote(HoldfastError),
    #[error("{0}")]
    Conn(ConnError),
    #[error("bad reply: {0}")]
    Reply(String),
    #[error("no node answered: {0}")]
    NoNode(String),
}

impl ClientError {
    /// The wire error code, when the cluster answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Remote(e) => Some(e.code),
            ClientError::Conn(ConnError::Remote(e)) => Some(e.code),
            _ => None,
        }
    }
}

impl From<ConnError> for ClientError {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Remote(h) => ClientError::Remote(h),
            other => ClientError::Conn(other),
        }
    }
}

/// Clients serve no requests; a node that sends one is answered with an error.
struct NoRequests;

impl RequestHandler for NoRequests {
    fn on_request(&self, conn: &Arc<Conn>, frame: Frame) {
        conn.respond_error(frame.header.request_id, &HoldfastError::new(ErrorCode::Invalid, "clients serve no requests"));
    }
}

pub struct Client {
    net: Arc<dyn Net>,
    credential: Credential,
    nodes: BTreeMap<NodeId, String>,
    conns: Mutex<HashMap<NodeId, Arc<Conn>>>,
}

impl Client {
    pub fn new(credential: Credential, nodes: BTreeMap<NodeId, String>) -> Client {
        Client::with_net(Arc::new(TokioNet), credential, nodes)
    }

    pub fn with_net(net: Arc<dyn Net>, credential: Credential, nodes: BTreeMap<NodeId, String>) -> Client {
        Client { net, credential, nodes, conns: Mutex::new(HashMap::new()) }
    }

    pub fn from_cluster(info: &ClusterInfo) -> Client {
        Client::new(info.credential.clone(), info.nodes.clone())
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// Opens a new authenticated TCP connection to `addr` (not cached).
    pub async fn dial(credential: &Credential, node: NodeId, addr: &str) -> Result<Arc<Conn>, ClientError> {
        Client::dial_with(&TokioNet, credential, node, addr).await
    }

    pub async fn dial_with(net: &dyn Net, credential: &Credential, node: NodeId, addr: &str) -> Result<Arc<Conn>, ClientError> {
        let err = |m: String| ClientError::Connect { node, addr: addr.to_string(), message: m };
        let (r, w) = tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), net.connect(addr))
            .await
            .map_err(|_| err("timed out".into()))?
            .map_err(|e| err(e.to_string()))?;
        let tls = auth::dial(tokio::io::join(r, w), credential, Role::Client, 0, node).await.map_err(|e| err(e.to_string()))?;
        let (r, w) = tokio::io::split(tls);
        Ok(Conn::spawn(r, w, PeerIdentity { role: Role::Node, node_id: node }, format!("node {node}"), Arc::new(NoRequests)))
    }

    /// The cached connection to `node`, opened if needed.
    pub async fn conn(&self, node: NodeId) -> Result<Arc<Conn>, ClientError> {
        if let Some(c) = self.conns.lock().expect("conns lock").get(&node).filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let addr = self.nodes.get(&node).ok_or_else(|| ClientError::NoNode(format!("node {node} is not in the cluster file")))?;
        let c = Client::dial_with(self.net.as_ref(), &self.credential, node, addr).await?;
        self.conns.lock().expect("conns lock").insert(node, c.clone());
        Ok(c)
    }

    /// The owner's connection or, when the owner cannot be reached, any
    /// node's: it answers with where the object went (NOT_OWNER) or why it
    /// cannot serve (UNAVAILABLE, OBJECT_LOST).
    async fn conn_or_any(&self, owner: NodeId) -> Result<Arc<Conn>, ClientError> {
        match self.conn(owner).await {
            Ok(c) => Ok(c),
            Err(e) => {
                for n in self.node_ids().into_iter().filter(|&n| n != owner) {
                    if let Ok(c) = self.conn(n).await {
                        return Ok(c);
                    }
                }
                Err(e)
            }
        }
    }

    pub async fn control_at(&self, node: NodeId, req: &ControlRequest) -> Result<ControlReply, ClientError> {
        let conn = self.conn(node).await?;
        let body = Bytes::from(serde_json::to_vec(req).expect("requests serialise"));
        let f = conn.call(FrameKind::Control, vec![body], Duration::from_millis(CALL_TIMEOUT_MS)).await?;
        serde_json::from_slice(&f.body).map_err(|e| ClientError::Reply(e.to_string()))
    }

    /// Sends a control request to the first node that answers it.
    pub async fn control(&self, req: &ControlRequest) -> Result<ControlReply, ClientError> {
        let mut errors = Vec::new();
        for node in self.node_ids() {
            match self.control_at(node, req).await {
                Ok(r) => return Ok(r),
                Err(e @ ClientError::Remote(_)) if !e.code().is_some_and(|c| c.is_retryable()) => return Err(e),
                Err(e) => errors.push(format!("node {node}: {e}")),
            }
        }
        Err(ClientError::NoNode(errors.join("; ")))
    }

    /// Cluster status, from the leader when one is known and reachable,
    /// with rebuild progress gathered from the owners driving them.
    pub async fn status(&self) -> Result<StatusView, ClientError> {
        let first = match self.control(&ControlRequest::Status).await? {
            ControlReply::Status(s) => s,
            other => return Err(ClientError::Reply(format!("{other:?}"))),
        };
        let mut first = first;
        if first.leader.is_none() {
            // A host cut off from the rest knows no confirmed leader and
            // answers with its old view: ask the others for one that does.
            for n in self.node_ids().into_iter().filter(|&n| n != first.node) {
                if let Ok(ControlReply::Status(s)) = self.control_at(n, &ControlRequest::Status).await {
                    if s.leader.is_some() {
                        first = s;
                        break;
                    }
                }
            }
        }
        let mut status = first.clone();
        if let Some(l) = first.leader.filter(|&l| l != first.node) {
            if let Ok(ControlReply::Status(s)) = self.control_at(l, &ControlRequest::Status).await {
                status = s;
            }
        }
        let resyncing = status.objects.iter().any(|o| o.components.iter().any(|c| c.state == ComponentState::Resyncing));
        if resyncing {
            for r in self.resyncs().await {
                let obj = status.objects.iter_mut().find(|o| o.id == r.object);
                if let Some(c) = obj.and_then(|o| o.components.iter_mut().find(|c| c.node == r.node)) {
                    c.progress = if r.total_bytes == 0 { 1.0 } else { r.done_bytes as f64 / r.total_bytes as f64 };
                }
            }
        }
        Ok(status)
    }

    /// Rebuilds in progress, asked of every node that answers.
    pub async fn resyncs(&self) -> Vec<ResyncView> {
        let mut out = Vec::new();
        for node in self.node_ids() {
            if let Ok(ControlReply::Resyncs { resyncs }) = self.control_at(node, &ControlRequest::ResyncProgress).await {
                out.extend(resyncs);
            }
        }
        out
    }

    fn expect_object(r: ControlReply) -> Result<ObjectView, ClientError> {
        match r {
            ControlReply::Object(o) => Ok(o),
            other => Err(ClientError::Reply(format!("expected an object, got {other:?}"))),
        }
    }

    pub async fn lookup(&self, name: &str) -> Result<ObjectView, ClientError> {
        Self::expect_object(self.control(&ControlRequest::Lookup { name: name.to_string() }).await?)
    }

    pub async fn list_objects(&self) -> Result<Vec<ObjectView>, ClientError> {
        match self.control(&ControlRequest::ListObjects).await? {
            ControlReply::Objects { objects } => Ok(objects),
            other => Err(ClientError::Reply(format!("{other:?}"))),
        }
    }

    pub async fn create_object(&self, req: ControlRequest) -> Result<ObjectView, ClientError> {
        Self::expect_object(self.control(&req).await?)
    }

    pub async fn move_object(&self, name: &str, to: NodeId) -> Result<ObjectView, ClientError> {
        Self::expect_object(self.control(&ControlRequest::MoveObject { name: name.to_string(), to }).await?)
    }

    /// One write to a known owner, with no redirects. The benchmark's path.
    pub async fn write_at(conn: &Arc<Conn>, object: ObjectId, offset: u64, data: Bytes) -> Result<(), ClientError> {
        let w = msg::Write { object, offset, data };
        let chunks = vec![Bytes::copy_from_slice(&w.encode_fixed()), w.data];
        conn.call(FrameKind::Write, chunks, Duration::from_millis(CALL_TIMEOUT_MS)).await?;
        Ok(())
    }

    /// Writes to the object's owner, following ownership moves and
    /// failovers for up to [`FAILOVER_WAIT_MS`]. A write that returned an
    /// error may or may not have been applied; one that returned Ok is on
    /// every ACTIVE component.
    pub async fn write(&self, name: &str, offset: u64, data: Bytes) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(FAILOVER_WAIT_MS);
        loop {
            let r = async {
                let view = self.lookup(name).await?;
                let conn = self.conn_or_any(view.owner).await?;
                Client::write_at(&conn, view.id, offset, data.clone()).await
            }
            .await;
            match r {
                Err(e) if is_transient(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(REDIRECT_PAUSE_MS)).await
                }
                r => return r,
            }
        }
    }

    /// Waits until every write acknowledged before this call is on the
    /// disk of every ACTIVE component, following ownership moves and
    /// failovers like [`Client::write`].
    pub async fn flush(&self, name: &str) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(FAILOVER_WAIT_MS);
        loop {
            let r = async {
                let view = self.lookup(name).await?;
                let conn = self.conn_or_any(view.owner).await?;
                let req = msg::Flush { object: view.id };
                conn.call(FrameKind::Flush, vec![req.encode()], Duration::from_millis(CALL_TIMEOUT_MS)).await?;
                Ok(())
            }
            .await;
            match r {
                Err(e) if is_transient(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(REDIRECT_PAUSE_MS)).await
                }
                r => return r,
            }
        }
    }

    /// Reads from the object's owner, following ownership moves and failovers.
    pub async fn read(&self, name: &str, offset: u64, length: u32) -> Result<Bytes, ClientError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(FAILOVER_WAIT_MS);
        loop {
            let r = async {
                let view = self.lookup(name).await?;
                let conn = self.conn_or_any(view.owner).await?;
                let req = msg::Read { object: view.id, offset, length };
                let f = conn.call(FrameKind::Read, vec![req.encode()], Duration::from_millis(CALL_TIMEOUT_MS)).await?;
                Ok(f.body)
            }
            .await;
            match r {
                Err(e) if is_transient(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(REDIRECT_PAUSE_MS)).await
                }
                r => return r,
            }
        }
    }

    /// Reads `node`'s own component directly (diagnostic; no epoch check).
    pub async fn component_read(&self, node: NodeId, object: ObjectId, offset: u64, length: u32) -> Result<Bytes, ClientError> {
        let conn = self.conn(node).await?;
        let req = msg::ComponentRead { object, epoch: 0, offset, length };
        let f = conn.call(FrameKind::ComponentRead, vec![req.encode()], Duration::from_millis(CALL_TIMEOUT_MS)).await?;
        Ok(f.body)
    }
}

impl Drop for Client {
    /// A connection's reader and writer tasks keep it alive on their own;
    /// close ours so a dropped client does not hold node slots open.
    fn drop(&mut self) {
        for (_, c) in self.conns.lock().expect("conns lock").drain() {
            c.close("client dropped");
        }
    }
}

/// Errors that a failover or an ownership move explains, worth retrying.
fn is_transient(e: &ClientError) -> bool {
    matches!(e.code(), Some(ErrorCode::NotOwner | ErrorCode::NotReady | ErrorCode::NotLeader | ErrorCode::StaleEpoch | ErrorCode::Timeout))
        || matches!(e, ClientError::Conn(_) | ClientError::Connect { .. } | ClientError::NoNode(_))
}
