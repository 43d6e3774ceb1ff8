//! Server-side copy ([MS-SMB2] 3.3.5.15.6, 3.3.5.15.7): Windows Explorer
//! and Hyper-V copy within a share with FSCTL_SRV_REQUEST_RESUME_KEY on
//! the source and FSCTL_SRV_COPYCHUNK(_WRITE) on the target, so the data
//! never crosses the network. Each chunk is a file-server READ and WRITE,
//! with the same access, lock and break rules as the client's own.

use bytes::BytesMut;
use holdfast_file_server::access::{map_generic, may_read, FILE_READ_DATA, FILE_WRITE_DATA};
use holdfast_smb_proto::msg::change_notify::{action, filter};
use holdfast_smb_proto::msg::copychunk::{encode_resume_key, CopyChunkRequest, CopyChunkResponse, ResumeKey};
use holdfast_smb_proto::FileId;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::Ctx;

/// Chunks in one request (Windows' default ServerSideCopyMaxNumberofChunks).
pub const COPYCHUNK_CHUNKS_MAX: u32 = 256;
/// Bytes in one chunk (ServerSideCopyMaxChunkSize).
pub const COPYCHUNK_CHUNK_BYTES_MAX: u32 = 1024 * 1024;
/// Bytes in one request (ServerSideCopyMaxDataSize).
pub const COPYCHUNK_TOTAL_BYTES_MAX: u32 = 16 * 1024 * 1024;

/// The resume key of an open: its FileId and a tag of this service
/// instance (a key from another instance names nothing here).
fn resume_key(srv_guid: &[u8; 16], id: FileId) -> ResumeKey {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&id.persistent.to_le_bytes());
    k[8..16].copy_from_slice(&id.volatile.to_le_bytes());
    k[16..].copy_from_slice(&srv_guid[..8]);
    k
}

/// FSCTL_SRV_REQUEST_RESUME_KEY.
pub fn request_resume_key(ctx: &mut Ctx<'_>, file_id: FileId, out: &mut BytesMut) -> Result<(), NtStatus> {
    ctx.open(file_id)?;
    let id = ctx.file_id(file_id);
    encode_resume_key(&resume_key(&ctx.srv.guid, id), out);
    Ok(())
}

/// The source open a resume key names: any open of this connection.
fn source_of(ctx: &Ctx<'_>, key: &ResumeKey) -> Option<(u64, u32, bool)> {
    if key[16..] != ctx.srv.guid[..8] {
        return None;
    }
    let persistent = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
    let volatile = u64::from_le_bytes(key[8..16].try_into().expect("8 bytes"));
    ctx.conn.sessions.values().filter(|s| s.is_valid()).find_map(|s| {
        s.opens.get(&volatile).filter(|o| o.persistent_id == persistent).map(|o| (o.fs_fid, o.granted_access, o.is_dir))
    })
}

/// FSCTL_SRV_COPYCHUNK (`write` false) or _WRITE on the target `file_id`:
/// the status, with the response in `out`. A request over the limits is
/// answered with them and STATUS_INVALID_PARAMETER; a copy that stops
/// (a lock, the source's end) says how far it got, as Windows does.
pub async fn copy(ctx: &mut Ctx<'_>, file_id: FileId, write: bool, req: &CopyChunkRequest, out: &mut BytesMut) -> Result<NtStatus, NtStatus> {
    let (target, target_access, target_entry, target_dir) = {
        let o = ctx.open(file_id)?;
        (o.fs_fid, map_generic(o.granted_access), o.entry, o.is_dir)
    };
    let total: u64 = req.chunks.iter().map(|c| u64::from(c.length)).sum();
    if req.chunks.len() as u64 > u64::from(COPYCHUNK_CHUNKS_MAX)
        || req.chunks.iter().any(|c| c.length == 0 || c.length > COPYCHUNK_CHUNK_BYTES_MAX)
        || total > u64::from(COPYCHUNK_TOTAL_BYTES_MAX)
    {
        CopyChunkResponse {
            chunks_written: COPYCHUNK_CHUNKS_MAX,
            chunk_bytes_written: COPYCHUNK_CHUNK_BYTES_MAX,
            total_bytes_written: COPYCHUNK_TOTAL_BYTES_MAX,
        }
        .encode(out);
        return Ok(NtStatus::INVALID_PARAMETER);
    }
    let (source, source_access, source_dir) = source_of(ctx, &req.source_key).ok_or(NtStatus::OBJECT_NAME_NOT_FOUND)?;
    // [MS-SMB2] 3.3.5.15.6: the source readable (FILE_EXECUTE will do, as
    // for a READ), the target writable and, for COPYCHUNK (not _WRITE),
    // open for FILE_READ_DATA too.
    let has = |access: u32, bit: u32| access & bit != 0;
    if !may_read(map_generic(source_access)) || !has(target_access, FILE_WRITE_DATA) || (!write && !has(target_access, FILE_READ_DATA)) {
        return Err(NtStatus::ACCESS_DENIED);
    }
    if source_dir || target_dir {
        return Err(NtStatus::INVALID_DEVICE_REQUEST);
    }
    crate::breaks::contend(ctx.srv, target_entry).await;
    let fs = ctx.srv.fs().await?;
    let mut done = CopyChunkResponse::default();
    let mut status = NtStatus::SUCCESS;
    for c in &req.chunks {
        let data = match fs.read(source, c.source_offset, c.length).await {
            // A chunk that reaches past the source's end copies nothing.
            Ok(d) if (d.len() as u32) < c.length => {
                status = NtStatus::INVALID_VIEW_SIZE;
                break;
            }
            Ok(d) => d,
            Err(e) => {
                status = ctx.srv.fs_error(e).await;
                break;
            }
        };
        match fs.write(target, c.target_offset, data).await {
            Ok(n) => {
                done.chunks_written += 1;
                done.total_bytes_written += n;
            }
            Err(e) => {
                status = ctx.srv.fs_error(e).await;
                break;
            }
        }
    }
    if done.chunks_written > 0 && ctx.srv.notify.any() {
        let path = ctx.open(file_id)?.path.clone();
        ctx.srv.notify.post(&ctx.tree()?.share, &path, action::MODIFIED, filter::SIZE | filter::LAST_WRITE);
    }
    done.encode(out);
    Ok(status)
}
