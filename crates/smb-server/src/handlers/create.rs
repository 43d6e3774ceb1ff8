//! CREATE ([MS-SMB2] 3.3.5.9): an open on the file server. FileId =
//! (file-server fid, a per-connection counter) for a plain open, and
//! (handle-table id, a per-connection counter) for a durable or persistent
//! one, whose record is written through the file server before the
//! response (`durable.rs`). MxAc and QFid are answered; lease contexts are
//! ignored and no oplock is granted.

use holdfast_file_server::proto::OpenReq;
use holdfast_smb_proto::msg::create::{oplock_level, CreateRequest};
use holdfast_smb_proto::msg::create_ctx::CreateContext;
use holdfast_smb_proto::FileId;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult};
use crate::handlers::durable::{self, Durable};
use crate::state::{DirCursor, Open};

pub async fn handle(ctx: &mut Ctx<'_>, req: CreateRequest) -> HResult {
    let tree = ctx.tree()?;
    if tree.is_ipc {
        // No named pipes (no RPC services) yet.
        return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    let opens_max = ctx.srv.cfg.limits.opens_max;
    if ctx.session()?.opens.len() >= opens_max {
        return Err(NtStatus::INSUFFICIENT_RESOURCES);
    }
    let d = Durable::parse(&req, ctx.conn.neg.is_smb3())?;
    match d {
        Durable::ReconnectV1 { .. } | Durable::ReconnectV2 { .. } => return durable::reconnect(ctx, &tree, &req, d).await,
        Durable::RequestV2 { create_guid, .. } => {
            if let Some(r) = durable::replay(ctx, &tree, &req, create_guid).await? {
                return Ok(r);
            }
        }
        _ => {}
    }
    let allocation_size = req
        .contexts
        .iter()
        .find_map(|c| if let CreateContext::AllocationSize(n) = c { Some(*n) } else { None })
        .unwrap_or(0);
    let o = OpenReq {
        share: tree.share.clone(),
        path: req.name.clone(),
        desired_access: req.desired_access,
        share_access: req.share_access,
        disposition: req.create_disposition,
        create_options: req.create_options,
        file_attributes: req.file_attributes,
        allocation_size,
    };
    let fs = ctx.srv.fs().await?;
    let (fid, create_action, info) = match fs.open(o).await {
        Ok(r) => r,
        Err(e) => return Err(ctx.srv.fs_error(e).await),
    };
    let mut contexts = Vec::new();
    let mut persistent_id = fid;
    let mut record = None;
    if let Some(g) = durable::grant(&ctx.conn.neg, &tree, &req, &d, info.is_dir) {
        let user = ctx.session()?.user.clone();
        let owner = ctx.srv.owner_of(&user);
        let rec = durable::new_record(ctx, &tree, &req, &g, &info, create_action, owner);
        // The grant is in the replicated handle table before the client
        // hears of it; if it cannot be written, the open is not durable.
        match fs.handle_put(&tree.share, fid, &rec).await {
            Ok(rec) => {
                persistent_id = rec.persistent_id;
                contexts.push(durable::response_context(&rec));
                record = Some(Box::new(rec));
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
    durable::query_contexts(&req, &info, &mut contexts);
    let volatile = ctx.conn.next_volatile_id;
    ctx.conn.next_volatile_id += 1;
    let file_id = FileId { persistent: persistent_id, volatile };
    let tid = ctx.tree_id;
    let open = Open {
        fs_fid: fid,
        persistent_id,
        durable: record,
        tree_id: tid,
        path: req.name.clone(),
        is_dir: info.is_dir,
        granted_access: req.desired_access,
        dir: DirCursor::default(),
    };
    ctx.session()?.opens.insert(volatile, open);
    ctx.last_file_id = Some(file_id);
    Ok(durable::response(file_id, create_action, &info, oplock_level::NONE, contexts))
}
