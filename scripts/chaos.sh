#!/usr/bin/env bash
# Long chaos run with real processes: `bash scripts/chaos.sh [CYCLES]`
# (default 300) kill -9s and restarts random hosts under a writer, then
# checks that no acknowledged write was lost and all copies match.
# HOLDFAST_CHAOS_SEED=N replays a run's choice of victims.
set -euo pipefail
cd "$(dirname "$0")/.."
HOLDFAST_CHAOS_CYCLES="${1:-300}" cargo test --locked --release -p holdfast --test chaos -- --nocapture
