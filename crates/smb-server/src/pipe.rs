//! Named pipes on IPC$: the one RPC service, srvsvc, so that
//! `smbclient -L` and Explorer can list the shares ([MS-SMB2] 3.3.5.9
//! for a pipe CREATE, [MS-RPCE] for what flows through it, [MS-SRVS]
//! NetrShareEnum / NetrShareGetInfo).
//!
//! A pipe open lives in its session's `pipes`, not in `opens`: it has no
//! file-server fid, no lease-table entry and no durable record, so the
//! cleanup paths of file opens never see it; it goes with its session or
//! tree. [`Pipe`] is the protocol state with no I/O (bytes written in,
//! PDUs queued for reading out); the handler glue below is called from
//! `handlers::dispatch` before any command handler, and takes the
//! requests that name a pipe (or CREATE on IPC$).
//!
//! Bounds: at most `PIPE_QUEUED_BYTES_MAX` bytes written and not yet a
//! whole PDU; PDUs are processed only while less than that is queued for
//! reading (the rest waits for the client to read); fragments are at most
//! `RPC_FRAG_BYTES_MAX`, a reassembled request stub `RPC_STUB_BYTES_MAX`.

use std::collections::VecDeque;

use bytes::BytesMut;
use holdfast_smb_proto::limits::{RPC_FRAG_BYTES_MAX, RPC_FRAG_BYTES_MIN, RPC_STUB_BYTES_MAX};
use holdfast_smb_proto::msg::close::CloseResponse;
use holdfast_smb_proto::msg::create::{create_action, CreateRequest, CreateResponse};
use holdfast_smb_proto::msg::flush::FlushResponse;
use holdfast_smb_proto::msg::ioctl::{IoctlRequest, IoctlResponse};
use holdfast_smb_proto::msg::query_info::{fit_info_output, info_type, QueryInfoRequest, QueryInfoResponse};
use holdfast_smb_proto::msg::read::ReadResponse;
use holdfast_smb_proto::msg::write::WriteResponse;
use holdfast_smb_proto::rpc::pdu::{self, nak, ptype, result, Bind, BindAck, ContextResult, Header};
use holdfast_smb_proto::rpc::srvsvc::{self, share_type, ShareInfo};
use holdfast_smb_proto::rpc::{fault, SyntaxId, NDR20, SRVSVC};
use holdfast_smb_proto::{FileId, Request};
use holdfast_types::ntstatus::NtStatus;

use crate::ctx::{Ctx, HResult, Reply};

/// Bytes a pipe holds in each direction (see the module comment).
pub const PIPE_QUEUED_BYTES_MAX: usize = 64 * 1024;
/// Presentation contexts one pipe keeps bound.
const CONTEXTS_MAX: usize = 16;
/// FSCTL_PIPE_TRANSCEIVE ([MS-FSCC] 2.3.49): write, then read, in one IOCTL.
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
/// The pipe name in a BIND_ACK's secondary address, as Windows sends it.
const SRVSVC_SEC_ADDR: &str = "\\PIPE\\srvsvc";
/// What a pipe reports as its allocation size (Windows and Samba: 4 KiB).
const PIPE_ALLOCATION_BYTES: u64 = 4096;
const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;

/// Why bytes written to a pipe are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipeError {
    #[error("pipe full: {queued} bytes queued, {more} more written, limit {max}")]
    Full { queued: usize, more: usize, max: usize },
}

/// A request whose fragments are all in: what [`Pipe::answer`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub call_id: u32,
    pub context_id: u16,
    pub opnum: u16,
    pub stub: Vec<u8>,
}

impl Call {
    /// Whether answering needs the service's share list.
    pub fn needs_shares(&self) -> bool {
        matches!(self.opnum, srvsvc::OPNUM_NETR_SHARE_ENUM | srvsvc::OPNUM_NETR_SHARE_GET_INFO)
    }
}

/// One srvsvc pipe's DCE/RPC association.
#[derive(Debug)]
pub struct Pipe {
    /// Bytes written that do not yet make a whole PDU.
    input: Vec<u8>,
    /// PDUs waiting to be read, each one pipe message.
    output: VecDeque<BytesMut>,
    /// Bytes of `output.front()` already read.
    read_offset: usize,
    /// Context ids bound to srvsvc over NDR.
    contexts: Vec<u16>,
    bound: bool,
    assoc_group: u32,
    /// The client's max_recv_frag, capped at ours: the size of our fragments.
    frag_bytes_max: u16,
    /// The request whose fragments are arriving.
    partial: Option<Call>,
}

impl Pipe {
    pub fn new(assoc_group: u32) -> Pipe {
        Pipe {
            input: Vec::new(),
            output: VecDeque::new(),
            read_offset: 0,
            contexts: Vec::new(),
            bound: false,
            assoc_group: assoc_group.max(1),
            frag_bytes_max: RPC_FRAG_BYTES_MIN,
            partial: None,
        }
    }

    /// Bytes waiting to be read.
    pub fn queued_bytes(&self) -> usize {
        self.output.iter().map(|m| m.len()).sum::<usize>() - self.read_offset
    }

    /// Takes bytes the client wrote; whole PDUs are processed by
    /// [`Pipe::next_call`].
    pub fn write(&mut self, data: &[u8]) -> Result<(), PipeError> {
        if self.input.len() + data.len() > PIPE_QUEUED_BYTES_MAX {
            return Err(PipeError::Full { queued: self.input.len(), more: data.len(), max: PIPE_QUEUED_BYTES_MAX });
        }
        self.input.extend_from_slice(data);
        Ok(())
    }

    /// Processes whole PDUs written so far (binds are answered here)
    /// until one completes a request, which is returned for
    /// [`Pipe::answer`]. `None`: nothing more to do until more bytes come,
    /// or until the client reads what is queued.
    pub fn next_call(&mut self) -> Option<Call> {
        while self.queued_bytes() < PIPE_QUEUED_BYTES_MAX {
            let n = match pdu::pdu_length(&self.input) {
                Ok(Some(n)) => n,
                Ok(None) => return None,
                Err(e) => {
                    // No frag_length to trust: the stream cannot be
                    // resynchronised, so everything written is dropped.
                    tracing::debug!("pipe: bad PDU header: {e}");
                    let call_id = self.input.get(12..16).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    self.input.clear();
                    self.partial = None;
                    self.fault(call_id, 0, fault::PROTO_ERROR, false);
                    return None;
                }
            };
            let one: Vec<u8> = self.input.drain(..n).collect();
            let h = match Header::decode(&one) {
                Ok(h) => h,
                Err(_) => continue,
            };
            match h.ptype {
                ptype::BIND | ptype::ALTER_CONTEXT => self.bind(&h, &one),
                ptype::REQUEST => {
                    if let Some(c) = self.request(&h, &one) {
                        return Some(c);
                    }
                }
                // Calls are answered as they complete: nothing to cancel.
                ptype::CO_CANCEL | ptype::ORPHANED => {}
                _ => self.fault(h.call_id, 0, fault::PROTO_ERROR, false),
            }
        }
        None
    }

    fn queue(&mut self, pdu: BytesMut) {
        self.output.push_back(pdu);
    }

    fn fault(&mut self, call_id: u32, context_id: u16, status: u32, did_not_execute: bool) {
        let mut out = BytesMut::new();
        pdu::encode_fault(call_id, context_id, status, did_not_execute, &mut out);
        self.queue(out);
    }

    fn nak(&mut self, call_id: u32, reason: u16) {
        let mut out = BytesMut::new();
        pdu::encode_bind_nak(call_id, reason, &mut out);
        self.queue(out);
    }

    /// BIND and ALTER_CONTEXT. Authenticated binds are refused with a
    /// BIND_NAK (reason authentication type not recognised), as is a
    /// BIND asking fragments below the protocol minimum; an ALTER_CONTEXT
    /// has no NAK, so the same cases get a FAULT.
    fn bind(&mut self, h: &Header, one: &[u8]) {
        let is_bind = h.ptype == ptype::BIND;
        let refuse = |p: &mut Pipe, reason: u16| {
            if is_bind {
                p.nak(h.call_id, reason);
            } else {
                p.fault(h.call_id, 0, fault::PROTO_ERROR, true);
            }
        };
        if is_bind && self.bound {
            // A second BIND on one association: [C706] wants ALTER_CONTEXT.
            return self.fault(h.call_id, 0, fault::PROTO_ERROR, true);
        }
        if h.auth_length != 0 {
            return refuse(self, nak::AUTHENTICATION_TYPE_NOT_RECOGNIZED);
        }
        let b = match Bind::decode(h, one) {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!("pipe: bad bind: {e}");
                return refuse(self, 0);
            }
        };
        if b.max_recv_frag < RPC_FRAG_BYTES_MIN || b.max_xmit_frag < RPC_FRAG_BYTES_MIN {
            return refuse(self, nak::LOCAL_LIMIT_EXCEEDED);
        }
        let results = b.contexts.iter().map(|c| self.negotiate(c.id, &c.abstract_syntax, &c.transfer_syntaxes)).collect();
        if is_bind {
            self.bound = true;
            self.frag_bytes_max = b.max_recv_frag.min(RPC_FRAG_BYTES_MAX);
            if b.assoc_group != 0 {
                self.assoc_group = b.assoc_group;
            }
        }
        let ack = BindAck {
            max_xmit_frag: self.frag_bytes_max,
            max_recv_frag: b.max_xmit_frag.min(RPC_FRAG_BYTES_MAX),
            assoc_group: self.assoc_group,
            sec_addr: if is_bind { SRVSVC_SEC_ADDR.into() } else { String::new() },
            results,
        };
        let mut out = BytesMut::new();
        ack.encode(if is_bind { ptype::BIND_ACK } else { ptype::ALTER_CONTEXT_RESP }, h.call_id, &mut out);
        self.queue(out);
    }

    /// One presentation context: srvsvc 3.0 over NDR 2.0 is accepted;
    /// anything else (NDR64, the bind-time feature negotiation
    /// pseudo-syntax, another interface) is a provider rejection, as a
    /// server that supports neither answers ([MS-RPCE] 3.3.1.5.3).
    fn negotiate(&mut self, id: u16, abstract_syntax: &SyntaxId, transfer: &[SyntaxId]) -> ContextResult {
        let reject = |reason| ContextResult {
            result: result::PROVIDER_REJECTION,
            reason,
            transfer_syntax: SyntaxId { uuid: [0; 16], version: 0 },
        };
        if *abstract_syntax != SRVSVC {
            return reject(result::ABSTRACT_SYNTAX_NOT_SUPPORTED);
        }
        if !transfer.contains(&NDR20) {
            return reject(result::TRANSFER_SYNTAXES_NOT_SUPPORTED);
        }
        if !self.contexts.contains(&id) {
            if self.contexts.len() >= CONTEXTS_MAX {
                return reject(result::LOCAL_LIMIT_EXCEEDED);
            }
            self.contexts.push(id);
        }
        ContextResult { result: result::ACCEPTANCE, reason: 0, transfer_syntax: NDR20 }
    }

    /// One REQUEST fragment; the call once its last fragment is in.
    fn request(&mut self, h: &Header, one: &[u8]) -> Option<Call> {
        let r = match pdu::Request::decode(h, one) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("pipe: bad request: {e}");
                self.partial = None;
                self.fault(h.call_id, 0, fault::PROTO_ERROR, true);
                return None;
            }
        };
        if !self.bound {
            self.fault(h.call_id, r.context_id, fault::PROTO_ERROR, true);
            return None;
        }
        if !self.contexts.contains(&r.context_id) {
            self.partial = None;
            self.fault(h.call_id, r.context_id, fault::UNKNOWN_IF, true);
            return None;
        }
        let first = h.flags & pdu::pfc::FIRST_FRAG != 0;
        let mut call = match self.partial.take() {
            None if first => Call { call_id: h.call_id, context_id: r.context_id, opnum: r.opnum, stub: Vec::new() },
            Some(c) if !first && c.call_id == h.call_id => c,
            // A fragment out of place: the interrupted call and this
            // one both fail.
            _ => {
                self.fault(h.call_id, r.context_id, fault::PROTO_ERROR, true);
                return None;
            }
        };
        if call.stub.len() + r.stub.len() > RPC_STUB_BYTES_MAX {
            self.fault(h.call_id, r.context_id, fault::PROTO_ERROR, true);
            return None;
        }
        call.stub.extend_from_slice(r.stub);
        if h.flags & pdu::pfc::LAST_FRAG != 0 {
            return Some(call);
        }
        self.partial = Some(call);
        None
    }

    /// Answers a call with the service's `shares` (disk shares and IPC$,
    /// in the order to list them): its RESPONSE fragments, or a FAULT.
    pub fn answer(&mut self, call: &Call, shares: &[ShareInfo]) {
        let stub = match call.opnum {
            srvsvc::OPNUM_NETR_SHARE_ENUM => match srvsvc::ShareEnumRequest::decode(&call.stub) {
                Ok(req) => {
                    // Everything from the resume point in one answer (a
                    // service has few shares): PreferedMaximumLength is
                    // a hint the server may exceed.
                    let total = u32::try_from(shares.len()).unwrap_or(u32::MAX);
                    let from = req.resume_handle.map_or(0, |h| (h as usize).min(shares.len()));
                    srvsvc::encode_share_enum_response(req.level, &shares[from..], total, req.resume_handle.map(|_| total))
                }
                Err(e) => return self.bad_stub(call, e),
            },
            srvsvc::OPNUM_NETR_SHARE_GET_INFO => match srvsvc::ShareGetInfoRequest::decode(&call.stub) {
                Ok(req) => {
                    let found = shares.iter().find(|s| s.name.eq_ignore_ascii_case(&req.net_name));
                    srvsvc::encode_share_get_info_response(req.level, found)
                }
                Err(e) => return self.bad_stub(call, e),
            },
            _ => return self.fault(call.call_id, call.context_id, fault::OP_RNG_ERROR, true),
        };
        let mut frags = Vec::new();
        pdu::encode_response(call.call_id, call.context_id, &stub, self.frag_bytes_max, &mut frags);
        for f in frags {
            self.queue(f);
        }
    }

    fn bad_stub(&mut self, call: &Call, e: holdfast_smb_proto::rpc::RpcError) {
        tracing::debug!(opnum = call.opnum, "pipe: bad stub: {e}");
        self.fault(call.call_id, call.context_id, fault::BAD_STUB_DATA, true);
    }

    /// Up to `max` bytes of the next message: (bytes, whether more of
    /// that message remains, which the client hears as
    /// STATUS_BUFFER_OVERFLOW). `None` when nothing is queued.
    pub fn read(&mut self, max: usize) -> Option<(Vec<u8>, bool)> {
        let front = self.output.front()?;
        let rest = &front[self.read_offset..];
        if rest.len() > max {
            let part = rest[..max].to_vec();
            self.read_offset += max;
            return Some((part, true));
        }
        let all = rest.to_vec();
        self.output.pop_front();
        self.read_offset = 0;
        Some((all, false))
    }
}

/// A pipe open of a session.
#[derive(Debug)]
pub struct PipeOpen {
    pub tree_id: u32,
    pub persistent_id: u64,
    pub pipe: Pipe,
}

/// A READ with nothing queued is STATUS_PIPE_EMPTY. (Windows would hold
/// the READ until data comes; every answer here is queued by the WRITE
/// before it, so a READ that finds nothing would wait for ever.)
const PIPE_EMPTY: NtStatus = NtStatus::PIPE_EMPTY;

/// The pipe a request names (after related-compound substitution), if
/// any; it becomes the FileId that later related requests inherit.
fn pipe_of<'c>(ctx: &'c mut Ctx<'_>, id: FileId) -> Option<&'c mut Pipe> {
    let id = ctx.file_id(id);
    let tid = ctx.tree_id;
    let s = ctx.session().ok()?;
    let p = s.pipes.get(&id.volatile)?;
    if p.persistent_id != id.persistent || p.tree_id != tid {
        return None;
    }
    ctx.last_file_id = Some(id);
    ctx.session().ok()?.pipes.get_mut(&id.volatile).map(|p| &mut p.pipe)
}

fn is_pipe(ctx: &mut Ctx<'_>, id: FileId) -> bool {
    pipe_of(ctx, id).is_some()
}

/// Answers `req` when it is for a pipe: a CREATE on IPC$, or a command on
/// a pipe's FileId. `None`: not a pipe's, the command handlers go on.
pub async fn intercept(ctx: &mut Ctx<'_>, req: &Request<'_>) -> Option<HResult> {
    Some(match req {
        Request::Create(r) => {
            if !ctx.tree().is_ok_and(|t| t.is_ipc) {
                return None;
            }
            create(ctx, r)
        }
        Request::Write(r) if is_pipe(ctx, r.file_id) => write(ctx, r.file_id, r.data).await.map(|n| Reply::ok(&WriteResponse { count: n, remaining: 0 })),
        Request::Read(r) if is_pipe(ctx, r.file_id) => read(ctx, r.file_id, r.length as usize),
        Request::Ioctl(r) if r.ctl_code == FSCTL_PIPE_TRANSCEIVE && is_pipe(ctx, r.file_id) => transceive(ctx, r).await,
        Request::Close(r) if is_pipe(ctx, r.file_id) => {
            let id = ctx.file_id(r.file_id);
            ctx.session().ok()?.pipes.remove(&id.volatile);
            Ok(Reply::ok(&CloseResponse::default()))
        }
        Request::Flush(r) if is_pipe(ctx, r.file_id) => Ok(Reply::ok(&FlushResponse)),
        Request::QueryInfo(r) if is_pipe(ctx, r.file_id) => query_info(ctx, r),
        Request::Lock(r) if is_pipe(ctx, r.file_id) => Err(NtStatus::INVALID_DEVICE_REQUEST),
        Request::SetInfo(r) if is_pipe(ctx, r.file_id) => Err(NtStatus::INVALID_DEVICE_REQUEST),
        Request::QueryDirectory(r) if is_pipe(ctx, r.file_id) => Err(NtStatus::INVALID_DEVICE_REQUEST),
        _ => return None,
    })
}

/// CREATE on IPC$: `srvsvc` (also as `\srvsvc` or `PIPE\srvsvc`) opens a
/// pipe; any other name is STATUS_OBJECT_NAME_NOT_FOUND. Create contexts
/// (durable, lease) are ignored: a pipe is neither.
fn create(ctx: &mut Ctx<'_>, req: &CreateRequest) -> HResult {
    let name = req.name.trim_start_matches('\\');
    let name = name.strip_prefix("PIPE\\").or_else(|| name.strip_prefix("pipe\\")).unwrap_or(name);
    if !name.eq_ignore_ascii_case("srvsvc") {
        return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
    }
    let opens_max = ctx.srv.cfg.limits.opens_max;
    let tree_id = ctx.tree_id;
    let volatile = ctx.conn.next_volatile_id;
    let s = ctx.session()?;
    if s.opens.len() + s.pipes.len() >= opens_max {
        return Err(NtStatus::INSUFFICIENT_RESOURCES);
    }
    ctx.conn.next_volatile_id += 1;
    // Nothing on the file server: the persistent half only has to be
    // unique among this session's pipes.
    let file_id = FileId { persistent: volatile, volatile };
    let pipe = Pipe::new(rand::random());
    ctx.session()?.pipes.insert(volatile, PipeOpen { tree_id, persistent_id: volatile, pipe });
    ctx.last_file_id = Some(file_id);
    Ok(Reply::ok(&CreateResponse {
        oplock_level: 0,
        flags: 0,
        create_action: create_action::OPENED,
        creation_time: 0,
        last_access_time: 0,
        last_write_time: 0,
        change_time: 0,
        allocation_size: PIPE_ALLOCATION_BYTES,
        end_of_file: 0,
        file_attributes: FILE_ATTRIBUTE_NORMAL,
        file_id,
        contexts: Vec::new(),
    }))
}

/// WRITE: the bytes go in, every call they complete is answered.
async fn write(ctx: &mut Ctx<'_>, id: FileId, data: &[u8]) -> Result<u32, NtStatus> {
    let p = pipe_of(ctx, id).ok_or(NtStatus::FILE_CLOSED)?;
    if let Err(e) = p.write(data) {
        tracing::info!("pipe write refused: {e}");
        return Err(NtStatus::INSUFFICIENT_RESOURCES);
    }
    let mut shares = None;
    while let Some(call) = pipe_of(ctx, id).ok_or(NtStatus::FILE_CLOSED)?.next_call() {
        if call.needs_shares() && shares.is_none() {
            shares = Some(share_list(ctx).await?);
        }
        pipe_of(ctx, id).ok_or(NtStatus::FILE_CLOSED)?.answer(&call, shares.as_deref().unwrap_or(&[]));
    }
    Ok(u32::try_from(data.len()).unwrap_or(u32::MAX))
}

/// READ: the next message, or as much of it as fits.
fn read(ctx: &mut Ctx<'_>, id: FileId, length: usize) -> HResult {
    let p = pipe_of(ctx, id).ok_or(NtStatus::FILE_CLOSED)?;
    let (data, more) = p.read(length).ok_or(PIPE_EMPTY)?;
    let status = if more { NtStatus::BUFFER_OVERFLOW } else { NtStatus::SUCCESS };
    Ok(Reply::with_status(status, &ReadResponse { data_remaining: 0, flags: 0, data: &data }))
}

/// FSCTL_PIPE_TRANSCEIVE: WRITE then READ of at most MaxOutputResponse;
/// what does not fit is read with READ after STATUS_BUFFER_OVERFLOW.
async fn transceive(ctx: &mut Ctx<'_>, req: &IoctlRequest<'_>) -> HResult {
    if !req.is_fsctl() {
        return Err(NtStatus::INVALID_DEVICE_REQUEST);
    }
    write(ctx, req.file_id, req.input).await?;
    let p = pipe_of(ctx, req.file_id).ok_or(NtStatus::FILE_CLOSED)?;
    let (data, more) = p.read(req.max_output_response as usize).ok_or(PIPE_EMPTY)?;
    let status = if more { NtStatus::BUFFER_OVERFLOW } else { NtStatus::SUCCESS };
    let file_id = ctx.file_id(req.file_id);
    Ok(Reply::with_status(status, &IoctlResponse { ctl_code: req.ctl_code, file_id, input: &[], output: &data, flags: 0 }))
}

/// QUERY_INFO FileStandardInformation: what Windows reports of a pipe.
fn query_info(ctx: &mut Ctx<'_>, req: &QueryInfoRequest<'_>) -> HResult {
    use holdfast_smb_proto::info::file::FileStandardInformation;
    use holdfast_smb_proto::info::file_class;
    let p = pipe_of(ctx, req.file_id).ok_or(NtStatus::FILE_CLOSED)?;
    if req.info_type != info_type::FILE || req.file_info_class != file_class::STANDARD {
        return Err(NtStatus::INVALID_INFO_CLASS);
    }
    let mut out = BytesMut::new();
    FileStandardInformation {
        allocation_size: PIPE_ALLOCATION_BYTES,
        end_of_file: p.queued_bytes() as u64,
        number_of_links: 1,
        delete_pending: false,
        directory: false,
    }
    .encode(&mut out);
    let (output, status) = fit_info_output(&out, FileStandardInformation::BYTES, req.output_buffer_length).map_err(|e| e.status())?;
    Ok(Reply::with_status(status, &QueryInfoResponse { output }))
}

/// The shares NetrShareEnum lists: the file server's disk shares that
/// this service serves (as TREE_CONNECT finds them), then IPC$.
async fn share_list(ctx: &mut Ctx<'_>) -> Result<Vec<ShareInfo>, NtStatus> {
    let fs = ctx.srv.fs().await?;
    let all = match fs.shares().await {
        Ok(s) => s,
        Err(e) => return Err(ctx.srv.fs_error(e).await),
    };
    let served = &ctx.srv.cfg.shares;
    let mut list: Vec<ShareInfo> = all
        .into_iter()
        .filter(|s| served.is_empty() || served.iter().any(|n| n.eq_ignore_ascii_case(&s.name)))
        .map(|s| ShareInfo { name: s.name, share_type: share_type::DISKTREE, remark: String::new() })
        .collect();
    list.push(ShareInfo { name: "IPC$".into(), share_type: share_type::IPC | share_type::SPECIAL, remark: "Remote IPC".into() });
    Ok(list)
}

#[cfg(test)]
mod tests {
    use holdfast_smb_proto::rpc::pdu::{pfc, ContextElem};
    use holdfast_smb_proto::rpc::srvsvc::{ShareEnumRequest, ShareGetInfoRequest};
    use holdfast_smb_proto::rpc::{uuid, NDR64};

    use super::*;

    /// The bind-time feature negotiation pseudo transfer syntax
    /// ([MS-RPCE] 3.3.1.5.3), as Windows offers it.
    const BTFN: SyntaxId = SyntaxId { uuid: uuid("6cb71c2c-9812-4540-0300-000000000000"), version: 1 };

    fn shares() -> Vec<ShareInfo> {
        vec![
            ShareInfo { name: "share".into(), share_type: share_type::DISKTREE, remark: String::new() },
            ShareInfo { name: "IPC$".into(), share_type: share_type::IPC | share_type::SPECIAL, remark: "Remote IPC".into() },
        ]
    }

    fn bind_pdu(contexts: Vec<ContextElem>, max_frag: u16) -> BytesMut {
        let mut out = BytesMut::new();
        Bind { max_xmit_frag: max_frag, max_recv_frag: max_frag, assoc_group: 0, contexts }.encode(ptype::BIND, 1, &mut out);
        out
    }

    fn srvsvc_ctx(id: u16, ts: SyntaxId) -> ContextElem {
        ContextElem { id, abstract_syntax: SRVSVC, transfer_syntaxes: vec![ts] }
    }

    /// Feeds `bytes`, answers every call, returns the messages queued.
    fn run(p: &mut Pipe, bytes: &[u8]) -> Vec<Vec<u8>> {
        p.write(bytes).unwrap();
        while let Some(c) = p.next_call() {
            p.answer(&c, &shares());
        }
        let mut out = Vec::new();
        while let Some((m, more)) = p.read(usize::MAX) {
            assert!(!more);
            out.push(m);
        }
        out
    }

    fn bound_pipe() -> Pipe {
        let mut p = Pipe::new(7);
        let acks = run(&mut p, &bind_pdu(vec![srvsvc_ctx(0, NDR20)], 4280));
        assert_eq!(acks.len(), 1);
        p
    }

    fn request(call_id: u32, opnum: u16, stub: &[u8], flags: u8) -> BytesMut {
        let mut out = BytesMut::new();
        pdu::Request { alloc_hint: stub.len() as u32, context_id: 0, opnum, stub }.encode(call_id, flags, &mut out);
        out
    }

    const WHOLE: u8 = pfc::FIRST_FRAG | pfc::LAST_FRAG;

    #[test]
    fn bind_accepts_ndr_and_rejects_ndr64_and_feature_negotiation() {
        let mut p = Pipe::new(7);
        let out = run(&mut p, &bind_pdu(vec![srvsvc_ctx(0, NDR20), srvsvc_ctx(1, NDR64), srvsvc_ctx(2, BTFN)], 4280));
        let h = Header::decode(&out[0]).unwrap();
        assert_eq!(h.ptype, ptype::BIND_ACK);
        let ack = BindAck::decode(&h, &out[0]).unwrap();
        assert_eq!(ack.sec_addr, "\\PIPE\\srvsvc");
        assert_eq!((ack.max_xmit_frag, ack.max_recv_frag, ack.assoc_group), (4280, 4280, 7));
        assert_eq!(ack.results[0], ContextResult { result: result::ACCEPTANCE, reason: 0, transfer_syntax: NDR20 });
        for r in &ack.results[1..] {
            assert_eq!((r.result, r.reason), (result::PROVIDER_REJECTION, result::TRANSFER_SYNTAXES_NOT_SUPPORTED));
        }
        // Another interface on an ALTER_CONTEXT.
        let mut alter = BytesMut::new();
        let other = SyntaxId { uuid: [9; 16], version: 1 };
        Bind {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group: 7,
            contexts: vec![ContextElem { id: 5, abstract_syntax: other, transfer_syntaxes: vec![NDR20] }],
        }
        .encode(ptype::ALTER_CONTEXT, 2, &mut alter);
        let out = run(&mut p, &alter);
        let h = Header::decode(&out[0]).unwrap();
        assert_eq!(h.ptype, ptype::ALTER_CONTEXT_RESP);
        let ack = BindAck::decode(&h, &out[0]).unwrap();
        assert_eq!(ack.results[0].reason, result::ABSTRACT_SYNTAX_NOT_SUPPORTED);
    }

    #[test]
    fn authenticated_or_tiny_binds_get_a_nak() {
        let mut b = bind_pdu(vec![srvsvc_ctx(0, NDR20)], 4280).to_vec();
        b.extend_from_slice(&[0x0a, 0x06, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]); // NTLMSSP trailer + 4 bytes
        let n = b.len() as u16;
        b[8..10].copy_from_slice(&n.to_le_bytes());
        b[10..12].copy_from_slice(&4u16.to_le_bytes());
        let out = run(&mut Pipe::new(1), &b);
        assert_eq!(out[0][2], ptype::BIND_NAK);
        assert_eq!(&out[0][16..18], &nak::AUTHENTICATION_TYPE_NOT_RECOGNIZED.to_le_bytes());
        let out = run(&mut Pipe::new(1), &bind_pdu(vec![srvsvc_ctx(0, NDR20)], 100));
        assert_eq!(out[0][2], ptype::BIND_NAK);
    }

    #[test]
    fn share_enum_level_1() {
        let mut p = bound_pipe();
        let stub = ShareEnumRequest { server_name: Some("\\\\h".into()), level: 1, preferred_maximum_length: u32::MAX, resume_handle: Some(0) }.encode();
        let out = run(&mut p, &request(2, srvsvc::OPNUM_NETR_SHARE_ENUM, &stub, WHOLE));
        assert_eq!(out.len(), 1);
        let (flags, _, stub) = pdu::decode_response(&out[0]).unwrap().unwrap();
        assert_eq!(flags & WHOLE, WHOLE);
        let (got, total, resume, status) = srvsvc::decode_share_enum_response(stub).unwrap();
        assert_eq!((got, total, resume, status), (shares(), 2, Some(2), srvsvc::werror::OK));
        // Resumed past the end: nothing more.
        let stub = ShareEnumRequest { server_name: None, level: 1, preferred_maximum_length: u32::MAX, resume_handle: Some(9) }.encode();
        let out = run(&mut p, &request(3, srvsvc::OPNUM_NETR_SHARE_ENUM, &stub, WHOLE));
        let (_, _, stub) = pdu::decode_response(&out[0]).unwrap().unwrap();
        assert_eq!(srvsvc::decode_share_enum_response(stub).unwrap().0, vec![]);
    }

    #[test]
    fn share_get_info() {
        let mut p = bound_pipe();
        let stub = ShareGetInfoRequest { server_name: None, net_name: "SHARE".into(), level: 1 }.encode();
        let out = run(&mut p, &request(2, srvsvc::OPNUM_NETR_SHARE_GET_INFO, &stub, WHOLE));
        let (_, _, stub) = pdu::decode_response(&out[0]).unwrap().unwrap();
        assert_eq!(&stub[stub.len() - 4..], &[0, 0, 0, 0]);
        let stub = ShareGetInfoRequest { server_name: None, net_name: "nope".into(), level: 1 }.encode();
        let out = run(&mut p, &request(3, srvsvc::OPNUM_NETR_SHARE_GET_INFO, &stub, WHOLE));
        let (_, _, stub) = pdu::decode_response(&out[0]).unwrap().unwrap();
        assert_eq!(&stub[stub.len() - 4..], &srvsvc::werror::NET_NAME_NOT_FOUND.to_le_bytes());
    }

    #[test]
    fn faults() {
        // A request before any bind.
        let out = run(&mut Pipe::new(1), &request(1, 15, &[], WHOLE));
        assert_eq!(pdu::decode_response(&out[0]).unwrap(), Err(fault::PROTO_ERROR));
        let mut p = bound_pipe();
        // Unknown opnum.
        let out = run(&mut p, &request(2, 21, &[], WHOLE));
        assert_eq!(pdu::decode_response(&out[0]).unwrap(), Err(fault::OP_RNG_ERROR));
        assert_ne!(out[0][3] & pfc::DID_NOT_EXECUTE, 0);
        // Unbound context.
        let mut r = request(3, 15, &[], WHOLE);
        r[20] = 9;
        let out = run(&mut p, &r);
        assert_eq!(pdu::decode_response(&out[0]).unwrap(), Err(fault::UNKNOWN_IF));
        // Garbage stub.
        let out = run(&mut p, &request(4, 15, &[1, 2, 3], WHOLE));
        assert_eq!(pdu::decode_response(&out[0]).unwrap(), Err(fault::BAD_STUB_DATA));
        // A middle fragment with no first one.
        let out = run(&mut p, &request(5, 15, &[0; 8], pfc::LAST_FRAG));
        assert_eq!(pdu::decode_response(&out[0]).unwrap(), Err(fault::PROTO_ERROR));
        // A bad header: the pipe answers and keeps working.
        let out = run(&mut p, &[5, 0, 0, 3, 0x10, 0, 0, 0, 4, 0, 0, 0, 6, 0, 0, 0]);
        assert_eq!(pdu::decode_response(&out[0]).unwrap(), Err(fault::PROTO_ERROR));
        let stub = ShareEnumRequest { server_name: None, level: 0, preferred_maximum_length: 0, resume_handle: None }.encode();
        let out = run(&mut p, &request(7, 15, &stub, WHOLE));
        assert!(pdu::decode_response(&out[0]).unwrap().is_ok());
    }

    #[test]
    fn fragmented_request_and_partial_writes() {
        let mut p = bound_pipe();
        let stub = ShareEnumRequest { server_name: Some("\\\\server".into()), level: 1, preferred_maximum_length: 1, resume_handle: None }.encode();
        let (a, b) = stub.split_at(16);
        let mut bytes = request(2, 15, a, pfc::FIRST_FRAG).to_vec();
        bytes.extend_from_slice(&request(2, 15, b, pfc::LAST_FRAG));
        // Written a byte at a time: nothing until the last one.
        for (i, byte) in bytes.iter().enumerate() {
            p.write(&[*byte]).unwrap();
            let c = p.next_call();
            assert_eq!(c.is_some(), i == bytes.len() - 1);
            if let Some(c) = c {
                assert_eq!(c.stub, stub.to_vec());
            }
        }
    }

    #[test]
    fn reads_in_pieces_and_long_responses_in_fragments() {
        let mut p = Pipe::new(1);
        run(&mut p, &bind_pdu(vec![srvsvc_ctx(0, NDR20)], RPC_FRAG_BYTES_MIN));
        let many: Vec<ShareInfo> =
            (0..200).map(|i| ShareInfo { name: format!("share-{i}"), share_type: 0, remark: "r".into() }).collect();
        let stub = ShareEnumRequest { server_name: None, level: 1, preferred_maximum_length: u32::MAX, resume_handle: None }.encode();
        p.write(&request(2, 15, &stub, WHOLE)).unwrap();
        let c = p.next_call().unwrap();
        p.answer(&c, &many);
        let mut got = Vec::new();
        let mut frags = 0;
        loop {
            // Read each fragment in 100-byte pieces, as a small READ would.
            let mut msg = Vec::new();
            loop {
                let (part, more) = p.read(100).unwrap();
                msg.extend_from_slice(&part);
                if !more {
                    break;
                }
            }
            assert!(msg.len() <= RPC_FRAG_BYTES_MIN as usize);
            frags += 1;
            let (flags, _, s) = pdu::decode_response(&msg).unwrap().unwrap();
            got.extend_from_slice(s);
            if flags & pfc::LAST_FRAG != 0 {
                break;
            }
        }
        assert!(frags > 1);
        assert!(p.read(100).is_none());
        assert_eq!(srvsvc::decode_share_enum_response(&got).unwrap().0, many);
    }

    #[test]
    fn bounded_queues() {
        let mut p = bound_pipe();
        assert!(p.write(&vec![0u8; PIPE_QUEUED_BYTES_MAX + 1]).is_err());
        // Many requests in one write: processing stops once the answers
        // queued reach the bound, and resumes as they are read.
        let stub = ShareEnumRequest { server_name: None, level: 1, preferred_maximum_length: 0, resume_handle: None }.encode();
        let one = request(2, 15, &stub, WHOLE);
        let n = PIPE_QUEUED_BYTES_MAX / one.len();
        p.write(&one.repeat(n)).unwrap();
        let mut answered = 0;
        while let Some(c) = p.next_call() {
            p.answer(&c, &shares());
            answered += 1;
        }
        assert!(answered < n);
        assert!(p.queued_bytes() < PIPE_QUEUED_BYTES_MAX + 2 * usize::from(RPC_FRAG_BYTES_MAX));
        while p.read(usize::MAX).is_some() {}
        assert!(p.next_call().is_some());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the fuzz target does this properly.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let base = bind_pdu(vec![srvsvc_ctx(0, NDR20)], 4280);
        for _ in 0..2000 {
            let mut p = Pipe::new(1);
            let mut b = base.to_vec();
            b.extend_from_slice(&request(2, 15, &[0; 40], WHOLE));
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let _ = run(&mut p, &b);
        }
    }
}
