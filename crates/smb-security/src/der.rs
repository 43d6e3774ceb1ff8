//! The few DER primitives SPNEGO needs: read one TLV, write one TLV.
//!
//! Reading is strict where it matters for safety and lenient where real
//! clients are sloppy: single-byte tags only (no high tag numbers),
//! definite lengths only, length-of-length at most 4 bytes, every length
//! checked against the bytes that remain; non-minimal length encodings
//! (which Windows produces) are accepted. Nothing here recurses: callers walk
//! a fixed grammar, so nesting depth is bounded by that grammar, not by the
//! input.

use crate::error::{Error, Result};

pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_ENUMERATED: u8 = 0x0a;
pub(crate) const TAG_GENERAL_STRING: u8 = 0x1b;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_APPLICATION_0: u8 = 0x60;

/// Context-specific constructed tag `[n]`.
pub(crate) const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// One TLV: its tag, its content, and the whole encoding (tag + length +
/// content), which the mechListMIC is computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads one TLV from the front of `input`; returns it and the rest.
pub(crate) fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    const WHAT: &str = "DER encoding";
    let (&tag, rest) = input.split_first().ok_or(Error::Malformed(WHAT))?;
    if tag & 0x1f == 0x1f {
        return Err(Error::Malformed("DER high tag number"));
    }
    let (&first, mut rest) = rest.split_first().ok_or(Error::Malformed(WHAT))?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 {
            return Err(Error::Malformed("DER indefinite length"));
        }
        if n > 4 || rest.len() < n {
            return Err(Error::Malformed(WHAT));
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | b as usize;
        }
        rest = &rest[n..];
        len
    };
    if len > rest.len() {
        return Err(Error::Malformed("DER length past the end"));
    }
    let header = input.len() - rest.len();
    let tlv = Tlv {
        tag,
        content: &rest[..len],
        raw: &input[..header + len],
    };
    Ok((tlv, &rest[len..]))
}

/// Reads one TLV that must have tag `tag` and be all of `input`.
pub(crate) fn read_exact(input: &[u8], tag: u8) -> Result<Tlv<'_>> {
    let (tlv, rest) = read(input)?;
    if tlv.tag != tag || !rest.is_empty() {
        return Err(Error::Malformed("DER: unexpected tag or trailing bytes"));
    }
    Ok(tlv)
}

/// Iterates over the TLVs that make up `content`, stopping at the first
/// error (which it yields).
pub(crate) fn children(mut content: &[u8]) -> impl Iterator<Item = Result<Tlv<'_>>> {
    std::iter::from_fn(move || {
        if content.is_empty() {
            return None;
        }
        match read(content) {
            Ok((tlv, rest)) => {
                content = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                content = &[];
                Some(Err(e))
            }
        }
    })
}

/// Encodes one TLV with a minimal length.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Concatenation of already-encoded TLVs.
pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        for n in [0usize, 1, 127, 128, 255, 256, 65535, 70000] {
            let c = vec![7u8; n];
            let enc = tlv(0x04, &c);
            let (t, rest) = read(&enc).unwrap();
            assert!(rest.is_empty());
            assert_eq!(t.content.len(), n);
            assert_eq!(t.raw, &enc[..]);
        }
        assert_eq!(tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
    }

    #[test]
    fn rejects_bad_encodings() {
        assert!(read(&[]).is_err());
        assert!(read(&[0x04]).is_err());
        assert!(read(&[0x04, 0x80]).is_err()); // indefinite
        assert!(read(&[0x04, 0x85, 0, 0, 0, 0, 1]).is_err()); // 5-byte length
        assert!(read(&[0x04, 0x02, 1]).is_err()); // past the end
        assert!(read(&[0x1f, 0x01, 0]).is_err()); // high tag number
        assert!(read(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Non-minimal but valid.
        let (t, _) = read(&[0x04, 0x82, 0x00, 0x01, 9]).unwrap();
        assert_eq!(t.content, &[9]);
    }
}
