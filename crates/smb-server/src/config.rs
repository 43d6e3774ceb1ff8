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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Concurrent TCP connections; more wait in the accept queue.
    pub connections_max: usize,
    /// Sessions per connection.
    pub sessions_max: usize,
    /// Tree connects per session.
    pub trees_max: usize,
    /// Opens per session.
    pub opens_max: usize,
    /// Credits granted in one response (the client asks, we cap).
    pub credits_max: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { connections_max: 256, sessions_max: 16, trees_max: 64, opens_max: 4096, credits_max: 512 }
    }
}

fn default_server_name() -> String {
    "HOLDFAST".into()
}

impl SmbdConfig {
    pub fn load(path: &Path) -> Result<SmbdConfig, SmbdError> {
        let text = std::fs::read_to_string(path).map_err(|e| SmbdError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| SmbdError::Config(format!("{}: {e}", path.display())))
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
        let back: SmbdConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}
