//! Crash consistency. An op sequence runs on a device that records every
//! write. For cut points k, the image "format + first k writes" (and
//! variants where write k is torn: only some of its sectors arrived) must
//! mount, pass fsck, and hold exactly the model state after j ops, where
//! every op acknowledged before the cut is in and no op that had not
//! started is: acked(k) <= j <= started(k). The mounted image must then
//! keep working across another remount.
//!
//! Power loss under disk lag: writes are acknowledged before they reach
//! stable storage, so after a power loss the disk holds every write up to
//! the last device flush and any subset (whole, partial or none) of the
//! later ones. The image must still mount, pass fsck and hold the model
//! state after j ops, every op flushed before the cut in (flushed(k) <= j
//! <= started(k)), so no file shows bytes it was never given.

mod common;

use bytes::Bytes;
use common::*;
use holdfast_objfs::fs::{FileKind, Fs, LayoutOptions, ROOT_INO};
use holdfast_objfs::{fsck, MemDevice};
use proptest::prelude::*;

const DEVICE_BYTES: u64 = 8 << 20;
const SECTOR: usize = 512;

struct Recorded {
    base: Vec<u8>,
    writes: Vec<(u64, Bytes)>,
    /// Writes returned before each device flush.
    flushes: Vec<usize>,
    /// Device writes issued before op i started / after it returned.
    started: Vec<usize>,
    acked: Vec<usize>,
    /// Model state after the first j ops.
    states: Vec<Dump>,
    ops: Vec<TOp>,
}

fn layout() -> LayoutOptions {
    // A 64 KiB journal checkpoints every few dozen ops.
    LayoutOptions { journal_bytes: Some(64 << 10), checkpoint_slot_bytes: Some(256 << 10) }
}

async fn record(ops: &[AOp]) -> Recorded {
    record_flushing(ops, None).await
}

/// Records a run; with `flush_every`, FLUSHes (`Fs::flush_disk`) after
/// every that many ops, as a client would.
async fn record_flushing(ops: &[AOp], flush_every: Option<usize>) -> Recorded {
    let base = formatted(DEVICE_BYTES, &layout()).await;
    let fs = Fs::mount(RecordingDevice::new(MemDevice::from_image(base.clone()))).await.expect("mount");
    let mut model = Model::default();
    let mut r = Recorded { base, writes: Vec::new(), flushes: Vec::new(), started: Vec::new(), acked: Vec::new(), states: vec![model.dump()], ops: Vec::new() };
    for (i, op) in ops.iter().enumerate() {
        let t = model.concretize(op);
        r.started.push(fs.device().writes());
        let got = run_op(&fs, &t, 5000 + i as u64).await;
        if flush_every.is_some_and(|n| i % n == n - 1) {
            fs.flush_disk().await.expect("flush");
        }
        r.acked.push(fs.device().writes());
        assert_eq!(got, model.apply(&t), "op {i} {t:?}");
        r.states.push(model.dump());
        r.ops.push(t);
    }
    r.writes = fs.device().log.lock().unwrap().clone();
    r.flushes = fs.device().flushes.lock().unwrap().clone();
    r
}

fn apply_write(img: &mut [u8], (off, data): &(u64, Bytes)) {
    img[*off as usize..*off as usize + data.len()].copy_from_slice(data);
}

/// Applies only the sectors of `data` whose bit is set in `keep`.
fn apply_torn(img: &mut [u8], (off, data): &(u64, Bytes), keep: &[bool]) {
    for (i, k) in keep.iter().enumerate() {
        if *k {
            let at = *off as usize + i * SECTOR;
            img[at..at + SECTOR].copy_from_slice(&data[i * SECTOR..(i + 1) * SECTOR]);
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Torn versions of a write of `n` sectors: a prefix and a random subset,
/// never all or nothing.
fn tear_masks(n: usize, rng: &mut Rng) -> Vec<Vec<bool>> {
    if n < 2 {
        return Vec::new();
    }
    let cut = 1 + (rng.next() as usize % (n - 1));
    let prefix: Vec<bool> = (0..n).map(|i| i < cut).collect();
    let mut subset: Vec<bool> = (0..n).map(|_| rng.next() % 2 == 0).collect();
    if subset.iter().all(|&b| b) {
        subset[0] = false;
    }
    if subset.iter().all(|&b| !b) {
        subset[n - 1] = true;
    }
    vec![prefix, subset]
}

/// Mounts a crash image and checks it against the recorded run.
async fn check_image(r: &Recorded, img: Vec<u8>, lo: usize, hi: usize, what: &str) {
    // Before mount, only a torn superblock copy may be reported.
    let dev = MemDevice::from_image(img);
    let pre = fsck(&dev).await;
    assert!(pre.problems.iter().all(|p| p.starts_with("superblock copy")), "{what}: fsck before mount: {:?}", pre.problems);
    let fs = match Fs::mount(dev).await {
        Ok(fs) => fs,
        Err(e) => panic!("{what}: mount failed: {e}"),
    };
    let d = dump(&fs).await;
    let Some(j) = (lo..=hi).find(|&j| r.states[j] == d) else {
        let near = describe_diff(&d, &r.states[hi]);
        panic!("{what}: state matches no model state between {lo} and {hi} ops; vs state {hi}:\n{near}\nops: {:?}", &r.ops[lo.saturating_sub(1).min(hi)..hi]);
    };
    let rep = fsck(fs.device()).await;
    assert!(rep.is_clean(), "{what} (j = {j}): fsck after mount: {:?}", rep.problems);
    // The volume keeps working: new ops after recovery survive a remount,
    // and nothing left behind by the crash is replayed.
    let a = fs.create(ROOT_INO, "after-crash", FileKind::File, 0x20, 9).await.expect("create after crash");
    fs.write(a.ino, 100, b"recovered", 9).await.expect("write after crash");
    let img = fs.device().image();
    drop(fs);
    let fs = Fs::mount(MemDevice::from_image(img)).await.expect("remount after crash");
    let mut want = r.states[j].clone();
    let mut data = vec![0u8; 100];
    data.extend_from_slice(b"recovered");
    want.insert("after-crash".into(), (FileKind::File, 0x20, data));
    let d = dump(&fs).await;
    assert!(d == want, "{what}: after recovery and remount:\n{}", describe_diff(&d, &want));
    assert!(fsck(fs.device()).await.is_clean(), "{what}: fsck after recovery");
}

/// Checks the given cut points (all of them when `cuts` is None), each
/// also with torn versions of the write at the cut.
async fn check_cuts(r: &Recorded, cuts: Option<Vec<usize>>, seed: u64) {
    let n = r.writes.len();
    let cuts = cuts.unwrap_or_else(|| (0..=n).collect());
    let mut rng = Rng(seed | 1);
    let mut img = r.base.clone();
    let mut applied = 0;
    let mut checked = 0;
    for k in cuts {
        assert!(k >= applied, "cuts ascend");
        while applied < k {
            apply_write(&mut img, &r.writes[applied]);
            applied += 1;
        }
        let lo = r.acked.iter().take_while(|&&a| a <= k).count();
        // An op that started when k writes had been issued may or may not
        // have begun before the crash; one that started later cannot show.
        let hi = r.started.iter().filter(|&&s| s <= k).count();
        check_image(r, img.clone(), lo, hi, &format!("cut {k}/{n}")).await;
        checked += 1;
        if k < n {
            let w = &r.writes[k];
            for (m, mask) in tear_masks(w.1.len() / SECTOR, &mut rng).into_iter().enumerate() {
                let mut t = img.clone();
                apply_torn(&mut t, w, &mask);
                check_image(r, t, lo, hi, &format!("cut {k}/{n} with write {k} ({} bytes at {}) torn ({m})", w.1.len(), w.0)).await;
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
}

/// Power losses at the given cut points: everything up to the last flush
/// before the cut, then each later write kept whole, kept in part (a
/// random subset of its sectors) or lost, several draws per cut.
async fn check_power_losses(r: &Recorded, cuts: Vec<usize>, seed: u64) {
    let mut rng = Rng(seed | 1);
    for k in cuts {
        let f = r.flushes.iter().copied().filter(|&f| f <= k).max().unwrap_or(0);
        let mut img = r.base.clone();
        for w in &r.writes[..f] {
            apply_write(&mut img, w);
        }
        // Ops whose every write came before the flush are on disk.
        let lo = r.acked.iter().take_while(|&&a| a <= f).count();
        let hi = r.started.iter().filter(|&&s| s <= k).count();
        for draw in 0..3 {
            let mut t = img.clone();
            let mut kept = 0;
            for w in &r.writes[f..k] {
                let n = w.1.len() / SECTOR;
                match rng.next() % 3 {
                    0 => {}
                    1 => {
                        apply_write(&mut t, w);
                        kept += 1;
                    }
                    _ => {
                        let mask: Vec<bool> = (0..n).map(|_| rng.next() % 2 == 0).collect();
                        apply_torn(&mut t, w, &mask);
                    }
                }
            }
            check_image(r, t, lo, hi, &format!("power loss at {k}/{} (last flush after {f} writes, draw {draw}, {kept} later writes whole)", r.writes.len())).await;
        }
    }
}

fn p(parts: &[&str]) -> PathSel {
    PathSel::Random(parts.iter().map(|s| s.to_string()).collect())
}

/// Covers every kind of op, data writes spanning and inside blocks,
/// shrinking into a block, replacing renames, explicit and automatic
/// checkpoints.
fn deterministic_ops() -> Vec<AOp> {
    let mut ops = vec![
        AOp::Create { path: p(&["d"]), dir: true, attributes: 0x10 },
        AOp::Create { path: p(&["d", "f"]), dir: false, attributes: 0x20 },
        AOp::Write { path: p(&["D", "F"]), offset: 100, len: 10_000, seed: 3 },
        AOp::Write { path: p(&["d", "f"]), offset: 4000, len: 200, seed: 4 },
        AOp::Create { path: p(&["g"]), dir: false, attributes: 0x20 },
        AOp::Write { path: p(&["g"]), offset: 0, len: 70_000, seed: 5 },
        AOp::SetSize { path: p(&["g"]), size: 5000 },
        AOp::SetSize { path: p(&["g"]), size: 9000 },
        AOp::Rename { src: p(&["g"]), dst: p(&["d", "F"]), replace: true },
        AOp::Checkpoint,
        AOp::Rename { src: p(&["d", "f"]), dst: p(&["d", "f2"]), replace: false },
        AOp::SetAttr { path: p(&["d", "f2"]), attributes: 0x21 },
        AOp::Write { path: p(&["d", "f2"]), offset: 8000, len: 300, seed: 6 },
        AOp::Remove { path: p(&["d", "f2"]) },
        AOp::Remove { path: p(&["d"]) },
        AOp::Create { path: p(&["d"]), dir: false, attributes: 0x20 },
    ];
    // Enough small ops to fill half the 64 KiB journal: automatic checkpoints.
    for i in 0..90u64 {
        let name = ["x", "y", "z"][i as usize % 3];
        ops.push(AOp::Create { path: p(&[name]), dir: false, attributes: 0x20 });
        ops.push(AOp::Write { path: p(&[name]), offset: i * 37, len: 600, seed: i as u8 | 1 });
        if i % 4 == 3 {
            ops.push(AOp::Remove { path: p(&[name]) });
        }
    }
    ops
}

#[test]
fn every_cut_of_a_deterministic_sequence_recovers() {
    block_on(async {
        let r = record(&deterministic_ops()).await;
        let checkpoints = r.writes.iter().filter(|(off, _)| *off < 8192).count();
        assert!(checkpoints >= 6, "expected several superblock writes (checkpoints), saw {checkpoints}");
        check_cuts(&r, None, 7).await;
    });
}

#[test]
fn power_loss_with_unflushed_writes_keeps_every_flushed_op_and_no_foreign_bytes() {
    block_on(async {
        let r = record_flushing(&deterministic_ops(), Some(7)).await;
        assert!(r.flushes.len() >= 10, "expected many flushes, saw {}", r.flushes.len());
        let n = r.writes.len();
        let mut rng = Rng(11);
        let mut cuts: Vec<usize> = (0..60).map(|_| rng.next() as usize % (n + 1)).collect();
        cuts.push(n);
        cuts.sort();
        cuts.dedup();
        check_power_losses(&r, cuts, 11).await;
    });
}

/// A few entries first, so random ops mostly hit something.
fn with_prefix(ops: Vec<AOp>) -> Vec<AOp> {
    let mut all = vec![
        AOp::Create { path: p(&["a"]), dir: true, attributes: 0x10 },
        AOp::Create { path: p(&["b"]), dir: false, attributes: 0x20 },
        AOp::Create { path: p(&["a", "c"]), dir: false, attributes: 0x20 },
        AOp::Write { path: p(&["a", "c"]), offset: 10, len: 5000, seed: 9 },
    ];
    all.extend(ops);
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_sequences_recover_at_every_cut(ops in prop::collection::vec(op_strategy(false), 10..40), seed in any::<u64>()) {
        block_on(async {
            let r = record(&with_prefix(ops)).await;
            check_cuts(&r, None, seed).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn random_sequences_survive_power_loss_with_unflushed_writes(ops in prop::collection::vec(op_strategy(false), 20..80), every in 1usize..10, seed in any::<u64>()) {
        block_on(async {
            let r = record_flushing(&with_prefix(ops), Some(every)).await;
            let mut rng = Rng(seed | 1);
            let n = r.writes.len();
            let mut cuts: Vec<usize> = (0..20).map(|_| rng.next() as usize % (n + 1)).collect();
            cuts.push(n);
            cuts.sort();
            cuts.dedup();
            check_power_losses(&r, cuts, seed).await;
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn long_random_sequences_recover_at_sampled_cuts(ops in prop::collection::vec(op_strategy(false), 100..200), seed in any::<u64>()) {
        block_on(async {
            let r = record(&with_prefix(ops)).await;
            let mut rng = Rng(seed | 1);
            let n = r.writes.len();
            let mut cuts: Vec<usize> = (0..40).map(|_| rng.next() as usize % (n + 1)).collect();
            cuts.push(n);
            cuts.sort();
            cuts.dedup();
            check_cuts(&r, Some(cuts), seed).await;
        });
    }
}

// ---- concurrent ops ----

/// Ops on distinct files commute, so with several in flight the valid
/// states are: every acknowledged op, any subset of those in flight.
#[derive(Clone, Debug)]
enum FileOp {
    Write { offset: u64, len: usize, seed: u8 },
    SetSize { size: u64 },
    Remove,
    Create,
}

fn file_op_strategy() -> impl Strategy<Value = FileOp> {
    prop_oneof![
        6 => (0u64..20_000, 1usize..12_000, 1u8..255).prop_map(|(offset, len, seed)| FileOp::Write { offset, len, seed }),
        2 => (0u64..24_000).prop_map(|size| FileOp::SetSize { size }),
        1 => Just(FileOp::Remove),
        2 => Just(FileOp::Create),
    ]
}

const FILES: usize = 4;

fn to_top(i: usize, op: &FileOp) -> TOp {
    let path = vec![format!("f{i}")];
    match op {
        FileOp::Write { offset, len, seed } => TOp::Write { path, offset: *offset, len: *len, seed: *seed },
        FileOp::SetSize { size } => TOp::SetSize { path, size: *size },
        FileOp::Remove => TOp::Remove { path },
        FileOp::Create => TOp::Create { path, dir: false, attributes: 0x20 },
    }
}

struct ConcOp {
    op: TOp,
    started: usize,
    acked: usize,
}

async fn check_concurrent(rounds: Vec<Vec<FileOp>>, seed: u64) {
    use std::sync::Arc;
    let base = formatted(DEVICE_BYTES, &layout()).await;
    let fs = Arc::new(Fs::mount(RecordingDevice::new(MemDevice::from_image(base.clone()))).await.expect("mount"));
    let mut all: Vec<ConcOp> = Vec::new();
    let first = vec![FileOp::Create; FILES];
    for round in std::iter::once(first).chain(rounds) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, op) in round.iter().enumerate().take(FILES) {
            let fs = fs.clone();
            let op = to_top(i, op);
            tasks.spawn(async move {
                let started = fs.device().writes();
                let _ = run_op(&fs, &op, 7000).await;
                ConcOp { op, started, acked: fs.device().writes() }
            });
        }
        let mut done = Vec::new();
        while let Some(r) = tasks.join_next().await {
            done.push(r.expect("task"));
        }
        done.sort_by_key(|c| format!("{:?}", c.op));
        all.extend(done);
    }
    let writes = fs.device().log.lock().unwrap().clone();
    drop(fs);
    let n = writes.len();
    let mut rng = Rng(seed | 1);
    let mut img = base;
    for k in 0..=n {
        if k > 0 {
            apply_write(&mut img, &writes[k - 1]);
        }
        let optional: Vec<usize> = (0..all.len()).filter(|&i| all[i].started <= k && k < all[i].acked).collect();
        assert!(optional.len() <= FILES);
        let mut candidates = Vec::new();
        for mask in 0u32..(1 << optional.len()) {
            let mut m = Model::default();
            for (i, c) in all.iter().enumerate() {
                let take = if let Some(pos) = optional.iter().position(|&o| o == i) { mask & (1 << pos) != 0 } else { c.acked <= k };
                if take {
                    let _ = m.apply(&c.op);
                }
            }
            candidates.push(m.dump());
        }
        let mut variants = vec![(img.clone(), format!("cut {k}/{n}"))];
        if k < n {
            for mask in tear_masks(writes[k].1.len() / SECTOR, &mut rng) {
                let mut t = img.clone();
                apply_torn(&mut t, &writes[k], &mask);
                variants.push((t, format!("cut {k}/{n}, write {k} torn")));
            }
        }
        for (image, what) in variants {
            let fs = Fs::mount(MemDevice::from_image(image)).await.unwrap_or_else(|e| panic!("{what}: mount: {e}"));
            let d = dump(&fs).await;
            assert!(candidates.contains(&d), "{what}: state matches no allowed combination of the {} ops in flight", optional.len());
            let rep = fsck(fs.device()).await;
            assert!(rep.is_clean(), "{what}: {:?}", rep.problems);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    /// Several ops in flight at once: group commit batches their records,
    /// and blocks freed by one must not be reused by another before the
    /// free is durable.
    #[test]
    fn concurrent_ops_recover_at_every_cut(
        rounds in prop::collection::vec(prop::collection::vec(file_op_strategy(), FILES), 1..8),
        seed in any::<u64>(),
    ) {
        block_on(check_concurrent(rounds, seed));
    }
}
