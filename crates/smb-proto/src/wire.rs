//! Byte-level helpers shared by every message: a bounds-checked reader,
//! the (offset, length) resolver that every variable buffer goes through,
//! and padding. Nothing here indexes a slice without checking first, so no
//! input can make the codec panic.

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::header::HEADER_BYTES;
use crate::utf16::decode_utf16le;

/// A cursor over a byte slice whose every read is bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// `what` names the structure in truncation errors.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.buf.get(self.pos..end)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(ProtoError::Truncated {
                what: self.what,
                offset: self.pos,
                need: n,
                have: self.buf.len().saturating_sub(self.pos),
            }),
        }
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

/// Checks the StructureSize at the start of a body, and that the body holds
/// at least the fixed part (`expected` rounded down to even: an odd
/// StructureSize counts the first byte of a variable buffer that may be
/// absent when the buffer is empty).
pub(crate) fn check_structure_size(body: &[u8], expected: u16, what: &'static str) -> Result<()> {
    let got = match body.get(0..2) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]),
        None => return Err(ProtoError::Truncated { what, offset: 0, need: 2, have: body.len() }),
    };
    if got != expected {
        return Err(ProtoError::StructureSize { what, got, expected });
    }
    let fixed = usize::from(expected & !1);
    if body.len() < fixed {
        return Err(ProtoError::Truncated { what, offset: 0, need: fixed, have: body.len() });
    }
    Ok(())
}

/// The bytes an (offset, length) pair points at. SMB2 offsets count from
/// the first byte of the 64-byte header, so they resolve against the whole
/// PDU. A zero length is an empty buffer whatever the offset (clients send
/// offset 0 for absent buffers). Otherwise the range must start at or after
/// `fixed_end` (header plus the body's fixed part: a buffer must never
/// alias the fields that describe it) and end inside the PDU. The
/// arithmetic is done in u64 so no offset + length can wrap.
pub(crate) fn pdu_range<'a>(
    pdu: &'a [u8],
    offset: u64,
    length: u64,
    fixed_end: usize,
    field: &'static str,
) -> Result<&'a [u8]> {
    if length == 0 {
        return Ok(&[]);
    }
    let end = offset.saturating_add(length);
    let out = ProtoError::OutOfBounds { field, offset, length, start: fixed_end, end: pdu.len() };
    if offset < fixed_end as u64 || end > pdu.len() as u64 {
        return Err(out);
    }
    // Both bounds are <= pdu.len() here, so they fit in usize.
    pdu.get(offset as usize..end as usize).ok_or(out)
}

/// `fixed_end` for a body whose fixed part is `fixed_body_bytes` long.
pub(crate) const fn fixed_end(fixed_body_bytes: usize) -> usize {
    HEADER_BYTES + fixed_body_bytes
}

/// Rejects `count > max` with a message naming the field.
pub(crate) fn check_max(field: &'static str, count: u64, max: u64) -> Result<()> {
    if count > max {
        return Err(ProtoError::TooMany { field, count, max });
    }
    Ok(())
}

/// Decodes a file or path name: invalid UTF-16 is
/// STATUS_OBJECT_NAME_INVALID.
pub(crate) fn decode_name(bytes: &[u8], field: &'static str) -> Result<String> {
    check_max(field, bytes.len() as u64, crate::limits::NAME_BYTES_MAX as u64)?;
    decode_utf16le(bytes).map_err(|reason| ProtoError::InvalidName { field, reason })
}

/// Decodes any other UTF-16 string: invalid is STATUS_INVALID_PARAMETER.
pub(crate) fn decode_text(bytes: &[u8], field: &'static str) -> Result<String> {
    decode_utf16le(bytes).map_err(|reason| ProtoError::InvalidUtf16 { field, reason })
}

/// Rounds up to a multiple of 8, or None on overflow.
pub(crate) fn align8(n: usize) -> Option<usize> {
    n.checked_add(7).map(|v| v & !7)
}

/// Pads `out` with zeros until `out.len() - start` is a multiple of 8.
pub(crate) fn pad8(out: &mut BytesMut, start: usize) {
    let rel = out.len().saturating_sub(start);
    let pad = (8 - rel % 8) % 8;
    out.put_bytes(0, pad);
}

/// The offset (from the header) that the next byte written to `out` will
/// have, for a body whose first byte is at `body_start` in `out`.
pub(crate) fn wire_offset(out: &BytesMut, body_start: usize) -> usize {
    HEADER_BYTES + out.len().saturating_sub(body_start)
}

/// A 16-byte GUID exactly as it appears on the wire.
pub type Guid = [u8; 16];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdu_range_checks_both_ends_and_the_fixed_part() {
        let pdu = [0u8; 100];
        assert_eq!(pdu_range(&pdu, 0, 0, 80, "f").unwrap().len(), 0);
        assert_eq!(pdu_range(&pdu, 80, 20, 80, "f").unwrap().len(), 20);
        assert!(pdu_range(&pdu, 79, 1, 80, "f").is_err());
        assert!(pdu_range(&pdu, 81, 20, 80, "f").is_err());
        assert!(pdu_range(&pdu, u64::MAX, 2, 80, "f").is_err());
        assert!(pdu_range(&pdu, 90, u64::MAX, 80, "f").is_err());
    }

    #[test]
    fn structure_size_allows_an_absent_odd_byte() {
        let mut body = vec![0u8; 24];
        body[0] = 25;
        assert!(check_structure_size(&body, 25, "x").is_ok());
        assert!(check_structure_size(&body[..23], 25, "x").is_err());
        assert!(check_structure_size(&body, 24, "x").is_err());
        assert!(check_structure_size(&[], 24, "x").is_err());
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3], "t");
        assert_eq!(r.u16().unwrap(), 0x0201);
        assert!(r.u16().is_err());
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.take(usize::MAX).is_err());
    }
}
