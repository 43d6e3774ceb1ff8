//! The sparse-file FSCTLs ([MS-FSCC] 2.3.64, 2.3.67, 2.3.51) to the file
//! server (`file-server/src/sparse_ops.rs`): SET_SPARSE, SET_ZERO_DATA and
//! QUERY_ALLOCATED_RANGES.

use bytes::BytesMut;
use holdfast_file_server::proto::{Reply as FsReply, Request as FsRequest};
use holdfast_smb_proto::FileId;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::Ctx;

pub const FSCTL_SET_SPARSE: u32 = 0x0009_00C4;
pub const FSCTL_SET_ZERO_DATA: u32 = 0x0009_80C8;
pub const FSCTL_QUERY_ALLOCATED_RANGES: u32 = 0x0009_40CF;
/// FILE_ZERO_DATA_INFORMATION and FILE_ALLOCATED_RANGE_BUFFER: two i64.
const RANGE_BYTES: usize = 16;

/// Two little-endian i64 at the start of `input`, neither negative.
fn two_offsets(input: &[u8]) -> Result<(u64, u64), NtStatus> {
    if input.len() < RANGE_BYTES {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let a = i64::from_le_bytes(input[0..8].try_into().expect("8 bytes"));
    let b = i64::from_le_bytes(input[8..16].try_into().expect("8 bytes"));
    if a < 0 || b < 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    Ok((a as u64, b as u64))
}

/// Runs one of the three; its output goes to `out`, and the answer's
/// status (BUFFER_OVERFLOW when not every range fits) is returned.
pub async fn handle(ctx: &mut Ctx<'_>, ctl_code: u32, file_id: FileId, input: &[u8], max_output: u32, out: &mut BytesMut) -> Result<NtStatus, NtStatus> {
    crate::handlers::channel_sequence::check(ctx, file_id).await?;
    let (fid, entry) = {
        let o = ctx.open(file_id)?;
        (o.fs_fid, o.entry)
    };
    let call = match ctl_code {
        // No buffer means "set"; a longer one than the one byte is fine.
        FSCTL_SET_SPARSE => FsRequest::SetSparse { fid, sparse: input.first().map_or(true, |&b| b != 0) },
        FSCTL_SET_ZERO_DATA => {
            let (offset, beyond) = two_offsets(input)?;
            // Zeroing is a write: other clients' caches go first.
            crate::breaks::contend(ctx.srv, entry).await;
            FsRequest::ZeroData { fid, offset, beyond }
        }
        FSCTL_QUERY_ALLOCATED_RANGES => {
            let (offset, length) = two_offsets(input)?;
            FsRequest::AllocatedRanges { fid, offset, length }
        }
        _ => return Err(NtStatus::NOT_SUPPORTED),
    };
    let fs = ctx.srv.fs().await?;
    let reply = match fs.call(&call).await {
        Ok(r) => r,
        Err(e) => return Err(ctx.srv.fs_error(e).await),
    };
    let FsReply::Ranges(ranges) = reply else { return Ok(NtStatus::SUCCESS) };
    // As many whole ranges as fit; none fitting is BUFFER_TOO_SMALL.
    let fit = max_output as usize / RANGE_BYTES;
    if fit == 0 && !ranges.is_empty() {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    }
    for (o, l) in ranges.iter().take(fit) {
        out.extend_from_slice(&o.to_le_bytes());
        out.extend_from_slice(&l.to_le_bytes());
    }
    Ok(if ranges.len() > fit { NtStatus::BUFFER_OVERFLOW } else { NtStatus::SUCCESS })
}
