//! Replays the checked-in fuzz corpus (`fuzz/corpus/smb_pdu/`) through
//! the fuzz target's entry point, so CI exercises the seeds without a
//! nightly toolchain. `cargo test -p holdfast-smb-proto --test corpus --
//! --ignored` rewrites the seed files from `tests/common`.

mod common;

use std::path::PathBuf;

use holdfast_smb_proto::fuzzing::smb_pdu;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/smb_pdu")
}

#[test]
fn corpus_seeds_parse_through_the_fuzz_entry_point() {
    let mut files = 0;
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus directory") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = smb_pdu(&bytes);
        // Seeds are valid framed requests; files the fuzzer adds later may
        // not be, and only have to not panic.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if common::seeds().iter().any(|(seed, _)| name == format!("{seed}.bin")) {
            assert_eq!(outcome.frames, 1, "{name}");
            assert!(outcome.requests_ok >= 1 && outcome.requests_err == 0, "{name}: {outcome:?}");
        }
        files += 1;
    }
    assert!(files >= common::seeds().len());
}

#[test]
fn checked_in_seeds_match_the_builders() {
    for (name, bytes) in common::seeds() {
        let path = corpus_dir().join(format!("{name}.bin"));
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(on_disk, bytes, "{name}: rerun with --ignored to regenerate");
    }
}

#[test]
#[ignore = "writes the seed files"]
fn write_seed_corpus() {
    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (name, bytes) in common::seeds() {
        std::fs::write(corpus_dir().join(format!("{name}.bin")), bytes).unwrap();
    }
}
