//! The handle record: what MS-SMB2 3.3.1.10 (Per Open) needs to rebuild a
//! durable or persistent Open on another host, and its byte encoding
//! (version [`RECORD_VERSION`], laid out in `docs/handle-table.md`).
//!
//! The encoding is canonical: a fixed part at fixed offsets, then the four
//! length-prefixed variable fields. Every length is bounded, every flag bit
//! and enumerated value is checked, and `decode(b) == Ok(r)` implies
//! `encode(r) == b`.

use super::HandleError;

/// Version of the record encoding, its first two bytes.
pub const RECORD_VERSION: u16 = 1;
/// Longest share name, in bytes of UTF-8.
pub const SHARE_BYTES_MAX: usize = 80;
/// Longest path below the share root, in bytes of UTF-8.
pub const PATH_BYTES_MAX: usize = 2048;
/// Longest durable owner ("DOMAIN\\user"), in bytes of UTF-8.
pub const OWNER_BYTES_MAX: usize = 256;
/// Most byte-range locks one record holds.
pub const LOCKS_MAX: usize = 64;
/// Entries of the lock-sequence array (MS-SMB2 LockSequenceArray).
pub const LOCK_SEQUENCE_ENTRIES: usize = 64;
/// Size of the fixed part of a record, before the variable fields.
pub const RECORD_FIXED_BYTES: usize = 229;
/// Size of one encoded byte-range lock.
pub const LOCK_BYTES: usize = 17;
/// Largest encoded record: the fixed part plus every variable field at its bound.
pub const RECORD_BYTES_MAX: usize =
    RECORD_FIXED_BYTES + 2 + SHARE_BYTES_MAX + 2 + PATH_BYTES_MAX + 2 + OWNER_BYTES_MAX + 2 + LOCKS_MAX * LOCK_BYTES;

/// `oplock_level` values (MS-SMB2 2.2.13 RequestedOplockLevel).
pub mod oplock {
    pub const NONE: u8 = 0x00;
    pub const LEVEL_II: u8 = 0x01;
    pub const EXCLUSIVE: u8 = 0x08;
    pub const BATCH: u8 = 0x09;
    /// The open holds a lease; `HandleRecord::lease` is `Some`.
    pub const LEASE: u8 = 0xFF;
}

/// Lock-sequence entry bits: bit 7 Valid, bits 0-3 SequenceNumber.
pub const LOCK_SEQUENCE_VALID: u8 = 0x80;
pub const LOCK_SEQUENCE_NUMBER_MASK: u8 = 0x0F;

// Bits of the record's flags byte (offset 3).
const FLAG_DURABLE: u8 = 0x01;
const FLAG_PERSISTENT: u8 = 0x02;
const FLAG_REPLAY_ELIGIBLE: u8 = 0x04;
const FLAG_DELETE_ON_CLOSE: u8 = 0x08;
const FLAG_LEASE: u8 = 0x10;
const FLAGS_KNOWN: u8 = FLAG_DURABLE | FLAG_PERSISTENT | FLAG_REPLAY_ELIGIBLE | FLAG_DELETE_ON_CLOSE | FLAG_LEASE;

/// Offset of `persistent_id` in an encoded record: the table patches it in
/// after choosing the slot, so the record is encoded before the slot is known.
pub(crate) const PERSISTENT_ID_OFFSET: usize = 4;
const LEASE_OFFSET: usize = 186;
const LEASE_BYTES: usize = RECORD_FIXED_BYTES - LEASE_OFFSET;

/// An SMB2 lease (MS-SMB2 3.3.1.4) as the open holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lease {
    pub key: [u8; 16],
    /// Zero when the lease has no parent (version 1 leases never have one).
    pub parent_key: [u8; 16],
    /// SMB2_LEASE_READ_CACHING (1) | HANDLE_CACHING (2) | WRITE_CACHING (4).
    pub state: u32,
    pub epoch: u16,
    /// Lease version: 1 or 2.
    pub version: u8,
    /// SMB2_LEASE_FLAG_* of the lease.
    pub flags: u32,
}

/// One byte-range lock held through the open.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ByteRangeLock {
    pub offset: u64,
    pub length: u64,
    pub exclusive: bool,
}

/// Everything persisted about one durable or persistent open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandleRecord {
    /// The open's DurableFileId (the persistent half of its SMB2 FileId).
    /// Assigned by `HandleTable::put`; never 0 in the table.
    pub persistent_id: u64,
    /// The file's inode number in the share volume.
    pub ino: u64,
    pub share: String,
    /// Path below the share root, as the client named it.
    pub path: String,
    pub create_guid: [u8; 16],
    pub client_guid: [u8; 16],
    pub app_instance_id: [u8; 16],
    pub app_instance_version_high: u64,
    pub app_instance_version_low: u64,
    /// The user the open belongs to, e.g. "DOMAIN\\user".
    pub durable_owner: String,
    pub granted_access: u32,
    pub share_access: u32,
    pub create_options: u32,
    pub create_disposition: u32,
    pub create_action: u32,
    pub file_attributes: u32,
    /// One of [`oplock`]; [`oplock::LEASE`] exactly when `lease` is `Some`.
    pub oplock_level: u8,
    pub lease: Option<Lease>,
    pub is_durable: bool,
    pub is_persistent: bool,
    /// How long a disconnected open is kept, in milliseconds.
    pub timeout_ms: u32,
    /// Wall-clock time of the disconnect, unix milliseconds; 0 = connected.
    pub disconnect_time_unix_ms: u64,
    pub channel_sequence: u16,
    /// Per entry: bit 7 Valid, bits 0-3 SequenceNumber; bits 4-6 are zero.
    pub lock_sequence: [u8; LOCK_SEQUENCE_ENTRIES],
    pub is_replay_eligible: bool,
    pub byte_range_locks: Vec<ByteRangeLock>,
    pub delete_on_close: bool,
}

impl Default for HandleRecord {
    fn default() -> Self {
        HandleRecord {
            persistent_id: 0,
            ino: 0,
            share: String::new(),
            path: String::new(),
            create_guid: [0; 16],
            client_guid: [0; 16],
            app_instance_id: [0; 16],
            app_instance_version_high: 0,
            app_instance_version_low: 0,
            durable_owner: String::new(),
            granted_access: 0,
            share_access: 0,
            create_options: 0,
            create_disposition: 0,
            create_action: 0,
            file_attributes: 0,
            oplock_level: oplock::NONE,
            lease: None,
            is_durable: false,
            is_persistent: false,
            timeout_ms: 0,
            disconnect_time_unix_ms: 0,
            channel_sequence: 0,
            lock_sequence: [0; LOCK_SEQUENCE_ENTRIES],
            is_replay_eligible: false,
            byte_range_locks: Vec::new(),
            delete_on_close: false,
        }
    }
}

fn too_large(field: &str, len: usize, max: usize, unit: &str) -> HandleError {
    HandleError::TooLarge(format!(
        "handle record field {field} has {len} {unit}, the limit is {max}; the record is refused, never truncated"
    ))
}

fn corrupt(what: impl std::fmt::Display) -> HandleError {
    HandleError::Corrupt(format!("handle record: {what}"))
}

impl HandleRecord {
    /// The absolute wall-clock deadline (unix ms) of a disconnected open:
    /// disconnect time + timeout. `None` while connected.
    pub fn expires_at_unix_ms(&self) -> Option<u64> {
        if self.disconnect_time_unix_ms == 0 {
            None
        } else {
            Some(self.disconnect_time_unix_ms.saturating_add(self.timeout_ms as u64))
        }
    }

    /// Encodes the record alone (no slot header).
    pub fn encode(&self) -> Result<Vec<u8>, HandleError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Exact encoded size. Meaningful once [`HandleRecord::validate`] passed.
    pub fn encoded_len(&self) -> usize {
        RECORD_FIXED_BYTES
            + 2
            + self.share.len()
            + 2
            + self.path.len()
            + 2
            + self.durable_owner.len()
            + 2
            + self.byte_range_locks.len() * LOCK_BYTES
    }

    /// Checks every bound and value rule of the encoding.
    pub fn validate(&self) -> Result<(), HandleError> {
        if self.share.len() > SHARE_BYTES_MAX {
            return Err(too_large("share", self.share.len(), SHARE_BYTES_MAX, "bytes"));
        }
        if self.path.len() > PATH_BYTES_MAX {
            return Err(too_large("path", self.path.len(), PATH_BYTES_MAX, "bytes"));
        }
        if self.durable_owner.len() > OWNER_BYTES_MAX {
            return Err(too_large("durable_owner", self.durable_owner.len(), OWNER_BYTES_MAX, "bytes"));
        }
        if self.byte_range_locks.len() > LOCKS_MAX {
            return Err(too_large("byte_range_locks", self.byte_range_locks.len(), LOCKS_MAX, "locks"));
        }
        check_oplock(self.oplock_level, self.lease.as_ref()).map_err(HandleError::Invalid)?;
        check_lock_sequence(&self.lock_sequence).map_err(HandleError::Invalid)?;
        Ok(())
    }

    /// Appends the encoding to `out` (which may already hold a slot header).
    /// Validates first, so nothing is appended on error.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), HandleError> {
        self.validate()?;
        let start = out.len();
        out.reserve(self.encoded_len());
        out.extend_from_slice(&RECORD_VERSION.to_le_bytes());
        out.push(self.oplock_level);
        let mut flags = 0u8;
        if self.is_durable {
            flags |= FLAG_DURABLE;
        }
        if self.is_persistent {
            flags |= FLAG_PERSISTENT;
        }
        if self.is_replay_eligible {
            flags |= FLAG_REPLAY_ELIGIBLE;
        }
        if self.delete_on_close {
            flags |= FLAG_DELETE_ON_CLOSE;
        }
        if self.lease.is_some() {
            flags |= FLAG_LEASE;
        }
        out.push(flags);
        out.extend_from_slice(&self.persistent_id.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.create_guid);
        out.extend_from_slice(&self.client_guid);
        out.extend_from_slice(&self.app_instance_id);
        out.extend_from_slice(&self.app_instance_version_high.to_le_bytes());
        out.extend_from_slice(&self.app_instance_version_low.to_le_bytes());
        for v in [
            self.granted_access,
            self.share_access,
            self.create_options,
            self.create_disposition,
            self.create_action,
            self.file_attributes,
            self.timeout_ms,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.disconnect_time_unix_ms.to_le_bytes());
        out.extend_from_slice(&self.channel_sequence.to_le_bytes());
        out.extend_from_slice(&self.lock_sequence);
        debug_assert_eq!(out.len() - start, LEASE_OFFSET);
        match &self.lease {
            Some(l) => {
                out.extend_from_slice(&l.key);
                out.extend_from_slice(&l.parent_key);
                out.extend_from_slice(&l.state.to_le_bytes());
                out.extend_from_slice(&l.flags.to_le_bytes());
                out.extend_from_slice(&l.epoch.to_le_bytes());
                out.push(l.version);
            }
            None => out.resize(out.len() + LEASE_BYTES, 0),
        }
        debug_assert_eq!(out.len() - start, RECORD_FIXED_BYTES);
        for s in [&self.share, &self.path, &self.durable_owner] {
            out.extend_from_slice(&(s.len() as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&(self.byte_range_locks.len() as u16).to_le_bytes());
        for l in &self.byte_range_locks {
            out.extend_from_slice(&l.offset.to_le_bytes());
            out.extend_from_slice(&l.length.to_le_bytes());
            out.push(l.exclusive as u8);
        }
        debug_assert_eq!(out.len() - start, self.encoded_len());
        Ok(())
    }

    /// Decodes one record; the slice must be exactly one record. Any
    /// deviation from the canonical encoding is `Corrupt`; never panics.
    pub fn decode(b: &[u8]) -> Result<HandleRecord, HandleError> {
        if b.len() > RECORD_BYTES_MAX {
            return Err(corrupt(format_args!("{} bytes, more than the largest record ({RECORD_BYTES_MAX})", b.len())));
        }
        let mut r = Reader { b, pos: 0 };
        let version = r.u16()?;
        if version != RECORD_VERSION {
            return Err(corrupt(format_args!("record version {version}, this build reads {RECORD_VERSION}")));
        }
        let oplock_level = r.u8()?;
        let flags = r.u8()?;
        if flags & !FLAGS_KNOWN != 0 {
            return Err(corrupt(format_args!("unknown flag bits 0x{:02x}", flags & !FLAGS_KNOWN)));
        }
        let persistent_id = r.u64()?;
        let ino = r.u64()?;
        let create_guid = r.arr16()?;
        let client_guid = r.arr16()?;
        let app_instance_id = r.arr16()?;
        let app_instance_version_high = r.u64()?;
        let app_instance_version_low = r.u64()?;
        let granted_access = r.u32()?;
        let share_access = r.u32()?;
        let create_options = r.u32()?;
        let create_disposition = r.u32()?;
        let create_action = r.u32()?;
        let file_attributes = r.u32()?;
        let timeout_ms = r.u32()?;
        let disconnect_time_unix_ms = r.u64()?;
        let channel_sequence = r.u16()?;
        let mut lock_sequence = [0u8; LOCK_SEQUENCE_ENTRIES];
        lock_sequence.copy_from_slice(r.take(LOCK_SEQUENCE_ENTRIES)?);
        check_lock_sequence(&lock_sequence).map_err(corrupt)?;
        let lease = if flags & FLAG_LEASE != 0 {
            let key = r.arr16()?;
            let parent_key = r.arr16()?;
            let state = r.u32()?;
            let lflags = r.u32()?;
            let epoch = r.u16()?;
            let version = r.u8()?;
            Some(Lease { key, parent_key, state, epoch, version, flags: lflags })
        } else {
            if r.take(LEASE_BYTES)?.iter().any(|&x| x != 0) {
                return Err(corrupt("lease bytes are not zero although the record has no lease"));
            }
            None
        };
        check_oplock(oplock_level, lease.as_ref()).map_err(corrupt)?;
        let share = r.string("share", SHARE_BYTES_MAX)?;
        let path = r.string("path", PATH_BYTES_MAX)?;
        let durable_owner = r.string("durable_owner", OWNER_BYTES_MAX)?;
        let count = r.u16()? as usize;
        if count > LOCKS_MAX {
            return Err(corrupt(format_args!("{count} byte-range locks, the limit is {LOCKS_MAX}")));
        }
        let mut byte_range_locks = Vec::with_capacity(count);
        for i in 0..count {
            let offset = r.u64()?;
            let length = r.u64()?;
            let exclusive = match r.u8()? {
                0 => false,
                1 => true,
                v => return Err(corrupt(format_args!("byte-range lock {i}: exclusive is {v}, not 0 or 1"))),
            };
            byte_range_locks.push(ByteRangeLock { offset, length, exclusive });
        }
        if r.pos != b.len() {
            return Err(corrupt(format_args!("{} bytes after the end of the record", b.len() - r.pos)));
        }
        Ok(HandleRecord {
            persistent_id,
            ino,
            share,
            path,
            create_guid,
            client_guid,
            app_instance_id,
            app_instance_version_high,
            app_instance_version_low,
            durable_owner,
            granted_access,
            share_access,
            create_options,
            create_disposition,
            create_action,
            file_attributes,
            oplock_level,
            lease,
            is_durable: flags & FLAG_DURABLE != 0,
            is_persistent: flags & FLAG_PERSISTENT != 0,
            timeout_ms,
            disconnect_time_unix_ms,
            channel_sequence,
            lock_sequence,
            is_replay_eligible: flags & FLAG_REPLAY_ELIGIBLE != 0,
            byte_range_locks,
            delete_on_close: flags & FLAG_DELETE_ON_CLOSE != 0,
        })
    }
}

fn check_oplock(level: u8, lease: Option<&Lease>) -> Result<(), String> {
    match (level, lease) {
        (oplock::LEASE, Some(l)) if l.version == 1 || l.version == 2 => Ok(()),
        (oplock::LEASE, Some(l)) => Err(format!("lease version {}, not 1 or 2", l.version)),
        (oplock::LEASE, None) => Err("oplock_level is LEASE (0xFF) but the record has no lease".into()),
        (oplock::NONE | oplock::LEVEL_II | oplock::EXCLUSIVE | oplock::BATCH, None) => Ok(()),
        (oplock::NONE | oplock::LEVEL_II | oplock::EXCLUSIVE | oplock::BATCH, Some(_)) => {
            Err(format!("the record has a lease but oplock_level is 0x{level:02x}, not LEASE (0xFF)"))
        }
        _ => Err(format!("oplock_level 0x{level:02x} is not 0x00, 0x01, 0x08, 0x09 or 0xFF")),
    }
}

fn check_lock_sequence(seq: &[u8; LOCK_SEQUENCE_ENTRIES]) -> Result<(), String> {
    match seq.iter().position(|&e| e & !(LOCK_SEQUENCE_VALID | LOCK_SEQUENCE_NUMBER_MASK) != 0) {
        Some(i) => Err(format!("lock_sequence[{i}] is 0x{:02x}: bits 4-6 must be zero", seq[i])),
        None => Ok(()),
    }
}

/// Bounds-checked little-endian reader over device bytes.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HandleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| {
            corrupt(format_args!("ends at byte {} while {} more bytes were expected at offset {}", self.b.len(), n, self.pos))
        })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], HandleError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, HandleError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, HandleError> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, HandleError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, HandleError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn arr16(&mut self) -> Result<[u8; 16], HandleError> {
        self.arr()
    }
    fn string(&mut self, field: &str, max: usize) -> Result<String, HandleError> {
        let len = self.u16()? as usize;
        if len > max {
            return Err(corrupt(format_args!("{field} of {len} bytes, the limit is {max}")));
        }
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(corrupt(format_args!("{field} is not UTF-8 ({e})"))),
        }
    }
}
