//! Windows security descriptors ([MS-DTYP] 2.4): SIDs, ACEs, ACLs, the
//! self-relative descriptor codec, the access check and inheritance.
//!
//! Why here, pure and with no I/O: SMB clients read and write a file's
//! descriptor (QUERY_INFO / SET_INFO SECURITY, the create context SecD), and
//! every open is checked against it. The SMB service decodes what clients
//! send, the file server stores descriptors with the file and checks opens,
//! so both need the same code, and a pure codec and checker can be tested
//! against byte strings and rules from the specification alone.
//!
//! Representation choices, once for all:
//! - `dacl: None` means "no DACL" whether or not `control` has DACL_PRESENT:
//!   with DACL_PRESENT it is a NULL DACL (what a client sets), without it an
//!   absent one. [MS-DTYP] 2.5.3.2 treats both alike: everyone is granted
//!   everything. An empty DACL (`Some` with no ACEs) grants nothing but the
//!   owner's implicit rights. `decode` keeps DACL_PRESENT as sent, so a NULL
//!   DACL reads back as a NULL DACL.
//! - `dacl: Some(_)` always goes with DACL_PRESENT in `control` (`decode`
//!   guarantees it, `encode` sets it); likewise for the SACL.
//! - Every descriptor in memory carries SELF_RELATIVE: it is the only form
//!   on the wire and on disk.

mod check;
mod descriptor;
mod sid;

pub use check::{access_check, inherit, Token};
pub use descriptor::{ace_flags, control, secinfo, Ace, AceType, Acl, SecurityDescriptor, ACES_MAX, ACL_REVISION, ACL_REVISION_DS, SD_BYTES_MAX};
pub use sid::{domain_users_sid, user_sid, well_known, Sid, HOLDFAST_DOMAIN_SEED, SID_AUTHORITY_MAX, SID_SUB_AUTHORITIES_MAX};

/// Why a descriptor, ACL, ACE or SID was refused, or why access was denied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// The bytes end before the structure does.
    #[error("{what} truncated")]
    Truncated { what: &'static str },
    /// A revision field holds a value this codec does not know.
    #[error("{what} revision {revision} not supported")]
    BadRevision { what: &'static str, revision: u8 },
    /// More bytes than `SD_BYTES_MAX` (or than a u16 length field holds).
    #[error("security descriptor of {bytes} bytes is too large")]
    TooLarge { bytes: usize },
    /// An ACL with more ACEs than `ACES_MAX`.
    #[error("ACL with {count} ACEs is over the limit")]
    TooManyAces { count: usize },
    /// A malformed SID, binary or string.
    #[error("bad SID: {reason}")]
    BadSid { reason: &'static str },
    /// An ACE too short for its type.
    #[error("bad ACE: {reason}")]
    BadAce { reason: &'static str },
    /// An offset that points into the header or past the end.
    #[error("{what} offset {offset} out of bounds")]
    BadOffset { what: &'static str, offset: u32 },
    /// An absolute-format descriptor (no SELF_RELATIVE bit): its "offsets"
    /// are pointers and mean nothing on the wire.
    #[error("security descriptor is not self-relative")]
    NotSelfRelative,
    /// The access check refused: `missing` holds the bits not granted.
    #[error("access denied (missing {missing:#010x})")]
    AccessDenied { missing: u32 },
}

#[cfg(test)]
mod tests;
