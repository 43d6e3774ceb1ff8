//! Decoders for the SET_INFO FILE classes ([MS-FSCC] 2.4). A buffer
//! shorter than its class needs is STATUS_INFO_LENGTH_MISMATCH; a class
//! without a decoder here is kept raw as `Other` for the server to refuse.

use crate::error::{ProtoError, Result};
use crate::info::file::FileBasicInformation;
use crate::limits::NAME_BYTES_MAX;
use crate::wire::{check_max, decode_name, Reader};

/// FileDispositionInformationEx Flags.
pub mod disposition_ex_flags {
    pub const DO_NOT_DELETE: u32 = 0x0000_0000;
    pub const DELETE: u32 = 0x0000_0001;
    pub const POSIX_SEMANTICS: u32 = 0x0000_0002;
    pub const FORCE_IMAGE_SECTION_CHECK: u32 = 0x0000_0004;
    pub const ON_CLOSE: u32 = 0x0000_0008;
    pub const IGNORE_READONLY_ATTRIBUTE: u32 = 0x0000_0010;
}

/// FileRenameInformation (10) / FileLinkInformation (11), SMB2 form
/// ([MS-FSCC] 2.4.37.2): ReplaceIfExists u8, Reserved 7, RootDirectory
/// u64, FileNameLength u32, FileName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRenameInformation {
    pub replace_if_exists: bool,
    /// Must be 0 over SMB2; the server rejects anything else.
    pub root_directory: u64,
    /// Relative to the share root.
    pub file_name: String,
}

const RENAME_FIXED_BYTES: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetFileInfo {
    /// Class 4. Times of 0 mean "leave unchanged"; u64::MAX ("-1") means
    /// "stop updating" and u64::MAX - 1 ("-2") "resume".
    Basic(FileBasicInformation),
    /// Class 10.
    Rename(FileRenameInformation),
    /// Class 11.
    Link(FileRenameInformation),
    /// Class 13.
    Disposition { delete_pending: bool },
    /// Class 14.
    Position(u64),
    /// Class 16.
    Mode(u32),
    /// Class 19.
    Allocation(u64),
    /// Class 20.
    EndOfFile(u64),
    /// Class 64.
    DispositionEx { flags: u32 },
    /// Any other class, raw.
    Other { class: u8, buffer: Vec<u8> },
}

fn need(buf: &[u8], bytes: usize, field: &'static str) -> Result<()> {
    if buf.len() < bytes {
        return Err(ProtoError::InfoLength { field, need: bytes, have: buf.len() });
    }
    Ok(())
}

impl SetFileInfo {
    pub fn decode(class: u8, buf: &[u8]) -> Result<SetFileInfo> {
        let mut r = Reader::new(buf, "SET_INFO buffer");
        Ok(match class {
            4 => {
                // The trailing Reserved u32 is optional: some clients send 36.
                need(buf, 36, "FileBasicInformation")?;
                SetFileInfo::Basic(FileBasicInformation {
                    creation_time: r.u64()?,
                    last_access_time: r.u64()?,
                    last_write_time: r.u64()?,
                    change_time: r.u64()?,
                    file_attributes: r.u32()?,
                })
            }
            10 | 11 => {
                let info = decode_rename(buf)?;
                if class == 10 {
                    SetFileInfo::Rename(info)
                } else {
                    SetFileInfo::Link(info)
                }
            }
            13 => {
                need(buf, 1, "FileDispositionInformation")?;
                SetFileInfo::Disposition { delete_pending: r.u8()? != 0 }
            }
            14 => {
                need(buf, 8, "FilePositionInformation")?;
                SetFileInfo::Position(r.u64()?)
            }
            16 => {
                need(buf, 4, "FileModeInformation")?;
                SetFileInfo::Mode(r.u32()?)
            }
            19 => {
                need(buf, 8, "FileAllocationInformation")?;
                SetFileInfo::Allocation(r.u64()?)
            }
            20 => {
                need(buf, 8, "FileEndOfFileInformation")?;
                SetFileInfo::EndOfFile(r.u64()?)
            }
            64 => {
                need(buf, 4, "FileDispositionInformationEx")?;
                SetFileInfo::DispositionEx { flags: r.u32()? }
            }
            other => SetFileInfo::Other { class: other, buffer: buf.to_vec() },
        })
    }
}

fn decode_rename(buf: &[u8]) -> Result<FileRenameInformation> {
    need(buf, RENAME_FIXED_BYTES, "FileRenameInformation")?;
    let mut r = Reader::new(buf, "FileRenameInformation");
    let replace_if_exists = r.u8()? != 0;
    r.skip(7)?;
    let root_directory = r.u64()?;
    let length = r.u32()?;
    check_max("FileRenameInformation FileNameLength", length.into(), NAME_BYTES_MAX as u64)?;
    let name = r.take(length as usize).map_err(|_| ProtoError::InfoLength {
        field: "FileRenameInformation FileName",
        need: RENAME_FIXED_BYTES + length as usize,
        have: buf.len(),
    })?;
    Ok(FileRenameInformation {
        replace_if_exists,
        root_directory,
        file_name: decode_name(name, "FileRenameInformation FileName")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utf16::to_utf16le;
    use holdfast_types::ntstatus::NtStatus;

    #[test]
    fn rename_smb2_form() {
        let name = to_utf16le("dir\\new.txt");
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0];
        b.extend(0u64.to_le_bytes());
        b.extend((name.len() as u32).to_le_bytes());
        b.extend(&name);
        let d = SetFileInfo::decode(10, &b).unwrap();
        assert_eq!(
            d,
            SetFileInfo::Rename(FileRenameInformation {
                replace_if_exists: true,
                root_directory: 0,
                file_name: "dir\\new.txt".into()
            })
        );
        assert!(matches!(SetFileInfo::decode(11, &b).unwrap(), SetFileInfo::Link(_)));
        let e = SetFileInfo::decode(10, &b[..b.len() - 2]).unwrap_err();
        assert_eq!(e.status(), NtStatus::INFO_LENGTH_MISMATCH);
        let mut bad = b.clone();
        bad[20] = 0x00;
        bad[21] = 0xDC;
        assert_eq!(SetFileInfo::decode(10, &bad).unwrap_err().status(), NtStatus::OBJECT_NAME_INVALID);
        let mut huge = b;
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(SetFileInfo::decode(10, &huge).is_err());
    }

    #[test]
    fn fixed_classes() {
        let mut basic = Vec::new();
        for t in [1u64, 2, 3, 4] {
            basic.extend(t.to_le_bytes());
        }
        basic.extend(0x20u32.to_le_bytes());
        basic.extend(0u32.to_le_bytes());
        assert_eq!(
            SetFileInfo::decode(4, &basic).unwrap(),
            SetFileInfo::Basic(FileBasicInformation {
                creation_time: 1,
                last_access_time: 2,
                last_write_time: 3,
                change_time: 4,
                file_attributes: 0x20
            })
        );
        assert!(SetFileInfo::decode(4, &basic[..36]).is_ok());
        assert!(SetFileInfo::decode(4, &basic[..35]).is_err());
        assert_eq!(SetFileInfo::decode(13, &[1]).unwrap(), SetFileInfo::Disposition { delete_pending: true });
        assert_eq!(SetFileInfo::decode(13, &[]).unwrap_err().status(), NtStatus::INFO_LENGTH_MISMATCH);
        assert_eq!(SetFileInfo::decode(14, &7u64.to_le_bytes()).unwrap(), SetFileInfo::Position(7));
        assert_eq!(SetFileInfo::decode(19, &8u64.to_le_bytes()).unwrap(), SetFileInfo::Allocation(8));
        assert_eq!(SetFileInfo::decode(20, &9u64.to_le_bytes()).unwrap(), SetFileInfo::EndOfFile(9));
        assert_eq!(
            SetFileInfo::decode(64, &(disposition_ex_flags::DELETE | disposition_ex_flags::POSIX_SEMANTICS).to_le_bytes())
                .unwrap(),
            SetFileInfo::DispositionEx { flags: 3 }
        );
        assert_eq!(SetFileInfo::decode(16, &2u32.to_le_bytes()).unwrap(), SetFileInfo::Mode(2));
        assert_eq!(SetFileInfo::decode(99, &[1, 2]).unwrap(), SetFileInfo::Other { class: 99, buffer: vec![1, 2] });
    }
}
