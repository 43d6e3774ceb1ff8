//! One file per SMB2 command; [`dispatch`] routes a parsed request.

use holdfast_smb_proto::Request;

use crate::ctx::{Ctx, HResult};

pub mod cancel;
pub mod change_notify;
pub mod channel_sequence;
pub mod close;
pub mod create;
mod copychunk;
mod create_checks;
mod lease_ctx;
pub mod durable;
mod ea;
pub mod echo;
pub mod flush;
pub mod ioctl;
pub mod lock;
pub mod logoff;
pub mod negotiate;
pub mod oplock_break;
pub mod query_directory;
pub mod query_info;
pub mod read;
pub mod session_setup;
pub mod set_info;
mod sparse;
pub mod tree_connect;
pub mod tree_disconnect;
pub mod write;

mod fileinfo;
pub mod wildcard;

pub async fn dispatch(ctx: &mut Ctx<'_>, req: Request<'_>) -> HResult {
    // Every command but NEGOTIATE needs a negotiated connection.
    if !matches!(req, Request::Negotiate(_)) && ctx.conn.neg.dialect == 0 {
        return Err(holdfast_types::ntstatus::NtStatus::INVALID_PARAMETER);
    }
    // The share's rules, at every request on its tree (`authz.rs`); an
    // unknown tree is the handler's to refuse.
    if crate::authz::on_tree(ctx.hdr.command) {
        let (tid, encrypted) = (ctx.tree_id, ctx.encrypted);
        if let Ok(s) = ctx.session() {
            if let Some(t) = s.trees.get(&tid) {
                t.rules.request(&s.user, encrypted)?;
            }
        }
    }
    // CREATE on IPC$ and requests on a pipe's FileId: the srvsvc pipe.
    if let Some(r) = crate::pipe::intercept(ctx, &req).await {
        return r;
    }
    match req {
        Request::Negotiate(r) => negotiate::handle(ctx, r).await,
        Request::SessionSetup(r) => session_setup::handle(ctx, r).await,
        Request::Logoff(_) => logoff::handle(ctx).await,
        Request::TreeConnect(r) => tree_connect::handle(ctx, r).await,
        Request::TreeDisconnect(_) => tree_disconnect::handle(ctx).await,
        Request::Create(r) => create::handle(ctx, r).await,
        Request::Close(r) => close::handle(ctx, r).await,
        Request::Flush(r) => flush::handle(ctx, r).await,
        Request::Read(r) => read::handle(ctx, r).await,
        Request::Write(r) => write::handle(ctx, r).await,
        Request::Lock(r) => lock::handle(ctx, r).await,
        Request::Ioctl(r) => ioctl::handle(ctx, r).await,
        Request::Cancel(_) => cancel::handle(ctx).await,
        Request::Echo(_) => echo::handle(ctx).await,
        Request::QueryDirectory(r) => query_directory::handle(ctx, r).await,
        Request::ChangeNotify(r) => change_notify::handle(ctx, r).await,
        Request::QueryInfo(r) => query_info::handle(ctx, r).await,
        Request::SetInfo(r) => set_info::handle(ctx, r).await,
        Request::OplockBreak(r) => oplock_break::handle(ctx, r).await,
    }
}
