//! ChannelSequence verification ([MS-SMB2] 3.3.5.2.10) for the requests
//! that change a file (WRITE, SET_INFO, IOCTL): a request from an older
//! channel epoch than the open has seen is refused, so a stale request
//! replayed after a reconnect cannot overwrite newer data. A newer one
//! moves the open's epoch forward (persisted in the handle record).

use holdfast_smb_proto::FileId;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::Ctx;

/// Sequence numbers are compared in 16-bit serial arithmetic: up to this
/// far ahead counts as newer (or equal).
const NEWER_MAX: u16 = 0x7FFF;

pub async fn check(ctx: &mut Ctx<'_>, id: FileId) -> Result<(), NtStatus> {
    if !ctx.conn.neg.is_smb3() {
        return Ok(());
    }
    let csn = ctx.hdr.channel_sequence();
    let o = ctx.open(id)?;
    let ahead = csn.wrapping_sub(o.channel_sequence);
    if ahead > NEWER_MAX {
        return Err(NtStatus::FILE_NOT_AVAILABLE);
    }
    if ahead == 0 {
        return Ok(());
    }
    o.channel_sequence = csn;
    let (durable, entry) = (o.durable, o.entry);
    if durable {
        let rec = {
            let mut t = ctx.srv.leases.lock().expect("lease table");
            let r = t.entry_mut(entry).and_then(|e| e.record.as_mut());
            r.map(|r| {
                r.channel_sequence = csn;
                r.clone()
            })
        };
        if let Some(r) = rec {
            crate::breaks::write_records(ctx.srv, vec![r]).await;
        }
    }
    Ok(())
}
