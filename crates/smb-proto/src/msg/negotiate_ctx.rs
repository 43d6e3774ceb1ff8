//! SMB 3.1.1 negotiate contexts ([MS-SMB2] 2.2.3.1, 2.2.4.1), shared by
//! the NEGOTIATE request and response.
//!
//! ```text
//! context:  ContextType u16, DataLength u16, Reserved u32, Data[DataLength]
//!           each context after the first starts 8-byte aligned
//! PREAUTH_INTEGRITY (1): HashAlgorithmCount u16, SaltLength u16, HashAlgorithms[], Salt
//! ENCRYPTION (2):        CipherCount u16, Ciphers[]
//! SIGNING (8):           SigningAlgorithmCount u16, SigningAlgorithms[]
//! ```
//! Every other type (COMPRESSION, NETNAME, TRANSPORT, RDMA, unknown) is
//! kept raw: the server does not act on them, and an unknown context must
//! not fail the negotiate.

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::limits::{NEGOTIATE_ALGORITHMS_MAX, NEGOTIATE_CONTEXTS_MAX};
use crate::msg::{clip16, len16};
use crate::wire::{align8, check_max, Reader};

/// ContextType values.
pub mod context_type {
    pub const PREAUTH_INTEGRITY_CAPABILITIES: u16 = 0x0001;
    pub const ENCRYPTION_CAPABILITIES: u16 = 0x0002;
    pub const COMPRESSION_CAPABILITIES: u16 = 0x0003;
    pub const NETNAME_NEGOTIATE_CONTEXT_ID: u16 = 0x0005;
    pub const TRANSPORT_CAPABILITIES: u16 = 0x0006;
    pub const RDMA_TRANSFORM_CAPABILITIES: u16 = 0x0007;
    pub const SIGNING_CAPABILITIES: u16 = 0x0008;
}

/// HashAlgorithms of PREAUTH_INTEGRITY_CAPABILITIES.
pub mod hash_algorithm {
    pub const SHA_512: u16 = 0x0001;
}

/// Ciphers of ENCRYPTION_CAPABILITIES.
pub mod cipher {
    pub const AES_128_CCM: u16 = 0x0001;
    pub const AES_128_GCM: u16 = 0x0002;
    pub const AES_256_CCM: u16 = 0x0003;
    pub const AES_256_GCM: u16 = 0x0004;
}

/// SigningAlgorithms of SIGNING_CAPABILITIES.
pub mod signing_algorithm {
    pub const HMAC_SHA256: u16 = 0x0000;
    pub const AES_CMAC: u16 = 0x0001;
    pub const AES_GMAC: u16 = 0x0002;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiateContext {
    PreauthIntegrity { hash_algorithms: Vec<u16>, salt: Vec<u8> },
    Encryption { ciphers: Vec<u16> },
    Signing { algorithms: Vec<u16> },
    /// COMPRESSION, NETNAME, TRANSPORT, RDMA and unknown types, raw.
    Other { context_type: u16, data: Vec<u8> },
}

const CONTEXT_HEADER_BYTES: usize = 8;

impl NegotiateContext {
    pub fn context_type(&self) -> u16 {
        match self {
            NegotiateContext::PreauthIntegrity { .. } => context_type::PREAUTH_INTEGRITY_CAPABILITIES,
            NegotiateContext::Encryption { .. } => context_type::ENCRYPTION_CAPABILITIES,
            NegotiateContext::Signing { .. } => context_type::SIGNING_CAPABILITIES,
            NegotiateContext::Other { context_type, .. } => *context_type,
        }
    }

    fn decode(ctype: u16, data: &[u8]) -> Result<NegotiateContext> {
        let mut r = Reader::new(data, "negotiate context");
        Ok(match ctype {
            context_type::PREAUTH_INTEGRITY_CAPABILITIES => {
                let count = r.u16()?;
                let salt_len = r.u16()?;
                let hash_algorithms = read_algorithms(&mut r, count, "PREAUTH HashAlgorithmCount")?;
                let salt = r.take(salt_len.into())?.to_vec();
                NegotiateContext::PreauthIntegrity { hash_algorithms, salt }
            }
            context_type::ENCRYPTION_CAPABILITIES => {
                let count = r.u16()?;
                NegotiateContext::Encryption { ciphers: read_algorithms(&mut r, count, "ENCRYPTION CipherCount")? }
            }
            context_type::SIGNING_CAPABILITIES => {
                let count = r.u16()?;
                NegotiateContext::Signing {
                    algorithms: read_algorithms(&mut r, count, "SIGNING SigningAlgorithmCount")?,
                }
            }
            other => NegotiateContext::Other { context_type: other, data: data.to_vec() },
        })
    }

    fn encode(&self, out: &mut BytesMut) {
        let mut data = BytesMut::new();
        match self {
            NegotiateContext::PreauthIntegrity { hash_algorithms, salt } => {
                data.put_u16_le(len16(hash_algorithms.len()));
                data.put_u16_le(len16(salt.len()));
                put_algorithms(&mut data, hash_algorithms);
                data.put_slice(clip16(salt));
            }
            NegotiateContext::Encryption { ciphers } => {
                data.put_u16_le(len16(ciphers.len()));
                put_algorithms(&mut data, ciphers);
            }
            NegotiateContext::Signing { algorithms } => {
                data.put_u16_le(len16(algorithms.len()));
                put_algorithms(&mut data, algorithms);
            }
            NegotiateContext::Other { data: raw, .. } => data.put_slice(raw),
        }
        let data = clip16(&data);
        out.put_u16_le(self.context_type());
        out.put_u16_le(len16(data.len()));
        out.put_u32_le(0);
        out.put_slice(data);
    }
}

/// A list of u16 algorithm ids: at least one (an empty list is
/// STATUS_INVALID_PARAMETER in 3.3.5.4) and at most
/// [`NEGOTIATE_ALGORITHMS_MAX`].
fn read_algorithms(r: &mut Reader<'_>, count: u16, field: &'static str) -> Result<Vec<u16>> {
    if count == 0 {
        return Err(ProtoError::InvalidValue { field, value: 0 });
    }
    check_max(field, count.into(), NEGOTIATE_ALGORITHMS_MAX as u64)?;
    (0..count).map(|_| r.u16()).collect()
}

fn put_algorithms(out: &mut BytesMut, ids: &[u16]) {
    for id in ids.iter().take(usize::from(u16::MAX)) {
        out.put_u16_le(*id);
    }
}

/// Decodes `count` contexts starting at `offset` (from the header) in
/// `pdu`. The first must be 8-byte aligned and at or after `fixed_end`;
/// each later one starts at the next 8-byte boundary after the previous
/// one's data.
pub(crate) fn decode_negotiate_contexts(
    pdu: &[u8],
    offset: u32,
    count: u16,
    fixed_end: usize,
) -> Result<Vec<NegotiateContext>> {
    const FIELD: &str = "NegotiateContextOffset";
    check_max("NegotiateContextCount", count.into(), NEGOTIATE_CONTEXTS_MAX as u64)?;
    if offset % 8 != 0 {
        return Err(ProtoError::Misaligned { field: FIELD, offset: offset.into() });
    }
    let mut pos = offset as usize;
    if pos < fixed_end || pos > pdu.len() {
        return Err(ProtoError::OutOfBounds {
            field: FIELD,
            offset: offset.into(),
            length: 0,
            start: fixed_end,
            end: pdu.len(),
        });
    }
    let mut contexts = Vec::with_capacity(count.into());
    for i in 0..count {
        if i > 0 {
            pos = align8(pos).unwrap_or(usize::MAX);
        }
        let rest = pdu.get(pos..).ok_or(ProtoError::OutOfBounds {
            field: "negotiate context",
            offset: pos as u64,
            length: CONTEXT_HEADER_BYTES as u64,
            start: fixed_end,
            end: pdu.len(),
        })?;
        let mut r = Reader::new(rest, "negotiate context");
        let ctype = r.u16()?;
        let data_len = r.u16()?;
        r.skip(4)?;
        let data = r.take(data_len.into())?;
        contexts.push(NegotiateContext::decode(ctype, data)?);
        pos += CONTEXT_HEADER_BYTES + usize::from(data_len);
    }
    Ok(contexts)
}

/// Appends the contexts, 8-byte aligned relative to the header, to a body
/// that started at `body_start` in `out`. The caller has already aligned
/// the first one.
pub(crate) fn encode_negotiate_contexts(contexts: &[NegotiateContext], out: &mut BytesMut, body_start: usize) {
    for (i, c) in contexts.iter().enumerate() {
        if i > 0 {
            // Header and body start are both at multiples of 8 from the
            // header, so aligning relative to the body aligns on the wire.
            crate::wire::pad8(out, body_start);
        }
        c.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_encode_each_type() {
        let contexts = vec![
            NegotiateContext::PreauthIntegrity { hash_algorithms: vec![hash_algorithm::SHA_512], salt: vec![7; 32] },
            NegotiateContext::Encryption { ciphers: vec![cipher::AES_128_GCM, cipher::AES_128_CCM] },
            NegotiateContext::Other { context_type: context_type::NETNAME_NEGOTIATE_CONTEXT_ID, data: vec![1, 0, 2] },
            NegotiateContext::Signing { algorithms: vec![signing_algorithm::AES_GMAC, signing_algorithm::AES_CMAC] },
        ];
        let mut pdu = BytesMut::new();
        pdu.put_bytes(0, 64);
        let start = pdu.len();
        encode_negotiate_contexts(&contexts, &mut pdu, start);
        // Preauth: 8 + 4 + 2 + 32 = 46 bytes, so the next starts at 48.
        assert_eq!(&pdu[64 + 48..64 + 50], &[2, 0]);
        let d = decode_negotiate_contexts(&pdu, 64, 4, 64).unwrap();
        assert_eq!(d, contexts);
    }

    #[test]
    fn bad_contexts_are_errors() {
        let mut pdu = BytesMut::new();
        pdu.put_bytes(0, 64);
        NegotiateContext::Encryption { ciphers: vec![1] }.encode(&mut pdu);
        assert!(decode_negotiate_contexts(&pdu, 64, 1, 64).is_ok());
        assert!(matches!(decode_negotiate_contexts(&pdu, 60, 1, 56), Err(ProtoError::Misaligned { .. })));
        assert!(decode_negotiate_contexts(&pdu, 64, 1, 72).is_err());
        assert!(decode_negotiate_contexts(&pdu, 64, 2, 64).is_err());
        assert!(decode_negotiate_contexts(&pdu, 1 << 20, 1, 64).is_err());
        assert!(decode_negotiate_contexts(&pdu, 64, 1000, 64).is_err());
        // CipherCount 0.
        let mut z = pdu.clone();
        z[72] = 0;
        assert!(decode_negotiate_contexts(&z, 64, 1, 64).is_err());
        // CipherCount larger than DataLength allows.
        let mut z = pdu.clone();
        z[72] = 5;
        assert!(decode_negotiate_contexts(&z, 64, 1, 64).is_err());
    }
}
