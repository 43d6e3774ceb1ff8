//! Skip the epoch check on purpose (issue 15): the fencing oracle must
//! catch it (docs/simulation.md, "Mutations"). A file of its own: each
//! test binary is a process of its own, and two simulations in one
//! process at once would share its process-wide switches.

mod mutation;

use mutation::caught;

/// Skip the epoch check: every component accepts commands whatever their
/// epoch (`Component::check_epoch`, the one place a component compares a
/// frame's epoch with the newest it knows, skips the comparison; a failed
/// component still refuses). The `EpochCheck` frame goes through the same
/// check, so this is the mutation "skip the `EpochCheck`" where it still
/// guards data: a deposed owner's late writes, fences of an obsolete
/// activation, rebuild frames and epoch-checked reads all land on a copy
/// fenced at a newer epoch. The end-to-end checks do not see it here (a
/// late write repeats bytes the new owner writes anyway); the fencing
/// oracle (`oracle/fencing.rs`) does.
#[test]
fn oracle_catches_components_accepting_stale_epochs() {
    caught("accepting stale epochs", 1..=10, |o| o.break_fencing = true, &["fencing"]);
}
