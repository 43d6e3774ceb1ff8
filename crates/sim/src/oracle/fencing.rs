//! Fencing: once a component has learned epoch `e` (a new owner's fence,
//! the directory, a write or rebuild of that epoch), it accepts no command
//! carrying an older epoch, so a deposed owner's late frames change no
//! copy. Seen from what each component instance recorded
//! (`holdfast_local_store::component::observe`, in the order it happened).
//!
//! The end-to-end checks cannot see this rule broken in this workload:
//! every slot is written once with the same bytes, so a late old-epoch
//! write only repeats what the new owner writes anyway.

use std::collections::HashMap;

use holdfast_local_store::component::observe::{EpochEvent, EVENTS_MAX};

use super::{History, Violation};

pub fn check(h: &History) -> Vec<Violation> {
    let mut out = Vec::new();
    // Per component instance: the newest epoch it learned.
    let mut known: HashMap<u64, u64> = HashMap::new();
    for (i, e) in h.epochs.iter().enumerate() {
        match *e {
            EpochEvent::Learned { instance, epoch, .. } => {
                let k = known.entry(instance).or_insert(epoch);
                *k = (*k).max(epoch);
            }
            EpochEvent::Accepted { instance, object, epoch } => {
                let k = known.get(&instance).copied().unwrap_or(0);
                if epoch < k {
                    out.push(Violation {
                        invariant: "fencing",
                        detail: format!("a component of object {object} (instance {instance}) accepted a command of epoch {epoch} (event {i}) after it had learned epoch {k}"),
                    });
                    if out.len() >= 5 {
                        break;
                    }
                }
            }
        }
    }
    if h.epochs.len() >= EVENTS_MAX {
        out.push(Violation { invariant: "fencing", detail: format!("the epoch log filled ({} events); later ones were not checked", h.epochs.len()) });
    }
    out
}
