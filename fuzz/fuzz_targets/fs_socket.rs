//! Arbitrary bytes as a file-server socket frame body: the first two bytes
//! choose the op. Requests and replies must decode to a value or an error.
#![no_main]

use holdfast_file_server::proto::{Reply, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let op = u16::from_le_bytes([data[0], data[1]]);
    if let Ok(req) = Request::decode(op, &data[2..]) {
        // What decodes re-encodes to the same request.
        let again = Request::decode(req.op() as u16, &req.encode_body()).expect("re-encoded request decodes");
        assert_eq!(again, req);
    }
    let _ = Reply::decode(&data[2..]);
});
