//! NEGOTIATE ([MS-SMB2] 3.3.5.3, 3.3.5.4): pick the highest common
//! dialect; on 3.1.1 answer the pre-auth, encryption and signing contexts.

use std::sync::Arc;

use bytes::BytesMut;
use holdfast_smb_proto::header::flags;
use holdfast_smb_proto::msg::negotiate::{NegotiateRequest, NegotiateResponse};
use holdfast_smb_proto::msg::negotiate_ctx::{cipher, hash_algorithm, signing_algorithm, NegotiateContext};
use holdfast_smb_proto::smb1::Smb1Negotiate;
use holdfast_smb_proto::{caps, dialect, security_mode, Command, EncodeBody, Header};
use holdfast_smb_security::ServerAuth;
use holdfast_types::limits::IO_BYTES_MAX;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{ConnState, Ctx, HResult, Reply};
use crate::error::ConnError;
use crate::server::Server;
use crate::time::now_filetime;

/// Ciphers in the server's order of preference (GCM is faster).
const CIPHERS: [u16; 2] = [cipher::AES_128_GCM, cipher::AES_128_CCM];
/// Signing algorithms in the server's order of preference (GMAC is the
/// fastest, as Windows prefers it too).
const SIGNING: [u16; 3] = [signing_algorithm::AES_GMAC, signing_algorithm::AES_CMAC, signing_algorithm::HMAC_SHA256];
/// READ/WRITE size: what one file-server call moves.
const IO_SIZE_BYTES: u32 = IO_BYTES_MAX as u32;
/// Without LARGE_MTU (2.0.2) every message stays within 64 KiB.
const SMALL_MTU_BYTES: u32 = 64 * 1024;
const SALT_BYTES: usize = 32;

/// MaxTransactSize, MaxReadSize and MaxWriteSize of the connection.
pub fn io_size_bytes(neg: &crate::state::Negotiated) -> u32 {
    if neg.server_capabilities & caps::LARGE_MTU != 0 {
        IO_SIZE_BYTES
    } else {
        SMALL_MTU_BYTES
    }
}

pub async fn handle(ctx: &mut Ctx<'_>, req: NegotiateRequest) -> HResult {
    let neg = &mut ctx.conn.neg;
    if neg.dialect != 0 && neg.dialect != dialect::SMB2_WILDCARD {
        // A second NEGOTIATE on a connection is a protocol violation.
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // Nothing older than `min_dialect` (smb.conf `server min protocol`);
    // no common dialect is NOT_SUPPORTED, as Samba answers it.
    let min = ctx.srv.cfg.min_dialect_code();
    let chosen =
        dialect::ALL.iter().rev().copied().find(|d| *d >= min && req.dialects.contains(d)).ok_or(NtStatus::NOT_SUPPORTED)?;
    neg.dialect = chosen;
    neg.client_guid = req.client_guid;
    ctx.srv.client_connected(req.client_guid, ctx.conn.conn_id, ctx.conn.cmd_tx.clone());
    neg.client_security_mode = req.security_mode;
    neg.client_capabilities = req.capabilities;
    neg.client_dialects = req.dialects.clone();
    let mut contexts = Vec::new();
    if chosen == dialect::SMB_3_1_1 {
        let mut has_sha512 = false;
        for c in &req.negotiate_contexts {
            match c {
                NegotiateContext::PreauthIntegrity { hash_algorithms, .. } => {
                    has_sha512 = hash_algorithms.contains(&hash_algorithm::SHA_512)
                }
                NegotiateContext::Encryption { ciphers } => {
                    let pick = CIPHERS.iter().copied().find(|c| ciphers.contains(c));
                    neg.cipher = pick;
                    // No common cipher: answer cipher 0 ([MS-SMB2] 3.3.5.4).
                    contexts.push(NegotiateContext::Encryption { ciphers: vec![pick.unwrap_or(0)] });
                }
                NegotiateContext::Signing { algorithms } => {
                    let pick = SIGNING.iter().copied().find(|a| algorithms.contains(a)).unwrap_or(signing_algorithm::AES_CMAC);
                    neg.signing_algorithm = Some(pick);
                    contexts.push(NegotiateContext::Signing { algorithms: vec![pick] });
                }
                NegotiateContext::Other { .. } => {}
            }
        }
        if !has_sha512 {
            neg.dialect = 0;
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let salt: Vec<u8> = (0..SALT_BYTES).map(|_| rand::random()).collect();
        contexts.insert(0, NegotiateContext::PreauthIntegrity { hash_algorithms: vec![hash_algorithm::SHA_512], salt });
        // The hash covers this request now and the response once composed.
        ctx.conn.preauth.update(ctx.pdu);
    }
    let resp = response(ctx.srv, &mut ctx.conn.neg, contexts);
    Ok(Reply::ok(&resp))
}

fn response(srv: &Server, neg: &mut crate::state::Negotiated, contexts: Vec<NegotiateContext>) -> NegotiateResponse {
    let d = neg.dialect;
    let mut capabilities = 0;
    if d >= dialect::SMB_2_1 && d != dialect::SMB2_WILDCARD {
        capabilities |= caps::LEASING | caps::LARGE_MTU;
    }
    if neg.is_smb3() {
        capabilities |= caps::PERSISTENT_HANDLES;
        // 3.1.1 negotiates encryption by context, 3.0.x by capability.
        if d != dialect::SMB_3_1_1 && neg.client_capabilities & caps::ENCRYPTION != 0 {
            capabilities |= caps::ENCRYPTION;
        }
    }
    neg.server_capabilities = capabilities;
    neg.server_security_mode = security_mode::SIGNING_ENABLED | security_mode::SIGNING_REQUIRED;
    let io = io_size_bytes(neg);
    NegotiateResponse {
        security_mode: neg.server_security_mode,
        dialect_revision: d,
        server_guid: srv.guid,
        capabilities,
        max_transact_size: io,
        max_read_size: io,
        max_write_size: io,
        system_time: now_filetime(),
        server_start_time: 0,
        security_buffer: ServerAuth::negotiate_token(),
        negotiate_contexts: contexts,
    }
}

/// An SMB1 NEGOTIATE offering "SMB 2.???" (or "SMB 2.002") gets an SMB2
/// NEGOTIATE response ([MS-SMB2] 3.3.5.3.1); returns the response message.
pub fn smb1(st: &mut ConnState, srv: &Arc<Server>, msg: &[u8]) -> Result<BytesMut, ConnError> {
    if st.neg.dialect != 0 {
        return Err(ConnError::Fatal("SMB1 NEGOTIATE after NEGOTIATE"));
    }
    let n = Smb1Negotiate::decode(msg)?;
    let d = n.smb2_dialect().ok_or(ConnError::Fatal("SMB1 NEGOTIATE without an SMB2 dialect"))?;
    // Only 2.0.2 offered, and the server wants newer: as if no SMB2 at all.
    if d != dialect::SMB2_WILDCARD && d < srv.cfg.min_dialect_code() {
        return Err(ConnError::Fatal("SMB1 NEGOTIATE offers only dialects older than min_dialect"));
    }
    st.neg.dialect = d;
    let resp = response(srv, &mut st.neg, Vec::new());
    let mut h = Header::request(Command::Negotiate, 0, 0, 0);
    h.flags = flags::SERVER_TO_REDIR;
    h.credit_charge = 0;
    h.credits = 1;
    let mut out = BytesMut::new();
    h.encode(&mut out);
    resp.encode_body(&mut out);
    Ok(out)
}

/// Which 3.1.1 cipher to derive keys for (None on 2.x, or when none was
/// agreed); 3.0.x uses AES-128-CCM when the client asked for encryption.
pub fn session_cipher(neg: &crate::state::Negotiated) -> Option<holdfast_smb_security::Cipher> {
    use holdfast_smb_security::Cipher;
    match neg.dialect {
        dialect::SMB_3_1_1 => neg.cipher.and_then(Cipher::from_u16),
        dialect::SMB_3_0 | dialect::SMB_3_0_2 if neg.server_capabilities & caps::ENCRYPTION != 0 => Some(Cipher::Aes128Ccm),
        _ => None,
    }
}
