//! Linearizable reads. A slot is a register that its one writer overwrites
//! with versions 1, 2, … in turn. A read must return a version that is
//! not older than the newest one acknowledged before the read was sent,
//! and whose write had been sent before the read returned; zeroes only if
//! nothing was acknowledged before it was sent, and never bytes no write of
//! the slot made. As in `durability.rs`, a write that failed may take
//! effect at any later moment, so an older failed version is no violation.
//! Before and after are the client's logical clock (`History::tick`).

use super::slots::{Seen, Writes};
use super::{History, Violation};

pub fn check(h: &History) -> Vec<Violation> {
    let writes = Writes::new(&h.writes);
    let mut out = Vec::new();
    for r in &h.reads {
        let newest = writes.acked_before(r.slot, r.started);
        let wrong = match (&r.seen, newest) {
            (Seen::Garbage(d), _) => Some(d.clone()),
            (Seen::Zero, None) => None,
            (Seen::Zero, Some(_)) => Some("zeroes".into()),
            (&Seen::Version(v), newest) => match writes.get(r.slot, v) {
                None => Some(format!("version {v}, which was never written")),
                Some(w) if w.started > r.ended => Some(format!("version {v}, whose write was sent only after the read returned")),
                Some(w) => match (w.acked_at, newest) {
                    (Some(at), Some(n)) if v < n.version => Some(format!("version {v} (acknowledged at {at:?})")),
                    _ => None,
                },
            },
        };
        if let Some(what) = wrong {
            let newest = match newest {
                Some(n) => format!("version {} was acknowledged at {:?}, before", n.version, n.acked_at.unwrap_or_default()),
                None => "nothing was acknowledged before".into(),
            };
            out.push(Violation {
                invariant: "linearizable-reads",
                detail: format!("read of slot {} sent at {:?} returned {what}; {newest}", r.slot, r.started_at),
            });
            if out.len() >= 5 {
                break;
            }
        }
    }
    out
}
