//! Who may use a share, and how: the share options smb.conf users know
//! (`valid users`, `invalid users`, `read only`, `smb encrypt = required`)
//! and a minimum dialect, as `ShareDef` defines them. Pure: the handlers
//! ask, with the status Samba answers (smbd/uid.c `check_user_share_access`,
//! smbd/smb2_tcon.c, smbd/smb2_server.c, smbd/open.c).
//!
//! Checked at TREE_CONNECT, and again at every request on the tree: a tree
//! carries its share's rules, so no request gets past them because the
//! connect happened to be allowed.

use holdfast_file_server::access::{read_only_allows, FILE_ALL_ACCESS, READ_ONLY_DENIED};
use holdfast_file_server::proto::ShareInfo;
use holdfast_smb_proto::Command;
use holdfast_types::ntstatus::NtStatus;

/// A share's rules, as its tree connects carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareRules {
    /// Only these users (any case); empty: every user.
    pub valid_users: Vec<String>,
    /// Never these users, even when `valid_users` names them.
    pub invalid_users: Vec<String>,
    pub read_only: bool,
    /// Every request on the tree must come encrypted.
    pub encrypt: bool,
    /// Oldest dialect that may connect (0: any).
    pub min_dialect: u16,
}

impl ShareRules {
    pub fn of(s: &ShareInfo) -> ShareRules {
        ShareRules {
            valid_users: s.valid_users.clone(),
            invalid_users: s.invalid_users.clone(),
            read_only: s.read_only,
            encrypt: s.encrypt,
            min_dialect: s.min_dialect,
        }
    }

    /// smb.conf's rule: `invalid users` wins, then an empty `valid users`
    /// admits everyone. Names compare without case, as logons do.
    pub fn admits(&self, user: &str) -> bool {
        let named = |list: &[String]| list.iter().any(|u| u.eq_ignore_ascii_case(user));
        !named(&self.invalid_users) && (self.valid_users.is_empty() || named(&self.valid_users))
    }

    /// TREE_CONNECT: may `user`, on a connection of `dialect` whose session
    /// can encrypt (`can_encrypt`: keys derived with a cipher), connect?
    /// All refusals are ACCESS_DENIED, as Samba's: a user the lists refuse
    /// (`check_user_share_access`), a share needing encryption on a
    /// connection without a cipher (`smbd_smb2_tree_connect`), and, there
    /// being no smb.conf word for it, a dialect under the share's minimum.
    pub fn connect(&self, user: &str, dialect: u16, can_encrypt: bool) -> Result<(), NtStatus> {
        if !self.admits(user) || dialect < self.min_dialect || (self.encrypt && !can_encrypt) {
            return Err(NtStatus::ACCESS_DENIED);
        }
        Ok(())
    }

    /// TREE_CONNECT's MaximalAccess: all but writes on a read-only share
    /// (Samba's `create_share_access_mask`).
    pub fn maximal_access(&self) -> u32 {
        if self.read_only {
            FILE_ALL_ACCESS & !READ_ONLY_DENIED
        } else {
            FILE_ALL_ACCESS
        }
    }

    /// Any request on the tree after the connect: its user still admitted,
    /// and on an encrypted share, the request itself encrypted (Samba
    /// answers an unencrypted one ACCESS_DENIED, smb2_server.c).
    pub fn request(&self, user: &str, encrypted: bool) -> Result<(), NtStatus> {
        if !self.admits(user) || (self.encrypt && !encrypted) {
            return Err(NtStatus::ACCESS_DENIED);
        }
        Ok(())
    }

    /// CREATE: on a read-only share, nothing asked that writes, and no
    /// disposition that creates or overwrites (Samba's open.c:
    /// ACCESS_DENIED). FILE_OPEN_IF passes; the file server opens only
    /// what exists.
    pub fn create(&self, desired_access: u32, disposition: u32) -> Result<(), NtStatus> {
        if self.read_only && !read_only_allows(desired_access, disposition) {
            return Err(NtStatus::ACCESS_DENIED);
        }
        Ok(())
    }

    /// SET_INFO: a read-only share changes nothing. The open holds no
    /// write access there, but setting times and attributes looks at none.
    pub fn set_info(&self) -> Result<(), NtStatus> {
        if self.read_only {
            return Err(NtStatus::ACCESS_DENIED);
        }
        Ok(())
    }
}

/// Commands that act on a tree connect and so pass [`ShareRules::request`]
/// (Samba's `need_tcon`); TREE_CONNECT is checked by its own rule, and
/// TREE_DISCONNECT always lets a client leave.
pub fn on_tree(cmd: Command) -> bool {
    matches!(
        cmd,
        Command::Create
            | Command::Close
            | Command::Flush
            | Command::Read
            | Command::Write
            | Command::Lock
            | Command::Ioctl
            | Command::QueryDirectory
            | Command::ChangeNotify
            | Command::QueryInfo
            | Command::SetInfo
            | Command::OplockBreak
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_file_server::access::{FILE_OPEN, FILE_OPEN_IF, FILE_OVERWRITE_IF, FILE_READ_DATA, FILE_WRITE_DATA, MAXIMUM_ALLOWED};

    fn rules(valid: &[&str], invalid: &[&str]) -> ShareRules {
        ShareRules {
            valid_users: valid.iter().map(|s| s.to_string()).collect(),
            invalid_users: invalid.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn users_as_smb_conf_lists_them() {
        assert!(rules(&[], &[]).admits("anyone"));
        let alice_only = rules(&["alice"], &[]);
        assert!(alice_only.admits("alice") && alice_only.admits("ALICE"));
        assert!(!alice_only.admits("bob"));
        assert_eq!(alice_only.connect("bob", 0x0311, true), Err(NtStatus::ACCESS_DENIED));
        assert_eq!(alice_only.request("bob", false), Err(NtStatus::ACCESS_DENIED));
        // invalid users wins over valid users.
        let both = rules(&["alice", "bob"], &["Bob"]);
        assert!(both.admits("alice") && !both.admits("bob"));
        assert!(!rules(&[], &["bob"]).admits("bob"));
    }

    #[test]
    fn encryption_and_dialect() {
        let enc = ShareRules { encrypt: true, ..Default::default() };
        assert_eq!(enc.connect("u", 0x0210, false), Err(NtStatus::ACCESS_DENIED), "2.1 cannot encrypt");
        assert_eq!(enc.connect("u", 0x0311, false), Err(NtStatus::ACCESS_DENIED), "no common cipher");
        assert_eq!(enc.connect("u", 0x0300, true), Ok(()));
        assert_eq!(enc.request("u", false), Err(NtStatus::ACCESS_DENIED));
        assert_eq!(enc.request("u", true), Ok(()));
        assert_eq!(ShareRules::default().request("u", false), Ok(()));
        let new = ShareRules { min_dialect: 0x0300, ..Default::default() };
        assert_eq!(new.connect("u", 0x0210, false), Err(NtStatus::ACCESS_DENIED));
        assert_eq!(new.connect("u", 0x0202, false), Err(NtStatus::ACCESS_DENIED));
        assert_eq!(new.connect("u", 0x0300, false), Ok(()));
        assert_eq!(new.connect("u", 0x0311, false), Ok(()));
    }

    #[test]
    fn read_only_share() {
        let ro = ShareRules { read_only: true, ..Default::default() };
        assert_eq!(ro.maximal_access() & FILE_WRITE_DATA, 0);
        assert_ne!(ro.maximal_access() & FILE_READ_DATA, 0);
        assert_eq!(ShareRules::default().maximal_access(), FILE_ALL_ACCESS);
        assert_eq!(ro.create(FILE_READ_DATA, FILE_OPEN), Ok(()));
        assert_eq!(ro.create(MAXIMUM_ALLOWED, FILE_OPEN_IF), Ok(()));
        assert_eq!(ro.create(FILE_WRITE_DATA, FILE_OPEN), Err(NtStatus::ACCESS_DENIED));
        assert_eq!(ro.create(FILE_READ_DATA, FILE_OVERWRITE_IF), Err(NtStatus::ACCESS_DENIED));
        assert_eq!(ro.set_info(), Err(NtStatus::ACCESS_DENIED));
        assert_eq!(ShareRules::default().create(FILE_WRITE_DATA, FILE_OVERWRITE_IF), Ok(()));
        assert_eq!(ShareRules::default().set_info(), Ok(()));
    }
}
