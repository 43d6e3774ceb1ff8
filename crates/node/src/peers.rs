//! Connections to other hosts: exactly one multiplexed connection per pair.
//! The node with the lower id dials; the other waits for it. Both then send
//! requests over the same connection.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use holdfast_types::{ErrorCode, HoldfastError, NodeId};
use holdfast_wire::auth::{self, PeerIdentity};
use holdfast_wire::tls::Credential;
use holdfast_wire::msg::Role;
use holdfast_wire::{Conn, FrameKind, RequestHandler};
use holdfast_wire::net::Net;
use tokio::sync::Notify;

pub const DIAL_TIMEOUT_MS: u64 = 1000;

pub struct Peers {
    me: NodeId,
    net: Arc<dyn Net>,
    credential: Credential,
    addrs: HashMap<NodeId, String>,
    conns: Mutex<HashMap<NodeId, Arc<Conn>>>,
    dialing: Mutex<HashSet<NodeId>>,
    registered: Notify,
    last_seen: Mutex<HashMap<NodeId, Instant>>,
    /// Peers cut off by fault injection (tests only): no connection to or
    /// from them is kept or accepted.
    blocked: Mutex<HashSet<NodeId>>,
    /// Whether each peer's current process said it is live in the directory.
    live: Mutex<HashMap<NodeId, bool>>,
    handler: OnceLock<Arc<dyn RequestHandler>>,
}

impl Peers {
    pub fn new(me: NodeId, net: Arc<dyn Net>, credential: Credential, addrs: HashMap<NodeId, String>) -> Arc<Peers> {
        Arc::new(Peers {
            me,
            net,
            credential,
            addrs,
            conns: Mutex::new(HashMap::new()),
            dialing: Mutex::new(HashSet::new()),
            registered: Notify::new(),
            last_seen: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            blocked: Mutex::new(HashSet::new()),
            handler: OnceLock::new(),
        })
    }

    pub fn set_handler(&self, h: Arc<dyn RequestHandler>) {
        let _ = self.handler.set(h);
    }

    pub fn ids(&self) -> Vec<NodeId> {
        let mut v: Vec<_> = self.addrs.keys().copied().filter(|&n| n != self.me).collect();
        v.sort();
        v
    }

    pub fn is_member(&self, node: NodeId) -> bool {
        node != self.me && self.addrs.contains_key(&node)
    }

    fn live(&self, node: NodeId) -> Option<Arc<Conn>> {
        if self.is_blocked(node) {
            return None;
        }
        self.conns.lock().expect("conns lock").get(&node).filter(|c| !c.is_closed()).cloned()
    }

    pub fn is_blocked(&self, node: NodeId) -> bool {
        self.blocked.lock().expect("blocked lock").contains(&node)
    }

    /// Fault injection: cut this node off from `nodes` (both directions,
    /// since we also refuse their connections); an empty list heals.
    pub fn set_blocked(&self, nodes: &[NodeId]) {
        *self.blocked.lock().expect("blocked lock") = nodes.iter().copied().collect();
        let cut: Vec<Arc<Conn>> = {
            let mut conns = self.conns.lock().expect("conns lock");
            nodes.iter().filter_map(|n| conns.remove(n)).collect()
        };
        for c in cut {
            c.close("partitioned by fault injection");
        }
    }

    /// Records a connection a peer dialed to us (after authentication).
    pub fn register(&self, node: NodeId, conn: Arc<Conn>) {
        if self.is_blocked(node) {
            conn.close("partitioned by fault injection");
            return;
        }
        let old = self.conns.lock().expect("conns lock").insert(node, conn);
        if let Some(old) = old {
            old.close("replaced by a newer connection");
        }
        self.seen(node);
        self.registered.notify_waiters();
    }

    pub fn seen(&self, node: NodeId) {
        self.last_seen.lock().expect("seen lock").insert(node, Instant::now());
    }

    pub fn peer_live(&self, node: NodeId) -> bool {
        self.live.lock().expect("live lock").get(&node).copied().unwrap_or(false)
    }

    /// Heard from within `down_after`.
    pub fn is_up(&self, node: NodeId, down_after: Duration) -> bool {
        self.last_seen(node).is_some_and(|t| t.elapsed() < down_after)
    }

    /// When the first peer now up will count as down if nothing more is
    /// heard from it.
    pub fn next_down_at(&self, down_after: Duration) -> Option<Instant> {
        let now = Instant::now();
        self.last_seen.lock().expect("seen lock").values().map(|t| *t + down_after).filter(|at| *at > now).min()
    }

    pub fn last_seen(&self, node: NodeId) -> Option<Instant> {
        self.last_seen.lock().expect("seen lock").get(&node).copied()
    }

    /// The connection to `node`, dialing or waiting for it as needed.
    pub async fn get(&self, node: NodeId, timeout: Duration) -> Result<Arc<Conn>, HoldfastError> {
        if let Some(c) = self.live(node) {
            return Ok(c);
        }
        if !self.is_member(node) {
            return Err(HoldfastError::new(ErrorCode::Invalid, format!("node {node} is not a peer of node {}", self.me)));
        }
        let deadline = Instant::now() + timeout;
        loop {
            if self.me < node {
                if let Err(e) = self.dial(node).await {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } else {
                let notified = self.registered.notified();
                if let Some(c) = self.live(node) {
                    return Ok(c);
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return Err(HoldfastError::new(ErrorCode::Timeout, format!("node {node} has not connected to node {}", self.me)));
                }
            }
            if let Some(c) = self.live(node) {
                return Ok(c);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HoldfastError::new(ErrorCode::Timeout, format!("cannot reach node {node}")));
            }
        }
    }

    /// Dials `node` unless a dial is already under way.
    pub async fn dial(&self, node: NodeId) -> Result<(), HoldfastError> {
        if !self.dialing.lock().expect("dialing lock").insert(node) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Ok(());
        }
        // Cleared on drop too: a caller that times out drops this future
        // mid-dial, and a mark left behind would stop every later dial.
        struct Dialing<'a>(&'a Mutex<HashSet<NodeId>>, NodeId);
        impl Drop for Dialing<'_> {
            fn drop(&mut self) {
                self.0.lock().expect("dialing lock").remove(&self.1);
            }
        }
        let _mark = Dialing(&self.dialing, node);
        self.dial_once(node).await
    }

    async fn dial_once(&self, node: NodeId) -> Result<(), HoldfastError> {
        if self.is_blocked(node) {
            return Err(HoldfastError::new(ErrorCode::Timeout, format!("node {node} is partitioned away (fault injection)")));
        }
        let addr = self.addrs.get(&node).cloned().unwrap_or_default();
        let err = |m: String| HoldfastError::new(ErrorCode::Timeout, format!("dial node {node} at {addr}: {m}"));
        let (r, w) = tokio::time::timeout(Duration::from_millis(DIAL_TIMEOUT_MS), self.net.connect(&addr))
            .await
            .map_err(|_| err("timed out".into()))?
            .map_err(|e| err(format!("{:?}: {e}", e.kind())))?;
        let tls = auth::dial(tokio::io::join(r, w), &self.credential, Role::Node, self.me, node).await.map_err(|e| err(e.to_string()))?;
        let handler = self.handler.get().cloned().ok_or_else(|| err("node not started".into()))?;
        let (r, w) = tokio::io::split(tls);
        let conn = Conn::spawn(r, w, PeerIdentity { role: Role::Node, node_id: node }, format!("node {node}"), handler);
        self.register(node, conn);
        Ok(())
    }

    /// Keeps connections up and measures liveness: dials missing peers we
    /// are responsible for, and pings every connected peer. A connection
    /// whose pings go unanswered past `down_after` is closed: after a
    /// partition, TCP can stay half-open forever, and only a fresh
    /// connection tells a healed peer from a dead one.
    pub async fn maintain(self: Arc<Self>, heartbeat: Duration, down_after: Duration) {
        let mut tick = tokio::time::interval(heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for node in self.ids() {
                let me = self.clone();
                tokio::spawn(async move {
                    let conn = match me.live(node) {
                        Some(c) => c,
                        None if me.me < node => {
                            if let Err(e) = me.dial(node).await {
                                tracing::debug!(node, error = %e, "dial failed");
                                return;
                            }
                            match me.live(node) {
                                Some(c) => c,
                                None => return,
                            }
                        }
                        None => return,
                    };
                    match conn.call(FrameKind::Ping, vec![], heartbeat * 4).await {
                        Ok(reply) => {
                            me.seen(node);
                            let live = reply.body.first() == Some(&1);
                            me.live.lock().expect("live lock").insert(node, live);
                        }
                        Err(_) if !me.is_up(node, down_after) => conn.close("no heartbeat reply"),
                        Err(_) => {}
                    }
                });
            }
        }
    }
}
