//! Parking and restoring the handle table (format: "Park image" in
//! `docs/handle-table.md`).
//!
//! The table lives only in the hosts' RAM, so a whole-cluster restart loses
//! it. Before a PLANNED stop the file server parks it: [`HandleTable::park_image`]
//! serialises every USED slot and every FREE slot's generation into one
//! image, which the file server stores in a file on the persistent volume.
//! After the restart the directory has reset the object (new incarnation)
//! and [`HandleTable::restore`] lays the image out on it, so clients reclaim
//! their handles with the same persistent ids, and the next puts continue
//! the parked generations instead of handing out an id again.
//!
//! The image is canonical: whatever [`parse_park_image`] accepts, restored
//! and parked again with the same incarnation and time, gives the same bytes.

use holdfast_types::checksum::crc32;

use super::layout::{
    fill_header, hex, le_u32, le_u64, make_id, next_generation, parse_slot, SlotContent, TableHeader, ID_GENERATION_MAX,
    SLOT_BYTES, SLOT_COUNT_MAX, SLOT_FLAG_FREE, SLOT_FLAG_USED, SLOT_HEADER_BYTES,
};
use super::{format_slot_count, lock, write_table, HandleError, HandleTable, SlotBytes};
use crate::device::Device;

pub const PARK_MAGIC: [u8; 8] = *b"HFHPARK\0";
pub const PARK_VERSION: u32 = 1;

// Image header field offsets, each chained to the one before.
const P_MAGIC: usize = 0;
const P_VERSION: usize = P_MAGIC + 8;
const P_INCARNATION: usize = P_VERSION + 4;
const P_ID_GENERATION: usize = P_INCARNATION + 4;
const P_SLOT_COUNT: usize = P_ID_GENERATION + 4;
const P_VOLUME_ID: usize = P_SLOT_COUNT + 4;
const P_CREATED: usize = P_VOLUME_ID + 16;
const P_PARKED: usize = P_CREATED + 8;
const P_ENTRY_COUNT: usize = P_PARKED + 8;
const P_RECORD_COUNT: usize = P_ENTRY_COUNT + 4;
/// Size of the image header; the first entry starts here.
pub const PARK_HEADER_BYTES: usize = P_RECORD_COUNT + 4;
/// Size of an entry's header (`slot` u32, `len` u32).
pub const PARK_ENTRY_HEADER_BYTES: usize = 8;
/// Size of the trailing crc32.
pub const PARK_CRC_BYTES: usize = 4;
/// Smallest entry: a FREE slot's header.
const ENTRY_BYTES_MIN: u64 = (PARK_ENTRY_HEADER_BYTES + SLOT_HEADER_BYTES) as u64;
/// Largest entry: a whole slot.
const ENTRY_BYTES_MAX: u64 = PARK_ENTRY_HEADER_BYTES as u64 + SLOT_BYTES;
/// Largest image: every slot of the largest table a whole slot long.
pub const PARK_IMAGE_BYTES_MAX: u64 =
    (PARK_HEADER_BYTES + PARK_CRC_BYTES) as u64 + SLOT_COUNT_MAX as u64 * ENTRY_BYTES_MAX;
const _: () = assert!(PARK_HEADER_BYTES == 64);

/// What the header of a valid park image says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkImage {
    /// The parked table's incarnation (restore writes a new one).
    pub incarnation: u32,
    /// The parked table's id generation; the restored table keeps it.
    pub id_generation: u16,
    pub slot_count: u32,
    pub volume_id: [u8; 16],
    /// The parked table's `created_unix_ms`; the restored table keeps it.
    pub created_unix_ms: u64,
    /// Wall-clock time of the park, unix ms.
    pub parked_unix_ms: u64,
    /// Number of USED slots (handle records) in the image.
    pub record_count: u32,
}

/// A validated image: its header and its entries, by increasing slot.
struct Parsed<'a> {
    image: ParkImage,
    entries: Vec<SlotBytes<'a>>,
}

fn corrupt(what: impl std::fmt::Display) -> HandleError {
    HandleError::Corrupt(format!("park image: {what}"))
}

/// Validates a park image: magic (`Foreign`), then length, version, crc32,
/// header bounds, total length, every entry (order, bounds, and the slot's
/// own parse), trailing bytes and `record_count` (`Corrupt`, naming the
/// problem). Never panics, and allocates nothing sized from the input.
pub fn parse_park_image(bytes: &[u8]) -> Result<ParkImage, HandleError> {
    parse(bytes).map(|p| p.image)
}

fn parse(b: &[u8]) -> Result<Parsed<'_>, HandleError> {
    // A prefix of the magic is a truncated image, anything else is not an image.
    let m = b.len().min(PARK_MAGIC.len());
    if b[..m] != PARK_MAGIC[..m] {
        return Err(HandleError::Foreign(format!(
            "not a Holdfast handle-table park image: magic {:?} (hex {}), expected \"HFHPARK\\0\"",
            String::from_utf8_lossy(&b[..m]),
            hex(&b[..m])
        )));
    }
    let min = PARK_HEADER_BYTES + PARK_CRC_BYTES;
    if b.len() < min {
        return Err(corrupt(format_args!("truncated: {} bytes, the smallest image has {min}", b.len())));
    }
    if b.len() as u64 > PARK_IMAGE_BYTES_MAX {
        return Err(corrupt(format_args!("{} bytes, more than the largest image ({PARK_IMAGE_BYTES_MAX})", b.len())));
    }
    // Before the crc: an image of another version reports its version.
    let version = le_u32(&b[P_VERSION..]);
    if version != PARK_VERSION {
        return Err(corrupt(format_args!("version {version}, this build reads version {PARK_VERSION}")));
    }
    let end = b.len() - PARK_CRC_BYTES;
    let stored = le_u32(&b[end..]);
    let computed = crc32(&[&b[..end]]);
    if stored != computed {
        return Err(corrupt(format_args!("crc32 is 0x{stored:08x}, its bytes give 0x{computed:08x}")));
    }
    let id_generation = le_u32(&b[P_ID_GENERATION..]);
    if id_generation > ID_GENERATION_MAX {
        return Err(corrupt(format_args!("id_generation {id_generation}, it must be at most {ID_GENERATION_MAX}")));
    }
    let id_generation = id_generation as u16;
    let slot_count = le_u32(&b[P_SLOT_COUNT..]);
    if slot_count == 0 || slot_count > SLOT_COUNT_MAX {
        return Err(corrupt(format_args!("slot_count {slot_count}, it must be 1..={SLOT_COUNT_MAX}")));
    }
    let entry_count = le_u32(&b[P_ENTRY_COUNT..]);
    if entry_count > slot_count {
        return Err(corrupt(format_args!("entry_count {entry_count} is more than slot_count {slot_count}")));
    }
    let record_count = le_u32(&b[P_RECORD_COUNT..]);
    if record_count > entry_count {
        return Err(corrupt(format_args!("record_count {record_count} is more than entry_count {entry_count}")));
    }
    // Checked before the entry list is allocated: entry_count is then
    // bounded by the input's own length.
    let entry_bytes = (end - PARK_HEADER_BYTES) as u64;
    let n = entry_count as u64;
    if entry_bytes < n * ENTRY_BYTES_MIN || entry_bytes > n * ENTRY_BYTES_MAX {
        return Err(corrupt(format_args!(
            "{entry_bytes} bytes of entries cannot hold {entry_count} entries of {ENTRY_BYTES_MIN}..={ENTRY_BYTES_MAX} bytes each"
        )));
    }
    let mut entries = Vec::with_capacity(entry_count as usize);
    let mut at = PARK_HEADER_BYTES;
    let mut used = 0u32;
    for i in 0..entry_count {
        let entry = parse_entry(b, at, end, i, slot_count, id_generation, entries.last())?;
        if entry.used {
            used += 1;
        }
        at += PARK_ENTRY_HEADER_BYTES + entry.bytes.len();
        entries.push(SlotBytes { slot: entry.slot, bytes: entry.bytes });
    }
    if at != end {
        return Err(corrupt(format_args!("{} bytes after the last entry", end - at)));
    }
    if used != record_count {
        return Err(corrupt(format_args!("record_count {record_count}, but {used} entries hold a record")));
    }
    let mut volume_id = [0u8; 16];
    volume_id.copy_from_slice(&b[P_VOLUME_ID..P_CREATED]);
    let image = ParkImage {
        incarnation: le_u32(&b[P_INCARNATION..]),
        id_generation,
        slot_count,
        volume_id,
        created_unix_ms: le_u64(&b[P_CREATED..]),
        parked_unix_ms: le_u64(&b[P_PARKED..]),
        record_count,
    };
    Ok(Parsed { image, entries })
}

struct Entry<'a> {
    slot: u32,
    bytes: &'a [u8],
    used: bool,
}

/// Parses entry `i` at `at`; the entries end at `end`.
fn parse_entry<'a>(
    b: &'a [u8],
    at: usize,
    end: usize,
    i: u32,
    slot_count: u32,
    id_generation: u16,
    previous: Option<&SlotBytes<'_>>,
) -> Result<Entry<'a>, HandleError> {
    debug_assert!(at <= end && end <= b.len());
    if end - at < PARK_ENTRY_HEADER_BYTES {
        return Err(corrupt(format_args!("entry {i} at offset {at}: its header runs past the entries, which end at {end}")));
    }
    let slot = le_u32(&b[at..]);
    let len = le_u32(&b[at + 4..]) as usize;
    if slot >= slot_count {
        return Err(corrupt(format_args!("entry {i}: slot {slot} is past the table's {slot_count} slots")));
    }
    if let Some(p) = previous {
        if slot <= p.slot {
            return Err(corrupt(format_args!(
                "entry {i}: slot {slot} after slot {}: entries must be in increasing slot order, each slot once",
                p.slot
            )));
        }
    }
    if len < SLOT_HEADER_BYTES || len as u64 > SLOT_BYTES {
        return Err(corrupt(format_args!("entry {i} (slot {slot}): len {len}, it must be {SLOT_HEADER_BYTES}..={SLOT_BYTES}")));
    }
    let start = at + PARK_ENTRY_HEADER_BYTES;
    if end - start < len {
        return Err(corrupt(format_args!("entry {i} (slot {slot}): len {len} runs past the entries, which end at {end}")));
    }
    let bytes = &b[start..start + len];
    // A never-used slot is all zero on the device: the image leaves it out,
    // so each table has exactly one image.
    if bytes[..SLOT_HEADER_BYTES].iter().all(|&x| x == 0) {
        return Err(corrupt(format_args!("entry {i} (slot {slot}): all-zero slot header; never-used slots are left out")));
    }
    let used = match parse_slot(slot, id_generation, bytes) {
        Err(reason) => return Err(corrupt(format_args!("entry {i}: slot {slot}: {reason}"))),
        Ok(SlotContent::Free { .. }) => false,
        Ok(SlotContent::Used { .. }) => true,
    };
    // The slot parser reads `record_len` bytes and ignores the rest; an
    // entry carries exactly the header and the record.
    let record_len = le_u32(&bytes[16..]) as usize;
    if SLOT_HEADER_BYTES + record_len != len {
        return Err(corrupt(format_args!(
            "entry {i} (slot {slot}): len {len}, but its slot header's record_len {record_len} makes {}",
            SLOT_HEADER_BYTES + record_len
        )));
    }
    Ok(Entry { slot, bytes, used })
}

/// What a slot contributes to an image.
enum Parked<'a> {
    Used(u32, &'a super::HandleRecord),
    Free(u32),
    Omitted,
}

impl<D: Device> HandleTable<D> {
    /// Serialises the table into a park image (no device I/O): every record,
    /// and every FREE slot's generation, so a table restored from it hands
    /// out no id again. It is a snapshot of the acknowledged state, taken
    /// under the index lock. A slot that a put in flight has taken is parked
    /// FREE with the generation that put uses, so its id is never handed out
    /// again either, whether or not that put succeeds. Park after the
    /// service has stopped taking opens: a later update or delete is not in
    /// the image.
    pub async fn park_image(&self, parked_unix_ms: u64) -> Result<Vec<u8>, HandleError> {
        self.park_bytes(parked_unix_ms)
    }

    fn park_bytes(&self, parked_unix_ms: u64) -> Result<Vec<u8>, HandleError> {
        let st = lock(&self.state);
        let n = st.slots.len();
        assert_eq!(n, self.slot_count as usize, "the index has one entry per slot");
        let mut on_free = vec![false; n];
        for &s in &st.free {
            on_free[s as usize] = true;
        }
        let parked = |i: usize| {
            let s = &st.slots[i];
            match &s.record {
                Some(r) => Parked::Used(s.generation, r),
                None if !on_free[i] => Parked::Free(next_generation(s.generation, self.id_generation)),
                None if s.generation != 0 => Parked::Free(s.generation),
                None => Parked::Omitted,
            }
        };
        let (mut total, mut entry_count, mut record_count) = ((PARK_HEADER_BYTES + PARK_CRC_BYTES) as u64, 0u32, 0u32);
        for i in 0..n {
            match parked(i) {
                Parked::Used(_, r) => {
                    total += ENTRY_BYTES_MIN + r.encoded_len() as u64;
                    entry_count += 1;
                    record_count += 1;
                }
                Parked::Free(_) => {
                    total += ENTRY_BYTES_MIN;
                    entry_count += 1;
                }
                Parked::Omitted => {}
            }
        }
        assert_eq!(record_count as usize, st.used, "every committed record is parked");
        assert!(total <= PARK_IMAGE_BYTES_MAX);
        let mut out = Vec::with_capacity(total as usize);
        out.extend_from_slice(&PARK_MAGIC);
        out.extend_from_slice(&PARK_VERSION.to_le_bytes());
        out.extend_from_slice(&self.incarnation.to_le_bytes());
        out.extend_from_slice(&(self.id_generation as u32).to_le_bytes());
        out.extend_from_slice(&self.slot_count.to_le_bytes());
        out.extend_from_slice(&self.volume_id);
        out.extend_from_slice(&self.created_unix_ms.to_le_bytes());
        out.extend_from_slice(&parked_unix_ms.to_le_bytes());
        out.extend_from_slice(&entry_count.to_le_bytes());
        out.extend_from_slice(&record_count.to_le_bytes());
        debug_assert_eq!(out.len(), PARK_HEADER_BYTES);
        for i in 0..n {
            let slot = i as u32;
            let (flags, generation, record) = match parked(i) {
                Parked::Used(g, r) => (SLOT_FLAG_USED, g, Some(r)),
                Parked::Free(g) => (SLOT_FLAG_FREE, g, None),
                Parked::Omitted => continue,
            };
            out.extend_from_slice(&slot.to_le_bytes());
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            let start = out.len();
            out.resize(start + SLOT_HEADER_BYTES, 0);
            if let Some(r) = record {
                assert_eq!(r.persistent_id, make_id(generation, slot), "a committed record carries its slot's id");
                r.encode_into(&mut out)?;
            }
            let record_len = out.len() - start - SLOT_HEADER_BYTES;
            fill_header(&mut out[start..], flags, generation, slot, record_len as u32);
            let len = (SLOT_HEADER_BYTES + record_len) as u32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
        let crc = crc32(&[&out]);
        out.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(out.len() as u64, total, "the image has the size computed for it");
        Ok(out)
    }

    /// Lays a parked table out on `dev` (normally the freshly reset object):
    /// validates the whole image first (another volume's image is `Foreign`;
    /// an image of another slot count than `format` would give this object
    /// is `Invalid`), then zeroes the header, writes the slot area (each
    /// image entry padded with zeros to its slot, every other slot zero) in
    /// writes of at most `IO_BYTES_MAX`, and writes the header LAST with the
    /// image's id generation and creation time and the new `incarnation`.
    /// Until that last write the table does not mount (`NotFormatted`), so an
    /// interrupted restore never leaves a mix of old and restored slots.
    /// Returns the number of records restored.
    pub async fn restore(dev: &D, image: &[u8], volume_id: [u8; 16], incarnation: u32) -> Result<u32, HandleError> {
        let parsed = parse(image)?;
        let img = &parsed.image;
        if img.volume_id != volume_id {
            return Err(HandleError::Foreign(format!(
                "the park image belongs to volume {}, not to volume {}",
                hex(&img.volume_id),
                hex(&volume_id)
            )));
        }
        let size = dev.size_bytes();
        let slot_count = format_slot_count(size)?;
        if img.slot_count != slot_count {
            return Err(HandleError::Invalid(format!(
                "the park image has {} slots, but a table on this object of {size} bytes has {slot_count}; \
                 restore it into an object of the handle_size it was parked with",
                img.slot_count
            )));
        }
        let header = TableHeader {
            slot_count,
            volume_id,
            created_unix_ms: img.created_unix_ms,
            incarnation,
            id_generation: img.id_generation,
        };
        write_table(dev, &header, &parsed.entries).await?;
        Ok(img.record_count)
    }
}
