//! The commands after logon: TREE_CONNECT, CREATE, WRITE, READ, CLOSE,
//! LOCK, ECHO, TREE_DISCONNECT, LOGOFF.

use holdfast_smb_proto::header::flags;
use holdfast_smb_proto::msg::close::{CloseRequest, CloseResponse, CLOSE_FLAG_POSTQUERY_ATTRIB};
use holdfast_smb_proto::msg::create::CreateResponse;
use holdfast_smb_proto::msg::create_ctx::CreateResponseContext;
use holdfast_smb_proto::msg::echo::EchoRequest;
use holdfast_smb_proto::msg::lock::{LockElement, LockRequest};
use holdfast_smb_proto::msg::logoff::LogoffRequest;
use holdfast_smb_proto::msg::oplock_break::{LeaseBreakAck, LeaseBreakNotification, OplockBreakRequest};
use holdfast_smb_proto::msg::read::{ReadRequest, ReadResponse, READ_DATA_OFFSET};
use holdfast_smb_proto::msg::tree_connect::{TreeConnectRequest, TreeConnectResponse};
use holdfast_smb_proto::msg::tree_disconnect::TreeDisconnectRequest;
use holdfast_smb_proto::msg::write::{WriteRequest, WriteResponse};
use holdfast_smb_proto::{Command, FileId};

use crate::client::{RequestOpts, SmbClient};
use crate::error::{ClientError, Result};
use crate::open::OpenOptions;

/// A connected tree.
#[derive(Debug, Clone, Copy)]
pub struct Tree {
    pub id: u32,
    pub share_type: u8,
    pub share_flags: u32,
    pub capabilities: u32,
    pub maximal_access: u32,
}

/// An open file: its FileId and the whole CREATE response.
#[derive(Debug, Clone)]
pub struct Open {
    pub file_id: FileId,
    pub response: CreateResponse,
}

impl Open {
    /// The granted DH2Q flags and timeout, when the server made the open
    /// durable v2 (or persistent).
    pub fn durable_v2(&self) -> Option<(u32, u32)> {
        self.response.contexts.iter().find_map(|c| match c {
            CreateResponseContext::DurableResponseV2 { timeout, flags } => Some((*flags, *timeout)),
            _ => None,
        })
    }

    /// True when the server granted a durable v1 handle.
    pub fn durable_v1(&self) -> bool {
        self.response.contexts.iter().any(|c| matches!(c, CreateResponseContext::DurableResponse))
    }
}

/// Decodes a lease break notification (None for an oplock break).
pub fn lease_break(n: &crate::client::Response) -> Option<LeaseBreakNotification> {
    LeaseBreakNotification::decode(n.body(), &n.pdu).ok()
}

/// `\\host\share` for TREE_CONNECT.
pub fn unc(host: &str, share: &str) -> String {
    format!("\\\\{host}\\{share}")
}

impl SmbClient {
    pub async fn tree_connect(&mut self, path: &str) -> Result<Tree> {
        let req = TreeConnectRequest { flags: 0, path: path.into() };
        let r = self.request_ok(Command::TreeConnect, 0, &req, RequestOpts::default()).await?;
        let t = TreeConnectResponse::decode(r.body(), &r.pdu)?;
        let id = r.header.tree_id().ok_or_else(|| ClientError::Protocol("TREE_CONNECT response is async".into()))?;
        Ok(Tree { id, share_type: t.share_type, share_flags: t.share_flags, capabilities: t.capabilities, maximal_access: t.maximal_access })
    }

    pub async fn create(&mut self, tree: &Tree, o: &OpenOptions) -> Result<Open> {
        let req = o.to_request();
        let opts = RequestOpts { flags: if o.replay { flags::REPLAY_OPERATION } else { 0 }, payload_bytes: 0 };
        let r = self.request_ok(Command::Create, tree.id, &req, opts).await?;
        let response = CreateResponse::decode(r.body(), &r.pdu)?;
        Ok(Open { file_id: response.file_id, response })
    }

    /// Writes `data` at `offset`; returns the byte count the server wrote.
    pub async fn write(&mut self, tree: &Tree, file_id: FileId, offset: u64, data: &[u8]) -> Result<u32> {
        self.write_with_flags(tree, file_id, offset, data, 0).await
    }

    /// [`SmbClient::write`] with WRITE Flags (e.g. `write_flags::WRITE_THROUGH`).
    pub async fn write_with_flags(&mut self, tree: &Tree, file_id: FileId, offset: u64, data: &[u8], flags: u32) -> Result<u32> {
        if data.len() > self.negotiated.max_write_bytes as usize {
            return Err(ClientError::BadRequest(format!("{} bytes exceed the server's MaxWriteSize {}", data.len(), self.negotiated.max_write_bytes)));
        }
        let req = WriteRequest { offset, file_id, channel: 0, remaining_bytes: 0, flags, data };
        let r = self.request_ok(Command::Write, tree.id, &req, RequestOpts { flags: 0, payload_bytes: data.len() }).await?;
        Ok(WriteResponse::decode(r.body(), &r.pdu)?.count)
    }

    /// Reads up to `len` bytes at `offset`; STATUS_END_OF_FILE is an error
    /// with that status.
    pub async fn read(&mut self, tree: &Tree, file_id: FileId, offset: u64, len: u32) -> Result<Vec<u8>> {
        if len > self.negotiated.max_read_bytes {
            return Err(ClientError::BadRequest(format!("{len} bytes exceed the server's MaxReadSize {}", self.negotiated.max_read_bytes)));
        }
        let req = ReadRequest {
            padding: READ_DATA_OFFSET,
            flags: 0,
            length: len,
            offset,
            file_id,
            minimum_count: 0,
            channel: 0,
            remaining_bytes: 0,
        };
        let r = self.request_ok(Command::Read, tree.id, &req, RequestOpts { flags: 0, payload_bytes: len as usize }).await?;
        Ok(ReadResponse::decode(r.body(), &r.pdu)?.data.to_vec())
    }

    pub async fn close(&mut self, tree: &Tree, file_id: FileId) -> Result<CloseResponse> {
        let req = CloseRequest { flags: CLOSE_FLAG_POSTQUERY_ATTRIB, file_id };
        let r = self.request_ok(Command::Close, tree.id, &req, RequestOpts::default()).await?;
        Ok(CloseResponse::decode(r.body(), &r.pdu)?)
    }

    /// LOCK with sequence 0 (no lock-sequence replay).
    pub async fn lock(&mut self, tree: &Tree, file_id: FileId, locks: Vec<LockElement>) -> Result<()> {
        let req = LockRequest { lock_sequence_number: 0, lock_sequence_index: 0, file_id, locks };
        self.request_ok(Command::Lock, tree.id, &req, RequestOpts::default()).await?;
        Ok(())
    }

    /// Acknowledges a lease break, keeping `lease_state`; returns the
    /// server's lease break response. Sent on a tree because Samba
    /// requires one (STATUS_NETWORK_NAME_DELETED without it).
    pub async fn ack_lease_break(&mut self, tree: &Tree, lease_key: [u8; 16], lease_state: u32) -> Result<LeaseBreakAck> {
        let req = OplockBreakRequest::Lease(LeaseBreakAck { flags: 0, lease_key, lease_state, lease_duration: 0 });
        let r = self.request_ok(Command::OplockBreak, tree.id, &req, RequestOpts::default()).await?;
        Ok(LeaseBreakAck::decode(r.body(), &r.pdu)?)
    }

    pub async fn echo(&mut self) -> Result<()> {
        self.request_ok(Command::Echo, 0, &EchoRequest, RequestOpts::default()).await?;
        Ok(())
    }

    pub async fn tree_disconnect(&mut self, tree: &Tree) -> Result<()> {
        self.request_ok(Command::TreeDisconnect, tree.id, &TreeDisconnectRequest, RequestOpts::default()).await?;
        Ok(())
    }

    pub async fn logoff(&mut self) -> Result<()> {
        self.request_ok(Command::Logoff, 0, &LogoffRequest, RequestOpts::default()).await?;
        self.signer = None;
        self.session_id = 0;
        Ok(())
    }
}
