//! READ ([MS-SMB2] 3.3.5.12): at most one file-server read (4 MiB, the
//! negotiated MaxReadSize); STATUS_END_OF_FILE for nothing at or past EOF.

use holdfast_smb_proto::msg::read::{ReadRequest, ReadResponse};
use holdfast_types::limits::IO_BYTES_MAX;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};

/// [MS-FSA] 2.1.5.2/2.1.5.3: an offset or an end past the largest signed
/// 64-bit offset is INVALID_PARAMETER, before anything is read or written.
pub fn io_range(offset: u64, len: u64) -> Result<(), NtStatus> {
    match offset.checked_add(len) {
        Some(end) if end <= i64::MAX as u64 => Ok(()),
        _ => Err(NtStatus::INVALID_PARAMETER),
    }
}

pub async fn handle(ctx: &mut Ctx<'_>, req: ReadRequest) -> HResult {
    let o = ctx.open(req.file_id)?;
    if o.is_dir {
        return Err(NtStatus::INVALID_DEVICE_REQUEST);
    }
    let fid = o.fs_fid;
    if u64::from(req.length) > IO_BYTES_MAX {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    io_range(req.offset, req.length.into())?;
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
