//! Reading a file system off the device without changing it: superblock
//! choice, checkpoint, journal replay. Mount uses it strictly (any problem
//! refuses the mount); fsck uses the same steps and reports each problem.

use holdfast_types::checksum::crc32;
use holdfast_types::limits::BLOCK_BYTES;

use crate::checkpoint;
use crate::device::Device;
use crate::error::FsError;
use crate::io::read_bytes;
use crate::journal::{self, LogEnd, Op};
use crate::layout::{sector_round, Geometry, SbError, Superblock, SUPERBLOCK_BYTES};
use crate::meta::Meta;

pub const COPY_NAMES: [&str; 2] = ["A", "B"];

pub struct Superblocks {
    pub copies: [Result<Superblock, SbError>; 2],
}

impl Superblocks {
    /// The generation each copy holds; 0 for an invalid copy (written
    /// first at the next checkpoint).
    pub fn generations(&self) -> [u64; 2] {
        [0, 1].map(|i| self.copies[i].as_ref().map_or(0, |s| s.generation))
    }

    /// The valid copy with the highest generation, or why there is none.
    pub fn choose(&self) -> Result<usize, FsError> {
        match (&self.copies[0], &self.copies[1]) {
            (Ok(a), Ok(b)) => Ok(if b.generation > a.generation { 1 } else { 0 }),
            (Ok(_), Err(_)) => Ok(0),
            (Err(_), Ok(_)) => Ok(1),
            (Err(SbError::Zero), Err(SbError::Zero)) => Err(FsError::NotFormatted),
            (Err(SbError::Foreign(f)), Err(SbError::Foreign(_) | SbError::Zero)) | (Err(SbError::Zero), Err(SbError::Foreign(f))) => {
                Err(FsError::Foreign(f.clone()))
            }
            (Err(a), Err(b)) => Err(FsError::Corrupt(format!("both superblock copies are unusable: copy A: {}; copy B: {}", describe(a), describe(b)))),
        }
    }

    pub fn invalid_copies(&self) -> Vec<String> {
        (0..2).filter_map(|i| self.copies[i].as_ref().err().map(|e| format!("superblock copy {}: {}", COPY_NAMES[i], describe(e)))).collect()
    }
}

pub fn describe(e: &SbError) -> String {
    match e {
        SbError::Zero => "all zeros".into(),
        SbError::Foreign(f) => format!("not an objfs superblock: {f}"),
        SbError::Corrupt(c) => c.clone(),
    }
}

pub async fn read_superblocks<D: Device>(dev: &D) -> Result<Superblocks, FsError> {
    let size = dev.size_bytes();
    if size < 2 * SUPERBLOCK_BYTES as u64 {
        return Err(FsError::NotFormatted);
    }
    let both = read_bytes(dev, 0, 2 * SUPERBLOCK_BYTES as u64).await?;
    let (a, b) = both.split_at(SUPERBLOCK_BYTES);
    Ok(Superblocks { copies: [Superblock::decode(a, size), Superblock::decode(b, size)] })
}

/// Reads the checkpoint the superblock points at and checks its crc and
/// header against the superblock. Returns the state and indexing problems.
pub async fn read_checkpoint<D: Device>(dev: &D, sb: &Superblock) -> Result<(Meta, Vec<String>), FsError> {
    let g = &sb.geometry;
    let slot = sb.checkpoint_slot as usize;
    let raw = read_bytes(dev, g.checkpoint_start[slot] * BLOCK_BYTES, sector_round(sb.checkpoint_bytes)).await?;
    let body = &raw[..sb.checkpoint_bytes as usize];
    let crc = crc32(&[body]);
    if crc != sb.checkpoint_crc {
        return Err(FsError::Corrupt(format!(
            "checkpoint in slot {slot} ({} bytes at block {}): crc mismatch (superblock says {:#010x}, computed {crc:#010x})",
            sb.checkpoint_bytes, g.checkpoint_start[slot], sb.checkpoint_crc
        )));
    }
    let (h, meta, problems) = checkpoint::decode(body, g.data_start, g.data_end())
        .map_err(|e| FsError::Corrupt(format!("checkpoint in slot {slot} has a valid crc but does not decode: {e}")))?;
    if h.journal_gen != sb.journal_gen || h.journal_first_seq != sb.journal_first_seq || h.next_ino != sb.next_ino || h.volume_id != sb.volume_id {
        return Err(FsError::Corrupt(format!(
            "checkpoint in slot {slot} does not match the superblock (journal_gen {} vs {}, first seq {} vs {}, next_ino {} vs {}, volume id equal: {})",
            h.journal_gen,
            sb.journal_gen,
            h.journal_first_seq,
            sb.journal_first_seq,
            h.next_ino,
            sb.next_ino,
            h.volume_id == sb.volume_id
        )));
    }
    Ok((meta, problems))
}

pub async fn read_journal<D: Device>(dev: &D, sb: &Superblock) -> Result<Vec<u8>, FsError> {
    read_bytes(dev, sb.geometry.journal_start * BLOCK_BYTES, sb.geometry.journal_bytes()).await
}

pub struct Replayed {
    pub records: u64,
    pub next_seq: u64,
    pub end: LogEnd,
    pub end_offset: u64,
}

/// Scans the journal and applies its records to `meta`. A record that does
/// not apply is corruption: it applied when it was written.
///
/// Records past the last point known to be on stable storage (the newest
/// `DiskSynced`, or the checkpoint) were written lazily: after a power loss
/// their data blocks may not have reached the disk although the record
/// did. Each such record with a data crc is checked against the blocks it
/// maps; the log ends before the first that does not match
/// (`LogEnd::DataMissing`), so no file maps a block that does not hold
/// what was written to it. Later records go with it: replay keeps a prefix.
pub async fn replay<D: Device>(dev: &D, meta: &mut Meta, journal: &[u8], sb: &Superblock, sbs: &Superblocks) -> Result<Replayed, FsError> {
    let scan = journal::scan(journal, sb.journal_gen, sb.journal_first_seq).map_err(|e| {
        let bad = sbs.invalid_copies();
        if bad.is_empty() {
            FsError::Corrupt(e)
        } else {
            FsError::Corrupt(format!("{e}; {}", bad.join("; ")))
        }
    })?;
    let synced = scan
        .records
        .iter()
        .filter_map(|r| match r.op {
            Op::DiskSynced { upto } => Some(upto),
            _ => None,
        })
        .max()
        .unwrap_or(0)
        .max(sb.journal_first_seq - 1);
    let mut next_seq = sb.journal_first_seq;
    let (mut end, mut end_offset, mut records) = (scan.end.clone(), scan.end_offset, 0);
    for r in &scan.records {
        if let Some(want) = r.data_crc.filter(|_| r.seq > synced) {
            if let Some(got) = data_crc_of(dev, &r.op, &sb.geometry).await? {
                if got != want {
                    end = LogEnd::DataMissing(format!("data of seq {} at offset {} never reached the disk (crc {got:#010x}, record says {want:#010x})", r.seq, r.offset));
                    end_offset = r.offset;
                    break;
                }
            }
        }
        meta.apply(&r.op).map_err(|e| FsError::Corrupt(format!("journal record seq {} at offset {} does not apply: {e}", r.seq, r.offset)))?;
        next_seq = r.seq + 1;
        records += 1;
    }
    Ok(Replayed { records, next_seq, end, end_offset })
}

/// crc32 of the data blocks `op` maps, in op order; `None` when it maps
/// none, or blocks outside the data region (then `apply` refuses it).
async fn data_crc_of<D: Device>(dev: &D, op: &Op, geo: &Geometry) -> Result<Option<u32>, FsError> {
    let runs: Vec<(u64, u64)> = match op {
        Op::Write { extents, .. } => extents.iter().map(|x| (x.dev_block, x.block_count as u64)).collect(),
        Op::SetSize { tail_dev_block: Some(b), .. } => vec![(*b, 1)],
        _ => return Ok(None),
    };
    if runs.is_empty() || runs.iter().any(|&(b, n)| b < geo.data_start || b.checked_add(n).is_none_or(|e| e > geo.data_end())) {
        return Ok(None);
    }
    let mut data = Vec::new();
    for (b, n) in runs {
        data.extend_from_slice(&read_bytes(dev, b * BLOCK_BYTES, n * BLOCK_BYTES).await?);
    }
    Ok(Some(crc32(&[&data])))
}

pub struct Loaded {
    pub sbs: Superblocks,
    pub chosen: usize,
    pub meta: Meta,
    pub replayed: Replayed,
}

impl Loaded {
    pub fn sb(&self) -> &Superblock {
        self.sbs.copies[self.chosen].as_ref().expect("chosen copy is valid")
    }
}

/// Everything mount needs, refusing at the first problem.
pub async fn load<D: Device>(dev: &D) -> Result<Loaded, FsError> {
    let sbs = read_superblocks(dev).await?;
    let chosen = sbs.choose()?;
    let sb = sbs.copies[chosen].as_ref().expect("chosen copy is valid").clone();
    let journal = read_journal(dev, &sb).await?;
    let (mut meta, mut problems) = read_checkpoint(dev, &sb).await?;
    problems.extend(meta.check_structure());
    if !problems.is_empty() {
        return Err(FsError::Corrupt(format!("checkpoint: {}", summarize(&problems))));
    }
    let replayed = replay(dev, &mut meta, &journal, &sb, &sbs).await?;
    let mut problems = meta.check_structure();
    problems.extend(meta.check_overlaps());
    if !problems.is_empty() {
        return Err(FsError::Corrupt(summarize(&problems)));
    }
    Ok(Loaded { sbs, chosen, meta, replayed })
}

fn summarize(problems: &[String]) -> String {
    let mut s = problems.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
    if problems.len() > 5 {
        s.push_str(&format!(" (and {} more)", problems.len() - 5));
    }
    s
}
