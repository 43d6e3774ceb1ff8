//! The file-server socket protocol: what the SMB service on the same host
//! sends to the file server. Pure encoding; the listener and the client do
//! the I/O. Byte layout in `docs/file-server.md`.
//!
//! Frame: `body_len u32 | request_id u64 | op u16 | body` from the service,
//! `body_len u32 | request_id u64 | status u32 | body` back, where status is
//! an NTSTATUS; an error reply's body is a UTF-8 message. Replies may come
//! out of order: the request id pairs them.

use bytes::Bytes;
use holdfast_objfs::names::PATH_BYTES_MAX;
use holdfast_types::limits::IO_BYTES_MAX;

use crate::codec::{Dec, DecodeError, Enc};
use holdfast_types::ea::{EA_LIST_BYTES_MAX, EA_NAME_BYTES_MAX};
use holdfast_types::security::{Sid, SD_BYTES_MAX};

/// Largest frame body either way: one maximal read or write plus its fields.
pub const FRAME_BODY_BYTES_MAX: usize = IO_BYTES_MAX as usize + 64 * 1024;
pub const REQUEST_HEADER_BYTES: usize = 4 + 8 + 2;
pub const REPLY_HEADER_BYTES: usize = 4 + 8 + 4;
/// Share names on the socket (config names are shorter still).
pub const SHARE_BYTES_MAX: usize = 80;
/// A handle record as `objfs::handles` encodes it fits one 4 KiB slot.
pub const RECORD_BYTES_MAX: usize = 4096;
/// Most entries one readdir or handle list returns.
pub const ENTRIES_MAX: u32 = 4096;
/// Longest error message in a reply.
pub const MESSAGE_BYTES_MAX: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Op {
    Open = 1,
    Close = 2,
    Read = 3,
    Write = 4,
    Flush = 5,
    Stat = 6,
    SetInfo = 7,
    Readdir = 8,
    Rename = 9,
    Lock = 10,
    Unlock = 11,
    Shares = 12,
    StatFs = 13,
    Streams = 14,
    Path = 15,
    GetEas = 16,
    SetEas = 17,
    GetSecurity = 18,
    SetSecurity = 19,
    SetSparse = 28,
    ZeroData = 29,
    AllocatedRanges = 30,
    HandlePut = 20,
    HandleGet = 21,
    HandleFind = 22,
    HandleList = 23,
    HandleUpdate = 24,
    HandleDelete = 25,
    Reopen = 26,
    HandleDeleteClose = 27,
}

impl Op {
    pub fn from_u16(v: u16) -> Option<Op> {
        use Op::*;
        Some(match v {
            1 => Open,
            2 => Close,
            3 => Read,
            4 => Write,
            5 => Flush,
            6 => Stat,
            7 => SetInfo,
            8 => Readdir,
            9 => Rename,
            10 => Lock,
            11 => Unlock,
            12 => Shares,
            13 => StatFs,
            14 => Streams,
            15 => Path,
            16 => GetEas,
            17 => SetEas,
            18 => GetSecurity,
            19 => SetSecurity,
            20 => HandlePut,
            21 => HandleGet,
            22 => HandleFind,
            23 => HandleList,
            24 => HandleUpdate,
            25 => HandleDelete,
            26 => Reopen,
            27 => HandleDeleteClose,
            28 => SetSparse,
            29 => ZeroData,
            30 => AllocatedRanges,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenReq {
    pub share: String,
    pub path: String,
    pub desired_access: u32,
    pub share_access: u32,
    pub disposition: u32,
    pub create_options: u32,
    pub file_attributes: u32,
    pub allocation_size: u64,
    /// Who opens: the user's SID first, then the groups'. Empty: no
    /// descriptor is checked (callers inside the host: benchmarks, tools).
    pub token: Vec<Sid>,
    /// A descriptor for a file this open creates (the SecD create
    /// context), self-relative; empty for none.
    pub security: Bytes,
}

/// Most SIDs in an open's token.
pub const TOKEN_SIDS_MAX: usize = 32;

/// SetInfo: each field applies only when its flag bit is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetInfoReq {
    pub fid: u64,
    pub attributes: Option<u32>,
    pub creation_time: Option<u64>,
    pub last_access_time: Option<u64>,
    pub last_write_time: Option<u64>,
    pub change_time: Option<u64>,
    pub end_of_file: Option<u64>,
    pub allocation_size: Option<u64>,
    pub delete_on_close: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Open(OpenReq),
    Close { fid: u64 },
    Read { fid: u64, offset: u64, length: u32 },
    Write { fid: u64, offset: u64, data: Bytes },
    Flush { fid: u64 },
    Stat { fid: u64 },
    /// The named streams of the open's file (FileStreamInformation).
    Streams { fid: u64 },
    /// The open's path from the share root as stored: case kept, a
    /// stream's name after `:` (FileNormalizedNameInformation).
    Path { fid: u64 },
    /// The extended attributes of the open's file.
    GetEas { fid: u64 },
    /// Sets each EA (names are case-insensitive); an empty value removes
    /// one. The SMB service checks FILE_WRITE_EA.
    SetEas { fid: u64, eas: Vec<EaEntry> },
    /// The descriptor that applies to the open's file, self-relative.
    GetSecurity { fid: u64 },
    /// Replaces the parts of the file's descriptor named in `info`
    /// (OWNER 1, GROUP 2, DACL 4, SACL 8) by those of `sd`.
    SetSecurity { fid: u64, info: u32, sd: Bytes },
    /// FSCTL_SET_SPARSE.
    SetSparse { fid: u64, sparse: bool },
    /// FSCTL_SET_ZERO_DATA: `[offset, beyond)` reads as zeros.
    ZeroData { fid: u64, offset: u64, beyond: u64 },
    /// FSCTL_QUERY_ALLOCATED_RANGES.
    AllocatedRanges { fid: u64, offset: u64, length: u64 },
    SetInfo(SetInfoReq),
    Readdir { fid: u64, after: String, max: u32 },
    Rename { fid: u64, new_path: String, replace: bool },
    Lock { fid: u64, offset: u64, length: u64, exclusive: bool, owner: u64 },
    Unlock { fid: u64, offset: u64, length: u64, owner: u64 },
    Shares,
    StatFs { share: String },
    /// Writes a new handle record; `fid` (0 for none) is the open it belongs to.
    HandlePut { share: String, fid: u64, record: Bytes },
    HandleGet { share: String, id: u64 },
    HandleFind { share: String, client_guid: [u8; 16], create_guid: [u8; 16] },
    HandleList { share: String },
    HandleUpdate { share: String, record: Bytes },
    HandleDelete { share: String, id: u64 },
    /// Re-establishes the open of a persistent handle (reclaim after a
    /// disconnect or a takeover) and returns a new fid for it.
    Reopen { share: String, id: u64 },
    /// `HandleDelete { share, id }` then `Close { fid }` in one round trip:
    /// the CLOSE of a durable open. The record goes first (once it is gone
    /// no reconnect can find the open); a failed delete is logged by the
    /// file server and the close still happens, so the reply is the close's.
    HandleDeleteClose { share: String, id: u64, fid: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileInfo {
    pub ino: u64,
    pub is_dir: bool,
    pub size_bytes: u64,
    pub allocation_bytes: u64,
    pub attributes: u32,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    /// Set only by `Stat`: a delete-on-close of an open of this file is
    /// pending (FileStandardInformation.DeletePending).
    pub delete_pending: bool,
    /// FileEaInformation.EaSize: the length of the file's EA list.
    pub ea_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub info: FileInfo,
}

/// One extended attribute: a name of 1..=`ea::EA_NAME_BYTES_MAX` bytes
/// and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EaEntry {
    pub name: String,
    pub value: Bytes,
}


fn decode_token(d: &mut Dec) -> Result<Vec<Sid>, DecodeError> {
    let n = d.u32()? as usize;
    if n > TOKEN_SIDS_MAX {
        return Err(DecodeError { what: "token", reason: format!("{n} SIDs is over {TOKEN_SIDS_MAX}") });
    }
    (0..n)
        .map(|_| {
            let b = d.bytes(68)?;
            match Sid::decode(b) {
                Ok((sid, used)) if used == b.len() => Ok(sid),
                _ => Err(DecodeError { what: "token", reason: "a SID is malformed".into() }),
            }
        })
        .collect()
}

/// `count u32, then name str + value bytes each`: in SetEas, in the Eas
/// reply, and in the file's EA stream alike.
pub fn encode_eas(e: &mut Enc, eas: &[EaEntry]) {
    e.u32(eas.len() as u32);
    for x in eas {
        e.str(&x.name).bytes(&x.value);
    }
}

pub fn decode_eas(d: &mut Dec) -> Result<Vec<EaEntry>, DecodeError> {
    let n = d.u32()? as usize;
    if n > EA_LIST_BYTES_MAX / 4 {
        return Err(DecodeError { what: "EA list", reason: format!("{n} EAs cannot fit {EA_LIST_BYTES_MAX} bytes") });
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(EaEntry { name: d.str(EA_NAME_BYTES_MAX)?, value: Bytes::copy_from_slice(d.bytes(EA_LIST_BYTES_MAX)?) });
    }
    Ok(v)
}

/// A share as the SMB service needs it: the `ShareDef` options it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    pub name: String,
    pub ca: bool,
    pub handle_timeout_ms: u64,
    /// `ShareDef::write_through`.
    pub write_through: bool,
    /// `ShareDef::read_only`.
    pub read_only: bool,
    /// `ShareDef::encrypt`.
    pub encrypt: bool,
    /// `ShareDef::min_dialect` as its [MS-SMB2] code (0x0202...).
    pub min_dialect: u16,
    /// `ShareDef::valid_users`; empty: every user.
    pub valid_users: Vec<String>,
    /// `ShareDef::invalid_users`.
    pub invalid_users: Vec<String>,
}

/// Most names in a share's user list on the socket (the config allows
/// `SHARE_USERS_MAX`).
pub const SHARE_USERS_MAX: usize = holdfast_types::share::SHARE_USERS_MAX;
/// Longest user name on the socket: 64 characters of up to 4 UTF-8 bytes.
pub const USER_NAME_BYTES_MAX: usize = holdfast_types::share::USER_NAME_CHARS_MAX * 4;

fn encode_users(e: &mut Enc, users: &[String]) {
    e.u32(users.len() as u32);
    for u in users {
        e.str(u);
    }
}

fn decode_users(d: &mut Dec) -> Result<Vec<String>, DecodeError> {
    let n = d.u32()? as usize;
    if n > SHARE_USERS_MAX {
        return Err(DecodeError { what: "reply", reason: format!("{n} users in a share's list is over {SHARE_USERS_MAX}") });
    }
    (0..n).map(|_| d.str(USER_NAME_BYTES_MAX)).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Empty,
    /// `granted`: the access the open holds (MAXIMUM_ALLOWED resolved).
    Opened { fid: u64, create_action: u32, info: FileInfo, granted: u32 },
    Info(FileInfo),
    Data(Bytes),
    Written { count: u32 },
    Entries(Vec<Entry>),
    Shares(Vec<ShareInfo>),
    StatFs { block_bytes: u64, total_blocks: u64, free_blocks: u64 },
    Record(Bytes),
    Records(Vec<Bytes>),
    Path(String),
    Eas(Vec<EaEntry>),
    /// (offset, length) byte ranges.
    Ranges(Vec<(u64, u64)>),
}

impl Request {
    pub fn op(&self) -> Op {
        match self {
            Request::Open(_) => Op::Open,
            Request::Close { .. } => Op::Close,
            Request::Read { .. } => Op::Read,
            Request::Write { .. } => Op::Write,
            Request::Flush { .. } => Op::Flush,
            Request::Stat { .. } => Op::Stat,
            Request::Streams { .. } => Op::Streams,
            Request::Path { .. } => Op::Path,
            Request::GetEas { .. } => Op::GetEas,
            Request::SetEas { .. } => Op::SetEas,
            Request::GetSecurity { .. } => Op::GetSecurity,
            Request::SetSecurity { .. } => Op::SetSecurity,
            Request::SetSparse { .. } => Op::SetSparse,
            Request::ZeroData { .. } => Op::ZeroData,
            Request::AllocatedRanges { .. } => Op::AllocatedRanges,
            Request::SetInfo(_) => Op::SetInfo,
            Request::Readdir { .. } => Op::Readdir,
            Request::Rename { .. } => Op::Rename,
            Request::Lock { .. } => Op::Lock,
            Request::Unlock { .. } => Op::Unlock,
            Request::Shares => Op::Shares,
            Request::StatFs { .. } => Op::StatFs,
            Request::HandlePut { .. } => Op::HandlePut,
            Request::HandleGet { .. } => Op::HandleGet,
            Request::HandleFind { .. } => Op::HandleFind,
            Request::HandleList { .. } => Op::HandleList,
            Request::HandleUpdate { .. } => Op::HandleUpdate,
            Request::HandleDelete { .. } => Op::HandleDelete,
            Request::Reopen { .. } => Op::Reopen,
            Request::HandleDeleteClose { .. } => Op::HandleDeleteClose,
        }
    }

    /// The request body (without the frame header).
    pub fn encode_body(&self) -> Bytes {
        let mut e = Enc::with_capacity(64);
        match self {
            Request::Open(o) => {
                e.str(&o.share).str(&o.path).u32(o.desired_access).u32(o.share_access).u32(o.disposition);
                e.u32(o.create_options).u32(o.file_attributes).u64(o.allocation_size);
                e.u32(o.token.len() as u32);
                for sid in &o.token {
                    let mut b = Vec::new();
                    sid.encode(&mut b);
                    e.bytes(&b);
                }
                e.bytes(&o.security);
            }
            Request::Close { fid } | Request::Flush { fid } | Request::Stat { fid } | Request::Streams { fid } | Request::Path { fid } | Request::GetEas { fid } | Request::GetSecurity { fid } => {
                e.u64(*fid);
            }
            Request::Read { fid, offset, length } => {
                e.u64(*fid).u64(*offset).u32(*length);
            }
            Request::Write { fid, offset, data } => {
                e.u64(*fid).u64(*offset).bytes(data);
            }
            Request::SetEas { fid, eas } => {
                e.u64(*fid);
                encode_eas(&mut e, eas);
            }
            Request::SetSecurity { fid, info, sd } => {
                e.u64(*fid).u32(*info).bytes(sd);
            }
            Request::SetSparse { fid, sparse } => {
                e.u64(*fid).bool(*sparse);
            }
            Request::ZeroData { fid, offset: a, beyond: b } | Request::AllocatedRanges { fid, offset: a, length: b } => {
                e.u64(*fid).u64(*a).u64(*b);
            }
            Request::SetInfo(s) => {
                let flags = [
                    s.attributes.is_some(),
                    s.creation_time.is_some(),
                    s.last_access_time.is_some(),
                    s.last_write_time.is_some(),
                    s.change_time.is_some(),
                    s.end_of_file.is_some(),
                    s.allocation_size.is_some(),
                    s.delete_on_close.is_some(),
                ]
                .iter()
                .enumerate()
                .fold(0u8, |f, (i, &b)| f | ((b as u8) << i));
                e.u64(s.fid).u8(flags).u32(s.attributes.unwrap_or(0));
                e.u64(s.creation_time.unwrap_or(0)).u64(s.last_access_time.unwrap_or(0));
                e.u64(s.last_write_time.unwrap_or(0)).u64(s.change_time.unwrap_or(0));
                e.u64(s.end_of_file.unwrap_or(0)).u64(s.allocation_size.unwrap_or(0)).bool(s.delete_on_close.unwrap_or(false));
            }
            Request::Readdir { fid, after, max } => {
                e.u64(*fid).str(after).u32(*max);
            }
            Request::Rename { fid, new_path, replace } => {
                e.u64(*fid).str(new_path).bool(*replace);
            }
            Request::Lock { fid, offset, length, exclusive, owner } => {
                e.u64(*fid).u64(*offset).u64(*length).bool(*exclusive).u64(*owner);
            }
            Request::Unlock { fid, offset, length, owner } => {
                e.u64(*fid).u64(*offset).u64(*length).u64(*owner);
            }
            Request::Shares => {}
            Request::StatFs { share } | Request::HandleList { share } => {
                e.str(share);
            }
            Request::HandlePut { share, fid, record } => {
                e.str(share).u64(*fid).bytes(record);
            }
            Request::HandleGet { share, id } | Request::HandleDelete { share, id } | Request::Reopen { share, id } => {
                e.str(share).u64(*id);
            }
            Request::HandleFind { share, client_guid, create_guid } => {
                e.str(share).guid(client_guid).guid(create_guid);
            }
            Request::HandleUpdate { share, record } => {
                e.str(share).bytes(record);
            }
            Request::HandleDeleteClose { share, id, fid } => {
                e.str(share).u64(*id).u64(*fid);
            }
        }
        e.finish()
    }

    pub fn decode(op: u16, body: &[u8]) -> Result<Request, DecodeError> {
        let op = Op::from_u16(op).ok_or_else(|| DecodeError { what: "request", reason: format!("unknown op {op}") })?;
        let mut d = Dec::new(body, "request");
        let share = |d: &mut Dec| d.str(SHARE_BYTES_MAX);
        let r = match op {
            Op::Open => Request::Open(OpenReq {
                share: share(&mut d)?,
                path: d.str(PATH_BYTES_MAX)?,
                desired_access: d.u32()?,
                share_access: d.u32()?,
                disposition: d.u32()?,
                create_options: d.u32()?,
                file_attributes: d.u32()?,
                allocation_size: d.u64()?,
                token: decode_token(&mut d)?,
                security: Bytes::copy_from_slice(d.bytes(SD_BYTES_MAX)?),
            }),
            Op::Close => Request::Close { fid: d.u64()? },
            Op::Flush => Request::Flush { fid: d.u64()? },
            Op::Stat => Request::Stat { fid: d.u64()? },
            Op::Streams => Request::Streams { fid: d.u64()? },
            Op::Path => Request::Path { fid: d.u64()? },
            Op::GetEas => Request::GetEas { fid: d.u64()? },
            Op::SetEas => Request::SetEas { fid: d.u64()?, eas: decode_eas(&mut d)? },
            Op::GetSecurity => Request::GetSecurity { fid: d.u64()? },
            Op::SetSparse => Request::SetSparse { fid: d.u64()?, sparse: d.bool()? },
            Op::ZeroData => Request::ZeroData { fid: d.u64()?, offset: d.u64()?, beyond: d.u64()? },
            Op::AllocatedRanges => Request::AllocatedRanges { fid: d.u64()?, offset: d.u64()?, length: d.u64()? },
            Op::SetSecurity => Request::SetSecurity { fid: d.u64()?, info: d.u32()?, sd: Bytes::copy_from_slice(d.bytes(SD_BYTES_MAX)?) },
            Op::Read => Request::Read { fid: d.u64()?, offset: d.u64()?, length: d.u32()? },
            Op::Write => {
                let fid = d.u64()?;
                let offset = d.u64()?;
                let data = Bytes::copy_from_slice(d.bytes(IO_BYTES_MAX as usize)?);
                Request::Write { fid, offset, data }
            }
            Op::SetInfo => {
                let fid = d.u64()?;
                let flags = d.u8()?;
                let on = |i: u8| flags & (1 << i) != 0;
                let attributes = d.u32()?;
                let times = [d.u64()?, d.u64()?, d.u64()?, d.u64()?];
                let eof = d.u64()?;
                let alloc = d.u64()?;
                let doc = d.bool()?;
                Request::SetInfo(SetInfoReq {
                    fid,
                    attributes: on(0).then_some(attributes),
                    creation_time: on(1).then_some(times[0]),
                    last_access_time: on(2).then_some(times[1]),
                    last_write_time: on(3).then_some(times[2]),
                    change_time: on(4).then_some(times[3]),
                    end_of_file: on(5).then_some(eof),
                    allocation_size: on(6).then_some(alloc),
                    delete_on_close: on(7).then_some(doc),
                })
            }
            Op::Readdir => Request::Readdir { fid: d.u64()?, after: d.str(PATH_BYTES_MAX)?, max: d.u32()? },
            Op::Rename => Request::Rename { fid: d.u64()?, new_path: d.str(PATH_BYTES_MAX)?, replace: d.bool()? },
            Op::Lock => Request::Lock { fid: d.u64()?, offset: d.u64()?, length: d.u64()?, exclusive: d.bool()?, owner: d.u64()? },
            Op::Unlock => Request::Unlock { fid: d.u64()?, offset: d.u64()?, length: d.u64()?, owner: d.u64()? },
            Op::Shares => Request::Shares,
            Op::StatFs => Request::StatFs { share: share(&mut d)? },
            Op::HandleList => Request::HandleList { share: share(&mut d)? },
            Op::HandlePut => Request::HandlePut {
                share: share(&mut d)?,
                fid: d.u64()?,
                record: Bytes::copy_from_slice(d.bytes(RECORD_BYTES_MAX)?),
            },
            Op::HandleGet => Request::HandleGet { share: share(&mut d)?, id: d.u64()? },
            Op::HandleDelete => Request::HandleDelete { share: share(&mut d)?, id: d.u64()? },
            Op::Reopen => Request::Reopen { share: share(&mut d)?, id: d.u64()? },
            Op::HandleDeleteClose => Request::HandleDeleteClose { share: share(&mut d)?, id: d.u64()?, fid: d.u64()? },
            Op::HandleFind => Request::HandleFind { share: share(&mut d)?, client_guid: d.guid()?, create_guid: d.guid()? },
            Op::HandleUpdate => {
                Request::HandleUpdate { share: share(&mut d)?, record: Bytes::copy_from_slice(d.bytes(RECORD_BYTES_MAX)?) }
            }
        };
        d.end()?;
        Ok(r)
    }
}

fn put_info(e: &mut Enc, i: &FileInfo) {
    e.u64(i.ino).bool(i.is_dir).u64(i.size_bytes).u64(i.allocation_bytes).u32(i.attributes);
    e.u64(i.creation_time).u64(i.last_access_time).u64(i.last_write_time).u64(i.change_time).bool(i.delete_pending).u32(i.ea_size);
}

fn get_info(d: &mut Dec) -> Result<FileInfo, DecodeError> {
    Ok(FileInfo {
        ino: d.u64()?,
        is_dir: d.bool()?,
        size_bytes: d.u64()?,
        allocation_bytes: d.u64()?,
        attributes: d.u32()?,
        creation_time: d.u64()?,
        last_access_time: d.u64()?,
        last_write_time: d.u64()?,
        change_time: d.u64()?,
        delete_pending: d.bool()?,
        ea_size: d.u32()?,
    })
}

impl Reply {
    /// `tag u8 | fields`.
    pub fn encode_body(&self) -> Bytes {
        let mut e = Enc::with_capacity(64);
        match self {
            Reply::Empty => {
                e.u8(0);
            }
            Reply::Opened { fid, create_action, info, granted } => {
                e.u8(1).u64(*fid).u32(*create_action).u32(*granted);
                put_info(&mut e, info);
            }
            Reply::Info(i) => {
                e.u8(2);
                put_info(&mut e, i);
            }
            Reply::Data(b) => {
                e.u8(3).bytes(b);
            }
            Reply::Written { count } => {
                e.u8(4).u32(*count);
            }
            Reply::Entries(v) => {
                e.u8(5).u32(v.len() as u32);
                for x in v {
                    e.str(&x.name);
                    put_info(&mut e, &x.info);
                }
            }
            Reply::Shares(v) => {
                e.u8(6).u32(v.len() as u32);
                for s in v {
                    e.str(&s.name).bool(s.ca).u64(s.handle_timeout_ms).bool(s.write_through);
                    e.bool(s.read_only).bool(s.encrypt).u16(s.min_dialect);
                    encode_users(&mut e, &s.valid_users);
                    encode_users(&mut e, &s.invalid_users);
                }
            }
            Reply::StatFs { block_bytes, total_blocks, free_blocks } => {
                e.u8(7).u64(*block_bytes).u64(*total_blocks).u64(*free_blocks);
            }
            Reply::Record(r) => {
                e.u8(8).bytes(r);
            }
            Reply::Records(v) => {
                e.u8(9).u32(v.len() as u32);
                for r in v {
                    e.bytes(r);
                }
            }
            Reply::Path(p) => {
                e.u8(10).str(p);
            }
            Reply::Eas(v) => {
                e.u8(11);
                encode_eas(&mut e, v);
            }
            Reply::Ranges(v) => {
                e.u8(12).u32(v.len() as u32);
                for (o, l) in v {
                    e.u64(*o).u64(*l);
                }
            }
        }
        e.finish()
    }

    pub fn decode(body: &[u8]) -> Result<Reply, DecodeError> {
        let mut d = Dec::new(body, "reply");
        let count = |d: &mut Dec| -> Result<u32, DecodeError> {
            let n = d.u32()?;
            if n > ENTRIES_MAX {
                return Err(DecodeError { what: "reply", reason: format!("{n} entries is over {ENTRIES_MAX}") });
            }
            Ok(n)
        };
        let r = match d.u8()? {
            0 => Reply::Empty,
            1 => Reply::Opened { fid: d.u64()?, create_action: d.u32()?, granted: d.u32()?, info: get_info(&mut d)? },
            2 => Reply::Info(get_info(&mut d)?),
            3 => Reply::Data(Bytes::copy_from_slice(d.bytes(IO_BYTES_MAX as usize)?)),
            4 => Reply::Written { count: d.u32()? },
            5 => {
                let n = count(&mut d)?;
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(Entry { name: d.str(PATH_BYTES_MAX)?, info: get_info(&mut d)? });
                }
                Reply::Entries(v)
            }
            6 => {
                let n = count(&mut d)?;
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(ShareInfo {
                        name: d.str(SHARE_BYTES_MAX)?,
                        ca: d.bool()?,
                        handle_timeout_ms: d.u64()?,
                        write_through: d.bool()?,
                        read_only: d.bool()?,
                        encrypt: d.bool()?,
                        min_dialect: d.u16()?,
                        valid_users: decode_users(&mut d)?,
                        invalid_users: decode_users(&mut d)?,
                    });
                }
                Reply::Shares(v)
            }
            7 => Reply::StatFs { block_bytes: d.u64()?, total_blocks: d.u64()?, free_blocks: d.u64()? },
            8 => Reply::Record(Bytes::copy_from_slice(d.bytes(RECORD_BYTES_MAX)?)),
            9 => {
                let n = count(&mut d)?;
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(Bytes::copy_from_slice(d.bytes(RECORD_BYTES_MAX)?));
                }
                Reply::Records(v)
            }
            10 => Reply::Path(d.str(PATH_BYTES_MAX)?),
            11 => Reply::Eas(decode_eas(&mut d)?),
            12 => {
                let n = count(&mut d)?;
                Reply::Ranges((0..n).map(|_| Ok((d.u64()?, d.u64()?))).collect::<Result<_, DecodeError>>()?)
            }
            t => return Err(DecodeError { what: "reply", reason: format!("unknown reply tag {t}") }),
        };
        d.end()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn samples() -> Vec<Request> {
        vec![
            Request::Open(OpenReq {
                share: "share".into(),
                path: "a\\b.txt".into(),
                desired_access: 0x12019f,
                share_access: 7,
                disposition: 3,
                create_options: 0x40,
                file_attributes: 0x80,
                allocation_size: 0,
                token: vec![holdfast_types::security::well_known::world(), holdfast_types::security::Sid::new(5, &[21, 1, 2, 3, 1000])],
                security: Bytes::from_static(b"\x01\x00\x04\x80"),
            }),
            Request::Write { fid: 9, offset: 100, data: Bytes::from_static(b"hello") },
            Request::SetEas { fid: 9, eas: vec![EaEntry { name: "EAONE".into(), value: Bytes::from_static(b"VALUE1") }] },
            Request::SetSecurity { fid: 9, info: 4, sd: Bytes::from_static(b"sd") },
            Request::SetSparse { fid: 9, sparse: true },
            Request::ZeroData { fid: 9, offset: 1, beyond: 2 },
            Request::AllocatedRanges { fid: 9, offset: 3, length: 4 },
            Request::SetInfo(SetInfoReq { fid: 3, end_of_file: Some(10), delete_on_close: Some(true), ..Default::default() }),
            Request::Readdir { fid: 1, after: "x".into(), max: 100 },
            Request::HandleFind { share: "s".into(), client_guid: [1; 16], create_guid: [2; 16] },
            Request::HandlePut { share: "s".into(), fid: 4, record: Bytes::from_static(&[1, 2, 3]) },
            Request::HandleDeleteClose { share: "s".into(), id: 0x1_0000_0005, fid: 6 },
            Request::Shares,
        ]
    }

    #[test]
    fn requests_round_trip() {
        for r in samples() {
            let body = r.encode_body();
            assert_eq!(Request::decode(r.op() as u16, &body).unwrap(), r);
            // Any truncation is an error, never a panic.
            for cut in 0..body.len() {
                if let Ok(x) = Request::decode(r.op() as u16, &body[..cut]) {
                    panic!("truncated body decoded as {x:?}");
                }
            }
        }
        assert!(Request::decode(999, &[]).unwrap_err().reason.contains("unknown op"));
    }

    #[test]
    fn replies_round_trip() {
        let info = FileInfo { ino: 5, is_dir: true, size_bytes: 1, ..Default::default() };
        for r in [
            Reply::Empty,
            Reply::Opened { fid: 1, create_action: 2, info, granted: 0x12_0089 },
            Reply::Entries(vec![Entry { name: "n".into(), info }]),
            Reply::Records(vec![Bytes::from_static(b"r")]),
            Reply::Path("d\\F:s".into()),
            Reply::Eas(vec![EaEntry { name: "A".into(), value: Bytes::from_static(b"v") }]),
            Reply::Ranges(vec![(0, 4096), (8192, 1)]),
            Reply::StatFs { block_bytes: 4096, total_blocks: 10, free_blocks: 3 },
            Reply::Shares(vec![ShareInfo {
                name: "s".into(),
                ca: true,
                handle_timeout_ms: 60_000,
                write_through: false,
                read_only: true,
                encrypt: true,
                min_dialect: 0x0300,
                valid_users: vec!["alice".into(), "carol".into()],
                invalid_users: vec!["bob".into()],
            }]),
        ] {
            assert_eq!(Reply::decode(&r.encode_body()).unwrap(), r);
        }
    }

    proptest! {
        #[test]
        fn random_bodies_never_panic(op in 0u16..30, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Request::decode(op, &body);
            let _ = Reply::decode(&body);
        }
    }
}
