//! Arbitrary bytes as a handle record: decode must answer Ok or an error,
//! and a record that decodes re-encodes to the same bytes.
#![no_main]

use holdfast_objfs::handles::HandleRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = HandleRecord::decode(data) {
        let bytes = rec.encode().expect("a decoded record encodes");
        assert_eq!(HandleRecord::decode(&bytes).expect("re-encoded record decodes"), rec);
    }
});
