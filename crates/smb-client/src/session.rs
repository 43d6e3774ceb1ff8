//! SESSION_SETUP with NTLMv2 in SPNEGO, and the session's signing key.

use holdfast_smb_proto::msg::session_setup::{session_flags, SessionSetupRequest, SessionSetupResponse};
use holdfast_smb_proto::{dialect, Command};
use holdfast_smb_security::kdf::{signing_key, Dialect};
use holdfast_smb_security::test_client::{NtlmClient, SpnegoClient};
use holdfast_smb_security::Signer;
use holdfast_types::ntstatus::NtStatus;

use crate::client::SmbClient;
use crate::error::{ClientError, Result};

/// SESSION_SETUP legs before the client gives up (NTLM needs two).
const SESSION_SETUP_LEGS_MAX: usize = 4;

/// Credentials for NTLMv2.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub domain: String,
}

impl Credentials {
    pub fn new(user: &str, password: &str, domain: &str) -> Credentials {
        Credentials { user: user.into(), password: password.into(), domain: domain.into() }
    }
}

impl SmbClient {
    /// Logs on. `previous_session_id` (0 for none) asks the server to tear
    /// down that session of an earlier connection (its durable handles
    /// become disconnected, ready for reconnect). Returns the SessionFlags.
    pub async fn session_setup(&mut self, creds: &Credentials, previous_session_id: u64) -> Result<u16> {
        let mut spnego = SpnegoClient::new(NtlmClient::new(&creds.user, &creds.password, &creds.domain));
        let mut token = spnego.initial_token();
        let mut preauth = self.preauth.clone();
        self.session_id = 0;
        self.signer = None;
        for _ in 0..SESSION_SETUP_LEGS_MAX {
            let req = SessionSetupRequest {
                flags: 0,
                security_mode: self.security_mode() as u8,
                capabilities: 0,
                channel: 0,
                previous_session_id,
                security_buffer: std::mem::take(&mut token),
            };
            // SESSION_SETUP requests are never signed: there is no key yet.
            let (msg, id) = self.build_unsigned(Command::SessionSetup, &req)?;
            if let Some(h) = preauth.as_mut() {
                h.update(&msg);
            }
            self.send_message(&msg).await?;
            let r = self.reply(id, "SESSION_SETUP", false).await?;
            let status = r.status();
            if status != NtStatus::SUCCESS && status != NtStatus::MORE_PROCESSING_REQUIRED {
                self.session_id = 0;
                return Err(ClientError::Status { command: "SESSION_SETUP", status });
            }
            self.session_id = r.header.session_id;
            let rsp = SessionSetupResponse::decode(r.body(), &r.pdu)?;
            if status == NtStatus::MORE_PROCESSING_REQUIRED {
                if let Some(h) = preauth.as_mut() {
                    h.update(&r.pdu);
                }
                token = spnego
                    .step(&rsp.security_buffer)?
                    .ok_or_else(|| ClientError::Protocol("server wants more but SPNEGO is done".into()))?;
                continue;
            }
            // SUCCESS: the server's last token (accept-completed, its
            // mechListMIC) must check out before the key is trusted.
            if !spnego.is_done() && !rsp.security_buffer.is_empty() {
                if let Some(_more) = spnego.step(&rsp.security_buffer)? {
                    return Err(ClientError::Protocol("SPNEGO not finished at SESSION_SETUP success".into()));
                }
            }
            if rsp.session_flags & (session_flags::IS_GUEST | session_flags::IS_NULL) != 0 {
                return Ok(rsp.session_flags);
            }
            let key = spnego.session_key().ok_or_else(|| ClientError::Protocol("no NTLM session key".into()))?;
            let d = Dialect::from_u16(self.negotiated.dialect).ok_or_else(|| ClientError::Protocol("no dialect".into()))?;
            let hash = preauth.as_ref().map(|h| *h.value());
            let k = signing_key(d, &key, hash.as_ref())?;
            self.signer = Some(Signer::new(self.negotiated.signing, &k));
            // 3.x signs the final response with the new key ([MS-SMB2]
            // 3.3.5.5.3); that proves the server derived the same key.
            if self.negotiated.dialect >= dialect::SMB_3_0 || r.header.is_signed() {
                self.verify(&r, "SESSION_SETUP")?;
            }
            return Ok(rsp.session_flags);
        }
        Err(ClientError::Protocol(format!("SESSION_SETUP not done after {SESSION_SETUP_LEGS_MAX} legs")))
    }

    fn build_unsigned(&mut self, command: Command, body: &SessionSetupRequest) -> Result<(Vec<u8>, u64)> {
        let mut out = bytes::BytesMut::new();
        body.encode(&mut out);
        self.build_pdu(command, 0, &out, false)
    }
}
