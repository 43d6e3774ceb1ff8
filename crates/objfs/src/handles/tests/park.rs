//! Parking a table into an image, parsing images, and restoring them.

use std::sync::OnceLock;

use holdfast_types::checksum::crc32;

use super::*;
use crate::handles::fuzzing;

const PARKED_AT: u64 = 1_800_000_000_000;
/// The incarnation the directory gave the object at the restart.
const NEW_INC: u32 = INC + 8;

/// A record with several locks, no lease and an oplock instead.
fn batch_record(n: u8) -> HandleRecord {
    let mut r = sample(n, "Other");
    r.oplock_level = oplock::BATCH;
    r.lease = None;
    r.byte_range_locks = (0..5).map(|k| ByteRangeLock { offset: k * 100, length: 10, exclusive: k % 2 == 0 }).collect();
    r.disconnect_time_unix_ms = 1_700_000_000_500;
    r.lock_sequence[0] = 0x83;
    r
}

/// A table of 8 slots in every state: USED with generations 1 and 2 (slots
/// 0, 1, 3), FREE with generations 2 and 1 (slots 2, 4), never used (5-7).
/// Returns it and every id it handed out.
async fn parked_table() -> (HandleTable<TestDev>, HashSet<u64>) {
    let t = new_table(8).await;
    let mut ids = HashSet::new();
    let mut put = |r: HandleRecord| {
        assert!(ids.insert(r.persistent_id));
        r
    };
    let a = put(t.put(sample(1, "s")).await.unwrap()); // slot 0
    put(t.put(batch_record(2)).await.unwrap()); // slot 1
    let c = put(t.put(sample(3, "s")).await.unwrap()); // slot 2
    let mut v1 = sample(4, "s");
    v1.create_guid = [0; 16]; // durable v1: no replay key
    put(t.put(v1).await.unwrap()); // slot 3
    let e = put(t.put(sample(5, "s")).await.unwrap()); // slot 4
    t.delete(a.persistent_id).await.unwrap();
    t.delete(c.persistent_id).await.unwrap();
    // After a remount the free list is in slot order: 0, 2, 5, 6, 7.
    let t = remount(&t).await;
    let a2 = put(t.put(sample(9, "s")).await.unwrap());
    assert_eq!(a2.persistent_id, make_id(gen(2), 0));
    let c2 = put(t.put(sample(10, "s")).await.unwrap());
    assert_eq!(c2.persistent_id, make_id(gen(2), 2));
    t.delete(c2.persistent_id).await.unwrap(); // slot 2 FREE, generation 2
    t.delete(e.persistent_id).await.unwrap(); // slot 4 FREE, generation 1
    (t, ids)
}

fn generations(t: &HandleTable<impl Device>) -> Vec<u32> {
    lock(&t.state).slots.iter().map(|s| s.generation).collect()
}

/// A fresh object as the directory hands it out after a reset, formatted by
/// the file server for the new incarnation, with a record of its own.
async fn reset_object(slots: u64) -> TestDev {
    let dev = TestDev::new(slots);
    let f = TableFormat { volume_id: VOL, now_unix_ms: 5, incarnation: NEW_INC, id_generation: IDG + 1 };
    HandleTable::format(&dev, &f).await.unwrap();
    let t = HandleTable::mount(dev, VOL).await.unwrap();
    for n in 0..slots.min(6) as u8 {
        t.put(sample(100 + n, "reset")).await.unwrap();
    }
    TestDev::from_mem(MemDevice::from_image(image(&t)), false)
}

#[tokio::test]
async fn handles_park_restore_round_trip() {
    let (t, ids_before) = parked_table().await;
    let img = t.park_image(PARKED_AT).await.unwrap();
    let info = parse_park_image(&img).unwrap();
    let want = ParkImage {
        incarnation: INC,
        id_generation: IDG,
        slot_count: 8,
        volume_id: VOL,
        created_unix_ms: t.created_unix_ms(),
        parked_unix_ms: PARKED_AT,
        record_count: t.len() as u32,
    };
    assert_eq!(info, want);

    let dev = reset_object(8).await;
    let writes_before = dev.writes();
    assert_eq!(HandleTable::restore(&dev, &img, VOL, NEW_INC).await, Ok(t.len() as u32));
    assert_eq!(dev.writes() - writes_before, 3, "zero header, one slot-area write, header");
    let r = HandleTable::mount(dev, VOL).await.unwrap();
    assert_eq!(r.incarnation(), NEW_INC, "the restored table has the new incarnation");
    assert_eq!((r.id_generation(), r.created_unix_ms()), (IDG, t.created_unix_ms()), "kept from the image");
    assert_eq!(all(&r), all(&t), "every record, with its id, locks and lease");
    assert!(r.list("reset").is_empty(), "nothing of the reset table survives");
    assert_eq!(generations(&r), generations(&t), "FREE slots keep their generations");
    for rec in all(&t) {
        assert_eq!(r.get(rec.persistent_id).unwrap(), rec);
        if rec.create_guid != [0; 16] {
            assert_eq!(r.find(rec.client_guid, rec.create_guid), Some(rec.clone()));
        }
    }
    assert_eq!(r.get(make_id(gen(1), 1)).unwrap().byte_range_locks, batch_record(2).byte_range_locks);
    assert_eq!(r.expired(u64::MAX), t.expired(u64::MAX));
    assert!(check(r.device()).await.unwrap().is_clean());

    // The next puts reuse no id from before: FREE slots continue their
    // generations, never-used slots start at reuse 1 of the same id generation.
    let mut ids_after = HashSet::new();
    for n in 20..40 {
        match r.put(sample(n, "s")).await {
            Ok(rec) => assert!(ids_after.insert(rec.persistent_id)),
            Err(HandleError::Full(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(r.len(), 8);
    assert!(ids_before.is_disjoint(&ids_after), "{ids_before:x?} {ids_after:x?}");
    assert!(ids_after.contains(&make_id(gen(3), 2)), "slot 2 was FREE at generation 2");
    assert!(ids_after.contains(&make_id(gen(2), 4)), "slot 4 was FREE at generation 1");
    assert!(ids_after.contains(&make_id(gen(1), 5)), "slot 5 was never used");
}

#[tokio::test]
async fn handles_park_image_is_canonical() {
    let (t, _) = parked_table().await;
    let img = t.park_image(PARKED_AT).await.unwrap();
    // Restored with its own incarnation and parked again at the same time:
    // the same bytes.
    let dev = TestDev::new(8);
    HandleTable::restore(&dev, &img, VOL, INC).await.unwrap();
    let r = HandleTable::mount(dev, VOL).await.unwrap();
    assert_eq!(r.park_image(PARKED_AT).await.unwrap(), img);
    // Through the fuzz entry point too (it asserts the same).
    let n = tokio::task::spawn_blocking(move || fuzzing::park_image(&img)).await.unwrap();
    assert_eq!(n.unwrap().record_count, t.len() as u32);

    // An empty table parks to a header and a crc; a table that was only
    // formatted has no entries at all.
    let empty = new_table(3).await.park_image(1).await.unwrap();
    assert_eq!(empty.len(), PARK_HEADER_BYTES + PARK_CRC_BYTES);
    assert_eq!(&empty[..8], &PARK_MAGIC);
    assert_eq!(parse_park_image(&empty).unwrap().record_count, 0);
}

#[tokio::test]
async fn handles_park_image_byte_layout() {
    let (t, _) = parked_table().await;
    let img = t.park_image(PARKED_AT).await.unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(img[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(img[at..at + 8].try_into().unwrap());
    assert_eq!(&img[0..8], b"HFHPARK\0");
    assert_eq!((u32_at(8), u32_at(12), u32_at(16), u32_at(20)), (PARK_VERSION, INC, IDG as u32, 8));
    assert_eq!(&img[24..40], &VOL);
    assert_eq!((u64_at(40), u64_at(48)), (t.created_unix_ms(), PARKED_AT));
    // Slots 0-4 are in the image; slots 5-7 were never used.
    let (entry_count, record_count) = (u32_at(56), u32_at(60));
    assert_eq!((entry_count, record_count), (5, 3));
    let mut at = PARK_HEADER_BYTES;
    let mut slots = Vec::new();
    for _ in 0..entry_count {
        let (slot, len) = (u32_at(at), u32_at(at + 4) as usize);
        let entry = &img[at + 8..at + 8 + len];
        let device = &image(&t)[layout::slot_offset(slot) as usize..][..len];
        assert_eq!(entry, device, "slot {slot}: the entry is the slot's bytes from the device");
        slots.push(slot);
        at += 8 + len;
    }
    assert_eq!(slots, vec![0, 1, 2, 3, 4]);
    assert_eq!(at + PARK_CRC_BYTES, img.len());
    assert_eq!(u32_at(at), crc32(&[&img[..at]]));
}

#[tokio::test]
async fn handles_park_burns_the_generation_of_a_put_in_flight() {
    let t = Arc::new(new_table(2).await);
    let a = t.put(sample(1, "s")).await.unwrap();
    t.device().stall.store(true, Ordering::SeqCst);
    let writes = t.device().writes();
    let task = {
        let t = t.clone();
        tokio::spawn(async move { t.put(sample(2, "s")).await })
    };
    while t.device().writes() == writes {
        tokio::task::yield_now().await;
    }
    // The put has taken slot 1 and will use generation 1 there.
    let img = t.park_image(PARKED_AT).await.unwrap();
    task.abort();
    let _ = task.await;
    let dev = TestDev::new(2);
    HandleTable::restore(&dev, &img, VOL, NEW_INC).await.unwrap();
    let r = HandleTable::mount(dev, VOL).await.unwrap();
    assert_eq!(all(&r), vec![a]);
    let b = r.put(sample(2, "s")).await.unwrap();
    assert_eq!(b.persistent_id, make_id(gen(2), 1), "the in-flight put's id 0x{:016x} is not handed out", make_id(gen(1), 1));
}

#[tokio::test]
async fn handles_restore_refuses_another_volume_or_size_and_writes_nothing() {
    let (t, _) = parked_table().await;
    let img = t.park_image(PARKED_AT).await.unwrap();
    let dev = reset_object(8).await;
    let before = (dev.writes(), dev.mem.image());
    match HandleTable::restore(&dev, &img, OTHER_VOL, NEW_INC).await {
        Err(HandleError::Foreign(m)) => assert!(m.contains(&hex(&VOL)) && m.contains(&hex(&OTHER_VOL)), "{m}"),
        other => panic!("expected Foreign, got {other:?}"),
    }
    let bigger = reset_object(9).await;
    match HandleTable::restore(&bigger, &img, VOL, NEW_INC).await {
        Err(HandleError::Invalid(m)) => assert!(m.contains("8 slots") && m.contains("has 9"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(bigger.writes(), 0);
    let mut bad = img.clone();
    bad[100] ^= 1;
    assert!(matches!(HandleTable::restore(&dev, &bad, VOL, NEW_INC).await, Err(HandleError::Corrupt(_))));
    assert_eq!((dev.writes(), dev.mem.image()), before, "a refused restore writes nothing");
}

// ---- parse_park_image refusals ----

/// An image cut into its header and its entries, to build bad ones from.
struct Parts {
    header: Vec<u8>,
    entries: Vec<(u32, Vec<u8>)>,
}

impl Parts {
    fn of(img: &[u8]) -> Parts {
        let u32_at = |at: usize| u32::from_le_bytes(img[at..at + 4].try_into().unwrap());
        let mut entries = Vec::new();
        let mut at = PARK_HEADER_BYTES;
        for _ in 0..u32_at(56) {
            let len = u32_at(at + 4) as usize;
            entries.push((u32_at(at), img[at + 8..at + 8 + len].to_vec()));
            at += 8 + len;
        }
        Parts { header: img[..PARK_HEADER_BYTES].to_vec(), entries }
    }
    fn set(&mut self, at: usize, v: u32) -> &mut Parts {
        self.header[at..at + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// The image, with `entry_count` set to the entries given and a valid crc.
    fn join(&self) -> Vec<u8> {
        let mut out = self.header.clone();
        out[56..60].copy_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (slot, bytes) in &self.entries {
            out.extend_from_slice(&slot.to_le_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        let crc = crc32(&[&out]);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

fn refused(img: &[u8], want: &str) {
    match parse_park_image(img) {
        Err(HandleError::Corrupt(m)) => assert!(m.contains(want), "expected {want:?} in {m:?}"),
        other => panic!("expected Corrupt with {want:?}, got {other:?}"),
    }
}

async fn good_image() -> Vec<u8> {
    parked_table().await.0.park_image(PARKED_AT).await.unwrap()
}

#[tokio::test]
async fn handles_parse_park_image_refuses_bad_magic_and_version() {
    let img = good_image().await;
    let mut bad = img.clone();
    bad[..8].copy_from_slice(b"HFHNDTB\0");
    assert!(matches!(parse_park_image(&bad), Err(HandleError::Foreign(m)) if m.contains("not a Holdfast handle-table park image")));
    assert!(matches!(parse_park_image(b"PK\x03\x04"), Err(HandleError::Foreign(_))), "short, but not a prefix of the magic");
    for version in [0u32, 2, u32::MAX] {
        let bad = Parts::of(&img).set(8, version).join();
        refused(&bad, &format!("version {version}"));
    }
}

#[tokio::test]
async fn handles_parse_park_image_refuses_any_flipped_byte() {
    let img = good_image().await;
    for i in 0..img.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut bad = img.clone();
            bad[i] ^= mask;
            assert!(parse_park_image(&bad).is_err(), "byte {i} ^ 0x{mask:02x} was accepted");
        }
    }
}

#[tokio::test]
async fn handles_parse_park_image_refuses_every_truncation() {
    let img = good_image().await;
    for cut in 0..img.len() {
        match parse_park_image(&img[..cut]) {
            Err(HandleError::Corrupt(_)) => {}
            other => panic!("cut at {cut}: expected Corrupt, got {other:?}"),
        }
    }
    let mut longer = img.clone();
    longer.push(0);
    assert!(parse_park_image(&longer).is_err());
}

#[tokio::test]
async fn handles_parse_park_image_refuses_bad_structure() {
    let img = good_image().await;
    let p = Parts::of(&img);
    assert_eq!(parse_park_image(&p.join()), parse_park_image(&img), "Parts::join rebuilds the image");

    let mut q = Parts::of(&img);
    q.entries.swap(1, 2);
    refused(&q.join(), "increasing slot order");
    let mut q = Parts::of(&img);
    let dup = q.entries[3].clone();
    q.entries.insert(3, dup);
    refused(&q.join(), "increasing slot order");
    let mut q = Parts::of(&img);
    q.set(20, 4);
    refused(&q.join(), "entry_count 5 is more than slot_count 4");
    refused(&Parts::of(&img).set(20, 0).join(), "slot_count 0");
    refused(&Parts::of(&img).set(20, SLOT_COUNT_MAX + 1).join(), "slot_count");
    refused(&Parts::of(&img).set(16, 0x1_0000).join(), "id_generation 65536");
    refused(&Parts::of(&img).set(16, IDG as u32 + 1).join(), "id generation 8");
    refused(&Parts::of(&img).set(60, 2).join(), "record_count 2, but 3 entries hold a record");
    refused(&Parts::of(&img).set(60, 8).join(), "record_count 8 is more than entry_count");
    let mut q = Parts::of(&img);
    q.entries.pop();
    let mut bad = q.join();
    bad[56..60].copy_from_slice(&5u32.to_le_bytes()); // claims one more entry than there is
    let end = bad.len() - 4;
    let crc = crc32(&[&bad[..end]]);
    bad[end..].copy_from_slice(&crc.to_le_bytes());
    refused(&bad, "entry 4 at offset");
    // The total-length bound, checked before the entry list is allocated.
    for (present, claimed) in [(0, 3), (1, 0)] {
        let mut q = Parts::of(&img);
        q.entries.truncate(present);
        let mut bad = q.join();
        bad[56..60].copy_from_slice(&(claimed as u32).to_le_bytes());
        bad[60..64].copy_from_slice(&0u32.to_le_bytes());
        let end = bad.len() - 4;
        let crc = crc32(&[&bad[..end]]);
        bad[end..].copy_from_slice(&crc.to_le_bytes());
        refused(&bad, &format!("cannot hold {claimed} entries"));
    }

    let mut q = Parts::of(&img);
    q.entries.last_mut().unwrap().0 = 8;
    refused(&q.join(), "slot 8 is past the table's 8 slots");
    let mut q = Parts::of(&img);
    q.entries[4].0 = 5; // slot 4's bytes at slot 5
    refused(&q.join(), "slot_index 4");
    let mut q = Parts::of(&img);
    q.entries[0].1.push(0);
    refused(&q.join(), "record_len");
    let mut q = Parts::of(&img);
    q.entries[2].1.truncate(20);
    refused(&q.join(), "len 20");
    let mut q = Parts::of(&img);
    q.entries[0].1.resize(SLOT_BYTES as usize + 1, 0);
    refused(&q.join(), "len 4097");
    let mut q = Parts::of(&img);
    q.entries.push((5, vec![0; SLOT_HEADER_BYTES]));
    refused(&q.join(), "all-zero slot header");
    let mut q = Parts::of(&img);
    q.entries[0].1[SLOT_HEADER_BYTES + 2] = 0x03; // an oplock level that does not exist; crc fixed below
    let (slot, bytes) = &mut q.entries[0];
    let record_len = bytes.len() - SLOT_HEADER_BYTES;
    layout::fill_header(bytes, layout::SLOT_FLAG_USED, gen(2), *slot, record_len as u32);
    refused(&q.join(), "oplock_level");
    // Trailing bytes after the last entry, covered by the crc.
    let mut bad = p.join();
    let end = bad.len() - 4;
    bad.truncate(end);
    bad.extend_from_slice(&[0; 8]);
    let crc = crc32(&[&bad]);
    bad.extend_from_slice(&crc.to_le_bytes());
    refused(&bad, "after the last entry");
}

// ---- restore placement and interruption ----

fn used_entry(slot: u32, generation: u32, rec: &HandleRecord) -> Vec<u8> {
    let mut buf = layout::new_slot_buffer();
    rec.encode_into(&mut buf).unwrap();
    let len = buf.len();
    layout::finish_used_slot(&mut buf, generation, slot).unwrap();
    buf.truncate(len);
    buf
}

fn free_entry(slot: u32, generation: u32) -> Vec<u8> {
    let mut b = layout::free_slot_sector(generation, slot);
    b.truncate(SLOT_HEADER_BYTES);
    b
}

const BIG_SLOTS: u32 = 2100;

/// An image of a table of [`BIG_SLOTS`] slots (three slot-area writes) with
/// entries in every write: records in slots 3, 1500 and 2099, a FREE slot
/// at 1024, the first slot of the second write.
fn big_image() -> &'static [u8] {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let mut header = vec![0u8; PARK_HEADER_BYTES];
        header[..8].copy_from_slice(&PARK_MAGIC);
        header[8..12].copy_from_slice(&PARK_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&INC.to_le_bytes());
        header[16..20].copy_from_slice(&(IDG as u32).to_le_bytes());
        header[20..24].copy_from_slice(&BIG_SLOTS.to_le_bytes());
        header[24..40].copy_from_slice(&VOL);
        header[40..48].copy_from_slice(&77u64.to_le_bytes());
        header[48..56].copy_from_slice(&PARKED_AT.to_le_bytes());
        header[60..64].copy_from_slice(&3u32.to_le_bytes());
        let entries = vec![
            (3, used_entry(3, gen(4), &sample(1, "s"))),
            (1024, free_entry(1024, gen(9))),
            (1500, used_entry(1500, gen(1), &batch_record(2))),
            (2099, used_entry(2099, gen(REUSE_MAX), &sample(3, "s"))),
        ];
        Parts { header, entries }.join()
    })
}

#[tokio::test]
async fn handles_restore_places_entries_in_every_write() {
    let img = big_image();
    let dev = reset_object(BIG_SLOTS as u64).await;
    let before = dev.writes();
    assert_eq!(HandleTable::restore(&dev, img, VOL, NEW_INC).await, Ok(3));
    assert_eq!(dev.writes() - before, 5, "zero header, three slot-area writes, header");
    let r = HandleTable::mount(dev, VOL).await.unwrap();
    let ids: Vec<u64> = all(&r).iter().map(|x| x.persistent_id).collect();
    let mut want = vec![make_id(gen(4), 3), make_id(gen(1), 1500), make_id(gen(REUSE_MAX), 2099)];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert_eq!(r.get(make_id(gen(1), 1500)).unwrap().byte_range_locks.len(), 5);
    let g = generations(&r);
    assert_eq!((g[1024], g[1023], g[0]), (gen(9), 0, 0), "the reset table's slots are gone");
    assert_eq!(r.created_unix_ms(), 77);
    assert_eq!(r.park_image(PARKED_AT).await.unwrap().len(), img.len());
}

/// A device that fails every write after the first `ok_writes`.
struct FailAfter {
    mem: MemDevice,
    ok_writes: usize,
    writes: AtomicUsize,
}

impl Device for FailAfter {
    fn size_bytes(&self) -> u64 {
        self.mem.size_bytes()
    }
    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, HoldfastError> {
        self.mem.read(offset, len).await
    }
    async fn write(&self, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        if self.writes.fetch_add(1, Ordering::SeqCst) >= self.ok_writes {
            return Err(HoldfastError::new(ErrorCode::Io, "injected: the host stopped"));
        }
        self.mem.write(offset, data).await
    }
}

#[tokio::test]
async fn handles_interrupted_restore_never_mounts_a_mix() {
    let img = big_image();
    let reset = reset_object(BIG_SLOTS as u64).await;
    let old = HandleTable::mount(TestDev::from_mem(MemDevice::from_image(reset.mem.image()), false), VOL).await.unwrap();
    let total = 5;
    for ok_writes in 0..=total {
        let dev = FailAfter { mem: MemDevice::from_image(reset.mem.image()), ok_writes, writes: AtomicUsize::new(0) };
        let res = HandleTable::restore(&dev, img, VOL, NEW_INC).await;
        let after = FailAfter { mem: MemDevice::from_image(dev.mem.image()), ok_writes: usize::MAX, writes: AtomicUsize::new(0) };
        match ok_writes {
            0 => {
                // Nothing was written: the reset table is as it was.
                assert!(matches!(res, Err(HandleError::Device(_))));
                let t = HandleTable::mount(after, VOL).await.unwrap();
                assert_eq!((all(&t), t.incarnation()), (all(&old), old.incarnation()));
            }
            n if n < total => {
                assert!(matches!(res, Err(HandleError::Device(_))), "{n}: {res:?}");
                assert!(matches!(HandleTable::probe(&after).await, Err(HandleError::NotFormatted)), "{n}");
                assert!(matches!(check(&after).await, Err(HandleError::NotFormatted)), "{n}");
                assert!(matches!(HandleTable::mount(after, VOL).await, Err(HandleError::NotFormatted)), "{n}");
            }
            _ => {
                assert_eq!(res, Ok(3));
                let t = HandleTable::mount(after, VOL).await.unwrap();
                assert_eq!((t.len(), t.incarnation()), (3, NEW_INC));
            }
        }
    }
}

// ---- no panics on bad bytes ----

fn good_image_blocking() -> &'static [u8] {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(good_image())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn handles_parse_park_image_of_random_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(parse_park_image(&b).is_err());
        // The fuzz entry point also retries with the crc fixed.
        let _ = fuzzing::park_image(&b);
    }

    #[test]
    fn handles_parse_park_image_of_random_body_with_a_valid_crc_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        counts in (1u32..=16, 0u32..=4, 0u32..=4),
    ) {
        let mut b = PARK_MAGIC.to_vec();
        b.extend_from_slice(&PARK_VERSION.to_le_bytes());
        b.resize(PARK_HEADER_BYTES, 0);
        b[16..20].copy_from_slice(&(IDG as u32).to_le_bytes());
        b[20..24].copy_from_slice(&counts.0.to_le_bytes());
        b[56..60].copy_from_slice(&counts.1.to_le_bytes());
        b[60..64].copy_from_slice(&counts.2.to_le_bytes());
        b.extend_from_slice(&body);
        let crc = crc32(&[&b]);
        b.extend_from_slice(&crc.to_le_bytes());
        let _ = fuzzing::park_image(&b);
    }

    #[test]
    fn handles_damaged_park_image_with_a_valid_crc_is_refused_or_round_trips(
        flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let mut b = good_image_blocking().to_vec();
        for (at, mask) in flips {
            let at = at % b.len();
            b[at] ^= mask;
        }
        if let Some(cut) = cut {
            b.truncate(cut % (b.len() + 1));
        }
        // fuzzing::park_image fixes the crc, and asserts that whatever it
        // accepts restores, checks, mounts and parks to the same bytes.
        let _ = fuzzing::park_image(&b);
    }
}
