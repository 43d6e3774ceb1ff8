//! Replays the checked-in seeds of the `park_image` fuzz target
//! (`fuzz/corpus/park_image/`) through its entry point,
//! `handles::fuzzing::park_image`, so CI exercises them on stable without
//! cargo-fuzz or nightly. `cargo test -p holdfast-objfs --test park_corpus
//! -- --ignored` rewrites the seed files from the builders below.

use std::path::PathBuf;

use holdfast_objfs::handles::{fuzzing, oplock, ByteRangeLock, HandleRecord, HandleTable, Lease, TableFormat};
use holdfast_objfs::MemDevice;

const VOL: [u8; 16] = [0x11; 16];
const SLOTS: u64 = 8;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/park_image")
}

fn record(n: u8) -> HandleRecord {
    HandleRecord {
        ino: 100 + n as u64,
        share: "data".into(),
        path: format!("dir\\file-{n}.txt"),
        create_guid: [n; 16],
        client_guid: [0xC1; 16],
        durable_owner: "HOLDFAST\\alice".into(),
        granted_access: 0x0012_019F,
        share_access: 7,
        oplock_level: oplock::LEASE,
        lease: Some(Lease { key: [n; 16], parent_key: [0; 16], state: 7, epoch: 1, version: 2, flags: 0 }),
        is_durable: true,
        is_persistent: true,
        timeout_ms: 60_000,
        byte_range_locks: vec![ByteRangeLock { offset: 0, length: 512, exclusive: true }],
        ..HandleRecord::default()
    }
}

/// The seeds: (file stem, image). Built with fixed times, so the bytes are
/// the same on every run.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let f = TableFormat { volume_id: VOL, now_unix_ms: 1_700_000_000_000, incarnation: 4, id_generation: 4 };
        let dev = MemDevice::new(4096 * (1 + SLOTS));
        HandleTable::format(&dev, &f).await.unwrap();
        let t = HandleTable::mount(dev, VOL).await.unwrap();
        let empty = t.park_image(1_700_000_100_000).await.unwrap();
        // Records, a FREE slot (a deleted record) and never-used slots.
        let a = t.put(record(1)).await.unwrap();
        t.put(record(2)).await.unwrap();
        let mut v1 = record(3);
        v1.create_guid = [0; 16];
        v1.oplock_level = oplock::BATCH;
        v1.lease = None;
        v1.disconnect_time_unix_ms = 1_700_000_050_000;
        t.put(v1).await.unwrap();
        t.delete(a.persistent_id).await.unwrap();
        let used = t.park_image(1_700_000_100_000).await.unwrap();
        vec![("empty-table", empty), ("records-and-free-slots", used)]
    })
}

#[test]
fn park_corpus_seeds_parse_through_the_fuzz_entry_point() {
    let mut files = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus directory") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = fuzzing::park_image(&bytes);
        // Seeds are valid images; files the fuzzer adds later may not be,
        // and only have to not panic.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if seeds().iter().any(|(seed, _)| name == format!("{seed}.bin")) {
            assert!(outcome.is_ok(), "{name}: {outcome:?}");
        }
        files += 1;
    }
    assert!(files >= seeds().len());
}

#[test]
fn park_checked_in_seeds_match_the_builders() {
    for (name, bytes) in seeds() {
        let path = corpus_dir().join(format!("{name}.bin"));
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(on_disk == bytes, "{name}: rerun with --ignored to regenerate");
    }
}

#[test]
#[ignore = "writes the seed files"]
fn write_park_seed_corpus() {
    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (name, bytes) in seeds() {
        std::fs::write(corpus_dir().join(format!("{name}.bin")), bytes).unwrap();
    }
}
