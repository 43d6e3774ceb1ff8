//! READ ([MS-SMB2] 3.3.5.12): at most one file-server read (4 MiB, the
//! negotiated MaxReadSize); STATUS_END_OF_FILE for nothing at or past EOF.

use holdfast_smb_proto::msg::read::{ReadRequest, ReadResponse};
use holdfast_types::limits::IO_BYTES_MAX;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(ctx: &mut Ctx<'_>, req: ReadRequest) -> HResult {
    let o = ctx.open(req.file_id)?;
    if o.is_dir {
        return Err(NtStatus::INVALID_DEVICE_REQUEST);
    }
    let fid = o.fs_fid;
    if u64::from(req.length) > IO_BYTES_MAX {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let fs = ctx.srv.fs().await?;
    let data = match fs.read(fid, req.offset, req.length).await {
        Ok(d) => d,
        Err(e) => return Err(ctx.srv.fs_error(e).await),
    };
    if data.is_empty() && req.length > 0 || data.len() < req.minimum_count as usize {
        return Err(NtStatus::END_OF_FILE);
    }
    Ok(Reply::ok(&ReadResponse { data_remaining: 0, flags: 0, data: &data }))
}
