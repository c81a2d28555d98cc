#!/usr/bin/env bash
# Prototype benchmark for the allow-list layout (issue 13's speed target), plain nft, no
# nftfwd build: new TCP connections/s through DNAT with every mapping restricted, at 1 and N
# mappings, for two layouts of the allow set, ratios from the same run:
#   pipapo  what nftfwd 0.3 writes: one interval set of (source range . proto . port)
#   hash    a hash set of (saddr & MASK . saddr | ~MASK . proto . port), one rule per prefix
#           length in use (here one: /24), in a chain reached only for restricted ports
# Everything runs in network namespaces this script creates and removes.
#
#   sudo bash contrib/bench/allow-layouts.sh        (N=10000 RUNS=3 WRK_SECONDS=5)
#
# Measured here (2 shared cores, 2026-12-02, defaults): pipapo 3402 -> 1019 conn/s (0.30x),
# hash 3433 -> 3307 conn/s (0.96x). nft 1.0.6 lists and reloads the hash layout's rule as
# written (`nft --debug=netlink`: two payload loads with bitwise and/xor into reg 1 and 9).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
for tool in wrk nginx nft; do command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }; done
N=${N:-10000}
RUNS=${RUNS:-3}
WRK_SECONDS=${WRK_SECONDS:-5}
TMP=$(mktemp -d)
PREFIX="nfa$$"
cleanup() {
    for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX" || true); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f", m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

gen_table() { # layout count: the table, every mapping allowing 198.18.1.0/24 and one 10.x.y.0/24
    awk -v layout="$1" -v n="$2" 'BEGIN {
        print "table inet p {"
        printf "  map dnat4_any { type inet_proto . inet_service : ipv4_addr . inet_service; counter; elements = { "
        for (i = 0; i < n; i++) printf "%stcp . %d : 198.18.2.2 . 80", (i ? ", " : ""), 10000 + i; print " } }"
        printf "  set restrict4_any { type inet_proto . inet_service; elements = { "
        for (i = 0; i < n; i++) printf "%stcp . %d", (i ? ", " : ""), 10000 + i; print " } }"
        printf "  set refuse4_any { type inet_proto . inet_service; counter; elements = { "
        for (i = 0; i < n; i++) printf "%stcp . %d", (i ? ", " : ""), 10000 + i; print " } }"
        if (layout == "pipapo") {
            printf "  set allow4_any { type ipv4_addr . inet_proto . inet_service; flags interval; elements = { "
            for (i = 0; i < n; i++) printf "%s198.18.1.0/24 . tcp . %d, 10.%d.%d.0/24 . tcp . %d", (i ? ", " : ""), 10000 + i, int(i / 256), i % 256, 10000 + i
            print " } }"
        } else {
            printf "  set allow4_any { type ipv4_addr . ipv4_addr . inet_proto . inet_service; elements = { "
            for (i = 0; i < n; i++) printf "%s198.18.1.0 . 198.18.1.255 . tcp . %d, 10.%d.%d.0 . 10.%d.%d.255 . tcp . %d", (i ? ", " : ""), 10000 + i, int(i / 256), i % 256, int(i / 256), i % 256, 10000 + i
            print " } }"
            print "  chain access4_any {"
            print "    ip saddr & 255.255.255.0 . ip saddr | 0.0.0.255 . meta l4proto . th dport @allow4_any return"
            print "    meta l4proto . th dport @refuse4_any drop"
            print "  }"
        }
        print "  chain publish {"
        print "    fib daddr type != local return"
        if (layout == "pipapo")
            print "    meta l4proto . th dport @restrict4_any ip saddr . meta l4proto . th dport != @allow4_any meta l4proto . th dport @refuse4_any drop"
        else
            print "    meta nfproto ipv4 meta l4proto . th dport @restrict4_any jump access4_any"
        print "    meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat4_any"
        print "  }"
        print "  chain prerouting { type nat hook prerouting priority dstnat; jump publish; }"
        print "}"
    }'
}

cat > "$TMP/nginx.conf" <<NGINX
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    server { listen 198.18.2.2:80 reuseport backlog=4096; location / { return 200 "ok\n"; } }
}
NGINX
seq_file="$TMP/seq"; echo 0 > "$seq_file"
fresh_ns() {
    local n; n=$(( $(cat "$seq_file") + 1 )); echo "$n" > "$seq_file"
    local ns="$PREFIX-$n"; ip netns add "$ns"; ip -n "$ns" link set lo up; echo "$ns"
}
drop_ns() { ip netns pids "$1" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; ip netns del "$1"; }
rate_once() { # layout count -> requests/s of one wrk run in a fresh client -- host -- target lab
    local c h t port=$((10000 + $2 - 1)) rps
    c=$(fresh_ns); h=$(fresh_ns); t=$(fresh_ns)
    ip link add "$h-a" netns "$c" type veth peer name "$h-b" netns "$h"
    ip link add "$h-c" netns "$h" type veth peer name "$h-d" netns "$t"
    ip -n "$c" addr add 198.18.1.2/24 dev "$h-a"; ip -n "$c" link set "$h-a" up
    ip -n "$h" addr add 198.18.1.1/24 dev "$h-b"; ip -n "$h" link set "$h-b" up
    ip -n "$h" addr add 198.18.2.1/24 dev "$h-c"; ip -n "$h" link set "$h-c" up
    ip -n "$t" addr add 198.18.2.2/24 dev "$h-d"; ip -n "$t" link set "$h-d" up
    ip -n "$c" route add default via 198.18.1.1; ip -n "$t" route add default via 198.18.2.1
    ip netns exec "$h" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$c" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
    ip netns exec "$t" sysctl -qw net.core.somaxconn=4096
    ip netns exec "$t" nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log"
    for _ in $(seq 100); do ip netns exec "$t" ss -ltn | grep -q '198.18.2.2:80 ' && break; sleep 0.1; done
    gen_table "$1" "$2" | ip netns exec "$h" nft -f -
    rps=$(ip netns exec "$c" timeout $((WRK_SECONDS + 20)) wrk -t2 -c50 -d"${WRK_SECONDS}s" -H 'Connection: close' "http://198.18.1.1:$port/" | awk '/Requests\/sec/ {print $2}')
    # A source outside the allow-list must still be refused (and counted), or the layout is
    # only faster because it admits everyone.
    ip -n "$c" addr add 192.0.2.7/32 dev "$h-a"; ip -n "$h" route add 192.0.2.7/32 dev "$h-b"
    if ip netns exec "$c" python3 -c "
import socket; s = socket.socket(); s.bind(('192.0.2.7', 0)); s.settimeout(1)
s.connect(('198.18.1.1', $port))" 2>/dev/null; then
        echo "layout $1 admitted a source outside the allow-list" >&2; exit 1
    fi
    local listed; listed=$(ip netns exec "$h" nft list set inet p refuse4_any)   # whole: grep -q would SIGPIPE nft under pipefail
    grep -q "tcp \. $port counter packets [1-9]" <<< "$listed" \
        || { echo "layout $1: the refused connection was not counted" >&2; exit 1; }
    [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
    drop_ns "$c"; drop_ns "$h"; drop_ns "$t"
    echo "${rps:-0}"
}
for _ in $(seq "$RUNS"); do   # the layouts take turns, so a noisy moment hits them alike
    for layout in pipapo hash; do for count in 1 "$N"; do rate_once "$layout" "$count" >> "$TMP/$layout-$count"; done; done
done
echo "== new TCP connections/s through DNAT, every mapping restricted (wrk -t2 -c50 -d${WRK_SECONDS}s, median of $RUNS)"
printf '%-8s %12s %14s %8s\n' layout "1 mapping" "$N mappings" "N/1"
for layout in pipapo hash; do
    one=$(median < "$TMP/$layout-1"); many=$(median < "$TMP/$layout-$N")
    printf '%-8s %12s %14s %8s\n' "$layout" "$one" "$many" "$(ratio "$many" "$one")"
done
