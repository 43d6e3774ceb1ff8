//! A minimal self-relative SECURITY_DESCRIPTOR ([MS-DTYP] 2.4.6) for
//! QUERY_INFO with InfoType SECURITY: owner and group SIDs and a DACL with
//! one ACE granting Everyone full control. The share has no per-file ACLs;
//! this answers clients (Windows Explorer, smbtorture) that ask anyway.
//!
//! ```text
//! header (20): Revision u8 = 1, Sbz1 u8, Control u16 (SELF_RELATIVE | DACL_PRESENT),
//!              OffsetOwner u32, OffsetGroup u32, OffsetSacl u32 = 0, OffsetDacl u32
//! SID:         Revision u8 = 1, SubAuthorityCount u8, IdentifierAuthority 6 (big-endian),
//!              SubAuthority[] u32
//! ACL:         AclRevision u8 = 2, Sbz1 u8, AclSize u16, AceCount u16, Sbz2 u16, ACEs
//! ACE:         AceType u8 = 0 (ALLOWED), AceFlags u8, AceSize u16, Mask u32, SID
//! ```

use bytes::{BufMut, BytesMut};

use crate::msg::query_info::security_information;

const SE_DACL_PRESENT: u16 = 0x0004;
const SE_SELF_RELATIVE: u16 = 0x8000;
const ACL_REVISION: u8 = 2;
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
/// FILE_ALL_ACCESS.
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
const SD_HEADER_BYTES: usize = 20;
const ACL_HEADER_BYTES: usize = 8;
const ACE_HEADER_BYTES: usize = 8;
/// At most 15 sub-authorities ([MS-DTYP] 2.4.2).
const SUB_AUTHORITIES_MAX: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sid {
    pub authority: u64,
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    /// S-1-1-0.
    pub fn everyone() -> Sid {
        Sid { authority: 1, sub_authorities: vec![0] }
    }

    /// S-1-5-32-544.
    pub fn builtin_administrators() -> Sid {
        Sid { authority: 5, sub_authorities: vec![32, 544] }
    }

    /// S-1-5-18.
    pub fn local_system() -> Sid {
        Sid { authority: 5, sub_authorities: vec![18] }
    }

    fn subs(&self) -> &[u32] {
        &self.sub_authorities[..self.sub_authorities.len().min(SUB_AUTHORITIES_MAX)]
    }

    pub fn bytes(&self) -> usize {
        8 + 4 * self.subs().len()
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(1);
        out.put_u8(self.subs().len() as u8);
        out.put_slice(&self.authority.to_be_bytes()[2..8]);
        for s in self.subs() {
            out.put_u32_le(*s);
        }
    }
}

/// Encodes the parts of the descriptor that `additional_information`
/// (OWNER, GROUP, DACL bits) asks for; the SACL is never returned.
pub fn encode_security_descriptor(owner: &Sid, group: &Sid, additional_information: u32, out: &mut BytesMut) {
    let want_owner = additional_information & security_information::OWNER != 0;
    let want_group = additional_information & security_information::GROUP != 0;
    let want_dacl = additional_information & security_information::DACL != 0;
    let everyone = Sid::everyone();
    let mut at = SD_HEADER_BYTES;
    let mut place = |wanted: bool, bytes: usize| {
        if wanted {
            let o = at;
            at += bytes;
            o as u32
        } else {
            0
        }
    };
    let owner_offset = place(want_owner, owner.bytes());
    let group_offset = place(want_group, group.bytes());
    let acl_bytes = ACL_HEADER_BYTES + ACE_HEADER_BYTES + everyone.bytes();
    let dacl_offset = place(want_dacl, acl_bytes);

    out.put_u8(1);
    out.put_u8(0);
    out.put_u16_le(SE_SELF_RELATIVE | if want_dacl { SE_DACL_PRESENT } else { 0 });
    out.put_u32_le(owner_offset);
    out.put_u32_le(group_offset);
    out.put_u32_le(0);
    out.put_u32_le(dacl_offset);
    if want_owner {
        owner.encode(out);
    }
    if want_group {
        group.encode(out);
    }
    if want_dacl {
        out.put_u8(ACL_REVISION);
        out.put_u8(0);
        out.put_u16_le(acl_bytes as u16);
        out.put_u16_le(1);
        out.put_u16_le(0);
        out.put_u8(ACCESS_ALLOWED_ACE_TYPE);
        out.put_u8(0);
        out.put_u16_le((ACE_HEADER_BYTES + everyone.bytes()) as u16);
        out.put_u32_le(FILE_ALL_ACCESS);
        everyone.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_descriptor_layout() {
        let mut out = BytesMut::new();
        let owner = Sid::builtin_administrators();
        let group = Sid::local_system();
        encode_security_descriptor(&owner, &group, 0x7, &mut out);
        // 20 + 16 (owner) + 12 (group) + 8 + 8 + 12 (DACL).
        assert_eq!(out.len(), 76);
        assert_eq!(&out[2..4], &0x8004u16.to_le_bytes());
        assert_eq!(&out[4..8], &20u32.to_le_bytes());
        assert_eq!(&out[8..12], &36u32.to_le_bytes());
        assert_eq!(&out[16..20], &48u32.to_le_bytes());
        // Owner S-1-5-32-544.
        assert_eq!(&out[20..28], &[1, 2, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&out[28..32], &32u32.to_le_bytes());
        // DACL: revision 2, size 28, one ACE granting FILE_ALL_ACCESS to S-1-1-0.
        assert_eq!(out[48], 2);
        assert_eq!(&out[50..52], &28u16.to_le_bytes());
        assert_eq!(&out[52..54], &1u16.to_le_bytes());
        assert_eq!(&out[60..64], &FILE_ALL_ACCESS.to_le_bytes());
        assert_eq!(&out[64..76], &[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn only_requested_parts() {
        let mut out = BytesMut::new();
        encode_security_descriptor(&Sid::everyone(), &Sid::everyone(), security_information::DACL, &mut out);
        assert_eq!(out.len(), 20 + 28);
        assert_eq!(&out[4..12], &[0; 8]);
        assert_eq!(&out[16..20], &20u32.to_le_bytes());
        let mut out = BytesMut::new();
        encode_security_descriptor(&Sid::everyone(), &Sid::everyone(), security_information::OWNER, &mut out);
        assert_eq!(out.len(), 20 + 12);
        assert_eq!(&out[2..4], &0x8000u16.to_le_bytes());
    }
}
