//! Skip the ABSENT commit on purpose (issue 15): the durability,
//! freshness or convergence checks must catch it (docs/simulation.md,
//! "Mutations"). A file of its own: each test binary is a process of its
//! own, and two simulations in one process at once would share its
//! process-wide switches.

mod mutation;

use mutation::caught;

/// Skip the ABSENT commit: a write that an ACTIVE component failed is
/// acknowledged without committing that component ABSENT, so the
/// directory keeps listing ACTIVE a copy that misses an acknowledged write.
#[test]
fn oracle_catches_acknowledging_without_the_absent_commit() {
    caught("acknowledging without the ABSENT commit", 1..=10, |o| o.break_absent_commit = true, &["durability", "convergence", "linearizable-reads"]);
}
