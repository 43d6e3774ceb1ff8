//! The Raft state machine: applies committed commands to [`ClusterState`],
//! tells the node through the [`ApplyHook`], and keeps the latest snapshot
//! on disk so purged log entries are never needed again.
//!
//! The state itself is not persisted apart from snapshots: on restart it is
//! rebuilt from the snapshot plus the log, which keeps apply a pure
//! in-memory step.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use holdfast_types::LogIndex;
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::fsutil::{read_optional, write_atomic, FileError};
use crate::raft_types::{
    storage_error, Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::state::{ClusterState, CommandResult};
use crate::ApplyHook;

pub(crate) const SNAPSHOT_FILE: &str = "snapshot";

#[derive(Debug, thiserror::Error)]
pub(crate) enum SmError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path} is not a valid directory snapshot: {reason}")]
    BadFile { path: PathBuf, reason: String },
    #[error("snapshot data received from the leader does not decode: {0}")]
    BadData(String),
    #[error("cannot encode a snapshot: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("command at log index {index} arrived after index {applied} was already applied")]
    OutOfOrder { index: LogIndex, applied: LogIndex },
    #[error("snapshot lock poisoned by an earlier panic")]
    Poisoned,
    #[error("snapshot I/O task failed: {0}")]
    Task(String),
}

/// The bytes of a snapshot as sent to followers: JSON of this.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    state: ClusterState,
    membership: StoredMembership,
}

/// The `snapshot` file: JSON of this.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    data: SnapshotData,
}

#[derive(Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    bytes: Vec<u8>,
}

impl StoredSnapshot {
    fn to_snapshot(&self) -> Snapshot {
        Snapshot { meta: self.meta.clone(), snapshot: Box::new(Cursor::new(self.bytes.clone())) }
    }
}

/// Parts shared with snapshot builders, which openraft may run while the
/// state machine keeps applying.
struct Shared {
    path: PathBuf,
    hook: Arc<dyn ApplyHook>,
    state_tx: watch::Sender<Arc<ClusterState>>,
    applied_tx: watch::Sender<LogIndex>,
    current: Mutex<Option<StoredSnapshot>>,
    write_lock: Mutex<()>,
    /// Makes snapshot ids unique within this process.
    seq: AtomicU64,
}

impl Shared {
    fn publish(&self, state: &Arc<ClusterState>, applied: Option<LogId>) {
        // State first: whoever wakes on the index must find a state at least that new.
        self.state_tx.send_replace(state.clone());
        self.applied_tx.send_replace(applied.map_or(0, |l| l.index));
    }

    /// Persists `snap` and makes it current, unless a newer one already is
    /// (a slow build can finish after a newer snapshot was installed).
    async fn save(self: &Arc<Self>, snap: StoredSnapshot, data: SnapshotData) -> Result<(), SmError> {
        let me = self.clone();
        let work = move || {
            // Writers queue here; `current` itself is only held briefly so
            // readers on async threads never wait behind an fsync.
            let _writing = me.write_lock.lock().map_err(|_| SmError::Poisoned)?;
            let newer_exists = me
                .current
                .lock()
                .map_err(|_| SmError::Poisoned)?
                .as_ref()
                .is_some_and(|cur| cur.meta.last_log_id > snap.meta.last_log_id);
            if newer_exists {
                return Ok(());
            }
            let file = SnapshotFile { meta: snap.meta.clone(), data };
            let bytes = serde_json::to_vec(&file).map_err(SmError::Encode)?;
            write_atomic(&me.path, &bytes)?;
            *me.current.lock().map_err(|_| SmError::Poisoned)? = Some(snap);
            Ok(())
        };
        if holdfast_types::io_mode::inline_blocking() {
            work()
        } else {
            tokio::task::spawn_blocking(work).await.map_err(|e| SmError::Task(e.to_string()))?
        }
    }
}

/// Receivers for what the state machine publishes.
pub(crate) struct Published {
    pub state: watch::Receiver<Arc<ClusterState>>,
    pub applied: watch::Receiver<LogIndex>,
}

pub struct StateMachine {
    shared: Arc<Shared>,
    state: Arc<ClusterState>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl StateMachine {
    /// Loads the snapshot in `dir`, if any, so the state machine starts where
    /// it ends and the log entries it covers may already be purged.
    pub(crate) fn open(dir: &Path, hook: Arc<dyn ApplyHook>) -> Result<(StateMachine, Published), SmError> {
        let path = dir.join(SNAPSHOT_FILE);
        let (state_tx, state_rx) = watch::channel(Arc::new(ClusterState::default()));
        let (applied_tx, applied_rx) = watch::channel(0);
        let mut sm = StateMachine {
            shared: Arc::new(Shared {
                path: path.clone(),
                hook,
                state_tx,
                applied_tx,
                current: Mutex::new(None),
                write_lock: Mutex::new(()),
                seq: AtomicU64::new(0),
            }),
            state: Arc::new(ClusterState::default()),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        if let Some(bytes) = read_optional(&path)? {
            let file: SnapshotFile = serde_json::from_slice(&bytes)
                .map_err(|e| SmError::BadFile { path: path.clone(), reason: e.to_string() })?;
            let data_bytes = serde_json::to_vec(&file.data).map_err(SmError::Encode)?;
            sm.state = Arc::new(file.data.state);
            sm.last_applied = file.meta.last_log_id;
            sm.membership = file.meta.last_membership.clone();
            *sm.shared.current.lock().map_err(|_| SmError::Poisoned)? =
                Some(StoredSnapshot { meta: file.meta, bytes: data_bytes });
            // Loading a snapshot at startup replaces the state wholesale,
            // exactly like installing one from the leader.
            sm.shared.hook.snapshot_installed(&sm.state);
            sm.shared.publish(&sm.state, sm.last_applied);
        }
        let published = Published { state: state_rx, applied: applied_rx };
        Ok((sm, published))
    }
}

fn sm_err(subject: ErrorSubject<u64>, verb: ErrorVerb) -> impl FnOnce(SmError) -> StorageError {
    move |e| storage_error(subject, verb, &e)
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut results = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            let result = match entry.payload {
                EntryPayload::Blank => CommandResult::Ok,
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(log_id), m);
                    CommandResult::Ok
                }
                EntryPayload::Normal(cmd) => {
                    let index = log_id.index;
                    let applied = self.state.applied_index;
                    // ClusterState::apply asserts this; checking first turns
                    // a damaged log into a storage error instead of a panic.
                    if !(index > applied || (index == 0 && applied == 0)) {
                        return Err(sm_err(ErrorSubject::Apply(log_id), ErrorVerb::Write)(SmError::OutOfOrder {
                            index,
                            applied,
                        }));
                    }
                    let result = Arc::make_mut(&mut self.state).apply(index, &cmd);
                    self.shared.hook.applied(index, &cmd, &result, &self.state);
                    result
                }
            };
            self.last_applied = Some(log_id);
            self.shared.publish(&self.state, self.last_applied);
            results.push(result);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
            state: self.state.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        let bytes = snapshot.into_inner();
        let data: SnapshotData = serde_json::from_slice(&bytes)
            .map_err(|e| sm_err(subject.clone(), ErrorVerb::Read)(SmError::BadData(e.to_string())))?;
        let state = data.state.clone();
        // Persist before switching over: once openraft hears the install
        // succeeded it may purge the log entries this snapshot replaces.
        self.shared
            .save(StoredSnapshot { meta: meta.clone(), bytes }, data)
            .await
            .map_err(sm_err(subject, ErrorVerb::Write))?;
        self.state = Arc::new(state);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.shared.hook.snapshot_installed(&self.state);
        self.shared.publish(&self.state, self.last_applied);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let current = self
            .shared
            .current
            .lock()
            .map_err(|_| sm_err(ErrorSubject::Snapshot(None), ErrorVerb::Read)(SmError::Poisoned))?;
        Ok(current.as_ref().map(StoredSnapshot::to_snapshot))
    }
}

/// Captures the state at the moment openraft asks for a builder, so the
/// snapshot matches its `last_applied` even if applying continues.
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
    state: Arc<ClusterState>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let data = SnapshotData { state: (*self.state).clone(), membership: self.membership.clone() };
        let bytes = serde_json::to_vec(&data)
            .map_err(|e| sm_err(ErrorSubject::Snapshot(None), ErrorVerb::Write)(SmError::Encode(e)))?;
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let snapshot_id = match self.last_applied {
            Some(l) => format!("{}-{}-{millis}-{seq}", l.leader_id.term, l.index),
            None => format!("empty-{millis}-{seq}"),
        };
        let meta =
            SnapshotMeta { last_log_id: self.last_applied, last_membership: self.membership.clone(), snapshot_id };
        let stored = StoredSnapshot { meta: meta.clone(), bytes };
        let snapshot = stored.to_snapshot();
        self.shared
            .save(stored, data)
            .await
            .map_err(sm_err(ErrorSubject::Snapshot(Some(meta.signature())), ErrorVerb::Write))?;
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::Ordering;

    use openraft::{CommittedLeaderId, Membership};

    use super::*;
    use crate::cluster_tests::RecordingHook;
    use crate::state::Command;
    use crate::test_util::TempDir;

    fn log_id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    fn booted(node: u64) -> Command {
        Command::NodeBooted {
            node,
            addr: format!("h{node}:1"),
            memory_bytes_max: 1 << 30,
            boot_id: node,
            persistent_present: vec![],
        }
    }

    fn entries() -> Vec<Entry> {
        let members: BTreeSet<u64> = [1, 2, 3].into();
        vec![
            Entry { log_id: log_id(0), payload: EntryPayload::Membership(Membership::new(vec![members], None)) },
            Entry { log_id: log_id(1), payload: EntryPayload::Blank },
            Entry { log_id: log_id(2), payload: EntryPayload::Normal(booted(1)) },
            Entry { log_id: log_id(3), payload: EntryPayload::Normal(booted(2)) },
        ]
    }

    #[tokio::test]
    async fn apply_publishes_and_snapshot_survives_reopen() {
        let dir = TempDir::new("sm-snapshot");
        let hook = Arc::new(RecordingHook::default());
        let (mut sm, published) = StateMachine::open(dir.path(), hook.clone()).unwrap();
        let results = sm.apply(entries()).await.unwrap();
        assert_eq!(results, vec![CommandResult::Ok; 4]);
        assert_eq!(*published.applied.borrow(), 3);
        assert_eq!(published.state.borrow().nodes.len(), 2);
        assert_eq!(hook.applied.lock().unwrap().iter().map(|c| c.0).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(hook.wrong_state.load(Ordering::SeqCst), 0);

        let snap = sm.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(snap.meta.last_log_id, Some(log_id(3)));
        let applied = sm.applied_state().await.unwrap();
        drop(sm);

        let hook2 = Arc::new(RecordingHook::default());
        let (mut sm2, published2) = StateMachine::open(dir.path(), hook2.clone()).unwrap();
        assert_eq!(hook2.snapshots.load(Ordering::SeqCst), 1);
        assert_eq!(sm2.applied_state().await.unwrap(), applied);
        assert_eq!(*published2.applied.borrow(), 3);
        assert_eq!(*published2.state.borrow(), *published.state.borrow());
        let cur = sm2.get_current_snapshot().await.unwrap().expect("snapshot loaded");
        assert_eq!(cur.meta, snap.meta);
        assert_eq!(cur.snapshot.into_inner(), snap.snapshot.into_inner());
    }

    #[tokio::test]
    async fn bad_input_is_an_error_not_a_panic() {
        let dir = TempDir::new("sm-bad");
        let (mut sm, _p) = StateMachine::open(dir.path(), Arc::new(RecordingHook::default())).unwrap();
        sm.apply(entries()).await.unwrap();
        // A command at an index already applied.
        let again = Entry { log_id: log_id(3), payload: EntryPayload::Normal(booted(3)) };
        assert!(sm.apply([again]).await.is_err());
        // Snapshot bytes that are not a snapshot.
        let meta =
            SnapshotMeta { last_log_id: Some(log_id(9)), last_membership: Default::default(), snapshot_id: "x".into() };
        assert!(sm.install_snapshot(&meta, Box::new(Cursor::new(b"nonsense".to_vec()))).await.is_err());
        // A corrupt snapshot file refuses to open.
        std::fs::write(dir.path().join(SNAPSHOT_FILE), b"{\"meta\":").unwrap();
        assert!(matches!(
            StateMachine::open(dir.path(), Arc::new(RecordingHook::default())),
            Err(SmError::BadFile { .. })
        ));
    }
}
