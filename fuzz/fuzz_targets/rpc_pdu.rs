//! Arbitrary bytes as what a client writes to the srvsvc named pipe:
//! DCE/RPC PDU framing, BIND / ALTER_CONTEXT and REQUEST decoding, the
//! srvsvc request stubs, and the client-side decoders. Any panic is a
//! bug: every input must end in `Ok` or an `RpcError`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = holdfast_smb_proto::fuzzing::rpc_pdu(data);
});
