//! Arbitrary bytes as a parked handle-table image: parse must answer Ok or
//! an error, also with the trailing crc32 fixed up, and an image that
//! parses restores, checks, mounts and parks again to the same bytes. The
//! entry point is in the library so the seeds in corpus/park_image/ are
//! replayed on stable by `cargo test -p holdfast-objfs --test park_corpus`.
#![no_main]

use holdfast_objfs::handles::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::park_image(data);
});
