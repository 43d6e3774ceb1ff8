//! One SMB2/3 connection: NEGOTIATE, the request/response loop with
//! credits, signing and interim responses, and the raw escape hatch.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use holdfast_smb_proto::frame::split_compound;
use holdfast_smb_proto::header::flags;
use holdfast_smb_proto::msg::negotiate::{NegotiateRequest, NegotiateResponse};
use holdfast_smb_proto::msg::negotiate_ctx::{hash_algorithm, signing_algorithm, NegotiateContext};
use holdfast_smb_proto::{caps, dialect, encode_pdu, security_mode, Command, EncodeBody, Guid, Header, HEADER_BYTES};
use holdfast_smb_security::kdf::Dialect;
use holdfast_smb_security::{PreauthHash, Signer, SigningAlgorithm};
use holdfast_types::ntstatus::NtStatus;

use crate::error::{ClientError, Result};
use crate::transport::Transport;

/// MessageId of unsolicited oplock and lease break notifications.
pub const NOTIFICATION_MESSAGE_ID: u64 = u64::MAX;
/// Bytes one credit pays for on a LARGE_MTU connection ([MS-SMB2] 3.1.5.2).
const CREDIT_BYTES: usize = 65_536;
/// Notifications kept for [`SmbClient::take_notifications`]; older ones
/// are dropped so a client that never looks cannot grow without bound.
const NOTIFICATIONS_MAX: usize = 1024;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Dialects offered, any order; 3.1.1 adds the pre-auth and signing
    /// negotiate contexts.
    pub dialects: Vec<u16>,
    pub client_guid: Guid,
    /// Signing algorithms offered on 3.1.1, preferred first.
    pub signing_algorithms: Vec<u16>,
    /// Set SIGNING_REQUIRED (as a hardened Windows client does), so a
    /// server that merely allows signing signs this session too.
    pub signing_required: bool,
    /// Credits the client tries to hold.
    pub credits_wanted: u16,
    /// How long to wait for the final reply to one request.
    pub reply_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            dialects: vec![dialect::SMB_3_1_1, dialect::SMB_3_0_2, dialect::SMB_3_0, dialect::SMB_2_1],
            client_guid: rand::random(),
            signing_algorithms: vec![
                signing_algorithm::AES_GMAC,
                signing_algorithm::AES_CMAC,
                signing_algorithm::HMAC_SHA256,
            ],
            signing_required: true,
            credits_wanted: 64,
            reply_timeout: Duration::from_secs(30),
        }
    }
}

/// What NEGOTIATE settled.
#[derive(Debug, Clone)]
pub struct Negotiated {
    pub dialect: u16,
    pub server_guid: Guid,
    pub security_mode: u16,
    pub capabilities: u32,
    pub max_transact_bytes: u32,
    pub max_read_bytes: u32,
    pub max_write_bytes: u32,
    pub signing: SigningAlgorithm,
    /// The server's SPNEGO hint (NegTokenInit2), for the first SESSION_SETUP.
    pub security_buffer: Vec<u8>,
}

/// One response PDU.
#[derive(Debug, Clone)]
pub struct Response {
    pub header: Header,
    /// The whole PDU, header included (offsets in bodies count from it).
    pub pdu: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> NtStatus {
        self.header.status
    }

    pub fn body(&self) -> &[u8] {
        self.pdu.get(HEADER_BYTES..).unwrap_or(&[])
    }
}

/// Options of one request beyond command, tree and body.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestOpts {
    /// Extra header flags (e.g. REPLAY_OPERATION).
    pub flags: u32,
    /// Payload bytes (WRITE data, READ length) that set the CreditCharge.
    pub payload_bytes: usize,
}

pub struct SmbClient {
    transport: Transport,
    pub(crate) cfg: ClientConfig,
    pub(crate) negotiated: Negotiated,
    next_message_id: u64,
    credits: u32,
    /// The connection's pre-auth hash after NEGOTIATE (3.1.1 only).
    pub(crate) preauth: Option<PreauthHash>,
    pub(crate) session_id: u64,
    pub(crate) signer: Option<Signer>,
    notifications: VecDeque<Response>,
    interim_responses: u64,
}

impl SmbClient {
    /// TCP connect to `addr` ("host:port") and NEGOTIATE.
    pub async fn connect(addr: &str, cfg: ClientConfig) -> Result<SmbClient> {
        let transport = Transport::connect(addr).await?;
        let negotiated = Negotiated {
            dialect: 0,
            server_guid: [0; 16],
            security_mode: 0,
            capabilities: 0,
            max_transact_bytes: 0,
            max_read_bytes: 0,
            max_write_bytes: 0,
            signing: SigningAlgorithm::HmacSha256,
            security_buffer: Vec::new(),
        };
        let mut c = SmbClient {
            transport,
            cfg,
            negotiated,
            next_message_id: 0,
            credits: 1,
            preauth: None,
            session_id: 0,
            signer: None,
            notifications: VecDeque::new(),
            interim_responses: 0,
        };
        c.negotiate().await?;
        Ok(c)
    }

    async fn negotiate(&mut self) -> Result<()> {
        let offers_311 = self.cfg.dialects.contains(&dialect::SMB_3_1_1);
        let mut contexts = Vec::new();
        if offers_311 {
            let salt: [u8; 32] = rand::random();
            contexts.push(NegotiateContext::PreauthIntegrity { hash_algorithms: vec![hash_algorithm::SHA_512], salt: salt.to_vec() });
            contexts.push(NegotiateContext::Signing { algorithms: self.cfg.signing_algorithms.clone() });
        }
        let req = NegotiateRequest {
            security_mode: self.security_mode(),
            capabilities: caps::LEASING | caps::LARGE_MTU | caps::PERSISTENT_HANDLES,
            client_guid: self.cfg.client_guid,
            dialects: self.cfg.dialects.clone(),
            negotiate_contexts: contexts,
        };
        let (msg, id) = self.build(Command::Negotiate, 0, &req, RequestOpts::default(), false)?;
        self.transport.send_message(&msg).await?;
        let r = self.reply(id, "NEGOTIATE", false).await?;
        if r.status() != NtStatus::SUCCESS {
            return Err(ClientError::Status { command: "NEGOTIATE", status: r.status() });
        }
        let n = NegotiateResponse::decode(r.body(), &r.pdu)?;
        if !self.cfg.dialects.contains(&n.dialect_revision) {
            return Err(ClientError::Protocol(format!("server chose dialect 0x{:04x}, which was not offered", n.dialect_revision)));
        }
        let d = Dialect::from_u16(n.dialect_revision)
            .ok_or_else(|| ClientError::Protocol(format!("dialect 0x{:04x} unsupported", n.dialect_revision)))?;
        let mut signing = SigningAlgorithm::default_for(d);
        if d == Dialect::Smb311 {
            let mut h = PreauthHash::new();
            h.update(&msg);
            h.update(&r.pdu);
            self.preauth = Some(h);
            for ctx in &n.negotiate_contexts {
                if let NegotiateContext::Signing { algorithms } = ctx {
                    let id = algorithms.first().copied().unwrap_or(signing_algorithm::AES_CMAC);
                    signing = SigningAlgorithm::from_id(id)
                        .ok_or_else(|| ClientError::Protocol(format!("server chose unknown signing algorithm {id}")))?;
                }
            }
        }
        self.negotiated = Negotiated {
            dialect: n.dialect_revision,
            server_guid: n.server_guid,
            security_mode: n.security_mode,
            capabilities: n.capabilities,
            max_transact_bytes: n.max_transact_size,
            max_read_bytes: n.max_read_size,
            max_write_bytes: n.max_write_size,
            signing,
            security_buffer: n.security_buffer,
        };
        Ok(())
    }

    pub(crate) fn security_mode(&self) -> u16 {
        security_mode::SIGNING_ENABLED | if self.cfg.signing_required { security_mode::SIGNING_REQUIRED } else { 0 }
    }

    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    pub fn client_guid(&self) -> Guid {
        self.cfg.client_guid
    }

    /// Credits currently held.
    pub fn credits(&self) -> u32 {
        self.credits
    }

    /// Oplock and lease break notifications received so far (oldest first).
    pub fn take_notifications(&mut self) -> Vec<Response> {
        self.notifications.drain(..).collect()
    }

    /// Interim STATUS_PENDING responses seen on this connection.
    pub fn interim_responses(&self) -> u64 {
        self.interim_responses
    }

    /// The oldest queued break notification, or the next one to arrive
    /// (up to the reply timeout). Call it only with no request in flight:
    /// any other message meanwhile is a `Protocol` error.
    pub async fn next_notification(&mut self) -> Result<Response> {
        if let Some(n) = self.notifications.pop_front() {
            return Ok(n);
        }
        let timeout = self.cfg.reply_timeout;
        let fut = async {
            let r = self.recv().await?;
            if r.header.message_id == NOTIFICATION_MESSAGE_ID && r.header.command == Command::OplockBreak {
                return Ok(r);
            }
            Err(ClientError::Protocol(format!(
                "waiting for a break notification, got {} MessageId {}",
                r.header.command.name(),
                r.header.message_id
            )))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout { what: "break notification", timeout }),
        }
    }

    fn credit_charge(&self, payload_bytes: usize) -> u16 {
        // 2.0.2 has no multi-credit requests: CreditCharge is ignored there.
        if self.negotiated.capabilities & caps::LARGE_MTU == 0 || payload_bytes == 0 {
            return 1;
        }
        payload_bytes.div_ceil(CREDIT_BYTES).min(u16::MAX as usize) as u16
    }

    /// Takes `charge` credits and the MessageIds they pay for; returns the
    /// first id.
    pub fn allocate_message_id(&mut self, command: &'static str, charge: u16) -> Result<u64> {
        let charge = charge.max(1);
        if self.credits < u32::from(charge) {
            return Err(ClientError::NoCredits { command, charge, available: self.credits });
        }
        self.credits -= u32::from(charge);
        let id = self.next_message_id;
        self.next_message_id += u64::from(charge);
        Ok(id)
    }

    /// Encodes one request PDU (header + body), allocating its MessageId
    /// and signing it when `sign` and the session has a key.
    fn build(&mut self, command: Command, tree_id: u32, body: &(dyn EncodeBody + Sync), o: RequestOpts, sign: bool) -> Result<(Vec<u8>, u64)> {
        let charge = self.credit_charge(o.payload_bytes);
        let id = self.allocate_message_id(command.name(), charge)?;
        let mut h = Header::request(command, id, self.session_id, tree_id);
        h.credit_charge = if command == Command::Negotiate { 0 } else { charge };
        let want = u32::from(self.cfg.credits_wanted).saturating_sub(self.credits);
        h.credits = want.max(u32::from(charge)).min(u32::from(u16::MAX)) as u16;
        h.flags |= o.flags;
        let mut out = BytesMut::new();
        encode_pdu(&h, body, &mut out);
        let mut pdu = out.to_vec();
        if sign {
            if let Some(s) = &self.signer {
                s.sign(&mut pdu)?;
            }
        }
        Ok((pdu, id))
    }

    /// Sends one signed request and waits for its final response, whatever
    /// its status.
    pub async fn request(&mut self, command: Command, tree_id: u32, body: &(dyn EncodeBody + Sync), o: RequestOpts) -> Result<Response> {
        let (msg, id) = self.build(command, tree_id, body, o, true)?;
        self.transport.send_message(&msg).await?;
        self.reply(id, command.name(), true).await
    }

    /// Like [`SmbClient::request`], with an error for any status but SUCCESS.
    pub async fn request_ok(&mut self, command: Command, tree_id: u32, body: &(dyn EncodeBody + Sync), o: RequestOpts) -> Result<Response> {
        let r = self.request(command, tree_id, body, o).await?;
        if r.status() != NtStatus::SUCCESS {
            return Err(ClientError::Status { command: command.name(), status: r.status() });
        }
        Ok(r)
    }

    /// Waits for the final response to MessageId `id`: interim
    /// STATUS_PENDING responses are skipped (their credits counted) and
    /// break notifications queued.
    pub(crate) async fn reply(&mut self, id: u64, what: &'static str, verify: bool) -> Result<Response> {
        let timeout = self.cfg.reply_timeout;
        let fut = async {
            loop {
                let r = self.recv().await?;
                if r.header.message_id == NOTIFICATION_MESSAGE_ID && r.header.command == Command::OplockBreak {
                    if self.notifications.len() >= NOTIFICATIONS_MAX {
                        self.notifications.pop_front();
                    }
                    self.notifications.push_back(r);
                    continue;
                }
                if !r.header.is_response() || r.header.message_id != id {
                    return Err(ClientError::Protocol(format!(
                        "waiting for MessageId {id} ({what}), got {} MessageId {} status {}",
                        r.header.command.name(),
                        r.header.message_id,
                        r.header.status
                    )));
                }
                self.credits = self.credits.saturating_add(u32::from(r.header.credits));
                if r.header.status == NtStatus::PENDING && r.header.flags & flags::ASYNC_COMMAND != 0 {
                    self.interim_responses += 1;
                    continue;
                }
                if verify {
                    self.verify(&r, what)?;
                }
                return Ok(r);
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout { what, timeout }),
        }
    }

    /// Checks a response's signature. Unsigned error responses are
    /// accepted: a server cannot sign for a session it does not know
    /// (e.g. USER_SESSION_DELETED), and the status alone grants nothing.
    pub(crate) fn verify(&self, r: &Response, what: &'static str) -> Result<()> {
        let Some(s) = &self.signer else { return Ok(()) };
        if r.header.status == NtStatus::USER_SESSION_DELETED {
            // The server has no key for a session it deleted; servers set
            // the SIGNED flag on this answer anyway (Samba, Holdfast) and
            // clients skip the check, as Samba's smbXcli does.
            return Ok(());
        }
        if r.header.is_signed() {
            let mut pdu = r.pdu.clone();
            s.verify(&mut pdu).map_err(|_| ClientError::Protocol(format!("bad signature on the {what} response")))?;
        } else if r.header.status == NtStatus::SUCCESS {
            return Err(ClientError::Protocol(format!("unsigned {what} response on a signed session")));
        }
        Ok(())
    }

    // ---- the escape hatch for negative tests ----

    /// A request PDU with a fresh MessageId, this session and `tree_id`,
    /// and `body` as given (it may be malformed); signed when `sign`.
    pub fn build_pdu(&mut self, command: Command, tree_id: u32, body: &[u8], sign: bool) -> Result<(Vec<u8>, u64)> {
        struct Raw<'a>(&'a [u8]);
        impl EncodeBody for Raw<'_> {
            fn encode_body(&self, out: &mut BytesMut) {
                out.extend_from_slice(self.0);
            }
        }
        self.build(command, tree_id, &Raw(body), RequestOpts::default(), sign)
    }

    /// Signs `pdu` in place with the session's key (no-op without one).
    pub fn sign(&self, pdu: &mut [u8]) -> Result<()> {
        if let Some(s) = &self.signer {
            s.sign(pdu)?;
        }
        Ok(())
    }

    /// Sends bytes exactly as given: no frame header, no signing.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.transport.send_raw(bytes).await
    }

    /// Sends one message behind a frame header.
    pub async fn send_message(&mut self, message: &[u8]) -> Result<()> {
        self.transport.send_message(message).await
    }

    /// Reads the next message as received (frame header removed).
    pub async fn recv_message(&mut self) -> Result<Vec<u8>> {
        self.transport.recv_message().await
    }

    /// Reads the next message and returns its first PDU (no MessageId,
    /// credit or signature bookkeeping).
    pub async fn recv(&mut self) -> Result<Response> {
        let msg = self.recv_message().await?;
        let first = split_compound(&msg)?.first().map(|p| p.bytes.to_vec()).unwrap_or_default();
        let header = Header::decode(&first)?;
        Ok(Response { header, pdu: first })
    }

    /// Waits (up to the reply timeout) for the final response to a request
    /// sent with [`SmbClient::send_message`] and MessageId `id`, verifying
    /// its signature.
    pub async fn recv_reply(&mut self, id: u64) -> Result<Response> {
        self.reply(id, "raw request", true).await
    }
}
