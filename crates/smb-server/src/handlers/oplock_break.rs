//! OPLOCK_BREAK acknowledgments ([MS-SMB2] 3.3.5.22): an oplock's, by
//! FileId, or a lease's, by ClientGuid and LeaseKey. The new level or
//! state is in the lease table, and in the handle records of durable opens
//! before the response; waiters on the break are woken.

use holdfast_smb_proto::msg::oplock_break::{LeaseBreakAck, OplockBreak, OplockBreakRequest};

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(ctx: &mut Ctx<'_>, req: OplockBreakRequest) -> HResult {
    match req {
        OplockBreakRequest::Oplock(b) => {
            let file_id = ctx.file_id(b.file_id);
            let entry = ctx.open(b.file_id)?.entry;
            let r = ctx.srv.leases.lock().expect("lease table").ack_oplock(entry, b.oplock_level);
            ctx.srv.break_done.notify_waiters();
            let (level, recs) = r?;
            crate::breaks::write_records(ctx.srv, recs).await;
            Ok(Reply::ok(&OplockBreak { oplock_level: level, file_id }))
        }
        OplockBreakRequest::Lease(a) => {
            ctx.session()?;
            let id = (ctx.conn.neg.client_guid, a.lease_key);
            let r = ctx.srv.leases.lock().expect("lease table").ack_lease(&id, a.lease_state);
            ctx.srv.break_done.notify_waiters();
            let (state, recs, next) = r?;
            crate::breaks::write_records(ctx.srv, recs).await;
            if let Some(n) = next {
                // Queued behind this response when it goes on this connection.
                crate::breaks::deliver(ctx.srv, n);
            }
            Ok(Reply::ok(&LeaseBreakAck { flags: 0, lease_key: a.lease_key, lease_state: state, lease_duration: 0 }))
        }
    }
}
