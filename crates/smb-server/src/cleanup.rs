//! Closing what a session, tree or connection leaves open.

use std::sync::Arc;

use crate::server::Server;
use crate::state::Open;

/// Closes each open on the file server; failures are logged, since the
/// client is gone and there is no one to tell.
pub async fn close_opens(srv: &Arc<Server>, opens: impl Iterator<Item = Open>) {
    let Ok(fs) = srv.fs().await else { return };
    for o in opens {
        if o.fs_fid == 0 {
            continue;
        }
        if let Err(e) = fs.close(o.fs_fid).await {
            tracing::debug!("close of fid {} on teardown: {e}", o.fs_fid);
        }
    }
}
