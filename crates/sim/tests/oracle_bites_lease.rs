//! The lease oracle must be able to fail (a file of its own: each test
//! binary is a process of its own, and two simulations in one process at
//! once would share its process-wide switches).

use holdfast_sim::{run_seed, SimError, SimOptions};

/// With hosts serving without a valid lease (a partitioned owner keeps
/// answering reads from its own copy), some seed among the first ones must
/// break the lease rule, and the lease oracle must be the one to say so;
/// with leases intact the same seed passes.
#[test]
fn oracle_catches_serving_without_a_lease() {
    let mut caught = None;
    for seed in 1..=20 {
        let opts = SimOptions { break_lease: true, ..SimOptions::new(seed) };
        if let Err(SimError::Invariant(v)) = run_seed(&opts) {
            if v.iter().any(|v| v.invariant == "lease") {
                caught = Some((seed, v));
                break;
            }
        }
    }
    let (seed, violations) = caught.expect("no seed of 1..=20 caught serving without a lease");
    let lease = violations.iter().find(|v| v.invariant == "lease").expect("a lease violation");
    eprintln!("seed {seed} caught serving without a lease: {lease:?}");
    run_seed(&SimOptions::new(seed)).unwrap_or_else(|e| panic!("seed {seed} fails even with leases intact: {e}"));
}
