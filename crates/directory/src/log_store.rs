//! Durable Raft log and vote, kept in `data_dir/raft/`.
//!
//! Hand-written rather than borrowed: openraft ships no durable log store
//! (only in-memory examples), the directory only logs rare configuration
//! commands so throughput does not matter, and a database crate would be a
//! large dependency for a few kilobytes of data. The whole log is also kept
//! in memory; the file exists only to survive restarts.
//!
//! Files:
//! - `log`: an 8-byte magic `HFDRLOG1`, then records, each
//!   `[len: u32 LE][crc: u32 LE][body: len bytes]`, where `crc` is CRC-32
//!   (IEEE) over the 4 length bytes followed by the body, and the body is a
//!   JSON [`LogRecord`]. Replaying the records in order rebuilds the log.
//! - `vote`, `committed`: JSON, replaced atomically (temp file + fsync + rename).
//!
//! A crash can only damage the record being written, so a damaged record
//! at the very end of `log` is a torn write and is dropped; damage anywhere
//! else is real corruption and refuses to open rather than silently losing
//! committed entries.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, RaftLogReader};
use serde::{Deserialize, Serialize};

use crate::fsutil::{crc32, file_err, read_optional, write_atomic, FileError};
use crate::raft_types::{storage_error, Entry, LogId, StorageError, TypeConfig, Vote};

pub(crate) const LOG_FILE: &str = "log";
const VOTE_FILE: &str = "vote";
const COMMITTED_FILE: &str = "committed";
pub(crate) const MAGIC: &[u8; 8] = b"HFDRLOG1";
pub(crate) const RECORD_HEADER_BYTES: usize = 8;
/// Refuse to write (and treat as damage when reading) anything larger: no
/// legitimate batch of directory commands comes near it.
const RECORD_BYTES_MAX: usize = 64 << 20;
/// Rewrite the log file after a purge once it has grown past this.
pub(crate) const COMPACT_AFTER_BYTES: u64 = 16 << 20;
/// Entries per append record when the file is rewritten by compaction.
const COMPACT_ENTRIES_PER_RECORD: usize = 256;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LogStoreError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path} is corrupt at byte offset {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("{path} is not valid: {reason}")]
    BadFile { path: PathBuf, reason: String },
    #[error("cannot encode a log record: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("log record of {0} bytes exceeds the {RECORD_BYTES_MAX} byte limit")]
    TooLarge(usize),
    #[error("log store lock poisoned by an earlier panic")]
    Poisoned,
    #[error("log store I/O task failed: {0}")]
    Task(String),
}

/// One replayable change to the log. Serialised as externally tagged JSON,
/// e.g. `{"Append":{"entries":[...]}}`, `{"Truncate":{"since":7}}`,
/// `{"Purge":{"upto":{"leader_id":{"term":2,"node_id":1},"index":40}}}`.
#[derive(Serialize, Deserialize)]
enum LogRecord {
    /// Entries are inserted by index, replacing any with the same index.
    Append { entries: Vec<Entry> },
    /// Removes every entry with index >= `since`.
    Truncate { since: u64 },
    /// Removes every entry with index <= `upto.index`; remembers `upto`.
    Purge { upto: LogId },
}

/// Borrowing twin of [`LogRecord`] so appends need not clone entries to
/// serialise them; both produce the same JSON.
#[derive(Serialize)]
enum LogRecordRef<'a> {
    Append { entries: &'a [Entry] },
    Truncate { since: u64 },
    Purge { upto: &'a LogId },
}

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct LogMem {
    pub entries: BTreeMap<u64, Entry>,
    pub last_purged: Option<LogId>,
    pub vote: Option<Vote>,
    pub committed: Option<LogId>,
}

impl LogMem {
    /// The single definition of what a record does, used both live and on
    /// replay so the two can never disagree.
    fn apply(&mut self, rec: LogRecord) {
        match rec {
            LogRecord::Append { entries } => {
                for e in entries {
                    self.entries.insert(e.log_id.index, e);
                }
            }
            LogRecord::Truncate { since } => {
                self.entries.split_off(&since);
            }
            LogRecord::Purge { upto } => {
                self.entries = self.entries.split_off(&(upto.index + 1));
                if !matches!(&self.last_purged, Some(p) if p.index >= upto.index) {
                    self.last_purged = Some(upto);
                }
            }
        }
    }

    fn last_log_id(&self) -> Option<LogId> {
        self.entries.values().next_back().map(|e| e.log_id).or(self.last_purged)
    }
}

/// The open `log` file and its length in bytes (the end of the last good record).
struct LogFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl LogFile {
    fn write_record(&mut self, rec: &LogRecordRef<'_>) -> Result<(), LogStoreError> {
        let buf = encode_record(rec)?;
        let res = self.file.write_all(&buf).and_then(|_| self.file.sync_data());
        if let Err(e) = res {
            // Cut off whatever part of the record reached the file so the
            // next append does not land behind garbage, which replay would
            // have to call mid-file corruption.
            if let Err(e2) = self.file.set_len(self.len).and_then(|_| self.file.sync_data()) {
                tracing::error!(path = %self.path.display(), error = %e2, "cannot cut off a failed log write");
            }
            return Err(FileError { op: "append to", path: self.path.clone(), source: e }.into());
        }
        self.len += buf.len() as u64;
        Ok(())
    }
}

fn encode_record(rec: &LogRecordRef<'_>) -> Result<Vec<u8>, LogStoreError> {
    let body = serde_json::to_vec(rec).map_err(LogStoreError::Encode)?;
    if body.len() > RECORD_BYTES_MAX {
        return Err(LogStoreError::TooLarge(body.len()));
    }
    let len = (body.len() as u32).to_le_bytes();
    let crc = crc32(&[&len, &body]).to_le_bytes();
    let mut buf = Vec::with_capacity(RECORD_HEADER_BYTES + body.len());
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&crc);
    buf.extend_from_slice(&body);
    Ok(buf)
}

/// What replaying a log file found.
#[derive(Debug)]
pub(crate) struct Replay {
    pub mem: LogMem,
    /// Bytes up to the end of the last good record.
    pub good_len: u64,
    /// Why bytes after `good_len` were dropped, if any were.
    pub torn: Option<String>,
}

/// Replays a whole log file. Damage to the last record is a torn write:
/// fewer than a header's bytes left, a length running past the end of the
/// file, a checksum failure on the record that ends exactly at end of file,
/// or an all-zero tail (some file systems extend the size before the data
/// lands). Any other checksum or decode failure is corruption.
pub(crate) fn replay(path: &Path, buf: &[u8]) -> Result<Replay, LogStoreError> {
    if buf.len() < MAGIC.len() || &buf[..MAGIC.len()] != MAGIC {
        return Err(LogStoreError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: "missing the HFDRLOG1 header; not a directory log file".into(),
        });
    }
    let mut mem = LogMem::default();
    let mut off = MAGIC.len();
    let torn = loop {
        let rest = &buf[off..];
        if rest.is_empty() {
            break None;
        }
        if rest.iter().all(|&b| b == 0) {
            break Some(format!("{} zero bytes", rest.len()));
        }
        if rest.len() < RECORD_HEADER_BYTES {
            break Some(format!("{} bytes, shorter than a record header", rest.len()));
        }
        let len_bytes = [rest[0], rest[1], rest[2], rest[3]];
        let len = u32::from_le_bytes(len_bytes) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let end = RECORD_HEADER_BYTES.saturating_add(len);
        if end > rest.len() {
            break Some(format!("a record of {len} bytes with only {} present", rest.len() - RECORD_HEADER_BYTES));
        }
        let body = &rest[RECORD_HEADER_BYTES..end];
        if crc32(&[&len_bytes, body]) != crc {
            if end == rest.len() {
                break Some(format!("a final record of {len} bytes with a bad checksum"));
            }
            return Err(LogStoreError::Corrupt {
                path: path.to_path_buf(),
                offset: off as u64,
                reason: format!("record of {len} bytes fails its checksum and is followed by more data"),
            });
        }
        let rec: LogRecord = serde_json::from_slice(body).map_err(|e| LogStoreError::Corrupt {
            path: path.to_path_buf(),
            offset: off as u64,
            reason: format!("record passes its checksum but does not decode: {e}"),
        })?;
        mem.apply(rec);
        off += end;
    };
    Ok(Replay { mem, good_len: off as u64, torn })
}

struct Shared {
    dir: PathBuf,
    /// Serialises writers and owns the file; held across fsync.
    file: Mutex<LogFile>,
    /// What readers see; only ever held briefly, never across I/O.
    mem: RwLock<LogMem>,
    compact_after: u64,
}

/// The directory's [`RaftLogStorage`]. Cheap to clone; clones share state,
/// which is how it doubles as its own log reader.
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

impl LogStore {
    /// Opens the log in `dir`, creating an empty one if there is none.
    pub(crate) fn open(dir: &Path) -> Result<LogStore, LogStoreError> {
        Self::open_with(dir, COMPACT_AFTER_BYTES)
    }

    pub(crate) fn open_with(dir: &Path, compact_after: u64) -> Result<LogStore, LogStoreError> {
        std::fs::create_dir_all(dir).map_err(file_err("create directory", dir))?;
        let path = dir.join(LOG_FILE);
        let buf = match read_optional(&path)? {
            Some(b) => b,
            None => {
                // Created through rename so a crash here never leaves a
                // header-less file that would then refuse to open.
                write_atomic(&path, MAGIC)?;
                MAGIC.to_vec()
            }
        };
        let Replay { mut mem, good_len, torn } = replay(&path, &buf)?;
        let file = OpenOptions::new().append(true).open(&path).map_err(file_err("open", &path))?;
        if let Some(why) = torn {
            tracing::warn!(
                path = %path.display(),
                offset = good_len,
                dropped_bytes = buf.len() as u64 - good_len,
                "dropping a torn write at the end of the directory log: {why}"
            );
            file.set_len(good_len).map_err(file_err("truncate torn tail of", &path))?;
            file.sync_data().map_err(file_err("fsync", &path))?;
        }
        mem.vote = read_json(&dir.join(VOTE_FILE))?;
        mem.committed = read_json(&dir.join(COMMITTED_FILE))?;
        Ok(LogStore {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                file: Mutex::new(LogFile { path, file, len: good_len }),
                mem: RwLock::new(mem),
                compact_after,
            }),
        })
    }

    fn lock_file(&self) -> Result<std::sync::MutexGuard<'_, LogFile>, LogStoreError> {
        self.shared.file.lock().map_err(|_| LogStoreError::Poisoned)
    }

    fn with_mem<T>(&self, f: impl FnOnce(&LogMem) -> T) -> Result<T, LogStoreError> {
        let g = self.shared.mem.read().map_err(|_| LogStoreError::Poisoned)?;
        Ok(f(&g))
    }

    fn update_mem(&self, f: impl FnOnce(&mut LogMem)) -> Result<(), LogStoreError> {
        let mut g = self.shared.mem.write().map_err(|_| LogStoreError::Poisoned)?;
        f(&mut g);
        Ok(())
    }

    /// A copy of everything in memory, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn mem(&self) -> LogMem {
        self.with_mem(|m| m.clone()).unwrap_or_default()
    }

    /// Current size of the log file.
    #[cfg(test)]
    pub(crate) fn file_len(&self) -> u64 {
        self.lock_file().map(|f| f.len).unwrap_or(0)
    }

    pub(crate) fn append_sync(&self, entries: Vec<Entry>) -> Result<(), LogStoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut file = self.lock_file()?;
        file.write_record(&LogRecordRef::Append { entries: &entries })?;
        self.update_mem(|m| m.apply(LogRecord::Append { entries }))
    }

    pub(crate) fn truncate_sync(&self, since: u64) -> Result<(), LogStoreError> {
        let mut file = self.lock_file()?;
        file.write_record(&LogRecordRef::Truncate { since })?;
        self.update_mem(|m| m.apply(LogRecord::Truncate { since }))
    }

    pub(crate) fn purge_sync(&self, upto: LogId) -> Result<(), LogStoreError> {
        let mut file = self.lock_file()?;
        file.write_record(&LogRecordRef::Purge { upto: &upto })?;
        self.update_mem(|m| m.apply(LogRecord::Purge { upto }))?;
        if file.len > self.shared.compact_after {
            self.compact(&mut file)?;
        }
        Ok(())
    }

    /// Rewrites the file as one purge record plus the surviving entries, so
    /// records for long-purged entries stop costing replay time and disk.
    fn compact(&self, file: &mut LogFile) -> Result<(), LogStoreError> {
        let (purged, entries) = self.with_mem(|m| (m.last_purged, m.entries.values().cloned().collect::<Vec<_>>()))?;
        let mut buf = MAGIC.to_vec();
        if let Some(upto) = &purged {
            buf.extend(encode_record(&LogRecordRef::Purge { upto })?);
        }
        for chunk in entries.chunks(COMPACT_ENTRIES_PER_RECORD) {
            buf.extend(encode_record(&LogRecordRef::Append { entries: chunk })?);
        }
        let before = file.len;
        write_atomic(&file.path, &buf)?;
        file.file = OpenOptions::new().append(true).open(&file.path).map_err(file_err("reopen", &file.path))?;
        file.len = buf.len() as u64;
        tracing::info!(path = %file.path.display(), before, after = file.len, "compacted the directory log");
        Ok(())
    }

    pub(crate) fn save_vote_sync(&self, vote: &Vote) -> Result<(), LogStoreError> {
        // The file lock also orders vote writes against log writes.
        let _file = self.lock_file()?;
        write_json(&self.shared.dir.join(VOTE_FILE), vote)?;
        self.update_mem(|m| m.vote = Some(*vote))
    }

    pub(crate) fn save_committed_sync(&self, committed: Option<LogId>) -> Result<(), LogStoreError> {
        let _file = self.lock_file()?;
        write_json(&self.shared.dir.join(COMMITTED_FILE), &committed)?;
        self.update_mem(|m| m.committed = committed)
    }

    /// Runs blocking file I/O off the async worker threads; fsync can take
    /// tens of milliseconds and must not stall heartbeats.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LogStore) -> Result<T, LogStoreError> + Send + 'static,
    ) -> Result<T, LogStoreError> {
        let me = self.clone();
        if holdfast_types::io_mode::inline_blocking() {
            return f(&me);
        }
        tokio::task::spawn_blocking(move || f(&me)).await.map_err(|e| LogStoreError::Task(e.to_string()))?
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, LogStoreError> {
    let Some(bytes) = read_optional(path)? else { return Ok(None) };
    serde_json::from_slice(&bytes)
        .map_err(|e| LogStoreError::BadFile { path: path.to_path_buf(), reason: e.to_string() })
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), LogStoreError> {
    let bytes = serde_json::to_vec(v).map_err(LogStoreError::Encode)?;
    Ok(write_atomic(path, &bytes)?)
}

fn log_err(verb: ErrorVerb) -> impl FnOnce(LogStoreError) -> StorageError {
    move |e| storage_error(ErrorSubject::Logs, verb, &e)
}

fn vote_err(verb: ErrorVerb) -> impl FnOnce(LogStoreError) -> StorageError {
    move |e| storage_error(ErrorSubject::Vote, verb, &e)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.with_mem(|m| m.entries.range(range).map(|(_, e)| e.clone()).collect()).map_err(log_err(ErrorVerb::Read))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.with_mem(|m| LogState { last_purged_log_id: m.last_purged, last_log_id: m.last_log_id() })
            .map_err(log_err(ErrorVerb::Read))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.blocking(move |s| s.save_vote_sync(&vote)).await.map_err(vote_err(ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.with_mem(|m| m.vote).map_err(vote_err(ErrorVerb::Read))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.blocking(move |s| s.save_committed_sync(committed)).await.map_err(log_err(ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        self.with_mem(|m| m.committed).map_err(log_err(ErrorVerb::Read))
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        // append_sync returns only after sync_data, so reporting completion
        // afterwards is what makes an acknowledged entry durable.
        self.blocking(move |s| s.append_sync(entries)).await.map_err(log_err(ErrorVerb::Write))?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(move |s| s.truncate_sync(log_id.index)).await.map_err(log_err(ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(move |s| s.purge_sync(log_id)).await.map_err(log_err(ErrorVerb::Delete))
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;
    use crate::state::Command;
    use crate::test_util::TempDir;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: log_id(term, index),
            payload: EntryPayload::Normal(Command::CreateObject {
                name: format!("obj-{index}"),
                kind: holdfast_types::ObjectKind::Memory,
                size_bytes: 4096,
                replicas: 1,
            }),
        }
    }

    fn indexes(s: &LogStore) -> Vec<u64> {
        s.mem().entries.keys().copied().collect()
    }

    #[test]
    fn append_truncate_purge_vote_survive_reopen() {
        let dir = TempDir::new("log-reopen");
        let s = LogStore::open(dir.path()).unwrap();
        s.append_sync((0..10).map(|i| entry(1, i)).collect()).unwrap();
        s.truncate_sync(7).unwrap();
        s.append_sync(vec![entry(2, 7), entry(2, 8)]).unwrap();
        s.purge_sync(log_id(1, 2)).unwrap();
        s.save_vote_sync(&Vote::new(2, 3)).unwrap();
        s.save_committed_sync(Some(log_id(2, 7))).unwrap();
        let before = s.mem();
        assert_eq!(indexes(&s), vec![3, 4, 5, 6, 7, 8]);
        assert_eq!(before.entries[&7].log_id, log_id(2, 7));
        assert_eq!(before.last_purged, Some(log_id(1, 2)));
        drop(s);

        let s = LogStore::open(dir.path()).unwrap();
        assert_eq!(s.mem(), before);
        assert_eq!(s.mem().vote, Some(Vote::new(2, 3)));
        assert_eq!(s.mem().committed, Some(log_id(2, 7)));
    }

    #[test]
    fn purge_past_the_end_keeps_the_purge_point() {
        let dir = TempDir::new("log-purge-all");
        let s = LogStore::open(dir.path()).unwrap();
        s.append_sync((0..3).map(|i| entry(1, i)).collect()).unwrap();
        s.purge_sync(log_id(1, 20)).unwrap();
        drop(s);
        let s = LogStore::open(dir.path()).unwrap();
        assert!(s.mem().entries.is_empty());
        assert_eq!(s.mem().last_log_id(), Some(log_id(1, 20)));
    }

    #[test]
    fn torn_tail_is_dropped_and_later_appends_work() {
        let dir = TempDir::new("log-torn");
        let s = LogStore::open(dir.path()).unwrap();
        s.append_sync(vec![entry(1, 0), entry(1, 1)]).unwrap();
        let good_len = s.file_len();
        s.append_sync(vec![entry(1, 2)]).unwrap();
        let full_len = s.file_len();
        drop(s);
        let path = dir.path().join(LOG_FILE);

        // Cut the last record at every possible point: header, body, last byte.
        for cut in [good_len + 3, good_len + 8, (good_len + full_len) / 2, full_len - 1] {
            let bytes = std::fs::read(&path).unwrap();
            let saved = bytes.clone();
            std::fs::write(&path, &bytes[..cut as usize]).unwrap();
            let s = LogStore::open(dir.path()).unwrap();
            assert_eq!(indexes(&s), vec![0, 1], "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len, "torn bytes are cut off the file");
            drop(s);
            std::fs::write(&path, &saved).unwrap();
        }

        // A zero-filled tail (size extended, data never written) is torn too.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0u8; 100]);
        std::fs::write(&path, &bytes).unwrap();
        let s = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&s), vec![0, 1, 2]);
        // New appends after recovery land on a clean end and replay.
        s.append_sync(vec![entry(1, 3)]).unwrap();
        drop(s);
        let s = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&s), vec![0, 1, 2, 3]);
    }

    #[test]
    fn flipped_bit_in_last_record_is_treated_as_torn() {
        let dir = TempDir::new("log-lastbit");
        let s = LogStore::open(dir.path()).unwrap();
        s.append_sync(vec![entry(1, 0)]).unwrap();
        s.append_sync(vec![entry(1, 1)]).unwrap();
        drop(s);
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let s = LogStore::open(dir.path()).unwrap();
        assert_eq!(indexes(&s), vec![0]);
    }

    #[test]
    fn middle_corruption_is_an_error_naming_file_and_offset() {
        let dir = TempDir::new("log-middle");
        let s = LogStore::open(dir.path()).unwrap();
        s.append_sync(vec![entry(1, 0)]).unwrap();
        let second = s.file_len();
        s.append_sync(vec![entry(1, 1)]).unwrap();
        s.append_sync(vec![entry(1, 2)]).unwrap();
        drop(s);
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        // Damage the body of the second record, which is not the last.
        bytes[second as usize + RECORD_HEADER_BYTES + 5] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let err = LogStore::open(dir.path()).err().expect("corruption must be refused");
        let msg = err.to_string();
        assert!(matches!(&err, LogStoreError::Corrupt { offset, .. } if *offset == second), "unexpected error: {msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("offset {second}")), "{msg}");
        // The file is left alone for an operator to inspect.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn bad_header_is_refused() {
        let dir = TempDir::new("log-magic");
        std::fs::write(dir.path().join(LOG_FILE), b"not a log at all").unwrap();
        assert!(matches!(LogStore::open(dir.path()), Err(LogStoreError::Corrupt { offset: 0, .. })));
    }

    #[test]
    fn compaction_rewrites_file_and_keeps_content() {
        let dir = TempDir::new("log-compact");
        let s = LogStore::open_with(dir.path(), 4096).unwrap();
        for i in 0..100 {
            s.append_sync(vec![entry(1, i)]).unwrap();
        }
        let grown = s.file_len();
        s.purge_sync(log_id(1, 89)).unwrap();
        assert!(s.file_len() < grown / 4, "{} vs {grown}", s.file_len());
        s.append_sync(vec![entry(1, 100)]).unwrap();
        let before = s.mem();
        drop(s);
        let s = LogStore::open(dir.path()).unwrap();
        assert_eq!(s.mem(), before);
        assert_eq!(indexes(&s), (90..=100).collect::<Vec<_>>());
        assert_eq!(s.mem().last_purged, Some(log_id(1, 89)));
    }

    #[test]
    fn corrupt_vote_file_is_an_error() {
        let dir = TempDir::new("log-vote");
        let s = LogStore::open(dir.path()).unwrap();
        s.save_vote_sync(&Vote::new(1, 1)).unwrap();
        drop(s);
        std::fs::write(dir.path().join(VOTE_FILE), b"{\"leader_id\":").unwrap();
        assert!(matches!(LogStore::open(dir.path()), Err(LogStoreError::BadFile { .. })));
    }
}
