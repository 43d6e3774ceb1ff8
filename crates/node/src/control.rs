//! Control-plane operations, answered by any node.

use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use holdfast_directory::{ClusterState, Command, CommandResult, DirectoryError, ObjectInfo};
use holdfast_types::{ComponentState, Epoch, ErrorCode, HoldfastError, LogIndex, NodeId, ObjectId};
use holdfast_wire::control::{ComponentView, ControlReply, ControlRequest, NodeView, ObjectView, ResyncView, ServiceView, StatusView};
use holdfast_wire::FrameKind;

use crate::node::NodeInner;

/// How long control operations wait for a leader or an activation.
const CONTROL_WAIT_MS: u64 = 10_000;
const FORWARD_TIMEOUT_MS: u64 = 5_000;
/// How long `Rebuild` waits for this node to apply its committed change;
/// with the proposal's own wait it stays within a client's call timeout.
const REBUILD_APPLIED_WAIT_MS: u64 = 3_000;

pub fn object_view(state: &ClusterState, o: &ObjectInfo) -> ObjectView {
    ObjectView {
        name: o.name.clone(),
        id: o.id,
        kind: o.kind,
        size: o.size_bytes,
        replicas: o.replicas,
        owner: o.owner,
        owner_addr: state.nodes.get(&o.owner).map(|n| n.addr.clone()).unwrap_or_default(),
        epoch: o.epoch,
        state: o.state,
        components: o
            .components
            .iter()
            .map(|c| ComponentView {
                node: c.node,
                state: c.state,
                progress: if c.state == ComponentState::Active { 1.0 } else { 0.0 },
            })
            .collect(),
        incarnation: o.incarnation,
        table: o.table.clone(),
    }
}

fn refused(code: u16, message: String) -> HoldfastError {
    HoldfastError::new(ErrorCode::from_u16(code).unwrap_or(ErrorCode::Internal), message)
}

impl NodeInner {
    pub async fn control(&self, req: ControlRequest) -> Result<ControlReply, HoldfastError> {
        match req {
            ControlRequest::Status => Ok(ControlReply::Status(self.status().await?)),
            ControlRequest::Lookup { name } => {
                self.check_sees_majority()?;
                let state = self.dir()?.state();
                let o = state
                    .object_by_name(&name)
                    .ok_or_else(|| HoldfastError::new(ErrorCode::NoSuchObject, format!("no object named {name:?}")))?;
                Ok(ControlReply::Object(object_view(&state, o)))
            }
            ControlRequest::ListObjects => {
                let state = self.dir()?.state();
                Ok(ControlReply::Objects { objects: state.objects.values().map(|o| object_view(&state, o)).collect() })
            }
            ControlRequest::CreateObject { name, kind, size_bytes, replicas } => {
                let (_, r) = self.propose(Command::CreateObject { name: name.clone(), kind, size_bytes, replicas }).await?;
                match r {
                    CommandResult::Created { object, owner, epoch } => {
                        self.wait_serving(owner, object, epoch).await?;
                        self.lookup_id(object)
                    }
                    CommandResult::Refused { code, message } => Err(refused(code, message)),
                    other => Err(HoldfastError::new(ErrorCode::Internal, format!("unexpected directory result {other:?}"))),
                }
            }
            ControlRequest::MoveObject { name, to } => {
                let state = self.dir()?.state();
                let o = state
                    .object_by_name(&name)
                    .ok_or_else(|| HoldfastError::new(ErrorCode::NoSuchObject, format!("no object named {name:?}")))?;
                let cmd = Command::MoveOwner { object: o.id, to, expected_epoch: Some(o.epoch) };
                match self.propose(cmd).await?.1 {
                    CommandResult::Moved { object, owner, epoch } => {
                        self.wait_serving(owner, object, epoch).await?;
                        self.lookup_id(object)
                    }
                    CommandResult::Refused { code, message } => Err(refused(code, message)),
                    other => Err(HoldfastError::new(ErrorCode::Internal, format!("unexpected directory result {other:?}"))),
                }
            }
            ControlRequest::DefineService { name, addr, object } => {
                let state = self.dir()?.state();
                let o = state
                    .object_by_name(&object)
                    .ok_or_else(|| HoldfastError::new(ErrorCode::NoSuchObject, format!("no object named {object:?}")))?;
                match self.propose(Command::DefineService { name, addr, object: o.id }).await?.1 {
                    CommandResult::Ok => Ok(ControlReply::Done),
                    CommandResult::Refused { code, message } => Err(refused(code, message)),
                    other => Err(HoldfastError::new(ErrorCode::Internal, format!("unexpected directory result {other:?}"))),
                }
            }
            ControlRequest::Serving { object, epoch } => {
                let serving = self.replicator.owned().get(&object).is_some_and(|&(e, s)| s && e >= epoch);
                Ok(ControlReply::Serving { serving })
            }
            ControlRequest::Partition { nodes } => {
                if !self.cfg.fault_injection {
                    return Err(HoldfastError::new(ErrorCode::Invalid, format!("fault injection is off on node {}", self.id)));
                }
                tracing::warn!(node = self.id, ?nodes, "fault injection: partitioned from nodes");
                self.peers.set_blocked(&nodes);
                Ok(ControlReply::Done)
            }
            ControlRequest::ResyncProgress => Ok(ControlReply::Resyncs { resyncs: self.resync_views() }),
            ControlRequest::Rebuild { name, node } => self.rebuild(&name, node).await,
            ControlRequest::StopCluster => {
                let at_unix_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
                match self.propose(Command::StopCluster { at_unix_ms }).await?.1 {
                    CommandResult::Ok => {
                        tracing::warn!(event = "cluster_stop", "planned whole-cluster stop: services stop, handle tables park");
                        Ok(ControlReply::Done)
                    }
                    CommandResult::Refused { code, message } => Err(refused(code, message)),
                    other => Err(HoldfastError::new(ErrorCode::Internal, format!("unexpected directory result {other:?}"))),
                }
            }
            ControlRequest::Shutdown => {
                if self.dir()?.state().stopping.is_none() {
                    return Err(HoldfastError::new(
                        ErrorCode::Invalid,
                        format!("node {}: no planned stop is under way; run `holdfast cluster stop`, or stop this host's service", self.id),
                    ));
                }
                tracing::warn!(node = self.id, "planned stop: shutting down on request");
                self.shutdown.notify_one();
                Ok(ControlReply::Done)
            }
            ControlRequest::TickleList { service, conns } => {
                if conns.len() > crate::tickle::TICKLE_CONNS_MAX {
                    return Err(HoldfastError::new(ErrorCode::Invalid, format!("{} connections listed; at most {}", conns.len(), crate::tickle::TICKLE_CONNS_MAX)));
                }
                self.tickles.lock().expect("tickles lock").insert(service, conns);
                Ok(ControlReply::Done)
            }
            ControlRequest::Propose { command } => {
                let cmd: Command = serde_json::from_value(command)
                    .map_err(|e| HoldfastError::new(ErrorCode::Invalid, format!("bad directory command: {e}")))?;
                let dir = self.dir()?;
                let (index, result) = dir.propose(cmd).await.map_err(dir_error)?;
                let result = serde_json::to_value(&result).expect("results serialise");
                Ok(ControlReply::Proposed { index, result })
            }
        }
    }

    /// `Rebuild`: commits `node`'s ACTIVE component of `name` STALE, so the
    /// owner's reconcile loop rebuilds it (a full copy, unless the owner
    /// tracked a delta for it). The owner's own component cannot leave
    /// ACTIVE; a component already out of ACTIVE is left alone.
    async fn rebuild(&self, name: &str, node: NodeId) -> Result<ControlReply, HoldfastError> {
        self.check_sees_majority()?;
        let dir = self.dir()?;
        let state = dir.state();
        let obj = state
            .object_by_name(name)
            .ok_or_else(|| HoldfastError::new(ErrorCode::NoSuchObject, format!("no object named {name:?}")))?;
        let Some(comp) = obj.component(node) else {
            let nodes: Vec<String> = obj.components.iter().map(|c| c.node.to_string()).collect();
            return Err(HoldfastError::new(
                ErrorCode::Invalid,
                format!("node {node} holds no component of object {name:?} (its components are on nodes {})", nodes.join(",")),
            ));
        };
        if node == obj.owner {
            // Suggest a node that could take ownership, if there is one.
            let other = obj
                .components
                .iter()
                .find(|c| c.node != node && c.state == ComponentState::Active)
                .map_or_else(|| "OTHER".to_string(), |c| c.node.to_string());
            return Err(HoldfastError::new(
                ErrorCode::Invalid,
                format!(
                    "node {node} owns object {name:?} and the owner's component cannot be rebuilt; \
                     move ownership first: holdfast object move {name} --to {other}"
                ),
            ));
        }
        if comp.state != ComponentState::Active {
            // Already being rebuilt, or waiting for its host: nothing to add.
            tracing::info!(object = obj.id, node, state = comp.state.as_str(), "rebuild requested for a component not ACTIVE; already pending");
            return Ok(ControlReply::Done);
        }
        let cmd = Command::SetComponentState { object: obj.id, nodes: vec![node], state: ComponentState::Stale, expected_epoch: obj.epoch };
        let object = obj.id;
        let (index, r) = self.propose(cmd).await?;
        if let CommandResult::Refused { code, message } = r {
            return Err(refused(code, message));
        }
        tracing::info!(object, node, "operator requested a rebuild; component committed STALE");
        // Answer once this node's own view includes the change: a client
        // that then asks this node for the status sees the component out of
        // ACTIVE until the rebuild is over.
        if let Err(e) = dir.wait_applied(index, Duration::from_millis(REBUILD_APPLIED_WAIT_MS)).await {
            tracing::warn!(object, node, index, error = %e, "rebuild committed but not yet applied here");
        }
        Ok(ControlReply::Done)
    }

    pub fn resync_views(&self) -> Vec<ResyncView> {
        self.replicator
            .resync_progress()
            .into_iter()
            .map(|p| ResyncView {
                object: p.object,
                node: p.node,
                done_bytes: p.done_bytes,
                total_bytes: p.total_bytes,
                rate_bytes_per_s: p.done_bytes as f64 / p.started.elapsed().as_secs_f64().max(1e-3),
            })
            .collect()
    }

    fn lookup_id(&self, object: ObjectId) -> Result<ControlReply, HoldfastError> {
        let state = self.dir()?.state();
        let o = state
            .objects
            .get(&object)
            .ok_or_else(|| HoldfastError::new(ErrorCode::NoSuchObject, format!("no object with id {object}")))?;
        Ok(ControlReply::Object(object_view(&state, o)))
    }

    /// A node cut off from most of the cluster may hold an old view of who
    /// owns what; it refuses lookups so clients ask another node.
    fn check_sees_majority(&self) -> Result<(), HoldfastError> {
        let down_after = Duration::from_millis(self.cfg.peer_down_ms);
        let seen = 1 + self.cfg.members.iter().filter(|m| m.id != self.id && self.peers.is_up(m.id, down_after)).count();
        if seen * 2 <= self.cfg.members.len() {
            return Err(HoldfastError::new(
                ErrorCode::NotLeader,
                format!("node {} sees only {seen} of {} nodes; ask another node", self.id, self.cfg.members.len()),
            ));
        }
        Ok(())
    }

    pub async fn status(&self) -> Result<StatusView, HoldfastError> {
        let dir = self.dir()?;
        // Confirmed before the state is read, so that a leader's answer is
        // at least as new as every committed entry.
        let leader = dir.confirmed_leader(self.id, Duration::from_millis(self.cfg.election_timeout_max_ms.max(500))).await;
        let state = dir.state();
        let down_after = Duration::from_millis(self.cfg.peer_down_ms);
        let nodes = self
            .cfg
            .members
            .iter()
            .map(|m| {
                let up = m.id == self.id || self.peers.last_seen(m.id).is_some_and(|t| t.elapsed() < down_after);
                NodeView {
                    id: m.id,
                    addr: m.addr.clone(),
                    state: if up { "up" } else { "down" }.to_string(),
                    registered: if m.id == self.id { self.hook.is_live() } else { up && self.peers.peer_live(m.id) },
                }
            })
            .collect();
        Ok(StatusView {
            node: self.id,
            leader,
            term: dir.term(),
            applied_index: state.applied_index,
            nodes,
            objects: state.objects.values().map(|o| object_view(&state, o)).collect(),
            services: state
                .services
                .values()
                .map(|s| ServiceView { name: s.name.clone(), addr: s.addr.clone(), node: s.node })
                .collect(),
            stopping: state.stopping.clone(),
        })
    }

    /// Proposes a directory command, forwarding it to the leader when this
    /// node is not the leader, and retrying while there is none.
    pub async fn propose(&self, cmd: Command) -> Result<(LogIndex, CommandResult), HoldfastError> {
        self.propose_within(cmd, Duration::from_millis(CONTROL_WAIT_MS)).await
    }

    pub async fn propose_within(&self, cmd: Command, wait: Duration) -> Result<(LogIndex, CommandResult), HoldfastError> {
        let deadline = Instant::now() + wait;
        loop {
            let dir = self.dir()?;
            let err = match dir.propose(cmd.clone()).await {
                Ok(r) => return Ok(r),
                Err(DirectoryError::NotLeader { leader: Some(l) }) if l != self.id => match self.forward(l, &cmd).await {
                    Ok(r) => return Ok(r),
                    Err(e) => e,
                },
                Err(e) => dir_error(e),
            };
            if !err.code.is_retryable() || Instant::now() >= deadline {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn forward(&self, leader: NodeId, cmd: &Command) -> Result<(LogIndex, CommandResult), HoldfastError> {
        let conn = self.peers.get(leader, Duration::from_millis(1000)).await?;
        let req = ControlRequest::Propose { command: serde_json::to_value(cmd).expect("commands serialise") };
        let body = Bytes::from(serde_json::to_vec(&req).expect("requests serialise"));
        let f = conn
            .call(FrameKind::Control, vec![body], Duration::from_millis(FORWARD_TIMEOUT_MS))
            .await
            .map_err(|e| e.to_holdfast())?;
        match serde_json::from_slice(&f.body) {
            Ok(ControlReply::Proposed { index, result }) => {
                let result = serde_json::from_value(result)
                    .map_err(|e| HoldfastError::new(ErrorCode::BadFrame, format!("leader sent a bad result: {e}")))?;
                Ok((index, result))
            }
            Ok(other) => Err(HoldfastError::new(ErrorCode::BadFrame, format!("leader answered {other:?}"))),
            Err(e) => Err(HoldfastError::new(ErrorCode::BadFrame, format!("leader sent bad JSON: {e}"))),
        }
    }

    /// Waits until `owner` serves `object` at `epoch`.
    async fn wait_serving(&self, owner: NodeId, object: ObjectId, epoch: Epoch) -> Result<(), HoldfastError> {
        let deadline = Instant::now() + Duration::from_millis(CONTROL_WAIT_MS);
        loop {
            let serving = if owner == self.id {
                self.replicator.owned().get(&object).is_some_and(|&(e, s)| s && e >= epoch)
            } else {
                self.ask_serving(owner, object, epoch).await.unwrap_or(false)
            };
            if serving {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HoldfastError::new(
                    ErrorCode::NotReady,
                    format!("node {owner} did not start serving object {object} at epoch {epoch} within {CONTROL_WAIT_MS} ms"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn ask_serving(&self, owner: NodeId, object: ObjectId, epoch: Epoch) -> Result<bool, HoldfastError> {
        let conn = self.peers.get(owner, Duration::from_millis(500)).await?;
        let body = Bytes::from(serde_json::to_vec(&ControlRequest::Serving { object, epoch }).expect("serialise"));
        let f = conn.call(FrameKind::Control, vec![body], Duration::from_millis(1000)).await.map_err(|e| e.to_holdfast())?;
        Ok(matches!(serde_json::from_slice(&f.body), Ok(ControlReply::Serving { serving: true })))
    }
}

pub fn dir_error(e: DirectoryError) -> HoldfastError {
    match e {
        DirectoryError::NotLeader { leader } => {
            HoldfastError::new(ErrorCode::NotLeader, format!("the directory has no reachable leader (last known {leader:?})"))
        }
        DirectoryError::Timeout(m) => HoldfastError::new(ErrorCode::Timeout, m),
        other => HoldfastError::new(ErrorCode::Internal, other.to_string()),
    }
}

impl NodeInner {
    /// Sends this node's connection list of `service` to every other node
    /// (best effort: a node that misses it gets it again within seconds).
    pub async fn share_tickle_list(&self, service: &str, conns: Vec<String>) {
        let req = ControlRequest::TickleList { service: service.to_string(), conns };
        let body = Bytes::from(serde_json::to_vec(&req).expect("requests serialise"));
        for m in self.cfg.members.iter().filter(|m| m.id != self.id) {
            let Ok(conn) = self.peers.get(m.id, Duration::from_millis(200)).await else { continue };
            if let Err(e) = conn.call(FrameKind::Control, vec![body.clone()], Duration::from_millis(1000)).await {
                tracing::debug!(node = m.id, error = %e, "connection list not delivered");
            }
        }
    }
}
