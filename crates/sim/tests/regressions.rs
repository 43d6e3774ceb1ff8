//! Seeds that once failed, replayed with the options they failed under.
//! A replay is not bit-identical (docs/simulation.md), so each seed is run
//! a few times.
//! - 50008, 50087 (20 s of faults): a component stayed STALE or ABSENT
//!   40 s after healing (issue 15).
//! - 50024 (20 s of faults, `harsh_crashes`): convergence committed
//!   an unreachable persistent copy ABSENT with a partial dirty map, and its
//!   delta rebuild left 30 acknowledged slots out; failed 2 runs of 3
//!   before the fix in `Replicator::converge`.

use holdfast_sim::{run_seed, SimOptions};

fn replays(seed: u64, fault_secs: u64, harsh_crashes: bool) {
    for _ in 0..3 {
        let opts = SimOptions { fault_secs, harsh_crashes, ..SimOptions::new(seed) };
        if let Err(e) = run_seed(&opts) {
            panic!("seed {seed} failed again: {e}\nreplay: {}", opts.replay_command());
        }
    }
}

#[test]
fn repairs_that_once_stalled_finish() {
    replays(50008, 20, false);
    replays(50087, 20, false);
}

#[test]
fn a_copy_cut_off_at_convergence_is_rebuilt_whole() {
    replays(50024, 20, true);
}
