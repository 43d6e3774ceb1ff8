//! Durability: group commit of journal records and checkpoints.

use super::*;

impl<D: Device> Fs<D> {
    /// Returns once every op applied before the call is durable: on the
    /// device, in the RAM of every ACTIVE copy.
    pub async fn sync(&self) -> Result<(), FsError> {
        let seq = self.lock().next_seq - 1;
        self.wait_durable(seq).await
    }

    /// FLUSH: returns once every op applied before the call, and the data
    /// it maps, is on stable storage (the disk of every ACTIVE copy), so
    /// it survives a power loss of every host. Queues a `DiskSynced`
    /// record for replay; a flush with nothing new since the last one (at
    /// most that record) does nothing.
    pub async fn flush_disk(&self) -> Result<(), FsError> {
        self.sync().await?;
        let upto = self.durable_seq.load(Ordering::Acquire);
        let on_disk = self.disk_seq.load(Ordering::Acquire);
        let last_marker = *self.marker.lock().expect("marker lock");
        // The last marker alone is not news worth another marker (else
        // every FLUSH would queue one for the next to flush).
        let only_marker = last_marker.is_some_and(|(m, _)| m == upto) && on_disk + 1 == upto;
        let new_ops = upto > on_disk && !only_marker;
        let confirms = last_marker.is_some_and(|(m, _)| m <= upto);
        if !new_ops && !confirms {
            return Ok(());
        }
        self.dev.flush().await.map_err(FsError::Device)?;
        self.disk_seq.fetch_max(upto, Ordering::AcqRel);
        let mut marker = self.marker.lock().expect("marker lock");
        if let Some((m, covered)) = *marker {
            if m <= upto {
                // That marker is on stable storage now: its ops' freed
                // blocks can be reused.
                self.reuse_seq.fetch_max(covered, Ordering::AcqRel);
                *marker = None;
            }
        }
        if new_ops && marker.is_none() {
            let mut st = self.lock();
            if Self::check_failed(&st).is_ok() {
                let seq = self.apply_live(&mut st, Op::DiskSynced { upto })?;
                *marker = Some((seq, upto));
            }
        }
        Ok(())
    }

    /// Seq of the last op known to be on stable storage (see `disk_seq`).
    pub fn disk_seq(&self) -> u64 {
        self.disk_seq.load(Ordering::Acquire)
    }

    /// Returns once the op with `seq` is on the device. The first waiter
    /// to get the flush lock writes everything pending; those queued behind
    /// it usually find their record already durable.
    pub(super) async fn wait_durable(&self, seq: u64) -> Result<(), FsError> {
        if self.durable_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let mut fl = self.flush.lock().await;
        self.flush_locked(&mut fl, seq).await?;
        assert!(self.durable_seq.load(Ordering::Acquire) >= seq, "flush left seq {seq} behind");
        Ok(())
    }

    /// Makes every op up to `target` durable: finishes an interrupted job,
    /// then writes the pending batch at the journal tail, or checkpoints
    /// when the batch does not fit. Caller holds the flush lock.
    pub(super) async fn flush_locked(&self, fl: &mut FlushState, target: u64) -> Result<(), FsError> {
        loop {
            self.finish_job(fl).await?;
            if fl.tail > self.geo.journal_bytes() / 2 {
                // Keep replay short and room for the next batches. Ops
                // already durable stay so whatever happens here; a failure
                // poisons the volume and is reported by the next change.
                let r = match self.start_checkpoint(fl) {
                    Ok(()) => self.finish_job(fl).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    return if self.durable_seq.load(Ordering::Acquire) >= target { Ok(()) } else { Err(e) };
                }
            }
            if self.durable_seq.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            let taken = {
                let mut st = self.lock();
                Self::check_failed(&st)?;
                if st.pending.is_empty() {
                    return Ok(());
                }
                if fl.tail + batch_bytes(&st.pending) > self.geo.journal_bytes() {
                    None
                } else {
                    Some((std::mem::take(&mut st.pending), st.journal_gen))
                }
            };
            match taken {
                // The journal cannot take the batch: a checkpoint covers it.
                None => self.start_checkpoint(fl)?,
                Some((batch, gen)) => {
                    let last_seq = batch.last().expect("non-empty").seq;
                    fl.job = Some(Job::Batch { bytes: Bytes::from(frame_batch(gen, &batch)), last_seq });
                }
            }
        }
    }

    /// Writes a checkpoint of everything applied so far and starts a new
    /// journal generation.
    pub async fn checkpoint(&self) -> Result<(), FsError> {
        let mut fl = self.flush.lock().await;
        self.finish_job(&mut fl).await?;
        self.start_checkpoint(&mut fl)?;
        self.finish_job(&mut fl).await
    }

    /// Serialises the state into a checkpoint job. Caller holds the flush
    /// lock, so no journal write happens until the job is done.
    ///
    /// Crash safety: the checkpoint goes to the slot the current superblock
    /// does not use, and the journal is not touched until both superblock
    /// copies name the new checkpoint and generation. A crash before the
    /// first superblock write leaves the old superblock, old checkpoint and
    /// old journal; after it, the new checkpoint covers every op the old
    /// journal held and more (it includes ops still pending).
    pub(super) fn start_checkpoint(&self, fl: &mut FlushState) -> Result<(), FsError> {
        assert!(fl.job.is_none(), "a flush job is unfinished");
        let slot = 1 - fl.sb.checkpoint_slot;
        let mut st = self.lock();
        Self::check_failed(&st)?;
        if st.meta.checkpoint_bytes > self.geo.checkpoint_slot_bytes() {
            // apply_live's bound makes this unreachable; refuse rather than
            // write a checkpoint that does not fit.
            return Err(FsError::MetadataFull(format!("checkpoint of {} bytes does not fit its slot", st.meta.checkpoint_bytes)));
        }
        let journal_gen = st.journal_gen.checked_add(1).ok_or_else(|| FsError::Corrupt("journal generation exhausted".into()))?;
        let bytes = checkpoint::encode(&st.meta, journal_gen, st.next_seq, self.volume_id);
        let mut sb = fl.sb.clone();
        sb.checkpoint_slot = slot;
        sb.checkpoint_bytes = bytes.len() as u64;
        sb.checkpoint_crc = crc32(&[&bytes]);
        sb.journal_gen = journal_gen;
        sb.journal_first_seq = st.next_seq;
        sb.next_ino = st.meta.next_ino;
        // The pending records are covered by the checkpoint; records applied
        // from now on belong to the new generation.
        st.pending.clear();
        st.journal_gen = journal_gen;
        let covered = st.next_seq - 1;
        drop(st);
        let mut padded = bytes;
        padded.resize(sector_round(padded.len() as u64) as usize, 0);
        // Both superblock copies, the older first: while one is being
        // written the other is whole, and afterwards a single damaged copy
        // loses nothing.
        let older = if fl.copy_gen[0] <= fl.copy_gen[1] { 0 } else { 1 };
        fl.job = Some(Job::Checkpoint(CheckpointJob {
            slot,
            bytes: Bytes::from(padded),
            sb,
            covered,
            slot_written: false,
            order: [older, 1 - older],
            base_generation: fl.copy_gen[0].max(fl.copy_gen[1]),
            copies_done: 0,
        }));
        Ok(())
    }

    /// Finishes the job in `fl`, if any. Every step rewrites the same bytes
    /// to the same place, so a job resumed after its future was dropped
    /// writes nothing new.
    pub(super) async fn finish_job(&self, fl: &mut FlushState) -> Result<(), FsError> {
        let r = match &mut fl.job {
            None => return Ok(()),
            Some(Job::Batch { bytes, last_seq }) => {
                let (bytes, last_seq) = (bytes.clone(), *last_seq);
                write_bytes(&self.dev, self.geo.journal_start * BLOCK_BYTES + fl.tail, bytes.clone()).await.map(|()| {
                    fl.tail += bytes.len() as u64;
                    self.durable_seq.fetch_max(last_seq, Ordering::AcqRel);
                })
            }
            Some(Job::Checkpoint(job)) => self.run_checkpoint_job(job, &mut fl.copy_gen).await.map(|()| {
                fl.tail = 0;
                fl.sb = job.sb.clone();
                self.durable_seq.fetch_max(job.covered, Ordering::AcqRel);
                // The superblock on stable storage vouches for them.
                self.disk_seq.fetch_max(job.covered, Ordering::AcqRel);
                self.reuse_seq.fetch_max(job.covered, Ordering::AcqRel);
            }),
        };
        match r {
            Ok(()) => {
                fl.job = None;
                Ok(())
            }
            Err(e) => {
                self.fail(if matches!(fl.job, Some(Job::Batch { .. })) { "journal write" } else { "checkpoint" }, &e);
                Err(e)
            }
        }
    }

    /// Device flushes order the steps on stable storage: the slot and
    /// every data block the checkpoint maps before any superblock names
    /// it; both superblock copies before the journal is written again from
    /// byte 0 with the new generation.
    pub(super) async fn run_checkpoint_job(&self, job: &mut CheckpointJob, copy_gen: &mut [u64; 2]) -> Result<(), FsError> {
        if !job.slot_written {
            write_bytes(&self.dev, self.geo.checkpoint_start[job.slot as usize] * BLOCK_BYTES, job.bytes.clone()).await?;
            job.slot_written = true;
        }
        if job.copies_done == 0 {
            self.dev.flush().await.map_err(FsError::Device)?;
        }
        while job.copies_done < 2 {
            let copy = job.order[job.copies_done];
            job.sb.generation = job.base_generation + 1 + job.copies_done as u64;
            write_bytes(&self.dev, copy as u64 * SUPERBLOCK_BYTES as u64, Bytes::from(job.sb.encode())).await?;
            copy_gen[copy] = job.sb.generation;
            job.copies_done += 1;
        }
        self.dev.flush().await.map_err(FsError::Device)
    }
}
