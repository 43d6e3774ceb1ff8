#!/usr/bin/env bash
# The long fuzz run, on demand: every target (or those named) for RUNS
# executions each (default 10^7), on stable as the CI slice does.
#   bash scripts/fuzz.sh                 10^7 executions per target
#   bash scripts/fuzz.sh 20000000 smb_pdu
# Each run keeps its corpus in fuzz/corpus-long/TARGET/ (not checked in).
# A crash stops that target; its input is copied to
# fuzz/regressions/TARGET/, which the CI slice replays from then on:
# commit it with the fix, and it is a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fuzz-env.sh
runs="${1:-10000000}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(fuzz_targets)
"${cargo_cmd[@]}" fuzz build
failed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-long/$t" "fuzz/artifacts/$t"
    echo "fuzzing $t for $runs executions"
    # shellcheck disable=SC2046
    if ! "${cargo_cmd[@]}" fuzz run "$t" "fuzz/corpus-long/$t" $(fuzz_seed_dirs "$t") -- \
        -runs="$runs" -rss_limit_mb=2048 -print_final_stats=1; then
        failed=1
        mkdir -p "fuzz/regressions/$t"
        for f in fuzz/artifacts/"$t"/crash-* fuzz/artifacts/"$t"/oom-* fuzz/artifacts/"$t"/timeout-*; do
            [ -e "$f" ] && cp -v "$f" "fuzz/regressions/$t/"
        done
        echo "fuzz: $t failed; its input is now in fuzz/regressions/$t/"
    fi
done
exit "$failed"
