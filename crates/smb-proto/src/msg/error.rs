//! The ERROR response ([MS-SMB2] 2.2.2), sent with any command whose
//! Status is an error (and STATUS_BUFFER_OVERFLOW cases that carry no
//! data).
//!
//! ```text
//! (9): StructureSize u16, ErrorContextCount u8, Reserved u8, ByteCount u32,
//!      ErrorData (ByteCount bytes; one zero byte when ByteCount is 0)
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::msg::{clip32, impl_encode_body, len32};
use crate::wire::{check_structure_size, Reader};

const WHAT: &str = "ERROR response";

/// `data` is the raw ErrorData (3.1.1 error contexts, or the 4-byte
/// required size of STATUS_BUFFER_TOO_SMALL, or a symlink error); empty in
/// the common case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorResponse<'a> {
    pub error_context_count: u8,
    pub data: &'a [u8],
}

impl<'a> ErrorResponse<'a> {
    pub const STRUCTURE_SIZE: u16 = 9;

    /// The plain error body: no contexts, no data.
    pub const EMPTY: ErrorResponse<'static> = ErrorResponse { error_context_count: 0, data: &[] };

    pub fn encode(&self, out: &mut BytesMut) {
        let data = clip32(self.data);
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.error_context_count);
        out.put_u8(0);
        out.put_u32_le(len32(data.len()));
        if data.is_empty() {
            // ErrorData is at least one byte even when ByteCount is 0.
            out.put_u8(0);
        } else {
            out.put_slice(data);
        }
    }

    pub fn decode(body: &'a [u8], _pdu: &[u8]) -> Result<ErrorResponse<'a>> {
        check_structure_size(body, Self::STRUCTURE_SIZE, WHAT)?;
        let mut r = Reader::new(body, WHAT);
        r.skip(2)?;
        let error_context_count = r.u8()?;
        r.skip(1)?;
        let count = r.u32()?;
        let data = r.take(count as usize).map_err(|_| ProtoError::OutOfBounds {
            field: "ERROR ByteCount",
            offset: 8,
            length: count.into(),
            start: 8,
            end: body.len(),
        })?;
        Ok(ErrorResponse { error_context_count, data })
    }
}

impl_encode_body!(ErrorResponse<'_>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::testutil::encode_with;

    #[test]
    fn empty_error_has_one_data_byte() {
        let p = encode_with(Command::Create, |o| ErrorResponse::EMPTY.encode(o));
        assert_eq!(&p[64..], &[9, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ErrorResponse::decode(&p[64..], &p).unwrap(), ErrorResponse::EMPTY);
    }

    #[test]
    fn data_round_trips_and_is_bounded() {
        let e = ErrorResponse { error_context_count: 0, data: &[0x10, 0, 0, 0] };
        let p = encode_with(Command::QueryInfo, |o| e.encode(o));
        assert_eq!(ErrorResponse::decode(&p[64..], &p).unwrap(), e);
        let mut z = p.clone();
        z[68] = 5;
        assert!(ErrorResponse::decode(&z[64..], &z).is_err());
    }
}
