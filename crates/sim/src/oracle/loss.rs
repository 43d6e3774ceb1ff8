//! Honest loss: an object may be declared LOST only when no complete copy
//! remains. A copy is gone when its host lost its RAM (crashed) between
//! the object's creation and the declaration. A host that never crashed
//! may still hold a copy, but a copy that misses an acknowledged write (it
//! was ABSENT or STALE, waiting for a rebuild) could not have served the
//! object; one that holds every acknowledged write could have. So each
//! such host's copy, read back after the faults healed
//! (`History::copies_at_loss`), must miss something (`durability`'s rule
//! for one copy), or the declaration was dishonest. A copy that cannot be
//! read from a host that never crashed is a violation too: nothing then
//! shows it was incomplete. (Seed 50063 with `--harsh-crashes` declared
//! LOST while two hosts held stale copies; the rule before this one, that
//! every host must have crashed, called that dishonest.)

use super::durability::lost_writes;
use super::{History, Violation};

pub fn check(h: &History) -> Vec<Violation> {
    let (Some(lost_at), Some(created)) = (h.lost_at, h.created_at) else { return Vec::new() };
    let mut out = Vec::new();
    for node in &h.placement {
        let crashes = h.crashes.get(node).map(Vec::as_slice).unwrap_or_default();
        if crashes.iter().any(|&t| t >= created && t <= lost_at) {
            continue; // Its copy died with its RAM.
        }
        if crashes.iter().any(|&t| t > lost_at) {
            continue; // Crashed after the declaration: what it held then is unknown.
        }
        let dishonest = match h.copies_at_loss.iter().find(|(n, _)| n == node) {
            None | Some((_, None)) => Some("its copy could not be read to show it was incomplete".to_string()),
            Some((_, Some(bytes))) if lost_writes(h, *node, bytes, 1).is_empty() => Some("it still holds every acknowledged write".to_string()),
            Some(_) => None,
        };
        if let Some(why) = dishonest {
            out.push(Violation { invariant: "honest-loss", detail: format!("object declared LOST at {lost_at:?} but node {node} never crashed, and {why}") });
        }
    }
    out
}
