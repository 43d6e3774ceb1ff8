#!/usr/bin/env bash
# A brief fixed slice of every fuzz target (SECONDS each, default 10) for
# CI; scripts/test.sh runs it. Each target first replays its checked-in
# seeds and its regressions (inputs that once crashed it), so a fixed crash
# that comes back fails CI. The long runs are scripts/fuzz.sh.
# New inputs go to a temporary corpus so the checked-in seeds stay as
# they are; a crash fails the run and leaves fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/fuzz-env.sh
secs="${1:-10}"
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
"${cargo_cmd[@]}" fuzz build
for t in $(fuzz_targets); do
    mkdir -p "$corpus/$t"
    echo "fuzz slice: $t for ${secs}s"
    log="$corpus/$t.log"
    # shellcheck disable=SC2046
    if ! "${cargo_cmd[@]}" fuzz run "$t" "$corpus/$t" $(fuzz_seed_dirs "$t") -- \
        -max_total_time="$secs" -seed=1 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz slice: $t FAILED (input in fuzz/artifacts/$t/)"
        exit 1
    fi
    grep -E '^stat::number_of_executed_units' "$log" || true
done
