//! Owner-side replication state for one object at one epoch. Pure: the
//! caller does the sending and reports what came back; the core decides.
//!
//! Life of an owner core:
//! 1. `new` with the epoch and the ACTIVE components the directory committed;
//! 2. the caller fences every target and reports each one's last applied
//!    position; `plan_convergence` says who is unreachable (to be committed
//!    ABSENT), which position is the newest, and who lags behind it;
//! 3. once the laggards are brought level, `on_converged` starts serving;
//! 4. each write takes a ticket (`begin_write`) with the next sequence
//!    number and its targets, and `finish_write` decides it: acknowledge,
//!    commit some components ABSENT first, or fail.
//!
//! Components being rebuilt (`catching_up`) receive every write but do not
//! count towards its acknowledgement.

use holdfast_types::{Epoch, ErrorCode, HoldfastError, LogIndex, NodeId, ObjectId, Seq};
use holdfast_wire::msg::Fence;

pub type Position = (Epoch, Seq);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTicket {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub seq: Seq,
    /// ACTIVE components: each must apply the write, or be committed ABSENT
    /// before the write is acknowledged.
    pub active: Vec<NodeId>,
    /// Components being rebuilt: they get the write; a failure only stops
    /// their rebuild.
    pub catching_up: Vec<NodeId>,
}

impl WriteTicket {
    pub fn targets(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.active.iter().chain(self.catching_up.iter()).copied()
    }
}

/// What to do with a write once every target answered (or timed out).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteDecision {
    /// Commit these ABSENT in the directory, then acknowledge.
    pub mark_absent: Vec<NodeId>,
    /// Stop rebuilding these.
    pub drop_catching_up: Vec<NodeId>,
    /// Do not acknowledge: the owner's own component failed.
    pub fail: Option<HoldfastError>,
}

/// How to make the ACTIVE components identical before serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvergencePlan {
    /// Did not answer the fence: commit ABSENT before serving.
    pub unreachable: Vec<NodeId>,
    /// The newest position any reachable ACTIVE component applied.
    pub newest: Position,
    /// A reachable component at `newest` (the owner itself when it is).
    pub source: NodeId,
    /// Reachable components behind `newest`, with their positions.
    pub lagging: Vec<(NodeId, Position)>,
}

#[derive(Debug)]
pub struct OwnerCore {
    me: NodeId,
    object: ObjectId,
    epoch: Epoch,
    dir_index: LogIndex,
    active: Vec<NodeId>,
    catching_up: Vec<NodeId>,
    last_seq: Seq,
    serving: bool,
    /// Set when the owner's own component failed a write: nothing more can
    /// be acknowledged at this epoch.
    broken: Option<HoldfastError>,
}

impl OwnerCore {
    pub fn new(me: NodeId, object: ObjectId, epoch: Epoch, dir_index: LogIndex, mut active: Vec<NodeId>) -> OwnerCore {
        assert!(epoch >= 1, "epochs start at 1");
        active.sort();
        active.dedup();
        assert!(active.contains(&me), "the owner's own component must be ACTIVE");
        OwnerCore { me, object, epoch, dir_index, active, catching_up: Vec::new(), last_seq: 0, serving: false, broken: None }
    }

    pub fn object(&self) -> ObjectId {
        self.object
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub fn active(&self) -> &[NodeId] {
        &self.active
    }

    pub fn catching_up(&self) -> &[NodeId] {
        &self.catching_up
    }

    pub fn position(&self) -> Position {
        (self.epoch, self.last_seq)
    }

    pub fn is_serving(&self) -> bool {
        self.serving && self.broken.is_none()
    }

    pub fn fence(&self) -> Fence {
        Fence { object: self.object, epoch: self.epoch, dir_index: self.dir_index }
    }

    /// Decides convergence from the fence replies (one per ACTIVE target).
    pub fn plan_convergence(&self, replies: &[(NodeId, Result<Position, HoldfastError>)]) -> Result<ConvergencePlan, HoldfastError> {
        assert!(!self.serving, "convergence runs before serving");
        let mut reached = Vec::new();
        let mut unreachable = Vec::new();
        for &t in &self.active {
            match replies.iter().find(|(n, _)| *n == t) {
                Some((_, Ok(p))) => reached.push((t, *p)),
                Some((_, Err(e))) if t == self.me => {
                    return Err(HoldfastError::new(e.code, format!("own component refused the fence at epoch {}: {}", self.epoch, e.message)))
                }
                _ if t == self.me => return Err(HoldfastError::new(ErrorCode::Internal, "no fence reply from own component")),
                Some((_, Err(e))) if e.code == ErrorCode::StaleEpoch => {
                    // A newer epoch exists: this activation is already obsolete.
                    return Err(HoldfastError::new(e.code, format!("node {t}: {}", e.message)));
                }
                _ => unreachable.push(t),
            }
        }
        let newest = reached.iter().map(|&(_, p)| p).max().expect("the owner itself is reached");
        let my_pos = reached.iter().find(|(n, _)| *n == self.me).map(|&(_, p)| p).expect("owner reached");
        let source = if my_pos == newest { self.me } else { reached.iter().find(|&&(_, p)| p == newest).expect("max exists").0 };
        let lagging = reached.into_iter().filter(|&(_, p)| p < newest).collect();
        Ok(ConvergencePlan { unreachable, newest, source, lagging })
    }

    /// All remaining ACTIVE components are identical; `removed` were
    /// committed ABSENT or STALE in the directory. Starts serving.
    pub fn on_converged(&mut self, removed: &[NodeId]) {
        assert!(!removed.contains(&self.me), "the owner cannot remove itself");
        self.active.retain(|n| !removed.contains(n));
        self.serving = true;
    }

    /// The epoch and ACTIVE components a flush must reach, or why this
    /// core cannot serve one (as for a write).
    pub fn begin_flush(&self) -> Result<(Epoch, Vec<NodeId>), HoldfastError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        if !self.serving {
            return Err(HoldfastError::new(ErrorCode::NotReady, format!("object {} is still being activated", self.object)));
        }
        Ok((self.epoch, self.active.clone()))
    }

    pub fn begin_write(&mut self) -> Result<WriteTicket, HoldfastError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        if !self.serving {
            return Err(HoldfastError::new(ErrorCode::NotReady, format!("object {} is still being activated", self.object)));
        }
        self.last_seq += 1;
        Ok(WriteTicket {
            object: self.object,
            epoch: self.epoch,
            seq: self.last_seq,
            active: self.active.clone(),
            catching_up: self.catching_up.clone(),
        })
    }

    /// Decides a write from the replies of its targets.
    pub fn finish_write(&mut self, ticket: &WriteTicket, results: &[(NodeId, Result<(), HoldfastError>)]) -> WriteDecision {
        assert_eq!(ticket.epoch, self.epoch, "ticket from another epoch");
        assert!(ticket.seq <= self.last_seq, "ticket never issued");
        let failed = |n: NodeId| -> Option<HoldfastError> {
            match results.iter().find(|(r, _)| *r == n) {
                Some((_, Ok(()))) => None,
                Some((_, Err(e))) => Some(e.clone()),
                None => Some(HoldfastError::new(ErrorCode::Timeout, format!("node {n} did not answer"))),
            }
        };
        let mut d = WriteDecision::default();
        // Judge each failed target by its role *now*, not when the ticket
        // was issued: a rebuilt copy promoted while this write was in
        // flight is ACTIVE, so the directory may already list it ACTIVE,
        // and acknowledging without it or an ABSENT commit would break
        // durability (issue 15).
        for n in ticket.targets() {
            let Some(e) = failed(n) else { continue };
            if n == self.me {
                let e = HoldfastError::new(e.code, format!("own component failed write seq {}: {}", ticket.seq, e.message));
                self.broken = Some(e.clone());
                d.fail = Some(e);
            } else if self.active.contains(&n) {
                d.mark_absent.push(n);
            } else if self.catching_up.contains(&n) {
                d.drop_catching_up.push(n);
            }
            // Otherwise another write already had it committed ABSENT or
            // stopped its rebuild.
        }
        // An ACTIVE component that was no target of this write got it by
        // its rebuild's copy instead: the owner applies a write locally
        // under the same lock that adds a rebuild target, so a copy that
        // starts later reads it.
        d
    }

    /// `nodes` are committed ABSENT: stop sending to them.
    pub fn on_absent(&mut self, nodes: &[NodeId]) {
        assert!(!nodes.contains(&self.me), "the owner cannot be ABSENT");
        self.active.retain(|n| !nodes.contains(n));
    }

    /// Starts sending writes to `node`; returns the position it must start from.
    pub fn add_catching_up(&mut self, node: NodeId) -> Position {
        assert!(node != self.me && !self.active.contains(&node), "node {node} is not a rebuild target");
        if !self.catching_up.contains(&node) {
            self.catching_up.push(node);
        }
        self.position()
    }

    pub fn is_catching_up(&self, node: NodeId) -> bool {
        self.catching_up.contains(&node)
    }

    pub fn drop_catching_up(&mut self, node: NodeId) {
        self.catching_up.retain(|&n| n != node);
    }

    /// The directory committed `node` ACTIVE after its rebuild.
    pub fn promote(&mut self, node: NodeId) -> bool {
        if !self.catching_up.contains(&node) {
            return false;
        }
        self.catching_up.retain(|&n| n != node);
        self.active.push(node);
        self.active.sort();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(n: NodeId) -> (NodeId, Result<(), HoldfastError>) {
        (n, Ok(()))
    }
    fn err(n: NodeId) -> (NodeId, Result<(), HoldfastError>) {
        (n, Err(HoldfastError::new(ErrorCode::Timeout, "x")))
    }

    fn serving(active: Vec<NodeId>) -> OwnerCore {
        let mut c = OwnerCore::new(1, 7, 2, 10, active.clone());
        let replies: Vec<_> = active.iter().map(|&n| (n, Ok((1, 5)))).collect();
        let plan = c.plan_convergence(&replies).unwrap();
        assert!(plan.unreachable.is_empty() && plan.lagging.is_empty());
        c.on_converged(&[]);
        c
    }

    #[test]
    fn convergence_plan_finds_newest_and_laggards() {
        let c = OwnerCore::new(1, 7, 3, 10, vec![1, 2, 3]);
        assert_eq!(c.begin_write_err(), ErrorCode::NotReady);
        let plan = c
            .plan_convergence(&[(1, Ok((2, 4))), (2, Ok((2, 6))), (3, Err(HoldfastError::new(ErrorCode::Timeout, "down")))])
            .unwrap();
        assert_eq!(plan, ConvergencePlan { unreachable: vec![3], newest: (2, 6), source: 2, lagging: vec![(1, (2, 4))] });
        let e = c.plan_convergence(&[(1, Ok((2, 4))), (2, Err(HoldfastError::new(ErrorCode::StaleEpoch, "newer")))]).unwrap_err();
        assert_eq!(e.code, ErrorCode::StaleEpoch);
    }

    #[test]
    fn acknowledges_only_when_every_active_applied_or_is_absent() {
        let mut c = serving(vec![1, 2, 3]);
        let t = c.begin_write().unwrap();
        assert_eq!((t.seq, t.active.clone()), (1, vec![1, 2, 3]));
        assert_eq!(c.finish_write(&t, &[ok(1), ok(2), ok(3)]), WriteDecision::default());
        let t = c.begin_write().unwrap();
        let t2 = c.begin_write().unwrap();
        let d = c.finish_write(&t, &[ok(1), ok(2), err(3)]);
        assert_eq!(d.mark_absent, vec![3]);
        assert!(d.fail.is_none());
        c.on_absent(&[3]);
        // A concurrent write that also missed node 3 needs no second commit.
        assert_eq!(c.finish_write(&t2, &[ok(1), ok(2)]), WriteDecision::default());
        assert_eq!(c.begin_write().unwrap().active, vec![1, 2]);
    }

    #[test]
    fn own_failure_fails_and_stops() {
        let mut c = serving(vec![1, 2]);
        let t = c.begin_write().unwrap();
        let d = c.finish_write(&t, &[err(1), ok(2)]);
        assert!(d.fail.is_some());
        assert!(c.begin_write().is_err());
    }

    #[test]
    fn rebuild_targets_get_writes_but_do_not_count() {
        let mut c = serving(vec![1, 2]);
        assert_eq!(c.add_catching_up(3), (2, 0));
        let t = c.begin_write().unwrap();
        assert_eq!(t.targets().collect::<Vec<_>>(), vec![1, 2, 3]);
        let d = c.finish_write(&t, &[ok(1), ok(2), err(3)]);
        assert_eq!(d, WriteDecision { drop_catching_up: vec![3], ..Default::default() });
        c.drop_catching_up(3);
        assert!(!c.promote(3));
        c.add_catching_up(3);
        assert!(c.promote(3));
        assert_eq!(c.active(), &[1, 2, 3]);
    }

    #[test]
    fn a_copy_promoted_mid_write_is_committed_absent_when_it_missed_the_write() {
        // The rebuild race of issue 15: the ticket is issued while node 3
        // catches up, node 3 is promoted (the directory may list it ACTIVE
        // from now), then node 3's answer turns out to be a failure.
        let mut c = serving(vec![1, 2]);
        c.add_catching_up(3);
        let t = c.begin_write().unwrap();
        assert_eq!(t.catching_up, vec![3]);
        assert!(c.promote(3));
        let d = c.finish_write(&t, &[ok(1), ok(2), err(3)]);
        assert_eq!(d.mark_absent, vec![3], "acknowledged without the promoted copy and without an ABSENT commit");
        assert!(d.drop_catching_up.is_empty() && d.fail.is_none());
        // A copy dropped from its rebuild before the answer needs nothing.
        c.on_absent(&[3]);
        c.add_catching_up(3);
        let t = c.begin_write().unwrap();
        c.drop_catching_up(3);
        assert_eq!(c.finish_write(&t, &[ok(1), ok(2), err(3)]), WriteDecision::default());
    }

    impl OwnerCore {
        fn begin_write_err(&self) -> ErrorCode {
            let mut c = OwnerCore::new(self.me, self.object, self.epoch, self.dir_index, self.active.clone());
            c.begin_write().unwrap_err().code
        }
    }
}
