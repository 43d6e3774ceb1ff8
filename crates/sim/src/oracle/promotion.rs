//! ACTIVE copies: a component the directory lists ACTIVE holds every
//! acknowledged write. The owner may commit a rebuilt copy ACTIVE only if
//! the copy applied every write since its rebuild started sending it
//! writes: a write the copy failed during its rebuild stops the rebuild,
//! and a write it fails once the owner counts it ACTIVE commits it ABSENT
//! first. Seen from what owners recorded (`holdfast_replication::observe`,
//! in the order it happened): no ACTIVE commit of a copy may follow a
//! write that copy missed while catching up in the same rebuild.
//!
//! The end-to-end checks see this rule broken only if nothing repairs the
//! copy before the final read-back, and here something nearly always does:
//! the promotion race crashes the copy's host (the fault aimed at it), and
//! its restart raises the epoch, whose convergence brings the copy level.
//! Meanwhile the directory listed ACTIVE a copy that missed an
//! acknowledged write, and an owner failing over then could lose it.

use std::collections::HashMap;

use holdfast_replication::observe::{RebuildEvent, EVENTS_MAX};

use super::{History, Violation};

pub fn check(h: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    // Per (owner, object, copy, epoch): the write the copy missed in its
    // current rebuild, if any.
    let mut missed: HashMap<(u64, u64, u64, u64), Option<u64>> = HashMap::new();
    for (i, e) in h.rebuilds.iter().enumerate() {
        match *e {
            RebuildEvent::CatchingUp { owner, object, node, epoch } => {
                missed.insert((owner, object, node, epoch), None);
            }
            RebuildEvent::Dropped { owner, object, node, epoch, seq } => {
                missed.entry((owner, object, node, epoch)).or_default().get_or_insert(seq);
            }
            RebuildEvent::Copied { .. } => {}
            RebuildEvent::ActiveCommitted { owner, object, node, epoch } => {
                if let Some(Some(seq)) = missed.get(&(owner, object, node, epoch)) {
                    out.push(Violation {
                        invariant: "active-copies",
                        detail: format!(
                            "node {owner} committed node {node}'s component of object {object} ACTIVE at epoch {epoch} (event {i}) after it missed write seq {seq} during its rebuild"
                        ),
                    });
                    if out.len() >= 5 {
                        break;
                    }
                }
            }
        }
    }
    if h.rebuilds.len() >= EVENTS_MAX {
        out.push(Violation { invariant: "active-copies", detail: format!("the rebuild log filled ({} events); later ones were not checked", h.rebuilds.len()) });
    }
    out
}
