#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 60). Needs a nightly
# toolchain and cargo-fuzz (`cargo install cargo-fuzz`); crashes are left in
# fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
for t in smb_pdu rpc_pdu fs_socket handle_record park_image objfs_image; do
    echo "fuzzing $t for ${secs}s"
    cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048
done
