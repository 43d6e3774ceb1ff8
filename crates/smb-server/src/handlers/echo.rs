//! ECHO: a keep-alive.

use holdfast_smb_proto::msg::echo::EchoResponse;

use crate::ctx::{Ctx, HResult, Reply};

pub async fn handle(_ctx: &mut Ctx<'_>) -> HResult {
    Ok(Reply::ok(&EchoResponse))
}
