//! LOGOFF: closes the session's opens on the file server (durable ones
//! stay, disconnected, for a reconnect as Samba keeps them), then forgets
//! the session once its (signed) response is out.

use holdfast_smb_proto::msg::logoff::LogoffResponse;

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(ctx: &mut Ctx<'_>) -> HResult {
    let s = ctx.session()?;
    // Kept until the response is signed with its key (the connection
    // removes it then); no request gets through in the meantime.
    s.logged_off = true;
    s.trees.clear();
    let opens = std::mem::take(&mut s.opens);
    crate::cleanup::disconnect_opens(ctx.srv, opens.into_values()).await;
    Ok(Reply::ok(&LogoffResponse))
}
