//! FLUSH: waits for the file server's group commit.

use holdfast_file_server::proto::Request as FsRequest;
use holdfast_smb_proto::msg::flush::{FlushRequest, FlushResponse};

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(ctx: &mut Ctx<'_>, req: FlushRequest) -> HResult {
    let fid = ctx.open(req.file_id)?.fs_fid;
    let fs = ctx.srv.fs().await?;
    if let Err(e) = fs.call(&FsRequest::Flush { fid }).await {
        return Err(ctx.srv.fs_error(e).await);
    }
    Ok(Reply::ok(&FlushResponse))
}
