//! QUERY_DIRECTORY ([MS-SMB2] 3.3.5.18): entries from the file server's
//! Readdir, filtered by the pattern, `.` and `..` first (smbclient expects
//! them in the root too), resumed strictly after the last name returned.

use holdfast_file_server::proto::{FileInfo, Reply as FsReply, Request as FsRequest};
use holdfast_smb_proto::info::dir::{encode_dir_entries, DirEntry, DirInfoClass};
use holdfast_smb_proto::msg::query_directory::{query_directory_flags as qd, QueryDirectoryRequest, QueryDirectoryResponse};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::handlers::{fileinfo, wildcard};
use crate::state::DirCursor;

/// Entries asked of the file server per Readdir.
const READDIR_BATCH_ENTRIES: u32 = 256;
/// Matching entries gathered for one response at most.
const RESPONSE_ENTRIES_MAX: usize = 1024;

pub async fn handle(ctx: &mut Ctx<'_>, req: QueryDirectoryRequest) -> HResult {
    let class = DirInfoClass::from_u8(req.file_information_class).map_err(|e| e.status())?;
    let o = ctx.open(req.file_id)?;
    if !o.is_dir {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let fid = o.fs_fid;
    let first_call = !o.dir.started || req.flags & (qd::RESTART_SCANS | qd::REOPEN) != 0;
    if first_call {
        let pattern = if req.pattern.is_empty() { "*".to_string() } else { req.pattern.clone() };
        o.dir = DirCursor { started: true, pattern, ..Default::default() };
    }
    if o.dir.ended {
        return Err(NtStatus::NO_MORE_FILES);
    }
    let cursor = o.dir.clone();
    let fs = ctx.srv.fs().await?;
    let mut found: Vec<(String, FileInfo)> = Vec::new();
    let dots_left: Vec<&str> = [".", ".."].into_iter().filter(|d| wildcard::matches(&cursor.pattern, d)).skip(cursor.dots_sent).collect();
    let dots = dots_left.len();
    if dots > 0 {
        let me = match fs.call(&FsRequest::Stat { fid }).await {
            Ok(FsReply::Info(i)) => i,
            Ok(_) => return Err(NtStatus::INTERNAL_ERROR),
            Err(e) => return Err(ctx.srv.fs_error(e).await),
        };
        found.extend(dots_left.into_iter().map(|d| (d.to_string(), me)));
    }
    let mut after = cursor.after.clone();
    let single = req.flags & qd::RETURN_SINGLE_ENTRY != 0;
    let want = if single { 1 } else { RESPONSE_ENTRIES_MAX };
    while found.len() < want {
        let batch = match fs.call(&FsRequest::Readdir { fid, after: after.clone(), max: READDIR_BATCH_ENTRIES }).await {
            Ok(FsReply::Entries(v)) => v,
            Ok(_) => return Err(NtStatus::INTERNAL_ERROR),
            Err(e) if e.status() == Some(NtStatus::NO_MORE_FILES) => break,
            Err(e) => return Err(ctx.srv.fs_error(e).await),
        };
        let Some(last) = batch.last() else { break };
        after = last.name.clone();
        let short = batch.len() < READDIR_BATCH_ENTRIES as usize;
        found.extend(batch.into_iter().filter(|e| wildcard::matches(&cursor.pattern, &e.name)).map(|e| (e.name, e.info)));
        if short {
            break;
        }
    }
    found.truncate(want);
    let entries: Vec<DirEntry<'_>> = found.iter().map(|(n, i)| entry(n, i)).collect();
    let mut out = bytes::BytesMut::new();
    let count = encode_dir_entries(class, &entries, req.output_buffer_length, &mut out);
    let o = ctx.open(req.file_id)?;
    if count == 0 {
        if !found.is_empty() {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        o.dir.ended = true;
        // A first search that matches nothing is "no such file".
        return Err(if first_call { NtStatus::NO_SUCH_FILE } else { NtStatus::NO_MORE_FILES });
    }
    o.dir.dots_sent += count.min(dots);
    if count > dots {
        o.dir.after = found[count - 1].0.clone();
    }
    Ok(Reply::ok(&QueryDirectoryResponse { output: &out }))
}

fn entry<'a>(name: &'a str, i: &FileInfo) -> DirEntry<'a> {
    DirEntry {
        name,
        file_index: 0,
        creation_time: i.creation_time,
        last_access_time: i.last_access_time,
        last_write_time: i.last_write_time,
        change_time: i.change_time,
        end_of_file: i.size_bytes,
        allocation_size: i.allocation_bytes,
        file_attributes: fileinfo::attributes(i),
        ea_size: i.ea_size,
        file_id: i.ino,
        reparse_tag: 0,
    }
}
