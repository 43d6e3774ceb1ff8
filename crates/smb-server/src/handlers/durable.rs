//! Durable and persistent handles ([MS-SMB2] 3.3.5.9.6, .7, .10, .12):
//! which durability a CREATE asked for, what is granted, the handle-table
//! record written through the file server before the CREATE response,
//! CreateGuid replay detection, and reconnects (DHnC / DH2C).
//!
//! Every durable or persistent open, v1 or v2, has a record in the share's
//! handle table (`FsClient::handle_put`); its id is FileId.Persistent.

use holdfast_file_server::proto::FileInfo;
use holdfast_objfs::handles::{HandleRecord, Lease as RecLease};
use holdfast_smb_proto::msg::create::{oplock_level, CreateRequest, CreateResponse};
use holdfast_smb_proto::msg::create_ctx::{
    lease_state, CreateContext, CreateResponseContext, DHANDLE_FLAG_PERSISTENT,
};
use holdfast_smb_proto::{caps, FileId, Guid};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::handlers::fileinfo;
use crate::leases::{Granted, Holder};
use crate::state::{DirCursor, Negotiated, Open, Tree};

/// What MAXIMUM_ALLOWED grants (shares have no per-file ACLs yet).
pub const MAXIMAL_ACCESS: u32 = holdfast_smb_proto::access::FILE_ALL_ACCESS;

/// What a DH2Q with timeout 0 gets (Samba's and Windows' default), unless
/// the share's cap is lower; a share timeout of 0 means this too.
const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// How long a reconnect waits for the connection that held the handle to
/// notice it is gone and mark the handle disconnected.
const RECONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The durable-handle context of a CREATE, after the combination rules.
#[derive(Debug, Clone, Copy)]
pub enum Durable {
    None,
    /// DHnQ.
    RequestV1,
    /// DH2Q (3.x only; ignored on 2.x).
    RequestV2 { timeout: u32, flags: u32, create_guid: Guid },
    /// DHnC.
    ReconnectV1 { file_id: FileId },
    /// DH2C (3.x only).
    ReconnectV2 { file_id: FileId, create_guid: Guid, flags: u32 },
}

impl Durable {
    /// [MS-SMB2] 3.3.5.9.6/.7/.10/.12: v1 and v2 contexts together are
    /// STATUS_INVALID_PARAMETER; DHnQ next to DHnC is ignored.
    pub fn parse(req: &CreateRequest, smb3: bool) -> Result<Durable, NtStatus> {
        let (mut q1, mut c1, mut q2, mut c2) = (false, None, None, None);
        for c in &req.contexts {
            match c {
                CreateContext::DurableRequest => q1 = true,
                CreateContext::DurableReconnect { file_id } => c1 = Some(*file_id),
                CreateContext::DurableRequestV2 { timeout, flags, create_guid } if smb3 => {
                    q2 = Some((*timeout, *flags, *create_guid))
                }
                CreateContext::DurableReconnectV2 { file_id, create_guid, flags } if smb3 => {
                    c2 = Some((*file_id, *create_guid, *flags))
                }
                _ => {}
            }
        }
        let v1 = q1 || c1.is_some();
        let v2 = q2.is_some() || c2.is_some();
        if v1 && v2 || (q2.is_some() && c2.is_some()) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        Ok(if let Some((file_id, create_guid, flags)) = c2 {
            Durable::ReconnectV2 { file_id, create_guid, flags }
        } else if let Some((timeout, flags, create_guid)) = q2 {
            Durable::RequestV2 { timeout, flags, create_guid }
        } else if let Some(file_id) = c1 {
            Durable::ReconnectV1 { file_id }
        } else if q1 {
            Durable::RequestV1
        } else {
            Durable::None
        })
    }
}

/// What a new open is granted.
pub struct Grant {
    pub persistent: bool,
    pub timeout_ms: u32,
    pub v2: bool,
    pub create_guid: Guid,
}

fn share_timeout_ms(tree: &Tree) -> u32 {
    let t = if tree.handle_timeout_ms == 0 { DEFAULT_TIMEOUT_MS } else { tree.handle_timeout_ms };
    t.min(u64::from(u32::MAX)) as u32
}

/// [MS-SMB2] 3.3.5.9.10 / 3.3.5.9.6: persistent only on a CA share over
/// 3.x with PERSISTENT_HANDLES; otherwise durable when a batch oplock or a
/// handle-caching lease was granted; never on directories. The timeout is
/// the client's, capped at the share's `handle_timeout_ms`; 0 takes the
/// share's.
pub fn grant(neg: &Negotiated, tree: &Tree, d: &Durable, granted: &Granted, is_dir: bool) -> Option<Grant> {
    if is_dir {
        return None;
    }
    let batch_or_handle = granted.oplock == oplock_level::BATCH
        || granted.lease.as_ref().is_some_and(|l| l.state & lease_state::HANDLE_CACHING != 0);
    let share_t = share_timeout_ms(tree);
    match *d {
        Durable::RequestV1 if batch_or_handle => {
            Some(Grant { persistent: false, timeout_ms: share_t, v2: false, create_guid: [0; 16] })
        }
        Durable::RequestV2 { timeout, flags, create_guid } => {
            let persistent = flags & DHANDLE_FLAG_PERSISTENT != 0
                && tree.ca
                && neg.is_smb3()
                && neg.server_capabilities & caps::PERSISTENT_HANDLES != 0;
            if !persistent && !batch_or_handle {
                return None;
            }
            let timeout_ms = if timeout == 0 { DEFAULT_TIMEOUT_MS.min(u64::from(share_t)) as u32 } else { timeout.min(share_t) };
            Some(Grant { persistent, timeout_ms, v2: true, create_guid })
        }
        _ => None,
    }
}

/// The handle-table record of a new durable open (persistent_id 0: the
/// put assigns it).
#[allow(clippy::too_many_arguments)]
pub fn new_record(
    ctx: &mut Ctx<'_>,
    tree: &Tree,
    req: &CreateRequest,
    g: &Grant,
    info: &FileInfo,
    create_action: u32,
    owner: String,
    granted: &Granted,
    granted_access: u32,
) -> HandleRecord {
    let app_instance_id = req
        .contexts
        .iter()
        .find_map(|c| if let CreateContext::AppInstanceId(g) = c { Some(*g) } else { None })
        .unwrap_or([0; 16]);
    let (high, low) = req
        .contexts
        .iter()
        .find_map(|c| if let CreateContext::AppInstanceVersion { high, low } = c { Some((*high, *low)) } else { None })
        .unwrap_or((0, 0));
    let lease = granted.lease.as_ref().map(|l| RecLease {
        key: l.key,
        parent_key: l.parent_key,
        state: l.state,
        epoch: l.epoch,
        version: l.version,
        flags: l.flags,
    });
    HandleRecord {
        persistent_id: 0,
        ino: info.ino,
        share: tree.share.clone(),
        path: req.name.clone(),
        create_guid: g.create_guid,
        client_guid: ctx.conn.neg.client_guid,
        app_instance_id,
        app_instance_version_high: high,
        app_instance_version_low: low,
        durable_owner: owner,
        granted_access,
        share_access: req.share_access,
        create_options: req.create_options,
        create_disposition: req.create_disposition,
        create_action,
        file_attributes: req.file_attributes,
        oplock_level: granted.oplock,
        lease,
        is_durable: true,
        is_persistent: g.persistent,
        timeout_ms: g.timeout_ms,
        disconnect_time_unix_ms: 0,
        channel_sequence: if ctx.conn.neg.is_smb3() { (ctx.hdr.status.0 & 0xFFFF) as u16 } else { 0 },
        is_replay_eligible: g.v2,
        delete_on_close: req.create_options & holdfast_smb_proto::msg::create::create_options::DELETE_ON_CLOSE != 0,
        ..Default::default()
    }
}

/// The durable response context for a granted record.
pub fn response_context(rec: &HandleRecord) -> CreateResponseContext {
    if rec.create_guid == [0; 16] && !rec.is_persistent {
        CreateResponseContext::DurableResponse
    } else {
        CreateResponseContext::DurableResponseV2 {
            timeout: rec.timeout_ms,
            flags: if rec.is_persistent { DHANDLE_FLAG_PERSISTENT } else { 0 },
        }
    }
}

/// MxAc and QFid answers.
pub fn query_contexts(req: &CreateRequest, info: &FileInfo, out: &mut Vec<CreateResponseContext>) {
    for c in &req.contexts {
        match c {
            CreateContext::QueryMaximalAccess { .. } => {
                out.push(CreateResponseContext::MaximalAccess { query_status: 0, maximal_access: MAXIMAL_ACCESS })
            }
            CreateContext::QueryOnDiskId => out.push(CreateResponseContext::OnDiskId { disk_file_id: info.ino, volume_id: 0 }),
            _ => {}
        }
    }
}

pub fn response(file_id: FileId, create_action: u32, info: &FileInfo, oplock: u8, contexts: Vec<CreateResponseContext>) -> Reply {
    Reply::ok(&CreateResponse {
        oplock_level: oplock,
        flags: 0,
        create_action,
        creation_time: info.creation_time,
        last_access_time: info.last_access_time,
        last_write_time: info.last_write_time,
        change_time: info.change_time,
        allocation_size: info.allocation_bytes,
        end_of_file: info.size_bytes,
        file_attributes: fileinfo::attributes(info),
        file_id,
        contexts,
    })
}

/// The session, volatile id and open that hold persistent id `id` on this
/// connection, if any.
fn live_here(ctx: &Ctx<'_>, id: u64) -> Option<(u64, u64, Open)> {
    ctx.conn.sessions.iter().find_map(|(sid, s)| {
        s.opens
            .iter()
            .find(|(_, o)| o.durable && o.persistent_id == id)
            .map(|(v, o)| (*sid, *v, o.clone()))
    })
}

async fn fs_err(ctx: &Ctx<'_>, e: holdfast_file_server::ClientError) -> NtStatus {
    ctx.srv.fs_error(e).await
}

/// DH2Q CreateGuid replay ([MS-SMB2] 3.3.5.9.10): an open of this
/// ClientGuid and CreateGuid exists. With REPLAY_OPERATION the client is
/// re-sending a CREATE whose response it lost: answer with that open
/// (reclaiming it when its connection is gone). Without the flag it is
/// STATUS_DUPLICATE_OBJECTID. `None`: no such open, go on with the CREATE.
pub async fn replay(ctx: &mut Ctx<'_>, tree: &Tree, req: &CreateRequest, create_guid: Guid) -> Result<Option<Reply>, NtStatus> {
    let client_guid = ctx.conn.neg.client_guid;
    if client_guid == [0; 16] || create_guid == [0; 16] {
        return Ok(None);
    }
    // The lease table holds every open made with a CreateGuid, durable or
    // not, and every durable open of the service (loaded from the handle
    // table at start), so no file-server call is needed.
    struct Found {
        rec: Option<HandleRecord>,
        eligible: bool,
        connected: bool,
        oplock: u8,
        lease: Option<RecLease>,
        create_action: u32,
        persistent_id: u64,
    }
    let found = {
        let t = ctx.srv.leases.lock().expect("lease table");
        t.find_by_create_guid(&tree.share, client_guid, create_guid).and_then(|id| {
            let e = t.entry(id)?;
            let rec = t.current_record(id);
            let lease = e.lease.and_then(|lid| t.lease(&lid).map(|l| (lid, l))).map(|(lid, l)| RecLease {
                key: lid.1,
                parent_key: l.parent_key,
                state: l.state,
                epoch: l.epoch,
                version: l.version,
                flags: l.flags,
            });
            Some(Found {
                eligible: e.replay_eligible,
                connected: e.holder.is_some(),
                oplock: e.oplock,
                lease,
                create_action: e.create_action,
                persistent_id: e.holder.as_ref().map(|h| h.file_id.persistent).or(rec.as_ref().map(|r| r.persistent_id))?,
                rec,
            })
        })
    };
    let Some(f) = found else {
        let pending = ctx.srv.pending_creates.lock().expect("pending creates").contains(&(client_guid, create_guid));
        if pending && ctx.hdr.is_replay() {
            // The original still waits for breaks: nothing to answer yet.
            return Err(NtStatus::FILE_NOT_AVAILABLE);
        }
        return Ok(None);
    };
    if !f.eligible {
        return Ok(None);
    }
    if !ctx.hdr.is_replay() {
        return Err(NtStatus::DUPLICATE_OBJECTID);
    }
    if !f.connected {
        let Some(rec) = f.rec else { return Ok(None) };
        return reclaim(ctx, tree, req, rec, None, true).await.map(Some);
    }
    let here = ctx.conn.sessions.iter().find_map(|(sid, s)| {
        s.opens.iter().find(|(_, o)| o.persistent_id == f.persistent_id).map(|(v, o)| (*sid, *v, o.clone()))
    });
    let Some((sid, volatile, open)) = here else {
        // Open on another connection.
        return Err(NtStatus::ACCESS_DENIED);
    };
    if sid != ctx.session_id || open.tree_id != ctx.tree_id {
        return Err(NtStatus::ACCESS_DENIED);
    }
    // The replay must ask for what the open holds: the same lease, or an
    // oplock (answered at most at the level held, as Samba does).
    let asked = req
        .contexts
        .iter()
        .find_map(|c| if let CreateContext::Lease(l) = c { Some(l.key) } else { None })
        .filter(|_| req.requested_oplock_level == oplock_level::LEASE);
    let mut contexts = Vec::new();
    let (oplock, lease) = match (&f.lease, asked) {
        (Some(l), Some(k)) if l.key == k => (oplock_level::LEASE, Some(l.clone())),
        (None, None) => (req.requested_oplock_level.min(f.oplock), None),
        _ => return Err(NtStatus::ACCESS_DENIED),
    };
    if let Some(rec) = &f.rec {
        let durable_now = rec.is_persistent
            || oplock == oplock_level::BATCH
            || lease.as_ref().is_some_and(|l| l.state & lease_state::HANDLE_CACHING != 0);
        if durable_now {
            contexts.push(response_context(rec));
        }
    }
    if let Some(l) = &lease {
        contexts.push(crate::handlers::lease_ctx::from_record(l));
    }
    let fs = ctx.srv.fs().await?;
    let info = match fs.call(&holdfast_file_server::proto::Request::Stat { fid: open.fs_fid }).await {
        Ok(holdfast_file_server::proto::Reply::Info(i)) => i,
        Ok(_) => return Err(NtStatus::INTERNAL_ERROR),
        Err(e) => return Err(fs_err(ctx, e).await),
    };
    let file_id = FileId { persistent: f.persistent_id, volatile };
    ctx.last_file_id = Some(file_id);
    query_contexts(req, &info, &mut contexts);
    Ok(Some(response(file_id, f.create_action, &info, oplock, contexts)))
}

/// DHnC / DH2C ([MS-SMB2] 3.3.5.9.7, 3.3.5.9.12).
pub async fn reconnect(ctx: &mut Ctx<'_>, tree: &Tree, req: &CreateRequest, d: Durable) -> HResult {
    let client_guid = ctx.conn.neg.client_guid;
    let fs = ctx.srv.fs().await?;
    let (file_id, v2) = match d {
        Durable::ReconnectV1 { file_id } => (file_id, None),
        Durable::ReconnectV2 { file_id, create_guid, flags } => (file_id, Some((create_guid, flags))),
        _ => return Err(NtStatus::INTERNAL_ERROR),
    };
    let found = match fs.handle_get(&tree.share, file_id.persistent).await {
        Ok(r) => Some(r),
        Err(e) if e.status().is_some() => None,
        Err(e) => return Err(fs_err(ctx, e).await),
    };
    let rec = match (found, v2) {
        (Some(r), _) => r,
        (None, Some((create_guid, flags))) if flags & DHANDLE_FLAG_PERSISTENT != 0 && tree.ca => {
            match fs.handle_find(&tree.share, client_guid, create_guid).await {
                Ok(r) => r,
                Err(e) if e.status().is_some() => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
                Err(e) => return Err(fs_err(ctx, e).await),
            }
        }
        (None, _) => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
    };
    if rec.lease.is_some() && rec.client_guid != client_guid {
        return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    match v2 {
        Some((create_guid, flags)) => {
            let asks_persistent = flags & DHANDLE_FLAG_PERSISTENT != 0;
            // The ClientGuid matters only for a lease (checked above): an
            // oplock handle may come back from a client with a new one.
            if rec.create_guid != create_guid || rec.is_persistent != asks_persistent {
                return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
            }
        }
        None => {
            // A v1 reconnect names a v1 handle (no CreateGuid).
            // (A v2 durable handle may come back through v1, as Samba
            // allows; a persistent one may not.)
            if rec.is_persistent {
                return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
            }
        }
    }
    reclaim(ctx, tree, req, rec, Some(holdfast_file_server::access::FILE_OPENED), false).await
}

/// Takes a durable open whose connection is gone onto this session: waits
/// (bounded) for the old connection to mark it disconnected, checks the
/// owner, re-establishes the open on the file server (`Reopen`), writes
/// the record connected again, and answers with the same FileId.Persistent
/// and a new volatile id. A DH2C/DHnC response carries no durable context
/// (durability is not granted anew, MS-SMB2 3.3.5.9.12 goes straight to
/// the response, and smbtorture checks for none); a replayed DH2Q CREATE
/// gets the DH2Q response it lost (`durable_ctx`).
async fn reclaim(
    ctx: &mut Ctx<'_>,
    tree: &Tree,
    req: &CreateRequest,
    mut rec: HandleRecord,
    action: Option<u32>,
    durable_ctx: bool,
) -> HResult {
    let fs = ctx.srv.fs().await?;
    let user = ctx.session()?.user.clone();
    if rec.durable_owner != ctx.srv.owner_of(&user) {
        // Another user's handle: as if there were none (Samba answers
        // the same way, which tells nothing about the handle).
        return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    if live_here(ctx, rec.persistent_id).is_some() {
        // Still open here: there is nothing to reconnect (as Samba).
        return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    // A handle with a lease is reclaimed naming that lease (whatever the
    // oplock level field says), and one without by naming none; with a
    // lease the name must be the handle's ([MS-SMB2] 3.3.5.9.7, .12).
    let asked = req.contexts.iter().find_map(|c| if let CreateContext::Lease(l) = c { Some(l.key) } else { None });
    match (&rec.lease, asked) {
        (Some(l), Some(k)) if l.key == k => {
            if !durable_ctx && crate::leases::path_key(&req.name) != crate::leases::path_key(&rec.path) {
                return Err(NtStatus::INVALID_PARAMETER);
            }
        }
        (None, None) => {}
        _ => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
    }
    let deadline = tokio::time::Instant::now() + RECONNECT_WAIT;
    while rec.disconnect_time_unix_ms == 0 {
        // Still connected elsewhere: its connection may be ending now.
        if tokio::time::Instant::now() >= deadline {
            // Held by a live connection elsewhere: the handle exists but
            // is not available (an open on this very connection is
            // OBJECT_NAME_NOT_FOUND above, as Samba answers).
            return Err(NtStatus::FILE_NOT_AVAILABLE);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        rec = match fs.handle_get(&tree.share, rec.persistent_id).await {
            Ok(r) => r,
            Err(e) if e.status().is_some() => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
            Err(e) => return Err(fs_err(ctx, e).await),
        };
    }
    let (fid, info) = match fs.reopen(&tree.share, rec.persistent_id).await {
        Ok(r) => r,
        Err(e) if e.status().is_some() => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
        Err(e) => return Err(fs_err(ctx, e).await),
    };
    let volatile = ctx.conn.next_volatile_id;
    ctx.conn.next_volatile_id += 1;
    let file_id = FileId { persistent: rec.persistent_id, volatile };
    let channel_sequence = ctx.conn.neg.is_smb3().then_some((ctx.hdr.status.0 & 0xFFFF) as u16);
    // The lease table's entry (kept while disconnected, or loaded from the
    // record by a new service) is connected again; its caching state is
    // the newest, so the record written and answered is taken from it.
    let holder = Holder { conn_id: ctx.conn.conn_id, session_id: ctx.session_id, file_id, tx: ctx.conn.cmd_tx.clone() };
    let position;
    let (entry, rec) = {
        let mut t = ctx.srv.leases.lock().expect("lease table");
        let id = match t.find_durable(&tree.share, rec.persistent_id) {
            Some(id) => id,
            None => t.load(rec.clone()),
        };
        let e = t.entry_mut(id).expect("just found");
        e.holder = Some(holder);
        position = e.position;
        if let Some(r) = e.record.as_mut() {
            r.disconnect_time_unix_ms = 0;
            if let Some(cs) = channel_sequence {
                r.channel_sequence = cs;
            }
        }
        (id, t.current_record(id).expect("durable entry"))
    };
    if let Err(e) = fs.handle_update(&tree.share, &rec).await {
        // Put it back as it was: disconnected, still reclaimable.
        tracing::warn!("reconnect of handle {:#x}: {e}", rec.persistent_id);
        let mut back = rec.clone();
        back.disconnect_time_unix_ms = crate::time::now_unix_ms();
        {
            let mut t = ctx.srv.leases.lock().expect("lease table");
            if let Some(en) = t.entry_mut(entry) {
                en.holder = None;
                en.record = Some(back.clone());
            }
        }
        let _ = fs.handle_update(&tree.share, &back).await;
        let _ = fs.close(fid).await;
        return Err(e.status().unwrap_or(NtStatus::UNEXPECTED_IO_ERROR));
    }
    tracing::info!(id = format!("{:#x}", rec.persistent_id), path = %rec.path, "durable open reclaimed");
    let mut contexts = Vec::new();
    if durable_ctx {
        contexts.push(response_context(&rec));
    }
    if let Some(l) = &rec.lease {
        contexts.push(crate::handlers::lease_ctx::from_record(l));
    }
    query_contexts(req, &info, &mut contexts);
    let create_action = action.unwrap_or(rec.create_action);
    let open = Open {
        fs_fid: fid,
        persistent_id: rec.persistent_id,
        durable: true,
        entry,
        replay_window: true,
        tree_id: ctx.tree_id,
        path: rec.path.clone(),
        is_dir: info.is_dir,
        granted_access: rec.granted_access,
        position,
        mode: 0,
        write_through: req.create_options & holdfast_smb_proto::msg::create::create_options::WRITE_THROUGH != 0,
        channel_sequence: ctx.hdr.channel_sequence(),
        dir: DirCursor::default(),
    };
    ctx.session()?.opens.insert(volatile, open);
    ctx.last_file_id = Some(file_id);
    Ok(response(file_id, create_action, &info, rec.oplock_level, contexts))
}

#[cfg(test)]
mod tests {
    use holdfast_smb_proto::dialect;
    use holdfast_smb_proto::msg::create_ctx::Lease;

    use super::*;

    fn req(oplock: u8, contexts: Vec<CreateContext>) -> CreateRequest {
        CreateRequest {
            security_flags: 0,
            requested_oplock_level: oplock,
            impersonation_level: 2,
            smb_create_flags: 0,
            desired_access: 0x0012_019F,
            file_attributes: 0,
            share_access: 1,
            create_disposition: 3,
            create_options: 0x40,
            name: "f".into(),
            contexts,
        }
    }

    fn neg(d: u16) -> Negotiated {
        let smb3 = d >= dialect::SMB_3_0;
        Negotiated { dialect: d, server_capabilities: if smb3 { caps::PERSISTENT_HANDLES } else { 0 }, ..Default::default() }
    }

    fn tree(ca: bool, handle_timeout_ms: u64) -> Tree {
        Tree { share: "share".into(), is_ipc: false, ca, write_through: false, handle_timeout_ms, rules: Default::default() }
    }

    fn dh2q(timeout: u32, flags: u32) -> CreateContext {
        CreateContext::DurableRequestV2 { timeout, flags, create_guid: [7; 16] }
    }

    fn granted(n: &Negotiated, t: &Tree, r: &CreateRequest) -> Option<(bool, u32)> {
        let d = Durable::parse(r, n.is_smb3()).unwrap();
        grant(n, t, &d, &granted_caching(n, r), false).map(|g| (g.persistent, g.timeout_ms))
    }

    /// What an empty lease table grants the request.
    fn granted_caching(n: &Negotiated, r: &CreateRequest) -> Granted {
        let req = crate::handlers::lease_ctx::requested(n, r);
        crate::leases::Table::default().grant("share", 1, false, 0x0012_019F, true, &req).unwrap()
    }

    #[test]
    fn persistent_only_on_ca_shares_over_smb3() {
        let r = req(oplock_level::NONE, vec![dh2q(0, DHANDLE_FLAG_PERSISTENT)]);
        assert_eq!(granted(&neg(dialect::SMB_3_1_1), &tree(true, 60_000), &r), Some((true, 60_000)));
        assert_eq!(granted(&neg(dialect::SMB_3_0), &tree(true, 60_000), &r), Some((true, 60_000)));
        // Not CA, no batch oplock or handle lease: nothing.
        assert_eq!(granted(&neg(dialect::SMB_3_1_1), &tree(false, 60_000), &r), None);
        // Not CA but a batch oplock: durable only.
        let rb = req(oplock_level::BATCH, vec![dh2q(0, DHANDLE_FLAG_PERSISTENT)]);
        assert_eq!(granted(&neg(dialect::SMB_3_1_1), &tree(false, 60_000), &rb), Some((false, 60_000)));
        // DH2Q is a 3.x context: ignored on 2.1.
        assert_eq!(granted(&neg(dialect::SMB_2_1), &tree(true, 60_000), &rb), None);
    }

    #[test]
    fn durable_needs_batch_or_handle_lease() {
        let n = neg(dialect::SMB_3_1_1);
        let t = tree(true, 60_000);
        assert_eq!(granted(&n, &t, &req(oplock_level::NONE, vec![dh2q(0, 0)])), None);
        assert_eq!(granted(&n, &t, &req(oplock_level::EXCLUSIVE, vec![dh2q(0, 0)])), None);
        assert_eq!(granted(&n, &t, &req(oplock_level::BATCH, vec![dh2q(0, 0)])), Some((false, 60_000)));
        let lease = |state| CreateContext::Lease(Lease { key: [1; 16], state, flags: 0, duration: 0, v2: None });
        let rh = req(oplock_level::LEASE, vec![dh2q(0, 0), lease(lease_state::READ_CACHING | lease_state::HANDLE_CACHING)]);
        assert_eq!(granted(&n, &t, &rh), Some((false, 60_000)));
        let rr = req(oplock_level::LEASE, vec![dh2q(0, 0), lease(lease_state::READ_CACHING)]);
        assert_eq!(granted(&n, &t, &rr), None);
        // v1 on 2.1 with a batch oplock.
        let r1 = req(oplock_level::BATCH, vec![CreateContext::DurableRequest]);
        assert_eq!(granted(&neg(dialect::SMB_2_1), &t, &r1), Some((false, 60_000)));
        assert_eq!(granted(&n, &t, &req(oplock_level::NONE, vec![CreateContext::DurableRequest])), None);
        // Never on a directory.
        let rp = req(oplock_level::NONE, vec![dh2q(0, DHANDLE_FLAG_PERSISTENT)]);
        let d = Durable::parse(&rp, true).unwrap();
        assert!(grant(&n, &t, &d, &granted_caching(&n, &rp), true).is_none());
    }

    #[test]
    fn timeout_is_capped_at_the_share_and_zero_takes_60_s() {
        let n = neg(dialect::SMB_3_1_1);
        let r = |t| req(oplock_level::NONE, vec![dh2q(t, DHANDLE_FLAG_PERSISTENT)]);
        assert_eq!(granted(&n, &tree(true, 120_000), &r(0)), Some((true, 60_000)));
        assert_eq!(granted(&n, &tree(true, 30_000), &r(0)), Some((true, 30_000)));
        assert_eq!(granted(&n, &tree(true, 120_000), &r(5_000)), Some((true, 5_000)));
        assert_eq!(granted(&n, &tree(true, 120_000), &r(900_000)), Some((true, 120_000)));
        assert_eq!(granted(&n, &tree(true, 0), &r(0)), Some((true, 60_000)));
    }

    #[test]
    fn context_combinations() {
        let id = FileId { persistent: 1, volatile: 2 };
        let c2 = CreateContext::DurableReconnectV2 { file_id: id, create_guid: [7; 16], flags: 0 };
        let c1 = CreateContext::DurableReconnect { file_id: id };
        let bad = |cs: Vec<CreateContext>| Durable::parse(&req(0, cs), true).unwrap_err();
        assert_eq!(bad(vec![dh2q(0, 0), CreateContext::DurableRequest]), NtStatus::INVALID_PARAMETER);
        assert_eq!(bad(vec![dh2q(0, 0), c2.clone()]), NtStatus::INVALID_PARAMETER);
        assert_eq!(bad(vec![c1.clone(), c2.clone()]), NtStatus::INVALID_PARAMETER);
        assert_eq!(bad(vec![c1.clone(), dh2q(0, 0)]), NtStatus::INVALID_PARAMETER);
        // DHnQ beside DHnC: the reconnect.
        assert!(matches!(
            Durable::parse(&req(0, vec![CreateContext::DurableRequest, c1]), true).unwrap(),
            Durable::ReconnectV1 { .. }
        ));
        assert!(matches!(Durable::parse(&req(0, vec![c2.clone()]), true).unwrap(), Durable::ReconnectV2 { .. }));
        // v2 contexts are ignored on 2.x.
        assert!(matches!(Durable::parse(&req(0, vec![c2]), false).unwrap(), Durable::None));
    }
}
