//! The layout of a cluster directory:
//!
//! ```text
//! DIR/cluster.toml        node ids and addresses, volumes and shares (read
//!                         by every command and by the nodes' file servers)
//! DIR/tls/ca.pem          the cluster CA's certificate (host links, mTLS)
//! DIR/tls/ca.key          the CA's key, mode 0600: needed only to sign
//!                         certificates; an operator may keep it offline
//! DIR/tls/client.pem|key  the command-line clients' credential
//! DIR/node-N/node.toml    node N's daemon config
//! DIR/node-N/node.pem|key its credential, naming node-N.holdfast.invalid
//! DIR/node-N/node.log     its log, when started by `up`
//! DIR/node-N/raft/        its directory log, vote and snapshot
//! DIR/node-N/objects/     its persistent components
//! DIR/node-N/fs.sock      its file server's socket (mode 0600)
//! DIR/node-N-smbd/        what its smbd may use after dropping root
//!                         (mode 1770, group the smbd user's): fs.sock
//!                         (0660) and smbd-S.conns, its connection list
//! DIR/node-N/smbd-S.toml  config of service S's smbd while it runs there,
//! DIR/node-N/smbd-S.log   its log, and smbd-S.pid its process id
//! DIR/smb-users           SMB users (0600; 0640 with the smbd user's group
//!                         when written as root); DIR/smb-credentials the
//!                         default one's
//! DIR/holdfast-addr       the address takeover hook, when a service
//!                         address is not on loopback
//! ```

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use holdfast_client::cluster::{ClusterFile, ClusterNode, CA_CERT_FILE, CA_KEY_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE, CLUSTER_FILE, TLS_DIR};
use holdfast_node::config::{NodeConfig, PeerConfig};
use holdfast_types::share::{ServiceDef, ServiceHostDef, ShareDef, VolumeDef};
use holdfast_wire::pki::{self, ClusterCa, Subject};
use holdfast_wire::tls::TlsFiles;

use crate::{InitArgs, SmbArgs};

/// A node's credential, in its directory.
const NODE_CERT_FILE: &str = "node.pem";
const NODE_KEY_FILE: &str = "node.key";

pub fn node_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("node-{id}"))
}

pub fn node_config_path(dir: &Path, id: u64) -> PathBuf {
    node_dir(dir, id).join("node.toml")
}

/// Writes a new cluster into `dir` without an SMB service (benchmarks).
pub fn init(dir: &Path, a: &InitArgs) -> anyhow::Result<ClusterFile> {
    init_with_service(dir, a, &SmbArgs { smb_port: 4445, no_smb_service: true, address_hook: None, services: Vec::new() })
}

/// Writes a new cluster into `dir`; with `smb_port`, the default share gets
/// the SMB service `share` on 127.0.0.1:PORT. Refuses to overwrite an
/// existing cluster.
pub fn init_with_service(dir: &Path, a: &InitArgs, smb: &SmbArgs) -> anyhow::Result<ClusterFile> {
    let smb_port = smb.port();
    let nodes = node_addrs(a)?;
    let memory = crate::local::parse_size(&a.memory)?;
    if dir.join(CLUSTER_FILE).exists() {
        bail!("{} already holds a cluster; remove it or use another --dir", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let ca = ClusterCa::generate()?;
    std::fs::DirBuilder::new().mode(0o700).create(dir.join(TLS_DIR)).with_context(|| format!("create {}", dir.join(TLS_DIR).display()))?;
    pki::write_new(&dir.join(CA_CERT_FILE), ca.cert_pem().as_bytes(), 0o644)?;
    pki::write_new(&dir.join(CA_KEY_FILE), ca.key_pem().as_bytes(), 0o600)?;
    ca.issue(Subject::Client)?.write(&dir.join(CLIENT_CERT_FILE), &dir.join(CLIENT_KEY_FILE))?;
    for n in &nodes {
        let nd = node_dir(&dir, n.id);
        // A node's directory holds its copies of every volume, its Raft
        // log and its sockets: the node's user's alone.
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&nd)?;
        let tls = TlsFiles { ca: dir.join(CA_CERT_FILE), cert: nd.join(NODE_CERT_FILE), key: nd.join(NODE_KEY_FILE) };
        ca.issue(Subject::Node(n.id))?.write(&tls.cert, &tls.key)?;
        let cfg = NodeConfig {
            node_id: n.id,
            listen: n.addr.clone(),
            data_dir: nd.clone(),
            tls,
            memory_bytes_max: memory,
            members: nodes.iter().map(|m| PeerConfig { id: m.id, addr: m.addr.clone() }).collect(),
            // All nodes of a local cluster share this machine's cores; one
            // runtime thread each avoids cross-thread hand-offs (measured:
            // 512 B write p50 87 µs with 1 thread, 114 µs with 2). A node
            // on a host of its own gets two.
            worker_threads: if a.node_addrs.is_empty() { 1 } else { 2 },
            heartbeat_ms: a.timing.heartbeat_ms,
            peer_down_ms: a.timing.peer_down_ms,
            write_timeout_ms: 1000,
            resync_bytes_per_s_max: 0,
            disk_dirty_bytes_max: holdfast_node::config::default_disk_dirty_bytes_max(),
            disk_dirty_age_ms_max: holdfast_node::config::default_disk_dirty_age_ms_max(),
            fault_injection: a.fault_injection,
            repair_delay_ms: a.repair_delay_ms,
            election_timeout_min_ms: a.timing.election_timeout_min_ms,
            election_timeout_max_ms: a.timing.election_timeout_max_ms,
            test_only_ack_without_replicas: false,
            cluster_file: Some(dir.join(CLUSTER_FILE)),
            fs_socket: None,
            // Ends before the others would declare this host down, so a
            // silent death costs no extra wait (docs/leases.md).
            lease_ms: a.timing.peer_down_ms.saturating_sub(100).max(2 * a.timing.heartbeat_ms),
            test_only_serve_without_lease: false,
            test_only_accept_stale_epochs: false,
            test_only_ack_without_absent_commit: false,
            test_only_commit_active_before_promote: false,
        };
        cfg.validate().map_err(|e| anyhow::anyhow!("node timing: {e}"))?;
        std::fs::write(node_config_path(&dir, n.id), toml::to_string(&cfg)?)?;
    }
    // The default CA share: one volume holding its namespace and data, with
    // its handle table on every host.
    let volumes = vec![VolumeDef { name: "share".into(), size: a.volume_size.clone(), handle_size: a.handle_size.clone(), replicas: 0 }];
    let shares = vec![ShareDef::new("share", "share")];
    holdfast_types::share::validate(&volumes, &shares).map_err(|e| anyhow::anyhow!(e))?;
    // Its address moves with the volume's owner (docs/services.md).
    let services = services(smb, smb_port, &shares)?;
    let off_loopback = services.iter().any(|s| s.listen.parse::<std::net::SocketAddr>().is_ok_and(|a| !a.ip().is_loopback()));
    let address_hook = match &smb.address_hook {
        Some(h) => Some(std::path::absolute(h).with_context(|| format!("--address-hook {h}"))?.display().to_string()),
        // An address that must move between hosts' interfaces needs the
        // hook; the shipped one travels with the cluster directory.
        None if off_loopback => Some(write_address_hook(&dir)?.display().to_string()),
        None => None,
    };
    let service_host = ServiceHostDef { address_hook, ..Default::default() };
    holdfast_types::share::validate_services(&shares, &services, &service_host).map_err(|e| anyhow::anyhow!(e))?;
    let tls = TlsFiles { ca: CA_CERT_FILE.into(), cert: CLIENT_CERT_FILE.into(), key: CLIENT_KEY_FILE.into() };
    let file = ClusterFile { tls, nodes, base_port: a.base_port, volumes, shares, services, service_host };
    // Written last: its presence means the directory is complete.
    std::fs::write(dir.join(CLUSTER_FILE), toml::to_string(&file)?)?;
    Ok(file)
}

/// The nodes of the new cluster: `--node ID=IP:PORT` as given, or
/// `--nodes` on 127.0.0.1 from `--base-port` + 1.
fn node_addrs(a: &InitArgs) -> anyhow::Result<Vec<ClusterNode>> {
    let max = holdfast_types::limits::NODES_MAX;
    if a.node_addrs.is_empty() {
        if !(1..=max as u32).contains(&a.nodes) {
            bail!("--nodes must be 1 to {max}");
        }
        if a.base_port as u32 + a.nodes > u16::MAX as u32 {
            bail!("--base-port {} leaves no room for {} nodes", a.base_port, a.nodes);
        }
        return Ok((1..=a.nodes as u64).map(|id| ClusterNode { id, addr: format!("127.0.0.1:{}", a.base_port as u64 + id) }).collect());
    }
    if a.node_addrs.len() > max {
        bail!("{} --node given; a cluster has at most {max} nodes", a.node_addrs.len());
    }
    let mut nodes: Vec<ClusterNode> = Vec::new();
    for spec in &a.node_addrs {
        let (id, addr) = spec.split_once('=').with_context(|| format!("--node {spec:?}: expected ID=IP:PORT, e.g. 1=198.18.0.1:7101"))?;
        let id: u64 = id.trim().parse().ok().filter(|&i| (1..=max as u64).contains(&i)).with_context(|| format!("--node {spec:?}: the id must be 1 to {max}"))?;
        let sa: std::net::SocketAddr = addr.trim().parse().map_err(|_| anyhow::anyhow!("--node {spec:?}: {addr:?} is not IP:PORT"))?;
        if sa.ip().is_unspecified() || sa.port() == 0 {
            bail!("--node {spec:?}: peers and clients connect to this address; give a concrete IP and a non-zero port");
        }
        if let Some(other) = nodes.iter().find(|n| n.id == id || n.addr == sa.to_string()) {
            bail!("--node {spec:?}: node {} at {} already has that id or address", other.id, other.addr);
        }
        nodes.push(ClusterNode { id, addr: sa.to_string() });
    }
    nodes.sort_by_key(|n| n.id);
    Ok(nodes)
}

/// `--service NAME=IP:PORT` (each serving the share of its name), or the
/// default service `share` on 127.0.0.1:PORT, or none.
fn services(smb: &SmbArgs, smb_port: Option<u16>, shares: &[ShareDef]) -> anyhow::Result<Vec<ServiceDef>> {
    if smb.services.is_empty() {
        return Ok(smb_port
            .map(|port| ServiceDef { name: "share".into(), listen: format!("127.0.0.1:{port}"), shares: vec!["share".into()] })
            .into_iter()
            .collect());
    }
    smb.services
        .iter()
        .map(|spec| {
            let (name, listen) = spec.split_once('=').with_context(|| format!("--service {spec:?}: expected NAME=IP:PORT, e.g. share=198.18.0.50:445"))?;
            let share = shares
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name))
                .with_context(|| format!("--service {spec:?}: no share named {name:?} (a service serves the share of its name)"))?;
            let listen = holdfast_types::share::parse_service_addr(listen.trim()).map_err(|e| anyhow::anyhow!("--service {spec:?}: {e}"))?;
            Ok(ServiceDef { name: share.name.clone(), listen: listen.to_string(), shares: vec![share.name.clone()] })
        })
        .collect()
}

/// The shipped address takeover hook (`dist/holdfast-addr`), written into
/// the cluster directory so that it reaches every host with it.
const ADDRESS_HOOK: &str = include_str!("../../../dist/holdfast-addr");
pub const ADDRESS_HOOK_FILE: &str = "holdfast-addr";

fn write_address_hook(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(ADDRESS_HOOK_FILE);
    std::fs::write(&path, ADDRESS_HOOK).with_context(|| format!("write {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}
