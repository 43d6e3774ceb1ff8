//! One component: a backend plus the rules every block command must pass.
//!
//! Fencing: a component remembers the highest epoch it has been fenced at
//! (`epoch_known`) and refuses commands that carry an older one, so a
//! deposed owner's late writes bounce.
//!
//! Ordering: every replicated write has a position `(epoch, seq)`. Within an
//! epoch, writes must arrive with consecutive sequence numbers; the first
//! write of a newer epoch has seq 1. A gap means this copy missed a write,
//! and it refuses everything after it rather than silently diverge.
//!
//! Convergence: a component keeps its most recent writes in a bounded ring,
//! so that a new owner can copy to a lagging component exactly the writes it
//! is missing (see `docs/replication.md`).
//!
//! Disk lag: a persistent component's writes are acknowledged once they are
//! in this host's RAM (the page cache). Its disk catches up behind, within
//! [`DiskLag`]: a write that finds more than `dirty_bytes_max` unsynced
//! waits for a sync, and the node syncs any component whose oldest unsynced
//! write is older than `dirty_age_max`. FLUSH syncs on demand.
//!
//! A failed sync is final: after an fdatasync error the kernel may have
//! dropped the dirty pages or marked them clean, so a later sync can
//! succeed without those bytes ever reaching the disk (PostgreSQL's
//! "fsyncgate", 2018). The component is failed from the first error on:
//! every write, sync and fence errors, so no later success can cover the
//! loss. The owner then commits it ABSENT, and a rebuild replaces it.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use holdfast_types::limits::{IO_BYTES_MAX, SECTOR_BYTES};
use holdfast_types::{Epoch, ObjectId, ObjectKind, Seq};

use crate::{BlockBackend, StoreError};

/// Writes a component remembers for convergence, by count and by bytes.
pub const RECENT_WRITES_MAX: usize = 512;
pub const RECENT_WRITES_BYTES_MAX: usize = 32 << 20;

/// Position of a replicated write: `(epoch, seq)`, ordered lexicographically.
pub type Position = (Epoch, Seq);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentWrite {
    pub position: Position,
    pub offset: u64,
    pub data: Bytes,
}

struct Order {
    epoch_known: Epoch,
    applied: Position,
    recent: VecDeque<RecentWrite>,
    recent_bytes: usize,
    /// Every write after this position is still in `recent`.
    recent_floor: Position,
}

/// How far a persistent component's disk may trail its RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLag {
    /// Unsynced bytes written since the last sync started; a write that
    /// finds this many waits for a sync before it is acknowledged.
    pub dirty_bytes_max: u64,
    /// Age of the oldest unsynced write at which the node syncs.
    pub dirty_age_max: Duration,
}

impl Default for DiskLag {
    fn default() -> Self {
        DiskLag { dirty_bytes_max: DIRTY_BYTES_MAX_DEFAULT, dirty_age_max: Duration::from_millis(DIRTY_AGE_MS_MAX_DEFAULT) }
    }
}

/// Defaults of [`DiskLag`]: ext4's commit interval (5 s) for the age, and
/// for the bytes a burst a host's RAM takes in its stride (a quarter of a
/// GiB per component) while the disk, shared by every copy on it, trails.
pub const DIRTY_BYTES_MAX_DEFAULT: u64 = 256 << 20;
pub const DIRTY_AGE_MS_MAX_DEFAULT: u64 = 5000;

/// Unsynced writes of a persistent component.
#[derive(Default)]
struct Dirt {
    bytes: u64,
    since: Option<Instant>,
}

pub struct Component {
    pub object: ObjectId,
    backend: Box<dyn BlockBackend>,
    order: Mutex<Order>,
    lag: DiskLag,
    dirt: Mutex<Dirt>,
    /// Group commit of `sync`: concurrent callers share one backend sync.
    syncs: Mutex<SyncGate>,
    sync_done: Condvar,
    /// Why the component failed, set once by the first failed sync.
    failed: std::sync::OnceLock<String>,
    /// Names this component (this instance) in the simulator's record
    /// ([`observe`]): a component re-created after a restart is another.
    instance: u64,
    /// BREAKS FENCING ON PURPOSE (`LocalStore::test_only_accept_stale_epochs`).
    #[cfg(feature = "test-switches")]
    pub(crate) test_only_accept_stale_epochs: bool,
}

/// State of the group commit in [`Component::sync`]. Syncs are numbered
/// from 1 in the order they start; at most one runs at a time.
struct SyncGate {
    /// Number of backend syncs started so far.
    started: u64,
    /// Number of backend syncs finished so far (`started` or one less).
    finished: u64,
    /// Outcome of sync number `finished`, kept for the callers it covered.
    last_error: Option<String>,
}

/// Checks that `offset..offset+length` is a valid I/O range for an object of
/// `size` bytes.
pub fn check_range(offset: u64, length: u64, size: u64) -> Result<(), StoreError> {
    if offset % SECTOR_BYTES != 0 || length % SECTOR_BYTES != 0 || length == 0 {
        return Err(StoreError::Misaligned { offset, length, align: SECTOR_BYTES });
    }
    let end = offset.checked_add(length);
    if length > IO_BYTES_MAX || end.is_none_or(|e| e > size) {
        return Err(StoreError::OutOfRange { offset, length, size, max: IO_BYTES_MAX });
    }
    Ok(())
}

impl Order {
    fn remember(&mut self, w: RecentWrite) {
        self.recent_bytes += w.data.len();
        self.recent.push_back(w);
        while self.recent.len() > RECENT_WRITES_MAX || self.recent_bytes > RECENT_WRITES_BYTES_MAX {
            let old = self.recent.pop_front().expect("non-empty while over a bound");
            self.recent_bytes -= old.data.len();
            self.recent_floor = old.position;
        }
    }
}

impl Component {
    pub fn new(object: ObjectId, backend: Box<dyn BlockBackend>) -> Component {
        Self::with_lag(object, backend, DiskLag::default())
    }

    pub fn with_lag(object: ObjectId, backend: Box<dyn BlockBackend>, lag: DiskLag) -> Component {
        // A persistent component resumes from the position it saved; a
        // memory one starts empty at (0, 0).
        let applied = backend.load_position();
        let order = Order { epoch_known: applied.0, applied, recent: VecDeque::new(), recent_bytes: 0, recent_floor: applied };
        let syncs = SyncGate { started: 0, finished: 0, last_error: None };
        static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let instance = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        observe::learned(instance, object, order.epoch_known);
        Component {
            object,
            backend,
            order: Mutex::new(order),
            lag,
            dirt: Mutex::new(Dirt::default()),
            syncs: Mutex::new(syncs),
            sync_done: Condvar::new(),
            failed: std::sync::OnceLock::new(),
            instance,
            #[cfg(feature = "test-switches")]
            test_only_accept_stale_epochs: false,
        }
    }

    fn note_dirty(&self, bytes: usize) {
        if self.backend.is_volatile() {
            return;
        }
        let mut d = self.dirt.lock().expect("dirt lock");
        d.bytes += bytes as u64;
        d.since.get_or_insert_with(Instant::now);
    }

    /// Unsynced bytes (written since the last sync started).
    pub fn dirty_bytes(&self) -> u64 {
        self.dirt.lock().expect("dirt lock").bytes
    }

    /// True when a write must not be acknowledged before a sync: the
    /// unsynced bytes reached `dirty_bytes_max` (backpressure that keeps
    /// the disk lag bounded).
    pub fn sync_due(&self) -> bool {
        !self.backend.is_volatile() && self.dirty_bytes() >= self.lag.dirty_bytes_max
    }

    /// True when the oldest unsynced write is `dirty_age_max` old at `now`.
    pub fn sync_due_by_age(&self, now: Instant) -> bool {
        let d = self.dirt.lock().expect("dirt lock");
        d.since.is_some_and(|t| now.saturating_duration_since(t) >= self.lag.dirty_age_max)
    }

    pub fn disk_lag(&self) -> DiskLag {
        self.lag
    }

    /// See `BlockBackend::unclean`.
    pub fn unclean(&self) -> bool {
        self.backend.unclean()
    }

    pub fn mark_clean(&self) -> Result<(), StoreError> {
        self.backend.mark_clean()
    }

    pub fn kind(&self) -> ObjectKind {
        self.backend.kind()
    }

    pub fn size_bytes(&self) -> u64 {
        self.backend.len_bytes()
    }

    pub fn epoch(&self) -> Epoch {
        self.order.lock().expect("order lock").epoch_known
    }

    /// Position of the last replicated write applied.
    pub fn applied(&self) -> Position {
        self.order.lock().expect("order lock").applied
    }

    /// True once a sync failed (module comment): only a rebuild of a
    /// new component brings this copy back.
    pub fn is_failed(&self) -> bool {
        self.failed.get().is_some()
    }

    fn check_failed(&self) -> Result<(), StoreError> {
        match self.failed.get() {
            Some(reason) => Err(StoreError::Failed { object: self.object, reason: reason.clone() }),
            None => Ok(()),
        }
    }

    /// Every command that changes or vouches for the bytes checks this
    /// first, so a failed component refuses it. The one place a component
    /// compares a frame's epoch with the newest it knows: every epoch-
    /// carrying command (write, fence, repair, rebuild start and chunk,
    /// epoch-checked read, `EpochCheck`, `ComponentSync`) comes here.
    fn check_epoch(&self, o: &Order, epoch: Epoch) -> Result<(), StoreError> {
        self.check_failed()?;
        // The store refuses the switch's config in a build without the
        // feature (node `validate`); here it skips the fence on purpose.
        #[cfg(feature = "test-switches")]
        let fenced = !self.test_only_accept_stale_epochs;
        #[cfg(not(feature = "test-switches"))]
        let fenced = true;
        if fenced && epoch < o.epoch_known {
            return Err(StoreError::StaleEpoch { object: self.object, known: o.epoch_known, got: epoch });
        }
        observe::accepted(self.instance, self.object, epoch);
        Ok(())
    }

    /// The read barrier: fails if a newer owner has fenced this component.
    pub fn check_epoch_current(&self, epoch: Epoch) -> Result<(), StoreError> {
        let o = self.order.lock().expect("order lock");
        self.check_epoch(&o, epoch)
    }

    /// Learns of a newer epoch from the directory. Never lowers it.
    pub fn observe_epoch(&self, epoch: Epoch) {
        let mut o = self.order.lock().expect("order lock");
        o.epoch_known = o.epoch_known.max(epoch);
        observe::learned(self.instance, self.object, epoch);
    }

    /// A new owner announces `epoch`; older epochs are refused from now on.
    /// Returns the position of the last write applied, for convergence.
    pub fn fence(&self, epoch: Epoch) -> Result<Position, StoreError> {
        let mut o = self.order.lock().expect("order lock");
        self.check_epoch(&o, epoch)?;
        o.epoch_known = epoch;
        observe::learned(self.instance, self.object, epoch);
        Ok(o.applied)
    }

    /// Applies a replicated write. Does not sync; the caller calls
    /// [`Component::sync`] before acknowledging a persistent write.
    pub fn write(&self, epoch: Epoch, seq: Seq, offset: u64, data: &Bytes) -> Result<(), StoreError> {
        check_range(offset, data.len() as u64, self.size_bytes())?;
        self.check_failed()?;
        // The lock is held across the copy so that overlapping writes land
        // in sequence order.
        let mut o = self.order.lock().expect("order lock");
        self.check_epoch(&o, epoch)?;
        let expected = if o.applied.0 == epoch { o.applied.1 + 1 } else { 1 };
        if seq != expected || o.applied.0 > epoch {
            return Err(StoreError::SeqGap { object: self.object, epoch, expected_after: expected - 1, got: seq });
        }
        self.backend.write_at(offset, data)?;
        self.backend.save_position((epoch, seq))?;
        self.note_dirty(data.len());
        o.epoch_known = epoch;
        observe::learned(self.instance, self.object, epoch);
        o.applied = (epoch, seq);
        o.remember(RecentWrite { position: (epoch, seq), offset, data: data.clone() });
        Ok(())
    }

    /// The writes applied after `after`, oldest first, or `None` when the
    /// ring no longer reaches back that far.
    pub fn recent_since(&self, after: Position) -> Option<Vec<RecentWrite>> {
        let o = self.order.lock().expect("order lock");
        if after < o.recent_floor {
            return None;
        }
        Some(o.recent.iter().filter(|w| w.position > after).cloned().collect())
    }

    /// Applies a write another component already applied (convergence). The
    /// write must come after this component's position; `epoch` is the new
    /// owner's fence epoch.
    pub fn repair(&self, epoch: Epoch, w: &RecentWrite) -> Result<(), StoreError> {
        check_range(w.offset, w.data.len() as u64, self.size_bytes())?;
        let mut o = self.order.lock().expect("order lock");
        self.check_epoch(&o, epoch)?;
        if w.position <= o.applied {
            return Ok(());
        }
        self.backend.write_at(w.offset, &w.data)?;
        self.backend.save_position(w.position)?;
        self.note_dirty(w.data.len());
        o.applied = w.position;
        o.remember(w.clone());
        Ok(())
    }

    /// Starts a rebuild: from now on this component follows the owner's
    /// writes from `position`; its old bytes are overwritten by
    /// [`Component::resync_chunk`]s. Its recent ring restarts empty.
    pub fn resync_start(&self, epoch: Epoch, position: Position) -> Result<(), StoreError> {
        let mut o = self.order.lock().expect("order lock");
        self.check_epoch(&o, epoch)?;
        self.backend.save_position(position)?;
        // Every byte is about to be copied from the owner.
        self.backend.mark_clean()?;
        o.epoch_known = epoch;
        observe::learned(self.instance, self.object, epoch);
        o.applied = position;
        o.recent.clear();
        o.recent_bytes = 0;
        o.recent_floor = position;
        Ok(())
    }

    /// Copies bytes from the owner during a rebuild. Ordered with the
    /// owner's writes by the connection, so it never overwrites a newer write.
    pub fn resync_chunk(&self, epoch: Epoch, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        check_range(offset, data.len() as u64, self.size_bytes())?;
        let o = self.order.lock().expect("order lock");
        self.check_epoch(&o, epoch)?;
        self.backend.write_at(offset, data)?;
        self.note_dirty(data.len());
        Ok(())
    }

    /// Reads bytes. With `epoch` set, refuses if the component knows a newer
    /// epoch (the caller is a deposed owner); `None` is the diagnostic read.
    pub fn read(&self, epoch: Option<Epoch>, offset: u64, length: u64) -> Result<Vec<u8>, StoreError> {
        check_range(offset, length, self.size_bytes())?;
        if let Some(e) = epoch {
            let o = self.order.lock().expect("order lock");
            self.check_epoch(&o, e)?;
        }
        let mut buf = vec![0u8; length as usize];
        self.backend.read_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Makes every write that returned before this call durable (the
    /// backend's `sync` contract), sharing one backend sync among callers
    /// that arrive together (group commit).
    ///
    /// Why this is safe: a backend sync covers every write that returned
    /// before the sync *started*. A caller therefore needs a sync that
    /// starts after it arrived: number `started + 1` at its arrival. If one
    /// is already running, it started too early for this caller, so the
    /// caller waits for it to end and for the next one, which it runs
    /// itself or which another waiter started after it, and which also
    /// covers everyone who arrived in the meantime. With N concurrent
    /// callers the backend syncs about twice instead of N times.
    ///
    /// Blocks the calling thread: call it from the blocking pool (or
    /// inline under the simulator's switch, where nothing runs concurrently
    /// and the first branch is always taken).
    pub fn sync(&self) -> Result<(), StoreError> {
        if self.backend.is_volatile() {
            return Ok(());
        }
        let mut g = self.syncs.lock().expect("sync gate lock");
        let needed = g.started + 1;
        loop {
            // Checked under the gate, which the failing sync holds when it
            // sets `failed`: no caller can miss it and lead a new sync.
            self.check_failed()?;
            if g.finished >= needed {
                // A sync that started after this caller arrived has ended.
                // When several ended since, the newest outcome is reported:
                // an error there is conservative, never a false success.
                return match &g.last_error {
                    None => Ok(()),
                    Some(msg) => Err(StoreError::io(format!("shared sync of object {}", self.object), std::io::Error::other(msg.clone()))),
                };
            }
            if g.started == g.finished {
                // Nothing running: lead the next sync (number `needed`,
                // since nothing started after this caller arrived).
                g.started += 1;
                let number = g.started;
                drop(g);
                // Writes that return from now on count towards the next sync.
                let covered = std::mem::take(&mut *self.dirt.lock().expect("dirt lock"));
                let position = self.applied();
                let r = self.backend.sync().and_then(|()| self.backend.save_synced(position));
                if r.is_err() {
                    let mut d = self.dirt.lock().expect("dirt lock");
                    d.bytes += covered.bytes;
                    d.since = match (d.since, covered.since) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                g = self.syncs.lock().expect("sync gate lock");
                g.finished = number;
                g.last_error = r.as_ref().err().map(|e| e.to_string());
                if let Err(e) = &r {
                    let first = self.failed.set(format!("sync failed: {e}")).is_ok();
                    if first {
                        tracing::error!(object = self.object, error = %e, "component sync failed; the component is failed until rebuilt");
                    }
                }
                self.sync_done.notify_all();
                return r;
            }
            g = self.sync_done.wait(g).expect("sync gate lock");
        }
    }

    /// False for memory components, whose `sync` does nothing.
    pub fn is_persistent(&self) -> bool {
        !self.backend.is_volatile()
    }
}

/// What components did with epochs, recorded for the simulator's fencing
/// oracle while it runs (its hosts share one thread; `start` and `take`
/// bracket a run). Elsewhere nothing is recorded: the log is off.
pub mod observe {
    use std::cell::RefCell;

    use holdfast_types::{Epoch, ObjectId};

    /// Events kept per run; later ones are dropped (the oracle says so).
    pub const EVENTS_MAX: usize = 1 << 21;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum EpochEvent {
        /// The component learned `epoch` (its start, a fence, the
        /// directory, a write or rebuild start of that epoch).
        Learned { instance: u64, object: ObjectId, epoch: Epoch },
        /// The component accepted a command carrying `epoch`.
        Accepted { instance: u64, object: ObjectId, epoch: Epoch },
    }

    thread_local! {
        static LOG: RefCell<Option<Vec<EpochEvent>>> = const { RefCell::new(None) };
    }

    /// Starts a new, empty record on this thread.
    pub fn start() {
        LOG.with(|l| *l.borrow_mut() = Some(Vec::new()));
    }

    /// Stops recording on this thread and returns what was recorded.
    pub fn take() -> Vec<EpochEvent> {
        LOG.with(|l| l.borrow_mut().take()).unwrap_or_default()
    }

    fn push(e: EpochEvent) {
        LOG.with(|l| {
            if let Some(log) = l.borrow_mut().as_mut() {
                if log.len() < EVENTS_MAX {
                    log.push(e);
                }
            }
        });
    }

    pub(crate) fn learned(instance: u64, object: ObjectId, epoch: Epoch) {
        push(EpochEvent::Learned { instance, object, epoch });
    }

    pub(crate) fn accepted(instance: u64, object: ObjectId, epoch: Epoch) {
        push(EpochEvent::Accepted { instance, object, epoch });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBackend;

    fn comp() -> Component {
        Component::new(1, Box::new(MemoryBackend::new(16 * 4096)))
    }

    fn b(v: u8) -> Bytes {
        Bytes::from(vec![v; 512])
    }

    #[test]
    fn rejects_misaligned_and_out_of_range() {
        let c = comp();
        assert!(matches!(c.write(1, 1, 100, &b(0)), Err(StoreError::Misaligned { .. })));
        assert!(matches!(c.write(1, 1, 0, &Bytes::from(vec![0; 100])), Err(StoreError::Misaligned { .. })));
        assert!(matches!(c.write(1, 1, 0, &Bytes::new()), Err(StoreError::Misaligned { .. })));
        assert!(matches!(c.write(1, 1, 16 * 4096, &b(0)), Err(StoreError::OutOfRange { .. })));
        assert!(matches!(c.read(None, u64::MAX - 511, 512), Err(StoreError::OutOfRange { .. })));
    }

    #[test]
    fn fencing_and_order() {
        let c = comp();
        assert_eq!(c.fence(2).unwrap(), (0, 0));
        c.write(2, 1, 0, &b(1)).unwrap();
        assert!(matches!(c.write(2, 3, 0, &b(1)), Err(StoreError::SeqGap { .. })));
        c.write(2, 2, 512, &b(2)).unwrap();
        assert!(matches!(c.write(1, 3, 0, &b(9)), Err(StoreError::StaleEpoch { .. })));
        assert_eq!(c.fence(3).unwrap(), (2, 2));
        assert!(matches!(c.write(2, 3, 0, &b(9)), Err(StoreError::StaleEpoch { .. })));
        assert!(matches!(c.fence(2), Err(StoreError::StaleEpoch { .. })));
        assert!(matches!(c.write(3, 2, 0, &b(3)), Err(StoreError::SeqGap { .. })));
        c.write(3, 1, 0, &b(3)).unwrap();
        assert_eq!(c.read(Some(3), 0, 512).unwrap(), vec![3; 512]);
        assert_eq!(c.read(None, 512, 512).unwrap(), vec![2; 512]);
        assert!(matches!(c.read(Some(2), 0, 512), Err(StoreError::StaleEpoch { .. })));
        c.observe_epoch(5);
        assert!(matches!(c.write(4, 1, 0, &b(0)), Err(StoreError::StaleEpoch { .. })));
    }

    #[test]
    fn recent_writes_bring_a_lagging_copy_level() {
        let a = comp();
        let z = comp();
        for c in [&a, &z] {
            c.fence(1).unwrap();
        }
        for s in 1..=3 {
            a.write(1, s, s * 512, &b(s as u8)).unwrap();
            z.write(1, s, s * 512, &b(s as u8)).unwrap();
        }
        a.write(1, 4, 0, &b(4)).unwrap();
        a.write(1, 5, 512, &b(5)).unwrap();
        // z missed 4 and 5; a new owner at epoch 2 repairs it from a.
        assert_eq!(z.fence(2).unwrap(), (1, 3));
        let missing = a.recent_since(z.applied()).unwrap();
        assert_eq!(missing.iter().map(|w| w.position).collect::<Vec<_>>(), vec![(1, 4), (1, 5)]);
        for w in &missing {
            z.repair(2, w).unwrap();
        }
        assert_eq!(z.applied(), a.applied());
        assert_eq!(z.read(None, 0, 4 * 512).unwrap(), a.read(None, 0, 4 * 512).unwrap());
        // The new epoch's writes start at seq 1 on both.
        a.fence(2).unwrap();
        a.write(2, 1, 0, &b(7)).unwrap();
        z.write(2, 1, 0, &b(7)).unwrap();
    }

    #[test]
    fn ring_is_bounded_and_says_when_it_no_longer_reaches() {
        let c = comp();
        c.fence(1).unwrap();
        for s in 1..=(RECENT_WRITES_MAX as u64 + 10) {
            c.write(1, s, 0, &b(1)).unwrap();
        }
        assert!(c.recent_since((1, 5)).is_none());
        assert_eq!(c.recent_since((1, RECENT_WRITES_MAX as u64)).unwrap().len(), 10);
    }

    #[test]
    fn disk_lag_counts_unsynced_bytes_and_age_and_a_sync_clears_them() {
        use std::sync::Arc;
        let counts = Arc::new(Counts::default());
        let backend = CountingBackend { inner: MemoryBackend::new(16 * 4096), counts: counts.clone() };
        let lag = DiskLag { dirty_bytes_max: 1024, dirty_age_max: Duration::from_millis(50) };
        let c = Component::with_lag(1, Box::new(backend), lag);
        assert!(c.is_persistent() && !c.sync_due());
        c.write(1, 1, 0, &b(1)).unwrap();
        assert_eq!(c.dirty_bytes(), 512);
        assert!(!c.sync_due(), "under the byte bound");
        let now = Instant::now();
        assert!(!c.sync_due_by_age(now));
        assert!(c.sync_due_by_age(now + Duration::from_millis(60)), "the oldest unsynced write is past the age bound");
        c.write(1, 2, 512, &b(2)).unwrap();
        assert!(c.sync_due(), "at the byte bound a write must sync before it is acknowledged");
        c.sync().unwrap();
        assert_eq!(c.dirty_bytes(), 0);
        assert!(!c.sync_due() && !c.sync_due_by_age(now + Duration::from_secs(60)));
        // A memory component never lags: it has no disk.
        let m = comp();
        m.write(1, 1, 0, &b(1)).unwrap();
        assert!(!m.is_persistent() && m.dirty_bytes() == 0 && !m.sync_due());
    }

    /// What [`CountingBackend`] saw, shared with the test.
    #[derive(Default)]
    struct Counts {
        written: std::sync::atomic::AtomicU64,
        durable: std::sync::atomic::AtomicU64,
        syncs: std::sync::atomic::AtomicU64,
    }

    /// A persistent-looking backend that records, at the start of each
    /// sync, how many writes had returned: those are the ones it makes
    /// durable.
    struct CountingBackend {
        inner: MemoryBackend,
        counts: std::sync::Arc<Counts>,
    }

    impl BlockBackend for CountingBackend {
        fn kind(&self) -> ObjectKind {
            ObjectKind::Persistent
        }
        fn len_bytes(&self) -> u64 {
            self.inner.len_bytes()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
            self.inner.read_at(offset, buf)
        }
        fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
            self.inner.write_at(offset, data)?;
            self.counts.written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
        fn sync(&self) -> Result<(), StoreError> {
            use std::sync::atomic::Ordering::SeqCst;
            let covered = self.counts.written.load(SeqCst);
            // Give other callers the chance to pile up behind this sync.
            std::thread::yield_now();
            self.counts.durable.fetch_max(covered, SeqCst);
            self.counts.syncs.fetch_add(1, SeqCst);
            Ok(())
        }
    }

    /// A persistent-looking backend whose next sync fails once when
    /// armed, as fdatasync does on a write-back error: the next one
    /// succeeds although the pages it lost never reached the disk.
    struct FlakySyncBackend {
        inner: MemoryBackend,
        fail_next_sync: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl BlockBackend for FlakySyncBackend {
        fn kind(&self) -> ObjectKind {
            ObjectKind::Persistent
        }
        fn len_bytes(&self) -> u64 {
            self.inner.len_bytes()
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), StoreError> {
            self.inner.read_at(offset, buf)
        }
        fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
            self.inner.write_at(offset, data)
        }
        fn sync(&self) -> Result<(), StoreError> {
            if self.fail_next_sync.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::io("fdatasync", std::io::Error::from_raw_os_error(5)));
            }
            Ok(())
        }
    }

    #[test]
    fn a_failed_sync_fails_the_component_for_good() {
        let arm = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let backend = FlakySyncBackend { inner: MemoryBackend::new(16 * 4096), fail_next_sync: arm.clone() };
        let c = Component::new(1, Box::new(backend));
        c.fence(1).unwrap();
        c.write(1, 1, 0, &b(1)).unwrap();
        c.sync().unwrap();
        assert!(!c.is_failed());
        c.write(1, 2, 0, &b(2)).unwrap();
        arm.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(c.sync().is_err(), "the failing sync reports its error");
        // The backend would now sync "fine": write 2 must not be vouched for.
        assert!(c.is_failed());
        assert!(matches!(c.sync(), Err(StoreError::Failed { .. })), "a later sync hid the earlier error");
        assert!(matches!(c.write(1, 3, 0, &b(3)), Err(StoreError::Failed { .. })));
        assert!(matches!(c.fence(2), Err(StoreError::Failed { .. })));
        assert!(matches!(c.repair(1, &RecentWrite { position: (1, 3), offset: 0, data: b(3) }), Err(StoreError::Failed { .. })));
        assert!(matches!(c.resync_chunk(1, 0, &b(3)), Err(StoreError::Failed { .. })));
        assert!(matches!(c.read(Some(1), 0, 512), Err(StoreError::Failed { .. })));
        assert_eq!(c.sync().unwrap_err().to_holdfast().code, holdfast_types::ErrorCode::Io);
    }

    #[test]
    fn group_sync_covers_every_write_that_returned_before_it() {
        use std::sync::atomic::Ordering::SeqCst;
        use std::sync::Arc;
        let counts = Arc::new(Counts::default());
        let backend = CountingBackend { inner: MemoryBackend::new(16 * 4096), counts: counts.clone() };
        let c = Arc::new(Component::new(1, Box::new(backend)));
        let next_seq = Arc::new(Mutex::new(0u64));
        let callers = 8;
        let rounds = 200;
        let threads: Vec<_> = (0..callers)
            .map(|_| {
                let (c, next_seq, counts) = (c.clone(), next_seq.clone(), counts.clone());
                std::thread::spawn(move || {
                    for _ in 0..rounds {
                        // The seq lock keeps writes in order, as the owner does.
                        let mine = {
                            let mut s = next_seq.lock().unwrap();
                            *s += 1;
                            c.write(1, *s, 0, &b(1)).unwrap();
                            *s
                        };
                        c.sync().unwrap();
                        // Write number `mine` returned before this sync call,
                        // so a backend sync that saw it must have finished.
                        assert!(counts.durable.load(SeqCst) >= mine, "write {mine} acknowledged but not synced");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(counts.syncs.load(SeqCst) <= (callers * rounds) as u64);
    }
}
