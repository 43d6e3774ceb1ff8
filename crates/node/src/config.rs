//! `node.toml`: one node daemon's configuration.

use std::path::{Path, PathBuf};

use holdfast_types::NodeId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    pub id: NodeId,
    pub addr: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node_id: NodeId,
    /// Address for peers and clients, e.g. "127.0.0.1:7101".
    pub listen: String,
    /// Raft log and vote, node identity, persistent components.
    pub data_dir: PathBuf,
    /// This node's TLS credential: the cluster CA, its certificate naming
    /// `node-N.holdfast.invalid`, and its key (mode 0600).
    pub tls: holdfast_wire::tls::TlsFiles,
    /// Budget for memory components on this node, in bytes.
    #[serde(default = "default_memory_bytes_max")]
    pub memory_bytes_max: u64,
    /// Every member of the cluster, this node included.
    pub members: Vec<PeerConfig>,
    /// Tokio worker threads; small because the machine is shared with peers.
    #[serde(default = "default_worker_threads")]
    pub worker_threads: usize,
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// A peer not heard from for this long is down: several heartbeats
    /// must go unanswered, so one late reply does not throw a host out.
    #[serde(default = "default_peer_down_ms")]
    pub peer_down_ms: u64,
    /// A component that has not acknowledged a write by then is committed
    /// ABSENT before the write is acknowledged.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// Rebuild rate cap in bytes per second (0: none; the rebuild window
    /// already bounds what it takes from foreground writes).
    #[serde(default)]
    pub resync_bytes_per_s_max: u64,
    /// Disk lag of persistent components (docs/local-store.md, "Disk
    /// lag"): a write that finds this many unsynced bytes on a component
    /// waits for an fdatasync before it is acknowledged.
    #[serde(default = "default_disk_dirty_bytes_max")]
    pub disk_dirty_bytes_max: u64,
    /// A component whose oldest unsynced write is this old is synced.
    #[serde(default = "default_disk_dirty_age_ms_max")]
    pub disk_dirty_age_ms_max: u64,
    /// A component whose host has been down this long is replaced by a new
    /// one on another host, if there is one (vSAN's default: 60 minutes).
    #[serde(default = "default_repair_delay_ms")]
    pub repair_delay_ms: u64,
    /// Raft election timeout range of the directory.
    #[serde(default = "default_election_min_ms")]
    pub election_timeout_min_ms: u64,
    #[serde(default = "default_election_max_ms")]
    pub election_timeout_max_ms: u64,
    /// Simulation only: break the durability rule on purpose (see
    /// `ReplicatorConfig::test_only_ack_without_replicas`). Refused by a
    /// build without the `test-switches` feature.
    #[serde(default)]
    pub test_only_ack_without_replicas: bool,
    /// Accept fault-injection requests (partitions) from clients. For tests
    /// only; never enable it on a production cluster.
    #[serde(default)]
    pub fault_injection: bool,
    /// The cluster config whose `[[volumes]]` and `[[shares]]` this node's
    /// file server serves (usually `DIR/cluster.toml`). None: no shares.
    #[serde(default)]
    pub cluster_file: Option<PathBuf>,
    /// The file server's Unix socket; default `data_dir/fs.sock`.
    #[serde(default)]
    pub fs_socket: Option<PathBuf>,
    /// How long a lease the directory's leader grants this host lasts; it is
    /// renewed every heartbeat (docs/leases.md). At most `peer_down_ms` less
    /// the margin, so that a host that died silently has lost its lease by
    /// the time the others notice.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// Simulation only: serve without a valid lease (breaks the lease rule
    /// on purpose, to show that the oracle catches it). Refused by a build
    /// without the `test-switches` feature.
    #[serde(default)]
    pub test_only_serve_without_lease: bool,
    /// Simulation only: components accept commands of any epoch (breaks
    /// fencing on purpose; see `LocalStore::with_test_only_accept_stale_epochs`).
    /// Refused by a build without the `test-switches` feature.
    #[serde(default)]
    pub test_only_accept_stale_epochs: bool,
    /// Simulation only: acknowledge a write some ACTIVE component missed
    /// without committing it ABSENT (see
    /// `ReplicatorConfig::test_only_ack_without_absent_commit`). Refused by
    /// a build without the `test-switches` feature.
    #[serde(default)]
    pub test_only_ack_without_absent_commit: bool,
    /// Simulation only: commit a rebuilt component ACTIVE before the owner
    /// counts it (see `ReplicatorConfig::test_only_commit_active_before_promote`).
    /// Refused by a build without the `test-switches` feature.
    #[serde(default)]
    pub test_only_commit_active_before_promote: bool,
}

/// The file server's socket for smbd, in [`NodeConfig::smbd_dir`].
pub const SMBD_FS_SOCKET: &str = "fs.sock";

/// Bounds of `disk_dirty_bytes_max`: at least one largest write (4 MiB),
/// at most what a host may reasonably hold unsynced per component.
pub const DISK_DIRTY_BYTES_MIN: u64 = 4 << 20;
pub const DISK_DIRTY_BYTES_LIMIT: u64 = 16 << 30;

/// The part of the cluster config the file server reads; other keys of
/// that file belong to other readers.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SharesSection {
    #[serde(default)]
    pub volumes: Vec<holdfast_types::share::VolumeDef>,
    #[serde(default)]
    pub shares: Vec<holdfast_types::share::ShareDef>,
    /// SMB services this node runs when the directory places them here.
    #[serde(default)]
    pub services: Vec<holdfast_types::share::ServiceDef>,
    #[serde(default)]
    pub service_host: holdfast_types::share::ServiceHostDef,
}

impl SharesSection {
    pub fn load(path: &Path) -> Result<SharesSection, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
        let s: SharesSection = toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: p.clone(), message: e.to_string() })?;
        holdfast_types::share::validate_config(&s.volumes, &s.shares, &s.services, &s.service_host)
            .map_err(|message| ConfigError::Invalid { path: p, message })?;
        Ok(s)
    }
}

fn default_memory_bytes_max() -> u64 {
    4 << 30
}
fn default_worker_threads() -> usize {
    2
}
fn default_heartbeat_ms() -> u64 {
    100
}
fn default_peer_down_ms() -> u64 {
    600
}
fn default_repair_delay_ms() -> u64 {
    60 * 60 * 1000
}
fn default_election_min_ms() -> u64 {
    400
}
fn default_election_max_ms() -> u64 {
    800
}
fn default_write_timeout_ms() -> u64 {
    1000
}
pub fn default_disk_dirty_bytes_max() -> u64 {
    holdfast_local_store::component::DIRTY_BYTES_MAX_DEFAULT
}
pub fn default_disk_dirty_age_ms_max() -> u64 {
    holdfast_local_store::component::DIRTY_AGE_MS_MAX_DEFAULT
}
fn default_lease_ms() -> u64 {
    500
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read node config {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("node config {path} is invalid: {message}")]
    Invalid { path: String, message: String },
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
        let cfg: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: p.clone(), message: e.to_string() })?;
        cfg.validate().map_err(|message| ConfigError::Invalid { path: p, message })?;
        Ok(cfg)
    }

    /// Everything the node checks before it binds its address, opens its
    /// store or starts its directory member (Raft): this config and the
    /// cluster file's shares. A bad config then fails with its reason and
    /// leaves nothing behind, instead of a half-started member that joined
    /// the cluster and then died. Returns the shares section, if any.
    pub fn preflight(&self) -> Result<Option<SharesSection>, ConfigError> {
        self.validate().map_err(|message| ConfigError::Invalid { path: format!("of node {}", self.node_id), message })?;
        self.cluster_file.as_deref().map(SharesSection::load).transpose()
    }

    pub fn fs_socket_path(&self) -> PathBuf {
        self.fs_socket.clone().unwrap_or_else(|| self.data_dir.join("fs.sock"))
    }

    /// What the SMB services of this host may use, next to the data
    /// directory (`DIR/node-N-smbd` for `DIR/node-N`): the data directory
    /// is the node user's alone, and smbd may run as another user
    /// (docs/security.md). Holds the file server's socket for smbd
    /// ([`SMBD_FS_SOCKET`]) and each service's connection list.
    pub fn smbd_dir(&self) -> PathBuf {
        let mut name = self.data_dir.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "node".into());
        name.push("-smbd");
        self.data_dir.with_file_name(name)
    }

    pub fn validate(&self) -> Result<(), String> {
        // The keys stay parseable in every build so that a production node
        // given one names it, rather than starting with a broken rule or
        // failing on an "unknown field".
        if !cfg!(feature = "test-switches") {
            for (key, set, rule) in [
                ("test_only_ack_without_replicas", self.test_only_ack_without_replicas, "durability"),
                ("test_only_serve_without_lease", self.test_only_serve_without_lease, "the lease rule"),
                ("test_only_accept_stale_epochs", self.test_only_accept_stale_epochs, "fencing"),
                ("test_only_ack_without_absent_commit", self.test_only_ack_without_absent_commit, "durability"),
                ("test_only_commit_active_before_promote", self.test_only_commit_active_before_promote, "durability"),
            ] {
                if set {
                    return Err(format!("{key} = true breaks {rule} on purpose and exists only in test builds (feature test-switches); remove it"));
                }
            }
        }
        if self.node_id == 0 {
            return Err("node_id must be at least 1".into());
        }
        if !self.members.iter().any(|m| m.id == self.node_id) {
            return Err(format!("members does not list this node ({})", self.node_id));
        }
        let mut ids: Vec<_> = self.members.iter().map(|m| m.id).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != self.members.len() {
            return Err("members lists a node id twice".into());
        }
        if ids.len() > holdfast_types::limits::NODES_MAX {
            return Err(format!("at most {} members", holdfast_types::limits::NODES_MAX));
        }
        if self.worker_threads == 0 || self.worker_threads > 64 {
            return Err("worker_threads must be 1 to 64".into());
        }
        if self.heartbeat_ms == 0 || self.peer_down_ms < 2 * self.heartbeat_ms {
            return Err("heartbeat_ms must be > 0 and peer_down_ms at least twice it".into());
        }
        if self.election_timeout_min_ms <= self.heartbeat_ms || self.election_timeout_max_ms <= self.election_timeout_min_ms {
            return Err("need heartbeat_ms < election_timeout_min_ms < election_timeout_max_ms".into());
        }
        if !(10..=60_000).contains(&self.write_timeout_ms) {
            return Err("write_timeout_ms must be 10 to 60000".into());
        }
        if !(DISK_DIRTY_BYTES_MIN..=DISK_DIRTY_BYTES_LIMIT).contains(&self.disk_dirty_bytes_max) {
            return Err(format!("disk_dirty_bytes_max must be {DISK_DIRTY_BYTES_MIN} to {DISK_DIRTY_BYTES_LIMIT} bytes"));
        }
        if !(10..=600_000).contains(&self.disk_dirty_age_ms_max) {
            return Err("disk_dirty_age_ms_max must be 10 to 600000".into());
        }
        if self.lease_ms < 2 * self.heartbeat_ms || self.lease_ms > 60_000 {
            return Err(format!("lease_ms must be at least twice heartbeat_ms ({}) and at most 60000", self.heartbeat_ms));
        }
        Ok(())
    }
}
