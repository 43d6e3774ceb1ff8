//! TREE_CONNECT ([MS-SMB2] 2.2.9, 2.2.10), both directions.
//!
//! ```text
//! request (9):   StructureSize u16, Flags u16 (3.1.1) | Reserved,
//!                PathOffset u16, PathLength u16, Buffer
//!                with EXTENSION_PRESENT, Buffer starts with
//!                TreeConnectContextOffset u32, TreeConnectContextCount u16, Reserved 10,
//!                then PathName and the tree connect contexts (ignored here)
//! response (16): StructureSize u16, ShareType u8, Reserved u8, ShareFlags u32,
//!                Capabilities u32, MaximalAccess u32
//! ```

use bytes::{BufMut, BytesMut};

use crate::error::Result;
use crate::header::HEADER_BYTES;
use crate::limits::NAME_BYTES_MAX;
use crate::msg::{impl_encode_body, len16};
use crate::utf16::{put_utf16le, utf16le_len};
use crate::wire::{check_max, check_structure_size, decode_text, fixed_end, pdu_range, Reader};

const REQUEST: &str = "TREE_CONNECT request";
const RESPONSE: &str = "TREE_CONNECT response";

/// Request Flags (3.1.1).
pub mod tree_connect_flags {
    pub const CLUSTER_RECONNECT: u16 = 0x0001;
    pub const REDIRECT_TO_OWNER: u16 = 0x0002;
    pub const EXTENSION_PRESENT: u16 = 0x0004;
}

/// Bytes of the request extension's fixed part before PathName.
const EXTENSION_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeConnectRequest {
    pub flags: u16,
    /// `\\server\share`.
    pub path: String,
}

impl TreeConnectRequest {
    pub const STRUCTURE_SIZE: u16 = 9;
    const FIXED_BYTES: usize = 8;

    /// The share name: the last path component.
    pub fn share_name(&self) -> &str {
        self.path.rsplit('\\').next().unwrap_or(&self.path)
    }

    pub fn decode(body: &[u8], pdu: &[u8]) -> Result<TreeConnectRequest> {
        check_structure_size(body, Self::STRUCTURE_SIZE, REQUEST)?;
        let mut r = Reader::new(body, REQUEST);
        r.skip(2)?;
        let flags = r.u16()?;
        let path_offset = u64::from(r.u16()?);
        let path_length = u64::from(r.u16()?);
        check_max("TREE_CONNECT PathLength", path_length, NAME_BYTES_MAX as u64)?;
        let bytes = if flags & tree_connect_flags::EXTENSION_PRESENT != 0 {
            // The extension's fixed part must be there even though its
            // contexts are ignored.
            r.skip(EXTENSION_BYTES)?;
            let path_start = fixed_end(Self::FIXED_BYTES + EXTENSION_BYTES);
            // 2.2.9 counts PathOffset from the header, but Windows has been
            // seen counting it from the extension: an offset that would
            // land inside the extension can only mean the latter.
            let offset = if path_offset < path_start as u64 && path_length > 0 {
                path_offset + fixed_end(Self::FIXED_BYTES) as u64
            } else {
                path_offset
            };
            pdu_range(pdu, offset, path_length, path_start, "TREE_CONNECT PathName")?
        } else {
            pdu_range(pdu, path_offset, path_length, fixed_end(Self::FIXED_BYTES), "TREE_CONNECT Path")?
        };
        let path = decode_text(bytes, "TREE_CONNECT Path")?;
        Ok(TreeConnectRequest { flags, path })
    }

    /// Encodes without an extension (EXTENSION_PRESENT is cleared).
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u16_le(self.flags & !tree_connect_flags::EXTENSION_PRESENT);
        out.put_u16_le((HEADER_BYTES + Self::FIXED_BYTES) as u16);
        out.put_u16_le(len16(utf16le_len(&self.path)));
        put_utf16le(out, &self.path);
        crate::msg::put_odd_pad(out, start, Self::STRUCTURE_SIZE);
    }
}

/// ShareType.
pub mod share_type {
    pub const DISK: u8 = 0x01;
    pub const PIPE: u8 = 0x02;
    pub const PRINT: u8 = 0x03;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeConnectResponse {
    pub share_type: u8,
    /// `crate::share_flags`.
    pub share_flags: u32,
    /// `crate::share_caps`.
    pub capabilities: u32,
    pub maximal_access: u32,
}

impl TreeConnectResponse {
    pub const STRUCTURE_SIZE: u16 = 16;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16_le(Self::STRUCTURE_SIZE);
        out.put_u8(self.share_type);
        out.put_u8(0);
        out.put_u32_le(self.share_flags);
        out.put_u32_le(self.capabilities);
        out.put_u32_le(self.maximal_access);
    }

    pub fn decode(body: &[u8], _pdu: &[u8]) -> Result<TreeConnectResponse> {
        check_structure_size(body, Self::STRUCTURE_SIZE, RESPONSE)?;
        let mut r = Reader::new(body, RESPONSE);
        r.skip(2)?;
        let share_type = r.u8()?;
        r.skip(1)?;
        Ok(TreeConnectResponse {
            share_type,
            share_flags: r.u32()?,
            capabilities: r.u32()?,
            maximal_access: r.u32()?,
        })
    }
}

impl_encode_body!(TreeConnectRequest, TreeConnectResponse);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProtoError;
    use crate::header::Command;
    use crate::msg::testutil::{encode_with, le16, le32, pdu};
    use crate::utf16::to_utf16le;

    #[test]
    fn decode_spec_layout() {
        let path = to_utf16le("\\\\srv\\share");
        let mut b = Vec::new();
        b.extend(le16(9));
        b.extend(le16(0));
        b.extend(le16(0x48));
        b.extend(le16(path.len() as u16));
        b.extend(&path);
        let p = pdu(Command::TreeConnect, &b);
        let r = TreeConnectRequest::decode(&p[64..], &p).unwrap();
        assert_eq!(r.path, "\\\\srv\\share");
        assert_eq!(r.share_name(), "share");
    }

    #[test]
    fn extension_present_both_offset_conventions() {
        let path = to_utf16le("\\\\srv\\ipc$");
        // 0x58 counts from the header, 16 from the extension; 0x50 and 0x40
        // would land inside the extension, so they count from it and then
        // run past the end.
        for (offset, ok) in [(0x58u16, true), (16, true), (0x50, false), (0x40, false)] {
            let mut b = Vec::new();
            b.extend(le16(9));
            b.extend(le16(tree_connect_flags::EXTENSION_PRESENT));
            b.extend(le16(offset));
            b.extend(le16(path.len() as u16));
            b.extend(le32(0));
            b.extend(le16(0));
            b.extend([0; 10]);
            b.extend(&path);
            let p = pdu(Command::TreeConnect, &b);
            let r = TreeConnectRequest::decode(&p[64..], &p);
            assert_eq!(r.is_ok(), ok, "offset {offset}");
            if ok {
                assert_eq!(r.unwrap().path, "\\\\srv\\ipc$");
            }
        }
    }

    #[test]
    fn invalid_utf16_path() {
        let mut b = Vec::new();
        b.extend(le16(9));
        b.extend(le16(0));
        b.extend(le16(0x48));
        b.extend(le16(3));
        b.extend([0x5C, 0, 0x5C]);
        let p = pdu(Command::TreeConnect, &b);
        assert!(matches!(TreeConnectRequest::decode(&p[64..], &p), Err(ProtoError::InvalidUtf16 { .. })));
    }

    #[test]
    fn round_trips() {
        let req = TreeConnectRequest { flags: 0, path: "\\\\127.0.0.1\\share".into() };
        let p = encode_with(Command::TreeConnect, |o| req.encode(o));
        assert_eq!(TreeConnectRequest::decode(&p[64..], &p).unwrap(), req);
        let rsp = TreeConnectResponse {
            share_type: share_type::DISK,
            share_flags: 0,
            capabilities: crate::share_caps::CONTINUOUS_AVAILABILITY,
            maximal_access: 0x001F_01FF,
        };
        let p = encode_with(Command::TreeConnect, |o| rsp.encode(o));
        assert_eq!(p.len(), 64 + 16);
        assert_eq!(TreeConnectResponse::decode(&p[64..], &p).unwrap(), rsp);
    }
}
