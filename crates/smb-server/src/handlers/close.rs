//! CLOSE ([MS-SMB2] 3.3.5.10), with the attributes after the close when
//! POSTQUERY_ATTRIB asks (taken just before, as the open goes away).

use holdfast_file_server::proto::{Reply as FsReply, Request as FsRequest};
use holdfast_smb_proto::msg::close::{CloseRequest, CloseResponse, CLOSE_FLAG_POSTQUERY_ATTRIB};

use crate::ctx::{Ctx, HResult, Reply};
use crate::handlers::fileinfo;

pub async fn handle(ctx: &mut Ctx<'_>, req: CloseRequest) -> HResult {
    let (fid, entry) = {
        let o = ctx.open(req.file_id)?;
        (o.fs_fid, o.entry)
    };
    let breaks = {
        let mut t = ctx.srv.leases.lock().expect("lease table");
        match t.entry(entry) {
            Some(e) if e.delete_on_close => {
                let key = (e.share.clone(), e.path_key.clone());
                Some((t.plan_handle_break(entry), key.0, key.1))
            }
            _ => None,
        }
    };
    if let Some((mut plan, share, path_key)) = breaks {
        // A CLOSE never fails for a disconnected handle it cannot ask.
        plan.blocked = false;
        // Runs again once other clients gave up their cached handles.
        crate::breaks::carry_out_or_wait(ctx, plan, share, path_key).await?;
    }
    let fs = ctx.srv.fs().await?;
    let mut resp = CloseResponse::default();
    if req.wants_attributes() {
        if let Ok(FsReply::Info(i)) = fs.call(&FsRequest::Stat { fid }).await {
            resp = CloseResponse {
                flags: CLOSE_FLAG_POSTQUERY_ATTRIB,
                creation_time: i.creation_time,
                last_access_time: i.last_access_time,
                last_write_time: i.last_write_time,
                change_time: i.change_time,
                allocation_size: i.allocation_bytes,
                end_of_file: i.size_bytes,
                file_attributes: fileinfo::attributes(&i),
            };
        }
    }
    let volatile = ctx.file_id(req.file_id).volatile;
    ctx.session()?.opens.remove(&volatile);
    // A durable open's record goes first: once it is gone no reconnect can
    // find the open, then the open itself is closed.
    // One file-server round trip for both (`HandleDeleteClose`), which keeps
    // that order; a failed delete is logged there and the close goes on.
    // The lease-table entry goes only once the file server has closed the
    // open: a CREATE waiting for this open's break that ran again earlier
    // would meet the open there (a sharing violation).
    let rec = ctx.srv.leases.lock().expect("lease table").entry(entry).and_then(|e| e.record.clone());
    let closed = match rec {
        Some(rec) => fs.handle_delete_close(&rec.share, rec.persistent_id, fid).await,
        None => fs.close(fid).await,
    };
    let gone = ctx.srv.leases.lock().expect("lease table").remove(entry);
    if let (Ok(()), Some(g)) = (&closed, &gone) {
        crate::cleanup::open_gone(ctx.srv, g);
    }
    // A break this open owed is over; waiters retry once the file server
    // no longer has the open.
    ctx.srv.break_done.notify_waiters();
    ctx.srv.locks_released();
    if let Err(e) = closed {
        return Err(ctx.srv.fs_error(e).await);
    }
    Ok(Reply::ok(&resp))
}
