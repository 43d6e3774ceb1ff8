//! Where things live on the object, and the superblock that says so.
//!
//! ```text
//! block 0            superblock copy A
//! block 1            superblock copy B
//! journal_start ..   journal region (journal_blocks)
//! checkpoint_start[0] checkpoint slot 0 (checkpoint_blocks)
//! checkpoint_start[1] checkpoint slot 1 (checkpoint_blocks)
//! data_start ..      data region (data_blocks), extent-mapped file data
//! ```
//! Block numbers are absolute device blocks of [`BLOCK_BYTES`]. The byte
//! table of the superblock is in `docs/objfs.md`.

use holdfast_types::checksum::crc32;
use holdfast_types::limits::{BLOCK_BYTES, SECTOR_BYTES};

use crate::codec::{Dec, Enc};

pub const SUPERBLOCK_MAGIC: [u8; 8] = *b"HFOBJFS\0";
pub const FORMAT_VERSION: u32 = 1;
pub const SUPERBLOCK_BYTES: usize = BLOCK_BYTES as usize;
/// The crc32 sits in the last four bytes and covers everything before it.
pub const SUPERBLOCK_CRC_OFFSET: usize = SUPERBLOCK_BYTES - 4;
pub const LABEL_BYTES_MAX: usize = 64;

/// Bound of the superblock generation and of journal seqs.
pub const COUNTER_MAX: u64 = 1 << 62;
/// Smallest device `format` accepts.
pub const DEVICE_BYTES_MIN: u64 = 8 << 20;
/// Default journal size: a sixteenth of the device, within these bounds.
pub const JOURNAL_BYTES_DEFAULT_MIN: u64 = 1 << 20;
pub const JOURNAL_BYTES_DEFAULT_MAX: u64 = 64 << 20;
/// Default size of each checkpoint slot: a sixteenth of the device, within
/// these bounds.
pub const CHECKPOINT_BYTES_DEFAULT_MIN: u64 = 1 << 20;
pub const CHECKPOINT_BYTES_DEFAULT_MAX: u64 = 256 << 20;
/// Smallest journal and checkpoint slot `format_with_layout` accepts (tests
/// use tiny ones to force checkpoints). A journal must hold the largest
/// record; a slot must hold at least the root.
pub const JOURNAL_BYTES_MIN: u64 = 64 << 10;
pub const JOURNAL_BYTES_MAX: u64 = 1 << 30;
pub const CHECKPOINT_BYTES_MIN: u64 = 64 << 10;
pub const CHECKPOINT_BYTES_MAX: u64 = 4 << 30;
/// A data region smaller than this is not worth a file system.
pub const DATA_BLOCKS_MIN: u64 = 256;

/// Region geometry, fixed at format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub block_count: u64,
    pub journal_start: u64,
    pub journal_blocks: u64,
    pub checkpoint_start: [u64; 2],
    pub checkpoint_blocks: u64,
    pub data_start: u64,
    pub data_blocks: u64,
}

impl Geometry {
    /// Lays out a device of `size_bytes`; `journal_bytes` and
    /// `checkpoint_bytes` override the defaults.
    pub fn for_device(size_bytes: u64, journal_bytes: Option<u64>, checkpoint_bytes: Option<u64>) -> Result<Geometry, String> {
        if size_bytes < DEVICE_BYTES_MIN {
            return Err(format!("device of {size_bytes} bytes is smaller than the minimum of {DEVICE_BYTES_MIN}"));
        }
        let block_count = size_bytes / BLOCK_BYTES;
        let pick = |given: Option<u64>, lo: u64, hi: u64, dlo: u64, dhi: u64, what: &str| -> Result<u64, String> {
            let bytes = match given {
                Some(b) if b < lo || b > hi => return Err(format!("{what} of {b} bytes is outside {lo}..={hi}")),
                Some(b) => b,
                None => (size_bytes / 16).clamp(dlo, dhi),
            };
            Ok(bytes / BLOCK_BYTES)
        };
        let journal_blocks = pick(journal_bytes, JOURNAL_BYTES_MIN, JOURNAL_BYTES_MAX, JOURNAL_BYTES_DEFAULT_MIN, JOURNAL_BYTES_DEFAULT_MAX, "journal")?;
        let checkpoint_blocks = pick(
            checkpoint_bytes,
            CHECKPOINT_BYTES_MIN,
            CHECKPOINT_BYTES_MAX,
            CHECKPOINT_BYTES_DEFAULT_MIN,
            CHECKPOINT_BYTES_DEFAULT_MAX,
            "checkpoint slot",
        )?;
        let journal_start = 2;
        let c0 = journal_start + journal_blocks;
        let c1 = c0 + checkpoint_blocks;
        let data_start = c1 + checkpoint_blocks;
        if data_start + DATA_BLOCKS_MIN > block_count {
            return Err(format!(
                "device of {size_bytes} bytes leaves fewer than {DATA_BLOCKS_MIN} data blocks after a {} byte journal and two {} byte checkpoint slots",
                journal_blocks * BLOCK_BYTES,
                checkpoint_blocks * BLOCK_BYTES
            ));
        }
        let g = Geometry {
            block_count,
            journal_start,
            journal_blocks,
            checkpoint_start: [c0, c1],
            checkpoint_blocks,
            data_start,
            data_blocks: block_count - data_start,
        };
        g.check(size_bytes)?;
        Ok(g)
    }

    pub fn journal_bytes(&self) -> u64 {
        self.journal_blocks * BLOCK_BYTES
    }
    pub fn checkpoint_slot_bytes(&self) -> u64 {
        self.checkpoint_blocks * BLOCK_BYTES
    }
    pub fn data_end(&self) -> u64 {
        self.data_start + self.data_blocks
    }

    /// The regions follow each other in the documented order, inside the
    /// device, with sizes within the documented bounds.
    pub fn check(&self, device_bytes: u64) -> Result<(), String> {
        let dev_blocks = device_bytes / BLOCK_BYTES;
        if self.block_count > dev_blocks {
            return Err(format!("block_count {} is past the device's {dev_blocks} blocks", self.block_count));
        }
        if self.journal_start != 2 {
            return Err(format!("journal_start is {}, not 2", self.journal_start));
        }
        let jb = self.journal_blocks.saturating_mul(BLOCK_BYTES);
        if !(JOURNAL_BYTES_MIN..=JOURNAL_BYTES_MAX).contains(&jb) {
            return Err(format!("journal_blocks {} is outside the allowed sizes", self.journal_blocks));
        }
        let cb = self.checkpoint_blocks.saturating_mul(BLOCK_BYTES);
        if !(CHECKPOINT_BYTES_MIN..=CHECKPOINT_BYTES_MAX).contains(&cb) {
            return Err(format!("checkpoint_blocks {} is outside the allowed sizes", self.checkpoint_blocks));
        }
        let c0 = self.journal_start + self.journal_blocks;
        if self.checkpoint_start != [c0, c0 + self.checkpoint_blocks] {
            return Err(format!("checkpoint slots start at {:?}, expected [{c0}, {}]", self.checkpoint_start, c0 + self.checkpoint_blocks));
        }
        let ds = c0 + 2 * self.checkpoint_blocks;
        if self.data_start != ds {
            return Err(format!("data_start is {}, expected {ds}", self.data_start));
        }
        if self.data_blocks < DATA_BLOCKS_MIN || self.data_start.checked_add(self.data_blocks) != Some(self.block_count) {
            return Err(format!("data region {}+{} does not end at block_count {}", self.data_start, self.data_blocks, self.block_count));
        }
        Ok(())
    }
}

/// One copy of the superblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub geometry: Geometry,
    /// Raised by every superblock write; mount trusts the valid copy with
    /// the highest.
    pub generation: u64,
    pub volume_id: [u8; 16],
    pub format_time: u64,
    pub label: String,
    /// The slot holding the checkpoint this superblock describes.
    pub checkpoint_slot: u32,
    pub checkpoint_bytes: u64,
    pub checkpoint_crc: u32,
    /// Journal records of this generation follow the checkpoint.
    pub journal_gen: u32,
    /// Seq of the first journal record after the checkpoint.
    pub journal_first_seq: u64,
    pub next_ino: u64,
}

/// Why a superblock copy was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SbError {
    /// All bytes zero: never written.
    Zero,
    /// Not our magic; the text says what was found.
    Foreign(String),
    /// Our magic, but damaged or impossible.
    Corrupt(String),
}

impl Superblock {
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.label.len() <= LABEL_BYTES_MAX, "label checked at format");
        let g = &self.geometry;
        let mut e = Enc::with_capacity(SUPERBLOCK_BYTES);
        e.bytes(&SUPERBLOCK_MAGIC); // 0
        e.u32(FORMAT_VERSION); // 8
        e.u32(BLOCK_BYTES as u32); // 12
        e.u64(g.block_count); // 16
        e.u64(self.generation); // 24
        e.bytes(&self.volume_id); // 32
        e.u64(self.format_time); // 48
        e.u16(self.label.len() as u16); // 56
        e.bytes(&[0; 6]); // 58
        let mut label = [0u8; LABEL_BYTES_MAX];
        label[..self.label.len()].copy_from_slice(self.label.as_bytes());
        e.bytes(&label); // 64
        e.u64(g.journal_start); // 128
        e.u64(g.journal_blocks); // 136
        e.u64(g.checkpoint_start[0]); // 144
        e.u64(g.checkpoint_start[1]); // 152
        e.u64(g.checkpoint_blocks); // 160
        e.u64(g.data_start); // 168
        e.u64(g.data_blocks); // 176
        e.u32(self.checkpoint_slot); // 184
        e.u32(self.checkpoint_crc); // 188
        e.u64(self.checkpoint_bytes); // 192
        e.u32(self.journal_gen); // 200
        e.u32(0); // 204
        e.u64(self.journal_first_seq); // 208
        e.u64(self.next_ino); // 216
        let mut buf = e.buf;
        debug_assert_eq!(buf.len(), 224);
        buf.resize(SUPERBLOCK_CRC_OFFSET, 0);
        let crc = crc32(&[&buf]);
        buf.extend_from_slice(&crc.to_le_bytes());
        buf
    }

    /// Decodes one copy. `device_bytes` bounds the geometry.
    pub fn decode(buf: &[u8], device_bytes: u64) -> Result<Superblock, SbError> {
        if buf.len() != SUPERBLOCK_BYTES {
            return Err(SbError::Corrupt(format!("superblock is {} bytes, not {SUPERBLOCK_BYTES}", buf.len())));
        }
        if buf.iter().all(|&b| b == 0) {
            return Err(SbError::Zero);
        }
        if buf[..8] != SUPERBLOCK_MAGIC {
            return Err(SbError::Foreign(describe_foreign(buf)));
        }
        let stored = crate::codec::le_u32(buf, SUPERBLOCK_CRC_OFFSET).unwrap_or(0);
        let actual = crc32(&[&buf[..SUPERBLOCK_CRC_OFFSET]]);
        if stored != actual {
            return Err(SbError::Corrupt(format!("crc mismatch (stored {stored:#010x}, computed {actual:#010x})")));
        }
        Self::decode_fields(&buf[..SUPERBLOCK_CRC_OFFSET], device_bytes).map_err(SbError::Corrupt)
    }

    fn decode_fields(buf: &[u8], device_bytes: u64) -> Result<Superblock, String> {
        let mut d = Dec::new(buf, 0);
        d.take(8)?;
        let version = d.u32()?;
        if version != FORMAT_VERSION {
            return Err(format!("unknown format version {version} (this code reads version {FORMAT_VERSION})"));
        }
        let block_bytes = d.u32()?;
        if block_bytes as u64 != BLOCK_BYTES {
            return Err(format!("block_bytes is {block_bytes}, not {BLOCK_BYTES}"));
        }
        let block_count = d.u64()?;
        let generation = d.u64()?;
        let mut volume_id = [0u8; 16];
        volume_id.copy_from_slice(d.take(16)?);
        let format_time = d.u64()?;
        let label_len = d.u16()? as usize;
        d.take(6)?;
        let label_raw = d.take(LABEL_BYTES_MAX)?;
        if label_len > LABEL_BYTES_MAX {
            return Err(format!("label_len {label_len} is over {LABEL_BYTES_MAX}"));
        }
        let label = std::str::from_utf8(&label_raw[..label_len]).map_err(|e| format!("label is not UTF-8: {e}"))?.to_string();
        let geometry = Geometry {
            block_count,
            journal_start: d.u64()?,
            journal_blocks: d.u64()?,
            checkpoint_start: [d.u64()?, d.u64()?],
            checkpoint_blocks: d.u64()?,
            data_start: d.u64()?,
            data_blocks: d.u64()?,
        };
        geometry.check(device_bytes).map_err(|e| format!("impossible geometry: {e}"))?;
        let checkpoint_slot = d.u32()?;
        if checkpoint_slot > 1 {
            return Err(format!("checkpoint_slot is {checkpoint_slot}, not 0 or 1"));
        }
        let checkpoint_crc = d.u32()?;
        let checkpoint_bytes = d.u64()?;
        if checkpoint_bytes < crate::checkpoint::HEADER_BYTES as u64 || checkpoint_bytes > geometry.checkpoint_slot_bytes() {
            return Err(format!("checkpoint_bytes {checkpoint_bytes} does not fit a slot of {} bytes", geometry.checkpoint_slot_bytes()));
        }
        let journal_gen = d.u32()?;
        d.u32()?;
        let journal_first_seq = d.u64()?;
        // Counters start small and grow by one per op: values near the top
        // of their range are damage, and refusing them keeps every later
        // increment from overflowing.
        if journal_first_seq == 0 || journal_first_seq >= COUNTER_MAX {
            return Err(format!("journal_first_seq is {journal_first_seq}"));
        }
        let next_ino = d.u64()?;
        if next_ino <= crate::fs::ROOT_INO || next_ino >= crate::meta::INO_MAX {
            return Err(format!("next_ino is {next_ino}"));
        }
        if generation >= COUNTER_MAX {
            return Err(format!("generation is {generation}"));
        }
        Ok(Superblock {
            geometry,
            generation,
            volume_id,
            format_time,
            label,
            checkpoint_slot,
            checkpoint_bytes,
            checkpoint_crc,
            journal_gen,
            journal_first_seq,
            next_ino,
        })
    }
}

/// Names what a block that is not ours looks like, so an operator who
/// pointed a share at the wrong object sees what is on it.
pub fn describe_foreign(block0: &[u8]) -> String {
    let at = |off: usize, sig: &[u8]| block0.get(off..off + sig.len()) == Some(sig);
    let what = if at(1080, &[0x53, 0xEF]) {
        "an ext2/3/4 superblock (magic 0xEF53 at byte 1080)".to_string()
    } else if at(3, b"NTFS    ") {
        "an NTFS boot sector".to_string()
    } else if at(0, b"XFSB") {
        "an XFS superblock".to_string()
    } else if at(0, b"LUKS\xba\xbe") {
        "a LUKS header".to_string()
    } else if at(0, b"HFHANDLE") || at(0, b"HFHT") {
        "a Holdfast handle table".to_string()
    } else if at(512, b"EFI PART") {
        "a GPT partition table".to_string()
    } else if at(510, &[0x55, 0xAA]) {
        "an MBR / FAT boot sector (0x55AA at byte 510)".to_string()
    } else {
        let head: Vec<String> = block0.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("unknown data (first bytes {})", head.join(" "))
    };
    format!("{what} where the objfs magic {:?} was expected", String::from_utf8_lossy(&SUPERBLOCK_MAGIC[..7]))
}

/// Every device I/O is sector aligned; lengths are rounded up to this.
pub fn sector_round(len: u64) -> u64 {
    crate::codec::round_up(len, SECTOR_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        Superblock {
            geometry: Geometry::for_device(16 << 20, None, None).unwrap(),
            generation: 7,
            volume_id: [9; 16],
            format_time: 132_000_000_000_000_000,
            label: "share é".to_string(),
            checkpoint_slot: 1,
            checkpoint_bytes: 4096,
            checkpoint_crc: 0x1234_5678,
            journal_gen: 3,
            journal_first_seq: 41,
            next_ino: 99,
        }
    }

    #[test]
    fn superblock_round_trips() {
        let sb = sample();
        let buf = sb.encode();
        assert_eq!(buf.len(), SUPERBLOCK_BYTES);
        assert_eq!(Superblock::decode(&buf, 16 << 20).unwrap(), sb);
    }

    #[test]
    fn superblock_damage_is_named() {
        let mut buf = sample().encode();
        buf[100] ^= 1;
        assert!(matches!(Superblock::decode(&buf, 16 << 20), Err(SbError::Corrupt(m)) if m.contains("crc mismatch")));
        assert_eq!(Superblock::decode(&[0; SUPERBLOCK_BYTES], 16 << 20), Err(SbError::Zero));
        let mut ext4 = vec![0u8; SUPERBLOCK_BYTES];
        ext4[1080] = 0x53;
        ext4[1081] = 0xEF;
        assert!(matches!(Superblock::decode(&ext4, 16 << 20), Err(SbError::Foreign(m)) if m.contains("ext2/3/4")));
        // A valid crc over an unknown version is still refused, by name.
        let mut sb = sample().encode();
        sb[8] = 2;
        let crc = crc32(&[&sb[..SUPERBLOCK_CRC_OFFSET]]);
        sb[SUPERBLOCK_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(Superblock::decode(&sb, 16 << 20), Err(SbError::Corrupt(m)) if m.contains("version 2")));
        // Geometry past the device.
        assert!(matches!(Superblock::decode(&sample().encode(), 8 << 20), Err(SbError::Corrupt(m)) if m.contains("geometry")));
    }

    #[test]
    fn default_geometry_follows_the_documented_sizes() {
        let g = Geometry::for_device(16 << 20, None, None).unwrap();
        assert_eq!(g.journal_bytes(), 1 << 20);
        assert_eq!(g.checkpoint_slot_bytes(), 1 << 20);
        assert_eq!(g.data_start, 2 + 256 * 3);
        let g = Geometry::for_device(1 << 40, None, None).unwrap();
        assert_eq!(g.journal_bytes(), 64 << 20);
        assert_eq!(g.checkpoint_slot_bytes(), 256 << 20);
        assert!(Geometry::for_device(4 << 20, None, None).is_err());
        assert!(Geometry::for_device(16 << 20, Some(1000), None).is_err());
    }
}
