//! Per-connection state: the negotiated parameters, sessions, their tree
//! connects and opens. Owned by one connection task, so no locks.

use std::collections::HashMap;

use holdfast_smb_proto::Guid;
use holdfast_smb_security::{PreauthHash, ServerAuth, SmbCipher, Signer};

/// What NEGOTIATE settled.
#[derive(Debug, Clone, Default)]
pub struct Negotiated {
    /// 0 until NEGOTIATE succeeded (0x02FF after an SMB1 negotiate).
    pub dialect: u16,
    pub client_guid: Guid,
    pub client_security_mode: u16,
    pub client_capabilities: u32,
    /// Dialects the client offered, for VALIDATE_NEGOTIATE_INFO.
    pub client_dialects: Vec<u16>,
    pub server_capabilities: u32,
    pub server_security_mode: u16,
    /// 3.1.1 only: the negotiated cipher and signing algorithm ids.
    pub cipher: Option<u16>,
    pub signing_algorithm: Option<u16>,
}

impl Negotiated {
    pub fn is_smb3(&self) -> bool {
        self.dialect >= holdfast_smb_proto::dialect::SMB_3_0 && self.dialect != holdfast_smb_proto::dialect::SMB2_WILDCARD
    }
}

pub enum SessionState {
    /// SESSION_SETUP rounds under way.
    InProgress { auth: Box<ServerAuth>, preauth: PreauthHash },
    Valid,
}

pub struct Session {
    pub id: u64,
    pub state: SessionState,
    pub user: String,
    pub signer: Option<Signer>,
    /// Every 3.x session signs (the service requires it).
    pub signing_required: bool,
    /// Decrypts requests / encrypts responses, when keys were derived.
    pub decrypt: Option<SmbCipher>,
    pub encrypt: Option<SmbCipher>,
    pub trees: HashMap<u32, Tree>,
    pub opens: HashMap<u64, Open>,
    /// Named-pipe opens on IPC$ (`pipe.rs`), by volatile id; they share
    /// `opens_max` with `opens`.
    pub pipes: HashMap<u64, crate::pipe::PipeOpen>,
    pub next_tree_id: u32,
    /// LOGOFF done: refuse further requests; removed once the LOGOFF
    /// response is signed.
    pub logged_off: bool,
    /// A re-authentication of this valid session in progress.
    pub reauth: Option<Box<ServerAuth>>,
}

impl Session {
    pub fn new(id: u64, auth: ServerAuth, preauth: PreauthHash) -> Session {
        Session {
            id,
            state: SessionState::InProgress { auth: Box::new(auth), preauth },
            user: String::new(),
            signer: None,
            signing_required: false,
            decrypt: None,
            encrypt: None,
            trees: HashMap::new(),
            opens: HashMap::new(),
            pipes: HashMap::new(),
            next_tree_id: 1,
            logged_off: false,
            reauth: None,
        }
    }

    pub fn is_valid(&self) -> bool {
        matches!(self.state, SessionState::Valid) && !self.logged_off
    }
}

#[derive(Debug, Clone)]
pub struct Tree {
    pub share: String,
    pub is_ipc: bool,
    pub ca: bool,
    /// Every WRITE is written through (`ShareDef::write_through`).
    pub write_through: bool,
    /// The share's durable-handle timeout (default and cap), milliseconds.
    pub handle_timeout_ms: u64,
    /// Who may use it, and how; checked at every request on the tree.
    pub rules: std::sync::Arc<crate::authz::ShareRules>,
}

/// One open: the file server's fid plus what QUERY_DIRECTORY and
/// QUERY_INFO need to remember between requests.
#[derive(Debug, Clone)]
pub struct Open {
    pub fs_fid: u64,
    /// FileId.Persistent: the handle-table id of a durable open, else the
    /// file server's fid.
    pub persistent_id: u64,
    /// A durable or persistent open: its handle-table record (in the lease
    /// table's entry) is deleted at CLOSE and marked disconnected when the
    /// connection goes.
    pub durable: bool,
    /// Its entry in the lease table (`Server::leases`).
    pub entry: u64,
    /// Its CREATE may still be answered to a replay: the next request on
    /// it closes that window (in the lease table's entry).
    pub replay_window: bool,
    pub tree_id: u32,
    /// Path relative to the share root, as the client sent it.
    pub path: String,
    pub is_dir: bool,
    pub granted_access: u32,
    /// FilePositionInformation: kept for the client, which sets and reads
    /// it; the lease-table entry keeps it over a reconnect.
    pub position: u64,
    /// FileModeInformation as the client set it (SET_INFO): reported
    /// back, no other effect.
    pub mode: u32,
    /// Opened with FILE_WRITE_THROUGH: every WRITE is written through.
    pub write_through: bool,
    /// Open.ChannelSequence (3.x): the newest channel epoch seen.
    pub channel_sequence: u16,
    pub dir: DirCursor,
}

/// Where a directory enumeration stands.
#[derive(Debug, Clone, Default)]
pub struct DirCursor {
    pub started: bool,
    pub pattern: String,
    /// How many of `.` and `..` (those matching the pattern) were
    /// returned: a response may hold only one (a single-entry search, a
    /// small buffer).
    pub dots_sent: usize,
    /// Resume strictly after this name (empty = from the start).
    pub after: String,
    pub ended: bool,
}
