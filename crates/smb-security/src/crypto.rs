//! Small wrappers over the RustCrypto primitives that NTLM needs, so the
//! protocol code reads like MS-NLMP's pseudocode.

use hmac::{Hmac, Mac};
use md4::Md4;
use md5::{Digest, Md5};
use rc4::{consts::U16, KeyInit, Rc4, StreamCipher};

type HmacMd5 = Hmac<Md5>;

/// HMAC_MD5(key, concatenation of `parts`).
pub(crate) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <HmacMd5 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// MD5(concatenation of `parts`).
pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// MD4(data).
pub(crate) fn md4(data: &[u8]) -> [u8; 16] {
    let mut h = Md4::new();
    h.update(data);
    h.finalize().into()
}

/// A fresh RC4 stream with a 16-byte key.
pub(crate) struct Rc4Stream(Rc4<U16>);

impl Rc4Stream {
    pub(crate) fn new(key: &[u8; 16]) -> Self {
        Rc4Stream(<Rc4<U16> as KeyInit>::new(key.into()))
    }

    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

/// RC4(key, data) with a fresh key stream, as MS-NLMP's `RC4K`.
pub(crate) fn rc4k(key: &[u8; 16], data: &[u8; 16]) -> [u8; 16] {
    let mut out = *data;
    Rc4Stream::new(key).apply(&mut out);
    out
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// UTF-16LE encoding of `s`, as Windows' UNICODE_STRING carries it.
pub(crate) fn utf16le(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2);
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

/// Decodes UTF-16LE bytes; `None` on an odd length or unpaired surrogate.
pub(crate) fn from_utf16le(b: &[u8]) -> Option<String> {
    if b.len() & 1 != 0 {
        return None;
    }
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// Upper-cases the way Windows' RtlUpcaseUnicodeString does for NTOWFv2:
/// character by character, and a character whose upper case is more than
/// one character (German sharp s, ligatures) stays as it is.
pub(crate) fn upcase(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// Lower-case hex.
pub(crate) fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

/// Parses exactly `N` bytes of hex (either case); `None` otherwise.
pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_md5_rfc2202_case_2() {
        let mac = hmac_md5(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex(&mac), "750c783e6ab0b503eaa86e310a5db738");
    }

    #[test]
    fn md4_rfc1320() {
        assert_eq!(hex(&md4(b"abc")), "a448017aaf21d8525fc10ae87aa6729d");
    }

    #[test]
    fn rc4_known_answer() {
        // RFC 6229, 128-bit key 0x0102..10, first 16 bytes of key stream.
        let key: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        assert_eq!(
            hex(&rc4k(&key, &[0; 16])),
            "9ac7cc9a609d1ef7b2932899cde41b97"
        );
    }

    #[test]
    fn upcase_is_one_to_one() {
        assert_eq!(upcase("user"), "USER");
        assert_eq!(upcase("straße"), "STRAßE");
        assert_eq!(upcase("élan"), "ÉLAN");
    }

    #[test]
    fn hex_round_trip() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(unhex::<4>(&hex(&b)), Some(b));
        assert_eq!(unhex::<4>("00"), None);
        assert_eq!(unhex::<1>("zz"), None);
        assert_eq!(unhex::<1>("AB"), Some([0xab]));
    }
}
