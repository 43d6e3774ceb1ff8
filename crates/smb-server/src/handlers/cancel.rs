//! CANCEL: nothing goes async in this slice, so there is nothing to
//! cancel. The connection drops CANCEL before dispatch (it takes no credit
//! and gets no response); this handler exists so every command has one and
//! refuses to produce a response if it is ever reached.

use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult};

pub async fn handle(_ctx: &mut Ctx<'_>) -> HResult {
    Err(NtStatus::INVALID_PARAMETER)
}
