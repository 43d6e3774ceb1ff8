#!/usr/bin/env bash
# Long simulation run: `bash scripts/sim.sh [SEEDS] [START]` runs SEEDS seeds
# (default 2000) of the deterministic simulation on 3 and on 5 nodes.
# A failing seed prints the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-2000}"
start="${2:-1}"
cargo run --locked --release -p holdfast-sim -- --seeds "$seeds" --start "$start" --nodes 3 --keep-going
cargo run --locked --release -p holdfast-sim -- --seeds "$((seeds / 4))" --start "$start" --nodes 5 --keep-going
# The harsher faults (crashes during rebuilds, two hosts down at once)
# with a longer fault phase, on 3 and 5 nodes.
cargo run --locked --release -p holdfast-sim -- --seeds "$((seeds / 4))" --start "$((start + 50000))" --nodes 3 --fault-secs 20 --harsh-crashes --keep-going
cargo run --locked --release -p holdfast-sim -- --seeds "$((seeds / 8))" --start "$((start + 70000))" --nodes 5 --fault-secs 20 --harsh-crashes --keep-going
