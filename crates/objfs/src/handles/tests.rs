use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use holdfast_types::{ErrorCode, HoldfastError};
use proptest::prelude::*;

use super::layout::{self, TableHeader};
use super::*;
use crate::device::MemDevice;

mod ids;
mod park;

const VOL: [u8; 16] = [0xA5; 16];
const OTHER_VOL: [u8; 16] = [0x5A; 16];
/// The id generation and incarnation the test tables are formatted with:
/// not 0, so a table that ignored its id generation would fail the tests.
const IDG: u16 = 7;
const INC: u32 = 3;

/// The slot generation of the `reuse`-th put of a slot in a table of [`IDG`].
fn gen(reuse: u32) -> u32 {
    ((IDG as u32) << 16) | reuse
}

fn table_format(now_unix_ms: u64) -> TableFormat {
    TableFormat { volume_id: VOL, now_unix_ms, incarnation: INC, id_generation: IDG }
}

/// MemDevice that counts writes, can fail or stall them, and can yield
/// before each write so concurrent tasks interleave.
struct TestDev {
    mem: MemDevice,
    writes: AtomicUsize,
    written: std::sync::Mutex<Vec<(u64, usize)>>,
    fail: AtomicBool,
    stall: AtomicBool,
    yield_writes: bool,
}

impl TestDev {
    fn new(slots: u64) -> TestDev {
        TestDev::from_mem(MemDevice::new(HEADER_BYTES + slots * SLOT_BYTES), false)
    }
    fn from_mem(mem: MemDevice, yield_writes: bool) -> TestDev {
        TestDev {
            mem,
            writes: AtomicUsize::new(0),
            written: Default::default(),
            fail: AtomicBool::new(false),
            stall: AtomicBool::new(false),
            yield_writes,
        }
    }
    fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
    fn last_write(&self) -> (u64, usize) {
        *self.written.lock().unwrap().last().unwrap()
    }
}

impl Device for TestDev {
    fn size_bytes(&self) -> u64 {
        self.mem.size_bytes()
    }
    async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, HoldfastError> {
        self.mem.read(offset, len).await
    }
    async fn write(&self, offset: u64, data: Bytes) -> Result<(), HoldfastError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.stall.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if self.yield_writes {
            tokio::task::yield_now().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(HoldfastError::new(ErrorCode::Io, "injected write failure"));
        }
        self.written.lock().unwrap().push((offset, data.len()));
        self.mem.write(offset, data).await
    }
}

async fn new_table(slots: u64) -> HandleTable<TestDev> {
    let dev = TestDev::new(slots);
    HandleTable::format(&dev, &table_format(1_700_000_000_000)).await.unwrap();
    HandleTable::mount(dev, VOL).await.unwrap()
}

fn image(t: &HandleTable<TestDev>) -> Vec<u8> {
    t.device().mem.image()
}

async fn remount(t: &HandleTable<TestDev>) -> HandleTable<TestDev> {
    HandleTable::mount(TestDev::from_mem(MemDevice::from_image(image(t)), false), VOL).await.unwrap()
}

/// Everything the table holds, by id.
fn all(t: &HandleTable<impl Device>) -> Vec<HandleRecord> {
    let st = lock(&t.state);
    let mut v: Vec<HandleRecord> = st.slots.iter().filter_map(|s| s.record.as_deref().cloned()).collect();
    v.sort_by_key(|r| r.persistent_id);
    v
}

fn sample(n: u8, share: &str) -> HandleRecord {
    HandleRecord {
        ino: 1000 + n as u64,
        share: share.into(),
        path: format!("dir\\file-{n}.txt"),
        create_guid: [n; 16],
        client_guid: [0xC1; 16],
        app_instance_id: [n ^ 0x55; 16],
        app_instance_version_high: 7,
        app_instance_version_low: 9,
        durable_owner: "HOLDFAST\\alice".into(),
        granted_access: 0x0012_019F,
        share_access: 7,
        create_options: 0x40,
        create_disposition: 3,
        create_action: 2,
        file_attributes: 0x20,
        oplock_level: oplock::LEASE,
        lease: Some(Lease { key: [n; 16], parent_key: [0; 16], state: 7, epoch: 3, version: 2, flags: 0 }),
        is_durable: true,
        is_persistent: true,
        timeout_ms: 60_000,
        channel_sequence: 4,
        is_replay_eligible: true,
        byte_range_locks: vec![ByteRangeLock { offset: 0, length: 4096, exclusive: true }],
        ..HandleRecord::default()
    }
}

// ---- record encoding ----

fn arb_string(max_chars: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..=max_chars).prop_map(|v| v.into_iter().collect())
}

fn arb_oplock() -> impl Strategy<Value = (u8, Option<Lease>)> {
    prop_oneof![
        prop_oneof![Just(oplock::NONE), Just(oplock::LEVEL_II), Just(oplock::EXCLUSIVE), Just(oplock::BATCH)]
            .prop_map(|l| (l, None)),
        (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u32>(), any::<u16>(), 1u8..=2, any::<u32>()).prop_map(
            |(key, parent_key, state, epoch, version, flags)| {
                (oplock::LEASE, Some(Lease { key, parent_key, state, epoch, version, flags }))
            }
        ),
    ]
}

prop_compose! {
    fn arb_record()(
        ids in (any::<u64>(), any::<u64>(), any::<[u8; 16]>(), any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u64>(), any::<u64>()),
        strings in (arb_string(SHARE_BYTES_MAX / 4), arb_string(PATH_BYTES_MAX / 4), arb_string(OWNER_BYTES_MAX / 4)),
        nums in (any::<[u32; 6]>(), any::<u32>(), any::<u64>(), any::<u16>()),
        op in arb_oplock(),
        bools in any::<[bool; 4]>(),
        seq in proptest::collection::vec(any::<u8>().prop_map(|b| b & 0x8F), LOCK_SEQUENCE_ENTRIES),
        locks in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<bool>()), 0..=LOCKS_MAX),
    ) -> HandleRecord {
        let mut lock_sequence = [0u8; LOCK_SEQUENCE_ENTRIES];
        lock_sequence.copy_from_slice(&seq);
        HandleRecord {
            persistent_id: ids.0,
            ino: ids.1,
            create_guid: ids.2,
            client_guid: ids.3,
            app_instance_id: ids.4,
            app_instance_version_high: ids.5,
            app_instance_version_low: ids.6,
            share: strings.0,
            path: strings.1,
            durable_owner: strings.2,
            granted_access: nums.0[0],
            share_access: nums.0[1],
            create_options: nums.0[2],
            create_disposition: nums.0[3],
            create_action: nums.0[4],
            file_attributes: nums.0[5],
            timeout_ms: nums.1,
            disconnect_time_unix_ms: nums.2,
            channel_sequence: nums.3,
            oplock_level: op.0,
            lease: op.1,
            is_durable: bools[0],
            is_persistent: bools[1],
            is_replay_eligible: bools[2],
            delete_on_close: bools[3],
            lock_sequence,
            byte_range_locks: locks.into_iter().map(|(offset, length, exclusive)| ByteRangeLock { offset, length, exclusive }).collect(),
        }
    }
}

/// Decoding arbitrary bytes never panics, and whatever decodes is canonical.
fn decode_is_safe(b: &[u8]) {
    if let Ok(r) = HandleRecord::decode(b) {
        assert_eq!(r.encode().unwrap(), b, "decode accepted a non-canonical encoding");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn handles_record_round_trips(r in arb_record()) {
        let b = r.encode().unwrap();
        prop_assert_eq!(b.len(), r.encoded_len());
        prop_assert!(b.len() <= RECORD_BYTES_MAX);
        prop_assert_eq!(HandleRecord::decode(&b).unwrap(), r);
    }

    #[test]
    fn handles_record_decode_of_random_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..4200)) {
        decode_is_safe(&b);
    }

    #[test]
    fn handles_record_decode_of_damaged_record_never_panics(r in arb_record(), bit in any::<usize>(), cut in any::<usize>()) {
        let b = r.encode().unwrap();
        let mut flipped = b.clone();
        let bit = bit % (b.len() * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
        decode_is_safe(&flipped);
        let cut = cut % b.len();
        prop_assert!(HandleRecord::decode(&b[..cut]).is_err());
        let mut longer = b.clone();
        longer.push(0);
        prop_assert!(HandleRecord::decode(&longer).is_err());
    }

    #[test]
    fn handles_slot_with_any_flipped_bit_is_refused(
        r in arb_record(),
        idg in any::<u16>(),
        reuse in 1u32..=REUSE_MAX,
        slot in 0u32..1000,
        bit in any::<usize>(),
    ) {
        let generation = ((idg as u32) << 16) | reuse;
        let mut buf = layout::new_slot_buffer();
        r.encode_into(&mut buf).unwrap();
        let covered = buf.len();
        layout::finish_used_slot(&mut buf, generation, slot).unwrap();
        prop_assert_eq!(buf.len() % 512, 0);
        let mut expect = r.clone();
        expect.persistent_id = make_id(generation, slot);
        prop_assert_eq!(layout::parse_slot(slot, idg, &buf), Ok(layout::SlotContent::Used { generation, record: Box::new(expect) }));
        let bit = bit % (covered * 8);
        buf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(layout::parse_slot(slot, idg, &buf).is_err());
    }
}

#[test]
fn handles_record_bounds_are_too_large_never_truncated() {
    let mut r = sample(1, "s");
    r.path = "p".repeat(PATH_BYTES_MAX);
    r.share = "s".repeat(SHARE_BYTES_MAX);
    r.durable_owner = "o".repeat(OWNER_BYTES_MAX);
    r.byte_range_locks = vec![ByteRangeLock::default(); LOCKS_MAX];
    let b = r.encode().unwrap();
    assert_eq!(b.len(), RECORD_BYTES_MAX, "a record at every bound has the largest size");

    type Grow = Box<dyn Fn(&mut HandleRecord)>;
    let cases: [(&str, Grow); 4] = [
        ("path", Box::new(|r| r.path.push('x'))),
        ("share", Box::new(|r| r.share.push('é'))),
        ("durable_owner", Box::new(|r| r.durable_owner.push('x'))),
        ("byte_range_locks", Box::new(|r| r.byte_range_locks.push(ByteRangeLock::default()))),
    ];
    for (field, grow) in cases {
        let mut big = r.clone();
        grow(&mut big);
        match big.encode() {
            Err(HandleError::TooLarge(m)) => assert!(m.contains(field), "{m}"),
            other => panic!("{field}: expected TooLarge, got {other:?}"),
        }
    }
}

#[test]
fn handles_record_value_rules() {
    let mut r = sample(1, "s");
    r.lease = None;
    assert!(matches!(r.encode(), Err(HandleError::Invalid(m)) if m.contains("LEASE")));
    let mut r = sample(1, "s");
    r.oplock_level = oplock::BATCH;
    assert!(matches!(r.encode(), Err(HandleError::Invalid(_))));
    let mut r = sample(1, "s");
    r.lease.as_mut().unwrap().version = 3;
    assert!(matches!(r.encode(), Err(HandleError::Invalid(_))));
    let mut r = sample(1, "s");
    r.lock_sequence[5] = 0x90;
    assert!(matches!(r.encode(), Err(HandleError::Invalid(m)) if m.contains("lock_sequence[5]")));
    let r = HandleRecord { oplock_level: 2, ..HandleRecord::default() };
    assert!(matches!(r.encode(), Err(HandleError::Invalid(_))));
}

#[test]
fn handles_expires_at() {
    let mut r = HandleRecord { timeout_ms: 500, ..HandleRecord::default() };
    assert_eq!(r.expires_at_unix_ms(), None);
    r.disconnect_time_unix_ms = 1000;
    assert_eq!(r.expires_at_unix_ms(), Some(1500));
    r.disconnect_time_unix_ms = u64::MAX - 1;
    assert_eq!(r.expires_at_unix_ms(), Some(u64::MAX));
}

#[test]
fn handles_error_statuses() {
    use holdfast_types::ntstatus::NtStatus;
    assert_eq!(HandleError::NotFound(1).status(), NtStatus::OBJECT_NAME_NOT_FOUND);
    assert_eq!(HandleError::Full(String::new()).status(), NtStatus::INSUFFICIENT_RESOURCES);
    assert_eq!(HandleError::TooLarge(String::new()).status(), NtStatus::INSUFFICIENT_RESOURCES);
    assert_eq!(HandleError::Exists.status(), NtStatus::OBJECT_NAME_COLLISION);
    assert_eq!(HandleError::Device(HoldfastError::new(ErrorCode::Io, "x")).status(), NtStatus::UNEXPECTED_IO_ERROR);
    assert_eq!(HandleError::NotFormatted.status(), NtStatus::FILE_CORRUPT_ERROR);
    assert_eq!(HandleError::Invalid(String::new()).status(), NtStatus::INVALID_PARAMETER);
}

// ---- the table ----

#[tokio::test]
async fn handles_put_get_find_list_update_delete() {
    let t = new_table(16).await;
    assert_eq!((t.capacity(), t.len()), (16, 0));
    let a = t.put(sample(1, "Data")).await.unwrap();
    let b = t.put(sample(2, "data")).await.unwrap();
    let c = t.put(sample(3, "other")).await.unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(a.persistent_id, make_id(gen(1), 0));
    assert_ne!(a.persistent_id, b.persistent_id);
    assert_eq!(t.get(a.persistent_id).unwrap(), a);
    assert_eq!(t.get(b.persistent_id).unwrap().path, "dir\\file-2.txt");
    assert!(matches!(t.get(0), Err(HandleError::NotFound(0))));
    assert!(matches!(t.get(make_id(gen(2), 0)), Err(HandleError::NotFound(_))), "wrong generation");
    assert!(matches!(t.get(make_id(1, 0)), Err(HandleError::NotFound(_))), "another id generation");
    assert!(matches!(t.get(make_id(gen(1), 15)), Err(HandleError::NotFound(_))), "free slot");
    assert!(matches!(t.get(make_id(gen(1), 99)), Err(HandleError::NotFound(_))), "past the end");

    assert_eq!(t.find([0xC1; 16], [2; 16]), Some(b.clone()));
    assert_eq!(t.find([0xC1; 16], [9; 16]), None);
    assert_eq!(t.find([0; 16], [2; 16]), None);
    assert!(matches!(t.put(sample(2, "data")).await, Err(HandleError::Exists)));
    // Zero GUIDs are not replay keys: no Exists.
    let mut v1 = sample(4, "data");
    v1.create_guid = [0; 16];
    let d = t.put(v1.clone()).await.unwrap();
    let e = t.put(v1).await.unwrap();
    assert_ne!(d.persistent_id, e.persistent_id);

    let ids = |v: Vec<HandleRecord>| v.into_iter().map(|r| r.persistent_id).collect::<Vec<_>>();
    assert_eq!(ids(t.list("DATA")), vec![a.persistent_id, b.persistent_id, d.persistent_id, e.persistent_id]);
    assert_eq!(ids(t.list("Other")), vec![c.persistent_id]);
    assert!(t.list("none").is_empty());

    // Update: new state, new replay key.
    let mut b2 = b.clone();
    b2.disconnect_time_unix_ms = 5;
    b2.create_guid = [0x42; 16];
    b2.byte_range_locks.clear();
    t.update(b2.clone()).await.unwrap();
    assert_eq!(t.get(b.persistent_id).unwrap(), b2);
    assert_eq!(t.find([0xC1; 16], [2; 16]), None);
    assert_eq!(t.find([0xC1; 16], [0x42; 16]), Some(b2.clone()));
    // Updating onto another record's key is refused, and changes nothing.
    let mut clash = c.clone();
    clash.create_guid = [1; 16];
    assert!(matches!(t.update(clash).await, Err(HandleError::Exists)));
    assert_eq!(t.get(c.persistent_id).unwrap(), c);
    let mut gone = b2.clone();
    gone.persistent_id = make_id(gen(7), 1);
    assert!(matches!(t.update(gone).await, Err(HandleError::NotFound(_))));

    t.delete(a.persistent_id).await.unwrap();
    assert!(matches!(t.get(a.persistent_id), Err(HandleError::NotFound(_))));
    assert!(matches!(t.delete(a.persistent_id).await, Err(HandleError::NotFound(_))));
    assert_eq!(t.find([0xC1; 16], [1; 16]), None);
    assert_eq!(t.len(), 4);
    // The key is free again.
    t.put(sample(1, "data")).await.unwrap();
    assert_eq!(t.len(), 5);

    let again = remount(&t).await;
    assert_eq!(all(&again), all(&t));
    assert_eq!(again.find([0xC1; 16], [0x42; 16]), Some(b2));
}

#[tokio::test]
async fn handles_put_is_one_write_and_delete_one_sector() {
    let t = new_table(8).await;
    let before = t.device().writes();
    let a = t.put(sample(1, "s")).await.unwrap();
    assert_eq!(t.device().writes(), before + 1);
    assert_eq!(t.device().last_write(), (HEADER_BYTES, 512), "a small record is one sector");

    let mut big = sample(2, "s");
    big.path = "p".repeat(PATH_BYTES_MAX);
    let want = (SLOT_HEADER_BYTES + big.encoded_len()).div_ceil(512) * 512;
    let b = t.put(big).await.unwrap();
    assert_eq!(t.device().writes(), before + 2);
    assert_eq!(t.device().last_write(), (HEADER_BYTES + SLOT_BYTES, want));

    let mut a2 = a.clone();
    a2.disconnect_time_unix_ms = 77;
    t.update(a2).await.unwrap();
    assert_eq!(t.device().writes(), before + 3);
    t.delete(b.persistent_id).await.unwrap();
    assert_eq!(t.device().writes(), before + 4);
    assert_eq!(t.device().last_write(), (HEADER_BYTES + SLOT_BYTES, 512));
    // Reads never touch the device.
    let _ = (t.get(a.persistent_id), t.find([0xC1; 16], [1; 16]), t.list("s"), t.expired(u64::MAX));
    assert_eq!(t.device().writes(), before + 4);
}

#[tokio::test]
async fn handles_full_with_a_tiny_table() {
    let t = new_table(2).await;
    t.put(sample(1, "s")).await.unwrap();
    let b = t.put(sample(2, "s")).await.unwrap();
    match t.put(sample(3, "s")).await {
        Err(e @ HandleError::Full(_)) => {
            let m = e.to_string();
            assert!(m.contains("all 2 slots") && m.contains("handle_size"), "{m}");
            assert_eq!(e.status(), holdfast_types::ntstatus::NtStatus::INSUFFICIENT_RESOURCES);
        }
        other => panic!("expected Full, got {other:?}"),
    }
    t.delete(b.persistent_id).await.unwrap();
    t.put(sample(3, "s")).await.unwrap();
    assert_eq!(t.len(), 2);
}

#[tokio::test]
async fn handles_put_too_large_writes_nothing() {
    let t = new_table(2).await;
    let before = t.device().writes();
    let mut r = sample(1, "s");
    r.path = "p".repeat(PATH_BYTES_MAX + 1);
    assert!(matches!(t.put(r).await, Err(HandleError::TooLarge(m)) if m.contains("path")));
    assert_eq!(t.device().writes(), before);
    assert_eq!(t.len(), 0);
    // Neither the slot nor the replay key leaked.
    t.put(sample(1, "s")).await.unwrap();
    t.put(sample(2, "s")).await.unwrap();
}

#[tokio::test]
async fn handles_ids_are_not_reused_after_delete() {
    let t = new_table(4).await;
    let mut seen = HashSet::new();
    let a = t.put(sample(1, "s")).await.unwrap();
    seen.insert(a.persistent_id);
    t.delete(a.persistent_id).await.unwrap();
    // The freed slot goes to the back of the free list...
    let b = t.put(sample(1, "s")).await.unwrap();
    assert!(seen.insert(b.persistent_id));
    assert_ne!(split_id(b.persistent_id).unwrap().0, 0);
    // ...and when it is reused, its generation has moved on, across remounts too.
    let mut id = b.persistent_id;
    for round in 0..20u8 {
        t.delete(id).await.unwrap();
        let t2 = remount(&t).await;
        assert_eq!(t2.len(), t.len());
        id = t.put(sample(round, "s")).await.unwrap().persistent_id;
        assert!(seen.insert(id), "id 0x{id:016x} reused");
    }
    let generations: HashSet<u32> = seen.iter().filter(|&&i| split_id(i).unwrap().0 == 0).map(|&i| split_id(i).unwrap().1).collect();
    assert!(generations.len() > 1, "slot 0 was reused with new generations");
    assert!(!seen.contains(&0));
    assert_eq!(next_generation(gen(REUSE_MAX), IDG), gen(1), "reuse 0 is skipped on wrap");
}

#[tokio::test]
async fn handles_remount_sees_exactly_the_acknowledged_state() {
    let t = new_table(8).await;
    let a = t.put(sample(1, "s")).await.unwrap();
    let b = t.put(sample(2, "s")).await.unwrap();
    let mut a2 = a.clone();
    a2.disconnect_time_unix_ms = 123;
    a2.lock_sequence[3] = 0x85;
    t.update(a2.clone()).await.unwrap();

    // Failed writes change nothing in memory.
    t.device().fail.store(true, Ordering::SeqCst);
    assert!(matches!(t.put(sample(3, "s")).await, Err(HandleError::Device(_))));
    let mut b2 = b.clone();
    b2.create_guid = [0x33; 16];
    assert!(matches!(t.update(b2).await, Err(HandleError::Device(_))));
    assert!(matches!(t.delete(a.persistent_id).await, Err(HandleError::Device(_))));
    t.device().fail.store(false, Ordering::SeqCst);
    assert_eq!(all(&t), vec![a2.clone(), b.clone()]);
    assert_eq!(t.find([0xC1; 16], [2; 16]), Some(b.clone()));
    assert_eq!(t.find([0xC1; 16], [0x33; 16]), None);
    assert_eq!(t.find([0xC1; 16], [3; 16]), None);

    let c = t.put(sample(3, "s")).await.unwrap();
    assert_eq!(c.persistent_id, make_id(gen(1), 2), "the failed put gave its slot back");
    t.delete(b.persistent_id).await.unwrap();

    let again = remount(&t).await;
    assert_eq!(all(&again), vec![a2, c]);
    assert_eq!(all(&again), all(&t));
    assert_eq!(again.len(), 2);
    assert_eq!(again.find([0xC1; 16], [3; 16]).map(|r| r.persistent_id), Some(make_id(gen(1), 2)));
    // The deleted slot keeps its generation on the device.
    let mut next = Vec::new();
    for n in 10..16 {
        next.push(again.put(sample(n, "s")).await.unwrap().persistent_id);
    }
    assert!(next.contains(&make_id(gen(2), 1)), "{next:x?}");
    assert!(matches!(again.put(sample(20, "s")).await, Err(HandleError::Full(_))));
}

#[tokio::test]
async fn handles_cancelled_put_gives_its_slot_back() {
    let t = new_table(1).await;
    t.device().stall.store(true, Ordering::SeqCst);
    let r = tokio::time::timeout(Duration::from_millis(20), t.put(sample(1, "s"))).await;
    assert!(r.is_err(), "the put was still writing");
    t.device().stall.store(false, Ordering::SeqCst);
    assert_eq!(t.len(), 0);
    // Both the slot and the replay key are free again.
    t.put(sample(1, "s")).await.unwrap();
    assert_eq!(t.len(), 1);
}

#[tokio::test]
async fn handles_foreign_and_corrupt_headers_are_refused() {
    let dev = TestDev::new(4);
    assert!(matches!(HandleTable::mount(dev, VOL).await, Err(HandleError::NotFormatted)));
    assert!(matches!(check(&TestDev::new(4)).await, Err(HandleError::NotFormatted)));

    let t = new_table(4).await;
    t.put(sample(1, "s")).await.unwrap();
    let good = image(&t);
    let mount = |img: Vec<u8>, vol: [u8; 16]| async move {
        HandleTable::mount(TestDev::from_mem(MemDevice::from_image(img), false), vol).await.map(|_| ())
    };

    match mount(good.clone(), OTHER_VOL).await {
        Err(e @ HandleError::Foreign(_)) => {
            let m = e.to_string();
            assert!(m.contains(&hex(&VOL)) && m.contains(&hex(&OTHER_VOL)), "{m}");
        }
        other => panic!("expected Foreign, got {other:?}"),
    }
    let mut img = good.clone();
    img[..8].copy_from_slice(b"NOTATABL");
    assert!(matches!(mount(img, VOL).await, Err(HandleError::Foreign(m)) if m.contains("not a Holdfast handle table")));

    let mut img = good.clone();
    img[37] ^= 1;
    assert!(matches!(mount(img, VOL).await, Err(HandleError::Corrupt(m)) if m.contains("crc32")));

    // Version 1 (the table before incarnations) and a newer version both
    // report their version, not a crc error.
    for version in [1u8, 3] {
        let mut img = good.clone();
        img[8] = version;
        assert!(matches!(mount(img, VOL).await, Err(HandleError::Corrupt(m)) if m.contains(&format!("version {version}"))));
    }

    // A well-formed header claiming more slots than the object has.
    let mut img = good.clone();
    let h = TableHeader { slot_count: 5, volume_id: VOL, created_unix_ms: 1, incarnation: INC, id_generation: IDG };
    img[..HEADER_BYTES as usize].copy_from_slice(&h.encode());
    assert!(matches!(mount(img, VOL).await, Err(HandleError::Corrupt(m)) if m.contains("5 slots")));

    mount(good, VOL).await.unwrap();
}

#[tokio::test]
async fn handles_corrupt_used_slot_is_refused_naming_the_slot() {
    let t = new_table(8).await;
    for n in 0..4 {
        t.put(sample(n, "s")).await.unwrap();
    }
    let mut img = image(&t);
    let at = layout::slot_offset(2) as usize + SLOT_HEADER_BYTES + 40;
    img[at] ^= 0x10;
    let dev = TestDev::from_mem(MemDevice::from_image(img.clone()), false);
    match HandleTable::mount(dev, VOL).await {
        Err(HandleError::Corrupt(m)) => assert!(m.contains("slot 2 ") && m.contains("crc32"), "{m}"),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, got a table"),
    }
    let report = check(&TestDev::from_mem(MemDevice::from_image(img), false)).await.unwrap();
    assert_eq!((report.used, report.free, report.capacity), (3, 4, 8));
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("slot 2 "), "{:?}", report.problems);

    let clean = check(t.device()).await.unwrap();
    assert!(clean.is_clean(), "{:?}", clean.problems);
    assert_eq!((clean.used, clean.capacity, clean.volume_id), (4, 8, VOL));
}

#[tokio::test]
async fn handles_check_reports_duplicate_replay_keys() {
    let t = new_table(4).await;
    let a = t.put(sample(1, "s")).await.unwrap();
    // Write a second record with the same replay key into slot 3 by hand.
    let mut buf = layout::new_slot_buffer();
    sample(1, "s").encode_into(&mut buf).unwrap();
    layout::finish_used_slot(&mut buf, gen(1), 3).unwrap();
    t.device().mem.write(layout::slot_offset(3), Bytes::from(buf)).await.unwrap();

    let report = check(t.device()).await.unwrap();
    assert_eq!(report.used, 2);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("slots 0 and 3"), "{:?}", report.problems);
    // Mount tolerates it; replay finds the first.
    let again = remount(&t).await;
    assert_eq!(again.len(), 2);
    assert_eq!(again.find([0xC1; 16], [1; 16]).unwrap().persistent_id, a.persistent_id);
}

#[tokio::test]
async fn handles_expired() {
    let t = new_table(8).await;
    let mut r = sample(1, "s");
    r.disconnect_time_unix_ms = 1000;
    r.timeout_ms = 500;
    let a = t.put(r).await.unwrap();
    let mut r = sample(2, "s");
    r.disconnect_time_unix_ms = 2000;
    r.timeout_ms = 0;
    let b = t.put(r).await.unwrap();
    let mut r = sample(3, "s");
    r.timeout_ms = 1; // connected: never expires
    t.put(r).await.unwrap();
    assert!(t.expired(1499).is_empty());
    assert_eq!(t.expired(1500), vec![a.persistent_id]);
    assert_eq!(t.expired(u64::MAX), vec![a.persistent_id, b.persistent_id]);
    // Reconnect: disconnect time back to 0.
    let mut a2 = a.clone();
    a2.disconnect_time_unix_ms = 0;
    t.update(a2).await.unwrap();
    assert_eq!(t.expired(u64::MAX), vec![b.persistent_id]);
    // The deadline is absolute: a remount (a takeover) neither extends nor shortens it.
    assert_eq!(remount(&t).await.expired(2000), vec![b.persistent_id]);
}

fn yielding_table_dev(slots: u64) -> TestDev {
    TestDev::from_mem(MemDevice::new(HEADER_BYTES + slots * SLOT_BYTES), true)
}

#[tokio::test]
async fn handles_concurrent_puts_get_distinct_ids_and_survive_remount() {
    let dev = yielding_table_dev(100);
    HandleTable::format(&dev, &table_format(1)).await.unwrap();
    let t = Arc::new(HandleTable::mount(dev, VOL).await.unwrap());
    let mut set = tokio::task::JoinSet::new();
    for n in 1..=64u8 {
        let t = t.clone();
        set.spawn(async move { t.put(sample(n, "s")).await.unwrap() });
    }
    let mut ids = HashSet::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert!(ids.insert(r.persistent_id));
        assert_eq!(t.get(r.persistent_id).unwrap(), r);
    }
    assert_eq!(ids.len(), 64);
    let again = remount(&t).await;
    assert_eq!(again.len(), 64);
    assert_eq!(all(&again), all(&t));
    for n in 1..=64u8 {
        assert!(again.find([0xC1; 16], [n; 16]).is_some());
    }
}

#[tokio::test]
async fn handles_concurrent_mutations_of_one_slot_are_serialized() {
    let dev = yielding_table_dev(8);
    HandleTable::format(&dev, &table_format(1)).await.unwrap();
    let t = Arc::new(HandleTable::mount(dev, VOL).await.unwrap());
    let a = t.put(sample(1, "s")).await.unwrap();

    // Two puts with one replay key: exactly one wins.
    let (x, y) = tokio::join!(t.put(sample(5, "s")), t.put(sample(5, "s")));
    assert!(x.is_ok() != y.is_ok(), "{x:?} {y:?}");
    assert!(matches!(x.err().or(y.err()), Some(HandleError::Exists)));

    let mut set = tokio::task::JoinSet::new();
    for n in 0..20u64 {
        let t = t.clone();
        let mut r = a.clone();
        r.ino = n;
        r.channel_sequence = n as u16;
        set.spawn(async move { t.update(r).await });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
    // Memory and device agree on which update was last.
    let again = remount(&t).await;
    assert_eq!(again.get(a.persistent_id).unwrap(), t.get(a.persistent_id).unwrap());

    // An update racing a delete: either order, but the same in memory and on the device.
    let mut r = a.clone();
    r.ino = 999;
    let (u, d) = tokio::join!(t.update(r), t.delete(a.persistent_id));
    d.unwrap();
    assert!(matches!(u, Ok(()) | Err(HandleError::NotFound(_))));
    assert!(t.get(a.persistent_id).is_err());
    assert_eq!(all(&remount(&t).await), all(&t));
    assert!(lock(&t.state).locks.is_empty(), "slot locks are removed after use");
}

#[tokio::test]
async fn handles_format_zeroes_old_slots_and_refuses_tiny_objects() {
    let t = new_table(4).await;
    t.put(sample(1, "s")).await.unwrap();
    HandleTable::format(t.device(), &table_format(2)).await.unwrap();
    let again = remount(&t).await;
    assert_eq!(again.len(), 0);
    assert_eq!(again.created_unix_ms(), 2);
    let tiny = TestDev::from_mem(MemDevice::new(HEADER_BYTES), false);
    assert!(matches!(HandleTable::format(&tiny, &table_format(0)).await, Err(HandleError::Invalid(_))));
}

/// The table can be shared between tasks and its futures spawned.
#[allow(dead_code)]
fn handles_table_and_futures_are_send(t: &HandleTable<MemDevice>, d: &MemDevice) {
    fn send<T: Send>(_: T) {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<HandleTable<MemDevice>>();
    send(HandleTable::<MemDevice>::format(d, &table_format(0)));
    send(HandleTable::<MemDevice>::probe(d));
    send(HandleTable::<MemDevice>::restore(d, &[], VOL, 1));
    send(t.park_image(0));
    send(HandleTable::mount(MemDevice::new(8192), VOL));
    send(t.put(HandleRecord::default()));
    send(t.update(HandleRecord::default()));
    send(t.delete(1));
    send(check(d));
}
