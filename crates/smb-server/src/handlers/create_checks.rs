//! CREATE parameter checks ([MS-SMB2] 3.3.5.9, [MS-FSA] 2.1.5.1), made
//! before anything is looked up: the values no open may carry, with the
//! status Windows answers (checked by smbtorture `smb2.create.gentest` and
//! `impersonation`).

use holdfast_smb_proto::file_attr;
use holdfast_smb_proto::msg::create::{create_options as co, disposition, impersonation, CreateRequest};
use holdfast_smb_proto::msg::create_ctx::CreateContext;
use holdfast_types::ntstatus::NtStatus;

/// CreateOptions bits no open may set.
const OPTIONS_INVALID: u32 = 0xff00_0000;
/// CreateOptions Holdfast does not offer: a tree connection by path, an
/// open by file id, an oplock filter.
const OPTIONS_NOT_SUPPORTED: u32 = 0x0000_0080 | co::OPEN_BY_FILE_ID | co::RESERVE_OPFILTER;
/// DesiredAccess bits that are reserved or undefined ([MS-SMB2] 3.3.5.9).
const ACCESS_RESERVED: u32 = 0x0ce0_fe00;
/// ACCESS_SYSTEM_SECURITY: the SACL, which needs a privilege no Holdfast
/// user holds.
const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
/// FileAttributes no open may ask for: VOLUME (0x8), DEVICE (0x40),
/// INTEGRITY_STREAM (0x8000) and everything above the low 16 bits.
const ATTRIBUTES_INVALID: u32 = 0xffff_8048;

pub fn check(req: &CreateRequest) -> Result<(), NtStatus> {
    if req.impersonation_level > impersonation::DELEGATE {
        return Err(NtStatus::BAD_IMPERSONATION_LEVEL);
    }
    if req.create_disposition > disposition::OVERWRITE_IF {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if req.create_options & OPTIONS_INVALID != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if req.create_options & co::DIRECTORY_FILE != 0 && req.create_options & co::NON_DIRECTORY_FILE != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if req.create_options & OPTIONS_NOT_SUPPORTED != 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    if req.desired_access & ACCESS_RESERVED != 0 {
        return Err(NtStatus::ACCESS_DENIED);
    }
    if req.desired_access & ACCESS_SYSTEM_SECURITY != 0 {
        return Err(NtStatus::PRIVILEGE_NOT_HELD);
    }
    // Windows checks the access asked before the attributes.
    if req.file_attributes & ATTRIBUTES_INVALID != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // [MS-FSA] 2.1.5.1: a directory is never temporary.
    if req.create_options & co::DIRECTORY_FILE != 0 && req.file_attributes & file_attr::TEMPORARY != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // A previous version ([MS-SMB2] 2.2.13.2.7): Holdfast keeps no
    // snapshots, so no file exists at any such time.
    if req.contexts.iter().any(|c| matches!(c, CreateContext::TimewarpToken(_))) {
        return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    Ok(())
}
