#!/usr/bin/env bash
# Container-runtime benchmark: one container publishing N ports (default 200) through the
# CNI chain bridge + host-local + a port-mapping plugin, nftfwd-cni against the reference
# portmap (Debian's containernetworking-plugins, iptables-nft backend). For each: the nft
# rules the ADD adds, and the median time of ADD and of DEL (process start included), with
# ratios from the same run. Everything runs in network namespaces this script creates and
# removes (the "host" is one of them); nothing on the machine's own ruleset changes.
#
# Then Docker (DOCKER=1, the default): Debian's dockerd of contrib/testing/docker-engine.sh,
# `docker run -p 9000-9099:9000-9099` and its `docker rm -f`, timed with the engine's own
# iptables rules and docker-proxy, against --iptables=false with nftfwd-proxy publishing
# (NFTFWD_PROXY_PUBLISH=1); medians of DOCKER_RUNS (3), one engine per run.
#
#   sudo bash contrib/bench/runtimes.sh          (N=200 RUNS=5 DOCKER=1 DOCKER_RUNS=3)
#   NFTFWD_CNI=... NFTFWD_PROXY=... NFTFWD=...   measure other builds (default: release builds)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"
need_root "the benchmark"
install_packages
DOCKER=${DOCKER:-1}
if [ -z "${NFTFWD_CNI:-}" ] || { [ "$DOCKER" = 1 ] && [ -z "${NFTFWD_PROXY:-}${NFTFWD:-}" ]; }; then
    find_swift
    build_release nftfwd nftfwd-proxy nftfwd-cni
    NFTFWD_CNI=${NFTFWD_CNI:-$RELEASE_BIN/nftfwd-cni}
    NFTFWD_PROXY=${NFTFWD_PROXY:-$RELEASE_BIN/nftfwd-proxy}
    NFTFWD=${NFTFWD:-$RELEASE_BIN/nftfwd}
fi
NFTFWD_CNI="$(realpath "$NFTFWD_CNI")"
PLUGINS=/usr/lib/cni
N=${N:-200}
RUNS=${RUNS:-5}
TMP=$(mktemp -d)
PREFIX="nfr$$"
HOSTNS="$PREFIX-h" CTRNS="$PREFIX-c"
cleanup() {
    for ns in "$HOSTNS" "$CTRNS"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
rules() { ip netns exec "$HOSTNS" nft -j list ruleset | grep -o '{"rule":' | wc -l; }

for ns in "$HOSTNS" "$CTRNS"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip netns exec "$HOSTNS" sysctl -qw net.ipv4.ip_forward=1

# A runtime's call: CNI_* in the environment, the config on stdin, run in the host namespace.
cni() { # plugin command config-file
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$2" CNI_CONTAINERID=bench0123456789abcdef \
        CNI_NETNS="/run/netns/$CTRNS" CNI_IFNAME=eth0 CNI_PATH="$PLUGINS" \
        ip netns exec "$HOSTNS" "$1" <"$3"
}

cat >"$TMP/bridge.json" <<JSON
{"cniVersion": "1.0.0", "name": "bench", "type": "bridge", "bridge": "cni0", "isGateway": true, "hairpinMode": true,
 "ipam": {"type": "host-local", "dataDir": "$TMP/ipam", "ranges": [[{"subnet": "10.89.0.0/24"}]]}}
JSON
cni "$PLUGINS/bridge" ADD "$TMP/bridge.json" >"$TMP/prev.json"

mappings() { awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "%s{\"hostPort\": %d, \"containerPort\": %d, \"protocol\": \"tcp\", \"hostIP\": \"\"}", (i ? ", " : ""), 20000 + i, 20000 + i }'; }
for plugin in portmap nftfwd-cni; do
    {
        printf '{"cniVersion": "1.0.0", "name": "bench", "type": "%s", "snat": true,\n' "$plugin"
        printf ' "runtimeConfig": {"portMappings": [%s]},\n "prevResult": ' "$(mappings)"
        cat "$TMP/prev.json"
        printf '}\n'
    } >"$TMP/$plugin.json"
done

# One warm-up round each (table and chains created once, as on a host that runs containers),
# then RUNS rounds of ADD and DEL.
measure() { # name binary
    local name=$1 bin=$2
    cni "$bin" ADD "$TMP/$name.json" >/dev/null 2>&1
    cni "$bin" DEL "$TMP/$name.json" >/dev/null 2>&1
    : >"$TMP/$name.add"; : >"$TMP/$name.del"
    for _ in $(seq "$RUNS"); do
        local before after t0 t1
        before=$(rules)
        t0=$(now_ns); cni "$bin" ADD "$TMP/$name.json" >/dev/null 2>"$TMP/$name.err" || { cat "$TMP/$name.err" >&2; exit 2; }; t1=$(now_ns)
        echo $(( (t1 - t0) / 1000 )) >>"$TMP/$name.add"
        after=$(rules)
        echo $(( after - before )) >"$TMP/$name.rules"
        t0=$(now_ns); cni "$bin" DEL "$TMP/$name.json" >/dev/null 2>&1; t1=$(now_ns)
        echo $(( (t1 - t0) / 1000 )) >>"$TMP/$name.del"
    done
}
measure portmap "$PLUGINS/portmap"
measure nftfwd-cni "$NFTFWD_CNI"

pa=$(awk '{print $1/1000}' "$TMP/portmap.add" | median); pd=$(awk '{print $1/1000}' "$TMP/portmap.del" | median)
na=$(awk '{print $1/1000}' "$TMP/nftfwd-cni.add" | median); nd=$(awk '{print $1/1000}' "$TMP/nftfwd-cni.del" | median)
echo "one container, $N TCP port mappings (IPv4), median of $RUNS; $(nproc) cores"
printf '%-12s %12s %12s %12s\n' plugin "rules added" "ADD ms" "DEL ms"
printf '%-12s %12s %12s %12s\n' portmap "$(cat "$TMP/portmap.rules")" "$pa" "$pd"
printf '%-12s %12s %12s %12s\n' nftfwd-cni "$(cat "$TMP/nftfwd-cni.rules")" "$na" "$nd"
echo "portmap / nftfwd-cni: ADD x$(ratio "$pa" "$na"), DEL x$(ratio "$pd" "$nd")"

[ "$DOCKER" = 1 ] || exit 0
ENGINE="$(dirname "${BASH_SOURCE[0]}")/../testing/docker-engine.sh"
GENUINE=$(bash "$ENGINE" --genuine-proxy-path)
DOCKER_RUNS=${DOCKER_RUNS:-3}
: >"$TMP/docker.txt"
for _ in $(seq "$DOCKER_RUNS"); do
    bash "$ENGINE" --time-ports "$GENUINE" iptables | grep '^time-ports' >>"$TMP/docker.txt" || { echo "docker-engine.sh --time-ports (iptables) failed" >&2; exit 2; }
    bash "$ENGINE" --time-ports "$(realpath "$NFTFWD_PROXY")" "$(realpath "$NFTFWD")" | grep '^time-ports' >>"$TMP/docker.txt" || { echo "docker-engine.sh --time-ports (nftfwd) failed" >&2; exit 2; }
done
field() { grep "mode=$1 " "$TMP/docker.txt" | tr ' ' '\n' | sed -n "s/^$2=//p" | median; }
di=$(field iptables run) dr=$(field iptables rm) ni=$(field nftfwd run) nr=$(field nftfwd rm)
echo
echo "Docker 20.10, docker run -p 9000-9099:9000-9099 (100 ports, 200 proxies), median of $DOCKER_RUNS"
printf '%-34s %12s %10s %10s\n' setup "rules added" "run s" "rm -f s"
printf '%-34s %12s %10s %10s\n' "docker-proxy + iptables" "$(grep 'mode=iptables ' "$TMP/docker.txt" | head -1 | sed 's/.*rules_added=\([0-9]*\).*/\1/')" "$di" "$dr"
printf '%-34s %12s %10s %10s\n' "nftfwd-proxy, --iptables=false" "$(grep 'mode=nftfwd ' "$TMP/docker.txt" | head -1 | sed 's/.*rules_added=\([0-9]*\).*/\1/')" "$ni" "$nr"
echo "nftfwd / iptables: run x$(ratio "$ni" "$di"), rm -f x$(ratio "$nr" "$dr")"
