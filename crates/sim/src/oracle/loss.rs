//! Honest loss: a memory object may be declared LOST only when every copy
//! really is gone, that is, every host that held a component lost its RAM
//! (crashed) after the object was created and before it was declared LOST.

use super::{History, Violation};

pub fn check(h: &History) -> Vec<Violation> {
    let (Some(lost_at), Some(created)) = (h.lost_at, h.created_at) else { return Vec::new() };
    let mut out = Vec::new();
    for node in &h.placement {
        let crashed = h.crashes.get(node).is_some_and(|ts| ts.iter().any(|&t| t >= created && t <= lost_at));
        if !crashed {
            out.push(Violation {
                invariant: "honest-loss",
                detail: format!("object declared LOST at {lost_at:?} but node {node} never lost its copy"),
            });
        }
    }
    out
}
