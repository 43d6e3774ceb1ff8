//! Tests of the descriptor codec and of the QUERY_INFO / SET_INFO views
//! (`descriptor.rs`); SID and access-check tests sit in their own files.

use super::*;
use crate::access::*;
use ace_flags::*;
use well_known::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A Windows 10 file in a user profile, "O:<user>G:<domain users>D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;FA;;;<user>)",
/// written out by hand from [MS-DTYP] 2.4.2.2, 2.4.4.2, 2.4.5 and 2.4.6.
const WINDOWS_FILE_SD: &str = "
    01 00 04 84  14 00 00 00  30 00 00 00  00 00 00 00  4c 00 00 00
    01 05 00 00 00 00 00 05  15 00 00 00  dc f4 dc 3b  83 3d 2b 46  82 8b a6 28  e9 03 00 00
    01 05 00 00 00 00 00 05  15 00 00 00  dc f4 dc 3b  83 3d 2b 46  82 8b a6 28  01 02 00 00
    02 00 58 00  03 00 00 00
    00 10 14 00  ff 01 1f 00  01 01 00 00 00 00 00 05  12 00 00 00
    00 10 18 00  ff 01 1f 00  01 02 00 00 00 00 00 05  20 00 00 00  20 02 00 00
    00 10 24 00  ff 01 1f 00  01 05 00 00 00 00 00 05  15 00 00 00  dc f4 dc 3b  83 3d 2b 46  82 8b a6 28  e9 03 00 00";

fn user() -> Sid {
    Sid::parse("S-1-5-21-1004336348-1177238915-682003330-1001").unwrap()
}

fn other_ace(ace_type: u8, flags: u8, body: &[u8]) -> Ace {
    let mask = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
    Ace { ace_type: AceType::Other(ace_type), flags, mask, sid: Sid::new(0, &[0]), raw: Some(body.to_vec()) }
}

fn full_sd() -> SecurityDescriptor {
    let mut audit = Ace::allowed(world(), FILE_WRITE_DATA, SUCCESSFUL_ACCESS | FAILED_ACCESS);
    audit.ace_type = AceType::SystemAudit;
    // An ACCESS_ALLOWED_OBJECT ACE: mask, flags, one GUID, SID.
    let mut object_body = vec![0x89, 0, 0x12, 0, 1, 0, 0, 0];
    object_body.extend_from_slice(&[0xAB; 16]);
    world().encode(&mut object_body);
    SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT | control::SACL_PRESENT | control::DACL_PROTECTED | control::OWNER_DEFAULTED,
        owner: Some(user()),
        group: Some(builtin_users()),
        sacl: Some(Acl::new(vec![audit])),
        dacl: Some(Acl {
            revision: ACL_REVISION_DS,
            aces: vec![
                Ace::denied(user(), DELETE, 0),
                Ace::allowed(creator_owner(), GENERIC_ALL, OBJECT_INHERIT | CONTAINER_INHERIT | INHERIT_ONLY),
                other_ace(5, CONTAINER_INHERIT, &object_body),
                Ace::allowed(Sid::new(0x0000_1234_5678_9ABC, &[1; 15]), FILE_ALL_ACCESS, INHERITED),
            ],
        }),
    }
}

#[test]
fn windows_descriptor_decoded_field_by_field() {
    let b = hex(WINDOWS_FILE_SD);
    assert_eq!(b.len(), 164);
    let sd = SecurityDescriptor::decode(&b).unwrap();
    assert_eq!(sd.control, control::SELF_RELATIVE | control::DACL_AUTO_INHERITED | control::DACL_PRESENT);
    assert_eq!(sd.owner.as_ref().unwrap().to_string(), "S-1-5-21-1004336348-1177238915-682003330-1001");
    assert_eq!(sd.group.as_ref().unwrap().to_string(), "S-1-5-21-1004336348-1177238915-682003330-513");
    assert_eq!(sd.sacl, None);
    let dacl = sd.dacl.as_ref().unwrap();
    assert_eq!(dacl.revision, 2);
    assert_eq!(dacl.aces.len(), 3);
    for (ace, sid) in dacl.aces.iter().zip(["S-1-5-18", "S-1-5-32-544", "S-1-5-21-1004336348-1177238915-682003330-1001"]) {
        assert_eq!(ace.ace_type, AceType::AccessAllowed);
        assert_eq!(ace.flags, INHERITED);
        assert_eq!(ace.mask, FILE_ALL_ACCESS);
        assert_eq!(ace.sid.to_string(), sid);
        assert_eq!(ace.raw, None);
    }
    assert_eq!(dacl.aces[0].sid, local_system());
    assert_eq!(dacl.aces[1].sid, builtin_administrators());
    // Windows lays the parts out as we do: encoding gives the same bytes.
    assert_eq!(sd.encode(), b);
    assert_eq!(sd.encoded_len(), b.len());
}

#[test]
fn round_trips() {
    let full = full_sd();
    assert_eq!(full.validate(), Ok(()));
    let cases = [
        full.clone(),
        SecurityDescriptor::default(),
        SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT, ..SecurityDescriptor::default() },
        SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT | control::SACL_PRESENT, dacl: Some(Acl::new(vec![])), ..full.clone() },
        SecurityDescriptor { control: control::SELF_RELATIVE | control::SACL_PRESENT | control::DACL_PRESENT, sacl: None, dacl: None, ..full.clone() },
        SecurityDescriptor { owner: None, ..full.clone() },
        SecurityDescriptor { group: None, owner: None, ..full.clone() },
    ];
    for sd in cases {
        let b = sd.encode();
        assert_eq!(b.len(), sd.encoded_len());
        assert_eq!(SecurityDescriptor::decode(&b), Ok(sd.clone()), "{sd:?}");
        assert_eq!(SecurityDescriptor::decode(&b).unwrap().encode(), b);
    }
    // encode sets SELF_RELATIVE and the PRESENT bits of ACLs that are there.
    let bare = SecurityDescriptor { control: 0, owner: None, group: None, sacl: Some(Acl::new(vec![])), dacl: Some(Acl::new(vec![])) };
    let b = bare.encode();
    assert_eq!(u16::from_le_bytes([b[2], b[3]]), control::SELF_RELATIVE | control::DACL_PRESENT | control::SACL_PRESENT);
}

#[test]
fn null_dacl_absent_dacl_and_empty_dacl_are_distinct() {
    // What Samba's client sends for "set NULL DACL": DACL_PRESENT, offset 0.
    let null = hex("01 00 04 80 00000000 00000000 00000000 00000000");
    let sd = SecurityDescriptor::decode(&null).unwrap();
    assert_eq!(sd.dacl, None);
    assert!(sd.has_null_dacl());
    assert_eq!(sd.encode(), null);
    // security_descriptor_initialise(): nothing present.
    let empty_sd = hex("01 00 00 80 00000000 00000000 00000000 00000000");
    let sd = SecurityDescriptor::decode(&empty_sd).unwrap();
    assert_eq!(sd, SecurityDescriptor::default());
    assert!(!sd.has_null_dacl());
    // An empty DACL: present, no ACEs.
    let empty_dacl = hex("01 00 04 80 00000000 00000000 00000000 14000000 02 00 0800 0000 0000");
    let sd = SecurityDescriptor::decode(&empty_dacl).unwrap();
    assert_eq!(sd.dacl, Some(Acl::new(vec![])));
    assert!(!sd.has_null_dacl());
    // An offset without DACL_PRESENT is not a DACL.
    let not_present = hex("01 00 00 80 00000000 00000000 00000000 14000000 02 00 0800 0000 0000");
    assert_eq!(SecurityDescriptor::decode(&not_present).unwrap().dacl, None);
}

#[test]
fn every_truncation_is_an_error() {
    for b in [hex(WINDOWS_FILE_SD), full_sd().encode()] {
        for n in 0..b.len() {
            assert!(SecurityDescriptor::decode(&b[..n]).is_err(), "{n} of {} bytes accepted", b.len());
        }
    }
    let b = hex(WINDOWS_FILE_SD);
    assert_eq!(SecurityDescriptor::decode(&b[..19]), Err(SecurityError::Truncated { what: "security descriptor" }));
    assert_eq!(SecurityDescriptor::decode(&b[..80]), Err(SecurityError::Truncated { what: "ACL" }));
    assert_eq!(SecurityDescriptor::decode(&b[..163]), Err(SecurityError::Truncated { what: "ACL" }));
}

#[test]
fn hostile_descriptors_are_refused() {
    let good = hex(WINDOWS_FILE_SD);
    let patched = |at: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        SecurityDescriptor::decode(&b)
    };
    assert_eq!(patched(0, &[2]), Err(SecurityError::BadRevision { what: "security descriptor", revision: 2 }));
    assert_eq!(patched(2, &[0x04, 0x04]), Err(SecurityError::NotSelfRelative));
    assert_eq!(patched(4, &[0x10, 0, 0, 0]), Err(SecurityError::BadOffset { what: "owner", offset: 0x10 }));
    assert_eq!(patched(8, &[164, 0, 0, 0]), Err(SecurityError::BadOffset { what: "group", offset: 164 }));
    assert_eq!(patched(16, &[0xFF, 0xFF, 0xFF, 0xFF]), Err(SecurityError::BadOffset { what: "DACL", offset: u32::MAX }));
    // Owner offset at the last byte: the SID runs off the end.
    assert_eq!(patched(4, &[163, 0, 0, 0]), Err(SecurityError::Truncated { what: "SID" }));
    // Owner SID claiming 16 sub-authorities.
    assert!(matches!(patched(0x15, &[16]), Err(SecurityError::BadSid { .. })));
    // ACL: bad revision, AclSize past the end, AclSize under the header, too many ACEs, more ACEs than bytes.
    assert_eq!(patched(0x4C, &[3]), Err(SecurityError::BadRevision { what: "ACL", revision: 3 }));
    assert_eq!(patched(0x4E, &[0x59, 0]), Err(SecurityError::Truncated { what: "ACL" }));
    assert_eq!(patched(0x4E, &[0x04, 0]), Err(SecurityError::Truncated { what: "ACL" }));
    assert_eq!(patched(0x50, &[0x01, 0x04]), Err(SecurityError::TooManyAces { count: 1025 }));
    assert_eq!(patched(0x50, &[0xFF, 0xFF]), Err(SecurityError::TooManyAces { count: 65535 }));
    assert_eq!(patched(0x50, &[4, 0]), Err(SecurityError::Truncated { what: "ACE" }));
    // ACE: AceSize under 8, past the ACL, SID longer than AceSize.
    assert!(matches!(patched(0x56, &[7, 0]), Err(SecurityError::BadAce { .. })));
    assert_eq!(patched(0x56, &[0x50, 0]), Err(SecurityError::Truncated { what: "ACE" }));
    assert!(matches!(patched(0x56, &[0x10, 0]), Err(SecurityError::BadAce { .. })));
    // Too large as a whole.
    let mut big = good.clone();
    big.resize(SD_BYTES_MAX + 1, 0);
    assert_eq!(SecurityDescriptor::decode(&big), Err(SecurityError::TooLarge { bytes: SD_BYTES_MAX + 1 }));
    big.truncate(SD_BYTES_MAX);
    assert!(SecurityDescriptor::decode(&big).is_ok());
}

#[test]
fn random_corruption_never_panics() {
    let bases = [hex(WINDOWS_FILE_SD), full_sd().encode()];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let mut b = bases[(next() % 2) as usize].clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % b.len();
            b[at] = next() as u8;
        }
        if let Ok(sd) = SecurityDescriptor::decode(&b) {
            // Whatever decodes re-encodes and decodes to itself.
            assert_eq!(sd.validate(), Ok(()));
            assert_eq!(SecurityDescriptor::decode(&sd.encode()), Ok(sd));
        }
    }
}

#[test]
fn filtered_gives_what_was_asked() {
    let full = full_sd();
    let f = full.filtered(secinfo::OWNER);
    assert_eq!(f, SecurityDescriptor { control: control::SELF_RELATIVE | control::OWNER_DEFAULTED, owner: Some(user()), ..SecurityDescriptor::default() });
    let f = full.filtered(secinfo::OWNER | secinfo::GROUP | secinfo::DACL);
    assert_eq!(f.control, control::SELF_RELATIVE | control::OWNER_DEFAULTED | control::DACL_PRESENT | control::DACL_PROTECTED);
    assert_eq!((f.owner, f.group, f.sacl, f.dacl), (full.owner.clone(), full.group.clone(), None, full.dacl.clone()));
    let f = full.filtered(secinfo::SACL);
    assert_eq!((f.control, f.sacl.clone(), f.owner.clone()), (control::SELF_RELATIVE | control::SACL_PRESENT, full.sacl.clone(), None));
    assert_eq!(full.filtered(0), SecurityDescriptor::default());
    assert_eq!(full.filtered(secinfo::LABEL), SecurityDescriptor::default());
    // Asked for and not there: reported present and NULL.
    let none = SecurityDescriptor::default().filtered(secinfo::DACL | secinfo::SACL);
    assert_eq!(none.control, control::SELF_RELATIVE | control::DACL_PRESENT | control::SACL_PRESENT);
    assert!(none.has_null_dacl());
    assert_eq!(SecurityDescriptor::decode(&none.encode()), Ok(none));
}

#[test]
fn merge_replaces_only_what_secinfo_names() {
    let stored = full_sd();
    let new = SecurityDescriptor {
        control: control::SELF_RELATIVE | control::DACL_PRESENT | control::GROUP_DEFAULTED,
        owner: Some(world()),
        group: Some(builtin_administrators()),
        sacl: None,
        dacl: Some(Acl::new(vec![Ace::allowed(world(), GENERIC_READ, 0), Ace::allowed(creator_owner(), GENERIC_ALL, OBJECT_INHERIT | INHERIT_ONLY)])),
    };
    let mut sd = stored.clone();
    sd.merge(&new, secinfo::DACL).unwrap();
    assert_eq!((&sd.owner, &sd.group, &sd.sacl), (&stored.owner, &stored.group, &stored.sacl));
    // Generic bits mapped in effective ACEs, kept in inherit-only ones; PROTECTED gone with the old DACL.
    assert_eq!(sd.dacl, Some(Acl::new(vec![Ace::allowed(world(), FILE_GENERIC_READ, 0), Ace::allowed(creator_owner(), GENERIC_ALL, OBJECT_INHERIT | INHERIT_ONLY)])));
    assert_eq!(sd.control, control::SELF_RELATIVE | control::DACL_PRESENT | control::SACL_PRESENT | control::OWNER_DEFAULTED);

    let mut sd = stored.clone();
    sd.merge(&new, secinfo::OWNER | secinfo::GROUP).unwrap();
    assert_eq!((&sd.owner, &sd.group, &sd.dacl), (&Some(world()), &Some(builtin_administrators()), &stored.dacl));
    assert_eq!(sd.control & (control::OWNER_DEFAULTED | control::GROUP_DEFAULTED), control::GROUP_DEFAULTED);
    // OWNER asked but no owner sent: kept.
    let mut sd = stored.clone();
    sd.merge(&SecurityDescriptor::default(), secinfo::OWNER | secinfo::GROUP).unwrap();
    assert_eq!(sd, stored);
}

#[test]
fn merge_null_dacl_with_or_without_dacl_present() {
    // smbtorture create.nulldacl: DACL_PRESENT with no DACL, then an
    // empty DACL, then no DACL_PRESENT at all.
    let mut sd = full_sd();
    let null = SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT, ..SecurityDescriptor::default() };
    sd.merge(&null, secinfo::DACL).unwrap();
    assert!(sd.has_null_dacl());
    assert_eq!(sd.owner, full_sd().owner);
    let empty = SecurityDescriptor { dacl: Some(Acl::new(vec![])), ..null.clone() };
    sd.merge(&empty, secinfo::DACL).unwrap();
    assert_eq!(sd.dacl, Some(Acl::new(vec![])));
    assert_ne!(sd.control & control::DACL_PRESENT, 0);
    sd.merge(&SecurityDescriptor::default(), secinfo::DACL).unwrap();
    assert!(sd.has_null_dacl());
    let q = sd.filtered(secinfo::OWNER | secinfo::GROUP | secinfo::DACL);
    assert!(SecurityDescriptor::decode(&q.encode()).unwrap().has_null_dacl());
}

#[test]
fn merge_canonicalizes_auto_inherited_and_keeps_protected() {
    let dacl = Some(Acl::new(vec![Ace::allowed(world(), FILE_ALL_ACCESS, INHERITED)]));
    let set = |ctl: u16| {
        let mut sd = full_sd();
        let new = SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT | ctl, dacl: dacl.clone(), ..SecurityDescriptor::default() };
        sd.merge(&new, secinfo::DACL).unwrap();
        sd.control & (control::DACL_AUTO_INHERITED | control::DACL_AUTO_INHERIT_REQ | control::DACL_PROTECTED)
    };
    assert_eq!(set(control::DACL_AUTO_INHERITED), 0);
    assert_eq!(set(control::DACL_AUTO_INHERIT_REQ), 0);
    assert_eq!(set(control::DACL_AUTO_INHERITED | control::DACL_AUTO_INHERIT_REQ), control::DACL_AUTO_INHERITED);
    assert_eq!(set(control::DACL_PROTECTED | control::DACL_AUTO_INHERITED), control::DACL_PROTECTED);
}

#[test]
fn merge_that_would_exceed_the_limits_changes_nothing() {
    let big_acl = |n: usize| Some(Acl::new((0..n).map(|i| Ace::allowed(Sid::new(5, &[21, 1, 2, 3, i as u32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), FILE_READ_DATA, 0)).collect())); // 76 bytes each
    let mut sd = full_sd();
    sd.sacl = big_acl(500);
    assert_eq!(sd.validate(), Ok(()));
    let before = sd.clone();
    let new = SecurityDescriptor { control: control::SELF_RELATIVE | control::DACL_PRESENT, dacl: big_acl(500), ..SecurityDescriptor::default() };
    assert!(matches!(sd.merge(&new, secinfo::DACL), Err(SecurityError::TooLarge { .. })));
    assert_eq!(sd, before);
}

#[test]
fn validate_catches_what_encode_cannot_write() {
    let mut sd = full_sd();
    sd.dacl.as_mut().unwrap().revision = 7;
    assert_eq!(sd.validate(), Err(SecurityError::BadRevision { what: "ACL", revision: 7 }));
    let mut sd = full_sd();
    sd.owner = Some(Sid { authority: 5, sub: vec![0; 16] });
    assert!(matches!(sd.validate(), Err(SecurityError::BadSid { .. })));
    let mut sd = full_sd();
    sd.dacl = Some(Acl::new(vec![Ace::allowed(world(), 1, 0); ACES_MAX + 1]));
    assert_eq!(sd.validate(), Err(SecurityError::TooManyAces { count: ACES_MAX + 1 }));
    let mut sd = full_sd();
    sd.dacl = Some(Acl::new(vec![other_ace(0x11, 0, &[0; 70_000])]));
    assert!(matches!(sd.validate(), Err(SecurityError::TooLarge { .. })));
    let mut sd = full_sd();
    sd.dacl = Some(Acl::new(vec![Ace { raw: None, ..other_ace(0x11, 0, &[0; 4]) }]));
    assert!(matches!(sd.validate(), Err(SecurityError::BadAce { .. })));
}

#[test]
fn ace_and_acl_codec() {
    let ace = Ace::denied(builtin_users(), FILE_WRITE_DATA | DELETE, CONTAINER_INHERIT);
    let mut b = Vec::new();
    ace.encode(&mut b);
    assert_eq!(b, hex("01 02 1800 02000100 01 02 000000000005 20000000 21020000"));
    assert_eq!(Ace::decode(&b), Ok((ace.clone(), 24)));
    // Bytes after the SID within AceSize are accepted (and dropped).
    let padded = hex("01 02 1c00 02000100 01 02 000000000005 20000000 21020000 eeeeeeee");
    assert_eq!(Ace::decode(&padded), Ok((ace, 28)));
    // Unknown types keep their body verbatim.
    let label = hex("11 00 1400 01000000 01 01 000000000010 00200000");
    let (l, used) = Ace::decode(&label).unwrap();
    assert_eq!((l.ace_type, l.mask, used), (AceType::Other(0x11), 1, 20));
    let mut out = Vec::new();
    l.encode(&mut out);
    assert_eq!(out, label);
    // Free space after the last ACE inside AclSize is allowed.
    let acl = hex("02 00 1c00 0100 0000 00 00 1000 01000000 01 00 000000000000 ffffffff");
    assert_eq!(Acl::decode(&acl), Ok((Acl::new(vec![Ace::allowed(Sid::new(0, &[]), 1, 0)]), 28)));
}
