//! The break rules of the lease table ([MS-FSA] 2.1.5.17/18, Samba's
//! `delay_for_oplock` as the tiebreak): what a new open, a write, a rename
//! or a delete-on-close close must break first, how a break in flight is
//! tightened and goes on in steps, and the acknowledgments.

use super::*;
use crate::error::status;

/// An entry's caching, as the break planners see it.
enum Caching {
    /// Its lease was already looked at through another open.
    Counted,
    /// An oplock break is in flight.
    Breaking,
    /// A lease break is in flight; the state still held.
    LeaseBreaking(LeaseId, u32),
    State(u32),
}

/// A break from a state with write or handle caching waits for the
/// client: it may have dirty data or handles to flush.
fn needs_ack(current: u32) -> bool {
    current & (W | H) != 0
}

impl Table {
    pub fn breaking_on_path(&self, share: &str, path_key: &str) -> bool {
        self.entry_ids_on_path(share, path_key).iter().any(|id| self.entries[id].breaking_to.is_some() || self.entries[id].disconnecting)
            || self.lease_ids_on_path(share, path_key).iter().any(|lid| self.leases.get(lid).is_some_and(|l| l.breaking_to.is_some()))
    }

    /// The break timeout passed: every break on the path ends with no
    /// caching left (as Samba and Windows end an unacknowledged break).
    pub fn force_breaks(&mut self, share: &str, path_key: &str) -> Vec<HandleRecord> {
        let mut changed = Vec::new();
        for id in self.entry_ids_on_path(share, path_key) {
            let e = self.entries.get_mut(&id).expect("listed");
            if e.breaking_to.take().is_some() {
                e.oplock = oplock::NONE;
                changed.push(id);
            }
        }
        for lid in self.lease_ids_on_path(share, path_key) {
            let l = self.leases.get_mut(&lid).expect("listed");
            if l.breaking_to.take().is_some() {
                l.state = 0;
                changed.extend(self.lease_entry_ids(lid));
            }
        }
        changed.iter().filter_map(|id| self.current_record(*id)).collect()
    }

    /// The breaks a new open needs before it may proceed, begun: the table
    /// now says *breaking* for those that wait for an acknowledgment and
    /// has the new state for those that do not.
    pub fn plan_open(&mut self, n: &NewOpen<'_>) -> Plan {
        let mut plan = Plan::default();
        let access = open_access(n.access, n.overwrite);
        if is_oplock_stat_open(access) {
            return plan;
        }
        let ids = self.entry_ids_on_path(n.share, n.path_key);
        if ids.iter().any(|id| self.delete_pending.contains(&(n.share.to_string(), self.entries[id].ino))) {
            return plan;
        }
        let violation = ids.iter().any(|id| {
            let e = &self.entries[id];
            holdfast_file_server::access::sharing_conflict(e.access, e.share_access, n.access, n.share_access)
        });
        let mut leases_done: Vec<LeaseId> = Vec::new();
        for id in ids {
            let e = &self.entries[&id];
            if e.lease.is_some() && (e.lease == n.lease || is_lease_stat_open(access)) {
                continue;
            }
            if e.disconnecting {
                plan.wait = true;
                continue;
            }
            let conflicts = holdfast_file_server::access::sharing_conflict(e.access, e.share_access, n.access, n.share_access);
            // A sharing violation first costs handle caches only: once
            // those are gone the open is tried again, and only if it then
            // proceeds do write caches (and on overwrite, read caches) go.
            let target = |current: u32| if violation {
                current & !H
            } else if n.overwrite {
                0
            } else {
                current & !W
            };
            // The open waits only for the caches it cannot proceed beside:
            // write caches, or on a sharing violation handle caches
            // (Samba's delay mask); other breaks go on in the background.
            let delay_mask = if violation { H } else { W };
            let current = match self.caching_of(id, &mut leases_done) {
                Caching::Counted => continue,
                Caching::Breaking => {
                    plan.wait = true;
                    continue;
                }
                Caching::LeaseBreaking(lid, held) => {
                    let l = self.leases.get_mut(&lid).expect("lease of an entry");
                    l.breaking_required &= target(held);
                    plan.wait |= held & delay_mask != 0 || n.retry;
                    continue;
                }
                Caching::State(s) => s,
            };
            let to = target(current);
            // A disconnected durable open in the way of this open is
            // purged even when it caches nothing: nobody can ask it.
            let disconnected_in_way = e.holder.is_none() && (to != current || conflicts);
            if disconnected_in_way {
                self.break_disconnected(id, current, to, &mut plan);
                continue;
            }
            if to == current {
                continue;
            }
            self.send_break(id, current, to, current & delay_mask != 0, &mut plan);
        }
        plan
    }

    /// An open changes the file's data (WRITE, end of file, a lock):
    /// read caches go (MS-FSA 2.1.4.12, level II breaks),
    /// with no waiting.
    pub fn plan_contend(&mut self, entry: u64) -> Plan {
        let mut plan = Plan::default();
        let mut leases_done: Vec<LeaseId> = Vec::new();
        // The writer's own level II oplock breaks too (Samba, Windows).
        for id in self.file_opens_but_my_lease(entry) {
            let e = &self.entries[&id];
            let Caching::State(current) = self.caching_of(id, &mut leases_done) else { continue };
            if current & R == 0 || current & W != 0 {
                // Nothing to lose, or an exclusive cache that a write by
                // another open cannot coexist with (it was broken at open).
                continue;
            }
            if e.holder.is_none() {
                self.break_disconnected(id, current, 0, &mut plan);
            } else {
                self.send_break(id, current, 0, false, &mut plan);
            }
        }
        // Nobody waits for these.
        plan.wait = false;
        plan
    }

    /// A rename through `entry`, or the close of a delete-on-close
    /// `entry`, first breaks the handle caches of the file's other leases
    /// (Windows and Samba hold it until they are acknowledged: a client
    /// caching a handle must close it for the name to change or go).
    pub fn plan_handle_break(&mut self, entry: u64) -> Plan {
        let mut plan = Plan::default();
        let mut leases_done: Vec<LeaseId> = Vec::new();
        for id in self.file_opens_but_my_lease(entry) {
            let e = &self.entries[&id];
            if e.lease.is_none() {
                continue;
            }
            let connected = e.holder.is_some();
            match self.caching_of(id, &mut leases_done) {
                Caching::LeaseBreaking(lid, held) => {
                    let l = self.leases.get_mut(&lid).expect("lease of an entry");
                    l.breaking_required &= !H;
                    plan.wait |= held & H != 0;
                }
                Caching::State(current) if current & H != 0 && connected => self.send_break(id, current, current & !H, true, &mut plan),
                Caching::State(current) if current & H != 0 => self.break_disconnected(id, current, current & !H, &mut plan),
                _ => {}
            }
        }
        plan
    }

    /// The opens of `entry`'s file but those holding its lease (itself
    /// included when it has one).
    fn file_opens_but_my_lease(&self, entry: u64) -> Vec<u64> {
        let Some(me) = self.entries.get(&entry) else { return Vec::new() };
        let mine = me.lease;
        let ids = self.entry_ids_on_ino(&me.share, me.ino);
        ids.into_iter().filter(|id| mine.is_none() || self.entries[id].lease != mine).collect()
    }

    /// What entry `id` caches, counting each lease once (`leases_done`).
    fn caching_of(&self, id: u64, leases_done: &mut Vec<LeaseId>) -> Caching {
        let e = &self.entries[&id];
        match e.lease {
            Some(lid) if leases_done.contains(&lid) => Caching::Counted,
            Some(lid) => {
                leases_done.push(lid);
                let l = &self.leases[&lid];
                if l.breaking_to.is_some() {
                    Caching::LeaseBreaking(lid, l.state)
                } else {
                    Caching::State(l.state)
                }
            }
            None if e.breaking_to.is_some() => Caching::Breaking,
            None => Caching::State(oplock_state(e.oplock)),
        }
    }

    fn break_disconnected(&mut self, id: u64, current: u32, to: u32, plan: &mut Plan) {
        let e = &self.entries[&id];
        let persistent = e.record.as_ref().is_some_and(|r| r.is_persistent);
        if !persistent {
            if let Some(r) = &e.record {
                plan.purges.push(Purge { share: e.share.clone(), persistent_id: r.persistent_id });
            }
            self.remove(id);
        } else if needs_ack(current) && to != current {
            plan.blocked = true;
        } else if to != current {
            self.set_state(id, to);
            plan.writes.extend(self.records_of(id));
        }
    }

    /// `wait`: the open that causes the break waits for its acknowledgment
    /// (otherwise it is only bounded by [`Plan::unwaited`]'s timer).
    fn send_break(&mut self, id: u64, current: u32, to: u32, wait: bool, plan: &mut Plan) {
        let ack = needs_ack(current);
        let e = &self.entries[&id];
        let holder = e.holder.clone().expect("connected");
        match e.lease {
            Some(lid) => {
                let l = self.leases.get_mut(&lid).expect("lease of an entry");
                if l.version >= 2 {
                    l.epoch = l.epoch.wrapping_add(1);
                }
                plan.sends.push(Send {
                    holder,
                    lease_client: Some(lid.0),
                    notice: Notice::Lease {
                        key: lid.1,
                        epoch: l.epoch,
                        flags: if ack { BREAK_ACK_REQUIRED } else { 0 },
                        current,
                        new: to,
                    },
                });
                if ack {
                    l.breaking_to = Some(to);
                    l.breaking_required = to;
                    plan.wait |= wait;
                    plan.unwaited |= !wait;
                } else {
                    l.state = to;
                    plan.writes.extend(self.records_of(id));
                }
            }
            None => {
                let level = oplock_of_state(to);
                plan.sends.push(Send { holder: holder.clone(), notice: Notice::Oplock { file_id: holder.file_id, level }, lease_client: None });
                let e = self.entries.get_mut(&id).expect("listed");
                if ack {
                    e.breaking_to = Some(level);
                    plan.wait |= wait;
                    plan.unwaited |= !wait;
                } else {
                    e.oplock = level;
                    plan.writes.extend(self.records_of(id));
                }
            }
        }
    }

    fn set_state(&mut self, id: u64, to: u32) {
        let e = self.entries.get_mut(&id).expect("listed");
        match e.lease {
            Some(lid) => {
                if let Some(l) = self.leases.get_mut(&lid) {
                    l.state = to;
                }
            }
            None => e.oplock = oplock_of_state(to),
        }
    }

    /// The current records of the durable entries that share `id`'s
    /// caching state (the entry itself, or every open of its lease).
    fn records_of(&self, id: u64) -> Vec<HandleRecord> {
        let lease = self.entries.get(&id).and_then(|e| e.lease);
        let ids: Vec<u64> = match lease {
            Some(lid) => self.lease_entry_ids(lid),
            None => vec![id],
        };
        ids.into_iter().filter_map(|i| self.current_record(i)).collect()
    }

    /// OPLOCK_BREAK acknowledgment of an oplock ([MS-SMB2] 3.3.5.22.1):
    /// the level now held.
    pub fn ack_oplock(&mut self, id: u64, level: u8) -> Result<(u8, Vec<HandleRecord>), NtStatus> {
        let e = self.entries.get_mut(&id).ok_or(NtStatus::FILE_CLOSED)?;
        let Some(to) = e.breaking_to else { return Err(status::INVALID_OPLOCK_PROTOCOL) };
        if level == oplock::LEASE {
            e.breaking_to = None;
            e.oplock = oplock::NONE;
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if level > to {
            // More than was offered: the break ends at none.
            e.breaking_to = None;
            e.oplock = oplock::NONE;
            return Err(status::INVALID_OPLOCK_PROTOCOL);
        }
        e.breaking_to = None;
        e.oplock = level;
        Ok((level, self.records_of(id)))
    }

    /// Lease break acknowledgment ([MS-SMB2] 3.3.5.22.2): the state now
    /// held, the records to write, and the next break when the state is
    /// still more than the waiting opens need. That break goes in steps
    /// as Windows' does: from write or handle caching to read (ack
    /// required, same epoch), then from read to none (no ack).
    pub fn ack_lease(&mut self, lid: &LeaseId, state: u32) -> Result<(u32, Vec<HandleRecord>, Option<Send>), NtStatus> {
        let l = self.leases.get_mut(lid).ok_or(NtStatus::OBJECT_NAME_NOT_FOUND)?;
        let Some(to) = l.breaking_to else { return Err(status::UNSUCCESSFUL) };
        if state & !to != 0 {
            return Err(status::REQUEST_NOT_ACCEPTED);
        }
        l.breaking_to = None;
        l.state = state;
        let mut next = None;
        if state & !l.breaking_required != 0 {
            let ack = needs_ack(state);
            let new = if ack { (l.breaking_required | R) & state } else { 0 };
            if ack {
                l.breaking_to = Some(new);
            } else {
                l.state = 0;
            }
            let flags = if ack { BREAK_ACK_REQUIRED } else { 0 };
            let notice = Notice::Lease { key: lid.1, epoch: l.epoch, flags, current: state, new };
            let holder = self.lease_entry_ids(*lid).into_iter().find_map(|id| self.entries[&id].holder.clone());
            next = holder.map(|holder| Send { holder, notice, lease_client: Some(lid.0) });
        }
        let any = self.lease_entry_ids(*lid).first().copied();
        Ok((state, any.map(|i| self.records_of(i)).unwrap_or_default(), next))
    }
}
