//! Model-based test: random op sequences against the file system and a
//! plain in-memory model; results (errors included) and the whole visible
//! state must agree after every op, after remounts, and fsck must be clean.

mod common;

use common::*;
use holdfast_objfs::fs::{FileKind, Fs, LayoutOptions, ROOT_INO};
use holdfast_objfs::{fsck, MemDevice};
use proptest::prelude::*;

async fn remount(fs: Fs<MemDevice>) -> Fs<MemDevice> {
    let img = fs.device().image();
    drop(fs);
    Fs::mount(MemDevice::from_image(img)).await.expect("remount")
}

async fn run_case(size: u64, layout: LayoutOptions, ops: Vec<AOp>) {
    let image = formatted(size, &layout).await;
    let mut fs = Fs::mount(MemDevice::from_image(image)).await.expect("mount");
    let mut model = Model::default();
    for (i, op) in ops.iter().enumerate() {
        let op = &model.concretize(op);
        if let TOp::Remount = op {
            fs = remount(fs).await;
        }
        let got = run_op(&fs, op, 2000 + i as u64).await;
        let want = model.apply(op);
        assert_eq!(got, want, "op {i} {op:?}");
        let (d, m) = (dump(&fs).await, model.dump());
        assert!(d == m, "state after op {i} {op:?}:\n{}", describe_diff(&d, &m));
    }
    let report = fsck(fs.device()).await;
    assert!(report.is_clean(), "fsck before remount: {:?}", report.problems);
    let fs = remount(fs).await;
    let (d, m) = (dump(&fs).await, model.dump());
    assert!(d == m, "state after remount:\n{}", describe_diff(&d, &m));
    let report = fsck(fs.device()).await;
    assert!(report.is_clean(), "fsck after remount: {:?}", report.problems);
    assert_eq!(report.inodes, fs.statfs().inodes);
    let st = fs.statfs();
    assert_eq!(st.free_blocks, st.data_blocks - report.used_blocks);
}

proptest! {
    #[test]
    fn matches_the_model(ops in prop::collection::vec(op_strategy(true), 1..60)) {
        block_on(run_case(16 << 20, LayoutOptions::default(), ops));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// A 64 KiB journal checkpoints every few dozen ops, so checkpoints and
    /// replay across them are exercised on every case.
    #[test]
    fn matches_the_model_with_a_tiny_journal(ops in prop::collection::vec(op_strategy(true), 60..160)) {
        block_on(run_case(16 << 20, LayoutOptions { journal_bytes: Some(64 << 10), checkpoint_slot_bytes: Some(256 << 10) }, ops));
    }
}

#[test]
fn many_ops_force_checkpoints_and_replay() {
    block_on(async {
        let layout = LayoutOptions { journal_bytes: Some(64 << 10), checkpoint_slot_bytes: None };
        let mut fs = Fs::mount(MemDevice::from_image(formatted(16 << 20, &layout).await)).await.unwrap();
        let mut model = Model::default();
        let mut ops = Vec::new();
        for i in 0..400u64 {
            let name = format!("f{}", i % 37);
            ops.push(TOp::Create { path: vec!["d".into()], dir: true, attributes: 0x10 });
            ops.push(TOp::Create { path: vec!["d".into(), name.clone()], dir: false, attributes: 0x20 });
            ops.push(TOp::Write { path: vec!["D".into(), name.clone()], offset: i * 977 % 9000, len: (i as usize * 131) % 6000, seed: i as u8 | 1 });
            if i % 5 == 0 {
                ops.push(TOp::SetSize { path: vec!["d".into(), name.clone()], size: i * 31 % 7000 });
            }
            if i % 7 == 0 {
                ops.push(TOp::Rename { src: vec!["d".into(), name.clone()], dst: vec!["d".into(), format!("f{}", (i + 3) % 37)], replace: true });
            }
            if i % 50 == 49 {
                ops.push(TOp::Remount);
            }
        }
        for (i, op) in ops.iter().enumerate() {
            if let TOp::Remount = op {
                fs = remount(fs).await;
                assert!(dump(&fs).await == model.dump(), "after remount at op {i}");
            }
            assert_eq!(run_op(&fs, op, i as u64).await, model.apply(op), "op {i} {op:?}");
        }
        assert!(dump(&fs).await == model.dump());
        let fs = remount(fs).await;
        assert!(dump(&fs).await == model.dump());
        let r = fsck(fs.device()).await;
        assert!(r.is_clean(), "{:?}", r.problems);
    });
}

#[test]
fn group_commit_batches_concurrent_ops() {
    block_on(async {
        let image = formatted(16 << 20, &LayoutOptions::default()).await;
        let dev = YieldingDevice { inner: MemDevice::from_image(image), writes: Default::default() };
        let fs = std::sync::Arc::new(Fs::mount(dev).await.unwrap());
        let before = fs.device().writes.load(std::sync::atomic::Ordering::Relaxed);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200u32 {
            let fs = fs.clone();
            tasks.spawn(async move {
                let a = fs.create(ROOT_INO, &format!("file{i}"), FileKind::File, 0x20, 5).await.unwrap();
                fs.write(a.ino, i as u64 * 10, &data_for(i as u8 | 1, 5000), 6).await.unwrap();
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        let writes = fs.device().writes.load(std::sync::atomic::Ordering::Relaxed) - before;
        // 200 data writes + far fewer than 400 journal writes.
        assert!(writes < 200 + 300, "{writes} device writes for 400 ops: no batching");
        let fs = std::sync::Arc::try_unwrap(fs).ok().unwrap();
        let dev = fs.into_device();
        let fs = Fs::mount(MemDevice::from_image(dev.inner.image())).await.unwrap();
        for i in 0..200u32 {
            let a = fs.lookup(ROOT_INO, &format!("FILE{i}")).unwrap();
            assert_eq!(a.size_bytes, i as u64 * 10 + 5000);
            assert_eq!(fs.read(a.ino, i as u64 * 10, 5000).await.unwrap(), data_for(i as u8 | 1, 5000));
        }
        assert!(fsck(fs.device()).await.is_clean());
    });
}

#[test]
fn copy_on_write_reuses_space_and_disk_full_is_clean() {
    block_on(async {
        let fs = Fs::mount(MemDevice::from_image(formatted(8 << 20, &LayoutOptions::default()).await)).await.unwrap();
        let a = fs.create(ROOT_INO, "big", FileKind::File, 0, 1).await.unwrap();
        let free0 = fs.statfs().free_blocks;
        // Overwrite the same megabyte many times: freed blocks come back.
        for i in 0..40u8 {
            fs.write(a.ino, 0, &data_for(i | 1, 1 << 20), 2).await.unwrap();
        }
        assert_eq!(fs.statfs().free_blocks, free0 - 256);
        // Fill the disk: the write that does not fit fails and changes nothing.
        let b = fs.create(ROOT_INO, "fill", FileKind::File, 0, 1).await.unwrap();
        let mut off = 0u64;
        let err = loop {
            match fs.write(b.ino, off, &data_for(7, 1 << 20), 3).await {
                Ok(_) => off += 1 << 20,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, holdfast_objfs::FsError::DiskFull), "{err:?}");
        assert_eq!(fs.stat(b.ino).unwrap().size_bytes, off);
        assert!(matches!(fs.set_allocation(b.ino, 1 << 40).await, Err(holdfast_objfs::FsError::DiskFull)));
        // Shrinking frees space again.
        fs.set_size(b.ino, 10, 4).await.unwrap();
        fs.write(b.ino, 5000, b"after", 5).await.unwrap();
        let mut want = data_for(7, 10);
        want.resize(5000, 0);
        want.extend_from_slice(b"after");
        assert_eq!(fs.read(b.ino, 0, 10_000).await.unwrap(), want);
        assert!(fsck(fs.device()).await.is_clean());
    });
}

#[test]
fn metadata_full_is_an_error_not_a_panic() {
    block_on(async {
        let layout = LayoutOptions { journal_bytes: Some(64 << 10), checkpoint_slot_bytes: Some(64 << 10) };
        let fs = Fs::mount(MemDevice::from_image(formatted(8 << 20, &layout).await)).await.unwrap();
        let mut made = 0;
        let err = loop {
            match fs.create(ROOT_INO, &format!("a-rather-long-file-name-{made:05}"), FileKind::File, 0, 1).await {
                Ok(_) => made += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(err, holdfast_objfs::FsError::MetadataFull(_)), "{err:?}");
        assert!(made > 100);
        // Still usable; removing makes room; the state survives a remount.
        fs.remove(ROOT_INO, "a-rather-long-file-name-00000").await.unwrap();
        fs.create(ROOT_INO, "x", FileKind::File, 0, 1).await.unwrap();
        let fs = Fs::mount(MemDevice::from_image(fs.device().image())).await.unwrap();
        assert_eq!(fs.statfs().inodes, made + 1);
        assert!(fsck(fs.device()).await.is_clean());
    });
}

#[test]
fn api_edges() {
    block_on(async {
        let fs = Fs::mount(MemDevice::from_image(formatted(8 << 20, &LayoutOptions::default()).await)).await.unwrap();
        let d = fs.create(ROOT_INO, "Dir", FileKind::Dir, 0x10, 1).await.unwrap();
        let f = fs.create(d.ino, "File.txt", FileKind::File, 0x20, 1).await.unwrap();
        assert_eq!(fs.path_of(f.ino).unwrap(), "Dir\\File.txt");
        assert_eq!(fs.path_of(ROOT_INO).unwrap(), "");
        assert_eq!(fs.resolve(&["dir", "FILE.TXT"]).unwrap().ino, f.ino);
        assert!(matches!(fs.resolve(&["nope", "x"]), Err(holdfast_objfs::FsError::PathNotFound)));
        assert!(matches!(fs.resolve(&["dir", "x"]), Err(holdfast_objfs::FsError::NotFound)));
        assert!(matches!(fs.resolve(&["dir", "file.txt", "x"]), Err(holdfast_objfs::FsError::PathNotFound)));
        assert!(matches!(fs.lookup(f.ino, "x"), Err(holdfast_objfs::FsError::NotDir)));
        assert!(matches!(fs.create(ROOT_INO, "a\\b", FileKind::File, 0, 1).await, Err(holdfast_objfs::FsError::Name(_))));
        assert!(matches!(fs.set_size(d.ino, 1, 1).await, Err(holdfast_objfs::FsError::IsDir)));
        assert!(matches!(fs.read(f.ino, 0, (4 << 20) + 1).await, Err(holdfast_objfs::FsError::TooLarge(_))));
        assert!(matches!(fs.write(f.ino, u64::MAX - 1, b"xx", 1).await, Err(holdfast_objfs::FsError::TooLarge(_))));
        // Rename to another case of the same name keeps the inode.
        let r = fs.rename(d.ino, "file.TXT", d.ino, "FILE.txt", false, 9).await.unwrap();
        assert_eq!((r.ino, r.name.as_str(), r.change_time), (f.ino, "FILE.txt", 9));
        assert!(matches!(fs.rename(ROOT_INO, "dir", d.ino, "sub", false, 1).await, Err(holdfast_objfs::FsError::Invalid(_))));
        let g = fs.create(ROOT_INO, "g", FileKind::File, 0, 1).await.unwrap();
        assert!(matches!(fs.rename(ROOT_INO, "g", ROOT_INO, "dir", true, 1).await, Err(holdfast_objfs::FsError::AccessDenied(_))));
        assert!(matches!(fs.rename(ROOT_INO, "g", d.ino, "file.txt", false, 1).await, Err(holdfast_objfs::FsError::Exists)));
        fs.rename(ROOT_INO, "g", d.ino, "file.txt", true, 1).await.unwrap();
        assert_eq!(fs.lookup(d.ino, "FILE.TXT").unwrap().ino, g.ino);
        assert!(matches!(fs.stat(f.ino), Err(holdfast_objfs::FsError::NotFound)));
        // A write far past EOF is sparse; the hole reads as zeros.
        fs.write(g.ino, 10 << 20, b"end", 3).await.unwrap();
        assert_eq!(fs.read(g.ino, 5 << 20, 4).await.unwrap(), vec![0; 4]);
        assert_eq!(fs.statfs().data_blocks - fs.statfs().free_blocks, 1);
        let a = fs.set_allocation(g.ino, 100 << 20).await;
        assert!(matches!(a, Err(holdfast_objfs::FsError::DiskFull)), "{a:?}");
        let a = fs.set_allocation(g.ino, 1 << 20).await.unwrap();
        assert_eq!(a.allocation_bytes, (10 << 20) + 4096);
        let a = fs.set_attr(g.ino, &holdfast_objfs::SetAttr { last_access_time: Some(77), ..Default::default() }).await.unwrap();
        assert_eq!(a.last_access_time, 77);
        assert!(fs.readdir(ROOT_INO, None, 0).unwrap().is_empty());
        assert_eq!(fs.volume_id(), *b"holdfast-test-01");
        fs.sync().await.unwrap();
        let r = fsck(fs.device()).await;
        assert!(r.is_clean(), "{:?}", r.problems);
        assert_eq!((r.files, r.dirs), (1, 2));
    });
}

#[test]
fn reads_never_see_reused_blocks() {
    use std::sync::Arc;
    block_on(async {
        let image = formatted(8 << 20, &LayoutOptions::default()).await;
        let fs = Arc::new(Fs::mount(YieldingDevice { inner: MemDevice::from_image(image), writes: Default::default() }).await.unwrap());
        const LEN: usize = 64 << 10;
        let mut inos = Vec::new();
        for (i, name) in ["f", "g0", "g1", "g2"].into_iter().enumerate() {
            let ino = fs.create(ROOT_INO, name, FileKind::File, 0, 1).await.unwrap().ino;
            fs.write(ino, 0, &[i as u8 + 1; LEN], 1).await.unwrap();
            inos.push(ino);
        }
        // Leave little free space, so freed blocks are reused at once.
        let filler = fs.create(ROOT_INO, "filler", FileKind::File, 0, 1).await.unwrap().ino;
        let spare = 128 * 4096;
        let fill = (fs.statfs().free_blocks * 4096 - spare) as usize;
        fs.write(filler, 0, &vec![3u8; fill], 1).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        // f only ever holds odd bytes, the g files only even ones.
        for (k, &ino) in inos.iter().enumerate() {
            let fs = fs.clone();
            tasks.spawn(async move {
                for i in 0..150u8 {
                    let v = if k == 0 { i | 1 } else { i & !1 };
                    fs.write(ino, 0, &[v; LEN], 2).await.unwrap();
                }
            });
        }
        let f = inos[0];
        for _ in 0..4 {
            let fs = fs.clone();
            tasks.spawn(async move {
                for _ in 0..150 {
                    let b = fs.read(f, 0, LEN as u64).await.unwrap();
                    assert!(b.iter().all(|&x| x == b[0] && x % 2 == 1), "a read of f saw bytes of another version or file: {} {}", b[0], b[LEN - 1]);
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        assert!(fsck(fs.device()).await.is_clean());
    });
}

/// A device whose writes to one byte range can be made to hang.
struct StallDevice {
    inner: MemDevice,
    stall: std::sync::Mutex<Option<std::ops::Range<u64>>>,
}

impl holdfast_objfs::Device for StallDevice {
    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }
    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, holdfast_types::HoldfastError> {
        self.inner.read(offset, len).await
    }
    async fn write(&self, offset: u64, data: bytes::Bytes) -> Result<(), holdfast_types::HoldfastError> {
        let hang = self.stall.lock().unwrap().as_ref().is_some_and(|r| r.contains(&offset));
        if hang {
            std::future::pending::<()>().await;
        }
        self.inner.write(offset, data).await
    }
}

/// An op whose future is dropped while its batch or checkpoint is being
/// written leaves a job the next flush finishes: no seq gap, no raised
/// generation that the device never saw.
#[test]
fn dropped_flushes_are_finished_by_the_next_one() {
    use std::time::Duration;
    block_on(async {
        let image = formatted(8 << 20, &LayoutOptions::default()).await;
        let fs = Fs::mount(StallDevice { inner: MemDevice::from_image(image), stall: Default::default() }).await.unwrap();
        let sb = holdfast_objfs::layout::Superblock::decode(&fs.device().inner.image()[..4096], 8 << 20).unwrap();
        let g = sb.geometry;
        fs.create(ROOT_INO, "a", FileKind::File, 0, 1).await.unwrap();
        // Hang the journal write of "b", drop it, then "c" goes through.
        *fs.device().stall.lock().unwrap() = Some(g.journal_start * 4096..(g.journal_start + g.journal_blocks) * 4096);
        let r = tokio::time::timeout(Duration::from_millis(20), fs.create(ROOT_INO, "b", FileKind::File, 0, 1)).await;
        assert!(r.is_err(), "the create should hang");
        *fs.device().stall.lock().unwrap() = None;
        fs.create(ROOT_INO, "c", FileKind::File, 0, 1).await.unwrap();
        // Hang a checkpoint's slot write, drop it, then "d" goes through.
        *fs.device().stall.lock().unwrap() = Some(g.checkpoint_start[0] * 4096..g.data_start * 4096);
        assert!(tokio::time::timeout(Duration::from_millis(20), fs.checkpoint()).await.is_err());
        *fs.device().stall.lock().unwrap() = None;
        fs.create(ROOT_INO, "d", FileKind::File, 0, 1).await.unwrap();
        // Hang the second superblock write of a checkpoint.
        *fs.device().stall.lock().unwrap() = Some(4096..8192);
        assert!(tokio::time::timeout(Duration::from_millis(20), fs.checkpoint()).await.is_err());
        *fs.device().stall.lock().unwrap() = None;
        let w = fs.create(ROOT_INO, "e", FileKind::File, 0, 1).await.unwrap();
        fs.write(w.ino, 10, b"data", 2).await.unwrap();
        let fs = Fs::mount(MemDevice::from_image(fs.device().inner.image())).await.unwrap();
        let names: Vec<String> = fs.readdir(ROOT_INO, None, 10).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(fs.read(w.ino, 0, 100).await.unwrap()[10..], *b"data");
        let r = fsck(fs.device()).await;
        assert!(r.is_clean(), "{:?}", r.problems);
    });
}

/// Writes longer than one record are split; reads are bounded to 4 MiB
/// and may start and end anywhere.
#[test]
fn writes_longer_than_a_record() {
    block_on(async {
        let fs = Fs::mount(MemDevice::from_image(formatted(32 << 20, &LayoutOptions::default()).await)).await.unwrap();
        let f = fs.create(ROOT_INO, "big", FileKind::File, 0, 1).await.unwrap().ino;
        let data = data_for(77, (9 << 20) + 1000);
        let a = fs.write(f, 3000, &data, 2).await.unwrap();
        assert_eq!(a.size_bytes, 3000 + data.len() as u64);
        let mut back = Vec::new();
        let mut off = 0u64;
        while off < a.size_bytes {
            let b = fs.read(f, off, 4 << 20).await.unwrap();
            off += b.len() as u64;
            back.extend_from_slice(&b);
        }
        assert_eq!(&back[..3000], &[0u8; 3000][..]);
        assert_eq!(&back[3000..], &data[..]);
        // An unaligned 4 MiB read touches 1025 blocks.
        assert_eq!(fs.read(f, 5000, 4 << 20).await.unwrap(), data[2000..2000 + (4 << 20)]);
        let fs = Fs::mount(MemDevice::from_image(fs.device().image())).await.unwrap();
        assert_eq!(fs.read(f, 3000 + (8 << 20), 100).await.unwrap(), data[8 << 20..(8 << 20) + 100]);
        assert!(fsck(fs.device()).await.is_clean());
    });
}
