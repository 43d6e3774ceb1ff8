//! Offline check of a volume: reads the superblocks, checkpoint and journal
//! without mounting (nothing is written), replays, and checks every
//! invariant listed in `docs/objfs.md`, naming each problem found.

use holdfast_types::limits::BLOCK_BYTES;

use crate::device::Device;
use crate::fs::FileKind;
use crate::io::read_bytes;
use crate::load::{self, COPY_NAMES};
use crate::meta::Meta;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsckReport {
    pub problems: Vec<String>,
    pub inodes: u64,
    pub files: u64,
    pub dirs: u64,
    pub used_blocks: u64,
    pub free_blocks: u64,
    /// Records replayed from the journal.
    pub journal_records: u64,
    /// Generation of the superblock copy used.
    pub generation: u64,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

pub async fn fsck<D: Device>(dev: &D) -> FsckReport {
    let mut r = FsckReport::default();
    check(dev, &mut r).await;
    r
}

async fn check<D: Device>(dev: &D, r: &mut FsckReport) {
    let sbs = match load::read_superblocks(dev).await {
        Ok(s) => s,
        Err(e) => return r.problems.push(format!("superblocks: {e}")),
    };
    r.problems.extend(sbs.invalid_copies());
    let chosen = match sbs.choose() {
        Ok(c) => c,
        Err(e) => return r.problems.push(format!("no usable superblock: {e}")),
    };
    let sb = sbs.copies[chosen].as_ref().expect("chosen copy is valid").clone();
    r.generation = sb.generation;
    if let (Ok(a), Ok(b)) = (&sbs.copies[0], &sbs.copies[1]) {
        if a.generation == b.generation {
            r.problems.push(format!("superblock copies A and B both have generation {}", a.generation));
        }
        if a.volume_id != b.volume_id || a.geometry != b.geometry {
            r.problems.push("superblock copies A and B describe different volumes or geometries".into());
        }
    }
    let (mut meta, problems) = match load::read_checkpoint(dev, &sb).await {
        Ok(m) => m,
        Err(e) => return r.problems.push(format!("superblock copy {} -> {e}", COPY_NAMES[chosen])),
    };
    r.problems.extend(problems.into_iter().map(|p| format!("checkpoint: {p}")));
    r.problems.extend(meta.check_structure().into_iter().map(|p| format!("checkpoint: {p}")));
    if r.problems.iter().any(|p| p.starts_with("checkpoint:")) {
        // Replaying onto a broken tree would only add noise.
        count(&meta, r, sb.geometry.data_blocks);
        return;
    }
    match load::read_journal(dev, &sb).await {
        Err(e) => r.problems.push(format!("journal: {e}")),
        Ok(j) => match load::replay(dev, &mut meta, &j, &sb, &sbs).await {
            Ok(rep) => r.journal_records = rep.records,
            Err(e) => r.problems.push(format!("journal: {e}")),
        },
    }
    r.problems.extend(meta.check_structure());
    r.problems.extend(meta.check_overlaps());
    count(&meta, r, sb.geometry.data_blocks);
    check_tails(dev, &meta, r).await;
}

fn count(meta: &Meta, r: &mut FsckReport, data_blocks: u64) {
    r.inodes = meta.inodes.len() as u64;
    r.files = meta.inodes.values().filter(|n| n.kind == FileKind::File).count() as u64;
    r.dirs = r.inodes - r.files;
    r.used_blocks = meta.inodes.values().map(|n| n.mapped_blocks()).sum();
    r.free_blocks = data_blocks.saturating_sub(r.used_blocks);
}

/// Bytes past the end of file in a mapped last block are zero, so growing
/// a file never brings old data back.
async fn check_tails<D: Device>(dev: &D, meta: &Meta, r: &mut FsckReport) {
    for n in meta.inodes.values() {
        let partial = (n.size % BLOCK_BYTES) as usize;
        if n.kind != FileKind::File || partial == 0 {
            continue;
        }
        let Some(db) = n.dev_block_of(n.size / BLOCK_BYTES) else { continue };
        match read_bytes(dev, db * BLOCK_BYTES, BLOCK_BYTES).await {
            Ok(b) => {
                if let Some(i) = b[partial..].iter().position(|&x| x != 0) {
                    r.problems.push(format!(
                        "inode {}: byte {} past the end of file (size {}) in its last block (dev_block {db}) is not zero",
                        n.ino,
                        n.size + i as u64,
                        n.size
                    ));
                }
            }
            Err(e) => r.problems.push(format!("inode {}: reading its last block {db}: {e}", n.ino)),
        }
    }
}
