//! What every connection shares: the config, the server GUID, and the
//! connection to the host's file server (re-established after it breaks).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use holdfast_file_server::{ClientError, FsClient};
use holdfast_smb_proto::Guid;
use holdfast_smb_security::NtlmServerConfig;
use holdfast_types::ntstatus::NtStatus;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::config::SmbdConfig;
use crate::time::now_filetime;

pub struct Server {
    pub cfg: SmbdConfig,
    pub guid: Guid,
    pub start_time: u64,
    pub ntlm: Arc<NtlmServerConfig>,
    fs: Mutex<Option<Arc<FsClient>>>,
    /// Every valid session of every connection, for SESSION_SETUP with a
    /// PreviousSessionId ([MS-SMB2] 3.3.5.5.3).
    pub sessions: std::sync::Mutex<HashMap<u64, SessionReg>>,
    pub next_conn_id: AtomicU64,
    /// The orphan sweep ran (once per process, at the first connection to
    /// the file server).
    swept: std::sync::atomic::AtomicBool,
    /// Every open's oplock or lease, and the durable records (`leases.rs`).
    pub leases: std::sync::Mutex<crate::leases::Table>,
    /// Woken whenever a break completes (acknowledged, or its open gone).
    pub break_done: tokio::sync::Notify,
    /// Serialises handle-record updates, so that each writes the latest
    /// state and an older snapshot never lands after a newer one.
    pub record_writes: Mutex<()>,
    /// (ClientGuid, CreateGuid) of DH2Q CREATEs waiting for breaks: a
    /// replay of one gets STATUS_FILE_NOT_AVAILABLE ([MS-SMB2] 3.3.5.9.10).
    pub pending_creates: std::sync::Mutex<std::collections::HashSet<(Guid, Guid)>>,
    /// CHANGE_NOTIFY watches, and the changes they are told of (`notify.rs`).
    pub notify: crate::notify::Watches,
    /// Bumped whenever byte-range locks may have been released (an
    /// unlock, an open closed): blocking LOCKs that wait try again.
    pub lock_releases: tokio::sync::watch::Sender<u64>,
    /// The connections of each ClientGuid, oldest first, for lease breaks.
    client_conns: std::sync::Mutex<HashMap<Guid, Vec<(u64, mpsc::UnboundedSender<ConnCmd>)>>>,
    /// Connection counts and logon backoff (`admission.rs`).
    pub admission: Arc<crate::admission::Admission>,
    /// Requests waiting asynchronously, over all connections (`async_budget.rs`).
    pub async_budget: Arc<crate::async_budget::AsyncBudget>,
}

/// What another connection may ask of a connection's task.
pub enum ConnCmd {
    /// Tear down this session as if its connection had dropped (durable
    /// opens become disconnected); `done` once it is.
    ExpireSession { id: u64, done: oneshot::Sender<()> },
    /// Send an oplock or lease break notification.
    Break { session_id: u64, notice: crate::leases::Notice },
    /// Close an open of this connection (another client's CREATE with the
    /// same AppInstanceId takes its place); `done` once it is closed.
    CloseOpen { session_id: u64, volatile: u64, done: oneshot::Sender<()> },
    /// The wait of a request that went async is over: run it again.
    Resume { async_id: u64 },
}

pub struct SessionReg {
    pub conn_id: u64,
    /// The durable owner, `SERVER\user`.
    pub owner: String,
    pub tx: mpsc::UnboundedSender<ConnCmd>,
}

impl Server {
    pub fn new(cfg: SmbdConfig) -> Server {
        let guid: Guid = rand::random();
        let ntlm = Arc::new(NtlmServerConfig::standalone(&cfg.server_name));
        let admission = crate::admission::Admission::new(&cfg.limits);
        let notify = crate::notify::Watches::with_budget(cfg.limits.notify_buffered_bytes_max);
        let async_budget =
            crate::async_budget::AsyncBudget::new(cfg.limits.async_requests_max, cfg.limits.async_requests_per_connection_max);
        Server {
            cfg,
            guid,
            start_time: now_filetime(),
            ntlm,
            fs: Mutex::new(None),
            sessions: Default::default(),
            next_conn_id: AtomicU64::new(1),
            swept: std::sync::atomic::AtomicBool::new(false),
            leases: Default::default(),
            break_done: tokio::sync::Notify::new(),
            record_writes: Mutex::new(()),
            pending_creates: Default::default(),
            notify,
            lock_releases: tokio::sync::watch::Sender::new(0),
            client_conns: Default::default(),
            admission,
            async_budget,
        }
    }

    /// Open.DurableOwner of a session's user: users are the service's own
    /// (the users file), so the domain is the server's name.
    pub fn owner_of(&self, user: &str) -> String {
        format!("{}\\{}", self.cfg.server_name, user)
    }

    /// A connection negotiated as `guid`'s (a zero guid, as 2.0.2 sends,
    /// names no client).
    pub fn client_connected(&self, guid: Guid, conn_id: u64, tx: mpsc::UnboundedSender<ConnCmd>) {
        if guid != [0; 16] {
            self.client_conns.lock().expect("client connections").entry(guid).or_default().push((conn_id, tx));
        }
    }

    pub fn client_disconnected(&self, guid: Guid, conn_id: u64) {
        let mut m = self.client_conns.lock().expect("client connections");
        if let Some(v) = m.get_mut(&guid) {
            v.retain(|(c, _)| *c != conn_id);
            if v.is_empty() {
                m.remove(&guid);
            }
        }
    }

    /// The oldest live connection of client `guid`.
    pub fn client_connection(&self, guid: &Guid) -> Option<mpsc::UnboundedSender<ConnCmd>> {
        let m = self.client_conns.lock().expect("client connections");
        m.get(guid)?.iter().find(|(_, tx)| !tx.is_closed()).map(|(_, tx)| tx.clone())
    }

    /// Byte-range locks may have been released: wake the blocking LOCKs.
    pub fn locks_released(&self) {
        self.lock_releases.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Forgets a session (logoff, connection gone), if `conn_id` still
    /// holds it.
    pub fn unregister_session(&self, id: u64, conn_id: u64) {
        let mut m = self.sessions.lock().expect("sessions lock");
        if m.get(&id).is_some_and(|r| r.conn_id == conn_id) {
            m.remove(&id);
        }
    }

    /// The file-server connection, connecting (again) if there is none.
    pub async fn fs(&self) -> Result<Arc<FsClient>, NtStatus> {
        let mut g = self.fs.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        match FsClient::connect(&self.cfg.fs_socket).await {
            Ok(c) => {
                let c = Arc::new(c);
                if !self.swept.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    sweep_orphans(self, &c).await;
                }
                *g = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                tracing::warn!("file server: {e}");
                Err(NtStatus::DEVICE_NOT_READY)
            }
        }
    }

    /// Maps a file-server error to the status for the client; a broken
    /// connection is dropped so the next call reconnects.
    pub async fn fs_error(&self, e: ClientError) -> NtStatus {
        match e.status() {
            Some(s) => s,
            None => {
                tracing::warn!("file server: {e}");
                *self.fs.lock().await = None;
                NtStatus::UNEXPECTED_IO_ERROR
            }
        }
    }
}

/// A new service process holds no opens, so a handle record that still
/// says *connected* belongs to an earlier instance that died without
/// marking it (a crash of smbd while its host lives on): it is marked
/// disconnected now, so that its timeout runs and a client can reclaim it.
/// Runs once, before this process makes any open (one smbd per host).
/// Every record then enters the lease table as a disconnected open, so
/// that breaks and conflicts see it as the old instance did.
async fn sweep_orphans(srv: &Server, fs: &FsClient) {
    let Ok(shares) = fs.shares().await else { return };
    // Only this service's shares: another service on the same host holds
    // the others' handles, live.
    let mine = |name: &str| srv.cfg.shares.is_empty() || srv.cfg.shares.iter().any(|s| s.eq_ignore_ascii_case(name));
    for sh in shares.into_iter().filter(|s| mine(&s.name)) {
        let Ok(recs) = fs.handle_list(&sh.name).await else { continue };
        for mut rec in recs {
            if rec.disconnect_time_unix_ms == 0 {
                rec.disconnect_time_unix_ms = crate::time::now_unix_ms();
                match fs.handle_update(&sh.name, &rec).await {
                    Ok(()) => tracing::info!(share = %sh.name, id = format!("{:#x}", rec.persistent_id), "orphaned durable handle marked disconnected"),
                    Err(e) => tracing::warn!(share = %sh.name, id = format!("{:#x}", rec.persistent_id), "orphaned durable handle: {e}"),
                }
            }
            srv.leases.lock().expect("lease table").load(rec);
        }
    }
}
