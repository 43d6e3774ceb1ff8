//! The lease rule: no two hosts serve one object in overlapping leases.
//! Seen from what the hosts served (`holdfast_node::lease::observe`, in
//! the order it happened): once a host has served an object at epoch `e`,
//! no host serves it at an epoch below `e` any more. A deposed owner that
//! answers after its successor started serving breaks this.

use std::collections::BTreeMap;

use super::{History, Violation};

pub fn check(h: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    // Per object: the highest epoch served so far, and by whom.
    let mut newest: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (i, s) in h.served.iter().enumerate() {
        let top = newest.entry(s.object).or_insert((s.epoch, s.node));
        if s.epoch > top.0 {
            *top = (s.epoch, s.node);
        } else if s.epoch < top.0 && s.node != top.1 {
            out.push(Violation {
                invariant: "lease",
                detail: format!(
                    "node {} served object {} at epoch {} (event {i}) after node {} had served it at epoch {}",
                    s.node, s.object, s.epoch, top.1, top.0
                ),
            });
            if out.len() >= 5 {
                break;
            }
        }
    }
    if h.served.len() >= holdfast_node::lease::observe::SERVES_MAX {
        out.push(Violation { invariant: "lease", detail: format!("the serve log filled ({} events); later serves were not checked", h.served.len()) });
    }
    out
}
