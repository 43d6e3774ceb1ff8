//! CREATE ([MS-SMB2] 2.2.13, 2.2.14), both directions.
//!
//! ```text
//! request (57):  StructureSize u16, SecurityFlags u8, RequestedOplockLevel u8,
//!                ImpersonationLevel u32, SmbCreateFlags u64, Reserved u64,
//!                DesiredAccess u32, FileAttributes u32, ShareAccess u32,
//!                CreateDisposition u32, CreateOptions u32,
//!                NameOffset u16, NameLength u16,
//!                CreateContextsOffset u32, CreateContextsLength u32, Buffer
//! response (89): StructureSize u16, OplockLevel u8, Flags u8, CreateAction u32,
//!                CreationTime, LastAccessTime, LastWriteTime, ChangeTime u64,
//!                AllocationSize u64, EndofFile u64, FileAttributes u32, Reserved2 u32,
//!                FileId 16, CreateContextsOffset u32, CreateContextsLength u32, Buffer
//! ```
//! The context chain is in `create_ctx`.

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::header::HEADER_BYTES;
use crate::limits::NAME_BYTES_MAX;
use crate::msg::create_ctx::{
    decode_request_contexts, decode_response_contexts, encode_request_contexts, encode_response_contexts,
    CreateContext, CreateResponseContext,
};
use crate::msg::{impl_encode_body, len16, len32, put_odd_pad, FileId};
use crate::wire::{check_max, check_structure_size, decode_name, fixed_end, pdu_range, Reader};

const REQUEST: &str = "CREATE request";
const RESPONSE: &str = "CREATE response";

/// RequestedOplockLevel / OplockLevel.
pub mod oplock_level {
    pub const NONE: u8 = 0x00;
    pub const II: u8 = 0x01;
    pub const EXCLUSIVE: u8 = 0x08;
    pub const BATCH: u8 = 0x09;
    pub const LEASE: u8 = 0xFF;

    pub fn is_valid(level: u8) -> bool {
        matches!(level, NONE | II | EXCLUSIVE | BATCH | LEASE)
    }
}

/// ImpersonationLevel.
pub mod impersonation {
    pub const ANONYMOUS: u32 = 0;
    pub const IDENTIFICATION: u32 = 1;
    pub const IMPERSONATION: u32 = 2;
    pub const DELEGATE: u32 = 3;
}

/// ShareAccess.
pub mod share_access {
    pub const READ: u32 = 0x1;
    pub const WRITE: u32 = 0x2;
    pub const DELETE: u32 = 0x4;
}

/// CreateDisposition.
pub mod disposition {
    pub const SUPERSEDE: u32 = 0;
    pub const OPEN: u32 = 1;
    pub const CREATE: u32 = 2;
    pub const OPEN_IF: u32 = 3;
    pub const OVERWRITE: u32 = 4;
    pub const OVERWRITE_IF: u32 = 5;
}

/// CreateOptions.
pub mod create_options {
    pub const DIRECTORY_FILE: u32 = 0x0000_0001;
    pub const WRITE_THROUGH: u32 = 0x0000_0002;
    pub const SEQUENTIAL_ONLY: u32 = 0x0000_0004;
    pub const NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
    pub const SYNCHRONOUS_IO_ALERT: u32 = 0x0000_0010;
    pub const SYNCHRONOUS_IO_NONALERT: u32 = 0x0000_0020;
    pub const NON_DIRECTORY_FILE: u32 = 0x0000_0040;
    pub const COMPLETE_IF_OPLOCKED: u32 = 0x0000_0100;
    pub const NO_EA_KNOWLEDGE: u32 = 0x0000_0200;
    pub const RANDOM_ACCESS: u32 = 0x0000_0800;
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
    pub const OPEN_BY_FILE_ID: u32 = 0x0000_2000;
    pub const OPEN_FOR_BACKUP_INTENT: u32 = 0x0000_4000;
    pub const NO_COMPRESSION: u32 = 0x0000_8000;
    pub const OPEN_REMOTE_INSTANCE: u32 = 0x0000_0400;
    pub const OPEN_REQUIRING_OPLOCK: u32 = 0x0001_0000;
    pub const DISALLOW_EXCLUSIVE: u32 = 0x0002_0000;
    pub const RESERVE_OPFILTER: u32 = 0x0010_0000;
    pub const OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    pub const OPEN_NO_RECALL: u32 = 0x0040_0000;
    pub const OPEN_FOR_FREE_SPACE_QUERY: u32 = 0x0080_0000;
}

/// CreateAction.
pub mod create_action {
    pub const SUPERSEDED: u32 = 0;
    pub const OPENED: u32 = 1;
    pub const CREATED: u32 = 2;
    pub const OVERWRITTEN: u32 = 3;
}

/// Response Flags.
pub const CREATE_FLAG_REPARSEPOINT: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub security_flags: u8,
    pub requested_oplock_level: u8,
    pub impersonation_level: u32,
    pub smb_create_flags: u64,
    pub desired_access: u32,
    pub file_attributes: u32,
    pub share_access: u32,
    pub create_disposition: u32,
    pub create_options: u32,
    /// Relative to the share root, no leading backslash; "" is the root.
    pub name: String,
    pub contexts: Vec<CreateContext>,
}

impl CreateRequest {
    pub const STRUCTURE_SIZE: u16 = 57;
    const FIXED_BYTES: usize = 56;

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<CreateRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let security_flags = r.u8()?;
        let requested_oplock_level = r.u8()?;
        let impersonation_level = r.u32()?;
        let smb_create_flags = r.u64()?;
        r.skip(8)?;
        let desired_access = r.u32()?;
        let file_attributes = r.u32()?;
        let share_access = r.u32()?;
        let create_disposition = r.u32()?;
        let create_options = r.u32()?;
        let name_offset = r.u16()?;
        let name_length = r.u16()?;
        let contexts_offset = r.u32()?;
        let contexts_length = r.u32()?;
        let end = fixed_end(Self::FIXED_BYTES);
        check_max("CREATE NameLength", name_length.into(), NAME_BYTES_MAX as u64)?;
        let name_bytes = pdu_range(pdu, name_offset.into(), name_length.into(), end, "CREATE Name")?;
        let name = decode_name(name_bytes, "CREATE Name")?;
        let contexts = if contexts_length == 0 {
            Vec::new()
        } else {
            if contexts_offset % 8 != 0 {
                return Err(ProtoError::Misaligned { field: "CreateContextsOffset", offset: contexts_offset.into() });
            }
            let region =
                pdu_range(pdu, contexts_offset.into(), contexts_length.into(), end, "CREATE CreateContexts")?;
            decode_request_contexts(region)?
        };
        Ok(CreateRequest {
            security_flags,
            requested_oplock_level,
            impersonation_level,
            smb_create_flags,
            desired_access,
            file_attributes,
            share_access,
            create_disposition,
            create_options,
            name,
            contexts,
        })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        let name = crate::utf16::to_utf16le(&self.name);
        let name = &name[..name.len().min(NAME_BYTES_MAX)];
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.security_flags);
        out.put_u8(self.requested_oplock_level);
        out.put_u32_le(self.impersonation_level);
        out.put_u64_le(self.smb_create_flags);
        out.put_u64_le(0);
        out.put_u32_le(self.desired_access);
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(self.share_access);
        out.put_u32_le(self.create_disposition);
        out.put_u32_le(self.create_options);
        out.put_u16_le((HEADER_BYTES + Self::FIXED_BYTES) as u16);
        out.put_u16_le(len16(name.len()));
        let contexts_field = out.len();
        out.put_u64_le(0);
        out.put_slice(name);
        if !self.contexts.is_empty() {
            crate::wire::pad8(out, start);
            let offset = crate::wire::wire_offset(out, start);
            let ctx_start = out.len();
            encode_request_contexts(&self.contexts, out);
            let length = out.len() - ctx_start;
            out[contexts_field..contexts_field + 4].copy_from_slice(&len32(offset).to_le_bytes());
            out[contexts_field + 4..contexts_field + 8].copy_from_slice(&len32(length).to_le_bytes());
        }
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateResponse {
    pub oplock_level: u8,
    pub flags: u8,
    pub create_action: u32,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
    pub file_id: FileId,
    pub contexts: Vec<CreateResponseContext>,
}

impl CreateResponse {
    pub const STRUCTURE_SIZE: u16 = 89;
    const FIXED_BYTES: usize = 88;

    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.oplock_level);
        out.put_u8(self.flags);
        out.put_u32_le(self.create_action);
        out.put_u64_le(self.creation_time);
        out.put_u64_le(self.last_access_time);
        out.put_u64_le(self.last_write_time);
        out.put_u64_le(self.change_time);
        out.put_u64_le(self.allocation_size);
        out.put_u64_le(self.end_of_file);
        out.put_u32_le(self.file_attributes);
        out.put_u32_le(0);
        self.file_id.put(out);
        let contexts_field = out.len();
        out.put_u64_le(0);
        if !self.contexts.is_empty() {
            // 64 + 88 is a multiple of 8: the chain starts aligned.
            let offset = crate::wire::wire_offset(out, start);
            let ctx_start = out.len();
            encode_response_contexts(&self.contexts, out);
            let length = out.len() - ctx_start;
            out[contexts_field..contexts_field + 4].copy_from_slice(&len32(offset).to_le_bytes());
            out[contexts_field + 4..contexts_field + 8].copy_from_slice(&len32(length).to_le_bytes());
        }
        put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<CreateResponse> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        let mut r = Reader::new(body, RESPONSE);
        r.skip(2)?;
        let oplock_level = r.u8()?;
        let flags = r.u8()?;
        let create_action = r.u32()?;
        let creation_time = r.u64()?;
        let last_access_time = r.u64()?;
        let last_write_time = r.u64()?;
        let change_time = r.u64()?;
        let allocation_size = r.u64()?;
        let end_of_file = r.u64()?;
        let file_attributes = r.u32()?;
        r.skip(4)?;
        let file_id = FileId::read(&mut r)?;
        let contexts_offset = r.u32()?;
        let contexts_length = r.u32()?;
        let contexts = if contexts_length == 0 {
            Vec::new()
        } else {
            if contexts_offset % 8 != 0 {
                return Err(ProtoError::Misaligned { field: "CreateContextsOffset", offset: contexts_offset.into() });
            }
            let region = pdu_range(
                pdu,
                contexts_offset.into(),
                contexts_length.into(),
                fixed_end(Self::FIXED_BYTES),
                "CREATE CreateContexts",
            )?;
            decode_response_contexts(region)?
        };
        Ok(CreateResponse {
            oplock_level,
            flags,
            create_action,
            creation_time,
            last_access_time,
            last_write_time,
            change_time,
            allocation_size,
            end_of_file,
            file_attributes,
            file_id,
            contexts,
        })
    }
}

impl_encode_body!(CreateRequest, CreateResponse);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::header::Command;
    use crate::msg::create_ctx::{lease_state, name, Lease, LeaseV2, DHANDLE_FLAG_PERSISTENT};
    use crate::msg::testutil::{encode_with, le16, le32, le64, pdu};
    use crate::utf16::to_utf16le;

    /// One context laid out by hand: 16-byte header, name at 16, data at
    /// the next 8-byte boundary, the whole padded to 8 unless last.
    fn context(name: &[u8], data: &[u8], last: bool) -> Vec<u8> {
        let data_offset = if data.is_empty() { 0 } else { (16 + name.len() + 7) & !7 };
        let mut c = Vec::new();
        c.extend(le32(0));
        c.extend(le16(16));
        c.extend(le16(name.len() as u16));
        c.extend(le16(0));
        c.extend(le16(data_offset as u16));
        c.extend(le32(data.len() as u32));
        c.extend(name);
        if !data.is_empty() {
            c.resize(data_offset, 0);
            c.extend(data);
        }
        if !last {
            c.resize((c.len() + 7) & !7, 0);
            let next = c.len() as u32;
            c[0..4].copy_from_slice(&le32(next));
        }
        c
    }

    /// The CREATE that smb-msg 0.12.1 cannot parse: a BATCH oplock request
    /// together with a lease v2, an unknown context, DH2Q and an
    /// AppInstanceId. (A real client sends either BATCH or LEASE; the
    /// codec does not judge, the server does.)
    pub(crate) fn hard_create_bytes() -> Vec<u8> {
        let name = to_utf16le("dir\\file.txt");
        let mut lease = Vec::new();
        lease.extend([0xA1; 16]);
        lease.extend(le32(lease_state::READ_CACHING | lease_state::HANDLE_CACHING | lease_state::WRITE_CACHING));
        lease.extend(le32(4)); // PARENT_LEASE_KEY_SET
        lease.extend(le64(0));
        lease.extend([0xB2; 16]);
        lease.extend(le16(1));
        lease.extend(le16(0));
        let mut dh2q = Vec::new();
        dh2q.extend(le32(0));
        dh2q.extend(le32(DHANDLE_FLAG_PERSISTENT));
        dh2q.extend(le64(0));
        dh2q.extend([0xC3; 16]);
        let mut app = Vec::new();
        app.extend(le16(20));
        app.extend(le16(0));
        app.extend([0xD4; 16]);
        let mut chain = Vec::new();
        chain.extend(context(b"RqLs", &lease, false));
        chain.extend(context(b"XyZw", &[1, 2, 3, 4, 5], false));
        chain.extend(context(b"DH2Q", &dh2q, false));
        chain.extend(context(name::APP_INSTANCE_ID, &app, false));
        chain.extend(context(b"MxAc", &[], true));

        let name_offset = 0x78u16;
        let contexts_offset = (0x78 + name.len() as u32 + 7) & !7;
        let mut b = Vec::new();
        b.extend(le16(57));
        b.push(0);
        b.push(oplock_level::BATCH);
        b.extend(le32(impersonation::IMPERSONATION));
        b.extend(le64(0));
        b.extend(le64(0));
        b.extend(le32(0x0012_019F));
        b.extend(le32(0x80));
        b.extend(le32(share_access::READ | share_access::WRITE | share_access::DELETE));
        b.extend(le32(disposition::OPEN_IF));
        b.extend(le32(create_options::NON_DIRECTORY_FILE));
        b.extend(le16(name_offset));
        b.extend(le16(name.len() as u16));
        b.extend(le32(contexts_offset));
        b.extend(le32(chain.len() as u32));
        b.extend(&name);
        b.resize(contexts_offset as usize - 64, 0);
        b.extend(&chain);
        pdu(Command::Create, &b)
    }

    #[test]
    fn batch_oplock_lease_v2_unknown_dh2q_and_app_instance_together() {
        let p = hard_create_bytes();
        let r = CreateRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.requested_oplock_level, oplock_level::BATCH);
        assert_eq!(r.name, "dir\\file.txt");
        assert_eq!(r.create_disposition, disposition::OPEN_IF);
        assert_eq!(r.contexts.len(), 5);
        assert_eq!(
            r.contexts[0],
            CreateContext::Lease(Lease {
                key: [0xA1; 16],
                state: 7,
                flags: 4,
                duration: 0,
                v2: Some(LeaseV2 { parent_key: [0xB2; 16], epoch: 1 }),
            })
        );
        assert_eq!(r.contexts[1], CreateContext::Unknown { name: b"XyZw".to_vec(), data: vec![1, 2, 3, 4, 5] });
        assert_eq!(
            r.contexts[2],
            CreateContext::DurableRequestV2 { timeout: 0, flags: DHANDLE_FLAG_PERSISTENT, create_guid: [0xC3; 16] }
        );
        assert_eq!(r.contexts[3], CreateContext::AppInstanceId([0xD4; 16]));
        assert_eq!(r.contexts[4], CreateContext::QueryMaximalAccess { timestamp: None });
    }

    #[test]
    fn lease_oplock_level_with_v1_lease() {
        let req = CreateRequest {
            requested_oplock_level: oplock_level::LEASE,
            contexts: vec![CreateContext::Lease(Lease { key: [1; 16], state: 1, flags: 0, duration: 0, v2: None })],
            ..sample_request()
        };
        let p = encode_with(Command::Create, |o| req.encode(o));
        let d = CreateRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(d, req);
    }

    fn sample_request() -> CreateRequest {
        CreateRequest {
            security_flags: 0,
            requested_oplock_level: oplock_level::NONE,
            impersonation_level: impersonation::IMPERSONATION,
            smb_create_flags: 0,
            desired_access: 0x0012_0089,
            file_attributes: 0,
            share_access: share_access::READ,
            create_disposition: disposition::OPEN,
            create_options: 0,
            name: "a\\b.txt".into(),
            contexts: vec![],
        }
    }

    #[test]
    fn request_round_trips_with_and_without_contexts() {
        let req = sample_request();
        let p = encode_with(Command::Create, |o| req.encode(o));
        assert_eq!(CreateRequest::decode(&p[64..], &p).unwrap(), req);
        let root = CreateRequest { name: String::new(), ..sample_request() };
        let p = encode_with(Command::Create, |o| root.encode(o));
        assert_eq!(p.len(), 64 + 57);
        assert_eq!(CreateRequest::decode(&p[64..], &p).unwrap(), root);
        let p = hard_create_bytes();
        let hard = CreateRequest::decode(&p[64..], &p).unwrap();
        let p2 = encode_with(Command::Create, |o| hard.encode(o));
        assert_eq!(CreateRequest::decode(&p2[64..], &p2).unwrap(), hard);
    }

    #[test]
    fn invalid_name_is_object_name_invalid() {
        let mut p = encode_with(Command::Create, |o| sample_request().encode(o));
        // Replace the first name unit with a lone low surrogate.
        p[120] = 0x00;
        p[121] = 0xDC;
        let e = CreateRequest::decode(&p[64..], &p).unwrap_err();
        assert_eq!(e.status(), holdfast_types::ntstatus::NtStatus::OBJECT_NAME_INVALID);
        // An odd NameLength too.
        let mut p = encode_with(Command::Create, |o| sample_request().encode(o));
        p[64 + 46] = 3;
        let e = CreateRequest::decode(&p[64..], &p).unwrap_err();
        assert_eq!(e.status(), holdfast_types::ntstatus::NtStatus::OBJECT_NAME_INVALID);
    }

    #[test]
    fn bad_offsets_are_invalid_parameter() {
        let p = hard_create_bytes();
        // Contexts misaligned.
        let mut z = p.clone();
        z[64 + 48] += 4;
        assert!(matches!(CreateRequest::decode(&z[64..], &z), Err(ProtoError::Misaligned { .. })));
        // Contexts length past the end.
        let mut z = p.clone();
        z[64 + 53] = 0x10;
        assert!(matches!(CreateRequest::decode(&z[64..], &z), Err(ProtoError::OutOfBounds { .. })));
        // Name in the fixed part.
        let mut z = p.clone();
        z[64 + 44] = 0x70;
        assert!(matches!(CreateRequest::decode(&z[64..], &z), Err(ProtoError::OutOfBounds { .. })));
        // Body shorter than the fixed part.
        assert!(CreateRequest::decode(&p[64..100], &p[..100]).is_err());
    }

    #[test]
    fn response_round_trip_with_contexts() {
        let rsp = CreateResponse {
            oplock_level: oplock_level::LEASE,
            flags: 0,
            create_action: create_action::CREATED,
            creation_time: 1,
            last_access_time: 2,
            last_write_time: 3,
            change_time: 4,
            allocation_size: 4096,
            end_of_file: 10,
            file_attributes: crate::file_attr::ARCHIVE,
            file_id: FileId { persistent: 0x1111, volatile: 0x2222 },
            contexts: vec![
                CreateResponseContext::MaximalAccess { query_status: 0, maximal_access: 0x001F_01FF },
                CreateResponseContext::DurableResponseV2 { timeout: 60_000, flags: DHANDLE_FLAG_PERSISTENT },
                CreateResponseContext::Lease(Lease {
                    key: [1; 16],
                    state: 7,
                    flags: 0,
                    duration: 0,
                    v2: Some(LeaseV2 { parent_key: [0; 16], epoch: 2 }),
                }),
                CreateResponseContext::OnDiskId { disk_file_id: 5, volume_id: 6 },
                CreateResponseContext::DurableResponse,
            ],
        };
        let p = encode_with(Command::Create, |o| rsp.encode(o));
        assert_eq!(&p[64 + 80..64 + 84], &le32(152));
        assert_eq!(CreateResponse::decode(&p[64..], &p).unwrap(), rsp);
        let plain = CreateResponse { contexts: vec![], ..rsp };
        let p = encode_with(Command::Create, |o| plain.encode(o));
        assert_eq!(p.len(), 64 + 89);
        assert_eq!(CreateResponse::decode(&p[64..], &p).unwrap(), plain);
    }
}
