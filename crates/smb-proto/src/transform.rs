//! The SMB2 TRANSFORM_HEADER ([MS-SMB2] 2.2.41) that wraps an encrypted
//! message, and detection of the COMPRESSION_TRANSFORM_HEADER (2.2.42),
//! which is rejected because the server never negotiates compression.
//!
//! ```text
//! offset size field
//!  0     4    ProtocolId            0xFD 'S' 'M' 'B'
//!  4    16    Signature             the AEAD tag
//! 20    16    Nonce                 11 bytes used by CCM, 12 by GCM, rest zero
//! 36     4    OriginalMessageSize   plaintext bytes that follow the header
//! 40     2    Reserved
//! 42     2    Flags (3.1.1) / EncryptionAlgorithm (3.0.x): 0x0001
//! 44     8    SessionId
//! ```
//!
//! Bytes 20..52 are the AEAD associated data ([`TransformHeader::associated_data`]).
//! The crypto itself lives in another crate; this module only frames it.

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::header::HEADER_BYTES;
use crate::limits::FRAME_BYTES_MAX;
use crate::wire::Reader;

pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
pub const COMPRESSION_PROTOCOL_ID: [u8; 4] = [0xFC, b'S', b'M', b'B'];
pub const TRANSFORM_HEADER_BYTES: usize = 52;
/// Flags = Encrypted (3.1.1); the same value is EncryptionAlgorithm =
/// AES-128-CCM in 3.0 and 3.0.2, so one constant serves both.
pub const TRANSFORM_FLAG_ENCRYPTED: u16 = 0x0001;
/// Where the associated data starts: everything after the Signature.
const AAD_START: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformHeader {
    pub signature: [u8; 16],
    pub nonce: [u8; 16],
    pub original_message_size: u32,
    pub flags: u16,
    pub session_id: u64,
}

impl TransformHeader {
    /// Decodes the header at the start of `msg` and returns it with the
    /// ciphertext that follows. The ciphertext must be exactly
    /// OriginalMessageSize bytes (no compression, no trailing data), and at
    /// least one SMB2 header long.
    pub fn decode(msg: &[u8]) -> Result<(TransformHeader, &[u8])> {
        let mut r = Reader::new(msg, "TRANSFORM_HEADER");
        let protocol: [u8; 4] = r.array()?;
        if protocol != TRANSFORM_PROTOCOL_ID {
            return Err(ProtoError::ProtocolId { got: protocol });
        }
        let signature = r.array()?;
        let nonce = r.array()?;
        let original_message_size = r.u32()?;
        let _reserved = r.u16()?;
        let flags = r.u16()?;
        if flags != TRANSFORM_FLAG_ENCRYPTED {
            return Err(ProtoError::InvalidValue { field: "TRANSFORM_HEADER Flags", value: flags.into() });
        }
        let session_id = r.u64()?;
        let size = original_message_size as usize;
        if !(HEADER_BYTES..=FRAME_BYTES_MAX).contains(&size) {
            return Err(ProtoError::InvalidValue {
                field: "TRANSFORM_HEADER OriginalMessageSize",
                value: original_message_size.into(),
            });
        }
        let ciphertext = msg.get(TRANSFORM_HEADER_BYTES..).unwrap_or(&[]);
        if ciphertext.len() != size {
            return Err(ProtoError::OutOfBounds {
                field: "TRANSFORM_HEADER OriginalMessageSize",
                offset: TRANSFORM_HEADER_BYTES as u64,
                length: original_message_size.into(),
                start: TRANSFORM_HEADER_BYTES,
                end: msg.len(),
            });
        }
        Ok((TransformHeader { signature, nonce, original_message_size, flags, session_id }, ciphertext))
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(TRANSFORM_HEADER_BYTES);
        out.put_slice(&TRANSFORM_PROTOCOL_ID);
        out.put_slice(&self.signature);
        out.put_slice(&self.nonce);
        out.put_u32_le(self.original_message_size);
        out.put_u16_le(0);
        out.put_u16_le(self.flags);
        out.put_u64_le(self.session_id);
    }

    /// The 32 bytes the AEAD authenticates: Nonce through SessionId.
    pub fn associated_data(&self) -> [u8; 32] {
        let mut b = BytesMut::with_capacity(TRANSFORM_HEADER_BYTES);
        self.encode(&mut b);
        let mut aad = [0u8; 32];
        aad.copy_from_slice(&b[AAD_START..TRANSFORM_HEADER_BYTES]);
        aad
    }
}

pub fn is_transform(msg: &[u8]) -> bool {
    msg.get(0..4) == Some(&TRANSFORM_PROTOCOL_ID[..])
}

pub fn is_compressed(msg: &[u8]) -> bool {
    msg.get(0..4) == Some(&COMPRESSION_PROTOCOL_ID[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(size: u32) -> TransformHeader {
        TransformHeader {
            signature: [0x11; 16],
            nonce: [0x22; 16],
            original_message_size: size,
            flags: TRANSFORM_FLAG_ENCRYPTED,
            session_id: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn layout_and_round_trip() {
        let h = sample(64);
        let mut out = BytesMut::new();
        h.encode(&mut out);
        assert_eq!(out.len(), 52);
        assert_eq!(&out[0..4], &[0xFD, b'S', b'M', b'B']);
        assert_eq!(&out[36..40], &[64, 0, 0, 0]);
        assert_eq!(&out[42..44], &[1, 0]);
        assert_eq!(&out[44..52], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(h.associated_data()[..], out[20..52]);
        out.put_bytes(0xEE, 64);
        let (d, ct) = TransformHeader::decode(&out).unwrap();
        assert_eq!(d, h);
        assert_eq!(ct, &[0xEE; 64][..]);
        assert!(is_transform(&out) && !is_compressed(&out));
    }

    #[test]
    fn size_mismatch_and_bad_flags_are_errors() {
        let mut out = BytesMut::new();
        sample(100).encode(&mut out);
        out.put_bytes(0, 64);
        assert!(TransformHeader::decode(&out).is_err());
        let mut out = BytesMut::new();
        sample(10).encode(&mut out);
        out.put_bytes(0, 10);
        assert!(TransformHeader::decode(&out).is_err());
        let mut h = sample(64);
        h.flags = 2;
        let mut out = BytesMut::new();
        h.encode(&mut out);
        out.put_bytes(0, 64);
        assert!(TransformHeader::decode(&out).is_err());
        assert!(TransformHeader::decode(&out[..30]).is_err());
    }

    #[test]
    fn compression_header_is_recognised() {
        assert!(is_compressed(&[0xFC, b'S', b'M', b'B', 0, 0]));
    }
}
