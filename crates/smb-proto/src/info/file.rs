//! Encoders for the FILE information classes the server answers in
//! QUERY_INFO ([MS-FSCC] 2.4). Times are FILETIME (100 ns since 1601) as
//! u64; sizes in bytes. Fixed-size classes have `BYTES` for
//! `fit_info_output`.

use bytes::{BufMut, BytesMut};

use crate::limits::STREAM_ENTRIES_MAX;
use crate::msg::len32;
use crate::utf16::{put_utf16le, utf16le_len};

/// FileBasicInformation (4), 40 bytes; also the SET_INFO form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileBasicInformation {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub file_attributes: u32,
}

impl FileBasicInformation {
    pub const CLASS: u8 = 4;
    pub const BYTES: usize = 40;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.creation_time);
        out.put_u64_le(self.last_access_time);
        out.put_u64_le(self.last_write_time);
        out.put_u64_le(self.change_time);
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(0);
    }
}

/// FileStandardInformation (5), 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStandardInformation {
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub number_of_links: u32,
    pub delete_pending: bool,
    pub directory: bool,
}

impl FileStandardInformation {
    pub const CLASS: u8 = 5;
    pub const BYTES: usize = 24;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.allocation_size);
        out.put_u64_le(self.end_of_file);
        out.put_u32_le(self.number_of_links);
        out.put_u8(self.delete_pending.into());
        out.put_u8(self.directory.into());
        out.put_u16_le(0);
    }
}

/// FileInternalInformation (6), 8 bytes: the file's 64-bit index number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileInternalInformation {
    pub index_number: u64,
}

impl FileInternalInformation {
    pub const CLASS: u8 = 6;
    pub const BYTES: usize = 8;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.index_number);
    }
}

/// FileEaInformation (7), 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileEaInformation {
    pub ea_size: u32,
}

impl FileEaInformation {
    pub const CLASS: u8 = 7;
    pub const BYTES: usize = 4;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.ea_size);
    }
}

/// FileAccessInformation (8), 4 bytes: the open's granted access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileAccessInformation {
    pub access_flags: u32,
}

impl FileAccessInformation {
    pub const CLASS: u8 = 8;
    pub const BYTES: usize = 4;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.access_flags);
    }
}

/// FileNameInformation (9) and FileAlternateNameInformation (21):
/// FileNameLength u32 then the name in UTF-16LE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileNameInformation {
    pub name: String,
}

impl FileNameInformation {
    pub const CLASS: u8 = 9;
    pub const ALTERNATE_CLASS: u8 = 21;
    /// Fixed part: the length field.
    pub const BYTES: usize = 4;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(len32(utf16le_len(&self.name)));
        put_utf16le(out, &self.name);
    }
}

/// FilePositionInformation (14), 8 bytes; also the SET_INFO form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FilePositionInformation {
    pub current_byte_offset: u64,
}

impl FilePositionInformation {
    pub const CLASS: u8 = 14;
    pub const BYTES: usize = 8;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.current_byte_offset);
    }
}

/// FileModeInformation (16), 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileModeInformation {
    pub mode: u32,
}

impl FileModeInformation {
    pub const CLASS: u8 = 16;
    pub const BYTES: usize = 4;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.mode);
    }
}

/// FileAlignmentInformation (17), 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileAlignmentInformation {
    pub alignment_requirement: u32,
}

impl FileAlignmentInformation {
    pub const CLASS: u8 = 17;
    pub const BYTES: usize = 4;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.alignment_requirement);
    }
}

/// FileAllInformation (18): Basic, Standard, Internal, Ea, Access,
/// Position, Mode, Alignment, then Name; 100 bytes plus the name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileAllInformation {
    pub basic: FileBasicInformation,
    pub standard: FileStandardInformation,
    pub internal: FileInternalInformation,
    pub ea: FileEaInformation,
    pub access: FileAccessInformation,
    pub position: FilePositionInformation,
    pub mode: FileModeInformation,
    pub alignment: FileAlignmentInformation,
    pub name: FileNameInformation,
}

impl FileAllInformation {
    pub const CLASS: u8 = 18;
    /// Fixed part, the name's length field included.
    pub const BYTES: usize = 100;

    pub fn encode(&self, out: &mut BytesMut) {
        self.basic.encode(out);
        self.standard.encode(out);
        self.internal.encode(out);
        self.ea.encode(out);
        self.access.encode(out);
        self.position.encode(out);
        self.mode.encode(out);
        self.alignment.encode(out);
        self.name.encode(out);
    }
}

/// One entry of FileStreamInformation (22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// E.g. `::$DATA` for the unnamed data stream.
    pub name: String,
    pub size: u64,
    pub allocation_size: u64,
}

/// FileStreamInformation (22): entries of NextEntryOffset u32,
/// StreamNameLength u32, StreamSize u64, StreamAllocationSize u64,
/// StreamName; each entry but the last padded to 8 bytes. A directory has
/// no entries.
pub fn encode_stream_information(streams: &[StreamEntry], out: &mut BytesMut) {
    let streams = &streams[..streams.len().min(STREAM_ENTRIES_MAX)];
    for (i, s) in streams.iter().enumerate() {
        let start = out.len();
        out.put_u32_le(0);
        out.put_u32_le(len32(utf16le_len(&s.name)));
        out.put_u64_le(s.size);
        out.put_u64_le(s.allocation_size);
        put_utf16le(out, &s.name);
        if i + 1 < streams.len() {
            crate::wire::pad8(out, start);
            let next = len32(out.len() - start).to_le_bytes();
            out[start..start + 4].copy_from_slice(&next);
        }
    }
}

/// Fixed bytes of one stream entry.
pub const STREAM_ENTRY_BYTES: usize = 24;

/// FileCompressionInformation (28), 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileCompressionInformation {
    pub compressed_file_size: u64,
    /// 0 = COMPRESSION_FORMAT_NONE.
    pub compression_format: u16,
    pub compression_unit_shift: u8,
    pub chunk_shift: u8,
    pub cluster_shift: u8,
}

impl FileCompressionInformation {
    pub const CLASS: u8 = 28;
    pub const BYTES: usize = 16;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.compressed_file_size);
        out.put_u16_le(self.compression_format);
        out.put_u8(self.compression_unit_shift);
        out.put_u8(self.chunk_shift);
        out.put_u8(self.cluster_shift);
        out.put_bytes(0, 3);
    }
}

/// FileNetworkOpenInformation (34), 56 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileNetworkOpenInformation {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
}

impl FileNetworkOpenInformation {
    pub const CLASS: u8 = 34;
    pub const BYTES: usize = 56;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.creation_time);
        out.put_u64_le(self.last_access_time);
        out.put_u64_le(self.last_write_time);
        out.put_u64_le(self.change_time);
        out.put_u64_le(self.allocation_size);
        out.put_u64_le(self.end_of_file);
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(0);
    }
}

/// FileAttributeTagInformation (35), 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileAttributeTagInformation {
    pub file_attributes: u32,
    pub reparse_tag: u32,
}

impl FileAttributeTagInformation {
    pub const CLASS: u8 = 35;
    pub const BYTES: usize = 8;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(self.reparse_tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::testutil::encoded as enc;

    #[test]
    fn fixed_sizes_match_fscc() {
        assert_eq!(enc(|o| FileBasicInformation::default().encode(o)).len(), FileBasicInformation::BYTES);
        assert_eq!(enc(|o| FileStandardInformation::default().encode(o)).len(), FileStandardInformation::BYTES);
        assert_eq!(enc(|o| FileInternalInformation::default().encode(o)).len(), 8);
        assert_eq!(enc(|o| FileEaInformation::default().encode(o)).len(), 4);
        assert_eq!(enc(|o| FileAccessInformation::default().encode(o)).len(), 4);
        assert_eq!(enc(|o| FilePositionInformation::default().encode(o)).len(), 8);
        assert_eq!(enc(|o| FileModeInformation::default().encode(o)).len(), 4);
        assert_eq!(enc(|o| FileAlignmentInformation::default().encode(o)).len(), 4);
        assert_eq!(enc(|o| FileCompressionInformation::default().encode(o)).len(), 16);
        assert_eq!(enc(|o| FileNetworkOpenInformation::default().encode(o)).len(), 56);
        assert_eq!(enc(|o| FileAttributeTagInformation::default().encode(o)).len(), 8);
        assert_eq!(enc(|o| FileAllInformation::default().encode(o)).len(), FileAllInformation::BYTES);
    }

    #[test]
    fn standard_and_all_layout() {
        let s = FileStandardInformation {
            allocation_size: 4096,
            end_of_file: 10,
            number_of_links: 1,
            delete_pending: true,
            directory: false,
        };
        let b = enc(|o| s.encode(o));
        assert_eq!(&b[0..8], &4096u64.to_le_bytes());
        assert_eq!(&b[16..20], &1u32.to_le_bytes());
        assert_eq!((b[20], b[21]), (1, 0));
        let all = FileAllInformation {
            standard: s,
            internal: FileInternalInformation { index_number: 0x55 },
            name: FileNameInformation { name: "\\a.txt".into() },
            ..Default::default()
        };
        let b = enc(|o| all.encode(o));
        assert_eq!(b.len(), 100 + 12);
        assert_eq!(&b[64..72], &0x55u64.to_le_bytes());
        assert_eq!(&b[96..100], &12u32.to_le_bytes());
        assert_eq!(&b[100..102], &[b'\\', 0]);
    }

    #[test]
    fn stream_entries_chain() {
        let s = [
            StreamEntry { name: "::$DATA".into(), size: 5, allocation_size: 4096 },
            StreamEntry { name: ":x:$DATA".into(), size: 1, allocation_size: 8 },
        ];
        let b = enc(|o| encode_stream_information(&s, o));
        // 24 + 14 = 38 -> 40.
        assert_eq!(&b[0..4], &40u32.to_le_bytes());
        assert_eq!(&b[4..8], &14u32.to_le_bytes());
        assert_eq!(&b[40..44], &0u32.to_le_bytes());
        assert_eq!(b.len(), 40 + 24 + 16);
        assert!(enc(|o| encode_stream_information(&[], o)).is_empty());
    }
}
