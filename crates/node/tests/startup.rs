//! A node given a bad configuration says why and starts nothing: no
//! listener, no store, no directory member (Raft). Issue 15: the cluster
//! file used to be read only after Raft had started, so a bad share
//! definition left a member that joined the cluster and then died.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use holdfast_node::{run_node, NodeConfig};
use holdfast_wire::pki::{self, ClusterCa, Subject};
use holdfast_wire::net::TokioNet;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hf-node-startup-{name}-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A free loopback address (bound, then released).
fn free_addr() -> String {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string()
}

/// A valid single-node config under `dir`, with `extra` keys added.
fn config(dir: &Path, addr: &str, extra: &str) -> NodeConfig {
    let ca = ClusterCa::generate().unwrap();
    let (ca_file, cert, key) = (dir.join("ca.pem"), dir.join("node.pem"), dir.join("node.key"));
    if !ca_file.exists() {
        pki::write_new(&ca_file, ca.cert_pem().as_bytes(), 0o644).unwrap();
        ca.issue(Subject::Node(1)).unwrap().write(&cert, &key).unwrap();
    }
    let text = format!(
        "node_id = 1\nlisten = {addr:?}\ndata_dir = {:?}\n{extra}\n[tls]\nca = {ca_file:?}\ncert = {cert:?}\nkey = {key:?}\n[[members]]\nid = 1\naddr = {addr:?}\n",
        dir.join("data"),
    );
    toml::from_str(&text).unwrap()
}

/// Runs the node and expects it to refuse at once; returns its error.
async fn refused(cfg: NodeConfig) -> String {
    let run = run_node(cfg, Arc::new(TokioNet), std::future::pending());
    match tokio::time::timeout(Duration::from_secs(20), run).await {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => panic!("the node ran with a bad config"),
        Err(_) => panic!("the node is running with a bad config"),
    }
}

fn assert_nothing_started(dir: &Path, addr: &str) {
    assert!(!dir.join("data").exists(), "the node opened its store and started its Raft member before it refused");
    std::net::TcpListener::bind(addr).expect("the node's address is still bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cluster_file_is_refused_before_anything_starts() {
    let dir = scratch("cluster-file");
    // A share on a volume that does not exist.
    let cluster = dir.join("cluster.toml");
    std::fs::write(&cluster, "[[shares]]\nname = \"share\"\nvolume = \"missing\"\n").unwrap();
    let addr = free_addr();
    let cfg = config(&dir, &addr, &format!("cluster_file = {cluster:?}"));
    let e = refused(cfg).await;
    assert!(e.contains("cluster.toml") && e.contains("missing"), "unclear error: {e}");
    assert_nothing_started(&dir, &addr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_node_config_is_refused_before_anything_starts() {
    // `NodeConfig::load` checks a file; a config built in memory (the
    // simulator's, a daemon embedding the node) is checked by `run_node`.
    let dir = scratch("node-config");
    let addr = free_addr();
    let cfg = config(&dir, &addr, "heartbeat_ms = 100\nlease_ms = 50");
    let e = refused(cfg).await;
    assert!(e.contains("lease_ms"), "unclear error: {e}");
    assert_nothing_started(&dir, &addr);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The durability-breaking switches exist only in test builds: a
/// production node given one refuses to start and names the key.
#[cfg(not(feature = "test-switches"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_build_refuses_the_test_only_switches() {
    for key in [
        "test_only_ack_without_replicas",
        "test_only_serve_without_lease",
        "test_only_accept_stale_epochs",
        "test_only_ack_without_absent_commit",
        "test_only_commit_active_before_promote",
    ] {
        let dir = scratch("switch");
        let addr = free_addr();
        let cfg = config(&dir, &addr, &format!("{key} = true"));
        let e = refused(cfg).await;
        assert!(e.contains(key) && e.contains("test"), "the refusal does not name {key}: {e}");
        assert_nothing_started(&dir, &addr);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// With the feature (the simulator's build) the switches are accepted.
#[cfg(feature = "test-switches")]
#[test]
fn a_test_build_accepts_the_test_only_switches() {
    let dir = scratch("switch-on");
    let cfg = config(&dir, &free_addr(), "test_only_ack_without_replicas = true\ntest_only_serve_without_lease = true\ntest_only_accept_stale_epochs = true\ntest_only_ack_without_absent_commit = true\ntest_only_commit_active_before_promote = true");
    cfg.validate().expect("a test build takes the switches");
    std::fs::remove_dir_all(&dir).unwrap();
}
