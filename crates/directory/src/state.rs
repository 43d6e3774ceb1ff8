//! The directory's replicated state and its deterministic apply function.
//!
//! Every node applies the same committed commands in the same order, so this
//! module must not look at clocks, local files or randomness: anything
//! host-specific arrives inside the command (see [`Command::NodeBooted`]).

use std::collections::BTreeMap;

use holdfast_types::limits::{BLOCK_BYTES, NODES_MAX, OBJECTS_MAX, OBJECT_BYTES_MAX, OBJECT_NAME_BYTES_MAX};
use holdfast_types::{ComponentState, Epoch, ErrorCode, LogIndex, NodeId, ObjectId, ObjectKind, ObjectState};
use serde::{Deserialize, Serialize};

/// A member host as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    pub addr: String,
    /// The node's budget for memory components, in bytes.
    pub memory_bytes_max: u64,
    /// Random id of the node's current process incarnation.
    pub boot_id: u64,
    /// Log index at which that incarnation announced itself.
    pub boot_index: LogIndex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub node: NodeId,
    pub state: ComponentState,
    /// Log index of the command that placed this component.
    pub created_index: LogIndex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub id: ObjectId,
    pub name: String,
    pub kind: ObjectKind,
    pub size_bytes: u64,
    pub replicas: u32,
    pub owner: NodeId,
    pub epoch: Epoch,
    /// Log index of the command that set `epoch`. A component asked to fence
    /// at this epoch first waits until its own directory reaches this index.
    pub epoch_index: LogIndex,
    pub components: Vec<Component>,
    pub state: ObjectState,
    /// How many times the object's bytes were reset after being LOST
    /// (`ResetLost`, see `restart.rs`). A handle table formats itself for
    /// this number, so its owner knows a table from before a reset.
    #[serde(default)]
    pub incarnation: u32,
    /// What a handle table on this object needs across whole-cluster
    /// restarts: its parked image, its record count, its resets.
    #[serde(default)]
    pub table: crate::restart::TableInfo,
}

impl ObjectInfo {
    pub fn component(&self, node: NodeId) -> Option<&Component> {
        self.components.iter().find(|c| c.node == node)
    }

    pub fn active_nodes(&self) -> Vec<NodeId> {
        self.components.iter().filter(|c| c.state == ComponentState::Active).map(|c| c.node).collect()
    }

    pub(crate) fn recompute_state(&mut self) {
        let active = self.components.iter().filter(|c| c.state == ComponentState::Active).count();
        self.state = if active == 0 {
            ObjectState::Lost
        } else if active == self.components.len() {
            ObjectState::Healthy
        } else {
            ObjectState::Degraded
        };
    }
}

/// Commands proposed to the directory. Each is applied by [`ClusterState::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A node process started. Its memory components lost their RAM, and
    /// persistent components not listed in `persistent_present` lost their
    /// file, so both become STALE; objects it owned move to a survivor with
    /// an ACTIVE component, or stay with it under a raised epoch.
    NodeBooted {
        node: NodeId,
        addr: String,
        memory_bytes_max: u64,
        boot_id: u64,
        persistent_present: Vec<ObjectId>,
    },
    CreateObject { name: String, kind: ObjectKind, size_bytes: u64, replicas: u32 },
    /// Planned ownership move. `expected_epoch` guards against racing moves.
    MoveOwner { object: ObjectId, to: NodeId, expected_epoch: Option<Epoch> },
    /// Record components' state. Used by failure handling and resync. The
    /// last ACTIVE component can never be taken out of ACTIVE this way: an
    /// object is LOST only when its copies are really gone (NodeBooted).
    SetComponentState { object: ObjectId, nodes: Vec<NodeId>, state: ComponentState, expected_epoch: Epoch },
    /// The owner's host stopped answering: its component becomes ABSENT and
    /// `to`, which holds an ACTIVE component, becomes owner at epoch + 1.
    OwnerFailed { object: ObjectId, failed: NodeId, to: NodeId, expected_epoch: Epoch },
    /// Re-protection: `old`'s component has been away longer than the repair
    /// delay. Drop it and place a new, STALE component on `new`, which the
    /// owner then rebuilds.
    ReplaceComponent { object: ObjectId, old: NodeId, new: NodeId, expected_epoch: Epoch },
    /// Defines (or redefines) an SMB service: its client address and the
    /// object whose owner runs it (a volume's persistent object). Placement
    /// is then kept by `apply` itself (see `services.rs`).
    DefineService { name: String, addr: String, object: ObjectId },
    /// A planned whole-cluster stop begins (see `restart.rs`): services
    /// stop and file servers park their handle tables. Cleared by the next
    /// `NodeBooted`.
    StopCluster { at_unix_ms: u64 },
    /// The handle table on `object` was written to its volume as a parked
    /// image of `records` records, at `incarnation`. No owner activates the
    /// object again until `UnparkTable` or `ResetLost`.
    ParkTable { object: ObjectId, incarnation: u32, records: u32, at_unix_ms: u64, expected_epoch: Epoch },
    /// A parked table whose RAM copies survived (not every host restarted)
    /// serves again as it is.
    UnparkTable { object: ObjectId, expected_epoch: Epoch },
    /// A LOST memory object comes back, its bytes to be rewritten by `to`
    /// (its new owner): from the parked image if there is one, else empty.
    /// Never silent: the reset is recorded in `table.resets`.
    ResetLost { object: ObjectId, to: NodeId, at_unix_ms: u64, expected_epoch: Epoch },
    /// The number of records the handle table on `object` holds, as its
    /// file server last counted them: what a reset reports as lost.
    TableCensus { object: ObjectId, incarnation: u32, records: u32, at_unix_ms: u64 },
}

/// What applying a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    Ok,
    Created { object: ObjectId, owner: NodeId, epoch: Epoch },
    Moved { object: ObjectId, owner: NodeId, epoch: Epoch },
    /// The command was valid Raft input but refused by the directory's rules;
    /// `code` is an [`ErrorCode`] number.
    Refused { code: u16, message: String },
}

impl CommandResult {
    pub(crate) fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        CommandResult::Refused { code: code as u16, message: message.into() }
    }
}

/// Everything the directory holds. Serialised whole into snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub nodes: BTreeMap<NodeId, NodeInfo>,
    pub objects: BTreeMap<ObjectId, ObjectInfo>,
    pub next_object_id: ObjectId,
    /// Index of the last command applied.
    pub applied_index: LogIndex,
    /// SMB services by name, each placed on the owner of its object.
    /// Default: snapshots written before services existed have none.
    #[serde(default)]
    pub services: BTreeMap<String, crate::services::ServiceInfo>,
    /// Set while a planned whole-cluster stop is under way.
    #[serde(default)]
    pub stopping: Option<crate::restart::Stopping>,
}

/// Checks an object name: 1..=128 bytes of `[A-Za-z0-9._-]`, not starting with `.`.
pub fn validate_object_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > OBJECT_NAME_BYTES_MAX {
        return Err(format!("object name must be 1 to {OBJECT_NAME_BYTES_MAX} bytes, got {}", name.len()));
    }
    if name.starts_with('.') {
        return Err(format!("object name {name:?} must not start with '.'"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("object name {name:?} contains {c:?}; use letters, digits, '.', '_' or '-'"));
    }
    Ok(())
}

impl ClusterState {
    pub fn object_by_name(&self, name: &str) -> Option<&ObjectInfo> {
        self.objects.values().find(|o| o.name == name)
    }

    /// Bytes of memory components already placed on `node`.
    pub fn memory_used_bytes(&self, node: NodeId) -> u64 {
        self.objects
            .values()
            .filter(|o| o.kind == ObjectKind::Memory)
            .filter(|o| o.component(node).is_some())
            .map(|o| o.size_bytes)
            .sum()
    }

    /// Applies one committed command at log `index`. Deterministic.
    pub fn apply(&mut self, index: LogIndex, cmd: &Command) -> CommandResult {
        assert!(index > self.applied_index || (index == 0 && self.applied_index == 0), "apply out of order");
        self.applied_index = index;
        let result = match cmd {
            Command::NodeBooted { node, addr, memory_bytes_max, boot_id, persistent_present } => {
                self.apply_node_booted(index, *node, addr, *memory_bytes_max, *boot_id, persistent_present)
            }
            Command::CreateObject { name, kind, size_bytes, replicas } => {
                self.apply_create(index, name, *kind, *size_bytes, *replicas)
            }
            Command::MoveOwner { object, to, expected_epoch } => self.apply_move(index, *object, *to, *expected_epoch),
            Command::SetComponentState { object, nodes, state, expected_epoch } => {
                self.apply_set_component(*object, nodes, *state, *expected_epoch)
            }
            Command::OwnerFailed { object, failed, to, expected_epoch } => {
                self.apply_owner_failed(index, *object, *failed, *to, *expected_epoch)
            }
            Command::ReplaceComponent { object, old, new, expected_epoch } => {
                self.apply_replace(index, *object, *old, *new, *expected_epoch)
            }
            Command::DefineService { name, addr, object } => self.apply_define_service(index, name, addr, *object),
            Command::StopCluster { at_unix_ms } => self.apply_stop_cluster(index, *at_unix_ms),
            Command::ParkTable { object, incarnation, records, at_unix_ms, expected_epoch } => {
                self.apply_park(index, *object, *incarnation, *records, *at_unix_ms, *expected_epoch)
            }
            Command::UnparkTable { object, expected_epoch } => self.apply_unpark(*object, *expected_epoch),
            Command::ResetLost { object, to, at_unix_ms, expected_epoch } => {
                self.apply_reset_lost(index, *object, *to, *at_unix_ms, *expected_epoch)
            }
            Command::TableCensus { object, incarnation, records, at_unix_ms } => {
                self.apply_census(*object, *incarnation, *records, *at_unix_ms)
            }
        };
        // In the same entry as any owner change, so placement and ownership
        // never disagree at any log index.
        self.place_services(index);
        self.check_invariants();
        result
    }

    fn apply_node_booted(
        &mut self,
        index: LogIndex,
        node: NodeId,
        addr: &str,
        memory_bytes_max: u64,
        boot_id: u64,
        persistent_present: &[ObjectId],
    ) -> CommandResult {
        if node == 0 {
            return CommandResult::refused(ErrorCode::Invalid, "node id 0 is reserved");
        }
        if !self.nodes.contains_key(&node) && self.nodes.len() >= NODES_MAX {
            return CommandResult::refused(ErrorCode::Invalid, format!("cluster already has {NODES_MAX} nodes"));
        }
        self.nodes.insert(
            node,
            NodeInfo { id: node, addr: addr.to_string(), memory_bytes_max, boot_id, boot_index: index },
        );
        // A node process starting is the end of any planned stop: the
        // operator is bringing the cluster back.
        self.stopping = None;
        for obj in self.objects.values_mut() {
            let kind = obj.kind;
            let Some(comp) = obj.components.iter_mut().find(|c| c.node == node) else { continue };
            let was_active = comp.state == ComponentState::Active;
            let lost_bytes = match kind {
                ObjectKind::Memory => true,
                ObjectKind::Persistent => !persistent_present.contains(&obj.id),
            };
            if lost_bytes {
                comp.state = ComponentState::Stale;
            }
            obj.recompute_state();
            if obj.owner != node && was_active {
                // The component's process restarted: the owner must fence it
                // again (and, if its bytes are gone, stop counting it and
                // rebuild it) before the next write.
                obj.epoch += 1;
                obj.epoch_index = index;
            }
            if obj.owner == node {
                // The owner's process restarted: whatever it had in flight is
                // unknown, so any later owner must carry a higher epoch.
                let next_owner = if obj.component(node).map(|c| c.state) == Some(ComponentState::Active) {
                    Some(node)
                } else {
                    obj.active_nodes().first().copied()
                };
                if let Some(owner) = next_owner {
                    obj.owner = owner;
                    obj.epoch += 1;
                    obj.epoch_index = index;
                }
            }
        }
        CommandResult::Ok
    }

    fn apply_create(
        &mut self,
        index: LogIndex,
        name: &str,
        kind: ObjectKind,
        size_bytes: u64,
        replicas: u32,
    ) -> CommandResult {
        if let Err(m) = validate_object_name(name) {
            return CommandResult::refused(ErrorCode::Invalid, m);
        }
        if self.object_by_name(name).is_some() {
            return CommandResult::refused(ErrorCode::Exists, format!("object {name:?} already exists"));
        }
        if self.objects.len() >= OBJECTS_MAX {
            return CommandResult::refused(ErrorCode::Invalid, format!("cluster already has {OBJECTS_MAX} objects"));
        }
        if size_bytes == 0 || size_bytes % BLOCK_BYTES != 0 || size_bytes > OBJECT_BYTES_MAX {
            return CommandResult::refused(
                ErrorCode::Invalid,
                format!("object size {size_bytes} must be a non-zero multiple of {BLOCK_BYTES} bytes, at most {OBJECT_BYTES_MAX}"),
            );
        }
        if replicas == 0 || replicas as usize > self.nodes.len() {
            return CommandResult::refused(
                ErrorCode::Invalid,
                format!("replicas {replicas} must be between 1 and the {} nodes known", self.nodes.len()),
            );
        }
        // Place on the nodes with the most free memory (for memory objects)
        // or the fewest components (persistent), ties broken by id so every
        // node computes the same placement.
        let mut candidates: Vec<(u64, NodeId)> = self
            .nodes
            .values()
            .map(|n| {
                let load = match kind {
                    ObjectKind::Memory => self.memory_used_bytes(n.id),
                    ObjectKind::Persistent => {
                        self.objects.values().filter(|o| o.component(n.id).is_some()).count() as u64
                    }
                };
                (load, n.id)
            })
            .collect();
        candidates.sort();
        let chosen: Vec<NodeId> = candidates.iter().take(replicas as usize).map(|&(_, id)| id).collect();
        if kind == ObjectKind::Memory {
            for &id in &chosen {
                let node = &self.nodes[&id];
                let used = self.memory_used_bytes(id);
                if used + size_bytes > node.memory_bytes_max {
                    return CommandResult::refused(
                        ErrorCode::MemoryBudget,
                        format!(
                            "node {id} has {} of {} memory bytes placed; {size_bytes} more do not fit",
                            used, node.memory_bytes_max
                        ),
                    );
                }
            }
        }
        self.next_object_id = self.next_object_id.max(1);
        let id = self.next_object_id;
        self.next_object_id += 1;
        let owner = chosen[0];
        let mut obj = ObjectInfo {
            id,
            name: name.to_string(),
            kind,
            size_bytes,
            replicas,
            owner,
            epoch: 1,
            epoch_index: index,
            components: chosen
                .iter()
                .map(|&node| Component { node, state: ComponentState::Active, created_index: index })
                .collect(),
            state: ObjectState::Healthy,
            incarnation: 0,
            table: Default::default(),
        };
        obj.recompute_state();
        self.objects.insert(id, obj);
        CommandResult::Created { object: id, owner, epoch: 1 }
    }

    fn apply_move(&mut self, index: LogIndex, object: ObjectId, to: NodeId, expected: Option<Epoch>) -> CommandResult {
        let Some(obj) = self.objects.get_mut(&object) else {
            return CommandResult::refused(ErrorCode::NoSuchObject, format!("no object with id {object}"));
        };
        if let Some(e) = expected {
            if e != obj.epoch {
                return CommandResult::refused(
                    ErrorCode::StaleEpoch,
                    format!("object {} is at epoch {}, not {e}", obj.name, obj.epoch),
                );
            }
        }
        if obj.component(to).map(|c| c.state) != Some(ComponentState::Active) {
            return CommandResult::refused(
                ErrorCode::NoComponent,
                format!("node {to} has no ACTIVE component of object {}", obj.name),
            );
        }
        obj.owner = to;
        obj.epoch += 1;
        obj.epoch_index = index;
        CommandResult::Moved { object, owner: to, epoch: obj.epoch }
    }

    fn apply_set_component(
        &mut self,
        object: ObjectId,
        nodes: &[NodeId],
        state: ComponentState,
        expected: Epoch,
    ) -> CommandResult {
        let Some(obj) = self.objects.get_mut(&object) else {
            return CommandResult::refused(ErrorCode::NoSuchObject, format!("no object with id {object}"));
        };
        if obj.epoch != expected {
            return CommandResult::refused(
                ErrorCode::StaleEpoch,
                format!("object {} is at epoch {}, not {expected}", obj.name, obj.epoch),
            );
        }
        if let Some(n) = nodes.iter().find(|n| obj.component(**n).is_none()) {
            return CommandResult::refused(ErrorCode::NoComponent, format!("node {n} has no component of {}", obj.name));
        }
        if state == ComponentState::Active {
            // Only a rebuild makes a component ACTIVE, and only while it is
            // RESYNCING: an owner that committed it ABSENT after a write it
            // missed (perhaps while its ACTIVE commit was still in flight)
            // has acknowledged that write, so it must not come back
            // without a new rebuild. (ACTIVE again is a retried commit.)
            let rebuilt = |s: ComponentState| matches!(s, ComponentState::Resyncing | ComponentState::Active);
            if let Some(c) = obj.components.iter().find(|c| nodes.contains(&c.node) && !rebuilt(c.state)) {
                return CommandResult::refused(
                    ErrorCode::Invalid,
                    format!("node {}'s component of {} is {}, not resyncing: only a rebuild makes it ACTIVE", c.node, obj.name, c.state.as_str()),
                );
            }
        } else {
            let remaining = obj.components.iter().filter(|c| c.state == ComponentState::Active && !nodes.contains(&c.node)).count();
            if remaining == 0 {
                return CommandResult::refused(
                    ErrorCode::Invalid,
                    format!("refusing to leave object {} with no ACTIVE component", obj.name),
                );
            }
            if nodes.contains(&obj.owner) {
                return CommandResult::refused(
                    ErrorCode::Invalid,
                    format!("the owner's component of {} cannot leave ACTIVE; move ownership first", obj.name),
                );
            }
        }
        for c in obj.components.iter_mut().filter(|c| nodes.contains(&c.node)) {
            c.state = state;
        }
        obj.recompute_state();
        CommandResult::Ok
    }

    fn apply_owner_failed(&mut self, index: LogIndex, object: ObjectId, failed: NodeId, to: NodeId, expected: Epoch) -> CommandResult {
        let Some(obj) = self.objects.get_mut(&object) else {
            return CommandResult::refused(ErrorCode::NoSuchObject, format!("no object with id {object}"));
        };
        if obj.epoch != expected || obj.owner != failed {
            return CommandResult::refused(
                ErrorCode::StaleEpoch,
                format!("object {} is at epoch {} owned by node {}, not epoch {expected} owned by {failed}", obj.name, obj.epoch, obj.owner),
            );
        }
        if to == failed || obj.component(to).map(|c| c.state) != Some(ComponentState::Active) {
            return CommandResult::refused(ErrorCode::NoComponent, format!("node {to} has no ACTIVE component of {}", obj.name));
        }
        for c in obj.components.iter_mut().filter(|c| c.node == failed) {
            c.state = ComponentState::Absent;
        }
        obj.owner = to;
        obj.epoch += 1;
        obj.epoch_index = index;
        obj.recompute_state();
        CommandResult::Moved { object, owner: to, epoch: obj.epoch }
    }

    fn apply_replace(&mut self, index: LogIndex, object: ObjectId, old: NodeId, new: NodeId, expected: Epoch) -> CommandResult {
        let Some(node) = self.nodes.get(&new) else {
            return CommandResult::refused(ErrorCode::Invalid, format!("node {new} is not a member"));
        };
        let budget = node.memory_bytes_max;
        let used = self.memory_used_bytes(new);
        let Some(obj) = self.objects.get_mut(&object) else {
            return CommandResult::refused(ErrorCode::NoSuchObject, format!("no object with id {object}"));
        };
        if obj.epoch != expected {
            return CommandResult::refused(ErrorCode::StaleEpoch, format!("object {} is at epoch {}, not {expected}", obj.name, obj.epoch));
        }
        match obj.component(old) {
            None => return CommandResult::refused(ErrorCode::NoComponent, format!("node {old} has no component of {}", obj.name)),
            Some(c) if c.state == ComponentState::Active || old == obj.owner => {
                return CommandResult::refused(ErrorCode::Invalid, format!("node {old}'s component of {} is in use", obj.name))
            }
            Some(_) => {}
        }
        if obj.component(new).is_some() {
            return CommandResult::refused(ErrorCode::Exists, format!("node {new} already holds a component of {}", obj.name));
        }
        if obj.kind == ObjectKind::Memory && used + obj.size_bytes > budget {
            return CommandResult::refused(ErrorCode::MemoryBudget, format!("node {new} has no room for {} more memory bytes", obj.size_bytes));
        }
        obj.components.retain(|c| c.node != old);
        obj.components.push(Component { node: new, state: ComponentState::Stale, created_index: index });
        obj.recompute_state();
        CommandResult::Ok
    }

    /// Checks the directory's own invariants after every apply.
    fn check_invariants(&self) {
        for obj in self.objects.values() {
            assert!(obj.epoch >= 1, "object {} has epoch 0", obj.id);
            assert!(obj.component(obj.owner).is_some(), "object {} owner {} holds no component", obj.id, obj.owner);
            if obj.state != ObjectState::Lost {
                assert!(obj.components.iter().any(|c| c.state == ComponentState::Active), "object {} not LOST without an ACTIVE component", obj.id);
            }
            let mut nodes: Vec<_> = obj.components.iter().map(|c| c.node).collect();
            nodes.sort();
            nodes.dedup();
            assert_eq!(nodes.len(), obj.components.len(), "object {} has two components on one node", obj.id);
        }
        self.check_service_invariants();
        self.check_restart_invariants();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booted(node: NodeId, boot_id: u64, present: Vec<ObjectId>) -> Command {
        Command::NodeBooted {
            node,
            addr: format!("127.0.0.1:{}", 7100 + node),
            memory_bytes_max: 1 << 30,
            boot_id,
            persistent_present: present,
        }
    }

    fn three_nodes() -> (ClusterState, LogIndex) {
        let mut s = ClusterState::default();
        for n in 1..=3 {
            assert_eq!(s.apply(n, &booted(n, 100 + n, vec![])), CommandResult::Ok);
        }
        (s, 3)
    }

    #[test]
    fn create_places_components_and_owner() {
        let (mut s, i) = three_nodes();
        let r = s.apply(i + 1, &Command::CreateObject { name: "h".into(), kind: ObjectKind::Memory, size_bytes: 64 << 20, replicas: 3 });
        let CommandResult::Created { object, owner, epoch } = r else { panic!("{r:?}") };
        assert_eq!(epoch, 1);
        let o = &s.objects[&object];
        assert_eq!(o.components.len(), 3);
        assert_eq!(o.owner, owner);
        assert_eq!(o.state, ObjectState::Healthy);
    }

    #[test]
    fn create_refuses_bad_input() {
        let (mut s, i) = three_nodes();
        let bad = [
            Command::CreateObject { name: "".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 1 },
            Command::CreateObject { name: "a/b".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 1 },
            Command::CreateObject { name: "x".into(), kind: ObjectKind::Memory, size_bytes: 100, replicas: 1 },
            Command::CreateObject { name: "x".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 4 },
            Command::CreateObject { name: "x".into(), kind: ObjectKind::Memory, size_bytes: 2 << 30, replicas: 1 },
        ];
        for (k, c) in bad.iter().enumerate() {
            assert!(matches!(s.apply(i + 1 + k as u64, c), CommandResult::Refused { .. }), "{c:?}");
        }
        assert!(s.objects.is_empty());
    }

    #[test]
    fn move_raises_epoch() {
        let (mut s, i) = three_nodes();
        let CommandResult::Created { object, owner, .. } =
            s.apply(i + 1, &Command::CreateObject { name: "h".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 3 })
        else { panic!() };
        let to = if owner == 1 { 2 } else { 1 };
        let r = s.apply(i + 2, &Command::MoveOwner { object, to, expected_epoch: Some(1) });
        assert_eq!(r, CommandResult::Moved { object, owner: to, epoch: 2 });
        assert_eq!(s.objects[&object].epoch_index, i + 2);
        // A racing move that read epoch 1 is refused.
        assert!(matches!(s.apply(i + 3, &Command::MoveOwner { object, to: owner, expected_epoch: Some(1) }), CommandResult::Refused { .. }));
    }

    #[test]
    fn whole_cluster_restart_loses_memory_keeps_persistent() {
        let (mut s, i) = three_nodes();
        let CommandResult::Created { object: mem, .. } =
            s.apply(i + 1, &Command::CreateObject { name: "m".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 3 })
        else { panic!() };
        let CommandResult::Created { object: per, .. } =
            s.apply(i + 2, &Command::CreateObject { name: "p".into(), kind: ObjectKind::Persistent, size_bytes: 4096, replicas: 3 })
        else { panic!() };
        let epoch_before = s.objects[&per].epoch;
        for n in 1..=3 {
            s.apply(i + 2 + n, &booted(n, 200 + n, vec![per]));
        }
        assert_eq!(s.objects[&mem].state, ObjectState::Lost);
        assert_eq!(s.objects[&per].state, ObjectState::Healthy);
        assert!(s.objects[&per].epoch > epoch_before);
    }

    #[test]
    fn only_a_resyncing_component_becomes_active() {
        // The rebuild race of issue 15: a write the rebuilt copy missed had
        // it committed ABSENT (and was acknowledged) before the rebuild's
        // ACTIVE commit landed; that late commit must not bring it back.
        let (mut s, i) = three_nodes();
        let CommandResult::Created { object, owner, .. } =
            s.apply(i + 1, &Command::CreateObject { name: "m".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 3 })
        else { panic!() };
        let n = if owner == 1 { 2 } else { 1 };
        let set = |state| Command::SetComponentState { object, nodes: vec![n], state, expected_epoch: 1 };
        assert_eq!(s.apply(i + 2, &set(ComponentState::Resyncing)), CommandResult::Ok);
        assert_eq!(s.apply(i + 3, &set(ComponentState::Absent)), CommandResult::Ok);
        assert!(matches!(s.apply(i + 4, &set(ComponentState::Active)), CommandResult::Refused { .. }), "an ABSENT copy came back ACTIVE");
        assert_eq!(s.objects[&object].component(n).map(|c| c.state), Some(ComponentState::Absent));
        // A rebuild that ends brings it back; a retried commit is harmless.
        assert_eq!(s.apply(i + 5, &set(ComponentState::Resyncing)), CommandResult::Ok);
        assert_eq!(s.apply(i + 6, &set(ComponentState::Active)), CommandResult::Ok);
        assert_eq!(s.apply(i + 7, &set(ComponentState::Active)), CommandResult::Ok);
    }

    #[test]
    fn absent_marking_keeps_one_active_and_the_owner() {
        let (mut s, i) = three_nodes();
        let CommandResult::Created { object, owner, .. } =
            s.apply(i + 1, &Command::CreateObject { name: "m".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 3 })
        else { panic!() };
        let others: Vec<NodeId> = (1..=3).filter(|&n| n != owner).collect();
        let absent = ComponentState::Absent;
        let r = s.apply(i + 2, &Command::SetComponentState { object, nodes: vec![owner], state: absent, expected_epoch: 1 });
        assert!(matches!(r, CommandResult::Refused { .. }), "owner's component left ACTIVE");
        let r = s.apply(i + 3, &Command::SetComponentState { object, nodes: others.clone(), state: absent, expected_epoch: 1 });
        assert_eq!(r, CommandResult::Ok);
        assert_eq!(s.objects[&object].state, ObjectState::Degraded);
        assert_eq!(s.objects[&object].active_nodes(), vec![owner]);
        // The owner fails with no ACTIVE survivor: nobody to move to.
        let r = s.apply(i + 4, &Command::OwnerFailed { object, failed: owner, to: others[0], expected_epoch: 1 });
        assert!(matches!(r, CommandResult::Refused { .. }));
        assert_eq!(s.objects[&object].state, ObjectState::Degraded, "an unreachable last copy is not LOST");
    }

    #[test]
    fn owner_failed_moves_ownership_and_marks_absent() {
        let (mut s, i) = three_nodes();
        let CommandResult::Created { object, owner, .. } =
            s.apply(i + 1, &Command::CreateObject { name: "m".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 3 })
        else { panic!() };
        let to = if owner == 1 { 2 } else { 1 };
        let r = s.apply(i + 2, &Command::OwnerFailed { object, failed: owner, to, expected_epoch: 1 });
        assert_eq!(r, CommandResult::Moved { object, owner: to, epoch: 2 });
        let o = &s.objects[&object];
        assert_eq!(o.component(owner).unwrap().state, ComponentState::Absent);
        // A second, late report of the same failure is refused.
        assert!(matches!(s.apply(i + 3, &Command::OwnerFailed { object, failed: owner, to, expected_epoch: 1 }), CommandResult::Refused { .. }));
    }

    #[test]
    fn replace_component_moves_a_missing_copy() {
        let mut s = ClusterState::default();
        for n in 1..=4 {
            s.apply(n, &booted(n, 100 + n, vec![]));
        }
        let CommandResult::Created { object, owner, .. } =
            s.apply(5, &Command::CreateObject { name: "m".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 3 })
        else { panic!() };
        let placed: Vec<NodeId> = s.objects[&object].components.iter().map(|c| c.node).collect();
        let spare = (1..=4).find(|n| !placed.contains(n)).unwrap();
        let old = *placed.iter().find(|&&n| n != owner).unwrap();
        // An ACTIVE copy is never replaced.
        let r = s.apply(6, &Command::ReplaceComponent { object, old, new: spare, expected_epoch: 1 });
        assert!(matches!(r, CommandResult::Refused { .. }));
        s.apply(7, &Command::SetComponentState { object, nodes: vec![old], state: ComponentState::Absent, expected_epoch: 1 });
        assert_eq!(s.apply(8, &Command::ReplaceComponent { object, old, new: spare, expected_epoch: 1 }), CommandResult::Ok);
        let o = &s.objects[&object];
        assert!(o.component(old).is_none());
        assert_eq!(o.component(spare).unwrap().state, ComponentState::Stale);
        assert_eq!(o.components.len(), 3);
    }

    #[test]
    fn owner_restart_moves_memory_object_to_survivor() {
        let (mut s, i) = three_nodes();
        let CommandResult::Created { object, owner, .. } =
            s.apply(i + 1, &Command::CreateObject { name: "m".into(), kind: ObjectKind::Memory, size_bytes: 4096, replicas: 3 })
        else { panic!() };
        s.apply(i + 2, &booted(owner, 999, vec![]));
        let o = &s.objects[&object];
        assert_ne!(o.owner, owner);
        assert_eq!(o.epoch, 2);
        assert_eq!(o.state, ObjectState::Degraded);
        assert_eq!(o.component(owner).unwrap().state, ComponentState::Stale);
    }
}
