//! Closing what a session, tree or connection leaves open, and
//! disconnecting the durable opens of a connection that went away.

use std::sync::Arc;

use crate::server::Server;
use crate::state::Open;
use crate::time::now_unix_ms;

/// Closes each open on the file server; a durable one's handle record is
/// deleted first. Failures are logged, since the client is gone and there
/// is no one to tell.
pub async fn close_opens(srv: &Arc<Server>, opens: impl Iterator<Item = Open>) {
    let Ok(fs) = srv.fs().await else { return };
    for o in opens {
        let gone = srv.leases.lock().expect("lease table").remove(o.entry);
        if let Some(rec) = gone.and_then(|e| e.record) {
            if let Err(e) = fs.handle_delete(&rec.share, rec.persistent_id).await {
                tracing::warn!("delete of handle {:#x} on teardown: {e}", rec.persistent_id);
            }
        }
        if o.fs_fid == 0 {
            continue;
        }
        if let Err(e) = fs.close(o.fs_fid).await {
            tracing::debug!("close of fid {} on teardown: {e}", o.fs_fid);
        }
    }
    srv.break_done.notify_waiters();
}

/// The connection of these opens is gone: durable and persistent opens
/// stay on the file server as disconnected opens (their records get the
/// disconnect time, from which their timeout runs); the others are
/// closed.
pub async fn disconnect_opens(srv: &Arc<Server>, opens: impl Iterator<Item = Open>) {
    let mut rest = Vec::new();
    let Ok(fs) = srv.fs().await else { return };
    for o in opens {
        let marked = srv.leases.lock().expect("lease table").disconnect(o.entry, now_unix_ms());
        let Some(rec) = marked else {
            rest.push(o);
            continue;
        };
        let r = {
            let _g = srv.record_writes.lock().await;
            fs.handle_update(&rec.share, &rec).await
        };
        match r {
            Ok(()) => tracing::info!(id = format!("{:#x}", rec.persistent_id), path = %rec.path, "durable open disconnected"),
            Err(e) => {
                // The record could not be marked: close it for good rather
                // than leave a live open nobody holds.
                tracing::warn!("disconnect of handle {:#x}: {e}; closing it", rec.persistent_id);
                rest.push(o);
            }
        }
    }
    close_opens(srv, rest.into_iter()).await;
    srv.break_done.notify_waiters();
}
