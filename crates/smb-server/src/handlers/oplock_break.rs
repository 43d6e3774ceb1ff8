//! OPLOCK_BREAK acknowledgments. No oplock or lease is ever granted in
//! this slice (grant level NONE), so an acknowledgment has nothing to
//! acknowledge ([MS-SMB2] 3.3.5.22: STATUS_INVALID_OPLOCK_PROTOCOL for an
//! oplock, STATUS_OBJECT_NAME_NOT_FOUND for an unknown lease).

use holdfast_smb_proto::msg::oplock_break::OplockBreakRequest;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult};

const INVALID_OPLOCK_PROTOCOL: NtStatus = NtStatus(0xC000_00E3);

pub async fn handle(ctx: &mut Ctx<'_>, req: OplockBreakRequest) -> HResult {
    match req {
        OplockBreakRequest::Oplock(b) => {
            ctx.open(b.file_id)?;
            Err(INVALID_OPLOCK_PROTOCOL)
        }
        _ => Err(NtStatus::OBJECT_NAME_NOT_FOUND),
    }
}
