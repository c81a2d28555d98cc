#!/usr/bin/env bash
# Where the relay's time goes, in figures that do not depend on the box's load: instructions
# (valgrind's callgrind, user space only) and system calls (strace -c -f) per short connection
# and per MiB of bulk TCP, for nftfwd-proxy, and system calls for docker-proxy and haproxy
# (splice) under the same load. Everything runs in a network namespace this script creates
# and removes, on its loopback.
#
#   sudo bash contrib/bench/relay-profile.sh
#   CONNS=500 MIB=64 RELAYS=nftfwd-proxy TOOLS=strace bash contrib/bench/relay-profile.sh
#
# Loads (fixed sizes, so two runs compare): `conns` = CONNS short HTTP connections
# (Connection: close, CONCURRENCY at a time) to nginx through the relay; `bulk` = one download
# of a MIB MiB file from nginx through the relay. Each figure is the run with the load minus a
# run of the same relay that served nothing (start-up and exit), divided by CONNS or MIB.
# The top functions (self cost, callgrind) and the top system calls of the conns load follow.
#
# Environment: CONNS (default 2000), CONCURRENCY (50), MIB (256), RELAYS (default
# "nftfwd-proxy docker-proxy haproxy"), TOOLS (default "strace callgrind"; callgrind runs for
# nftfwd-proxy only: the others are a Go runtime and a C program whose user space is not ours
# to change), NFTFWD_PROXY, DOCKER_PROXY, CACHE (as relay.sh), TOP (functions shown, 15),
# KEEP=DIR keeps the callgrind and strace outputs in DIR.
set -euo pipefail
[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 1; }
CONNS=${CONNS:-2000}
CONCURRENCY=${CONCURRENCY:-50}
MIB=${MIB:-256}
RELAYS=${RELAYS:-"nftfwd-proxy docker-proxy haproxy"}
TOOLS=${TOOLS:-"strace callgrind"}
TOP=${TOP:-15}
CACHE=${CACHE:-/tmp/relay-bench-cache}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for tool in nginx haproxy curl python3 strace valgrind callgrind_annotate; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install nginx haproxy curl strace valgrind)" >&2; exit 2; }
done
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

source "$REPO/contrib/bench/relay-common.sh"
bench_relay_binaries
bench_docker_proxy

NS="nfprof$$"
WORK=$(mktemp -d /tmp/relay-profile.XXXXXX)
BACKEND=25580
LISTEN=25590
cleanup() {
    bench_netns_remove "$NS"
    if [[ -n ${KEEP:-} ]]; then mkdir -p "$KEEP" && cp -r "$WORK"/out "$KEEP"/ 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
in_ns ip link set lo up
mkdir -p "$WORK/www" "$WORK/out"
truncate -s $((MIB << 20)) "$WORK/www/big"
echo ok >"$WORK/www/index.html"
bench_nginx_conf "$WORK" <<EOF
    server { listen 127.0.0.1:$BACKEND backlog=4096; root $WORK/www; }
EOF
bench_haproxy_cfg "$WORK/haproxy.cfg" <<EOF
listen http
    bind 127.0.0.1:$LISTEN
    server s 127.0.0.1:$BACKEND
EOF
# CONNS short connections, CONCURRENCY at a time; exits 1 unless every one got its answer.
cat >"$WORK/conns.py" <<'EOF'
import asyncio, sys
port, total, concurrency = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
done = failed = 0
async def worker(share):
    global done, failed
    for _ in range(share):
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 30)
            writer.write(request)
            answer = await asyncio.wait_for(reader.read(-1), 30)
            writer.close()
            if b" 200 " in answer[:20] and answer.endswith(b"ok\n"): done += 1
            else: failed += 1
        except Exception:
            failed += 1
async def main():
    shares = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
    await asyncio.gather(*(worker(s) for s in shares if s))
asyncio.run(main())
if failed: sys.exit(f"{failed} of {total} connections failed")
EOF
in_ns nginx -c "$WORK/nginx.conf" -p "$WORK"

wait_port() {   # wait_port PORT SECONDS (bounded)
    for _ in $(seq $(($2 * 20))); do
        in_ns ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listens on $1 in $NS" >&2; return 1
}
wait_port $BACKEND 10

relay_command() {   # the relay's argv, one per line
    case $1 in
    nftfwd-proxy | docker-proxy)
        local bin=$NFTFWD_PROXY; [[ $1 == docker-proxy ]] && bin=$DOCKER_PROXY
        printf '%s\n' "$bin" -proto tcp -host-ip 127.0.0.1 -host-port $LISTEN -container-ip 127.0.0.1 -container-port $BACKEND ;;
    haproxy) printf '%s\n' haproxy -db -f "$WORK/haproxy.cfg" ;;
    esac
}

# run_one RELAY TOOL LOAD: the relay under TOOL serving LOAD (idle, conns, bulk); output in
# $WORK/out/RELAY.TOOL.LOAD.
run_one() {
    local relay=$1 tool=$2 load=$3 out=$WORK/out/$1.$2.$3 cmd pid child
    mapfile -t cmd < <(relay_command "$relay")
    case $tool in
    strace) ip netns exec "$NS" strace -f -c -o "$out" -- "${cmd[@]}" >"$out.log" 2>&1 3>"$out.status" & ;;
    callgrind) ip netns exec "$NS" valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >"$out.log" 2>&1 3>"$out.status" & ;;
    esac
    pid=$!
    wait_port $LISTEN 120
    case $load in
    idle) ;;
    conns) in_ns python3 "$WORK/conns.py" $LISTEN "$CONNS" "$CONCURRENCY" ;;
    bulk)
        local got
        got=$(in_ns curl -s -o /dev/null --max-time 600 -w '%{size_download}' "http://127.0.0.1:$LISTEN/big")
        [[ $got == $((MIB << 20)) ]] || { echo "$relay: bulk download got $got bytes" >&2; exit 1; } ;;
    esac
    # The relay itself (strace's child; valgrind keeps the pid) gets the signal, so the tool
    # writes its summary; haproxy stops on SIGTERM, the proxies on SIGINT as dockerd sends it.
    child=$pid
    [[ $tool == strace ]] && for _ in $(seq 100); do child=$(pgrep -P "$pid" | head -1) && break; sleep 0.05; done
    kill -INT "$child" 2>/dev/null || true
    [[ $relay == haproxy ]] && kill -TERM "$child" 2>/dev/null || true
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "$relay under $tool did not exit" >&2; kill -9 "$pid"; }
    wait "$pid" 2>/dev/null || true
}

calls_total() { awk '$NF == "total" { print $4 }' "$1"; }
calls_of() { awk -v s="$2" '$NF == s { print $4 }' "$1"; }
instructions() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
per() { python3 -c "print('%.1f' % (($1 - $2) / $3))"; }

declare -A F
for relay in $RELAYS; do
    for tool in $TOOLS; do
        [[ $tool == callgrind && $relay != nftfwd-proxy ]] && continue
        for load in idle conns bulk; do
            log "$relay under $tool: $load"
            run_one "$relay" "$tool" "$load"
        done
        base=$WORK/out/$relay.$tool
        case $tool in
        strace)
            F[$relay,sys_conn]=$(per "$(calls_total "$base.conns")" "$(calls_total "$base.idle")" "$CONNS")
            F[$relay,sys_mib]=$(per "$(calls_total "$base.bulk")" "$(calls_total "$base.idle")" "$MIB") ;;
        callgrind)
            F[$relay,ins_conn]=$(per "$(instructions "$base.conns")" "$(instructions "$base.idle")" "$CONNS")
            F[$relay,ins_mib]=$(per "$(instructions "$base.bulk")" "$(instructions "$base.idle")" "$MIB") ;;
        esac
    done
done

echo
echo "Relay profile: $CONNS connections ($CONCURRENCY at a time), $MIB MiB bulk, in namespace $NS; $(nproc) cores, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Figures are the loaded run minus an idle run of the same relay (start-up and exit)."
printf '%-14s %-16s %-16s %-18s %-18s\n' relay syscalls/conn syscalls/MiB instructions/conn instructions/MiB
for relay in $RELAYS; do
    printf '%-14s %-16s %-16s %-18s %-18s\n' "$relay" "${F[$relay,sys_conn]:-n/a}" "${F[$relay,sys_mib]:-n/a}" \
        "${F[$relay,ins_conn]:-n/a}" "${F[$relay,ins_mib]:-n/a}"
done
for relay in $RELAYS; do
    f=$WORK/out/$relay.strace.conns
    [[ -f $f ]] || continue
    echo
    echo "$relay: system calls per connection (conns load, idle run subtracted)"
    awk '$NF != "total" && $4 ~ /^[0-9]+$/ { print $NF }' "$f" | while read -r s; do
        idle=$(calls_of "$WORK/out/$relay.strace.idle" "$s"); idle=${idle:-0}
        echo "$s $(per "$(calls_of "$f" "$s")" "$idle" "$CONNS")"
    done | sort -k2 -gr | awk '$2 > 0.05 { printf "  %-16s %s\n", $1, $2 }' | head -12
done
for load in conns bulk; do
    f=$WORK/out/nftfwd-proxy.callgrind.$load
    [[ -f $f ]] || continue
    echo
    echo "nftfwd-proxy: top functions by instructions (self, $load load, start-up included)"
    callgrind_annotate --inclusive=no "$f" 2>/dev/null | awk '/^-+$/ { n++ } n >= 3' | grep -E '^ *[0-9,]+ ' | head -"$TOP" |
        { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi; } | cut -c1-160
done
