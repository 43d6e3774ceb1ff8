//! Files and configuration of one simulated cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;

use holdfast_node::config::{NodeConfig, PeerConfig};
use holdfast_wire::pki::{ClusterCa, Subject};
use holdfast_wire::tls::{Credential, TlsFiles};

use crate::SimOptions;

pub const PORT: u16 = 7000;
/// Memory object the workload writes: small, so rebuilds are quick.
pub const OBJECT_BYTES: u64 = 1 << 20;
pub const OBJECT_NAME: &str = "sim";

pub fn host_name(id: u32) -> String {
    format!("n{id}")
}

pub struct Layout {
    pub dir: PathBuf,
    /// The workload's credential, from the simulated cluster's own CA.
    pub credential: Credential,
    nodes: u32,
    break_durability: bool,
    break_lease: bool,
    break_fencing: bool,
    break_absent_commit: bool,
    break_promotion: bool,
}

pub struct ClientInfo {
    pub credential: Credential,
    pub nodes: BTreeMap<u64, String>,
}

const CA_FILE: &str = "ca.pem";

fn node_tls(dir: &std::path::Path, id: u32) -> TlsFiles {
    let host = dir.join(host_name(id));
    TlsFiles { ca: dir.join(CA_FILE), cert: host.join("node.pem"), key: host.join("node.key") }
}

impl Layout {
    pub fn create(opts: &SimOptions) -> std::io::Result<Layout> {
        let dir = std::env::temp_dir().join(format!("holdfast-sim-{}-{}", std::process::id(), opts.seed));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        // The real TLS path, over the simulated network: every link of a
        // run is mutually authenticated as in production.
        let ca = ClusterCa::generate().map_err(std::io::Error::other)?;
        std::fs::write(dir.join(CA_FILE), ca.cert_pem())?;
        for id in 1..=opts.nodes {
            std::fs::create_dir_all(dir.join(host_name(id)))?;
            let files = node_tls(&dir, id);
            ca.issue(Subject::Node(id as u64)).map_err(std::io::Error::other)?.write(&files.cert, &files.key).map_err(std::io::Error::other)?;
        }
        let client = ca.issue(Subject::Client).map_err(std::io::Error::other)?;
        let credential = Credential::from_pem(ca.cert_pem().as_bytes(), client.cert_pem.as_bytes(), client.key_pem.as_bytes())
            .map_err(std::io::Error::other)?;
        Ok(Layout {
            dir,
            credential,
            nodes: opts.nodes,
            break_durability: opts.break_durability,
            break_lease: opts.break_lease,
            break_fencing: opts.break_fencing,
            break_absent_commit: opts.break_absent_commit,
            break_promotion: opts.break_promotion,
        })
    }

    pub fn node_config(&self, id: u32) -> NodeConfig {
        NodeConfig {
            node_id: id as u64,
            listen: format!("0.0.0.0:{PORT}"),
            data_dir: self.dir.join(host_name(id)),
            tls: node_tls(&self.dir, id),
            memory_bytes_max: 256 << 20,
            members: (1..=self.nodes).map(|n| PeerConfig { id: n as u64, addr: format!("{}:{PORT}", host_name(n)) }).collect(),
            worker_threads: 1,
            heartbeat_ms: 100,
            peer_down_ms: 600,
            write_timeout_ms: 1000,
            resync_bytes_per_s_max: 0,
            // Short enough that background syncs run within the fault
            // phase, between acknowledged writes.
            disk_dirty_bytes_max: holdfast_node::config::DISK_DIRTY_BYTES_MIN,
            disk_dirty_age_ms_max: 300,
            // A one-millisecond range makes the timeout fixed: openraft draws
            // it from a thread RNG the seed does not control.
            election_timeout_min_ms: 400,
            election_timeout_max_ms: 401,
            test_only_ack_without_replicas: self.break_durability,
            fault_injection: false,
            repair_delay_ms: 60 * 60 * 1000,
            cluster_file: None,
            fs_socket: None,
            lease_ms: 500,
            test_only_serve_without_lease: self.break_lease,
            test_only_accept_stale_epochs: self.break_fencing,
            test_only_ack_without_absent_commit: self.break_absent_commit,
            test_only_commit_active_before_promote: self.break_promotion,
        }
    }

    pub fn client_info(&self) -> ClientInfo {
        ClientInfo {
            credential: self.credential.clone(),
            nodes: (1..=self.nodes).map(|n| (n as u64, format!("{}:{PORT}", host_name(n)))).collect(),
        }
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
