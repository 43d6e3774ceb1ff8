//! CHANGE_NOTIFY ([MS-SMB2] 3.3.5.19) on a directory handle: answered at
//! once when the handle's watch has collected changes, else it goes async
//! and runs again when a change or the handle's close comes (`notify.rs`).
//! Changes are the ones made through this service.

use holdfast_smb_proto::msg::change_notify::{ChangeNotifyRequest, ChangeNotifyResponse, WATCH_TREE};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::notify::{Outcome, WatchSpec};

/// FILE_LIST_DIRECTORY, the access right a watch needs.
const FILE_LIST_DIRECTORY: u32 = 0x0000_0001;

pub async fn handle(ctx: &mut Ctx<'_>, req: ChangeNotifyRequest) -> HResult {
    let key = (ctx.conn.conn_id, ctx.file_id(req.file_id).volatile);
    // A close ends a waiting request with NOTIFY_CLEANUP, and by then the
    // open is gone: the watch is asked first.
    let open = ctx.open(req.file_id).map(|o| (o.is_dir, o.path.clone(), o.granted_access));
    let (is_dir, path, granted) = match open {
        Ok(o) => o,
        Err(st) => {
            if ctx.srv.notify.take_cleanup(key) {
                return Ok(Reply::with_status(NtStatus::NOTIFY_CLEANUP, &ChangeNotifyResponse::default()));
            }
            return Err(st);
        }
    };
    if !is_dir {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // Watching a directory is listing it ([MS-SMB2] 3.3.5.19).
    if holdfast_file_server::access::map_generic(granted) & FILE_LIST_DIRECTORY == 0 {
        return Err(NtStatus::ACCESS_DENIED);
    }
    let max = crate::handlers::negotiate::io_size_bytes(&ctx.conn.neg);
    if req.output_buffer_length > max {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let share = ctx.tree()?.share;
    let dir_key = crate::leases::path_key(&path);
    let spec = WatchSpec {
        share: &share,
        dir_key: &dir_key,
        recursive: req.flags & WATCH_TREE != 0,
        filter: req.completion_filter,
        buffer_bytes: req.output_buffer_length,
    };
    match ctx.srv.notify.request(key, &spec, req.output_buffer_length) {
        Outcome::Changes(c) => {
            let changes = c.into_iter().map(|c| (c.action, c.name)).collect();
            Ok(Reply::ok(&ChangeNotifyResponse { changes }))
        }
        Outcome::EnumDir => Ok(Reply::with_status(NtStatus::NOTIFY_ENUM_DIR, &ChangeNotifyResponse::default())),
        Outcome::Cleanup => Ok(Reply::with_status(NtStatus::NOTIFY_CLEANUP, &ChangeNotifyResponse::default())),
        Outcome::DeletePending => Err(NtStatus::DELETE_PENDING),
        Outcome::Wait(mut rx) => {
            ctx.wait = Some(std::sync::Mutex::new(Box::pin(async move {
                let _ = rx.changed().await;
            })));
            Err(NtStatus::PENDING)
        }
    }
}
