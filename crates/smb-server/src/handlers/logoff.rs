//! LOGOFF: closes the session's opens on the file server (durable ones
//! stay, disconnected, for a reconnect as Samba keeps them), then forgets
//! the session once its (signed) response is out.

use holdfast_smb_proto::msg::logoff::LogoffResponse;

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(ctx: &mut Ctx<'_>) -> HResult {
    ctx.session()?;
    // Kept until the response is signed with its key (the connection
    // removes it then); no request gets through in the meantime.
    let opens = crate::cleanup::expire_session(ctx.conn, ctx.session_id).unwrap_or_default();
    crate::cleanup::disconnect_opens(ctx.srv, opens.into_iter()).await;
    Ok(Reply::ok(&LogoffResponse))
}
