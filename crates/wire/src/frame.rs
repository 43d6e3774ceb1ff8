//! Frame header: the first 16 bytes of every frame.
//!
//! ```text
//! offset size field
//!  0     4    body_bytes  u32 LE, bytes that follow the header
//!  4     1    version     u8, WIRE_VERSION
//!  5     1    kind        u8, FrameKind
//!  6     2    flags       u16 LE, bit 0 = response
//!  8     8    request_id  u64 LE, chosen by the requester, echoed in the response
//! ```

use holdfast_types::limits::FRAME_HEADER_BYTES;

pub const WIRE_VERSION: u8 = 2;
pub const FLAG_RESPONSE: u16 = 1;

/// Message type of a frame. Numbers are part of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    // Handshake, the first frames inside TLS. 0x02 and 0x03 were the
    // HMAC challenge of wire version 1.
    Hello = 0x01,
    Welcome = 0x04,
    // Requests.
    Ping = 0x10,
    ComponentWrite = 0x20,
    ComponentRead = 0x21,
    Fence = 0x22,
    RepairWrite = 0x23,
    RecentWrites = 0x24,
    ResyncPrepare = 0x25,
    ResyncStart = 0x26,
    ResyncChunk = 0x27,
    ResyncFinish = 0x28,
    EpochCheck = 0x29,
    ComponentSync = 0x2A,
    Write = 0x30,
    Read = 0x31,
    Flush = 0x32,
    Control = 0x40,
    Raft = 0x50,
    LeaseRenew = 0x60,
    LeaseBarrier = 0x61,
    // Responses.
    Ok = 0x80,
    Data = 0x81,
    Error = 0x82,
    Json = 0x83,
}

impl FrameKind {
    pub fn from_u8(v: u8) -> Option<FrameKind> {
        use FrameKind::*;
        Some(match v {
            0x01 => Hello,
            0x04 => Welcome,
            0x10 => Ping,
            0x20 => ComponentWrite,
            0x21 => ComponentRead,
            0x22 => Fence,
            0x23 => RepairWrite,
            0x24 => RecentWrites,
            0x25 => ResyncPrepare,
            0x26 => ResyncStart,
            0x27 => ResyncChunk,
            0x28 => ResyncFinish,
            0x29 => EpochCheck,
            0x2A => ComponentSync,
            0x30 => Write,
            0x31 => Read,
            0x32 => Flush,
            0x40 => Control,
            0x50 => Raft,
            0x60 => LeaseRenew,
            0x61 => LeaseBarrier,
            0x80 => Ok,
            0x81 => Data,
            0x82 => Error,
            0x83 => Json,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub body_bytes: u32,
    pub version: u8,
    /// Raw kind byte; decoding it is the dispatcher's job, so that an unknown
    /// kind can be answered with a clear error instead of a dropped frame.
    pub kind: u8,
    pub flags: u16,
    pub request_id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("frame body of {body_bytes} bytes exceeds the {max} byte limit")]
    Oversized { body_bytes: u32, max: usize },
    #[error("wire version {0} is not spoken here (this node speaks {WIRE_VERSION})")]
    BadVersion(u8),
}

impl FrameHeader {
    pub fn new(kind: FrameKind, flags: u16, request_id: u64, body_bytes: usize) -> FrameHeader {
        assert!(body_bytes <= u32::MAX as usize);
        FrameHeader { body_bytes: body_bytes as u32, version: WIRE_VERSION, kind: kind as u8, flags, request_id }
    }

    pub fn encode(&self) -> [u8; FRAME_HEADER_BYTES] {
        let mut b = [0u8; FRAME_HEADER_BYTES];
        b[0..4].copy_from_slice(&self.body_bytes.to_le_bytes());
        b[4] = self.version;
        b[5] = self.kind;
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.request_id.to_le_bytes());
        b
    }

    /// Decodes and checks the header. The size check comes before anything
    /// allocates a body buffer.
    pub fn decode(b: &[u8; FRAME_HEADER_BYTES], body_bytes_max: usize) -> Result<FrameHeader, HeaderError> {
        let h = FrameHeader {
            body_bytes: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            version: b[4],
            kind: b[5],
            flags: u16::from_le_bytes([b[6], b[7]]),
            request_id: u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
        };
        if h.version != WIRE_VERSION {
            return Err(HeaderError::BadVersion(h.version));
        }
        if h.body_bytes as usize > body_bytes_max {
            return Err(HeaderError::Oversized { body_bytes: h.body_bytes, max: body_bytes_max });
        }
        Ok(h)
    }

    pub fn is_response(&self) -> bool {
        self.flags & FLAG_RESPONSE != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = FrameHeader::new(FrameKind::Write, FLAG_RESPONSE, 0xdead_beef_0102, 4096);
        let d = FrameHeader::decode(&h.encode(), 1 << 20).unwrap();
        assert_eq!(h, d);
        assert!(d.is_response());
    }

    #[test]
    fn header_rejects_oversize_and_version() {
        let h = FrameHeader::new(FrameKind::Write, 0, 1, 5000);
        assert!(matches!(FrameHeader::decode(&h.encode(), 4096), Err(HeaderError::Oversized { .. })));
        let mut b = h.encode();
        b[4] = 9;
        assert_eq!(FrameHeader::decode(&b, 1 << 20), Err(HeaderError::BadVersion(9)));
    }
}
