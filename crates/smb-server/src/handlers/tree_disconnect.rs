//! TREE_DISCONNECT: closes the tree's opens, then forgets it.

use holdfast_smb_proto::msg::tree_disconnect::TreeDisconnectResponse;

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(ctx: &mut Ctx<'_>) -> HResult {
    ctx.tree()?;
    let tid = ctx.tree_id;
    let s = ctx.session()?;
    s.trees.remove(&tid);
    s.pipes.retain(|_, p| p.tree_id != tid);
    let ids: Vec<u64> = s.opens.iter().filter(|(_, o)| o.tree_id == tid).map(|(k, _)| *k).collect();
    let opens: Vec<_> = ids.iter().filter_map(|k| s.opens.remove(k)).collect();
    crate::cleanup::close_opens(ctx.srv, opens.into_iter()).await;
    Ok(Reply::ok(&TreeDisconnectResponse))
}
