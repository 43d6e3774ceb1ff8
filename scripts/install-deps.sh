#!/usr/bin/env bash
# Installs what building and testing Holdfast needs on a fresh Debian
# machine. Idempotent: each step is skipped when already satisfied.
set -euo pipefail

apt_install() {
    # Installs the named Debian packages that are missing.
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y --no-install-recommends "${missing[@]}" || {
        $sudo apt-get update -q
        $sudo apt-get install -y --no-install-recommends "${missing[@]}"
    }
}

# A C compiler links the Rust binaries; procps gives the tests pgrep/kill.
command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev
command -v pgrep >/dev/null 2>&1 || apt_install procps

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "cargo is missing: install a Rust toolchain >= 1.80 (rustup, or Debian's cargo from a recent release)" >&2
        apt_install cargo rustc
    fi
fi

# Real SMB clients for the SMB service's tests (crates/holdfast/tests/smb_client.rs),
# smbtorture (samba-testsuite), and Samba's smbd as the baseline of
# `holdfast bench smb` (crates/holdfast/tests/bench_smb.rs).
command -v smbclient >/dev/null 2>&1 || apt_install smbclient
[ -x /usr/sbin/smbd ] || apt_install samba
command -v smbtorture >/dev/null 2>&1 || apt_install samba-testsuite

# The rig of separate hosts (scripts/netns-cluster.sh,
# crates/holdfast/tests/netns.rs): network namespaces and addresses
# (iproute2), and the address hook's gratuitous ARP (dist/holdfast-addr).
command -v ip >/dev/null 2>&1 || apt_install iproute2
command -v arping >/dev/null 2>&1 || apt_install iputils-arping

# The system user smbd drops to when a node runs as root, as the tests'
# nodes do in CI (docs/security.md, "The smbd user"); `holdfast up` and
# the test harness create it too, as a package's postinst would.
if [ "$(id -u)" -eq 0 ] && ! id holdfast-smbd >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin holdfast-smbd
fi

# cargo-fuzz for the fuzz slice in scripts/test.sh (scripts/fuzz-slice.sh
# runs it on the stable toolchain).
command -v cargo-fuzz >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo-fuzz" ] || cargo install --locked cargo-fuzz

# Python smbprotocol for the persistent-handle test
# (crates/holdfast/tests/smb_persistent.rs, tests/smb/test_persistent.py):
# a venv at target/smb-venv, or $HOLDFAST_SMB_VENV.
command -v python3 >/dev/null 2>&1 || apt_install python3
smb_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
smb_venv="${HOLDFAST_SMB_VENV:-$smb_root/target/smb-venv}"
if ! "$smb_venv/bin/python3" -c 'import smbprotocol' >/dev/null 2>&1; then
    # Debian's python3 needs python3-venv (ensurepip) for `-m venv`.
    python3 -m venv "$smb_venv" 2>/dev/null || {
        apt_install python3-venv python3-pip
        rm -rf "$smb_venv"
        python3 -m venv "$smb_venv"
    }
    "$smb_venv/bin/pip" install -q -r "$smb_root/tests/smb/requirements.txt"
fi
