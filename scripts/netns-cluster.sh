#!/usr/bin/env bash
# A rig of separate hosts on this machine: one network namespace per host
# and per client, joined by a bridge (in a namespace of its own, with no
# uplink), addresses in 198.18.0.0/24 (RFC 2544's benchmarking range, used
# by nothing else here). Each host runs `holdfast node` from its own copy of
# the cluster directory, mounted at the same path as on every host, exactly
# as the README's "Real hosts" steps do on real machines.
#
#   netns-cluster.sh up [HOSTS]     3 hosts by default, and one client
#   netns-cluster.sh down           stops every process, removes everything
#   netns-cluster.sh kill N         silent death: host N's link down, then
#                                   SIGKILL of every process of host N
#   netns-cluster.sh start N        host N boots again: the addresses the
#                                   hook added are gone, link up, node started
#   netns-cluster.sh freeze N       link down, SIGSTOP of every process
#   netns-cluster.sh thaw N         SIGCONT of every process, link up
#   netns-cluster.sh partition N    host N cut off from the other hosts (its
#                                   clients still reach it)
#   netns-cluster.sh heal           every partition undone
#   netns-cluster.sh host N CMD...  runs CMD inside host N
#   netns-cluster.sh client CMD...  runs CMD inside the client
#   netns-cluster.sh cli ARGS...    `holdfast --dir CLUSTER ARGS` from the client
#   netns-cluster.sh addr-holder    the hosts that hold the service address
#   netns-cluster.sh wait-service [S]  until the client reaches the service
#
# Environment: HOLDFAST_BIN (default: holdfast on PATH), RIG_DIR (state,
# default /tmp/hf-rig), RIG_PREFIX (namespace and link names, default hf),
# RIG_SMB_USER and RIG_SMB_PASSWORD (the SMB user `up` creates),
# RIG_NO_TICKLE_ACKS=1 (no tickle ACKs after a takeover), RIG_KEEP=1 (`down`
# leaves RIG_DIR and its logs in place).
# Needs root, iproute2 and arping (scripts/install-deps.sh installs them).
set -euo pipefail

BIN=${HOLDFAST_BIN:-$(command -v holdfast || true)}
RIG=${RIG_DIR:-/tmp/hf-rig}
P=${RIG_PREFIX:-hf}
NET=198.18.0
SERVICE_IP=$NET.50
SERVICE_PORT=445
NODE_PORT=7101
CLIENT_IP=$NET.100
SMB_USER=${RIG_SMB_USER:-tester}
SMB_PASSWORD=${RIG_SMB_PASSWORD:-Correct-Horse-42}
# Where the cluster directory is on every host (a bind mount of the host's
# own copy), and where the CLI on the client finds it.
CLUSTER=$RIG/cluster

die() { echo "netns-cluster: $*" >&2; exit 1; }
ns_host() { echo "$P-h$1"; }
ns_client() { echo "$P-c1"; }
ns_net() { echo "$P-net"; }
hosts() { cat "$RIG/hosts" 2>/dev/null || echo 0; }

# veth pair: NAME inside namespace NS (as eth0), peer on the bridge.
plug() {
    local ns=$1 port=$2 ip=$3
    ip netns add "$ns"
    ip link add "$port" type veth peer name "$port-in"
    ip link set "$port" netns "$(ns_net)"
    ip -n "$(ns_net)" link set "$port" master br0 up
    ip link set "$port-in" netns "$ns"
    ip -n "$ns" link set "$port-in" name eth0
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
}

start_node() {
    local n=$1
    local host_dir=$RIG/host-$n
    ip netns exec "$(ns_host "$n")" sh -c '
        mount --bind "$1" "$2" || exit 1
        exec "$3" node --config "$2/node-$4/node.toml" >>"$1/node-$4/node.log" 2>&1 </dev/null
    ' sh "$host_dir" "$CLUSTER" "$BIN" "$n" &
    echo $! > "$RIG/node-$n.pid"
}

pids_of() { ip netns pids "$1" 2>/dev/null || true; }

cmd_up() {
    local n=${1:-3}
    [ -n "$BIN" ] && [ -x "$BIN" ] || die "no holdfast binary (set HOLDFAST_BIN)"
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
    command -v arping >/dev/null || die "arping missing (apt-get install iputils-arping)"
    ip netns list | grep -q "^$(ns_net)\b" && die "a rig with prefix $P is up; run down first"
    rm -rf "$RIG"
    mkdir -p "$RIG"
    echo "$n" > "$RIG/hosts"
    ip netns add "$(ns_net)"
    ip -n "$(ns_net)" link add br0 type bridge
    ip -n "$(ns_net)" link set br0 up
    local nodes=()
    for i in $(seq 1 "$n"); do
        plug "$(ns_host "$i")" "$P-h$i" "$NET.$i"
        nodes+=(--node "$i=$NET.$i:$NODE_PORT")
    done
    plug "$(ns_client)" "$P-c1" "$CLIENT_IP"
    # The README's steps: init once, copy the directory to every host.
    "$BIN" --dir "$CLUSTER" init "${nodes[@]}" --service "share=$SERVICE_IP:$SERVICE_PORT" \
        --memory 1GiB --volume-size 64MiB >/dev/null
    # RIG_NO_TICKLE_ACKS=1: measure a takeover without tickle ACKs.
    if [ "${RIG_NO_TICKLE_ACKS:-0}" = 1 ]; then
        sed -i 's/^\[service_host\]$/&\nno_tickle_acks = true/' "$CLUSTER/cluster.toml"
        grep -q '^no_tickle_acks = true' "$CLUSTER/cluster.toml" || die "cannot turn tickle ACKs off in $CLUSTER/cluster.toml"
    fi
    # Users are a file of the cluster directory: added before it is copied.
    "$BIN" --dir "$CLUSTER" user add "$SMB_USER" --password "$SMB_PASSWORD" >/dev/null
    for i in $(seq 1 "$n"); do
        cp -a "$CLUSTER" "$RIG/host-$i"
        start_node "$i"
    done
    # Creates the share's volume once the cluster has formed; the host
    # that owns it starts the service.
    local deadline=$((SECONDS + 60))
    until ip netns exec "$(ns_client)" "$BIN" --dir "$CLUSTER" volume ensure >"$RIG/ensure.log" 2>&1; do
        [ $SECONDS -lt $deadline ] || die "volume ensure failed for 60 s: $(cat "$RIG/ensure.log")"
        sleep 0.5
    done
    echo "rig up: $n hosts ($NET.1..$NET.$n), client $CLIENT_IP, service $SERVICE_IP:$SERVICE_PORT, cluster $CLUSTER, SMB user $SMB_USER"
}

cmd_down() {
    local n
    n=$(hosts)
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
        pids=$(pids_of "$ns")
        [ -z "$pids" ] || kill -CONT $pids 2>/dev/null || true
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    done
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    # RIG_KEEP=1 keeps the hosts' logs for a look after the run.
    [ "${RIG_KEEP:-0}" = 1 ] || rm -rf "$RIG"
    echo "rig down ($n hosts)"
}

link() { ip -n "$(ns_host "$1")" link set eth0 "$2"; }

# A host that boots again has lost the addresses the hook put on it.
reboot_addrs() {
    ip -n "$(ns_host "$1")" -o -4 addr show dev eth0 | awk '/ eth0:hf/ {print $4}' | while read -r a; do
        ip -n "$(ns_host "$1")" addr del "$a" dev eth0
    done
}

# Waits until the service address accepts a TCP connection from the client.
cmd_wait_service() {
    local deadline=$((SECONDS + ${1:-60}))
    until ip netns exec "$(ns_client)" bash -c "exec 3<>/dev/tcp/$SERVICE_IP/$SERVICE_PORT" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "service $SERVICE_IP:$SERVICE_PORT not answering after ${1:-60} s"
        sleep 0.1
    done
}

signal_host() {
    local pids
    pids=$(pids_of "$(ns_host "$1")")
    [ -z "$pids" ] || kill "-$2" $pids 2>/dev/null || true
}

cmd_partition() {
    local n=$1
    for i in $(seq 1 "$(hosts)"); do
        [ "$i" = "$n" ] && continue
        ip -n "$(ns_host "$n")" route add blackhole "$NET.$i/32"
        ip -n "$(ns_host "$i")" route add blackhole "$NET.$n/32"
    done
}

cmd_heal() {
    for i in $(seq 1 "$(hosts)"); do
        ip -n "$(ns_host "$i")" route show type blackhole | awk '{print $2}' | while read -r r; do
            ip -n "$(ns_host "$i")" route del blackhole "$r"
        done
    done
}

cmd_addr_holder() {
    for i in $(seq 1 "$(hosts)"); do
        if ip -n "$(ns_host "$i")" -o -4 addr show 2>/dev/null | grep -q " $SERVICE_IP/"; then
            echo "$i"
        fi
    done
}

action=${1:-}
shift || true
case "$action" in
up) cmd_up "$@" ;;
down) cmd_down ;;
kill) link "$1" down; signal_host "$1" KILL ;;
start) reboot_addrs "$1"; link "$1" up; start_node "$1" ;;
freeze) link "$1" down; signal_host "$1" STOP ;;
thaw) signal_host "$1" CONT; link "$1" up ;;
partition) cmd_partition "$1" ;;
heal) cmd_heal ;;
host) n=$1; shift; exec ip netns exec "$(ns_host "$n")" "$@" ;;
client) exec ip netns exec "$(ns_client)" "$@" ;;
cli) exec ip netns exec "$(ns_client)" "$BIN" --dir "$CLUSTER" "$@" ;;
addr-holder) cmd_addr_holder ;;
wait-service) cmd_wait_service "$@" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2 ;;
esac
