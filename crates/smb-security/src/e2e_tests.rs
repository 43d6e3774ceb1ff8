//! End-to-end tests: MS-NLMP 4.2.4 known answers through the server, and
//! the test client against [`ServerAuth`].

use std::sync::Arc;

use proptest::prelude::*;

use crate::crypto::{hex, utf16le};
use crate::error::Error;
use crate::kdf::{derive_session_keys, Cipher, Dialect};
use crate::ntlm::{
    self, flags, ChallengeContext, NtlmServerConfig, MESSAGE_AUTHENTICATE, NTLMSSP_SIGNATURE,
};
use crate::preauth::PreauthHash;
use crate::signing::{Signer, SigningAlgorithm};
use crate::spnego::{self, AuthStep, NegState, NegTokenResp, ServerAuth, OID_NTLMSSP};
use crate::test_client::{ClientOptions, NtlmClient, SpnegoClient};
use crate::test_util::{unhex_arr, unhex_vec};
use crate::users::{UserLookup, Users};
use crate::SmbCipher;

// ---- MS-NLMP 4.2 common values and 4.2.4 NTLMv2 results ---------------------

const USER: &str = "User";
const DOMAIN: &str = "Domain";
const PASSWORD: &str = "Password";
const SERVER_CHALLENGE: &str = "0123456789abcdef";
const RANDOM_SESSION_KEY: &str = "55555555555555555555555555555555";
const NT_HASH: &str = "a4f49c406510bdcab6824ee7c30fd852";
const NTOWF_V2: &str = "0c868a403bfd7a93a3001ef22ef02e3f";
const NT_PROOF_STR: &str = "68cd0ab851e51c96aabc927bebef6a1c";
const SESSION_BASE_KEY: &str = "8de40ccadbc14a82f15cb0ad0de95ca3";
const ENCRYPTED_SESSION_KEY: &str = "c5dad2544fc9799094ce1ce90bc9d03e";
/// The `temp` blob: header, Time = 0, ClientChallenge = aa..., AV pairs
/// (NbDomainName "Domain", NbComputerName "Server", EOL), trailing zero.
const TEMP: &str = concat!(
    "0101000000000000", // RespType, HiRespType, reserved
    "0000000000000000", // TimeStamp
    "aaaaaaaaaaaaaaaa", // ChallengeFromClient
    "00000000",         // reserved
    "02000c00",
    "44006f006d00610069006e00", // MsvAvNbDomainName "Domain"
    "01000c00",
    "530065007200760065007200", // MsvAvNbComputerName "Server"
    "00000000",                 // MsvAvEOL
    "00000000",                 // trailing zero
);
/// The challenge flags of the 4.2.4 example (0xE28A8233).
const CHALLENGE_FLAGS: u32 = 0xE28A_8233;

fn users() -> Arc<Users> {
    let mut u = Users::new();
    u.add(USER, PASSWORD).unwrap();
    u.add("holdfast", "correct horse battery staple").unwrap();
    Arc::new(u)
}

fn config() -> Arc<NtlmServerConfig> {
    Arc::new(NtlmServerConfig::standalone("Server"))
}

fn negotiate_with(f: u32) -> Vec<u8> {
    let mut m = NTLMSSP_SIGNATURE.to_vec();
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&f.to_le_bytes());
    m.extend_from_slice(&[0u8; 16]);
    m
}

/// Assembles an AUTHENTICATE_MESSAGE (88-byte fixed part, MIC zero).
fn authenticate_msg(
    f: u32,
    lm: &[u8],
    nt: &[u8],
    domain: &str,
    user: &str,
    ws: &str,
    key: &[u8],
) -> Vec<u8> {
    let fields = [
        lm.to_vec(),
        nt.to_vec(),
        utf16le(domain),
        utf16le(user),
        utf16le(ws),
        key.to_vec(),
    ];
    let mut m = NTLMSSP_SIGNATURE.to_vec();
    m.extend_from_slice(&MESSAGE_AUTHENTICATE.to_le_bytes());
    let mut off = 88usize;
    for fl in &fields {
        m.extend_from_slice(&(fl.len() as u16).to_le_bytes());
        m.extend_from_slice(&(fl.len() as u16).to_le_bytes());
        m.extend_from_slice(&(off as u32).to_le_bytes());
        off += fl.len();
    }
    m.extend_from_slice(&f.to_le_bytes());
    m.extend_from_slice(&[0u8; 24]); // Version + MIC
    for fl in &fields {
        m.extend_from_slice(fl);
    }
    m
}

#[test]
fn ms_nlmp_4_2_4_known_answers() {
    let nt = ntlm::nt_hash(PASSWORD);
    assert_eq!(hex(&nt), NT_HASH);
    let owf = ntlm::ntowf_v2(&nt, USER, DOMAIN);
    assert_eq!(hex(&owf), NTOWF_V2);
    let sc: [u8; 8] = unhex_arr(SERVER_CHALLENGE);
    let temp = unhex_vec(TEMP);
    let proof = ntlm::nt_proof_str(&owf, &sc, &temp);
    assert_eq!(hex(&proof), NT_PROOF_STR);
    let sbk = ntlm::session_base_key(&owf, &proof);
    assert_eq!(hex(&sbk), SESSION_BASE_KEY);
    // KeyExchangeKey = SessionBaseKey; EncryptedRandomSessionKey =
    // RC4(KeyExchangeKey, RandomSessionKey).
    let enc = crate::crypto::rc4k(&sbk, &unhex_arr(RANDOM_SESSION_KEY));
    assert_eq!(hex(&enc), ENCRYPTED_SESSION_KEY);
    // LMv2 = HMAC_MD5(ResponseKeyLM, ServerChallenge + ClientChallenge) + ClientChallenge.
    let lmv2 = crate::crypto::hmac_md5(&owf, &[&sc, &[0xaa; 8]]);
    assert_eq!(hex(&lmv2), "86c35097ac9cec102554764a57cccc19");
}

#[test]
fn ms_nlmp_4_2_4_4_session_security() {
    // SIGNKEY / SEALKEY for RandomSessionKey = 0x55..., and the MAC's
    // HMAC part over "Plaintext" with SeqNum 0.
    let s = ntlm::NtlmSessionSecurity::new(
        flags::NEGOTIATE_128
            | flags::NEGOTIATE_KEY_EXCH
            | flags::NEGOTIATE_EXTENDED_SESSIONSECURITY,
        unhex_arr(RANDOM_SESSION_KEY),
    );
    assert_eq!(
        hex(&s.signing_key(ntlm::Direction::ClientToServer)),
        "4788dc861b4782f35d43fd98fe1a2d39"
    );
    assert_eq!(
        hex(&s.sealing_key(ntlm::Direction::ClientToServer)),
        "59f600973cc4960a25480a7c196e4c58"
    );
    let plaintext = utf16le("Plaintext");
    let h = crate::crypto::hmac_md5(
        &s.signing_key(ntlm::Direction::ClientToServer),
        &[&[0, 0, 0, 0], &plaintext],
    );
    assert_eq!(hex(&h[..8]), "70352851f2564309");
    // In the spec's GSS_WrapEx the same RC4 handle first seals the 18-byte
    // message, then the checksum: checksum = keystream[18..26] ^ hmac.
    let mut ks = [0u8; 26];
    crate::crypto::Rc4Stream::new(&s.sealing_key(ntlm::Direction::ClientToServer)).apply(&mut ks);
    let sealed: Vec<u8> = plaintext
        .iter()
        .zip(&ks[..18])
        .map(|(a, b)| a ^ b)
        .collect();
    assert_eq!(hex(&sealed), "54e50165bf1936dc996020c1811b0f06fb5f");
    let cks: Vec<u8> = h[..8].iter().zip(&ks[18..]).map(|(a, b)| a ^ b).collect();
    assert_eq!(hex(&cks), "7fb38ec5c55d4976");
    // Our MAC (fresh handle, as for a mechListMIC) uses the first 8 key
    // stream bytes instead.
    let mac = s.mac(ntlm::Direction::ClientToServer, 0, &plaintext);
    let fresh: Vec<u8> = h[..8].iter().zip(&ks[..8]).map(|(a, b)| a ^ b).collect();
    assert_eq!(&mac[4..12], &fresh[..]);
}

fn vector_context() -> ChallengeContext {
    ChallengeContext::with_challenge(
        &config(),
        &negotiate_with(CHALLENGE_FLAGS),
        unhex_arr(SERVER_CHALLENGE),
        0,
    )
    .unwrap()
}

fn vector_nt_response(domain_for_proof: &str) -> Vec<u8> {
    let owf = ntlm::ntowf_v2(&ntlm::nt_hash(PASSWORD), USER, domain_for_proof);
    let temp = unhex_vec(TEMP);
    let proof = ntlm::nt_proof_str(&owf, &unhex_arr(SERVER_CHALLENGE), &temp);
    [proof.to_vec(), temp].concat()
}

#[test]
fn server_verifies_the_ms_nlmp_authenticate() {
    let ctx = vector_context();
    assert_eq!(
        ctx.flags() & flags::NEGOTIATE_KEY_EXCH,
        flags::NEGOTIATE_KEY_EXCH
    );
    let nt = vector_nt_response(DOMAIN);
    assert_eq!(hex(&nt[..16]), NT_PROOF_STR);
    let msg = authenticate_msg(
        CHALLENGE_FLAGS,
        &[0; 24],
        &nt,
        DOMAIN,
        USER,
        "COMPUTER",
        &unhex_vec(ENCRYPTED_SESSION_KEY),
    );
    let out = ctx.authenticate(&msg, users().as_ref()).unwrap();
    assert_eq!(out.auth.user, USER);
    assert_eq!(out.auth.domain, DOMAIN);
    assert_eq!(out.auth.workstation, "COMPUTER");
    assert!(!out.auth.is_anonymous);
    assert_eq!(hex(&out.auth.session_key), RANDOM_SESSION_KEY);

    // User names are case-insensitive (NTOWFv2 upper-cases them anyway).
    let msg2 = authenticate_msg(
        CHALLENGE_FLAGS,
        &[0; 24],
        &nt,
        DOMAIN,
        "USER",
        "",
        &unhex_vec(ENCRYPTED_SESSION_KEY),
    );
    assert_eq!(
        ctx.authenticate(&msg2, users().as_ref()).unwrap().auth.user,
        USER
    );

    // Without KEY_EXCH the session key is the SessionBaseKey.
    let f = CHALLENGE_FLAGS & !flags::NEGOTIATE_KEY_EXCH;
    let msg3 = authenticate_msg(f, &[0; 24], &nt, DOMAIN, USER, "", &[]);
    assert_eq!(
        hex(&ctx
            .authenticate(&msg3, users().as_ref())
            .unwrap()
            .auth
            .session_key),
        SESSION_BASE_KEY
    );
}

#[test]
fn wrong_password_and_unknown_user_are_logon_failures() {
    let ctx = vector_context();
    let nt = vector_nt_response(DOMAIN);
    let key = unhex_vec(ENCRYPTED_SESSION_KEY);
    let mut u = Users::new();
    u.add(USER, "not the password").unwrap();
    let msg = authenticate_msg(CHALLENGE_FLAGS, &[0; 24], &nt, DOMAIN, USER, "", &key);
    let e = ctx.authenticate(&msg, &u).unwrap_err();
    assert!(matches!(e, Error::LogonFailure(_)));
    assert_eq!(e.status_code(), 0xC000_006D);

    let msg = authenticate_msg(CHALLENGE_FLAGS, &[0; 24], &nt, DOMAIN, "nobody", "", &key);
    assert!(matches!(
        ctx.authenticate(&msg, users().as_ref()),
        Err(Error::LogonFailure(_))
    ));

    // A flipped bit in the blob breaks the proof.
    let mut bad = nt.clone();
    bad[40] ^= 1;
    let msg = authenticate_msg(CHALLENGE_FLAGS, &[0; 24], &bad, DOMAIN, USER, "", &key);
    assert!(matches!(
        ctx.authenticate(&msg, users().as_ref()),
        Err(Error::LogonFailure(_))
    ));

    // Another server challenge (a replay to a new exchange) fails.
    let other =
        ChallengeContext::with_challenge(&config(), &negotiate_with(CHALLENGE_FLAGS), [9; 8], 0)
            .unwrap();
    let msg = authenticate_msg(CHALLENGE_FLAGS, &[0; 24], &nt, DOMAIN, USER, "", &key);
    assert!(matches!(
        other.authenticate(&msg, users().as_ref()),
        Err(Error::LogonFailure(_))
    ));
}

#[test]
fn domain_fallbacks_like_samba() {
    let ctx = vector_context();
    let key = unhex_vec(ENCRYPTED_SESSION_KEY);
    // The message always says "Domain"; the proof is made with `proof_domain`.
    let with_proof_domain = |proof_domain: &str| {
        let nt = vector_nt_response(proof_domain);
        authenticate_msg(CHALLENGE_FLAGS, &[0; 24], &nt, DOMAIN, USER, "", &key)
    };
    // Proof made with the upper-cased domain.
    let msg = with_proof_domain("DOMAIN");
    assert!(ctx.authenticate(&msg, users().as_ref()).is_ok());
    // Proof made with an empty domain.
    let msg = with_proof_domain("");
    assert!(ctx.authenticate(&msg, users().as_ref()).is_ok());
    // Proof made with some other domain: no.
    let msg = with_proof_domain("Other");
    assert!(ctx.authenticate(&msg, users().as_ref()).is_err());
}

#[test]
fn ntlmv1_lm_and_malformed_responses() {
    let ctx = vector_context();
    let msg = authenticate_msg(
        CHALLENGE_FLAGS,
        &[0; 24],
        &[1; 24],
        DOMAIN,
        USER,
        "",
        &[0; 16],
    );
    assert!(matches!(
        ctx.authenticate(&msg, users().as_ref()),
        Err(Error::LogonFailure(_))
    ));
    let msg = authenticate_msg(CHALLENGE_FLAGS, &[1; 24], &[], DOMAIN, USER, "", &[0; 16]);
    assert!(matches!(
        ctx.authenticate(&msg, users().as_ref()),
        Err(Error::LogonFailure(_))
    ));
    // Too short for an NTLMv2 blob.
    let msg = authenticate_msg(
        CHALLENGE_FLAGS,
        &[0; 24],
        &[1; 30],
        DOMAIN,
        USER,
        "",
        &[0; 16],
    );
    assert!(matches!(
        ctx.authenticate(&msg, users().as_ref()),
        Err(Error::Malformed(_))
    ));
    // KEY_EXCH with a short key.
    let msg = authenticate_msg(
        CHALLENGE_FLAGS,
        &[0; 24],
        &vector_nt_response(DOMAIN),
        DOMAIN,
        USER,
        "",
        &[0; 8],
    );
    assert!(matches!(
        ctx.authenticate(&msg, users().as_ref()),
        Err(Error::Malformed(_))
    ));
    // AV pair running past the blob's end.
    let mut nt = vector_nt_response(DOMAIN);
    let n = nt.len();
    // Turn MsvAvEOL (at n-8) into pair 0x7f of length 0xff.
    nt[n - 8..n - 4].copy_from_slice(&[0x7f, 0, 0xff, 0]);
    let msg = authenticate_msg(CHALLENGE_FLAGS, &[0; 24], &nt, DOMAIN, USER, "", &[0; 16]);
    assert!(matches!(
        ctx.authenticate(&msg, users().as_ref()),
        Err(Error::Malformed(_))
    ));
}

// ---- ServerAuth with the test client ----------------------------------------

fn server() -> ServerAuth {
    ServerAuth::new(config(), users())
}

/// Runs a full exchange; returns the server's result and the client.
fn run(mut client: SpnegoClient) -> (Result<crate::Authenticated, Error>, SpnegoClient) {
    let mut s = server();
    let t1 = client.initial_token();
    let r1 = match s.step(&t1) {
        Ok(AuthStep::Continue(o)) => o,
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => return (Err(e), client),
    };
    let t2 = client.step(&r1).unwrap().expect("AUTHENTICATE token");
    match s.step(&t2) {
        Ok(AuthStep::Done { auth, output }) => {
            assert!(
                client.step(&output).unwrap().is_none(),
                "client accepts the final token"
            );
            assert!(s.is_done());
            assert!(matches!(s.step(&t2), Err(Error::InvalidState)));
            (Ok(auth), client)
        }
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => {
            assert!(matches!(s.step(&t2), Err(Error::InvalidState)));
            (Err(e), client)
        }
    }
}

fn client(user: &str, password: &str) -> SpnegoClient {
    SpnegoClient::new(NtlmClient::new(user, password, "WORKGROUP"))
}

#[test]
fn spnego_round_trip_success_with_key_exch_mic_and_mech_list_mic() {
    let (auth, c) = run(client("HoldFast", "correct horse battery staple"));
    let auth = auth.unwrap();
    assert_eq!(auth.user, "holdfast");
    assert_eq!(auth.domain, "WORKGROUP");
    assert_eq!(auth.workstation, "TESTCLIENT");
    assert_eq!(Some(auth.session_key), c.session_key());
    assert!(c.is_done());
}

#[test]
fn spnego_statuses_per_step() {
    let mut s = server();
    let mut c = client("holdfast", "correct horse battery staple");
    let r1 = s.step(&c.initial_token()).unwrap();
    assert_eq!(r1.nt_status().0, 0xC000_0016);
    let resp = spnego::parse_resp(r1.output()).unwrap();
    assert_eq!(resp.neg_state, Some(NegState::AcceptIncomplete));
    assert_eq!(resp.supported_mech, Some(OID_NTLMSSP));
    let t2 = c.step(r1.output()).unwrap().unwrap();
    let r2 = s.step(&t2).unwrap();
    assert_eq!(r2.nt_status().0, 0);
    let fin = spnego::parse_resp(r2.output()).unwrap();
    assert_eq!(fin.neg_state, Some(NegState::AcceptCompleted));
    assert_eq!(fin.mech_list_mic.map(|m| m.len()), Some(16));
}

#[test]
fn spnego_wrong_password_and_unknown_user() {
    let (r, _) = run(client("holdfast", "wrong"));
    assert_eq!(r.unwrap_err().status_code(), 0xC000_006D);
    let (r, _) = run(client("mallory", "correct horse battery staple"));
    assert_eq!(r.unwrap_err().status_code(), 0xC000_006D);
}

#[test]
fn client_variants() {
    let variants = [
        ClientOptions {
            key_exch: false,
            ..Default::default()
        },
        ClientOptions {
            mic: false,
            ..Default::default()
        },
        ClientOptions {
            mech_list_mic: false,
            ..Default::default()
        },
        ClientOptions {
            mic: false,
            mech_list_mic: false,
            key_exch: false,
            ..Default::default()
        },
        ClientOptions {
            workstation: String::new(),
            ..Default::default()
        },
    ];
    for o in variants {
        let c = SpnegoClient::new(
            NtlmClient::new("holdfast", "correct horse battery staple", "").with_options(o.clone()),
        );
        let (auth, c) = run(c);
        let auth = auth.unwrap_or_else(|e| panic!("{o:?}: {e}"));
        assert_eq!(Some(auth.session_key), c.session_key(), "{o:?}");
    }
}

#[test]
fn ntlmv1_client_is_refused() {
    let c = SpnegoClient::new(
        NtlmClient::new("holdfast", "x", "").with_options(ClientOptions {
            ntlmv1: true,
            ..Default::default()
        }),
    );
    assert!(matches!(run(c).0, Err(Error::LogonFailure(_))));
}

#[test]
fn anonymous_is_reported_not_decided() {
    let c = SpnegoClient::new(NtlmClient::new("", "", "").with_options(ClientOptions {
        anonymous: true,
        ..Default::default()
    }));
    let auth = run(c).0.unwrap();
    assert!(auth.is_anonymous);
    assert_eq!(auth.user, "");
    assert_eq!(auth.session_key, [0; 16]);
}

/// Replaces the NTLM token inside a NegTokenResp with `f(token)`.
fn edit_resp(
    token: &[u8],
    f: impl FnOnce(&mut Vec<u8>),
    g: impl FnOnce(&mut Option<Vec<u8>>),
) -> Vec<u8> {
    let r = spnego::parse_resp(token).unwrap();
    let mut inner = r.response_token.unwrap().to_vec();
    f(&mut inner);
    let mut mic = r.mech_list_mic.map(|m| m.to_vec());
    g(&mut mic);
    spnego::build_resp(&NegTokenResp {
        neg_state: r.neg_state,
        supported_mech: r.supported_mech,
        response_token: Some(&inner),
        mech_list_mic: mic.as_deref(),
    })
}

fn first_two(c: &mut SpnegoClient) -> (ServerAuth, Vec<u8>) {
    let mut s = server();
    let r1 = s.step(&c.initial_token()).unwrap();
    let t2 = c.step(r1.output()).unwrap().unwrap();
    (s, t2)
}

#[test]
fn tampered_mic_flags_and_mech_list_mic_fail() {
    // The NTLM MIC (offset 72 of AUTHENTICATE).
    let mut c = client("holdfast", "correct horse battery staple");
    let (mut s, t2) = first_two(&mut c);
    let bad = edit_resp(&t2, |m| m[75] ^= 0x10, |_| {});
    assert!(matches!(s.step(&bad), Err(Error::LogonFailure(_))));

    // The AUTHENTICATE flags (covered by the MIC).
    let mut c = client("holdfast", "correct horse battery staple");
    let (mut s, t2) = first_two(&mut c);
    let bad = edit_resp(&t2, |m| m[62] ^= 0x02, |_| {});
    assert!(s.step(&bad).is_err());

    // The workstation name (covered by the MIC only).
    let mut c = client("holdfast", "correct horse battery staple");
    let (mut s, t2) = first_two(&mut c);
    let bad = edit_resp(
        &t2,
        |m| {
            let off = u32::from_le_bytes(m[48..52].try_into().unwrap()) as usize;
            m[off] ^= 0x01;
        },
        |_| {},
    );
    assert!(matches!(s.step(&bad), Err(Error::LogonFailure(_))));

    // The mechListMIC.
    let mut c = client("holdfast", "correct horse battery staple");
    let (mut s, t2) = first_two(&mut c);
    let bad = edit_resp(&t2, |_| {}, |m| m.as_mut().unwrap()[7] ^= 1);
    assert!(matches!(s.step(&bad), Err(Error::LogonFailure(_))));

    // A NEGOTIATE altered on its way to the server: the MIC covers it.
    let mut c = client("holdfast", "correct horse battery staple");
    let t1 = c.initial_token();
    let init = spnego::parse_init(&t1).unwrap();
    let mut neg = init.mech_token.unwrap().to_vec();
    neg[12] &= !0x10; // drop NEGOTIATE_SIGN
    let mut s = server();
    let r1 = s
        .step(&spnego::build_init(&[OID_NTLMSSP], Some(&neg)))
        .unwrap();
    let t2 = c.step(r1.output()).unwrap().unwrap();
    assert!(matches!(s.step(&t2), Err(Error::LogonFailure(_))));
}

#[test]
fn truncated_messages_fail_cleanly() {
    let mut c = client("holdfast", "correct horse battery staple");
    let t1 = c.initial_token();
    for n in 1..t1.len() {
        let mut s = server();
        assert!(s.step(&t1[..n]).is_err(), "first token cut at {n}");
    }
    let mut c = client("holdfast", "correct horse battery staple");
    let (_, t2) = first_two(&mut c);
    for n in 0..t2.len() {
        let mut c = client("holdfast", "correct horse battery staple");
        let (mut s, _) = first_two(&mut c);
        assert!(s.step(&t2[..n]).is_err(), "second token cut at {n}");
    }
    // The NTLM message inside, cut short but re-wrapped in valid DER.
    let r = spnego::parse_resp(&t2).unwrap();
    let inner = r.response_token.unwrap();
    for n in [0, 8, 12, 63, 64, 87, 88, inner.len() - 1] {
        let mut c = client("holdfast", "correct horse battery staple");
        let (mut s, _) = first_two(&mut c);
        let tok = spnego::build_resp(&NegTokenResp {
            response_token: Some(&inner[..n]),
            ..Default::default()
        });
        assert!(s.step(&tok).is_err(), "NTLM cut at {n}");
    }
}

#[test]
fn raw_ntlmssp_without_spnego() {
    let mut c = NtlmClient::new("holdfast", "correct horse battery staple", "");
    let mut s = server();
    let AuthStep::Continue(challenge) = s.step(&c.negotiate()).unwrap() else {
        panic!()
    };
    assert!(challenge.starts_with(NTLMSSP_SIGNATURE));
    let auth = c.authenticate(&challenge).unwrap();
    let AuthStep::Done { auth, output } = s.step(&auth).unwrap() else {
        panic!()
    };
    assert!(output.is_empty());
    assert_eq!(Some(auth.session_key), c.session_key());
}

#[test]
fn kerberos_first_then_ntlm() {
    const OID_MS_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
    let mech_types: [&[u8]; 2] = [OID_MS_KRB5, OID_NTLMSSP];
    let mut s = server();
    let r1 = s
        .step(&spnego::build_init(&mech_types, Some(b"an AP-REQ")))
        .unwrap();
    let resp = spnego::parse_resp(r1.output()).unwrap();
    assert_eq!(resp.supported_mech, Some(OID_NTLMSSP));
    assert_eq!(resp.response_token, None);
    assert_eq!(resp.neg_state, Some(NegState::AcceptIncomplete));

    let mut c = NtlmClient::new("holdfast", "correct horse battery staple", "WG");
    let tok = spnego::build_resp(&NegTokenResp {
        response_token: Some(&c.negotiate()),
        ..Default::default()
    });
    let r2 = s.step(&tok).unwrap();
    let chal = spnego::parse_resp(r2.output())
        .unwrap()
        .response_token
        .unwrap()
        .to_vec();
    let auth = c.authenticate(&chal).unwrap();
    // The mechListMIC covers the client's whole list, Kerberos included.
    let sec = ntlm::NtlmSessionSecurity::new(
        ntlm::parse_challenge(&chal).unwrap().flags,
        c.session_key().unwrap(),
    );
    let mic = sec.mac(
        ntlm::Direction::ClientToServer,
        0,
        &spnego::mech_types_der(&mech_types),
    );
    let tok = spnego::build_resp(&NegTokenResp {
        response_token: Some(&auth),
        mech_list_mic: Some(&mic),
        ..Default::default()
    });
    let AuthStep::Done { output, .. } = s.step(&tok).unwrap() else {
        panic!()
    };
    let fin = spnego::parse_resp(&output).unwrap();
    let want = sec.mac(
        ntlm::Direction::ServerToClient,
        0,
        &spnego::mech_types_der(&mech_types),
    );
    assert_eq!(fin.mech_list_mic, Some(&want[..]));
}

#[test]
fn no_ntlm_in_the_list_is_unsupported() {
    let mut s = server();
    let e = s
        .step(&spnego::build_init(&[&[0x2a, 0x03]], Some(b"x")))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)));
}

#[test]
fn empty_first_buffer_gets_the_mechanism_list() {
    let mut s = server();
    let r = s.step(&[]).unwrap();
    assert_eq!(r.output(), ServerAuth::negotiate_token());
    // And the exchange goes on normally.
    let mut c = client("holdfast", "correct horse battery staple");
    let r1 = s.step(&c.initial_token()).unwrap();
    let t2 = c.step(r1.output()).unwrap().unwrap();
    assert!(matches!(s.step(&t2).unwrap(), AuthStep::Done { .. }));
}

#[test]
fn both_sides_derive_the_same_smb3_keys() {
    let (auth, c) = run(client("holdfast", "correct horse battery staple"));
    let auth = auth.unwrap();
    let mut h = PreauthHash::new();
    h.update(b"negotiate request and response, session setups...");
    let server_keys = derive_session_keys(
        Dialect::Smb311,
        &auth.session_key,
        Some(Cipher::Aes128Gcm),
        Some(h.value()),
    )
    .unwrap();
    let client_keys = derive_session_keys(
        Dialect::Smb311,
        &c.session_key().unwrap(),
        Some(Cipher::Aes128Gcm),
        Some(h.value()),
    )
    .unwrap();
    assert_eq!(server_keys, client_keys);
    // A response signed by the server verifies at the client.
    let mut msg = vec![0u8; 100];
    msg[..4].copy_from_slice(&[0xFE, b'S', b'M', b'B']);
    msg[16] = 1;
    Signer::new(SigningAlgorithm::AesGmac, &server_keys.signing_key)
        .sign(&mut msg)
        .unwrap();
    Signer::new(SigningAlgorithm::AesGmac, &client_keys.signing_key)
        .verify(&mut msg)
        .unwrap();
    // And an encrypted one decrypts.
    let enc = server_keys.encryption.unwrap();
    let s2c = SmbCipher::from_key(enc.cipher, &enc.server_to_client).unwrap();
    let frame = s2c.encrypt(5, &msg).unwrap();
    let cli = client_keys.encryption.unwrap();
    let (_, plain) = SmbCipher::from_key(cli.cipher, &cli.server_to_client)
        .unwrap()
        .decrypt(&frame)
        .unwrap();
    assert_eq!(plain, msg);
}

#[test]
fn users_behind_a_lock_can_be_reloaded() {
    let lock = Arc::new(std::sync::RwLock::new(Users::new()));
    let mut s = ServerAuth::new(config(), lock.clone());
    lock.write().unwrap().add("late", "pw").unwrap();
    let mut c = client("late", "pw");
    let r1 = s.step(&c.initial_token()).unwrap();
    let t2 = c.step(r1.output()).unwrap().unwrap();
    assert!(matches!(s.step(&t2), Ok(AuthStep::Done { .. })));
    assert!(lock.lookup("LATE").is_some());
}

// ---- Robustness: nothing from the network panics ----------------------------

fn valid_tokens() -> (Vec<u8>, Vec<u8>) {
    let mut c = client("holdfast", "correct horse battery staple");
    let t1 = c.initial_token();
    let mut s = server();
    let r1 = s.step(&t1).unwrap();
    let t2 = c.step(r1.output()).unwrap().unwrap();
    (t1, t2)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = spnego::parse_client_token(&data);
        let _ = spnego::parse_init(&data);
        let _ = spnego::parse_resp(&data);
        let _ = ntlm::parse_negotiate(&data);
        let _ = ntlm::parse_challenge(&data);
        let _ = ntlm::parse_authenticate(&data);
        let _ = server().step(&data);
        let _ = crate::TransformHeader::parse(&data);
        let c = SmbCipher::new(Cipher::Aes128Gcm, &[1; 16]).unwrap();
        let _ = c.decrypt(&data);
        let mut d = data.clone();
        let _ = Signer::new(SigningAlgorithm::AesCmac, &[1; 16]).verify(&mut d);
    }

    #[test]
    fn ntlm_shaped_garbage_never_panics(
        ty in 1u32..4,
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut m = NTLMSSP_SIGNATURE.to_vec();
        m.extend_from_slice(&ty.to_le_bytes());
        m.extend_from_slice(&body);
        let _ = ntlm::parse_negotiate(&m);
        let _ = ntlm::parse_challenge(&m);
        let _ = ntlm::parse_authenticate(&m);
        let ctx = vector_context();
        let _ = ctx.authenticate(&m, users().as_ref());
        let _ = server().step(&m);
    }

    #[test]
    fn bit_flipped_tokens_never_panic(flip1 in any::<prop::sample::Index>(), flip2 in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (t1, t2) = valid_tokens();
        let mut b1 = t1.clone();
        let i = flip1.index(b1.len());
        b1[i] ^= 1 << bit;
        let mut s = server();
        let _ = s.step(&b1);

        let mut c = client("holdfast", "correct horse battery staple");
        let (mut s, _) = first_two(&mut c);
        let mut b2 = t2.clone();
        let j = flip2.index(b2.len());
        b2[j] ^= 1 << bit;
        let _ = s.step(&b2);
    }

    #[test]
    fn truncated_and_extended_der_never_panics(cut in 0usize..400, extra in proptest::collection::vec(any::<u8>(), 0..8)) {
        let (t1, t2) = valid_tokens();
        for t in [&t1, &t2] {
            let mut v = t[..cut.min(t.len())].to_vec();
            v.extend_from_slice(&extra);
            let _ = spnego::parse_client_token(&v);
            let _ = server().step(&v);
        }
    }

    #[test]
    fn user_file_parser_never_panics(s in ".{0,200}") {
        let _ = Users::from_toml(&s);
    }
}
