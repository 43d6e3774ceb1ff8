//! DCE/RPC over a named pipe (connection-oriented, [C706] chapter 12 and
//! [MS-RPCE] 2.2.2) and the srvsvc calls that list shares ([MS-SRVS]),
//! with no I/O and no state: PDUs in, typed values out, and back.
//!
//! - [`pdu`]: the 16-byte common header, BIND / ALTER_CONTEXT, REQUEST,
//!   and the BIND_ACK, BIND_NAK, RESPONSE and FAULT answers;
//! - [`ndr`]: the little NDR (transfer syntax 2.0, 32-bit) reader and
//!   writer the srvsvc stubs need: alignment, unique pointers, conformant
//!   varying UTF-16 strings;
//! - [`srvsvc`]: NetrShareEnum (opnum 15) and NetrShareGetInfo (opnum 16),
//!   levels 0 and 1.
//!
//! The state of one pipe (bound contexts, fragments being reassembled,
//! answers waiting to be read) is the SMB service's (`smb-server`'s
//! `pipe.rs`). As everywhere in this crate, no input can panic: every
//! length and count is checked against the bytes there and against
//! [`crate::limits`] (`RPC_*`), and every bad input is an [`RpcError`].

pub mod ndr;
pub mod pdu;
pub mod srvsvc;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RpcError {
    /// The bytes end before a field.
    #[error("{what}: truncated: need {need} bytes at offset {offset}, have {have}")]
    Truncated { what: &'static str, offset: usize, need: usize, have: usize },
    /// A field holds a value this codec does not accept.
    #[error("{field}: invalid value {value:#x}")]
    InvalidValue { field: &'static str, value: u64 },
    /// A length or count exceeds its bound (`limits::RPC_*`).
    #[error("{field}: {count} exceeds the limit {max}")]
    TooMany { field: &'static str, count: u64, max: u64 },
    /// A string is not valid UTF-16LE.
    #[error("{field}: invalid UTF-16")]
    InvalidUtf16 { field: &'static str },
}

pub type Result<T> = std::result::Result<T, RpcError>;

/// A syntax identifier: interface or transfer-syntax UUID (in its wire
/// byte order) and version (major in the low 16 bits, minor in the high).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxId {
    pub uuid: [u8; 16],
    pub version: u32,
}

/// Turns the canonical text form of a UUID into its NDR wire bytes (the
/// first three fields little-endian), at compile time.
pub const fn uuid(text: &str) -> [u8; 16] {
    let t = text.as_bytes();
    let mut raw = [0u8; 16];
    let (mut i, mut n) = (0, 0);
    while i < t.len() {
        if t[i] != b'-' {
            let hi = hex(t[i]);
            let lo = hex(t[i + 1]);
            raw[n] = hi << 4 | lo;
            n += 1;
            i += 1;
        }
        i += 1;
    }
    [
        raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6], raw[8], raw[9], raw[10], raw[11], raw[12], raw[13],
        raw[14], raw[15],
    ]
}

const fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit"),
    }
}

/// The srvsvc interface, version 3.0 ([MS-SRVS] 1.9).
pub const SRVSVC: SyntaxId = SyntaxId { uuid: uuid("4b324fc8-1670-01d3-1278-5a47bf6ee188"), version: 3 };
/// NDR 2.0, the only transfer syntax served ([C706] 14).
pub const NDR20: SyntaxId = SyntaxId { uuid: uuid("8a885d04-1ceb-11c9-9fe8-08002b104860"), version: 2 };
/// NDR64 ([MS-RPCE] 2.2.5): offered by Windows clients, rejected here.
pub const NDR64: SyntaxId = SyntaxId { uuid: uuid("71710533-beba-4937-8319-b5dbef9ccc36"), version: 1 };

/// Fault statuses ([C706] appendix E, [MS-RPCE] 3.1.1.5.5).
pub mod fault {
    /// The opnum is not one the interface serves.
    pub const OP_RNG_ERROR: u32 = 0x1C01_0002;
    /// The presentation context of the request was never accepted.
    pub const UNKNOWN_IF: u32 = 0x1C01_0003;
    /// A PDU out of place or malformed.
    pub const PROTO_ERROR: u32 = 0x1C01_000B;
    /// The stub data of a request could not be decoded
    /// (RPC_X_BAD_STUB_DATA).
    pub const BAD_STUB_DATA: u32 = 0x0000_06F7;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_wire_order() {
        assert_eq!(
            SRVSVC.uuid,
            [0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88]
        );
        assert_eq!(NDR20.uuid[..4], [0x04, 0x5d, 0x88, 0x8a]);
    }
}
