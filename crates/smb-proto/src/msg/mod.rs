//! One module per SMB2 command. Each request type has
//! `decode(body, pdu)` (body = the bytes after the 64-byte header; pdu =
//! the whole PDU, because SMB2 offsets count from the header) and each
//! response type `encode(&self, out)`. The commands a test client needs
//! also have the reverse directions.
//!
//! Encoders write the body only, and compute every offset as if the
//! 64-byte header sits right before the body's first byte, so a body can be
//! encoded after its header anywhere in a buffer (after a frame header, or
//! inside a compound). [`encode_pdu`] writes both.

use std::ops::Range;

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::header::Header;
use crate::wire::Reader;

pub mod cancel;
pub mod change_notify;
pub mod close;
pub mod copychunk;
pub mod create;
pub mod create_ctx;
pub mod echo;
pub mod error;
pub mod flush;
pub mod fsctl;
pub mod ioctl;
pub mod lock;
pub mod logoff;
pub mod negotiate;
pub mod negotiate_ctx;
pub mod oplock_break;
pub mod query_directory;
pub mod query_info;
pub mod read;
pub mod session_setup;
pub mod set_info;
pub mod tree_connect;
pub mod tree_disconnect;
pub mod write;

/// SMB2_FILEID ([MS-SMB2] 2.2.14.1): a persistent and a volatile half.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    pub persistent: u64,
    pub volatile: u64,
}

impl FileId {
    /// All ones: "the FileId of the previous operation" in a related
    /// compound ([MS-SMB2] 3.3.5.2.7.2).
    pub const ANY: FileId = FileId { persistent: u64::MAX, volatile: u64::MAX };
    pub const BYTES: usize = 16;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<FileId> {
        Ok(FileId { persistent: r.u64()?, volatile: r.u64()? })
    }

    pub(crate) fn put(&self, out: &mut BytesMut) {
        out.put_u64_le(self.persistent);
        out.put_u64_le(self.volatile);
    }

    pub fn is_any(&self) -> bool {
        *self == FileId::ANY
    }
}

/// A message body that can be encoded after a header.
pub trait EncodeBody {
    fn encode_body(&self, out: &mut BytesMut);
}

macro_rules! impl_encode_body {
    ($($t:ty),* $(,)?) => {
        $(impl crate::msg::EncodeBody for $t {
            fn encode_body(&self, out: &mut bytes::BytesMut) {
                self.encode(out)
            }
        })*
    };
}
pub(crate) use impl_encode_body;

/// Appends one PDU (header then body) to `out` and returns its range.
pub fn encode_pdu<B: EncodeBody + ?Sized>(header: &Header, body: &B, out: &mut BytesMut) -> Range<usize> {
    let start = out.len();
    header.encode(out);
    body.encode_body(out);
    start..out.len()
}

/// Bodies whose StructureSize is odd count one byte of variable buffer;
/// when the buffer is empty, send that byte anyway (as Windows and Samba
/// do) so peers that check `len >= StructureSize` accept it.
pub(crate) fn put_odd_pad(out: &mut BytesMut, body_start: usize, structure_size: u16) {
    if out.len().saturating_sub(body_start) < usize::from(structure_size) {
        out.put_u8(0);
    }
}

/// Saturating conversions for length fields of bodies the server builds:
/// callers bound their buffers first (see `limits.rs`), so saturation only
/// guards against a bug turning into a wrapped length.
pub(crate) fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

pub(crate) fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The prefix of `b` that a saturated length field describes.
pub(crate) fn clip16(b: &[u8]) -> &[u8] {
    &b[..b.len().min(usize::from(u16::MAX))]
}

pub(crate) fn clip32(b: &[u8]) -> &[u8] {
    &b[..b.len().min(u32::MAX as usize)]
}

/// Decoders and encoders for 4-byte bodies that carry only StructureSize
/// and Reserved (LOGOFF, TREE_DISCONNECT, ECHO, CANCEL, FLUSH response,
/// LOCK response).
macro_rules! reserved_only_body {
    ($(#[$m:meta])* $name:ident, $what:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl $name {
            pub const STRUCTURE_SIZE: u16 = 4;

            pub fn decode(body: &[u8], _pdu: &[u8]) -> crate::error::Result<$name> {
                crate::wire::check_structure_size(body, Self::STRUCTURE_SIZE, $what)?;
                Ok($name)
            }

            pub fn encode(&self, out: &mut bytes::BytesMut) {
                use bytes::BufMut;
                out.put_u16_le(Self::STRUCTURE_SIZE);
                out.put_u16_le(0);
            }
        }

        crate::msg::impl_encode_body!($name);
    };
}
pub(crate) use reserved_only_body;

#[cfg(test)]
pub(crate) mod testutil {
    //! Builds PDUs for the unit tests: a request header plus a body.
    use bytes::BytesMut;

    use crate::header::{Command, Header};

    pub fn pdu(command: Command, body: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        Header::request(command, 1, 0, 0).encode(&mut out);
        out.extend_from_slice(body);
        out.to_vec()
    }

    /// Encodes a body with `f` after a header and returns the PDU.
    pub fn encode_with(command: Command, f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        Header::request(command, 1, 0, 0).encode(&mut out);
        f(&mut out);
        out.to_vec()
    }

    /// What `f` encodes, alone: an information class or a payload, no header.
    pub fn encoded(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        f(&mut out);
        out.to_vec()
    }

    pub fn le16(v: u16) -> [u8; 2] {
        v.to_le_bytes()
    }

    pub fn le32(v: u32) -> [u8; 4] {
        v.to_le_bytes()
    }

    pub fn le64(v: u64) -> [u8; 8] {
        v.to_le_bytes()
    }
}
