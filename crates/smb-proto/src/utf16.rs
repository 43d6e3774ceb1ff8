//! UTF-16LE, the encoding of every name on the SMB2 wire, to and from
//! Rust strings. Decoding is strict: an odd byte count or an unpaired
//! surrogate is an error, never a replacement character, so two different
//! wire names can never decode to the same `String`.

use bytes::{BufMut, BytesMut};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Utf16Error {
    #[error("odd byte length {0}")]
    OddLength(usize),
    #[error("unpaired surrogate at byte {at}")]
    UnpairedSurrogate { at: usize },
}

/// Decodes UTF-16LE bytes to a `String`.
pub fn decode_utf16le(bytes: &[u8]) -> Result<String, Utf16Error> {
    if bytes.len() % 2 != 0 {
        return Err(Utf16Error::OddLength(bytes.len()));
    }
    let units = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    let mut out = String::with_capacity(bytes.len() / 2);
    for r in char::decode_utf16(units) {
        match r {
            Ok(c) => out.push(c),
            Err(_) => {
                // Report the byte offset of the bad unit: everything before
                // it was decoded into `out`.
                let at = out.chars().map(char::len_utf16).sum::<usize>() * 2;
                return Err(Utf16Error::UnpairedSurrogate { at });
            }
        }
    }
    Ok(out)
}

/// Number of bytes `s` takes in UTF-16LE.
pub fn utf16le_len(s: &str) -> usize {
    s.chars().map(|c| c.len_utf16() * 2).sum()
}

/// Appends `s` in UTF-16LE.
pub fn put_utf16le(out: &mut BytesMut, s: &str) {
    out.reserve(utf16le_len(s));
    for u in s.encode_utf16() {
        out.put_u16_le(u);
    }
}

/// `s` in UTF-16LE, as a new vector.
pub fn to_utf16le(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(utf16le_len(s));
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_surrogate_pair() {
        let s = "dir\\file-\u{1F600}-é";
        let b = to_utf16le(s);
        assert_eq!(b.len(), utf16le_len(s));
        assert_eq!(decode_utf16le(&b).unwrap(), s);
        let mut m = BytesMut::new();
        put_utf16le(&mut m, s);
        assert_eq!(&m[..], &b[..]);
    }

    #[test]
    fn odd_length_is_an_error() {
        assert_eq!(decode_utf16le(&[0x41, 0, 0x42]), Err(Utf16Error::OddLength(3)));
    }

    #[test]
    fn unpaired_surrogates_are_errors() {
        // "a" then a lone high surrogate then "b".
        let b = [0x61, 0, 0x00, 0xD8, 0x62, 0];
        assert_eq!(decode_utf16le(&b), Err(Utf16Error::UnpairedSurrogate { at: 2 }));
        // A lone low surrogate at the end.
        let b = [0x61, 0, 0x00, 0xDC];
        assert_eq!(decode_utf16le(&b), Err(Utf16Error::UnpairedSurrogate { at: 2 }));
        // A high surrogate at the very end.
        assert!(decode_utf16le(&[0x00, 0xD8]).is_err());
    }

    #[test]
    fn empty_is_empty() {
        assert_eq!(decode_utf16le(&[]).unwrap(), "");
    }
}
