//! Table format version 2: the header's incarnation and id generation,
//! `probe`, and the persistent-id scheme across formats (resets).

use super::*;

fn format_of(idg: u16, incarnation: u32, now_unix_ms: u64) -> TableFormat {
    TableFormat { volume_id: VOL, now_unix_ms, incarnation, id_generation: idg }
}

#[tokio::test]
async fn handles_format_v2_header_round_trips() {
    let dev = TestDev::new(4);
    HandleTable::format(&dev, &format_of(0xBEEF, 9, 42)).await.unwrap();
    let want = TableHeader { slot_count: 4, volume_id: VOL, created_unix_ms: 42, incarnation: 9, id_generation: 0xBEEF };
    assert_eq!(HandleTable::probe(&dev).await.unwrap(), want);

    // The bytes, as docs/handle-table.md lays them out.
    let b = dev.mem.image();
    assert_eq!(&b[0..8], b"HFHNDTB\0");
    assert_eq!(b[8..12], 2u32.to_le_bytes(), "TABLE_VERSION");
    assert_eq!(b[36..44], 42u64.to_le_bytes(), "created_unix_ms");
    assert_eq!(b[44..48], 9u32.to_le_bytes(), "incarnation");
    assert_eq!(b[48..52], 0xBEEFu32.to_le_bytes(), "id_generation, a u16 in a u32");
    let crc = holdfast_types::checksum::crc32(&[&b[..52]]);
    assert_eq!(b[52..56], crc.to_le_bytes(), "crc32 of bytes 0..52");
    assert!(b[56..HEADER_BYTES as usize].iter().all(|&x| x == 0), "reserved bytes are zero");

    for idg in [0, 1, u16::MAX] {
        let h = TableHeader { id_generation: idg, incarnation: u32::MAX, ..want.clone() };
        assert_eq!(TableHeader::parse(&h.encode()).unwrap(), h);
    }

    let t = HandleTable::mount(dev, VOL).await.unwrap();
    assert_eq!((t.incarnation(), t.id_generation(), t.created_unix_ms()), (9, 0xBEEF, 42));
    let a = t.put(sample(1, "s")).await.unwrap();
    assert_eq!(a.persistent_id, make_id(0xBEEF_0001, 0), "the id's high half starts with the id generation");
    let report = check(t.device()).await.unwrap();
    assert_eq!((report.incarnation, report.id_generation, report.used), (9, 0xBEEF, 1));
}

#[test]
fn handles_header_refuses_an_id_generation_over_16_bits() {
    let h = TableHeader { slot_count: 4, volume_id: VOL, created_unix_ms: 1, incarnation: 1, id_generation: 1 };
    let mut b = h.encode();
    b[48..52].copy_from_slice(&0x1_0000u32.to_le_bytes());
    let crc = holdfast_types::checksum::crc32(&[&b[..52]]);
    b[52..56].copy_from_slice(&crc.to_le_bytes());
    match TableHeader::parse(&b) {
        Err(HandleError::Corrupt(m)) => assert!(m.contains("id_generation 65536"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Each field is covered by the crc.
    for at in [44, 48, 51] {
        let mut b = h.encode();
        b[at] ^= 1;
        assert!(matches!(TableHeader::parse(&b), Err(HandleError::Corrupt(m)) if m.contains("crc32")), "byte {at}");
    }
}

#[tokio::test]
async fn handles_probe_checks_like_mount_but_not_the_volume() {
    assert!(matches!(HandleTable::probe(&TestDev::new(4)).await, Err(HandleError::NotFormatted)));
    let small = TestDev::from_mem(MemDevice::new(2048), false);
    assert!(matches!(HandleTable::probe(&small).await, Err(HandleError::Corrupt(m)) if m.contains("less than")));
    let t = new_table(4).await;
    // Another volume's table probes fine: probe reads, the caller decides.
    let h = HandleTable::probe(t.device()).await.unwrap();
    assert_eq!((h.volume_id, h.incarnation, h.id_generation), (VOL, INC, IDG));
    let mut img = image(&t);
    img[..8].copy_from_slice(b"NOTATABL");
    let dev = TestDev::from_mem(MemDevice::from_image(img), false);
    assert!(matches!(HandleTable::probe(&dev).await, Err(HandleError::Foreign(_))));
    // Geometry: a header claiming more slots than the object has.
    let mut img = image(&t);
    let big = TableHeader { slot_count: 5, ..h };
    img[..HEADER_BYTES as usize].copy_from_slice(&big.encode());
    let dev = TestDev::from_mem(MemDevice::from_image(img), false);
    assert!(matches!(HandleTable::probe(&dev).await, Err(HandleError::Corrupt(m)) if m.contains("5 slots")));
}

#[test]
fn handles_next_generation_wraps_and_switches() {
    // Within one id generation: reuse + 1, wrapping from 0xFFFF to 1.
    assert_eq!(next_generation(0x0005_0001, 5), 0x0005_0002);
    assert_eq!(next_generation(0x0005_FFFE, 5), 0x0005_FFFF);
    assert_eq!(next_generation(0x0005_FFFF, 5), 0x0005_0001);
    // A never-used slot, or one of another id generation, starts at reuse 1.
    assert_eq!(next_generation(0, 5), 0x0005_0001);
    assert_eq!(next_generation(0x0004_0007, 5), 0x0005_0001);
    assert_eq!(next_generation(0x0006_0001, 5), 0x0005_0001);
    // Id generation 0 still never gives generation 0.
    assert_eq!(next_generation(0, 0), 1);
    assert_eq!(next_generation(0x0000_FFFF, 0), 1);
    assert_eq!(next_generation(u32::MAX, u16::MAX), 0xFFFF_0001);
    assert_eq!(next_generation(u32::MAX, 0), 1);

    // One slot repeats an id only after 2^16 - 1 puts (every reuse 1..=0xFFFF once).
    let mut seen = HashSet::new();
    let mut g = 0;
    for _ in 0..REUSE_MAX {
        g = next_generation(g, 0x1234);
        assert!(seen.insert(g), "generation 0x{g:08x} came back early");
    }
    assert_eq!(next_generation(g, 0x1234), 0x1234_0001);
}

proptest! {
    #[test]
    fn handles_next_generation_stays_in_its_id_generation(g in any::<u32>(), idg in any::<u16>()) {
        let n = next_generation(g, idg);
        prop_assert_eq!(n >> 16, idg as u32);
        prop_assert_ne!(n & REUSE_MAX, 0);
        prop_assert_ne!(n, g);
    }
}

/// Puts, deletes and puts again until every slot has been reused a few
/// times; returns every id handed out.
async fn churn(t: &HandleTable<TestDev>, rounds: u8) -> HashSet<u64> {
    let mut ids = HashSet::new();
    for round in 0..rounds {
        let mut live = Vec::new();
        while let Ok(r) = t.put(sample(round.wrapping_mul(16).wrapping_add(live.len() as u8), "s")).await {
            assert!(ids.insert(r.persistent_id), "id 0x{:016x} handed out twice", r.persistent_id);
            live.push(r.persistent_id);
        }
        // Keep one record per round in the table, delete the others.
        for id in live.iter().skip(1) {
            t.delete(*id).await.unwrap();
        }
    }
    ids
}

#[tokio::test]
async fn handles_format_with_new_id_generation_zeroes_old_slots_and_reuses_no_id() {
    let dev = TestDev::new(8);
    HandleTable::format(&dev, &format_of(1, 1, 10)).await.unwrap();
    let old = HandleTable::mount(dev, VOL).await.unwrap();
    let before = churn(&old, 4).await;
    assert!(!old.is_empty());

    // The reset: same object, next incarnation and id generation.
    HandleTable::format(old.device(), &format_of(2, 2, 20)).await.unwrap();
    let slot_area = &image(&old)[HEADER_BYTES as usize..];
    assert!(slot_area.iter().all(|&x| x == 0), "format zeroes every old slot");
    let new = remount(&old).await;
    assert_eq!((new.len(), new.incarnation(), new.id_generation()), (0, 2, 2));
    let after = churn(&new, 4).await;
    assert!(before.is_disjoint(&after), "an id from before the reset came back");
    // Every old id is NotFound in the new table, even where the slot is used again.
    for id in &before {
        assert!(matches!(new.get(*id), Err(HandleError::NotFound(_))));
    }
}

#[tokio::test]
async fn handles_slot_of_another_id_generation_is_refused() {
    let t = new_table(4).await;
    t.put(sample(1, "s")).await.unwrap();
    // A record written by a table of another id generation, by hand.
    let foreign = ((IDG as u32 + 1) << 16) | 1;
    let mut buf = layout::new_slot_buffer();
    sample(2, "s").encode_into(&mut buf).unwrap();
    layout::finish_used_slot(&mut buf, foreign, 2).unwrap();
    t.device().mem.write(layout::slot_offset(2), Bytes::from(buf)).await.unwrap();
    // And a FREE header with reuse 0, which no delete writes.
    let sector = layout::free_slot_sector(gen(0), 3);
    t.device().mem.write(layout::slot_offset(3), Bytes::from(sector)).await.unwrap();

    let dev = TestDev::from_mem(MemDevice::from_image(image(&t)), false);
    match HandleTable::mount(dev, VOL).await {
        Err(HandleError::Corrupt(m)) => assert!(m.contains("slot 2 ") && m.contains("id generation 7"), "{m}"),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, got a table"),
    }
    let report = check(t.device()).await.unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(report.problems[0].starts_with("slot 2 "), "{:?}", report.problems);
    assert!(report.problems[1].starts_with("slot 3 "), "{:?}", report.problems);
}
