#!/usr/bin/env bash
# The PROXY-protocol row of the relay benchmark: a `--proxy-protocol v2` mapping served by
# `nftfwd relay`, against haproxy's `send-proxy-v2` (with splice) to the same PROXY-protocol
# nginx listener, and against docker-proxy and nftfwd-proxy relaying the same nginx without a
# header, all in one network namespace this script creates and removes (the mapping needs a
# table, and the host's ruleset is never touched). Ratios are against docker-proxy's figures
# from the same run.
#
#   sudo bash contrib/bench/relay-proxy.sh        (T=5 RUNS=3)
#
# Metrics (medians of RUNS runs):
#   conns    wrk -t2 -c50 -H 'Connection: close' (requests/s = connections/s)
#   bulk     one connection downloading a 1 GiB file from nginx (curl, Gbit/s)
#   cpu/GB   relay CPU seconds per GB during bulk
# Before measuring, one request through each PROXY relay asks nginx for the client address the
# header carried ($proxy_protocol_addr); a relay that sent no header, or a wrong one, fails.
#
# Environment: T, RUNS, NFTFWD (nftfwd binary), NFTFWD_PROXY, DOCKER_PROXY (as relay.sh finds
# them; relay.sh passes its own), CACHE.
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 1; }
T=${T:-5}
RUNS=${RUNS:-3}
CACHE=${CACHE:-/tmp/relay-bench-cache}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for tool in wrk nginx haproxy curl python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 2; }
done
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
source "$REPO/contrib/bench/relay-common.sh"

bench_relay_binaries nftfwd
bench_docker_proxy

NS="nfpp$$"
WORK=$(mktemp -d /tmp/relay-proxy.XXXXXX)
PLAIN=25480   # nginx, plain HTTP
PP=25481      # nginx, PROXY protocol in front of HTTP
declare -A PORT=([nftfwd-relay-pp2]=25490 [haproxy-pp2]=25491 [docker-proxy]=25492 [nftfwd-proxy]=25493)
RELAYS="docker-proxy nftfwd-proxy nftfwd-relay-pp2 haproxy-pp2"
cleanup() {
    bench_netns_remove "$NS"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
in_ns ip link set lo up
mkdir -p "$WORK/www"
head -c $((1 << 30)) /dev/zero >"$WORK/www/big"
echo ok >"$WORK/www/index.html"
bench_nginx_conf "$WORK" <<EOF
    server { listen 127.0.0.1:$PLAIN backlog=4096; root $WORK/www; }
    server {
        listen 127.0.0.1:$PP proxy_protocol backlog=4096; root $WORK/www;
        location = /who { return 200 "\$proxy_protocol_addr \$proxy_protocol_port\n"; }
    }
EOF
in_ns nginx -c "$WORK/nginx.conf" -p "$WORK"

wait_port() { # bounded: 10 s
    for _ in $(seq 200); do
        in_ns ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listens on $1 in $NS" >&2; return 1
}
wait_port $PLAIN; wait_port $PP

# The relays, started once and kept for every run (not through in_ns: a backgrounded function
# is a subshell, and $! would be its pid, not the relay's).
declare -A PID
ip netns exec "$NS" "$DOCKER_PROXY" -proto tcp -host-ip 127.0.0.1 -host-port "${PORT[docker-proxy]}" \
    -container-ip 127.0.0.1 -container-port $PLAIN >"$WORK/dp.log" 2>&1 3>"$WORK/dp.status" &
PID[docker-proxy]=$!
ip netns exec "$NS" "$NFTFWD_PROXY" -proto tcp -host-ip 127.0.0.1 -host-port "${PORT[nftfwd-proxy]}" \
    -container-ip 127.0.0.1 -container-port $PLAIN >"$WORK/np.log" 2>&1 3>"$WORK/np.status" &
PID[nftfwd-proxy]=$!
in_ns "$NFTFWD" add "127.0.0.1:${PORT[nftfwd-relay-pp2]}" "127.0.0.1:$PP" --proxy-protocol v2 >/dev/null
ip netns exec "$NS" "$NFTFWD" relay >"$WORK/relay.log" 2>&1 &
PID[nftfwd-relay-pp2]=$!
bench_haproxy_cfg "$WORK/haproxy.cfg" <<EOF
listen pp
    bind 127.0.0.1:${PORT[haproxy-pp2]}
    server s 127.0.0.1:$PP send-proxy-v2
EOF
ip netns exec "$NS" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PID[haproxy-pp2]=$!
for relay in $RELAYS; do wait_port "${PORT[$relay]}"; done

# The header is there and names the client (curl connects from 127.0.0.1).
for relay in nftfwd-relay-pp2 haproxy-pp2; do
    who=$(in_ns curl -s --max-time 5 "http://127.0.0.1:${PORT[$relay]}/who")
    [[ $who == "127.0.0.1 "* ]] || { echo "$relay: nginx saw no PROXY header naming 127.0.0.1 (got '$who')" >&2; cat "$WORK/relay.log" >&2; exit 1; }
done

cpu_ticks() { awk '{ sub(/^.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A R
for run in $(seq "$RUNS"); do
    for relay in $RELAYS; do
        log "run $run/$RUNS: $relay"
        port=${PORT[$relay]}
        in_ns wrk -t2 -c50 -d"${T}s" -H 'Connection: close' "http://127.0.0.1:$port/" >"$WORK/wrk.txt" 2>&1 || true
        R[$relay,conns]+="$(awk '/^Requests\/sec/{printf "%d", $2}' "$WORK/wrk.txt") "
        before=$(cpu_ticks "${PID[$relay]}")
        bps=$(in_ns curl -s -o /dev/null --max-time 60 -w '%{speed_download}' "http://127.0.0.1:$port/big")
        after=$(cpu_ticks "${PID[$relay]}")
        R[$relay,bulk]+="$(python3 -c "print(round($bps * 8 / 1e9, 2))") "
        R[$relay,cpugb]+="$(python3 -c "print(round(($after - $before) / $hz / ((1 << 30) / 1e9), 3))") "
    done
done

median() { python3 -c "
import statistics, sys
v = [float(x) for x in sys.argv[1:] if x not in ('', 'n/a')]
print('n/a' if not v else ('%g' % statistics.median(v)))" $1; }
ratio() { python3 -c "
a, b = '$1', '$2'
print('' if 'n/a' in (a, b) or float(b) == 0 else '(%.2fx)' % (float(a) / float(b)))"; }

echo
echo "PROXY-protocol row: T=${T}s, medians of $RUNS run(s), in one namespace; ratios vs docker-proxy"
echo "(docker-proxy and nftfwd-proxy relay plain HTTP; the -pp2 relays add a PROXY v2 header)"
printf '%-18s %-18s %-18s %-18s\n' relay conns bulk-Gbit/s cpu/GB
for relay in $RELAYS; do
    line=$(printf '%-18s' "$relay")
    for m in conns bulk cpugb; do
        v=$(median "${R[$relay,$m]}")
        r=""; [[ $relay != docker-proxy ]] && r=$(ratio "$v" "$(median "${R[docker-proxy,$m]}")")
        line+=$(printf ' %-18s' "$v $r")
    done
    echo "$line"
done
