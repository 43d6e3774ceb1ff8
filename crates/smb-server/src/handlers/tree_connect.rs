//! TREE_CONNECT ([MS-SMB2] 3.3.5.7): IPC$ as a pipe share (so clients that
//! probe it are content), disk shares from the file server's `Shares`.

use holdfast_smb_proto::msg::tree_connect::{TreeConnectRequest, TreeConnectResponse};
use holdfast_smb_proto::{access, share_caps, share_flags, share_type};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::state::Tree;

pub async fn handle(ctx: &mut Ctx<'_>, req: TreeConnectRequest) -> HResult {
    let trees_max = ctx.srv.cfg.limits.trees_max;
    if ctx.session()?.trees.len() >= trees_max {
        return Err(NtStatus::INSUFFICIENT_RESOURCES);
    }
    let name = req.share_name().to_string();
    let tree = if name.eq_ignore_ascii_case("IPC$") {
        Tree { share: "IPC$".into(), is_ipc: true, ca: false, write_through: false, handle_timeout_ms: 0 }
    } else {
        let served = &ctx.srv.cfg.shares;
        if !served.is_empty() && !served.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            return Err(NtStatus::BAD_NETWORK_NAME);
        }
        let fs = ctx.srv.fs().await?;
        let shares = match fs.shares().await {
            Ok(s) => s,
            Err(e) => return Err(ctx.srv.fs_error(e).await),
        };
        let sh = shares.into_iter().find(|s| s.name.eq_ignore_ascii_case(&name)).ok_or(NtStatus::BAD_NETWORK_NAME)?;
        Tree { share: sh.name, is_ipc: false, ca: sh.ca, write_through: sh.write_through, handle_timeout_ms: sh.handle_timeout_ms }
    };
    let resp = if tree.is_ipc {
        TreeConnectResponse {
            share_type: share_type::PIPE,
            share_flags: share_flags::NO_CACHING,
            capabilities: 0,
            maximal_access: access::FILE_ALL_ACCESS,
        }
    } else {
        TreeConnectResponse {
            share_type: share_type::DISK,
            share_flags: share_flags::MANUAL_CACHING,
            capabilities: if tree.ca && ctx.conn.neg.is_smb3() { share_caps::CONTINUOUS_AVAILABILITY } else { 0 },
            maximal_access: access::FILE_ALL_ACCESS,
        }
    };
    let s = ctx.session()?;
    let tid = s.next_tree_id;
    s.next_tree_id = s.next_tree_id.wrapping_add(1).max(1);
    s.trees.insert(tid, tree);
    ctx.new_tree_id = Some(tid);
    Ok(Reply::ok(&resp))
}
