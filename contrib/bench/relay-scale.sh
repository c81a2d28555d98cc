#!/usr/bin/env bash
# Relay scale row: what `nftfwd relay` costs for a 60,000-port tcp range plus a 60,000-port
# udp range (`add 2000-61999 198.18.9.2:2000-61999 --proto tcp`, the same with udp), served
# over the loopback redirect, against the per-port design (the relay without
# --loopback-redirect: one socket per port, udp), in the same run. Prints descriptors, RSS
# and readiness (relay start to its "serving" log line) for each, and the ratios.
#
# Run as root:  contrib/bench/relay-scale.sh   (NFTFWD: binary; default: swift build -c release)
#   N (ports, default 60000), from port 2000.
# Issue 11's targets for the redirect row: at most 100 descriptors, 16 MB RSS, ready in < 1 s.
# Last figures (2026-12-04, release, load 4.8-6.6 on 2 cores, four runs): 26 fds, 10.7-10.8 MB,
# 0.30-0.70 s (before the relay scanned large maps instead of dumping them: 17.4 MB, 2.8-9 s).
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 1; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${N:-60000}
if [[ -z ${NFTFWD:-} ]]; then
    (cd "$REPO" && swift build -c release --product nftfwd >&2)
    NFTFWD=$REPO/.build/release/nftfwd
fi
NS=relayscale-$$
cleanup() { [[ -n ${RELAY:-} ]] && kill "$RELAY" 2>/dev/null; wait 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; rm -f "/tmp/$NS.log"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true   # the per-port design needs a descriptor per port

# The per-port design needs a descriptor per port: it gets as many ports as the limit allows.
PER_PORT_N=$(( N < $(ulimit -n) - 200 ? N : $(ulimit -n) - 200 ))

measure() {   # $1: label, $2: protocols ("tcp udp"), $3: ports, $4: relay option
    ip netns del "$NS" 2>/dev/null || true
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" link add v0 type veth peer name v1
    ip -n "$NS" addr add 198.18.9.1/24 dev v0
    ip -n "$NS" link set v0 up; ip -n "$NS" link set v1 up
    local last=$((2000 + $3 - 1))
    for proto in $2; do
        ip netns exec "$NS" "$NFTFWD" add "2000-$last" "198.18.9.2:2000-$last" --proto "$proto" >/dev/null 2>&1
    done
    : > "/tmp/$NS.log"
    local start; start=$(date +%s.%N)
    ip netns exec "$NS" "$NFTFWD" relay ${4:-} >"/tmp/$NS.log" 2>&1 &
    RELAY=$!
    # Ready: every protocol's serving line (polled every 10 ms: the bound on the reading).
    local want; want=$(echo $2 | wc -w)
    for _ in $(seq 1 6000); do
        [[ $(grep -c "serving .*2000-$last/" "/tmp/$NS.log") -ge $want ]] && break; sleep 0.01
    done
    local ready; ready=$(echo "$(date +%s.%N) - $start" | bc)
    local fds rss; fds=$(ls "/proc/$RELAY/fd" | wc -l); rss=$(awk '/VmRSS/ {print $2}' "/proc/$RELAY/status")
    kill "$RELAY"; wait "$RELAY" 2>/dev/null || true; RELAY=
    # The row for the reader on stderr, the raw figures for the ratios on stdout.
    printf '%-36s %8s fds %8.1f MB RSS %7.2f s ready\n' "$1" "$fds" "$(echo "$rss / 1024" | bc -l)" "$ready" >&2
    echo "$fds $rss $ready"
}

echo "relay scale, $N tcp + $N udp ports (one run; load: $(uptime | sed 's/.*load average: //'))"
read -r rf rr rt < <(measure "redirect (tcp+udp), 2 x $N ports" "tcp udp" "$N" --loopback-redirect | tail -1)
read -r pf pr pt < <(measure "per-port (udp), $PER_PORT_N ports" udp "$PER_PORT_N" | tail -1)
echo "(the per-port row serves $PER_PORT_N ports: its cost per port times $N is what the old design needs)"
printf 'ratio redirect/per-port: fds %.4f  RSS %.2f  ready %.2f\n' \
    "$(echo "$rf / $pf" | bc -l)" "$(echo "$rr / $pr" | bc -l)" "$(echo "$rt / $pt" | bc -l)"
