//! Little-endian field encoding for the file-server socket protocol. The
//! decoder checks every length before it reads and bounds every string and
//! byte field, so a malformed frame is an error, never a panic.

use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: String,
}

#[derive(Default)]
pub struct Enc(pub BytesMut);

impl Enc {
    pub fn with_capacity(n: usize) -> Enc {
        Enc(BytesMut::with_capacity(n))
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.put_u8(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.put_u16_le(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.put_u32_le(v);
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.put_u64_le(v);
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(v as u8)
    }
    pub fn guid(&mut self, g: &[u8; 16]) -> &mut Self {
        self.0.put_slice(g);
        self
    }
    /// `len u16 | UTF-8`; callers keep strings under their protocol bound.
    pub fn str(&mut self, s: &str) -> &mut Self {
        assert!(s.len() <= u16::MAX as usize, "string fields are bounded by the protocol");
        self.u16(s.len() as u16);
        self.0.put_slice(s.as_bytes());
        self
    }
    /// `len u32 | bytes`.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32);
        self.0.put_slice(b);
        self
    }
    pub fn finish(self) -> Bytes {
        self.0.freeze()
    }
}

pub struct Dec<'a> {
    b: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Dec<'a> {
    pub fn new(b: &'a [u8], what: &'static str) -> Dec<'a> {
        Dec { b, at: 0, what }
    }
    fn err(&self, reason: String) -> DecodeError {
        DecodeError { what: self.what, reason }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() - self.at < n {
            return Err(self.err(format!("truncated at byte {}: needs {n} more, has {}", self.at, self.b.len() - self.at)));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("length taken")))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("length taken")))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("length taken")))
    }
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.err(format!("boolean field holds {v}"))),
        }
    }
    pub fn guid(&mut self) -> Result<[u8; 16], DecodeError> {
        Ok(self.take(16)?.try_into().expect("length taken"))
    }
    pub fn str(&mut self, max: usize) -> Result<String, DecodeError> {
        let n = self.u16()? as usize;
        if n > max {
            return Err(self.err(format!("string of {n} bytes is over its {max}-byte bound")));
        }
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| self.err("string is not UTF-8".into()))
    }
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(self.err(format!("field of {n} bytes is over its {max}-byte bound")));
        }
        self.take(n)
    }
    /// Every byte must have been consumed: trailing bytes mean the two sides
    /// disagree about the layout.
    pub fn end(&self) -> Result<(), DecodeError> {
        if self.at != self.b.len() {
            return Err(self.err(format!("{} trailing bytes", self.b.len() - self.at)));
        }
        Ok(())
    }
}
