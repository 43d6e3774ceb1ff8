//! Owner-side replication state for one object at one epoch. Pure: the
//! caller does the sending and reports what came back.
//!
//! Life of an owner core:
//! 1. `new` with the epoch and ACTIVE components the directory committed;
//! 2. the caller fences every target with `fence()` and reports with
//!    `on_fenced`; only then does the core serve;
//! 3. each write takes a ticket (`begin_write`) carrying the next sequence
//!    number and the targets, and is decided by `finish_write`.

use holdfast_types::{Epoch, ErrorCode, HoldfastError, LogIndex, NodeId, ObjectId, Seq};
use holdfast_wire::msg::Fence;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTicket {
    pub object: ObjectId,
    pub epoch: Epoch,
    pub seq: Seq,
    pub targets: Vec<NodeId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Every target applied the write: acknowledge it.
    Ack,
    /// At least one target did not apply it: the write must not be
    /// acknowledged. (Marking the target ABSENT first and then acknowledging
    /// is the failure-handling path.)
    Fail(HoldfastError),
}

#[derive(Debug)]
pub struct OwnerCore {
    object: ObjectId,
    epoch: Epoch,
    dir_index: LogIndex,
    targets: Vec<NodeId>,
    last_seq: Seq,
    serving: bool,
    /// Set when a write failed on some target: that target now has a
    /// sequence gap, so further writes would fail there too. The core stops
    /// serving until the directory decides (a new epoch re-fences).
    broken: Option<HoldfastError>,
}

impl OwnerCore {
    pub fn new(object: ObjectId, epoch: Epoch, dir_index: LogIndex, mut targets: Vec<NodeId>) -> OwnerCore {
        assert!(epoch >= 1, "epochs start at 1");
        assert!(!targets.is_empty(), "an owner needs at least its own ACTIVE component");
        targets.sort();
        targets.dedup();
        OwnerCore { object, epoch, dir_index, targets, last_seq: 0, serving: false, broken: None }
    }

    pub fn object(&self) -> ObjectId {
        self.object
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub fn targets(&self) -> &[NodeId] {
        &self.targets
    }

    pub fn is_serving(&self) -> bool {
        self.serving && self.broken.is_none()
    }

    pub fn fence(&self) -> Fence {
        Fence { object: self.object, epoch: self.epoch, dir_index: self.dir_index }
    }

    /// Records the fence replies. Serves only if every target accepted.
    pub fn on_fenced(&mut self, results: &[(NodeId, Result<(), HoldfastError>)]) -> Result<(), HoldfastError> {
        assert!(!self.serving, "fenced twice");
        for t in &self.targets {
            match results.iter().find(|(n, _)| n == t) {
                Some((_, Ok(()))) => {}
                Some((_, Err(e))) => {
                    return Err(HoldfastError::new(e.code, format!("fencing node {t} at epoch {}: {}", self.epoch, e.message)))
                }
                None => return Err(HoldfastError::new(ErrorCode::Internal, format!("no fence reply from node {t}"))),
            }
        }
        self.serving = true;
        Ok(())
    }

    pub fn begin_write(&mut self) -> Result<WriteTicket, HoldfastError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        if !self.serving {
            return Err(HoldfastError::new(ErrorCode::NotReady, format!("object {} is still being activated", self.object)));
        }
        self.last_seq += 1;
        Ok(WriteTicket { object: self.object, epoch: self.epoch, seq: self.last_seq, targets: self.targets.clone() })
    }

    /// Decides a write from the replies of every target in its ticket.
    pub fn finish_write(&mut self, ticket: &WriteTicket, results: &[(NodeId, Result<(), HoldfastError>)]) -> WriteOutcome {
        assert_eq!(ticket.epoch, self.epoch, "ticket from another epoch");
        assert!(ticket.seq <= self.last_seq, "ticket never issued");
        let mut failures = Vec::new();
        for t in &ticket.targets {
            match results.iter().find(|(n, _)| n == t) {
                Some((_, Ok(()))) => {}
                Some((_, Err(e))) => failures.push(format!("node {t}: {e}")),
                None => failures.push(format!("node {t}: no reply")),
            }
        }
        if failures.is_empty() {
            return WriteOutcome::Ack;
        }
        let e = HoldfastError::new(
            ErrorCode::Timeout,
            format!("write seq {} of object {} not applied everywhere: {}", ticket.seq, self.object, failures.join("; ")),
        );
        self.broken = Some(e.clone());
        WriteOutcome::Fail(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(n: NodeId) -> (NodeId, Result<(), HoldfastError>) {
        (n, Ok(()))
    }

    #[test]
    fn serves_only_after_all_fenced() {
        let mut c = OwnerCore::new(1, 2, 10, vec![3, 1, 2]);
        assert_eq!(c.begin_write().unwrap_err().code, ErrorCode::NotReady);
        let bad = HoldfastError::new(ErrorCode::StaleEpoch, "x");
        assert!(c.on_fenced(&[ok(1), ok(2), (3, Err(bad))]).is_err());
        assert!(!c.is_serving());
        let mut c = OwnerCore::new(1, 2, 10, vec![3, 1, 2]);
        c.on_fenced(&[ok(1), ok(2), ok(3)]).unwrap();
        let t = c.begin_write().unwrap();
        assert_eq!((t.seq, t.targets.clone()), (1, vec![1, 2, 3]));
        assert_eq!(c.finish_write(&t, &[ok(1), ok(2), ok(3)]), WriteOutcome::Ack);
        assert_eq!(c.begin_write().unwrap().seq, 2);
    }

    #[test]
    fn missing_ack_fails_and_stops_serving() {
        let mut c = OwnerCore::new(1, 1, 1, vec![1, 2]);
        c.on_fenced(&[ok(1), ok(2)]).unwrap();
        let t = c.begin_write().unwrap();
        assert!(matches!(c.finish_write(&t, &[ok(1)]), WriteOutcome::Fail(_)));
        assert!(c.begin_write().is_err());
    }
}
