//! SET_INFO ([MS-SMB2] 3.3.5.21): basic, rename, disposition, end of file,
//! allocation, EAs and security descriptors go to the file server; position and mode are kept on the
//! open and reported back, with no other effect (no buffered I/O state on
//! the server; every write is durable when acknowledged anyway).

use holdfast_file_server::proto::{Request as FsRequest, SetInfoReq};
use holdfast_smb_proto::info::set::{disposition_ex_flags, SetFileInfo};
use holdfast_smb_proto::msg::change_notify::{action, filter};
use holdfast_smb_proto::msg::query_info::info_type;
use holdfast_smb_proto::msg::set_info::{SetInfoRequest, SetInfoResponse};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};

/// FILE_WRITE_THROUGH, FILE_SEQUENTIAL_ONLY, FILE_NO_INTERMEDIATE_BUFFERING.
const SETTABLE_MODES: u32 = 0x2 | 0x4 | 0x8;

pub async fn handle(ctx: &mut Ctx<'_>, req: SetInfoRequest<'_>) -> HResult {
    crate::handlers::channel_sequence::check(ctx, req.file_id).await?;
    let (fid, entry, path, is_dir) = {
        let o = ctx.open(req.file_id)?;
        (o.fs_fid, o.entry, o.path.clone(), o.is_dir)
    };
    // A read-only share changes nothing (`authz.rs`); position and mode
    // are the open's own.
    use holdfast_smb_proto::info::file_class;
    if !(req.info_type == info_type::FILE && matches!(req.file_info_class, file_class::POSITION | file_class::MODE)) {
        ctx.tree()?.rules.set_info()?;
    }
    if req.info_type == info_type::SECURITY {
        // The file server checks WRITE_OWNER / WRITE_DAC against the open.
        if req.buffer.is_empty() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        holdfast_types::security::SecurityDescriptor::decode(req.buffer).map_err(|_| NtStatus::INVALID_SECURITY_DESCR)?;
        let fs = ctx.srv.fs().await?;
        let call = FsRequest::SetSecurity { fid, info: req.additional_information, sd: bytes::Bytes::copy_from_slice(req.buffer) };
        if let Err(e) = fs.call(&call).await {
            return Err(ctx.srv.fs_error(e).await);
        }
        ctx.srv.notify.post(&ctx.tree()?.share, &path, action::MODIFIED, filter::SECURITY);
        return Ok(Reply::ok(&SetInfoResponse));
    }
    if req.info_type != info_type::FILE {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    if req.file_info_class == holdfast_smb_proto::info::file_class::FULL_EA {
        let granted = ctx.open(req.file_id)?.granted_access;
        if holdfast_file_server::access::map_generic(granted) & holdfast_types::access::FILE_WRITE_EA == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let eas = crate::handlers::ea::parse(req.buffer)?;
        crate::handlers::ea::set(ctx.srv, fid, eas).await?;
        ctx.srv.notify.post(&ctx.tree()?.share, &path, action::MODIFIED, filter::EA);
        return Ok(Reply::ok(&SetInfoResponse));
    }
    let info = SetFileInfo::decode(req.file_info_class, req.buffer).map_err(|e| e.status())?;
    // [MS-FSA] 2.1.5.14.2: a file cannot be made a directory, nor a
    // directory temporary.
    if let SetFileInfo::Basic(b) = &info {
        use holdfast_smb_proto::file_attr::{DIRECTORY, TEMPORARY};
        if !is_dir && b.file_attributes & DIRECTORY != 0 || is_dir && b.file_attributes & TEMPORARY != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
    }
    let call = match info {
        SetFileInfo::Basic(b) => FsRequest::SetInfo(SetInfoReq {
            fid,
            attributes: nonzero32(b.file_attributes),
            creation_time: time(b.creation_time),
            last_access_time: time(b.last_access_time),
            last_write_time: time(b.last_write_time),
            change_time: time(b.change_time),
            ..Default::default()
        }),
        SetFileInfo::Rename(r) => {
            if r.root_directory != 0 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            // Relative to the share root; some clients lead with a separator.
            let new_path = r.file_name.trim_start_matches('\\').to_string();
            // A stream is renamed by its new name alone (`:new[:$DATA]`),
            // within its file.
            let new_path = if new_path.starts_with(':') {
                let last = path.rfind('\\').map_or(0, |i| i + 1);
                let file_end = path[last..].find(':').map_or(path.len(), |i| last + i);
                format!("{}{new_path}", &path[..file_end])
            } else {
                new_path
            };
            FsRequest::Rename { fid, new_path, replace: r.replace_if_exists }
        }
        SetFileInfo::Disposition { delete_pending } => {
            FsRequest::SetInfo(SetInfoReq { fid, delete_on_close: Some(delete_pending), ..Default::default() })
        }
        SetFileInfo::DispositionEx { flags } => FsRequest::SetInfo(SetInfoReq {
            fid,
            delete_on_close: Some(flags & disposition_ex_flags::DELETE != 0),
            ..Default::default()
        }),
        SetFileInfo::EndOfFile(n) => FsRequest::SetInfo(SetInfoReq { fid, end_of_file: Some(n), ..Default::default() }),
        SetFileInfo::Allocation(n) => {
            FsRequest::SetInfo(SetInfoReq { fid, allocation_size: Some(n), ..Default::default() })
        }
        SetFileInfo::Position(p) => {
            if let Some(e) = ctx.srv.leases.lock().expect("lease table").entry_mut(entry) {
                e.position = p;
            }
            ctx.open(req.file_id)?.position = p;
            return Ok(Reply::ok(&SetInfoResponse));
        }
        SetFileInfo::Mode(mode) => {
            // [MS-FSA] 2.1.5.14.7: only these may be set here (the
            // synchronous-I/O flags are fixed at create, and no SMB2 open
            // has them).
            if mode & !SETTABLE_MODES != 0 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            ctx.open(req.file_id)?.mode = mode;
            return Ok(Reply::ok(&SetInfoResponse));
        }
        SetFileInfo::Link(_) => return Err(NtStatus::NOT_SUPPORTED),
        SetFileInfo::Other { .. } => return Err(NtStatus::INVALID_INFO_CLASS),
    };
    if let FsRequest::Rename { .. } = call {
        // Windows refuses to rename a directory with files open below it.
        if is_dir && ctx.srv.leases.lock().expect("lease table").opens_below(&ctx.tree()?.share, &crate::leases::path_key(&path)) {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let planned = {
            let mut t = ctx.srv.leases.lock().expect("lease table");
            let key = t.entry(entry).map(|e| (e.share.clone(), e.path_key.clone()));
            key.map(|(share, path_key)| (t.plan_handle_break(entry), share, path_key))
        };
        if let Some((plan, share, path_key)) = planned {
            crate::breaks::carry_out_or_wait(ctx, plan, share, path_key).await?;
        }
    }
    if matches!(call, FsRequest::SetInfo(SetInfoReq { end_of_file: Some(_), .. } | SetInfoReq { allocation_size: Some(_), .. })) {
        crate::breaks::contend(ctx.srv, entry).await;
    }
    let fs = ctx.srv.fs().await?;
    if let Err(e) = fs.call(&call).await {
        return Err(ctx.srv.fs_error(e).await);
    }
    if let FsRequest::SetInfo(SetInfoReq { delete_on_close: Some(d), .. }) = call {
        // A durable open's record says whether the file goes when the
        // handle does: a takeover or an expiry honours it.
        let rec = {
            let mut t = ctx.srv.leases.lock().expect("lease table");
            t.set_delete_pending(entry, d);
            t.entry_mut(entry).and_then(|e| e.record.as_mut()).filter(|r| r.delete_on_close != d).map(|r| {
                r.delete_on_close = d;
                r.clone()
            })
        };
        if let Some(r) = rec {
            crate::breaks::write_records(ctx.srv, vec![r]).await;
        }
    }
    notify(ctx.srv, &ctx.tree()?.share, &path, is_dir, &call);
    if let FsRequest::Rename { new_path, .. } = call {
        ctx.srv.leases.lock().expect("lease table").renamed(entry, &new_path);
        ctx.open(req.file_id)?.path = new_path;
    }
    Ok(Reply::ok(&SetInfoResponse))
}

/// What watchers hear of a SET_INFO that succeeded on `path`.
fn notify(srv: &crate::server::Server, share: &str, path: &str, is_dir: bool, call: &FsRequest) {
    let w = &srv.notify;
    match call {
        FsRequest::Rename { new_path, .. } => {
            let names = crate::notify::name_filter(is_dir);
            let parent = |p: &str| crate::leases::path_key(p.rsplit_once('\\').map_or("", |(d, _)| d));
            if parent(path) == parent(new_path) {
                w.post(share, path, action::RENAMED_OLD_NAME, names);
                w.post(share, new_path, action::RENAMED_NEW_NAME, names);
            } else {
                w.post(share, path, action::REMOVED, names);
                w.post(share, new_path, action::ADDED, names);
            }
        }
        FsRequest::SetInfo(s) => {
            if let Some(d) = s.delete_on_close {
                w.set_delete_pending(share, path, is_dir, d);
            }
            let mut bits = 0;
            for (set, bit) in [
                (s.attributes.is_some(), filter::ATTRIBUTES),
                (s.creation_time.is_some(), filter::CREATION),
                (s.last_access_time.is_some(), filter::LAST_ACCESS),
                (s.last_write_time.is_some(), filter::LAST_WRITE),
                (s.end_of_file.is_some() || s.allocation_size.is_some(), filter::SIZE),
            ] {
                if set {
                    bits |= bit;
                }
            }
            if bits != 0 {
                w.post(share, path, action::MODIFIED, bits);
            }
        }
        _ => {}
    }
}

fn nonzero32(v: u32) -> Option<u32> {
    (v != 0).then_some(v)
}

/// 0 leaves a time alone; -1 and -2 (stop/resume automatic updates) are
/// taken as "leave alone" too, since the file server has no such mode.
fn time(v: u64) -> Option<u64> {
    (v != 0 && v < u64::MAX - 1).then_some(v)
}
