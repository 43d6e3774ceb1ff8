//! TREE_CONNECT ([MS-SMB2] 3.3.5.7): IPC$ as a pipe share (so clients that
//! probe it are content), disk shares from the file server's `Shares`,
//! each behind its rules (`authz.rs`): who, which dialect, encryption.

use holdfast_smb_proto::msg::tree_connect::{TreeConnectRequest, TreeConnectResponse};
use holdfast_smb_proto::{access, share_caps, share_flags, share_type};
use holdfast_types::ntstatus::NtStatus;

use crate::authz::ShareRules;
use crate::ctx::{Ctx, HResult, Reply};
use crate::handlers::negotiate::session_cipher;
use crate::state::Tree;

pub async fn handle(ctx: &mut Ctx<'_>, req: TreeConnectRequest) -> HResult {
    let trees_max = ctx.srv.cfg.limits.trees_max;
    if ctx.session()?.trees.len() >= trees_max {
        return Err(NtStatus::INSUFFICIENT_RESOURCES);
    }
    let name = req.share_name().to_string();
    let tree = if name.eq_ignore_ascii_case("IPC$") {
        Tree { share: "IPC$".into(), is_ipc: true, ca: false, write_through: false, handle_timeout_ms: 0, rules: Default::default() }
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
        let rules = ShareRules::of(&sh);
        // Encryption needs a cipher agreed at NEGOTIATE (none on 2.x) and
        // the keys SESSION_SETUP derived with it.
        let can_encrypt = session_cipher(&ctx.conn.neg).is_some() && ctx.session()?.decrypt.is_some();
        let user = ctx.session()?.user.clone();
        if let Err(st) = rules.connect(&user, ctx.conn.neg.dialect, can_encrypt) {
            tracing::info!(share = %sh.name, user = %user, dialect = format!("{:#06x}", ctx.conn.neg.dialect), can_encrypt, "tree connect refused by the share's rules");
            return Err(st);
        }
        Tree {
            share: sh.name,
            is_ipc: false,
            ca: sh.ca,
            write_through: sh.write_through,
            handle_timeout_ms: sh.handle_timeout_ms,
            rules: std::sync::Arc::new(rules),
        }
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
            // The client encrypts every request on the tree from now on.
            share_flags: share_flags::MANUAL_CACHING | if tree.rules.encrypt { share_flags::ENCRYPT_DATA } else { 0 },
            capabilities: if tree.ca && ctx.conn.neg.is_smb3() { share_caps::CONTINUOUS_AVAILABILITY } else { 0 },
            maximal_access: tree.rules.maximal_access(),
        }
    };
    let s = ctx.session()?;
    let tid = s.next_tree_id;
    s.next_tree_id = s.next_tree_id.wrapping_add(1).max(1);
    s.trees.insert(tid, tree);
    ctx.new_tree_id = Some(tid);
    Ok(Reply::ok(&resp))
}
