//! Durability: no acknowledged write is lost. After the liveness phase,
//! every slot whose write was acknowledged holds exactly that write on the
//! (converged) components. A LOST object is exempt: its I/O fails clearly,
//! and `loss` checks that LOST was declared honestly.

use super::{describe, slot_content, History, Violation, SLOT_BYTES};

pub fn check(h: &History) -> Vec<Violation> {
    if h.lost_at.is_some() || h.liveness_failure.is_some() {
        return Vec::new();
    }
    let Some((node, bytes)) = h.final_components.first() else {
        if h.acked.is_empty() {
            return Vec::new();
        }
        return vec![Violation { invariant: "durability", detail: "no component could be read after the run".into() }];
    };
    let mut out = Vec::new();
    for (&slot, at) in &h.acked {
        let off = slot as usize * SLOT_BYTES;
        let got = &bytes[off..off + SLOT_BYTES];
        if got != slot_content(slot).as_slice() {
            out.push(Violation {
                invariant: "durability",
                detail: format!("slot {slot} acknowledged at {at:?} holds {} on node {node}", describe(got)),
            });
            if out.len() >= 5 {
                break;
            }
        }
    }
    out
}
