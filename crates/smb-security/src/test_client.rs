//! A small NTLMv2 client in SPNEGO, for the SMB server's integration tests
//! and benchmarks (feature `test-client`). It behaves like a modern Windows
//! client: NEGOTIATE with KEY_EXCH, SIGN, SEAL, 128, 56, VERSION and
//! extended session security; AUTHENTICATE with an NTLMv2 response whose
//! blob echoes the server's target info plus MsvAvFlags = MIC present; a
//! MIC; and a mechListMIC in its last SPNEGO token. Knobs turn the parts
//! off (or break them) for negative tests.
//!
//! ```ignore
//! let mut c = SpnegoClient::new(NtlmClient::new("holdfast", "pw", "WORKGROUP"));
//! let t1 = c.initial_token();                 // SESSION_SETUP #1
//! let t2 = c.step(&server_reply_1)?.unwrap(); // SESSION_SETUP #2
//! assert!(c.step(&server_reply_2)?.is_none());
//! let key = c.session_key().unwrap();
//! ```

use rand::RngCore;

use crate::crypto::{hmac_md5, rc4k, utf16le};
use crate::error::{Error, Result};
use crate::ntlm::{
    av, filetime_now, flags, nt_hash, nt_proof_str, ntowf_v2, parse_challenge, session_base_key,
    target_info_timestamp, Direction, NtlmSessionSecurity, MESSAGE_AUTHENTICATE, MESSAGE_NEGOTIATE,
    MIC_OFFSET, NTLMSSP_SIGNATURE,
};
use crate::spnego::{self, NegState, NegTokenResp, OID_NTLMSSP};

/// What the client does; the defaults are a well-behaved Windows client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Ask for and do the session-key exchange (KEY_EXCH).
    pub key_exch: bool,
    /// Put MsvAvFlags = MIC present in the blob and a MIC in AUTHENTICATE.
    pub mic: bool,
    /// Send a mechListMIC with the AUTHENTICATE (SPNEGO only).
    pub mech_list_mic: bool,
    /// Send a 24-byte (NTLMv1-shaped) NT response instead of NTLMv2.
    pub ntlmv1: bool,
    /// Log on anonymously (empty user, empty responses).
    pub anonymous: bool,
    /// Workstation name sent in AUTHENTICATE.
    pub workstation: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            key_exch: true,
            mic: true,
            mech_list_mic: true,
            ntlmv1: false,
            anonymous: false,
            workstation: "TESTCLIENT".into(),
        }
    }
}

const CLIENT_FLAGS: u32 = flags::NEGOTIATE_UNICODE
    | flags::NEGOTIATE_OEM
    | flags::REQUEST_TARGET
    | flags::NEGOTIATE_SIGN
    | flags::NEGOTIATE_SEAL
    | flags::NEGOTIATE_NTLM
    | flags::NEGOTIATE_ALWAYS_SIGN
    | flags::NEGOTIATE_EXTENDED_SESSIONSECURITY
    | flags::NEGOTIATE_VERSION
    | flags::NEGOTIATE_128
    | flags::NEGOTIATE_56;

/// The NTLMSSP part: NEGOTIATE_MESSAGE and AUTHENTICATE_MESSAGE.
#[derive(Clone)]
pub struct NtlmClient {
    user: String,
    domain: String,
    nt_hash: [u8; 16],
    pub options: ClientOptions,
    negotiate: Vec<u8>,
    exported_session_key: Option<[u8; 16]>,
    flags: u32,
}

impl NtlmClient {
    pub fn new(user: &str, password: &str, domain: &str) -> Self {
        Self::with_hash(user, nt_hash(password), domain)
    }

    pub fn with_hash(user: &str, nt_hash: [u8; 16], domain: &str) -> Self {
        NtlmClient {
            user: user.into(),
            domain: domain.into(),
            nt_hash,
            options: ClientOptions::default(),
            negotiate: Vec::new(),
            exported_session_key: None,
            flags: 0,
        }
    }

    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// The NEGOTIATE_MESSAGE (40 bytes, with a Version).
    pub fn negotiate(&mut self) -> Vec<u8> {
        let mut f = CLIENT_FLAGS;
        if self.options.key_exch {
            f |= flags::NEGOTIATE_KEY_EXCH;
        }
        let mut m = Vec::with_capacity(40);
        m.extend_from_slice(NTLMSSP_SIGNATURE);
        m.extend_from_slice(&MESSAGE_NEGOTIATE.to_le_bytes());
        m.extend_from_slice(&f.to_le_bytes());
        m.extend_from_slice(&[0u8; 8]); // DomainNameFields
        m.extend_from_slice(&[0u8; 8]); // WorkstationFields
        m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]); // Version
        self.negotiate = m.clone();
        m
    }

    /// The AUTHENTICATE_MESSAGE answering `challenge`.
    pub fn authenticate(&mut self, challenge: &[u8]) -> Result<Vec<u8>> {
        let c = parse_challenge(challenge)?;
        let flags = c.flags;
        self.flags = flags;
        let unicode = flags & flags::NEGOTIATE_UNICODE != 0;
        let enc = |s: &str| {
            if unicode {
                utf16le(s)
            } else {
                s.as_bytes().to_vec()
            }
        };
        let o = self.options.clone();

        let (lm, nt, enc_key, exported) = if o.anonymous {
            (Vec::new(), Vec::new(), Vec::new(), None)
        } else if o.ntlmv1 {
            let mut v1 = vec![0u8; 24];
            rand::thread_rng().fill_bytes(&mut v1);
            (vec![0u8; 24], v1, Vec::new(), None)
        } else {
            let ts = target_info_timestamp(&c.target_info).unwrap_or_else(filetime_now);
            let mut client_challenge = [0u8; 8];
            rand::thread_rng().fill_bytes(&mut client_challenge);
            let blob = ntlmv2_blob(&c.target_info, ts, &client_challenge, o.mic);
            let owf = ntowf_v2(&self.nt_hash, &self.user, &self.domain);
            let proof = nt_proof_str(&owf, &c.server_challenge, &blob);
            let mut nt = proof.to_vec();
            nt.extend_from_slice(&blob);
            let kxkey = session_base_key(&owf, &proof);
            let (enc_key, exported) = if flags & flags::NEGOTIATE_KEY_EXCH != 0 {
                let mut random = [0u8; 16];
                rand::thread_rng().fill_bytes(&mut random);
                (rc4k(&kxkey, &random).to_vec(), random)
            } else {
                (Vec::new(), kxkey)
            };
            // With a timestamp in the target info, LMv2 is sent as zeros.
            (vec![0u8; 24], nt, enc_key, Some(exported))
        };
        self.exported_session_key = exported;

        let user = if o.anonymous {
            String::new()
        } else {
            self.user.clone()
        };
        let fields: [Vec<u8>; 6] = [
            lm,
            nt,
            enc(&self.domain),
            enc(&user),
            enc(&o.workstation),
            enc_key,
        ];
        let mut m = Vec::new();
        m.extend_from_slice(NTLMSSP_SIGNATURE);
        m.extend_from_slice(&MESSAGE_AUTHENTICATE.to_le_bytes());
        let mut off = MIC_OFFSET + 16;
        let mut payload = Vec::new();
        // Payload order as Windows: domain, user, workstation, lm, nt, key.
        let payload_order = [2usize, 3, 4, 0, 1, 5];
        let mut offsets = [0usize; 6];
        for &i in &payload_order {
            offsets[i] = off;
            off += fields[i].len();
            payload.extend_from_slice(&fields[i]);
        }
        // Descriptors at 12, 20, 28, 36, 44, 52: Lm, Nt, Domain, User,
        // Workstation, EncryptedRandomSessionKey.
        for (field, offset) in fields.iter().zip(offsets) {
            let len = field.len() as u16;
            m.extend_from_slice(&len.to_le_bytes());
            m.extend_from_slice(&len.to_le_bytes());
            m.extend_from_slice(&(offset as u32).to_le_bytes());
        }
        m.extend_from_slice(&flags.to_le_bytes());
        m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 15]);
        m.extend_from_slice(&[0u8; 16]); // MIC
        debug_assert_eq!(m.len(), MIC_OFFSET + 16);
        m.extend_from_slice(&payload);

        if o.mic {
            if let Some(k) = exported {
                let mic = hmac_md5(&k, &[&self.negotiate, challenge, &m]);
                m[MIC_OFFSET..MIC_OFFSET + 16].copy_from_slice(&mic);
            }
        }
        Ok(m)
    }

    /// The session key (ExportedSessionKey) after `authenticate`.
    pub fn session_key(&self) -> Option<[u8; 16]> {
        self.exported_session_key
    }

    fn security(&self) -> Option<NtlmSessionSecurity> {
        let k = self.exported_session_key?;
        (self.flags & flags::NEGOTIATE_EXTENDED_SESSIONSECURITY != 0)
            .then(|| NtlmSessionSecurity::new(self.flags, k))
    }
}

/// The NTLMv2 client blob ([MS-NLMP] 2.2.2.7) with the server's target
/// info, plus MsvAvFlags when `mic`.
fn ntlmv2_blob(
    target_info: &[u8],
    timestamp: u64,
    client_challenge: &[u8; 8],
    mic: bool,
) -> Vec<u8> {
    let mut b = vec![1u8, 1, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&timestamp.to_le_bytes());
    b.extend_from_slice(client_challenge);
    b.extend_from_slice(&[0u8; 4]);
    for pair in crate::ntlm::av_pairs(target_info) {
        let Ok((id, value)) = pair else { break };
        if id == av::FLAGS {
            continue;
        }
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&(value.len() as u16).to_le_bytes());
        b.extend_from_slice(value);
    }
    if mic {
        b.extend_from_slice(&av::FLAGS.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&av::FLAG_MIC_PRESENT.to_le_bytes());
    }
    b.extend_from_slice(&[0u8; 4]); // MsvAvEOL
    b.extend_from_slice(&[0u8; 4]); // trailing zero, as Windows sends
    b
}

/// The NTLM client wrapped in SPNEGO.
#[derive(Clone)]
pub struct SpnegoClient {
    pub ntlm: NtlmClient,
    mech_types_der: Vec<u8>,
    done: bool,
}

impl SpnegoClient {
    pub fn new(ntlm: NtlmClient) -> Self {
        SpnegoClient {
            ntlm,
            mech_types_der: spnego::mech_types_der(&[OID_NTLMSSP]),
            done: false,
        }
    }

    /// The first SESSION_SETUP token: NegTokenInit with mechTypes [NTLMSSP]
    /// and the NTLM NEGOTIATE_MESSAGE.
    pub fn initial_token(&mut self) -> Vec<u8> {
        let neg = self.ntlm.negotiate();
        spnego::build_init(&[OID_NTLMSSP], Some(&neg))
    }

    /// Processes the server's reply. Returns the next token to send, or
    /// `None` once the server's accept-completed (and its mechListMIC, if
    /// we sent one) checked out.
    pub fn step(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>> {
        let r = spnego::parse_resp(server_token)?;
        if r.neg_state == Some(NegState::Reject) {
            return Err(Error::LogonFailure("server rejected"));
        }
        if let Some(challenge) = r.response_token {
            let auth = self.ntlm.authenticate(challenge)?;
            let mic = match (self.ntlm.options.mech_list_mic, self.ntlm.security()) {
                (true, Some(sec)) => {
                    Some(sec.mac(Direction::ClientToServer, 0, &self.mech_types_der))
                }
                _ => None,
            };
            return Ok(Some(spnego::build_resp(&NegTokenResp {
                neg_state: Some(NegState::AcceptIncomplete),
                supported_mech: None,
                response_token: Some(&auth),
                mech_list_mic: mic.as_ref().map(|m| &m[..]),
            })));
        }
        if r.neg_state == Some(NegState::AcceptCompleted) {
            if self.ntlm.options.mech_list_mic {
                if let Some(sec) = self.ntlm.security() {
                    let mic = r
                        .mech_list_mic
                        .ok_or(Error::LogonFailure("server sent no mechListMIC"))?;
                    if !sec.verify_mac(Direction::ServerToClient, 0, &self.mech_types_der, mic) {
                        return Err(Error::LogonFailure("server mechListMIC mismatch"));
                    }
                }
            }
            self.done = true;
            return Ok(None);
        }
        Err(Error::Malformed("unexpected server token"))
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn session_key(&self) -> Option<[u8; 16]> {
        self.ntlm.session_key()
    }
}
