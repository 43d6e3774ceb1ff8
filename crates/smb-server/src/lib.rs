//! `holdfast-smb-server`: the SMB 2/3 service (`holdfast smbd`). It
//! accepts TCP connections, speaks SMB with the codec of
//! `holdfast-smb-proto` and the security of `holdfast-smb-security`, and
//! serves files through the host's file server (`holdfast-file-server`).
//!
//! - [`config`]: the `smbd.toml` file;
//! - [`conn`]: one connection: framing, compounds, signing, encryption,
//!   credits, dispatch;
//! - [`handlers`]: one file per command;
//! - [`state`] / [`ctx`]: sessions, trees, opens, and a request's view of
//!   them;
//! - [`authz`]: who may use a share, and how (checked at every request);
//! - [`privilege`]: started as root, smbd becomes its unprivileged user
//!   once its port is bound.

pub mod admission;
pub mod async_budget;
pub mod authz;
pub mod breaks;
pub mod config;
pub mod conn;
pub mod conn_deadline;
pub mod conns;
pub mod credits;
pub mod ctx;
pub mod error;
pub mod handlers;
pub mod identity;
pub mod leases;
pub mod notify;
pub mod pipe;
pub mod privilege;
pub mod server;
pub mod state;

pub(crate) mod cleanup;
mod time;

use std::sync::Arc;

pub use config::{Limits, SmbdConfig};
pub use error::SmbdError;
use tokio::net::TcpListener;

/// Binds the listen address, then drops root if started as root
/// ([`privilege::drop_root`]). Call it before any runtime starts threads:
/// the drop is meant for a process of one thread.
pub fn bind_and_drop(cfg: &SmbdConfig) -> Result<std::net::TcpListener, SmbdError> {
    let listener = std::net::TcpListener::bind(&cfg.listen).map_err(|source| SmbdError::Listen { addr: cfg.listen.clone(), source })?;
    match privilege::drop_root(cfg)? {
        Some(u) => tracing::info!(user = %u.name, uid = u.uid, gid = u.gid, "root dropped after binding"),
        None => tracing::info!("not started as root; running as this user"),
    }
    Ok(listener)
}

/// Serves, on a listener from [`bind_and_drop`], until the process ends.
/// A connection over `connections_max` or `connections_per_ip_max` is
/// closed as soon as it is accepted (`admission.rs`).
pub async fn run(listener: std::net::TcpListener, cfg: SmbdConfig) -> Result<(), SmbdError> {
    let listener = listener
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(listener))
        .map_err(|source| SmbdError::Listen { addr: cfg.listen.clone(), source })?;
    serve(listener, cfg).await
}

/// Like [`run`] on an already bound listener (tests bind port 0).
pub async fn serve(listener: TcpListener, cfg: SmbdConfig) -> Result<(), SmbdError> {
    let conns = conns::ConnRegistry::new(cfg.conns_file.clone());
    let srv = Arc::new(server::Server::new(cfg));
    tracing::info!(addr = ?listener.local_addr().ok(), "smbd listening");
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let local = sock.local_addr().unwrap_or_else(|_| "127.0.0.1:0".parse().expect("addr"));
        let c = conn::Conn::new(srv.clone(), local, peer);
        let ticket = match srv.admission.admit(peer.ip(), c.conn_id()) {
            Ok(t) => t,
            Err(e) => {
                // Dropping the socket closes it: the client learns at once.
                tracing::info!(%peer, "connection refused: {e}");
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let registered = conns.register(peer, local);
        tokio::spawn(async move {
            let _registered = registered;
            let _ticket = ticket;
            match c.serve(sock).await {
                Ok(()) => tracing::debug!(%peer, "connection closed"),
                Err(e) => tracing::info!(%peer, "connection ended: {e}"),
            }
        });
    }
}
