//! Encoders for the directory information classes that QUERY_DIRECTORY
//! returns ([MS-FSCC] 2.4). Entries are chained by NextEntryOffset, each
//! starting 8-byte aligned; the encoder stops before the client's
//! OutputBufferLength would be exceeded and says how many entries fit, so
//! the server can resume from there on the next request.

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::msg::len32;
use crate::utf16::{put_utf16le, utf16le_len};
use crate::wire::align8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirInfoClass {
    /// FileDirectoryInformation (1).
    Directory,
    /// FileFullDirectoryInformation (2).
    FullDirectory,
    /// FileBothDirectoryInformation (3).
    BothDirectory,
    /// FileNamesInformation (12).
    Names,
    /// FileIdBothDirectoryInformation (37).
    IdBothDirectory,
    /// FileIdFullDirectoryInformation (38).
    IdFullDirectory,
    /// FileIdExtdDirectoryInformation (60).
    IdExtdDirectory,
}

impl DirInfoClass {
    /// Unknown classes are STATUS_INVALID_INFO_CLASS.
    pub fn from_u8(class: u8) -> Result<DirInfoClass> {
        Ok(match class {
            1 => DirInfoClass::Directory,
            2 => DirInfoClass::FullDirectory,
            3 => DirInfoClass::BothDirectory,
            12 => DirInfoClass::Names,
            37 => DirInfoClass::IdBothDirectory,
            38 => DirInfoClass::IdFullDirectory,
            60 => DirInfoClass::IdExtdDirectory,
            other => return Err(ProtoError::InfoClass { field: "QUERY_DIRECTORY FileInformationClass", class: other }),
        })
    }

    pub fn as_u8(self) -> u8 {
        match self {
            DirInfoClass::Directory => 1,
            DirInfoClass::FullDirectory => 2,
            DirInfoClass::BothDirectory => 3,
            DirInfoClass::Names => 12,
            DirInfoClass::IdBothDirectory => 37,
            DirInfoClass::IdFullDirectory => 38,
            DirInfoClass::IdExtdDirectory => 60,
        }
    }

    /// Bytes of an entry before its FileName.
    pub fn fixed_bytes(self) -> usize {
        match self {
            DirInfoClass::Directory => 64,
            DirInfoClass::FullDirectory => 68,
            DirInfoClass::BothDirectory => 94,
            DirInfoClass::Names => 12,
            DirInfoClass::IdBothDirectory => 104,
            DirInfoClass::IdFullDirectory => 80,
            DirInfoClass::IdExtdDirectory => 88,
        }
    }
}

/// What the server knows about one directory entry. The short (8.3) name
/// is derived from `name` (`short_name.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirEntry<'a> {
    pub name: &'a str,
    pub file_index: u32,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub end_of_file: u64,
    pub allocation_size: u64,
    pub file_attributes: u32,
    /// EaSize (or the reparse tag for a reparse point, per [MS-FSCC]).
    pub ea_size: u32,
    /// The 64-bit file id (IdExtd widens it to 128 bits with zeros).
    pub file_id: u64,
    pub reparse_tag: u32,
}

const SHORT_NAME_BYTES: usize = 24;

/// ShortNameLength, Reserved and the 24-byte ShortName field.
fn put_short_name(out: &mut BytesMut, name: &str) {
    let short = super::short_name::short_name(name);
    let len = utf16le_len(&short);
    assert!(len <= SHORT_NAME_BYTES, "short name {short:?} over {SHORT_NAME_BYTES} bytes");
    out.put_u8(len as u8);
    out.put_u8(0);
    put_utf16le(out, &short);
    out.put_bytes(0, SHORT_NAME_BYTES - len);
}

/// Appends as many `entries` as fit in `output_buffer_length` bytes and
/// returns how many did. Each entry starts 8-byte aligned; the last one
/// is not padded and its NextEntryOffset is 0.
pub fn encode_dir_entries(
    class: DirInfoClass,
    entries: &[DirEntry<'_>],
    output_buffer_length: u32,
    out: &mut BytesMut,
) -> usize {
    let start = out.len();
    let max = output_buffer_length as usize;
    let mut previous: Option<usize> = None;
    let mut used = 0usize;
    let mut count = 0;
    for e in entries {
        let name_len = utf16le_len(e.name);
        let entry_start = match align8(used) {
            Some(s) => s,
            None => break,
        };
        let entry_len = class.fixed_bytes() + name_len;
        match entry_start.checked_add(entry_len) {
            Some(end) if end <= max => {}
            _ => break,
        }
        out.put_bytes(0, entry_start - used);
        if let Some(p) = previous {
            let next = len32(entry_start - p).to_le_bytes();
            let at = start + p;
            out[at..at + 4].copy_from_slice(&next);
        }
        encode_entry(class, e, name_len, out);
        previous = Some(entry_start);
        used = entry_start + entry_len;
        count += 1;
    }
    count
}

fn encode_entry(class: DirInfoClass, e: &DirEntry<'_>, name_len: usize, out: &mut BytesMut) {
    out.put_u32_le(0); // NextEntryOffset, patched when another entry follows
    out.put_u32_le(e.file_index);
    if class == DirInfoClass::Names {
        out.put_u32_le(len32(name_len));
        put_utf16le(out, e.name);
        return;
    }
    out.put_u64_le(e.creation_time);
    out.put_u64_le(e.last_access_time);
    out.put_u64_le(e.last_write_time);
    out.put_u64_le(e.change_time);
    out.put_u64_le(e.end_of_file);
    out.put_u64_le(e.allocation_size);
    out.put_u32_le(e.file_attributes);
    out.put_u32_le(len32(name_len));
    match class {
        DirInfoClass::Directory | DirInfoClass::Names => {}
        DirInfoClass::FullDirectory => out.put_u32_le(e.ea_size),
        DirInfoClass::BothDirectory => {
            out.put_u32_le(e.ea_size);
            put_short_name(out, e.name);
        }
        DirInfoClass::IdBothDirectory => {
            out.put_u32_le(e.ea_size);
            put_short_name(out, e.name);
            out.put_u16_le(0);
            out.put_u64_le(e.file_id);
        }
        DirInfoClass::IdFullDirectory => {
            out.put_u32_le(e.ea_size);
            out.put_u32_le(0);
            out.put_u64_le(e.file_id);
        }
        DirInfoClass::IdExtdDirectory => {
            out.put_u32_le(e.ea_size);
            out.put_u32_le(e.reparse_tag);
            out.put_u64_le(e.file_id);
            out.put_u64_le(0);
        }
    }
    put_utf16le(out, e.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [DirInfoClass; 7] = [
        DirInfoClass::Directory,
        DirInfoClass::FullDirectory,
        DirInfoClass::BothDirectory,
        DirInfoClass::Names,
        DirInfoClass::IdBothDirectory,
        DirInfoClass::IdFullDirectory,
        DirInfoClass::IdExtdDirectory,
    ];

    fn entry(name: &str) -> DirEntry<'_> {
        DirEntry { name, file_index: 0, end_of_file: 5, file_attributes: 0x20, file_id: 42, ..Default::default() }
    }

    #[test]
    fn each_class_has_its_fixed_size() {
        for c in ALL {
            let mut out = BytesMut::new();
            assert_eq!(encode_dir_entries(c, &[entry("ab")], 4096, &mut out), 1);
            assert_eq!(out.len(), c.fixed_bytes() + 4, "{c:?}");
            assert_eq!(DirInfoClass::from_u8(c.as_u8()).unwrap(), c);
        }
        assert!(DirInfoClass::from_u8(99).is_err());
    }

    #[test]
    fn chain_is_aligned_and_stops_at_the_limit() {
        let names = [entry("."), entry(".."), entry("file.txt")];
        let c = DirInfoClass::IdBothDirectory;
        // 104 + 2 = 106 -> next at 112; 104 + 4 = 108 -> next at 224;
        // 104 + 16 = 120 -> ends at 344.
        let mut out = BytesMut::new();
        assert_eq!(encode_dir_entries(c, &names, 344, &mut out), 3);
        assert_eq!(out.len(), 344);
        assert_eq!(&out[0..4], &112u32.to_le_bytes());
        assert_eq!(&out[112..116], &112u32.to_le_bytes());
        assert_eq!(&out[224..228], &0u32.to_le_bytes());
        // The file id of the last entry.
        assert_eq!(&out[224 + 96..224 + 104], &42u64.to_le_bytes());
        let mut out = BytesMut::new();
        assert_eq!(encode_dir_entries(c, &names, 343, &mut out), 2);
        assert_eq!(out.len(), 220);
        assert_eq!(&out[112..116], &0u32.to_le_bytes());
        let mut out = BytesMut::new();
        assert_eq!(encode_dir_entries(c, &names, 100, &mut out), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn appends_after_existing_bytes() {
        let mut out = BytesMut::from(&[0xEEu8; 3][..]);
        let n = encode_dir_entries(DirInfoClass::Names, &[entry("a"), entry("b")], 100, &mut out);
        assert_eq!(n, 2);
        assert_eq!(&out[3..7], &16u32.to_le_bytes());
        assert_eq!(&out[3 + 8..3 + 12], &2u32.to_le_bytes());
    }
}
