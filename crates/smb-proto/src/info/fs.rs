//! Encoders for the FILESYSTEM information classes ([MS-FSCC] 2.5).

use bytes::{BufMut, BytesMut};

use crate::msg::len32;
use crate::utf16::{put_utf16le, utf16le_len};

/// FileFsVolumeInformation (1): VolumeCreationTime u64, VolumeSerialNumber
/// u32, VolumeLabelLength u32, SupportsObjects u8, Reserved u8, label.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileFsVolumeInformation {
    pub creation_time: u64,
    pub serial_number: u32,
    pub supports_objects: bool,
    pub label: String,
}

impl FileFsVolumeInformation {
    pub const CLASS: u8 = 1;
    pub const BYTES: usize = 18;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.creation_time);
        out.put_u32_le(self.serial_number);
        out.put_u32_le(len32(utf16le_len(&self.label)));
        out.put_u8(self.supports_objects.into());
        out.put_u8(0);
        put_utf16le(out, &self.label);
    }
}

/// FileFsSizeInformation (3), 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsSizeInformation {
    pub total_allocation_units: u64,
    pub available_allocation_units: u64,
    pub sectors_per_allocation_unit: u32,
    pub bytes_per_sector: u32,
}

impl FileFsSizeInformation {
    pub const CLASS: u8 = 3;
    pub const BYTES: usize = 24;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.total_allocation_units);
        out.put_u64_le(self.available_allocation_units);
        out.put_u32_le(self.sectors_per_allocation_unit);
        out.put_u32_le(self.bytes_per_sector);
    }
}

/// FileFsControlInformation (6), 48 bytes: quota settings. Holdfast keeps
/// no quotas: no filtering, no default threshold or limit (all ones, as
/// Windows reports them), quotas off (flags 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsControlInformation;

impl FileFsControlInformation {
    pub const CLASS: u8 = 6;
    pub const BYTES: usize = 48;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(0); // FreeSpaceStartFiltering
        out.put_u64_le(0); // FreeSpaceThreshold
        out.put_u64_le(0); // FreeSpaceStopFiltering
        out.put_u64_le(u64::MAX); // DefaultQuotaThreshold
        out.put_u64_le(u64::MAX); // DefaultQuotaLimit
        out.put_u32_le(0); // FileSystemControlFlags
        out.put_u32_le(0); // Padding
    }
}

/// FILE_DEVICE_DISK, the DeviceType of a disk share.
pub const FILE_DEVICE_DISK: u32 = 0x0000_0007;

/// FileFsDeviceInformation (4), 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsDeviceInformation {
    pub device_type: u32,
    pub characteristics: u32,
}

impl FileFsDeviceInformation {
    pub const CLASS: u8 = 4;
    pub const BYTES: usize = 8;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.device_type);
        out.put_u32_le(self.characteristics);
    }
}

/// FileSystemAttributes bits ([MS-FSCC] 2.5.1).
pub mod fs_attributes {
    pub const CASE_SENSITIVE_SEARCH: u32 = 0x0000_0001;
    pub const CASE_PRESERVED_NAMES: u32 = 0x0000_0002;
    pub const UNICODE_ON_DISK: u32 = 0x0000_0004;
    pub const PERSISTENT_ACLS: u32 = 0x0000_0008;
    pub const SUPPORTS_SPARSE_FILES: u32 = 0x0000_0040;
    pub const SUPPORTS_OBJECT_IDS: u32 = 0x0001_0000;
    pub const NAMED_STREAMS: u32 = 0x0004_0000;
}

/// FileFsAttributeInformation (5): FileSystemAttributes u32,
/// MaximumComponentNameLength u32, FileSystemNameLength u32, name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileFsAttributeInformation {
    pub attributes: u32,
    pub maximum_component_name_length: u32,
    /// E.g. "NTFS".
    pub file_system_name: String,
}

impl FileFsAttributeInformation {
    pub const CLASS: u8 = 5;
    pub const BYTES: usize = 12;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.attributes);
        out.put_u32_le(self.maximum_component_name_length);
        out.put_u32_le(len32(utf16le_len(&self.file_system_name)));
        put_utf16le(out, &self.file_system_name);
    }
}

/// FileFsFullSizeInformation (7), 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsFullSizeInformation {
    pub total_allocation_units: u64,
    pub caller_available_allocation_units: u64,
    pub actual_available_allocation_units: u64,
    pub sectors_per_allocation_unit: u32,
    pub bytes_per_sector: u32,
}

impl FileFsFullSizeInformation {
    pub const CLASS: u8 = 7;
    pub const BYTES: usize = 32;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64_le(self.total_allocation_units);
        out.put_u64_le(self.caller_available_allocation_units);
        out.put_u64_le(self.actual_available_allocation_units);
        out.put_u32_le(self.sectors_per_allocation_unit);
        out.put_u32_le(self.bytes_per_sector);
    }
}

/// FileFsObjectIdInformation (8), 64 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFsObjectIdInformation {
    pub object_id: [u8; 16],
    pub extended_info: [u8; 48],
}

impl FileFsObjectIdInformation {
    pub const CLASS: u8 = 8;
    pub const BYTES: usize = 64;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&self.object_id);
        out.put_slice(&self.extended_info);
    }
}

/// FileFsSectorSizeInformation (11), 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFsSectorSizeInformation {
    pub logical_bytes_per_sector: u32,
    pub physical_bytes_per_sector_for_atomicity: u32,
    pub physical_bytes_per_sector_for_performance: u32,
    pub effective_physical_bytes_per_sector_for_atomicity: u32,
    pub flags: u32,
    pub byte_offset_for_sector_alignment: u32,
    pub byte_offset_for_partition_alignment: u32,
}

impl FileFsSectorSizeInformation {
    pub const CLASS: u8 = 11;
    pub const BYTES: usize = 28;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.logical_bytes_per_sector);
        out.put_u32_le(self.physical_bytes_per_sector_for_atomicity);
        out.put_u32_le(self.physical_bytes_per_sector_for_performance);
        out.put_u32_le(self.effective_physical_bytes_per_sector_for_atomicity);
        out.put_u32_le(self.flags);
        out.put_u32_le(self.byte_offset_for_sector_alignment);
        out.put_u32_le(self.byte_offset_for_partition_alignment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::testutil::encoded as enc;

    #[test]
    fn sizes_and_layouts() {
        let v = FileFsVolumeInformation { creation_time: 1, serial_number: 2, supports_objects: false, label: "hf".into() };
        let b = enc(|o| v.encode(o));
        assert_eq!(b.len(), 18 + 4);
        assert_eq!(&b[12..16], &4u32.to_le_bytes());
        assert_eq!(enc(|o| FileFsSizeInformation::default().encode(o)).len(), 24);
        assert_eq!(enc(|o| FileFsDeviceInformation::default().encode(o)).len(), 8);
        let a = FileFsAttributeInformation {
            attributes: fs_attributes::CASE_PRESERVED_NAMES | fs_attributes::UNICODE_ON_DISK,
            maximum_component_name_length: 255,
            file_system_name: "NTFS".into(),
        };
        let b = enc(|o| a.encode(o));
        assert_eq!(b.len(), 12 + 8);
        assert_eq!(&b[8..12], &8u32.to_le_bytes());
        assert_eq!(enc(|o| FileFsFullSizeInformation::default().encode(o)).len(), 32);
        let id = FileFsObjectIdInformation { object_id: [1; 16], extended_info: [0; 48] };
        assert_eq!(enc(|o| id.encode(o)).len(), 64);
        assert_eq!(enc(|o| FileFsSectorSizeInformation::default().encode(o)).len(), 28);
    }
}
