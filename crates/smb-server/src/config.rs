//! `smbd.toml`: where the service listens, which file server it talks to,
//! where its users are, and its bounds.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SmbdError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmbdConfig {
    /// Address to listen on, e.g. "127.0.0.1:4445".
    pub listen: String,
    /// The host's file-server socket (`DIR/node-N/fs.sock`).
    pub fs_socket: PathBuf,
    /// The user file (`DIR/smb-users`); re-read at every logon so
    /// `holdfast user add` takes effect without a restart.
    pub users_file: PathBuf,
    /// NetBIOS/DNS name announced in NTLM's target info.
    #[serde(default = "default_server_name")]
    pub server_name: String,
    /// Shares served (the CA flag comes from the file server's `Shares`
    /// reply). Empty = every share the file server reports.
    #[serde(default)]
    pub shares: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    /// Where the open TCP connections are listed for the node daemon (the
    /// tickle ACKs of a takeover); none: not listed.
    #[serde(default)]
    pub conns_file: Option<PathBuf>,
    /// Oldest dialect NEGOTIATE accepts, as smb.conf's `server min
    /// protocol`: "2.0.2" (all), "2.1", "3.0", "3.0.2" or "3.1.1". A share
    /// may ask for more (`ShareDef::min_dialect`).
    #[serde(default = "default_min_dialect")]
    pub min_dialect: String,
    /// The system user smbd becomes once its port is bound, when started
    /// as root (`privilege.rs`); ignored when not started as root. The
    /// node writes `[service_host] smbd_user` here.
    #[serde(default = "default_user")]
    pub user: String,
}

/// The service's bounds (docs/smb-server.md, "Limits"). Every field has a
/// default, so an `smbd.toml` names only the ones it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Concurrent TCP connections; one more is closed as soon as it is
    /// accepted (queued ones would wait behind idle ones forever).
    pub connections_max: usize,
    /// Concurrent TCP connections from one client IP address; one more is
    /// closed at once, so one host cannot take every slot.
    pub connections_per_ip_max: usize,
    /// Connections on which one user has a session; a SESSION_SETUP that
    /// would make one more fails with STATUS_REQUEST_NOT_ACCEPTED.
    pub connections_per_user_max: usize,
    /// Sessions per connection.
    pub sessions_max: usize,
    /// Tree connects per session.
    pub trees_max: usize,
    /// Opens per session.
    pub opens_max: usize,
    /// Credits granted in one response (the client asks, we cap), and the
    /// most MessageIds a client may hold granted and not yet retired.
    pub credits_max: u16,
    /// From accept to NEGOTIATE; a connection that has not negotiated by
    /// then is closed.
    pub negotiate_ms_max: u64,
    /// From NEGOTIATE to the first session set up; a connection without
    /// one by then is closed.
    pub session_setup_ms_max: u64,
    /// A connection with no open file and no waiting request that sends
    /// nothing for this long is closed (Windows' autodisconnect, 15 min);
    /// clients reconnect on their own when they need the server again.
    pub idle_ms_max: u64,
    /// Largest message accepted before the connection has a session:
    /// NEGOTIATE and SESSION_SETUP are small, so an unauthenticated client
    /// cannot make the service buffer `holdfast_smb_proto` FRAME_BYTES_MAX.
    pub preauth_frame_bytes_max: usize,
    /// Requests waiting asynchronously (interim STATUS_PENDING sent) per
    /// connection; one more ends with STATUS_INSUFFICIENT_RESOURCES.
    pub async_requests_per_connection_max: usize,
    /// The same, over all connections of the service.
    pub async_requests_max: usize,
    /// Bytes of change-notification records buffered for all watches;
    /// past it the watch that would grow overflows (its next CHANGE_NOTIFY
    /// gets STATUS_NOTIFY_ENUM_DIR).
    pub notify_buffered_bytes_max: usize,
    /// Delay of the reply to the first failed logon from a client IP;
    /// it doubles with each consecutive failure from that IP.
    pub logon_failure_delay_ms_min: u64,
    /// The delay stops growing here.
    pub logon_failure_delay_ms_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections_max: 1024,
            connections_per_ip_max: 128,
            connections_per_user_max: 256,
            sessions_max: 16,
            trees_max: 64,
            opens_max: 4096,
            credits_max: 512,
            negotiate_ms_max: 10_000,
            session_setup_ms_max: 30_000,
            idle_ms_max: 15 * 60 * 1000,
            preauth_frame_bytes_max: 64 * 1024,
            async_requests_per_connection_max: 512,
            async_requests_max: 16 * 1024,
            notify_buffered_bytes_max: 16 * 1024 * 1024,
            logon_failure_delay_ms_min: 500,
            logon_failure_delay_ms_max: 10_000,
        }
    }
}

fn default_server_name() -> String {
    "HOLDFAST".into()
}

fn default_user() -> String {
    holdfast_types::share::SMBD_USER_DEFAULT.into()
}

fn default_min_dialect() -> String {
    holdfast_types::share::DIALECTS[0].0.into()
}

impl SmbdConfig {
    pub fn load(path: &Path) -> Result<SmbdConfig, SmbdError> {
        let text = std::fs::read_to_string(path).map_err(|e| SmbdError::Config(format!("{}: {e}", path.display())))?;
        let cfg: SmbdConfig = toml::from_str(&text).map_err(|e| SmbdError::Config(format!("{}: {e}", path.display())))?;
        holdfast_types::share::parse_dialect(&cfg.min_dialect)
            .map_err(|e| SmbdError::Config(format!("{}: min_dialect: {e}", path.display())))?;
        holdfast_types::share::validate_user_name(&cfg.user).map_err(|e| SmbdError::Config(format!("{}: user: {e}", path.display())))?;
        Ok(cfg)
    }

    /// `min_dialect` as its [MS-SMB2] code. `load` refused a name it does
    /// not know; a config built otherwise gets the newest dialect for one.
    pub fn min_dialect_code(&self) -> u16 {
        holdfast_types::share::parse_dialect(&self.min_dialect).unwrap_or(0x0311)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_defaults() {
        let c: SmbdConfig =
            toml::from_str("listen = \"127.0.0.1:1\"\nfs_socket = \"/x/fs.sock\"\nusers_file = \"/x/smb-users\"\n").unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.server_name, "HOLDFAST");
        assert_eq!(c.min_dialect_code(), 0x0202, "every dialect by default");
        let back: SmbdConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn min_dialect_is_checked_at_load() {
        let dir = std::env::temp_dir().join(format!("smbd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("smbd.toml");
        let base = "listen = \"127.0.0.1:1\"\nfs_socket = \"/x/fs.sock\"\nusers_file = \"/x/smb-users\"\n";
        std::fs::write(&path, format!("{base}min_dialect = \"3.0\"\n")).unwrap();
        assert_eq!(SmbdConfig::load(&path).unwrap().min_dialect_code(), 0x0300);
        std::fs::write(&path, format!("{base}min_dialect = \"SMB3\"\n")).unwrap();
        let e = SmbdConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("unknown dialect"), "{e}");
        std::fs::write(&path, format!("{base}user = \"root\"\n")).unwrap();
        let e = SmbdConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("user: root"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
