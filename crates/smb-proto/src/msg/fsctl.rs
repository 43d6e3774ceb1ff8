//! FSCTL payloads carried by IOCTL ([MS-SMB2] 2.2.31.x, 2.2.32.x):
//! VALIDATE_NEGOTIATE_INFO (both ways), QUERY_NETWORK_INTERFACE_INFO
//! (response encoder) and recognition of the DFS referral codes, which the
//! server refuses (no DFS).

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};

use crate::error::{ProtoError, Result};
use crate::limits::DIALECTS_MAX;
use crate::msg::len16;
use crate::wire::{check_max, Guid, Reader};

pub const FSCTL_DFS_GET_REFERRALS: u32 = 0x0006_0194;
pub const FSCTL_DFS_GET_REFERRALS_EX: u32 = 0x0006_01B0;
pub const FSCTL_PIPE_PEEK: u32 = 0x0011_400C;
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
pub const FSCTL_PIPE_WAIT: u32 = 0x0011_0018;
pub const FSCTL_QUERY_NETWORK_INTERFACE_INFO: u32 = 0x0014_01FC;
pub const FSCTL_VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;
pub const FSCTL_SRV_ENUMERATE_SNAPSHOTS: u32 = 0x0014_4064;
pub const FSCTL_SRV_REQUEST_RESUME_KEY: u32 = 0x0014_0078;
pub const FSCTL_SRV_COPYCHUNK: u32 = 0x0014_40F2;
pub const FSCTL_SRV_COPYCHUNK_WRITE: u32 = 0x0014_80F2;
pub const FSCTL_SRV_READ_HASH: u32 = 0x0014_41BB;
pub const FSCTL_LMR_REQUEST_RESILIENCY: u32 = 0x0014_01D4;
pub const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
pub const FSCTL_SET_SPARSE: u32 = 0x0009_00C4;
pub const FSCTL_CREATE_OR_GET_OBJECT_ID: u32 = 0x0009_00C0;
pub const FSCTL_SET_ZERO_DATA: u32 = 0x0009_80C8;
pub const FSCTL_QUERY_ALLOCATED_RANGES: u32 = 0x0009_40CF;

/// An IOCTL's input interpreted by CtlCode, for the codes the server
/// acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fsctl {
    ValidateNegotiateInfo(ValidateNegotiateInfoRequest),
    QueryNetworkInterfaceInfo,
    /// FSCTL_DFS_GET_REFERRALS or _EX: recognised so the server can answer
    /// STATUS_NOT_FOUND / NOT_SUPPORTED deliberately.
    DfsGetReferrals,
    SrvRequestResumeKey,
    /// FSCTL_SRV_COPYCHUNK (`write` false: the target must be readable
    /// too) or FSCTL_SRV_COPYCHUNK_WRITE.
    SrvCopyChunk { write: bool, req: crate::msg::copychunk::CopyChunkRequest },
    /// Any other code; the input stays in the IoctlRequest.
    Other(u32),
}

impl Fsctl {
    pub fn decode(ctl_code: u32, input: &[u8]) -> Result<Fsctl> {
        Ok(match ctl_code {
            FSCTL_VALIDATE_NEGOTIATE_INFO => Fsctl::ValidateNegotiateInfo(ValidateNegotiateInfoRequest::decode(input)?),
            FSCTL_QUERY_NETWORK_INTERFACE_INFO => Fsctl::QueryNetworkInterfaceInfo,
            FSCTL_DFS_GET_REFERRALS | FSCTL_DFS_GET_REFERRALS_EX => Fsctl::DfsGetReferrals,
            FSCTL_SRV_REQUEST_RESUME_KEY => Fsctl::SrvRequestResumeKey,
            FSCTL_SRV_COPYCHUNK | FSCTL_SRV_COPYCHUNK_WRITE => Fsctl::SrvCopyChunk {
                write: ctl_code == FSCTL_SRV_COPYCHUNK_WRITE,
                req: crate::msg::copychunk::CopyChunkRequest::decode(input)?,
            },
            other => Fsctl::Other(other),
        })
    }
}

/// VALIDATE_NEGOTIATE_INFO request: Capabilities u32, Guid 16,
/// SecurityMode u16, DialectCount u16, Dialects[].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateNegotiateInfoRequest {
    pub capabilities: u32,
    pub guid: Guid,
    pub security_mode: u16,
    pub dialects: Vec<u16>,
}

const VALIDATE_WHAT: &str = "VALIDATE_NEGOTIATE_INFO";

impl ValidateNegotiateInfoRequest {
    pub fn decode(input: &[u8]) -> Result<ValidateNegotiateInfoRequest> {
        let mut r = Reader::new(input, VALIDATE_WHAT);
        let capabilities = r.u32()?;
        let guid = r.array()?;
        let security_mode = r.u16()?;
        let count = r.u16()?;
        if count == 0 {
            return Err(ProtoError::InvalidValue { field: "VALIDATE_NEGOTIATE_INFO DialectCount", value: 0 });
        }
        check_max("VALIDATE_NEGOTIATE_INFO DialectCount", count.into(), DIALECTS_MAX as u64)?;
        let dialects = (0..count).map(|_| r.u16()).collect::<Result<Vec<u16>>>()?;
        Ok(ValidateNegotiateInfoRequest { capabilities, guid, security_mode, dialects })
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let dialects = &self.dialects[..self.dialects.len().min(DIALECTS_MAX)];
        out.put_u32_le(self.capabilities);
        out.put_slice(&self.guid);
        out.put_u16_le(self.security_mode);
        out.put_u16_le(len16(dialects.len()));
        for d in dialects {
            out.put_u16_le(*d);
        }
    }
}

/// VALIDATE_NEGOTIATE_INFO response: Capabilities u32, Guid 16,
/// SecurityMode u16, Dialect u16 (24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidateNegotiateInfoResponse {
    pub capabilities: u32,
    pub guid: Guid,
    pub security_mode: u16,
    pub dialect: u16,
}

impl ValidateNegotiateInfoResponse {
    pub const BYTES: usize = 24;

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u32_le(self.capabilities);
        out.put_slice(&self.guid);
        out.put_u16_le(self.security_mode);
        out.put_u16_le(self.dialect);
    }

    pub fn decode(output: &[u8]) -> Result<ValidateNegotiateInfoResponse> {
        let mut r = Reader::new(output, VALIDATE_WHAT);
        let capabilities = r.u32()?;
        let guid = r.array()?;
        let security_mode = r.u16()?;
        Ok(ValidateNegotiateInfoResponse { capabilities, guid, security_mode, dialect: r.u16()? })
    }
}

/// NETWORK_INTERFACE_INFO Capability bits.
pub mod interface_capability {
    pub const RSS: u32 = 0x0000_0001;
    pub const RDMA: u32 = 0x0000_0002;
}

/// One entry of the QUERY_NETWORK_INTERFACE_INFO response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkInterface {
    pub if_index: u32,
    pub capability: u32,
    /// Bits per second.
    pub link_speed: u64,
    pub address: IpAddr,
}

/// Bytes of one NETWORK_INTERFACE_INFO: 24 fixed + 128 SOCKADDR_STORAGE.
pub const NETWORK_INTERFACE_INFO_BYTES: usize = 152;
const SOCKADDR_STORAGE_BYTES: usize = 128;
const AF_INET: u16 = 0x0002;
const AF_INET6: u16 = 0x0017;

/// Encodes the interface list: Next u32 (152, 0 for the last), IfIndex
/// u32, Capability u32, Reserved u32, LinkSpeed u64, then a
/// SOCKADDR_STORAGE (family, port 0, address; zero-filled to 128 bytes).
pub fn encode_network_interfaces(interfaces: &[NetworkInterface], out: &mut BytesMut) {
    for (i, nic) in interfaces.iter().enumerate() {
        let last = i + 1 == interfaces.len();
        out.put_u32_le(if last { 0 } else { NETWORK_INTERFACE_INFO_BYTES as u32 });
        out.put_u32_le(nic.if_index);
        out.put_u32_le(nic.capability);
        out.put_u32_le(0);
        out.put_u64_le(nic.link_speed);
        let sockaddr_start = out.len();
        match nic.address {
            IpAddr::V4(a) => {
                out.put_u16_le(AF_INET);
                out.put_u16(0);
                out.put_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                out.put_u16_le(AF_INET6);
                out.put_u16(0);
                out.put_u32_le(0); // FlowInfo
                out.put_slice(&a.octets());
                out.put_u32_le(0); // ScopeId
            }
        }
        let used = out.len() - sockaddr_start;
        out.put_bytes(0, SOCKADDR_STORAGE_BYTES - used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_negotiate_round_trip_and_bounds() {
        let req = ValidateNegotiateInfoRequest {
            capabilities: 0x47,
            guid: [1; 16],
            security_mode: 1,
            dialects: vec![0x0300, 0x0302],
        };
        let mut b = BytesMut::new();
        req.encode(&mut b);
        assert_eq!(b.len(), 24 + 4);
        assert_eq!(Fsctl::decode(FSCTL_VALIDATE_NEGOTIATE_INFO, &b).unwrap(), Fsctl::ValidateNegotiateInfo(req));
        assert!(ValidateNegotiateInfoRequest::decode(&b[..26]).is_err());
        let mut z = b.to_vec();
        z[22] = 0;
        assert!(ValidateNegotiateInfoRequest::decode(&z).is_err());
        let rsp = ValidateNegotiateInfoResponse { capabilities: 0x47, guid: [2; 16], security_mode: 1, dialect: 0x0302 };
        let mut b = BytesMut::new();
        rsp.encode(&mut b);
        assert_eq!(b.len(), ValidateNegotiateInfoResponse::BYTES);
        assert_eq!(ValidateNegotiateInfoResponse::decode(&b).unwrap(), rsp);
    }

    #[test]
    fn interfaces_layout() {
        let nics = [
            NetworkInterface {
                if_index: 1,
                capability: interface_capability::RSS,
                link_speed: 10_000_000_000,
                address: "127.0.0.1".parse().unwrap(),
            },
            NetworkInterface { if_index: 2, capability: 0, link_speed: 1, address: "::1".parse().unwrap() },
        ];
        let mut b = BytesMut::new();
        encode_network_interfaces(&nics, &mut b);
        assert_eq!(b.len(), 2 * NETWORK_INTERFACE_INFO_BYTES);
        assert_eq!(&b[0..4], &152u32.to_le_bytes());
        assert_eq!(&b[24..26], &[2, 0]);
        assert_eq!(&b[28..32], &[127, 0, 0, 1]);
        assert_eq!(&b[152..156], &[0; 4]);
        assert_eq!(&b[152 + 24..152 + 26], &[0x17, 0]);
        assert_eq!(b[152 + 24 + 8 + 15], 1);
    }

    #[test]
    fn codes_are_recognised() {
        assert_eq!(Fsctl::decode(FSCTL_DFS_GET_REFERRALS, &[]).unwrap(), Fsctl::DfsGetReferrals);
        assert_eq!(Fsctl::decode(FSCTL_QUERY_NETWORK_INTERFACE_INFO, &[]).unwrap(), Fsctl::QueryNetworkInterfaceInfo);
        assert_eq!(Fsctl::decode(0x1234, &[1]).unwrap(), Fsctl::Other(0x1234));
    }
}
