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
}

fn yes() -> bool {
    true
}

fn default_timeout() -> u64 {
    HANDLE_TIMEOUT_MS_DEFAULT
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
        let s = ShareDef { name: "share".into(), volume: "share".into(), path: String::new(), ca: true, handle_timeout_ms: 60_000 };
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
}
