//! Commit a rebuilt copy ACTIVE before the owner's core counts it (issue
//! 15): the ACTIVE-copies oracle must catch it (docs/simulation.md,
//! "Mutations"). A file of its own: each test binary is a process of its
//! own, and two simulations in one process at once would share its
//! process-wide switches.

mod mutation;

use mutation::caught;

/// Commit ACTIVE, then promote: a write the rebuilt copy fails while the
/// ACTIVE commit is under way only stops its rebuild (the core still counts
/// it as catching up), so the write is acknowledged without it and without
/// an ABSENT commit, and the commit then lists ACTIVE a copy that misses
/// it. The window is the commit's Raft round trip; the fault schedule aims
/// a crash of the copy's host at it (`faults::aim_at_promotion`).
#[test]
fn oracle_catches_committing_active_before_the_promotion() {
    caught("committing ACTIVE before the promotion", 1..=10, |o| o.break_promotion = true, &["active-copies"]);
}
