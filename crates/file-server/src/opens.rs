//! The opens of one mounted volume: sharing checks between them, byte-range
//! locks and delete-on-close. Pure state; the volume calls it under a lock
//! and does the I/O (removing a file whose last open closed) itself.
//!
//! A persistent handle whose client is gone stays here as a *disconnected*
//! open: it keeps its share access, so a conflicting open gets
//! STATUS_FILE_NOT_AVAILABLE until the handle is reclaimed or expires.

use std::collections::{HashMap, HashSet};

use holdfast_types::ntstatus::NtStatus;

use crate::access::{may_read, may_write, sharing_conflict};

/// Opens one volume holds at once, connected and disconnected.
pub const OPENS_MAX: usize = 65_536;
/// Byte-range locks on one file.
pub const LOCKS_PER_FILE_MAX: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub fid: u64,
    pub ino: u64,
    pub share: String,
    /// Specific rights (generic ones already mapped).
    pub access: u32,
    pub share_access: u32,
    pub delete_on_close: bool,
    /// The persistent handle this open belongs to; 0 for none.
    pub persistent_id: u64,
    pub disconnected: bool,
}

impl Open {
    /// The open a persistent handle record stands for.
    pub fn from_record(rec: &holdfast_objfs::handles::HandleRecord, fid: u64, disconnected: bool) -> Open {
        Open {
            fid,
            ino: rec.ino,
            share: rec.share.clone(),
            access: crate::access::map_generic(rec.granted_access),
            share_access: rec.share_access,
            delete_on_close: rec.delete_on_close,
            persistent_id: rec.persistent_id,
            disconnected,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteLock {
    pub fid: u64,
    pub owner: u64,
    pub offset: u64,
    pub length: u64,
    pub exclusive: bool,
}

/// MS-FSA 2.1.5.7: a range whose last byte would pass 2^64 - 1 is
/// refused (a zero-length range is always valid).
pub fn byte_range_valid(offset: u64, length: u64) -> bool {
    length == 0 || length - 1 <= u64::MAX - offset
}

/// MS-FSA 2.1.4.10: two ranges conflict when neither starts after the
/// other's last byte. A zero-length range at `o` has its last byte at
/// `o - 1`, so it meets a lock that spans `o` from below but not one that
/// starts at `o`; the range {0, 0} meets nothing.
pub fn ranges_overlap(offset: u64, length: u64, other_offset: u64, other_length: u64) -> bool {
    if (offset == 0 && length == 0) || (other_offset == 0 && other_length == 0) {
        return false;
    }
    // An invalid range (only a READ or WRITE can pass one) reaches the end.
    let last = |o: u64, l: u64| match l {
        0 => o - 1,
        _ if byte_range_valid(o, l) => o + (l - 1),
        _ => u64::MAX,
    };
    offset <= last(other_offset, other_length) && other_offset <= last(offset, length)
}

impl ByteLock {
    fn overlaps(&self, offset: u64, length: u64) -> bool {
        ranges_overlap(self.offset, self.length, offset, length)
    }

    /// Whether a new lock conflicts with this one: shared locks never
    /// conflict with each other, and a shared lock may stack on the same
    /// open's exclusive lock (as Windows and Samba allow).
    fn blocks_lock(&self, fid: u64, owner: u64, offset: u64, length: u64, exclusive: bool) -> bool {
        if !self.exclusive && !exclusive {
            return false;
        }
        if self.exclusive && !exclusive && self.fid == fid && self.owner == owner {
            return false;
        }
        self.overlaps(offset, length)
    }

    /// Whether a READ (`write` false) or WRITE through `fid` conflicts
    /// with this lock (MS-FSA 2.1.4.10): another open's lock blocks writes,
    /// and reads if exclusive; the open's own shared lock blocks its writes.
    fn blocks_io(&self, fid: u64, offset: u64, length: u64, write: bool) -> bool {
        if !self.exclusive && !write {
            return false;
        }
        if !self.overlaps(offset, length) {
            return false;
        }
        self.fid != fid || (!self.exclusive && write)
    }
}

/// What closing an open left to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub open: Open,
    /// The file's last open closed with its delete pending: remove it now.
    pub remove: bool,
}

#[derive(Default)]
pub struct OpenTable {
    opens: HashMap<u64, Open>,
    by_ino: HashMap<u64, Vec<u64>>,
    by_persistent: HashMap<u64, u64>,
    locks: HashMap<u64, Vec<ByteLock>>,
    delete_pending: HashSet<u64>,
}

impl OpenTable {
    pub fn get(&self, fid: u64) -> Result<&Open, NtStatus> {
        match self.opens.get(&fid) {
            Some(o) if !o.disconnected => Ok(o),
            _ => Err(NtStatus::FILE_CLOSED),
        }
    }

    pub fn fids(&self) -> Vec<u64> {
        self.opens.keys().copied().collect()
    }

    pub fn open_of(&self, fid: u64) -> Option<&Open> {
        self.opens.get(&fid)
    }

    pub fn len(&self) -> usize {
        self.opens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.opens.is_empty()
    }

    pub fn fid_of_persistent(&self, persistent_id: u64) -> Option<u64> {
        self.by_persistent.get(&persistent_id).copied()
    }

    pub fn opens_of(&self, ino: u64) -> usize {
        self.by_ino.get(&ino).map_or(0, |v| v.len())
    }

    /// Every open of `ino`, disconnected ones included.
    pub fn of_ino(&self, ino: u64) -> impl Iterator<Item = &Open> {
        self.by_ino.get(&ino).into_iter().flatten().filter_map(|fid| self.opens.get(fid))
    }

    pub fn is_delete_pending(&self, ino: u64) -> bool {
        self.delete_pending.contains(&ino)
    }

    /// Checks `open` against the file's other opens and adds it.
    pub fn add(&mut self, open: Open) -> Result<(), NtStatus> {
        if self.opens.len() >= OPENS_MAX {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        assert!(!self.opens.contains_key(&open.fid), "fids are unique");
        if self.delete_pending.contains(&open.ino) {
            return Err(NtStatus::DELETE_PENDING);
        }
        self.check_sharing(open.ino, open.access, open.share_access, None)?;
        self.insert(open);
        Ok(())
    }

    fn check_sharing(&self, ino: u64, access: u32, share_access: u32, except: Option<u64>) -> Result<(), NtStatus> {
        for fid in self.by_ino.get(&ino).into_iter().flatten() {
            if Some(*fid) == except {
                continue;
            }
            let e = &self.opens[fid];
            if sharing_conflict(e.access, e.share_access, access, share_access) {
                return Err(if e.disconnected { NtStatus::FILE_NOT_AVAILABLE } else { NtStatus::SHARING_VIOLATION });
            }
        }
        Ok(())
    }

    fn insert(&mut self, open: Open) {
        self.by_ino.entry(open.ino).or_default().push(open.fid);
        if open.persistent_id != 0 {
            self.by_persistent.insert(open.persistent_id, open.fid);
        }
        self.opens.insert(open.fid, open);
    }

    /// A disconnected persistent handle found in the table at mount. It is
    /// added without a sharing check: it was granted before.
    pub fn add_disconnected(&mut self, open: Open) {
        assert!(open.disconnected && open.persistent_id != 0);
        if self.by_persistent.contains_key(&open.persistent_id) {
            return;
        }
        self.insert(open);
    }

    pub fn link_persistent(&mut self, fid: u64, persistent_id: u64) -> Result<(), NtStatus> {
        let o = self.opens.get_mut(&fid).ok_or(NtStatus::FILE_CLOSED)?;
        if o.persistent_id != 0 && o.persistent_id != persistent_id {
            self.by_persistent.remove(&o.persistent_id);
        }
        o.persistent_id = persistent_id;
        self.by_persistent.insert(persistent_id, fid);
        Ok(())
    }

    /// The client of a persistent open went away: its open stays, blocking
    /// conflicting opens, until reclaimed or expired.
    pub fn disconnect(&mut self, persistent_id: u64) {
        if let Some(fid) = self.by_persistent.get(&persistent_id) {
            if let Some(o) = self.opens.get_mut(fid) {
                o.disconnected = true;
            }
        }
    }

    /// Reclaims a disconnected persistent open; returns its fid.
    pub fn reconnect(&mut self, persistent_id: u64) -> Option<u64> {
        let fid = *self.by_persistent.get(&persistent_id)?;
        self.opens.get_mut(&fid)?.disconnected = false;
        Some(fid)
    }

    pub fn set_delete_on_close(&mut self, fid: u64, on: bool) -> Result<(), NtStatus> {
        let o = self.opens.get_mut(&fid).ok_or(NtStatus::FILE_CLOSED)?;
        o.delete_on_close = on;
        let ino = o.ino;
        // FileDispositionInformation acts on the file at once (MS-FSA
        // 2.1.5.15.3): later opens see DELETE_PENDING.
        if on {
            self.delete_pending.insert(ino);
        } else {
            self.delete_pending.remove(&ino);
        }
        Ok(())
    }

    pub fn remove(&mut self, fid: u64) -> Result<Closed, NtStatus> {
        let open = self.opens.remove(&fid).ok_or(NtStatus::FILE_CLOSED)?;
        if let Some(v) = self.by_ino.get_mut(&open.ino) {
            v.retain(|&f| f != fid);
            if v.is_empty() {
                self.by_ino.remove(&open.ino);
            }
        }
        if open.persistent_id != 0 {
            self.by_persistent.remove(&open.persistent_id);
        }
        if let Some(l) = self.locks.get_mut(&open.ino) {
            l.retain(|x| x.fid != fid);
        }
        if open.delete_on_close {
            self.delete_pending.insert(open.ino);
        }
        let last = !self.by_ino.contains_key(&open.ino);
        let remove = last && self.delete_pending.remove(&open.ino);
        if last {
            self.locks.remove(&open.ino);
        }
        Ok(Closed { open, remove })
    }

    pub fn lock(&mut self, fid: u64, offset: u64, length: u64, exclusive: bool, owner: u64) -> Result<(), NtStatus> {
        let ino = self.get(fid)?.ino;
        if !byte_range_valid(offset, length) {
            return Err(NtStatus::INVALID_LOCK_RANGE);
        }
        let locks = self.locks.entry(ino).or_default();
        if locks.len() >= LOCKS_PER_FILE_MAX {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        // Locks stack (the same range may be locked again, and each lock
        // needs its own unlock); Windows never merges or upgrades them.
        if locks.iter().any(|l| l.blocks_lock(fid, owner, offset, length, exclusive)) {
            return Err(NtStatus::LOCK_NOT_GRANTED);
        }
        locks.push(ByteLock { fid, owner, offset, length, exclusive });
        Ok(())
    }

    pub fn unlock(&mut self, fid: u64, offset: u64, length: u64, owner: u64) -> Result<(), NtStatus> {
        let ino = self.get(fid)?.ino;
        let locks = self.locks.get_mut(&ino).ok_or(NtStatus::RANGE_NOT_LOCKED)?;
        let at = locks
            .iter()
            .position(|l| l.fid == fid && l.owner == owner && l.offset == offset && l.length == length)
            .ok_or(NtStatus::RANGE_NOT_LOCKED)?;
        locks.remove(at);
        Ok(())
    }

    /// Re-creates a byte-range lock a persistent handle recorded.
    pub fn restore_lock(&mut self, lock: ByteLock, ino: u64) {
        self.locks.entry(ino).or_default().push(lock);
    }

    pub fn locks_of(&self, fid: u64) -> Vec<ByteLock> {
        let Some(o) = self.opens.get(&fid) else { return Vec::new() };
        self.locks.get(&o.ino).map(|v| v.iter().filter(|l| l.fid == fid).copied().collect()).unwrap_or_default()
    }

    /// Checks a read or write against access rights and others' locks.
    pub fn check_io(&self, fid: u64, offset: u64, length: u64, write: bool) -> Result<&Open, NtStatus> {
        let o = self.get(fid)?;
        if (write && !may_write(o.access)) || (!write && !may_read(o.access)) {
            return Err(NtStatus::ACCESS_DENIED);
        }
        // A zero-byte READ or WRITE touches no byte, so no lock stops it.
        let conflict = length > 0 && self.locks.get(&o.ino).into_iter().flatten().any(|l| l.blocks_io(fid, offset, length, write));
        if conflict {
            return Err(NtStatus::FILE_LOCK_CONFLICT);
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::*;

    fn open(fid: u64, access: u32, share: u32) -> Open {
        Open { fid, ino: 7, share: "s".into(), access, share_access: share, delete_on_close: false, persistent_id: 0, disconnected: false }
    }

    #[test]
    fn sharing_and_disconnected_handles() {
        let mut t = OpenTable::default();
        t.add(open(1, FILE_READ_DATA | FILE_WRITE_DATA, FILE_SHARE_READ)).unwrap();
        assert_eq!(t.add(open(2, FILE_WRITE_DATA, 7)), Err(NtStatus::SHARING_VIOLATION));
        t.add(open(3, FILE_READ_DATA, 7)).unwrap();
        t.link_persistent(1, 99).unwrap();
        t.disconnect(99);
        assert_eq!(t.get(1), Err(NtStatus::FILE_CLOSED));
        assert_eq!(t.add(open(4, FILE_WRITE_DATA, 7)), Err(NtStatus::FILE_NOT_AVAILABLE));
        assert_eq!(t.reconnect(99), Some(1));
        assert_eq!(t.add(open(4, FILE_WRITE_DATA, 7)), Err(NtStatus::SHARING_VIOLATION));
    }

    #[test]
    fn delete_on_close_removes_at_last_close() {
        let mut t = OpenTable::default();
        t.add(open(1, DELETE | FILE_READ_DATA, 7)).unwrap();
        t.add(open(2, FILE_READ_DATA, 7)).unwrap();
        t.set_delete_on_close(1, true).unwrap();
        assert_eq!(t.add(open(3, FILE_READ_DATA, 7)), Err(NtStatus::DELETE_PENDING));
        assert!(!t.remove(1).unwrap().remove);
        assert!(t.remove(2).unwrap().remove);
        assert!(!t.is_delete_pending(7));
    }

    #[test]
    fn byte_range_locks() {
        let mut t = OpenTable::default();
        t.add(open(1, FILE_READ_DATA | FILE_WRITE_DATA, 7)).unwrap();
        t.add(open(2, FILE_READ_DATA | FILE_WRITE_DATA, 7)).unwrap();
        t.lock(1, 0, 100, true, 1).unwrap();
        assert_eq!(t.lock(2, 50, 10, false, 2), Err(NtStatus::LOCK_NOT_GRANTED));
        assert_eq!(t.check_io(2, 10, 1, false).err(), Some(NtStatus::FILE_LOCK_CONFLICT));
        assert!(t.check_io(1, 10, 1, true).is_ok());
        assert!(t.check_io(2, 100, 10, true).is_ok());
        t.lock(2, 200, 10, false, 2).unwrap();
        t.lock(1, 205, 10, false, 1).unwrap();
        assert_eq!(t.unlock(2, 0, 100, 2), Err(NtStatus::RANGE_NOT_LOCKED));
        t.unlock(1, 0, 100, 1).unwrap();
        t.lock(2, 50, 10, true, 2).unwrap();
        assert_eq!(t.lock(1, 2, u64::MAX, false, 1), Err(NtStatus::INVALID_LOCK_RANGE));
        assert!(t.lock(1, u64::MAX, 1, true, 1).is_ok(), "the last byte of the range is 2^64 - 1");
        assert!(t.lock(1, 0, 0, true, 1).is_ok(), "{{0, 0}} meets nothing");
        assert_eq!(t.lock(1, 55, 0, true, 1), Err(NtStatus::LOCK_NOT_GRANTED), "a zero-length lock inside a lock");
        assert!(t.lock(1, 50, 0, true, 1).is_ok(), "a zero-length lock where one starts");
    }

    #[test]
    fn own_locks_stack_and_own_shared_lock_blocks_writes() {
        let mut t = OpenTable::default();
        t.add(open(1, FILE_READ_DATA | FILE_WRITE_DATA, 7)).unwrap();
        t.add(open(2, FILE_READ_DATA | FILE_WRITE_DATA, 7)).unwrap();
        t.lock(1, 0, 10, true, 1).unwrap();
        assert!(t.check_io(1, 0, 10, true).is_ok(), "the open's own exclusive lock lets it write");
        t.lock(1, 0, 10, false, 1).unwrap();
        assert_eq!(t.lock(1, 0, 10, true, 1), Err(NtStatus::LOCK_NOT_GRANTED));
        assert_eq!(t.lock(2, 0, 10, false, 2), Err(NtStatus::LOCK_NOT_GRANTED));
        t.lock(1, 20, 10, false, 1).unwrap();
        assert_eq!(t.check_io(1, 20, 1, true).err(), Some(NtStatus::FILE_LOCK_CONFLICT));
        assert!(t.check_io(1, 20, 1, false).is_ok());
        assert!(t.check_io(2, 20, 1, false).is_ok());
        assert_eq!(t.check_io(1, 0, 10, true).err(), Some(NtStatus::FILE_LOCK_CONFLICT), "stacked shared lock");
        t.unlock(1, 0, 10, 1).unwrap();
        t.unlock(1, 0, 10, 1).unwrap();
        assert_eq!(t.unlock(1, 0, 10, 1), Err(NtStatus::RANGE_NOT_LOCKED));
    }
}
