//! CREATE ([MS-SMB2] 3.3.5.9): an open on the file server. FileId =
//! (file-server fid, a per-connection counter). MxAc and QFid are
//! answered; durable/persistent and lease contexts are ignored in this
//! slice, and no oplock is granted.

use holdfast_file_server::proto::OpenReq;
use holdfast_smb_proto::msg::create::{oplock_level, CreateRequest, CreateResponse};
use holdfast_smb_proto::msg::create_ctx::{CreateContext, CreateResponseContext};
use holdfast_smb_proto::FileId;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::handlers::fileinfo;
use crate::state::{DirCursor, Open};

/// What MAXIMUM_ALLOWED grants (shares have no per-file ACLs yet).
const MAXIMAL_ACCESS: u32 = holdfast_smb_proto::access::FILE_ALL_ACCESS;

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
    let volatile = ctx.conn.next_volatile_id;
    ctx.conn.next_volatile_id += 1;
    let file_id = FileId { persistent: fid, volatile };
    let mut contexts = Vec::new();
    for c in &req.contexts {
        match c {
            CreateContext::QueryMaximalAccess { .. } => contexts
                .push(CreateResponseContext::MaximalAccess { query_status: 0, maximal_access: MAXIMAL_ACCESS }),
            CreateContext::QueryOnDiskId => {
                contexts.push(CreateResponseContext::OnDiskId { disk_file_id: info.ino, volume_id: 0 })
            }
            _ => {}
        }
    }
    let tid = ctx.tree_id;
    let open = Open {
        fs_fid: fid,
        tree_id: tid,
        path: req.name.clone(),
        is_dir: info.is_dir,
        granted_access: req.desired_access,
        dir: DirCursor::default(),
    };
    ctx.session()?.opens.insert(volatile, open);
    ctx.last_file_id = Some(file_id);
    Ok(Reply::ok(&CreateResponse {
        oplock_level: oplock_level::NONE,
        flags: 0,
        create_action,
        creation_time: info.creation_time,
        last_access_time: info.last_access_time,
        last_write_time: info.last_write_time,
        change_time: info.change_time,
        allocation_size: info.allocation_bytes,
        end_of_file: info.size_bytes,
        file_attributes: fileinfo::attributes(&info),
        file_id,
        contexts,
    }))
}
