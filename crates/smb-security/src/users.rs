//! The cluster's SMB users: the `DIR/smb-users` file and the lookup the
//! NTLM server uses.
//!
//! ```toml
//! # DIR/smb-users (mode 0600, or 0640 with the smbd user's group)
//! [[users]]
//! name = "holdfast"
//! nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"
//! ```
//!
//! Only the NT hash (MD4 of the UTF-16LE password) is stored, never the
//! password. The NT hash is password-equivalent for NTLM, so the file is
//! written with mode 0600 (through a temporary file, fsync and rename) and
//! must be treated like the cluster secret. The one exception: when the
//! node runs as root, smbd runs as its own unprivileged user and re-reads
//! the file at every logon, so the file then gets that user's group and
//! mode 0640 ([`Users::save_for_group`], docs/security.md).
//!
//! Names are 1 to 64 characters, without control characters or any of
//! `\ / @ :` (which clients treat as domain or realm separators), and are
//! unique ignoring case. Lookups ignore case too.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use holdfast_types::security::{user_sid, HOLDFAST_DOMAIN_SEED};
use serde::{Deserialize, Serialize};

use crate::crypto::{hex, unhex};
use crate::ntlm::nt_hash;

/// The file name inside the cluster directory.
pub const USERS_FILE: &str = "smb-users";
/// Longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest password accepted by [`Users::add`] (Windows' limit is 256).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Largest user file we read.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// One user: a name and its NT hash.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    pub nt_hash: [u8; 16],
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where the NTLM server finds a user's NT hash. `lookup` ignores case.
pub trait UserLookup: Send + Sync {
    fn lookup(&self, name: &str) -> Option<UserRecord>;
}

/// Errors of the user file and its edits.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("invalid user name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid password: {0}")]
    InvalidPassword(&'static str),
    #[error("user {0:?} already exists")]
    Exists(String),
    #[error("no user {0:?}")]
    NotFound(String),
    #[error("user {name:?} would have the same SID as user {other:?}; choose another name")]
    SidTaken { name: String, other: String },
}

#[derive(Serialize, Deserialize)]
struct FileFormat {
    #[serde(default)]
    users: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: String,
    nt_hash: String,
}

/// The user database: an ordered list, indexed by case-folded name.
#[derive(Clone, Default)]
pub struct Users {
    records: Vec<UserRecord>,
    index: HashMap<String, usize>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.records.iter().map(|r| &r.name))
            .finish()
    }
}

fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// Checks a user name against the rules in the module documentation.
pub fn validate_name(name: &str) -> Result<(), UsersError> {
    let bad = |reason| {
        Err(UsersError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    let n = name.chars().count();
    if n == 0 {
        return bad("empty");
    }
    if n > MAX_NAME_CHARS {
        return bad("longer than 64 characters");
    }
    if name.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    if name.chars().any(|c| matches!(c, '\\' | '/' | '@' | ':')) {
        return bad("contains one of \\ / @ :");
    }
    if name.trim() != name {
        return bad("starts or ends with white space");
    }
    Ok(())
}

impl Users {
    pub fn new() -> Self {
        Users::default()
    }

    /// The path of the user file in cluster directory `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(USERS_FILE)
    }

    /// Loads `DIR/smb-users`; a missing file is an empty database.
    pub fn load(dir: &Path) -> Result<Self, UsersError> {
        Self::load_file(&Self::path(dir))
    }

    /// Loads a user file; a missing file is an empty database.
    pub fn load_file(path: &Path) -> Result<Self, UsersError> {
        let io = |source| UsersError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Users::new()),
            Err(e) => return Err(io(e)),
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(UsersError::Parse {
                path: path.to_path_buf(),
                reason: "file too large".into(),
            });
        }
        let text = fs::read_to_string(path).map_err(io)?;
        Self::from_toml(&text).map_err(|reason| UsersError::Parse {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses the file format (for tests and fuzzing without a file).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let parsed: FileFormat = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut users = Users::new();
        for e in parsed.users {
            validate_name(&e.name).map_err(|err| err.to_string())?;
            let hash = unhex::<16>(&e.nt_hash).ok_or_else(|| {
                format!("user {:?}: nt_hash must be exactly 32 hex digits", e.name)
            })?;
            users
                .insert(UserRecord {
                    name: e.name,
                    nt_hash: hash,
                })
                .map_err(|err| err.to_string())?;
        }
        Ok(users)
    }

    /// The file format's text.
    pub fn to_toml(&self) -> String {
        let f = FileFormat {
            users: self
                .records
                .iter()
                .map(|r| FileEntry {
                    name: r.name.clone(),
                    nt_hash: hex(&r.nt_hash),
                })
                .collect(),
        };
        toml::to_string(&f).expect("users serialize")
    }

    /// Writes `DIR/smb-users` with mode 0600.
    pub fn save(&self, dir: &Path) -> Result<(), UsersError> {
        self.save_file(&Self::path(dir), None)
    }

    /// Writes `DIR/smb-users`; with `group`, the file gets that group and
    /// mode 0640 (the smbd user's group, which reads it after dropping
    /// root), else mode 0600.
    pub fn save_for_group(&self, dir: &Path, group: Option<u32>) -> Result<(), UsersError> {
        self.save_file(&Self::path(dir), group)
    }

    /// Writes a user file atomically (temporary file with mode 0600, its
    /// group and 0640 if `group` is given, fsync, rename, fsync of the
    /// directory). The group is set before a byte is written, so the
    /// hashes are never readable by more than the final file's readers.
    pub fn save_file(&self, path: &Path, group: Option<u32>) -> Result<(), UsersError> {
        let io = |source| UsersError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension("tmp");
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        // The umask cannot widen 0600, but make it explicit anyway.
        let mode = match group {
            Some(gid) => {
                std::os::unix::fs::fchown(&f, None, Some(gid)).map_err(io)?;
                0o640
            }
            None => 0o600,
        };
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io)?;
        f.write_all(self.to_toml().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&tmp, path).map_err(io)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    fn insert(&mut self, r: UserRecord) -> Result<(), UsersError> {
        let key = fold(&r.name);
        if self.index.contains_key(&key) {
            return Err(UsersError::Exists(r.name));
        }
        // A user's SID is derived from the name (`security::user_sid`); two
        // users with one SID would share every file permission.
        let sid = |n: &str| user_sid(HOLDFAST_DOMAIN_SEED, n);
        if let Some(other) = self.records.iter().find(|o| sid(&o.name) == sid(&r.name)) {
            return Err(UsersError::SidTaken { name: r.name, other: other.name.clone() });
        }
        self.index.insert(key, self.records.len());
        self.records.push(r);
        Ok(())
    }

    /// Adds a user with `password` (stored as its NT hash).
    pub fn add(&mut self, name: &str, password: &str) -> Result<(), UsersError> {
        check_password(password)?;
        self.add_hash(name, nt_hash(password))
    }

    /// Adds a user with a known NT hash.
    pub fn add_hash(&mut self, name: &str, nt_hash: [u8; 16]) -> Result<(), UsersError> {
        validate_name(name)?;
        self.insert(UserRecord {
            name: name.to_string(),
            nt_hash,
        })
    }

    /// Changes an existing user's password.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), UsersError> {
        check_password(password)?;
        let i = *self
            .index
            .get(&fold(name))
            .ok_or_else(|| UsersError::NotFound(name.to_string()))?;
        self.records[i].nt_hash = nt_hash(password);
        Ok(())
    }

    /// Removes a user (name matched ignoring case).
    pub fn del(&mut self, name: &str) -> Result<(), UsersError> {
        let i = self
            .index
            .remove(&fold(name))
            .ok_or_else(|| UsersError::NotFound(name.to_string()))?;
        self.records.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        Ok(())
    }

    /// User names, in file order.
    pub fn list(&self) -> Vec<&str> {
        self.records.iter().map(|r| r.name.as_str()).collect()
    }

    /// A user by name, ignoring case.
    pub fn get(&self, name: &str) -> Option<&UserRecord> {
        self.index.get(&fold(name)).map(|&i| &self.records[i])
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

fn check_password(password: &str) -> Result<(), UsersError> {
    if password.is_empty() {
        return Err(UsersError::InvalidPassword("empty"));
    }
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(UsersError::InvalidPassword("longer than 256 characters"));
    }
    Ok(())
}

impl UserLookup for Users {
    fn lookup(&self, name: &str) -> Option<UserRecord> {
        self.get(name).cloned()
    }
}

impl<T: UserLookup + ?Sized> UserLookup for std::sync::Arc<T> {
    fn lookup(&self, name: &str) -> Option<UserRecord> {
        (**self).lookup(name)
    }
}

impl<T: UserLookup> UserLookup for std::sync::RwLock<T> {
    fn lookup(&self, name: &str) -> Option<UserRecord> {
        self.read().ok()?.lookup(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "holdfast-smb-users-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn add_list_del_and_case() {
        let mut u = Users::new();
        u.add("holdfast", "Password").unwrap();
        u.add("Alice", "x").unwrap();
        assert!(matches!(u.add("ALICE", "y"), Err(UsersError::Exists(_))));
        assert_eq!(u.list(), vec!["holdfast", "Alice"]);
        assert_eq!(u.lookup("HOLDFAST").unwrap().nt_hash, nt_hash("Password"));
        assert_eq!(u.lookup("alice").unwrap().name, "Alice");
        u.del("HoldFast").unwrap();
        assert_eq!(u.list(), vec!["Alice"]);
        assert_eq!(u.get("alice").unwrap().name, "Alice");
        assert!(matches!(u.del("holdfast"), Err(UsersError::NotFound(_))));
        u.set_password("alice", "z").unwrap();
        assert_eq!(u.get("Alice").unwrap().nt_hash, nt_hash("z"));
    }

    #[test]
    fn name_and_password_rules() {
        let mut u = Users::new();
        for bad in [
            "",
            "a\nb",
            "tab\t",
            "dom\\user",
            "user@realm",
            " lead",
            "trail ",
            "a:b",
        ] {
            assert!(
                matches!(u.add(bad, "pw"), Err(UsersError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(u.add(&"x".repeat(65), "pw").is_err());
        u.add(&"é".repeat(64), "pw").unwrap();
        assert!(matches!(
            u.add("ok", ""),
            Err(UsersError::InvalidPassword(_))
        ));
    }

    #[test]
    fn file_round_trip_mode_and_no_plaintext() {
        let dir = tempdir();
        assert!(Users::load(&dir).unwrap().is_empty());
        let mut u = Users::new();
        u.add("holdfast", "Sekrit-Passw0rd").unwrap();
        u.add("bob", "x").unwrap();
        u.save(&dir).unwrap();
        let path = Users::path(&dir);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("Sekrit"));
        assert!(text.contains("[[users]]"));
        assert!(text.contains(&hex(&nt_hash("Sekrit-Passw0rd"))));
        let back = Users::load(&dir).unwrap();
        assert_eq!(back.list(), vec!["holdfast", "bob"]);
        assert_eq!(
            back.get("holdfast").unwrap().nt_hash,
            nt_hash("Sekrit-Passw0rd")
        );
        // Saving again replaces the file.
        let mut b = back.clone();
        b.del("bob").unwrap();
        b.save(&dir).unwrap();
        assert_eq!(Users::load(&dir).unwrap().list(), vec!["holdfast"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saved_for_a_group_the_file_is_that_groups_to_read() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempdir();
        // A group this process may give a file it owns: its directory's.
        let gid = fs::metadata(&dir).unwrap().gid();
        let mut u = Users::new();
        u.add("holdfast", "pw").unwrap();
        u.save_for_group(&dir, Some(gid)).unwrap();
        let meta = fs::metadata(Users::path(&dir)).unwrap();
        assert_eq!((meta.permissions().mode() & 0o777, meta.gid()), (0o640, gid));
        u.save_for_group(&dir, None).unwrap();
        assert_eq!(fs::metadata(Users::path(&dir)).unwrap().permissions().mode() & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parse_errors() {
        let ok = "[[users]]\nname = \"a\"\nnt_hash = \"8846F7EAEE8FB117AD06BDD830B7586C\"\n";
        assert_eq!(
            Users::from_toml(ok).unwrap().get("A").unwrap().nt_hash,
            nt_hash("password")
        );
        assert!(Users::from_toml("").unwrap().is_empty());
        for bad in [
            "[[users]]\nname = \"a\"\nnt_hash = \"8846f7eaee8fb117ad06bdd830b7586\"\n", // 31 digits
            "[[users]]\nname = \"a\"\nnt_hash = \"8846f7eaee8fb117ad06bdd830b7586cc\"\n", // 33
            "[[users]]\nname = \"a\"\nnt_hash = \"zz46f7eaee8fb117ad06bdd830b7586c\"\n",
            "[[users]]\nname = \"\"\nnt_hash = \"8846f7eaee8fb117ad06bdd830b7586c\"\n",
            "[[users]]\nname = \"a\"\nnt_hash = \"8846f7eaee8fb117ad06bdd830b7586c\"\npassword = \"x\"\n",
            "[[users]]\nname = \"a\"\nnt_hash = \"8846f7eaee8fb117ad06bdd830b7586c\"\n\
             [[users]]\nname = \"A\"\nnt_hash = \"8846f7eaee8fb117ad06bdd830b7586c\"\n",
            "not toml",
        ] {
            assert!(Users::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nt_hash_of_password() {
        // The well-known NT hash of "password".
        assert_eq!(
            hex(&nt_hash("password")),
            "8846f7eaee8fb117ad06bdd830b7586c"
        );
    }

    #[test]
    fn two_names_with_one_sid_are_refused() {
        // Find two names whose SIDs collide (30-bit rids: a few tens of
        // thousands of names are enough), as an attacker could.
        let mut seen = HashMap::new();
        let (a, b) = (0u32..)
            .find_map(|i| {
                let n = format!("u{i}");
                seen.insert(user_sid(HOLDFAST_DOMAIN_SEED, &n), n.clone()).map(|other| (other, n))
            })
            .expect("a collision exists");
        let mut u = Users::new();
        u.add(&a, "Password-1").unwrap();
        assert!(matches!(u.add(&b, "Password-2"), Err(UsersError::SidTaken { .. })), "{b:?} has {a:?}'s SID");
        assert!(u.lookup(&b).is_none());
    }
}
