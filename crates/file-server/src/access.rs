//! Access masks, share access and create options as MS-SMB2 2.2.13 and
//! MS-FSA 2.1.5.1.2 define them: what the file server needs to check
//! sharing between opens. Pure functions.

pub use holdfast_types::access::{
    DELETE, FILE_ALL_ACCESS, FILE_APPEND_DATA, FILE_DELETE_CHILD, FILE_EXECUTE, FILE_READ_ATTRIBUTES, FILE_READ_DATA,
    FILE_WRITE_ATTRIBUTES, FILE_WRITE_DATA, FILE_WRITE_EA, GENERIC_ALL, GENERIC_EXECUTE, GENERIC_READ, GENERIC_WRITE,
    MAXIMUM_ALLOWED, WRITE_DAC, WRITE_OWNER,
};

pub const FILE_SHARE_READ: u32 = 1;
pub const FILE_SHARE_WRITE: u32 = 2;
pub const FILE_SHARE_DELETE: u32 = 4;

pub const FILE_SUPERSEDE: u32 = 0;
pub const FILE_OPEN: u32 = 1;
pub const FILE_CREATE: u32 = 2;
pub const FILE_OPEN_IF: u32 = 3;
pub const FILE_OVERWRITE: u32 = 4;
pub const FILE_OVERWRITE_IF: u32 = 5;

pub const FILE_SUPERSEDED: u32 = 0;
pub const FILE_OPENED: u32 = 1;
pub const FILE_CREATED: u32 = 2;
pub const FILE_OVERWRITTEN: u32 = 3;

pub const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;
pub const FILE_NON_DIRECTORY_FILE: u32 = 0x0000_0040;
pub const FILE_DELETE_ON_CLOSE: u32 = 0x0000_1000;

pub const FILE_ATTRIBUTE_READONLY: u32 = 0x01;
pub const FILE_ATTRIBUTE_HIDDEN: u32 = 0x02;
pub const FILE_ATTRIBUTE_SYSTEM: u32 = 0x04;
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
pub const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
pub const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;
pub const FILE_ATTRIBUTE_SPARSE_FILE: u32 = 0x200;

/// The attributes a file gets from CREATE's FileAttributes (a new file, an
/// overwrite, a stream's new file): ARCHIVE added; DIRECTORY and SPARSE
/// are never the client's to give there (MS-FSA 2.1.5.1.2.1).
pub fn new_file_attributes(given: u32) -> u32 {
    (given & !(FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_SPARSE_FILE) & 0x7fff) | FILE_ATTRIBUTE_ARCHIVE
}

/// Maps generic rights to the specific rights of a file (MS-SMB2 3.3.5.9:
/// the server evaluates GENERIC_* as FILE_GENERIC_*). MAXIMUM_ALLOWED grants
/// everything: shares have no per-file ACLs yet.
pub fn map_generic(access: u32) -> u32 {
    let mut a = access & !(GENERIC_ALL | GENERIC_EXECUTE | GENERIC_WRITE | GENERIC_READ | MAXIMUM_ALLOWED);
    if access & GENERIC_READ != 0 {
        a |= 0x0012_0089;
    }
    if access & GENERIC_WRITE != 0 {
        a |= 0x0012_0116;
    }
    if access & GENERIC_EXECUTE != 0 {
        a |= 0x0012_00A0;
    }
    if access & (GENERIC_ALL | MAXIMUM_ALLOWED) != 0 {
        a |= FILE_ALL_ACCESS;
    }
    a
}

/// Access a read-only share (`ShareDef::read_only`) never grants. Samba
/// withholds the data, EA and attribute writes and DELETE_CHILD; DELETE,
/// WRITE_DAC and WRITE_OWNER go too, as under Windows' Read share
/// permission: they would delete a file or give someone the right to write.
pub const READ_ONLY_DENIED: u32 =
    FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA | FILE_WRITE_ATTRIBUTES | FILE_DELETE_CHILD | DELETE | WRITE_DAC | WRITE_OWNER;

/// May an open with `desired_access` (as the client sent it) and
/// `disposition` proceed on a read-only share? No when it asks for any of
/// [`READ_ONLY_DENIED`] (MAXIMUM_ALLOWED asks for nothing in particular: it
/// gets what is left) or may create or overwrite. FILE_OPEN_IF passes: it
/// may open what exists; the file server refuses it when nothing does.
pub fn read_only_allows(desired_access: u32, disposition: u32) -> bool {
    let asked = map_generic(desired_access & !MAXIMUM_ALLOWED);
    asked & READ_ONLY_DENIED == 0 && matches!(disposition, FILE_OPEN | FILE_OPEN_IF)
}

fn reads(access: u32) -> bool {
    access & (FILE_READ_DATA | FILE_EXECUTE) != 0
}
fn writes(access: u32) -> bool {
    access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0
}
fn deletes(access: u32) -> bool {
    access & DELETE != 0
}

/// Access that takes part in sharing checks; an open with none of it
/// (attributes, security, SYNCHRONIZE only) is never checked, on either
/// side.
const SHARED_ACCESS: u32 = FILE_READ_DATA | FILE_EXECUTE | FILE_WRITE_DATA | FILE_APPEND_DATA | DELETE;

/// MS-FSA 2.1.5.1.2.2: does a new open (`access`, `share`) conflict with an
/// existing one? Opens that only read attributes never conflict, whatever
/// their share mode or the other's.
pub fn sharing_conflict(existing_access: u32, existing_share: u32, access: u32, share: u32) -> bool {
    if existing_access & SHARED_ACCESS == 0 || access & SHARED_ACCESS == 0 {
        return false;
    }
    (reads(existing_access) && share & FILE_SHARE_READ == 0)
        || (writes(existing_access) && share & FILE_SHARE_WRITE == 0)
        || (deletes(existing_access) && share & FILE_SHARE_DELETE == 0)
        || (reads(access) && existing_share & FILE_SHARE_READ == 0)
        || (writes(access) && existing_share & FILE_SHARE_WRITE == 0)
        || (deletes(access) && existing_share & FILE_SHARE_DELETE == 0)
}

pub fn may_read(access: u32) -> bool {
    reads(access)
}

pub fn may_write(access: u32) -> bool {
    writes(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_share_refuses_every_write() {
        // Reading, listing and MAXIMUM_ALLOWED (which gets what is left).
        for a in [FILE_READ_DATA | FILE_READ_ATTRIBUTES, GENERIC_READ, GENERIC_EXECUTE, MAXIMUM_ALLOWED, 0x0012_0089] {
            assert!(read_only_allows(a, FILE_OPEN), "{a:#x}");
            assert!(read_only_allows(a, FILE_OPEN_IF), "{a:#x}");
        }
        for a in [FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_WRITE_EA, FILE_WRITE_ATTRIBUTES, FILE_DELETE_CHILD, DELETE, WRITE_DAC, WRITE_OWNER, GENERIC_WRITE, GENERIC_ALL, MAXIMUM_ALLOWED | DELETE] {
            assert!(!read_only_allows(a, FILE_OPEN), "{a:#x}");
        }
        for d in [FILE_SUPERSEDE, FILE_CREATE, FILE_OVERWRITE, FILE_OVERWRITE_IF] {
            assert!(!read_only_allows(GENERIC_READ, d), "disposition {d}");
        }
        assert_eq!(map_generic(MAXIMUM_ALLOWED) & !READ_ONLY_DENIED & READ_ONLY_DENIED, 0);
    }

    #[test]
    fn sharing_rules() {
        let rw = FILE_READ_DATA | FILE_WRITE_DATA;
        assert!(!sharing_conflict(FILE_READ_DATA, FILE_SHARE_READ, FILE_READ_DATA, FILE_SHARE_READ));
        assert!(sharing_conflict(FILE_READ_DATA, FILE_SHARE_READ, rw, FILE_SHARE_READ));
        assert!(sharing_conflict(rw, FILE_SHARE_READ | FILE_SHARE_WRITE, FILE_READ_DATA, FILE_SHARE_READ));
        assert!(!sharing_conflict(rw, 7, rw, 7));
        assert!(sharing_conflict(DELETE, 3, FILE_READ_DATA, 3));
        // Attribute-only opens pass any share mode.
        assert!(!sharing_conflict(FILE_READ_ATTRIBUTES, 0, FILE_READ_ATTRIBUTES, 0));
        // ... including against an open that deletes or writes (a rename
        // while Word holds its directory for attributes only).
        assert!(!sharing_conflict(FILE_READ_ATTRIBUTES | 0x0010_0000, 0, DELETE, 3));
        assert!(!sharing_conflict(DELETE, 0, FILE_READ_ATTRIBUTES, 0));
        assert_eq!(map_generic(GENERIC_READ) & FILE_WRITE_DATA, 0);
        assert_ne!(map_generic(GENERIC_WRITE) & FILE_WRITE_DATA, 0);
        assert_eq!(map_generic(MAXIMUM_ALLOWED), FILE_ALL_ACCESS);
    }
}
