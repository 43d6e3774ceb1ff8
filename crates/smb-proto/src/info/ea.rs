//! Extended attributes as SMB carries them: FILE_FULL_EA_INFORMATION
//! ([MS-FSCC] 2.4.15) in SET_INFO, QUERY_INFO and the ExtA create context.
//!
//! ```text
//! entry: NextEntryOffset u32 (0 = last; else 4-aligned), Flags u8,
//!        EaNameLength u8, EaValueLength u16, EaName (ASCII), NUL, EaValue
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::wire::Reader;

/// Longest EA list of one file, as NTFS allows (64 KiB).
pub const EA_LIST_BYTES_MAX: usize = 65_536;
const ENTRY_FIXED_BYTES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ea {
    /// FILE_NEED_EA (0x80) or 0.
    pub flags: u8,
    pub name: String,
    /// Empty in a SET means "remove this EA".
    pub value: Vec<u8>,
}

/// [MS-FSCC] 2.4.15: an EA name is 1..=255 ASCII characters, none a
/// control character or one of `"*+,/:;<=>?[\]|`.
pub fn valid_ea_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.bytes().all(|b| (0x20..0x7f).contains(&b) && !b"\"*+,/:;<=>?[\\]|".contains(&b))
}

/// Decodes a list; the bytes must be exactly the entries (each Next
/// 4-aligned and past its own entry). Names are checked by the caller
/// (`valid_ea_name`), since a bad one has a status of its own.
pub fn decode_full_ea_list(b: &[u8]) -> Result<Vec<Ea>> {
    if b.len() > EA_LIST_BYTES_MAX {
        return Err(ProtoError::TooMany { field: "EA list bytes", count: b.len() as u64, max: EA_LIST_BYTES_MAX as u64 });
    }
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        let rest = b.get(pos..).unwrap_or(&[]);
        let mut r = Reader::new(rest, "FILE_FULL_EA_INFORMATION");
        let next = r.u32()? as usize;
        let flags = r.u8()?;
        let name_len = usize::from(r.u8()?);
        let value_len = usize::from(r.u16()?);
        let name = r.take(name_len)?;
        if r.u8()? != 0 {
            return Err(ProtoError::InvalidValue { field: "EA name terminator", value: 1 });
        }
        let value = r.take(value_len)?.to_vec();
        let used = ENTRY_FIXED_BYTES + name_len + 1 + value_len;
        let name = String::from_utf8(name.to_vec()).map_err(|_| ProtoError::InvalidValue { field: "EA name (not ASCII)", value: 0 })?;
        out.push(Ea { flags, name, value });
        if next == 0 {
            return Ok(out);
        }
        if next % 4 != 0 || next < used {
            return Err(ProtoError::InvalidValue { field: "EA NextEntryOffset", value: next as u64 });
        }
        pos += next;
    }
}

fn entry_bytes(e: &Ea) -> usize {
    ENTRY_FIXED_BYTES + e.name.len() + 1 + e.value.len()
}

/// Encodes a list, each entry but the last padded to 4 bytes.
pub fn encode_full_ea_list(eas: &[Ea], out: &mut BytesMut) {
    for (i, e) in eas.iter().enumerate() {
        assert!(e.name.len() <= 255 && e.value.len() <= u16::MAX as usize, "EA reached the encoder unchecked");
        let len = entry_bytes(e);
        let next = if i + 1 < eas.len() { len.next_multiple_of(4) } else { 0 };
        out.put_u32_le(next as u32);
        out.put_u8(e.flags);
        out.put_u8(e.name.len() as u8);
        out.put_u16_le(e.value.len() as u16);
        out.put_slice(e.name.as_bytes());
        out.put_u8(0);
        out.put_slice(&e.value);
        if next != 0 {
            out.put_bytes(0, next - len);
        }
    }
}

/// FileEaInformation.EaSize: the bytes a FILE_FULL_EA_INFORMATION query
/// of the whole list needs (0 with no EAs).
pub fn full_ea_size(eas: &[Ea]) -> u32 {
    let n = eas.len();
    eas.iter().enumerate().map(|(i, e)| if i + 1 < n { entry_bytes(e).next_multiple_of(4) } else { entry_bytes(e) }).sum::<usize>() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_bad_ones_are_refused() {
        let eas = vec![Ea { flags: 0, name: "EAONE".into(), value: b"VALUE1".to_vec() }, Ea { flags: 0x80, name: "SECONDEA".into(), value: b"ValueTwo".to_vec() }];
        let mut b = BytesMut::new();
        encode_full_ea_list(&eas, &mut b);
        assert_eq!(b.len(), full_ea_size(&eas) as usize);
        assert_eq!(&b[..4], &20u32.to_le_bytes(), "8 + 5 + 1 + 6 = 20, already 4-aligned");
        assert_eq!(decode_full_ea_list(&b).unwrap(), eas);
        for cut in 0..b.len() {
            assert!(decode_full_ea_list(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = b.to_vec();
        bad[0] = 3; // Next not aligned
        assert!(decode_full_ea_list(&bad).is_err());
        let mut bad = b.to_vec();
        bad[0] = 4; // Next inside its own entry
        assert!(decode_full_ea_list(&bad).is_err());
        assert!(decode_full_ea_list(&vec![0u8; EA_LIST_BYTES_MAX + 1]).is_err());
        assert!(valid_ea_name("user.Comment") && !valid_ea_name("a:b") && !valid_ea_name("") && !valid_ea_name("é"));
    }
}
