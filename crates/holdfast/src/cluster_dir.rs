//! The layout of a cluster directory:
//!
//! ```text
//! DIR/cluster.toml        node ids and addresses, volumes and shares (read
//!                         by every command and by the nodes' file servers)
//! DIR/cluster-secret      64 hex digits, mode 0600
//! DIR/node-N/node.toml    node N's daemon config
//! DIR/node-N/node.log     its log, when started by `up`
//! DIR/node-N/raft/        its directory log, vote and snapshot
//! DIR/node-N/objects/     its persistent components
//! DIR/node-N/fs.sock      its file server's socket (mode 0600)
//! DIR/node-N/smbd-S.toml  config of service S's smbd while it runs there,
//! DIR/node-N/smbd-S.log   its log, and smbd-S.pid its process id
//! DIR/smb-users           SMB users; DIR/smb-credentials the default one's
//! ```

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use holdfast_client::cluster::{ClusterFile, ClusterNode, CLUSTER_FILE, SECRET_FILE};
use holdfast_node::config::{NodeConfig, PeerConfig};
use holdfast_types::share::{ServiceDef, ServiceHostDef, ShareDef, VolumeDef};
use holdfast_wire::auth::ClusterSecret;

use crate::{InitArgs, SmbArgs};

pub fn node_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("node-{id}"))
}

pub fn node_config_path(dir: &Path, id: u64) -> PathBuf {
    node_dir(dir, id).join("node.toml")
}

/// Writes a new cluster into `dir` without an SMB service (benchmarks).
pub fn init(dir: &Path, a: &InitArgs) -> anyhow::Result<ClusterFile> {
    init_with_service(dir, a, &SmbArgs { smb_port: 4445, no_smb_service: true, address_hook: None })
}

/// Writes a new cluster into `dir`; with `smb_port`, the default share gets
/// the SMB service `share` on 127.0.0.1:PORT. Refuses to overwrite an
/// existing cluster.
pub fn init_with_service(dir: &Path, a: &InitArgs, smb: &SmbArgs) -> anyhow::Result<ClusterFile> {
    let smb_port = smb.port();
    if !(1..=holdfast_types::limits::NODES_MAX as u32).contains(&a.nodes) {
        bail!("--nodes must be 1 to {}", holdfast_types::limits::NODES_MAX);
    }
    if a.base_port as u32 + a.nodes > u16::MAX as u32 {
        bail!("--base-port {} leaves no room for {} nodes", a.base_port, a.nodes);
    }
    let memory = crate::local::parse_size(&a.memory)?;
    if dir.join(CLUSTER_FILE).exists() {
        bail!("{} already holds a cluster; remove it or use another --dir", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let secret = ClusterSecret::generate();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(SECRET_FILE))
        .with_context(|| format!("create {}", dir.join(SECRET_FILE).display()))?;
    writeln!(f, "{}", secret.to_hex())?;
    f.sync_all()?;
    let nodes: Vec<ClusterNode> =
        (1..=a.nodes as u64).map(|id| ClusterNode { id, addr: format!("127.0.0.1:{}", a.base_port as u64 + id) }).collect();
    for n in &nodes {
        let nd = node_dir(&dir, n.id);
        std::fs::create_dir_all(&nd)?;
        let cfg = NodeConfig {
            node_id: n.id,
            listen: n.addr.clone(),
            data_dir: nd.clone(),
            secret_file: dir.join(SECRET_FILE),
            memory_bytes_max: memory,
            members: nodes.iter().map(|m| PeerConfig { id: m.id, addr: m.addr.clone() }).collect(),
            // All nodes of a local cluster share this machine's cores; one
            // runtime thread each avoids cross-thread hand-offs (measured:
            // 512 B write p50 87 µs with 1 thread, 114 µs with 2).
            worker_threads: 1,
            heartbeat_ms: a.timing.heartbeat_ms,
            peer_down_ms: a.timing.peer_down_ms,
            write_timeout_ms: 1000,
            resync_bytes_per_s_max: 0,
            fault_injection: a.fault_injection,
            repair_delay_ms: a.repair_delay_ms,
            election_timeout_min_ms: a.timing.election_timeout_min_ms,
            election_timeout_max_ms: a.timing.election_timeout_max_ms,
            test_only_ack_without_replicas: false,
            cluster_file: Some(dir.join(CLUSTER_FILE)),
            fs_socket: None,
        };
        cfg.validate().map_err(|e| anyhow::anyhow!("node timing: {e}"))?;
        std::fs::write(node_config_path(&dir, n.id), toml::to_string(&cfg)?)?;
    }
    // The default CA share: one volume holding its namespace and data, with
    // its handle table on every host.
    let volumes = vec![VolumeDef { name: "share".into(), size: a.volume_size.clone(), handle_size: a.handle_size.clone(), replicas: 0 }];
    let shares = vec![ShareDef {
        name: "share".into(),
        volume: "share".into(),
        path: String::new(),
        ca: true,
        handle_timeout_ms: holdfast_types::share::HANDLE_TIMEOUT_MS_DEFAULT,
    }];
    holdfast_types::share::validate(&volumes, &shares).map_err(|e| anyhow::anyhow!(e))?;
    // Its address moves with the volume's owner (docs/services.md).
    let services: Vec<ServiceDef> = smb_port
        .map(|port| ServiceDef { name: "share".into(), listen: format!("127.0.0.1:{port}"), shares: vec!["share".into()] })
        .into_iter()
        .collect();
    let address_hook = match &smb.address_hook {
        Some(h) => Some(std::path::absolute(h).with_context(|| format!("--address-hook {h}"))?.display().to_string()),
        None => None,
    };
    let service_host = ServiceHostDef { address_hook, address_hook_timeout_ms: 0 };
    holdfast_types::share::validate_services(&shares, &services, &service_host).map_err(|e| anyhow::anyhow!(e))?;
    let file = ClusterFile { secret_file: SECRET_FILE.to_string(), nodes, base_port: a.base_port, volumes, shares, services, service_host };
    // Written last: its presence means the directory is complete.
    std::fs::write(dir.join(CLUSTER_FILE), toml::to_string(&file)?)?;
    Ok(file)
}
