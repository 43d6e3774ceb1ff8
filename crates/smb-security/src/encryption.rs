//! SMB 3.x encryption ([MS-SMB2] 2.2.41, 3.1.4.3, 3.3.5.2.1.1): the
//! 52-byte SMB2 TRANSFORM_HEADER and AES-CCM / AES-GCM.
//!
//! ```text
//!  0  ProtocolId          0xFD 'S' 'M' 'B'
//!  4  Signature[16]       the AEAD tag
//! 20  Nonce[16]           CCM: 11 bytes + 5 zero; GCM: 12 bytes + 4 zero
//! 36  OriginalMessageSize u32, the plaintext length
//! 40  Reserved            u16, zero
//! 42  Flags               u16 = 0x0001 (3.1.1 "Encrypted"; in 3.0.x the
//!                         same field is EncryptionAlgorithm = AES-128-CCM)
//! 44  SessionId           u64
//! 52  encrypted message
//! ```
//!
//! The additional authenticated data is bytes 20..52 of the header (Nonce
//! to SessionId). The tag (16 bytes for all four ciphers) is the Signature.
//!
//! Nonces: each [`SmbCipher`] makes its nonces from a random salt drawn
//! when it is created (4 bytes for GCM, 3 for CCM) followed by a 64-bit
//! counter that starts at a random value and goes up by one per message.
//! Within one `SmbCipher` no nonce repeats for 2^64 messages, which random
//! nonces (Windows' choice) only make unlikely. Share one `SmbCipher` per
//! key (an `Arc` across a session's channels) rather than building one
//! per connection, so that one counter covers every message under that key.

use std::sync::atomic::{AtomicU64, Ordering};

use aes::{Aes128, Aes256};
use aes_gcm::aead::consts::{U11, U16};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::Ccm;
use rand::RngCore;

use crate::error::{Error, Result};
use crate::kdf::{AesKey, Cipher};

/// Length of the SMB2 TRANSFORM_HEADER.
pub const TRANSFORM_HEADER_LEN: usize = 52;
/// Its ProtocolId.
pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
/// Flags = Encrypted (3.1.1), EncryptionAlgorithm = AES-128-CCM (3.0.x).
pub const TRANSFORM_FLAG_ENCRYPTED: u16 = 0x0001;
/// Where the authenticated data starts (the Nonce).
const AAD_OFFSET: usize = 20;

type Aes128Ccm = Ccm<Aes128, U16, U11>;
type Aes256Ccm = Ccm<Aes256, U16, U11>;

/// A parsed SMB2 TRANSFORM_HEADER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformHeader {
    pub signature: [u8; 16],
    pub nonce: [u8; 16],
    pub original_message_size: u32,
    pub flags: u16,
    pub session_id: u64,
}

impl TransformHeader {
    /// Parses the first 52 bytes of `frame`. Checks the ProtocolId only;
    /// [`SmbCipher::decrypt`] checks the rest.
    pub fn parse(frame: &[u8]) -> Result<Self> {
        if frame.len() < TRANSFORM_HEADER_LEN || frame[..4] != TRANSFORM_PROTOCOL_ID {
            return Err(Error::Malformed("SMB2 TRANSFORM_HEADER"));
        }
        let mut signature = [0u8; 16];
        signature.copy_from_slice(&frame[4..20]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&frame[20..36]);
        let mut sid = [0u8; 8];
        sid.copy_from_slice(&frame[44..52]);
        Ok(TransformHeader {
            signature,
            nonce,
            original_message_size: u32::from_le_bytes([frame[36], frame[37], frame[38], frame[39]]),
            flags: u16::from_le_bytes([frame[42], frame[43]]),
            session_id: u64::from_le_bytes(sid),
        })
    }

    /// The 52 bytes on the wire (Reserved is written as zero).
    pub fn encode(&self) -> [u8; TRANSFORM_HEADER_LEN] {
        let mut h = [0u8; TRANSFORM_HEADER_LEN];
        h[..4].copy_from_slice(&TRANSFORM_PROTOCOL_ID);
        h[4..20].copy_from_slice(&self.signature);
        h[20..36].copy_from_slice(&self.nonce);
        h[36..40].copy_from_slice(&self.original_message_size.to_le_bytes());
        h[42..44].copy_from_slice(&self.flags.to_le_bytes());
        h[44..52].copy_from_slice(&self.session_id.to_le_bytes());
        h
    }
}

/// True if `frame` starts with the TRANSFORM_HEADER ProtocolId.
pub fn is_transform(frame: &[u8]) -> bool {
    frame.len() >= 4 && frame[..4] == TRANSFORM_PROTOCOL_ID
}

enum Aead {
    Ccm128(Box<Aes128Ccm>),
    Gcm128(Box<Aes128Gcm>),
    Ccm256(Box<Aes256Ccm>),
    Gcm256(Box<Aes256Gcm>),
}

/// One encryption or decryption key with its cipher, ready to use.
pub struct SmbCipher {
    cipher: Cipher,
    aead: Aead,
    salt: [u8; 4],
    counter: AtomicU64,
}

impl std::fmt::Debug for SmbCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmbCipher")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl SmbCipher {
    /// `key` must be [`Cipher::key_len`] bytes.
    pub fn new(cipher: Cipher, key: &[u8]) -> Result<Self> {
        if key.len() != cipher.key_len() {
            return Err(Error::InvalidKey("key length does not match the cipher"));
        }
        // Lengths were checked above, so from_slice cannot panic.
        let aead = match cipher {
            Cipher::Aes128Ccm => {
                Aead::Ccm128(Box::new(Aes128Ccm::new(GenericArray::from_slice(key))))
            }
            Cipher::Aes128Gcm => {
                Aead::Gcm128(Box::new(Aes128Gcm::new(GenericArray::from_slice(key))))
            }
            Cipher::Aes256Ccm => {
                Aead::Ccm256(Box::new(Aes256Ccm::new(GenericArray::from_slice(key))))
            }
            Cipher::Aes256Gcm => {
                Aead::Gcm256(Box::new(Aes256Gcm::new(GenericArray::from_slice(key))))
            }
        };
        let mut salt = [0u8; 4];
        let mut rng = rand::rngs::OsRng;
        rng.fill_bytes(&mut salt);
        Ok(SmbCipher {
            cipher,
            aead,
            salt,
            counter: AtomicU64::new(rng.next_u64()),
        })
    }

    /// From a derived key ([`crate::kdf::EncryptionKeys`]).
    pub fn from_key(cipher: Cipher, key: &AesKey) -> Result<Self> {
        Self::new(cipher, key.as_bytes())
    }

    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The next nonce field (16 bytes, the unused tail zero).
    fn next_nonce(&self) -> [u8; 16] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let salt_len = self.cipher.nonce_len() - 8;
        let mut f = [0u8; 16];
        f[..salt_len].copy_from_slice(&self.salt[..salt_len]);
        f[salt_len..salt_len + 8].copy_from_slice(&n.to_le_bytes());
        f
    }

    /// Encrypts `message` in place and returns the transform header to
    /// send in front of it.
    pub fn encrypt_in_place(
        &self,
        session_id: u64,
        message: &mut [u8],
    ) -> Result<[u8; TRANSFORM_HEADER_LEN]> {
        self.encrypt_with_nonce(self.next_nonce(), session_id, message)
    }

    /// Encrypts `message` and returns header + ciphertext.
    pub fn encrypt(&self, session_id: u64, message: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(TRANSFORM_HEADER_LEN + message.len());
        out.extend_from_slice(&[0u8; TRANSFORM_HEADER_LEN]);
        out.extend_from_slice(message);
        let h = self.encrypt_in_place(session_id, &mut out[TRANSFORM_HEADER_LEN..])?;
        out[..TRANSFORM_HEADER_LEN].copy_from_slice(&h);
        Ok(out)
    }

    /// Encrypts with a given Nonce field. Never reuse a nonce with a key:
    /// this exists for known-answer tests; use [`SmbCipher::encrypt`].
    #[doc(hidden)]
    pub fn encrypt_with_nonce(
        &self,
        nonce_field: [u8; 16],
        session_id: u64,
        message: &mut [u8],
    ) -> Result<[u8; TRANSFORM_HEADER_LEN]> {
        let size = u32::try_from(message.len())
            .map_err(|_| Error::InvalidKey("message too long to encrypt"))?;
        let mut header = TransformHeader {
            signature: [0; 16],
            nonce: nonce_field,
            original_message_size: size,
            flags: TRANSFORM_FLAG_ENCRYPTED,
            session_id,
        }
        .encode();
        let aad = &header[AAD_OFFSET..];
        let nonce = &nonce_field[..self.cipher.nonce_len()];
        let tag = match &self.aead {
            Aead::Ccm128(a) => {
                a.encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, message)
            }
            Aead::Gcm128(a) => {
                a.encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, message)
            }
            Aead::Ccm256(a) => {
                a.encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, message)
            }
            Aead::Gcm256(a) => {
                a.encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, message)
            }
        }
        .map_err(|_| Error::InvalidKey("message too long for the cipher"))?;
        header[4..20].copy_from_slice(&tag);
        Ok(header)
    }

    /// Decrypts `ciphertext` (the bytes after the header) in place.
    /// Checks Flags and OriginalMessageSize, then the tag.
    pub fn decrypt_in_place(
        &self,
        header: &[u8; TRANSFORM_HEADER_LEN],
        ciphertext: &mut [u8],
    ) -> Result<()> {
        let h = TransformHeader::parse(header)?;
        if h.flags != TRANSFORM_FLAG_ENCRYPTED {
            return Err(Error::DecryptionFailed("transform header flags"));
        }
        if h.original_message_size as usize != ciphertext.len() || ciphertext.is_empty() {
            return Err(Error::DecryptionFailed(
                "OriginalMessageSize does not match the message",
            ));
        }
        let aad = &header[AAD_OFFSET..];
        let nonce = &h.nonce[..self.cipher.nonce_len()];
        let tag = GenericArray::<u8, U16>::from_slice(&h.signature);
        match &self.aead {
            Aead::Ccm128(a) => {
                a.decrypt_in_place_detached(GenericArray::from_slice(nonce), aad, ciphertext, tag)
            }
            Aead::Gcm128(a) => {
                a.decrypt_in_place_detached(GenericArray::from_slice(nonce), aad, ciphertext, tag)
            }
            Aead::Ccm256(a) => {
                a.decrypt_in_place_detached(GenericArray::from_slice(nonce), aad, ciphertext, tag)
            }
            Aead::Gcm256(a) => {
                a.decrypt_in_place_detached(GenericArray::from_slice(nonce), aad, ciphertext, tag)
            }
        }
        .map_err(|_| Error::DecryptionFailed("authentication tag mismatch"))
    }

    /// Decrypts a whole frame (header + ciphertext); returns the header
    /// and the plaintext SMB2 message.
    pub fn decrypt(&self, frame: &[u8]) -> Result<(TransformHeader, Vec<u8>)> {
        let h = TransformHeader::parse(frame)?;
        let mut header = [0u8; TRANSFORM_HEADER_LEN];
        header.copy_from_slice(&frame[..TRANSFORM_HEADER_LEN]);
        let mut body = frame[TRANSFORM_HEADER_LEN..].to_vec();
        self.decrypt_in_place(&header, &mut body)?;
        Ok((h, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;
    use crate::kdf::{derive_session_keys, Dialect};
    use crate::test_util::*;

    #[test]
    fn smb30_ccm_request_vector() {
        let c = SmbCipher::new(Cipher::Aes128Ccm, &unhex_vec(ENC30_C2S_KEY)).unwrap();
        let mut msg = unhex_vec(ENC30_REQUEST_PLAIN);
        let want = unhex_vec(ENC30_REQUEST_TRANSFORMED);
        let nonce: [u8; 16] = want[20..36].try_into().unwrap();
        let h = c
            .encrypt_with_nonce(nonce, ENC30_SESSION_ID, &mut msg)
            .unwrap();
        assert_eq!(hex(&h), hex(&want[..52]));
        assert_eq!(hex(&msg), hex(&want[52..]));
        // And the server decrypts it.
        let (th, plain) = c.decrypt(&want).unwrap();
        assert_eq!(th.session_id, ENC30_SESSION_ID);
        assert_eq!(plain, unhex_vec(ENC30_REQUEST_PLAIN));
    }

    #[test]
    fn smb30_ccm_response_vector() {
        let c = SmbCipher::new(Cipher::Aes128Ccm, &unhex_vec(ENC30_S2C_KEY)).unwrap();
        let (_, plain) = c.decrypt(&unhex_vec(ENC30_RESPONSE_TRANSFORMED)).unwrap();
        assert_eq!(plain, unhex_vec(ENC30_RESPONSE_PLAIN));
    }

    #[test]
    fn smb311_gcm_vectors() {
        let c2s = SmbCipher::new(Cipher::Aes128Gcm, &unhex_vec(ENC311_C2S_KEY)).unwrap();
        let mut msg = unhex_vec(ENC311_REQUEST_PLAIN);
        let want = unhex_vec(ENC311_REQUEST_TRANSFORMED);
        let nonce: [u8; 16] = want[20..36].try_into().unwrap();
        let h = c2s
            .encrypt_with_nonce(nonce, ENC311_SESSION_ID, &mut msg)
            .unwrap();
        assert_eq!(hex(&h), hex(&want[..52]));
        assert_eq!(hex(&msg), hex(&want[52..]));

        let s2c = SmbCipher::new(Cipher::Aes128Gcm, &unhex_vec(ENC311_S2C_KEY)).unwrap();
        let (_, plain) = s2c
            .decrypt(&unhex_vec(ENC311_RESPONSE_TRANSFORMED))
            .unwrap();
        assert_eq!(plain, unhex_vec(ENC311_RESPONSE_PLAIN));
    }

    #[test]
    fn gcm_nist_test_case_2_through_our_aead() {
        // GCM spec test case 2 (key 0, IV 0, P = 16 zero bytes) checks the
        // aes-gcm crate we build on; AAD is empty there, so call it directly.
        let g = Aes128Gcm::new(&[0u8; 16].into());
        let mut p = [0u8; 16];
        let tag = g
            .encrypt_in_place_detached(GenericArray::from_slice(&[0u8; 12]), &[], &mut p)
            .unwrap();
        assert_eq!(hex(&p), "0388dace60b6a392f328c2b971b2fe78");
        assert_eq!(hex(&tag), "ab6e47d42cec13bdf53a67b21257bddf");
    }

    fn all_ciphers() -> Vec<(Cipher, SmbCipher)> {
        let sk = [0x11u8; 16];
        let h = [0x22u8; 64];
        [
            Cipher::Aes128Ccm,
            Cipher::Aes128Gcm,
            Cipher::Aes256Ccm,
            Cipher::Aes256Gcm,
        ]
        .into_iter()
        .map(|c| {
            let keys = derive_session_keys(Dialect::Smb311, &sk, Some(c), Some(&h)).unwrap();
            let k = keys.encryption.unwrap().server_to_client;
            (c, SmbCipher::from_key(c, &k).unwrap())
        })
        .collect()
    }

    #[test]
    fn round_trip_tamper_and_wrong_key() {
        let msg: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        let ciphers = all_ciphers();
        for (c, sc) in &ciphers {
            let frame = sc.encrypt(77, &msg).unwrap();
            assert_eq!(frame.len(), TRANSFORM_HEADER_LEN + msg.len());
            let h = TransformHeader::parse(&frame).unwrap();
            assert_eq!(h.session_id, 77);
            assert_eq!(h.original_message_size as usize, msg.len());
            assert!(
                h.nonce[c.nonce_len()..].iter().all(|&b| b == 0),
                "{c:?} nonce tail"
            );
            assert_ne!(&frame[52..], &msg[..], "{c:?} encrypts");
            let (_, plain) = sc.decrypt(&frame).unwrap();
            assert_eq!(plain, msg, "{c:?}");

            // One flipped bit anywhere (header from byte 4, or body) fails.
            for pos in [4usize, 19, 20, 35, 36, 42, 44, 51, 52, frame.len() - 1] {
                let mut t = frame.clone();
                t[pos] ^= 0x01;
                assert!(sc.decrypt(&t).is_err(), "{c:?} flip at {pos}");
            }
            // Truncated and extended frames fail.
            assert!(sc.decrypt(&frame[..frame.len() - 1]).is_err());
            assert!(sc.decrypt(&frame[..51]).is_err());
            let mut longer = frame.clone();
            longer.push(0);
            assert!(sc.decrypt(&longer).is_err());
        }
        // Another key of the same cipher fails.
        for (c, sc) in &ciphers {
            let other = SmbCipher::new(*c, &vec![0x99; c.key_len()]).unwrap();
            let frame = sc.encrypt(1, &msg).unwrap();
            assert!(matches!(
                other.decrypt(&frame),
                Err(Error::DecryptionFailed(_))
            ));
        }
    }

    #[test]
    fn nonces_never_repeat_within_a_cipher() {
        for (_, sc) in all_ciphers() {
            let mut seen = std::collections::HashSet::new();
            for _ in 0..1000 {
                let f = sc.encrypt(1, b"x").unwrap();
                assert!(seen.insert(f[20..36].to_vec()));
            }
        }
    }

    #[test]
    fn key_length_must_match() {
        assert!(SmbCipher::new(Cipher::Aes128Gcm, &[0; 32]).is_err());
        assert!(SmbCipher::new(Cipher::Aes256Ccm, &[0; 16]).is_err());
    }
}
