//! CHANGE_NOTIFY: not offered yet.

use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult};

pub async fn handle(ctx: &mut Ctx<'_>) -> HResult {
    ctx.tree()?;
    Err(NtStatus::NOT_SUPPORTED)
}
