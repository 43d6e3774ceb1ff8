//! The file server's local sockets: Unix stream sockets, `fs.sock` in the
//! node's data directory (mode 0600: the node's own user, for tools) and
//! the SMB service's in its own directory (mode 0660, group the smbd
//! user's when the node runs as root, docs/security.md). Requests on one
//! connection run concurrently and are answered as they finish.

use std::path::Path;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use holdfast_types::ntstatus::NtStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Semaphore};

use crate::proto::{Reply, Request, FRAME_BODY_BYTES_MAX, MESSAGE_BYTES_MAX, REQUEST_HEADER_BYTES};
use crate::server::{Fail, FileServer};

/// Connections at once (the SMB service needs one or a few).
pub const CONNS_MAX: usize = 64;
/// Requests one connection may have in progress.
pub const INFLIGHT_PER_CONN_MAX: usize = 512;

/// Pause after a failed `accept` (out of file descriptors, say) before the
/// next: the listener keeps serving once the cause passes.
pub const ACCEPT_RETRY_MS: u64 = 100;

/// Who may connect besides the node's own user and root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketAccess {
    /// The smbd user (`system_user`), when the node runs as root: the
    /// socket gets its group and mode 0660, and its uid passes the peer
    /// check. None: mode 0600, the node's user and root alone.
    pub smbd: Option<(u32, u32)>,
}

/// Binds the socket (replacing a stale one left by a crash) and serves it
/// until the task is dropped.
///
/// The socket is bound inside a fresh directory of mode 0700, given its
/// group and mode, and only then renamed to `path`: at no moment can
/// another local user connect (binding at `path` and chmod-ing after left
/// a window).
pub async fn serve_unix(server: Arc<FileServer>, path: &Path, access: SocketAccess) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let _ = std::fs::remove_file(path);
    let private = path.with_extension("bind");
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged = private.join("fs.sock");
    let listener = UnixListener::bind(&staged)?;
    let mode = match access.smbd {
        Some((_, gid)) => {
            std::os::unix::fs::chown(&staged, None, Some(gid))?;
            0o660
        }
        None => 0o600,
    };
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&staged, path)?;
    let _ = std::fs::remove_dir(&private);
    // The socket's owner is this process's user: the only peer we serve,
    // besides root and the smbd user (SO_PEERCRED, checked on every
    // connection, in case the file's mode is ever loosened or the socket
    // handed on).
    let owner = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)?.uid()
    };
    let smbd_uid = access.smbd.map(|(uid, _)| uid);
    tracing::info!(socket = %path.display(), "file server listening");
    let conns = Arc::new(Semaphore::new(CONNS_MAX));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(socket = %path.display(), error = %e, "file-server socket: accept failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(c) if peer_allowed(c.uid(), owner, smbd_uid) => {}
            Ok(c) => {
                tracing::warn!(socket = %path.display(), uid = c.uid(), pid = ?c.pid(), "file-server socket: refused a peer of another user");
                continue;
            }
            Err(e) => {
                tracing::warn!(socket = %path.display(), error = %e, "file-server socket: cannot read the peer's credentials; refused");
                continue;
            }
        }
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            tracing::warn!("file-server socket: {CONNS_MAX} connections open; refusing another");
            continue;
        };
        let server = server.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_conn(server, stream).await {
                tracing::debug!(error = %e, "file-server connection ended");
            }
            drop(permit);
        });
    }
}

/// Who may use the file-server socket: the node's own user, root, and
/// the smbd user if there is one. Nothing else.
fn peer_allowed(uid: u32, owner: u32, smbd_uid: Option<u32>) -> bool {
    uid == owner || uid == 0 || Some(uid) == smbd_uid
}

pub fn encode_reply(request_id: u64, r: Result<Bytes, Fail>) -> Bytes {
    let (status, body) = match r {
        Ok(b) => (NtStatus::SUCCESS, b),
        Err(f) => {
            let mut m = f.message.into_bytes();
            m.truncate(MESSAGE_BYTES_MAX);
            (f.status, Bytes::from(m))
        }
    };
    let mut b = BytesMut::with_capacity(16 + body.len());
    b.put_u32_le(body.len() as u32);
    b.put_u64_le(request_id);
    b.put_u32_le(status.0);
    b.put_slice(&body);
    b.freeze()
}

async fn serve_conn(server: Arc<FileServer>, stream: UnixStream) -> std::io::Result<()> {
    let (mut r, mut w) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(INFLIGHT_PER_CONN_MAX);
    let writer = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        while let Some(first) = rx.recv().await {
            buf.clear();
            buf.put_slice(&first);
            // Coalesce replies that are ready into one write.
            while buf.len() < 256 * 1024 {
                match rx.try_recv() {
                    Ok(more) => buf.put_slice(&more),
                    Err(_) => break,
                }
            }
            if w.write_all(&buf).await.is_err() {
                return;
            }
        }
    });
    let inflight = Arc::new(Semaphore::new(INFLIGHT_PER_CONN_MAX));
    // The fids this connection opened and has not closed: when the
    // connection ends (the SMB service exited or crashed) they are closed,
    // or, for persistent handles, left disconnected for reclaim.
    let open_fids: Arc<std::sync::Mutex<std::collections::HashSet<u64>>> = Arc::default();
    let mut head = [0u8; REQUEST_HEADER_BYTES];
    loop {
        if r.read_exact(&mut head).await.is_err() {
            break;
        }
        let len = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
        let rid = u64::from_le_bytes(head[4..12].try_into().expect("8 bytes"));
        let op = u16::from_le_bytes(head[12..14].try_into().expect("2 bytes"));
        if len > FRAME_BODY_BYTES_MAX {
            tracing::warn!(len, "file-server socket: frame body over {FRAME_BODY_BYTES_MAX} bytes; closing the connection");
            let _ = tx.send(encode_reply(rid, Err(Fail::new(NtStatus::INVALID_PARAMETER, format!("frame body of {len} bytes is over {FRAME_BODY_BYTES_MAX}"))))).await;
            break;
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        let permit = inflight.clone().acquire_owned().await.expect("semaphore never closed");
        let (server, tx, open_fids) = (server.clone(), tx.clone(), open_fids.clone());
        tokio::spawn(async move {
            let reply = match Request::decode(op, &body) {
                Ok(req) => {
                    let closing = match req {
                        Request::Close { fid } | Request::HandleDeleteClose { fid, .. } => Some(fid),
                        _ => None,
                    };
                    let r = server.handle(req).await;
                    match (&r, closing) {
                        (Ok(Reply::Opened { fid, .. }), _) => {
                            open_fids.lock().expect("fids lock").insert(*fid);
                        }
                        (Ok(_), Some(fid)) => {
                            open_fids.lock().expect("fids lock").remove(&fid);
                        }
                        _ => {}
                    }
                    r.map(|r| r.encode_body())
                }
                Err(e) => Err(Fail::new(NtStatus::INVALID_PARAMETER, e.to_string())),
            };
            let _ = tx.send(encode_reply(rid, reply)).await;
            drop(permit);
        });
    }
    drop(tx);
    let _ = writer.await;
    // Requests still running may yet open fids; wait for them first.
    let _ = inflight.acquire_many(INFLIGHT_PER_CONN_MAX as u32).await;
    let fids: Vec<u64> = open_fids.lock().expect("fids lock").drain().collect();
    if !fids.is_empty() {
        server.connection_closed(fids).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::peer_allowed;

    #[test]
    fn peers_are_the_owner_root_and_the_smbd_user() {
        assert!(peer_allowed(1000, 1000, None));
        assert!(peer_allowed(0, 1000, None));
        assert!(!peer_allowed(999, 1000, None));
        assert!(peer_allowed(999, 0, Some(999)));
        assert!(!peer_allowed(998, 0, Some(999)));
    }
}
