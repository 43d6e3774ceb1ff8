//! SMB 3.x key derivation ([MS-SMB2] 3.1.4.2, 3.3.5.5.3): SP800-108 KDF in
//! counter mode with HMAC-SHA256, r = 32.
//!
//! ```text
//! K(i) = HMAC-SHA256(Ki, [i]_4be || Label || 0x00 || Context || [L]_4be)
//! ```
//!
//! Labels and 3.0.x contexts include their terminating NUL (so "SmbSign"
//! is 8 bytes), as the specification's byte counts say. (The 3.1.1
//! encryption labels are `SMBC2SCipherKey` / `SMBS2CCipherKey`, checked
//! against Microsoft's published test vectors below.)
//!
//! | key | 3.0 / 3.0.2 label, context | 3.1.1 label, context |
//! |---|---|---|
//! | signing | `SMB2AESCMAC`, `SmbSign` | `SMBSigningKey`, pre-auth hash |
//! | client→server (server decrypts) | `SMB2AESCCM`, `ServerIn ` | `SMBC2SCipherKey`, pre-auth hash |
//! | server→client (server encrypts) | `SMB2AESCCM`, `ServerOut` | `SMBS2CCipherKey`, pre-auth hash |
//! | application | `SMB2APP`, `SmbRpc` | `SMBAppKey`, pre-auth hash |
//!
//! Key lengths: the signing and application keys are 128 bits, derived
//! from Session.SessionKey (the first 16 bytes of the GSS session key).
//! With AES-128-CCM/GCM the encryption keys are 128 bits from
//! Session.SessionKey as well; with AES-256-CCM/GCM they are 256 bits
//! (L = 256) derived from Session.FullSessionKey, the whole GSS key. For
//! NTLM the full key is the 16-byte ExportedSessionKey, so the two inputs
//! are the same bytes.
//!
//! Note on AES-256 and the signing key: this module derives the signing
//! key with L = 128 whatever the cipher, as Samba does. Linux's ksmbd and
//! cifs.ko instead put L = 256 into the signing key's derivation when an
//! AES-256 cipher was negotiated. The SMB server can sidestep the question
//! by preferring AES-128-GCM whenever the client offers it (as Windows
//! servers do).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// SMB2 dialect revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dialect {
    Smb202 = 0x0202,
    Smb210 = 0x0210,
    Smb300 = 0x0300,
    Smb302 = 0x0302,
    Smb311 = 0x0311,
}

impl Dialect {
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            0x0202 => Dialect::Smb202,
            0x0210 => Dialect::Smb210,
            0x0300 => Dialect::Smb300,
            0x0302 => Dialect::Smb302,
            0x0311 => Dialect::Smb311,
            _ => return None,
        })
    }

    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// 3.0, 3.0.2 or 3.1.1.
    pub fn is_smb3(self) -> bool {
        self >= Dialect::Smb300
    }
}

/// SMB2 encryption ciphers (SMB2_ENCRYPTION_CAPABILITIES ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    Aes128Ccm = 0x0001,
    Aes128Gcm = 0x0002,
    Aes256Ccm = 0x0003,
    Aes256Gcm = 0x0004,
}

impl Cipher {
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Cipher::Aes128Ccm,
            2 => Cipher::Aes128Gcm,
            3 => Cipher::Aes256Ccm,
            4 => Cipher::Aes256Gcm,
            _ => return None,
        })
    }

    pub fn as_u16(self) -> u16 {
        self as u16
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Ccm | Cipher::Aes128Gcm => 16,
            Cipher::Aes256Ccm | Cipher::Aes256Gcm => 32,
        }
    }

    /// The nonce length the cipher uses (the rest of the transform header's
    /// 16-byte Nonce field is zero).
    pub fn nonce_len(self) -> usize {
        match self {
            Cipher::Aes128Ccm | Cipher::Aes256Ccm => 11,
            Cipher::Aes128Gcm | Cipher::Aes256Gcm => 12,
        }
    }

    /// The server's preference when the client offers several: the
    /// 128-bit GCM first (fast, and no AES-256 key-length ambiguity), then
    /// the rest, as Windows servers order them.
    pub const SERVER_PREFERENCE: [Cipher; 4] = [
        Cipher::Aes128Gcm,
        Cipher::Aes128Ccm,
        Cipher::Aes256Gcm,
        Cipher::Aes256Ccm,
    ];
}

/// SP800-108 counter-mode KDF with HMAC-SHA256: fills `out` (L =
/// `out.len()` × 8 bits) from `key`, `label` and `context`, which are used
/// as given (include any terminating NUL yourself).
pub fn sp800_108_hmac_sha256(key: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) {
    let l_bits = (out.len() as u32) * 8;
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(&(i as u32 + 1).to_be_bytes());
        mac.update(label);
        mac.update(&[0]);
        mac.update(context);
        mac.update(&l_bits.to_be_bytes());
        let block = mac.finalize().into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

/// The labels and contexts of one dialect family.
struct Labels {
    signing: (&'static [u8], Option<&'static [u8]>),
    c2s: (&'static [u8], Option<&'static [u8]>),
    s2c: (&'static [u8], Option<&'static [u8]>),
    app: (&'static [u8], Option<&'static [u8]>),
}

const LABELS_30: Labels = Labels {
    signing: (b"SMB2AESCMAC\0", Some(b"SmbSign\0")),
    c2s: (b"SMB2AESCCM\0", Some(b"ServerIn \0")),
    s2c: (b"SMB2AESCCM\0", Some(b"ServerOut\0")),
    app: (b"SMB2APP\0", Some(b"SmbRpc\0")),
};

// 3.1.1: the context is the pre-authentication integrity hash.
const LABELS_311: Labels = Labels {
    signing: (b"SMBSigningKey\0", None),
    c2s: (b"SMBC2SCipherKey\0", None),
    s2c: (b"SMBS2CCipherKey\0", None),
    app: (b"SMBAppKey\0", None),
};

/// An AES key of 16 or 32 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey {
    bytes: [u8; 32],
    len: usize,
}

impl AesKey {
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() != 16 && key.len() != 32 {
            return Err(Error::InvalidKey("AES key must be 16 or 32 bytes"));
        }
        let mut bytes = [0u8; 32];
        bytes[..key.len()].copy_from_slice(key);
        Ok(AesKey {
            bytes,
            len: key.len(),
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AesKey({} bits)", self.len * 8)
    }
}

/// A session's encryption keys, named by direction.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EncryptionKeys {
    pub cipher: Cipher,
    /// Client-to-server (the server's decryption key; "ServerIn").
    pub client_to_server: AesKey,
    /// Server-to-client (the server's encryption key; "ServerOut").
    pub server_to_client: AesKey,
}

/// Every key a session needs, from [`derive_session_keys`].
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// Session.SigningKey: the SMB2 session key itself for 2.0.2/2.1, the
    /// KDF output for 3.x.
    pub signing_key: [u8; 16],
    /// Session.ApplicationKey (for named-pipe RPC, e.g. SamrSetUserInfo).
    pub application_key: [u8; 16],
    /// `None` for 2.x, or when no cipher was negotiated.
    pub encryption: Option<EncryptionKeys>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("encryption", &self.encryption.as_ref().map(|e| e.cipher))
            .finish()
    }
}

/// Session.SessionKey: the first 16 bytes of the GSS session key, right
/// padded with zeros ([MS-SMB2] 3.3.1.8).
pub fn smb2_session_key(full_session_key: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    let n = full_session_key.len().min(16);
    k[..n].copy_from_slice(&full_session_key[..n]);
    k
}

fn derive(key: &[u8], (label, ctx): (&[u8], Option<&[u8]>), preauth: &[u8], out: &mut [u8]) {
    sp800_108_hmac_sha256(key, label, ctx.unwrap_or(preauth), out);
}

/// The signing key of a session or of a channel bound to it (session
/// binding derives Channel.SigningKey the same way, with the binding's own
/// pre-auth hash on 3.1.1).
pub fn signing_key(
    dialect: Dialect,
    full_session_key: &[u8],
    preauth_hash: Option<&[u8; 64]>,
) -> Result<[u8; 16]> {
    let sk = smb2_session_key(full_session_key);
    let mut out = [0u8; 16];
    match dialect {
        Dialect::Smb202 | Dialect::Smb210 => out = sk,
        Dialect::Smb300 | Dialect::Smb302 => derive(&sk, LABELS_30.signing, &[], &mut out),
        Dialect::Smb311 => {
            let h = preauth_hash.ok_or(Error::InvalidKey(
                "SMB 3.1.1 needs the pre-auth integrity hash",
            ))?;
            derive(&sk, LABELS_311.signing, h, &mut out);
        }
    }
    Ok(out)
}

/// Derives a session's keys ([MS-SMB2] 3.3.5.5.3).
///
/// * `full_session_key`: the GSS session key ([`crate::ntlm::Authenticated::session_key`]).
/// * `cipher`: the negotiated cipher, if any: 3.0/3.0.2 allow only
///   AES-128-CCM; 3.1.1 any of the four; 2.x none.
/// * `preauth_hash`: the session's pre-authentication integrity hash
///   (required for 3.1.1, ignored otherwise).
pub fn derive_session_keys(
    dialect: Dialect,
    full_session_key: &[u8],
    cipher: Option<Cipher>,
    preauth_hash: Option<&[u8; 64]>,
) -> Result<SessionKeys> {
    if full_session_key.is_empty() {
        return Err(Error::InvalidKey("empty session key"));
    }
    let sk = smb2_session_key(full_session_key);
    let (labels, context): (&Labels, &[u8]) = match dialect {
        Dialect::Smb202 | Dialect::Smb210 => {
            if cipher.is_some() {
                return Err(Error::InvalidKey("SMB 2.x has no encryption"));
            }
            return Ok(SessionKeys {
                signing_key: sk,
                application_key: sk,
                encryption: None,
            });
        }
        Dialect::Smb300 | Dialect::Smb302 => {
            if matches!(cipher, Some(c) if c != Cipher::Aes128Ccm) {
                return Err(Error::InvalidKey(
                    "SMB 3.0.x encrypts only with AES-128-CCM",
                ));
            }
            (&LABELS_30, &[])
        }
        Dialect::Smb311 => {
            let h = preauth_hash.ok_or(Error::InvalidKey(
                "SMB 3.1.1 needs the pre-auth integrity hash",
            ))?;
            (&LABELS_311, &h[..])
        }
    };
    let mut signing_key = [0u8; 16];
    derive(&sk, labels.signing, context, &mut signing_key);
    let mut application_key = [0u8; 16];
    derive(&sk, labels.app, context, &mut application_key);
    let encryption = cipher.map(|c| {
        let (input, len): (&[u8], usize) = match c.key_len() {
            32 => (full_session_key, 32),
            _ => (&sk, 16),
        };
        let mut c2s = [0u8; 32];
        let mut s2c = [0u8; 32];
        derive(input, labels.c2s, context, &mut c2s[..len]);
        derive(input, labels.s2c, context, &mut s2c[..len]);
        EncryptionKeys {
            cipher: c,
            client_to_server: AesKey::new(&c2s[..len]).expect("16 or 32"),
            server_to_client: AesKey::new(&s2c[..len]).expect("16 or 32"),
        }
    });
    Ok(SessionKeys {
        signing_key,
        application_key,
        encryption,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    #[test]
    fn smb311_signing_key_from_preauth_vector() {
        let sk: [u8; 16] = unhex_arr(PREAUTH_SESSION_KEY);
        let h: [u8; 64] = unhex_arr(PREAUTH_HASH_5);
        let keys = derive_session_keys(Dialect::Smb311, &sk, None, Some(&h)).unwrap();
        assert_eq!(keys.signing_key, unhex_arr::<16>(PREAUTH_SIGNING_KEY));
        assert_eq!(
            signing_key(Dialect::Smb311, &sk, Some(&h)).unwrap(),
            keys.signing_key
        );
    }

    #[test]
    fn smb30_encryption_keys_vector() {
        let sk: [u8; 16] = unhex_arr(ENC30_SESSION_KEY);
        let keys =
            derive_session_keys(Dialect::Smb300, &sk, Some(Cipher::Aes128Ccm), None).unwrap();
        let enc = keys.encryption.unwrap();
        assert_eq!(enc.client_to_server.as_bytes(), unhex_vec(ENC30_C2S_KEY));
        assert_eq!(enc.server_to_client.as_bytes(), unhex_vec(ENC30_S2C_KEY));
    }

    #[test]
    fn smb311_encryption_keys_vector() {
        let sk: [u8; 16] = unhex_arr(ENC311_SESSION_KEY);
        let h: [u8; 64] = unhex_arr(ENC311_PREAUTH_HASH);
        let keys =
            derive_session_keys(Dialect::Smb311, &sk, Some(Cipher::Aes128Gcm), Some(&h)).unwrap();
        let enc = keys.encryption.unwrap();
        assert_eq!(enc.client_to_server.as_bytes(), unhex_vec(ENC311_C2S_KEY));
        assert_eq!(enc.server_to_client.as_bytes(), unhex_vec(ENC311_S2C_KEY));
    }

    #[test]
    fn aes256_keys_are_256_bit_and_differ_from_truncation() {
        let sk = [7u8; 16];
        let h = [9u8; 64];
        let k256 =
            derive_session_keys(Dialect::Smb311, &sk, Some(Cipher::Aes256Gcm), Some(&h)).unwrap();
        let k128 =
            derive_session_keys(Dialect::Smb311, &sk, Some(Cipher::Aes128Gcm), Some(&h)).unwrap();
        let e256 = k256.encryption.unwrap();
        let e128 = k128.encryption.unwrap();
        assert_eq!(e256.server_to_client.as_bytes().len(), 32);
        // L is part of the KDF input, so the first 16 bytes differ too.
        assert_ne!(
            &e256.server_to_client.as_bytes()[..16],
            e128.server_to_client.as_bytes()
        );
        // The signing key does not depend on the cipher.
        assert_eq!(k256.signing_key, k128.signing_key);
        // A longer (e.g. Kerberos) session key feeds AES-256 whole.
        let long = [7u8; 32];
        let kl =
            derive_session_keys(Dialect::Smb311, &long, Some(Cipher::Aes256Gcm), Some(&h)).unwrap();
        assert_eq!(kl.signing_key, k256.signing_key);
        assert_ne!(
            kl.encryption.unwrap().server_to_client,
            e256.server_to_client
        );
    }

    #[test]
    fn smb2_uses_the_session_key() {
        let sk = [3u8; 16];
        let k = derive_session_keys(Dialect::Smb210, &sk, None, None).unwrap();
        assert_eq!(k.signing_key, sk);
        assert!(k.encryption.is_none());
        assert!(derive_session_keys(Dialect::Smb202, &sk, Some(Cipher::Aes128Ccm), None).is_err());
        assert!(derive_session_keys(Dialect::Smb300, &sk, Some(Cipher::Aes128Gcm), None).is_err());
        assert!(derive_session_keys(Dialect::Smb311, &sk, None, None).is_err());
        assert!(derive_session_keys(Dialect::Smb300, &[], None, None).is_err());
    }

    #[test]
    fn kdf_multi_block() {
        let mut a = [0u8; 64];
        sp800_108_hmac_sha256(b"k", b"L\0", b"C", &mut a);
        let mut b = [0u8; 32];
        sp800_108_hmac_sha256(b"k", b"L\0", b"C", &mut b);
        // Different L, different output.
        assert_ne!(&a[..32], &b[..]);
        assert_ne!(&a[..32], &a[32..]);
    }
}
