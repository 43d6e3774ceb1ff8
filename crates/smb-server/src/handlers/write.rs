//! WRITE ([MS-SMB2] 3.3.5.13): one file-server write, acknowledged once in
//! the RAM of every copy. Written through (on the disk of every copy
//! before the response) when the request says WRITE_THROUGH, the open was
//! created with FILE_WRITE_THROUGH, or the share is `write_through`.

use bytes::Bytes;
use holdfast_smb_proto::msg::change_notify::{action, filter};
use holdfast_file_server::proto::Request as FsRequest;
use holdfast_smb_proto::msg::write::{write_flags, WriteRequest, WriteResponse};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};

const FILE_BYTES_MAX: u64 = 0xfff_ffff_0000;

pub async fn handle(ctx: &mut Ctx<'_>, req: WriteRequest<'_>) -> HResult {
    crate::handlers::channel_sequence::check(ctx, req.file_id).await?;
    let o = ctx.open(req.file_id)?;
    if o.is_dir {
        return Err(NtStatus::INVALID_DEVICE_REQUEST);
    }
    let (fid, entry) = (o.fs_fid, o.entry);
    let through = o.write_through || req.flags & write_flags::WRITE_THROUGH != 0 || ctx.tree()?.write_through;
    let len = req.data.len() as u64;
    crate::handlers::read::io_range(req.offset, len)?;
    if len == 0 {
        return Ok(Reply::ok(&WriteResponse { count: 0, remaining: 0 }));
    }
    // Windows' largest file (NTFS: 16 TiB less 64 KiB): a write may end
    // there, not past it.
    if req.offset + len > FILE_BYTES_MAX {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    crate::breaks::contend(ctx.srv, entry).await;
    let fs = ctx.srv.fs().await?;
    let count = match fs.write(fid, req.offset, Bytes::copy_from_slice(req.data)).await {
        Ok(c) => c,
        Err(e) => return Err(ctx.srv.fs_error(e).await),
    };
    if through {
        if let Err(e) = fs.call(&FsRequest::Flush { fid }).await {
            return Err(ctx.srv.fs_error(e).await);
        }
    }
    if ctx.srv.notify.any() {
        let path = ctx.open(req.file_id)?.path.clone();
        ctx.srv.notify.post(&ctx.tree()?.share, &path, action::MODIFIED, filter::SIZE | filter::LAST_WRITE);
    }
    Ok(Reply::ok(&WriteResponse { count, remaining: 0 }))
}
