//! Where things are on the handle-table object: the table header (block 0)
//! and the slots (one 4096-byte block each after it). Pure byte work, no
//! I/O; shared by the table, its mount and `check`.

use holdfast_types::checksum::crc32;
use holdfast_types::limits::SECTOR_BYTES;

use super::record::{HandleRecord, PERSISTENT_ID_OFFSET, RECORD_BYTES_MAX};
use super::HandleError;

pub const TABLE_MAGIC: [u8; 8] = *b"HFHNDTB\0";
/// Version 2 added `incarnation` and `id_generation`. Version 1 is not read:
/// the table lives only in the hosts' RAM, so no version 1 table survives a
/// whole-cluster restart and there is nothing to migrate.
pub const TABLE_VERSION: u32 = 2;
/// Size of the table header; slot 0 starts here.
pub const HEADER_BYTES: u64 = 4096;

// Header field offsets, each chained to the one before so a field cannot
// silently overlap its neighbour.
const H_MAGIC: usize = 0;
const H_VERSION: usize = H_MAGIC + 8;
const H_SLOT_BYTES: usize = H_VERSION + 4;
const H_SLOT_COUNT: usize = H_SLOT_BYTES + 4;
const H_VOLUME_ID: usize = H_SLOT_COUNT + 4;
const H_CREATED: usize = H_VOLUME_ID + 16;
const H_INCARNATION: usize = H_CREATED + 8;
const H_ID_GENERATION: usize = H_INCARNATION + 4;
/// The header's crc32 field; the crc covers `0..HEADER_CRC_OFFSET`.
pub const HEADER_CRC_OFFSET: usize = H_ID_GENERATION + 4;
/// Bytes of the header that carry fields; the rest is reserved (zero).
pub const HEADER_USED_BYTES: usize = HEADER_CRC_OFFSET + 4;
const _: () = assert!(H_INCARNATION == 44 && H_ID_GENERATION == 48);
const _: () = assert!(HEADER_CRC_OFFSET == 52 && HEADER_USED_BYTES == 56);
const _: () = assert!(HEADER_USED_BYTES as u64 <= HEADER_BYTES);
/// Largest `id_generation`: it is the high half of a slot generation.
pub const ID_GENERATION_MAX: u32 = u16::MAX as u32;
/// Largest `reuse` count, the low half of a slot generation (0 is never used).
pub const REUSE_MAX: u32 = 0xFFFF;

/// Size of one slot. The only value version 2 accepts.
pub const SLOT_BYTES: u64 = 4096;
/// Most slots a table may have (4 GiB of slots).
pub const SLOT_COUNT_MAX: u32 = 1 << 20;

/// "HFHS" read as a little-endian u32.
pub const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"HFHS");
pub const SLOT_VERSION: u16 = 1;
pub const SLOT_HEADER_BYTES: usize = 24;
/// The crc32 field of the slot header; it covers bytes `0..SLOT_CRC_OFFSET`
/// of the header followed by the record.
pub const SLOT_CRC_OFFSET: usize = 20;
/// Largest record a slot can carry.
pub const SLOT_RECORD_BYTES_MAX: usize = SLOT_BYTES as usize - SLOT_HEADER_BYTES;
/// Slot header flags: exactly one is set.
pub const SLOT_FLAG_USED: u16 = 0x0001;
pub const SLOT_FLAG_FREE: u16 = 0x0002;

// Every record the encoder accepts fits in a slot, so `TooLarge` only ever
// comes from a field over its bound, and nothing is ever truncated.
const _: () = assert!(RECORD_BYTES_MAX <= SLOT_RECORD_BYTES_MAX);
const _: () = assert!(SLOT_BYTES / SECTOR_BYTES * SECTOR_BYTES == SLOT_BYTES);
const _: () = assert!(HEADER_BYTES / SECTOR_BYTES * SECTOR_BYTES == HEADER_BYTES);

pub fn slot_offset(slot: u32) -> u64 {
    HEADER_BYTES + slot as u64 * SLOT_BYTES
}

/// persistent id = generation << 32 | (slot + 1): never 0.
pub fn make_id(generation: u32, slot: u32) -> u64 {
    ((generation as u64) << 32) | (slot as u64 + 1)
}

/// The slot and generation a persistent id names, if it can name a slot.
pub fn split_id(id: u64) -> Option<(u32, u32)> {
    let low = id as u32;
    if low == 0 {
        return None;
    }
    Some((low - 1, (id >> 32) as u32))
}

/// The generation the next put of a slot uses. A slot generation is
/// `(id_generation << 16) | reuse` with `reuse` in `1..=0xFFFF`: within one
/// id generation `reuse` counts up and wraps from 0xFFFF to 1 (never 0, so a
/// used slot never has generation 0, which marks a slot never used); a slot
/// whose generation is of another id generation (or 0) starts at reuse 1.
/// Tables of different id generations therefore never hand out the same id.
pub fn next_generation(g: u32, id_generation: u16) -> u32 {
    let high = (id_generation as u32) << 16;
    let next = if g >> 16 == id_generation as u32 {
        match g & REUSE_MAX {
            REUSE_MAX => 1,
            reuse => reuse + 1,
        }
    } else {
        1
    };
    debug_assert!((1..=REUSE_MAX).contains(&next));
    high | next
}

/// Checks that a slot's non-zero generation belongs to the table's id
/// generation and has a non-zero reuse count. Every generation a table of
/// this id generation writes does; anything else would let the table hold an
/// id another id generation handed out.
pub fn check_generation(generation: u32, id_generation: u16) -> Result<(), String> {
    if generation >> 16 != id_generation as u32 || generation & REUSE_MAX == 0 {
        return Err(format!(
            "generation 0x{generation:08x} is not of the table's id generation {id_generation} \
             (expected 0x{id_generation:04x}0001..=0x{id_generation:04x}ffff)"
        ));
    }
    Ok(())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The fields of the table header (block 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableHeader {
    pub slot_count: u32,
    pub volume_id: [u8; 16],
    /// Wall-clock time of the `format` (kept by a restore), unix ms.
    pub created_unix_ms: u64,
    /// The directory's reset counter of the object when the table was
    /// formatted or restored.
    pub incarnation: u32,
    /// High half of every slot generation in the table (see [`next_generation`]).
    pub id_generation: u16,
}

impl TableHeader {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_BYTES as usize];
        b[H_MAGIC..H_VERSION].copy_from_slice(&TABLE_MAGIC);
        b[H_VERSION..H_SLOT_BYTES].copy_from_slice(&TABLE_VERSION.to_le_bytes());
        b[H_SLOT_BYTES..H_SLOT_COUNT].copy_from_slice(&(SLOT_BYTES as u32).to_le_bytes());
        b[H_SLOT_COUNT..H_VOLUME_ID].copy_from_slice(&self.slot_count.to_le_bytes());
        b[H_VOLUME_ID..H_CREATED].copy_from_slice(&self.volume_id);
        b[H_CREATED..H_INCARNATION].copy_from_slice(&self.created_unix_ms.to_le_bytes());
        b[H_INCARNATION..H_ID_GENERATION].copy_from_slice(&self.incarnation.to_le_bytes());
        b[H_ID_GENERATION..HEADER_CRC_OFFSET].copy_from_slice(&(self.id_generation as u32).to_le_bytes());
        let crc = crc32(&[&b[..HEADER_CRC_OFFSET]]);
        b[HEADER_CRC_OFFSET..HEADER_USED_BYTES].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses block 0. Checks magic, version, crc and the fixed geometry;
    /// the caller checks the volume id and the device size.
    pub fn parse(b: &[u8]) -> Result<TableHeader, HandleError> {
        if b.len() < HEADER_USED_BYTES {
            return Err(HandleError::Corrupt(format!("handle table header: {} bytes read, {HEADER_USED_BYTES} needed", b.len())));
        }
        if b.iter().all(|&x| x == 0) {
            return Err(HandleError::NotFormatted);
        }
        if b[H_MAGIC..H_VERSION] != TABLE_MAGIC {
            return Err(HandleError::Foreign(format!(
                "block 0 is not a Holdfast handle table: magic {:?} (hex {}), expected \"HFHNDTB\\0\"",
                String::from_utf8_lossy(&b[H_MAGIC..H_VERSION]),
                hex(&b[H_MAGIC..H_VERSION])
            )));
        }
        // Before the crc: a table of another version reports its version, not a crc error.
        let version = le_u32(&b[H_VERSION..]);
        if version != TABLE_VERSION {
            return Err(HandleError::Corrupt(format!(
                "handle table header version {version}, this build reads version {TABLE_VERSION} only \
                 (the table lives in RAM, so an older one is reset, not migrated)"
            )));
        }
        let stored = le_u32(&b[HEADER_CRC_OFFSET..]);
        let computed = crc32(&[&b[..HEADER_CRC_OFFSET]]);
        if stored != computed {
            return Err(HandleError::Corrupt(format!(
                "handle table header crc32 is 0x{stored:08x}, its bytes give 0x{computed:08x}"
            )));
        }
        let slot_bytes = le_u32(&b[H_SLOT_BYTES..]);
        if slot_bytes as u64 != SLOT_BYTES {
            return Err(HandleError::Corrupt(format!(
                "handle table header says slot_bytes {slot_bytes}, version {TABLE_VERSION} uses {SLOT_BYTES}"
            )));
        }
        let slot_count = le_u32(&b[H_SLOT_COUNT..]);
        if slot_count == 0 || slot_count > SLOT_COUNT_MAX {
            return Err(HandleError::Corrupt(format!(
                "handle table header says slot_count {slot_count}, it must be 1..={SLOT_COUNT_MAX}"
            )));
        }
        let id_generation = le_u32(&b[H_ID_GENERATION..]);
        if id_generation > ID_GENERATION_MAX {
            return Err(HandleError::Corrupt(format!(
                "handle table header says id_generation {id_generation}, it must be at most {ID_GENERATION_MAX}"
            )));
        }
        let mut volume_id = [0u8; 16];
        volume_id.copy_from_slice(&b[H_VOLUME_ID..H_CREATED]);
        Ok(TableHeader {
            slot_count,
            volume_id,
            created_unix_ms: le_u64(&b[H_CREATED..]),
            incarnation: le_u32(&b[H_INCARNATION..]),
            id_generation: id_generation as u16,
        })
    }

    /// Checks that every slot lies inside a device of `device_bytes`.
    pub fn check_geometry(&self, device_bytes: u64) -> Result<(), HandleError> {
        let need = slot_offset(self.slot_count);
        if need > device_bytes {
            return Err(HandleError::Corrupt(format!(
                "handle table header says {} slots ({need} bytes with the header) but the object has {device_bytes} bytes",
                self.slot_count
            )));
        }
        Ok(())
    }
}

fn le_u16(b: &[u8]) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[..2]);
    u16::from_le_bytes(a)
}

pub fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

pub fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn round_up_sector(n: usize) -> usize {
    let s = SECTOR_BYTES as usize;
    n.div_ceil(s) * s
}

/// What one slot holds.
#[derive(Debug, PartialEq, Eq)]
pub enum SlotContent {
    Free { generation: u32 },
    Used { generation: u32, record: Box<HandleRecord> },
}

/// Starts the write buffer of a used slot: room for the header, capacity
/// for a whole slot, so encoding never reallocates.
pub fn new_slot_buffer() -> Vec<u8> {
    let mut buf = Vec::with_capacity(SLOT_BYTES as usize);
    buf.resize(SLOT_HEADER_BYTES, 0);
    buf
}

/// Completes a buffer from [`new_slot_buffer`] + `HandleRecord::encode_into`:
/// patches the persistent id into the record, fills the header, pads to a
/// whole number of sectors.
pub fn finish_used_slot(buf: &mut Vec<u8>, generation: u32, slot: u32) -> Result<(), HandleError> {
    let record_len = buf.len() - SLOT_HEADER_BYTES;
    if record_len > SLOT_RECORD_BYTES_MAX {
        return Err(HandleError::TooLarge(format!(
            "handle record of {record_len} bytes does not fit in a slot ({SLOT_RECORD_BYTES_MAX} bytes)"
        )));
    }
    let id_at = SLOT_HEADER_BYTES + PERSISTENT_ID_OFFSET;
    buf[id_at..id_at + 8].copy_from_slice(&make_id(generation, slot).to_le_bytes());
    fill_header(buf, SLOT_FLAG_USED, generation, slot, record_len as u32);
    let padded = round_up_sector(buf.len());
    buf.resize(padded, 0);
    Ok(())
}

/// The one sector a delete writes: a FREE header that keeps the generation.
pub fn free_slot_sector(generation: u32, slot: u32) -> Vec<u8> {
    let mut buf = vec![0u8; SECTOR_BYTES as usize];
    fill_header(&mut buf, SLOT_FLAG_FREE, generation, slot, 0);
    buf
}

/// Fills a slot header at the start of `buf`; the crc covers the header
/// and the `record_len` bytes after it, which must already be in place.
pub fn fill_header(buf: &mut [u8], flags: u16, generation: u32, slot: u32, record_len: u32) {
    buf[0..4].copy_from_slice(&SLOT_MAGIC.to_le_bytes());
    buf[4..6].copy_from_slice(&SLOT_VERSION.to_le_bytes());
    buf[6..8].copy_from_slice(&flags.to_le_bytes());
    buf[8..12].copy_from_slice(&generation.to_le_bytes());
    buf[12..16].copy_from_slice(&slot.to_le_bytes());
    buf[16..20].copy_from_slice(&record_len.to_le_bytes());
    let end = SLOT_HEADER_BYTES + record_len as usize;
    let crc = crc32(&[&buf[..SLOT_CRC_OFFSET], &buf[SLOT_HEADER_BYTES..end]]);
    buf[20..24].copy_from_slice(&crc.to_le_bytes());
}

/// Parses the bytes of slot `slot` of a table of `id_generation` (at least
/// its header; normally the whole 4096-byte block). The error is the
/// reason, without the slot number.
pub fn parse_slot(slot: u32, id_generation: u16, b: &[u8]) -> Result<SlotContent, String> {
    if b.len() < SLOT_HEADER_BYTES {
        return Err(format!("only {} bytes read, the slot header has {SLOT_HEADER_BYTES}", b.len()));
    }
    let h = &b[..SLOT_HEADER_BYTES];
    if h.iter().all(|&x| x == 0) {
        return Ok(SlotContent::Free { generation: 0 });
    }
    let magic = le_u32(&h[0..4]);
    if magic != SLOT_MAGIC {
        return Err(format!("magic 0x{magic:08x}, expected 0x{SLOT_MAGIC:08x} (\"HFHS\") or an all-zero header"));
    }
    let version = le_u16(&h[4..6]);
    if version != SLOT_VERSION {
        return Err(format!("slot version {version}, this build reads {SLOT_VERSION}"));
    }
    let flags = le_u16(&h[6..8]);
    let generation = le_u32(&h[8..12]);
    let index = le_u32(&h[12..16]);
    let record_len = le_u32(&h[16..20]) as usize;
    let stored = le_u32(&h[20..24]);
    if record_len > SLOT_RECORD_BYTES_MAX {
        return Err(format!("record_len {record_len}, more than a slot holds ({SLOT_RECORD_BYTES_MAX})"));
    }
    let end = SLOT_HEADER_BYTES + record_len;
    if end > b.len() {
        return Err(format!("record_len {record_len} runs past the {} bytes read", b.len()));
    }
    let record_bytes = &b[SLOT_HEADER_BYTES..end];
    let computed = crc32(&[&h[..SLOT_CRC_OFFSET], record_bytes]);
    if stored != computed {
        return Err(format!("crc32 is 0x{stored:08x}, its header and record give 0x{computed:08x}"));
    }
    if index != slot {
        return Err(format!("header says slot_index {index}: the slot was written at the wrong place"));
    }
    match flags {
        SLOT_FLAG_FREE => {
            if record_len != 0 {
                return Err(format!("FREE slot with record_len {record_len}, expected 0"));
            }
            check_generation(generation, id_generation)?;
            Ok(SlotContent::Free { generation })
        }
        SLOT_FLAG_USED => {
            if generation == 0 {
                return Err("USED slot with generation 0".into());
            }
            check_generation(generation, id_generation)?;
            let record = HandleRecord::decode(record_bytes).map_err(|e| e.to_string())?;
            let id = make_id(generation, slot);
            if record.persistent_id != id {
                return Err(format!(
                    "record's persistent_id 0x{:016x} is not 0x{id:016x} (generation {generation}, slot {slot})",
                    record.persistent_id
                ));
            }
            Ok(SlotContent::Used { generation, record: Box::new(record) })
        }
        f => Err(format!("flags 0x{f:04x}: exactly one of USED (0x0001) and FREE (0x0002) must be set")),
    }
}
