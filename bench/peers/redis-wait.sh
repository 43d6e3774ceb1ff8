#!/usr/bin/env bash
# Side-by-side figure: Redis SET 512 B + `WAIT 2 0` (1 primary, 2 replicas,
# persistence off, loopback) against Holdfast's replicated 512 B write, both
# measured in the same sitting with the same percentiles.
#
# Run `bench/peers/redis-wait.sh --help` for the knobs.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/peers/redis-wait.sh [--help]

Starts 1 Redis primary and 2 replicas on 127.0.0.1 (persistence off, each in
its own temporary directory), measures SET 512 B + `WAIT 2 0` with
`holdfast bench redis-wait`, stops Redis, then runs `holdfast bench replicate`
(which starts and removes its own temporary 3-node cluster), and prints one
JSON object on stdout:

  redis_set_wait_p50_us / _p99_us / _p999_us
  write_512_p50_us / _p99_us / _p999_us
  holdfast_vs_redis_p50 = write_512_p50_us / redis_set_wait_p50_us

plus a line on stderr saying whether the target (ratio <= 0.5) was met.
Installs redis-server with apt-get if it is not on PATH (needs root or
passwordless sudo). Everything it starts is stopped on exit, error or Ctrl-C.

Environment:
  SAMPLES=20000          latency samples per measurement (both benchmarks)
  SECONDS_PER_RUN=3      seconds per Holdfast throughput measurement
  REDIS_BASE_PORT=6390   first port tried; uses 3 consecutive free ports
  REDIS_READY_TIMEOUT=30 seconds to wait for both replicas to be in sync
  SKIP_HOLDFAST=1        measure Redis only
  HOLDFAST_BIN=path      holdfast binary (default: target/release/holdfast,
                         built with `cargo build --release -p holdfast` if missing)
EOF
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") ;;
    *) echo "redis-wait.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac

log() { printf 'redis-wait: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
SAMPLES=${SAMPLES:-20000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
REDIS_BASE_PORT=${REDIS_BASE_PORT:-6390}
REDIS_READY_TIMEOUT=${REDIS_READY_TIMEOUT:-30}
SKIP_HOLDFAST=${SKIP_HOLDFAST:-0}
TARGET_RATIO=0.5
TMP_ROOT=${TMPDIR:-/tmp}

[[ $SAMPLES =~ ^[1-9][0-9]*$ ]] || die "SAMPLES must be a positive integer, got '$SAMPLES'"
[[ $SECONDS_PER_RUN =~ ^[0-9]+([.][0-9]+)?$ ]] || die "SECONDS_PER_RUN must be a number, got '$SECONDS_PER_RUN'"
if ! [[ $REDIS_BASE_PORT =~ ^[0-9]+$ ]] || ((REDIS_BASE_PORT < 1024 || REDIS_BASE_PORT > 65000)); then
    die "REDIS_BASE_PORT must be in 1024..65000, got '$REDIS_BASE_PORT'"
fi
[[ $REDIS_READY_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "REDIS_READY_TIMEOUT must be a positive integer"
command -v python3 >/dev/null || die "python3 is needed to merge the JSON results"

# ---------------------------------------------------------------------------
# Cleanup: everything this script starts is recorded here and undone on exit.

REDIS_PIDS=()     # redis-server processes we started (our children)
TMP_DIRS=()       # directories we created
BENCH_PID=""      # holdfast bench process currently running, if any
POLICY_RC=""      # policy-rc.d we created for the install, if any

# True if $1 is still one of our redis-server processes (guards against the
# pid having been reaped and reused).
is_our_redis() {
    local comm
    kill -0 "$1" 2>/dev/null || return 1
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 0
    [[ $comm == redis-server* ]]
}

stop_redis() {
    local pid alive i
    ((${#REDIS_PIDS[@]})) || return 0
    for pid in "${REDIS_PIDS[@]}"; do
        if is_our_redis "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    for ((i = 0; i < 100; i++)); do # up to 10 s for a clean shutdown
        alive=0
        for pid in "${REDIS_PIDS[@]}"; do
            if is_our_redis "$pid"; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${REDIS_PIDS[@]}"; do
        if is_our_redis "$pid"; then
            log "redis-server pid $pid ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true # reap; its exit status is of no interest
    done
    REDIS_PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    if [[ -n $BENCH_PID ]]; then
        # Its node processes get SIGTERM from the kernel when it dies
        # (PR_SET_PDEATHSIG); its temporary cluster dir is ours to remove.
        kill -TERM "$BENCH_PID" 2>/dev/null
        wait "$BENCH_PID" 2>/dev/null
        rm -rf "$TMP_ROOT/holdfast-bench-$BENCH_PID"
        BENCH_PID=""
    fi
    stop_redis
    [[ -n $POLICY_RC ]] && rm -f "$POLICY_RC"
    ((${#TMP_DIRS[@]})) && rm -rf "${TMP_DIRS[@]}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------------------
# holdfast binary

find_holdfast() {
    if [[ -n ${HOLDFAST_BIN:-} ]]; then
        [[ -x $HOLDFAST_BIN ]] || die "HOLDFAST_BIN=$HOLDFAST_BIN is not an executable"
        HOLDFAST=$HOLDFAST_BIN
        return
    fi
    HOLDFAST=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/holdfast
    if [[ ! -x $HOLDFAST ]]; then
        command -v cargo >/dev/null || die "$HOLDFAST is missing and cargo is not on PATH"
        log "building holdfast (cargo build --release -p holdfast)"
        (cd "$REPO_ROOT" && cargo build --release -p holdfast) >&2
        [[ -x $HOLDFAST ]] || die "cargo build succeeded but $HOLDFAST is missing"
    fi
}

# ---------------------------------------------------------------------------
# redis-server install

install_redis() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "redis-server is not on PATH and apt-get is unavailable; install Redis >= 5 by hand"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "installing redis-server needs root (or sudo)"
        sudo=(sudo -n)
    fi
    # Keep the package's own service (port 6379) from being started: we run
    # our own instances. Only if no policy is in place already.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null &&
            "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d && POLICY_RC=/usr/sbin/policy-rc.d
    fi
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    log "installing redis-server with apt-get"
    if ! "${apt[@]}" install redis-server </dev/null >&2; then
        log "install failed; running apt-get update and retrying"
        "${apt[@]}" update </dev/null >&2 || die "apt-get update failed"
        "${apt[@]}" install redis-server </dev/null >&2 || die "apt-get install redis-server failed"
    fi
    if [[ -n $POLICY_RC ]]; then
        "${sudo[@]}" rm -f "$POLICY_RC"
        POLICY_RC=""
    fi
    hash -r
    command -v redis-server >/dev/null || die "redis-server still not on PATH after install"
    command -v redis-cli >/dev/null || die "redis-cli not on PATH after install (package redis-tools)"
}

# ---------------------------------------------------------------------------
# Redis instances

# Exit status 0 if 127.0.0.1:$1 can be bound right now.
port_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis does
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

pick_ports() {
    local base=$REDIS_BASE_PORT attempt
    for ((attempt = 0; attempt < 50; attempt++)); do
        if ((base + 2 <= 65535)) && port_free "$base" && port_free $((base + 1)) && port_free $((base + 2)); then
            PRIMARY_PORT=$base
            REPLICA_PORTS=($((base + 1)) $((base + 2)))
            return
        fi
        base=$((base + 3))
    done
    die "no 3 consecutive free loopback ports found from $REDIS_BASE_PORT"
}

rcli() { # port args...
    local port=$1
    shift
    redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null | tr -d '\r'
}

# start_redis PORT [PRIMARY_PORT]
start_redis() {
    local port=$1 dir pid
    dir=$(mktemp -d "$TMP_ROOT/redis-wait-$port.XXXXXX")
    TMP_DIRS+=("$dir")
    local args=(
        --port "$port" --bind 127.0.0.1 --protected-mode yes
        --daemonize no --dir "$dir" --logfile "$dir/redis.log"
        --save "" --appendonly no
        --repl-diskless-sync yes --repl-diskless-sync-delay 0
    )
    (($# > 1)) && args+=(--replicaof 127.0.0.1 "$2")
    redis-server "${args[@]}" </dev/null >/dev/null 2>&1 &
    pid=$!
    REDIS_PIDS+=("$pid")
    REDIS_DIR[$port]=$dir
    REDIS_PID[$port]=$pid
}

redis_log_tail() {
    local port=$1
    log "last lines of redis log for port $port:"
    tail -n 20 "${REDIS_DIR[$port]}/redis.log" >&2 2>/dev/null || true
}

# Waits for PING, then checks persistence really is off.
wait_ping() {
    local port=$1 deadline=$((SECONDS + 10))
    until [[ $(rcli "$port" ping) == PONG ]]; do
        if ! kill -0 "${REDIS_PID[$port]}" 2>/dev/null; then
            redis_log_tail "$port"
            die "redis-server on port $port exited during start"
        fi
        ((SECONDS < deadline)) || { redis_log_tail "$port"; die "redis-server on port $port does not answer PING"; }
        sleep 0.05
    done
    local save aof
    save=$(rcli "$port" config get save | sed -n 2p) || true
    aof=$(rcli "$port" config get appendonly | sed -n 2p) || true
    [[ -z $save && $aof == no ]] || die "port $port: persistence not off (save='$save' appendonly='$aof')"
}

wait_replication() {
    local deadline=$((SECONDS + REDIS_READY_TIMEOUT)) info rinfo ok port
    while :; do
        ok=1
        info=$(rcli "$PRIMARY_PORT" info replication) || true
        grep -qx 'role:master' <<<"$info" || ok=0
        grep -qx 'connected_slaves:2' <<<"$info" || ok=0
        [[ $(grep -c '^slave[0-9]*:.*state=online' <<<"$info") -eq 2 ]] || ok=0
        for port in "${REPLICA_PORTS[@]}"; do
            rinfo=$(rcli "$port" info replication) || true
            grep -qx 'master_link_status:up' <<<"$rinfo" || ok=0
        done
        ((ok)) && return
        if ((SECONDS >= deadline)); then
            log "primary INFO replication:"
            printf '%s\n' "$info" >&2
            for port in "$PRIMARY_PORT" "${REPLICA_PORTS[@]}"; do redis_log_tail "$port"; done
            die "replicas not in sync after ${REDIS_READY_TIMEOUT} s"
        fi
        sleep 0.1
    done
}

# ---------------------------------------------------------------------------
# Benchmarks

# run_bench OUTFILE ARGS... : runs holdfast in the background so a signal
# reaches our trap at once, and the trap can stop it.
run_bench() {
    local out=$1 rc=0
    shift
    # Never aim `bench replicate` at a live cluster named by HOLDFAST_DIR.
    env -u HOLDFAST_DIR "$HOLDFAST" "$@" >"$out" </dev/null &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    return "$rc"
}

declare -A REDIS_DIR=() REDIS_PID=()

find_holdfast
install_redis
REDIS_VERSION=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
WORK=$(mktemp -d "$TMP_ROOT/redis-wait-out.XXXXXX")
TMP_DIRS+=("$WORK")

pick_ports
log "redis $REDIS_VERSION: primary 127.0.0.1:$PRIMARY_PORT, replicas ${REPLICA_PORTS[*]/#/127.0.0.1:}"
start_redis "$PRIMARY_PORT"
wait_ping "$PRIMARY_PORT"
for port in "${REPLICA_PORTS[@]}"; do
    start_redis "$port" "$PRIMARY_PORT"
done
for port in "${REPLICA_PORTS[@]}"; do
    wait_ping "$port"
done
wait_replication
log "replication up; measuring SET 512 B + WAIT 2 0 ($SAMPLES samples)"

run_bench "$WORK/redis.json" bench redis-wait --addr "127.0.0.1:$PRIMARY_PORT" \
    --replicas 2 --samples "$SAMPLES" --json || die "holdfast bench redis-wait failed"
# Stop Redis before measuring Holdfast so the two runs don't share the CPUs.
stop_redis

if [[ $SKIP_HOLDFAST == 1 ]]; then
    : >"$WORK/holdfast.json"
else
    log "measuring Holdfast: bench replicate ($SAMPLES samples, ${SECONDS_PER_RUN} s per throughput run)"
    run_bench "$WORK/holdfast.json" bench replicate --json --samples "$SAMPLES" \
        --seconds "$SECONDS_PER_RUN" || die "holdfast bench replicate failed"
fi

python3 - "$WORK/redis.json" "$WORK/holdfast.json" "$REDIS_VERSION" "$TARGET_RATIO" <<'PY'
import json, sys

def last_json(path):
    """The last line of the file that parses as a JSON object, or None."""
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else None

redis = last_json(sys.argv[1])
if redis is None:
    sys.exit("redis-wait: error: no JSON from holdfast bench redis-wait")
hf = last_json(sys.argv[2])
version, target = sys.argv[3], float(sys.argv[4])

out = {
    "redis_version": version,
    "redis_set_wait_p50_us": redis["redis_set_wait_p50_us"],
    "redis_set_wait_p99_us": redis["redis_set_wait_p99_us"],
    "redis_set_wait_p999_us": redis["redis_set_wait_p999_us"],
    "redis_wait_short_acks": redis.get("redis_wait_short_acks", 0),
    "samples": redis.get("samples"),
}
if redis.get("redis_wait_short_acks", 0):
    print(f"redis-wait: warning: {out['redis_wait_short_acks']} WAITs returned fewer than 2 acks",
          file=sys.stderr)

if hf is None:
    print("redis-wait: Holdfast skipped (SKIP_HOLDFAST=1); target not evaluated", file=sys.stderr)
else:
    for k in ("write_512_p50_us", "write_512_p99_us", "write_512_p999_us", "rtt_p50_us"):
        if k in hf:
            out[k] = hf[k]
    r50 = redis["redis_set_wait_p50_us"]
    ratio = round(hf["write_512_p50_us"] / r50, 3) if r50 else None
    out["holdfast_vs_redis_p50"] = ratio
    out["target_ratio"] = target
    out["target_met"] = ratio is not None and ratio <= target
    verdict = "MET" if out["target_met"] else "NOT met"
    print(f"redis-wait: target {verdict}: Holdfast write_512 p50 {hf['write_512_p50_us']} us = "
          f"{ratio} x Redis SET+WAIT p50 {r50} us (target <= {target} x)", file=sys.stderr)

print(json.dumps(out))
PY
