//! Convergence: once the faults are healed, every ACTIVE component holds
//! identical bytes.

use super::{History, Violation};

pub fn check(h: &History) -> Vec<Violation> {
    let Some((first, reference)) = h.final_components.first() else { return Vec::new() };
    let mut out = Vec::new();
    for (node, bytes) in &h.final_components[1..] {
        if bytes != reference {
            let at = bytes.iter().zip(reference).position(|(a, b)| a != b).unwrap_or(0);
            out.push(Violation {
                invariant: "convergence",
                detail: format!("node {node} differs from node {first} first at byte {at} (slot {})", at / super::SLOT_BYTES),
            });
        }
    }
    out
}
