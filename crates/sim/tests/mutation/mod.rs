//! The search the mutation tests share (`oracle_bites_fencing.rs`,
//! `oracle_bites_absent.rs`, `oracle_bites_promotion.rs`): each is a test binary of its own, so two
//! simulations never run in one process at once (they would share its
//! process-wide switches and their seeds' cluster directories).

use holdfast_sim::{run_seed, SimError, SimOptions};

/// Runs `seeds` with `broken` applied to the default options until one
/// reports a violation of one of `invariants`; then runs that seed with
/// the rule intact, which must pass. Returns the seed.
pub fn caught(what: &str, seeds: std::ops::RangeInclusive<u64>, broken: impl Fn(&mut SimOptions), invariants: &[&str]) -> u64 {
    let mut caught = None;
    for seed in seeds.clone() {
        let mut opts = SimOptions::new(seed);
        broken(&mut opts);
        match run_seed(&opts) {
            Err(SimError::Invariant(v)) if v.iter().any(|v| invariants.contains(&v.invariant)) => {
                caught = Some((seed, v));
                break;
            }
            r => eprintln!("seed {seed} did not catch {what}: {}", r.map(|_| "passed".to_string()).unwrap_or_else(|e| e.to_string())),
        }
    }
    let (seed, violations) = caught.unwrap_or_else(|| panic!("no seed of {seeds:?} caught {what}"));
    let v = violations.iter().find(|v| invariants.contains(&v.invariant)).expect("found above");
    eprintln!("seed {seed} caught {what}: {v:?}");
    run_seed(&SimOptions::new(seed)).unwrap_or_else(|e| panic!("seed {seed} fails even with the rule intact: {e}"));
    seed
}

