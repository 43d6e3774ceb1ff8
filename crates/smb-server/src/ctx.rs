//! What a handler sees of one request: the connection state, the request
//! header and PDU, and the ids in force (after compound substitution).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use holdfast_smb_proto::{EncodeBody, FileId, Header};
use holdfast_types::ntstatus::NtStatus;

use crate::error::status;
use crate::server::Server;
use crate::state::{Negotiated, Open, Session, Tree};

/// Per-connection state the handlers change.
pub struct ConnState {
    pub neg: Negotiated,
    /// SMB 3.1.1 Connection.PreauthIntegrityHashValue.
    pub preauth: holdfast_smb_security::PreauthHash,
    pub sessions: std::collections::HashMap<u64, Session>,
    pub next_session_id: u64,
    pub next_volatile_id: u64,
    pub local_addr: SocketAddr,
    /// The client's address (logon backoff is per client IP).
    pub peer_addr: SocketAddr,
    /// This connection's number, and where other connections send it
    /// commands (PreviousSessionId teardown).
    pub conn_id: u64,
    pub cmd_tx: tokio::sync::mpsc::UnboundedSender<crate::server::ConnCmd>,
    /// A session was set up on this connection at some point: the
    /// session-setup deadline no longer applies (`conn_deadline.rs`).
    pub ever_authenticated: bool,
}

/// A handler's answer: the status and the response body. Error statuses
/// get an ERROR body from the connection instead of `body`.
pub struct Reply {
    pub status: NtStatus,
    pub body: BytesMut,
}

impl Reply {
    pub fn ok<B: EncodeBody + ?Sized>(body: &B) -> Reply {
        Reply::with_status(NtStatus::SUCCESS, body)
    }

    pub fn with_status<B: EncodeBody + ?Sized>(status: NtStatus, body: &B) -> Reply {
        let mut out = BytesMut::new();
        body.encode_body(&mut out);
        Reply { status, body: out }
    }
}

pub type HResult = Result<Reply, NtStatus>;

pub struct Ctx<'a> {
    pub conn: &'a mut ConnState,
    pub srv: &'a Arc<Server>,
    pub hdr: &'a Header,
    /// The request PDU (header included), as received (decrypted).
    pub pdu: &'a [u8],
    /// The request came encrypted (in a transform header).
    pub encrypted: bool,
    pub session_id: u64,
    pub tree_id: u32,
    /// FileId of the previous request on a file in a related compound.
    pub last_file_id: Option<FileId>,
    /// The session to put in the response header when a handler creates
    /// one (SESSION_SETUP).
    pub new_session_id: Option<u64>,
    /// The tree to put in the response header (TREE_CONNECT).
    pub new_tree_id: Option<u32>,
    /// Set with an `Err(STATUS_PENDING)` answer: the request waits for
    /// this (breaks to be acknowledged), then runs again from the start.
    pub wait: Option<std::sync::Mutex<AsyncWait>>,
    /// The request went async before and runs again after its wait.
    pub resumed: bool,
}

/// What a request that goes async waits for (in a Mutex in `Ctx`, which
/// handlers borrow across awaits and so must be Sync).
pub type AsyncWait = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Ctx<'_> {
    /// The authenticated session of this request.
    pub fn session(&mut self) -> Result<&mut Session, NtStatus> {
        match self.conn.sessions.get_mut(&self.session_id) {
            Some(s) if s.is_valid() => Ok(s),
            _ => Err(status::USER_SESSION_DELETED),
        }
    }

    pub fn tree(&mut self) -> Result<Tree, NtStatus> {
        let tid = self.tree_id;
        self.session()?.trees.get(&tid).cloned().ok_or(status::NETWORK_NAME_DELETED)
    }

    /// The FileId after related-compound substitution.
    pub fn file_id(&self, id: FileId) -> FileId {
        if id.is_any() {
            self.last_file_id.unwrap_or(id)
        } else {
            id
        }
    }

    /// The open `id` names (after substitution); it becomes the FileId
    /// that later related requests of the compound inherit.
    pub fn open(&mut self, id: FileId) -> Result<&mut Open, NtStatus> {
        let id = self.file_id(id);
        let tid = self.tree_id;
        let found = matches!(self.session()?.opens.get(&id.volatile), Some(o) if o.persistent_id == id.persistent && o.tree_id == tid);
        if !found {
            return Err(NtStatus::FILE_CLOSED);
        }
        self.last_file_id = Some(id);
        let o = self.session()?.opens.get_mut(&id.volatile).ok_or(NtStatus::FILE_CLOSED)?;
        // Any other request on an open that is not persistent ends its
        // CREATE's replay window ([MS-SMB2] 3.3.5.9.10). Only the first
        // such request takes the lease table's lock for it.
        let entry = o.entry;
        let window = std::mem::replace(&mut o.replay_window, false);
        let mut t = window.then(|| self.srv.leases.lock().expect("lease table"));
        if let Some(e) = t.as_mut().and_then(|t| t.entry_mut(entry)) {
            let persistent = e.record.as_ref().is_some_and(|r| r.is_persistent);
            if e.replay_eligible && !persistent {
                e.replay_eligible = false;
                if let Some(r) = e.record.as_mut() {
                    r.is_replay_eligible = false;
                }
            }
        }
        self.session()?.opens.get_mut(&id.volatile).ok_or(NtStatus::FILE_CLOSED)
    }
}
