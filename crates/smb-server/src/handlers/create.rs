//! CREATE ([MS-SMB2] 3.3.5.9): an open on the file server. FileId =
//! (file-server fid, a per-connection counter) for a plain open, and
//! (handle-table id, a per-connection counter) for a durable or persistent
//! one, whose record is written through the file server before the
//! response (`durable.rs`).
//!
//! Caching first: the breaks this open needs are sent before the file
//! server sees it (an overwrite must not truncate under another client's
//! write cache); when one needs an acknowledgment the request goes async
//! and runs again once the breaks are done (`leases.rs`, `breaks.rs`).

use holdfast_file_server::proto::OpenReq;
use holdfast_smb_proto::msg::create::{disposition, CreateRequest};
use holdfast_smb_proto::msg::create_ctx::CreateContext;
use holdfast_smb_proto::FileId;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult};
use crate::handlers::durable::{self, Durable};
use crate::handlers::lease_ctx;
use crate::leases::{self, Entry, Holder, NewOpen};
use crate::state::{DirCursor, Open};

pub async fn handle(ctx: &mut Ctx<'_>, req: CreateRequest) -> HResult {
    let tree = ctx.tree()?;
    if tree.is_ipc {
        // Pipe opens are `pipe.rs`'s (dispatch hands them there first).
        return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    let opens_max = ctx.srv.cfg.limits.opens_max;
    if ctx.session()?.opens.len() >= opens_max {
        return Err(NtStatus::INSUFFICIENT_RESOURCES);
    }
    let d = Durable::parse(&req, ctx.conn.neg.is_smb3())?;
    // A reconnect's other fields are ignored, whatever they hold (smbtorture
    // durable-open.reopen2 sends nonsense there on purpose).
    if !matches!(d, Durable::ReconnectV1 { .. } | Durable::ReconnectV2 { .. }) {
        crate::handlers::create_checks::check(&req)?;
        // A read-only share: nothing that writes, creates or overwrites.
        tree.rules.create(req.desired_access, req.create_disposition)?;
    }
    match d {
        Durable::ReconnectV1 { .. } | Durable::ReconnectV2 { .. } => return durable::reconnect(ctx, &tree, &req, d).await,
        Durable::RequestV2 { create_guid, .. } => {
            if let Some(r) = durable::replay(ctx, &tree, &req, create_guid).await? {
                return Ok(r);
            }
        }
        _ => {}
    }
    if let Durable::RequestV2 { create_guid, .. } = d {
        close_app_instance(ctx, &tree.share, &req, create_guid).await;
    }
    let requested = lease_ctx::requested(&ctx.conn.neg, &req);
    let access = holdfast_file_server::access::map_generic(req.desired_access);
    // Windows' quota fake file stands for the share root, with fixed
    // attributes and no times (as Windows and Samba answer it).
    let quota = req.name.eq_ignore_ascii_case(QUOTA_FAKE_FILE);
    let name = if quota { String::new() } else { req.name.clone() };
    let key = leases::path_key(&name);
    if let Some(lid) = lease_ctx::lease_id(&requested) {
        // One lease key names one file ([MS-SMB2] 3.3.5.9.8), checked
        // before anything is opened or created.
        if ctx.srv.leases.lock().expect("lease table").lease_elsewhere(&lid, &tree.share, &key) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
    }
    let overwrite = matches!(req.create_disposition, disposition::SUPERSEDE | disposition::OVERWRITE | disposition::OVERWRITE_IF);
    let plan = ctx.srv.leases.lock().expect("lease table").plan_open(&NewOpen {
        share: &tree.share,
        path_key: &key,
        access,
        share_access: req.share_access,
        overwrite,
        lease: lease_ctx::lease_id(&requested),
        retry: ctx.resumed,
    });
    let (wait, blocked, unwaited) = (plan.wait, plan.blocked, plan.unwaited);
    crate::breaks::carry_out(ctx.srv, plan).await;
    if unwaited && !wait {
        // Breaks this open does not wait for still end in bounded time.
        tokio::spawn(crate::breaks::wait_breaks(ctx.srv.clone(), tree.share.clone(), key.clone()));
    }
    let create_key = match d {
        Durable::RequestV2 { create_guid, .. } if create_guid != [0; 16] => Some((ctx.conn.neg.client_guid, create_guid)),
        _ => None,
    };
    if let Some(k) = create_key {
        let mut p = ctx.srv.pending_creates.lock().expect("pending creates");
        if wait && !blocked {
            p.insert(k);
        } else {
            p.remove(&k);
        }
    }
    if blocked {
        return Err(NtStatus::FILE_NOT_AVAILABLE);
    }
    if wait {
        let w = crate::breaks::wait_breaks(ctx.srv.clone(), tree.share.clone(), key);
        let guard = create_key.map(|k| PendingCreate { srv: ctx.srv.clone(), key: k, waiting: true });
        let w = async move {
            let mut guard = guard;
            w.await;
            // Done waiting: the request runs again and settles the entry.
            if let Some(g) = guard.as_mut() {
                g.waiting = false;
            }
        };
        ctx.wait = Some(std::sync::Mutex::new(Box::pin(w)));
        return Err(NtStatus::PENDING);
    }
    // EAs are checked before anything is created, and set only on a file
    // this open creates or overwrites ([MS-FSA] 2.1.5.1.1).
    let eas = match req.contexts.iter().find_map(|c| if let CreateContext::ExtendedAttributes(b) = c { Some(b) } else { None }) {
        Some(b) => crate::handlers::ea::parse(b)?,
        None => Vec::new(),
    };
    // A descriptor for the new file (SecD) is checked before anything is
    // created; the file server stores it only on a file this open creates.
    let security = match req.contexts.iter().find_map(|c| if let CreateContext::SecurityDescriptor(b) = c { Some(b) } else { None }) {
        Some(b) => {
            holdfast_types::security::SecurityDescriptor::decode(b).map_err(|_| NtStatus::INVALID_SECURITY_DESCR)?;
            bytes::Bytes::copy_from_slice(b)
        }
        None => bytes::Bytes::new(),
    };
    let allocation_size = req
        .contexts
        .iter()
        .find_map(|c| if let CreateContext::AllocationSize(n) = c { Some(*n) } else { None })
        .unwrap_or(0);
    let o = OpenReq {
        share: tree.share.clone(),
        path: name.clone(),
        desired_access: req.desired_access,
        share_access: req.share_access,
        disposition: req.create_disposition,
        create_options: req.create_options,
        file_attributes: req.file_attributes,
        allocation_size,
        token: crate::identity::token_sids(&ctx.session()?.user),
        security,
    };
    let fs = ctx.srv.fs().await?;
    let (fid, create_action, mut info, granted_access) = match fs.open_granted(o).await {
        Ok(r) => r,
        Err(e) => return Err(ctx.srv.fs_error(e).await),
    };
    if !eas.is_empty() && create_action != holdfast_smb_proto::msg::create::create_action::OPENED {
        if let Err(st) = crate::handlers::ea::set(ctx.srv, fid, eas).await {
            let _ = fs.close(fid).await;
            return Err(st);
        }
    }
    if quota {
        use holdfast_smb_proto::file_attr::{ARCHIVE, DIRECTORY, HIDDEN, SYSTEM};
        info.attributes = HIDDEN | SYSTEM | DIRECTORY | ARCHIVE;
        (info.creation_time, info.last_access_time, info.last_write_time, info.change_time) = (0, 0, 0, 0);
    }
    let granted = ctx.srv.leases.lock().expect("lease table").grant(
        &tree.share,
        info.ino,
        info.is_dir,
        leases::open_access(access, overwrite),
        create_action != holdfast_smb_proto::msg::create::create_action::CREATED,
        &requested,
    );
    let granted = match granted {
        Ok(g) => g,
        Err(st) => {
            let _ = fs.close(fid).await;
            return Err(st);
        }
    };
    let mut contexts = Vec::new();
    let mut persistent_id = fid;
    let mut record = None;
    if let Some(g) = durable::grant(&ctx.conn.neg, &tree, &d, &granted, info.is_dir) {
        let user = ctx.session()?.user.clone();
        let owner = ctx.srv.owner_of(&user);
        let rec = durable::new_record(ctx, &tree, &req, &g, &info, create_action, owner, &granted, granted_access);
        // The grant is in the replicated handle table before the client
        // hears of it; if it cannot be written, the open is not durable.
        match fs.handle_put(&tree.share, fid, &rec).await {
            Ok(rec) => {
                persistent_id = rec.persistent_id;
                contexts.push(durable::response_context(&rec));
                record = Some(rec);
            }
            Err(e) => {
                tracing::warn!(path = %req.name, "durable handle not granted: {e}");
                if e.status().is_none() {
                    // The file-server connection broke: the open is gone too.
                    return Err(ctx.srv.fs_error(e).await);
                }
            }
        }
    }
    if let Some(l) = &granted.lease {
        contexts.push(lease_ctx::response(l));
    }
    durable::query_contexts(&req, &info, &mut contexts);
    let volatile = ctx.conn.next_volatile_id;
    ctx.conn.next_volatile_id += 1;
    let file_id = FileId { persistent: persistent_id, volatile };
    let durable_open = record.is_some();
    let entry = ctx.srv.leases.lock().expect("lease table").insert(Entry {
        share: tree.share.clone(),
        ino: info.ino,
        path_key: key,
        holder: Some(Holder { conn_id: ctx.conn.conn_id, session_id: ctx.session_id, file_id, tx: ctx.conn.cmd_tx.clone() }),
        access,
        share_access: req.share_access,
        oplock: granted.oplock,
        lease: granted.lease.as_ref().map(|l| (ctx.conn.neg.client_guid, l.key)),
        breaking_to: None,
        record,
        position: 0,
        create_key,
        replay_eligible: create_key.is_some(),
        create_action,
        disconnecting: false,
        delete_on_close: req.create_options & holdfast_smb_proto::msg::create::create_options::DELETE_ON_CLOSE != 0,
    });
    let tid = ctx.tree_id;
    let open = Open {
        fs_fid: fid,
        persistent_id,
        durable: durable_open,
        entry,
        replay_window: create_key.is_some(),
        tree_id: tid,
        path: name,
        is_dir: info.is_dir,
        granted_access,
        position: 0,
        mode: 0,
        write_through: req.create_options & holdfast_smb_proto::msg::create::create_options::WRITE_THROUGH != 0,
        channel_sequence: ctx.hdr.channel_sequence(),
        dir: DirCursor::default(),
    };
    ctx.session()?.opens.insert(volatile, open);
    ctx.last_file_id = Some(file_id);
    notify_create(ctx.srv, &tree.share, &req, create_action, info.is_dir);
    Ok(durable::response(file_id, create_action, &info, granted.oplock, contexts))
}

/// The name of Windows' quota fake file, which clients open to query
/// quotas.
const QUOTA_FAKE_FILE: &str = "$Extend\\$Quota:$Q:$INDEX_ALLOCATION";

/// [MS-SMB2] 3.3.5.9.13: a durable CREATE with an AppInstanceId closes the
/// other opens of that file by the same application instance (a failed-
/// over cluster application reopening its files), before any break.
async fn close_app_instance(ctx: &mut Ctx<'_>, share: &str, req: &CreateRequest, create_guid: [u8; 16]) {
    let Some(app) = req.contexts.iter().find_map(|c| if let CreateContext::AppInstanceId(g) = c { Some(*g) } else { None }) else {
        return;
    };
    if app == [0; 16] {
        return;
    }
    let key = leases::path_key(&req.name);
    let victims = ctx.srv.leases.lock().expect("lease table").app_instance_opens(share, &key, app, create_guid);
    for (entry, holder, persistent_id) in victims {
        match holder {
            Some(h) => {
                let (done, wait) = tokio::sync::oneshot::channel();
                let cmd = crate::server::ConnCmd::CloseOpen { session_id: h.session_id, volatile: h.file_id.volatile, done };
                if h.tx.send(cmd).is_ok() {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wait).await;
                }
            }
            None => {
                ctx.srv.leases.lock().expect("lease table").remove(entry);
                if let Ok(fs) = ctx.srv.fs().await {
                    let _ = fs.handle_delete(share, persistent_id).await;
                }
            }
        }
    }
}

/// A DH2Q CREATE's place in `Server::pending_creates` while it waits for
/// breaks. When the wait is dropped unfinished (CANCEL, or the connection
/// went) the CREATE will never run again, so the entry goes with it;
/// otherwise every later replay of that CreateGuid would be refused with
/// STATUS_FILE_NOT_AVAILABLE.
struct PendingCreate {
    srv: std::sync::Arc<crate::server::Server>,
    key: (holdfast_smb_proto::Guid, holdfast_smb_proto::Guid),
    waiting: bool,
}

impl Drop for PendingCreate {
    fn drop(&mut self) {
        if self.waiting {
            self.srv.pending_creates.lock().expect("pending creates").remove(&self.key);
        }
    }
}

/// What watchers of the parent directory hear of a CREATE that succeeded.
fn notify_create(srv: &crate::server::Server, share: &str, req: &CreateRequest, create_action: u32, is_dir: bool) {
    use holdfast_smb_proto::msg::change_notify::{action, filter};
    use holdfast_smb_proto::msg::create::{create_action as ca, create_options};
    match create_action {
        ca::CREATED => srv.notify.post(share, &req.name, action::ADDED, crate::notify::name_filter(is_dir)),
        ca::OVERWRITTEN | ca::SUPERSEDED => {
            srv.notify.post(share, &req.name, action::MODIFIED, filter::ATTRIBUTES | filter::SIZE | filter::LAST_WRITE)
        }
        _ => {}
    }
    if req.create_options & create_options::DELETE_ON_CLOSE != 0 {
        srv.notify.set_delete_pending(share, &req.name, is_dir, true);
    }
}
