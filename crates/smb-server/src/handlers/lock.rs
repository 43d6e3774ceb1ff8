//! LOCK ([MS-SMB2] 3.3.5.14): each element a file-server Lock or Unlock,
//! owned by the open (its volatile id). Locks never wait in this slice
//! (as if FAIL_IMMEDIATELY), and on a failure the elements already
//! locked in the same request are unlocked again. Lock-sequence replay
//! checks are not done yet.

use holdfast_file_server::proto::Request as FsRequest;
use holdfast_smb_proto::msg::lock::{lock_flags, LockRequest, LockResponse};

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(ctx: &mut Ctx<'_>, req: LockRequest) -> HResult {
    let (fid, entry) = {
        let o = ctx.open(req.file_id)?;
        (o.fs_fid, o.entry)
    };
    crate::breaks::contend(ctx.srv, entry).await;
    let owner = ctx.file_id(req.file_id).volatile;
    let fs = ctx.srv.fs().await?;
    let mut done: Vec<(u64, u64)> = Vec::new();
    for l in &req.locks {
        let r = if l.flags & lock_flags::UNLOCK != 0 {
            fs.call(&FsRequest::Unlock { fid, offset: l.offset, length: l.length, owner }).await
        } else {
            let exclusive = l.flags & lock_flags::EXCLUSIVE_LOCK != 0;
            fs.call(&FsRequest::Lock { fid, offset: l.offset, length: l.length, exclusive, owner }).await
        };
        match r {
            Ok(_) if l.flags & lock_flags::UNLOCK == 0 => done.push((l.offset, l.length)),
            Ok(_) => {}
            Err(e) => {
                for (offset, length) in done {
                    let _ = fs.call(&FsRequest::Unlock { fid, offset, length, owner }).await;
                }
                return Err(ctx.srv.fs_error(e).await);
            }
        }
    }
    Ok(Reply::ok(&LockResponse))
}
