//! srvsvc ([MS-SRVS]): NetrShareEnum (opnum 15, Samba's
//! NetShareEnumAll) and NetrShareGetInfo (opnum 16), levels 0 (name) and
//! 1 (name, type, remark). Requests are decoded from their NDR stub and
//! responses encoded into one; what to answer is the caller's.

use bytes::BytesMut;

use super::ndr::{Reader, Writer};
use super::{Result, RpcError};

pub const OPNUM_NETR_SHARE_ENUM: u16 = 15;
pub const OPNUM_NETR_SHARE_GET_INFO: u16 = 16;

/// Share types ([MS-SRVS] 2.2.2.4).
pub mod share_type {
    pub const DISKTREE: u32 = 0x0000_0000;
    pub const IPC: u32 = 0x0000_0003;
    /// An administrative (hidden, `$`) share.
    pub const SPECIAL: u32 = 0x8000_0000;
}

/// Win32 and NERR return values ([MS-ERREF] 2.2, [MS-SRVS] 3.1.4).
pub mod werror {
    pub const OK: u32 = 0;
    pub const INVALID_LEVEL: u32 = 124;
    pub const NET_NAME_NOT_FOUND: u32 = 2310;
}

/// Levels whose union arm is a pointer (SHARE_ENUM_UNION, SHARE_INFO in
/// [MS-SRVS] 2.2.3.2 and 2.2.3.6); any other level has an empty arm.
fn is_pointer_arm(level: u32) -> bool {
    matches!(level, 0 | 1 | 2 | 501 | 502 | 503 | 1004 | 1005 | 1006 | 1007 | 1501)
}

/// One share as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    pub name: String,
    pub share_type: u32,
    pub remark: String,
}

/// NetrShareEnum's [in] parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareEnumRequest {
    pub server_name: Option<String>,
    pub level: u32,
    pub preferred_maximum_length: u32,
    /// `None` when the client passed no ResumeHandle pointer.
    pub resume_handle: Option<u32>,
}

impl ShareEnumRequest {
    /// ServerName (unique string), InfoStruct (Level, the union with its
    /// container pointer; the container must come empty, as every client
    /// sends it), PreferedMaximumLength, ResumeHandle (unique u32).
    pub fn decode(stub: &[u8]) -> Result<ShareEnumRequest> {
        let mut r = Reader::new(stub);
        let server_name = if r.pointer("ServerName")? { Some(r.string("ServerName")?) } else { None };
        let level = r.u32("Level")?;
        let arm = r.u32("ShareInfo switch")?;
        if arm != level {
            return Err(RpcError::InvalidValue { field: "ShareInfo switch", value: arm.into() });
        }
        if is_pointer_arm(level) && r.pointer("container")? {
            let _entries = r.u32("EntriesRead")?;
            if r.pointer("Buffer")? {
                return Err(RpcError::InvalidValue { field: "Buffer", value: 1 });
            }
        }
        let preferred_maximum_length = r.u32("PreferedMaximumLength")?;
        let resume_handle = if r.pointer("ResumeHandle")? { Some(r.u32("ResumeHandle")?) } else { None };
        Ok(ShareEnumRequest { server_name, level, preferred_maximum_length, resume_handle })
    }

    /// For tests and clients: the stub a client sends (empty container).
    pub fn encode(&self) -> BytesMut {
        let mut w = Writer::new();
        w.pointer(self.server_name.is_some());
        if let Some(s) = &self.server_name {
            w.string(s);
        }
        w.u32(self.level);
        w.u32(self.level);
        if is_pointer_arm(self.level) {
            w.pointer(true);
            w.u32(0);
            w.pointer(false);
        }
        w.u32(self.preferred_maximum_length);
        w.pointer(self.resume_handle.is_some());
        if let Some(h) = self.resume_handle {
            w.u32(h);
        }
        w.out
    }
}

/// The fixed part of one SHARE_INFO_0 or _1 (its string pointers, and
/// the type for level 1); the strings follow once all fixed parts are
/// written, as NDR defers pointees of an array's elements.
fn put_info_fixed(w: &mut Writer, level: u32, s: &ShareInfo) {
    w.pointer(true);
    if level == 1 {
        w.u32(s.share_type);
        w.pointer(true);
    }
}

fn put_info_strings(w: &mut Writer, level: u32, s: &ShareInfo) {
    w.string(&s.name);
    if level == 1 {
        w.string(&s.remark);
    }
}

/// NetrShareEnum's [out] parameters for level 0 or 1: InfoStruct with the
/// `shares` listed, TotalEntries, ResumeHandle, return value OK. Any
/// other level: the union's arm empty (NULL) and ERROR_INVALID_LEVEL.
pub fn encode_share_enum_response(
    level: u32,
    shares: &[ShareInfo],
    total_entries: u32,
    resume_handle: Option<u32>,
) -> BytesMut {
    let mut w = Writer::new();
    w.u32(level);
    w.u32(level);
    let status = if level == 0 || level == 1 {
        w.pointer(true);
        w.u32(u32::try_from(shares.len()).unwrap_or(u32::MAX));
        w.pointer(!shares.is_empty());
        if !shares.is_empty() {
            w.u32(u32::try_from(shares.len()).unwrap_or(u32::MAX));
            for s in shares {
                put_info_fixed(&mut w, level, s);
            }
            for s in shares {
                put_info_strings(&mut w, level, s);
            }
        }
        werror::OK
    } else {
        if is_pointer_arm(level) {
            w.pointer(false);
        }
        werror::INVALID_LEVEL
    };
    w.u32(total_entries);
    w.pointer(resume_handle.is_some());
    if let Some(h) = resume_handle {
        w.u32(h);
    }
    w.u32(status);
    w.out
}

/// NetrShareGetInfo's [in] parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGetInfoRequest {
    pub server_name: Option<String>,
    pub net_name: String,
    pub level: u32,
}

impl ShareGetInfoRequest {
    pub fn decode(stub: &[u8]) -> Result<ShareGetInfoRequest> {
        let mut r = Reader::new(stub);
        let server_name = if r.pointer("ServerName")? { Some(r.string("ServerName")?) } else { None };
        let net_name = r.string("NetName")?;
        let level = r.u32("Level")?;
        Ok(ShareGetInfoRequest { server_name, net_name, level })
    }

    /// For tests and clients.
    pub fn encode(&self) -> BytesMut {
        let mut w = Writer::new();
        w.pointer(self.server_name.is_some());
        if let Some(s) = &self.server_name {
            w.string(s);
        }
        w.string(&self.net_name);
        w.u32(self.level);
        w.out
    }
}

/// NetrShareGetInfo's [out] parameters: the share at level 0 or 1, or a
/// NULL arm with NERR_NetNameNotFound (no such share) or
/// ERROR_INVALID_LEVEL.
pub fn encode_share_get_info_response(level: u32, share: Option<&ShareInfo>) -> BytesMut {
    let mut w = Writer::new();
    w.u32(level);
    let status = match share {
        Some(s) if level == 0 || level == 1 => {
            w.pointer(true);
            put_info_fixed(&mut w, level, s);
            put_info_strings(&mut w, level, s);
            werror::OK
        }
        _ => {
            if is_pointer_arm(level) {
                w.pointer(false);
            }
            if level == 0 || level == 1 {
                werror::NET_NAME_NOT_FOUND
            } else {
                werror::INVALID_LEVEL
            }
        }
    };
    w.u32(status);
    w.out
}

/// For tests and clients: NetrShareEnum's response at level 0 or 1 as
/// (shares, TotalEntries, ResumeHandle, return value).
pub fn decode_share_enum_response(stub: &[u8]) -> Result<(Vec<ShareInfo>, u32, Option<u32>, u32)> {
    let mut r = Reader::new(stub);
    let level = r.u32("Level")?;
    r.u32("switch")?;
    let mut shares = Vec::new();
    if is_pointer_arm(level) && r.pointer("container")? {
        let count = r.u32("EntriesRead")?;
        if r.pointer("Buffer")? {
            let max = r.u32("Buffer size")?;
            if max != count || (level != 0 && level != 1) {
                return Err(RpcError::InvalidValue { field: "Buffer size", value: max.into() });
            }
            // Each element takes at least 4 bytes: bounded by the stub.
            let mut fixed = Vec::new();
            for _ in 0..count {
                r.pointer("shi_netname")?;
                let t = if level == 1 {
                    let t = r.u32("shi_type")?;
                    r.pointer("shi_remark")?;
                    t
                } else {
                    0
                };
                fixed.push(t);
            }
            for t in fixed {
                let name = r.string("shi_netname")?;
                let remark = if level == 1 { r.string("shi_remark")? } else { String::new() };
                shares.push(ShareInfo { name, share_type: t, remark });
            }
        }
    }
    let total = r.u32("TotalEntries")?;
    let resume = if r.pointer("ResumeHandle")? { Some(r.u32("ResumeHandle")?) } else { None };
    let status = r.u32("return value")?;
    Ok((shares, total, resume, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares() -> Vec<ShareInfo> {
        vec![
            ShareInfo { name: "share".into(), share_type: share_type::DISKTREE, remark: String::new() },
            ShareInfo { name: "IPC$".into(), share_type: share_type::IPC | share_type::SPECIAL, remark: "Remote IPC".into() },
        ]
    }

    #[test]
    fn enum_request_as_smbclient_sends_it() {
        // ServerName "\\127.0.0.1", level 1, an empty container, max
        // length 0xFFFFFFFF, ResumeHandle 0: laid out by hand.
        let mut b: Vec<u8> = Vec::new();
        let u = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
        u(&mut b, 0x0002_0000);
        u(&mut b, 12);
        u(&mut b, 0);
        u(&mut b, 12);
        for c in "\\\\127.0.0.1\0".encode_utf16() {
            b.extend_from_slice(&c.to_le_bytes());
        }
        u(&mut b, 1);
        u(&mut b, 1);
        u(&mut b, 0x0002_0004);
        u(&mut b, 0);
        u(&mut b, 0);
        u(&mut b, u32::MAX);
        u(&mut b, 0x0002_0008);
        u(&mut b, 0);
        let r = ShareEnumRequest::decode(&b).unwrap();
        assert_eq!(
            r,
            ShareEnumRequest {
                server_name: Some("\\\\127.0.0.1".into()),
                level: 1,
                preferred_maximum_length: u32::MAX,
                resume_handle: Some(0)
            }
        );
        assert_eq!(&r.encode()[..], &b[..]);
    }

    #[test]
    fn enum_response_level_1_layout_and_round_trip() {
        let out = encode_share_enum_response(1, &shares(), 2, Some(2));
        // Level, switch, container ptr, count, array ptr, max count.
        assert_eq!(&out[..8], &[1, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&out[12..16], &[2, 0, 0, 0]);
        assert_eq!(&out[20..24], &[2, 0, 0, 0]);
        // IPC$'s type in the second element.
        assert_eq!(&out[24 + 12 + 4..24 + 12 + 8], &0x8000_0003u32.to_le_bytes());
        let (back, total, resume, status) = decode_share_enum_response(&out).unwrap();
        assert_eq!((back, total, resume, status), (shares(), 2, Some(2), werror::OK));
        assert_eq!(out.len() % 4, 0);
    }

    #[test]
    fn enum_response_level_0_and_bad_levels() {
        let out = encode_share_enum_response(0, &shares(), 2, None);
        let (back, ..) = decode_share_enum_response(&out).unwrap();
        assert_eq!(back.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["share", "IPC$"]);
        let out = encode_share_enum_response(502, &[], 0, Some(0));
        assert_eq!(decode_share_enum_response(&out).unwrap(), (vec![], 0, Some(0), werror::INVALID_LEVEL));
        let out = encode_share_enum_response(7, &[], 0, None);
        assert_eq!(out.len(), 4 * 5);
    }

    #[test]
    fn get_info_round_trip() {
        let req = ShareGetInfoRequest { server_name: None, net_name: "share".into(), level: 1 };
        assert_eq!(ShareGetInfoRequest::decode(&req.encode()).unwrap(), req);
        let s = &shares()[1];
        let out = encode_share_get_info_response(1, Some(s));
        // switch, ptr, name ptr, type, remark ptr, then the strings.
        assert_eq!(&out[12..16], &0x8000_0003u32.to_le_bytes());
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0]);
        let out = encode_share_get_info_response(1, None);
        assert_eq!(&out[..], &[1, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x09, 0, 0]);
    }

    #[test]
    fn malformed_requests_are_errors() {
        let good = ShareEnumRequest { server_name: Some("srv".into()), level: 1, preferred_maximum_length: 1, resume_handle: Some(0) }.encode();
        for n in 0..good.len() {
            assert!(ShareEnumRequest::decode(&good[..n]).is_err(), "{n} bytes");
        }
        // Switch differs from Level; a non-empty container.
        let mut b = good.to_vec();
        b[28] = 2;
        assert!(ShareEnumRequest::decode(&b).is_err());
        let mut b = good.to_vec();
        let at = b.len() - 16;
        b[at..at + 4].copy_from_slice(&0x0002_000cu32.to_le_bytes());
        assert!(ShareEnumRequest::decode(&b).is_err());
        // A huge string count.
        let mut b = good.to_vec();
        b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(ShareEnumRequest::decode(&b).is_err());
        let gi = ShareGetInfoRequest { server_name: None, net_name: "x".into(), level: 0 }.encode();
        for n in 0..gi.len() {
            assert!(ShareGetInfoRequest::decode(&gi[..n]).is_err(), "{n} bytes");
        }
    }
}
