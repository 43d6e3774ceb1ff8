//! CREATE contexts ([MS-SMB2] 2.2.13.2, 2.2.14.2): the chain format and
//! the typed request and response contexts.
//!
//! ```text
//! SMB2_CREATE_CONTEXT:
//!   Next u32        offset from this context to the next (8-aligned), 0 if last
//!   NameOffset u16  from this context; NameLength u16
//!   Reserved u16
//!   DataOffset u16  from this context; DataLength u32
//!   Buffer          name, padding to 8, data
//! ```
//!
//! Unknown contexts are kept as `Unknown { name, data }` and never fail a
//! CREATE: clients (Windows, macOS "AAPL", smbtorture) send contexts a
//! server may not know, and [MS-SMB2] 3.3.5.9 says to ignore them.

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::limits::CREATE_CONTEXTS_MAX;
use crate::msg::{clip32, len16, len32, FileId};
use crate::wire::{align8, Guid, Reader};

/// Context names.
pub mod name {
    pub const DURABLE_HANDLE_REQUEST: &[u8; 4] = b"DHnQ";
    pub const DURABLE_HANDLE_RECONNECT: &[u8; 4] = b"DHnC";
    pub const DURABLE_HANDLE_REQUEST_V2: &[u8; 4] = b"DH2Q";
    pub const DURABLE_HANDLE_RECONNECT_V2: &[u8; 4] = b"DH2C";
    pub const REQUEST_LEASE: &[u8; 4] = b"RqLs";
    pub const QUERY_MAXIMAL_ACCESS: &[u8; 4] = b"MxAc";
    pub const QUERY_ON_DISK_ID: &[u8; 4] = b"QFid";
    pub const ALLOCATION_SIZE: &[u8; 4] = b"AlSi";
    pub const TIMEWARP_TOKEN: &[u8; 4] = b"TWrp";
    pub const SD_BUFFER: &[u8; 4] = b"SecD";
    pub const EA_BUFFER: &[u8; 4] = b"ExtA";
    /// SMB2_CREATE_APP_INSTANCE_ID, GUID 6AA6BC45-A7EF-4AF7-9008-FA462E144D74
    /// in wire byte order.
    pub const APP_INSTANCE_ID: &[u8; 16] =
        &[0x45, 0xBC, 0xA6, 0x6A, 0xEF, 0xA7, 0xF7, 0x4A, 0x90, 0x08, 0xFA, 0x46, 0x2E, 0x14, 0x4D, 0x74];
    /// SMB2_CREATE_APP_INSTANCE_VERSION, GUID B7D082B9-563B-4F07-A07B-524A8116A010
    /// in wire byte order.
    pub const APP_INSTANCE_VERSION: &[u8; 16] =
        &[0xB9, 0x82, 0xD0, 0xB7, 0x3B, 0x56, 0x07, 0x4F, 0xA0, 0x7B, 0x52, 0x4A, 0x81, 0x16, 0xA0, 0x10];
}

/// DH2Q / DH2C Flags.
pub const DHANDLE_FLAG_PERSISTENT: u32 = 0x0000_0002;

/// Lease Flags.
pub mod lease_flags {
    pub const BREAK_IN_PROGRESS: u32 = 0x0000_0002;
    pub const PARENT_LEASE_KEY_SET: u32 = 0x0000_0004;
}

/// LeaseState bits.
pub mod lease_state {
    pub const NONE: u32 = 0x00;
    pub const READ_CACHING: u32 = 0x01;
    pub const HANDLE_CACHING: u32 = 0x02;
    pub const WRITE_CACHING: u32 = 0x04;
}

/// SMB2_CREATE_REQUEST_LEASE (v1, 32 bytes) and _V2 (52 bytes); the
/// response contexts have the same layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub key: [u8; 16],
    pub state: u32,
    pub flags: u32,
    pub duration: u64,
    /// Present in a v2 lease.
    pub v2: Option<LeaseV2>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseV2 {
    pub parent_key: [u8; 16],
    pub epoch: u16,
}

const LEASE_V1_BYTES: usize = 32;
const LEASE_V2_BYTES: usize = 52;

impl Lease {
    fn decode(data: &[u8]) -> Result<Lease> {
        if data.len() != LEASE_V1_BYTES && data.len() != LEASE_V2_BYTES {
            return Err(ProtoError::InvalidValue { field: "RqLs DataLength", value: data.len() as u64 });
        }
        let mut r = Reader::new(data, "RqLs");
        let key = r.array()?;
        let state = r.u32()?;
        let flags = r.u32()?;
        let duration = r.u64()?;
        let v2 = if data.len() == LEASE_V2_BYTES {
            let parent_key = r.array()?;
            let epoch = r.u16()?;
            Some(LeaseV2 { parent_key, epoch })
        } else {
            None
        };
        Ok(Lease { key, state, flags, duration, v2 })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.state.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.duration.to_le_bytes());
        if let Some(v2) = &self.v2 {
            out.extend_from_slice(&v2.parent_key);
            out.extend_from_slice(&v2.epoch.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
}

/// A create context in a CREATE request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateContext {
    /// DHnQ: durable handle v1 request (16 reserved bytes).
    DurableRequest,
    /// DHnC: durable handle v1 reconnect.
    DurableReconnect { file_id: FileId },
    /// DH2Q: durable handle v2 request.
    DurableRequestV2 { timeout: u32, flags: u32, create_guid: Guid },
    /// DH2C: durable handle v2 reconnect.
    DurableReconnectV2 { file_id: FileId, create_guid: Guid, flags: u32 },
    /// RqLs: lease v1 or v2.
    Lease(Lease),
    /// MxAc: query maximal access, with an optional timestamp.
    QueryMaximalAccess { timestamp: Option<u64> },
    /// QFid: query on-disk id.
    QueryOnDiskId,
    /// AlSi.
    AllocationSize(u64),
    /// TWrp: a previous-version timestamp (parsed; the server may refuse).
    TimewarpToken(u64),
    /// SecD: a self-relative security descriptor, raw.
    SecurityDescriptor(Vec<u8>),
    /// ExtA: FILE_FULL_EA_INFORMATION list, raw.
    ExtendedAttributes(Vec<u8>),
    /// SMB2_CREATE_APP_INSTANCE_ID.
    AppInstanceId(Guid),
    /// SMB2_CREATE_APP_INSTANCE_VERSION.
    AppInstanceVersion { high: u64, low: u64 },
    /// Anything else: kept, ignored.
    Unknown { name: Vec<u8>, data: Vec<u8> },
}

const APP_INSTANCE_ID_BYTES: usize = 20;
const APP_INSTANCE_VERSION_BYTES: usize = 24;

fn exact(data: &[u8], len: usize, field: &'static str) -> Result<()> {
    if data.len() != len {
        return Err(ProtoError::InvalidValue { field, value: data.len() as u64 });
    }
    Ok(())
}

impl CreateContext {
    fn decode(name: &[u8], data: &[u8]) -> Result<CreateContext> {
        let mut r = Reader::new(data, "create context");
        Ok(if name == name::DURABLE_HANDLE_REQUEST {
            exact(data, 16, "DHnQ DataLength")?;
            CreateContext::DurableRequest
        } else if name == name::DURABLE_HANDLE_RECONNECT {
            exact(data, 16, "DHnC DataLength")?;
            CreateContext::DurableReconnect { file_id: FileId::read(&mut r)? }
        } else if name == name::DURABLE_HANDLE_REQUEST_V2 {
            exact(data, 32, "DH2Q DataLength")?;
            let timeout = r.u32()?;
            let flags = r.u32()?;
            r.skip(8)?;
            CreateContext::DurableRequestV2 { timeout, flags, create_guid: r.array()? }
        } else if name == name::DURABLE_HANDLE_RECONNECT_V2 {
            exact(data, 36, "DH2C DataLength")?;
            let file_id = FileId::read(&mut r)?;
            let create_guid = r.array()?;
            CreateContext::DurableReconnectV2 { file_id, create_guid, flags: r.u32()? }
        } else if name == name::REQUEST_LEASE {
            CreateContext::Lease(Lease::decode(data)?)
        } else if name == name::QUERY_MAXIMAL_ACCESS {
            let timestamp = match data.len() {
                0 => None,
                8 => Some(r.u64()?),
                n => return Err(ProtoError::InvalidValue { field: "MxAc DataLength", value: n as u64 }),
            };
            CreateContext::QueryMaximalAccess { timestamp }
        } else if name == name::QUERY_ON_DISK_ID {
            CreateContext::QueryOnDiskId
        } else if name == name::ALLOCATION_SIZE {
            exact(data, 8, "AlSi DataLength")?;
            CreateContext::AllocationSize(r.u64()?)
        } else if name == name::TIMEWARP_TOKEN {
            exact(data, 8, "TWrp DataLength")?;
            CreateContext::TimewarpToken(r.u64()?)
        } else if name == name::SD_BUFFER {
            CreateContext::SecurityDescriptor(data.to_vec())
        } else if name == name::EA_BUFFER {
            CreateContext::ExtendedAttributes(data.to_vec())
        } else if name == name::APP_INSTANCE_ID {
            exact(data, APP_INSTANCE_ID_BYTES, "AppInstanceId DataLength")?;
            let size = r.u16()?;
            if usize::from(size) != APP_INSTANCE_ID_BYTES {
                return Err(ProtoError::StructureSize {
                    what: "AppInstanceId",
                    got: size,
                    expected: APP_INSTANCE_ID_BYTES as u16,
                });
            }
            r.skip(2)?;
            CreateContext::AppInstanceId(r.array()?)
        } else if name == name::APP_INSTANCE_VERSION {
            exact(data, APP_INSTANCE_VERSION_BYTES, "AppInstanceVersion DataLength")?;
            let size = r.u16()?;
            if usize::from(size) != APP_INSTANCE_VERSION_BYTES {
                return Err(ProtoError::StructureSize {
                    what: "AppInstanceVersion",
                    got: size,
                    expected: APP_INSTANCE_VERSION_BYTES as u16,
                });
            }
            r.skip(6)?;
            let high = r.u64()?;
            CreateContext::AppInstanceVersion { high, low: r.u64()? }
        } else {
            CreateContext::Unknown { name: name.to_vec(), data: data.to_vec() }
        })
    }

    /// (name, data) as they go on the wire.
    fn to_wire(&self) -> (Vec<u8>, Vec<u8>) {
        let mut d = Vec::new();
        let n: &[u8] = match self {
            CreateContext::DurableRequest => {
                d.extend_from_slice(&[0; 16]);
                name::DURABLE_HANDLE_REQUEST
            }
            CreateContext::DurableReconnect { file_id } => {
                put_file_id(&mut d, file_id);
                name::DURABLE_HANDLE_RECONNECT
            }
            CreateContext::DurableRequestV2 { timeout, flags, create_guid } => {
                d.extend_from_slice(&timeout.to_le_bytes());
                d.extend_from_slice(&flags.to_le_bytes());
                d.extend_from_slice(&[0; 8]);
                d.extend_from_slice(create_guid);
                name::DURABLE_HANDLE_REQUEST_V2
            }
            CreateContext::DurableReconnectV2 { file_id, create_guid, flags } => {
                put_file_id(&mut d, file_id);
                d.extend_from_slice(create_guid);
                d.extend_from_slice(&flags.to_le_bytes());
                name::DURABLE_HANDLE_RECONNECT_V2
            }
            CreateContext::Lease(l) => {
                l.encode(&mut d);
                name::REQUEST_LEASE
            }
            CreateContext::QueryMaximalAccess { timestamp } => {
                if let Some(t) = timestamp {
                    d.extend_from_slice(&t.to_le_bytes());
                }
                name::QUERY_MAXIMAL_ACCESS
            }
            CreateContext::QueryOnDiskId => name::QUERY_ON_DISK_ID,
            CreateContext::AllocationSize(v) => {
                d.extend_from_slice(&v.to_le_bytes());
                name::ALLOCATION_SIZE
            }
            CreateContext::TimewarpToken(v) => {
                d.extend_from_slice(&v.to_le_bytes());
                name::TIMEWARP_TOKEN
            }
            CreateContext::SecurityDescriptor(sd) => {
                d.extend_from_slice(sd);
                name::SD_BUFFER
            }
            CreateContext::ExtendedAttributes(ea) => {
                d.extend_from_slice(ea);
                name::EA_BUFFER
            }
            CreateContext::AppInstanceId(guid) => {
                d.extend_from_slice(&(APP_INSTANCE_ID_BYTES as u16).to_le_bytes());
                d.extend_from_slice(&[0, 0]);
                d.extend_from_slice(guid);
                name::APP_INSTANCE_ID
            }
            CreateContext::AppInstanceVersion { high, low } => {
                d.extend_from_slice(&(APP_INSTANCE_VERSION_BYTES as u16).to_le_bytes());
                d.extend_from_slice(&[0; 6]);
                d.extend_from_slice(&high.to_le_bytes());
                d.extend_from_slice(&low.to_le_bytes());
                name::APP_INSTANCE_VERSION
            }
            CreateContext::Unknown { name, data } => {
                d.extend_from_slice(data);
                return (name.clone(), d);
            }
        };
        (n.to_vec(), d)
    }
}

/// A create context in a CREATE response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateResponseContext {
    /// DHnQ: the open is durable (8 reserved bytes).
    DurableResponse,
    /// DH2Q: the open is durable (v2), with the granted timeout.
    DurableResponseV2 { timeout: u32, flags: u32 },
    /// RqLs: the granted lease.
    Lease(Lease),
    /// MxAc.
    MaximalAccess { query_status: u32, maximal_access: u32 },
    /// QFid: DiskFileId u64, VolumeId u64, 16 reserved bytes.
    OnDiskId { disk_file_id: u64, volume_id: u64 },
    /// Anything else, raw.
    Other { name: Vec<u8>, data: Vec<u8> },
}

impl CreateResponseContext {
    fn decode(name: &[u8], data: &[u8]) -> Result<CreateResponseContext> {
        let mut r = Reader::new(data, "create response context");
        Ok(if name == name::DURABLE_HANDLE_REQUEST {
            CreateResponseContext::DurableResponse
        } else if name == name::DURABLE_HANDLE_REQUEST_V2 {
            let timeout = r.u32()?;
            CreateResponseContext::DurableResponseV2 { timeout, flags: r.u32()? }
        } else if name == name::REQUEST_LEASE {
            CreateResponseContext::Lease(Lease::decode(data)?)
        } else if name == name::QUERY_MAXIMAL_ACCESS {
            let query_status = r.u32()?;
            CreateResponseContext::MaximalAccess { query_status, maximal_access: r.u32()? }
        } else if name == name::QUERY_ON_DISK_ID {
            let disk_file_id = r.u64()?;
            CreateResponseContext::OnDiskId { disk_file_id, volume_id: r.u64()? }
        } else {
            CreateResponseContext::Other { name: name.to_vec(), data: data.to_vec() }
        })
    }

    fn to_wire(&self) -> (Vec<u8>, Vec<u8>) {
        let mut d = Vec::new();
        let n: &[u8] = match self {
            CreateResponseContext::DurableResponse => {
                d.extend_from_slice(&[0; 8]);
                name::DURABLE_HANDLE_REQUEST
            }
            CreateResponseContext::DurableResponseV2 { timeout, flags } => {
                d.extend_from_slice(&timeout.to_le_bytes());
                d.extend_from_slice(&flags.to_le_bytes());
                name::DURABLE_HANDLE_REQUEST_V2
            }
            CreateResponseContext::Lease(l) => {
                l.encode(&mut d);
                name::REQUEST_LEASE
            }
            CreateResponseContext::MaximalAccess { query_status, maximal_access } => {
                d.extend_from_slice(&query_status.to_le_bytes());
                d.extend_from_slice(&maximal_access.to_le_bytes());
                name::QUERY_MAXIMAL_ACCESS
            }
            CreateResponseContext::OnDiskId { disk_file_id, volume_id } => {
                d.extend_from_slice(&disk_file_id.to_le_bytes());
                d.extend_from_slice(&volume_id.to_le_bytes());
                d.extend_from_slice(&[0; 16]);
                name::QUERY_ON_DISK_ID
            }
            CreateResponseContext::Other { name, data } => {
                d.extend_from_slice(data);
                return (name.clone(), d);
            }
        };
        (n.to_vec(), d)
    }
}

fn put_file_id(d: &mut Vec<u8>, f: &FileId) {
    d.extend_from_slice(&f.persistent.to_le_bytes());
    d.extend_from_slice(&f.volatile.to_le_bytes());
}

const CONTEXT_HEADER_BYTES: usize = 16;

/// Splits a create-context region (already bounds-checked against the
/// PDU) into raw (name, data) pairs. Each Next must be 8-aligned, at
/// least one context header and inside the region; each name and data
/// range must lie inside its own context, after its 16-byte header; names
/// are not empty; at most [`CREATE_CONTEXTS_MAX`] contexts.
pub(crate) fn split_context_chain(region: &[u8]) -> Result<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    loop {
        if out.len() == CREATE_CONTEXTS_MAX {
            return Err(ProtoError::TooMany {
                field: "create contexts",
                count: CREATE_CONTEXTS_MAX as u64 + 1,
                max: CREATE_CONTEXTS_MAX as u64,
            });
        }
        let rest = region.get(pos..).unwrap_or(&[]);
        let mut r = Reader::new(rest, "create context");
        let next = r.u32()? as usize;
        let name_offset = usize::from(r.u16()?);
        let name_length = usize::from(r.u16()?);
        r.skip(2)?;
        let data_offset = usize::from(r.u16()?);
        let data_length = r.u32()? as usize;
        let ctx = if next == 0 {
            rest
        } else {
            if next % 8 != 0 {
                return Err(ProtoError::Misaligned { field: "create context Next", offset: next as u64 });
            }
            if next < CONTEXT_HEADER_BYTES || next > rest.len() {
                return Err(ProtoError::OutOfBounds {
                    field: "create context Next",
                    offset: pos as u64,
                    length: next as u64,
                    start: CONTEXT_HEADER_BYTES,
                    end: rest.len(),
                });
            }
            &rest[..next]
        };
        // Every defined name is 4 bytes or longer; Windows refuses a
        // shorter one (smbtorture smb2.create.blob).
        if name_length < CONTEXT_NAME_BYTES_MIN {
            return Err(ProtoError::InvalidValue { field: "create context NameLength", value: name_length as u64 });
        }
        let name = inner_range(ctx, name_offset, name_length, "create context Name")?;
        let data = if data_length == 0 {
            &[][..]
        } else {
            inner_range(ctx, data_offset, data_length, "create context Data")?
        };
        out.push((name, data));
        if next == 0 {
            return Ok(out);
        }
        pos += next;
    }
}


/// The shortest create context name a server takes.
const CONTEXT_NAME_BYTES_MIN: usize = 4;
/// A range inside one context, after its header.
fn inner_range<'a>(ctx: &'a [u8], offset: usize, length: usize, field: &'static str) -> Result<&'a [u8]> {
    let end = offset.checked_add(length);
    match end {
        Some(end) if offset >= CONTEXT_HEADER_BYTES && end <= ctx.len() => Ok(&ctx[offset..end]),
        _ => Err(ProtoError::OutOfBounds {
            field,
            offset: offset as u64,
            length: length as u64,
            start: CONTEXT_HEADER_BYTES,
            end: ctx.len(),
        }),
    }
}

pub(crate) fn decode_request_contexts(region: &[u8]) -> Result<Vec<CreateContext>> {
    split_context_chain(region)?.into_iter().map(|(n, d)| CreateContext::decode(n, d)).collect()
}

pub(crate) fn decode_response_contexts(region: &[u8]) -> Result<Vec<CreateResponseContext>> {
    split_context_chain(region)?.into_iter().map(|(n, d)| CreateResponseContext::decode(n, d)).collect()
}

pub(crate) fn encode_request_contexts(contexts: &[CreateContext], out: &mut BytesMut) {
    let wire: Vec<_> = contexts.iter().take(CREATE_CONTEXTS_MAX).map(CreateContext::to_wire).collect();
    encode_chain(&wire, out);
}

pub(crate) fn encode_response_contexts(contexts: &[CreateResponseContext], out: &mut BytesMut) {
    let wire: Vec<_> = contexts.iter().take(CREATE_CONTEXTS_MAX).map(CreateResponseContext::to_wire).collect();
    encode_chain(&wire, out);
}

/// Writes contexts as a chain: name right after the header, data at the
/// next 8-byte boundary, each context but the last padded to 8 so the
/// next one is aligned.
fn encode_chain(items: &[(Vec<u8>, Vec<u8>)], out: &mut BytesMut) {
    for (i, (name, data)) in items.iter().enumerate() {
        let start = out.len();
        let name = &name[..name.len().min(usize::from(u16::MAX) - CONTEXT_HEADER_BYTES)];
        let data = clip32(data);
        let after_name = CONTEXT_HEADER_BYTES + name.len();
        let data_offset = if data.is_empty() { 0 } else { align8(after_name).unwrap_or(after_name) };
        out.put_u32_le(0);
        out.put_u16_le(CONTEXT_HEADER_BYTES as u16);
        out.put_u16_le(len16(name.len()));
        out.put_u16_le(0);
        out.put_u16_le(len16(data_offset));
        out.put_u32_le(len32(data.len()));
        out.put_slice(name);
        if !data.is_empty() {
            crate::wire::pad8(out, start);
            out.put_slice(data);
        }
        if i + 1 < items.len() {
            crate::wire::pad8(out, start);
            let next = len32(out.len() - start).to_le_bytes();
            out[start..start + 4].copy_from_slice(&next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_request_contexts() -> Vec<CreateContext> {
        vec![
            CreateContext::DurableRequest,
            CreateContext::DurableReconnect { file_id: FileId { persistent: 1, volatile: 2 } },
            CreateContext::DurableRequestV2 { timeout: 60_000, flags: DHANDLE_FLAG_PERSISTENT, create_guid: [4; 16] },
            CreateContext::DurableReconnectV2 {
                file_id: FileId { persistent: 3, volatile: 4 },
                create_guid: [5; 16],
                flags: DHANDLE_FLAG_PERSISTENT,
            },
            CreateContext::Lease(Lease { key: [6; 16], state: 7, flags: 0, duration: 0, v2: None }),
            CreateContext::Lease(Lease {
                key: [6; 16],
                state: 7,
                flags: lease_flags::PARENT_LEASE_KEY_SET,
                duration: 0,
                v2: Some(LeaseV2 { parent_key: [8; 16], epoch: 3 }),
            }),
            CreateContext::QueryMaximalAccess { timestamp: None },
            CreateContext::QueryMaximalAccess { timestamp: Some(99) },
            CreateContext::QueryOnDiskId,
            CreateContext::AllocationSize(4096),
            CreateContext::TimewarpToken(132_000_000_000_000_000),
            CreateContext::SecurityDescriptor(vec![1, 0, 4, 0x80]),
            CreateContext::ExtendedAttributes(vec![0; 12]),
            CreateContext::AppInstanceId([0x42; 16]),
            CreateContext::AppInstanceVersion { high: 1, low: 2 },
            CreateContext::Unknown { name: b"AAPL".to_vec(), data: vec![1, 2, 3] },
            CreateContext::Unknown { name: b"ZZZZ".to_vec(), data: vec![] },
        ]
    }

    #[test]
    fn every_request_context_round_trips() {
        let c = all_request_contexts();
        let mut out = BytesMut::new();
        encode_request_contexts(&c, &mut out);
        assert_eq!(decode_request_contexts(&out).unwrap(), c);
    }

    #[test]
    fn every_response_context_round_trips() {
        let c = vec![
            CreateResponseContext::DurableResponse,
            CreateResponseContext::DurableResponseV2 { timeout: 120_000, flags: DHANDLE_FLAG_PERSISTENT },
            CreateResponseContext::Lease(Lease { key: [1; 16], state: 5, flags: 0, duration: 0, v2: None }),
            CreateResponseContext::MaximalAccess { query_status: 0, maximal_access: 0x001F_01FF },
            CreateResponseContext::OnDiskId { disk_file_id: 77, volume_id: 88 },
            CreateResponseContext::Other { name: b"AAPL".to_vec(), data: vec![9; 5] },
        ];
        let mut out = BytesMut::new();
        encode_response_contexts(&c, &mut out);
        assert_eq!(decode_response_contexts(&out).unwrap(), c);
    }

    #[test]
    fn chain_layout_is_aligned() {
        let c = vec![CreateContext::QueryMaximalAccess { timestamp: None }, CreateContext::AllocationSize(1)];
        let mut out = BytesMut::new();
        encode_request_contexts(&c, &mut out);
        // MxAc: 16 header + 4 name = 20, padded to 24.
        assert_eq!(&out[0..4], &24u32.to_le_bytes());
        // AlSi: data at 24 (16 + 4 name, aligned).
        assert_eq!(&out[24 + 10..24 + 12], &24u16.to_le_bytes());
        assert_eq!(out.len(), 24 + 24 + 8);
    }

    #[test]
    fn bad_chains_are_errors() {
        let c = vec![CreateContext::DurableRequest, CreateContext::QueryOnDiskId];
        let mut out = BytesMut::new();
        encode_request_contexts(&c, &mut out);
        let good = out.to_vec();
        assert!(decode_request_contexts(&good).is_ok());
        // Misaligned Next.
        let mut b = good.clone();
        b[0] += 1;
        assert!(matches!(decode_request_contexts(&b), Err(ProtoError::Misaligned { .. })));
        // Next beyond the region.
        let mut b = good.clone();
        b[1] = 1;
        assert!(decode_request_contexts(&b).is_err());
        // Name inside the header.
        let mut b = good.clone();
        b[4] = 8;
        assert!(decode_request_contexts(&b).is_err());
        // Data past the context.
        let mut b = good.clone();
        b[12] = 100;
        assert!(decode_request_contexts(&b).is_err());
        // Empty name.
        let mut b = good.clone();
        b[6] = 0;
        assert!(decode_request_contexts(&b).is_err());
        // Known context with the wrong size.
        let mut b = good;
        b[12] = 15;
        assert!(decode_request_contexts(&b).is_err());
        // Truncated header.
        assert!(decode_request_contexts(&[0; 10]).is_err());
    }

    #[test]
    fn context_count_is_bounded() {
        let c = vec![CreateContext::QueryOnDiskId; CREATE_CONTEXTS_MAX];
        let mut out = BytesMut::new();
        encode_request_contexts(&c, &mut out);
        assert_eq!(decode_request_contexts(&out).unwrap().len(), CREATE_CONTEXTS_MAX);
        // Link one more by hand.
        let last = out.len() - 20;
        let mut b = out.to_vec();
        b.extend([0; 4]);
        b[last..last + 4].copy_from_slice(&24u32.to_le_bytes());
        let first = b[..20].to_vec();
        b.extend_from_slice(&first);
        let n = b.len();
        b[n - 20..n - 16].copy_from_slice(&[0; 4]);
        assert!(matches!(decode_request_contexts(&b), Err(ProtoError::TooMany { .. })));
    }
}
