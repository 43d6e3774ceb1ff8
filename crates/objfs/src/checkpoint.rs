//! The checkpoint: the whole metadata, serialised into one of the two
//! checkpoint slots. Its length and crc32 are in the superblock that points
//! at it, so a torn or damaged checkpoint is never trusted. Directory
//! indexes are not stored; they are rebuilt from parent links at load.

use std::collections::BTreeMap;

use crate::codec::{Dec, Enc};
use crate::fs::{Ino, ROOT_INO};
use crate::journal::kind_from_byte;
use crate::meta::{Inode, Mapping, Meta, EXTENT_BYTES, FILE_BLOCKS_MAX, INODE_FIXED_BYTES};

pub const CHECKPOINT_MAGIC: [u8; 8] = *b"HFCKPT\0\0";
pub const CHECKPOINT_VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 64;

/// What the checkpoint header says besides the inodes; checked against the
/// superblock at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub journal_gen: u32,
    pub journal_first_seq: u64,
    pub next_ino: Ino,
    pub inode_count: u64,
    pub volume_id: [u8; 16],
}

pub fn encode(meta: &Meta, journal_gen: u32, journal_first_seq: u64, volume_id: [u8; 16]) -> Vec<u8> {
    let mut e = Enc::with_capacity(meta.checkpoint_bytes as usize);
    e.bytes(&CHECKPOINT_MAGIC);
    e.u32(CHECKPOINT_VERSION);
    e.u32(journal_gen);
    e.u64(journal_first_seq);
    e.u64(meta.next_ino);
    e.u64(meta.inodes.len() as u64);
    e.bytes(&volume_id);
    e.u64(0);
    debug_assert_eq!(e.buf.len(), HEADER_BYTES);
    for n in meta.inodes.values() {
        let start = e.buf.len();
        e.u64(n.ino);
        e.u64(n.parent);
        e.u8(match n.kind {
            crate::fs::FileKind::File => 1,
            crate::fs::FileKind::Dir => 2,
        });
        e.u32(n.attributes);
        e.u64(n.creation_time);
        e.u64(n.last_access_time);
        e.u64(n.last_write_time);
        e.u64(n.change_time);
        e.u64(n.size);
        e.u64(n.allocation);
        if n.ino == ROOT_INO {
            e.u16(0);
        } else {
            e.name(&n.name);
        }
        e.u32(n.extents.len() as u32);
        for (&fb, m) in &n.extents {
            e.u64(fb);
            e.u64(m.dev_block);
            e.u32(m.block_count);
        }
        debug_assert_eq!((e.buf.len() - start) as u64, n.record_bytes());
    }
    assert_eq!(e.buf.len() as u64, meta.checkpoint_bytes, "checkpoint size bookkeeping");
    e.buf
}

/// Decodes a checkpoint whose crc matched. Errors name the byte offset.
/// Structural invariants (parents, cycles, extents against sizes) are left
/// to [`Meta::check_structure`] so fsck can report each one.
pub fn decode(buf: &[u8], data_start: u64, data_end: u64) -> Result<(Header, Meta, Vec<String>), String> {
    let mut d = Dec::new(buf, 0);
    if d.take(8)? != CHECKPOINT_MAGIC {
        return Err("checkpoint magic mismatch".into());
    }
    let version = d.u32()?;
    if version != CHECKPOINT_VERSION {
        return Err(format!("checkpoint version {version} unknown"));
    }
    let journal_gen = d.u32()?;
    let journal_first_seq = d.u64()?;
    let next_ino = d.u64()?;
    let inode_count = d.u64()?;
    let mut volume_id = [0u8; 16];
    volume_id.copy_from_slice(d.take(16)?);
    d.u64()?;
    if inode_count > (d.remaining() as u64) / INODE_FIXED_BYTES {
        return Err(format!("checkpoint claims {inode_count} inodes in {} bytes", d.remaining()));
    }
    let mut inodes = BTreeMap::new();
    for _ in 0..inode_count {
        let at = d.offset();
        let ino = d.u64()?;
        let parent = d.u64()?;
        let kb = d.u8()?;
        let kind = kind_from_byte(kb).ok_or_else(|| format!("inode {ino} at byte {at}: kind byte {kb}"))?;
        let attributes = d.u32()?;
        let (creation_time, last_access_time, last_write_time, change_time) = (d.u64()?, d.u64()?, d.u64()?, d.u64()?);
        let size = d.u64()?;
        let allocation = d.u64()?;
        let name = if ino == ROOT_INO {
            let l = d.u16()?;
            if l != 0 {
                return Err(format!("root at byte {at} has a name of {l} bytes"));
            }
            String::new()
        } else {
            d.name().map_err(|e| format!("inode {ino}: {e}"))?
        };
        let n_ext = d.u32()? as u64;
        if n_ext > d.remaining() as u64 / EXTENT_BYTES {
            return Err(format!("inode {ino} at byte {at} claims {n_ext} extents in {} bytes", d.remaining()));
        }
        let mut extents = BTreeMap::new();
        let mut prev_end = 0u64;
        for i in 0..n_ext {
            let fb = d.u64()?;
            let dev_block = d.u64()?;
            let block_count = d.u32()?;
            let end = fb.checked_add(block_count as u64).filter(|&e| e <= FILE_BLOCKS_MAX);
            match end {
                Some(end) if block_count > 0 && (i == 0 || fb >= prev_end) => prev_end = end,
                _ => return Err(format!("inode {ino}: extent {i} (file_block {fb} +{block_count}) is empty, out of order or past the largest file")),
            }
            if dev_block.checked_add(block_count as u64).is_none() {
                return Err(format!("inode {ino}: extent {i} dev_block {dev_block} overflows"));
            }
            extents.insert(fb, Mapping { dev_block, block_count });
        }
        let n = Inode {
            ino,
            parent,
            kind,
            attributes,
            creation_time,
            last_access_time,
            last_write_time,
            change_time,
            size,
            allocation,
            name,
            extents,
            children: BTreeMap::new(),
            streams: BTreeMap::new(),
        };
        if inodes.insert(ino, n).is_some() {
            return Err(format!("inode {ino} appears twice (second at byte {at})"));
        }
    }
    d.finish("checkpoint")?;
    let header = Header { journal_gen, journal_first_seq, next_ino, inode_count, volume_id };
    let (meta, problems) = Meta::from_inodes(inodes, next_ino, data_start, data_end);
    Ok((header, meta, problems))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::FileKind;
    use crate::journal::{Op, WriteExtent};

    #[test]
    fn checkpoint_round_trips_and_refuses_damage() {
        let mut m = Meta::new(100, 10_000, 5);
        m.apply(&Op::Create { ino: 2, parent: 1, name: "Dir".into(), kind: FileKind::Dir, attributes: 0x10, time: 1 }).unwrap();
        m.apply(&Op::Create { ino: 3, parent: 2, name: "é f".into(), kind: FileKind::File, attributes: 0x20, time: 2 }).unwrap();
        m.apply(&Op::Write {
            ino: 3,
            size_after: 9000,
            time: 3,
            extents: vec![WriteExtent { file_block: 0, dev_block: 200, block_count: 1 }, WriteExtent { file_block: 2, dev_block: 300, block_count: 1 }],
        })
        .unwrap();
        let buf = encode(&m, 4, 17, [1; 16]);
        let (h, back, problems) = decode(&buf, 100, 10_000).unwrap();
        assert!(problems.is_empty());
        assert_eq!(h, Header { journal_gen: 4, journal_first_seq: 17, next_ino: 4, inode_count: 3, volume_id: [1; 16] });
        assert_eq!(back.inodes, m.inodes);
        assert_eq!(back.checkpoint_bytes, m.checkpoint_bytes);
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut], 100, 10_000).is_err());
        }
        let mut dup = buf.clone();
        dup[32] = 200; // inode_count too large for the bytes
        assert!(decode(&dup, 100, 10_000).unwrap_err().contains("claims"));
    }
}
