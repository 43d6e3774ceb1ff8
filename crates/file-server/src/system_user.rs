//! The system user the SMB service drops to (`[service_host] smbd_user`,
//! default `holdfast-smbd`), looked up by every process that needs it:
//! the node (the file-server socket's group and peer check, the users
//! file's group), `holdfast up` and `holdfast user` (the users file's
//! group), and `holdfast smbd` itself (the drop). It lives here because
//! the file server is the one crate all of them link.

use std::ffi::{CStr, CString};

/// A user of this host's password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemUser {
    pub name: String,
    pub uid: u32,
    /// The user's primary group: smbd keeps this group alone.
    pub gid: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SystemUserError {
    #[error("system user {name:?} does not exist on this host; create it with `{}` (`holdfast up` does this when run as root)", create_command(.name))]
    Missing { name: String },
    #[error("system user {name:?} is root (uid 0); smbd must drop to an unprivileged user")]
    Root { name: String },
    #[error("system user name {name:?} is not a valid user name")]
    BadName { name: String },
    #[error("cannot look up system user {name:?}: {source}")]
    Lookup { name: String, source: std::io::Error },
}

/// The command that creates the user, as a package's postinst would.
pub fn create_command(name: &str) -> String {
    format!("useradd --system --no-create-home --shell /usr/sbin/nologin {name}")
}

/// Looks `name` up (getpwnam_r: NSS, so LDAP users work too). A user that
/// is root is refused: dropping to it would drop nothing.
pub fn lookup(name: &str) -> Result<SystemUser, SystemUserError> {
    let c = CString::new(name).map_err(|_| SystemUserError::BadName { name: name.into() })?;
    // getpwnam_r wants a buffer for the strings; 16 KiB is glibc's usual
    // maximum hint, and ERANGE doubles it up to 1 MiB.
    let mut buf_len = 16 * 1024;
    loop {
        let mut buf = vec![0u8; buf_len];
        // SAFETY: a zeroed passwd is a valid out-parameter; `buf` outlives
        // the call and the strings in `pw` point into it.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found) };
        if rc == libc::ERANGE && buf_len < 1 << 20 {
            buf_len *= 2;
            continue;
        }
        if rc != 0 {
            return Err(SystemUserError::Lookup { name: name.into(), source: std::io::Error::from_raw_os_error(rc) });
        }
        if found.is_null() {
            return Err(SystemUserError::Missing { name: name.into() });
        }
        // SAFETY: pw_name points into `buf`, NUL-terminated by getpwnam_r.
        let got = unsafe { CStr::from_ptr(pw.pw_name) }.to_string_lossy().into_owned();
        if pw.pw_uid == 0 {
            return Err(SystemUserError::Root { name: got });
        }
        return Ok(SystemUser { name: got, uid: pw.pw_uid, gid: pw.pw_gid });
    }
}

/// This process runs with root's effective uid.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_refused_and_a_missing_user_is_named_with_the_fix() {
        assert!(matches!(lookup("root"), Err(SystemUserError::Root { .. })));
        let e = lookup("holdfast-no-such-user-x").unwrap_err().to_string();
        assert!(e.contains("\"holdfast-no-such-user-x\" does not exist"), "{e}");
        assert!(e.contains("useradd --system --no-create-home --shell /usr/sbin/nologin holdfast-no-such-user-x"), "{e}");
        assert!(matches!(lookup("a\0b"), Err(SystemUserError::BadName { .. })));
    }

    #[test]
    fn an_existing_user_is_found() {
        // `nobody` is in every Debian base system.
        let u = lookup("nobody").unwrap();
        assert_eq!(u.name, "nobody");
        assert_ne!(u.uid, 0);
    }
}
