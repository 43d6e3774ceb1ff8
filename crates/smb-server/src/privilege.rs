//! Dropping root. smbd faces the network and parses what any client
//! sends, so a bug in it must not hand out the cluster's secrets: the TLS
//! keys, the components and the node's data are root's (or the node
//! user's) alone. When started as root (the node runs as root to bind
//! port 445 and move service addresses), smbd binds its port, then becomes
//! the `user` of its config (`[service_host] smbd_user`, default
//! `holdfast-smbd`) for good, before it reads a byte from a client:
//!
//! 1. supplementary groups cleared, then real, effective and saved gid and
//!    uid set to the user's (gid first: once the uid is not root, the gid
//!    can no longer be changed). The kernel clears every capability when
//!    all uids leave 0;
//! 2. `PR_SET_NO_NEW_PRIVS`: no set-uid binary or file capability can give
//!    any of it back;
//! 3. checked, not assumed: `setuid(0)` and `setgid(0)` must fail, the
//!    ids must all be the user's, no supplementary group, no capability
//!    left, and no-new-privs set. Otherwise smbd refuses to serve.
//!
//! The parent-death signal (the node's `PR_SET_PDEATHSIG`, so that a
//! killed node takes its smbd with it) is cleared by the kernel on a uid
//! change, so it is set again afterwards.
//!
//! What the user can still reach is what the node opened to it: its
//! file-server socket and the users file (group-readable), and a directory
//! for the connection list (docs/security.md, "Local users"). A started
//! smbd checks that it can reach them, so a wrong mode shows at start
//! instead of at the first logon.
//!
//! Not root: nothing is dropped (a developer's smbd runs as its user).

use std::ffi::CString;
use std::path::Path;

use holdfast_file_server::system_user::{self, SystemUser, SystemUserError};

use crate::config::SmbdConfig;

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error(transparent)]
    User(#[from] SystemUserError),
    #[error("dropping root to {user}: {call} failed: {source}")]
    Call { user: String, call: &'static str, source: std::io::Error },
    #[error("dropping root to {user} did not take: {what}; refusing to serve")]
    NotDropped { user: String, what: String },
    #[error("the node that started smbd exited while it dropped root")]
    ParentGone,
    #[error("as {user}, smbd cannot {what} {path}: {source}; the node gives it access when it runs as root (docs/security.md, \"Local users\")")]
    Unreachable { user: String, what: &'static str, path: String, source: std::io::Error },
}

/// Becomes `cfg.user` if running as root (see the module's comment);
/// returns the user, or None when not root. Call it single-threaded,
/// after binding and before serving.
pub fn drop_root(cfg: &SmbdConfig) -> Result<Option<SystemUser>, PrivilegeError> {
    if !system_user::is_root() {
        return Ok(None);
    }
    let user = system_user::lookup(&cfg.user)?;
    let call = |call: &'static str, rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(PrivilegeError::Call { user: user.name.clone(), call, source: std::io::Error::last_os_error() })
        }
    };
    let mut death_signal: libc::c_int = 0;
    // SAFETY: plain syscalls; PR_GET_PDEATHSIG writes one c_int to a
    // pointer that is valid for the call.
    unsafe {
        call("prctl(PR_GET_PDEATHSIG)", libc::prctl(libc::PR_GET_PDEATHSIG, &mut death_signal as *mut libc::c_int))?;
        let parent = libc::getppid();
        call("setgroups", libc::setgroups(0, std::ptr::null()))?;
        call("setresgid", libc::setresgid(user.gid, user.gid, user.gid))?;
        call("setresuid", libc::setresuid(user.uid, user.uid, user.uid))?;
        call("prctl(PR_SET_NO_NEW_PRIVS)", libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong))?;
        if death_signal != 0 {
            call("prctl(PR_SET_PDEATHSIG)", libc::prctl(libc::PR_SET_PDEATHSIG, death_signal as libc::c_ulong))?;
            // The node may have died before the signal was armed again:
            // then it never comes, and smbd must not serve unsupervised.
            if libc::getppid() != parent {
                return Err(PrivilegeError::ParentGone);
            }
        }
    }
    verify(&user)?;
    check_reachable(cfg, &user)?;
    Ok(Some(user))
}

/// The drop took: no way back to root, and nothing of it left.
fn verify(user: &SystemUser) -> Result<(), PrivilegeError> {
    let fail = |what: String| Err(PrivilegeError::NotDropped { user: user.name.clone(), what });
    // SAFETY: plain syscalls with out-parameters valid for the call. A
    // setuid(0) that succeeds is an error we report, not undo.
    unsafe {
        if libc::setuid(0) == 0 || libc::seteuid(0) == 0 {
            return fail("setuid(0) succeeded".into());
        }
        if libc::setgid(0) == 0 || libc::setegid(0) == 0 {
            return fail("setgid(0) succeeded".into());
        }
        let (mut r, mut e, mut s) = (0, 0, 0);
        libc::getresuid(&mut r, &mut e, &mut s);
        if [r, e, s] != [user.uid; 3] {
            return fail(format!("uids are {r}/{e}/{s}, not {}", user.uid));
        }
        libc::getresgid(&mut r, &mut e, &mut s);
        if [r, e, s] != [user.gid; 3] {
            return fail(format!("gids are {r}/{e}/{s}, not {}", user.gid));
        }
        let n = libc::getgroups(0, std::ptr::null_mut());
        if n != 0 {
            return fail(format!("{n} supplementary groups left"));
        }
    }
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|source| PrivilegeError::Call { user: user.name.clone(), call: "read /proc/self/status", source })?;
    for key in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        match status_field(&status, key) {
            Some(v) if v.trim_start_matches('0').is_empty() => {}
            v => return fail(format!("{key} is {v:?}, not 0")),
        }
    }
    if status_field(&status, "NoNewPrivs") != Some("1") {
        return fail("NoNewPrivs is not 1".into());
    }
    Ok(())
}

/// The value of `KEY:` in /proc/PID/status.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

/// The users file (read at every logon) and the file-server socket must be
/// reachable as the user; either may not exist yet.
fn check_reachable(cfg: &SmbdConfig, user: &SystemUser) -> Result<(), PrivilegeError> {
    for (path, mode, what) in [(&cfg.users_file, libc::R_OK, "read the users file"), (&cfg.fs_socket, libc::W_OK, "connect to the file-server socket")] {
        if let Err(source) = access(path, mode) {
            if source.kind() != std::io::ErrorKind::NotFound {
                return Err(PrivilegeError::Unreachable { user: user.name.clone(), what, path: path.display().to_string(), source });
            }
        }
    }
    Ok(())
}

fn access(path: &Path, mode: libc::c_int) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated path valid for the call. Real and
    // effective ids are equal now, so access(2) answers for this process.
    if unsafe { libc::access(c.as_ptr(), mode) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_found_by_exact_key() {
        let s = "Name:\tx\nCapEff:\t0000000000000000\nCapEffX:\t1\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(s, "CapEff"), Some("0000000000000000"));
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(s, "CapAmb"), None);
    }

    /// A missing user is refused with the user's name and the command that
    /// creates it (when not root, nothing is dropped and nothing looked up).
    #[test]
    fn a_missing_user_is_named_with_the_fix() {
        let mut cfg: SmbdConfig =
            toml::from_str("listen = \"127.0.0.1:1\"\nfs_socket = \"/x/fs.sock\"\nusers_file = \"/x/smb-users\"\nuser = \"holdfast-no-such-user\"\n").unwrap();
        match drop_root(&cfg) {
            Ok(None) => assert!(!system_user::is_root()),
            Ok(Some(u)) => panic!("dropped to {u:?}"),
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("\"holdfast-no-such-user\" does not exist"), "{e}");
                assert!(e.contains("useradd --system --no-create-home --shell /usr/sbin/nologin holdfast-no-such-user"), "{e}");
            }
        }
        cfg.user = "root".into();
        if system_user::is_root() {
            assert!(drop_root(&cfg).unwrap_err().to_string().contains("is root"));
        }
    }
}
