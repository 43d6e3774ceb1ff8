//! NTSTATUS values ([MS-ERREF] 2.3) that the file server answers with and
//! the SMB service passes to clients unchanged. Kept here, with no I/O, so
//! both processes speak the same numbers.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NtStatus(pub u32);

macro_rules! statuses {
    ($($name:ident = $v:expr;)*) => {
        impl NtStatus {
            $(pub const $name: NtStatus = NtStatus($v);)*

            /// The symbolic name, for logs and error messages.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($v => concat!("STATUS_", stringify!($name)),)*
                    _ => "STATUS_UNKNOWN",
                }
            }
        }
    };
}

statuses! {
    SUCCESS = 0x0000_0000;
    PENDING = 0x0000_0103;
    NOTIFY_CLEANUP = 0x0000_010B;
    NOTIFY_ENUM_DIR = 0x0000_010C;
    BUFFER_OVERFLOW = 0x8000_0005;
    NO_MORE_FILES = 0x8000_0006;
    INVALID_HANDLE = 0xC000_0008;
    INVALID_PARAMETER = 0xC000_000D;
    NO_SUCH_FILE = 0xC000_000F;
    INVALID_DEVICE_REQUEST = 0xC000_0010;
    END_OF_FILE = 0xC000_0011;
    ACCESS_DENIED = 0xC000_0022;
    PRIVILEGE_NOT_HELD = 0xC000_0061;
    BAD_IMPERSONATION_LEVEL = 0xC000_00A5;
    BUFFER_TOO_SMALL = 0xC000_0023;
    OBJECT_NAME_INVALID = 0xC000_0033;
    OBJECT_NAME_NOT_FOUND = 0xC000_0034;
    OBJECT_NAME_COLLISION = 0xC000_0035;
    OBJECT_PATH_INVALID = 0xC000_0039;
    OBJECT_PATH_NOT_FOUND = 0xC000_003A;
    OBJECT_PATH_SYNTAX_BAD = 0xC000_003B;
    SHARING_VIOLATION = 0xC000_0043;
    LOCK_NOT_GRANTED = 0xC000_0055;
    DELETE_PENDING = 0xC000_0056;
    RANGE_NOT_LOCKED = 0xC000_007E;
    INVALID_LOCK_RANGE = 0xC000_01A1;
    INVALID_VIEW_SIZE = 0xC000_001F;
    DISK_FULL = 0xC000_007F;
    INSUFFICIENT_RESOURCES = 0xC000_009A;
    FILE_IS_A_DIRECTORY = 0xC000_00BA;
    NOT_SUPPORTED = 0xC000_00BB;
    BAD_NETWORK_NAME = 0xC000_00CC;
    INTERNAL_ERROR = 0xC000_00E5;
    UNEXPECTED_IO_ERROR = 0xC000_00E9;
    DIRECTORY_NOT_EMPTY = 0xC000_0101;
    NOT_A_DIRECTORY = 0xC000_0103;
    NAME_TOO_LONG = 0xC000_0106;
    CANNOT_DELETE = 0xC000_0121;
    FILE_CLOSED = 0xC000_0128;
    FILE_CORRUPT_ERROR = 0xC000_0102;
    DEVICE_NOT_READY = 0xC000_00A3;
    FILE_LOCK_CONFLICT = 0xC000_0054;
    FILE_NOT_AVAILABLE = 0xC000_0467;
    DUPLICATE_OBJECTID = 0xC000_022A;
    MORE_PROCESSING_REQUIRED = 0xC000_0016;
    LOGON_FAILURE = 0xC000_006D;
    INVALID_INFO_CLASS = 0xC000_0003;
    INFO_LENGTH_MISMATCH = 0xC000_0004;
    USER_SESSION_DELETED = 0xC000_0203;
    NETWORK_NAME_DELETED = 0xC000_00C9;
    NOT_FOUND = 0xC000_0225;
    REQUEST_NOT_ACCEPTED = 0xC000_00D0;
    FS_DRIVER_REQUIRED = 0xC000_019C;
    CANCELLED = 0xC000_0120;
    INVALID_OPLOCK_PROTOCOL = 0xC000_00E3;
    UNSUCCESSFUL = 0xC000_0001;
    PIPE_EMPTY = 0xC000_00D9;
    INVALID_EA_NAME = 0x8000_0013;
    NO_EAS_ON_FILE = 0xC000_0052;
    EA_TOO_LARGE = 0xC000_0050;
    INVALID_SECURITY_DESCR = 0xC000_0079;
}

impl NtStatus {
    pub fn is_error(self) -> bool {
        self.0 >= 0xC000_0000
    }
}

impl std::fmt::Display for NtStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (0x{:08X})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_severity() {
        assert_eq!(NtStatus::SHARING_VIOLATION.name(), "STATUS_SHARING_VIOLATION");
        assert_eq!(NtStatus(0x1234).name(), "STATUS_UNKNOWN");
        assert!(NtStatus::ACCESS_DENIED.is_error());
        assert!(!NtStatus::NO_MORE_FILES.is_error());
        assert_eq!(NtStatus::FILE_NOT_AVAILABLE.to_string(), "STATUS_FILE_NOT_AVAILABLE (0xC0000467)");
    }
}
