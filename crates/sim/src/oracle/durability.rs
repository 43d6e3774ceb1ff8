//! Durability: no acknowledged write is lost. After the liveness phase each
//! slot of the (converged) components holds the slot's last acknowledged
//! version, or a version sent after it (a write that failed or was cut
//! short may have been applied), never an older acknowledged one, never
//! zeroes once a write was acknowledged, never bytes no write of the slot
//! made. A write that returned an error counts as maybe applied, at any
//! later moment: no error of `Client::write` promises otherwise (it may
//! have reached an owner before the error), so an older failed version
//! may be what remains. A LOST object is exempt: its I/O fails clearly,
//! and `loss` checks that LOST was declared honestly.

use super::slots::{decode, Seen, Writes};
use holdfast_types::NodeId;

use super::{History, Violation, SLOT_BYTES};

pub fn check(h: &History) -> Vec<Violation> {
    if h.lost_at.is_some() || h.liveness_failure.is_some() {
        return Vec::new();
    }
    let Some((node, bytes)) = h.final_components.first() else {
        if h.acked_writes() == 0 {
            return Vec::new();
        }
        return vec![Violation { invariant: "durability", detail: "no component could be read after the run".into() }];
    };
    lost_writes(h, *node, bytes, 5)
}

/// What `bytes`, a copy of the object on `node`, lacks or holds wrongly,
/// by the rule above (at most `limit` violations); empty for a copy that
/// holds every acknowledged write.
pub fn lost_writes(h: &History, node: NodeId, bytes: &[u8], limit: usize) -> Vec<Violation> {
    let writes = Writes::new(&h.writes);
    let mut out = Vec::new();
    for (slot, got) in bytes.chunks(SLOT_BYTES).enumerate() {
        let slot = slot as u32;
        let last = writes.acked_before(slot, u64::MAX);
        let wrong = match (decode(slot, got), last) {
            (Seen::Garbage(d), _) => Some(d),
            (Seen::Zero, None) => None,
            (Seen::Zero, Some(_)) => Some("zeroes".into()),
            (Seen::Version(v), last) => match writes.get(slot, v) {
                None => Some(format!("version {v}, which was never written")),
                Some(w) => match (w.acked_at, last) {
                    (Some(at), Some(l)) if v < l.version => Some(format!("version {v} (acknowledged at {at:?})")),
                    _ => None,
                },
            },
        };
        if let Some(what) = wrong {
            let expected = match last {
                Some(l) => format!("its version {} was acknowledged at {:?}", l.version, l.acked_at.unwrap_or_default()),
                None => "no write of it was acknowledged".into(),
            };
            out.push(Violation { invariant: "durability", detail: format!("slot {slot} holds {what} on node {node}; {expected}") });
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}
