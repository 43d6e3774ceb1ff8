//! NTLMSSP, server side ([MS-NLMP]): parse the client's NEGOTIATE_MESSAGE,
//! build the CHALLENGE_MESSAGE, parse the AUTHENTICATE_MESSAGE and verify
//! its NTLMv2 response, its MIC, and derive the session key.
//!
//! Only NTLMv2 is accepted. An NTLMv1 response (24 bytes) and LM-only
//! responses are refused with [`Error::LogonFailure`]. An anonymous
//! AUTHENTICATE (empty user name, empty NT response) is reported as
//! [`Authenticated::is_anonymous`]; the caller decides whether to allow it.
//!
//! Every offset and length read from the network is bounds-checked; messages
//! are capped at [`MAX_MESSAGE_LEN`] and each field at a size no real client
//! comes near.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

use crate::crypto::{ct_eq, from_utf16le, hmac_md5, md4, md5, rc4k, upcase, utf16le, Rc4Stream};
use crate::error::{Error, Result};
use crate::users::UserLookup;

/// The 8-byte signature that starts every NTLMSSP message.
pub const NTLMSSP_SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
/// The largest NTLMSSP message we parse (an SMB2 security buffer is at most
/// this long anyway).
pub const MAX_MESSAGE_LEN: usize = 65_535;
/// The largest NT challenge response we accept (NTProofStr + blob). A real
/// blob is the server's target info plus a few client pairs: well under 1 KiB.
pub const MAX_NT_RESPONSE_LEN: usize = 8 * 1024;
/// The largest user, domain or workstation name, in bytes on the wire.
pub const MAX_NAME_BYTES: usize = 512;

pub const MESSAGE_NEGOTIATE: u32 = 1;
pub const MESSAGE_CHALLENGE: u32 = 2;
pub const MESSAGE_AUTHENTICATE: u32 = 3;

/// NegotiateFlags bits ([MS-NLMP] 2.2.2.5).
pub mod flags {
    pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
    pub const NEGOTIATE_OEM: u32 = 0x0000_0002;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const NEGOTIATE_SIGN: u32 = 0x0000_0010;
    pub const NEGOTIATE_SEAL: u32 = 0x0000_0020;
    pub const NEGOTIATE_DATAGRAM: u32 = 0x0000_0040;
    pub const NEGOTIATE_LM_KEY: u32 = 0x0000_0080;
    pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;
    pub const NEGOTIATE_ANONYMOUS: u32 = 0x0000_0800;
    pub const NEGOTIATE_OEM_DOMAIN_SUPPLIED: u32 = 0x0000_1000;
    pub const NEGOTIATE_OEM_WORKSTATION_SUPPLIED: u32 = 0x0000_2000;
    pub const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    pub const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const NEGOTIATE_IDENTIFY: u32 = 0x0010_0000;
    pub const REQUEST_NON_NT_SESSION_KEY: u32 = 0x0040_0000;
    pub const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
    pub const NEGOTIATE_VERSION: u32 = 0x0200_0000;
    pub const NEGOTIATE_128: u32 = 0x2000_0000;
    pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
    pub const NEGOTIATE_56: u32 = 0x8000_0000;
}

/// AV_PAIR ids ([MS-NLMP] 2.2.2.1).
pub mod av {
    pub const EOL: u16 = 0;
    pub const NB_COMPUTER_NAME: u16 = 1;
    pub const NB_DOMAIN_NAME: u16 = 2;
    pub const DNS_COMPUTER_NAME: u16 = 3;
    pub const DNS_DOMAIN_NAME: u16 = 4;
    pub const DNS_TREE_NAME: u16 = 5;
    pub const FLAGS: u16 = 6;
    pub const TIMESTAMP: u16 = 7;
    pub const SINGLE_HOST: u16 = 8;
    pub const TARGET_NAME: u16 = 9;
    pub const CHANNEL_BINDINGS: u16 = 10;
    /// MsvAvFlags bit: the AUTHENTICATE_MESSAGE carries a MIC.
    pub const FLAG_MIC_PRESENT: u32 = 0x0000_0002;
}

/// Offset of the MIC in an AUTHENTICATE_MESSAGE that has one (after the
/// fixed fields and the 8-byte Version).
pub const MIC_OFFSET: usize = 72;
const AUTH_FIXED_LEN: usize = 64;
const AUTH_WITH_MIC_LEN: usize = MIC_OFFSET + 16;
/// Size of the fixed part of the CHALLENGE_MESSAGE we build (with Version).
const CHALLENGE_FIXED_LEN: usize = 56;
/// NTLMv2 blob header before the AV pairs: RespType, HiRespType, reserved
/// (6), TimeStamp (8), ChallengeFromClient (8), reserved (4).
const BLOB_HEADER_LEN: usize = 28;

/// The flags the server always answers with, whatever the client asked.
const SERVER_ALWAYS: u32 = flags::NEGOTIATE_NTLM
    | flags::NEGOTIATE_ALWAYS_SIGN
    | flags::TARGET_TYPE_SERVER
    | flags::NEGOTIATE_TARGET_INFO;
/// The flags the server grants only when the client asked for them.
const SERVER_IF_REQUESTED: u32 = flags::REQUEST_TARGET
    | flags::NEGOTIATE_SIGN
    | flags::NEGOTIATE_SEAL
    | flags::NEGOTIATE_EXTENDED_SESSIONSECURITY
    | flags::NEGOTIATE_VERSION
    | flags::NEGOTIATE_128
    | flags::NEGOTIATE_56
    | flags::NEGOTIATE_KEY_EXCH;

/// The names the server announces in its CHALLENGE_MESSAGE (TargetName and
/// TargetInfo). They are informational: the NTLMv2 proof is computed with
/// the domain name the *client* sends, whatever these say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtlmServerConfig {
    /// MsvAvNbComputerName, e.g. `HOLDFAST`.
    pub nb_computer_name: String,
    /// MsvAvNbDomainName and the TargetName. A standalone Windows server
    /// uses its computer name here.
    pub nb_domain_name: String,
    /// MsvAvDnsComputerName, e.g. `holdfast`.
    pub dns_computer_name: String,
    /// MsvAvDnsDomainName.
    pub dns_domain_name: String,
    /// The 8-byte VERSION structure: major, minor, build (LE u16), three
    /// reserved bytes, NTLM revision 15.
    pub version: [u8; 8],
}

impl NtlmServerConfig {
    /// A standalone server named `name` (upper-cased for the NetBIOS names,
    /// lower-cased for the DNS names), announcing Windows 10.0 build 20348.
    pub fn standalone(name: &str) -> Self {
        let nb = name.to_ascii_uppercase();
        let dns = name.to_ascii_lowercase();
        NtlmServerConfig {
            nb_computer_name: nb.clone(),
            nb_domain_name: nb,
            dns_computer_name: dns.clone(),
            dns_domain_name: dns,
            version: [10, 0, 0x4c, 0x4f, 0, 0, 0, 15],
        }
    }
}

impl Default for NtlmServerConfig {
    fn default() -> Self {
        NtlmServerConfig::standalone("HOLDFAST")
    }
}

/// A successful NTLMv2 (or anonymous) logon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The user's name as stored in the user database (its canonical case);
    /// empty for an anonymous logon.
    pub user: String,
    /// The domain name the client sent.
    pub domain: String,
    /// The workstation name the client sent (may be empty).
    pub workstation: String,
    /// The session key for SMB2 (Session.SessionKey): NTLM's
    /// ExportedSessionKey. All zeros for an anonymous logon, which has no
    /// session key and so cannot sign or encrypt.
    pub session_key: [u8; 16],
    /// The client logged on anonymously (empty user, empty NT response).
    pub is_anonymous: bool,
}

/// The parts of a NEGOTIATE_MESSAGE the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateMessage {
    pub flags: u32,
}

/// Parses a NEGOTIATE_MESSAGE. Only the signature, type and flags are
/// required: the optional domain and workstation fields are ignored, and
/// some clients send a 16-byte message without them.
pub fn parse_negotiate(msg: &[u8]) -> Result<NegotiateMessage> {
    check_header(msg, MESSAGE_NEGOTIATE, 16, "NTLMSSP NEGOTIATE_MESSAGE")?;
    Ok(NegotiateMessage {
        flags: le32(msg, 12),
    })
}

fn check_header(msg: &[u8], ty: u32, min_len: usize, what: &'static str) -> Result<()> {
    if msg.len() < min_len || msg.len() > MAX_MESSAGE_LEN {
        return Err(Error::Malformed(what));
    }
    if &msg[..8] != NTLMSSP_SIGNATURE || le32(msg, 8) != ty {
        return Err(Error::Malformed(what));
    }
    Ok(())
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads a (Len u16, MaxLen u16, BufferOffset u32) field descriptor at `at`
/// and returns the bytes it points to. An empty field's offset is not
/// checked (clients put anything there). A non-empty field must lie wholly
/// inside the message and after `payload_start` (it must not overlap the
/// fixed header), and be at most `max` bytes.
fn field<'a>(
    msg: &'a [u8],
    at: usize,
    payload_start: usize,
    max: usize,
    what: &'static str,
) -> Result<&'a [u8]> {
    let len = le16(msg, at) as usize;
    if len == 0 {
        return Ok(&[]);
    }
    if len > max {
        return Err(Error::Malformed(what));
    }
    let off = le32(msg, at + 4) as usize;
    let end = off.checked_add(len).ok_or(Error::Malformed(what))?;
    if off < payload_start || end > msg.len() {
        return Err(Error::Malformed(what));
    }
    Ok(&msg[off..end])
}

/// Decodes a string field: UTF-16LE when NEGOTIATE_UNICODE was used, else
/// the OEM code page, which we read as Latin-1.
fn decode_string(b: &[u8], unicode: bool, what: &'static str) -> Result<String> {
    if unicode {
        from_utf16le(b).ok_or(Error::Malformed(what))
    } else {
        Ok(b.iter().map(|&c| c as char).collect())
    }
}

fn encode_string(s: &str, unicode: bool) -> Vec<u8> {
    if unicode {
        utf16le(s)
    } else {
        s.chars()
            .map(|c| if (c as u32) < 256 { c as u8 } else { b'?' })
            .collect()
    }
}

/// The current time as a Windows FILETIME (100 ns since 1601-01-01).
pub fn filetime_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() + 11_644_473_600) * 10_000_000 + u64::from(d.subsec_nanos()) / 100
}

/// NT hash of a password: MD4(UTF-16LE(password)), [MS-NLMP] NTOWFv1.
pub fn nt_hash(password: &str) -> [u8; 16] {
    md4(&utf16le(password))
}

/// NTOWFv2: HMAC_MD5(NT hash, UTF-16LE(Uppercase(user) + domain)).
pub fn ntowf_v2(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    hmac_md5(nt_hash, &[&utf16le(&upcase(user)), &utf16le(domain)])
}

/// NTProofStr: HMAC_MD5(NTOWFv2, ServerChallenge + blob), where `blob` is
/// the NTLMv2 response after its first 16 bytes ([MS-NLMP] 3.3.2 `temp`).
pub fn nt_proof_str(ntowf_v2: &[u8; 16], server_challenge: &[u8; 8], blob: &[u8]) -> [u8; 16] {
    hmac_md5(ntowf_v2, &[server_challenge, blob])
}

/// SessionBaseKey for NTLMv2: HMAC_MD5(NTOWFv2, NTProofStr). With NTLMv2
/// it is also the KeyExchangeKey.
pub fn session_base_key(ntowf_v2: &[u8; 16], nt_proof_str: &[u8; 16]) -> [u8; 16] {
    hmac_md5(ntowf_v2, &[nt_proof_str])
}

/// Builds the TargetInfo AV pair list for `config`, with `timestamp`.
fn target_info(config: &NtlmServerConfig, timestamp: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pair = |id: u16, value: &[u8]| {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(value);
    };
    pair(av::NB_DOMAIN_NAME, &utf16le(&config.nb_domain_name));
    pair(av::NB_COMPUTER_NAME, &utf16le(&config.nb_computer_name));
    pair(av::DNS_DOMAIN_NAME, &utf16le(&config.dns_domain_name));
    pair(av::DNS_COMPUTER_NAME, &utf16le(&config.dns_computer_name));
    pair(av::TIMESTAMP, &timestamp.to_le_bytes());
    pair(av::EOL, &[]);
    out
}

/// Iterates over an AV pair list, stopping at MsvAvEOL or at the end of the
/// bytes. A pair that runs past the end is an error.
pub(crate) fn av_pairs(mut b: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8])>> {
    let mut done = false;
    std::iter::from_fn(move || {
        if done || b.len() < 4 {
            return None;
        }
        let id = le16(b, 0);
        let len = le16(b, 2) as usize;
        if id == av::EOL {
            done = true;
            return None;
        }
        if 4 + len > b.len() {
            done = true;
            return Some(Err(Error::Malformed("NTLMv2 AV pair list")));
        }
        let value = &b[4..4 + len];
        b = &b[4 + len..];
        Some(Ok((id, value)))
    })
}

/// The flags the server answers a NEGOTIATE_MESSAGE's `client` flags with.
pub fn challenge_flags(client: u32) -> u32 {
    let mut f = SERVER_ALWAYS | (client & SERVER_IF_REQUESTED);
    if client & flags::NEGOTIATE_UNICODE != 0 || client & flags::NEGOTIATE_OEM == 0 {
        f |= flags::NEGOTIATE_UNICODE;
    } else {
        f |= flags::NEGOTIATE_OEM;
    }
    f
}

/// Builds a CHALLENGE_MESSAGE with the given flags, challenge and time.
pub fn build_challenge(
    config: &NtlmServerConfig,
    flags_out: u32,
    server_challenge: &[u8; 8],
    timestamp: u64,
) -> Vec<u8> {
    let unicode = flags_out & flags::NEGOTIATE_UNICODE != 0;
    let target_name = encode_string(&config.nb_domain_name, unicode);
    let info = target_info(config, timestamp);
    let mut m = Vec::with_capacity(CHALLENGE_FIXED_LEN + target_name.len() + info.len());
    m.extend_from_slice(NTLMSSP_SIGNATURE);
    m.extend_from_slice(&MESSAGE_CHALLENGE.to_le_bytes());
    // TargetNameFields
    let name_off = CHALLENGE_FIXED_LEN;
    m.extend_from_slice(&(target_name.len() as u16).to_le_bytes());
    m.extend_from_slice(&(target_name.len() as u16).to_le_bytes());
    m.extend_from_slice(&(name_off as u32).to_le_bytes());
    m.extend_from_slice(&flags_out.to_le_bytes());
    m.extend_from_slice(server_challenge);
    m.extend_from_slice(&[0u8; 8]);
    // TargetInfoFields
    let info_off = name_off + target_name.len();
    m.extend_from_slice(&(info.len() as u16).to_le_bytes());
    m.extend_from_slice(&(info.len() as u16).to_le_bytes());
    m.extend_from_slice(&(info_off as u32).to_le_bytes());
    if flags_out & flags::NEGOTIATE_VERSION != 0 {
        m.extend_from_slice(&config.version);
    } else {
        m.extend_from_slice(&[0u8; 8]);
    }
    debug_assert_eq!(m.len(), CHALLENGE_FIXED_LEN);
    m.extend_from_slice(&target_name);
    m.extend_from_slice(&info);
    m
}

/// A parsed CHALLENGE_MESSAGE (used by the test client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeMessage {
    pub flags: u32,
    pub server_challenge: [u8; 8],
    pub target_name: Vec<u8>,
    pub target_info: Vec<u8>,
}

/// Parses a CHALLENGE_MESSAGE, bounds-checked.
pub fn parse_challenge(msg: &[u8]) -> Result<ChallengeMessage> {
    const WHAT: &str = "NTLMSSP CHALLENGE_MESSAGE";
    check_header(msg, MESSAGE_CHALLENGE, 48, WHAT)?;
    let target_name = field(msg, 12, 48, MAX_NAME_BYTES, WHAT)?.to_vec();
    let flags = le32(msg, 20);
    let mut server_challenge = [0u8; 8];
    server_challenge.copy_from_slice(&msg[24..32]);
    let target_info = field(msg, 40, 48, MAX_NT_RESPONSE_LEN, WHAT)?.to_vec();
    Ok(ChallengeMessage {
        flags,
        server_challenge,
        target_name,
        target_info,
    })
}

/// A parsed AUTHENTICATE_MESSAGE, borrowing the message bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateMessage<'a> {
    pub lm_response: &'a [u8],
    pub nt_response: &'a [u8],
    pub domain: String,
    pub user: String,
    pub workstation: String,
    pub encrypted_random_session_key: &'a [u8],
    pub flags: u32,
}

/// Parses an AUTHENTICATE_MESSAGE, bounds-checking every field.
pub fn parse_authenticate(msg: &[u8]) -> Result<AuthenticateMessage<'_>> {
    const WHAT: &str = "NTLMSSP AUTHENTICATE_MESSAGE";
    check_header(msg, MESSAGE_AUTHENTICATE, AUTH_FIXED_LEN, WHAT)?;
    let p = AUTH_FIXED_LEN;
    let lm_response = field(
        msg,
        12,
        p,
        MAX_NT_RESPONSE_LEN,
        "NTLMSSP LmChallengeResponse",
    )?;
    let nt_response = field(
        msg,
        20,
        p,
        MAX_NT_RESPONSE_LEN,
        "NTLMSSP NtChallengeResponse",
    )?;
    let domain_b = field(msg, 28, p, MAX_NAME_BYTES, "NTLMSSP DomainName")?;
    let user_b = field(msg, 36, p, MAX_NAME_BYTES, "NTLMSSP UserName")?;
    let ws_b = field(msg, 44, p, MAX_NAME_BYTES, "NTLMSSP Workstation")?;
    let key = field(msg, 52, p, 16, "NTLMSSP EncryptedRandomSessionKey")?;
    let flags = le32(msg, 60);
    let unicode = flags & flags::NEGOTIATE_UNICODE != 0;
    Ok(AuthenticateMessage {
        lm_response,
        nt_response,
        domain: decode_string(domain_b, unicode, "NTLMSSP DomainName")?,
        user: decode_string(user_b, unicode, "NTLMSSP UserName")?,
        workstation: decode_string(ws_b, unicode, "NTLMSSP Workstation")?,
        encrypted_random_session_key: key,
        flags,
    })
}

/// The server's half of one NTLM exchange: it holds the NEGOTIATE and
/// CHALLENGE messages (for the MIC) and the server challenge, and verifies
/// the AUTHENTICATE message that answers them.
#[derive(Clone)]
pub struct ChallengeContext {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    server_challenge: [u8; 8],
    flags: u32,
}

impl std::fmt::Debug for ChallengeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeContext")
            .field("flags", &format_args!("{:#010x}", self.flags))
            .finish()
    }
}

/// The result of [`ChallengeContext::authenticate`]: the logon and what
/// NTLM's own message integrity (SPNEGO's mechListMIC) needs.
#[derive(Clone)]
pub struct NtlmOutcome {
    pub auth: Authenticated,
    /// The NTLM session security state (signing and sealing keys); `None`
    /// for an anonymous logon or without extended session security.
    pub security: Option<NtlmSessionSecurity>,
}

impl std::fmt::Debug for NtlmOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmOutcome")
            .field("user", &self.auth.user)
            .field("domain", &self.auth.domain)
            .field("is_anonymous", &self.auth.is_anonymous)
            .finish_non_exhaustive()
    }
}

impl ChallengeContext {
    /// Parses the client's NEGOTIATE_MESSAGE and builds the CHALLENGE with a
    /// fresh random server challenge from the OS and the current time.
    pub fn new(config: &NtlmServerConfig, negotiate: &[u8]) -> Result<Self> {
        let mut server_challenge = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut server_challenge);
        Self::with_challenge(config, negotiate, server_challenge, filetime_now())
    }

    /// As [`ChallengeContext::new`] with a given challenge and timestamp
    /// (for tests with known answers).
    pub fn with_challenge(
        config: &NtlmServerConfig,
        negotiate: &[u8],
        server_challenge: [u8; 8],
        timestamp: u64,
    ) -> Result<Self> {
        let neg = parse_negotiate(negotiate)?;
        let flags = challenge_flags(neg.flags);
        let challenge = build_challenge(config, flags, &server_challenge, timestamp);
        Ok(ChallengeContext {
            negotiate: negotiate.to_vec(),
            challenge,
            server_challenge,
            flags,
        })
    }

    /// The CHALLENGE_MESSAGE to send.
    pub fn challenge_message(&self) -> &[u8] {
        &self.challenge
    }

    /// The flags offered in the CHALLENGE_MESSAGE.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Verifies the client's AUTHENTICATE_MESSAGE against `users`.
    ///
    /// Wrong password and unknown user give the same error
    /// ([`Error::LogonFailure`]) after the same work.
    pub fn authenticate(&self, msg: &[u8], users: &dyn UserLookup) -> Result<NtlmOutcome> {
        let a = parse_authenticate(msg)?;

        // The flags in force: the client's final choice, within what we
        // offered. A client that sends zero flags keeps the offer.
        let flags = if a.flags != 0 {
            self.flags & a.flags
        } else {
            self.flags
        };

        if a.user.is_empty() && a.nt_response.is_empty() && a.lm_response.len() <= 1 {
            return Ok(NtlmOutcome {
                auth: Authenticated {
                    user: String::new(),
                    domain: a.domain,
                    workstation: a.workstation,
                    session_key: [0; 16],
                    is_anonymous: true,
                },
                security: None,
            });
        }
        if a.nt_response.len() == 24 {
            return Err(Error::LogonFailure("NTLMv1 responses are not accepted"));
        }
        if a.nt_response.is_empty() {
            return Err(Error::LogonFailure("LM-only responses are not accepted"));
        }
        if a.nt_response.len() < 16 + BLOB_HEADER_LEN {
            return Err(Error::Malformed("NTLMv2 response"));
        }
        let (proof, blob) = a.nt_response.split_at(16);
        if blob[0] != 1 || blob[1] != 1 {
            return Err(Error::Malformed("NTLMv2 response type"));
        }
        let mut av_flags = 0u32;
        for pair in av_pairs(&blob[BLOB_HEADER_LEN..]) {
            let (id, value) = pair?;
            if id == av::FLAGS && value.len() == 4 {
                av_flags = le32(value, 0);
            }
        }
        let mic_present = av_flags & av::FLAG_MIC_PRESENT != 0;
        if mic_present && msg.len() < AUTH_WITH_MIC_LEN {
            return Err(Error::Malformed(
                "NTLMSSP AUTHENTICATE_MESSAGE without room for its MIC",
            ));
        }
        let key_exch = flags & flags::NEGOTIATE_KEY_EXCH != 0;
        if key_exch && a.encrypted_random_session_key.len() != 16 {
            return Err(Error::Malformed("NTLMSSP EncryptedRandomSessionKey"));
        }

        // An unknown user goes through the same computation with a random
        // hash, so its failure costs the same time as a wrong password.
        let record = users.lookup(&a.user);
        let hash = match &record {
            Some(r) => r.nt_hash,
            None => {
                let mut h = [0u8; 16];
                rand::thread_rng().fill_bytes(&mut h);
                h
            }
        };

        // Try the domain as sent, then upper-cased, then empty (as Samba
        // does: clients disagree on which one they put in NTOWFv2).
        let upper = upcase(&a.domain);
        let mut candidates: Vec<&str> = vec![&a.domain];
        if upper != a.domain {
            candidates.push(&upper);
        }
        if !a.domain.is_empty() {
            candidates.push("");
        }
        let mut matched: Option<[u8; 16]> = None;
        for dom in candidates {
            let owf = ntowf_v2(&hash, &a.user, dom);
            let expect = nt_proof_str(&owf, &self.server_challenge, blob);
            if ct_eq(&expect, proof) && matched.is_none() {
                matched = Some(owf);
            }
        }
        let (Some(record), Some(owf)) = (record, matched) else {
            return Err(Error::LogonFailure("unknown user or wrong password"));
        };

        let mut proof_arr = [0u8; 16];
        proof_arr.copy_from_slice(proof);
        let key_exchange_key = session_base_key(&owf, &proof_arr);
        let exported = if key_exch {
            let mut enc = [0u8; 16];
            enc.copy_from_slice(a.encrypted_random_session_key);
            rc4k(&key_exchange_key, &enc)
        } else {
            key_exchange_key
        };

        if mic_present {
            let mut zeroed = msg.to_vec();
            zeroed[MIC_OFFSET..AUTH_WITH_MIC_LEN].fill(0);
            let expect = hmac_md5(&exported, &[&self.negotiate, &self.challenge, &zeroed]);
            if !ct_eq(&expect, &msg[MIC_OFFSET..AUTH_WITH_MIC_LEN]) {
                return Err(Error::LogonFailure("NTLMSSP MIC mismatch"));
            }
        }

        let security = (flags & flags::NEGOTIATE_EXTENDED_SESSIONSECURITY != 0)
            .then(|| NtlmSessionSecurity::new(flags, exported));
        Ok(NtlmOutcome {
            auth: Authenticated {
                user: record.name,
                domain: a.domain,
                workstation: a.workstation,
                session_key: exported,
                is_anonymous: false,
            },
            security,
        })
    }
}

/// NTLM session security with extended session security ([MS-NLMP]
/// 3.4.4.2, 3.4.5): the keys and the MAC that SPNEGO's mechListMIC uses.
///
/// Each MAC here is computed with a *fresh* RC4 sealing handle, which is
/// right for the one message SMB signs this way (the mechListMIC, sequence
/// number 0 in each direction).
#[derive(Clone)]
pub struct NtlmSessionSecurity {
    flags: u32,
    exported_session_key: [u8; 16],
}

const C2S_SIGN: &[u8] = b"session key to client-to-server signing key magic constant\0";
const S2C_SIGN: &[u8] = b"session key to server-to-client signing key magic constant\0";
const C2S_SEAL: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const S2C_SEAL: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// Which side of the connection produced a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl NtlmSessionSecurity {
    pub fn new(flags: u32, exported_session_key: [u8; 16]) -> Self {
        NtlmSessionSecurity {
            flags,
            exported_session_key,
        }
    }

    /// SIGNKEY ([MS-NLMP] 3.4.5.2).
    pub fn signing_key(&self, dir: Direction) -> [u8; 16] {
        let magic = match dir {
            Direction::ClientToServer => C2S_SIGN,
            Direction::ServerToClient => S2C_SIGN,
        };
        md5(&[&self.exported_session_key, magic])
    }

    /// SEALKEY ([MS-NLMP] 3.4.5.3), extended session security branch.
    pub fn sealing_key(&self, dir: Direction) -> [u8; 16] {
        let len = if self.flags & flags::NEGOTIATE_128 != 0 {
            16
        } else if self.flags & flags::NEGOTIATE_56 != 0 {
            7
        } else {
            5
        };
        let magic = match dir {
            Direction::ClientToServer => C2S_SEAL,
            Direction::ServerToClient => S2C_SEAL,
        };
        md5(&[&self.exported_session_key[..len], magic])
    }

    /// The 16-byte NTLMSSP_MESSAGE_SIGNATURE of `msg` with sequence number
    /// `seq` ([MS-NLMP] 3.4.4.2): Version 1, the first 8 bytes of
    /// HMAC_MD5(SigningKey, seq + msg) (RC4-sealed when KEY_EXCH), seq.
    pub fn mac(&self, dir: Direction, seq: u32, msg: &[u8]) -> [u8; 16] {
        let seq_b = seq.to_le_bytes();
        let full = hmac_md5(&self.signing_key(dir), &[&seq_b, msg]);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&full[..8]);
        if self.flags & flags::NEGOTIATE_KEY_EXCH != 0 {
            Rc4Stream::new(&self.sealing_key(dir)).apply(&mut checksum);
        }
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&1u32.to_le_bytes());
        out[4..12].copy_from_slice(&checksum);
        out[12..].copy_from_slice(&seq_b);
        out
    }

    /// Checks a MAC in constant time.
    pub fn verify_mac(&self, dir: Direction, seq: u32, msg: &[u8], mac: &[u8]) -> bool {
        ct_eq(&self.mac(dir, seq, msg), mac)
    }
}

/// Reads the MsvAvTimestamp from a target info list, if there is one.
pub fn target_info_timestamp(info: &[u8]) -> Option<u64> {
    av_pairs(info)
        .filter_map(|p| p.ok())
        .find(|(id, v)| *id == av::TIMESTAMP && v.len() == 8)
        .map(|(_, v)| le64(v, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;

    #[test]
    fn challenge_round_trips_through_its_parser() {
        let cfg = NtlmServerConfig::standalone("srv");
        let f = challenge_flags(0xE208_8297);
        let m = build_challenge(&cfg, f, &[1, 2, 3, 4, 5, 6, 7, 8], 42);
        let c = parse_challenge(&m).unwrap();
        assert_eq!(c.flags, f);
        assert_eq!(c.server_challenge, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(c.target_name, utf16le("SRV"));
        assert_eq!(target_info_timestamp(&c.target_info), Some(42));
        let names: Vec<u16> = av_pairs(&c.target_info).map(|p| p.unwrap().0).collect();
        assert_eq!(names, vec![2, 1, 4, 3, 7]);
    }

    #[test]
    fn challenge_flags_follow_the_request() {
        // What a Windows client asks (from a capture): 56, KEY_EXCH, 128,
        // VERSION, ESS, ALWAYS_SIGN, NTLM, LM_KEY, SIGN, REQUEST_TARGET,
        // OEM, UNICODE. A Windows server answers 0xE28A8215.
        assert_eq!(challenge_flags(0xE208_8297), 0xE28A_8215);
        // Nothing asked: unicode, NTLM, target info, always sign.
        let f = challenge_flags(0);
        assert_eq!(f & flags::NEGOTIATE_UNICODE, flags::NEGOTIATE_UNICODE);
        assert_eq!(f & flags::NEGOTIATE_KEY_EXCH, 0);
        assert_eq!(f & flags::NEGOTIATE_SIGN, 0);
        // OEM only.
        let f = challenge_flags(flags::NEGOTIATE_OEM);
        assert_eq!(
            f & (flags::NEGOTIATE_OEM | flags::NEGOTIATE_UNICODE),
            flags::NEGOTIATE_OEM
        );
    }

    #[test]
    fn negotiate_needs_signature_and_type() {
        assert!(parse_negotiate(b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2").is_ok());
        assert!(parse_negotiate(b"NTLMSSP\0\x02\0\0\0\x07\x82\x08\xa2").is_err());
        assert!(parse_negotiate(b"NTLMSSX\0\x01\0\0\0\x07\x82\x08\xa2").is_err());
        assert!(parse_negotiate(b"NTLMSSP\0\x01\0\0\0").is_err());
    }

    #[test]
    fn field_bounds() {
        let mut m = vec![0u8; 80];
        m[..8].copy_from_slice(NTLMSSP_SIGNATURE);
        m[8] = 3;
        // UserName: len 10 at offset 75 runs past the end (85 > 80).
        m[36] = 10;
        m[40] = 75;
        assert!(matches!(parse_authenticate(&m), Err(Error::Malformed(_))));
        // Offset inside the fixed header.
        m[40] = 10;
        assert!(matches!(parse_authenticate(&m), Err(Error::Malformed(_))));
        // Offset near u32::MAX must not overflow.
        m[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_authenticate(&m), Err(Error::Malformed(_))));
        // In bounds.
        m[40..44].copy_from_slice(&64u32.to_le_bytes());
        assert_eq!(parse_authenticate(&m).unwrap().user, "\0\0\0\0\0\0\0\0\0\0");
    }

    #[test]
    fn session_security_keys_are_direction_specific() {
        let s = NtlmSessionSecurity::new(
            flags::NEGOTIATE_128
                | flags::NEGOTIATE_KEY_EXCH
                | flags::NEGOTIATE_EXTENDED_SESSIONSECURITY,
            [0x55; 16],
        );
        assert_ne!(
            s.signing_key(Direction::ClientToServer),
            s.signing_key(Direction::ServerToClient)
        );
        let mac = s.mac(Direction::ClientToServer, 0, b"abc");
        assert!(s.verify_mac(Direction::ClientToServer, 0, b"abc", &mac));
        assert!(!s.verify_mac(Direction::ServerToClient, 0, b"abc", &mac));
        assert!(!s.verify_mac(Direction::ClientToServer, 1, b"abc", &mac));
        assert_eq!(&mac[..4], &[1, 0, 0, 0]);
        assert_eq!(hex(&mac[12..]), "00000000");
    }
}
