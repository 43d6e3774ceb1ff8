//! Oplocks and leases: which opens cache what, which breaks a new open
//! needs, and what it is granted ([MS-SMB2] 3.3.5.9, 3.3.4.6, 3.3.4.7,
//! 3.3.5.22; the break rules follow MS-FSA 2.1.5.17 as Samba applies
//! them). This is the protocol core: it changes the table and says what
//! to send, purge and write; `breaks.rs` does the I/O.
//!
//! One table per service process. A share volume is served by exactly one
//! service (the service follows the volume's owner), so every open of a
//! file, on every connection, is in this table. Durable and persistent
//! opens stay in it while disconnected; their handle records are owned
//! here (`Entry::record`) so that a state change and a disconnect never
//! write two different copies.
//!
//! Oplock levels are handled as lease states: BATCH = RWH, EXCLUSIVE = RW,
//! LEVEL_II = R.

use std::collections::{BTreeSet, HashMap, HashSet};

use holdfast_objfs::handles::{oplock, HandleRecord, Lease as RecLease};
use holdfast_smb_proto::FileId;
use holdfast_types::ntstatus::NtStatus;

use crate::server::ConnCmd;

pub const R: u32 = 0x1;
pub const H: u32 = 0x2;
pub const W: u32 = 0x4;

/// SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED.
pub const BREAK_ACK_REQUIRED: u32 = 0x1;
/// SMB2_LEASE_FLAG_BREAK_IN_PROGRESS (in a CREATE's lease context).
pub const LEASE_FLAG_BREAK_IN_PROGRESS: u32 = 0x2;

/// A lease is named by the client's GUID and its key ([MS-SMB2] 3.3.1.4:
/// LeaseTable per ClientGuid).
pub type LeaseId = ([u8; 16], [u8; 16]);

/// Where a break notification goes: the connection holding the open.
#[derive(Clone)]
pub struct Holder {
    pub conn_id: u64,
    pub session_id: u64,
    pub file_id: FileId,
    pub tx: tokio::sync::mpsc::UnboundedSender<ConnCmd>,
}

/// One open of a file through this service.
pub struct Entry {
    pub share: String,
    pub ino: u64,
    /// The path, lower-cased with `\` separators and no leading one: opens
    /// are matched by path before the file server has resolved it.
    pub path_key: String,
    /// `None` while a durable open is disconnected.
    pub holder: Option<Holder>,
    /// Access after generic mapping, and the share access.
    pub access: u32,
    pub share_access: u32,
    /// NONE, LEVEL_II, EXCLUSIVE, BATCH, or LEASE.
    pub oplock: u8,
    pub lease: Option<LeaseId>,
    /// An oplock break sent and not yet acknowledged: the level offered.
    pub breaking_to: Option<u8>,
    /// The handle-table record of a durable or persistent open.
    pub record: Option<HandleRecord>,
    /// FilePositionInformation, so that it survives a reconnect to this
    /// service (not a failover: the record does not hold it).
    pub position: u64,
    /// A DH2Q CREATE's (ClientGuid, CreateGuid), durable or not, for
    /// replay detection ([MS-SMB2] 3.3.5.9.10), and whether a replay may
    /// still be answered with this open.
    pub create_key: Option<([u8; 16], [u8; 16])>,
    pub replay_eligible: bool,
    pub create_action: u32,
    /// Its connection went and the file server has not yet marked its open
    /// disconnected: an open on the path waits for that (`plan_open`), or
    /// it would find the old open still connected there.
    pub disconnecting: bool,
    /// Closing this open deletes the file (FILE_DELETE_ON_CLOSE, or a
    /// disposition set through it): the close first breaks the other
    /// leases' handle caching (`plan_handle_break`).
    pub delete_on_close: bool,
}

pub struct Lease {
    pub share: String,
    pub ino: u64,
    pub state: u32,
    /// A break sent and not yet acknowledged: the state offered.
    pub breaking_to: Option<u32>,
    /// While breaking: the state the opens waiting need in the end. Later
    /// opens tighten it; an acknowledgment short of it is followed by the
    /// next break, in steps as Windows breaks (`ack_lease`).
    pub breaking_required: u32,
    pub epoch: u16,
    pub version: u8,
    pub parent_key: [u8; 16],
    pub flags: u32,
    /// Entries that hold this lease.
    pub opens: usize,
}

/// A break notification to send.
pub enum Notice {
    Oplock { file_id: FileId, level: u8 },
    Lease { key: [u8; 16], epoch: u16, flags: u32, current: u32, new: u32 },
}

pub struct Send {
    pub holder: Holder,
    pub notice: Notice,
    /// A lease break: the ClientGuid whose lease it is (it goes to that
    /// client's oldest connection, `breaks::deliver`).
    pub lease_client: Option<[u8; 16]>,
}

/// A disconnected durable open that a break cannot reach: it is closed
/// ([MS-SMB2] 3.3.4.6/3.3.4.7: the open is closed when the break cannot be
/// sent and the open is not persistent).
pub struct Purge {
    pub share: String,
    pub persistent_id: u64,
}

/// What a planned change asks of the caller.
#[derive(Default)]
pub struct Plan {
    pub sends: Vec<Send>,
    pub purges: Vec<Purge>,
    /// Records to write (their entries' states changed).
    pub writes: Vec<HandleRecord>,
    /// Breaks that need an acknowledgment are in flight: wait for them.
    pub wait: bool,
    /// Breaks that need an acknowledgment nobody waits for: they still end
    /// after [`crate::breaks::BREAK_WAIT_MS`] without one.
    pub unwaited: bool,
    /// A disconnected persistent handle would need a break it cannot get:
    /// the new open gets STATUS_FILE_NOT_AVAILABLE.
    pub blocked: bool,
}

/// A new open, as far as breaking goes.
pub struct NewOpen<'a> {
    pub share: &'a str,
    pub path_key: &'a str,
    pub access: u32,
    pub share_access: u32,
    /// SUPERSEDE, OVERWRITE or OVERWRITE_IF: other readers' caches go.
    pub overwrite: bool,
    pub lease: Option<LeaseId>,
    /// The open runs again after waiting: a lease still breaking holds it
    /// up whatever it caches.
    pub retry: bool,
}

/// What a CREATE asked for.
pub enum Requested {
    Oplock(u8),
    Lease { id: LeaseId, state: u32, version: u8, epoch: u16, parent_key: [u8; 16], flags: u32 },
}

/// What it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub oplock: u8,
    pub lease: Option<GrantedLease>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedLease {
    pub key: [u8; 16],
    pub state: u32,
    pub flags: u32,
    pub epoch: u16,
    pub version: u8,
    pub parent_key: [u8; 16],
}

const SYNCHRONIZE: u32 = 0x0010_0000;
const READ_ATTRIBUTES: u32 = 0x0000_0080;
const WRITE_ATTRIBUTES: u32 = 0x0000_0100;
const READ_CONTROL: u32 = 0x0002_0000;
const WRITE_DATA: u32 = 0x0000_0002;

/// An open for attributes only (Samba's oplock stat open): it breaks no
/// oplock or lease, gets no oplock on an existing file, and does not stop
/// another open from caching writes.
pub fn is_oplock_stat_open(access: u32) -> bool {
    const STAT: u32 = SYNCHRONIZE | READ_ATTRIBUTES | WRITE_ATTRIBUTES;
    access & STAT != 0 && access & !STAT == 0
}

/// An open that breaks no lease (oplocks it still breaks): attributes and
/// the security descriptor only.
pub fn is_lease_stat_open(access: u32) -> bool {
    const STAT: u32 = SYNCHRONIZE | READ_ATTRIBUTES | WRITE_ATTRIBUTES | READ_CONTROL;
    access & STAT != 0 && access & !STAT == 0
}

/// The access an open acts with for caching: one that truncates the file
/// (SUPERSEDE, OVERWRITE, OVERWRITE_IF) writes data, whatever it asked
/// for (Samba adds FILE_WRITE_DATA the same way).
pub fn open_access(access: u32, overwrite: bool) -> u32 {
    if overwrite {
        access | WRITE_DATA
    } else {
        access
    }
}

/// What [`Table::disconnect`] did with an open whose connection went.
pub enum Disconnected {
    /// A durable open, kept with its record marked disconnected.
    Kept(HandleRecord),
    /// Not durable: its entry is removed (the open is to be closed).
    Removed(Entry),
    /// No such entry.
    Unknown,
}

/// The table key of a path.
/// `file::$DATA` is the file itself and `file:stream:$DATA` is
/// `file:stream`, so each stream has one key.
pub fn path_key(path: &str) -> String {
    let mut k = path.trim_start_matches(['\\', '/']).replace('/', "\\").to_lowercase();
    let last = k.rfind('\\').map_or(0, |i| i + 1);
    if k[last..].contains(':') && k.ends_with(":$data") {
        k.truncate(k.len() - ":$data".len());
    }
    if k.ends_with(':') {
        k.pop();
    }
    k
}

fn oplock_state(level: u8) -> u32 {
    match level {
        oplock::BATCH => R | H | W,
        oplock::EXCLUSIVE => R | W,
        oplock::LEVEL_II => R,
        _ => 0,
    }
}

fn oplock_of_state(state: u32) -> u8 {
    if state & R != 0 {
        oplock::LEVEL_II
    } else {
        oplock::NONE
    }
}

/// Entry ids under one key, in insertion order.
type Ids = BTreeSet<u64>;

#[derive(Default)]
pub struct Table {
    entries: HashMap<u64, Entry>,
    leases: HashMap<LeaseId, Lease>,
    next_id: u64,
    // Indexes, kept by `insert`, `remove` and `renamed` only: CREATE and
    // WRITE look up a file's opens under the table's lock, which must not
    // cost a scan of every open of the service.
    by_path: HashMap<(String, String), Ids>,
    by_file: HashMap<(String, u64), Ids>,
    by_record: HashMap<(String, u64), u64>,
    by_create: HashMap<(String, [u8; 16], [u8; 16]), Ids>,
    /// Files (share, ino) whose delete is pending: a new open of one fails
    /// with DELETE_PENDING and breaks nothing first.
    delete_pending: HashSet<(String, u64)>,
}

fn unindex<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Ids>, k: K, id: u64) {
    if let Some(ids) = m.get_mut(&k) {
        ids.remove(&id);
        if ids.is_empty() {
            m.remove(&k);
        }
    }
}

impl Table {
    pub fn entry(&self, id: u64) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub fn entry_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries.get_mut(&id)
    }

    pub fn lease(&self, id: &LeaseId) -> Option<&Lease> {
        self.leases.get(id)
    }

    /// Adds an open; its lease (if any) must exist (`grant` made it).
    pub fn insert(&mut self, e: Entry) -> u64 {
        if let Some(l) = e.lease.and_then(|id| self.leases.get_mut(&id)) {
            l.opens += 1;
        }
        self.next_id += 1;
        let id = self.next_id;
        self.by_path.entry((e.share.clone(), e.path_key.clone())).or_default().insert(id);
        self.by_file.entry((e.share.clone(), e.ino)).or_default().insert(id);
        if let Some(r) = &e.record {
            self.by_record.insert((e.share.clone(), r.persistent_id), id);
        }
        if let Some((cg, g)) = e.create_key {
            self.by_create.entry((e.share.clone(), cg, g)).or_default().insert(id);
        }
        self.entries.insert(id, e);
        id
    }

    /// Removes an open (closed, purged or expired); a lease no open holds
    /// any more goes with it.
    pub fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        unindex(&mut self.by_path, (e.share.clone(), e.path_key.clone()), id);
        unindex(&mut self.by_file, (e.share.clone(), e.ino), id);
        if !self.by_file.contains_key(&(e.share.clone(), e.ino)) {
            self.delete_pending.remove(&(e.share.clone(), e.ino));
        }
        if let Some(r) = &e.record {
            self.by_record.remove(&(e.share.clone(), r.persistent_id));
        }
        if let Some((cg, g)) = e.create_key {
            unindex(&mut self.by_create, (e.share.clone(), cg, g), id);
        }
        if let Some(lid) = e.lease {
            if let Some(l) = self.leases.get_mut(&lid) {
                l.opens -= 1;
                if l.opens == 0 {
                    self.leases.remove(&lid);
                }
            }
        }
        Some(e)
    }

    /// Durable opens of the file at `path_key` started by the application
    /// instance `app` ([MS-SMB2] 3.3.5.9.13), other than through
    /// `create_guid`: (entry, holder, persistent id).
    pub fn app_instance_opens(&self, share: &str, path_key: &str, app: [u8; 16], create_guid: [u8; 16]) -> Vec<(u64, Option<Holder>, u64)> {
        self.entry_ids_on_path(share, path_key)
            .into_iter()
            .filter_map(|id| {
                let e = &self.entries[&id];
                let r = e.record.as_ref()?;
                (r.app_instance_id == app && r.create_guid != create_guid).then(|| (id, e.holder.clone(), r.persistent_id))
            })
            .collect()
    }

    /// The connection of a durable open went away: it stays, disconnected
    /// as of `now_unix_ms`, and its record (current state) is returned for
    /// writing; a plain open is removed (None). A break it owed is
    /// dropped: whoever waits re-plans and purges or is refused.
    pub fn disconnect(&mut self, id: u64, now_unix_ms: u64) -> Disconnected {
        let Some(e) = self.entries.get_mut(&id) else { return Disconnected::Unknown };
        if e.record.is_none() {
            return self.remove(id).map_or(Disconnected::Unknown, Disconnected::Removed);
        }
        e.holder = None;
        e.breaking_to = None;
        e.disconnecting = true;
        if let Some(r) = e.record.as_mut() {
            r.disconnect_time_unix_ms = now_unix_ms;
        }
        if let Some(lid) = e.lease {
            let connected = self.lease_entry_ids(lid).iter().any(|x| self.entries[x].holder.is_some());
            if !connected {
                if let Some(l) = self.leases.get_mut(&lid) {
                    l.breaking_to = None;
                }
            }
        }
        self.current_record(id).map_or(Disconnected::Unknown, Disconnected::Kept)
    }

    /// The newest entry a client made with this CreateGuid (an older one
    /// whose replay window closed may share it with a newer open).
    pub fn find_by_create_guid(&self, share: &str, client_guid: [u8; 16], create_guid: [u8; 16]) -> Option<u64> {
        self.by_create.get(&(share.to_string(), client_guid, create_guid)).and_then(|ids| ids.last().copied())
    }

    /// The persistent id of a durable entry; entries of a reloaded table
    /// are found this way.
    pub fn find_durable(&self, share: &str, persistent_id: u64) -> Option<u64> {
        self.by_record.get(&(share.to_string(), persistent_id)).copied()
    }

    /// A disconnected durable open from the handle table (service start,
    /// takeover): it caches what its record says.
    pub fn load(&mut self, rec: HandleRecord) -> u64 {
        let lease = rec.lease.as_ref().map(|l| (rec.client_guid, l.key));
        if let (Some(id), Some(l)) = (lease, rec.lease.as_ref()) {
            self.leases.entry(id).or_insert_with(|| Lease {
                share: rec.share.clone(),
                ino: rec.ino,
                state: l.state,
                breaking_to: None,
                breaking_required: 0,
                epoch: l.epoch,
                version: l.version,
                parent_key: l.parent_key,
                flags: l.flags,
                opens: 0,
            });
        }
        let e = Entry {
            share: rec.share.clone(),
            ino: rec.ino,
            path_key: path_key(&rec.path),
            holder: None,
            access: rec.granted_access,
            share_access: rec.share_access,
            oplock: rec.oplock_level,
            lease,
            breaking_to: None,
            create_key: (rec.create_guid != [0; 16]).then_some((rec.client_guid, rec.create_guid)),
            replay_eligible: rec.is_replay_eligible,
            create_action: rec.create_action,
            disconnecting: false,
            delete_on_close: false,
            record: Some(rec),
            position: 0,
        };
        self.insert(e)
    }

    /// The record of a durable entry with its current caching state.
    pub fn current_record(&self, id: u64) -> Option<HandleRecord> {
        let e = self.entries.get(&id)?;
        let mut rec = e.record.clone()?;
        rec.oplock_level = e.oplock;
        rec.lease = e.lease.and_then(|lid| self.leases.get(&lid)).map(|l| RecLease {
            key: e.lease.map(|x| x.1).unwrap_or_default(),
            parent_key: l.parent_key,
            state: l.state,
            epoch: l.epoch,
            version: l.version,
            flags: l.flags,
        });
        Some(rec)
    }

    fn entry_ids_on_path(&self, share: &str, path_key: &str) -> Vec<u64> {
        self.by_path.get(&(share.to_string(), path_key.to_string())).map(|ids| ids.iter().copied().collect()).unwrap_or_default()
    }

    /// Whether any open of the file is left (disconnected durable ones
    /// included: they keep the file open on the file server too).
    pub fn file_is_open(&self, share: &str, ino: u64) -> bool {
        self.by_file.get(&(share.to_string(), ino)).is_some_and(|ids| !ids.is_empty())
    }

    fn entry_ids_on_ino(&self, share: &str, ino: u64) -> Vec<u64> {
        self.by_file.get(&(share.to_string(), ino)).map(|ids| ids.iter().copied().collect()).unwrap_or_default()
    }

    /// The leases held through the opens on this path, each once.
    fn lease_ids_on_path(&self, share: &str, path_key: &str) -> Vec<LeaseId> {
        let mut v: Vec<LeaseId> = Vec::new();
        for id in self.entry_ids_on_path(share, path_key) {
            if let Some(lid) = self.entries[&id].lease.filter(|lid| !v.contains(lid)) {
                v.push(lid);
            }
        }
        v
    }

    /// Any break on this path still waiting for its acknowledgment?
    /// The file server has marked the open of `disconnect(id)` disconnected.
    pub fn disconnect_done(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.disconnecting = false;
        }
    }

    /// What a new open of (`share`, `ino`) gets, once its breaks are done
    /// and the file server opened it. `access` is the open's
    /// [`open_access`]; `existed`: the file was there before. Creates or
    /// upgrades its lease; the caller then `insert`s the entry with the
    /// granted oplock and lease.
    pub fn grant(&mut self, share: &str, ino: u64, is_dir: bool, access: u32, existed: bool, req: &Requested) -> Result<Granted, NtStatus> {
        let none = Granted { oplock: oplock::NONE, lease: None };
        let mine = match req {
            Requested::Lease { id, .. } => Some(*id),
            Requested::Oplock(_) => None,
        };
        // Other opens that stop write caching: any with an oplock or lease
        // (even one broken to none), or one for more than attributes.
        let others: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| e.share == share && e.ino == ino && (e.lease.is_none() || e.lease != mine))
            .filter(|e| e.oplock != oplock::NONE || !is_oplock_stat_open(e.access))
            .collect();
        let lease_state = |e: &Entry| e.lease.and_then(|lid| self.leases.get(&lid)).map_or(0, |l| l.state | l.breaking_to.unwrap_or(0));
        let others_write = others.iter().any(|e| match e.lease {
            Some(_) => lease_state(e) & W != 0,
            None => oplock_state(e.oplock) & W != 0 || e.breaking_to.is_some(),
        });
        let others_handle = others.iter().any(|e| lease_state(e) & H != 0);
        let others_oplock = others.iter().any(|e| e.lease.is_none() && e.oplock != oplock::NONE);
        match *req {
            Requested::Oplock(level) => {
                // A stat open of an existing file gets no oplock; an oplock
                // cannot sit beside a handle-caching lease (Samba).
                if is_dir || level == oplock::NONE || (existed && is_oplock_stat_open(access)) || others_handle {
                    return Ok(none);
                }
                let g = if others.is_empty() {
                    level
                } else if others_write {
                    oplock::NONE
                } else {
                    oplock::LEVEL_II
                };
                Ok(Granted { oplock: g, lease: None })
            }
            Requested::Lease { id, state, version, epoch, parent_key, flags } => {
                if is_dir {
                    return Ok(none);
                }
                // H or W without R is not a lease state a server grants.
                let mut allowed = if state & R == 0 { 0 } else { state & (R | H | W) };
                if !others.is_empty() {
                    allowed &= !W;
                }
                if others_oplock {
                    // Oplock holders cannot be told about handle caching.
                    allowed &= !H;
                }
                if let Some(l) = self.leases.get_mut(&id) {
                    if l.share != share || l.ino != ino {
                        // One lease key names one file ([MS-SMB2] 3.3.5.9.8).
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    let mut out_flags = 0;
                    if l.breaking_to.is_some() {
                        out_flags |= LEASE_FLAG_BREAK_IN_PROGRESS;
                    } else if state & l.state == l.state && allowed != l.state && allowed == state {
                        // Only a strict upgrade to exactly what was asked
                        // (Samba's try_lease_upgrade).
                        l.state = allowed;
                        if l.version >= 2 {
                            l.epoch = l.epoch.wrapping_add(1);
                        }
                    }
                    return Ok(Granted {
                        oplock: oplock::LEASE,
                        lease: Some(GrantedLease {
                            key: id.1,
                            state: l.state,
                            flags: out_flags | (l.flags & 0x4),
                            epoch: l.epoch,
                            version: l.version,
                            parent_key: l.parent_key,
                        }),
                    });
                }
                let epoch = if version >= 2 { epoch.wrapping_add(1) } else { 0 };
                let lease_flags = flags & 0x4; // PARENT_LEASE_KEY_SET
                self.leases.insert(
                    id,
                    Lease {
                        share: share.to_string(),
                        ino,
                        state: allowed,
                        breaking_to: None,
                        breaking_required: 0,
                        epoch,
                        version,
                        parent_key,
                        flags: lease_flags,
                        opens: 0,
                    },
                );
                Ok(Granted {
                    oplock: oplock::LEASE,
                    lease: Some(GrantedLease { key: id.1, state: allowed, flags: lease_flags, epoch, version, parent_key }),
                })
            }
        }
    }

    /// Whether any open (disconnected durable ones included) is of a file
    /// below directory `dir_key`: such a directory may not be renamed.
    pub fn opens_below(&self, share: &str, dir_key: &str) -> bool {
        let prefix = format!("{dir_key}\\");
        self.by_path.keys().any(|(s, p)| s == share && p.starts_with(&prefix))
    }

    /// Whether lease `lid` is held on a file other than `path_key`.
    pub fn lease_elsewhere(&self, lid: &LeaseId, share: &str, path_key: &str) -> bool {
        let Some(l) = self.leases.get(lid) else { return false };
        l.share != share || !self.lease_entry_ids(*lid).iter().any(|id| self.entries[id].path_key == path_key)
    }

    /// The delete of `entry`'s file was set pending (or cleared) through it.
    pub fn set_delete_pending(&mut self, entry: u64, pending: bool) {
        let Some(e) = self.entries.get_mut(&entry) else { return };
        e.delete_on_close = pending;
        let k = (e.share.clone(), e.ino);
        if pending {
            self.delete_pending.insert(k);
        } else {
            self.delete_pending.remove(&k);
        }
    }

    /// A rename through `entry` moved the file: the file's entries and
    /// leases follow the new path.
    pub fn renamed(&mut self, entry: u64, new_path: &str) {
        let Some(e) = self.entries.get(&entry) else { return };
        let (share, ino, old_key) = (e.share.clone(), e.ino, e.path_key.clone());
        let share = share.as_str();
        let key = path_key(new_path);
        let mut moved: Vec<(u64, String)> = self.entry_ids_on_ino(share, ino).into_iter().map(|id| (id, key.clone())).collect();
        // The file's streams (`file:stream`) move with it.
        let prefix = format!("{old_key}:");
        for ((s, p), ids) in &self.by_path {
            if s == share && p.starts_with(&prefix) {
                moved.extend(ids.iter().map(|&id| (id, format!("{key}{}", &p[old_key.len()..]))));
            }
        }
        for (id, new_key) in moved {
            let e = self.entries.get_mut(&id).expect("indexed");
            let old = std::mem::replace(&mut e.path_key, new_key.clone());
            unindex(&mut self.by_path, (share.to_string(), old), id);
            self.by_path.entry((share.to_string(), new_key)).or_default().insert(id);
        }
    }

    /// The opens that hold lease `lid` (all on its file).
    fn lease_entry_ids(&self, lid: LeaseId) -> Vec<u64> {
        let Some(l) = self.leases.get(&lid) else { return Vec::new() };
        self.entry_ids_on_ino(&l.share, l.ino).into_iter().filter(|id| self.entries[id].lease == Some(lid)).collect()
    }
}

mod breaking;
#[cfg(test)]
mod tests;
