//! Little-endian encoding helpers shared by the superblock, journal and
//! checkpoint codecs. Decoding never panics: every read checks the bytes
//! left first and reports where it stopped.

use crate::names::{self, NAME_UTF16_MAX};

/// Longest stored name in bytes of UTF-8 (255 UTF-16 units, each at most
/// three UTF-8 bytes), plus one for a stream's `:` mark.
pub const NAME_BYTES_MAX: usize = NAME_UTF16_MAX * 3 + 1;

#[derive(Default)]
pub struct Enc {
    pub buf: Vec<u8>,
}

impl Enc {
    pub fn with_capacity(n: usize) -> Enc {
        Enc { buf: Vec::with_capacity(n) }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// u16 length, then the UTF-8 bytes. Names are validated before they
    /// reach an encoder, so the length always fits.
    pub fn name(&mut self, s: &str) {
        assert!(s.len() <= NAME_BYTES_MAX, "name of {} bytes reached the encoder", s.len());
        self.u16(s.len() as u16);
        self.bytes(s.as_bytes());
    }
}

pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Byte offset of `buf[0]` in the structure being decoded, for messages.
    base: u64,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8], base: u64) -> Dec<'a> {
        Dec { buf, pos: 0, base }
    }
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.remaining() < n {
            return Err(format!("truncated at byte {}: need {n} bytes, {} left", self.offset(), self.remaining()));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// A stored name: u16 length, UTF-8, and a valid directory entry name
    /// or stream name (`:stream`).
    pub fn name(&mut self) -> Result<String, String> {
        let at = self.offset();
        let len = self.u16()? as usize;
        if len > NAME_BYTES_MAX {
            return Err(format!("name at byte {at} is {len} bytes long (most is {NAME_BYTES_MAX})"));
        }
        let raw = self.take(len)?;
        let s = std::str::from_utf8(raw).map_err(|e| format!("name at byte {at} is not UTF-8: {e}"))?;
        names::validate_stored_name(s).map_err(|e| format!("name at byte {at}: {e}"))?;
        Ok(s.to_string())
    }
    pub fn finish(&self, what: &str) -> Result<(), String> {
        if self.remaining() != 0 {
            return Err(format!("{what}: {} unexpected bytes after byte {}", self.remaining(), self.offset()));
        }
        Ok(())
    }
}

/// Reads a little-endian u32 at `at`, or None past the end.
pub fn le_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut e = Enc::default();
        e.u8(7);
        e.u16(0x1234);
        e.u32(0xdead_beef);
        e.u64(u64::MAX - 1);
        e.name("Hello.txt");
        let mut d = Dec::new(&e.buf, 100);
        assert_eq!(d.u8().unwrap(), 7);
        assert_eq!(d.u16().unwrap(), 0x1234);
        assert_eq!(d.u32().unwrap(), 0xdead_beef);
        assert_eq!(d.u64().unwrap(), u64::MAX - 1);
        assert_eq!(d.name().unwrap(), "Hello.txt");
        d.finish("test").unwrap();
        let err = d.u8().unwrap_err();
        assert!(err.contains("byte 126"), "{err}");
        let mut d = Dec::new(&[3, 0, b'a', b'/'], 0);
        assert!(d.name().is_err());
        let mut d = Dec::new(&[2, 0, 0xff, 0xfe], 0);
        assert!(d.name().unwrap_err().contains("UTF-8"));
        assert_eq!(le_u32(&[1, 0, 0], 0), None);
        assert_eq!(round_up(513, 512), 1024);
    }
}
