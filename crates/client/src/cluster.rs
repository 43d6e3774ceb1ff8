//! `DIR/cluster.toml`: where a cluster's nodes are and where its client credential is.
//! Written by `holdfast init`/`up`, read by every other command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use holdfast_types::NodeId;
use holdfast_wire::tls::{Credential, TlsFiles};
use serde::{Deserialize, Serialize};

pub const CLUSTER_FILE: &str = "cluster.toml";
/// The cluster CA and the command-line clients' credential, relative to the
/// cluster directory. The CA key stays beside them for `init` to sign
/// with; an operator may move it offline.
pub const TLS_DIR: &str = "tls";
pub const CA_CERT_FILE: &str = "tls/ca.pem";
pub const CA_KEY_FILE: &str = "tls/ca.key";
pub const CLIENT_CERT_FILE: &str = "tls/client.pem";
pub const CLIENT_KEY_FILE: &str = "tls/client.key";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterNode {
    pub id: NodeId,
    pub addr: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// The clients' TLS credential, relative to the cluster directory.
    pub tls: TlsFiles,
    pub nodes: Vec<ClusterNode>,
    /// Base port the node addresses were derived from.
    pub base_port: u16,
    /// Share volumes: each a persistent object (namespace and data) and an
    /// in-memory object (persistent-handle table).
    #[serde(default)]
    pub volumes: Vec<holdfast_types::share::VolumeDef>,
    /// SMB shares, each a directory of a volume.
    #[serde(default)]
    pub shares: Vec<holdfast_types::share::ShareDef>,
    /// SMB services: each one `holdfast smbd` on its own address, placed by
    /// the directory on the owner of its volume (docs/services.md).
    #[serde(default)]
    pub services: Vec<holdfast_types::share::ServiceDef>,
    /// The address takeover hook and its timeout.
    #[serde(default)]
    pub service_host: holdfast_types::share::ServiceHostDef,
}

#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub dir: PathBuf,
    pub credential: Credential,
    pub nodes: BTreeMap<NodeId, String>,
    pub file: ClusterFile,
}

impl ClusterInfo {
    pub fn load(dir: &Path) -> Result<ClusterInfo, String> {
        let path = dir.join(CLUSTER_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("no cluster at {} ({e}); start one with `holdfast up --dir {}` or pass --dir/HOLDFAST_DIR", path.display(), dir.display())
        })?;
        let file: ClusterFile = toml::from_str(&text).map_err(|e| format!("{} is invalid: {e}", path.display()))?;
        if file.nodes.is_empty() {
            return Err(format!("{} lists no nodes", path.display()));
        }
        holdfast_types::share::validate_config(&file.volumes, &file.shares, &file.services, &file.service_host)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let credential = Credential::load(&file.tls.under(dir)).map_err(|e| e.to_string())?;
        let nodes = file.nodes.iter().map(|n| (n.id, n.addr.clone())).collect();
        Ok(ClusterInfo { dir: dir.to_path_buf(), credential, nodes, file })
    }
}
