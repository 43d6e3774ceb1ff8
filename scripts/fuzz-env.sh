# Sourced by fuzz.sh and fuzz-slice.sh: how we run cargo-fuzz here.
#
# A fresh CI machine has only the stable toolchain and cannot fetch
# nightly. cargo-fuzz passes nightly -Z flags (-Zsanitizer=address and the
# sancov passes); stable rustc accepts them with RUSTC_BOOTSTRAP=1. The
# AddressSanitizer runtime ships with stable's rust-std on
# x86_64-unknown-linux-gnu, so the runs keep ASan (checked with
# `cargo +stable`: without RUSTC_BOOTSTRAP it fails with "the option `Z` is
# only accepted on the nightly compiler", with it it builds and fuzzes).
cargo_cmd=(cargo)
# Pin stable when rustup is there, so a nightly default cannot hide a
# stable-only failure.
command -v rustup >/dev/null 2>&1 && cargo_cmd=(cargo +stable)
export RUSTC_BOOTSTRAP=1

# Every target, from fuzz/Cargo.toml (the one list of them).
fuzz_targets() {
    "${cargo_cmd[@]}" fuzz list
}

# Inputs replayed before fuzzing TARGET: its checked-in seeds and every
# input that once crashed it (fuzz/regressions/TARGET/, see fuzz.sh).
fuzz_seed_dirs() {
    local t="$1" d
    for d in "fuzz/corpus/$t" "fuzz/regressions/$t"; do
        [ -d "$d" ] && printf '%s\n' "$d"
    done
    return 0
}
