#!/usr/bin/env bash
# Runs every test of the project: unit tests, the directory's Raft tests and
# the cluster tests that start real node processes on loopback. Installs
# what the tests need first (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

# Two cores: build once, then let each test binary use both.
export CARGO_TERM_COLOR=never
cargo build --locked --workspace --all-targets
cargo test --locked --workspace -- --test-threads=2
