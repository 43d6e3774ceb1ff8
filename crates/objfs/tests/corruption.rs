//! Damaged and foreign images are refused with a message naming the
//! problem, and nothing read from a device panics.

mod common;

use common::*;
use holdfast_objfs::fs::{FileKind, Fs, LayoutOptions, ROOT_INO};
use holdfast_objfs::layout::{Superblock, SUPERBLOCK_BYTES};
use holdfast_objfs::{fsck, FsError, MemDevice};
use holdfast_types::checksum::crc32;
use proptest::prelude::*;

const SIZE: u64 = 8 << 20;
const SB: usize = SUPERBLOCK_BYTES;

/// A mounted-and-used image: a few files, some data, records in the
/// journal after the mount's checkpoint.
async fn used_image() -> Vec<u8> {
    let fs = Fs::mount(MemDevice::from_image(formatted(SIZE, &LayoutOptions::default()).await)).await.unwrap();
    let d = fs.create(ROOT_INO, "dir", FileKind::Dir, 0x10, 1).await.unwrap();
    for i in 0..6 {
        let f = fs.create(d.ino, &format!("f{i}"), FileKind::File, 0x20, 2).await.unwrap();
        fs.write(f.ino, i * 1000, &data_for(i as u8 + 1, 9000), 3).await.unwrap();
    }
    // A flush whose marker (written by the sync) vouches for every op
    // before it: damage among them is damage, not a power loss.
    fs.flush_disk().await.unwrap();
    fs.sync().await.unwrap();
    fs.device().image()
}

/// The same, with everything in the checkpoint (the journal empty).
async fn checkpointed_image() -> Vec<u8> {
    let fs = Fs::mount(MemDevice::from_image(used_image().await)).await.unwrap();
    fs.checkpoint().await.unwrap();
    fs.device().image()
}

/// Problems only fsck can see, because they need the data blocks: mount
/// cannot tell a damaged-but-consistent size from a real one.
fn data_only(problems: &[String]) -> bool {
    problems.iter().all(|p| p.contains("past the end of file"))
}

fn sb(img: &[u8], copy: usize) -> Superblock {
    Superblock::decode(&img[copy * SB..(copy + 1) * SB], img.len() as u64).expect("valid superblock")
}

fn mount_err(img: Vec<u8>) -> FsError {
    match block_on(Fs::mount(MemDevice::from_image(img))) {
        Ok(_) => panic!("mount of a damaged image succeeded"),
        Err(e) => e,
    }
}

#[test]
fn unformatted_and_foreign_devices_are_named() {
    assert!(matches!(mount_err(vec![0; SIZE as usize]), FsError::NotFormatted));
    let mut ext4 = vec![0u8; SIZE as usize];
    ext4[1080] = 0x53;
    ext4[1081] = 0xEF;
    match mount_err(ext4) {
        FsError::Foreign(m) => assert!(m.contains("ext2/3/4"), "{m}"),
        e => panic!("{e:?}"),
    }
    let mut rng = 0x1234_5678_9abc_def1u64;
    let random: Vec<u8> = (0..SIZE)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        })
        .collect();
    match mount_err(random) {
        FsError::Foreign(m) => assert!(m.contains("unknown data"), "{m}"),
        e => panic!("{e:?}"),
    }
    // Too small to hold even the superblocks.
    assert!(matches!(block_on(Fs::mount(MemDevice::new(4096))), Err(FsError::NotFormatted)));
    let r = block_on(fsck(&MemDevice::new(SIZE)));
    assert!(!r.is_clean());
}

#[test]
fn one_damaged_superblock_copy_is_survived_both_are_refused() {
    let img = block_on(used_image());
    let mut one = img.clone();
    one[SB + 200] ^= 0x40;
    let fs = block_on(Fs::mount(MemDevice::from_image(one.clone()))).expect("the other copy is current");
    assert_eq!(fs.statfs().inodes, 8);
    let r = block_on(fsck(&MemDevice::from_image(one)));
    assert!(r.problems.iter().any(|p| p.contains("superblock copy B") && p.contains("crc mismatch")), "{:?}", r.problems);

    let mut both = img.clone();
    both[200] ^= 0x40;
    both[SB + 200] ^= 0x40;
    match mount_err(both) {
        FsError::Corrupt(m) => assert!(m.contains("copy A") && m.contains("copy B") && m.contains("crc mismatch"), "{m}"),
        e => panic!("{e:?}"),
    }

    // A valid crc over an impossible geometry is named too.
    let mut geo = img.clone();
    for copy in 0..2 {
        let at = copy * SB;
        geo[at + 136..at + 144].copy_from_slice(&7u64.to_le_bytes()); // journal_blocks
        let crc = crc32(&[&geo[at..at + SB - 4]]);
        geo[at + SB - 4..at + SB].copy_from_slice(&crc.to_le_bytes());
    }
    match mount_err(geo) {
        FsError::Corrupt(m) => assert!(m.contains("impossible geometry"), "{m}"),
        e => panic!("{e:?}"),
    }
}

#[test]
fn falling_back_past_newer_journal_records_is_refused() {
    block_on(async {
        let formatted_img = formatted(SIZE, &LayoutOptions::default()).await;
        let old_a = formatted_img[..SB].to_vec();
        let fs = Fs::mount(MemDevice::from_image(formatted_img)).await.unwrap();
        fs.create(ROOT_INO, "x", FileKind::File, 0, 1).await.unwrap();
        let mut img = fs.device().image();
        drop(fs);
        // Copy A is an older superblock (as if the checkpoint's second
        // superblock write had not happened), copy B, the newest, is
        // damaged, and the journal holds records of B's generation.
        assert!(sb(&img, 1).journal_gen > Superblock::decode(&old_a, SIZE).unwrap().journal_gen);
        img[..SB].copy_from_slice(&old_a);
        img[SB + 300] ^= 1;
        match Fs::mount(MemDevice::from_image(img.clone())).await {
            Err(FsError::Corrupt(m)) => assert!(m.contains("newer than the superblock") && m.contains("copy B"), "{m}"),
            other => panic!("{:?}", other.err()),
        }
        assert!(!fsck(&MemDevice::from_image(img)).await.is_clean());
    });
}

#[test]
fn damaged_checkpoint_is_refused() {
    let img = block_on(used_image());
    let s = sb(&img, 1);
    let at = (s.geometry.checkpoint_start[s.checkpoint_slot as usize] * 4096) as usize + 70;
    let mut bad = img.clone();
    bad[at] ^= 0x10;
    match mount_err(bad.clone()) {
        FsError::Corrupt(m) => assert!(m.contains("checkpoint in slot") && m.contains("crc mismatch"), "{m}"),
        e => panic!("{e:?}"),
    }
    let r = block_on(fsck(&MemDevice::from_image(bad)));
    assert!(r.problems.iter().any(|p| p.contains("checkpoint") && p.contains("crc mismatch")), "{:?}", r.problems);
}

#[test]
fn journal_damage_in_the_middle_is_refused_and_named() {
    let img = block_on(used_image());
    let s = sb(&img, 1);
    let j = (s.geometry.journal_start * 4096) as usize;
    // The first record of the current generation (at the journal start);
    // later batches follow it.
    let mut bad = img.clone();
    bad[j + 45] ^= 0x01;
    match mount_err(bad.clone()) {
        FsError::Corrupt(m) => assert!(m.contains("damaged in the middle") && m.contains("offset 0"), "{m}"),
        e => panic!("{e:?}"),
    }
    let r = block_on(fsck(&MemDevice::from_image(bad)));
    assert!(r.problems.iter().any(|p| p.contains("journal") && p.contains("damaged in the middle")), "{:?}", r.problems);
    // The undamaged image replays them all.
    let r = block_on(fsck(&MemDevice::from_image(img)));
    assert!(r.is_clean() && r.journal_records == 14, "{r:?}");
}

/// Rewrites the checkpoint with `f` applied and fixes every crc, so the
/// damage reaches the decoder and the invariant checks.
fn recrc_checkpoint(img: &mut [u8], f: impl FnOnce(&mut Vec<u8>)) {
    let mut s = sb(img, 1);
    let at = (s.geometry.checkpoint_start[s.checkpoint_slot as usize] * 4096) as usize;
    let mut ck = img[at..at + s.checkpoint_bytes as usize].to_vec();
    f(&mut ck);
    let len = ck.len().min((s.geometry.checkpoint_blocks * 4096) as usize);
    ck.truncate(len);
    img[at..at + len].copy_from_slice(&ck);
    s.checkpoint_bytes = len as u64;
    s.checkpoint_crc = crc32(&[&ck]);
    for copy in 0..2 {
        s.generation = 10 + copy as u64;
        img[copy * SB..(copy + 1) * SB].copy_from_slice(&s.encode());
    }
}

#[test]
fn checkpoint_that_breaks_an_invariant_is_refused_by_name() {
    let img = block_on(checkpointed_image());
    // The root's first inode record starts at byte 64; the next one
    // ("dir", ino 2) follows the root's 75 bytes. Point dir's parent at a
    // missing inode.
    let mut bad = img.clone();
    recrc_checkpoint(&mut bad, |ck| ck[64 + 75 + 8..64 + 75 + 16].copy_from_slice(&999u64.to_le_bytes()));
    match mount_err(bad.clone()) {
        FsError::Corrupt(m) => assert!(m.contains("inode 2: parent 999 does not exist"), "{m}"),
        e => panic!("{e:?}"),
    }
    let r = block_on(fsck(&MemDevice::from_image(bad)));
    assert!(r.problems.iter().any(|p| p.contains("inode 2: parent 999 does not exist")), "{:?}", r.problems);
    // A directory cycle: dir's parent is itself.
    let mut cyc = img.clone();
    recrc_checkpoint(&mut cyc, |ck| ck[64 + 75 + 8..64 + 75 + 16].copy_from_slice(&2u64.to_le_bytes()));
    match mount_err(cyc) {
        FsError::Corrupt(m) => assert!(m.contains("cycle"), "{m}"),
        e => panic!("{e:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random bytes where the metadata lives: mount and fsck answer, never
    /// panic.
    #[test]
    fn random_metadata_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..40_000), at in 0usize..(8 << 20) - 40_000, magic in any::<bool>()) {
        let mut img = vec![0u8; SIZE as usize];
        img[at..at + bytes.len()].copy_from_slice(&bytes);
        if magic {
            img[..8].copy_from_slice(b"HFOBJFS\0");
        }
        let _ = block_on(Fs::mount(MemDevice::from_image(img.clone())));
        let _ = block_on(fsck(&MemDevice::from_image(img)));
    }

    /// Bit flips in a used image: whatever mount says, it does not panic,
    /// and a volume it accepts passes fsck.
    #[test]
    fn bit_flips_never_panic(flips in prop::collection::vec((0usize..(3 << 20) + 8192, 0u8..8), 1..20)) {
        let mut img = block_on(used_image());
        for (at, bit) in flips {
            img[at] ^= 1 << bit;
        }
        let _ = block_on(fsck(&MemDevice::from_image(img.clone())));
        if let Ok(fs) = block_on(Fs::mount(MemDevice::from_image(img))) {
            let after = block_on(fsck(fs.device()));
            prop_assert!(after.is_clean(), "mounted a volume fsck finds broken: {:?}", after.problems);
        }
    }

    /// Damage under a valid crc reaches the checkpoint decoder and the
    /// invariant checks: refused or accepted, never a panic.
    #[test]
    fn checkpoint_damage_under_valid_crc_never_panics(edits in prop::collection::vec((0usize..2000, any::<u8>()), 1..8), cut in prop::option::of(0usize..2000)) {
        let mut img = block_on(checkpointed_image());
        recrc_checkpoint(&mut img, |ck| {
            for (at, v) in edits {
                if at < ck.len() {
                    ck[at] = v;
                }
            }
            if let Some(c) = cut {
                ck.truncate(c.max(1));
            }
        });
        let _ = block_on(fsck(&MemDevice::from_image(img.clone())));
        if let Ok(fs) = block_on(Fs::mount(MemDevice::from_image(img))) {
            let r = block_on(fsck(fs.device()));
            prop_assert!(data_only(&r.problems), "accepted a checkpoint fsck then rejects: {:?}", r.problems);
            // And it still works. (Not a full dump: a damaged size can make
            // a legal sparse file of terabytes.)
            let _ = block_on(fs.create(ROOT_INO, "new", FileKind::File, 0, 1));
            for (_, a) in holdfast_objfs::fs::walk(&fs, ROOT_INO).unwrap() {
                if a.kind == FileKind::File {
                    block_on(fs.read(a.ino, 0, 1 << 16)).unwrap();
                }
            }
        }
    }

    /// Damage under a valid record crc reaches the payload decoder and
    /// `apply` at replay.
    #[test]
    fn journal_damage_under_valid_crc_never_panics(record in 0usize..13, edits in prop::collection::vec((0usize..200, any::<u8>()), 1..6)) {
        let mut img = block_on(used_image());
        let s = sb(&img, 1);
        let j = (s.geometry.journal_start * 4096) as usize;
        // Walk to the chosen record: batches are sector aligned.
        let mut pos = 0usize;
        let mut n = 0;
        loop {
            let magic = u32::from_le_bytes(img[j + pos..j + pos + 4].try_into().unwrap());
            if magic == 0 { pos = (pos / 512 + 1) * 512; continue; }
            if n == record { break; }
            let plen = u32::from_le_bytes(img[j + pos + 24..j + pos + 28].try_into().unwrap()) as usize;
            pos += (40 + plen).div_ceil(8) * 8;
            n += 1;
        }
        let plen = u32::from_le_bytes(img[j + pos + 24..j + pos + 28].try_into().unwrap()) as usize;
        for (at, v) in edits {
            if at < plen {
                img[j + pos + 40 + at] = v;
            }
        }
        let crc = crc32(&[&img[j + pos..j + pos + 36], &img[j + pos + 40..j + pos + 40 + plen]]);
        img[j + pos + 36..j + pos + 40].copy_from_slice(&crc.to_le_bytes());
        let _ = block_on(fsck(&MemDevice::from_image(img.clone())));
        if let Ok(fs) = block_on(Fs::mount(MemDevice::from_image(img))) {
            let r = block_on(fsck(fs.device()));
            prop_assert!(data_only(&r.problems), "accepted a journal fsck then rejects: {:?}", r.problems);
        }
    }
}
