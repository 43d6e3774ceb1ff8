//! The mounted file system: the API the file server calls.
//!
//! Concurrency: the metadata, allocator and pending journal records sit in
//! one `std::sync::Mutex` ([`State`]), never held across an await. An op
//! applies to that state, takes a seq and appends its record to the pending
//! batch; then it waits until the record is durable. Waiting goes through
//! the flush lock (a FIFO `tokio::sync::Mutex`): whoever holds it writes
//! the whole pending batch in one journal write (group commit), or
//! checkpoints when the journal is full. Data is copy-on-write, so an op's
//! data blocks are on the device before its record is applied, and the op
//! becomes visible after a crash exactly when its record does.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use holdfast_types::checksum::crc32;
use holdfast_types::limits::{BLOCK_BYTES, IO_BYTES_MAX};
use holdfast_types::{ErrorCode, HoldfastError};

use crate::alloc::{Alloc, Deferred, DeferredFrees, Reads};
use crate::checkpoint;
use crate::device::{Device, PendingWrite};
pub use crate::error::FsError;
use crate::io::{read_bytes, write_bytes, write_bytes_ordered, zero_bytes};
use crate::journal::{batch_bytes, frame_batch, Op, PendingRecord, WriteExtent};
use crate::layout::{sector_round, Geometry, Superblock, LABEL_BYTES_MAX, SUPERBLOCK_BYTES};
use crate::load;
use crate::meta::{blocks_for, Meta, Run, FILE_BYTES_MAX};
use crate::names::{fold, validate_name, validate_stored_name};

mod durability;
mod lookups;

pub type Ino = u64;
pub const ROOT_INO: Ino = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: Ino,
    pub parent: Ino,
    pub kind: FileKind,
    pub name: String,
    pub size_bytes: u64,
    pub allocation_bytes: u64,
    pub attributes: u32,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    /// The length of the file's EA list (its `names::EA_STREAM`), which
    /// is FileEaInformation.EaSize; 0 without EAs.
    pub ea_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub attr: Attr,
}

#[derive(Clone, Debug, Default)]
pub struct SetAttr {
    pub attributes: Option<u32>,
    pub creation_time: Option<u64>,
    pub last_access_time: Option<u64>,
    pub last_write_time: Option<u64>,
    pub change_time: Option<u64>,
}

pub struct FormatOptions {
    pub volume_id: [u8; 16],
    pub label: String,
    /// Windows FILETIME of the root's times.
    pub now: u64,
}

/// Region sizes for [`Fs::format_with_layout`]; `None` takes the default
/// (a sixteenth of the device, clamped; see `docs/objfs.md`).
#[derive(Clone, Debug, Default)]
pub struct LayoutOptions {
    pub journal_bytes: Option<u64>,
    pub checkpoint_slot_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatFs {
    pub block_bytes: u64,
    pub data_blocks: u64,
    pub free_blocks: u64,
    pub inodes: u64,
}

/// Largest piece of a write that is one journal record (and so atomic).
/// Longer writes are split; each piece is atomic on its own.
pub const WRITE_CHUNK_BYTES: u64 = IO_BYTES_MAX;
/// Writes and size changes of one file are serialised by one of these
/// locks (by inode number), so the blocks a write read-modify-writes do not
/// change under it.
const FILE_LOCK_STRIPES: usize = 64;
/// How often an op that found no free block waits for deferred frees.
const DISK_FULL_RETRIES: usize = 16;

struct State {
    meta: Meta,
    alloc: Alloc,
    reads: Reads,
    deferred: DeferredFrees,
    /// Applied ops whose records are not yet written, in seq order.
    pending: Vec<PendingRecord>,
    /// Seq of the next op applied.
    next_seq: u64,
    /// Generation of the records in `pending` (raised by a checkpoint).
    journal_gen: u32,
    /// Set when a journal, checkpoint or superblock write failed: the
    /// in-memory state is then ahead of the device for good, so every
    /// later change is refused until the volume is mounted again.
    failed: Option<String>,
}

struct FlushState {
    /// Bytes of the journal in use (a multiple of a sector).
    tail: u64,
    /// The superblock as last written.
    sb: Superblock,
    /// Generation each copy holds (0: invalid), to write the older first.
    copy_gen: [u64; 2],
    /// Device writes begun but not known complete. The future that began
    /// them may be dropped at an await (a client went away); the next
    /// holder of the flush lock finishes the job before anything else, by
    /// writing the same bytes to the same place again. Without this a
    /// dropped flush would lose a batch (a seq gap at replay) or leave the
    /// journal generation raised in memory but not on the device.
    job: Option<Job>,
}

enum Job {
    /// A framed batch for the journal tail.
    Batch { bytes: Bytes, last_seq: u64 },
    Checkpoint(CheckpointJob),
}

struct CheckpointJob {
    slot: u32,
    bytes: Bytes,
    sb: Superblock,
    /// Every seq up to this is in the checkpoint.
    covered: u64,
    slot_written: bool,
    /// Superblock copies in write order (the older first), the generation
    /// before the first, and how many are written.
    order: [usize; 2],
    base_generation: u64,
    copies_done: usize,
}

pub struct Fs<D: Device> {
    dev: D,
    geo: Geometry,
    volume_id: [u8; 16],
    state: Mutex<State>,
    flush: tokio::sync::Mutex<FlushState>,
    /// Every op with a seq at or below this is on the device (for a
    /// replicated object: in the RAM of every ACTIVE copy). Ops are
    /// acknowledged at this point.
    durable_seq: AtomicU64,
    /// Every op with a seq at or below this, and every block it maps, is
    /// on stable storage (`Device::flush`).
    disk_seq: AtomicU64,
    /// Blocks freed by ops at or below this may be reused: they are on
    /// stable storage and so is a record saying so (a `DiskSynced` marker,
    /// or the superblock of a checkpoint). Without the second half, a power
    /// loss could drop the marker, and replay would check a flushed op's
    /// data against blocks that a later op reused: a flushed op lost.
    reuse_seq: AtomicU64,
    /// The last `DiskSynced` record queued, (its seq, its `upto`), until a
    /// device flush puts it on stable storage and raises `reuse_seq`.
    marker: Mutex<Option<(u64, u64)>>,
    file_locks: Vec<tokio::sync::Mutex<()>>,
}

fn dev_error(msg: String) -> FsError {
    FsError::Device(HoldfastError::new(ErrorCode::Io, msg))
}

/// Blocks taken from the allocator for an op that has not applied yet.
/// If the op fails or is cancelled they go straight back: nothing on the
/// device references them.
struct AllocGuard<'a> {
    state: &'a Mutex<State>,
    runs: Vec<Run>,
}

impl AllocGuard<'_> {
    fn disarm(&mut self) {
        self.runs.clear();
    }
}

impl Drop for AllocGuard<'_> {
    fn drop(&mut self) {
        if !self.runs.is_empty() {
            let mut st = self.state.lock().expect("objfs state lock");
            for r in self.runs.drain(..) {
                st.alloc.free(r);
            }
        }
    }
}

/// A read of data blocks in flight: blocks freed after it began stay
/// allocated until it ends.
struct ReadGuard<'a> {
    state: &'a Mutex<State>,
    gen: Option<u64>,
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.gen.take() {
            self.state.lock().expect("objfs state lock").reads.end(g);
        }
    }
}

impl<D: Device> Fs<D> {
    pub async fn format(dev: &D, opts: &FormatOptions) -> Result<(), FsError> {
        Self::format_with_layout(dev, opts, &LayoutOptions::default()).await
    }

    /// Formats with chosen region sizes (tests use tiny journals).
    pub async fn format_with_layout(dev: &D, opts: &FormatOptions, layout: &LayoutOptions) -> Result<(), FsError> {
        if opts.label.len() > LABEL_BYTES_MAX {
            return Err(FsError::Invalid(format!("label of {} bytes is over {LABEL_BYTES_MAX}", opts.label.len())));
        }
        let geo = Geometry::for_device(dev.size_bytes(), layout.journal_bytes, layout.checkpoint_slot_bytes).map_err(FsError::Invalid)?;
        // Superblocks first: an interrupted format leaves an unformatted
        // device, not a half-old file system.
        zero_bytes(dev, 0, 2 * SUPERBLOCK_BYTES as u64).await?;
        // Records of an earlier file system on this device must never
        // pass for ours.
        zero_bytes(dev, geo.journal_start * BLOCK_BYTES, geo.journal_bytes()).await?;
        let meta = Meta::new(geo.data_start, geo.data_end(), opts.now);
        let ck = checkpoint::encode(&meta, 1, 1, opts.volume_id);
        let crc = crc32(&[&ck]);
        let len = ck.len() as u64;
        let mut padded = ck;
        padded.resize(sector_round(len) as usize, 0);
        write_bytes(dev, geo.checkpoint_start[0] * BLOCK_BYTES, Bytes::from(padded)).await?;
        // The zeroed journal and the checkpoint reach stable storage before
        // a superblock can name them.
        dev.flush().await.map_err(FsError::Device)?;
        let mut sb = Superblock {
            geometry: geo,
            generation: 1,
            volume_id: opts.volume_id,
            format_time: opts.now,
            label: opts.label.clone(),
            checkpoint_slot: 0,
            checkpoint_bytes: len,
            checkpoint_crc: crc,
            journal_gen: 1,
            journal_first_seq: 1,
            next_ino: meta.next_ino,
        };
        write_bytes(dev, 0, Bytes::from(sb.encode())).await?;
        sb.generation = 2;
        write_bytes(dev, SUPERBLOCK_BYTES as u64, Bytes::from(sb.encode())).await?;
        dev.flush().await.map_err(FsError::Device)?;
        Ok(())
    }

    /// The volume id of a formatted device, read from its newest valid
    /// superblock without writing anything: safe while another process
    /// has the file system mounted (unlike [`Fs::mount`], which
    /// checkpoints at once).
    pub async fn probe_volume_id(dev: &D) -> Result<[u8; 16], FsError> {
        let sbs = load::read_superblocks(dev).await?;
        let i = sbs.choose()?;
        Ok(sbs.copies[i].as_ref().expect("chosen copy is valid").volume_id)
    }

    /// Loads the newest checkpoint and replays the journal, then
    /// checkpoints at once. That starts a fresh journal generation, so the
    /// remnants of a torn batch past the end of the log (which may hold
    /// valid records of the old generation) can never be replayed later.
    pub async fn mount(dev: D) -> Result<Fs<D>, FsError> {
        let l = load::load(&dev).await?;
        let sb = l.sb().clone();
        if sb.journal_gen == u32::MAX {
            return Err(FsError::Corrupt("journal generation counter exhausted".into()));
        }
        let geo = sb.geometry;
        let alloc = Alloc::from_used(geo.data_start, geo.data_end(), l.meta.used_runs().into_iter().map(|r| r.0));
        let next_seq = l.replayed.next_seq;
        let state = State {
            meta: l.meta,
            alloc,
            reads: Reads::default(),
            deferred: DeferredFrees::default(),
            pending: Vec::new(),
            next_seq,
            journal_gen: sb.journal_gen,
            failed: None,
        };
        let flush = FlushState { tail: sector_round(l.replayed.end_offset), sb: sb.clone(), copy_gen: l.sbs.generations(), job: None };
        let fs = Fs {
            volume_id: sb.volume_id,
            geo,
            dev,
            state: Mutex::new(state),
            flush: tokio::sync::Mutex::new(flush),
            durable_seq: AtomicU64::new(next_seq - 1),
            disk_seq: AtomicU64::new(next_seq - 1),
            reuse_seq: AtomicU64::new(next_seq - 1),
            marker: Mutex::new(None),
            file_locks: (0..FILE_LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        };
        fs.checkpoint().await?;
        tracing::debug!(records = l.replayed.records, end = ?l.replayed.end, "objfs mounted");
        Ok(fs)
    }

    pub fn device(&self) -> &D {
        &self.dev
    }

    pub fn into_device(self) -> D {
        self.dev
    }

    pub fn volume_id(&self) -> [u8; 16] {
        self.volume_id
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("objfs state lock")
    }

    fn file_lock(&self, ino: Ino) -> &tokio::sync::Mutex<()> {
        &self.file_locks[(ino % FILE_LOCK_STRIPES as u64) as usize]
    }

    /// Why the volume stopped taking changes (a journal, checkpoint or
    /// superblock write failed), if it did. Only a new mount, which
    /// replays the journal from the device, brings it back.
    pub fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    fn check_failed(st: &State) -> Result<(), FsError> {
        match &st.failed {
            Some(m) => Err(dev_error(format!("the volume stopped taking changes after a metadata write failed ({m}); mount it again"))),
            None => Ok(()),
        }
    }

    fn fail(&self, what: &str, e: &FsError) {
        tracing::error!(error = %e, "objfs {what} failed; refusing further changes");
        let mut st = self.lock();
        st.failed.get_or_insert_with(|| format!("{what}: {e}"));
    }

    // Lookups are in `fs/lookups.rs`, durability (group commit and
    // checkpoints) in `fs/durability.rs`.

    // ---- namespace changes ----

    /// Applies `op` to the live state and queues its record; returns its
    /// seq. Checks first that the checkpoint will still fit its slot, so a
    /// checkpoint can never fail for size.
    fn apply_live(&self, st: &mut State, op: Op) -> Result<u64, FsError> {
        self.apply_live_with(st, op, None)
    }

    /// `data_crc`: the crc32 of the new data blocks the op maps, already
    /// written (see `FLAG_DATA_CRC`).
    fn apply_live_with(&self, st: &mut State, op: Op, data_crc: Option<u32>) -> Result<u64, FsError> {
        Self::check_failed(st)?;
        let need = st.meta.checkpoint_bytes + Meta::growth_bound(&op);
        if need > self.geo.checkpoint_slot_bytes() {
            return Err(FsError::MetadataFull(format!(
                "the checkpoint would need up to {need} bytes; a checkpoint slot holds {}",
                self.geo.checkpoint_slot_bytes()
            )));
        }
        let freed = st.meta.apply(&op)?;
        let seq = st.next_seq;
        st.next_seq += 1;
        st.pending.push(PendingRecord { seq, kind: op.kind(), payload: op.encode_payload(), data_crc });
        if !freed.is_empty() {
            let gen = st.reads.free_point();
            st.deferred.push(Deferred { seq, gen, runs: freed });
        }
        Ok(seq)
    }

    pub async fn create(&self, parent: Ino, name: &str, kind: FileKind, attributes: u32, now: u64) -> Result<Attr, FsError> {
        validate_stored_name(name)?;
        let (seq, attr) = {
            let mut st = self.lock();
            let ino = st.meta.next_ino;
            let seq = self.apply_live(&mut st, Op::Create { ino, parent, name: name.to_string(), kind, attributes, time: now })?;
            (seq, st.meta.attr_of(ino)?)
        };
        self.wait_durable(seq).await?;
        Ok(attr)
    }

    pub async fn remove(&self, parent: Ino, name: &str) -> Result<(), FsError> {
        validate_stored_name(name)?;
        let seq = {
            let mut st = self.lock();
            self.apply_live(&mut st, Op::Remove { parent, name: name.to_string() })?
        };
        self.wait_durable(seq).await
    }

    pub async fn rename(&self, src_parent: Ino, src_name: &str, dst_parent: Ino, dst_name: &str, replace: bool, now: u64) -> Result<Attr, FsError> {
        validate_stored_name(src_name)?;
        validate_stored_name(dst_name)?;
        let (seq, attr) = {
            let mut st = self.lock();
            let op = Op::Rename {
                src_parent,
                src_name: src_name.to_string(),
                dst_parent,
                dst_name: dst_name.to_string(),
                replace,
                time: now,
            };
            let seq = self.apply_live(&mut st, op)?;
            let d = st.meta.get(dst_parent)?;
            let ino = st.meta.child(d, dst_name).ok_or(FsError::NotFound)?;
            (seq, st.meta.attr_of(ino)?)
        };
        self.wait_durable(seq).await?;
        Ok(attr)
    }

    /// Sets attributes and times; through a stream, those of its file.
    pub async fn set_attr(&self, ino: Ino, a: &SetAttr) -> Result<Attr, FsError> {
        let (seq, attr) = {
            let mut st = self.lock();
            let op = Op::SetAttr {
                ino: st.meta.attr_owner(ino)?,
                attributes: a.attributes,
                creation_time: a.creation_time,
                last_access_time: a.last_access_time,
                last_write_time: a.last_write_time,
                change_time: a.change_time,
            };
            let seq = self.apply_live(&mut st, op)?;
            (seq, st.meta.attr_of(ino)?)
        };
        self.wait_durable(seq).await?;
        Ok(attr)
    }

    /// Records the allocation size. Nothing is reserved, but a request for
    /// more than the free space fails as NTFS would.
    pub async fn set_allocation(&self, ino: Ino, bytes: u64) -> Result<Attr, FsError> {
        if bytes > FILE_BYTES_MAX {
            return Err(FsError::TooLarge(format!("allocation {bytes} is over {FILE_BYTES_MAX}")));
        }
        let (seq, attr) = {
            let mut st = self.lock();
            let n = st.meta.file(ino)?;
            let more = blocks_for(bytes).saturating_sub(n.mapped_blocks());
            if more > st.alloc.free_blocks() + st.deferred.blocks() {
                return Err(FsError::DiskFull);
            }
            let seq = self.apply_live(&mut st, Op::SetAllocation { ino, bytes })?;
            (seq, st.meta.attr_of(ino)?)
        };
        self.wait_durable(seq).await?;
        Ok(attr)
    }

    // ---- data ----

    fn reclaim(&self, st: &mut State) {
        let reusable = self.reuse_seq.load(Ordering::Acquire);
        let State { deferred, reads, alloc, .. } = st;
        deferred.reclaim(reusable, reads, alloc);
    }

    /// Plans an op that needs `blocks` new data blocks: `plan` runs under
    /// the state lock and returns the block count, its own result, and
    /// whether it will read existing blocks. When the allocator is short
    /// but freed blocks are waiting for stable storage, it flushes the
    /// device and retries.
    async fn plan_with_blocks<T>(
        &self,
        mut plan: impl FnMut(&State) -> Result<(u64, T, bool), FsError>,
    ) -> Result<(AllocGuard<'_>, ReadGuard<'_>, T), FsError> {
        let mut tries = 0;
        loop {
            {
                let mut st = self.lock();
                Self::check_failed(&st)?;
                let (n, t, reads) = plan(&st)?;
                self.reclaim(&mut st);
                if let Some(runs) = st.alloc.alloc(n) {
                    let gen = reads.then(|| st.reads.begin());
                    drop(st);
                    return Ok((AllocGuard { state: &self.state, runs }, ReadGuard { state: &self.state, gen }, t));
                }
                if st.deferred.is_empty() || tries == DISK_FULL_RETRIES {
                    return Err(FsError::DiskFull);
                }
            }
            tries += 1;
            self.flush_disk().await?;
            tokio::task::yield_now().await;
        }
    }

    pub async fn write(&self, ino: Ino, offset: u64, data: &[u8], now: u64) -> Result<Attr, FsError> {
        let end = offset.checked_add(data.len() as u64).filter(|&e| e <= FILE_BYTES_MAX);
        if end.is_none() {
            return Err(FsError::TooLarge(format!("write of {} bytes at {offset} ends past the largest file ({FILE_BYTES_MAX})", data.len())));
        }
        let _file = self.file_lock(ino).lock().await;
        if data.is_empty() {
            self.lock().meta.file(ino)?;
            return self.stat(ino);
        }
        let mut seq = 0;
        let mut off = offset;
        let mut data_writes = Vec::new();
        for chunk in data.chunks(WRITE_CHUNK_BYTES as usize) {
            let (s, pending) = self.write_chunk(ino, off, chunk, now).await?;
            seq = s;
            data_writes.extend(pending);
            off += chunk.len() as u64;
        }
        // The records' batch and the data under them travel together: one
        // round trip. Every copy applies the data before the batch (its
        // order was fixed first), so a copy holding the record holds the
        // data it maps.
        let data = async {
            let mut first_error = None;
            for w in data_writes {
                if let Err(e) = w.await {
                    first_error.get_or_insert(e);
                }
            }
            first_error
        };
        let (journal, data) = tokio::join!(self.wait_durable(seq), data);
        if let Some(e) = data {
            // The record is queued (maybe durable) while its data did not
            // become durable everywhere: the device no longer matches the
            // state, as after a failed journal write.
            let e = FsError::Device(e);
            self.fail("data write", &e);
            return Err(e);
        }
        journal?;
        self.stat(ino)
    }

    /// Copy-on-write: every block the chunk touches gets a new block; the
    /// partial first and last blocks are read, patched and written whole.
    /// Returns the seq of its `Write` record, queued once the data's order
    /// on the device is fixed, and the data writes still to finish.
    async fn write_chunk(&self, ino: Ino, off: u64, data: &[u8], now: u64) -> Result<(u64, Vec<PendingWrite>), FsError> {
        let end = off + data.len() as u64;
        let first = off / BLOCK_BYTES;
        let last = (end - 1) / BLOCK_BYTES;
        let n = last - first + 1;
        let (mut alloc, read, olds) = self
            .plan_with_blocks(|st| {
                let f = st.meta.file(ino)?;
                let mut olds = Vec::new();
                if off % BLOCK_BYTES != 0 {
                    olds.extend(f.dev_block_of(first).map(|d| (first, d)));
                }
                if end % BLOCK_BYTES != 0 && (last != first || olds.is_empty()) {
                    olds.extend(f.dev_block_of(last).map(|d| (last, d)));
                }
                let reads = !olds.is_empty();
                Ok((n, olds, reads))
            })
            .await?;
        let mut buf = vec![0u8; (n * BLOCK_BYTES) as usize];
        for (fb, dev) in olds {
            let old = read_bytes(&self.dev, dev * BLOCK_BYTES, BLOCK_BYTES).await?;
            let at = ((fb - first) * BLOCK_BYTES) as usize;
            buf[at..at + BLOCK_BYTES as usize].copy_from_slice(&old);
        }
        drop(read);
        let at = (off - first * BLOCK_BYTES) as usize;
        buf[at..at + data.len()].copy_from_slice(data);
        let buf = Bytes::from(buf);
        let mut extents = Vec::with_capacity(alloc.runs.len());
        let mut pending = Vec::new();
        let mut fb = first;
        let mut at = 0usize;
        for r in &alloc.runs {
            let len = (r.count * BLOCK_BYTES) as usize;
            pending.extend(write_bytes_ordered(&self.dev, r.start * BLOCK_BYTES, buf.slice(at..at + len)).await?);
            extents.push(WriteExtent { file_block: fb, dev_block: r.start, block_count: r.count as u32 });
            fb += r.count;
            at += len;
        }
        let data_crc = crc32(&[&buf]);
        let seq = {
            let mut st = self.lock();
            let size_after = st.meta.file(ino)?.size.max(end);
            let seq = self.apply_live_with(&mut st, Op::Write { ino, size_after, time: now, extents }, Some(data_crc))?;
            alloc.disarm();
            seq
        };
        Ok((seq, pending))
    }

    /// Unmaps whole blocks `[file_block, +block_count)` below EOF: they
    /// read as zeros and their device blocks are freed (a hole).
    pub async fn punch(&self, ino: Ino, file_block: u64, block_count: u64, now: u64) -> Result<Attr, FsError> {
        let _file = self.file_lock(ino).lock().await;
        let seq = {
            let mut st = self.lock();
            self.apply_live(&mut st, Op::Punch { ino, file_block, block_count, time: now })?
        };
        self.wait_durable(seq).await?;
        self.stat(ino)
    }

    /// The mapped byte ranges of file `ino` within `[offset, offset + len)`
    /// and below EOF, adjacent extents joined, at most `ranges_max`.
    pub fn allocated_ranges(&self, ino: Ino, offset: u64, len: u64, ranges_max: usize) -> Result<Vec<(u64, u64)>, FsError> {
        let st = self.lock();
        let n = st.meta.file(ino)?;
        let end = offset.saturating_add(len).min(n.size);
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (&fb, m) in &n.extents {
            let (s, e) = (fb * BLOCK_BYTES, (fb + m.block_count as u64) * BLOCK_BYTES);
            let (s, e) = (s.max(offset), e.min(end));
            if s >= e {
                continue;
            }
            if let Some(last) = out.last_mut().filter(|l| l.0 + l.1 == s) {
                last.1 += e - s;
            } else if out.len() == ranges_max {
                break;
            } else {
                out.push((s, e - s));
            }
        }
        Ok(out)
    }

    pub async fn set_size(&self, ino: Ino, size: u64, now: u64) -> Result<Attr, FsError> {
        if size > FILE_BYTES_MAX {
            return Err(FsError::TooLarge(format!("size {size} is over {FILE_BYTES_MAX}")));
        }
        let _file = self.file_lock(ino).lock().await;
        // Shrinking into a mapped block: copy it with the bytes past the new
        // end zeroed, so they can never reappear when the file grows again.
        let (mut alloc, read, old) = self
            .plan_with_blocks(|st| {
                let f = st.meta.file(ino)?;
                let old = if size < f.size && size % BLOCK_BYTES != 0 { f.dev_block_of(size / BLOCK_BYTES) } else { None };
                Ok((old.is_some() as u64, old, old.is_some()))
            })
            .await?;
        let mut tail_dev_block = None;
        let mut data_crc = None;
        if let Some(old) = old {
            let mut b = read_bytes(&self.dev, old * BLOCK_BYTES, BLOCK_BYTES).await?;
            drop(read);
            b[(size % BLOCK_BYTES) as usize..].fill(0);
            let new = alloc.runs[0].start;
            data_crc = Some(crc32(&[&b]));
            write_bytes(&self.dev, new * BLOCK_BYTES, Bytes::from(b)).await?;
            tail_dev_block = Some(new);
        } else {
            drop(read);
        }
        let (seq, attr) = {
            let mut st = self.lock();
            let seq = self.apply_live_with(&mut st, Op::SetSize { ino, size, time: now, tail_dev_block }, data_crc)?;
            alloc.disarm();
            (seq, st.meta.attr_of(ino)?)
        };
        self.wait_durable(seq).await?;
        Ok(attr)
    }

    pub async fn read(&self, ino: Ino, offset: u64, len: u64) -> Result<Vec<u8>, FsError> {
        if len > IO_BYTES_MAX {
            return Err(FsError::TooLarge(format!("read of {len} bytes is over {IO_BYTES_MAX}")));
        }
        // Plan: the mapped pieces of the range, under the lock; the read is
        // registered so no block it maps is reused before it is done.
        let (first, start, stop, pieces, _read) = {
            let mut st = self.lock();
            let f = st.meta.file(ino)?;
            let stop = offset.saturating_add(len).min(f.size);
            if offset >= stop {
                return Ok(Vec::new());
            }
            let first = offset / BLOCK_BYTES;
            let last = (stop - 1) / BLOCK_BYTES;
            let mut pieces = Vec::new();
            let from = f.extents.range(..=first).next_back().map_or(first, |(&k, _)| k);
            for (&k, m) in f.extents.range(from..=last) {
                let s = k.max(first);
                let e = (k + m.block_count as u64).min(last + 1);
                if s < e {
                    pieces.push((s, m.dev_block + (s - k), e - s));
                }
            }
            let gen = (!pieces.is_empty()).then(|| st.reads.begin());
            (first, offset, stop, pieces, ReadGuard { state: &self.state, gen })
        };
        let blocks = (stop - 1) / BLOCK_BYTES - first + 1;
        let mut buf = vec![0u8; (blocks * BLOCK_BYTES) as usize];
        for (fb, dev, count) in pieces {
            let b = read_bytes(&self.dev, dev * BLOCK_BYTES, count * BLOCK_BYTES).await?;
            let at = ((fb - first) * BLOCK_BYTES) as usize;
            buf[at..at + b.len()].copy_from_slice(&b);
        }
        let lo = (start - first * BLOCK_BYTES) as usize;
        let hi = (stop - first * BLOCK_BYTES) as usize;
        buf.truncate(hi);
        buf.drain(..lo);
        Ok(buf)
    }

}

/// Directory listing helper for tests and tools: every entry below `dir`,
/// depth first, with `\`-joined paths.
pub fn walk<D: Device>(fs: &Fs<D>, dir: Ino) -> Result<BTreeMap<String, Attr>, FsError> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(dir, String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let mut after: Option<String> = None;
        loop {
            let page = fs.readdir(d, after.as_deref(), 256)?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                let path = if prefix.is_empty() { e.name.clone() } else { format!("{prefix}\\{}", e.name) };
                if e.attr.kind == FileKind::Dir {
                    stack.push((e.attr.ino, path.clone()));
                }
                out.insert(path, e.attr.clone());
            }
            after = page.last().map(|e| e.name.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::MemDevice;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let dev = MemDevice::new(8 << 20);
            Fs::format(&dev, &FormatOptions { volume_id: [1; 16], label: "t".into(), now: 1 }).await.unwrap();
            let fs = Fs::mount(dev).await.unwrap();
            assert_send(&fs.create(ROOT_INO, "a", FileKind::File, 0, 1));
            assert_send(&fs.write(2, 0, b"x", 1));
            assert_send(&fs.read(2, 0, 1));
            assert_send(&fs.set_size(2, 0, 1));
            assert_send(&fs.sync());
        });
        fn is_sync<T: Send + Sync>() {}
        is_sync::<Fs<MemDevice>>();
    }
}
