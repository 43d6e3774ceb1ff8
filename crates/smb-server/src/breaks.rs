//! Carrying out what the lease table (`leases.rs`) decided: break
//! notifications to the connections holding the opens, purges of
//! disconnected durable opens, handle-record writes, and the bounded wait
//! for acknowledgments.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use holdfast_objfs::handles::HandleRecord;
use holdfast_smb_proto::header::flags;
use holdfast_smb_proto::msg::oplock_break::{LeaseBreakNotification, OplockBreak};
use holdfast_smb_proto::{Command, Header, SyncOrAsync};
use holdfast_types::ntstatus::NtStatus;

use crate::leases::{Notice, Plan, Send};
use crate::server::{ConnCmd, Server};

/// How long an open waits for a break acknowledgment before the break is
/// taken as done (Windows' and Samba's 35 s).
pub const BREAK_WAIT_MS: u64 = 35_000;

/// Sends the notices, purges and writes of a plan.
pub async fn carry_out(srv: &Arc<Server>, plan: Plan) {
    for s in plan.sends {
        deliver(srv, s);
    }
    if !plan.purges.is_empty() {
        if let Ok(fs) = srv.fs().await {
            for p in plan.purges {
                // Deleting the record also closes its disconnected open.
                match fs.handle_delete(&p.share, p.persistent_id).await {
                    Ok(()) => tracing::info!(id = format!("{:#x}", p.persistent_id), "disconnected durable open purged by a break"),
                    Err(e) => tracing::debug!(id = format!("{:#x}", p.persistent_id), "purge: {e}"),
                }
            }
        }
        srv.break_done.notify_waiters();
    }
    write_records(srv, plan.writes).await;
}

/// Queues a break notification. An oplock break goes to the connection
/// holding the open; a lease break to the oldest connection of the
/// lease's client (a lease is the client's, not a connection's: Windows
/// and Samba send it there), or the holder's if that client has none.
pub fn deliver(srv: &Server, s: Send) {
    let tx = s.lease_client.and_then(|g| srv.client_connection(&g)).unwrap_or(s.holder.tx);
    let _ = tx.send(ConnCmd::Break { session_id: s.holder.session_id, notice: s.notice });
}

/// An open changes the file's data: the read caches of other opens are
/// broken (no one waits for that).
pub async fn contend(srv: &Arc<Server>, entry: u64) {
    let plan = srv.leases.lock().expect("lease table").plan_contend(entry);
    if !plan.sends.is_empty() || !plan.purges.is_empty() || !plan.writes.is_empty() {
        carry_out(srv, plan).await;
    }
}

/// Writes each record's current state (taken again under the write lock,
/// so the newest state is what lands). A failure is logged: these are
/// lease and oplock states whose loss a reclaim tolerates. A request that
/// must not succeed unless its record lands uses [`write_record`].
pub async fn write_records(srv: &Arc<Server>, recs: Vec<HandleRecord>) {
    for r in recs {
        if let Err(e) = write_record(srv, &r).await {
            tracing::warn!(id = format!("{:#x}", r.persistent_id), "handle record update: {e:?}");
        }
    }
}

/// Writes one record's current state, as [`write_records`], and says
/// whether it landed. Ok when the open is no longer durable here (there is
/// no record to keep).
pub async fn write_record(srv: &Arc<Server>, r: &HandleRecord) -> Result<(), NtStatus> {
    let fs = srv.fs().await?;
    let _g = srv.record_writes.lock().await;
    let current = {
        let t = srv.leases.lock().expect("lease table");
        t.find_durable(&r.share, r.persistent_id).and_then(|id| t.current_record(id))
    };
    let Some(rec) = current else { return Ok(()) };
    match fs.handle_update(&rec.share, &rec).await {
        Ok(()) => Ok(()),
        Err(e) => Err(srv.fs_error(e).await),
    }
}

/// Carries out a break plan a request depends on (a rename, a
/// delete-on-close CLOSE): when it needs acknowledgments the request goes
/// async (`Err(STATUS_PENDING)`) and runs again once the breaks on
/// `path_key` are over or timed out.
pub async fn carry_out_or_wait(ctx: &mut crate::ctx::Ctx<'_>, plan: Plan, share: String, path_key: String) -> Result<(), NtStatus> {
    let (wait, blocked) = (plan.wait, plan.blocked);
    carry_out(ctx.srv, plan).await;
    if blocked {
        return Err(NtStatus::FILE_NOT_AVAILABLE);
    }
    if wait {
        ctx.wait = Some(std::sync::Mutex::new(Box::pin(wait_breaks(ctx.srv.clone(), share, path_key))));
        return Err(NtStatus::PENDING);
    }
    Ok(())
}

/// Waits until no break on the path is in flight, at most
/// [`BREAK_WAIT_MS`]; then the breaks still open complete as offered.
pub async fn wait_breaks(srv: Arc<Server>, share: String, path_key: String) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(BREAK_WAIT_MS);
    loop {
        // Created before the check: notify_waiters reaches it from here on.
        let done = srv.break_done.notified();
        if !srv.leases.lock().expect("lease table").breaking_on_path(&share, &path_key) {
            return;
        }
        if tokio::time::timeout_at(deadline, done).await.is_err() {
            let recs = srv.leases.lock().expect("lease table").force_breaks(&share, &path_key);
            tracing::info!(share = %share, path = %path_key, "break not acknowledged in time; taken as done");
            write_records(&srv, recs).await;
            return;
        }
    }
}

/// The PDU of a break notification ([MS-SMB2] 2.2.23): MessageId all
/// ones, no credits, not signed (clients do not check it).
pub fn notification_pdu(session_id: u64, notice: &Notice) -> BytesMut {
    let hdr = Header {
        credit_charge: 0,
        status: NtStatus::SUCCESS,
        command: Command::OplockBreak,
        credits: 0,
        flags: flags::SERVER_TO_REDIR,
        next_command: 0,
        message_id: u64::MAX,
        id: SyncOrAsync::Sync { process_id: 0, tree_id: 0 },
        session_id: match notice {
            Notice::Oplock { .. } => session_id,
            // A lease is not a session's: its break names none.
            Notice::Lease { .. } => 0,
        },
        signature: [0; 16],
    };
    let mut out = BytesMut::new();
    hdr.encode(&mut out);
    match *notice {
        Notice::Oplock { file_id, level } => OplockBreak { oplock_level: level, file_id }.encode(&mut out),
        Notice::Lease { key, epoch, flags, current, new } => LeaseBreakNotification {
            new_epoch: epoch,
            flags,
            lease_key: key,
            current_lease_state: current,
            new_lease_state: new,
            break_reason: 0,
            access_mask_hint: 0,
            share_mask_hint: 0,
        }
        .encode(&mut out),
    }
    out
}
