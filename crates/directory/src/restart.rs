//! Whole-cluster restarts, as the directory records them.
//!
//! A volume's handle table lives on an in-memory object, so it outlives any
//! one host but not the whole cluster: after every host restarts, the
//! object is LOST. Two paths bring a volume back:
//!
//! - **Planned stop.** `StopCluster` starts it; every file server then
//!   parks the handle tables it serves (writes each as an image into its
//!   volume, on disk on every host) and records `ParkTable`. A parked object
//!   is never activated again, so nothing can change the table behind its
//!   image. After the restart the object is LOST and `ResetLost` brings it
//!   back *from the image*: the same records, the same persistent ids.
//!   If some host kept its RAM copy after all (it was never stopped),
//!   `UnparkTable` lets the object serve from RAM as it is.
//! - **Power loss.** Nothing was parked. `ResetLost` brings the object back
//!   empty under a new `incarnation`, which the file server formats the
//!   table for, so no persistent id from before can match a new record.
//!
//! Either way the reset is never silent (the "no silent loss" invariant):
//! `table.resets` records when, from what, and how many records were lost,
//! as counted by the last `TableCensus`; `holdfast status` shows it.

use holdfast_types::{ComponentState, Epoch, ErrorCode, LogIndex, NodeId, ObjectId, ObjectKind, ObjectState};

use crate::state::{ClusterState, CommandResult, ObjectInfo};

pub use holdfast_types::restart::{Census, Parked, ResetRecord, Stopping, TableInfo, RESETS_KEPT};

impl ObjectInfo {
    /// The reset that produced the current incarnation, if the object has
    /// been reset.
    pub fn current_reset(&self) -> Option<&ResetRecord> {
        self.table.resets.last().filter(|r| r.incarnation == self.incarnation)
    }
}

fn refused(code: ErrorCode, message: String) -> CommandResult {
    CommandResult::refused(code, message)
}

impl ClusterState {
    fn memory_object(&mut self, object: ObjectId, expected: Option<Epoch>) -> Result<&mut ObjectInfo, CommandResult> {
        let Some(obj) = self.objects.get_mut(&object) else {
            return Err(refused(ErrorCode::NoSuchObject, format!("no object with id {object}")));
        };
        if obj.kind != ObjectKind::Memory {
            return Err(refused(ErrorCode::Invalid, format!("object {} is persistent; only a memory object holds a handle table", obj.name)));
        }
        if let Some(e) = expected {
            if e != obj.epoch {
                return Err(refused(ErrorCode::StaleEpoch, format!("object {} is at epoch {}, not {e}", obj.name, obj.epoch)));
            }
        }
        Ok(obj)
    }

    pub(crate) fn apply_stop_cluster(&mut self, index: LogIndex, at_unix_ms: u64) -> CommandResult {
        if self.stopping.is_none() {
            self.stopping = Some(Stopping { index, at_unix_ms });
        }
        CommandResult::Ok
    }

    pub(crate) fn apply_park(
        &mut self,
        index: LogIndex,
        object: ObjectId,
        incarnation: u32,
        records: u32,
        at_unix_ms: u64,
        expected: Epoch,
    ) -> CommandResult {
        if self.stopping.is_none() {
            return refused(ErrorCode::Invalid, "no planned stop is under way; a table is parked only by one".to_string());
        }
        let obj = match self.memory_object(object, Some(expected)) {
            Ok(o) => o,
            Err(r) => return r,
        };
        if obj.state == ObjectState::Lost {
            return refused(ErrorCode::ObjectLost, format!("object {} is LOST; there is nothing to park", obj.name));
        }
        if incarnation != obj.incarnation {
            return refused(
                ErrorCode::StaleEpoch,
                format!("object {} is at incarnation {}, the image is of incarnation {incarnation}", obj.name, obj.incarnation),
            );
        }
        obj.table.parked = Some(Parked { incarnation, records, at_unix_ms, index });
        // Fences whatever the owner might still have in flight: the image
        // must stay the table's last state.
        obj.epoch += 1;
        obj.epoch_index = index;
        CommandResult::Ok
    }

    pub(crate) fn apply_unpark(&mut self, object: ObjectId, expected: Epoch) -> CommandResult {
        if self.stopping.is_some() {
            return refused(ErrorCode::Invalid, "the cluster is stopping".to_string());
        }
        let obj = match self.memory_object(object, Some(expected)) {
            Ok(o) => o,
            Err(r) => return r,
        };
        if obj.table.parked.is_none() {
            return refused(ErrorCode::Invalid, format!("object {} is not parked", obj.name));
        }
        if obj.state == ObjectState::Lost {
            return refused(ErrorCode::ObjectLost, format!("object {} is LOST; it comes back with ResetLost", obj.name));
        }
        obj.table.parked = None;
        CommandResult::Ok
    }

    pub(crate) fn apply_reset_lost(&mut self, index: LogIndex, object: ObjectId, to: NodeId, at_unix_ms: u64, expected: Epoch) -> CommandResult {
        if self.stopping.is_some() {
            return refused(ErrorCode::Invalid, "the cluster is stopping".to_string());
        }
        let obj = match self.memory_object(object, Some(expected)) {
            Ok(o) => o,
            Err(r) => return r,
        };
        if obj.state != ObjectState::Lost {
            return refused(ErrorCode::Invalid, format!("object {} is not LOST: it still has an ACTIVE copy", obj.name));
        }
        if obj.component(to).is_none() {
            return refused(ErrorCode::NoComponent, format!("node {to} holds no component of {}", obj.name));
        }
        let parked = obj.table.parked.take();
        let census = obj.table.census.take();
        let (records_lost, census_at_unix_ms) = match (&parked, &census) {
            (Some(_), _) => (Some(0), None),
            (None, Some(c)) => (Some(c.records), Some(c.at_unix_ms)),
            (None, None) => (None, None),
        };
        obj.incarnation += 1;
        obj.table.resets.push(ResetRecord {
            index,
            at_unix_ms,
            incarnation: obj.incarnation,
            restored_from: parked.as_ref().map(|p| p.incarnation),
            records_restored: parked.as_ref().map_or(0, |p| p.records),
            records_lost,
            census_at_unix_ms,
        });
        if obj.table.resets.len() > RESETS_KEPT {
            obj.table.resets.remove(0);
        }
        // A new copy on `to`, made from nothing (the hook creates it afresh
        // when `created_index` is past the node's boot); the others stay
        // out of ACTIVE and are rebuilt from it.
        for c in obj.components.iter_mut().filter(|c| c.node == to) {
            c.state = ComponentState::Active;
            c.created_index = index;
        }
        obj.owner = to;
        obj.epoch += 1;
        obj.epoch_index = index;
        obj.recompute_state();
        CommandResult::Moved { object, owner: to, epoch: obj.epoch }
    }

    pub(crate) fn apply_census(&mut self, object: ObjectId, incarnation: u32, records: u32, at_unix_ms: u64) -> CommandResult {
        let obj = match self.memory_object(object, None) {
            Ok(o) => o,
            Err(r) => return r,
        };
        if incarnation != obj.incarnation {
            return refused(ErrorCode::StaleEpoch, format!("object {} is at incarnation {}, not {incarnation}", obj.name, obj.incarnation));
        }
        obj.table.census = Some(Census { records, at_unix_ms });
        CommandResult::Ok
    }

    pub(crate) fn check_restart_invariants(&self) {
        for obj in self.objects.values() {
            assert!(obj.table.resets.len() <= RESETS_KEPT, "object {} keeps {} resets", obj.id, obj.table.resets.len());
            if let Some(p) = &obj.table.parked {
                assert_eq!(obj.kind, ObjectKind::Memory, "persistent object {} parked", obj.id);
                assert_eq!(p.incarnation, obj.incarnation, "object {} parked at another incarnation", obj.id);
            }
            if let Some(r) = obj.table.resets.last() {
                assert!(r.incarnation <= obj.incarnation, "object {} reset to a future incarnation", obj.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Command;

    fn booted(node: NodeId, boot_id: u64) -> Command {
        Command::NodeBooted { node, addr: format!("127.0.0.1:{}", 7100 + node), memory_bytes_max: 1 << 30, boot_id, persistent_present: vec![] }
    }

    /// Three nodes and a memory object; returns the state, the next index
    /// and the object.
    fn cluster() -> (ClusterState, LogIndex, ObjectId) {
        let mut s = ClusterState::default();
        for n in 1..=3 {
            s.apply(n, &booted(n, 100 + n));
        }
        let CommandResult::Created { object, .. } =
            s.apply(4, &Command::CreateObject { name: "h".into(), kind: ObjectKind::Memory, size_bytes: 8192, replicas: 3 })
        else {
            panic!()
        };
        (s, 5, object)
    }

    fn restart_all(s: &mut ClusterState, i: &mut LogIndex) {
        for n in 1..=3 {
            s.apply(*i, &booted(n, 200 + n + *i));
            *i += 1;
        }
    }

    fn epoch(s: &ClusterState, o: ObjectId) -> Epoch {
        s.objects[&o].epoch
    }

    #[test]
    fn power_loss_reset_comes_back_empty_under_a_new_incarnation() {
        let (mut s, mut i, o) = cluster();
        assert_eq!(s.apply(i, &Command::TableCensus { object: o, incarnation: 0, records: 7, at_unix_ms: 5 }), CommandResult::Ok);
        i += 1;
        restart_all(&mut s, &mut i);
        assert_eq!(s.objects[&o].state, ObjectState::Lost);
        let e = epoch(&s, o);
        // Not to a node without a component, and not at a stale epoch.
        assert!(matches!(s.apply(i, &Command::ResetLost { object: o, to: 9, at_unix_ms: 10, expected_epoch: e }), CommandResult::Refused { .. }));
        assert!(matches!(s.apply(i + 1, &Command::ResetLost { object: o, to: 2, at_unix_ms: 10, expected_epoch: e - 1 }), CommandResult::Refused { .. }));
        let r = s.apply(i + 2, &Command::ResetLost { object: o, to: 2, at_unix_ms: 10, expected_epoch: e });
        assert_eq!(r, CommandResult::Moved { object: o, owner: 2, epoch: e + 1 });
        let obj = &s.objects[&o];
        assert_eq!(obj.incarnation, 1);
        assert_eq!(obj.state, ObjectState::Degraded);
        assert_eq!(obj.active_nodes(), vec![2]);
        assert_eq!(obj.component(2).unwrap().created_index, i + 2);
        let reset = obj.current_reset().unwrap();
        assert_eq!((reset.restored_from, reset.records_lost, reset.census_at_unix_ms), (None, Some(7), Some(5)));
        assert!(obj.table.census.is_none());
        // A second reset is refused: the object is no longer LOST.
        let e = epoch(&s, o);
        assert!(matches!(s.apply(i + 3, &Command::ResetLost { object: o, to: 2, at_unix_ms: 11, expected_epoch: e }), CommandResult::Refused { .. }));
        // A census of the old incarnation is refused.
        assert!(matches!(s.apply(i + 4, &Command::TableCensus { object: o, incarnation: 0, records: 1, at_unix_ms: 12 }), CommandResult::Refused { .. }));
    }

    #[test]
    fn planned_stop_parks_and_the_restart_restores() {
        let (mut s, mut i, o) = cluster();
        let e = epoch(&s, o);
        // No park outside a planned stop.
        assert!(matches!(
            s.apply(i, &Command::ParkTable { object: o, incarnation: 0, records: 3, at_unix_ms: 1, expected_epoch: e }),
            CommandResult::Refused { .. }
        ));
        assert_eq!(s.apply(i + 1, &Command::StopCluster { at_unix_ms: 2 }), CommandResult::Ok);
        assert!(matches!(
            s.apply(i + 2, &Command::ParkTable { object: o, incarnation: 1, records: 3, at_unix_ms: 3, expected_epoch: e }),
            CommandResult::Refused { .. }
        ));
        assert_eq!(s.apply(i + 3, &Command::ParkTable { object: o, incarnation: 0, records: 3, at_unix_ms: 3, expected_epoch: e }), CommandResult::Ok);
        assert_eq!(epoch(&s, o), e + 1, "parking fences the owner");
        i += 4;
        // Nothing is reset while the stop is under way.
        restart_all(&mut s, &mut i);
        assert!(s.stopping.is_none(), "a boot ends the stop");
        assert_eq!(s.objects[&o].state, ObjectState::Lost);
        let e = epoch(&s, o);
        let r = s.apply(i, &Command::ResetLost { object: o, to: 1, at_unix_ms: 9, expected_epoch: e });
        assert!(matches!(r, CommandResult::Moved { owner: 1, .. }), "{r:?}");
        let obj = &s.objects[&o];
        let reset = obj.current_reset().unwrap();
        assert_eq!((reset.restored_from, reset.records_restored, reset.records_lost), (Some(0), 3, Some(0)));
        assert!(obj.table.parked.is_none());
        assert_eq!(obj.incarnation, 1);
    }

    #[test]
    fn a_parked_table_that_kept_its_ram_unparks() {
        let (mut s, i, o) = cluster();
        s.apply(i, &Command::StopCluster { at_unix_ms: 1 });
        let e = epoch(&s, o);
        s.apply(i + 1, &Command::ParkTable { object: o, incarnation: 0, records: 1, at_unix_ms: 1, expected_epoch: e });
        let e = epoch(&s, o);
        assert!(matches!(s.apply(i + 2, &Command::UnparkTable { object: o, expected_epoch: e }), CommandResult::Refused { .. }), "still stopping");
        // One node restarts (ends the stop); the other two kept their RAM.
        s.apply(i + 3, &booted(3, 999));
        let e = epoch(&s, o);
        assert_ne!(s.objects[&o].state, ObjectState::Lost);
        assert!(matches!(s.apply(i + 4, &Command::ResetLost { object: o, to: 1, at_unix_ms: 2, expected_epoch: e }), CommandResult::Refused { .. }));
        assert_eq!(s.apply(i + 5, &Command::UnparkTable { object: o, expected_epoch: e }), CommandResult::Ok);
        assert!(s.objects[&o].table.parked.is_none());
        assert_eq!(s.objects[&o].incarnation, 0);
    }

    #[test]
    fn persistent_objects_are_never_reset_and_resets_are_bounded() {
        let (mut s, mut i, o) = cluster();
        let CommandResult::Created { object: p, .. } =
            s.apply(i, &Command::CreateObject { name: "p".into(), kind: ObjectKind::Persistent, size_bytes: 8192, replicas: 3 })
        else {
            panic!()
        };
        i += 1;
        let e = epoch(&s, p);
        assert!(matches!(s.apply(i, &Command::ResetLost { object: p, to: 1, at_unix_ms: 1, expected_epoch: e }), CommandResult::Refused { .. }));
        i += 1;
        for k in 0..(RESETS_KEPT as u32 + 3) {
            restart_all(&mut s, &mut i);
            let e = epoch(&s, o);
            let r = s.apply(i, &Command::ResetLost { object: o, to: 1, at_unix_ms: k as u64, expected_epoch: e });
            assert!(matches!(r, CommandResult::Moved { .. }), "{r:?}");
            i += 1;
            assert_eq!(s.objects[&o].incarnation, k + 1);
        }
        let obj = &s.objects[&o];
        assert_eq!(obj.table.resets.len(), RESETS_KEPT);
        assert_eq!(obj.current_reset().unwrap().incarnation, obj.incarnation);
    }
}
