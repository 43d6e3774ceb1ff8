//! Extended attributes as NTFS and SMB lay them out: a FILE_FULL_EA_INFORMATION
//! list ([MS-FSCC] 2.4.15). SMB carries it (SET_INFO, QUERY_INFO, the ExtA
//! create context) and the file server stores it as is, so a file's EaSize
//! is its stored list's length.
//!
//! ```text
//! entry: NextEntryOffset u32 (0 = last; else 4-aligned), Flags u8,
//!        EaNameLength u8, EaValueLength u16, EaName (ASCII), NUL, EaValue
//! ```

/// Longest EA list of one file, as NTFS allows (64 KiB).
pub const EA_LIST_BYTES_MAX: usize = 65_536;
/// Longest EA name.
pub const EA_NAME_BYTES_MAX: usize = 255;
const ENTRY_FIXED_BYTES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ea {
    /// FILE_NEED_EA (0x80) or 0.
    pub flags: u8,
    pub name: String,
    /// Empty in a SET means "remove this EA".
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EaError {
    #[error("EA list of {0} bytes is over {EA_LIST_BYTES_MAX}")]
    TooLarge(usize),
    #[error("EA list truncated at byte {0}")]
    Truncated(usize),
    #[error("EA at byte {0}: {1}")]
    Malformed(usize, &'static str),
}

/// [MS-FSCC] 2.4.15: an EA name is 1..=255 ASCII characters, none a
/// control character or one of `"*+,/:;<=>?[\]|`.
pub fn valid_ea_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= EA_NAME_BYTES_MAX && name.bytes().all(|b| (0x20..0x7f).contains(&b) && !b"\"*+,/:;<=>?[\\]|".contains(&b))
}

/// Decodes a list (empty bytes: no EAs). Each Next must be 4-aligned and
/// past its own entry. Names are checked by the caller (`valid_ea_name`),
/// since a bad one has a status of its own.
pub fn decode_full_ea_list(b: &[u8]) -> Result<Vec<Ea>, EaError> {
    if b.len() > EA_LIST_BYTES_MAX {
        return Err(EaError::TooLarge(b.len()));
    }
    let mut out = Vec::new();
    if b.is_empty() {
        return Ok(out);
    }
    let mut pos = 0usize;
    loop {
        let head = b.get(pos..pos + ENTRY_FIXED_BYTES).ok_or(EaError::Truncated(pos))?;
        let next = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
        let flags = head[4];
        let name_len = usize::from(head[5]);
        let value_len = usize::from(u16::from_le_bytes([head[6], head[7]]));
        let used = ENTRY_FIXED_BYTES + name_len + 1 + value_len;
        let body = b.get(pos + ENTRY_FIXED_BYTES..pos + used).ok_or(EaError::Truncated(pos))?;
        if body[name_len] != 0 {
            return Err(EaError::Malformed(pos, "the name is not NUL-terminated"));
        }
        let name = std::str::from_utf8(&body[..name_len]).map_err(|_| EaError::Malformed(pos, "the name is not ASCII"))?.to_string();
        out.push(Ea { flags, name, value: body[name_len + 1..].to_vec() });
        // Clients pad the last entry too (smbtorture's ExtA to 8 bytes):
        // what follows it is ignored.
        if next == 0 {
            break;
        }
        if next % 4 != 0 || next < used {
            return Err(EaError::Malformed(pos, "NextEntryOffset is unaligned or inside its entry"));
        }
        pos += next;
    }
    Ok(out)
}

fn entry_bytes(e: &Ea) -> usize {
    ENTRY_FIXED_BYTES + e.name.len() + 1 + e.value.len()
}

/// Encodes a list, each entry but the last padded to 4 bytes.
pub fn encode_full_ea_list(eas: &[Ea], out: &mut Vec<u8>) {
    for (i, e) in eas.iter().enumerate() {
        assert!(e.name.len() <= EA_NAME_BYTES_MAX && e.value.len() <= u16::MAX as usize, "EA reached the encoder unchecked");
        let len = entry_bytes(e);
        let next = if i + 1 < eas.len() { len.next_multiple_of(4) } else { 0 };
        out.extend_from_slice(&(next as u32).to_le_bytes());
        out.push(e.flags);
        out.push(e.name.len() as u8);
        out.extend_from_slice(&(e.value.len() as u16).to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        out.extend_from_slice(&e.value);
        if next != 0 {
            out.resize(out.len() + next - len, 0);
        }
    }
}

/// FileEaInformation.EaSize: the bytes the whole list takes encoded (0
/// with no EAs).
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
        let mut b = Vec::new();
        encode_full_ea_list(&eas, &mut b);
        assert_eq!(b.len(), full_ea_size(&eas) as usize);
        assert_eq!(&b[..4], &20u32.to_le_bytes(), "8 + 5 + 1 + 6 = 20, already 4-aligned");
        assert_eq!(decode_full_ea_list(&b).unwrap(), eas);
        assert_eq!(decode_full_ea_list(&[]).unwrap(), vec![]);
        for cut in 1..b.len() {
            assert!(decode_full_ea_list(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = b.clone();
        bad[0] = 3; // Next not aligned
        assert!(decode_full_ea_list(&bad).is_err());
        let mut bad = b.clone();
        bad[0] = 4; // Next inside its own entry
        assert!(decode_full_ea_list(&bad).is_err());
        let mut padded = b.clone();
        padded.extend_from_slice(&[0; 3]);
        assert_eq!(decode_full_ea_list(&padded).unwrap(), eas, "padding after the last entry is ignored");
        assert!(decode_full_ea_list(&vec![0u8; EA_LIST_BYTES_MAX + 1]).is_err());
        assert!(valid_ea_name("user.Comment") && !valid_ea_name("a:b") && !valid_ea_name("") && !valid_ea_name("é"));
    }
}
