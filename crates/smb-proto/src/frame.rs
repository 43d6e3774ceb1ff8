//! NetBIOS session-service framing over direct TCP ([MS-SMB2] 2.1), the
//! first look at a message (SMB2, SMB1, encrypted or compressed), and
//! compounding ([MS-SMB2] 3.3.5.2.7): splitting a message into its chained
//! PDUs and composing responses into one.
//!
//! ```text
//! frame:  0x00 | length: 3 bytes big-endian | length bytes of message
//! ```

use std::ops::Range;

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::header::{patch_next_command, HEADER_BYTES, NEXT_COMMAND_RANGE, PROTOCOL_ID};
use crate::limits::{COMPOUND_PDUS_MAX, FRAME_BYTES_MAX};
use crate::smb1::SMB1_PROTOCOL_ID;
use crate::transform::{COMPRESSION_PROTOCOL_ID, TRANSFORM_PROTOCOL_ID};

pub const FRAME_HEADER_BYTES: usize = 4;
/// The only NetBIOS message type direct TCP carries: a session message.
const SESSION_MESSAGE: u8 = 0x00;

/// Reads a frame header: byte 0 must be 0 and the 24-bit length at most
/// [`FRAME_BYTES_MAX`]. Returns the length of the message that follows.
pub fn decode_frame_header(h: [u8; 4]) -> Result<usize> {
    if h[0] != SESSION_MESSAGE {
        return Err(ProtoError::Frame { reason: "not a session message", value: h[0].into() });
    }
    let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
    if len > FRAME_BYTES_MAX {
        return Err(ProtoError::Frame { reason: "length exceeds FRAME_BYTES_MAX", value: len as u64 });
    }
    if len == 0 {
        return Err(ProtoError::Frame { reason: "empty frame", value: 0 });
    }
    Ok(len)
}

pub fn encode_frame_header(len: usize) -> Result<[u8; 4]> {
    if len > FRAME_BYTES_MAX {
        return Err(ProtoError::Frame { reason: "length exceeds FRAME_BYTES_MAX", value: len as u64 });
    }
    Ok([SESSION_MESSAGE, (len >> 16) as u8, (len >> 8) as u8, len as u8])
}

/// Takes one whole frame off the front of a receive buffer. Returns the
/// message and the bytes consumed (header included), or None if the buffer
/// does not hold the whole frame yet.
pub fn take_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>> {
    let h: [u8; 4] = match buf.get(0..FRAME_HEADER_BYTES) {
        Some(h) => [h[0], h[1], h[2], h[3]],
        None => return Ok(None),
    };
    let len = decode_frame_header(h)?;
    let end = FRAME_HEADER_BYTES + len;
    Ok(buf.get(FRAME_HEADER_BYTES..end).map(|m| (m, end)))
}

/// Reserves a frame header at the end of `out`; [`finish_frame`] fills in
/// the length once the message is written after it.
pub fn begin_frame(out: &mut BytesMut) -> usize {
    let start = out.len();
    out.put_bytes(0, FRAME_HEADER_BYTES);
    start
}

pub fn finish_frame(out: &mut BytesMut, start: usize) -> Result<()> {
    let len = out.len().saturating_sub(start + FRAME_HEADER_BYTES);
    let h = encode_frame_header(len)?;
    match out.get_mut(start..start + FRAME_HEADER_BYTES) {
        Some(dst) => {
            dst.copy_from_slice(&h);
            Ok(())
        }
        None => Err(ProtoError::Frame { reason: "frame start beyond buffer", value: start as u64 }),
    }
}

/// What a framed message is, from its first four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// One SMB2 PDU or a compound of them.
    Smb2,
    /// An SMB1 message: only NEGOTIATE is answered (see `smb1`).
    Smb1,
    /// An encrypted message (TRANSFORM_HEADER).
    Transform,
    /// A compressed message: never negotiated, so rejected by the caller.
    Compressed,
}

pub fn classify_message(msg: &[u8]) -> Result<MessageKind> {
    let id: [u8; 4] = match msg.get(0..4) {
        Some(b) => [b[0], b[1], b[2], b[3]],
        None => return Err(ProtoError::Truncated { what: "message", offset: 0, need: 4, have: msg.len() }),
    };
    match id {
        PROTOCOL_ID => Ok(MessageKind::Smb2),
        SMB1_PROTOCOL_ID => Ok(MessageKind::Smb1),
        TRANSFORM_PROTOCOL_ID => Ok(MessageKind::Transform),
        COMPRESSION_PROTOCOL_ID => Ok(MessageKind::Compressed),
        got => Err(ProtoError::ProtocolId { got }),
    }
}

/// One PDU of a compound: its bytes (up to the next PDU, so padding
/// included) and its offset in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompoundPdu<'a> {
    pub offset: usize,
    pub bytes: &'a [u8],
}

/// Splits an SMB2 message into its PDUs by NextCommand. Each NextCommand
/// must be a multiple of 8, at least one header long and within the
/// message; the last PDU (NextCommand 0) runs to the end and is at least
/// one header long too. At most [`COMPOUND_PDUS_MAX`] PDUs.
pub fn split_compound(msg: &[u8]) -> Result<Vec<CompoundPdu<'_>>> {
    let mut pdus = Vec::new();
    let mut offset = 0usize;
    loop {
        if pdus.len() == COMPOUND_PDUS_MAX {
            return Err(ProtoError::TooMany {
                field: "compound PDUs",
                count: COMPOUND_PDUS_MAX as u64 + 1,
                max: COMPOUND_PDUS_MAX as u64,
            });
        }
        let rest = msg.get(offset..).unwrap_or(&[]);
        if rest.len() < HEADER_BYTES {
            return Err(ProtoError::Truncated { what: "compound PDU", offset, need: HEADER_BYTES, have: rest.len() });
        }
        let next = match rest.get(NEXT_COMMAND_RANGE) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
            None => 0,
        };
        if next == 0 {
            pdus.push(CompoundPdu { offset, bytes: rest });
            return Ok(pdus);
        }
        if next % 8 != 0 {
            return Err(ProtoError::Misaligned { field: "NextCommand", offset: next as u64 });
        }
        if next < HEADER_BYTES || next > rest.len() {
            return Err(ProtoError::OutOfBounds {
                field: "NextCommand",
                offset: offset as u64,
                length: next as u64,
                start: offset + HEADER_BYTES,
                end: msg.len(),
            });
        }
        pdus.push(CompoundPdu { offset, bytes: &rest[..next] });
        offset += next;
    }
}

/// Appends `pdus` to `out` as one compound: every PDU but the last is
/// padded with zeros to a multiple of 8 and its NextCommand set to its
/// padded length; the last gets NextCommand 0. Returns each PDU's range in
/// `out` (padding included, as signing covers it).
pub fn compose_compound(pdus: &[&[u8]], out: &mut BytesMut) -> Result<Vec<Range<usize>>> {
    if pdus.is_empty() || pdus.len() > COMPOUND_PDUS_MAX {
        return Err(ProtoError::TooMany {
            field: "compound PDUs",
            count: pdus.len() as u64,
            max: COMPOUND_PDUS_MAX as u64,
        });
    }
    let mut ranges = Vec::with_capacity(pdus.len());
    for (i, pdu) in pdus.iter().enumerate() {
        if pdu.len() < HEADER_BYTES {
            return Err(ProtoError::Truncated { what: "compound PDU", offset: i, need: HEADER_BYTES, have: pdu.len() });
        }
        let start = out.len();
        out.put_slice(pdu);
        let last = i + 1 == pdus.len();
        if !last {
            crate::wire::pad8(out, start);
        }
        let len = out.len() - start;
        let next = if last { 0 } else { len as u32 };
        patch_next_command(&mut out[start..], next)?;
        ranges.push(start..out.len());
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_round_trip_and_limits() {
        let h = encode_frame_header(0x01_02_03).unwrap();
        assert_eq!(h, [0, 1, 2, 3]);
        assert_eq!(decode_frame_header(h).unwrap(), 0x01_02_03);
        assert!(decode_frame_header([0x85, 0, 0, 0]).is_err());
        assert!(decode_frame_header([0, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(decode_frame_header([0, 0, 0, 0]).is_err());
        assert!(encode_frame_header(FRAME_BYTES_MAX + 1).is_err());
    }

    #[test]
    fn take_frame_waits_for_the_whole_frame() {
        let mut b = BytesMut::new();
        let s = begin_frame(&mut b);
        b.put_slice(b"hello");
        finish_frame(&mut b, s).unwrap();
        assert_eq!(&b[..4], &[0, 0, 0, 5]);
        assert_eq!(take_frame(&b[..3]).unwrap(), None);
        assert_eq!(take_frame(&b[..8]).unwrap(), None);
        assert_eq!(take_frame(&b).unwrap(), Some((&b"hello"[..], 9)));
    }

    #[test]
    fn classify() {
        assert_eq!(classify_message(&[0xFE, b'S', b'M', b'B']).unwrap(), MessageKind::Smb2);
        assert_eq!(classify_message(&[0xFF, b'S', b'M', b'B']).unwrap(), MessageKind::Smb1);
        assert_eq!(classify_message(&[0xFD, b'S', b'M', b'B']).unwrap(), MessageKind::Transform);
        assert_eq!(classify_message(&[0xFC, b'S', b'M', b'B']).unwrap(), MessageKind::Compressed);
        assert!(classify_message(&[0, 1, 2, 3]).is_err());
        assert!(classify_message(&[0xFE]).is_err());
    }

    fn fake_pdu(len: usize, tag: u8) -> Vec<u8> {
        let mut p = vec![tag; len];
        p[..4].copy_from_slice(&PROTOCOL_ID);
        p[20..24].copy_from_slice(&[0; 4]);
        p
    }

    #[test]
    fn split_rejects_bad_next_command() {
        let mut m = fake_pdu(72, 1);
        m.extend(fake_pdu(64, 2));
        // Misaligned.
        m[20] = 70;
        assert!(matches!(split_compound(&m), Err(ProtoError::Misaligned { .. })));
        // Smaller than a header.
        m[20] = 56;
        assert!(split_compound(&m).is_err());
        // Beyond the message.
        m[20] = 0;
        m[21] = 1;
        assert!(split_compound(&m).is_err());
        // Last PDU shorter than a header.
        m[20] = 72;
        m[21] = 0;
        assert!(split_compound(&m[..100]).is_err());
        assert_eq!(split_compound(&m).unwrap().len(), 2);
    }

    #[test]
    fn split_bounds_the_pdu_count() {
        let mut m = Vec::new();
        for _ in 0..COMPOUND_PDUS_MAX + 1 {
            let mut p = fake_pdu(64, 0);
            p[20] = 64;
            m.extend(p);
        }
        let last = m.len() - 64;
        m[last + 20] = 0;
        assert!(matches!(split_compound(&m), Err(ProtoError::TooMany { .. })));
        assert_eq!(split_compound(&m[64..]).unwrap().len(), COMPOUND_PDUS_MAX);
    }

    #[test]
    fn compose_pads_all_but_the_last() {
        let a = fake_pdu(65, 1);
        let b = fake_pdu(70, 2);
        let c = fake_pdu(67, 3);
        let mut out = BytesMut::new();
        out.put_slice(&[9, 9, 9, 9]);
        let r = compose_compound(&[&a, &b, &c], &mut out).unwrap();
        assert_eq!(r, vec![4..76, 76..148, 148..215]);
        let split = split_compound(&out[4..]).unwrap();
        assert_eq!(split.len(), 3);
        assert_eq!(split[1].offset, 72);
        assert_eq!(&split[1].bytes[24..70], &b[24..70]);
        assert_eq!(&split[1].bytes[70..72], &[0, 0]);
        assert_eq!(split[2].bytes.len(), 67);
        assert!(compose_compound(&[], &mut out).is_err());
        assert!(compose_compound(&[&a[..63]], &mut out).is_err());
    }
}
