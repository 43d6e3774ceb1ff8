//! Conversions from the file server's `FileInfo` to the SMB info classes.

use holdfast_file_server::proto::FileInfo;
use holdfast_smb_proto::file_attr;
use holdfast_smb_proto::info::file::{FileBasicInformation, FileNetworkOpenInformation, FileStandardInformation};

/// Attributes as SMB shows them: DIRECTORY for directories, NORMAL when
/// nothing else is set.
pub fn attributes(i: &FileInfo) -> u32 {
    let mut a = i.attributes;
    if i.is_dir {
        a |= file_attr::DIRECTORY;
    }
    // NORMAL is valid only alone (a client may send it with a create).
    if a & !file_attr::NORMAL != 0 {
        a &= !file_attr::NORMAL;
    }
    if a == 0 {
        a = file_attr::NORMAL;
    }
    a
}

pub fn basic(i: &FileInfo) -> FileBasicInformation {
    FileBasicInformation {
        creation_time: i.creation_time,
        last_access_time: i.last_access_time,
        last_write_time: i.last_write_time,
        change_time: i.change_time,
        file_attributes: attributes(i),
    }
}

/// A file whose delete is pending counts no links: its one name goes at
/// the last close (what Windows and Samba report).
pub fn standard(i: &FileInfo) -> FileStandardInformation {
    FileStandardInformation {
        allocation_size: i.allocation_bytes,
        end_of_file: i.size_bytes,
        number_of_links: u32::from(!i.delete_pending),
        delete_pending: i.delete_pending,
        directory: i.is_dir,
    }
}

pub fn network_open(i: &FileInfo) -> FileNetworkOpenInformation {
    FileNetworkOpenInformation {
        creation_time: i.creation_time,
        last_access_time: i.last_access_time,
        last_write_time: i.last_write_time,
        change_time: i.change_time,
        allocation_size: i.allocation_bytes,
        end_of_file: i.size_bytes,
        file_attributes: attributes(i),
    }
}
