//! SPNEGO ([RFC 4178], [MS-SPNG]) as SMB uses it, and [`ServerAuth`], the
//! state machine that ties SPNEGO and NTLM together for one SESSION_SETUP
//! exchange.
//!
//! Only the NTLMSSP mechanism (OID 1.3.6.1.4.1.311.2.2.10) is offered.
//! Clients that send raw NTLMSSP (no SPNEGO wrapper) are answered in kind.

use std::sync::Arc;

use holdfast_types::ntstatus::NtStatus;

use crate::der::{self, ctx, Tlv};
use crate::error::{Error, Result};
use crate::ntlm::{
    Authenticated, ChallengeContext, Direction, NtlmServerConfig, NtlmSessionSecurity,
    NTLMSSP_SIGNATURE,
};
use crate::users::UserLookup;

/// DER content of OID 1.3.6.1.5.5.2 (SPNEGO).
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// DER content of OID 1.3.6.1.4.1.311.2.2.10 (NTLMSSP).
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// The negHints hintName Windows and Samba put in NegTokenInit2.
pub const NEG_HINT_NAME: &str = "not_defined_in_RFC4178@please_ignore";
/// The largest security token we parse.
pub const MAX_TOKEN_LEN: usize = 65_535;
/// The most mechanism OIDs we read from a client's list.
pub const MAX_MECH_TYPES: usize = 32;

/// NegTokenResp negState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    AcceptCompleted = 0,
    AcceptIncomplete = 1,
    Reject = 2,
    RequestMic = 3,
}

impl NegState {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => NegState::AcceptCompleted,
            1 => NegState::AcceptIncomplete,
            2 => NegState::Reject,
            3 => NegState::RequestMic,
            _ => return None,
        })
    }
}

/// A client's NegTokenInit (inside the GSS-API InitialContextToken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegTokenInit<'a> {
    /// Each mechanism's OID content bytes, in the client's order.
    pub mech_types: Vec<&'a [u8]>,
    /// The DER encoding of the MechTypeList (the SEQUENCE), which the
    /// mechListMIC covers.
    pub mech_types_der: &'a [u8],
    pub mech_token: Option<&'a [u8]>,
    pub mech_list_mic: Option<&'a [u8]>,
}

/// A NegTokenResp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegTokenResp<'a> {
    pub neg_state: Option<NegState>,
    pub supported_mech: Option<&'a [u8]>,
    pub response_token: Option<&'a [u8]>,
    pub mech_list_mic: Option<&'a [u8]>,
}

/// What a client may send in a SESSION_SETUP security buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientToken<'a> {
    Init(NegTokenInit<'a>),
    Resp(NegTokenResp<'a>),
    /// A bare NTLMSSP message.
    RawNtlmssp(&'a [u8]),
}

/// Parses a client token: a GSS-API wrapped NegTokenInit, a NegTokenResp,
/// or a raw NTLMSSP message.
pub fn parse_client_token(input: &[u8]) -> Result<ClientToken<'_>> {
    if input.len() > MAX_TOKEN_LEN {
        return Err(Error::Malformed("security token too long"));
    }
    if input.starts_with(NTLMSSP_SIGNATURE) {
        return Ok(ClientToken::RawNtlmssp(input));
    }
    match input.first() {
        Some(&der::TAG_APPLICATION_0) => parse_init(input).map(ClientToken::Init),
        Some(&t) if t == ctx(1) => parse_resp(input).map(ClientToken::Resp),
        _ => Err(Error::Malformed("SPNEGO token")),
    }
}

/// Parses `[APPLICATION 0] { OID spnego, [0] NegTokenInit }`.
pub fn parse_init(input: &[u8]) -> Result<NegTokenInit<'_>> {
    let app = der::read_exact(input, der::TAG_APPLICATION_0)?;
    let (oid, rest) = der::read(app.content)?;
    if oid.tag != der::TAG_OID || oid.content != OID_SPNEGO {
        return Err(Error::Unsupported("GSS-API mechanism other than SPNEGO"));
    }
    let wrapper = der::read_exact(rest, ctx(0))?;
    let seq = der::read_exact(wrapper.content, der::TAG_SEQUENCE)?;
    let mut out = NegTokenInit {
        mech_types: Vec::new(),
        mech_types_der: &[],
        mech_token: None,
        mech_list_mic: None,
    };
    let mut saw_mech_types = false;
    for child in der::children(seq.content) {
        let child = child?;
        match child.tag {
            t if t == ctx(0) => {
                let list = der::read_exact(child.content, der::TAG_SEQUENCE)?;
                out.mech_types_der = list.raw;
                out.mech_types.clear();
                for oid in der::children(list.content) {
                    let oid = oid?;
                    if oid.tag != der::TAG_OID {
                        return Err(Error::Malformed("SPNEGO mechTypes"));
                    }
                    if out.mech_types.len() == MAX_MECH_TYPES {
                        return Err(Error::Malformed("SPNEGO mechTypes: too many"));
                    }
                    out.mech_types.push(oid.content);
                }
                saw_mech_types = true;
            }
            t if t == ctx(2) => out.mech_token = Some(octets(child)?),
            // In a client's NegTokenInit, [3] is mechListMIC. (In the
            // server's NegTokenInit2 it is negHints, which we never parse.)
            t if t == ctx(3) => out.mech_list_mic = octets(child).ok(),
            _ => {} // [1] reqFlags, [4], unknown: ignored
        }
    }
    if !saw_mech_types {
        return Err(Error::Malformed("SPNEGO NegTokenInit without mechTypes"));
    }
    Ok(out)
}

/// Parses `[1] NegTokenResp`.
pub fn parse_resp(input: &[u8]) -> Result<NegTokenResp<'_>> {
    let wrapper = der::read_exact(input, ctx(1))?;
    let seq = der::read_exact(wrapper.content, der::TAG_SEQUENCE)?;
    let mut out = NegTokenResp::default();
    for child in der::children(seq.content) {
        let child = child?;
        match child.tag {
            t if t == ctx(0) => {
                let e = der::read_exact(child.content, der::TAG_ENUMERATED)?;
                let [v] = e.content else {
                    return Err(Error::Malformed("SPNEGO negState"));
                };
                out.neg_state =
                    Some(NegState::from_u8(*v).ok_or(Error::Malformed("SPNEGO negState"))?);
            }
            t if t == ctx(1) => {
                out.supported_mech = Some(der::read_exact(child.content, der::TAG_OID)?.content);
            }
            t if t == ctx(2) => out.response_token = Some(octets(child)?),
            t if t == ctx(3) => out.mech_list_mic = Some(octets(child)?),
            _ => {}
        }
    }
    Ok(out)
}

fn octets<'a>(wrapper: Tlv<'a>) -> Result<&'a [u8]> {
    Ok(der::read_exact(wrapper.content, der::TAG_OCTET_STRING)?.content)
}

fn mech_type_list(oids: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = oids
        .iter()
        .flat_map(|o| der::tlv(der::TAG_OID, o))
        .collect();
    der::tlv(der::TAG_SEQUENCE, &body)
}

/// The server's NegTokenInit2 for the SMB2 NEGOTIATE response: mechTypes =
/// [NTLMSSP] and negHints.hintName = "not_defined_in_RFC4178@please_ignore".
pub fn negotiate_token() -> Vec<u8> {
    let mech_types = der::tlv(ctx(0), &mech_type_list(&[OID_NTLMSSP]));
    let hint = der::tlv(
        ctx(0),
        &der::tlv(der::TAG_GENERAL_STRING, NEG_HINT_NAME.as_bytes()),
    );
    let neg_hints = der::tlv(ctx(3), &der::tlv(der::TAG_SEQUENCE, &hint));
    let init2 = der::tlv(der::TAG_SEQUENCE, &der::cat(&[&mech_types, &neg_hints]));
    let inner = der::cat(&[
        &der::tlv(der::TAG_OID, OID_SPNEGO),
        &der::tlv(ctx(0), &init2),
    ]);
    der::tlv(der::TAG_APPLICATION_0, &inner)
}

/// A client's NegTokenInit (GSS-API wrapped) with `mech_types` and an
/// optional first token. Used by the test client and in tests.
pub fn build_init(mech_types: &[&[u8]], mech_token: Option<&[u8]>) -> Vec<u8> {
    let mut fields = der::tlv(ctx(0), &mech_type_list(mech_types));
    if let Some(t) = mech_token {
        fields.extend(der::tlv(ctx(2), &der::tlv(der::TAG_OCTET_STRING, t)));
    }
    let inner = der::cat(&[
        &der::tlv(der::TAG_OID, OID_SPNEGO),
        &der::tlv(ctx(0), &der::tlv(der::TAG_SEQUENCE, &fields)),
    ]);
    der::tlv(der::TAG_APPLICATION_0, &inner)
}

/// The DER MechTypeList for `mech_types` (what a mechListMIC covers).
pub fn mech_types_der(mech_types: &[&[u8]]) -> Vec<u8> {
    mech_type_list(mech_types)
}

/// Builds a NegTokenResp.
pub fn build_resp(resp: &NegTokenResp<'_>) -> Vec<u8> {
    let mut fields = Vec::new();
    if let Some(s) = resp.neg_state {
        fields.extend(der::tlv(ctx(0), &der::tlv(der::TAG_ENUMERATED, &[s as u8])));
    }
    if let Some(m) = resp.supported_mech {
        fields.extend(der::tlv(ctx(1), &der::tlv(der::TAG_OID, m)));
    }
    if let Some(t) = resp.response_token {
        fields.extend(der::tlv(ctx(2), &der::tlv(der::TAG_OCTET_STRING, t)));
    }
    if let Some(m) = resp.mech_list_mic {
        fields.extend(der::tlv(ctx(3), &der::tlv(der::TAG_OCTET_STRING, m)));
    }
    der::tlv(ctx(1), &der::tlv(der::TAG_SEQUENCE, &fields))
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send `output` with STATUS_MORE_PROCESSING_REQUIRED and wait for the
    /// client's next token.
    Continue(Vec<u8>),
    /// The client is authenticated. Send `output` (possibly empty) with
    /// STATUS_SUCCESS.
    Done {
        auth: Authenticated,
        output: Vec<u8>,
    },
}

impl AuthStep {
    /// The status the SESSION_SETUP response carries for this step.
    pub fn nt_status(&self) -> NtStatus {
        match self {
            AuthStep::Continue(_) => NtStatus::MORE_PROCESSING_REQUIRED,
            AuthStep::Done { .. } => NtStatus::SUCCESS,
        }
    }

    /// The security buffer to send.
    pub fn output(&self) -> &[u8] {
        match self {
            AuthStep::Continue(o) | AuthStep::Done { output: o, .. } => o,
        }
    }
}

/// How the client wrapped its tokens.
#[derive(Debug, Clone)]
struct Spnego {
    /// The client's MechTypeList, DER, for the mechListMIC.
    mech_types_der: Vec<u8>,
}

#[derive(Debug)]
enum State {
    /// Nothing received yet.
    Initial,
    /// We picked NTLMSSP but the client's first token was for another
    /// mechanism (or absent): waiting for its NTLM NEGOTIATE_MESSAGE.
    AwaitNegotiate(Spnego),
    /// CHALLENGE sent, waiting for AUTHENTICATE.
    AwaitAuthenticate {
        ntlm: ChallengeContext,
        spnego: Option<Spnego>,
    },
    Done,
    Failed,
}

/// The server side of one SPNEGO/NTLMSSP authentication (one SMB2 session
/// setup, possibly over several SESSION_SETUP round trips).
///
/// ```text
/// NEGOTIATE response:  ServerAuth::negotiate_token()        (NegTokenInit2)
/// SESSION_SETUP #1:    step(NegTokenInit{NTLM NEGOTIATE})  -> Continue(NegTokenResp{CHALLENGE})
/// SESSION_SETUP #2:    step(NegTokenResp{AUTHENTICATE})    -> Done{auth, NegTokenResp{accept-completed}}
/// ```
///
/// Any error ends the exchange: later calls return [`Error::InvalidState`].
pub struct ServerAuth {
    config: Arc<NtlmServerConfig>,
    users: Arc<dyn UserLookup>,
    state: State,
}

impl std::fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAuth")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ServerAuth {
    pub fn new(config: Arc<NtlmServerConfig>, users: Arc<dyn UserLookup>) -> Self {
        ServerAuth {
            config,
            users,
            state: State::Initial,
        }
    }

    /// The security buffer for the SMB2 NEGOTIATE response (the same for
    /// every connection): see [`negotiate_token`].
    pub fn negotiate_token() -> Vec<u8> {
        negotiate_token()
    }

    /// Same as [`ServerAuth::negotiate_token`].
    pub fn start(&self) -> Vec<u8> {
        negotiate_token()
    }

    /// True once `step` returned [`AuthStep::Done`].
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Feeds the client's next security buffer.
    pub fn step(&mut self, input: &[u8]) -> Result<AuthStep> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let (next, out) = match self.advance(state, input) {
            Ok(r) => r,
            Err(e) => {
                self.state = State::Failed;
                return Err(e);
            }
        };
        self.state = next;
        Ok(out)
    }

    fn advance(&self, state: State, input: &[u8]) -> Result<(State, AuthStep)> {
        match state {
            State::Initial => self.first(input),
            State::AwaitNegotiate(sp) => {
                let resp = match parse_client_token(input)? {
                    ClientToken::Resp(r) => r,
                    _ => return Err(Error::Malformed("expected SPNEGO NegTokenResp")),
                };
                let token = resp
                    .response_token
                    .ok_or(Error::Malformed("NegTokenResp without an NTLM token"))?;
                self.challenge(token, Some(sp), false)
            }
            State::AwaitAuthenticate { ntlm, spnego } => self.finish(&ntlm, spnego, input),
            State::Done | State::Failed => Err(Error::InvalidState),
        }
    }

    fn first(&self, input: &[u8]) -> Result<(State, AuthStep)> {
        if input.is_empty() {
            // A client that starts with an empty buffer gets our mechanism
            // list again (what a GSS acceptor does with an empty token).
            return Ok((State::Initial, AuthStep::Continue(negotiate_token())));
        }
        match parse_client_token(input)? {
            ClientToken::RawNtlmssp(msg) => self.challenge(msg, None, false),
            ClientToken::Init(init) => {
                if !init.mech_types.contains(&OID_NTLMSSP) {
                    return Err(Error::Unsupported(
                        "no NTLMSSP in the client's SPNEGO mechanism list",
                    ));
                }
                let sp = Spnego {
                    mech_types_der: init.mech_types_der.to_vec(),
                };
                let ntlm_first = init.mech_types.first() == Some(&OID_NTLMSSP);
                match init.mech_token {
                    // The optimistic token is NTLM's NEGOTIATE: answer it.
                    Some(tok) if ntlm_first => self.challenge(tok, Some(sp), true),
                    // Another mechanism's token, or none: pick NTLMSSP and
                    // ask for its first token.
                    _ => {
                        let out = build_resp(&NegTokenResp {
                            neg_state: Some(NegState::AcceptIncomplete),
                            supported_mech: Some(OID_NTLMSSP),
                            response_token: None,
                            mech_list_mic: None,
                        });
                        Ok((State::AwaitNegotiate(sp), AuthStep::Continue(out)))
                    }
                }
            }
            ClientToken::Resp(_) => Err(Error::Malformed("NegTokenResp before NegTokenInit")),
        }
    }

    /// Answers an NTLM NEGOTIATE_MESSAGE with a CHALLENGE_MESSAGE.
    fn challenge(
        &self,
        negotiate: &[u8],
        spnego: Option<Spnego>,
        first_reply: bool,
    ) -> Result<(State, AuthStep)> {
        let ntlm = ChallengeContext::new(&self.config, negotiate)?;
        let out = match &spnego {
            None => ntlm.challenge_message().to_vec(),
            Some(_) => build_resp(&NegTokenResp {
                neg_state: Some(NegState::AcceptIncomplete),
                supported_mech: first_reply.then_some(OID_NTLMSSP),
                response_token: Some(ntlm.challenge_message()),
                mech_list_mic: None,
            }),
        };
        Ok((
            State::AwaitAuthenticate { ntlm, spnego },
            AuthStep::Continue(out),
        ))
    }

    /// Verifies the AUTHENTICATE_MESSAGE (and the mechListMIC, if any).
    fn finish(
        &self,
        ntlm: &ChallengeContext,
        spnego: Option<Spnego>,
        input: &[u8],
    ) -> Result<(State, AuthStep)> {
        let (sp, msg, client_mic) = match (spnego, parse_client_token(input)?) {
            (_, ClientToken::RawNtlmssp(m)) => (None, m, None),
            (Some(sp), ClientToken::Resp(r)) => {
                if r.neg_state == Some(NegState::Reject) {
                    return Err(Error::LogonFailure("client rejected the exchange"));
                }
                let tok = r
                    .response_token
                    .ok_or(Error::Malformed("NegTokenResp without an NTLM token"))?;
                (Some(sp), tok, r.mech_list_mic)
            }
            _ => return Err(Error::Malformed("expected an NTLM AUTHENTICATE_MESSAGE")),
        };
        let outcome = ntlm.authenticate(msg, self.users.as_ref())?;
        let Some(sp) = sp else {
            return Ok((
                State::Done,
                AuthStep::Done {
                    auth: outcome.auth,
                    output: Vec::new(),
                },
            ));
        };
        let server_mic = match (client_mic, &outcome.security) {
            (Some(mic), Some(sec)) => {
                if !sec.verify_mac(Direction::ClientToServer, 0, &sp.mech_types_der, mic) {
                    return Err(Error::LogonFailure("SPNEGO mechListMIC mismatch"));
                }
                Some(server_mech_list_mic(sec, &sp.mech_types_der))
            }
            // No MIC from the client (old clients), or no NTLM keys to
            // check one with (anonymous, no extended session security):
            // accepted without a MIC, and we send none.
            _ => None,
        };
        let out = build_resp(&NegTokenResp {
            neg_state: Some(NegState::AcceptCompleted),
            supported_mech: None,
            response_token: None,
            mech_list_mic: server_mic.as_ref().map(|m| &m[..]),
        });
        Ok((
            State::Done,
            AuthStep::Done {
                auth: outcome.auth,
                output: out,
            },
        ))
    }
}

fn server_mech_list_mic(sec: &NtlmSessionSecurity, mech_types_der: &[u8]) -> [u8; 16] {
    sec.mac(Direction::ServerToClient, 0, mech_types_der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_token_parses_as_init() {
        // Our NegTokenInit2 has negHints at [3]; the client-side parser
        // reads [3] as an OCTET STRING mechListMIC and must just skip it.
        let t = negotiate_token();
        let init = parse_init(&t).unwrap();
        assert_eq!(init.mech_types, vec![OID_NTLMSSP]);
        assert_eq!(init.mech_token, None);
        assert_eq!(init.mech_list_mic, None);
        assert!(t
            .windows(NEG_HINT_NAME.len())
            .any(|w| w == NEG_HINT_NAME.as_bytes()));
        // The exact encoding: mechTypes [NTLMSSP], negHints.hintName.
        assert_eq!(
            crate::crypto::hex(&t),
            "604806062b0601050502a03e303ca00e300c060a2b06010401823702020a\
             a32a3028a0261b246e6f745f646566696e65645f696e5f5246433431373840706c656173655f69676e6f7265"
        );
    }

    #[test]
    fn windows_client_negotiate_token() {
        // A Windows client's first SESSION_SETUP security buffer, from the
        // SMB 3.1.1 pre-authentication integrity test vector.
        let t = crate::test_util::unhex_vec(
            "604806062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A\
             04284E544C4D5353500001000000978208E200000000000000000000000000000000060380250000000F",
        );
        let init = parse_init(&t).unwrap();
        assert_eq!(init.mech_types, vec![OID_NTLMSSP]);
        let tok = init.mech_token.unwrap();
        assert!(tok.starts_with(NTLMSSP_SIGNATURE));
        assert_eq!(init.mech_types_der, &t[16..30]);
    }

    #[test]
    fn windows_server_challenge_token() {
        // The server's answer in the same capture: the SESSION_SETUP
        // response's security buffer (offset 0x48, length 0xB3).
        let msg = crate::test_util::unhex_vec(crate::test_util::PREAUTH_SESSION_SETUP_RESPONSE_1);
        let t = &msg[0x48..0x48 + 0xB3];
        let r = parse_resp(t).unwrap();
        assert_eq!(r.neg_state, Some(NegState::AcceptIncomplete));
        assert_eq!(r.supported_mech, Some(OID_NTLMSSP));
        let c = crate::ntlm::parse_challenge(r.response_token.unwrap()).unwrap();
        assert_eq!(c.flags, 0xE28A_8215);
        // And our encoder produces the same bytes from the same fields.
        assert_eq!(build_resp(&r), t);
    }

    #[test]
    fn windows_client_authenticate_token() {
        // The client's second SESSION_SETUP: NegTokenResp with the NTLM
        // AUTHENTICATE_MESSAGE (with a MIC) and a mechListMIC.
        let msg = crate::test_util::unhex_vec(crate::test_util::PREAUTH_SESSION_SETUP_REQUEST_2);
        let len = u16::from_le_bytes([msg[0x4e], msg[0x4f]]) as usize;
        let t = &msg[0x58..0x58 + len];
        let r = parse_resp(t).unwrap();
        // Windows says accept-incomplete in its last token too.
        assert_eq!(r.neg_state, Some(NegState::AcceptIncomplete));
        assert_eq!(r.mech_list_mic.map(|m| m.len()), Some(16));
        let a = crate::ntlm::parse_authenticate(r.response_token.unwrap()).unwrap();
        assert_eq!(a.user, "administrator");
        assert_eq!(a.domain, "SUT311");
        assert_eq!(a.encrypted_random_session_key.len(), 16);
        assert!(a.nt_response.len() > 24);
    }

    #[test]
    fn resp_round_trip() {
        let r = NegTokenResp {
            neg_state: Some(NegState::AcceptCompleted),
            supported_mech: None,
            response_token: None,
            mech_list_mic: Some(&[1; 16]),
        };
        assert_eq!(parse_resp(&build_resp(&r)).unwrap(), r);
        // Windows' accept-completed with a MIC: a1 1b 30 19 a0 03 0a 01 00 a3 12 04 10 ...
        let enc = build_resp(&r);
        assert_eq!(
            &enc[..13],
            &[0xa1, 0x1b, 0x30, 0x19, 0xa0, 0x03, 0x0a, 0x01, 0x00, 0xa3, 0x12, 0x04, 0x10]
        );
    }

    #[test]
    fn rejects_other_gss_mechanisms() {
        let mut t = build_init(&[OID_NTLMSSP], None);
        // Change the SPNEGO OID's last byte.
        t[9] = 0x03;
        assert!(matches!(parse_init(&t), Err(Error::Unsupported(_))));
    }
}
