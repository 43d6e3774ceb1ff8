//! The redo journal: logical records, their framing, and the scan that
//! replays them at mount.
//!
//! A record is a [`RECORD_HEADER_BYTES`] header, the payload of one [`Op`],
//! and zero padding to [`RECORD_ALIGN_BYTES`]. Records are appended in
//! batches (group commit); a batch is padded with zeros to a sector and
//! written at the journal tail. The byte layout is in `docs/objfs.md`.

use holdfast_types::checksum::crc32;
use holdfast_types::limits::{BLOCK_BYTES, IO_BYTES_MAX, SECTOR_BYTES};

use crate::codec::{le_u32, round_up, Dec, Enc, NAME_BYTES_MAX};
use crate::fs::{FileKind, Ino};

pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"HFJR");
pub const RECORD_HEADER_BYTES: usize = 40;
pub const RECORD_ALIGN_BYTES: usize = 8;
/// Most extents in one `Write` record: a write of [`IO_BYTES_MAX`] at an
/// unaligned offset touches one block more than it holds, and each block
/// may come from a different free run.
pub const WRITE_EXTENTS_MAX: usize = (IO_BYTES_MAX / BLOCK_BYTES) as usize + 1;
/// Largest payload: a `Write` with [`WRITE_EXTENTS_MAX`] extents (about
/// 20 KiB), or a `Rename` with two longest names.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = 32 * 1024 - RECORD_HEADER_BYTES;
const _: () = assert!(28 + WRITE_EXTENTS_MAX * 20 <= RECORD_PAYLOAD_BYTES_MAX);
const _: () = assert!(41 + 2 * (2 + NAME_BYTES_MAX) <= RECORD_PAYLOAD_BYTES_MAX);

pub const KIND_CREATE: u16 = 1;
pub const KIND_REMOVE: u16 = 2;
pub const KIND_RENAME: u16 = 3;
pub const KIND_SET_ATTR: u16 = 4;
pub const KIND_SET_SIZE: u16 = 5;
pub const KIND_SET_ALLOCATION: u16 = 6;
pub const KIND_WRITE: u16 = 7;
pub const KIND_PUNCH: u16 = 8;
pub const KIND_DISK_SYNCED: u16 = 9;

/// Record header flag (bytes 30..32): the record was written without
/// waiting for earlier batches to reach stable storage (disk lag). After a
/// power loss an earlier batch may be missing while this one is there.
pub const FLAG_LAZY: u16 = 1;
/// Record header flag: bytes 32..36 hold `data_crc`, the crc32 of the data
/// blocks the op maps (a `Write`'s extents in order, a `SetSize`'s tail
/// block), so replay can tell whether they reached stable storage.
pub const FLAG_DATA_CRC: u16 = 2;
const FLAGS_KNOWN: u16 = FLAG_LAZY | FLAG_DATA_CRC;

/// One run of a file mapped to consecutive data blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteExtent {
    pub file_block: u64,
    pub dev_block: u64,
    pub block_count: u32,
}

/// One logical metadata operation. The same [`crate::meta::Meta::apply`]
/// runs it live and at replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Create { ino: Ino, parent: Ino, name: String, kind: FileKind, attributes: u32, time: u64 },
    Remove { parent: Ino, name: String },
    Rename { src_parent: Ino, src_name: String, dst_parent: Ino, dst_name: String, replace: bool, time: u64 },
    SetAttr {
        ino: Ino,
        attributes: Option<u32>,
        creation_time: Option<u64>,
        last_access_time: Option<u64>,
        last_write_time: Option<u64>,
        change_time: Option<u64>,
    },
    /// `tail_dev_block` is the copy of the last block, zero-filled past
    /// `size`, when a shrink ends inside a mapped block.
    SetSize { ino: Ino, size: u64, time: u64, tail_dev_block: Option<u64> },
    SetAllocation { ino: Ino, bytes: u64 },
    Write { ino: Ino, size_after: u64, time: u64, extents: Vec<WriteExtent> },
    /// Unmaps file blocks `[file_block, file_block + block_count)`: they
    /// read as zeros from then on (FSCTL_SET_ZERO_DATA's whole blocks).
    Punch { ino: Ino, file_block: u64, block_count: u64, time: u64 },
    /// Every op up to seq `upto` had reached stable storage when this
    /// record was queued. Changes no state; replay uses it to know which
    /// ops' data it must check and to tell damage from a power loss.
    DiskSynced { upto: u64 },
}

fn kind_byte(k: FileKind) -> u8 {
    match k {
        FileKind::File => 1,
        FileKind::Dir => 2,
    }
}

pub fn kind_from_byte(b: u8) -> Option<FileKind> {
    match b {
        1 => Some(FileKind::File),
        2 => Some(FileKind::Dir),
        _ => None,
    }
}

impl Op {
    pub fn kind(&self) -> u16 {
        match self {
            Op::Create { .. } => KIND_CREATE,
            Op::Remove { .. } => KIND_REMOVE,
            Op::Rename { .. } => KIND_RENAME,
            Op::SetAttr { .. } => KIND_SET_ATTR,
            Op::SetSize { .. } => KIND_SET_SIZE,
            Op::SetAllocation { .. } => KIND_SET_ALLOCATION,
            Op::Write { .. } => KIND_WRITE,
            Op::Punch { .. } => KIND_PUNCH,
            Op::DiskSynced { .. } => KIND_DISK_SYNCED,
        }
    }

    pub fn encode_payload(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(64);
        match self {
            Op::Create { ino, parent, name, kind, attributes, time } => {
                e.u64(*ino);
                e.u64(*parent);
                e.u8(kind_byte(*kind));
                e.u32(*attributes);
                e.u64(*time);
                e.name(name);
            }
            Op::Remove { parent, name } => {
                e.u64(*parent);
                e.name(name);
            }
            Op::Rename { src_parent, src_name, dst_parent, dst_name, replace, time } => {
                e.u64(*src_parent);
                e.u64(*dst_parent);
                e.u8(*replace as u8);
                e.u64(*time);
                e.name(src_name);
                e.name(dst_name);
            }
            Op::SetAttr { ino, attributes, creation_time, last_access_time, last_write_time, change_time } => {
                let mask = attributes.is_some() as u8
                    | (creation_time.is_some() as u8) << 1
                    | (last_access_time.is_some() as u8) << 2
                    | (last_write_time.is_some() as u8) << 3
                    | (change_time.is_some() as u8) << 4;
                e.u64(*ino);
                e.u8(mask);
                e.u32(attributes.unwrap_or(0));
                for t in [creation_time, last_access_time, last_write_time, change_time] {
                    e.u64(t.unwrap_or(0));
                }
            }
            Op::SetSize { ino, size, time, tail_dev_block } => {
                e.u64(*ino);
                e.u64(*size);
                e.u64(*time);
                e.u64(tail_dev_block.unwrap_or(0));
            }
            Op::SetAllocation { ino, bytes } => {
                e.u64(*ino);
                e.u64(*bytes);
            }
            Op::Punch { ino, file_block, block_count, time } => {
                e.u64(*ino);
                e.u64(*file_block);
                e.u64(*block_count);
                e.u64(*time);
            }
            Op::DiskSynced { upto } => e.u64(*upto),
            Op::Write { ino, size_after, time, extents } => {
                assert!(extents.len() <= WRITE_EXTENTS_MAX, "write planned with {} extents", extents.len());
                e.u64(*ino);
                e.u64(*size_after);
                e.u64(*time);
                e.u32(extents.len() as u32);
                for x in extents {
                    e.u64(x.file_block);
                    e.u64(x.dev_block);
                    e.u32(x.block_count);
                }
            }
        }
        assert!(e.buf.len() <= RECORD_PAYLOAD_BYTES_MAX);
        e.buf
    }

    /// Decodes a payload whose crc already matched. A failure here is
    /// corruption or a bug, never a torn write.
    pub fn decode_payload(kind: u16, payload: &[u8], base: u64) -> Result<Op, String> {
        let mut d = Dec::new(payload, base);
        let op = match kind {
            KIND_CREATE => {
                let ino = d.u64()?;
                let parent = d.u64()?;
                let kb = d.u8()?;
                let kind = kind_from_byte(kb).ok_or_else(|| format!("create: file kind byte {kb}"))?;
                let attributes = d.u32()?;
                let time = d.u64()?;
                let name = d.name()?;
                Op::Create { ino, parent, name, kind, attributes, time }
            }
            KIND_REMOVE => {
                let parent = d.u64()?;
                let name = d.name()?;
                Op::Remove { parent, name }
            }
            KIND_RENAME => {
                let src_parent = d.u64()?;
                let dst_parent = d.u64()?;
                let r = d.u8()?;
                if r > 1 {
                    return Err(format!("rename: replace byte {r}"));
                }
                let time = d.u64()?;
                let src_name = d.name()?;
                let dst_name = d.name()?;
                Op::Rename { src_parent, src_name, dst_parent, dst_name, replace: r == 1, time }
            }
            KIND_SET_ATTR => {
                let ino = d.u64()?;
                let mask = d.u8()?;
                if mask & !0x1f != 0 {
                    return Err(format!("set_attr: mask {mask:#x}"));
                }
                let a = d.u32()?;
                let mut t = [0u64; 4];
                for v in &mut t {
                    *v = d.u64()?;
                }
                let pick = |bit: u8, v: u64| (mask & (1 << bit) != 0).then_some(v);
                Op::SetAttr {
                    ino,
                    attributes: (mask & 1 != 0).then_some(a),
                    creation_time: pick(1, t[0]),
                    last_access_time: pick(2, t[1]),
                    last_write_time: pick(3, t[2]),
                    change_time: pick(4, t[3]),
                }
            }
            KIND_SET_SIZE => {
                let ino = d.u64()?;
                let size = d.u64()?;
                let time = d.u64()?;
                let tail = d.u64()?;
                Op::SetSize { ino, size, time, tail_dev_block: (tail != 0).then_some(tail) }
            }
            KIND_SET_ALLOCATION => Op::SetAllocation { ino: d.u64()?, bytes: d.u64()? },
            KIND_PUNCH => Op::Punch { ino: d.u64()?, file_block: d.u64()?, block_count: d.u64()?, time: d.u64()? },
            KIND_DISK_SYNCED => Op::DiskSynced { upto: d.u64()? },
            KIND_WRITE => {
                let ino = d.u64()?;
                let size_after = d.u64()?;
                let time = d.u64()?;
                let n = d.u32()? as usize;
                if n > WRITE_EXTENTS_MAX {
                    return Err(format!("write: {n} extents (most is {WRITE_EXTENTS_MAX})"));
                }
                let mut extents = Vec::with_capacity(n);
                for _ in 0..n {
                    extents.push(WriteExtent { file_block: d.u64()?, dev_block: d.u64()?, block_count: d.u32()? });
                }
                Op::Write { ino, size_after, time, extents }
            }
            k => return Err(format!("unknown record kind {k}")),
        };
        d.finish("record payload")?;
        Ok(op)
    }
}

/// One encoded op waiting for the next batch.
pub struct PendingRecord {
    pub seq: u64,
    pub kind: u16,
    pub payload: Vec<u8>,
    /// crc32 of the data blocks the op maps, if it maps any.
    pub data_crc: Option<u32>,
}

pub fn framed_bytes(payload_len: usize) -> usize {
    round_up((RECORD_HEADER_BYTES + payload_len) as u64, RECORD_ALIGN_BYTES as u64) as usize
}

/// Appends one framed record to `out`.
pub fn frame(out: &mut Vec<u8>, journal_gen: u32, seq: u64, batch_first_seq: u64, kind: u16, payload: &[u8]) {
    frame_with(out, journal_gen, seq, batch_first_seq, kind, payload, 0, None)
}

/// [`frame`] with header flags and a data crc (which sets `FLAG_DATA_CRC`).
#[allow(clippy::too_many_arguments)]
pub fn frame_with(out: &mut Vec<u8>, journal_gen: u32, seq: u64, batch_first_seq: u64, kind: u16, payload: &[u8], flags: u16, data_crc: Option<u32>) {
    assert!(flags & !FLAGS_KNOWN == 0);
    assert!(payload.len() <= RECORD_PAYLOAD_BYTES_MAX);
    assert!(batch_first_seq <= seq);
    let start = out.len();
    assert!(start % RECORD_ALIGN_BYTES == 0);
    let mut h = Enc::with_capacity(RECORD_HEADER_BYTES);
    h.u32(RECORD_MAGIC);
    h.u32(journal_gen);
    h.u64(seq);
    h.u64(batch_first_seq);
    h.u32(payload.len() as u32);
    h.u16(kind);
    h.u16(flags | if data_crc.is_some() { FLAG_DATA_CRC } else { 0 });
    h.u32(data_crc.unwrap_or(0));
    let crc = crc32(&[&h.buf, payload]);
    h.u32(crc);
    out.extend_from_slice(&h.buf);
    out.extend_from_slice(payload);
    out.resize(start + framed_bytes(payload.len()), 0);
}

/// Frames a batch and pads it with zeros to a whole sector.
pub fn frame_batch(journal_gen: u32, records: &[PendingRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.iter().map(|r| framed_bytes(r.payload.len())).sum::<usize>() + SECTOR_BYTES as usize);
    let first = records.first().map_or(0, |r| r.seq);
    for r in records {
        frame_with(&mut out, journal_gen, r.seq, first, r.kind, &r.payload, FLAG_LAZY, r.data_crc);
    }
    out.resize(round_up(out.len() as u64, SECTOR_BYTES) as usize, 0);
    out
}

pub fn batch_bytes(records: &[PendingRecord]) -> u64 {
    round_up(records.iter().map(|r| framed_bytes(r.payload.len()) as u64).sum(), SECTOR_BYTES)
}

/// A header whose crc matched, with its payload.
pub struct RawRecord<'a> {
    pub journal_gen: u32,
    pub seq: u64,
    pub batch_first_seq: u64,
    pub kind: u16,
    pub flags: u16,
    pub data_crc: Option<u32>,
    pub payload: &'a [u8],
    pub framed_len: usize,
}

/// Why the bytes at a position are not a record.
pub enum NotRecord {
    /// Zero magic: batch padding.
    Padding,
    /// Anything else: bad magic, length, reserved bits or crc.
    Invalid(String),
}

/// Reads a record at `pos` of the journal bytes, checking magic, lengths
/// and crc (of any generation).
pub fn read_record(j: &[u8], pos: usize) -> Result<RawRecord<'_>, NotRecord> {
    let Some(magic) = le_u32(j, pos) else {
        return Err(NotRecord::Invalid("header past the journal end".into()));
    };
    if magic == 0 {
        return Err(NotRecord::Padding);
    }
    if magic != RECORD_MAGIC {
        return Err(NotRecord::Invalid(format!("magic {magic:#010x}")));
    }
    let Some(h) = j.get(pos..pos + RECORD_HEADER_BYTES) else {
        return Err(NotRecord::Invalid("header past the journal end".into()));
    };
    let mut d = Dec::new(h, pos as u64);
    let fields = (|| -> Result<_, String> { Ok((d.u32()?, d.u32()?, d.u64()?, d.u64()?, d.u32()?, d.u16()?, d.u16()?, d.u32()?, d.u32()?)) })();
    let Ok((_, journal_gen, seq, batch_first_seq, payload_len, kind, flags, data_crc, crc)) = fields else {
        return Err(NotRecord::Invalid("short header".into()));
    };
    if flags & !FLAGS_KNOWN != 0 || (flags & FLAG_DATA_CRC == 0 && data_crc != 0) {
        return Err(NotRecord::Invalid("reserved header bits are not zero".into()));
    }
    let payload_len = payload_len as usize;
    if payload_len > RECORD_PAYLOAD_BYTES_MAX {
        return Err(NotRecord::Invalid(format!("payload_len {payload_len}")));
    }
    let Some(payload) = j.get(pos + RECORD_HEADER_BYTES..pos + RECORD_HEADER_BYTES + payload_len) else {
        return Err(NotRecord::Invalid("payload past the journal end".into()));
    };
    if crc32(&[&h[..36], payload]) != crc {
        return Err(NotRecord::Invalid("crc mismatch".into()));
    }
    let data_crc = (flags & FLAG_DATA_CRC != 0).then_some(data_crc);
    Ok(RawRecord { journal_gen, seq, batch_first_seq, kind, flags, data_crc, payload, framed_len: framed_bytes(payload_len) })
}

pub struct ScannedRecord {
    pub offset: u64,
    pub seq: u64,
    pub op: Op,
    pub data_crc: Option<u32>,
}

/// How the log ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// The region ran out.
    JournalEnd,
    /// A valid record of an older generation: left over from before the
    /// checkpoint. The normal end.
    OlderGeneration,
    /// Something that is not a record of this generation where the next
    /// record would be: the torn tail of a batch that was never
    /// acknowledged (or empty space that never held a record).
    Torn(String),
    /// A lazily written record whose data blocks do not hold what it says
    /// (their write did not reach the disk before a power loss): the log
    /// ends before it (`load::replay`).
    DataMissing(String),
}

pub struct Scan {
    pub records: Vec<ScannedRecord>,
    /// Byte offset in the journal where the log ended.
    pub end_offset: u64,
    pub end: LogEnd,
}

/// Walks the journal from its start and returns the records of
/// `journal_gen` with consecutive seqs from `first_seq`. Errors are
/// corruption: a seq gap, an undecodable payload under a valid crc, a
/// record of a newer generation than the superblock's, or a damaged record
/// followed by a later batch of this generation (corruption in the middle:
/// that batch was written after the damaged one had been acknowledged).
pub fn scan(j: &[u8], journal_gen: u32, first_seq: u64) -> Result<Scan, String> {
    let mut pos = 0usize;
    let mut expected = first_seq;
    let mut records = Vec::new();
    let end = loop {
        if pos + RECORD_HEADER_BYTES > j.len() {
            break LogEnd::JournalEnd;
        }
        let raw = match read_record(j, pos) {
            Ok(r) => r,
            Err(NotRecord::Padding) => {
                pos = round_up(pos as u64 + 1, SECTOR_BYTES) as usize;
                continue;
            }
            Err(NotRecord::Invalid(why)) => break LogEnd::Torn(format!("{why} at offset {pos}")),
        };
        if raw.journal_gen < journal_gen {
            break LogEnd::OlderGeneration;
        }
        if raw.journal_gen > journal_gen {
            return Err(newer(pos, raw.journal_gen, journal_gen));
        }
        if raw.batch_first_seq > raw.seq {
            return Err(format!("journal record at offset {pos}: batch_first_seq {} is after its seq {}", raw.batch_first_seq, raw.seq));
        }
        if raw.seq != expected {
            if raw.seq > expected && raw.batch_first_seq <= expected {
                // A later record of the batch that holds `expected`: the
                // start of that batch never reached the device.
                break LogEnd::Torn(format!("seq {} of a batch whose seq {expected} is missing, at offset {pos}", raw.seq));
            }
            if raw.seq > expected && raw.flags & FLAG_LAZY != 0 {
                // A later batch, written before the one holding `expected`
                // reached stable storage, which a power loss then lost (it
                // reads as padding or an old record). `check_beyond_end`,
                // from this record on, tells that from damage.
                break LogEnd::Torn(format!("seq {expected} is missing before a lazily written batch (seq {}) at offset {pos}", raw.seq));
            }
            return Err(format!("journal gap at offset {pos}: expected seq {expected}, found seq {}", raw.seq));
        }
        let op = Op::decode_payload(raw.kind, raw.payload, (pos + RECORD_HEADER_BYTES) as u64)
            .map_err(|e| format!("journal record seq {} at offset {pos} has a valid crc but does not decode: {e}", raw.seq))?;
        records.push(ScannedRecord { offset: pos as u64, seq: raw.seq, op, data_crc: raw.data_crc });
        expected += 1;
        pos += raw.framed_len;
    };
    if end != LogEnd::JournalEnd {
        check_beyond_end(j, pos, journal_gen, expected)?;
    }
    Ok(Scan { records, end_offset: pos as u64, end })
}

fn newer(pos: usize, found: u32, ours: u32) -> String {
    format!(
        "journal record at offset {pos} has generation {found}, newer than the superblock's {ours}: \
         the newest superblock is damaged and falling back would lose data"
    )
}

/// Past the end of the log only the remnants of one torn batch may hold
/// valid records of this generation. Any record of a later batch (its
/// `batch_first_seq` is past the first missing seq) or of a newer
/// generation means acknowledged records were damaged. The exception is a
/// later batch written lazily (`FLAG_LAZY`): after a power loss it may be
/// on disk while the missing one is not, unless one of its records says
/// the missing seq had reached stable storage (`DiskSynced`).
fn check_beyond_end(j: &[u8], end: usize, journal_gen: u32, expected: u64) -> Result<(), String> {
    // From the end itself: the record there may be a later batch's.
    let mut pos = round_up(end as u64, RECORD_ALIGN_BYTES as u64) as usize;
    let magic = RECORD_MAGIC.to_le_bytes();
    while pos + RECORD_HEADER_BYTES <= j.len() {
        if j[pos..pos + 4] == magic {
            if let Ok(raw) = read_record(j, pos) {
                if raw.journal_gen > journal_gen {
                    return Err(newer(pos, raw.journal_gen, journal_gen));
                }
                let synced_past = || {
                    raw.kind == KIND_DISK_SYNCED
                        && matches!(Op::decode_payload(raw.kind, raw.payload, 0), Ok(Op::DiskSynced { upto }) if upto >= expected)
                };
                let may_lag = raw.flags & FLAG_LAZY != 0 && !synced_past();
                if raw.journal_gen == journal_gen && raw.batch_first_seq > expected && !may_lag {
                    return Err(format!(
                        "journal damaged in the middle: the record at offset {end} (expected seq {expected}) is unreadable, \
                         but a later batch follows (seq {} at offset {pos})",
                        raw.seq
                    ));
                }
            }
        }
        pos += RECORD_ALIGN_BYTES;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn all_ops() -> Vec<Op> {
        vec![
            Op::Create { ino: 5, parent: 1, name: "Ab c.txt".into(), kind: FileKind::File, attributes: 0x20, time: 77 },
            Op::Create { ino: 6, parent: 5, name: "ü".into(), kind: FileKind::Dir, attributes: 0x10, time: 78 },
            Op::Remove { parent: 1, name: "x".into() },
            Op::Rename { src_parent: 1, src_name: "a".into(), dst_parent: 6, dst_name: "B".into(), replace: true, time: 9 },
            Op::SetAttr { ino: 5, attributes: Some(1), creation_time: None, last_access_time: Some(3), last_write_time: None, change_time: Some(0) },
            Op::SetSize { ino: 5, size: 4097, time: 1, tail_dev_block: Some(900) },
            Op::SetSize { ino: 5, size: 0, time: 1, tail_dev_block: None },
            Op::SetAllocation { ino: 5, bytes: 1 << 30 },
            Op::Punch { ino: 5, file_block: 3, block_count: 9, time: 4 },
            Op::Write {
                ino: 5,
                size_after: 10_000,
                time: 4,
                extents: vec![WriteExtent { file_block: 0, dev_block: 800, block_count: 2 }, WriteExtent { file_block: 2, dev_block: 1000, block_count: 1 }],
            },
        ]
    }

    #[test]
    fn every_op_round_trips() {
        for op in all_ops() {
            let p = op.encode_payload();
            assert_eq!(Op::decode_payload(op.kind(), &p, 0).unwrap(), op);
            // Truncations and an extra byte are refused, never a panic.
            for cut in 0..p.len() {
                assert!(Op::decode_payload(op.kind(), &p[..cut], 0).is_err());
            }
            let mut longer = p.clone();
            longer.push(0);
            assert!(Op::decode_payload(op.kind(), &longer, 0).is_err());
        }
        assert!(Op::decode_payload(99, &[], 0).is_err());
        let m = Op::DiskSynced { upto: 77 };
        assert_eq!(Op::decode_payload(m.kind(), &m.encode_payload(), 0).unwrap(), m);
    }

    /// A batch as written before disk lag: no flags.
    fn strict_batch(journal_gen: u32, records: &[PendingRecord]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            frame(&mut out, journal_gen, r.seq, records[0].seq, r.kind, &r.payload);
        }
        out.resize(round_up(out.len() as u64, SECTOR_BYTES) as usize, 0);
        out
    }

    #[test]
    fn a_lazy_batch_past_a_missing_one_is_a_power_loss_unless_it_says_the_missing_one_was_synced() {
        let ops = all_ops();
        let place = |b1: &[u8], b2: &[u8]| {
            let mut j = vec![0u8; 64 << 10];
            j[..b1.len()].copy_from_slice(b1);
            j[b1.len()..b1.len() + b2.len()].copy_from_slice(b2);
            // Batch 1's second record never reached the disk.
            j[framed_bytes(ops[0].encode_payload().len()) + RECORD_HEADER_BYTES + 3] ^= 0xff;
            j
        };
        let b1 = frame_batch(1, &pending(&ops[..4], 1));
        let s = scan(&place(&b1, &frame_batch(1, &pending(&ops[4..], 5))), 1, 1).unwrap();
        assert_eq!(s.records.len(), 1);
        assert!(matches!(s.end, LogEnd::Torn(_)));
        // The later batch says seq 2 had reached stable storage: damage.
        let mut later = pending(&ops[4..], 5);
        let m = Op::DiskSynced { upto: 4 };
        later.push(PendingRecord { seq: 5 + later.len() as u64, kind: m.kind(), payload: m.encode_payload(), data_crc: None });
        let e = scan(&place(&b1, &frame_batch(1, &later)), 1, 1).err().unwrap();
        assert!(e.contains("damaged in the middle"), "{e}");
        // A data crc travels in the header and is covered by its crc.
        let mut out = Vec::new();
        frame_with(&mut out, 1, 1, 1, ops[0].kind(), &ops[0].encode_payload(), FLAG_LAZY, Some(0xdead_beef));
        assert_eq!(read_record(&out, 0).ok().unwrap().data_crc, Some(0xdead_beef));
        out[33] ^= 1;
        assert!(read_record(&out, 0).is_err());
    }

    fn pending(ops: &[Op], first_seq: u64) -> Vec<PendingRecord> {
        ops.iter().enumerate().map(|(i, op)| PendingRecord { seq: first_seq + i as u64, kind: op.kind(), payload: op.encode_payload(), data_crc: None }).collect()
    }

    #[test]
    fn scan_reads_batches_and_stops_at_older_generations() {
        let ops = all_ops();
        let mut j = vec![0u8; 64 << 10];
        // An old generation's records fill the region first.
        let old = frame_batch(2, &pending(&ops, 1));
        j[..old.len()].copy_from_slice(&old);
        j[old.len()..2 * old.len()].copy_from_slice(&old);
        let b1 = frame_batch(3, &pending(&ops[..4], 10));
        let b2 = frame_batch(3, &pending(&ops[4..], 14));
        j[..b1.len()].copy_from_slice(&b1);
        j[b1.len()..b1.len() + b2.len()].copy_from_slice(&b2);
        let s = scan(&j, 3, 10).unwrap();
        assert_eq!(s.records.len(), ops.len());
        assert_eq!(s.records.iter().map(|r| r.op.clone()).collect::<Vec<_>>(), ops);
        assert_eq!(s.end, LogEnd::OlderGeneration);
        assert_eq!(s.end_offset as usize, b1.len() + b2.len());
    }

    #[test]
    fn torn_batch_ends_the_log_but_damage_before_a_later_batch_is_corruption() {
        let ops = all_ops();
        let mut j = vec![0u8; 64 << 10];
        let b1 = strict_batch(1, &pending(&ops[..4], 1));
        let b2 = strict_batch(1, &pending(&ops[4..], 5));
        j[..b1.len()].copy_from_slice(&b1);
        j[b1.len()..b1.len() + b2.len()].copy_from_slice(&b2);
        // Tear batch 2: its first record never arrived whole; the rest of
        // the same batch did.
        let mut torn = j.clone();
        torn[b1.len() + RECORD_HEADER_BYTES] ^= 0xff;
        let s = scan(&torn, 1, 1).unwrap();
        assert_eq!(s.records.len(), 4);
        assert!(matches!(s.end, LogEnd::Torn(_)));
        // Damage batch 1's second record: batch 2 follows, so this is
        // corruption.
        let mut bad = j.clone();
        bad[framed_bytes(ops[0].encode_payload().len()) + RECORD_HEADER_BYTES + 3] ^= 0xff;
        let e = scan(&bad, 1, 1).err().unwrap();
        assert!(e.contains("damaged in the middle") && e.contains("expected seq 2"), "{e}");
        // A record of a newer generation: the superblock is stale.
        let e = scan(&j, 0, 1).err().unwrap();
        assert!(e.contains("newer"), "{e}");
        // A gap.
        let e = scan(&j, 1, 2).err().unwrap();
        assert!(e.contains("gap"), "{e}");
    }
}
