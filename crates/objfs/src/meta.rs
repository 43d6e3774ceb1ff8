//! The whole metadata in memory: inodes with names and extents, and one
//! index per directory. [`Meta::apply`] is the only way it changes, live
//! and at replay, so a replayed journal rebuilds exactly the state that was
//! acknowledged. `apply` checks everything before it changes anything: an
//! op that fails leaves the state as it was.

use std::collections::BTreeMap;

use holdfast_types::limits::BLOCK_BYTES;

use crate::codec::round_up;
use crate::error::FsError;
use crate::fs::{Attr, FileKind, Ino, ROOT_INO};
use crate::journal::{Op, WRITE_EXTENTS_MAX};
use crate::names::{fold, is_stream, validate_stored_name, EA_STREAM};

/// Largest file size (16 TiB, as NTFS with 4 KiB clusters).
pub const FILE_BYTES_MAX: u64 = 1 << 44;
pub const FILE_BLOCKS_MAX: u64 = FILE_BYTES_MAX / BLOCK_BYTES;
/// Inode numbers stay below this (and counters far from overflow).
pub const INO_MAX: u64 = 1 << 62;
/// FILE_ATTRIBUTE_DIRECTORY, given to the root at format.
pub const ATTRIBUTE_DIRECTORY: u32 = 0x10;

/// Bytes of one inode record in a checkpoint without its name and extents.
pub const INODE_FIXED_BYTES: u64 = 75;
pub const EXTENT_BYTES: u64 = 20;

/// File blocks `[key, key + block_count)` live in device blocks
/// `[dev_block, dev_block + block_count)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub dev_block: u64,
    pub block_count: u32,
}

/// A run of device blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Run {
    pub start: u64,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    pub ino: Ino,
    pub parent: Ino,
    pub kind: FileKind,
    pub attributes: u32,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub size: u64,
    /// The allocation size a client asked for (advisory).
    pub allocation: u64,
    /// As created or last renamed: case preserved.
    pub name: String,
    /// file_block -> mapping; sorted, never overlapping, never past EOF.
    pub extents: BTreeMap<u64, Mapping>,
    /// fold(name) -> ino; directories only. Rebuilt from parent links at
    /// load, so it is never stored.
    pub children: BTreeMap<String, Ino>,
    /// fold(`:stream`) -> ino: the alternate data streams of this file or
    /// directory. A stream is a file inode whose parent is its base and
    /// whose name starts with `:`; rebuilt at load as `children` is.
    pub streams: BTreeMap<String, Ino>,
}

impl Inode {
    pub fn record_bytes(&self) -> u64 {
        INODE_FIXED_BYTES + self.name.len() as u64 + EXTENT_BYTES * self.extents.len() as u64
    }

    pub fn mapped_blocks(&self) -> u64 {
        self.extents.values().map(|m| m.block_count as u64).sum()
    }

    /// The device block holding file block `fb`, if mapped.
    pub fn dev_block_of(&self, fb: u64) -> Option<u64> {
        let (&k, m) = self.extents.range(..=fb).next_back()?;
        (fb < k + m.block_count as u64).then(|| m.dev_block + (fb - k))
    }

    pub fn attr(&self) -> Attr {
        let (size, alloc) = match self.kind {
            FileKind::Dir => (0, 0),
            FileKind::File => (self.size, round_up(self.allocation, BLOCK_BYTES).max(round_up(self.size, BLOCK_BYTES))),
        };
        Attr {
            ino: self.ino,
            parent: self.parent,
            kind: self.kind,
            name: self.name.clone(),
            size_bytes: size,
            allocation_bytes: alloc,
            attributes: self.attributes,
            creation_time: self.creation_time,
            last_access_time: self.last_access_time,
            last_write_time: self.last_write_time,
            change_time: self.change_time,
            ea_bytes: 0,
        }
    }
}

pub fn blocks_for(size: u64) -> u64 {
    size.div_ceil(BLOCK_BYTES)
}

#[derive(Debug)]
pub struct Meta {
    pub inodes: BTreeMap<Ino, Inode>,
    pub next_ino: Ino,
    /// The data region `[data_start, data_end)`: every extent lies inside.
    pub data_start: u64,
    pub data_end: u64,
    /// Exact size of the checkpoint this state would encode to.
    pub checkpoint_bytes: u64,
}

impl Meta {
    /// A fresh file system: only the root.
    pub fn new(data_start: u64, data_end: u64, now: u64) -> Meta {
        let root = Inode {
            ino: ROOT_INO,
            parent: ROOT_INO,
            kind: FileKind::Dir,
            attributes: ATTRIBUTE_DIRECTORY,
            creation_time: now,
            last_access_time: now,
            last_write_time: now,
            change_time: now,
            size: 0,
            allocation: 0,
            name: String::new(),
            extents: BTreeMap::new(),
            children: BTreeMap::new(),
            streams: BTreeMap::new(),
        };
        let mut m = Meta { inodes: BTreeMap::new(), next_ino: ROOT_INO + 1, data_start, data_end, checkpoint_bytes: 0 };
        m.inodes.insert(ROOT_INO, root);
        m.checkpoint_bytes = m.compute_checkpoint_bytes();
        m
    }

    /// Builds the state from decoded inodes (directory indexes empty).
    /// Returns the problems found while indexing: two entries with the same
    /// folded name in one directory. Missing or non-directory parents are
    /// left to [`Meta::check_structure`]. The state is usable for checking
    /// even when problems are returned.
    pub fn from_inodes(inodes: BTreeMap<Ino, Inode>, next_ino: Ino, data_start: u64, data_end: u64) -> (Meta, Vec<String>) {
        let mut m = Meta { inodes, next_ino, data_start, data_end, checkpoint_bytes: 0 };
        let mut problems = Vec::new();
        let links: Vec<(Ino, Ino, String)> =
            m.inodes.values().filter(|n| n.ino != ROOT_INO).map(|n| (n.ino, n.parent, fold(&n.name))).collect();
        for (ino, parent, key) in links {
            match m.inodes.get_mut(&parent) {
                None => {}
                Some(p) if is_stream(&key) => {
                    if let Some(other) = p.streams.insert(key.clone(), ino) {
                        problems.push(format!("inode {parent}: streams {other} and {ino} both have the name {key:?} (folded)"));
                    }
                }
                Some(p) if p.kind != FileKind::Dir => {}
                Some(p) => {
                    if let Some(other) = p.children.insert(key.clone(), ino) {
                        problems.push(format!("directory {parent}: inodes {other} and {ino} both have the name {key:?} (folded)"));
                    }
                }
            }
        }
        m.checkpoint_bytes = m.compute_checkpoint_bytes();
        (m, problems)
    }

    pub fn compute_checkpoint_bytes(&self) -> u64 {
        crate::checkpoint::HEADER_BYTES as u64 + self.inodes.values().map(Inode::record_bytes).sum::<u64>()
    }

    pub fn get(&self, ino: Ino) -> Result<&Inode, FsError> {
        self.inodes.get(&ino).ok_or(FsError::NotFound)
    }

    pub fn dir(&self, ino: Ino) -> Result<&Inode, FsError> {
        let n = self.get(ino)?;
        if n.kind != FileKind::Dir {
            return Err(FsError::NotDir);
        }
        Ok(n)
    }

    pub fn file(&self, ino: Ino) -> Result<&Inode, FsError> {
        let n = self.get(ino)?;
        if n.kind != FileKind::File {
            return Err(FsError::IsDir);
        }
        Ok(n)
    }

    /// What a client sees of an inode. A stream has its own size and
    /// allocation, and its file's attributes, times and EA size: NTFS
    /// keeps those per file, not per stream.
    pub fn attr_of(&self, ino: Ino) -> Result<Attr, FsError> {
        let n = self.get(ino)?;
        let mut a = n.attr();
        let mut holder = n;
        if is_stream(&n.name) {
            holder = self.get(n.parent)?;
            let base = holder.attr();
            a = Attr { ino: a.ino, parent: a.parent, kind: FileKind::File, name: a.name, size_bytes: a.size_bytes, allocation_bytes: a.allocation_bytes, ..base };
            a.attributes &= !ATTRIBUTE_DIRECTORY;
        }
        if let Some(ea) = holder.streams.get(EA_STREAM) {
            a.ea_bytes = self.get(*ea)?.size;
        }
        Ok(a)
    }

    /// The inode whose attributes and times `ino` shows: its file for a
    /// stream, itself otherwise.
    pub fn attr_owner(&self, ino: Ino) -> Result<Ino, FsError> {
        let n = self.get(ino)?;
        Ok(if is_stream(&n.name) { n.parent } else { ino })
    }

    /// The entry `name` of directory `dir`, or, for a stream name
    /// (`:stream`), the stream of file or directory `dir`.
    pub fn child(&self, dir: &Inode, name: &str) -> Option<Ino> {
        let index = if is_stream(name) { &dir.streams } else { &dir.children };
        index.get(&fold(name)).copied()
    }

    /// Where an entry called `name` lives: a directory for an entry name, a
    /// file or directory (not itself a stream) for a stream name.
    pub fn container(&self, ino: Ino, name: &str) -> Result<&Inode, FsError> {
        if !is_stream(name) {
            return self.dir(ino);
        }
        let n = self.get(ino)?;
        if is_stream(&n.name) {
            return Err(FsError::Invalid(format!("inode {ino} is a stream and holds no streams")));
        }
        Ok(n)
    }

    /// An upper bound of how much the checkpoint can grow when `op` is
    /// applied. Checked before every op, so a checkpoint never outgrows
    /// its slot: each new extent splits at most one existing extent.
    pub fn growth_bound(op: &Op) -> u64 {
        match op {
            Op::Create { name, .. } => INODE_FIXED_BYTES + name.len() as u64,
            Op::Rename { dst_name, .. } => dst_name.len() as u64,
            Op::Write { extents, .. } => 2 * EXTENT_BYTES * extents.len() as u64,
            Op::SetSize { .. } => 2 * EXTENT_BYTES,
            // Unmapping a range splits at most one extent in two.
            Op::Punch { .. } => EXTENT_BYTES,
            Op::Remove { .. } | Op::SetAttr { .. } | Op::SetAllocation { .. } | Op::DiskSynced { .. } => 0,
        }
    }

    fn check_dev_range(&self, dev: u64, count: u64) -> Result<(), FsError> {
        if count == 0 || dev < self.data_start || dev.checked_add(count).map_or(true, |e| e > self.data_end) {
            return Err(FsError::Invalid(format!("device blocks {dev}+{count} are outside the data region {}..{}", self.data_start, self.data_end)));
        }
        Ok(())
    }

    /// Applies one op; returns the device blocks it stopped referencing.
    pub fn apply(&mut self, op: &Op) -> Result<Vec<Run>, FsError> {
        let mut freed = Vec::new();
        match op {
            Op::DiskSynced { .. } => {}
            Op::Create { ino, parent, name, kind, attributes, time } => {
                validate_stored_name(name)?;
                let p = self.container(*parent, name)?;
                if is_stream(name) && *kind != FileKind::File {
                    return Err(FsError::Invalid(format!("stream {name:?} must be a file")));
                }
                if self.child(p, name).is_some() {
                    return Err(FsError::Exists);
                }
                if *ino != self.next_ino || self.inodes.contains_key(ino) || *ino >= INO_MAX {
                    return Err(FsError::Invalid(format!("create of inode {ino} but the next inode is {}", self.next_ino)));
                }
                let n = Inode {
                    ino: *ino,
                    parent: *parent,
                    kind: *kind,
                    attributes: *attributes,
                    creation_time: *time,
                    last_access_time: *time,
                    last_write_time: *time,
                    change_time: *time,
                    size: 0,
                    allocation: 0,
                    name: name.clone(),
                    extents: BTreeMap::new(),
                    children: BTreeMap::new(),
                    streams: BTreeMap::new(),
                };
                self.checkpoint_bytes += n.record_bytes();
                self.inodes.insert(*ino, n);
                self.next_ino = ino + 1;
                self.index_mut(*parent, name).insert(fold(name), *ino);
            }
            Op::Remove { parent, name } => {
                validate_stored_name(name)?;
                let p = self.container(*parent, name)?;
                let c = self.child(p, name).ok_or(FsError::NotFound)?;
                if self.get(c)?.kind == FileKind::Dir && !self.get(c)?.children.is_empty() {
                    return Err(FsError::NotEmpty);
                }
                self.index_mut(*parent, name).remove(&fold(name));
                self.drop_inode(c, &mut freed);
            }
            Op::Rename { src_parent, src_name, dst_parent, dst_name, replace, time } => {
                validate_stored_name(src_name)?;
                validate_stored_name(dst_name)?;
                // A stream is renamed only to another stream name of its
                // own file: streams never move between files.
                if (is_stream(src_name) || is_stream(dst_name)) && (is_stream(src_name) != is_stream(dst_name) || src_parent != dst_parent) {
                    return Err(FsError::Invalid(format!("{src_name:?} cannot become {dst_name:?}: a stream stays a stream of its file")));
                }
                let sp = self.container(*src_parent, src_name)?;
                let src = self.child(sp, src_name).ok_or(FsError::NotFound)?;
                let dp = self.container(*dst_parent, dst_name)?;
                let existing = self.child(dp, dst_name);
                if self.get(src)?.kind == FileKind::Dir {
                    // Walk up from the destination: meeting the source means
                    // the move would cut the subtree off the root.
                    let mut cur = *dst_parent;
                    for _ in 0..=self.inodes.len() {
                        if cur == src {
                            return Err(FsError::Invalid("cannot move a directory into itself or below it".into()));
                        }
                        if cur == ROOT_INO {
                            break;
                        }
                        cur = self.get(cur)?.parent;
                    }
                }
                let victim = match existing {
                    Some(e) if e == src => None,
                    Some(e) => {
                        if !replace {
                            return Err(FsError::Exists);
                        }
                        if self.get(e)?.kind == FileKind::Dir {
                            return Err(FsError::AccessDenied(format!("{dst_name:?} is a directory and cannot be replaced")));
                        }
                        Some(e)
                    }
                    None => None,
                };
                if let Some(v) = victim {
                    self.index_mut(*dst_parent, dst_name).remove(&fold(dst_name));
                    self.drop_inode(v, &mut freed);
                }
                self.index_mut(*src_parent, src_name).remove(&fold(src_name));
                let n = self.inodes.get_mut(&src).expect("checked");
                let before = n.record_bytes();
                n.parent = *dst_parent;
                n.name = dst_name.clone();
                n.change_time = *time;
                let after = n.record_bytes();
                self.checkpoint_bytes = self.checkpoint_bytes - before + after;
                self.index_mut(*dst_parent, dst_name).insert(fold(dst_name), src);
            }
            Op::SetAttr { ino, attributes, creation_time, last_access_time, last_write_time, change_time } => {
                self.get(*ino)?;
                let n = self.inodes.get_mut(ino).expect("checked");
                if let Some(a) = attributes {
                    n.attributes = *a;
                }
                for (slot, v) in [
                    (&mut n.creation_time, creation_time),
                    (&mut n.last_access_time, last_access_time),
                    (&mut n.last_write_time, last_write_time),
                    (&mut n.change_time, change_time),
                ] {
                    if let Some(v) = v {
                        *slot = *v;
                    }
                }
            }
            Op::SetSize { ino, size, time, tail_dev_block } => {
                let n = self.file(*ino)?;
                if *size > FILE_BYTES_MAX {
                    return Err(FsError::TooLarge(format!("size {size} is over {FILE_BYTES_MAX}")));
                }
                let tail_block = size / BLOCK_BYTES;
                let needs_tail = *size < n.size && size % BLOCK_BYTES != 0 && n.dev_block_of(tail_block).is_some();
                if needs_tail != tail_dev_block.is_some() {
                    return Err(FsError::Invalid(format!("set_size of inode {ino} to {size}: tail block copy {tail_dev_block:?} does not match the file")));
                }
                if let Some(t) = tail_dev_block {
                    self.check_dev_range(*t, 1)?;
                }
                let shrink = *size < n.size;
                let n = self.inodes.get_mut(ino).expect("checked");
                let before = n.record_bytes();
                if shrink {
                    let keep = blocks_for(*size);
                    remap(&mut n.extents, keep, FILE_BLOCKS_MAX - keep, None, &mut freed);
                    if let Some(t) = tail_dev_block {
                        remap(&mut n.extents, tail_block, 1, Some(*t), &mut freed);
                    }
                    n.allocation = n.allocation.min(round_up(*size, BLOCK_BYTES));
                }
                n.size = *size;
                n.last_write_time = *time;
                n.change_time = *time;
                let after = n.record_bytes();
                self.checkpoint_bytes = self.checkpoint_bytes - before + after;
            }
            Op::SetAllocation { ino, bytes } => {
                self.file(*ino)?;
                if *bytes > FILE_BYTES_MAX {
                    return Err(FsError::TooLarge(format!("allocation {bytes} is over {FILE_BYTES_MAX}")));
                }
                self.inodes.get_mut(ino).expect("checked").allocation = *bytes;
            }
            Op::Punch { ino, file_block, block_count, time } => {
                let n = self.file(*ino)?;
                let end = file_block.checked_add(*block_count);
                if *block_count == 0 || end.map_or(true, |e| e > blocks_for(n.size)) {
                    return Err(FsError::Invalid(format!("punch of inode {ino} blocks {file_block}+{block_count} is empty or past EOF")));
                }
                let n = self.inodes.get_mut(ino).expect("checked");
                let before = n.record_bytes();
                remap(&mut n.extents, *file_block, *block_count, None, &mut freed);
                n.last_write_time = *time;
                n.change_time = *time;
                let after = n.record_bytes();
                self.checkpoint_bytes = self.checkpoint_bytes - before + after;
            }
            Op::Write { ino, size_after, time, extents } => {
                let n = self.file(*ino)?;
                if *size_after > FILE_BYTES_MAX {
                    return Err(FsError::TooLarge(format!("size {size_after} is over {FILE_BYTES_MAX}")));
                }
                if *size_after < n.size {
                    return Err(FsError::Invalid(format!("write would shrink inode {ino} from {} to {size_after}", n.size)));
                }
                if extents.is_empty() || extents.len() > WRITE_EXTENTS_MAX {
                    return Err(FsError::Invalid(format!("write with {} extents", extents.len())));
                }
                let eof_blocks = blocks_for(*size_after);
                let mut prev_end = 0u64;
                for (i, x) in extents.iter().enumerate() {
                    let c = x.block_count as u64;
                    if c == 0 || (i > 0 && x.file_block < prev_end) || x.file_block.checked_add(c).map_or(true, |e| e > eof_blocks) {
                        return Err(FsError::Invalid(format!("write extent {i} (file_block {} +{c}) is out of order or past EOF", x.file_block)));
                    }
                    self.check_dev_range(x.dev_block, c)?;
                    prev_end = x.file_block + c;
                }
                let n = self.inodes.get_mut(ino).expect("checked");
                let before = n.record_bytes();
                for x in extents {
                    remap(&mut n.extents, x.file_block, x.block_count as u64, Some(x.dev_block), &mut freed);
                }
                n.size = *size_after;
                n.last_write_time = *time;
                n.change_time = *time;
                let after = n.record_bytes();
                self.checkpoint_bytes = self.checkpoint_bytes - before + after;
            }
        }
        Ok(freed)
    }

    /// The index (`children` or `streams`) of a checked container.
    fn index_mut(&mut self, container: Ino, name: &str) -> &mut BTreeMap<String, Ino> {
        let n = self.inodes.get_mut(&container).expect("container checked");
        if is_stream(name) {
            &mut n.streams
        } else {
            &mut n.children
        }
    }

    /// Drops an unlinked inode and, with it, its streams: a file's
    /// streams live and die with it.
    fn drop_inode(&mut self, ino: Ino, freed: &mut Vec<Run>) {
        let n = self.inodes.remove(&ino).expect("caller checked");
        assert!(n.children.is_empty(), "removing a non-empty directory");
        self.checkpoint_bytes -= n.record_bytes();
        freed.extend(n.extents.values().map(|m| Run { start: m.dev_block, count: m.block_count as u64 }));
        for s in n.streams.into_values() {
            let sn = self.inodes.remove(&s).expect("a stream index names a live inode");
            assert!(sn.streams.is_empty() && sn.children.is_empty(), "a stream holds nothing");
            self.checkpoint_bytes -= sn.record_bytes();
            freed.extend(sn.extents.values().map(|m| Run { start: m.dev_block, count: m.block_count as u64 }));
        }
    }

    /// The path of an inode from the root, `\`-separated.
    pub fn path_of(&self, ino: Ino) -> Result<String, FsError> {
        let mut parts = Vec::new();
        let mut cur = ino;
        while cur != ROOT_INO {
            let n = self.get(cur)?;
            parts.push(n.name.as_str());
            cur = n.parent;
            if parts.len() > self.inodes.len() {
                return Err(FsError::Corrupt(format!("inode {ino}: parent chain does not reach the root")));
            }
        }
        if ino == ROOT_INO {
            self.get(ROOT_INO)?;
        }
        parts.reverse();
        // A stream's `:name` joins its file's name with no separator.
        let mut out = String::new();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 && !is_stream(part) {
                out.push('\\');
            }
            out.push_str(part);
        }
        Ok(out)
    }

    /// Checks the invariants that need no device access (see "Invariants"
    /// in `docs/objfs.md`); every problem is named.
    pub fn check_structure(&self) -> Vec<String> {
        let mut p = Vec::new();
        let computed = self.compute_checkpoint_bytes();
        if computed != self.checkpoint_bytes {
            p.push(format!("checkpoint size bookkeeping says {} bytes, the inodes need {computed}", self.checkpoint_bytes));
        }
        match self.inodes.get(&ROOT_INO) {
            None => p.push("the root (inode 1) does not exist".to_string()),
            Some(r) => {
                if r.kind != FileKind::Dir || r.parent != ROOT_INO || !r.name.is_empty() {
                    p.push(format!("the root is not a directory named \"\" with parent 1 ({:?}, parent {}, {:?})", r.kind, r.parent, r.name));
                }
            }
        }
        // Parent chains: 0 = unknown, 1 = on the walk, 2 = reaches the root.
        let mut state: BTreeMap<Ino, u8> = BTreeMap::new();
        state.insert(ROOT_INO, 2);
        for (&ino, n) in &self.inodes {
            if ino >= self.next_ino {
                p.push(format!("inode {ino} is not below next_ino {}", self.next_ino));
            }
            if ino != ROOT_INO {
                if let Err(e) = validate_stored_name(&n.name) {
                    p.push(format!("inode {ino}: bad name: {e}"));
                }
                let stream = is_stream(&n.name);
                if stream && (n.kind != FileKind::File || !n.streams.is_empty()) {
                    p.push(format!("inode {ino}: stream {:?} is not a plain file", n.name));
                }
                match self.inodes.get(&n.parent) {
                    None => p.push(format!("inode {ino}: parent {} does not exist", n.parent)),
                    Some(par) if stream => {
                        if is_stream(&par.name) || par.streams.get(&fold(&n.name)) != Some(&ino) {
                            p.push(format!("inode {ino}: file {} does not hold it as stream {:?}", n.parent, n.name));
                        }
                    }
                    Some(par) if par.kind != FileKind::Dir => p.push(format!("inode {ino}: parent {} is not a directory", n.parent)),
                    Some(par) => {
                        if par.children.get(&fold(&n.name)) != Some(&ino) {
                            p.push(format!("inode {ino}: directory {} does not index it under {:?}", n.parent, n.name));
                        }
                    }
                }
            }
            let mut walk = Vec::new();
            let mut cur = ino;
            let cyclic = loop {
                match state.get(&cur).copied().unwrap_or(0) {
                    2 => break false,
                    1 => break true,
                    _ => {}
                }
                let Some(c) = self.inodes.get(&cur) else { break false };
                state.insert(cur, 1);
                walk.push(cur);
                cur = c.parent;
            };
            for w in walk {
                state.insert(w, 2);
            }
            if cyclic {
                p.push(format!("inode {ino}: directory cycle (its parent chain never reaches the root)"));
            }
            match n.kind {
                FileKind::Dir => {
                    if n.size != 0 || !n.extents.is_empty() {
                        p.push(format!("inode {ino}: directory with size {} and {} extents", n.size, n.extents.len()));
                    }
                }
                FileKind::File => {
                    if !n.children.is_empty() {
                        p.push(format!("inode {ino}: file with directory entries"));
                    }
                    if n.size > FILE_BYTES_MAX {
                        p.push(format!("inode {ino}: size {} is over {FILE_BYTES_MAX}", n.size));
                    }
                    let eof = blocks_for(n.size);
                    let mut prev_end = 0;
                    for (&fb, m) in &n.extents {
                        let end = fb + m.block_count as u64;
                        if m.block_count == 0 || fb < prev_end {
                            p.push(format!("inode {ino}: extent file_block {fb} is empty or overlaps the one before"));
                        }
                        if end > eof {
                            p.push(format!("inode {ino}: extent file_block {fb} +{} maps past the end of file (size {})", m.block_count, n.size));
                        }
                        if m.dev_block < self.data_start || m.dev_block + m.block_count as u64 > self.data_end {
                            p.push(format!("inode {ino}: extent file_block {fb} dev_block {} +{} is outside the data region", m.dev_block, m.block_count));
                        }
                        prev_end = end;
                    }
                }
            }
        }
        p
    }

    /// Every mapped run with its owner, sorted by device block.
    pub fn used_runs(&self) -> Vec<(Run, Ino, u64)> {
        let mut v: Vec<(Run, Ino, u64)> = self
            .inodes
            .values()
            .flat_map(|n| n.extents.iter().map(move |(&fb, m)| (Run { start: m.dev_block, count: m.block_count as u64 }, n.ino, fb)))
            .collect();
        v.sort();
        v
    }

    /// Finds extents that share device blocks.
    pub fn check_overlaps(&self) -> Vec<String> {
        let mut p = Vec::new();
        let runs = self.used_runs();
        let mut last: Option<&(Run, Ino, u64)> = None;
        for r in &runs {
            if let Some(l) = last {
                if r.0.start < l.0.start + l.0.count {
                    p.push(format!(
                        "inode {}: extent file_block {} dev_block {} overlaps inode {} (extent file_block {} dev_block {} +{})",
                        r.1, r.2, r.0.start, l.1, l.2, l.0.start, l.0.count
                    ));
                }
            }
            if last.map_or(true, |l| r.0.start + r.0.count > l.0.start + l.0.count) {
                last = Some(r);
            }
        }
        p
    }
}

/// Replaces the mapping of file blocks `[fb, fb + count)` with `new_dev`
/// (or with a hole), pushing every device block that falls out of the map
/// to `freed`. Adjacent extents that continue each other on the device are
/// merged, so sequential writes stay one extent.
pub fn remap(extents: &mut BTreeMap<u64, Mapping>, fb: u64, count: u64, new_dev: Option<u64>, freed: &mut Vec<Run>) {
    let end = fb + count;
    let mut hits = Vec::new();
    if let Some((&k, m)) = extents.range(..fb).next_back() {
        if k + m.block_count as u64 > fb {
            hits.push(k);
        }
    }
    hits.extend(extents.range(fb..end).map(|(&k, _)| k));
    for k in hits {
        let m = extents.remove(&k).expect("key taken from the map");
        let mend = k + m.block_count as u64;
        let (os, oe) = (k.max(fb), mend.min(end));
        freed.push(Run { start: m.dev_block + (os - k), count: oe - os });
        if k < os {
            extents.insert(k, Mapping { dev_block: m.dev_block, block_count: (os - k) as u32 });
        }
        if oe < mend {
            extents.insert(oe, Mapping { dev_block: m.dev_block + (oe - k), block_count: (mend - oe) as u32 });
        }
    }
    let Some(dev) = new_dev else { return };
    assert!(count > 0 && count <= u32::MAX as u64);
    extents.insert(fb, Mapping { dev_block: dev, block_count: count as u32 });
    let joins = |a: &Mapping, b: &Mapping| a.dev_block + a.block_count as u64 == b.dev_block && a.block_count as u64 + b.block_count as u64 <= u32::MAX as u64;
    if let Some(r) = extents.get(&end).copied() {
        let m = extents[&fb];
        if joins(&m, &r) {
            extents.remove(&end);
            extents.get_mut(&fb).expect("inserted").block_count += r.block_count;
        }
    }
    if let Some((&lk, l)) = extents.range(..fb).next_back() {
        let m = extents[&fb];
        if lk + l.block_count as u64 == fb && joins(l, &m) {
            extents.remove(&fb);
            extents.get_mut(&lk).expect("present").block_count += m.block_count;
        }
    }
}

#[cfg(test)]
mod tests;
