//! Change notification ([MS-SMB2] 3.3.5.19, [MS-FSCC] 2.4.42): the
//! watches that CHANGE_NOTIFY requests set on directory handles, and the
//! changes this service makes that they report. No I/O: the handlers post
//! changes, and a waiting CHANGE_NOTIFY learns of them through a
//! `tokio::sync::watch` counter.
//!
//! Semantics, as Windows and Samba have them:
//! - A handle's watch starts with its first CHANGE_NOTIFY. Its completion
//!   filter, WATCH_TREE flag and buffer size are the first request's; later
//!   requests on the handle drain what the watch collected meanwhile.
//! - Changes that do not fit the watch's buffer make it overflow: the next
//!   request ends with STATUS_NOTIFY_ENUM_DIR (the client re-reads the
//!   directory), as it does when the changes do not fit that request's own
//!   output buffer.
//! - Closing the handle ends a waiting request with STATUS_NOTIFY_CLEANUP.
//! - All watches together buffer at most `Limits::notify_buffered_bytes_max`
//!   bytes of changes: a change that would go past it overflows its watch
//!   instead (STATUS_NOTIFY_ENUM_DIR, "too many changes, read the
//!   directory again"), so many watches that are never drained cannot
//!   grow the service's memory, each within its own buffer size.
//!
//! Only changes made through this service process are seen. A share
//! volume is served by exactly one service at a time, so that is every
//! change a client can make.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use holdfast_smb_proto::msg::change_notify::{action, filter, notify_information_bytes};

/// Changes one watch holds between requests, whatever its buffer size:
/// past this it overflows (STATUS_NOTIFY_ENUM_DIR), so a client that stops
/// asking cannot make the service hold an unbounded list.
pub const CHANGES_PER_WATCH_MAX: usize = 4096;

/// Files whose pending delete is remembered for watchers. A delete that
/// never happens (the file was renamed, or its delete failed) leaves an
/// entry behind until the same path is deleted; past this many the oldest
/// reason to remember one is gone and new ones are not tracked.
pub const DELETE_PENDING_MAX: usize = 4096;

/// Which open a watch belongs to: (connection, FileId.Volatile). Keyed by
/// the connection's own id because a close must find the watch after the
/// open itself is gone.
pub type WatchKey = (u64, u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: u32,
    /// Relative to the watched directory, backslash separated.
    pub name: String,
}

struct Watch {
    share: String,
    /// `leases::path_key` of the watched directory ("" for the share root).
    dir_key: String,
    recursive: bool,
    filter: u32,
    buffer_bytes: u32,
    changes: Vec<Change>,
    changes_bytes: usize,
    overflowed: bool,
    closed: bool,
    /// The watched directory's delete is pending: requests end with
    /// STATUS_DELETE_PENDING.
    deleting: bool,
    /// Raised on every change and at close; waiters hold receivers.
    seen: tokio::sync::watch::Sender<u64>,
}

/// What a CHANGE_NOTIFY request gets now.
pub enum Outcome {
    /// The changes collected so far (at least one).
    Changes(Vec<Change>),
    /// Too many changes to report: STATUS_NOTIFY_ENUM_DIR.
    EnumDir,
    /// The handle was closed: STATUS_NOTIFY_CLEANUP.
    Cleanup,
    /// The watched directory is to be deleted: STATUS_DELETE_PENDING.
    DeletePending,
    /// Nothing yet: wait for the receiver to change, then ask again.
    Wait(tokio::sync::watch::Receiver<u64>),
}

/// A watch request's parameters.
pub struct WatchSpec<'a> {
    pub share: &'a str,
    pub dir_key: &'a str,
    pub recursive: bool,
    pub filter: u32,
    pub buffer_bytes: u32,
}

pub struct Watches {
    watches: Mutex<HashMap<WatchKey, Watch>>,
    /// Number of watches, read without the lock so that posting a change
    /// costs nothing while no client watches (the common case on WRITE).
    count: AtomicUsize,
    /// (share, path key) of files whose delete is pending, and the name to
    /// report when the last handle goes: the delete happens then.
    delete_pending: Mutex<HashMap<(String, String), (String, bool)>>,
    /// Bytes of changes buffered in all watches (changed under the
    /// `watches` lock) and the most there may be.
    buffered_bytes: AtomicUsize,
    buffered_bytes_max: usize,
}

impl Default for Watches {
    fn default() -> Self {
        Watches::with_budget(crate::config::Limits::default().notify_buffered_bytes_max)
    }
}

impl Watches {
    pub fn with_budget(buffered_bytes_max: usize) -> Watches {
        Watches {
            watches: Mutex::default(),
            count: AtomicUsize::new(0),
            delete_pending: Mutex::default(),
            buffered_bytes: AtomicUsize::new(0),
            buffered_bytes_max,
        }
    }

    /// Bytes of changes buffered now, over all watches.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes.load(Ordering::Relaxed)
    }

    /// A watch's buffered changes are gone (handed out or dropped).
    fn release(&self, bytes: usize) {
        self.buffered_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Takes `bytes` of the server-wide budget; false: it is spent.
    fn reserve(&self, bytes: usize) -> bool {
        self.buffered_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n + bytes <= self.buffered_bytes_max).then_some(n + bytes))
            .is_ok()
    }

    /// Whether any client watches; callers skip building a change
    /// otherwise (WRITE is the hot path).
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    /// A CHANGE_NOTIFY on `key`: sets the watch up on the first request
    /// and hands out what it has collected.
    pub fn request(&self, key: WatchKey, spec: &WatchSpec<'_>, output_buffer_bytes: u32) -> Outcome {
        let mut ws = self.watches.lock().expect("watches lock");
        let w = ws.entry(key).or_insert_with(|| {
            self.count.fetch_add(1, Ordering::Relaxed);
            Watch {
                share: spec.share.to_string(),
                dir_key: spec.dir_key.to_string(),
                recursive: spec.recursive,
                filter: spec.filter,
                buffer_bytes: spec.buffer_bytes,
                changes: Vec::new(),
                changes_bytes: 0,
                overflowed: false,
                closed: false,
                deleting: false,
                seen: tokio::sync::watch::channel(0).0,
            }
        });
        if w.closed {
            self.release(w.changes_bytes);
            ws.remove(&key);
            self.count.fetch_sub(1, Ordering::Relaxed);
            return Outcome::Cleanup;
        }
        if w.deleting {
            return Outcome::DeletePending;
        }
        if w.overflowed {
            w.overflowed = false;
            return Outcome::EnumDir;
        }
        if w.changes.is_empty() {
            return Outcome::Wait(w.seen.subscribe());
        }
        let bytes = w.changes_bytes;
        let changes = std::mem::take(&mut w.changes);
        w.changes_bytes = 0;
        self.release(bytes);
        if bytes > output_buffer_bytes as usize {
            return Outcome::EnumDir;
        }
        Outcome::Changes(changes)
    }

    /// For a request on a handle that is gone: whether its watch was
    /// closed with a request waiting (which then ends with
    /// STATUS_NOTIFY_CLEANUP). The watch goes either way.
    pub fn take_cleanup(&self, key: WatchKey) -> bool {
        let mut ws = self.watches.lock().expect("watches lock");
        match ws.remove(&key) {
            Some(w) => {
                self.release(w.changes_bytes);
                self.count.fetch_sub(1, Ordering::Relaxed);
                w.closed
            }
            None => false,
        }
    }

    /// The handle of `key` is closed: a waiting request ends with
    /// STATUS_NOTIFY_CLEANUP; with none waiting the watch just goes.
    pub fn close(&self, key: WatchKey) {
        let mut ws = self.watches.lock().expect("watches lock");
        let Some(w) = ws.get_mut(&key) else { return };
        if w.seen.receiver_count() == 0 {
            self.release(w.changes_bytes);
            ws.remove(&key);
            self.count.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        w.closed = true;
        w.seen.send_modify(|n| *n += 1);
    }

    /// Every watch of a connection that is gone (no one to answer).
    pub fn drop_connection(&self, conn_id: u64) {
        let mut ws = self.watches.lock().expect("watches lock");
        let before = ws.len();
        ws.retain(|k, w| {
            if k.0 == conn_id {
                self.release(w.changes_bytes);
            }
            k.0 != conn_id
        });
        self.count.fetch_sub(before - ws.len(), Ordering::Relaxed);
    }

    /// Reports a change to `path` (relative to the share root, as a client
    /// names it) to every watch that covers its parent directory and asks
    /// for `filter_bits`.
    pub fn post(&self, share: &str, path: &str, action: u32, filter_bits: u32) {
        if !self.any() {
            return;
        }
        let path = path.trim_start_matches(['\\', '/']).replace('/', "\\");
        let (parent, name) = path.rsplit_once('\\').unwrap_or(("", path.as_str()));
        if name.is_empty() {
            return;
        }
        let parent_key = crate::leases::path_key(parent);
        let mut ws = self.watches.lock().expect("watches lock");
        for w in ws.values_mut() {
            if w.closed || w.share != share || w.filter & filter_bits == 0 {
                continue;
            }
            let rel = if parent_key == w.dir_key {
                name.to_string()
            } else if w.recursive && (w.dir_key.is_empty() || parent_key.strip_prefix(&w.dir_key).is_some_and(|r| r.starts_with('\\'))) {
                // The part of the path below the watched directory, in the
                // client's spelling.
                let skip = if w.dir_key.is_empty() { 0 } else { w.dir_key.split('\\').count() };
                path.split('\\').skip(skip).collect::<Vec<_>>().join("\\")
            } else {
                continue;
            };
            w.add(Change { action, name: rel }, self);
        }
    }

    /// The file at `path` will be deleted when its last handle closes.
    pub fn set_delete_pending(&self, share: &str, path: &str, is_dir: bool, pending: bool) {
        let key = (share.to_string(), crate::leases::path_key(path));
        if is_dir {
            let mut ws = self.watches.lock().expect("watches lock");
            for w in ws.values_mut().filter(|w| w.share == key.0 && w.dir_key == key.1) {
                w.deleting = pending;
                w.seen.send_modify(|n| *n += 1);
            }
        }
        let mut d = self.delete_pending.lock().expect("delete pending lock");
        if pending {
            // Only what a watcher could hear of is worth remembering.
            if self.any() && d.len() < DELETE_PENDING_MAX {
                d.insert(key, (path.to_string(), is_dir));
            }
        } else {
            d.remove(&key);
        }
    }

    /// The last handle of the file at `path_key` closed: if its delete was
    /// pending, it is gone now; report that.
    pub fn last_close(&self, share: &str, path_key: &str) {
        let gone = self.delete_pending.lock().expect("delete pending lock").remove(&(share.to_string(), path_key.to_string()));
        if let Some((path, is_dir)) = gone {
            self.post(share, &path, action::REMOVED, name_filter(is_dir));
        }
    }
}

impl Watch {
    fn add(&mut self, c: Change, all: &Watches) {
        if self.overflowed {
            return;
        }
        // A burst of changes of one kind to one file (a stream of WRITEs)
        // is one change to the client.
        if self.changes.last() == Some(&c) {
            return;
        }
        let bytes = notify_information_bytes(&c.name);
        if self.changes_bytes + bytes > self.buffer_bytes as usize
            || self.changes.len() >= CHANGES_PER_WATCH_MAX
            || !all.reserve(bytes)
        {
            self.overflowed = true;
            self.changes.clear();
            all.release(self.changes_bytes);
            self.changes_bytes = 0;
        } else {
            self.changes.push(c);
            self.changes_bytes += bytes;
        }
        self.seen.send_modify(|n| *n += 1);
    }
}

/// FILE_NOTIFY_CHANGE_FILE_NAME or _DIR_NAME, for adds and removes.
pub fn name_filter(is_dir: bool) -> u32 {
    if is_dir {
        filter::DIR_NAME
    } else {
        filter::FILE_NAME
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(dir_key: &'a str, recursive: bool, filter: u32, buffer_bytes: u32) -> WatchSpec<'a> {
        WatchSpec { share: "s", dir_key, recursive, filter, buffer_bytes }
    }

    fn changes(o: Outcome) -> Vec<(u32, String)> {
        match o {
            Outcome::Changes(c) => c.into_iter().map(|c| (c.action, c.name)).collect(),
            Outcome::EnumDir => panic!("ENUM_DIR"),
            Outcome::Cleanup => panic!("CLEANUP"),
            Outcome::DeletePending => panic!("DELETE_PENDING"),
            Outcome::Wait(_) => panic!("WAIT"),
        }
    }

    #[test]
    fn first_request_sets_the_watch_and_later_ones_drain_it() {
        let w = Watches::default();
        let all = filter::FILE_NAME | filter::DIR_NAME;
        let Outcome::Wait(mut rx) = w.request((1, 1), &spec("dir", false, all, 1000), 1000) else { panic!() };
        w.post("s", "Dir\\A.txt", action::ADDED, filter::FILE_NAME);
        w.post("s", "other\\b.txt", action::ADDED, filter::FILE_NAME);
        w.post("t", "dir\\c.txt", action::ADDED, filter::FILE_NAME);
        w.post("s", "dir\\d.txt", action::MODIFIED, filter::SIZE);
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        assert_eq!(changes(w.request((1, 1), &spec("dir", false, all, 1000), 1000)), vec![(action::ADDED, "A.txt".into())]);
        // Deeper changes only reach a recursive watch, named from it.
        w.post("s", "dir\\sub\\e.txt", action::REMOVED, filter::FILE_NAME);
        assert!(matches!(w.request((1, 1), &spec("dir", false, all, 1000), 1000), Outcome::Wait(_)));
        let _ = w.request((1, 2), &spec("", true, all, 1000), 1000);
        w.post("s", "dir\\Sub\\e.txt", action::REMOVED, filter::FILE_NAME);
        assert_eq!(changes(w.request((1, 2), &spec("", true, all, 1000), 1000)), vec![(action::REMOVED, "dir\\Sub\\e.txt".into())]);
    }

    #[test]
    fn overflow_and_small_buffers_give_enum_dir() {
        let w = Watches::default();
        let _ = w.request((1, 1), &spec("", false, filter::FILE_NAME, 1), 1);
        w.post("s", "a", action::ADDED, filter::FILE_NAME);
        // The first request's buffer size stays the watch's.
        assert!(matches!(w.request((1, 1), &spec("", false, filter::FILE_NAME, 1000), 1000), Outcome::EnumDir));
        assert!(matches!(w.request((1, 1), &spec("", false, filter::FILE_NAME, 1000), 1000), Outcome::Wait(_)));
        let _ = w.request((2, 1), &spec("", false, filter::FILE_NAME, 1000), 1000);
        w.post("s", "b", action::ADDED, filter::FILE_NAME);
        assert!(matches!(w.request((2, 1), &spec("", false, filter::FILE_NAME, 1000), 0), Outcome::EnumDir));
        // A client that never asks again cannot grow the list without bound.
        for i in 0..CHANGES_PER_WATCH_MAX + 1 {
            w.post("s", &format!("f{i}"), action::ADDED, filter::FILE_NAME);
        }
        let _ = w.request((3, 1), &spec("", false, filter::FILE_NAME, u32::MAX), u32::MAX);
        for i in 0..CHANGES_PER_WATCH_MAX + 1 {
            w.post("s", &format!("f{i}"), action::ADDED, filter::FILE_NAME);
        }
        assert!(matches!(w.request((3, 1), &spec("", false, filter::FILE_NAME, u32::MAX), u32::MAX), Outcome::EnumDir));
    }

    #[test]
    fn the_server_wide_budget_overflows_watches_instead_of_growing() {
        let one = notify_information_bytes("f0000");
        // Room for 10 changes in all, each watch's buffer for 100.
        let w = Watches::with_budget(10 * one);
        let big = 100 * one as u32;
        for k in 1..=3 {
            let _ = w.request((k, 1), &spec("", false, filter::FILE_NAME, big), big);
        }
        for i in 0..4 {
            w.post("s", &format!("f{i:04}"), action::ADDED, filter::FILE_NAME);
        }
        // 3 watches x 4 changes do not fit in 10: the later ones overflow.
        assert!(w.buffered_bytes() <= 10 * one, "{} bytes buffered", w.buffered_bytes());
        let outcomes: Vec<bool> =
            (1..=3).map(|k| matches!(w.request((k, 1), &spec("", false, filter::FILE_NAME, big), big), Outcome::EnumDir)).collect();
        assert!(outcomes.contains(&true), "a watch over the budget gets NOTIFY_ENUM_DIR: {outcomes:?}");
        assert_eq!(w.buffered_bytes(), 0, "draining gives the budget back");
        // With the budget free again, changes are reported as such.
        w.post("s", "f0009", action::ADDED, filter::FILE_NAME);
        assert_eq!(changes(w.request((1, 1), &spec("", false, filter::FILE_NAME, big), big)), vec![(action::ADDED, "f0009".into())]);
        w.post("s", "f0010", action::ADDED, filter::FILE_NAME);
        w.drop_connection(2);
        w.close((3, 1));
        w.take_cleanup((1, 1));
        assert_eq!(w.buffered_bytes(), 0, "gone watches give their bytes back");
    }

    #[test]
    fn repeated_changes_coalesce_and_close_cleans_up() {
        let w = Watches::default();
        let f = filter::SIZE | filter::FILE_NAME;
        let Outcome::Wait(_rx) = w.request((1, 1), &spec("", false, f, 1000), 1000) else { panic!() };
        w.post("s", "a", action::MODIFIED, filter::SIZE);
        w.post("s", "a", action::MODIFIED, filter::SIZE);
        w.post("s", "b", action::MODIFIED, filter::SIZE);
        w.close((1, 1));
        // A waiter was there: the close is reported to it, once.
        assert!(matches!(w.request((1, 1), &spec("", false, f, 1000), 1000), Outcome::Cleanup));
        assert!(matches!(w.request((1, 1), &spec("", false, f, 1000), 1000), Outcome::Wait(_)));
        w.post("s", "a", action::MODIFIED, filter::SIZE);
        w.post("s", "a", action::MODIFIED, filter::SIZE);
        w.post("s", "b", action::MODIFIED, filter::SIZE);
        assert_eq!(changes(w.request((1, 1), &spec("", false, f, 1000), 1000)).len(), 2);
        // No waiter: the watch just goes.
        w.close((1, 1));
        assert_eq!(w.count.load(Ordering::Relaxed), 0);
        let _ = w.request((1, 1), &spec("", false, f, 1000), 1000);
        w.set_delete_pending("s", "Gone.txt", false, true);
        w.last_close("s", "gone.txt");
        assert_eq!(changes(w.request((1, 1), &spec("", false, f, 1000), 1000)), vec![(action::REMOVED, "Gone.txt".into())]);
        w.drop_connection(1);
        assert_eq!(w.count.load(Ordering::Relaxed), 0);
        // A watched directory about to go ends its requests.
        let Outcome::Wait(rx) = w.request((2, 1), &spec("d", false, f, 1000), 1000) else { panic!() };
        w.set_delete_pending("s", "D", true, true);
        assert!(rx.has_changed().unwrap());
        assert!(matches!(w.request((2, 1), &spec("d", false, f, 1000), 1000), Outcome::DeletePending));
    }
}
