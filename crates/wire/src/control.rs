//! Control messages: the JSON bodies of `Control` (0x40) requests and their
//! `Json` (0x83) replies. The control plane is rare and human-facing, so it
//! favours readable JSON over compact binary; the data path never uses it.

use holdfast_types::restart::{Stopping, TableInfo};
use holdfast_types::{ComponentState, Epoch, LogIndex, NodeId, ObjectId, ObjectKind, ObjectState};
use serde::{Deserialize, Serialize};

/// Largest control request body a node accepts.
pub const CONTROL_BODY_BYTES_MAX: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ControlRequest {
    /// Cluster status as this node sees it.
    Status,
    /// One object's configuration.
    Lookup { name: String },
    ListObjects,
    CreateObject { name: String, kind: ObjectKind, size_bytes: u64, replicas: u32 },
    /// Planned ownership move; waits until the new owner serves.
    MoveObject { name: String, to: NodeId },
    /// Whether this node serves `object` at `epoch` or later (used to wait
    /// for an activation).
    Serving { object: ObjectId, epoch: Epoch },
    /// Fault injection (nodes configured with `fault_injection = true`
    /// only): cut the answering node off from `nodes`; empty heals.
    Partition { nodes: Vec<NodeId> },
    /// Rebuilds the answering node drives as owner.
    ResyncProgress,
    /// Operator-started full rebuild of `node`'s component of object `name`:
    /// the component is committed STALE and the owner copies it again.
    /// Refused (INVALID) for the owner's component or a node without one; a
    /// no-op when the component is not ACTIVE (its rebuild is already
    /// under way or waiting). Replies `Done` once the answering node's
    /// directory shows the change, so a `Status` asked of that same node
    /// afterwards no longer shows the component ACTIVE until it is rebuilt.
    Rebuild { name: String, node: NodeId },
    /// Defines (or redefines) SMB service `name` on `addr`, placed on the
    /// owner of object `object` (a volume's persistent object). Idempotent.
    DefineService { name: String, addr: String, object: String },
    /// A directory command forwarded to the leader (node to node only). The
    /// command is the directory's own JSON.
    Propose { command: serde_json::Value },
    /// Begins a planned whole-cluster stop (`holdfast cluster stop`): every
    /// service stops and every handle table is parked on its volume
    /// (docs/restarts.md). Replies `Done` once committed.
    StopCluster,
    /// The connections of SMB service `service` on the sending node, one
    /// `CLIENT_IP:PORT SERVICE_IP:PORT` each, at most 4096 (node to node
    /// only): what the node that takes the service over tickles.
    TickleList { service: String, conns: Vec<String> },
    /// The answering node process exits cleanly (status 0) just after it
    /// replies `Done`. Refused (INVALID) unless a planned stop is under
    /// way, so it cannot take one host down by mistake.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum ControlReply {
    Status(StatusView),
    Object(ObjectView),
    Objects { objects: Vec<ObjectView> },
    Serving { serving: bool },
    Proposed { index: LogIndex, result: serde_json::Value },
    Done,
    Resyncs { resyncs: Vec<ResyncView> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResyncView {
    pub object: ObjectId,
    pub node: NodeId,
    pub done_bytes: u64,
    pub total_bytes: u64,
    /// Bytes per second since the rebuild started.
    pub rate_bytes_per_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub id: NodeId,
    pub addr: String,
    /// "up" or "down", as seen by the answering node.
    pub state: String,
    /// Whether the node's current process has announced itself to the
    /// directory and seen that applied ("live"): it holds components again.
    pub registered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentView {
    pub node: NodeId,
    pub state: ComponentState,
    /// Resync progress 0..1; 1 for an ACTIVE component.
    pub progress: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectView {
    pub name: String,
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub size: u64,
    pub replicas: u32,
    pub owner: NodeId,
    pub owner_addr: String,
    pub epoch: Epoch,
    pub state: ObjectState,
    pub components: Vec<ComponentView>,
    /// Times the object came back after being LOST (`ResetLost`).
    #[serde(default)]
    pub incarnation: u32,
    /// Its handle table's park, census and resets (empty for other objects).
    #[serde(default)]
    pub table: TableInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: String,
    pub addr: String,
    pub node: NodeId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// The node that answered.
    pub node: NodeId,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub applied_index: LogIndex,
    pub nodes: Vec<NodeView>,
    pub objects: Vec<ObjectView>,
    pub services: Vec<ServiceView>,
    /// Set while a planned whole-cluster stop is under way.
    #[serde(default)]
    pub stopping: Option<Stopping>,
}
