//! Security identifiers ([MS-DTYP] 2.4.2): the string form "S-1-5-32-544"
//! (2.4.2.1), the binary form (2.4.2.2), the well-known SIDs a file ACL
//! names, and the SIDs Holdfast gives its own users.

use std::fmt;

use super::SecurityError;

/// Most sub-authorities a SID may have ([MS-DTYP] 2.4.2).
pub const SID_SUB_AUTHORITIES_MAX: usize = 15;
/// The identifier authority is a 48-bit number.
pub const SID_AUTHORITY_MAX: u64 = (1 << 48) - 1;
/// The only SID revision there is.
pub const SID_REVISION: u8 = 1;
/// Longest SID string `Sid::parse` looks at: "S-1-0x" + 12 hex digits +
/// 15 × "-4294967295" is 183 characters.
pub const SID_STRING_BYTES_MAX: usize = 192;
/// Bytes of the fixed part of a binary SID: Revision, SubAuthorityCount,
/// IdentifierAuthority (6 bytes).
const SID_FIXED_BYTES: usize = 8;

/// A SID. Fields are public for matching and building in tests; a SID with
/// more than `SID_SUB_AUTHORITIES_MAX` sub-authorities or an authority above
/// `SID_AUTHORITY_MAX` is invalid (`is_valid`), and `encode` refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    /// IdentifierAuthority, 48 bits (5 = NT AUTHORITY, 1 = WORLD, 3 = CREATOR).
    pub authority: u64,
    /// SubAuthority values, at most `SID_SUB_AUTHORITIES_MAX`.
    pub sub: Vec<u32>,
}

impl Sid {
    /// Panics if `authority` is wider than 48 bits or `sub` is longer than
    /// `SID_SUB_AUTHORITIES_MAX`: both are programming errors (SIDs from the
    /// wire or from text come from `decode` and `parse`, which return errors).
    pub fn new(authority: u64, sub: &[u32]) -> Sid {
        assert!(authority <= SID_AUTHORITY_MAX, "SID authority {authority:#x} wider than 48 bits");
        assert!(sub.len() <= SID_SUB_AUTHORITIES_MAX, "SID with {} sub-authorities", sub.len());
        Sid { authority, sub: sub.to_vec() }
    }

    pub fn is_valid(&self) -> bool {
        self.authority <= SID_AUTHORITY_MAX && self.sub.len() <= SID_SUB_AUTHORITIES_MAX
    }

    /// Parses the string form ([MS-DTYP] 2.4.2.1): "S-1-", the authority in
    /// decimal (or "0x" and hex, as Windows writes authorities of 2^32 and
    /// more), then "-" and a decimal sub-authority, up to 15 times. "S" may
    /// be lower case; nothing else is tolerated (no spaces, no "+").
    pub fn parse(s: &str) -> Result<Sid, SecurityError> {
        if s.len() > SID_STRING_BYTES_MAX {
            return Err(SecurityError::BadSid { reason: "SID string too long" });
        }
        let mut parts = s.split('-');
        if !parts.next().is_some_and(|p| p.eq_ignore_ascii_case("s")) {
            return Err(SecurityError::BadSid { reason: "SID string does not start with \"S-\"" });
        }
        if parts.next() != Some("1") {
            return Err(SecurityError::BadSid { reason: "SID string revision is not 1" });
        }
        let authority = match parts.next() {
            Some(a) if a.len() > 2 && (a.starts_with("0x") || a.starts_with("0X")) => {
                let hex = &a[2..];
                if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(SecurityError::BadSid { reason: "SID authority is not a hex number" });
                }
                u64::from_str_radix(hex, 16).map_err(|_| SecurityError::BadSid { reason: "SID authority too large" })?
            }
            Some(a) => decimal(a).ok_or(SecurityError::BadSid { reason: "SID authority is not a number" })?,
            None => return Err(SecurityError::BadSid { reason: "SID string has no authority" }),
        };
        if authority > SID_AUTHORITY_MAX {
            return Err(SecurityError::BadSid { reason: "SID authority wider than 48 bits" });
        }
        let mut sub = Vec::new();
        for p in parts {
            if sub.len() == SID_SUB_AUTHORITIES_MAX {
                return Err(SecurityError::BadSid { reason: "SID has more than 15 sub-authorities" });
            }
            let v = decimal(p).ok_or(SecurityError::BadSid { reason: "SID sub-authority is not a number" })?;
            sub.push(u32::try_from(v).map_err(|_| SecurityError::BadSid { reason: "SID sub-authority above 2^32-1" })?);
        }
        Ok(Sid { authority, sub })
    }

    /// Bytes `encode` writes: 8 + 4 per sub-authority.
    pub fn encoded_bytes(&self) -> usize {
        SID_FIXED_BYTES + 4 * self.sub.len()
    }

    /// Appends the binary form ([MS-DTYP] 2.4.2.2): Revision (1),
    /// SubAuthorityCount, IdentifierAuthority (6 bytes, big-endian), then
    /// each SubAuthority as a little-endian u32. Panics on an invalid SID
    /// (see `is_valid`): writing a shortened one would name someone else.
    pub fn encode(&self, out: &mut Vec<u8>) {
        assert!(self.is_valid(), "encoding an invalid SID ({} sub-authorities, authority {:#x})", self.sub.len(), self.authority);
        out.push(SID_REVISION);
        out.push(self.sub.len() as u8);
        out.extend_from_slice(&self.authority.to_be_bytes()[2..8]);
        for s in &self.sub {
            out.extend_from_slice(&s.to_le_bytes());
        }
    }

    /// Reads a binary SID from the start of `b`; returns it and the bytes it
    /// used. Bytes after it are not looked at.
    pub fn decode(b: &[u8]) -> Result<(Sid, usize), SecurityError> {
        if b.len() < SID_FIXED_BYTES {
            return Err(SecurityError::Truncated { what: "SID" });
        }
        if b[0] != SID_REVISION {
            return Err(SecurityError::BadRevision { what: "SID", revision: b[0] });
        }
        let count = b[1] as usize;
        if count > SID_SUB_AUTHORITIES_MAX {
            return Err(SecurityError::BadSid { reason: "SID has more than 15 sub-authorities" });
        }
        let used = SID_FIXED_BYTES + 4 * count;
        if b.len() < used {
            return Err(SecurityError::Truncated { what: "SID" });
        }
        let mut auth = [0u8; 8];
        auth[2..8].copy_from_slice(&b[2..8]);
        let sub = b[SID_FIXED_BYTES..used].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok((Sid { authority: u64::from_be_bytes(auth), sub }, used))
    }
}

/// Only ASCII digits, at least one, no sign: `str::parse` alone accepts "+5".
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for Sid {
    /// "S-1-5-21-1-2-3-1000"; an authority of 2^32 or more in hex, as
    /// [MS-DTYP] 2.4.2.1 writes it ("S-1-0x010000000000-...").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.authority < (1 << 32) {
            write!(f, "S-1-{}", self.authority)?;
        } else {
            write!(f, "S-1-0x{:012X}", self.authority)?;
        }
        for s in &self.sub {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// The well-known SIDs a file's ACL names ([MS-DTYP] 2.4.2.4).
pub mod well_known {
    use super::Sid;

    /// Everyone: S-1-1-0.
    pub fn world() -> Sid {
        Sid::new(1, &[0])
    }
    /// CREATOR OWNER: S-1-3-0. In an inheritable ACE, stands for the new
    /// object's owner; never matches a token.
    pub fn creator_owner() -> Sid {
        Sid::new(3, &[0])
    }
    /// CREATOR GROUP: S-1-3-1, the same for the new object's group.
    pub fn creator_group() -> Sid {
        Sid::new(3, &[1])
    }
    /// OWNER RIGHTS: S-1-3-4. An effective ACE naming it replaces the
    /// owner's implicit READ_CONTROL | WRITE_DAC.
    pub fn owner_rights() -> Sid {
        Sid::new(3, &[4])
    }
    /// NT AUTHORITY\Authenticated Users: S-1-5-11.
    pub fn authenticated_users() -> Sid {
        Sid::new(5, &[11])
    }
    /// NT AUTHORITY\SYSTEM: S-1-5-18.
    pub fn local_system() -> Sid {
        Sid::new(5, &[18])
    }
    /// BUILTIN\Administrators: S-1-5-32-544.
    pub fn builtin_administrators() -> Sid {
        Sid::new(5, &[32, 544])
    }
    /// BUILTIN\Users: S-1-5-32-545.
    pub fn builtin_users() -> Sid {
        Sid::new(5, &[32, 545])
    }
}

/// Relative id of a domain's "Domain Users" group.
pub const DOMAIN_USERS_RID: u32 = 513;
/// User rids start here, above every well-known domain rid (500-999), as
/// Windows starts its own at 1000.
pub const USER_RID_BASE: u32 = 1000;

fn fnv1a32(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for p in parts {
        for &b in *p {
            h ^= b as u32;
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// The Holdfast domain SID, S-1-5-21-a-b-c: three sub-authorities, each the
/// FNV-1a hash of its index byte and `domain_seed`.
fn domain_sid(domain_seed: &[u8], rid: u32) -> Sid {
    let part = |i: u8| fnv1a32(&[b"holdfast-domain", &[i], domain_seed]);
    Sid::new(5, &[21, part(0), part(1), part(2), rid])
}

/// A Holdfast user's SID: S-1-5-21-<3 sub-authorities from `domain_seed`>-<rid>,
/// with rid = 1000 + (FNV-1a of the lower-cased user name mod 2^30).
///
/// Why derived and not allocated: any host of the cluster may serve a user,
/// and every host must put the same SID in that user's token, in the owner
/// of the files it creates and in ACEs, with no shared state to agree on an
/// allocation. A pure function of the cluster's seed and the name gives that:
/// same inputs, same SID, on every host, across restarts and versions (FNV-1a
/// is fixed here, not a std hasher that may change). The name is lower-cased
/// because SMB user names are case-insensitive.
///
/// Two names can collide on a rid (2^30 values: about one chance in 2000 for
/// 1000 users); colliding users would share every permission, so whoever
/// manages the user list must refuse a name whose SID is already taken.
pub fn user_sid(domain_seed: &[u8], user: &str) -> Sid {
    let lower = user.to_lowercase();
    let rid = USER_RID_BASE + (fnv1a32(&[lower.as_bytes()]) & ((1 << 30) - 1));
    domain_sid(domain_seed, rid)
}

/// The seed of Holdfast's domain SID (S-1-5-21-a-b-c). The same in every
/// cluster and on every host, so a user's SID never depends on where a
/// session lands, and a descriptor written on one host means the same on
/// every other.
pub const HOLDFAST_DOMAIN_SEED: &[u8] = b"holdfast";

/// The Holdfast domain's "Domain Users" group (rid 513): every user's
/// primary group.
pub fn domain_users_sid(domain_seed: &[u8]) -> Sid {
    domain_sid(domain_seed, DOMAIN_USERS_RID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_round_trips() {
        for s in ["S-1-5-32-544", "S-1-1-0", "S-1-5-21-1-2-3-1000", "S-1-0x010000000000-7", "S-1-5", "S-1-5-21-4294967295-0-1-2-3-4-5-6-7-8-9-10-11-12"] {
            assert_eq!(Sid::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Sid::parse("s-1-5-18").unwrap(), well_known::local_system());
        assert_eq!(Sid::parse("S-1-4294967295").unwrap().to_string(), "S-1-4294967295");
        assert_eq!(Sid::parse("S-1-4294967296").unwrap().to_string(), "S-1-0x000100000000");
    }

    #[test]
    fn bad_strings_are_refused() {
        for s in [
            "", "S", "S-1", "S-2-5-18", "X-1-5-18", "S-1-5-", "S-1--5", "S-1-5-+3", "S-1-5- 3", "S-1-5-4294967296",
            "S-1-281474976710656", "S-1-0x1000000000000", "S-1-0x", "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
        ] {
            assert!(matches!(Sid::parse(s), Err(SecurityError::BadSid { .. })), "{s:?} accepted");
        }
        assert!(Sid::parse(&format!("S-1-5{}", "-1".repeat(100))).is_err());
    }

    #[test]
    fn binary_form() {
        let sid = well_known::builtin_administrators();
        let mut b = Vec::new();
        sid.encode(&mut b);
        assert_eq!(b, [1, 2, 0, 0, 0, 0, 0, 5, 0x20, 0, 0, 0, 0x20, 0x02, 0, 0]);
        assert_eq!(sid.encoded_bytes(), b.len());
        b.extend_from_slice(&[0xEE; 3]);
        assert_eq!(Sid::decode(&b).unwrap(), (sid, 16));
        let big = Sid::new(SID_AUTHORITY_MAX, &[u32::MAX; 15]);
        let mut b = Vec::new();
        big.encode(&mut b);
        assert_eq!(b.len(), 68);
        assert_eq!(Sid::decode(&b).unwrap(), (big, 68));
    }

    #[test]
    fn hostile_binary_is_refused() {
        let mut b = Vec::new();
        well_known::builtin_users().encode(&mut b);
        for n in 0..b.len() {
            assert_eq!(Sid::decode(&b[..n]), Err(SecurityError::Truncated { what: "SID" }), "{n} bytes");
        }
        let mut bad = b.clone();
        bad[0] = 2;
        assert_eq!(Sid::decode(&bad), Err(SecurityError::BadRevision { what: "SID", revision: 2 }));
        let mut bad = vec![1, 16, 0, 0, 0, 0, 0, 5];
        bad.extend_from_slice(&[0; 64]);
        assert!(matches!(Sid::decode(&bad), Err(SecurityError::BadSid { .. })));
    }

    #[test]
    #[should_panic(expected = "invalid SID")]
    fn encoding_an_invalid_sid_panics() {
        Sid { authority: 5, sub: vec![1; 16] }.encode(&mut Vec::new());
    }

    #[test]
    fn user_sids_are_stable_and_distinct() {
        let seed = b"cluster-7f3a";
        let a = user_sid(seed, "Alice");
        assert_eq!(a, user_sid(seed, "alice"));
        assert_eq!(a, user_sid(seed, "ALICE"));
        assert_ne!(a, user_sid(seed, "bob"));
        assert_ne!(a, user_sid(b"another-cluster", "alice"));
        assert_eq!(a.authority, 5);
        assert_eq!(a.sub.len(), 5);
        assert_eq!(a.sub[0], 21);
        let rid = a.sub[4];
        assert!((USER_RID_BASE..USER_RID_BASE + (1 << 30)).contains(&rid));
        let du = domain_users_sid(seed);
        assert_eq!(du.sub[..4], a.sub[..4]);
        assert_eq!(du.sub[4], 513);
        // Pinned values: a change here changes every user's SID on upgrade,
        // which would lock users out of their files.
        assert_eq!(fnv1a32(&[b"a"]), 0xE40C_292C);
        assert_eq!(user_sid(b"", "a").sub[4], USER_RID_BASE + (0xE40C_292C & ((1 << 30) - 1)));
    }
}
