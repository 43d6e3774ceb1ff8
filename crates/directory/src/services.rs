//! SMB service placement. A service (one `holdfast smbd` on one client
//! address) is placed on the owner of its object, the persistent object of
//! the volume its shares live on. `ClusterState::apply` re-derives the
//! placement after every command, so the entry that moves an owner
//! (`MoveOwner`, `OwnerFailed`, `NodeBooted`) moves the service too: at no
//! log index do placement and ownership disagree, and the file server that
//! mounts the volume is always on the host told to run the service.
//!
//! Placement is still *recorded* (not only derived by readers) so that the
//! directory alone answers "where is service X, on which address, since
//! which log index", for `holdfast status` and for every node's supervisor.

use holdfast_types::share::{parse_service_addr, validate_service_name, SERVICES_MAX};
use holdfast_types::{ErrorCode, LogIndex, NodeId, ObjectId};
use serde::{Deserialize, Serialize};

use crate::state::{ClusterState, CommandResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub name: String,
    /// The address clients connect to, "IP:PORT".
    pub addr: String,
    /// The object whose owner runs the service.
    pub object: ObjectId,
    /// The host the service is placed on: always `objects[object].owner`.
    pub node: NodeId,
    /// Log index of the entry that last changed `node` (or defined it).
    pub placed_index: LogIndex,
}

impl ClusterState {
    /// `DefineService`: creates a service, or changes the address or object
    /// of an existing one (an edited cluster config). Refused: a bad name or
    /// address (`INVALID`), an unknown object (`NO_SUCH_OBJECT`), an address
    /// another service has (`EXISTS`), too many services (`INVALID`).
    pub(crate) fn apply_define_service(&mut self, index: LogIndex, name: &str, addr: &str, object: ObjectId) -> CommandResult {
        if let Err(m) = validate_service_name(name) {
            return CommandResult::Refused { code: ErrorCode::Invalid as u16, message: m };
        }
        let parsed = match parse_service_addr(addr) {
            Ok(a) => a,
            Err(m) => return CommandResult::Refused { code: ErrorCode::Invalid as u16, message: m },
        };
        let Some(obj) = self.objects.get(&object) else {
            return CommandResult::Refused { code: ErrorCode::NoSuchObject as u16, message: format!("no object with id {object}") };
        };
        let owner = obj.owner;
        if let Some(other) =
            self.services.values().find(|s| s.name != name && s.addr.parse::<std::net::SocketAddr>().ok() == Some(parsed))
        {
            return CommandResult::Refused {
                code: ErrorCode::Exists as u16,
                message: format!("service {:?} already listens on {parsed}", other.name),
            };
        }
        if !self.services.contains_key(name) && self.services.len() >= SERVICES_MAX {
            return CommandResult::Refused { code: ErrorCode::Invalid as u16, message: format!("cluster already has {SERVICES_MAX} services") };
        }
        let addr = parsed.to_string();
        match self.services.get_mut(name) {
            Some(s) if s.addr == addr && s.object == object => {}
            Some(s) => {
                s.addr = addr;
                s.object = object;
                s.node = owner;
                s.placed_index = index;
            }
            None => {
                self.services.insert(
                    name.to_string(),
                    ServiceInfo { name: name.to_string(), addr, object, node: owner, placed_index: index },
                );
            }
        }
        CommandResult::Ok
    }

    /// Moves every service to its object's current owner. Runs after every
    /// applied command.
    pub(crate) fn place_services(&mut self, index: LogIndex) {
        for s in self.services.values_mut() {
            let Some(obj) = self.objects.get(&s.object) else { continue };
            if s.node != obj.owner {
                s.node = obj.owner;
                s.placed_index = index;
            }
        }
    }

    pub(crate) fn check_service_invariants(&self) {
        for s in self.services.values() {
            let obj = self.objects.get(&s.object);
            assert!(obj.is_some(), "service {} follows unknown object {}", s.name, s.object);
            assert_eq!(obj.map(|o| o.owner), Some(s.node), "service {} is not on its object's owner", s.name);
        }
    }

    pub fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.services.get(name)
    }
}

#[cfg(test)]
mod tests {
    use holdfast_types::{ComponentState, ObjectKind};

    use crate::state::{ClusterState, Command, CommandResult};

    fn cluster_with_volume() -> (ClusterState, u64, u64) {
        let mut s = ClusterState::default();
        for n in 1..=3 {
            let c = Command::NodeBooted { node: n, addr: format!("127.0.0.1:{}", 7100 + n), memory_bytes_max: 1 << 30, boot_id: n, persistent_present: vec![] };
            assert_eq!(s.apply(n, &c), CommandResult::Ok);
        }
        let r = s.apply(4, &Command::CreateObject { name: "vol-share".into(), kind: ObjectKind::Persistent, size_bytes: 1 << 20, replicas: 3 });
        let CommandResult::Created { object, .. } = r else { panic!("{r:?}") };
        let r = s.apply(5, &Command::DefineService { name: "share".into(), addr: "127.0.0.1:4445".into(), object });
        assert_eq!(r, CommandResult::Ok);
        (s, object, 5)
    }

    #[test]
    fn a_service_follows_every_owner_change_in_the_same_entry() {
        let (mut s, object, i) = cluster_with_volume();
        let owner = s.objects[&object].owner;
        assert_eq!(s.services["share"].node, owner);
        let to = if owner == 1 { 2 } else { 1 };
        s.apply(i + 1, &Command::MoveOwner { object, to, expected_epoch: None });
        assert_eq!((s.services["share"].node, s.services["share"].placed_index), (to, i + 1));
        let survivor = (1..=3).find(|&n| n != to).unwrap();
        let epoch = s.objects[&object].epoch;
        s.apply(i + 2, &Command::OwnerFailed { object, failed: to, to: survivor, expected_epoch: epoch });
        assert_eq!(s.services["share"].node, survivor);
        assert_eq!(s.objects[&object].component(to).unwrap().state, ComponentState::Absent);
        // The owner restarts without its file: ownership, and the service, move on.
        let c = Command::NodeBooted { node: survivor, addr: "x:1".into(), memory_bytes_max: 1 << 30, boot_id: 99, persistent_present: vec![] };
        s.apply(i + 3, &c);
        assert_eq!(s.services["share"].node, s.objects[&object].owner);
        assert_ne!(s.services["share"].node, survivor);
    }

    #[test]
    fn define_service_refuses_bad_input_and_is_idempotent() {
        let (mut s, object, i) = cluster_with_volume();
        let placed = s.services["share"].placed_index;
        assert_eq!(s.apply(i + 1, &Command::DefineService { name: "share".into(), addr: "127.0.0.1:4445".into(), object }), CommandResult::Ok);
        assert_eq!(s.services["share"].placed_index, placed, "redefining the same service changes nothing");
        let bad = [
            (Command::DefineService { name: "b/c".into(), addr: "127.0.0.2:1".into(), object }, "contains"),
            (Command::DefineService { name: "other".into(), addr: "nowhere".into(), object }, "IP:PORT"),
            (Command::DefineService { name: "other".into(), addr: "127.0.0.1:4445".into(), object }, "already listens"),
            (Command::DefineService { name: "other".into(), addr: "127.0.0.2:4445".into(), object: 999 }, "no object"),
        ];
        for (k, (c, want)) in bad.iter().enumerate() {
            match s.apply(i + 2 + k as u64, c) {
                CommandResult::Refused { message, .. } => assert!(message.contains(want), "{c:?}: {message}"),
                other => panic!("{c:?} not refused: {other:?}"),
            }
        }
        assert_eq!(s.services.len(), 1);
        // A new address for the same service is taken.
        let r = s.apply(i + 10, &Command::DefineService { name: "share".into(), addr: "127.0.0.3:4445".into(), object });
        assert_eq!(r, CommandResult::Ok);
        assert_eq!(s.services["share"].addr, "127.0.0.3:4445");
    }

    #[test]
    fn old_snapshots_without_services_still_load() {
        let (s, _, _) = cluster_with_volume();
        let mut v = serde_json::to_value(&s).unwrap();
        v.as_object_mut().unwrap().remove("services");
        let back: ClusterState = serde_json::from_value(v).unwrap();
        assert!(back.services.is_empty());
    }
}
