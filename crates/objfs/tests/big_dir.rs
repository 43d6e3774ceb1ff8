//! One directory with 100 000 entries: creates stay O(log n), lookups and
//! readdir resume work at that size, and the state survives a checkpoint
//! and a remount. No timing assertions: the test just has to finish.

mod common;

use std::sync::Arc;

use common::*;
use holdfast_objfs::fs::{FileKind, Fs, LayoutOptions, ROOT_INO};
use holdfast_objfs::names::fold;
use holdfast_objfs::{fsck, FsError, MemDevice};

const ENTRIES: usize = 100_000;

#[test]
fn hundred_thousand_entries_in_one_directory() {
    block_on(async {
        // 64 MiB device, 16 MiB checkpoint slots: about 9 MiB of inodes.
        let layout = LayoutOptions { journal_bytes: Some(4 << 20), checkpoint_slot_bytes: Some(16 << 20) };
        let fs = Arc::new(Fs::mount(MemDevice::from_image(formatted(64 << 20, &layout).await)).await.unwrap());
        let d = fs.create(ROOT_INO, "big", FileKind::Dir, 0x10, 1).await.unwrap().ino;
        // Batches of concurrent creates: group commit writes each batch's
        // records together.
        let mut next = 0;
        while next < ENTRIES {
            let mut tasks = tokio::task::JoinSet::new();
            for i in next..(next + 500).min(ENTRIES) {
                let fs = fs.clone();
                tasks.spawn(async move { fs.create(d, &format!("Entry-{i:06}.dat"), FileKind::File, 0x20, i as u64).await.map(|_| ()) });
            }
            while let Some(r) = tasks.join_next().await {
                r.unwrap().unwrap();
            }
            next += 500;
        }
        check(&fs, d).await;
        let fs = Arc::try_unwrap(fs).ok().unwrap();
        let fs = Fs::mount(MemDevice::from_image(fs.device().image())).await.unwrap();
        check(&fs, d).await;
        let r = fsck(fs.device()).await;
        assert!(r.is_clean(), "{:?}", &r.problems[..r.problems.len().min(5)]);
        assert_eq!(r.files, ENTRIES as u64);
    });
}

async fn check(fs: &Fs<MemDevice>, d: u64) {
    assert!(matches!(fs.create(d, "ENTRY-000042.DAT", FileKind::File, 0, 1).await, Err(FsError::Exists)));
    for i in (0..ENTRIES).step_by(997) {
        let a = fs.lookup(d, &format!("entry-{i:06}.DAT")).unwrap();
        assert_eq!(a.name, format!("Entry-{i:06}.dat"));
        assert_eq!(a.creation_time, i as u64);
    }
    // Resume by name, in pages, through the whole directory.
    let mut seen = 0;
    let mut after: Option<String> = None;
    let mut last_key = String::new();
    loop {
        let page = fs.readdir(d, after.as_deref(), 1000).unwrap();
        if page.is_empty() {
            break;
        }
        for e in &page {
            assert!(fold(&e.name) > last_key, "readdir order");
            last_key = fold(&e.name);
        }
        seen += page.len();
        after = Some(page.last().unwrap().name.clone());
    }
    assert_eq!(seen, ENTRIES);
    // Resume after a name that does not exist: strictly after its key.
    let page = fs.readdir(d, Some("entry-050000.dat~"), 2).unwrap();
    assert_eq!(page[0].name, "Entry-050001.dat");
    assert_eq!(fs.statfs().inodes, ENTRIES as u64 + 2);
}
