//! SMB2 message signing ([MS-SMB2] 3.1.4.1, 3.1.5.1).
//!
//! The signature is computed over the whole message (header and body, and
//! for a compound member the padding up to the next member) with the
//! header's 16-byte Signature field (offset 48) zeroed and the
//! SMB2_FLAGS_SIGNED flag set:
//!
//! * 2.0.2 / 2.1: HMAC-SHA256 with the session key, first 16 bytes.
//! * 3.0 / 3.0.2 / 3.1.1: AES-128-CMAC with the signing key.
//! * 3.1.1 with SMB2_SIGNING_CAPABILITIES choosing it: AES-128-GMAC with
//!   the signing key: AES-128-GCM with the message as additional data and
//!   no plaintext; the tag is the signature. Its 12-byte nonce is the
//!   header's MessageId (8 bytes, little endian) followed by a 32-bit
//!   little-endian word whose bit 0 is 1 for a message the server sends
//!   (SMB2_FLAGS_SERVER_TO_REDIRECT set) and whose bit 1 is 1 for an
//!   SMB2 CANCEL request; the other 30 bits are zero.

use aes::Aes128;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use cmac::Cmac;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::crypto::ct_eq;
use crate::error::{Error, Result};
use crate::kdf::Dialect;

/// SMB2 header length.
pub const SMB2_HEADER_LEN: usize = 64;
/// Offset of the Signature field in the SMB2 header.
pub const SIGNATURE_OFFSET: usize = 48;
/// SMB2_FLAGS_SERVER_TO_REDIRECT: the message is a response.
pub const SMB2_FLAGS_SERVER_TO_REDIRECT: u32 = 0x0000_0001;
/// SMB2_FLAGS_SIGNED.
pub const SMB2_FLAGS_SIGNED: u32 = 0x0000_0008;
/// The SMB2 CANCEL command code.
pub const SMB2_CANCEL: u16 = 0x000C;
const SMB2_MAGIC: [u8; 4] = [0xFE, b'S', b'M', b'B'];
const ZERO_SIGNATURE: [u8; 16] = [0; 16];

/// A signing algorithm (the ids of SMB2_SIGNING_CAPABILITIES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    HmacSha256 = 0x0000,
    AesCmac = 0x0001,
    AesGmac = 0x0002,
}

impl SigningAlgorithm {
    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            0 => SigningAlgorithm::HmacSha256,
            1 => SigningAlgorithm::AesCmac,
            2 => SigningAlgorithm::AesGmac,
            _ => return None,
        })
    }

    pub fn id(self) -> u16 {
        self as u16
    }

    /// The algorithm a dialect uses when no signing capability was
    /// negotiated.
    pub fn default_for(dialect: Dialect) -> Self {
        if dialect.is_smb3() {
            SigningAlgorithm::AesCmac
        } else {
            SigningAlgorithm::HmacSha256
        }
    }
}

#[derive(Clone)]
enum Inner {
    Hmac(Box<Hmac<Sha256>>),
    Cmac(Box<Cmac<Aes128>>),
    Gmac(Box<Aes128Gcm>),
}

/// A signing key ready to sign and verify (the AES key schedule is built
/// once). Cheap to clone; share one per session/channel.
#[derive(Clone)]
pub struct Signer {
    alg: SigningAlgorithm,
    inner: Inner,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// `key` is Session.SessionKey for HMAC-SHA256 (2.x) and the derived
    /// signing key for CMAC/GMAC (3.x).
    pub fn new(alg: SigningAlgorithm, key: &[u8; 16]) -> Self {
        let inner = match alg {
            SigningAlgorithm::HmacSha256 => Inner::Hmac(Box::new(
                <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length"),
            )),
            SigningAlgorithm::AesCmac => Inner::Cmac(Box::new(
                <Cmac<Aes128> as Mac>::new_from_slice(key).expect("16-byte AES key"),
            )),
            SigningAlgorithm::AesGmac => Inner::Gmac(Box::new(Aes128Gcm::new(key.into()))),
        };
        Signer { alg, inner }
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// Computes the signature of `pdu` as if its Signature field were zero
    /// (it need not be). For GMAC the field must already be zero: use
    /// [`Signer::sign`] / [`Signer::verify`], which take care of it.
    fn compute(&self, pdu: &[u8]) -> [u8; 16] {
        match &self.inner {
            Inner::Hmac(m) => {
                let mut m = (**m).clone();
                m.update(&pdu[..SIGNATURE_OFFSET]);
                m.update(&ZERO_SIGNATURE);
                m.update(&pdu[SIGNATURE_OFFSET + 16..]);
                let full = m.finalize().into_bytes();
                let mut out = [0u8; 16];
                out.copy_from_slice(&full[..16]);
                out
            }
            Inner::Cmac(m) => {
                let mut m = (**m).clone();
                m.update(&pdu[..SIGNATURE_OFFSET]);
                m.update(&ZERO_SIGNATURE);
                m.update(&pdu[SIGNATURE_OFFSET + 16..]);
                m.finalize().into_bytes().into()
            }
            Inner::Gmac(g) => {
                debug_assert_eq!(
                    &pdu[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16],
                    &ZERO_SIGNATURE
                );
                let nonce = gmac_nonce(pdu);
                let tag = g
                    .encrypt_in_place_detached(Nonce::from_slice(&nonce), pdu, &mut [])
                    .expect("GCM with an empty plaintext cannot fail");
                tag.into()
            }
        }
    }

    /// Signs `pdu` in place: sets SMB2_FLAGS_SIGNED, zeroes the Signature
    /// field, computes the signature and writes it there.
    pub fn sign(&self, pdu: &mut [u8]) -> Result<()> {
        check_header(pdu)?;
        let flags = le32(pdu, 16) | SMB2_FLAGS_SIGNED;
        pdu[16..20].copy_from_slice(&flags.to_le_bytes());
        pdu[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16].fill(0);
        let sig = self.compute(pdu);
        pdu[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16].copy_from_slice(&sig);
        Ok(())
    }

    /// Verifies `pdu`'s signature in constant time. The buffer is borrowed
    /// mutably only to zero the Signature field while computing (GMAC needs
    /// the message contiguous); it is restored before returning.
    pub fn verify(&self, pdu: &mut [u8]) -> Result<()> {
        check_header(pdu)?;
        let mut got = [0u8; 16];
        got.copy_from_slice(&pdu[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16]);
        let want = match self.inner {
            Inner::Gmac(_) => {
                pdu[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16].fill(0);
                let w = self.compute(pdu);
                pdu[SIGNATURE_OFFSET..SIGNATURE_OFFSET + 16].copy_from_slice(&got);
                w
            }
            _ => self.compute(pdu),
        };
        if ct_eq(&want, &got) {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }
}

/// The AES-GMAC nonce of a message ([MS-SMB2] 3.1.4.1). `pdu` must hold
/// a whole SMB2 header (checked by the callers).
pub(crate) fn gmac_nonce(pdu: &[u8]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&pdu[24..32]);
    let mut word = le32(pdu, 16) & SMB2_FLAGS_SERVER_TO_REDIRECT;
    if u16::from_le_bytes([pdu[12], pdu[13]]) == SMB2_CANCEL {
        word |= 0x2;
    }
    n[8..].copy_from_slice(&word.to_le_bytes());
    n
}

/// True if the SMB2 header has SMB2_FLAGS_SIGNED.
pub fn is_signed(pdu: &[u8]) -> bool {
    pdu.len() >= SMB2_HEADER_LEN && le32(pdu, 16) & SMB2_FLAGS_SIGNED != 0
}

fn check_header(pdu: &[u8]) -> Result<()> {
    if pdu.len() < SMB2_HEADER_LEN || pdu[..4] != SMB2_MAGIC {
        return Err(Error::Malformed("SMB2 message to sign or verify"));
    }
    Ok(())
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;
    use crate::test_util::unhex_vec;

    fn message(flags: u32, command: u16, message_id: u64) -> Vec<u8> {
        let mut m = vec![0u8; 64 + 24];
        m[..4].copy_from_slice(&SMB2_MAGIC);
        m[4] = 64;
        m[12..14].copy_from_slice(&command.to_le_bytes());
        m[16..20].copy_from_slice(&flags.to_le_bytes());
        m[24..32].copy_from_slice(&message_id.to_le_bytes());
        m[40..48].copy_from_slice(&0x1234_5678u64.to_le_bytes());
        for (i, b) in m[64..].iter_mut().enumerate() {
            *b = i as u8;
        }
        m
    }

    #[test]
    fn cmac_rfc4493_vectors() {
        // RFC 4493 section 4: key 2b7e1516..., M of length 0, 16, 40, 64.
        let key = unhex_vec("2b7e151628aed2a6abf7158809cf4f3c");
        let msg = unhex_vec(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
             30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        );
        let cases = [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ];
        for (len, want) in cases {
            let mut m = <Cmac<Aes128> as Mac>::new_from_slice(&key).unwrap();
            m.update(&msg[..len]);
            assert_eq!(hex(&m.finalize().into_bytes()), want, "length {len}");
        }
    }

    #[test]
    fn gmac_nist_gcm_test_case_1() {
        // GCM spec test case 1: key 0, IV 0, no data: tag 58e2fcce...
        let g = Aes128Gcm::new(&[0u8; 16].into());
        let tag = g
            .encrypt_in_place_detached(Nonce::from_slice(&[0; 12]), &[], &mut [])
            .unwrap();
        assert_eq!(hex(&tag), "58e2fccefa7e3061367f1d57a4e7455a");
    }

    #[test]
    fn gmac_nonce_layout() {
        let req = message(0, 5, 0x0102_0304_0506_0708);
        assert_eq!(hex(&gmac_nonce(&req)), "080706050403020100000000");
        let resp = message(SMB2_FLAGS_SERVER_TO_REDIRECT | SMB2_FLAGS_SIGNED, 5, 7);
        assert_eq!(hex(&gmac_nonce(&resp)), "070000000000000001000000");
        let cancel = message(0x2, SMB2_CANCEL, 9);
        assert_eq!(hex(&gmac_nonce(&cancel)), "090000000000000002000000");
    }

    #[test]
    fn sign_verify_every_algorithm() {
        for alg in [
            SigningAlgorithm::HmacSha256,
            SigningAlgorithm::AesCmac,
            SigningAlgorithm::AesGmac,
        ] {
            let s = Signer::new(alg, &[0x42; 16]);
            let mut m = message(SMB2_FLAGS_SERVER_TO_REDIRECT, 8, 11);
            s.sign(&mut m).unwrap();
            assert!(is_signed(&m));
            let before = m.clone();
            s.verify(&mut m).unwrap();
            assert_eq!(m, before, "verify restores the buffer");

            // Any flipped bit fails, in the header, signature or body.
            for pos in [0usize, 16, 30, 48, 63, 64, m.len() - 1] {
                let mut t = m.clone();
                t[pos] ^= 0x01;
                assert!(s.verify(&mut t).is_err(), "{alg:?} flip at {pos}");
            }
            // Wrong key fails.
            let other = Signer::new(alg, &[0x43; 16]);
            assert_eq!(other.verify(&mut m.clone()), Err(Error::BadSignature));
            // Signing is deterministic and independent of the old field.
            let mut again = m.clone();
            again[SIGNATURE_OFFSET] ^= 0xff;
            s.sign(&mut again).unwrap();
            assert_eq!(again, m);
        }
    }

    #[test]
    fn hmac_is_the_truncated_sha256_hmac() {
        let key = [0x42u8; 16];
        let s = Signer::new(SigningAlgorithm::HmacSha256, &key);
        let mut m = message(0, 8, 11);
        s.sign(&mut m).unwrap();
        let mut z = m.clone();
        z[48..64].fill(0);
        let mut h = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        h.update(&z);
        assert_eq!(&h.finalize().into_bytes()[..16], &m[48..64]);
    }

    #[test]
    fn gmac_differs_by_direction_and_message_id() {
        let s = Signer::new(SigningAlgorithm::AesGmac, &[1; 16]);
        let mut a = message(0, 8, 11);
        let mut b = message(0, 8, 11);
        b[16] |= SMB2_FLAGS_SERVER_TO_REDIRECT as u8;
        s.sign(&mut a).unwrap();
        s.sign(&mut b).unwrap();
        assert_ne!(a[48..64], b[48..64]);
    }

    #[test]
    fn short_or_foreign_messages_are_refused() {
        let s = Signer::new(SigningAlgorithm::AesCmac, &[1; 16]);
        assert!(matches!(s.sign(&mut [0u8; 63]), Err(Error::Malformed(_))));
        let mut m = message(0, 8, 1);
        m[0] = 0xFD;
        assert!(matches!(s.verify(&mut m), Err(Error::Malformed(_))));
    }
}
