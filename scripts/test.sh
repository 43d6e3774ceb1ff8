#!/usr/bin/env bash
# Runs every test of the project: unit tests, the directory's Raft tests, the
# cluster, failure and chaos tests that start real node processes on
# loopback, a fixed slice of the deterministic simulation and a short slice
# of every fuzz target. Installs what
# the tests need first (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

# Two cores: build once, then let each test binary use both.
export CARGO_TERM_COLOR=never
cargo build --locked --workspace --all-targets
cargo test --locked --workspace -- --test-threads=2

# Deterministic simulation, a fixed slice (the long run is scripts/sim.sh).
cargo run --locked -q -p holdfast-sim -- --seeds 200 --nodes 3
cargo run --locked -q -p holdfast-sim -- --seeds 50 --nodes 5
# And a longer fault phase with the harsher crashes (during rebuilds, two
# hosts down at once) on seeds that change from run to run, so CI keeps
# exploring; the range is printed, and a failing seed its replay.
sim_start=$(( 100000 + ($(date -u +%s) % 90000) * 10 ))
echo "simulation: seeds ${sim_start}..$((sim_start + 29)) (3 nodes) and ..$((sim_start + 9)) (5 nodes), 20 s of faults, harsh crashes"
cargo run --locked -q -p holdfast-sim -- --start "$sim_start" --seeds 30 --fault-secs 20 --harsh-crashes
cargo run --locked -q -p holdfast-sim -- --start "$sim_start" --seeds 10 --nodes 5 --fault-secs 20 --harsh-crashes

# A 10 s slice of every fuzz target, on stable (see the script).
bash scripts/fuzz-slice.sh 10
