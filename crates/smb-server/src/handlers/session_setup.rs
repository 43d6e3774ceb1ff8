//! SESSION_SETUP ([MS-SMB2] 3.3.5.5): SPNEGO/NTLMv2 rounds, then the
//! session keys (with the session's pre-auth hash on 3.1.1).

use std::sync::Arc;

use holdfast_smb_proto::msg::session_setup::{SessionSetupRequest, SessionSetupResponse};
use holdfast_smb_proto::dialect;
use holdfast_smb_security::{derive_session_keys, AuthStep, Dialect, ServerAuth, Signer, SigningAlgorithm, SmbCipher, Users};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::error::status;
use crate::handlers::negotiate::session_cipher;
use crate::server::{ConnCmd, SessionReg};
use crate::state::{Session, SessionState};

/// How long a reconnect waits for the old connection to let go of the
/// previous session.
const PREVIOUS_SESSION_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// PreviousSessionId ([MS-SMB2] 3.3.5.5.3): a session of the same user is
/// torn down as if its connection had dropped, so its durable opens are
/// disconnected and can be reclaimed: here when it is on this connection,
/// else by its connection's task, waited for (bounded).
async fn expire_previous(ctx: &mut Ctx<'_>, prev: u64, owner: &str) {
    let tx = {
        let m = ctx.srv.sessions.lock().expect("sessions lock");
        match m.get(&prev) {
            Some(r) if r.owner == owner && r.conn_id != ctx.conn.conn_id => Some(r.tx.clone()),
            Some(r) if r.owner == owner => None,
            _ => return,
        }
    };
    let Some(tx) = tx else {
        // On this very connection: ended here, as a LOGOFF would.
        if let Some(opens) = crate::cleanup::expire_session(ctx.conn, prev) {
            tracing::info!(session = prev, "session expired by a new session on its connection (PreviousSessionId)");
            crate::cleanup::disconnect_opens(ctx.srv, opens.into_iter()).await;
        }
        return;
    };
    let (done, wait) = tokio::sync::oneshot::channel();
    if tx.send(ConnCmd::ExpireSession { id: prev, done }).is_ok()
        && tokio::time::timeout(PREVIOUS_SESSION_WAIT, wait).await.is_err()
    {
        tracing::warn!(session = prev, "previous session not torn down in time");
    }
}

/// A logon failed: the reply waits, longer with each consecutive failure
/// from the client's IP (`admission.rs`), so that password guessing is
/// slow. Only this connection's task sleeps; Windows' SMB authentication
/// rate limiter does the same (2 s per failure by default). Per IP rather
/// than per user: a per-user delay would let anyone slow a named user's
/// own logons.
async fn failure_delay(ctx: &Ctx<'_>) {
    let d = ctx.srv.admission.logon_failed(ctx.conn.peer_addr.ip());
    tracing::info!(client = %ctx.conn.peer_addr.ip(), delay_ms = d.as_millis() as u64, "logon failed: reply delayed");
    tokio::time::sleep(d).await;
}

/// An NTLM exchange against the users file as it is now.
fn new_auth(ctx: &Ctx<'_>) -> Result<ServerAuth, NtStatus> {
    let users = Users::load_file(&ctx.srv.cfg.users_file).map_err(|e| {
        tracing::warn!("users file: {e}");
        NtStatus::LOGON_FAILURE
    })?;
    Ok(ServerAuth::new(ctx.srv.ntlm.clone(), Arc::new(users)))
}

/// Re-authentication of a valid session ([MS-SMB2] 3.3.5.5.3; Windows
/// re-authenticates when a ticket expires, and at times with NTLM): a new
/// exchange whose user must be the session's. The session stays usable
/// meanwhile and keeps its keys, trees and opens. A failed exchange ends
/// the session as a LOGOFF would (Windows and Samba do; smbtorture
/// `smb2.notify.invalid-reauth` checks it); another user is refused and
/// the session goes on.
async fn reauth(ctx: &mut Ctx<'_>, sid: u64, req: &SessionSetupRequest) -> HResult {
    let fresh = match ctx.conn.sessions.get(&sid).and_then(|s| s.reauth.as_ref()) {
        Some(_) => None,
        None => Some(Box::new(new_auth(ctx)?)),
    };
    let session = ctx.conn.sessions.get_mut(&sid).ok_or(status::USER_SESSION_DELETED)?;
    let auth = session.reauth.get_or_insert_with(|| fresh.expect("made above when missing"));
    let step = auth.step(&req.security_buffer);
    match step {
        Err(e) => {
            session.reauth = None;
            tracing::info!(session = sid, "re-authentication failed, session ended: {e}");
            let opens = crate::cleanup::expire_session(ctx.conn, sid).unwrap_or_default();
            crate::cleanup::disconnect_opens(ctx.srv, opens.into_iter()).await;
            failure_delay(ctx).await;
            Err(e.nt_status())
        }
        Ok(AuthStep::Continue(out)) => {
            Ok(Reply::with_status(NtStatus::MORE_PROCESSING_REQUIRED, &SessionSetupResponse { session_flags: 0, security_buffer: out }))
        }
        Ok(AuthStep::Done { auth, output }) => {
            session.reauth = None;
            if auth.is_anonymous || !auth.user.eq_ignore_ascii_case(&session.user) {
                tracing::info!(session = sid, user = %auth.user, "re-authentication as another user refused");
                return Err(NtStatus::ACCESS_DENIED);
            }
            tracing::info!(session = sid, user = %auth.user, "session re-authenticated");
            Ok(Reply::ok(&SessionSetupResponse { session_flags: 0, security_buffer: output }))
        }
    }
}

pub async fn handle(ctx: &mut Ctx<'_>, req: SessionSetupRequest) -> HResult {
    let d = ctx.conn.neg.dialect;
    let Some(kdf_dialect) = Dialect::from_u16(d) else { return Err(NtStatus::ACCESS_DENIED) };
    if req.is_binding() {
        // Multichannel is not offered.
        return Err(status::REQUEST_NOT_ACCEPTED);
    }
    let sid = if ctx.session_id == 0 {
        if ctx.conn.sessions.len() >= ctx.srv.cfg.limits.sessions_max {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        let sid = ctx.conn.next_session_id;
        ctx.conn.next_session_id += 1;
        let auth = new_auth(ctx)?;
        ctx.conn.sessions.insert(sid, Session::new(sid, auth, ctx.conn.preauth.clone()));
        sid
    } else {
        ctx.session_id
    };
    ctx.new_session_id = Some(sid);
    let pdu = ctx.pdu;
    if ctx.conn.sessions.get(&sid).is_some_and(|s| s.is_valid()) {
        return reauth(ctx, sid, &req).await;
    }
    let session = ctx.conn.sessions.get_mut(&sid).ok_or(status::USER_SESSION_DELETED)?;
    let SessionState::InProgress { auth, preauth } = &mut session.state else {
        return Err(status::USER_SESSION_DELETED);
    };
    if d == dialect::SMB_3_1_1 {
        preauth.update(pdu);
    }
    let step = match auth.step(&req.security_buffer) {
        Ok(s) => s,
        Err(e) => {
            tracing::info!("session setup refused: {e}");
            ctx.conn.sessions.remove(&sid);
            failure_delay(ctx).await;
            return Err(e.nt_status());
        }
    };
    let (auth, output) = match step {
        AuthStep::Continue(out) => {
            return Ok(Reply::with_status(
                NtStatus::MORE_PROCESSING_REQUIRED,
                &SessionSetupResponse { session_flags: 0, security_buffer: out },
            ))
        }
        AuthStep::Done { auth, output } => (auth, output),
    };
    if auth.is_anonymous || auth.user.is_empty() {
        // Anonymous and guest logons are refused: every share needs a user.
        ctx.conn.sessions.remove(&sid);
        failure_delay(ctx).await;
        return Err(NtStatus::LOGON_FAILURE);
    }
    ctx.srv.admission.logon_succeeded(ctx.conn.peer_addr.ip());
    if let Err(e) = ctx.srv.admission.admit_user(&auth.user, ctx.conn.conn_id) {
        // Windows' answer when it takes no more connections.
        tracing::info!(user = %auth.user, "session refused: {e}");
        ctx.conn.sessions.remove(&sid);
        return Err(status::REQUEST_NOT_ACCEPTED);
    }
    let cipher = session_cipher(&ctx.conn.neg);
    let keys = match derive_session_keys(kdf_dialect, &auth.session_key, cipher, Some(preauth.value())) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!("key derivation: {e}");
            ctx.conn.sessions.remove(&sid);
            return Err(NtStatus::INTERNAL_ERROR);
        }
    };
    let alg = ctx
        .conn
        .neg
        .signing_algorithm
        .and_then(SigningAlgorithm::from_id)
        .unwrap_or_else(|| SigningAlgorithm::default_for(kdf_dialect));
    session.signer = Some(Signer::new(alg, &keys.signing_key));
    // The server's SecurityMode says SIGNING_REQUIRED on every dialect, so
    // every session signs (3.x must; 2.x follows the same rule).
    session.signing_required = true;
    if let Some(enc) = &keys.encryption {
        session.decrypt = SmbCipher::from_key(enc.cipher, &enc.client_to_server).ok();
        session.encrypt = SmbCipher::from_key(enc.cipher, &enc.server_to_client).ok();
    }
    session.user = auth.user.clone();
    session.state = SessionState::Valid;
    tracing::info!(user = %auth.user, session = sid, dialect = format!("{d:#06x}"), "session established");
    let owner = ctx.srv.owner_of(&auth.user);
    ctx.srv.sessions.lock().expect("sessions lock").insert(
        sid,
        SessionReg { conn_id: ctx.conn.conn_id, owner: owner.clone(), tx: ctx.conn.cmd_tx.clone() },
    );
    if req.previous_session_id != 0 && req.previous_session_id != sid {
        expire_previous(ctx, req.previous_session_id, &owner).await;
    }
    Ok(Reply::ok(&SessionSetupResponse { session_flags: 0, security_buffer: output }))
}
