//! IOCTL ([MS-SMB2] 3.3.5.15): FSCTL_VALIDATE_NEGOTIATE_INFO,
//! FSCTL_QUERY_NETWORK_INTERFACE_INFO, server-side copy (`copychunk.rs`),
//! the sparse-file FSCTLs (`sparse.rs`), FSCTL_GET/SET_COMPRESSION (never
//! compressed) and FSCTL_CREATE_OR_GET_OBJECT_ID; everything else
//! STATUS_NOT_SUPPORTED (DFS referrals STATUS_FS_DRIVER_REQUIRED, as a
//! server without DFS answers).

use bytes::BytesMut;
use holdfast_smb_proto::msg::fsctl::{
    encode_network_interfaces, Fsctl, NetworkInterface, ValidateNegotiateInfoRequest, ValidateNegotiateInfoResponse,
};
use holdfast_smb_proto::msg::copychunk::CopyChunkResponse;
use holdfast_smb_proto::msg::ioctl::{IoctlRequest, IoctlResponse};
use holdfast_smb_proto::FileId;
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};
use crate::error::status;
use crate::handlers::sparse;

/// Link speed announced for the loopback/host interface: 10 Gbit/s.
const LINK_SPEED_BITS_PER_S: u64 = 10_000_000_000;

pub async fn handle(ctx: &mut Ctx<'_>, req: IoctlRequest<'_>) -> HResult {
    ctx.session()?;
    if !req.is_fsctl() {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    let fsctl = Fsctl::decode(req.ctl_code, req.input).map_err(|e| e.status())?;
    let mut out = BytesMut::new();
    let mut answer = NtStatus::SUCCESS;
    match fsctl {
        Fsctl::ValidateNegotiateInfo(v) => validate_negotiate(ctx, &v)?.encode(&mut out),
        // [MS-SMB2] 3.3.5.15.11: not about an open, so FileId must be
        // all ones.
        Fsctl::QueryNetworkInterfaceInfo if req.file_id != (FileId { persistent: u64::MAX, volatile: u64::MAX }) => {
            return Err(NtStatus::INVALID_PARAMETER)
        }
        Fsctl::QueryNetworkInterfaceInfo => {
            let nic = NetworkInterface {
                if_index: 1,
                capability: 0,
                link_speed: LINK_SPEED_BITS_PER_S,
                address: ctx.conn.local_addr.ip(),
            };
            encode_network_interfaces(&[nic], &mut out);
        }
        Fsctl::DfsGetReferrals => return Err(status::FS_DRIVER_REQUIRED),
        Fsctl::Other(FSCTL_CREATE_OR_GET_OBJECT_ID) => {
            crate::handlers::channel_sequence::check(ctx, req.file_id).await?;
            let ino = {
                let o = ctx.open(req.file_id)?;
                o.entry
            };
            object_id(ctx, ino, &mut out);
        }
        Fsctl::SrvRequestResumeKey => crate::handlers::copychunk::request_resume_key(ctx, req.file_id, &mut out)?,
        Fsctl::SrvCopyChunk { write, req: copy } => {
            if (req.max_output_response as usize) < CopyChunkResponse::BYTES {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            crate::handlers::channel_sequence::check(ctx, req.file_id).await?;
            answer = crate::handlers::copychunk::copy(ctx, req.file_id, write, &copy, &mut out).await?;
        }
        Fsctl::Other(code @ (sparse::FSCTL_SET_SPARSE | sparse::FSCTL_SET_ZERO_DATA | sparse::FSCTL_QUERY_ALLOCATED_RANGES)) => {
            answer = sparse::handle(ctx, code, req.file_id, req.input, req.max_output_response, &mut out).await?;
        }
        // Compression is not offered: a file is never compressed, and only
        // "no compression" may be set ([MS-FSCC] 2.3.20, 2.3.67; as ReFS).
        Fsctl::Other(FSCTL_GET_COMPRESSION) => {
            ctx.open(req.file_id)?;
            out.extend_from_slice(&COMPRESSION_FORMAT_NONE.to_le_bytes());
        }
        Fsctl::Other(FSCTL_SET_COMPRESSION) => {
            ctx.open(req.file_id)?;
            match req.input.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]])) {
                None => return Err(NtStatus::INVALID_PARAMETER),
                Some(COMPRESSION_FORMAT_NONE) => {}
                Some(_) => return Err(NtStatus::NOT_SUPPORTED),
            }
        }
        Fsctl::Other(_) => return Err(NtStatus::NOT_SUPPORTED),
    }
    if out.len() > req.max_output_response as usize {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    }
    Ok(Reply::with_status(answer, &IoctlResponse { ctl_code: req.ctl_code, file_id: req.file_id, input: &[], output: &out, flags: 0 }))
}

/// FSCTL_CREATE_OR_GET_OBJECT_ID ([MS-FSCC] 2.3.7).
const FSCTL_CREATE_OR_GET_OBJECT_ID: u32 = 0x0009_00C0;
const FSCTL_GET_COMPRESSION: u32 = 0x0009_003C;
const FSCTL_SET_COMPRESSION: u32 = 0x0009_C040;
const COMPRESSION_FORMAT_NONE: u16 = 0;

/// FILE_OBJECTID_BUFFER ([MS-FSCC] 2.1.3): the ObjectId is the inode and
/// the service GUID's first half (stable for the file while the service
/// runs), birth ids the same, DomainId zero.
fn object_id(ctx: &Ctx<'_>, entry: u64, out: &mut BytesMut) {
    let ino = ctx.srv.leases.lock().expect("lease table").entry(entry).map(|e| e.ino).unwrap_or(0);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&ino.to_le_bytes());
    id[8..].copy_from_slice(&ctx.srv.guid[..8]);
    out.extend_from_slice(&id);
    out.extend_from_slice(&ctx.srv.guid);
    out.extend_from_slice(&id);
    out.extend_from_slice(&[0u8; 16]);
}

/// [MS-SMB2] 3.3.5.15.12: what the client says it sent must be what we
/// received; a mismatch means a downgrade attempt.
fn validate_negotiate(ctx: &Ctx<'_>, v: &ValidateNegotiateInfoRequest) -> Result<ValidateNegotiateInfoResponse, NtStatus> {
    let n = &ctx.conn.neg;
    if v.dialects != n.client_dialects
        || v.guid != n.client_guid
        || v.security_mode != n.client_security_mode
        || v.capabilities != n.client_capabilities
    {
        tracing::warn!("VALIDATE_NEGOTIATE_INFO mismatch: possible downgrade");
        return Err(NtStatus::ACCESS_DENIED);
    }
    Ok(ValidateNegotiateInfoResponse {
        capabilities: n.server_capabilities,
        guid: ctx.srv.guid,
        security_mode: n.server_security_mode,
        dialect: n.dialect,
    })
}
