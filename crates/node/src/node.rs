//! Start-up and shutdown of the node daemon.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use holdfast_directory::{Command, Directory, DirectoryConfig};
use holdfast_file_server::listener::SocketAccess;
use holdfast_file_server::system_user::SystemUser;
use holdfast_local_store::component::DiskLag;
use holdfast_local_store::LocalStore;
use holdfast_replication::{Replicator, ReplicatorConfig};
use holdfast_types::limits::CLIENT_CONNS_MAX;
use holdfast_types::{Epoch, ErrorCode, HoldfastError, NodeId, ObjectId};
use holdfast_wire::auth;
use holdfast_wire::tls::Credential;
use holdfast_wire::msg::Role;
use holdfast_wire::Conn;
use rand::RngCore;
use holdfast_wire::net::{Net, NetListener, TokioNet};
use tokio::sync::Semaphore;

use crate::config::NodeConfig;
use crate::hook::NodeHook;
use crate::peers::Peers;
use crate::transport::{NodeDirOps, PeerLink};

/// Handshakes in progress at once; bounds what unauthenticated peers cost.
/// Connections from a member's host draw on a pool of their own, so a flood
/// of handshakes from elsewhere cannot keep the cluster's nodes out; each
/// handshake ends within `auth::HANDSHAKE_TIMEOUT_MS`.
const HANDSHAKES_MAX: usize = 64;
const MEMBER_HANDSHAKES_MAX: usize = 16;

/// The host part of "host:port" (an IPv6 host keeps its brackets).
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("TLS credential: {0}")]
    Credential(#[from] holdfast_wire::tls::CredentialError),
    #[error("local store: {0}")]
    Store(#[from] holdfast_local_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("directory: {0}")]
    Directory(#[from] holdfast_directory::DirectoryError),
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    #[error("[service_host] smbd_user: {0}")]
    SmbdUser(#[from] holdfast_file_server::system_user::SystemUserError),
    #[error("{path}: {source}")]
    SmbdDir { path: String, source: std::io::Error },
}

pub struct NodeInner {
    pub id: NodeId,
    pub cfg: NodeConfig,
    pub credential: Credential,
    pub store: Arc<LocalStore>,
    pub peers: Arc<Peers>,
    pub replicator: Arc<Replicator<PeerLink, NodeDirOps>>,
    pub directory: OnceLock<Directory>,
    pub hook: Arc<NodeHook>,
    pub activating: Mutex<HashSet<(ObjectId, Epoch)>>,
    pub client_conns: AtomicUsize,
    pub me_weak: OnceLock<std::sync::Weak<NodeInner>>,
    /// Rebuilds this node is driving, by (object, target node).
    pub resyncing: Mutex<HashSet<(ObjectId, NodeId)>>,
    /// Failure-handling proposals already made, by (object, epoch).
    pub failovers: Mutex<HashSet<(ObjectId, Epoch)>>,
    pub started: tokio::time::Instant,
    /// Re-protections already proposed, by (object, epoch, replaced node).
    pub reprotections: Mutex<HashSet<(ObjectId, Epoch, NodeId)>>,
    /// On the leader: when each node was first seen down (for re-protection).
    pub down_since: Mutex<HashMap<NodeId, tokio::time::Instant>>,
    /// Notified by a `Shutdown` control request (a planned stop).
    pub shutdown: tokio::sync::Notify,
    /// This host's lease; nothing is served without it (`lease.rs`).
    pub lease: crate::lease::Lease,
    /// As directory leader: the leases it granted.
    pub grants: Mutex<crate::lease::Grants>,
    /// Per service running on another host: its clients' connections, for
    /// tickle ACKs if this host takes it over (`tickle.rs`).
    pub tickles: Mutex<HashMap<String, Vec<String>>>,
    /// Bumped whenever what this host may serve grows: a lease taken, an
    /// object activated here, a volume mounted. The mount loop and the
    /// service supervisor wait on it between their ticks, so a takeover
    /// runs its steps back to back instead of one per tick.
    pub serving_changed: tokio::sync::watch::Sender<u64>,
}

impl NodeInner {
    /// See `serving_changed`.
    pub fn serving_grew(&self) {
        self.serving_changed.send_modify(|n| *n += 1);
    }

    pub fn dir(&self) -> Result<&Directory, HoldfastError> {
        self.directory.get().ok_or_else(|| HoldfastError::new(ErrorCode::NotReady, format!("node {} is starting", self.id)))
    }
}

/// Runs a node daemon on real TCP until SIGTERM or Ctrl-C.
pub fn run(cfg: NodeConfig) -> Result<(), NodeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.worker_threads)
        .enable_all()
        .thread_name(format!("node-{}", cfg.node_id))
        .build()
        .map_err(NodeError::Runtime)?;
    rt.block_on(run_node(cfg, Arc::new(TokioNet), wait_for_signal()))
}

/// Keeps every persistent component's disk within `dirty_age_max` of its
/// RAM: checks four times per period and syncs those whose oldest unsynced
/// write is that old (the byte bound is enforced by the writes themselves).
async fn disk_catch_up_loop(store: Arc<LocalStore>, dirty_age_max: Duration) {
    let mut tick = tokio::time::interval((dirty_age_max / 4).max(Duration::from_millis(5)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for c in store.sync_due_by_age(std::time::Instant::now()) {
            let object = c.object;
            if let Err(e) = holdfast_replication::engine::sync_component(c).await {
                tracing::error!(object, error = %e, "background sync of a component failed; its disk lags its RAM");
            }
        }
    }
}

/// The user this host's smbd processes drop to, when the node runs as
/// root and serves shares (else None: smbd then runs as the node's user).
/// Looked up before anything starts, so a host without the user fails at
/// once, naming it and how to create it; a node with no `[[services]]`
/// (smbd started by hand) only warns.
fn smbd_user(shares: Option<&crate::config::SharesSection>) -> Result<Option<SystemUser>, NodeError> {
    let Some(section) = shares.filter(|_| holdfast_file_server::system_user::is_root()) else { return Ok(None) };
    match holdfast_file_server::system_user::lookup(section.service_host.smbd_user()) {
        Ok(u) => Ok(Some(u)),
        Err(e) if section.services.is_empty() => {
            tracing::warn!(error = %e, "no smbd user: an smbd started by hand as root cannot reach this file server");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates the smbd directory ([`NodeConfig::smbd_dir`]). With an smbd
/// user: owner the node's user, group the smbd user's, mode 1770 (smbd
/// writes its connection list there; the sticky bit keeps it from
/// removing the socket). Without: 0700.
fn prepare_smbd_dir(dir: &std::path::Path, user: Option<&SystemUser>) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.is_dir() {
        std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    }
    let mode = match user {
        Some(u) => {
            std::os::unix::fs::chown(dir, None, Some(u.gid))?;
            0o1770
        }
        None => 0o700,
    };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// Runs a node on `net` until `shutdown` completes. The simulator calls
/// this directly, one per simulated host.
pub async fn run_node(cfg: NodeConfig, net: Arc<dyn Net>, shutdown: impl std::future::Future<Output = ()>) -> Result<(), NodeError> {
    let me = cfg.node_id;
    // Before anything starts (config.rs, `preflight`).
    let shares = cfg.preflight()?;
    let smbd_user = smbd_user(shares.as_ref())?;
    // Where smbd finds the file server; made before anything starts, so
    // that a failure here leaves no half-started member.
    let smbd_dir = cfg.smbd_dir();
    if shares.is_some() {
        prepare_smbd_dir(&smbd_dir, smbd_user.as_ref()).map_err(|source| NodeError::SmbdDir { path: smbd_dir.display().to_string(), source })?;
    }
    if cfg.test_only_ack_without_replicas {
        tracing::error!("test_only_ack_without_replicas is set: this node BREAKS durability on purpose");
    }
    if cfg.test_only_serve_without_lease {
        tracing::error!("test_only_serve_without_lease is set: this node BREAKS the lease rule on purpose");
    }
    if cfg.test_only_accept_stale_epochs {
        tracing::error!("test_only_accept_stale_epochs is set: this node BREAKS fencing on purpose");
    }
    if cfg.test_only_ack_without_absent_commit {
        tracing::error!("test_only_ack_without_absent_commit is set: this node BREAKS durability on purpose");
    }
    if cfg.test_only_commit_active_before_promote {
        tracing::error!("test_only_commit_active_before_promote is set: this node BREAKS durability on purpose");
    }
    let credential = Credential::load(&cfg.tls)?;
    let lag = DiskLag { dirty_bytes_max: cfg.disk_dirty_bytes_max, dirty_age_max: Duration::from_millis(cfg.disk_dirty_age_ms_max) };
    let store = LocalStore::open(&cfg.data_dir, cfg.memory_bytes_max)?.with_disk_lag(lag);
    #[cfg(feature = "test-switches")]
    let store = store.with_test_only_accept_stale_epochs(cfg.test_only_accept_stale_epochs);
    let store = Arc::new(store);
    let listener = net.bind(&cfg.listen).await.map_err(|source| NodeError::Listen { addr: cfg.listen.clone(), source })?;
    let addrs: HashMap<NodeId, String> = cfg.members.iter().map(|m| (m.id, m.addr.clone())).collect();
    let peers = Peers::new(me, net.clone(), credential.clone(), addrs);
    let link = Arc::new(PeerLink { peers: peers.clone() });
    let dir_ops = Arc::new(NodeDirOps::default());
    let rcfg = ReplicatorConfig {
        write_timeout: Duration::from_millis(cfg.write_timeout_ms),
        resync_bytes_per_s_max: cfg.resync_bytes_per_s_max,
        #[cfg(feature = "test-switches")]
        test_only_ack_without_replicas: cfg.test_only_ack_without_replicas,
        #[cfg(feature = "test-switches")]
        test_only_ack_without_absent_commit: cfg.test_only_ack_without_absent_commit,
        #[cfg(feature = "test-switches")]
        test_only_commit_active_before_promote: cfg.test_only_commit_active_before_promote,
        ..ReplicatorConfig::default()
    };
    let replicator = Arc::new(Replicator::new(me, store.clone(), link.clone(), dir_ops.clone(), rcfg));
    let boot_id = rand::rngs::OsRng.next_u64() | 1;
    let hook = Arc::new(NodeHook::new(me, boot_id, store.clone()));
    let inner = Arc::new(NodeInner {
        id: me,
        cfg: cfg.clone(),
        credential,
        store: store.clone(),
        peers: peers.clone(),
        replicator,
        directory: OnceLock::new(),
        hook: hook.clone(),
        activating: Mutex::new(HashSet::new()),
        client_conns: AtomicUsize::new(0),
        me_weak: OnceLock::new(),
        resyncing: Mutex::new(HashSet::new()),
        failovers: Mutex::new(HashSet::new()),
        started: tokio::time::Instant::now(),
        down_since: Mutex::new(HashMap::new()),
        reprotections: Mutex::new(HashSet::new()),
        shutdown: tokio::sync::Notify::new(),
        lease: Default::default(),
        grants: Default::default(),
        tickles: Mutex::new(HashMap::new()),
        serving_changed: tokio::sync::watch::Sender::new(0),
    });
    let _ = inner.me_weak.set(Arc::downgrade(&inner));
    let _ = dir_ops.node.set(Arc::downgrade(&inner));
    peers.set_handler(inner.clone());
    tokio::spawn(accept_loop(listener, inner.clone()));
    tokio::spawn(peers.clone().maintain(Duration::from_millis(cfg.heartbeat_ms), Duration::from_millis(cfg.peer_down_ms)));
    tracing::info!(node = me, listen = %cfg.listen, boot_id, "node starting");

    let members: BTreeMap<NodeId, String> = cfg.members.iter().map(|m| (m.id, m.addr.clone())).collect();
    let mut dcfg = DirectoryConfig::new(me, cfg.data_dir.clone(), members);
    dcfg.election_timeout_min_ms = cfg.election_timeout_min_ms;
    dcfg.election_timeout_max_ms = cfg.election_timeout_max_ms;
    let dir = Directory::start(dcfg, link.clone(), hook.clone()).await?;
    let _ = inner.directory.set(dir.clone());

    // Announce this incarnation; until it is applied the node is not live.
    // The address peers and clients use, which `listen` may not be (0.0.0.0).
    let advertised = cfg.members.iter().find(|m| m.id == me).map(|m| m.addr.clone()).unwrap_or_else(|| cfg.listen.clone());
    let boot = Command::NodeBooted {
        node: me,
        addr: advertised,
        memory_bytes_max: cfg.memory_bytes_max,
        boot_id,
        persistent_present: store.persistent_on_disk(),
    };
    let booter = inner.clone();
    tokio::spawn(async move {
        loop {
            match booter.propose(boot.clone()).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::info!(error = %e, "announcing boot to the directory; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    tokio::spawn(crate::reconcile::reconcile_loop(inner.clone()));
    tokio::spawn(crate::lease::lease_loop(inner.clone()));
    tokio::spawn(disk_catch_up_loop(store.clone(), lag.dirty_age_max));
    let services_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut services = None;
    if let (Some(file), Some(section)) = (&cfg.cluster_file, shares) {
        let fs = holdfast_file_server::FileServer::new(section.volumes.clone(), section.shares.clone(), cfg.peer_down_ms);
        fs.set_gate(Arc::new(crate::lease::NodeGate(Arc::downgrade(&inner))));
        // A volume whose journal write failed remounts by itself.
        fs.spawn_recovery();
        if !section.services.is_empty() {
            let sup = crate::services::spawn(inner.clone(), fs.clone(), section, file, smbd_user.clone(), services_stop.clone())
                .map_err(NodeError::Runtime)?;
            services = Some(sup);
        }
        let smbd_access = SocketAccess { smbd: smbd_user.as_ref().map(|u| (u.uid, u.gid)) };
        // The node's own (tools, tests), and smbd's in the directory it may
        // enter.
        for (socket, access) in [(cfg.fs_socket_path(), SocketAccess::default()), (smbd_dir.join(crate::config::SMBD_FS_SOCKET), smbd_access)] {
            let server = fs.clone();
            tokio::spawn(async move {
                if let Err(e) = holdfast_file_server::listener::serve_unix(server, &socket, access).await {
                    tracing::error!(socket = %socket.display(), error = %e, "file-server socket failed");
                }
            });
        }
        tokio::spawn(crate::fileserve::file_server_loop(inner.clone(), fs.clone()));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lag.dirty_age_max);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                fs.flush_volumes().await;
            }
        });
    }

    tokio::select! {
        _ = shutdown => {}
        // Leaves time for the `Done` reply to reach the asker.
        _ = async { inner.shutdown.notified().await; tokio::time::sleep(Duration::from_millis(100)).await } => {}
    }
    tracing::info!(node = me, "shutting down");
    if let Some(sup) = services {
        // Stops every smbd child (bounded by the supervisor's stop grace).
        services_stop.store(true, Ordering::Release);
        let _ = tokio::task::spawn_blocking(move || sup.join()).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(3), dir.shutdown()).await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn accept_loop(mut listener: Box<dyn NetListener>, inner: Arc<NodeInner>) {
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES_MAX));
    let member_handshakes = Arc::new(Semaphore::new(MEMBER_HANDSHAKES_MAX));
    let member_hosts: HashSet<String> = inner.cfg.members.iter().map(|m| host_of(&m.addr).to_string()).collect();
    loop {
        let (r, w, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let pool = if member_hosts.contains(host_of(&addr)) { &member_handshakes } else { &handshakes };
        let Ok(permit) = pool.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "too many handshakes in progress; dropping connection");
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let (stream, peer) = match auth::accept(tokio::io::join(r, w), &inner.credential, inner.id).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "refused connection");
                    return;
                }
            };
            drop(permit);
            match peer.role {
                Role::Node if inner.peers.is_blocked(peer.node_id) => {
                    tracing::info!(%addr, node = peer.node_id, "refused a partitioned node (fault injection)");
                }
                Role::Node if !inner.peers.is_member(peer.node_id) => {
                    tracing::warn!(%addr, node = peer.node_id, "refused connection from a node that is not a member");
                }
                Role::Node => {
                    let (r, w) = tokio::io::split(stream);
                    let conn = Conn::spawn(r, w, peer, format!("node {}", peer.node_id), inner.clone());
                    inner.peers.register(peer.node_id, conn);
                }
                Role::Client => {
                    if inner.client_conns.fetch_add(1, Ordering::AcqRel) >= CLIENT_CONNS_MAX {
                        inner.client_conns.fetch_sub(1, Ordering::AcqRel);
                        tracing::warn!(%addr, "refused client: {CLIENT_CONNS_MAX} client connections open");
                        return;
                    }
                    let (r, w) = tokio::io::split(stream);
                    Conn::spawn(r, w, peer, format!("client {addr}"), inner.clone());
                }
            }
        });
    }
}
