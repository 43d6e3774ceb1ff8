//! The persistent-handle table of a share volume, laid out on the volume's
//! in-memory object (format: `docs/handle-table.md`).
//!
//! Block 0 is the table header; each following 4096-byte block is a slot
//! holding at most one [`HandleRecord`]. Every host keeps the object in RAM
//! and every write to it is replicated synchronously, so a handle `put` is
//! one device write, about one network round trip.
//!
//! The index (slots, free list, replay table) lives in memory: reads never
//! touch the device. A mutation writes first and changes the index only once
//! the write succeeded, so the index always equals what a remount would see
//! of the acknowledged mutations. Mutations of one slot are serialized by a
//! per-slot async lock; a put takes a slot off the free list, so nothing
//! else can write that slot until the put finished.
//!
//! A planned whole-cluster stop parks the table into an image kept on the
//! persistent volume, and the restart restores it into the reset object
//! (`park.rs`).

pub mod fuzzing;
mod layout;
mod park;
mod record;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use holdfast_types::limits::IO_BYTES_MAX;
use holdfast_types::ntstatus::NtStatus;
use holdfast_types::HoldfastError;

use crate::device::Device;
use crate::names::fold;

pub use layout::{
    make_id, next_generation, split_id, TableHeader, HEADER_BYTES, ID_GENERATION_MAX, REUSE_MAX, SLOT_BYTES,
    SLOT_COUNT_MAX, SLOT_HEADER_BYTES, SLOT_RECORD_BYTES_MAX, TABLE_MAGIC, TABLE_VERSION,
};
pub use park::{
    parse_park_image, ParkImage, PARK_CRC_BYTES, PARK_ENTRY_HEADER_BYTES, PARK_HEADER_BYTES, PARK_IMAGE_BYTES_MAX,
    PARK_MAGIC, PARK_VERSION,
};
pub use record::{
    oplock, ByteRangeLock, HandleRecord, Lease, LOCKS_MAX, LOCK_SEQUENCE_ENTRIES, LOCK_SEQUENCE_NUMBER_MASK,
    LOCK_SEQUENCE_VALID, OWNER_BYTES_MAX, PATH_BYTES_MAX,
    RECORD_BYTES_MAX, RECORD_VERSION, SHARE_BYTES_MAX,
};

use layout::{hex, parse_slot, slot_offset, SlotContent};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("handle table is not formatted (its header block is all zero)")]
    NotFormatted,
    #[error("foreign handle table: {0}")]
    Foreign(String),
    #[error("corrupt handle table: {0}")]
    Corrupt(String),
    #[error("handle table full: {0}")]
    Full(String),
    #[error("handle record too large: {0}")]
    TooLarge(String),
    #[error("no handle with persistent id 0x{0:016x}")]
    NotFound(u64),
    #[error("a handle with this ClientGuid and CreateGuid is already in the table")]
    Exists,
    #[error("invalid handle record: {0}")]
    Invalid(String),
    #[error("handle table device: {0}")]
    Device(#[from] HoldfastError),
}

impl HandleError {
    /// The NTSTATUS the SMB service answers with.
    pub fn status(&self) -> NtStatus {
        match self {
            HandleError::NotFound(_) => NtStatus::OBJECT_NAME_NOT_FOUND,
            HandleError::Full(_) | HandleError::TooLarge(_) => NtStatus::INSUFFICIENT_RESOURCES,
            HandleError::Exists => NtStatus::OBJECT_NAME_COLLISION,
            HandleError::Device(_) => NtStatus::UNEXPECTED_IO_ERROR,
            HandleError::Corrupt(_) | HandleError::Foreign(_) | HandleError::NotFormatted => {
                NtStatus::FILE_CORRUPT_ERROR
            }
            HandleError::Invalid(_) => NtStatus::INVALID_PARAMETER,
        }
    }
}

/// (ClientGuid, CreateGuid): the key of the replay table.
type ReplayKey = ([u8; 16], [u8; 16]);

/// The replay key of a record, if it has one (both GUIDs non-zero).
fn replay_key(client_guid: &[u8; 16], create_guid: &[u8; 16]) -> Option<ReplayKey> {
    if *client_guid == [0; 16] || *create_guid == [0; 16] {
        None
    } else {
        Some((*client_guid, *create_guid))
    }
}

fn record_key(r: &HandleRecord) -> Option<ReplayKey> {
    replay_key(&r.client_guid, &r.create_guid)
}

/// Slots per read or write of the slot area (mount, check, format,
/// restore): as many as fit in the largest I/O.
const IO_SLOTS_MAX: u64 = IO_BYTES_MAX / SLOT_BYTES;
const _: () = assert!(IO_SLOTS_MAX >= 1 && IO_SLOTS_MAX * SLOT_BYTES == IO_BYTES_MAX);

/// What [`HandleTable::format`] lays out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableFormat {
    pub volume_id: [u8; 16],
    /// Wall-clock time of the format, unix ms (`created_unix_ms`).
    pub now_unix_ms: u64,
    /// The directory's reset counter of the object, recorded in the header.
    pub incarnation: u32,
    /// High half of every slot generation the table will hand out. A format
    /// must use an id generation whose ids no client can still hold, so that
    /// no id handed out before it matches a record created after it.
    pub id_generation: u16,
}

/// The bytes of one slot to write when laying out a table: the slot's
/// header and record (at most a slot), padded with zeros to the slot.
struct SlotBytes<'a> {
    slot: u32,
    bytes: &'a [u8],
}

struct SlotState {
    /// The generation on the device: of the record if used, of the last
    /// record (kept by the delete) if free, 0 if never used.
    generation: u32,
    /// Boxed so an unused slot costs 16 bytes of RAM.
    record: Option<Box<HandleRecord>>,
}

struct State {
    slots: Vec<SlotState>,
    /// Free slots, oldest-freed first: a deleted slot is reused last.
    free: VecDeque<u32>,
    /// Replay key -> persistent id. Holds the keys of committed records and
    /// the keys reserved by puts and updates in flight (`find` checks the
    /// committed record, so a reservation is never returned).
    replay: HashMap<ReplayKey, u64>,
    used: usize,
    /// Per-slot async locks, present while someone holds or waits for one.
    locks: HashMap<u32, Arc<tokio::sync::Mutex<()>>>,
}

impl State {
    fn committed(&self, id: u64) -> Option<(u32, &HandleRecord)> {
        let (slot, generation) = split_id(id)?;
        let s = self.slots.get(slot as usize)?;
        match &s.record {
            Some(r) if s.generation == generation => Some((slot, r)),
            _ => None,
        }
    }
}

/// The persistent-handle table of one share volume, mounted.
pub struct HandleTable<D: Device> {
    dev: D,
    volume_id: [u8; 16],
    created_unix_ms: u64,
    incarnation: u32,
    id_generation: u16,
    slot_count: u32,
    state: Mutex<State>,
}

/// Undoes an unfinished mutation's reservations when dropped: on a failed
/// write, and when the caller's future is dropped mid-write.
struct Pending<'a> {
    state: &'a Mutex<State>,
    /// A put's slot, back to the free list.
    slot: Option<u32>,
    /// A reserved replay key, with the id it was reserved for.
    key: Option<(ReplayKey, u64)>,
}

impl Pending<'_> {
    fn disarm(mut self) {
        self.slot = None;
        self.key = None;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.slot.is_none() && self.key.is_none() {
            return;
        }
        let mut st = lock(self.state);
        if let Some(slot) = self.slot.take() {
            // Front: the slot's generation is unchanged, nothing was acknowledged.
            st.free.push_front(slot);
        }
        if let Some((key, id)) = self.key.take() {
            if st.replay.get(&key) == Some(&id) {
                st.replay.remove(&key);
            }
        }
    }
}

/// Holds one slot's async lock; removes the lock from the map when it was
/// the last user.
struct SlotLock<'a> {
    state: &'a Mutex<State>,
    slot: u32,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for SlotLock<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut st = lock(self.state);
        // One reference in the map, one here: nobody else waits.
        if Arc::strong_count(&self.mutex) == 2 {
            st.locks.remove(&self.slot);
        }
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state is only changed in short sections that do not panic; a
    // poisoned lock still holds a consistent state.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn read_exact<D: Device>(dev: &D, offset: u64, len: u64) -> Result<Vec<u8>, HandleError> {
    let b = dev.read(offset, len).await?;
    if b.len() as u64 != len {
        return Err(HandleError::Corrupt(format!(
            "device returned {} bytes for a read of {len} at {offset}",
            b.len()
        )));
    }
    Ok(b)
}

/// Reads and parses the header; checks it fits the device.
async fn read_header<D: Device>(dev: &D) -> Result<TableHeader, HandleError> {
    let size = dev.size_bytes();
    if size < HEADER_BYTES {
        return Err(HandleError::Corrupt(format!(
            "the object has {size} bytes, less than the {HEADER_BYTES}-byte table header"
        )));
    }
    let header = TableHeader::parse(&read_exact(dev, 0, HEADER_BYTES).await?)?;
    header.check_geometry(size)?;
    Ok(header)
}

/// Reads every slot in reads of at most `IO_BYTES_MAX`, calling `each` with
/// the slot number and its parse result.
async fn scan_slots<D: Device>(
    dev: &D,
    header: &TableHeader,
    mut each: impl FnMut(u32, Result<SlotContent, String>) -> Result<(), HandleError>,
) -> Result<(), HandleError> {
    let slot_count = header.slot_count;
    let mut first = 0u64;
    while first < slot_count as u64 {
        let n = IO_SLOTS_MAX.min(slot_count as u64 - first);
        let bytes = read_exact(dev, slot_offset(first as u32), n * SLOT_BYTES).await?;
        for (k, chunk) in bytes.chunks_exact(SLOT_BYTES as usize).enumerate() {
            let slot = (first + k as u64) as u32;
            each(slot, parse_slot(slot, header.id_generation, chunk))?;
        }
        first += n;
    }
    Ok(())
}

/// The number of slots `format` lays out on an object of `device_bytes`: as
/// many whole slots as fit after the header, at most [`SLOT_COUNT_MAX`].
fn format_slot_count(device_bytes: u64) -> Result<u32, HandleError> {
    if device_bytes < HEADER_BYTES + SLOT_BYTES {
        return Err(HandleError::Invalid(format!(
            "an object of {device_bytes} bytes cannot hold a handle table: it needs at least {} bytes (header + one slot)",
            HEADER_BYTES + SLOT_BYTES
        )));
    }
    Ok(((device_bytes - HEADER_BYTES) / SLOT_BYTES).min(SLOT_COUNT_MAX as u64) as u32)
}

/// Lays out a whole table: a zero header, then the slot area in writes of
/// at most `IO_BYTES_MAX` (each slot either zeros or its entry from `slots`
/// padded with zeros), then the header. The header goes last and is zeroed
/// first, so until the last write succeeds the table does not mount
/// (`NotFormatted`): an interrupted layout never looks like a table that
/// mixes old and new slots.
async fn write_table<D: Device>(dev: &D, header: &TableHeader, slots: &[SlotBytes<'_>]) -> Result<(), HandleError> {
    let slot_count = header.slot_count as u64;
    assert!(slot_offset(header.slot_count) <= dev.size_bytes(), "the caller checked the geometry");
    assert!(slots.windows(2).all(|w| w[0].slot < w[1].slot), "slot entries are in increasing slot order");
    assert!(slots.iter().all(|e| (e.slot as u64) < slot_count && e.bytes.len() as u64 <= SLOT_BYTES));
    let zeros = Bytes::from(vec![0u8; IO_BYTES_MAX as usize]);
    dev.write(0, zeros.slice(..HEADER_BYTES as usize)).await?;
    let mut rest = slots;
    let mut first = 0u64;
    while first < slot_count {
        let n = IO_SLOTS_MAX.min(slot_count - first);
        let here = rest.iter().take_while(|e| (e.slot as u64) < first + n).count();
        let (these, later) = rest.split_at(here);
        rest = later;
        let data = if these.is_empty() {
            zeros.slice(..(n * SLOT_BYTES) as usize)
        } else {
            let mut buf = vec![0u8; (n * SLOT_BYTES) as usize];
            for e in these {
                let at = ((e.slot as u64 - first) * SLOT_BYTES) as usize;
                buf[at..at + e.bytes.len()].copy_from_slice(e.bytes);
            }
            Bytes::from(buf)
        };
        dev.write(slot_offset(first as u32), data).await?;
        first += n;
    }
    debug_assert!(rest.is_empty());
    dev.write(0, Bytes::from(header.encode())).await?;
    Ok(())
}

fn slot_ids(slot: u32) -> String {
    format!("slot {slot} (offset {}, persistent ids 0x????????{:08x})", slot_offset(slot), slot as u64 + 1)
}

impl<D: Device> HandleTable<D> {
    /// Lays out an empty table on `dev`: as many slots as fit (at most
    /// [`SLOT_COUNT_MAX`]), all zeroed, in writes of at most `IO_BYTES_MAX`.
    /// Overwrites whatever was there; the header is zeroed first and written
    /// last, so an interrupted format leaves no table.
    pub async fn format(dev: &D, f: &TableFormat) -> Result<(), HandleError> {
        let slot_count = format_slot_count(dev.size_bytes())?;
        let header = TableHeader {
            slot_count,
            volume_id: f.volume_id,
            created_unix_ms: f.now_unix_ms,
            incarnation: f.incarnation,
            id_generation: f.id_generation,
        };
        write_table(dev, &header, &[]).await
    }

    /// Reads block 0 and parses it, without mounting: `NotFormatted` when it
    /// is all zero, and the same checks as `mount` except the volume id.
    pub async fn probe(dev: &D) -> Result<TableHeader, HandleError> {
        read_header(dev).await
    }

    /// Reads the header and every slot and builds the index.
    pub async fn mount(dev: D, volume_id: [u8; 16]) -> Result<HandleTable<D>, HandleError> {
        let header = read_header(&dev).await?;
        if header.volume_id != volume_id {
            return Err(HandleError::Foreign(format!(
                "the handle table belongs to volume {}, not to volume {}",
                hex(&header.volume_id),
                hex(&volume_id)
            )));
        }
        let n = header.slot_count as usize;
        let mut st = State {
            slots: Vec::with_capacity(n),
            free: VecDeque::with_capacity(n),
            replay: HashMap::new(),
            used: 0,
            locks: HashMap::new(),
        };
        scan_slots(&dev, &header, |slot, parsed| {
            match parsed {
                Err(reason) => return Err(HandleError::Corrupt(format!("{}: {reason}", slot_ids(slot)))),
                Ok(SlotContent::Free { generation }) => {
                    st.free.push_back(slot);
                    st.slots.push(SlotState { generation, record: None });
                }
                Ok(SlotContent::Used { generation, record }) => {
                    if let Some(key) = record_key(&record) {
                        if let Some(&other) = st.replay.get(&key) {
                            tracing::warn!(
                                slot,
                                first_id = other,
                                "two handles share ClientGuid {} CreateGuid {}; replay finds the first",
                                hex(&key.0),
                                hex(&key.1)
                            );
                        } else {
                            st.replay.insert(key, record.persistent_id);
                        }
                    }
                    st.used += 1;
                    st.slots.push(SlotState { generation, record: Some(record) });
                }
            }
            Ok(())
        })
        .await?;
        Ok(HandleTable {
            dev,
            volume_id,
            created_unix_ms: header.created_unix_ms,
            incarnation: header.incarnation,
            id_generation: header.id_generation,
            slot_count: header.slot_count,
            state: Mutex::new(st),
        })
    }

    pub fn device(&self) -> &D {
        &self.dev
    }

    pub fn volume_id(&self) -> [u8; 16] {
        self.volume_id
    }

    pub fn created_unix_ms(&self) -> u64 {
        self.created_unix_ms
    }

    /// The incarnation in the header: of the format or restore that laid
    /// the table out.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// The high half of every slot generation, so of every persistent id.
    pub fn id_generation(&self) -> u16 {
        self.id_generation
    }

    /// Number of slots: the most handles the table can hold.
    pub fn capacity(&self) -> usize {
        self.slot_count as usize
    }

    /// Number of handles in the table.
    pub fn len(&self) -> usize {
        lock(&self.state).used
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores a new handle with one device write and returns it with its
    /// assigned `persistent_id` (the one in `rec` is ignored).
    pub async fn put(&self, mut rec: HandleRecord) -> Result<HandleRecord, HandleError> {
        rec.persistent_id = 0;
        let mut buf = layout::new_slot_buffer();
        rec.encode_into(&mut buf)?;
        let key = record_key(&rec);
        let (slot, generation, pending) = {
            let mut st = lock(&self.state);
            if let Some(k) = key {
                if st.replay.contains_key(&k) {
                    return Err(HandleError::Exists);
                }
            }
            let Some(slot) = st.free.pop_front() else {
                return Err(HandleError::Full(format!(
                    "all {} slots hold a handle ({} bytes each); give the volume a larger handle_size setting \
                     to make the table bigger",
                    self.slot_count, SLOT_BYTES
                )));
            };
            let generation = next_generation(st.slots[slot as usize].generation, self.id_generation);
            let id = make_id(generation, slot);
            if let Some(k) = key {
                st.replay.insert(k, id);
            }
            (slot, generation, Pending { state: &self.state, slot: Some(slot), key: key.map(|k| (k, id)) })
        };
        layout::finish_used_slot(&mut buf, generation, slot)?;
        rec.persistent_id = make_id(generation, slot);
        self.dev.write(slot_offset(slot), Bytes::from(buf)).await?;
        {
            let mut st = lock(&self.state);
            st.slots[slot as usize] = SlotState { generation, record: Some(Box::new(rec.clone())) };
            st.used += 1;
        }
        pending.disarm();
        Ok(rec)
    }

    /// The handle with this persistent id.
    pub fn get(&self, persistent_id: u64) -> Result<HandleRecord, HandleError> {
        let st = lock(&self.state);
        st.committed(persistent_id).map(|(_, r)| r.clone()).ok_or(HandleError::NotFound(persistent_id))
    }

    /// The replay table: the handle opened by this client with this
    /// CreateGuid. `None` if either GUID is zero.
    pub fn find(&self, client_guid: [u8; 16], create_guid: [u8; 16]) -> Option<HandleRecord> {
        let key = replay_key(&client_guid, &create_guid)?;
        let st = lock(&self.state);
        let id = *st.replay.get(&key)?;
        let (_, r) = st.committed(id)?;
        (record_key(r) == Some(key)).then(|| r.clone())
    }

    /// Every handle of `share` (compared case-insensitively), by id.
    pub fn list(&self, share: &str) -> Vec<HandleRecord> {
        let want = fold(share);
        let st = lock(&self.state);
        let mut out: Vec<HandleRecord> = st
            .slots
            .iter()
            .filter_map(|s| s.record.as_deref())
            .filter(|r| r.share == share || fold(&r.share) == want)
            .cloned()
            .collect();
        out.sort_by_key(|r| r.persistent_id);
        out
    }

    /// Replaces the handle `rec.persistent_id` with `rec`: one device write.
    pub async fn update(&self, rec: HandleRecord) -> Result<(), HandleError> {
        let id = rec.persistent_id;
        let (slot, generation) = split_id(id).ok_or(HandleError::NotFound(id))?;
        if slot >= self.slot_count {
            return Err(HandleError::NotFound(id));
        }
        let mut buf = layout::new_slot_buffer();
        rec.encode_into(&mut buf)?;
        let _slot_lock = self.lock_slot(slot).await;
        let new_key = record_key(&rec);
        let (old_key, pending) = {
            let mut st = lock(&self.state);
            let (_, old) = st.committed(id).ok_or(HandleError::NotFound(id))?;
            let old_key = record_key(old);
            let mut pending = Pending { state: &self.state, slot: None, key: None };
            if new_key != old_key {
                if let Some(k) = new_key {
                    if st.replay.contains_key(&k) {
                        return Err(HandleError::Exists);
                    }
                    st.replay.insert(k, id);
                    pending.key = Some((k, id));
                }
            }
            (old_key, pending)
        };
        layout::finish_used_slot(&mut buf, generation, slot)?;
        self.dev.write(slot_offset(slot), Bytes::from(buf)).await?;
        {
            let mut st = lock(&self.state);
            if old_key != new_key {
                if let Some(k) = old_key {
                    if st.replay.get(&k) == Some(&id) {
                        st.replay.remove(&k);
                    }
                }
            }
            st.slots[slot as usize].record = Some(Box::new(rec));
        }
        pending.disarm();
        Ok(())
    }

    /// Removes the handle: one 512-byte write of a FREE slot header that
    /// keeps the generation, so the slot's next id differs.
    pub async fn delete(&self, persistent_id: u64) -> Result<(), HandleError> {
        let id = persistent_id;
        let (slot, generation) = split_id(id).ok_or(HandleError::NotFound(id))?;
        if slot >= self.slot_count {
            return Err(HandleError::NotFound(id));
        }
        let _slot_lock = self.lock_slot(slot).await;
        if lock(&self.state).committed(id).is_none() {
            return Err(HandleError::NotFound(id));
        }
        let sector = layout::free_slot_sector(generation, slot);
        self.dev.write(slot_offset(slot), Bytes::from(sector)).await?;
        let mut st = lock(&self.state);
        if let Some(old) = st.slots[slot as usize].record.take() {
            if let Some(k) = record_key(&old) {
                if st.replay.get(&k) == Some(&id) {
                    st.replay.remove(&k);
                }
            }
            st.used -= 1;
        }
        st.free.push_back(slot);
        Ok(())
    }

    /// Ids of the disconnected handles whose deadline
    /// (`disconnect_time_unix_ms + timeout_ms`) is at or before `now_unix_ms`.
    pub fn expired(&self, now_unix_ms: u64) -> Vec<u64> {
        let st = lock(&self.state);
        let mut out: Vec<u64> = st
            .slots
            .iter()
            .filter_map(|s| s.record.as_deref())
            .filter(|r| r.expires_at_unix_ms().is_some_and(|t| t <= now_unix_ms))
            .map(|r| r.persistent_id)
            .collect();
        out.sort_unstable();
        out
    }

    async fn lock_slot(&self, slot: u32) -> SlotLock<'_> {
        let mutex = {
            let mut st = lock(&self.state);
            st.locks.entry(slot).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))).clone()
        };
        let guard = mutex.clone().lock_owned().await;
        SlotLock { state: &self.state, slot, mutex, guard: Some(guard) }
    }
}

/// What [`check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandleCheckReport {
    /// One line per problem, naming the slot.
    pub problems: Vec<String>,
    /// Slots holding a valid record.
    pub used: usize,
    /// Slots that are free (all-zero or a FREE header).
    pub free: usize,
    /// Number of slots.
    pub capacity: usize,
    pub volume_id: [u8; 16],
    pub created_unix_ms: u64,
    pub incarnation: u32,
    pub id_generation: u16,
}

impl HandleCheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a handle table without mounting it (`holdfast fsck --handles`):
/// the header, then every slot (used, free or corrupt, with the reason),
/// then duplicate replay keys. A header that cannot be read is an error,
/// since without it no slot can be found; slot problems go in the report.
pub async fn check<D: Device>(dev: &D) -> Result<HandleCheckReport, HandleError> {
    let header = read_header(dev).await?;
    let mut report = HandleCheckReport {
        capacity: header.slot_count as usize,
        volume_id: header.volume_id,
        created_unix_ms: header.created_unix_ms,
        incarnation: header.incarnation,
        id_generation: header.id_generation,
        ..HandleCheckReport::default()
    };
    let mut keys: HashMap<ReplayKey, u32> = HashMap::new();
    scan_slots(dev, &header, |slot, parsed| {
        match parsed {
            Err(reason) => report.problems.push(format!("{}: {reason}", slot_ids(slot))),
            Ok(SlotContent::Free { .. }) => report.free += 1,
            Ok(SlotContent::Used { record, .. }) => {
                report.used += 1;
                if let Some(key) = record_key(&record) {
                    if let Some(first) = keys.get(&key) {
                        report.problems.push(format!(
                            "slots {first} and {slot} hold the same replay key (ClientGuid {}, CreateGuid {})",
                            hex(&key.0),
                            hex(&key.1)
                        ));
                    } else {
                        keys.insert(key, slot);
                    }
                }
            }
        }
        Ok(())
    })
    .await?;
    Ok(report)
}

#[cfg(test)]
mod tests;
