//! No stale reads: each slot is a write-once register, so a read that began
//! after its write was acknowledged must return that write.

use super::{describe, slot_content, History, Violation};

pub fn check(h: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    for r in &h.reads {
        let Some(&acked_at) = h.acked.get(&r.slot) else { continue };
        if acked_at < r.started && r.bytes != slot_content(r.slot) {
            out.push(Violation {
                invariant: "linearizable-reads",
                detail: format!(
                    "read of slot {} started at {:?}, after its write was acknowledged at {:?}, returned {}",
                    r.slot,
                    r.started,
                    acked_at,
                    describe(&r.bytes)
                ),
            });
            if out.len() >= 5 {
                break;
            }
        }
    }
    out
}
