//! The file system's errors and the NTSTATUS each one maps to. The file
//! server answers clients with [`FsError::status`], so every variant has
//! exactly one status and a message that names the problem.

use holdfast_types::ntstatus::NtStatus;
use holdfast_types::HoldfastError;

use crate::names::NameError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("a directory on the path does not exist")]
    PathNotFound,
    #[error("the name already exists")]
    Exists,
    #[error("not a directory")]
    NotDir,
    #[error("is a directory")]
    IsDir,
    #[error("directory not empty")]
    NotEmpty,
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("no free data blocks left")]
    DiskFull,
    #[error("metadata full: {0}")]
    MetadataFull(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("bad name: {0}")]
    Name(#[from] NameError),
    #[error("the device holds no file system (its superblock area is all zeros)")]
    NotFormatted,
    #[error("the device holds something else: {0}")]
    Foreign(String),
    #[error("file system corrupt: {0}")]
    Corrupt(String),
    #[error("device error: {0}")]
    Device(#[from] HoldfastError),
}

impl FsError {
    /// The NTSTATUS the file server answers with.
    pub fn status(&self) -> NtStatus {
        match self {
            FsError::NotFound => NtStatus::OBJECT_NAME_NOT_FOUND,
            FsError::PathNotFound => NtStatus::OBJECT_PATH_NOT_FOUND,
            FsError::Exists => NtStatus::OBJECT_NAME_COLLISION,
            FsError::NotDir => NtStatus::NOT_A_DIRECTORY,
            FsError::IsDir => NtStatus::FILE_IS_A_DIRECTORY,
            FsError::NotEmpty => NtStatus::DIRECTORY_NOT_EMPTY,
            FsError::AccessDenied(_) => NtStatus::ACCESS_DENIED,
            FsError::DiskFull | FsError::MetadataFull(_) => NtStatus::DISK_FULL,
            // Offsets, sizes and lengths past a documented bound are bad
            // parameters of the request, as NTFS answers for an end of file
            // past its maximum file size.
            FsError::TooLarge(_) | FsError::Invalid(_) => NtStatus::INVALID_PARAMETER,
            FsError::Name(_) => NtStatus::OBJECT_NAME_INVALID,
            FsError::NotFormatted | FsError::Foreign(_) | FsError::Corrupt(_) => NtStatus::FILE_CORRUPT_ERROR,
            FsError::Device(_) => NtStatus::UNEXPECTED_IO_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_errors_and_distinct_where_it_matters() {
        let all = [
            FsError::NotFound,
            FsError::PathNotFound,
            FsError::Exists,
            FsError::NotDir,
            FsError::IsDir,
            FsError::NotEmpty,
            FsError::AccessDenied(String::new()),
            FsError::DiskFull,
            FsError::Name(NameError::Empty),
            FsError::Corrupt(String::new()),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for e in &all {
            assert!(e.status().is_error(), "{e:?}");
            assert!(seen.insert(e.status()), "{e:?} shares a status");
        }
        assert_eq!(FsError::MetadataFull(String::new()).status(), NtStatus::DISK_FULL);
    }
}
