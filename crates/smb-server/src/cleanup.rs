//! Closing what a session, tree or connection leaves open, and
//! disconnecting the durable opens of a connection that went away.

use std::sync::Arc;

use crate::leases::{Disconnected, Entry};
use crate::server::Server;
use crate::state::Open;
use crate::time::now_unix_ms;

/// Ends session `id` of this connection as a LOGOFF does: it refuses
/// requests from now on, and the connection forgets it once every answer
/// owed on it is signed. Returns its opens, to disconnect.
pub fn expire_session(conn: &mut crate::ctx::ConnState, id: u64) -> Option<Vec<Open>> {
    let s = conn.sessions.get_mut(&id).filter(|s| !s.logged_off)?;
    s.logged_off = true;
    s.trees.clear();
    Some(std::mem::take(&mut s.opens).into_values().collect())
}

/// After an open is closed on the file server (`gone` is its lease-table
/// entry): a CHANGE_NOTIFY waiting on it ends, and when it was the file's
/// last open and a delete was pending, the file is gone and watchers of
/// its directory hear of it.
pub fn open_gone(srv: &Server, gone: &Entry) {
    if let Some(h) = &gone.holder {
        srv.notify.close((h.conn_id, h.file_id.volatile));
    }
    if !srv.leases.lock().expect("lease table").file_is_open(&gone.share, gone.ino) {
        srv.notify.last_close(&gone.share, &gone.path_key);
    }
}

/// Closes each open on the file server; a durable one's handle record is
/// deleted first. Failures are logged, since the client is gone and there
/// is no one to tell.
pub async fn close_opens(srv: &Arc<Server>, opens: impl Iterator<Item = Open>) {
    let opens: Vec<_> = opens.map(|o| (None, o)).collect();
    close_opens_with(srv, opens).await;
}

/// [`close_opens`] for opens whose lease-table entry may already be
/// taken out (`Some`); the others' entries are removed here.
async fn close_opens_with(srv: &Arc<Server>, opens: Vec<(Option<Entry>, Open)>) {
    let Ok(fs) = srv.fs().await else { return };
    for (taken, o) in opens {
        let rec = match &taken {
            Some(e) => e.record.clone(),
            None => srv.leases.lock().expect("lease table").entry(o.entry).and_then(|e| e.record.clone()),
        };
        if let Some(rec) = rec {
            if let Err(e) = fs.handle_delete(&rec.share, rec.persistent_id).await {
                tracing::warn!("delete of handle {:#x} on teardown: {e}", rec.persistent_id);
            }
        }
        let closed = if o.fs_fid == 0 { None } else { Some(fs.close(o.fs_fid).await) };
        // The entry goes after the file server's close, as at CLOSE.
        let gone = taken.or_else(|| srv.leases.lock().expect("lease table").remove(o.entry));
        match closed {
            Some(Ok(())) => {
                if let Some(g) = &gone {
                    open_gone(srv, g);
                }
            }
            Some(Err(e)) => tracing::debug!("close of fid {} on teardown: {e}", o.fs_fid),
            None => {}
        }
    }
    srv.break_done.notify_waiters();
    srv.locks_released();
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
        let rec = match marked {
            Disconnected::Kept(rec) => rec,
            Disconnected::Removed(e) => {
                rest.push((Some(e), o));
                continue;
            }
            Disconnected::Unknown => {
                rest.push((None, o));
                continue;
            }
        };
        let r = {
            let _g = srv.record_writes.lock().await;
            fs.handle_update(&rec.share, &rec).await
        };
        srv.leases.lock().expect("lease table").disconnect_done(o.entry);
        match r {
            Ok(()) => tracing::info!(id = format!("{:#x}", rec.persistent_id), path = %rec.path, "durable open disconnected"),
            Err(e) => {
                // The record could not be marked: close it for good rather
                // than leave a live open nobody holds.
                tracing::warn!("disconnect of handle {:#x}: {e}; closing it", rec.persistent_id);
                rest.push((None, o));
            }
        }
    }
    close_opens_with(srv, rest).await;
    srv.break_done.notify_waiters();
}
