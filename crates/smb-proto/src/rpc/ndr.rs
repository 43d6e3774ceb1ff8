//! The subset of NDR 2.0 ([C706] chapter 14, little-endian, 32-bit) the
//! srvsvc stubs use. Every primitive is aligned to its size from the start
//! of the stub; pointers are unique pointers (a referent id, 0 for NULL,
//! the pointee deferred); strings are conformant varying arrays of UTF-16
//! units with their terminator.

use bytes::{BufMut, BytesMut};

use super::{Result, RpcError};
use crate::limits::RPC_STRING_UNITS_MAX;

/// Reads a stub from the start; every read is bounds-checked.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(RpcError::Truncated { what, offset: self.pos, need: n, have: self.buf.len().saturating_sub(self.pos) });
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Skips the padding to a multiple of `n` (1, 2, 4 or 8); padding
    /// beyond the end is an error like any other truncation.
    pub fn align(&mut self, what: &'static str, n: usize) -> Result<()> {
        let pad = (n - self.pos % n) % n;
        self.take(what, pad).map(|_| ())
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(what, 1)?[0])
    }

    /// `n` raw bytes (no alignment).
    pub fn bytes(&mut self, what: &'static str, n: usize) -> Result<&'a [u8]> {
        self.take(what, n)
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        self.align(what, 2)?;
        let b = self.take(what, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        self.align(what, 4)?;
        let b = self.take(what, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A unique pointer's referent id: `true` when not NULL.
    pub fn pointer(&mut self, what: &'static str) -> Result<bool> {
        Ok(self.u32(what)? != 0)
    }

    /// A conformant varying string of UTF-16 units: MaximumCount, Offset
    /// (must be 0), ActualCount (at most MaximumCount and
    /// `RPC_STRING_UNITS_MAX`), the units; a trailing terminator is dropped.
    pub fn string(&mut self, what: &'static str) -> Result<String> {
        let max = self.u32(what)?;
        let offset = self.u32(what)?;
        let actual = self.u32(what)?;
        if offset != 0 {
            return Err(RpcError::InvalidValue { field: what, value: offset.into() });
        }
        if actual > max {
            return Err(RpcError::InvalidValue { field: what, value: actual.into() });
        }
        if actual > RPC_STRING_UNITS_MAX {
            return Err(RpcError::TooMany { field: what, count: actual.into(), max: RPC_STRING_UNITS_MAX.into() });
        }
        let bytes = self.take(what, actual as usize * 2)?;
        let mut units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        if units.last() == Some(&0) {
            units.pop();
        }
        String::from_utf16(&units).map_err(|_| RpcError::InvalidUtf16 { field: what })
    }
}

/// Writes a stub. Unique pointers get referent ids 0x00020000, 0x00020004,
/// … in the order written, as Windows and Samba number them (any non-zero
/// value is valid).
pub struct Writer {
    pub out: BytesMut,
    next_referent: u32,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    pub fn new() -> Writer {
        Writer { out: BytesMut::new(), next_referent: 0x0002_0000 }
    }

    pub fn align(&mut self, n: usize) {
        let pad = (n - self.out.len() % n) % n;
        self.out.put_bytes(0, pad);
    }

    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.out.put_u32_le(v);
    }

    /// A unique pointer: a fresh referent id when `present`, else NULL.
    pub fn pointer(&mut self, present: bool) {
        let id = if present {
            let id = self.next_referent;
            self.next_referent = self.next_referent.wrapping_add(4).max(4);
            id
        } else {
            0
        };
        self.u32(id);
    }

    /// A conformant varying string with its terminator. Counts saturate
    /// rather than wrap; callers bound what they encode.
    pub fn string(&mut self, s: &str) {
        let units: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
        let n = u32::try_from(units.len()).unwrap_or(u32::MAX);
        self.u32(n);
        self.u32(0);
        self.u32(n);
        for u in units {
            self.out.put_u16_le(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_round_trip_and_alignment() {
        let mut w = Writer::new();
        w.string("ab");
        w.u32(7);
        // 12 bytes of counts, 6 of units ("ab" + NUL), 2 of padding.
        assert_eq!(w.out.len(), 12 + 6 + 2 + 4);
        assert_eq!(&w.out[..12], &[3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]);
        let mut r = Reader::new(&w.out);
        assert_eq!(r.string("s").unwrap(), "ab");
        assert_eq!(r.u32("n").unwrap(), 7);
    }

    #[test]
    fn bad_strings_are_errors() {
        // Offset not 0; actual above max; huge counts; truncated units.
        for counts in [[3u32, 1, 2], [1, 0, 2], [u32::MAX, 0, u32::MAX], [4, 0, 4]] {
            let mut b = Vec::new();
            for c in counts {
                b.extend_from_slice(&c.to_le_bytes());
            }
            b.extend_from_slice(&[b'a', 0]);
            assert!(Reader::new(&b).string("s").is_err(), "{counts:?}");
        }
        // An unpaired surrogate.
        let mut b = Vec::new();
        for c in [1u32, 0, 1] {
            b.extend_from_slice(&c.to_le_bytes());
        }
        b.extend_from_slice(&0xD800u16.to_le_bytes());
        assert_eq!(Reader::new(&b).string("s"), Err(RpcError::InvalidUtf16 { field: "s" }));
    }

    #[test]
    fn truncated_reads_are_errors() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.u32("x").is_err());
        let mut r = Reader::new(&[1, 0, 0, 0, 9]);
        assert_eq!(r.u32("x").unwrap(), 1);
        assert!(r.u16("y").is_err());
    }

    #[test]
    fn referent_ids_are_distinct_and_non_zero() {
        let mut w = Writer::new();
        w.pointer(true);
        w.pointer(false);
        w.pointer(true);
        let mut r = Reader::new(&w.out);
        let ids: Vec<u32> = (0..3).map(|_| r.u32("p").unwrap()).collect();
        assert_eq!(ids, vec![0x0002_0000, 0, 0x0002_0004]);
    }
}
