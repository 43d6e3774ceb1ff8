//! Volumes and shares as the cluster config (`DIR/cluster.toml`) defines
//! them. A volume is a pair of objects: `vol-NAME` (persistent: namespace and
//! file data) and `vol-NAME-handles` (in-memory: the persistent-handle
//! table). A share exports a directory of a volume over SMB.

use serde::{Deserialize, Serialize};

use crate::size::parse_size_bytes;

/// A share's cap on durable and persistent handle timeouts when its config
/// does not say: Samba's 300 s. A client that asks for timeout 0 gets
/// 60 s (or the cap, when lower); one that asks for more gets the cap.
pub const HANDLE_TIMEOUT_MS_DEFAULT: u64 = 300_000;
/// Longest handle timeout a share may configure or a client may ask for.
pub const HANDLE_TIMEOUT_MS_MAX: u64 = 300_000;
/// Longest share or volume name, in bytes.
pub const SHARE_NAME_BYTES_MAX: usize = 80;
pub const SHARES_MAX: usize = 64;
/// Most names in one share's `valid_users` or `invalid_users`.
pub const SHARE_USERS_MAX: usize = 64;
/// Longest user name in those lists, in characters (as the user file's).
pub const USER_NAME_CHARS_MAX: usize = 64;

/// SMB dialects a share's `min_dialect` may name, as smb.conf users write
/// them, with their [MS-SMB2] codes. Ordered: a higher code is newer.
pub const DIALECTS: [(&str, u16); 5] = [("2.0.2", 0x0202), ("2.1", 0x0210), ("3.0", 0x0300), ("3.0.2", 0x0302), ("3.1.1", 0x0311)];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDef {
    pub name: String,
    /// Size of the persistent object, e.g. "1GiB".
    pub size: String,
    /// Size of the in-memory handle-table object, e.g. "16MiB"; one 4 KiB
    /// slot per handle.
    #[serde(default = "default_handle_size")]
    pub handle_size: String,
    /// Copies of each object; 0 means one on every host.
    #[serde(default)]
    pub replicas: u32,
}

fn default_handle_size() -> String {
    "16MiB".to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareDef {
    pub name: String,
    pub volume: String,
    /// Directory inside the volume that the share exports; "" is the root.
    #[serde(default)]
    pub path: String,
    /// Continuously available: persistent handles are granted.
    #[serde(default = "yes")]
    pub ca: bool,
    #[serde(default = "default_timeout")]
    pub handle_timeout_ms: u64,
    /// Per-file security descriptors are enforced at open (on by default).
    /// Off, every authenticated user may do anything any open allows.
    #[serde(default = "yes")]
    pub acls: bool,
    /// Every WRITE waits until its data is on the disk of every copy, as
    /// if each were WRITE_THROUGH (Windows' CA shares behave so). Off, a
    /// WRITE is acknowledged once in the RAM of every copy and FLUSH or
    /// WRITE_THROUGH puts it on disk (docs/durability.md).
    #[serde(default)]
    pub write_through: bool,
    /// Only these users may connect (smb.conf `valid users`); empty:
    /// every user.
    #[serde(default)]
    pub valid_users: Vec<String>,
    /// These users may never connect, even when `valid_users` names them
    /// (smb.conf `invalid users`).
    #[serde(default)]
    pub invalid_users: Vec<String>,
    /// Nothing on the share may be created, written, renamed or deleted
    /// (smb.conf `read only = yes`).
    #[serde(default)]
    pub read_only: bool,
    /// Every request on the share must be encrypted; a connection that
    /// cannot encrypt (SMB 2.x, or no common cipher) cannot connect to it
    /// (smb.conf `smb encrypt = required`).
    #[serde(default)]
    pub encrypt: bool,
    /// Oldest SMB dialect that may connect to the share: "2.0.2", "2.1",
    /// "3.0", "3.0.2" or "3.1.1".
    #[serde(default = "default_min_dialect")]
    pub min_dialect: String,
}

fn default_min_dialect() -> String {
    DIALECTS[0].0.to_string()
}

/// The [MS-SMB2] code of a dialect as `min_dialect` names it.
pub fn parse_dialect(name: &str) -> Result<u16, String> {
    DIALECTS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).ok_or_else(|| {
        let known: Vec<&str> = DIALECTS.iter().map(|(n, _)| *n).collect();
        format!("unknown dialect {name:?}; use one of {}", known.join(", "))
    })
}

fn yes() -> bool {
    true
}

fn default_timeout() -> u64 {
    HANDLE_TIMEOUT_MS_DEFAULT
}

impl ShareDef {
    /// A share with every option at its default.
    pub fn new(name: &str, volume: &str) -> ShareDef {
        ShareDef {
            name: name.into(),
            volume: volume.into(),
            path: String::new(),
            ca: true,
            handle_timeout_ms: HANDLE_TIMEOUT_MS_DEFAULT,
            acls: true,
            write_through: false,
            valid_users: Vec::new(),
            invalid_users: Vec::new(),
            read_only: false,
            encrypt: false,
            min_dialect: default_min_dialect(),
        }
    }

    /// `min_dialect` as its [MS-SMB2] code.
    pub fn min_dialect_code(&self) -> Result<u16, String> {
        parse_dialect(&self.min_dialect).map_err(|e| format!("share {:?}: min_dialect: {e}", self.name))
    }
}

/// Checks a `valid_users` or `invalid_users` list: plain user names, no
/// smb.conf `@group` or `+group` (there are no groups to name).
fn check_users(share: &str, what: &str, users: &[String]) -> Result<(), String> {
    if users.len() > SHARE_USERS_MAX {
        return Err(format!("share {share:?}: {what} names more than {SHARE_USERS_MAX} users"));
    }
    for u in users {
        if u.is_empty() || u.chars().count() > USER_NAME_CHARS_MAX {
            return Err(format!("share {share:?}: {what}: user names are 1 to {USER_NAME_CHARS_MAX} characters, got {u:?}"));
        }
        if u.starts_with(['@', '+', '&']) {
            return Err(format!("share {share:?}: {what}: {u:?} names a group; Holdfast has no groups, list the users"));
        }
        if u.chars().any(|c| c.is_control() || c == ',') {
            return Err(format!("share {share:?}: {what}: {u:?} is not a user name (one name per list entry)"));
        }
    }
    Ok(())
}

impl VolumeDef {
    pub fn data_object(&self) -> String {
        format!("vol-{}", self.name)
    }
    pub fn handle_object(&self) -> String {
        format!("vol-{}-handles", self.name)
    }
    pub fn size_bytes(&self) -> Result<u64, String> {
        parse_size_bytes(&self.size).map_err(|e| format!("volume {:?}: size: {e}", self.name))
    }
    pub fn handle_size_bytes(&self) -> Result<u64, String> {
        parse_size_bytes(&self.handle_size).map_err(|e| format!("volume {:?}: handle_size: {e}", self.name))
    }
}

/// An SMB service as `[[services]]` in the cluster config defines it: one
/// `holdfast smbd` on one address, serving shares of one volume, placed on
/// the host that owns that volume (docs/services.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub name: String,
    /// The address clients connect to, "IP:PORT"; it moves with the service.
    pub listen: String,
    /// Shares it serves; all on one volume, each in at most one service.
    pub shares: Vec<String>,
}

/// Host-wide settings of the services (`[service_host]` in the cluster config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceHostDef {
    /// Address takeover hook, run as `HOOK add|remove IP NAME` before a
    /// service starts on a host and after it stopped there (docs/services.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_hook: Option<String>,
    /// How long one hook run may take before it is killed and counted as
    /// failed; 0 = the default.
    #[serde(default)]
    pub address_hook_timeout_ms: u64,
    /// Off: no tickle ACKs after a takeover (for measuring what they buy,
    /// `bench failover --silent`). They are sent only where an address
    /// hook moves the service address.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_tickle_acks: bool,
    /// Oldest SMB dialect the services accept at NEGOTIATE, as smb.conf's
    /// `server min protocol` ("2.1" refuses 2.0.2...); none: every dialect.
    /// A share may ask for more (`ShareDef::min_dialect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_dialect: Option<String>,
    /// The system user smbd drops to after binding its port, when the node
    /// runs as root (docs/security.md); none: [`SMBD_USER_DEFAULT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smbd_user: Option<String>,
}

/// The smbd user when `[service_host] smbd_user` names none.
pub const SMBD_USER_DEFAULT: &str = "holdfast-smbd";
/// useradd's limit on a user name.
pub const USER_NAME_BYTES_MAX: usize = 32;

/// Hook timeout when the config gives none.
pub const ADDRESS_HOOK_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Longest hook timeout a config may ask for.
pub const ADDRESS_HOOK_TIMEOUT_MS_MAX: u64 = 120_000;
pub const SERVICES_MAX: usize = 64;

impl ServiceHostDef {
    pub fn smbd_user(&self) -> &str {
        self.smbd_user.as_deref().unwrap_or(SMBD_USER_DEFAULT)
    }

    pub fn address_hook_timeout_ms(&self) -> u64 {
        if self.address_hook_timeout_ms == 0 {
            ADDRESS_HOOK_TIMEOUT_MS_DEFAULT
        } else {
            self.address_hook_timeout_ms
        }
    }
}

/// Checks a system user name as Debian's useradd does by default: a
/// lower-case letter or `_`, then lower-case letters, digits, `_` or `-`,
/// at most [`USER_NAME_BYTES_MAX`] bytes. `root` is refused: smbd would
/// drop nothing.
pub fn validate_user_name(name: &str) -> Result<(), String> {
    let ok_first = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let ok_rest = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok_first || !ok_rest || name.len() > USER_NAME_BYTES_MAX {
        return Err(format!("{name:?} is not a user name (a lower-case letter or _, then lower-case letters, digits, _ or -; at most {USER_NAME_BYTES_MAX} bytes)"));
    }
    if name == "root" {
        return Err("root: smbd must run as an unprivileged user".into());
    }
    Ok(())
}

/// Checks a service name (the same rule as share names).
pub fn validate_service_name(name: &str) -> Result<(), String> {
    check_name("service", name)
}

/// Checks a service address: a concrete IP (clients connect to it, and
/// the takeover hook moves it) and a non-zero port.
pub fn parse_service_addr(addr: &str) -> Result<std::net::SocketAddr, String> {
    let a: std::net::SocketAddr =
        addr.parse().map_err(|_| format!("service address {addr:?} is not IP:PORT (e.g. \"127.0.0.2:4445\")"))?;
    if a.ip().is_unspecified() || a.port() == 0 {
        return Err(format!("service address {addr:?} needs a concrete IP and a non-zero port"));
    }
    Ok(a)
}

/// The volume a service's shares live on (after [`validate_services`]).
pub fn service_volume<'a>(svc: &ServiceDef, shares: &'a [ShareDef]) -> Option<&'a str> {
    let first = svc.shares.first()?;
    shares.iter().find(|s| s.name.eq_ignore_ascii_case(first)).map(|s| s.volume.as_str())
}

/// Checks the sharing part of a cluster file as a whole: [`validate`] on
/// its volumes and shares, then [`validate_services`]. Every reader of that
/// file (the CLI's and the node's) checks it the same way.
pub fn validate_config(volumes: &[VolumeDef], shares: &[ShareDef], services: &[ServiceDef], host: &ServiceHostDef) -> Result<(), String> {
    validate(volumes, shares)?;
    validate_services(shares, services, host)
}

/// Checks `[[services]]` against the shares: names, addresses, no duplicate
/// name or address, every share known, a share in at most one service, and
/// all shares of a service on one volume (the service moves with that
/// volume's owner).
pub fn validate_services(shares: &[ShareDef], services: &[ServiceDef], host: &ServiceHostDef) -> Result<(), String> {
    if services.len() > SERVICES_MAX {
        return Err(format!("at most {SERVICES_MAX} services"));
    }
    if host.address_hook_timeout_ms > ADDRESS_HOOK_TIMEOUT_MS_MAX {
        return Err(format!("address_hook_timeout_ms must be at most {ADDRESS_HOOK_TIMEOUT_MS_MAX}"));
    }
    if host.address_hook.as_deref().is_some_and(|h| h.is_empty()) {
        return Err("address_hook is empty; leave it out for no hook".into());
    }
    if let Some(d) = &host.min_dialect {
        parse_dialect(d).map_err(|e| format!("service_host: min_dialect: {e}"))?;
    }
    if let Some(u) = &host.smbd_user {
        validate_user_name(u).map_err(|e| format!("service_host: smbd_user: {e}"))?;
    }
    for (i, svc) in services.iter().enumerate() {
        validate_service_name(&svc.name)?;
        let addr = parse_service_addr(&svc.listen).map_err(|e| format!("service {:?}: {e}", svc.name))?;
        if let Some(o) = services[..i].iter().find(|o| o.name.eq_ignore_ascii_case(&svc.name)) {
            return Err(format!("service {:?} is defined twice", o.name));
        }
        if let Some(o) = services[..i].iter().find(|o| o.listen.parse::<std::net::SocketAddr>().ok() == Some(addr)) {
            return Err(format!("services {:?} and {:?} both listen on {addr}", o.name, svc.name));
        }
        if svc.shares.is_empty() {
            return Err(format!("service {:?} serves no share", svc.name));
        }
        let mut volume: Option<&str> = None;
        for (j, sh) in svc.shares.iter().enumerate() {
            let Some(def) = shares.iter().find(|s| s.name.eq_ignore_ascii_case(sh)) else {
                return Err(format!("service {:?} names share {sh:?}, which is not defined", svc.name));
            };
            if svc.shares[..j].iter().any(|o| o.eq_ignore_ascii_case(sh)) {
                return Err(format!("service {:?} lists share {sh:?} twice", svc.name));
            }
            if let Some(o) = services[..i].iter().find(|o| o.shares.iter().any(|x| x.eq_ignore_ascii_case(sh))) {
                return Err(format!("share {sh:?} is in services {:?} and {:?}; a share has one address", o.name, svc.name));
            }
            match volume {
                Some(v) if v != def.volume => {
                    return Err(format!(
                        "service {:?} serves shares on volumes {v:?} and {:?}; one service moves with one volume",
                        svc.name, def.volume
                    ))
                }
                _ => volume = Some(&def.volume),
            }
        }
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > SHARE_NAME_BYTES_MAX {
        return Err(format!("{what} name must be 1 to {SHARE_NAME_BYTES_MAX} bytes, got {:?}", name));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))) {
        return Err(format!("{what} name {name:?} contains {c:?}; use letters, digits, '_' or '-'"));
    }
    Ok(())
}

/// Checks a config's volumes and shares together: names, sizes, that every
/// share names a defined volume, and no duplicates (share names compare
/// case-insensitively, as SMB clients do).
pub fn validate(volumes: &[VolumeDef], shares: &[ShareDef]) -> Result<(), String> {
    if shares.len() > SHARES_MAX || volumes.len() > SHARES_MAX {
        return Err(format!("at most {SHARES_MAX} volumes and {SHARES_MAX} shares"));
    }
    for (i, v) in volumes.iter().enumerate() {
        check_name("volume", &v.name)?;
        let size = v.size_bytes()?;
        let hsize = v.handle_size_bytes()?;
        if size < 16 << 20 {
            return Err(format!("volume {:?}: size {size} bytes is under the 16 MiB minimum", v.name));
        }
        if hsize < 8192 || hsize % 4096 != 0 {
            return Err(format!("volume {:?}: handle_size must be a multiple of 4 KiB and at least 8 KiB", v.name));
        }
        if volumes[..i].iter().any(|o| o.name == v.name) {
            return Err(format!("volume {:?} is defined twice", v.name));
        }
    }
    for (i, s) in shares.iter().enumerate() {
        check_name("share", &s.name)?;
        if !volumes.iter().any(|v| v.name == s.volume) {
            return Err(format!("share {:?} names volume {:?}, which is not defined", s.name, s.volume));
        }
        if s.handle_timeout_ms == 0 || s.handle_timeout_ms > HANDLE_TIMEOUT_MS_MAX {
            return Err(format!("share {:?}: handle_timeout_ms must be 1 to {HANDLE_TIMEOUT_MS_MAX}", s.name));
        }
        if shares[..i].iter().any(|o| o.name.eq_ignore_ascii_case(&s.name)) {
            return Err(format!("share {:?} is defined twice", s.name));
        }
        check_users(&s.name, "valid_users", &s.valid_users)?;
        check_users(&s.name, "invalid_users", &s.invalid_users)?;
        s.min_dialect_code()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol() -> VolumeDef {
        VolumeDef { name: "share".into(), size: "1GiB".into(), handle_size: "16MiB".into(), replicas: 0 }
    }

    #[test]
    fn config_checks_name_the_problem() {
        let s = ShareDef::new("share", "share");
        assert!(validate(&[vol()], &[s.clone()]).is_ok());
        let e = validate(&[], &[s.clone()]).unwrap_err();
        assert!(e.contains("not defined"), "{e}");
        let mut bad = s.clone();
        bad.name = "a b".into();
        assert!(validate(&[vol()], &[bad]).unwrap_err().contains("contains ' '"));
        let mut upper = s.clone();
        upper.name = "SHARE".into();
        assert!(validate(&[vol()], &[s, upper]).unwrap_err().contains("twice"));
        let mut small = vol();
        small.size = "1MiB".into();
        assert!(validate(&[small], &[]).unwrap_err().contains("minimum"));
    }

    #[test]
    fn authorization_options_parse_and_are_checked() {
        let mut s = ShareDef::new("s", "share");
        assert_eq!(s.min_dialect_code(), Ok(0x0202), "every dialect by default");
        (s.valid_users, s.invalid_users, s.read_only, s.encrypt, s.min_dialect) = (vec!["alice".into()], vec!["bob".into()], true, true, "3.0".into());
        assert_eq!(s.min_dialect_code(), Ok(0x0300));
        assert!(validate(&[vol()], &[s.clone()]).is_ok());
        let cases: [(fn(&mut ShareDef), &str); 5] = [
            (|s| s.min_dialect = "3.1".into(), "unknown dialect"),
            (|s| s.valid_users = vec!["@staff".into()], "names a group"),
            (|s| s.invalid_users = vec![String::new()], "1 to 64"),
            (|s| s.valid_users = vec!["alice, bob".into()], "one name per list entry"),
            (|s| s.valid_users = (0..65).map(|i| format!("u{i}")).collect(), "more than 64"),
        ];
        for (spoil, want) in cases {
            let mut bad = s.clone();
            spoil(&mut bad);
            let e = validate(&[vol()], &[bad]).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn service_checks_name_the_problem() {
        let share = |n: &str, v: &str| ShareDef::new(n, v);
        let shares = vec![share("a", "v1"), share("b", "v1"), share("c", "v2")];
        let svc = |n: &str, l: &str, sh: &[&str]| ServiceDef { name: n.into(), listen: l.into(), shares: sh.iter().map(|s| s.to_string()).collect() };
        let host = ServiceHostDef::default();
        assert!(validate_services(&shares, &[svc("s", "127.0.0.1:4445", &["a", "b"]), svc("t", "127.0.0.2:4445", &["c"])], &host).is_ok());
        let cases: [(Vec<ServiceDef>, &str); 8] = [
            (vec![svc("s", "127.0.0.1:4445", &["a"]), svc("S", "127.0.0.2:4445", &["c"])], "defined twice"),
            (vec![svc("s", "127.0.0.1:4445", &["a"]), svc("t", "127.0.0.1:4445", &["c"])], "both listen"),
            (vec![svc("s", "127.0.0.1:4445", &["x"])], "not defined"),
            (vec![svc("s", "127.0.0.1:4445", &["a", "c"])], "one volume"),
            (vec![svc("s", "localhost:4445", &["a"])], "not IP:PORT"),
            (vec![svc("s", "0.0.0.0:4445", &["a"])], "concrete IP"),
            (vec![svc("s", "127.0.0.1:4445", &["a"]), svc("t", "127.0.0.2:4445", &["a"])], "a share has one address"),
            (vec![svc("s", "127.0.0.1:4445", &[])], "no share"),
        ];
        for (bad, want) in cases {
            let e = validate_services(&shares, &bad, &host).unwrap_err();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
        assert_eq!(service_volume(&svc("s", "127.0.0.1:1", &["B"]), &shares), Some("v1"));
        let ok = [svc("s", "127.0.0.1:4445", &["a"])];
        let old = ServiceHostDef { min_dialect: Some("2.1".into()), ..Default::default() };
        assert!(validate_services(&shares, &ok, &old).is_ok());
        let bad = ServiceHostDef { min_dialect: Some("SMB2_10".into()), ..Default::default() };
        assert!(validate_services(&shares, &ok, &bad).unwrap_err().contains("min_dialect"));
        assert_eq!(ServiceHostDef::default().smbd_user(), SMBD_USER_DEFAULT);
        for (name, want) in [("root", "unprivileged"), ("", "not a user name"), ("Smb", "not a user name"), ("a b", "not a user name")] {
            let h = ServiceHostDef { smbd_user: Some(name.into()), ..Default::default() };
            let e = validate_services(&shares, &ok, &h).unwrap_err();
            assert!(e.contains("smbd_user") && e.contains(want), "{name:?}: {e}");
        }
        let h = ServiceHostDef { smbd_user: Some("smb-svc_1".into()), ..Default::default() };
        assert!(validate_services(&shares, &ok, &h).is_ok());
    }
}
