//! Arbitrary bytes as a receive buffer: NetBIOS framing, message
//! classification, compound splitting, `parse_request`, the payload
//! decoders, the re-encoders and every response decoder. Any panic is a
//! bug: the codec must answer every input with `Ok` or a `ProtoError`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = holdfast_smb_proto::fuzzing::smb_pdu(data);
});
