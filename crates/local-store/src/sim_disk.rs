//! A simulated page cache for component files, for the simulation only
//! (feature `test-switches`).
//!
//! The simulator runs every host in one process on the real filesystem, so
//! a simulated crash takes a node's process away but leaves its page cache
//! alone: a write that returned but was never synced is still there after
//! the restart. A host that loses power loses exactly those writes, page by
//! page, in any mix. This module remembers, for each component file, the
//! last synced content of every page written since the file's last
//! `fdatasync`, and [`power_loss`] puts back an arbitrary subset of those
//! pages and gives the host a new boot id, as a power cut and a reboot
//! would. The node then finds its copies written at another boot and treats
//! them as unclean (`docs/local-store.md`, "Disk lag").
//!
//! Only component files take part. The directory's Raft files are written
//! and synced in one call (`log_store.rs` `append_sync`, `write_atomic`),
//! and the simulator never crashes a host inside a call, so nothing of
//! theirs is ever unsynced at a crash.
//!
//! Off until [`enable`] on the thread that runs the simulation: production
//! builds do not have the module, and other threads see plain files.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::cell::RefCell;

/// The unit the kernel writes back: each page reaches the disk whole or
/// not at all.
const PAGE_BYTES: u64 = 4096;

#[derive(Default)]
struct Disk {
    /// File -> page index -> the page as the last sync left it.
    unsynced: HashMap<PathBuf, BTreeMap<u64, Vec<u8>>>,
    /// Host directory -> its current boot id (absent: first boot).
    boots: HashMap<PathBuf, [u8; 16]>,
    /// Power losses so far, to make each boot id unique.
    losses: u64,
}

thread_local! {
    // Per thread, as the simulator runs all hosts of one run on one thread
    // (inline blocking I/O, `io_mode`): two runs on two test threads keep
    // apart, and a run's reset never drops another run's pages.
    static DISK: RefCell<Option<Disk>> = const { RefCell::new(None) };
}

fn with_disk<R>(f: impl FnOnce(&mut Disk) -> R) -> Option<R> {
    DISK.with(|d| d.borrow_mut().as_mut().map(f))
}

/// Turns the simulated page cache on (or resets it) for this thread.
pub fn enable() {
    DISK.with(|d| *d.borrow_mut() = Some(Disk::default()));
}

/// The boot id of the host whose directory holds `path`, if it has lost
/// power since [`enable`]; `None` means "use the real one".
pub fn boot_id(path: &Path) -> Option<[u8; 16]> {
    with_disk(|d| d.boots.iter().find(|(dir, _)| path.starts_with(dir)).map(|(_, id)| *id)).flatten()
}

/// Called before `file` (at `path`) is written at file offset `at`: keeps
/// the synced content of each page the write touches for the first time.
pub fn before_write(path: &Path, file: &std::fs::File, at: u64, len: usize) {
    with_disk(|d| {
        let pages = d.unsynced.entry(path.to_path_buf()).or_default();
        let first = at / PAGE_BYTES;
        let last = (at + len.max(1) as u64 - 1) / PAGE_BYTES;
        for page in first..=last {
            pages.entry(page).or_insert_with(|| {
                let mut b = vec![0u8; PAGE_BYTES as usize];
                // A short read is the end of the file: the rest stays zero,
                // which is what a page past the end reads as.
                let mut done = 0;
                while done < b.len() {
                    match file.read_at(&mut b[done..], page * PAGE_BYTES + done as u64) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => done += n,
                    }
                }
                b
            });
        }
    });
}

/// Called after an fdatasync of `path` returned Ok: every page written
/// before it is on the disk.
pub fn after_sync(path: &Path) {
    with_disk(|d| d.unsynced.remove(path));
}

/// The host whose files live under `dir` loses power: each unsynced page
/// of each of its component files reverts to its synced content unless
/// `written_back()` says the kernel had written it back, and the host's
/// next boot has a new boot id. Returns the pages reverted.
pub fn power_loss(dir: &Path, written_back: &mut dyn FnMut() -> bool) -> u64 {
    with_disk(|d| {
        let mut reverted = 0;
        let files: Vec<PathBuf> = d.unsynced.keys().filter(|p| p.starts_with(dir)).cloned().collect();
        for path in files {
            let pages = d.unsynced.remove(&path).expect("listed");
            let Ok(file) = OpenOptions::new().write(true).open(&path) else { continue };
            for (page, old) in pages {
                if !written_back() {
                    file.write_all_at(&old, page * PAGE_BYTES).expect("sim disk: revert a page");
                    reverted += 1;
                }
            }
        }
        d.losses += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(b"sim-boot");
        id[8..].copy_from_slice(&d.losses.to_le_bytes());
        d.boots.insert(dir.to_path_buf(), id);
        reverted
    })
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_pages_revert_and_synced_ones_stay() {
        let dir = std::env::temp_dir().join(format!("hf-simdisk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p).unwrap();
        f.set_len(3 * PAGE_BYTES).unwrap();
        enable();
        before_write(&p, &f, 0, 10);
        f.write_all_at(&[1; 10], 0).unwrap();
        after_sync(&p);
        before_write(&p, &f, PAGE_BYTES - 2, 4); // spans pages 0 and 1
        f.write_all_at(&[2; 4], PAGE_BYTES - 2).unwrap();
        assert_eq!(power_loss(&dir, &mut || false), 2);
        let mut b = [0u8; 12];
        f.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b[..10], &[1; 10], "synced bytes survive");
        let mut b = [9u8; 4];
        f.read_exact_at(&mut b, PAGE_BYTES - 2).unwrap();
        assert_eq!(b, [0; 4], "unsynced bytes are gone");
        assert!(boot_id(&p).is_some(), "the host boots anew");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
