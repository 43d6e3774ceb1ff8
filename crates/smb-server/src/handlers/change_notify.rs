//! CHANGE_NOTIFY ([MS-SMB2] 3.3.5.19): accepted on a directory and left
//! pending. No change is ever reported yet (the file server has no change
//! feed), so the request ends only when the client cancels it or the
//! connection goes; clients treat a notify that never fires as "nothing
//! changed", which is true of every change but their own.

use holdfast_smb_proto::msg::change_notify::ChangeNotifyRequest;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult};

pub async fn handle(ctx: &mut Ctx<'_>, req: ChangeNotifyRequest) -> HResult {
    if !ctx.open(req.file_id)?.is_dir {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    ctx.wait = Some(std::sync::Mutex::new(Box::pin(std::future::pending())));
    Err(NtStatus::PENDING)
}
