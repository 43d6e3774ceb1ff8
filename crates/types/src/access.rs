//! Access mask bits ([MS-SMB2] 2.2.13.1, [MS-DTYP] 2.4.3): what an open asks
//! for and is granted. The SMB codec carries them and the file server checks
//! sharing with them; kept here, with no I/O, so both speak the same numbers.

pub const FILE_READ_DATA: u32 = 0x0000_0001;
pub const FILE_WRITE_DATA: u32 = 0x0000_0002;
pub const FILE_APPEND_DATA: u32 = 0x0000_0004;
pub const FILE_READ_EA: u32 = 0x0000_0008;
pub const FILE_WRITE_EA: u32 = 0x0000_0010;
pub const FILE_EXECUTE: u32 = 0x0000_0020;
pub const FILE_DELETE_CHILD: u32 = 0x0000_0040;
/// On a directory, FILE_WRITE_DATA and FILE_APPEND_DATA mean these.
pub const FILE_ADD_FILE: u32 = FILE_WRITE_DATA;
pub const FILE_ADD_SUBDIRECTORY: u32 = FILE_APPEND_DATA;
pub const FILE_READ_ATTRIBUTES: u32 = 0x0000_0080;
pub const FILE_WRITE_ATTRIBUTES: u32 = 0x0000_0100;
pub const DELETE: u32 = 0x0001_0000;
pub const READ_CONTROL: u32 = 0x0002_0000;
pub const WRITE_DAC: u32 = 0x0004_0000;
pub const WRITE_OWNER: u32 = 0x0008_0000;
pub const SYNCHRONIZE: u32 = 0x0010_0000;
pub const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
pub const GENERIC_ALL: u32 = 0x1000_0000;
pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
pub const GENERIC_WRITE: u32 = 0x4000_0000;
pub const GENERIC_READ: u32 = 0x8000_0000;
/// Everything a file can grant (FILE_ALL_ACCESS).
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
/// What GENERIC_READ stands for on a file (FILE_GENERIC_READ, [MS-SMB2] 2.2.13.1.1).
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// What GENERIC_WRITE stands for on a file (FILE_GENERIC_WRITE).
pub const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
/// What GENERIC_EXECUTE stands for on a file (FILE_GENERIC_EXECUTE).
pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;

/// The file generic mapping ([MS-DTYP] 2.4.3, as a file's GENERIC_MAPPING):
/// each GENERIC_* bit replaced by the file rights it stands for, GENERIC_ALL
/// by FILE_ALL_ACCESS. Unlike the file server's `map_generic`, MAXIMUM_ALLOWED
/// is left as it is: the access check gives it its meaning.
pub fn map_generic_file(mask: u32) -> u32 {
    let mut m = mask & !(GENERIC_ALL | GENERIC_EXECUTE | GENERIC_WRITE | GENERIC_READ);
    if mask & GENERIC_READ != 0 {
        m |= FILE_GENERIC_READ;
    }
    if mask & GENERIC_WRITE != 0 {
        m |= FILE_GENERIC_WRITE;
    }
    if mask & GENERIC_EXECUTE != 0 {
        m |= FILE_GENERIC_EXECUTE;
    }
    if mask & GENERIC_ALL != 0 {
        m |= FILE_ALL_ACCESS;
    }
    m
}
