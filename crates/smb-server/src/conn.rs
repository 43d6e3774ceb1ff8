//! One TCP connection: frames in, decryption, compound splitting,
//! signature checks, dispatch, then replies composed, signed, encrypted
//! and framed. Requests of one connection run one after another.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use holdfast_smb_proto::frame::{begin_frame, finish_frame};
use holdfast_smb_proto::header::encode_unknown_command_response;
use holdfast_smb_proto::msg::error::ErrorResponse;
use holdfast_smb_proto::{
    classify_message, compose_compound, decode_request_body, split_compound, take_frame, Command, FileId, Header,
    MessageKind, ProtoError,
};
use holdfast_smb_security::PreauthHash;
use holdfast_types::ntstatus::NtStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ctx::{ConnState, Ctx};
use crate::credits::SequenceWindow;
use crate::error::ConnError;
use crate::handlers;
use crate::server::{ConnCmd, Server};

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What to do with a response after it is composed.
#[derive(Clone, Copy)]
enum After {
    Nothing,
    /// NEGOTIATE on 3.1.1: the connection's pre-auth hash takes the response.
    ConnPreauth,
    /// SESSION_SETUP that needs more rounds: the session's hash takes it.
    SessionPreauth(u64),
}

/// A request that went async (an interim STATUS_PENDING was sent) and
/// waits; it runs again from the start when its wait is over.
struct Pending {
    pdu: Vec<u8>,
    at: Ids,
    message_id: u64,
    task: tokio::task::JoinHandle<()>,
    /// Its place in `Limits::async_requests_max`.
    _slot: crate::async_budget::AsyncSlot,
}

/// The ids a request ran under (after compound substitution), which it
/// keeps when it runs again.
#[derive(Clone, Copy)]
struct Ids {
    encrypted_for: Option<u64>,
    session_id: u64,
    tree_id: u32,
    last_file_id: Option<FileId>,
}

/// How `one` runs a PDU.
#[derive(Clone, Copy)]
enum Mode {
    /// As received; `last`: the last PDU of its message (only that one
    /// may go async: the ones after it would need its result).
    Fresh { last: bool },
    /// A pending request run again: its ids were fixed when it first ran.
    Resumed { async_id: u64, at: Ids },
}

struct Out {
    pdu: BytesMut,
    /// Sign with this session's signer.
    sign_session: Option<u64>,
    after: After,
}

pub struct Conn {
    srv: Arc<Server>,
    st: ConnState,
    window: SequenceWindow,
    rx: tokio::sync::mpsc::UnboundedReceiver<ConnCmd>,
    pending: HashMap<u64, Pending>,
    next_async_id: u64,
    deadlines: crate::conn_deadline::Deadlines,
}

impl Conn {
    pub fn new(srv: Arc<Server>, local_addr: SocketAddr, peer_addr: SocketAddr) -> Conn {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let st = ConnState {
            neg: Default::default(),
            preauth: PreauthHash::new(),
            sessions: HashMap::new(),
            next_session_id: 0x0000_0400_0000_0001 | (u64::from(rand::random::<u16>()) << 32),
            next_volatile_id: 1,
            local_addr,
            peer_addr,
            conn_id: srv.next_conn_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            cmd_tx: tx,
            ever_authenticated: false,
        };
        let window = SequenceWindow::new(srv.cfg.limits.credits_max);
        let deadlines = crate::conn_deadline::Deadlines::new(&srv.cfg.limits, tokio::time::Instant::now());
        Conn { srv, st, window, rx, pending: HashMap::new(), next_async_id: 1, deadlines }
    }

    pub fn conn_id(&self) -> u64 {
        self.st.conn_id
    }

    /// Whether a session is set up now: until then only small messages
    /// are read (`Limits::preauth_frame_bytes_max`).
    fn authenticated(&self) -> bool {
        self.st.sessions.values().any(|s| s.is_valid())
    }

    /// What the deadlines need to know (`conn_deadline.rs`).
    fn progress(&self) -> crate::conn_deadline::Progress {
        let opens = self.st.sessions.values().any(|s| !s.opens.is_empty());
        crate::conn_deadline::Progress {
            negotiated: self.st.neg.dialect != 0,
            authenticated: self.st.ever_authenticated,
            busy: opens || !self.pending.is_empty(),
        }
    }

    /// Refuses a message too large for a connection without a session
    /// as soon as its length is known, before it is buffered.
    fn check_preauth_frame(&self, buf: &[u8]) -> Result<(), ConnError> {
        let Some(h) = buf.get(..4) else { return Ok(()) };
        let len = holdfast_smb_proto::frame::decode_frame_header([h[0], h[1], h[2], h[3]])?;
        let max = self.srv.cfg.limits.preauth_frame_bytes_max;
        if len > max && !self.authenticated() {
            return Err(ConnError::PreauthFrame { bytes: len, max });
        }
        Ok(())
    }

    /// Serves the connection until it closes or breaks; then closes every
    /// open it left on the file server, except durable and persistent ones,
    /// which become disconnected opens that a new connection may reclaim.
    pub async fn serve(mut self, sock: TcpStream) -> Result<(), ConnError> {
        let r = self.serve_inner(sock).await;
        for (_, p) in self.pending.drain() {
            p.task.abort();
        }
        self.srv.notify.drop_connection(self.st.conn_id);
        self.srv.client_disconnected(self.st.neg.client_guid, self.st.conn_id);
        let sessions = std::mem::take(&mut self.st.sessions);
        for id in sessions.keys() {
            self.srv.unregister_session(*id, self.st.conn_id);
        }
        crate::cleanup::disconnect_opens(&self.srv, sessions.into_values().flat_map(|s| s.opens.into_values())).await;
        r
    }

    /// A command from another connection's task (or a wait of this one);
    /// what to write to the socket.
    async fn command(&mut self, cmd: ConnCmd) -> Result<Option<BytesMut>, ConnError> {
        match cmd {
            ConnCmd::Break { session_id, notice } => {
                let pdu = crate::breaks::notification_pdu(session_id, &notice);
                Ok(Some(frame(&pdu)?))
            }
            ConnCmd::CloseOpen { session_id, volatile, done } => {
                let open = self.st.sessions.get_mut(&session_id).and_then(|s| s.opens.remove(&volatile));
                if let Some(o) = open {
                    tracing::info!(path = %o.path, "open closed for a new open of the same application instance");
                    crate::cleanup::close_opens(&self.srv, std::iter::once(o)).await;
                }
                let _ = done.send(());
                Ok(None)
            }
            ConnCmd::Resume { async_id } => {
                let Some(p) = self.pending.remove(&async_id) else { return Ok(None) };
                let mode = Mode::Resumed { async_id, at: p.at };
                let mut prev = None;
                let mut last = p.at.last_file_id;
                let out = self.one(&p.pdu, p.at.encrypted_for, &mut prev, &mut last, mode).await?;
                match out {
                    Some(o) => self.finish(vec![o], p.at.encrypted_for),
                    None => Ok(None),
                }
            }
            ConnCmd::ExpireSession { id, done } => {
                if let Some(opens) = crate::cleanup::expire_session(&mut self.st, id) {
                    tracing::info!(session = id, "session expired by a reconnect (PreviousSessionId)");
                    crate::cleanup::disconnect_opens(&self.srv, opens.into_iter()).await;
                    self.purge_logged_off();
                }
                let _ = done.send(());
                Ok(None)
            }
        }
    }

    async fn serve_inner(&mut self, mut sock: TcpStream) -> Result<(), ConnError> {
        let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        loop {
            // Process every whole frame in the buffer, then read more.
            self.check_preauth_frame(&buf)?;
            while let Some((m, used)) = take_frame(&buf)? {
                let msg = m.to_vec();
                buf.advance(used);
                if let Some(out) = self.message(msg).await? {
                    sock.write_all(&out).await?;
                }
                // What that request queued (a break it caused) goes out
                // before the answer to the next one, as a client expects.
                while let Ok(c) = self.rx.try_recv() {
                    if let Some(out) = self.command(c).await? {
                        sock.write_all(&out).await?;
                    }
                }
                self.check_preauth_frame(&buf)?;
            }
            if self.authenticated() {
                self.st.ever_authenticated = true;
            }
            let now = tokio::time::Instant::now();
            let progress = self.progress();
            let deadline = self.deadlines.next(progress, now);
            let far = now + std::time::Duration::from_secs(86_400);
            buf.reserve(READ_CHUNK_BYTES);
            // read_buf is cancel safe: a command first loses no bytes.
            let cmd = tokio::select! {
                biased;
                Some(c) = self.rx.recv() => Some(c),
                n = sock.read_buf(&mut buf) => {
                    if n? == 0 {
                        return Ok(());
                    }
                    None
                }
                () = tokio::time::sleep_until(deadline.map_or(far, |d| d.0)), if deadline.is_some() => {
                    let why = deadline.expect("guarded by the branch condition").1;
                    return Err(why.into());
                }
            };
            if cmd.is_none() {
                // Bytes came in.
                self.deadlines.input(tokio::time::Instant::now());
            }
            if let Some(c) = cmd {
                if let Some(out) = self.command(c).await? {
                    sock.write_all(&out).await?;
                }
            }
        }
    }

    /// One NetBIOS message in, the framed reply out (None: no reply).
    async fn message(&mut self, msg: Vec<u8>) -> Result<Option<BytesMut>, ConnError> {
        match classify_message(&msg)? {
            MessageKind::Smb1 => {
                // It uses MessageId 0; the SMB2 response grants one credit.
                self.window.consume(0, 1)?;
                self.window.grant(1);
                let body = handlers::negotiate::smb1(&mut self.st, &self.srv, &msg)?;
                Ok(Some(frame(&body)?))
            }
            MessageKind::Smb2 => self.smb2(msg, None).await,
            MessageKind::Transform => {
                let (session_id, plain) = self.decrypt(&msg)?;
                self.smb2(plain, Some(session_id)).await
            }
            MessageKind::Compressed => Err(ConnError::Fatal("compressed message without negotiated compression")),
        }
    }

    fn decrypt(&mut self, msg: &[u8]) -> Result<(u64, Vec<u8>), ConnError> {
        let th = holdfast_smb_security::TransformHeader::parse(msg).map_err(|_| ConnError::Fatal("bad transform header"))?;
        let s = self.st.sessions.get(&th.session_id).ok_or(ConnError::Fatal("transform for an unknown session"))?;
        let c = s.decrypt.as_ref().ok_or(ConnError::Fatal("transform for a session without keys"))?;
        let (_, plain) = c.decrypt(msg).map_err(|_| ConnError::Fatal("decryption failed"))?;
        Ok((th.session_id, plain))
    }

    async fn smb2(&mut self, msg: Vec<u8>, encrypted_for: Option<u64>) -> Result<Option<BytesMut>, ConnError> {
        let pdus = split_compound(&msg)?;
        let mut outs: Vec<Out> = Vec::with_capacity(pdus.len());
        let mut prev: Option<(u64, u32, NtStatus)> = None;
        let mut last_file_id: Option<FileId> = None;
        let n = pdus.len();
        for (i, p) in pdus.iter().enumerate() {
            let mode = Mode::Fresh { last: i + 1 == n };
            if let Some(o) = self.one(p.bytes, encrypted_for, &mut prev, &mut last_file_id, mode).await? {
                outs.push(o);
            }
        }
        self.finish(outs, encrypted_for)
    }

    /// Composes, signs, encrypts and frames the responses of one message.
    fn finish(&mut self, outs: Vec<Out>, encrypted_for: Option<u64>) -> Result<Option<BytesMut>, ConnError> {
        if outs.is_empty() {
            return Ok(None);
        }
        let mut composed = BytesMut::new();
        let slices: Vec<&[u8]> = outs.iter().map(|o| &o.pdu[..]).collect();
        let ranges = compose_compound(&slices, &mut composed)?;
        for (o, r) in outs.iter().zip(ranges) {
            let pdu = &mut composed[r];
            if let Some(sid) = o.sign_session {
                if let Some(signer) = self.st.sessions.get(&sid).and_then(|s| s.signer.as_ref()) {
                    signer.sign(pdu).map_err(|_| ConnError::Fatal("signing failed"))?;
                }
            }
            match o.after {
                After::Nothing => {}
                After::ConnPreauth => self.st.preauth.update(pdu),
                After::SessionPreauth(sid) => {
                    if let Some(crate::state::SessionState::InProgress { preauth, .. }) =
                        self.st.sessions.get_mut(&sid).map(|s| &mut s.state)
                    {
                        preauth.update(pdu);
                    }
                }
            }
        }
        // Sessions logged off in this message go once their responses are signed.
        self.purge_logged_off();
        if let Some(sid) = encrypted_for {
            if let Some(c) = self.st.sessions.get(&sid).and_then(|s| s.encrypt.as_ref()) {
                let enc = c.encrypt(sid, &composed).map_err(|_| ConnError::Fatal("encryption failed"))?;
                return Ok(Some(frame(&enc)?));
            }
        }
        Ok(Some(frame(&composed)?))
    }

    /// Forgets logged-off sessions. One with async requests still to
    /// answer (a CHANGE_NOTIFY that the LOGOFF ended with
    /// STATUS_NOTIFY_CLEANUP) stays, refusing new requests, until those
    /// answers are signed with its key too.
    fn purge_logged_off(&mut self) {
        let (srv, conn_id) = (&self.srv, self.st.conn_id);
        let waiting: std::collections::HashSet<u64> = self.pending.values().map(|p| p.at.session_id).collect();
        self.st.sessions.retain(|id, s| {
            if s.logged_off {
                srv.unregister_session(*id, conn_id);
            }
            !s.logged_off || waiting.contains(id)
        });
    }

    /// One PDU of a compound: its response, or None (CANCEL of nothing).
    async fn one(
        &mut self,
        pdu: &[u8],
        encrypted_for: Option<u64>,
        // Session, tree, and the status of a failed CREATE earlier in the
        // related chain (SUCCESS if none).
        prev: &mut Option<(u64, u32, NtStatus)>,
        last_file_id: &mut Option<FileId>,
        mode: Mode,
    ) -> Result<Option<Out>, ConnError> {
        let encrypted = encrypted_for.is_some();
        let hdr = match Header::decode(pdu) {
            Ok(h) => h,
            Err(ProtoError::UnknownCommand(_)) => {
                let mut out = BytesMut::new();
                encode_unknown_command_response(pdu, NtStatus::INVALID_PARAMETER, 1, &mut out)?;
                return Ok(Some(Out { pdu: out, sign_session: None, after: After::Nothing }));
            }
            Err(e) => return Err(e.into()),
        };
        if hdr.is_response() {
            return Err(ConnError::Fatal("response sent to the server"));
        }
        if hdr.command == Command::Cancel {
            // CANCEL takes no credit; only the request it cancels answers.
            return Ok(self.cancel(&hdr));
        }
        let (mut session_id, mut tree_id, credits) = match mode {
            Mode::Fresh { .. } => {
                // The 2.0.2 header has no CreditCharge: every request costs one.
                let charge =
                    if self.st.neg.dialect == holdfast_smb_proto::dialect::SMB_2_0_2 { 1 } else { hdr.credit_charge };
                self.window.consume(hdr.message_id, charge)?;
                (hdr.session_id, hdr.tree_id().unwrap_or(0), self.window.grant(hdr.credits))
            }
            // The interim response granted the credits.
            Mode::Resumed { at, .. } => {
                *last_file_id = at.last_file_id;
                (at.session_id, at.tree_id, 0)
            }
        };
        let mut inherited: Option<NtStatus> = None;
        if matches!(mode, Mode::Resumed { .. }) {
        } else if hdr.is_related() {
            match prev {
                Some((s, t, st)) => {
                    session_id = *s;
                    tree_id = *t;
                    if st.is_error() {
                        inherited = Some(*st);
                    }
                }
                None => inherited = Some(NtStatus::INVALID_PARAMETER),
            }
        } else {
            *last_file_id = None;
        }
        let sign_session = self.check_signature(&hdr, pdu, session_id, encrypted);
        let mut new_session_id = None;
        let mut after = After::Nothing;
        let file_id_before = *last_file_id;
        let mut wait = None;
        let result = match (inherited, sign_session) {
            (Some(st), _) => Err(st),
            (None, Err(st)) => Err(st),
            (None, Ok(_)) => match decode_request_body(hdr.command, pdu) {
                Err(e) => Err(e.status()),
                Ok(req) => {
                    let mut ctx = Ctx {
                        conn: &mut self.st,
                        srv: &self.srv,
                        hdr: &hdr,
                        pdu,
                        encrypted,
                        session_id,
                        tree_id,
                        last_file_id: *last_file_id,
                        new_session_id: None,
                        new_tree_id: None,
                        wait: None,
                        resumed: matches!(mode, Mode::Resumed { .. }),
                    };
                    let r = handlers::dispatch(&mut ctx, req).await;
                    new_session_id = ctx.new_session_id;
                    if let Some(t) = ctx.new_tree_id {
                        tree_id = t;
                    }
                    *last_file_id = ctx.last_file_id;
                    wait = ctx.wait.take().map(|m| m.into_inner().expect("wait lock"));
                    r
                }
            },
        };
        let mut result = result;
        let pending = matches!(result, Err(NtStatus::PENDING));
        if let (true, Some(w)) = (pending, wait) {
            match mode {
                Mode::Fresh { last: false } => {
                    // Not the last of a compound: wait here, then run it
                    // again (the connection's other requests wait too).
                    w.await;
                    *last_file_id = file_id_before;
                    return Box::pin(self.one(pdu, encrypted_for, prev, last_file_id, Mode::Fresh { last: false })).await;
                }
                Mode::Fresh { last: true } => match self.srv.async_budget.try_take(self.pending.len()) {
                    Some(slot) => {
                        let async_id = self.next_async_id;
                        self.next_async_id += 1;
                        let at = Ids { encrypted_for, session_id, tree_id, last_file_id: file_id_before };
                        let out = self.go_async(&hdr, pdu, at, async_id, credits, w, slot);
                        *prev = Some((session_id, tree_id, NtStatus::SUCCESS));
                        return Ok(Some(out));
                    }
                    None => {
                        tracing::info!(command = ?hdr.command, waiting = self.pending.len(), "async request refused: over the async request caps");
                        result = Err(NtStatus::INSUFFICIENT_RESOURCES);
                    }
                },
                Mode::Resumed { async_id, at } => {
                    // Still waiting (a new break came up): no second interim.
                    let slot = self.srv.async_budget.take_again();
                    self.park(&hdr, pdu, at, async_id, w, slot);
                    return Ok(None);
                }
            }
        }
        if let Some(sid) = new_session_id {
            session_id = sid;
        }
        let (status, body) = match result {
            Ok(r) => (r.status, Some(r.body)),
            Err(st) => (st, None),
        };
        let mut rh = Header::response_to(&hdr, status, credits);
        rh.session_id = session_id;
        match mode {
            Mode::Resumed { async_id, .. } => rh.id = holdfast_smb_proto::SyncOrAsync::Async { async_id },
            Mode::Fresh { .. } => {
                if let holdfast_smb_proto::SyncOrAsync::Sync { process_id, .. } = hdr.id {
                    rh.id = holdfast_smb_proto::SyncOrAsync::Sync { process_id, tree_id };
                }
            }
        }
        let sign = self.sign_for(&hdr, session_id, status, encrypted);
        if sign.is_none() && hdr.is_signed() && status == crate::error::status::USER_SESSION_DELETED {
            // The session and its key are gone; clients that sign want the
            // flag on this one answer and skip the check (as Samba sends).
            rh.flags |= holdfast_smb_proto::header::flags::SIGNED;
        }
        let mut out = BytesMut::new();
        rh.encode(&mut out);
        match body {
            Some(b) if !(status.is_error() && b.is_empty()) => out.extend_from_slice(&b),
            _ => ErrorResponse::EMPTY.encode(&mut out),
        }
        match hdr.command {
            Command::Negotiate if self.st.neg.dialect == holdfast_smb_proto::dialect::SMB_3_1_1 && status == NtStatus::SUCCESS => {
                after = After::ConnPreauth
            }
            Command::SessionSetup if status == NtStatus::MORE_PROCESSING_REQUIRED => after = After::SessionPreauth(session_id),
            _ => {}
        }
        // Only a failed CREATE poisons the related requests after it (they
        // would act on its FileId); other failures do not, as in Samba.
        let carried = match prev {
            Some((_, _, st)) if hdr.is_related() && st.is_error() => *st,
            _ if hdr.command == Command::Create && status.is_error() => status,
            _ => NtStatus::SUCCESS,
        };
        *prev = Some((session_id, tree_id, carried));
        Ok(Some(Out { pdu: out, sign_session: sign, after }))
    }

    /// Sign when the session has keys and either signs everything or the
    /// client signed this request; never a session-less error. A
    /// MORE_PROCESSING_REQUIRED round is signed only when re-authenticating
    /// a valid session (a first logon has no key yet).
    fn sign_for(&self, hdr: &Header, session_id: u64, status: NtStatus, encrypted: bool) -> Option<u64> {
        self.st
            .sessions
            .get(&session_id)
            .filter(|s| s.signer.is_some() && (s.signing_required || hdr.is_signed()))
            .filter(|s| (status != NtStatus::MORE_PROCESSING_REQUIRED || s.is_valid()) && !encrypted)
            .map(|_| session_id)
    }

    /// The request waits: the interim response (STATUS_PENDING with an
    /// AsyncId, granting the credits now) goes out, and the request is
    /// parked until `wait` is over.
    #[allow(clippy::too_many_arguments)]
    fn go_async(
        &mut self,
        hdr: &Header,
        pdu: &[u8],
        at: Ids,
        async_id: u64,
        credits: u16,
        wait: crate::ctx::AsyncWait,
        slot: crate::async_budget::AsyncSlot,
    ) -> Out {
        self.park(hdr, pdu, at, async_id, wait, slot);
        let mut rh = Header::response_to(hdr, NtStatus::PENDING, credits);
        rh.session_id = at.session_id;
        rh.id = holdfast_smb_proto::SyncOrAsync::Async { async_id };
        let mut out = BytesMut::new();
        rh.encode(&mut out);
        ErrorResponse::EMPTY.encode(&mut out);
        let sign = self.sign_for(hdr, at.session_id, NtStatus::PENDING, at.encrypted_for.is_some());
        Out { pdu: out, sign_session: sign, after: After::Nothing }
    }

    fn park(&mut self, hdr: &Header, pdu: &[u8], at: Ids, async_id: u64, wait: crate::ctx::AsyncWait, slot: crate::async_budget::AsyncSlot) {
        let tx = self.st.cmd_tx.clone();
        let task = tokio::spawn(async move {
            wait.await;
            let _ = tx.send(ConnCmd::Resume { async_id });
        });
        self.pending.insert(async_id, Pending { pdu: pdu.to_vec(), at, message_id: hdr.message_id, task, _slot: slot });
    }

    /// CANCEL ([MS-SMB2] 3.3.5.16): the pending request it names (by
    /// AsyncId, or by MessageId) ends with STATUS_CANCELLED.
    fn cancel(&mut self, hdr: &Header) -> Option<Out> {
        let async_id = match hdr.async_id() {
            Some(a) => a,
            None => *self.pending.iter().find(|(_, p)| p.message_id == hdr.message_id)?.0,
        };
        let p = self.pending.remove(&async_id)?;
        p.task.abort();
        let orig = Header::decode(&p.pdu).ok()?;
        let mut rh = Header::response_to(&orig, crate::error::status::CANCELLED, 0);
        rh.session_id = p.at.session_id;
        rh.id = holdfast_smb_proto::SyncOrAsync::Async { async_id };
        let mut out = BytesMut::new();
        rh.encode(&mut out);
        ErrorResponse::EMPTY.encode(&mut out);
        let sign = self.sign_for(&orig, p.at.session_id, crate::error::status::CANCELLED, p.at.encrypted_for.is_some());
        Some(Out { pdu: out, sign_session: sign, after: After::Nothing })
    }

    /// Verifies a signed request and refuses an unsigned one on a session
    /// that signs ([MS-SMB2] 3.3.5.2.4). Encrypted requests are not signed.
    fn check_signature(&self, hdr: &Header, pdu: &[u8], session_id: u64, encrypted: bool) -> Result<(), NtStatus> {
        if matches!(hdr.command, Command::Negotiate) || encrypted {
            return Ok(());
        }
        let Some(s) = self.st.sessions.get(&session_id) else { return Ok(()) };
        let Some(signer) = s.signer.as_ref() else { return Ok(()) };
        if hdr.is_signed() {
            let mut copy = pdu.to_vec();
            return signer.verify(&mut copy).map_err(|_| {
                tracing::debug!(command = ?hdr.command, session = session_id, "bad signature");
                NtStatus::ACCESS_DENIED
            });
        }
        let exempt = matches!(hdr.command, Command::SessionSetup | Command::Cancel);
        if s.signing_required && !exempt {
            return Err(NtStatus::ACCESS_DENIED);
        }
        Ok(())
    }

}

fn frame(msg: &[u8]) -> Result<BytesMut, ConnError> {
    let mut out = BytesMut::with_capacity(msg.len() + 4);
    let start = begin_frame(&mut out);
    out.extend_from_slice(msg);
    finish_frame(&mut out, start)?;
    Ok(out)
}
