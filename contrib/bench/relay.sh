#!/usr/bin/env bash
# Loopback relay benchmark: direct vs nftfwd-proxy vs docker-proxy vs socat vs haproxy (splice).
#
# Run as root from anywhere:   contrib/bench/relay.sh
# Quick run:                    T=3 RUNS=1 contrib/bench/relay.sh
#
# Metrics (medians of RUNS runs):
#   tcp1     iperf3 TCP, 1 stream (Gbit/s)            cpu1   relay CPU seconds during tcp1
#   tcp8     iperf3 TCP, -P 8 (Gbit/s)                cpu/GB relay CPU seconds per GB moved in tcp1
#   conns    wrk -t2 -c50 -H 'Connection: close' against nginx (requests/s = connections/s)
#   udp      iperf3 -u -b 0 -l 1400 -w 4M, delivered (Gbit/s)  udp-us  relay CPU microseconds per
#                                                                   datagram delivered in udp
#            -w 4M: the receiving iperf3's socket buffer (iperf3 sends it to the server). With
#            the default ~200 KiB (~90 datagrams) every few milliseconds the receiver is not
#            scheduled overflow it, and on a loaded box that, not the relay, set the udp row:
#            2026-12-04, load 4-5, T=4: direct 1.09 Gbit/s with 41% lost, nftfwd-proxy 0.84,
#            docker-proxy 0.29; with -w 4M direct 1.64 with 0% lost, nftfwd-proxy 1.12,
#            docker-proxy 0.37 (its losses at its own socket: the relay is what is measured).
#            The relays' own sockets keep their own sizes. Keep `direct` in RELAYS to see the
#            ceiling; udp-us is the relay's own cost either way.
#   rss/fds  relay RSS (MB) and open fds while 1,000 idle connections are held (summed over
#            the process tree for socat, which forks per connection)
#
# Environment: T (seconds per iperf3/wrk run, default 10), RUNS (default 3),
#   RELAYS (default "direct nftfwd-proxy docker-proxy socat haproxy"),
#   NFTFWD_PROXY (binary; default: built here with swift build -c release),
#   DOCKER_PROXY (binary; default: extracted from Debian's docker.io without installing it),
#   CACHE (where the docker.io package is kept, default /tmp/relay-bench-cache),
#   NFTFWD_RELAY (the nftfwd binary of the scale and PROXY rows; default: built release),
#   SCALE=0 skips the relay-scale row, PROXY=0 the PROXY-protocol row (relay-proxy.sh).
set -euo pipefail

T=${T:-10}
RUNS=${RUNS:-3}
RELAYS=${RELAYS:-"direct nftfwd-proxy docker-proxy socat haproxy"}
CACHE=${CACHE:-/tmp/relay-bench-cache}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/relay-bench.XXXXXX)

# Ports: backends, then one listen port per relay (TCP and UDP use the same number).
IPERF_PORT=25201
NGINX_PORT=25280
RELAY_PORT=25300   # iperf3 relay; +1: nginx relay

[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup: everything we start
descendants() {   # the pid and all its descendants (one ps call: socat has 1,000 children)
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            print root
            for (p in parent) { q = p; while (q in parent && q != root && q > 1) q = parent[q]; if (q == root && p != root) print p }
        }'
}
PIDS=()
cleanup() {
    local pid all=()
    for pid in "${PIDS[@]}"; do all+=($(descendants "$pid")); done
    for pid in "${all[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${all[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- tools
need=()
for tool in iperf3 wrk socat haproxy nginx python3; do
    command -v "$tool" >/dev/null || need+=("$tool")
done
if ((${#need[@]})); then
    log "installing: ${need[*]}"
    apt-get install -y "${need[@]}" >/dev/null
fi

source "$REPO/contrib/bench/relay-common.sh"
bench_relay_binaries
bench_docker_proxy

# ---------------------------------------------------------------- helpers
# wait_port PROTO PORT: until something listens (bounded, 10 s).
wait_port() {
    local flag=-ltn; [[ $1 == udp ]] && flag=-lun
    for _ in $(seq 200); do
        ss -H "$flag" "sport = :$2" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listens on $1/$2" >&2; return 1
}

start() {   # start LOG CMD...: background process; pid appended to PIDS and put in LAST_PID
    local logf=$1; shift
    "$@" >"$logf" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
}

# Like start, with fd 3 = a status file, as dockerd gives docker-proxy (both proxies write
# their "0\n" there; docker-proxy 20.10 misbehaves when fd 3 is not open).
start_proxy() {
    local logf=$1; shift
    "$@" >"$logf" 2>&1 3>"$logf.status" &
    PIDS+=($!)
    LAST_PID=$!
}

stop_pids() {   # stop_pids PID...: TERM them and their descendants (socat's forks), wait (bounded), KILL
    local pid all=()
    for pid in "$@"; do all+=($(descendants "$pid")); done
    for pid in "${all[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${all[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

cpu_ticks() {   # utime+stime(+children reaped) of a process tree, in clock ticks
    local total=0 p f
    for p in $(descendants "$1"); do
        f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
        # fields after ')': 1=state ... utime=12 stime=13 cutime=14 cstime=15
        total=$((total + $(awk '{print $12+$13+$14+$15}' <<<"$f")))
    done
    echo "$total"
}

rss_kb() {   # summed VmRSS of a process tree
    local total=0 p v
    for p in $(descendants "$1"); do
        v=$(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

fd_count() {
    local total=0 p
    for p in $(descendants "$1"); do
        total=$((total + $(ls "/proc/$p/fd" 2>/dev/null | wc -l)))
    done
    echo "$total"
}

json() {   # json FILE EXPR: EXPR over the parsed file as d; n/a if the run failed
    python3 -c "
import json
try:
    d = json.load(open('$1')); print($2)
except Exception:
    print('n/a')"
}

# ---------------------------------------------------------------- backends
start "$WORK/iperf3.log" iperf3 -s -p $IPERF_PORT
mkdir -p "$WORK/nginx/www"
echo ok >"$WORK/nginx/www/index.html"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx; uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
    keepalive_timeout 120s;
    client_header_timeout 120s;
    server { listen 127.0.0.1:$NGINX_PORT backlog=4096; root $WORK/nginx/www; }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
wait_port tcp $IPERF_PORT
wait_port tcp $NGINX_PORT

# ---------------------------------------------------------------- relays
# start_relay NAME: starts NAME forwarding RELAY_PORT -> iperf3 (tcp+udp) and
# RELAY_PORT+1 -> nginx; sets RELAY_PIDS (CPU of the first is the tcp1 figure), L_IPERF, L_HTTP.
start_relay() {
    RELAY_PIDS=()
    L_IPERF=$RELAY_PORT
    L_HTTP=$((RELAY_PORT + 1))
    local a=127.0.0.1
    case $1 in
    direct)
        L_IPERF=$IPERF_PORT; L_HTTP=$NGINX_PORT; return 0 ;;
    nftfwd-proxy | docker-proxy)
        local bin=$NFTFWD_PROXY; [[ $1 == docker-proxy ]] && bin=$DOCKER_PROXY
        start_proxy "$WORK/$1-tcp.log" "$bin" -proto tcp -host-ip $a -host-port $L_IPERF -container-ip $a -container-port $IPERF_PORT
        RELAY_PIDS+=("$LAST_PID")
        start_proxy "$WORK/$1-udp.log" "$bin" -proto udp -host-ip $a -host-port $L_IPERF -container-ip $a -container-port $IPERF_PORT
        RELAY_PIDS+=("$LAST_PID")
        start_proxy "$WORK/$1-http.log" "$bin" -proto tcp -host-ip $a -host-port $L_HTTP -container-ip $a -container-port $NGINX_PORT
        RELAY_PIDS+=("$LAST_PID")
        ;;
    socat)
        start "$WORK/socat-tcp.log" socat TCP-LISTEN:$L_IPERF,bind=$a,fork,reuseaddr,backlog=4096 TCP:$a:$IPERF_PORT
        RELAY_PIDS+=("$LAST_PID")
        start "$WORK/socat-udp.log" socat UDP-LISTEN:$L_IPERF,bind=$a,fork,reuseaddr UDP:$a:$IPERF_PORT
        RELAY_PIDS+=("$LAST_PID")
        start "$WORK/socat-http.log" socat TCP-LISTEN:$L_HTTP,bind=$a,fork,reuseaddr,backlog=4096 TCP:$a:$NGINX_PORT
        RELAY_PIDS+=("$LAST_PID")
        ;;
    haproxy)
        bench_haproxy_cfg "$WORK/haproxy.cfg" <<EOF
listen iperf
    bind $a:$L_IPERF
    server s $a:$IPERF_PORT
listen http
    bind $a:$L_HTTP
    server s $a:$NGINX_PORT
EOF
        start "$WORK/haproxy.log" haproxy -db -f "$WORK/haproxy.cfg"
        RELAY_PIDS+=("$LAST_PID")
        ;;
    esac
    wait_port tcp $L_IPERF
    wait_port tcp $L_HTTP
}

# ---------------------------------------------------------------- measurements
# Each prints one number (or "n/a").
measure_tcp1() {   # also sets CPU1 (relay CPU seconds) and BYTES1
    local before after hz
    hz=$(getconf CLK_TCK)
    [[ -n ${RELAY_PIDS[0]:-} ]] && before=$(cpu_ticks "${RELAY_PIDS[0]}")
    iperf3 -c 127.0.0.1 -p "$L_IPERF" -t "$T" -J >"$WORK/tcp1.json"
    if [[ -n ${RELAY_PIDS[0]:-} ]]; then
        after=$(cpu_ticks "${RELAY_PIDS[0]}")
        CPU1=$(python3 -c "print(round(($after - $before) / $hz, 2))")
    else
        CPU1=n/a
    fi
    BYTES1=$(json "$WORK/tcp1.json" "d['end']['sum_received']['bytes']")
    json "$WORK/tcp1.json" "round(d['end']['sum_received']['bits_per_second'] / 1e9, 2)"
}

measure_tcp8() {
    iperf3 -c 127.0.0.1 -p "$L_IPERF" -t "$T" -P 8 -J >"$WORK/tcp8.json"
    json "$WORK/tcp8.json" "round(d['end']['sum_received']['bits_per_second'] / 1e9, 2)"
}

measure_conns() {
    wrk -t2 -c50 -d"${T}s" -H 'Connection: close' "http://127.0.0.1:$L_HTTP/" >"$WORK/wrk.txt" 2>&1 || true
    awk '/^Requests\/sec/{printf "%d\n", $2}' "$WORK/wrk.txt"
}

measure_udp() {   # prints "GBITS US": delivered, and the UDP relay's CPU us per datagram delivered
    [[ $1 == haproxy ]] && { echo "n/a n/a"; return; }
    local pid=${RELAY_PIDS[1]:-} before after
    [[ -n $pid ]] && before=$(cpu_ticks "$pid")
    if iperf3 -c 127.0.0.1 -p "$L_IPERF" -u -b 0 -l 1400 -w 4M -t "$T" -J >"$WORK/udp.json" 2>/dev/null; then
        [[ -n $pid ]] && after=$(cpu_ticks "$pid")
        echo "$(json "$WORK/udp.json" "round(d['end']['sum_received']['bits_per_second'] / 1e9, 2)")" \
            "$(if [[ -n $pid ]]; then json "$WORK/udp.json" "round(($after - $before) / $(getconf CLK_TCK) * 1e6 / max(1, d['end']['sum_received']['packets'] - d['end']['sum_received']['lost_packets']), 2)"; else echo n/a; fi)"
    else
        echo "n/a n/a"
    fi
}

# Holds 1,000 idle connections to the relay's http port; prints "RSS_MB FDS" of the relay.
measure_idle() {
    [[ $1 == direct ]] && { echo "n/a n/a"; return; }
    local pid=${RELAY_PIDS[2]:-${RELAY_PIDS[0]}}
    python3 - "$L_HTTP" "$WORK/idle.ready" <<'EOF' &
import socket, sys, time, os
port, ready = int(sys.argv[1]), sys.argv[2]
conns = []
for i in range(1000):
    try:
        conns.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    except OSError as e:
        sys.exit(f"idle holder: connection {i} failed: {e}")
open(ready, "w").close()
time.sleep(120)   # bounded: the benchmark kills us as soon as it has measured
EOF
    local holder=$!
    PIDS+=("$holder")
    for _ in $(seq 200); do [[ -f $WORK/idle.ready ]] && break; sleep 0.05; done
    # Let the relay finish connecting its 1,000 upstream sockets.
    for _ in $(seq 100); do
        [[ $(ss -Htn state established "dport = :$NGINX_PORT" | wc -l) -ge 1000 ]] && break
        sleep 0.05
    done
    if kill -0 "$holder" 2>/dev/null; then
        echo "$(python3 -c "print(round($(rss_kb "$pid") / 1024, 1))") $(fd_count "$pid")"
    else
        echo "n/a n/a"   # the holder could not open its 1,000 connections through this relay
    fi
    kill "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    rm -f "$WORK/idle.ready"
}

# ---------------------------------------------------------------- run
declare -A R   # R[relay,metric] = "v1 v2 ..."
for run in $(seq "$RUNS"); do
    for relay in $RELAYS; do
        log "run $run/$RUNS: $relay"
        start_relay "$relay"
        measure_tcp1 >"$WORK/tcp1.value"   # not in $(...): it sets CPU1 and BYTES1
        R[$relay,tcp1]+="$(cat "$WORK/tcp1.value") "
        R[$relay,cpu1]+="$CPU1 "
        if [[ $CPU1 != n/a ]]; then
            R[$relay,cpugb]+="$(python3 -c "print(round($CPU1 / ($BYTES1 / 1e9), 3))") "
        else
            R[$relay,cpugb]+="n/a "
        fi
        R[$relay,tcp8]+="$(measure_tcp8) "
        R[$relay,conns]+="$(measure_conns) "
        read -r udp udpus <<<"$(measure_udp "$relay")"
        R[$relay,udp]+="$udp "
        R[$relay,udpus]+="$udpus "
        read -r rss fds <<<"$(measure_idle "$relay")"
        R[$relay,rss]+="$rss "
        R[$relay,fds]+="$fds "
        ((${#RELAY_PIDS[@]})) && stop_pids "${RELAY_PIDS[@]}"
    done
done

median() { python3 -c "
import statistics, sys
v = [float(x) for x in sys.argv[1:] if x != 'n/a']
print('n/a' if not v else ('%g' % statistics.median(v)))" $1; }

ratio() {   # ratio VALUE BASE
    python3 -c "
a, b = '$1', '$2'
print('' if 'n/a' in (a, b) or float(b) == 0 else '(%.2fx)' % (float(a) / float(b)))"
}

metrics="tcp1 tcp8 cpu1 cpugb conns udp udpus rss fds"
declare -A M
for relay in $RELAYS; do
    for m in $metrics; do M[$relay,$m]=$(median "${R[$relay,$m]}"); done
done

echo
echo "Loopback relay benchmark: T=${T}s, medians of $RUNS run(s), $(nproc) cores, kernel $(uname -r)"
echo "tcp1/tcp8/udp in Gbit/s; cpu1 = relay CPU s during tcp1; cpu/GB = CPU s per GB in tcp1;"
echo "conns = short connections/s (wrk, Connection: close); rss MB / fds with 1,000 idle connections."
echo "udp-us = UDP relay CPU microseconds per datagram delivered in udp (udp is capped by direct's)."
echo "rss/fds of a multi-process relay (socat forks per connection) are sums over its processes."
echo "(ratios vs docker-proxy)"
printf '%-13s %-16s %-16s %-13s %-15s %-17s %-15s %-15s %-13s %-12s\n' relay tcp1 tcp8 cpu1 cpu/GB conns udp udp-us rss fds
for relay in $RELAYS; do
    line=$(printf '%-13s' "$relay")
    for m in $metrics; do
        v=${M[$relay,$m]}
        r=""
        [[ $relay != docker-proxy && " $RELAYS " == *" docker-proxy "* ]] && r=$(ratio "$v" "${M[docker-proxy,$m]}")
        case $m in
        tcp1 | tcp8) w=16 ;; cpu1 | rss | fds) w=13 ;; cpugb | udp | udpus) w=15 ;; conns) w=17 ;;
        esac
        [[ $m == rss ]] && w=13
        [[ $m == fds ]] && w=12
        line+=$(printf " %-${w}s" "$v $r")
    done
    echo "$line"
done

# The relay-scale row: a 60,000-port range over the loopback redirect vs per-port sockets.
if [[ ${SCALE:-1} == 1 ]]; then
    NFTFWD=${NFTFWD_RELAY:-} bash "$REPO/contrib/bench/relay-scale.sh"
fi

# The PROXY-protocol row: a --proxy-protocol v2 mapping through `nftfwd relay` vs haproxy's
# send-proxy-v2, short connections and bulk, in a namespace of its own (PROXY=0 skips it).
if [[ ${PROXY:-1} == 1 ]]; then
    T=$T RUNS=$RUNS NFTFWD=${NFTFWD_RELAY:-} NFTFWD_PROXY=$NFTFWD_PROXY DOCKER_PROXY=$DOCKER_PROXY \
        bash "$REPO/contrib/bench/relay-proxy.sh"
fi
