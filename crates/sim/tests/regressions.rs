//! Seeds that once failed, replayed with the options they failed under.
//! A replay is not bit-identical (docs/simulation.md), so each seed is run
//! a few times.
//! - 50008, 50087 (20 s of faults): a component stayed STALE or ABSENT
//!   40 s after healing (issue 15).
//! - 50024 (20 s of faults, `harsh_crashes`): convergence committed
//!   an unreachable persistent copy ABSENT with a partial dirty map, and its
//!   delta rebuild left 30 acknowledged slots out; failed 2 runs of 3
//!   before the fix in `Replicator::converge`.
//! - 70020 (5 nodes, 20 s of faults, `harsh_crashes`): a failed full
//!   rebuild left the target with a dirty map holding only the writes it
//!   failed during the attempt, and the next rebuild was a delta that left
//!   out every write before it; a later owner served zeroes for
//!   acknowledged slots. Failed every run before the fix in
//!   `Replicator::restore_dirty`.
//! - 8 and 16 (defaults, so with power losses): a host lost unsynced
//!   writes to a power loss, and its rebuild was a delta of only the range
//!   the owner saw it miss while down, then marked the copy clean; the
//!   copies differed and acknowledged slots were missing. Failed every run
//!   before `ResyncPrepare` asked for a full copy of an unclean component.

use holdfast_sim::{run_seed, SimOptions};

fn replays(seed: u64, nodes: u32, fault_secs: u64, harsh_crashes: bool) {
    for _ in 0..3 {
        let opts = SimOptions { nodes, fault_secs, harsh_crashes, ..SimOptions::new(seed) };
        if let Err(e) = run_seed(&opts) {
            panic!("seed {seed} failed again: {e}\nreplay: {}", opts.replay_command());
        }
    }
}

#[test]
fn repairs_that_once_stalled_finish() {
    replays(50008, 3, 20, false);
    replays(50087, 3, 20, false);
}

#[test]
fn a_copy_cut_off_at_convergence_is_rebuilt_whole() {
    replays(50024, 3, 20, true);
}

#[test]
fn a_failed_full_rebuild_is_not_followed_by_a_partial_delta() {
    replays(70020, 5, 20, true);
}

#[test]
fn a_copy_that_lost_unsynced_writes_is_rebuilt_whole() {
    replays(8, 3, 12, false);
    replays(16, 3, 12, false);
}
