//! ACEs ([MS-DTYP] 2.4.4), ACLs (2.4.5) and self-relative security
//! descriptors (2.4.6): decoding with every offset and length checked,
//! encoding, and the QUERY_INFO / SET_INFO views of a descriptor.
//!
//! ```text
//! descriptor: Revision u8 = 1, Sbz1 u8, Control u16, OffsetOwner u32, OffsetGroup u32,
//!             OffsetSacl u32, OffsetDacl u32 (0 = absent), then the parts
//! ACL:        AclRevision u8 (2, or 4 with object ACEs), Sbz1 u8, AclSize u16, AceCount u16, Sbz2 u16, ACEs
//! ACE:        AceType u8, AceFlags u8, AceSize u16, then for types 0-2: Mask u32, SID
//! ```

use super::{Sid, SecurityError};
use crate::access::map_generic_file;

/// Largest descriptor decoded or stored.
pub const SD_BYTES_MAX: usize = 64 * 1024;
/// Most ACEs in one ACL.
pub const ACES_MAX: usize = 1024;
/// ACL revision without object ACEs.
pub const ACL_REVISION: u8 = 2;
/// ACL revision that may hold object ACEs (types 5-8).
pub const ACL_REVISION_DS: u8 = 4;
const SD_REVISION: u8 = 1;
const SD_HEADER_BYTES: usize = 20;
const ACL_HEADER_BYTES: usize = 8;
const ACE_HEADER_BYTES: usize = 4;
/// Header and mask: the least any ACE type holds.
const ACE_MIN_BYTES: usize = 8;

/// SECURITY_DESCRIPTOR_CONTROL bits ([MS-DTYP] 2.4.6).
pub mod control {
    pub const OWNER_DEFAULTED: u16 = 0x0001;
    pub const GROUP_DEFAULTED: u16 = 0x0002;
    pub const DACL_PRESENT: u16 = 0x0004;
    pub const DACL_DEFAULTED: u16 = 0x0008;
    pub const SACL_PRESENT: u16 = 0x0010;
    pub const SACL_DEFAULTED: u16 = 0x0020;
    pub const DACL_TRUSTED: u16 = 0x0040;
    pub const SERVER_SECURITY: u16 = 0x0080;
    pub const DACL_AUTO_INHERIT_REQ: u16 = 0x0100;
    pub const SACL_AUTO_INHERIT_REQ: u16 = 0x0200;
    pub const DACL_AUTO_INHERITED: u16 = 0x0400;
    pub const SACL_AUTO_INHERITED: u16 = 0x0800;
    pub const DACL_PROTECTED: u16 = 0x1000;
    pub const SACL_PROTECTED: u16 = 0x2000;
    pub const RM_CONTROL_VALID: u16 = 0x4000;
    pub const SELF_RELATIVE: u16 = 0x8000;
}

/// AceFlags ([MS-DTYP] 2.4.4.1).
pub mod ace_flags {
    pub const OBJECT_INHERIT: u8 = 0x01;
    pub const CONTAINER_INHERIT: u8 = 0x02;
    pub const NO_PROPAGATE_INHERIT: u8 = 0x04;
    pub const INHERIT_ONLY: u8 = 0x08;
    pub const INHERITED: u8 = 0x10;
    /// Audit on success (SACL ACEs).
    pub const SUCCESSFUL_ACCESS: u8 = 0x40;
    /// Audit on failure (SACL ACEs).
    pub const FAILED_ACCESS: u8 = 0x80;
}

/// SECURITY_INFORMATION: the AdditionalInformation of SMB2 QUERY_INFO and
/// SET_INFO with InfoType SECURITY ([MS-SMB2] 2.2.37, 2.2.39).
pub mod secinfo {
    pub const OWNER: u32 = 0x0000_0001;
    pub const GROUP: u32 = 0x0000_0002;
    pub const DACL: u32 = 0x0000_0004;
    pub const SACL: u32 = 0x0000_0008;
    pub const LABEL: u32 = 0x0000_0010;
    pub const ATTRIBUTE: u32 = 0x0000_0020;
    pub const SCOPE: u32 = 0x0000_0040;
    pub const BACKUP: u32 = 0x0001_0000;
}

/// An ACE's type. Only the three a file ACL needs are interpreted; any
/// other (object, callback, mandatory label ...) is `Other` and kept
/// verbatim in `Ace::raw` so that it survives a read-modify-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AceType {
    AccessAllowed,
    AccessDenied,
    SystemAudit,
    Other(u8),
}

impl AceType {
    pub fn from_u8(v: u8) -> AceType {
        match v {
            0 => AceType::AccessAllowed,
            1 => AceType::AccessDenied,
            2 => AceType::SystemAudit,
            v => AceType::Other(v),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            AceType::AccessAllowed => 0,
            AceType::AccessDenied => 1,
            AceType::SystemAudit => 2,
            AceType::Other(v) => v,
        }
    }
}

/// One ACE. For `Other` types, `raw` holds the body after the 4-byte
/// header (mask first, as in every ACE type), `mask` is a copy of its first
/// four bytes for reading, and `sid` is the NULL SID S-1-0-0 (not parsed).
/// Whenever `raw` is `Some`, `encode` writes it as the body and ignores
/// `mask` and `sid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ace {
    pub ace_type: AceType,
    pub flags: u8,
    pub mask: u32,
    pub sid: Sid,
    pub raw: Option<Vec<u8>>,
}

impl Ace {
    pub fn allowed(sid: Sid, mask: u32, flags: u8) -> Ace {
        Ace { ace_type: AceType::AccessAllowed, flags, mask, sid, raw: None }
    }

    pub fn denied(sid: Sid, mask: u32, flags: u8) -> Ace {
        Ace { ace_type: AceType::AccessDenied, flags, mask, sid, raw: None }
    }

    pub fn is_inherit_only(&self) -> bool {
        self.flags & ace_flags::INHERIT_ONLY != 0
    }

    pub fn encoded_bytes(&self) -> usize {
        ACE_HEADER_BYTES + self.raw.as_ref().map_or(4 + self.sid.encoded_bytes(), Vec::len)
    }

    /// Appends the ACE. Its size must fit AceSize (u16): `SecurityDescriptor::validate`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.ace_type.to_u8());
        out.push(self.flags);
        out.extend_from_slice(&(self.encoded_bytes() as u16).to_le_bytes());
        match &self.raw {
            Some(raw) => out.extend_from_slice(raw),
            None => {
                out.extend_from_slice(&self.mask.to_le_bytes());
                self.sid.encode(out);
            }
        }
    }

    /// Reads one ACE from the start of `b`; returns it and AceSize. For the
    /// three known types, bytes after the SID inside AceSize are ignored.
    pub fn decode(b: &[u8]) -> Result<(Ace, usize), SecurityError> {
        if b.len() < ACE_HEADER_BYTES {
            return Err(SecurityError::Truncated { what: "ACE" });
        }
        let ace_type = AceType::from_u8(b[0]);
        let flags = b[1];
        let size = u16::from_le_bytes([b[2], b[3]]) as usize;
        if size < ACE_MIN_BYTES {
            return Err(SecurityError::BadAce { reason: "AceSize smaller than header and mask" });
        }
        if size > b.len() {
            return Err(SecurityError::Truncated { what: "ACE" });
        }
        let body = &b[ACE_HEADER_BYTES..size];
        let mask = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
        let ace = match ace_type {
            AceType::Other(_) => Ace { ace_type, flags, mask, sid: Sid { authority: 0, sub: vec![0] }, raw: Some(body.to_vec()) },
            _ => {
                let (sid, _) = Sid::decode(&body[4..]).map_err(|e| match e {
                    SecurityError::Truncated { .. } => SecurityError::BadAce { reason: "SID runs past AceSize" },
                    e => e,
                })?;
                Ace { ace_type, flags, mask, sid, raw: None }
            }
        };
        Ok((ace, size))
    }
}

/// An ACL: its revision (kept as the client sent it: clients compare it)
/// and its ACEs in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acl {
    pub revision: u8,
    pub aces: Vec<Ace>,
}

impl Acl {
    /// An ACL of revision 2 (ACL_REVISION).
    pub fn new(aces: Vec<Ace>) -> Acl {
        Acl { revision: ACL_REVISION, aces }
    }

    pub fn encoded_bytes(&self) -> usize {
        ACL_HEADER_BYTES + self.aces.iter().map(Ace::encoded_bytes).sum::<usize>()
    }

    /// Appends the ACL with AclSize exactly its ACEs. Its size and count
    /// must fit their u16 fields: `SecurityDescriptor::validate`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.revision);
        out.push(0);
        out.extend_from_slice(&(self.encoded_bytes() as u16).to_le_bytes());
        out.extend_from_slice(&(self.aces.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        for ace in &self.aces {
            ace.encode(out);
        }
    }

    /// Reads an ACL from the start of `b`; returns it and AclSize. The ACEs
    /// must lie within AclSize; unused bytes after the last are allowed.
    pub fn decode(b: &[u8]) -> Result<(Acl, usize), SecurityError> {
        if b.len() < ACL_HEADER_BYTES {
            return Err(SecurityError::Truncated { what: "ACL" });
        }
        let revision = b[0];
        if revision != ACL_REVISION && revision != ACL_REVISION_DS {
            return Err(SecurityError::BadRevision { what: "ACL", revision });
        }
        let size = u16::from_le_bytes([b[2], b[3]]) as usize;
        let count = u16::from_le_bytes([b[4], b[5]]) as usize;
        if size < ACL_HEADER_BYTES {
            return Err(SecurityError::Truncated { what: "ACL" });
        }
        if size > b.len() {
            return Err(SecurityError::Truncated { what: "ACL" });
        }
        if count > ACES_MAX {
            return Err(SecurityError::TooManyAces { count });
        }
        let mut aces = Vec::with_capacity(count);
        let mut at = ACL_HEADER_BYTES;
        for _ in 0..count {
            let (ace, used) = Ace::decode(&b[at..size])?;
            aces.push(ace);
            at += used;
        }
        Ok((Acl { revision, aces }, size))
    }

    /// Replaces GENERIC_* bits by the file rights they stand for in every
    /// effective ACE of the three known types; INHERIT_ONLY ACEs keep them,
    /// as they apply to objects yet to be created.
    pub fn map_generic(&mut self) {
        for ace in &mut self.aces {
            if ace.raw.is_none() && !ace.is_inherit_only() {
                ace.mask = map_generic_file(ace.mask);
            }
        }
    }
}

/// A security descriptor. See the module root for how "no DACL", "NULL
/// DACL" and "empty DACL" are told apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecurityDescriptor {
    pub control: u16,
    pub owner: Option<Sid>,
    pub group: Option<Sid>,
    pub sacl: Option<Acl>,
    pub dacl: Option<Acl>,
}

impl Default for SecurityDescriptor {
    /// Nothing but SELF_RELATIVE: what a client sends as an "empty"
    /// descriptor.
    fn default() -> Self {
        SecurityDescriptor { control: control::SELF_RELATIVE, owner: None, group: None, sacl: None, dacl: None }
    }
}

fn offset(b: &[u8], at: usize, what: &'static str) -> Result<Option<usize>, SecurityError> {
    let off = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if off == 0 {
        return Ok(None);
    }
    if (off as usize) < SD_HEADER_BYTES || off as usize >= b.len() {
        return Err(SecurityError::BadOffset { what, offset: off });
    }
    Ok(Some(off as usize))
}

impl SecurityDescriptor {
    /// DACL_PRESENT with no DACL: everyone is granted everything.
    pub fn has_null_dacl(&self) -> bool {
        self.dacl.is_none() && self.control & control::DACL_PRESENT != 0
    }

    /// Decodes a self-relative descriptor. Offsets of 0 mean "absent"; any
    /// other must point past the header and inside `b`. A DACL (SACL) is
    /// read only when DACL_PRESENT (SACL_PRESENT) is set; with the bit set
    /// and offset 0 it is a NULL DACL: `dacl: None`, DACL_PRESENT kept.
    /// Sbz1 (resource-manager bits) is not kept.
    pub fn decode(b: &[u8]) -> Result<SecurityDescriptor, SecurityError> {
        if b.len() > SD_BYTES_MAX {
            return Err(SecurityError::TooLarge { bytes: b.len() });
        }
        if b.len() < SD_HEADER_BYTES {
            return Err(SecurityError::Truncated { what: "security descriptor" });
        }
        if b[0] != SD_REVISION {
            return Err(SecurityError::BadRevision { what: "security descriptor", revision: b[0] });
        }
        let ctl = u16::from_le_bytes([b[2], b[3]]);
        if ctl & control::SELF_RELATIVE == 0 {
            return Err(SecurityError::NotSelfRelative);
        }
        let sid_at = |at: Option<usize>| -> Result<Option<Sid>, SecurityError> { at.map(|o| Sid::decode(&b[o..]).map(|(s, _)| s)).transpose() };
        let acl_at = |at: Option<usize>, present: u16| -> Result<Option<Acl>, SecurityError> {
            match at {
                Some(o) if ctl & present != 0 => Ok(Some(Acl::decode(&b[o..])?.0)),
                _ => Ok(None),
            }
        };
        Ok(SecurityDescriptor {
            control: ctl,
            owner: sid_at(offset(b, 4, "owner")?)?,
            group: sid_at(offset(b, 8, "group")?)?,
            sacl: acl_at(offset(b, 12, "SACL")?, control::SACL_PRESENT)?,
            dacl: acl_at(offset(b, 16, "DACL")?, control::DACL_PRESENT)?,
        })
    }

    /// Bytes `encode` writes.
    pub fn encoded_len(&self) -> usize {
        SD_HEADER_BYTES
            + self.owner.as_ref().map_or(0, Sid::encoded_bytes)
            + self.group.as_ref().map_or(0, Sid::encoded_bytes)
            + self.sacl.as_ref().map_or(0, Acl::encoded_bytes)
            + self.dacl.as_ref().map_or(0, Acl::encoded_bytes)
    }

    /// Is the descriptor within the limits `decode` enforces, so that
    /// `encode` writes it faithfully and `decode` reads it back? Valid SIDs,
    /// ACL revisions 2 or 4, at most ACES_MAX ACEs per ACL, every ACE and
    /// ACL within its u16 size field, at most SD_BYTES_MAX in all.
    pub fn validate(&self) -> Result<(), SecurityError> {
        for sid in self.owner.iter().chain(self.group.iter()) {
            if !sid.is_valid() {
                return Err(SecurityError::BadSid { reason: "SID out of range" });
            }
        }
        for acl in self.sacl.iter().chain(self.dacl.iter()) {
            if acl.revision != ACL_REVISION && acl.revision != ACL_REVISION_DS {
                return Err(SecurityError::BadRevision { what: "ACL", revision: acl.revision });
            }
            if acl.aces.len() > ACES_MAX {
                return Err(SecurityError::TooManyAces { count: acl.aces.len() });
            }
            for ace in &acl.aces {
                if ace.raw.as_ref().is_some_and(|r| r.len() < 4) {
                    return Err(SecurityError::BadAce { reason: "raw ACE body shorter than a mask" });
                }
                if ace.raw.is_none() && !ace.sid.is_valid() {
                    return Err(SecurityError::BadSid { reason: "SID out of range" });
                }
                if ace.raw.is_none() && matches!(ace.ace_type, AceType::Other(_)) {
                    return Err(SecurityError::BadAce { reason: "ACE of unknown type without its raw body" });
                }
            }
            if acl.encoded_bytes() > u16::MAX as usize {
                return Err(SecurityError::TooLarge { bytes: acl.encoded_bytes() });
            }
        }
        if self.encoded_len() > SD_BYTES_MAX {
            return Err(SecurityError::TooLarge { bytes: self.encoded_len() });
        }
        Ok(())
    }

    /// Encodes self-relative: header, owner, group, SACL, DACL, in that
    /// order; sets SELF_RELATIVE, and DACL_PRESENT / SACL_PRESENT for an ACL
    /// that is there. For a descriptor that passes `validate`,
    /// `decode(&encode(x))` gives `x` back (given the invariants in the
    /// module root).
    pub fn encode(&self) -> Vec<u8> {
        debug_assert_eq!(self.validate(), Ok(()));
        let mut ctl = self.control | control::SELF_RELATIVE;
        if self.dacl.is_some() {
            ctl |= control::DACL_PRESENT;
        }
        if self.sacl.is_some() {
            ctl |= control::SACL_PRESENT;
        }
        let mut at = SD_HEADER_BYTES;
        let mut place = |bytes: Option<usize>| match bytes {
            Some(n) => {
                let o = at;
                at += n;
                o as u32
            }
            None => 0,
        };
        let owner_off = place(self.owner.as_ref().map(Sid::encoded_bytes));
        let group_off = place(self.group.as_ref().map(Sid::encoded_bytes));
        let sacl_off = place(self.sacl.as_ref().map(Acl::encoded_bytes));
        let dacl_off = place(self.dacl.as_ref().map(Acl::encoded_bytes));
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(SD_REVISION);
        out.push(0);
        out.extend_from_slice(&ctl.to_le_bytes());
        for off in [owner_off, group_off, sacl_off, dacl_off] {
            out.extend_from_slice(&off.to_le_bytes());
        }
        self.owner.iter().chain(self.group.iter()).for_each(|s| s.encode(&mut out));
        self.sacl.iter().chain(self.dacl.iter()).for_each(|a| a.encode(&mut out));
        out
    }

    /// The parts QUERY_INFO asks for with `secinfo` (AdditionalInformation),
    /// with their control bits; the rest left out. As Windows (and Samba)
    /// answer: a DACL or SACL asked for but not there is reported present
    /// and NULL. LABEL, ATTRIBUTE, SCOPE and BACKUP select nothing here
    /// (Holdfast keeps no label, claims or policy), so asking for LABEL
    /// alone gives an empty descriptor, as Windows 2003 did.
    pub fn filtered(&self, secinfo: u32) -> SecurityDescriptor {
        use control::*;
        let mut out = SecurityDescriptor::default();
        if secinfo & secinfo::OWNER != 0 {
            out.owner = self.owner.clone();
            out.control |= self.control & OWNER_DEFAULTED;
        }
        if secinfo & secinfo::GROUP != 0 {
            out.group = self.group.clone();
            out.control |= self.control & GROUP_DEFAULTED;
        }
        if secinfo & secinfo::DACL != 0 {
            out.dacl = self.dacl.clone();
            out.control |= DACL_PRESENT | self.control & (DACL_DEFAULTED | DACL_AUTO_INHERITED | DACL_PROTECTED);
        }
        if secinfo & secinfo::SACL != 0 {
            out.sacl = self.sacl.clone();
            out.control |= SACL_PRESENT | self.control & (SACL_DEFAULTED | SACL_AUTO_INHERITED | SACL_PROTECTED);
        }
        out
    }

    /// SET_INFO: replaces the parts named in `secinfo` by those of `new`.
    /// - OWNER / GROUP: replaced when `new` has one (Samba ignores the bit
    ///   when the SID is missing), with its *_DEFAULTED bit.
    /// - DACL: `new`'s DACL; if `new` has none (with or without
    ///   DACL_PRESENT) the result is a NULL DACL, DACL_PRESENT set — what
    ///   smbtorture create.nulldacl expects for both. DACL_PROTECTED and
    ///   DACL_DEFAULTED come from `new`; DACL_AUTO_INHERITED is kept only
    ///   when `new` has both it and DACL_AUTO_INHERIT_REQ (Windows'
    ///   canonicalization, which Samba copies), and the _REQ bit is never
    ///   stored. Generic bits of effective ACEs are mapped (`Acl::map_generic`).
    /// - SACL: the same with the SACL bits, except that a missing SACL
    ///   leaves SACL_PRESENT as `new` has it.
    ///
    /// LABEL and the other bits change nothing. The result must stay
    /// within the limits (`validate`: the new DACL plus a large stored SACL
    /// may not); otherwise `self` is left unchanged and the error returned
    /// (answer STATUS_INVALID_SECURITY_DESCR).
    pub fn merge(&mut self, new: &SecurityDescriptor, secinfo: u32) -> Result<(), SecurityError> {
        use control::*;
        let mut out = self.clone();
        out.control |= SELF_RELATIVE;
        if secinfo & secinfo::OWNER != 0 {
            if let Some(o) = &new.owner {
                out.owner = Some(o.clone());
                out.control = (out.control & !OWNER_DEFAULTED) | (new.control & OWNER_DEFAULTED);
            }
        }
        if secinfo & secinfo::GROUP != 0 {
            if let Some(g) = &new.group {
                out.group = Some(g.clone());
                out.control = (out.control & !GROUP_DEFAULTED) | (new.control & GROUP_DEFAULTED);
            }
        }
        if secinfo & secinfo::DACL != 0 {
            out.dacl = new.dacl.clone();
            if let Some(acl) = &mut out.dacl {
                acl.map_generic();
            }
            out.control &= !(DACL_PRESENT | DACL_DEFAULTED | DACL_PROTECTED | DACL_AUTO_INHERITED | DACL_AUTO_INHERIT_REQ);
            out.control |= DACL_PRESENT | new.control & (DACL_DEFAULTED | DACL_PROTECTED);
            if new.control & (DACL_AUTO_INHERITED | DACL_AUTO_INHERIT_REQ) == DACL_AUTO_INHERITED | DACL_AUTO_INHERIT_REQ {
                out.control |= DACL_AUTO_INHERITED;
            }
        }
        if secinfo & secinfo::SACL != 0 {
            out.sacl = new.sacl.clone();
            if let Some(acl) = &mut out.sacl {
                acl.map_generic();
            }
            out.control &= !(SACL_PRESENT | SACL_DEFAULTED | SACL_PROTECTED | SACL_AUTO_INHERITED | SACL_AUTO_INHERIT_REQ);
            out.control |= new.control & (SACL_PRESENT | SACL_DEFAULTED | SACL_PROTECTED);
            if out.sacl.is_some() {
                out.control |= SACL_PRESENT;
            }
            if new.control & (SACL_AUTO_INHERITED | SACL_AUTO_INHERIT_REQ) == SACL_AUTO_INHERITED | SACL_AUTO_INHERIT_REQ {
                out.control |= SACL_AUTO_INHERITED;
            }
        }
        out.validate()?;
        *self = out;
        Ok(())
    }
}
