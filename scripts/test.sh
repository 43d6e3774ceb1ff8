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

# A 10 s slice of every fuzz target, on stable (see the script).
bash scripts/fuzz-slice.sh 10
