//! The access check ([MS-DTYP] 2.5.3.2) and the security descriptor of a
//! new file or directory ([MS-DTYP] 2.5.3.4, the file-system subset).

use super::descriptor::{ace_flags, control};
use super::{well_known, Ace, AceType, Acl, SecurityDescriptor, SecurityError, Sid};
use crate::access::{map_generic_file, ACCESS_SYSTEM_SECURITY, FILE_ALL_ACCESS, GENERIC_ALL, GENERIC_EXECUTE, GENERIC_READ, GENERIC_WRITE, MAXIMUM_ALLOWED, READ_CONTROL, WRITE_DAC};

/// Who asks: the user's SID and every group SID the caller decides the user
/// is in (typically the primary group, WORLD, AUTHENTICATED_USERS,
/// BUILTIN_USERS; BUILTIN_ADMINISTRATORS for an administrator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub user: Sid,
    pub groups: Vec<Sid>,
}

impl Token {
    pub fn has_sid(&self, sid: &Sid) -> bool {
        self.user == *sid || self.groups.contains(sid)
    }
}

/// Rights the owner has whatever the DACL says, unless an effective ACE
/// names OWNER RIGHTS.
const OWNER_IMPLICIT: u32 = READ_CONTROL | WRITE_DAC;

/// [MS-DTYP] 2.5.3.2 AccessCheck for files.
///
/// - Generic bits in `desired` and in ACE masks are mapped first (the file
///   generic mapping, `access::map_generic_file`).
/// - No DACL (NULL, or absent) grants everything: `desired`, or
///   FILE_ALL_ACCESS for MAXIMUM_ALLOWED.
/// - The owner (the descriptor's owner SID in the token) is granted
///   READ_CONTROL and WRITE_DAC whatever the DACL says, so an empty DACL
///   grants the owner just these and everyone else nothing. An effective
///   ACE naming OWNER RIGHTS (S-1-3-4) takes this implicit grant away and
///   applies to the owner instead.
/// - ACEs are taken in order; INHERIT_ONLY ones and types other than
///   allowed/denied are skipped. A deny ACE refuses the bits it names that
///   no earlier ACE allowed: deny ACEs that come first win.
/// - MAXIMUM_ALLOWED: everything the DACL allows (allowed bits not denied
///   by an earlier ACE) plus the owner's implicit rights, together with any
///   other bit in `desired`, which must all be granted; nothing at all
///   granted is a denial (`missing` = MAXIMUM_ALLOWED).
/// - ACCESS_SYSTEM_SECURITY is never granted by a DACL (it takes a
///   privilege): asked for, it is always in `missing`. A caller that holds
///   the privilege removes it from `desired` and adds it to the result.
///
/// Returns the granted mask (no generic bits, no MAXIMUM_ALLOWED), or
/// `AccessDenied { missing }`. `desired == 0` is granted as 0: whether an
/// open may ask for nothing is the caller's rule.
pub fn access_check(sd: &SecurityDescriptor, token: &Token, desired: u32) -> Result<u32, SecurityError> {
    let desired = map_generic_file(desired);
    let maximum = desired & MAXIMUM_ALLOWED != 0;
    let system = desired & ACCESS_SYSTEM_SECURITY;
    let want = desired & !(MAXIMUM_ALLOWED | ACCESS_SYSTEM_SECURITY);
    let deny = |missing: u32| Err(SecurityError::AccessDenied { missing });

    let Some(dacl) = &sd.dacl else {
        if system != 0 {
            return deny(system);
        }
        return Ok(if maximum { want | FILE_ALL_ACCESS } else { want });
    };

    let owner_rights = well_known::owner_rights();
    let am_owner = sd.owner.as_ref().is_some_and(|o| token.has_sid(o));
    let effective = |a: &&Ace| !a.is_inherit_only() && matches!(a.ace_type, AceType::AccessAllowed | AceType::AccessDenied);
    let implicit = if am_owner && !dacl.aces.iter().filter(effective).any(|a| a.sid == owner_rights) { OWNER_IMPLICIT } else { 0 };
    let applies = |a: &Ace| token.has_sid(&a.sid) || (am_owner && a.sid == owner_rights);

    if maximum {
        let (mut granted, mut denied) = (implicit, 0u32);
        for ace in dacl.aces.iter().filter(effective).filter(|a| applies(a)) {
            let mask = map_generic_file(ace.mask) & !(MAXIMUM_ALLOWED | ACCESS_SYSTEM_SECURITY);
            match ace.ace_type {
                AceType::AccessAllowed => granted |= mask & !denied,
                _ => denied |= mask & !granted,
            }
        }
        let missing = (want & !granted) | system;
        if missing != 0 {
            return deny(missing);
        }
        if granted == 0 {
            return deny(MAXIMUM_ALLOWED);
        }
        return Ok(granted);
    }

    let (mut remaining, mut denied) = (want & !implicit, 0u32);
    for ace in dacl.aces.iter().filter(effective).filter(|a| applies(a)) {
        if remaining == 0 {
            break;
        }
        let mask = map_generic_file(ace.mask);
        match ace.ace_type {
            AceType::AccessAllowed => remaining &= !mask,
            _ => {
                denied |= remaining & mask;
                remaining &= !mask;
            }
        }
    }
    let missing = remaining | denied | system;
    if missing != 0 {
        return deny(missing);
    }
    Ok(want)
}

const GENERIC_ANY: u32 = GENERIC_ALL | GENERIC_EXECUTE | GENERIC_WRITE | GENERIC_READ;
/// Flags an effective inherited copy keeps from its parent ACE: the audit
/// ones (they mean something in a SACL).
const AUDIT_FLAGS: u8 = ace_flags::SUCCESSFUL_ACCESS | ace_flags::FAILED_ACCESS;

/// The copy of `ace` that applies to the new object: CREATOR OWNER /
/// CREATOR GROUP replaced by the owner / group, generic bits mapped, only
/// INHERITED (and audit) flags. ACEs of unknown types are copied with the
/// flags changed only: their body is not interpreted.
fn effective_copy(ace: &Ace, owner: &Sid, group: &Sid) -> Ace {
    let mut e = ace.clone();
    e.flags = (ace.flags & AUDIT_FLAGS) | ace_flags::INHERITED;
    if e.raw.is_none() {
        e.mask = map_generic_file(e.mask);
        if e.sid == well_known::creator_owner() {
            e.sid = owner.clone();
        } else if e.sid == well_known::creator_group() {
            e.sid = group.clone();
        }
    }
    e
}

/// Does the effective copy differ from the ACE itself, so that a
/// propagating ACE must be split in two?
fn needs_expansion(ace: &Ace) -> bool {
    ace.raw.is_none() && (ace.mask & GENERIC_ANY != 0 || ace.sid == well_known::creator_owner() || ace.sid == well_known::creator_group())
}

/// The ACEs a new object inherits from its parent's `acl`.
///
/// File: every OBJECT_INHERIT ACE, as its effective copy.
/// Directory, for each CONTAINER_INHERIT ACE: with NO_PROPAGATE_INHERIT,
/// the effective copy only; if it names CREATOR OWNER / GROUP or has
/// generic bits, the effective copy and then the original marked
/// INHERIT_ONLY (for the directory's own children); otherwise one ACE, the
/// original without INHERIT_ONLY. For each OBJECT_INHERIT-only ACE (no
/// CONTAINER_INHERIT): kept INHERIT_ONLY for files below, unless
/// NO_PROPAGATE_INHERIT. Every inherited ACE carries INHERITED.
fn inherit_acl(acl: &Acl, is_dir: bool, owner: &Sid, group: &Sid) -> Acl {
    use ace_flags::*;
    let mut aces = Vec::new();
    for ace in &acl.aces {
        let f = ace.flags;
        if !is_dir {
            if f & OBJECT_INHERIT != 0 {
                aces.push(effective_copy(ace, owner, group));
            }
        } else if f & CONTAINER_INHERIT != 0 {
            if f & NO_PROPAGATE_INHERIT != 0 {
                aces.push(effective_copy(ace, owner, group));
            } else if needs_expansion(ace) {
                aces.push(effective_copy(ace, owner, group));
                aces.push(Ace { flags: f | INHERIT_ONLY | INHERITED, ..ace.clone() });
            } else {
                aces.push(Ace { flags: (f & !INHERIT_ONLY) | INHERITED, ..ace.clone() });
            }
        } else if f & OBJECT_INHERIT != 0 && f & NO_PROPAGATE_INHERIT == 0 {
            aces.push(Ace { flags: f | INHERIT_ONLY | INHERITED, ..ace.clone() });
        }
    }
    Acl { revision: acl.revision, aces }
}

/// The default DACL of an object that inherits nothing: its owner and
/// LOCAL_SYSTEM, FILE_ALL_ACCESS each, not inheritable. This is what a
/// Windows token's default DACL gives (owner and SYSTEM, GENERIC_ALL); no
/// one else is let in, and the owner may widen it (WRITE_DAC).
fn default_dacl(owner: &Sid) -> Acl {
    Acl::new(vec![Ace::allowed(owner.clone(), FILE_ALL_ACCESS, 0), Ace::allowed(well_known::local_system(), FILE_ALL_ACCESS, 0)])
}

/// Takes the creator's ACL as given (generic bits of effective ACEs mapped)
/// and the control bits that go with it, canonicalized as `merge` does.
fn explicit(sd: &mut SecurityDescriptor, creator: &SecurityDescriptor, secinfo: u32) {
    let mut from = creator.clone();
    from.owner = None;
    from.group = None;
    let mut merged = sd.clone();
    // A creator descriptor came through `decode`, so its ACL is within the
    // limits and merging it into a descriptor with two SIDs cannot fail; if
    // it somehow did, `sd` stays as it was (the default DACL).
    if merged.merge(&from, secinfo).is_ok() {
        *sd = merged;
    }
}

/// [MS-DTYP] 2.5.3.4 CreateSecurityDescriptor, the file-system subset: the
/// descriptor of a new file (`is_dir` false) or directory.
///
/// - Owner and group: `creator`'s if it has them (the create context SecD),
///   else `owner` and `group` (the token's user and primary group).
/// - DACL: if `creator` has one present (including a NULL DACL: DACL_PRESENT
///   with none), it is used as given and nothing is inherited — the explicit
///   DACL wins (Samba applies a create-time descriptor the same way).
///   Otherwise the DACL is inherited from `parent`'s (see `inherit_acl`),
///   with DACL_AUTO_INHERITED set. If that gives no ACE (no parent, a parent
///   with no DACL or no inheritable ACE), the default DACL: owner and
///   LOCAL_SYSTEM FILE_ALL_ACCESS.
/// - SACL: `creator`'s if present, else inherited from `parent`'s SACL the
///   same way (SACL_AUTO_INHERITED), else none.
///
/// Every inherited ACE is marked INHERITED and the child's DACL
/// DACL_AUTO_INHERITED, as NTFS does (Samba does so only when the parent has
/// DACL_AUTO_INHERITED; a Windows volume's descriptors all have it). An
/// inherited ACL beyond the limits (`SecurityDescriptor::validate`: a parent
/// near ACES_MAX whose ACEs split in two) is replaced by an empty one:
/// access fails closed, and the owner keeps READ_CONTROL and WRITE_DAC to
/// repair it.
pub fn inherit(parent: Option<&SecurityDescriptor>, creator: Option<&SecurityDescriptor>, is_dir: bool, owner: &Sid, group: &Sid) -> SecurityDescriptor {
    let owner = creator.and_then(|c| c.owner.clone()).unwrap_or_else(|| owner.clone());
    let group = creator.and_then(|c| c.group.clone()).unwrap_or_else(|| group.clone());
    let mut sd = SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT,
        owner: Some(owner.clone()),
        group: Some(group.clone()),
        sacl: None,
        dacl: Some(default_dacl(&owner)),
    };
    let inherited = |acl: Option<&Acl>| -> Option<Acl> {
        let acl = inherit_acl(acl?, is_dir, &owner, &group);
        if acl.aces.is_empty() {
            return None;
        }
        let fits = SecurityDescriptor { dacl: Some(acl.clone()), ..SecurityDescriptor::default() }.validate().is_ok();
        Some(if fits { acl } else { Acl { revision: acl.revision, aces: Vec::new() } })
    };

    match creator {
        Some(c) if c.dacl.is_some() || c.control & control::DACL_PRESENT != 0 => explicit(&mut sd, c, super::secinfo::DACL),
        _ => {
            if let Some(acl) = inherited(parent.and_then(|p| p.dacl.as_ref())) {
                sd.dacl = Some(acl);
                sd.control |= control::DACL_AUTO_INHERITED;
            }
        }
    }
    match creator {
        Some(c) if c.sacl.is_some() || c.control & control::SACL_PRESENT != 0 => explicit(&mut sd, c, super::secinfo::SACL),
        _ => {
            if let Some(acl) = inherited(parent.and_then(|p| p.sacl.as_ref())) {
                sd.sacl = Some(acl);
                sd.control |= control::SACL_PRESENT | control::SACL_AUTO_INHERITED;
            }
        }
    }
    // Both ACLs within the limits on their own may still exceed them
    // together; the SACL goes first (auditing lost, access unchanged).
    if sd.validate().is_err() {
        sd.sacl = None;
        sd.control &= !(control::SACL_PRESENT | control::SACL_AUTO_INHERITED);
    }
    sd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::*;
    use crate::security::ACL_REVISION_DS;
    use ace_flags::*;
    use well_known::*;

    fn alice() -> Sid {
        Sid::parse("S-1-5-21-1-2-3-1001").unwrap()
    }
    fn bob() -> Sid {
        Sid::parse("S-1-5-21-1-2-3-1002").unwrap()
    }
    fn users() -> Sid {
        Sid::parse("S-1-5-21-1-2-3-513").unwrap()
    }
    fn token(user: Sid) -> Token {
        Token { user, groups: vec![users(), world(), authenticated_users(), builtin_users()] }
    }
    fn sd(owner: Sid, dacl: Option<Vec<Ace>>) -> SecurityDescriptor {
        SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT, owner: Some(owner), group: Some(users()), sacl: None, dacl: dacl.map(Acl::new) }
    }
    fn denied(missing: u32) -> Result<u32, SecurityError> {
        Err(SecurityError::AccessDenied { missing })
    }

    #[test]
    fn deny_before_allow_wins_and_allow_before_deny_wins() {
        let deny_first = sd(bob(), Some(vec![Ace::denied(alice(), FILE_WRITE_DATA, 0), Ace::allowed(world(), FILE_ALL_ACCESS, 0)]));
        assert_eq!(access_check(&deny_first, &token(alice()), FILE_READ_DATA), Ok(FILE_READ_DATA));
        assert_eq!(access_check(&deny_first, &token(alice()), FILE_READ_DATA | FILE_WRITE_DATA), denied(FILE_WRITE_DATA));
        assert_eq!(access_check(&deny_first, &token(bob()), FILE_WRITE_DATA), Ok(FILE_WRITE_DATA));
        let allow_first = sd(bob(), Some(vec![Ace::allowed(world(), FILE_ALL_ACCESS, 0), Ace::denied(alice(), FILE_WRITE_DATA, 0)]));
        assert_eq!(access_check(&allow_first, &token(alice()), FILE_WRITE_DATA), Ok(FILE_WRITE_DATA));
        // A deny through a group the user is in counts too.
        let by_group = sd(bob(), Some(vec![Ace::denied(users(), DELETE, 0), Ace::allowed(alice(), FILE_ALL_ACCESS, 0)]));
        assert_eq!(access_check(&by_group, &token(alice()), DELETE | FILE_READ_DATA), denied(DELETE));
        // Not granted at all: missing, not denied.
        let partial = sd(bob(), Some(vec![Ace::allowed(alice(), FILE_READ_DATA, 0)]));
        assert_eq!(access_check(&partial, &token(alice()), FILE_READ_DATA | FILE_APPEND_DATA), denied(FILE_APPEND_DATA));
    }

    #[test]
    fn generic_bits_are_mapped_in_request_and_aces() {
        let d = sd(bob(), Some(vec![Ace::allowed(alice(), GENERIC_READ, 0)]));
        assert_eq!(access_check(&d, &token(alice()), FILE_READ_DATA | SYNCHRONIZE), Ok(FILE_READ_DATA | SYNCHRONIZE));
        assert_eq!(access_check(&d, &token(alice()), GENERIC_READ), Ok(FILE_GENERIC_READ));
        assert_eq!(access_check(&d, &token(alice()), GENERIC_WRITE), denied(FILE_GENERIC_WRITE & !FILE_GENERIC_READ));
    }

    #[test]
    fn maximum_allowed() {
        let d = sd(bob(), Some(vec![
            Ace::denied(alice(), FILE_WRITE_DATA, 0),
            Ace::allowed(users(), FILE_GENERIC_READ | FILE_GENERIC_WRITE, 0),
            Ace::allowed(alice(), DELETE, INHERIT_ONLY | OBJECT_INHERIT),
        ]));
        let rw = FILE_GENERIC_READ | FILE_GENERIC_WRITE;
        assert_eq!(access_check(&d, &token(alice()), MAXIMUM_ALLOWED), Ok(rw & !FILE_WRITE_DATA));
        assert_eq!(access_check(&d, &token(alice()), MAXIMUM_ALLOWED | FILE_READ_DATA), Ok(rw & !FILE_WRITE_DATA));
        assert_eq!(access_check(&d, &token(alice()), MAXIMUM_ALLOWED | DELETE), denied(DELETE));
        // The owner adds its implicit rights; a deny cannot take them away.
        let owned = sd(alice(), Some(vec![Ace::denied(alice(), READ_CONTROL | FILE_READ_DATA, 0), Ace::allowed(world(), FILE_READ_DATA, 0)]));
        assert_eq!(access_check(&owned, &token(alice()), MAXIMUM_ALLOWED), Ok(READ_CONTROL | WRITE_DAC));
        // Nothing granted is a denial.
        assert_eq!(access_check(&sd(bob(), Some(vec![])), &token(alice()), MAXIMUM_ALLOWED), denied(MAXIMUM_ALLOWED));
        // An allow for someone else does not count.
        assert_eq!(access_check(&sd(bob(), Some(vec![Ace::allowed(bob(), FILE_ALL_ACCESS, 0)])), &token(alice()), MAXIMUM_ALLOWED), denied(MAXIMUM_ALLOWED));
    }

    #[test]
    fn null_dacl_grants_all_empty_dacl_grants_owner_rights_only() {
        let null = sd(bob(), None);
        assert!(null.has_null_dacl());
        assert_eq!(access_check(&null, &token(alice()), FILE_WRITE_DATA), Ok(FILE_WRITE_DATA));
        assert_eq!(access_check(&null, &token(alice()), GENERIC_WRITE), Ok(FILE_GENERIC_WRITE));
        assert_eq!(access_check(&null, &token(alice()), MAXIMUM_ALLOWED), Ok(FILE_ALL_ACCESS));
        assert_eq!(access_check(&null, &token(alice()), ACCESS_SYSTEM_SECURITY | READ_CONTROL), denied(ACCESS_SYSTEM_SECURITY));
        // An absent DACL is treated the same ([MS-DTYP] 2.5.3.2).
        let absent = SecurityDescriptor { control: control::SELF_RELATIVE, ..null.clone() };
        assert!(!absent.has_null_dacl());
        assert_eq!(access_check(&absent, &token(alice()), FILE_WRITE_DATA), Ok(FILE_WRITE_DATA));

        let empty = sd(alice(), Some(vec![]));
        assert_eq!(access_check(&empty, &token(alice()), READ_CONTROL), Ok(READ_CONTROL));
        assert_eq!(access_check(&empty, &token(alice()), READ_CONTROL | WRITE_DAC), Ok(READ_CONTROL | WRITE_DAC));
        assert_eq!(access_check(&empty, &token(alice()), FILE_WRITE_DATA), denied(FILE_WRITE_DATA));
        assert_eq!(access_check(&empty, &token(alice()), FILE_READ_DATA), denied(FILE_READ_DATA));
        assert_eq!(access_check(&empty, &token(alice()), GENERIC_READ), denied(FILE_GENERIC_READ & !READ_CONTROL));
        assert_eq!(access_check(&empty, &token(alice()), WRITE_OWNER), denied(WRITE_OWNER));
        assert_eq!(access_check(&empty, &token(bob()), READ_CONTROL), denied(READ_CONTROL));
    }

    #[test]
    fn owner_implicit_rights_and_owner_rights_ace() {
        // Owner through a group counts as owner.
        let by_group = SecurityDescriptor { owner: Some(users()), ..sd(bob(), Some(vec![])) };
        assert_eq!(access_check(&by_group, &token(alice()), WRITE_DAC), Ok(WRITE_DAC));
        // OWNER RIGHTS replaces the implicit grant.
        let d = sd(alice(), Some(vec![Ace::allowed(owner_rights(), READ_CONTROL, 0)]));
        assert_eq!(access_check(&d, &token(alice()), READ_CONTROL), Ok(READ_CONTROL));
        assert_eq!(access_check(&d, &token(alice()), WRITE_DAC), denied(WRITE_DAC));
        assert_eq!(access_check(&d, &token(bob()), READ_CONTROL), denied(READ_CONTROL));
        // ... but not when inherit-only.
        let io = sd(alice(), Some(vec![Ace::allowed(owner_rights(), READ_CONTROL, INHERIT_ONLY | OBJECT_INHERIT)]));
        assert_eq!(access_check(&io, &token(alice()), WRITE_DAC), Ok(WRITE_DAC));
    }

    #[test]
    fn inherit_only_and_unknown_aces_are_skipped_and_system_security_never_granted() {
        let mut other = Ace::allowed(world(), FILE_ALL_ACCESS, 0);
        other.ace_type = AceType::Other(0x11);
        other.raw = Some(vec![0xFF, 0xFF, 0x1F, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let d = sd(bob(), Some(vec![Ace::allowed(alice(), FILE_READ_DATA, INHERIT_ONLY | OBJECT_INHERIT), other, Ace::allowed(world(), 0xFFFF_FFFF, 0)]));
        assert_eq!(access_check(&sd(bob(), Some(d.dacl.clone().unwrap().aces[..2].to_vec())), &token(alice()), FILE_READ_DATA), denied(FILE_READ_DATA));
        assert_eq!(access_check(&d, &token(alice()), ACCESS_SYSTEM_SECURITY | FILE_READ_DATA), denied(ACCESS_SYSTEM_SECURITY));
        let max = access_check(&d, &token(alice()), MAXIMUM_ALLOWED).unwrap();
        assert_eq!(max & (ACCESS_SYSTEM_SECURITY | MAXIMUM_ALLOWED | GENERIC_ALL), 0);
        assert_eq!(max & FILE_ALL_ACCESS, FILE_ALL_ACCESS);
    }

    fn dir_parent(aces: Vec<Ace>) -> SecurityDescriptor {
        SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT | control::DACL_AUTO_INHERITED, ..sd(bob(), Some(aces)) }
    }

    #[test]
    fn inheritance_to_a_file() {
        let parent = dir_parent(vec![
            Ace::allowed(builtin_administrators(), FILE_ALL_ACCESS, OBJECT_INHERIT | CONTAINER_INHERIT),
            Ace::allowed(creator_owner(), GENERIC_ALL, OBJECT_INHERIT | CONTAINER_INHERIT | INHERIT_ONLY),
            Ace::allowed(world(), FILE_GENERIC_READ, CONTAINER_INHERIT),
            Ace::denied(bob(), FILE_WRITE_DATA, OBJECT_INHERIT | NO_PROPAGATE_INHERIT),
            Ace::allowed(users(), FILE_GENERIC_READ, 0),
        ]);
        let f = inherit(Some(&parent), None, false, &alice(), &users());
        assert_eq!(f.owner, Some(alice()));
        assert_eq!(f.group, Some(users()));
        assert_eq!(f.control, control::SELF_RELATIVE | control::DACL_PRESENT | control::DACL_AUTO_INHERITED);
        assert_eq!(f.dacl, Some(Acl::new(vec![
            Ace::allowed(builtin_administrators(), FILE_ALL_ACCESS, INHERITED),
            Ace::allowed(alice(), FILE_ALL_ACCESS, INHERITED),
            Ace::denied(bob(), FILE_WRITE_DATA, INHERITED),
        ])));
        assert_eq!(f.sacl, None);
        assert_eq!(SecurityDescriptor::decode(&f.encode()), Ok(f.clone()));
        assert_eq!(access_check(&f, &token(alice()), MAXIMUM_ALLOWED), Ok(FILE_ALL_ACCESS));
    }

    #[test]
    fn inheritance_to_a_directory() {
        let parent = dir_parent(vec![
            Ace::allowed(builtin_administrators(), FILE_ALL_ACCESS, OBJECT_INHERIT | CONTAINER_INHERIT),
            Ace::allowed(creator_owner(), GENERIC_ALL, OBJECT_INHERIT | CONTAINER_INHERIT | INHERIT_ONLY),
            Ace::allowed(world(), GENERIC_READ, CONTAINER_INHERIT),
            Ace::allowed(creator_group(), FILE_GENERIC_READ, CONTAINER_INHERIT | NO_PROPAGATE_INHERIT),
            Ace::denied(bob(), FILE_WRITE_DATA, OBJECT_INHERIT),
            Ace::denied(bob(), DELETE, OBJECT_INHERIT | NO_PROPAGATE_INHERIT),
            Ace::allowed(users(), FILE_GENERIC_READ, 0),
        ]);
        let d = inherit(Some(&parent), None, true, &alice(), &users());
        assert_eq!(d.dacl, Some(Acl::new(vec![
            // Propagates unchanged: one ACE, effective here and inherited below.
            Ace::allowed(builtin_administrators(), FILE_ALL_ACCESS, OBJECT_INHERIT | CONTAINER_INHERIT | INHERITED),
            // CREATOR OWNER: the effective copy for alice, then the original, inherit-only.
            Ace::allowed(alice(), FILE_ALL_ACCESS, INHERITED),
            Ace::allowed(creator_owner(), GENERIC_ALL, OBJECT_INHERIT | CONTAINER_INHERIT | INHERIT_ONLY | INHERITED),
            // Generic bits: the same split.
            Ace::allowed(world(), FILE_GENERIC_READ, INHERITED),
            Ace::allowed(world(), GENERIC_READ, CONTAINER_INHERIT | INHERIT_ONLY | INHERITED),
            // NO_PROPAGATE: effective here, nothing further.
            Ace::allowed(users(), FILE_GENERIC_READ, INHERITED),
            // OBJECT_INHERIT only: kept for files below, not effective here.
            Ace::denied(bob(), FILE_WRITE_DATA, OBJECT_INHERIT | INHERIT_ONLY | INHERITED),
        ])));
        // A grandchild file.
        let f = inherit(Some(&d), None, false, &bob(), &users());
        assert_eq!(f.dacl, Some(Acl::new(vec![
            Ace::allowed(builtin_administrators(), FILE_ALL_ACCESS, INHERITED),
            Ace::allowed(bob(), FILE_ALL_ACCESS, INHERITED),
            Ace::denied(bob(), FILE_WRITE_DATA, INHERITED),
        ])));
        // Inherited ACEs keep the parent's order: bob's CREATOR OWNER grant comes before the deny.
        assert_eq!(access_check(&f, &token(bob()), FILE_WRITE_DATA), Ok(FILE_WRITE_DATA));
        assert_eq!(access_check(&f, &token(alice()), FILE_READ_DATA), denied(FILE_READ_DATA));
        // A grandchild directory: the world ACE reaches it again, split again.
        let g = inherit(Some(&d), None, true, &bob(), &users());
        let g_aces = &g.dacl.as_ref().unwrap().aces;
        assert!(g_aces.contains(&Ace::allowed(world(), FILE_GENERIC_READ, INHERITED)));
        assert!(!g_aces.iter().any(|a| a.sid == users()));
    }

    #[test]
    fn nothing_to_inherit_gives_the_default_dacl() {
        let default = Some(Acl::new(vec![Ace::allowed(alice(), FILE_ALL_ACCESS, 0), Ace::allowed(local_system(), FILE_ALL_ACCESS, 0)]));
        let none = inherit(None, None, false, &alice(), &users());
        assert_eq!(none.dacl, default);
        assert_eq!(none.control, control::SELF_RELATIVE | control::DACL_PRESENT);
        let not_inheritable = dir_parent(vec![Ace::allowed(world(), FILE_ALL_ACCESS, 0), Ace::allowed(world(), FILE_ALL_ACCESS, CONTAINER_INHERIT)]);
        assert_eq!(inherit(Some(&not_inheritable), None, false, &alice(), &users()).dacl, default);
        assert_eq!(inherit(Some(&sd(bob(), None)), None, true, &alice(), &users()).dacl, default);
        // An empty client descriptor (smbtorture create.nulldacl) inherits.
        let empty = SecurityDescriptor::default();
        assert_eq!(inherit(None, Some(&empty), false, &alice(), &users()).dacl, default);
    }

    #[test]
    fn creator_descriptor() {
        let parent = dir_parent(vec![Ace::allowed(world(), FILE_ALL_ACCESS, OBJECT_INHERIT | CONTAINER_INHERIT)]);
        // Explicit DACL wins, kept as given (order, flags, revision), owner and group too.
        let mut acl = Acl::new(vec![Ace::allowed(world(), FILE_GENERIC_READ | 0x001F_0000, INHERITED), Ace::allowed(authenticated_users(), 0x001F_0000, 0)]);
        acl.revision = ACL_REVISION_DS;
        let creator = SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT | control::DACL_PROTECTED, owner: Some(world()), group: Some(builtin_users()), sacl: None, dacl: Some(acl.clone()) };
        let f = inherit(Some(&parent), Some(&creator), false, &alice(), &users());
        assert_eq!((f.owner.clone(), f.group.clone(), f.dacl.clone()), (Some(world()), Some(builtin_users()), Some(acl)));
        assert_eq!(f.control, control::SELF_RELATIVE | control::DACL_PRESENT | control::DACL_PROTECTED);
        // A NULL DACL given at create is kept.
        let null = SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT, ..SecurityDescriptor::default() };
        let n = inherit(Some(&parent), Some(&null), false, &alice(), &users());
        assert!(n.has_null_dacl());
        assert_eq!(n.owner, Some(alice()));
        // Owner only: the DACL is inherited, the owner taken.
        let owner_only = SecurityDescriptor { owner: Some(bob()), ..SecurityDescriptor::default() };
        let o = inherit(Some(&parent), Some(&owner_only), false, &alice(), &users());
        assert_eq!(o.owner, Some(bob()));
        assert_eq!(o.group, Some(users()));
        assert_eq!(o.dacl, Some(Acl::new(vec![Ace::allowed(world(), FILE_ALL_ACCESS, INHERITED)])));
    }

    #[test]
    fn sacl_inherits_with_audit_flags_and_oversized_inheritance_fails_closed() {
        let mut audit = Ace::allowed(world(), GENERIC_WRITE, OBJECT_INHERIT | SUCCESSFUL_ACCESS | FAILED_ACCESS);
        audit.ace_type = AceType::SystemAudit;
        let mut parent = dir_parent(vec![]);
        parent.sacl = Some(Acl::new(vec![audit.clone()]));
        parent.control |= control::SACL_PRESENT;
        let f = inherit(Some(&parent), None, false, &alice(), &users());
        let mut want = audit;
        want.flags = SUCCESSFUL_ACCESS | FAILED_ACCESS | INHERITED;
        want.mask = FILE_GENERIC_WRITE;
        assert_eq!(f.sacl, Some(Acl::new(vec![want])));
        assert_ne!(f.control & control::SACL_AUTO_INHERITED, 0);

        // 1000 CREATOR OWNER ACEs split into 2000 on a directory: over ACES_MAX.
        let many: Vec<Ace> = (0..1000).map(|_| Ace::allowed(creator_owner(), GENERIC_READ, CONTAINER_INHERIT)).collect();
        let d = inherit(Some(&dir_parent(many)), None, true, &alice(), &users());
        assert_eq!(d.dacl, Some(Acl::new(vec![])));
        assert_eq!(access_check(&d, &token(alice()), READ_CONTROL | WRITE_DAC), Ok(READ_CONTROL | WRITE_DAC));
        assert_eq!(access_check(&d, &token(alice()), FILE_READ_DATA), denied(FILE_READ_DATA));
        assert_eq!(d.validate(), Ok(()));
    }
}
