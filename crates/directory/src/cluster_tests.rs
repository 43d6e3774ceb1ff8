//! In-process clusters: three `Directory`s whose transport calls each
//! other's `handle_rpc` directly, plus openraft's own storage test suite.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use holdfast_types::{LogIndex, NodeId, ObjectKind};

use crate::log_store::LogStore;
use crate::raft_types::{StorageError, TypeConfig};
use crate::state_machine::StateMachine;
use crate::test_util::TempDir;
use crate::{
    ApplyHook, ClusterState, Command, CommandResult, Directory, DirectoryConfig, DirectoryError, RaftTransport,
};

const WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct RecordingHook {
    pub applied: Mutex<Vec<(LogIndex, Command, CommandResult)>>,
    pub snapshots: AtomicUsize,
    /// Calls where the state handed to the hook was not the post-apply state.
    pub wrong_state: AtomicUsize,
}

impl RecordingHook {
    fn commands(&self) -> Vec<(LogIndex, Command, CommandResult)> {
        self.applied.lock().unwrap().clone()
    }
}

impl ApplyHook for RecordingHook {
    fn applied(&self, index: LogIndex, cmd: &Command, result: &CommandResult, state: &ClusterState) {
        if state.applied_index != index {
            self.wrong_state.fetch_add(1, Ordering::SeqCst);
        }
        self.applied.lock().unwrap().push((index, cmd.clone(), result.clone()));
    }

    fn snapshot_installed(&self, _state: &ClusterState) {
        self.snapshots.fetch_add(1, Ordering::SeqCst);
    }
}

type Peers = Arc<RwLock<BTreeMap<NodeId, Directory>>>;

struct MapTransport {
    peers: Peers,
}

impl RaftTransport for MapTransport {
    fn call(&self, target: NodeId, body: Bytes) -> Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send>> {
        let peer = self.peers.read().unwrap().get(&target).cloned();
        Box::pin(async move {
            match peer {
                Some(d) => Ok(d.handle_rpc(body).await),
                None => Err(format!("node {target} is not running")),
            }
        })
    }
}

fn members() -> BTreeMap<NodeId, String> {
    (1..=3).map(|i| (i, format!("127.0.0.1:{}", 7100 + i))).collect()
}

struct Node {
    dir: Directory,
    hook: Arc<RecordingHook>,
}

async fn start_all(dirs: &[TempDir], peers: &Peers) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let id = i as NodeId + 1;
        let mut cfg = DirectoryConfig::new(id, d.path(), members());
        cfg.heartbeat_ms = 50;
        cfg.election_timeout_min_ms = 300;
        cfg.election_timeout_max_ms = 600;
        let hook = Arc::new(RecordingHook::default());
        let dir = Directory::start(cfg, Arc::new(MapTransport { peers: peers.clone() }), hook.clone())
            .await
            .expect("start directory");
        peers.write().unwrap().insert(id, dir.clone());
        nodes.push(Node { dir, hook });
    }
    nodes
}

async fn stop_all(nodes: Vec<Node>, peers: &Peers) {
    peers.write().unwrap().clear();
    for n in nodes {
        n.dir.shutdown().await;
    }
}

/// Waits until every node names the same leader.
async fn wait_leader(nodes: &[Node]) -> NodeId {
    let deadline = Instant::now() + WAIT;
    loop {
        let leaders: Vec<Option<NodeId>> = nodes.iter().map(|n| n.dir.leader()).collect();
        if let Some(l) = leaders[0] {
            if leaders.iter().all(|&x| x == Some(l)) {
                return l;
            }
        }
        assert!(Instant::now() < deadline, "no agreed leader: {leaders:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn booted(node: NodeId) -> Command {
    Command::NodeBooted {
        node,
        addr: format!("127.0.0.1:{}", 7100 + node),
        memory_bytes_max: 1 << 30,
        boot_id: 1000 + node,
        persistent_present: vec![],
    }
}

fn create(name: &str) -> Command {
    Command::CreateObject { name: name.into(), kind: ObjectKind::Memory, size_bytes: 1 << 20, replicas: 3 }
}

async fn wait_all_applied(nodes: &[Node], index: LogIndex) {
    for n in nodes {
        n.dir.wait_applied(index, WAIT).await.expect("wait_applied");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_replicate_restart_and_snapshot() {
    let dirs: Vec<TempDir> = (1..=3).map(|i| TempDir::new(&format!("cluster-n{i}"))).collect();
    let peers: Peers = Arc::default();

    // --- first boot: elect, replicate, converge.
    let nodes = start_all(&dirs, &peers).await;
    let leader = wait_leader(&nodes).await;
    let lead = &nodes[leader as usize - 1].dir;
    let mut proposed = Vec::new();
    for n in 1..=3 {
        let (index, result) = lead.propose(booted(n)).await.expect("propose NodeBooted");
        assert_eq!(result, CommandResult::Ok);
        proposed.push((index, booted(n), result));
    }
    let (create_index, created) = lead.propose(create("vol-a")).await.expect("propose CreateObject");
    let CommandResult::Created { object, .. } = created.clone() else { panic!("not created: {created:?}") };
    proposed.push((create_index, create("vol-a"), created));
    assert!(proposed.windows(2).all(|w| w[0].0 < w[1].0), "indexes increase: {proposed:?}");

    wait_all_applied(&nodes, create_index).await;
    let expected = nodes[0].dir.state();
    assert_eq!(expected.applied_index, create_index);
    assert_eq!(expected.nodes.len(), 3);
    assert_eq!(expected.objects[&object].name, "vol-a");
    for n in &nodes {
        assert_eq!(*n.dir.state(), *expected, "states converge");
        assert_eq!(n.hook.commands(), proposed, "hook saw every command with its index and result");
        assert_eq!(n.hook.wrong_state.load(Ordering::SeqCst), 0);
        assert!(*n.dir.applied_index().borrow() >= create_index);
        assert!(n.dir.term() >= 1);
    }

    // A follower refuses and names the leader.
    // Index leader % 3 holds node (leader % 3) + 1, never the leader itself.
    let follower = &nodes[(leader as usize) % 3].dir;
    match follower.propose(create("vol-b")).await {
        Err(DirectoryError::NotLeader { leader: Some(l) }) => assert_eq!(l, leader),
        other => panic!("follower propose gave {other:?}"),
    }

    // Garbage on the RPC path is answered, not fatal.
    let reply = lead.handle_rpc(Bytes::from_static(b"\xff\x00not json")).await;
    let decoded: crate::rpc::RpcReply<()> = crate::rpc::decode_reply(&reply).expect("reply decodes");
    assert!(matches!(decoded, Err(crate::rpc::RpcFailure::BadRequest(_))), "{decoded:?}");
    assert!(lead.wait_applied(create_index + 1000, Duration::from_millis(50)).await.is_err());

    // --- whole-cluster restart from the same data dirs: the log replays.
    stop_all(nodes, &peers).await;
    let nodes = start_all(&dirs, &peers).await;
    let leader = wait_leader(&nodes).await;
    wait_all_applied(&nodes, create_index).await;
    for n in &nodes {
        let s = n.dir.state();
        assert!(s.objects.contains_key(&object), "object back after restart");
        assert_eq!(n.hook.commands()[..proposed.len()], proposed[..], "replay re-ran the hook");
    }
    let lead = &nodes[leader as usize - 1].dir;
    let (b_index, b) = lead.propose(create("vol-b")).await.expect("propose after restart");
    assert!(matches!(b, CommandResult::Created { .. }), "{b:?}");
    assert!(b_index > create_index);
    wait_all_applied(&nodes, b_index).await;
    let expected = lead.state();
    assert_eq!(expected.objects.len(), 2);
    for n in &nodes {
        assert_eq!(*n.dir.state(), *expected);
    }

    // --- snapshot and purge everywhere, then restart with node 3 wiped:
    // nodes 1 and 2 come back from their snapshot files, node 3 must be
    // sent the leader's snapshot because the log it needs is gone.
    for n in &nodes {
        let raft = n.dir.raft();
        raft.trigger().snapshot().await.expect("trigger snapshot");
        let deadline = Instant::now() + WAIT;
        while raft.metrics().borrow().snapshot.map(|l| l.index) < Some(b_index) {
            assert!(Instant::now() < deadline, "snapshot not built");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        raft.trigger().purge_log(b_index).await.expect("trigger purge");
        while raft.metrics().borrow().purged.map(|l| l.index) < Some(b_index) {
            assert!(Instant::now() < deadline, "log not purged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(dirs[0].path().join("raft").join(crate::state_machine::SNAPSHOT_FILE).exists());
    }
    stop_all(nodes, &peers).await;
    std::fs::remove_dir_all(dirs[2].path()).unwrap();
    std::fs::create_dir_all(dirs[2].path()).unwrap();

    let nodes = start_all(&dirs, &peers).await;
    for n in &nodes[..2] {
        // Loaded from disk before raft started, so already visible.
        assert_eq!(n.hook.snapshots.load(Ordering::SeqCst), 1);
        assert_eq!(*n.dir.state(), *expected);
    }
    let _ = wait_leader(&nodes).await;
    wait_all_applied(&nodes, b_index).await;
    for n in &nodes {
        assert_eq!(*n.dir.state(), *expected, "state after snapshot restart");
    }
    assert!(nodes[2].hook.snapshots.load(Ordering::SeqCst) >= 1, "wiped node received a snapshot");
    // The metrics channel can trail the applied state by a moment on a
    // loaded machine: wait for it rather than read it once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while nodes[2].dir.raft().metrics().borrow().snapshot.map(|l| l.index) < Some(b_index) {
        assert!(tokio::time::Instant::now() < deadline, "wiped node holds the snapshot");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dirs[2].path().join("raft").join(crate::state_machine::SNAPSHOT_FILE).exists());

    // And the cluster keeps working on top of the snapshot.
    let leader = wait_leader(&nodes).await;
    let (c_index, c) = nodes[leader as usize - 1].dir.propose(create("vol-c")).await.expect("propose");
    assert!(matches!(c, CommandResult::Created { .. }), "{c:?}");
    wait_all_applied(&nodes, c_index).await;
    let s = nodes[0].dir.state();
    for n in &nodes {
        assert_eq!(*n.dir.state(), *s);
        assert!(n.dir.state().object_by_name("vol-c").is_some());
    }
    stop_all(nodes, &peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_rejects_bad_membership() {
    let dir = TempDir::new("bad-members");
    let peers: Peers = Arc::default();
    let hook = Arc::new(RecordingHook::default());
    let t = || Arc::new(MapTransport { peers: peers.clone() });
    let cfg = DirectoryConfig::new(9, dir.path(), members());
    assert!(matches!(Directory::start(cfg, t(), hook.clone()).await, Err(DirectoryError::Raft(_))));
    let cfg = DirectoryConfig::new(1, dir.path(), BTreeMap::new());
    assert!(matches!(Directory::start(cfg, t(), hook.clone()).await, Err(DirectoryError::Raft(_))));
    let mut cfg = DirectoryConfig::new(1, dir.path(), members());
    cfg.election_timeout_min_ms = 50;
    cfg.heartbeat_ms = 100;
    assert!(matches!(Directory::start(cfg, t(), hook).await, Err(DirectoryError::Raft(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_log_refuses_to_start_with_storage_error() {
    let dir = TempDir::new("corrupt-start");
    let raft_dir = dir.path().join("raft");
    std::fs::create_dir_all(&raft_dir).unwrap();
    std::fs::write(raft_dir.join(crate::log_store::LOG_FILE), b"garbage!garbage!").unwrap();
    let peers: Peers = Arc::default();
    let cfg = DirectoryConfig::new(1, dir.path(), members());
    match Directory::start(cfg, Arc::new(MapTransport { peers }), Arc::new(RecordingHook::default())).await {
        Err(DirectoryError::Storage(msg)) => assert!(msg.contains("offset 0"), "{msg}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started on a corrupt log"),
    }
}

struct SuiteBuilder;

impl openraft::testing::StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for SuiteBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = TempDir::new("suite");
        let log = LogStore::open(dir.path()).expect("open log store");
        let (sm, _published) =
            StateMachine::open(dir.path(), Arc::new(RecordingHook::default())).expect("open state machine");
        Ok((dir, log, sm))
    }
}

/// Openraft's own conformance tests for log stores and state machines.
#[test]
fn openraft_storage_suite() {
    openraft::testing::Suite::test_all(SuiteBuilder).expect("storage suite");
}
