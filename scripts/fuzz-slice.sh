#!/usr/bin/env bash
# A brief fixed slice of the smb_pdu fuzz target (SECONDS, default 20) for
# CI; scripts/test.sh runs it. The long runs are scripts/fuzz.sh.
#
# A fresh CI machine has only the stable toolchain and cannot fetch
# nightly. cargo-fuzz passes nightly -Z flags (-Zsanitizer=address and the
# sancov passes); stable rustc accepts them with RUSTC_BOOTSTRAP=1. The
# AddressSanitizer runtime ships with stable's rust-std on
# x86_64-unknown-linux-gnu, so the slice keeps ASan (checked with
# `cargo +stable`: without RUSTC_BOOTSTRAP it fails with "the option `Z` is
# only accepted on the nightly compiler", with it it builds and fuzzes).
# New inputs go to a temporary corpus so the checked-in seeds stay as
# they are; a crash fails the run and leaves fuzz/artifacts/smb_pdu/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
cargo_cmd=(cargo)
# Pin stable when rustup is there, so a nightly default cannot hide a
# stable-only failure.
command -v rustup >/dev/null 2>&1 && cargo_cmd=(cargo +stable)
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
RUSTC_BOOTSTRAP=1 "${cargo_cmd[@]}" fuzz run smb_pdu "$corpus" fuzz/corpus/smb_pdu -- \
    -max_total_time="$secs" -seed=1 -rss_limit_mb=2048 -print_final_stats=1
