#!/usr/bin/env bash
# Kernel-path benchmark: nftfwd's map layout against nft's own tools and against the
# per-port ("linear", Docker's) layout. Everything runs in network namespaces this script
# creates and removes; figures are medians, printed with ratios from the same run.
#
#   sudo bash contrib/bench/rules.sh            (N=10000 RUNS=3 WRK_SECONDS=5 SECTIONS=1234)
#
# 1. publishing N mappings at once: nftfwd apply | nft -f (same map table) | nft -f (N linear
#    rules) | iptables-nft-restore (N rules in a DOCKER chain). Process start included.
# 2. adding one mapping when 0, 1,000 and N exist: nftfwd add | nft add element | nft add rule
#    (linear) | iptables-nft -A (what Docker runs per port).
# 3. new TCP connections per second through DNAT (wrk, Connection: close, client netns ->
#    host -> target netns running nginx), at 1 and N mappings, hitting the last-added port;
#    also with every mapping restricted by an allow-list (--allow) the client is in.
#    CONN_LAYOUTS picks the rows ("map linear allow"); each row also prints every run's figure.
# 4. scale (SCALE_N=100000, half tcp half udp): apply 10,000 and SCALE_N against nft -f of the
#    minimal map (no counter, no comment) and of the same content; ls / ls --json against
#    nft list; flush against nft delete table; an apply that changes nothing (and whether the
#    generation moved); peak RSS of apply SCALE_N; add at 0 and SCALE_N against nft add element
#    (ADDS adds each, default 31, the two interleaved; medians). SCALE_ONLY=1 runs this section alone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"
need_root "the benchmark"
install_packages
for tool in wrk:wrk nginx:nginx-light iptables-nft-restore:iptables; do
    command -v "${tool%%:*}" >/dev/null || { apt-get install -y -qq "${tool#*:}" >/dev/null; }
done
find_swift
# NFTFWD_BIN: a binary built earlier (a before/after comparison), else the release build.
if [ -n "${NFTFWD_BIN:-}" ]; then NFTFWD=$NFTFWD_BIN; else build_release nftfwd; NFTFWD="$RELEASE_BIN/nftfwd"; fi
# NFTFWD_SAVE from the calling shell would make the nftfwd commands run in namespaces here
# also write the host's /etc/nftfwd (ip netns exec shares /etc).
unset NFTFWD_SAVE

N=${N:-10000}
SECTIONS=${SECTIONS:-1234}   # e.g. SECTIONS=3: only the connection rates; 4: the scale rows
CONN_LAYOUTS=${CONN_LAYOUTS:-map linear allow}   # section 3's rows, e.g. "allow" alone (more runs in the time)
RUNS=${RUNS:-3}
WRK_SECONDS=${WRK_SECONDS:-5}
TMP=$(mktemp -d)
PREFIX="nfb$$"
cleanup() {
    for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX" || true); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# Called in command substitutions (subshells), so the counter lives in a file.
echo 0 > "$TMP/seq"
fresh_ns() {
    local n; n=$(( $(cat "$TMP/seq") + 1 )); echo "$n" > "$TMP/seq"
    local ns="$PREFIX-$n"; ip netns add "$ns"; ip -n "$ns" link set lo up
    # Forwarding on and a route to the targets' subnet (a veth pair standing for a container
    # bridge), as on a real host: add's forwarding and route checks then find nothing to warn about.
    # ("fresh_ns bare": without the pair, for the traffic lab, which routes that subnet itself.)
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
    if [ "${1:-}" != bare ]; then
        ip -n "$ns" link add v0 type veth peer name v1; ip -n "$ns" addr add 198.18.2.1/24 dev v0
        ip -n "$ns" link set v0 up; ip -n "$ns" link set v1 up
    fi
    echo "$ns"
}
drop_ns() { # and the namespace's apply and layout records (/run/nftfwd/{apply,layout}-DEV-INO-TABLE.record)
    ip netns pids "$1" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    local key; key=$(stat -c '%d-%i' "/run/netns/$1" 2>/dev/null) && rm -f /run/nftfwd/apply-"$key"-* /run/nftfwd/layout-"$key"-*
    ip netns del "$1"
}
now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# --- inputs -------------------------------------------------------------------------------
gen_json() { # count firstport
    awk -v n="$1" -v p="$2" 'BEGIN { printf "["; for (i = 0; i < n; i++) printf "%s{\"host\": \"%d\", \"target\": \"198.18.2.2:80\"}", (i ? ",\n" : ""), p + i; print "]" }'
}
gen_json_allow() { # count firstport: every mapping restricted to the client's /24 and one other network
    awk -v n="$1" -v p="$2" 'BEGIN { printf "["; for (i = 0; i < n; i++) printf "%s{\"host\": \"%d\", \"target\": \"198.18.2.2:80\", \"allow\": [\"198.18.1.0/24\", \"10.%d.%d.0/24\"]}", (i ? ",\n" : ""), p + i, int(i / 256), i % 256; print "]" }'
}
gen_map_nft() { # the same table nftfwd builds, as nft text, with N elements
    cat <<'NFT'
table inet nftfwd {
  map dnat4_any { type inet_proto . inet_service : ipv4_addr . inet_service; counter; }
  map dnat4_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter; }
  map dnat6_any { type inet_proto . inet_service : ipv6_addr . inet_service; counter; }
  map dnat6_addr { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; counter; }
  map loopback4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter; }
  map loopback6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; counter; }
  map relay6to4 { type ipv6_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter; }
  map relay4to6 { type ipv4_addr . inet_proto . inet_service : ipv6_addr . inet_service; counter; }
  set masq4 { type ipv4_addr; flags interval; }
  set masq4_keep { type ipv4_addr . ifname; flags interval; }
  set masq6 { type ipv6_addr; flags interval; }
  set masq6_keep { type ipv6_addr . ifname; flags interval; }
  chain guard {
    type filter hook prerouting priority raw; policy accept;
    iifname != "lo" ip daddr 127.0.0.0/8 counter drop
    iifname != "lo" ip6 daddr ::1 counter drop
  }
  chain publish {
    fib daddr type != local return
    ip daddr 127.0.0.0/8 return
    ip6 daddr ::1 return
    meta nfproto ipv4 ct label set 100 dnat ip to meta l4proto . th dport map @dnat4_any
    meta nfproto ipv4 ct label set 100 dnat ip to ip daddr . meta l4proto . th dport map @dnat4_addr
    meta nfproto ipv6 ct label set 100 dnat ip6 to meta l4proto . th dport map @dnat6_any
    meta nfproto ipv6 ct label set 100 dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6_addr
  }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump publish; }
  chain output { type nat hook output priority -100; policy accept; jump publish; }
  chain hairpin {
    type filter hook prerouting priority dstnat + 1; policy accept;
    ct state new ct label 100 ct status dnat fib daddr . iif oif exists ct label set 101
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ct label 101 masquerade
    ip saddr . oifname @masq4_keep return
    ip saddr @masq4 masquerade
    ip6 saddr . oifname @masq6_keep return
    ip6 saddr @masq6 masquerade
  }
}
NFT
    [ "$1" -gt 0 ] && awk -v n="$1" -v p="$2" 'BEGIN { printf "add element inet nftfwd dnat4_any { "; for (i = 0; i < n; i++) printf "%stcp . %d counter comment \"%d/tcp -> 198.18.2.2:80\" : 198.18.2.2 . 80", (i ? ", " : ""), p + i, p + i; print " }" }'
    return 0
}
gen_linear_nft() { # Docker's layout in nft: one rule per port
    echo "table ip nat {"
    echo "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; fib daddr type local jump DOCKER; }"
    echo "  chain output { type nat hook output priority -100; policy accept; ip daddr != 127.0.0.0/8 fib daddr type local jump DOCKER; }"
    echo "  chain DOCKER {"
    awk -v n="$1" -v p="$2" 'BEGIN { for (i = 0; i < n; i++) printf "    tcp dport %d dnat to 198.18.2.2:80\n", p + i }'
    echo "  }"
    echo "}"
}
gen_iptables() {
    echo "*nat"
    echo ":PREROUTING ACCEPT [0:0]"
    echo ":OUTPUT ACCEPT [0:0]"
    echo ":DOCKER - [0:0]"
    echo "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"
    echo "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"
    awk -v n="$1" -v p="$2" 'BEGIN { for (i = 0; i < n; i++) printf "-A DOCKER -p tcp -m tcp --dport %d -j DNAT --to-destination 198.18.2.2:80\n", p + i }'
    echo "COMMIT"
}
gen_json_split() { # count: half tcp, half udp, from port 10000 (100,000 fits: 50,000 each)
    awk -v n="$1" 'BEGIN { h = int((n + 1) / 2); printf "["; for (i = 0; i < n; i++) { pr = (i < h) ? "tcp" : "udp"; p = 10000 + ((i < h) ? i : i - h); printf "%s{\"proto\": \"%s\", \"host\": \"%d\", \"target\": \"198.18.2.2:80\"}", (i ? ",\n" : ""), pr, p }; print "]" }'
}
gen_split_nft() { # count: the same elements as gen_json_split, as nftfwd writes them (counter, comment)
    gen_map_nft 0 0
    [ "$1" -gt 0 ] || return 0
    awk -v n="$1" 'BEGIN { h = int((n + 1) / 2); printf "add element inet nftfwd dnat4_any { "; for (i = 0; i < n; i++) { pr = (i < h) ? "tcp" : "udp"; p = 10000 + ((i < h) ? i : i - h); printf "%s%s . %d counter comment \"%d/%s -> 198.18.2.2:80\" : 198.18.2.2 . 80", (i ? ", " : ""), pr, p, p, pr }; print " }" }'
}
gen_minimal_nft() { # count: one map, the same keys and values, no counter, no comment
    echo "table inet nftfwd { map dnat4_any { type inet_proto . inet_service : ipv4_addr . inet_service; }; }"
    awk -v n="$1" 'BEGIN { h = int((n + 1) / 2); printf "add element inet nftfwd dnat4_any { "; for (i = 0; i < n; i++) { pr = (i < h) ? "tcp" : "udp"; p = 10000 + ((i < h) ? i : i - h); printf "%s%s . %d : 198.18.2.2 . 80", (i ? ", " : ""), pr, p }; print " }" }'
}
gen_json "$N" 10000 > "$TMP/n.json"
gen_map_nft "$N" 10000 > "$TMP/map.nft"
gen_linear_nft "$N" 10000 > "$TMP/linear.nft"
gen_iptables "$N" 10000 > "$TMP/iptables.rules"

time_in() { # ns command... : ms of one run, output discarded
    local t0 t1; t0=$(now_ns); ip netns exec "$1" "${@:2}" >/dev/null; t1=$(now_ns)
    awk -v d="$(( (t1 - t0) / 1000 ))" 'BEGIN { printf "%.2f", d / 1000 }'
}
time_prepared() { # setup-function command... : median ms over RUNS fresh namespaces, each set up first
    local setup=$1; shift
    local samples=()
    for _ in $(seq "$RUNS"); do
        local ns; ns=$(fresh_ns); "$setup" "$ns"
        samples+=("$(time_in "$ns" "$@")")
        drop_ns "$ns"
    done
    printf '%s\n' "${samples[@]}" | median
}
scale_section() {
    local S=${SCALE_N:-100000}
    gen_json_split 10000 > "$TMP/s10k.json"; gen_json_split "$S" > "$TMP/sN.json"
    gen_split_nft 10000 > "$TMP/s10k.nft"; gen_split_nft "$S" > "$TMP/sN.nft"
    gen_minimal_nft 10000 > "$TMP/m10k.nft"; gen_minimal_nft "$S" > "$TMP/mN.nft"
    echo "== 4. scale: 10,000 and $S mappings, half tcp half udp (ms, median of $RUNS, process start included)"
    local a10 f10 m10 aN fN mN
    a10=$(time_load "$NFTFWD" apply "$TMP/s10k.json"); f10=$(time_load nft -f "$TMP/s10k.nft"); m10=$(time_load nft -f "$TMP/m10k.nft")
    aN=$(time_load "$NFTFWD" apply "$TMP/sN.json"); fN=$(time_load nft -f "$TMP/sN.nft"); mN=$(time_load nft -f "$TMP/mN.nft")
    printf '%-44s %10s %14s %14s\n' "" "ms" "vs minimal" "vs same"
    printf '%-44s %10s %14s %14s\n' "nftfwd apply 10000" "$a10" "$(ratio "$a10" "$m10")" "$(ratio "$a10" "$f10")"
    printf '%-44s %10s %14s %14s\n' "nft -f 10000 (same content)" "$f10" "$(ratio "$f10" "$m10")" "1.00"
    printf '%-44s %10s %14s %14s\n' "nft -f 10000 (minimal map) [baseline]" "$m10" "1.00" ""
    printf '%-44s %10s %14s %14s\n' "nftfwd apply $S" "$aN" "$(ratio "$aN" "$mN")" "$(ratio "$aN" "$fN")"
    printf '%-44s %10s %14s %14s\n' "nft -f $S (same content) [baseline]" "$fN" "$(ratio "$fN" "$mN")" "1.00"
    printf '%-44s %10s %14s %14s\n' "nft -f $S (minimal map)" "$mN" "1.00" ""
    echo "nftfwd apply $S vs 10000 (linear is 10x): $(ratio "$aN" "$a10")x"

    # Reading, flushing and applying again, each in a namespace that holds the S mappings.
    with_nftfwd() { ip netns exec "$1" "$NFTFWD" apply "$TMP/sN.json" >/dev/null; }
    with_nft() { ip netns exec "$1" nft -f "$TMP/sN.nft"; }
    local ls lsj nl fl del same
    ls=$(time_prepared with_nftfwd "$NFTFWD" ls); lsj=$(time_prepared with_nftfwd "$NFTFWD" ls --json)
    nl=$(time_prepared with_nft nft list table inet nftfwd)
    fl=$(time_prepared with_nftfwd "$NFTFWD" flush); del=$(time_prepared with_nft nft delete table inet nftfwd)
    same=$(time_prepared with_nftfwd "$NFTFWD" apply "$TMP/sN.json")
    printf '%-44s %10s %14s\n' "" "ms" "ratio"
    printf '%-44s %10s %14s\n' "nftfwd ls ($S)" "$ls" "$(ratio "$ls" "$nl")"
    printf '%-44s %10s %14s\n' "nftfwd ls --json ($S)" "$lsj" "$(ratio "$lsj" "$nl")"
    printf '%-44s %10s %14s\n' "nft list table [baseline]" "$nl" "1.00"
    printf '%-44s %10s %14s\n' "nftfwd flush ($S)" "$fl" "$(ratio "$fl" "$del")"
    printf '%-44s %10s %14s\n' "nft delete table [baseline]" "$del" "1.00"
    printf '%-44s %10s %14s\n' "nftfwd apply, nothing changes ($S)" "$same" "$(ratio "$same" "$fN")"
    local ns g0 g1 rss
    ns=$(fresh_ns); with_nftfwd "$ns"
    g0=$(ip netns exec "$ns" "$NFTFWD" -v apply "$TMP/sN.json" 2>&1 | grep -c 'sending one batch' || true)
    drop_ns "$ns"
    echo "batches sent by the apply that changes nothing: $g0"
    ns=$(fresh_ns)
    rss=$(ip netns exec "$ns" /usr/bin/time -v "$NFTFWD" apply "$TMP/sN.json" 2>&1 >/dev/null | awk '/Maximum resident/ {printf "%.1f", $NF / 1024}')
    drop_ns "$ns"
    echo "peak RSS of nftfwd apply $S: $rss MB"

    add_at() { # count label: nftfwd add vs nft add element with count published
        local count=$1 a b
        gen_json_split "$count" > "$TMP/at.json"
        local na nb; na=$(fresh_ns); nb=$(fresh_ns)
        ip netns exec "$na" "$NFTFWD" apply "$TMP/at.json" >/dev/null; gen_split_nft "$count" | ip netns exec "$nb" nft -f -
        read -r a b <<<"$(time_adds_paired "$na" add_nftfwd "$nb" add_element)"
        drop_ns "$na"; drop_ns "$nb"
        printf '%-44s %10s %14s %14s\n' "add at $count" "$a" "$b" "$(ratio "$a" "$b")"
    }
    printf '%-44s %10s %14s %14s\n' "" "nftfwd add" "nft add elem" "ratio"
    add_at 0; add_at "$S"
}
if [ "${SCALE_ONLY:-0}" = 1 ]; then
    ADDS=${ADDS:-31}
    add_nftfwd() { ip netns exec "$1" "$NFTFWD" add "$2" 198.18.2.2:80; }
    add_element() { ip netns exec "$1" nft add element inet nftfwd dnat4_any "{ tcp . $2 counter comment \"$2/tcp -> 198.18.2.2:80\" : 198.18.2.2 . 80 }"; }
    # Interleaved (a, b, b, a, ...), so that a busy moment of the machine falls on both.
    time_adds_paired() { # nsA fnA nsB fnB: prints "medianA medianB" (ms) of ADDS adds each
        local sa=() sb=() i t0 t1
        one() { t0=$(now_ns); "$2" "$1" "$3" >/dev/null; t1=$(now_ns); echo $(( (t1 - t0) / 1000 )); }
        for i in $(seq "$ADDS"); do
            if (( i % 2 )); then sa+=("$(one "$1" "$2" $((60000 + i)))"); sb+=("$(one "$3" "$4" $((60000 + i)))")
            else sb+=("$(one "$3" "$4" $((60000 + i)))"); sa+=("$(one "$1" "$2" $((60000 + i)))"); fi
        done
        echo "$(printf '%s\n' "${sa[@]}" | awk '{print $1/1000}' | median) $(printf '%s\n' "${sb[@]}" | awk '{print $1/1000}' | median)"
    }
fi

# --- 1. publish N at once -----------------------------------------------------------------
time_load() { # label command... ; prints median ms over RUNS fresh namespaces
    local samples=()
    for _ in $(seq "$RUNS"); do
        local ns; ns=$(fresh_ns)
        local t0; t0=$(now_ns)
        ip netns exec "$ns" "$@" >/dev/null
        local t1; t1=$(now_ns)
        samples+=("$(( (t1 - t0) / 1000 ))")
        drop_ns "$ns"
    done
    printf '%s\n' "${samples[@]}" | awk '{print $1/1000}' | median
}
if [ "${SCALE_ONLY:-0}" = 1 ]; then scale_section; exit 0; fi
if [[ $SECTIONS == *1* ]]; then
echo "== 1. publish $N mappings at once (ms, median of $RUNS, process start included)"
t_nftfwd=$(time_load "$NFTFWD" apply "$TMP/n.json")
t_map=$(time_load nft -f "$TMP/map.nft")
t_linear=$(time_load nft -f "$TMP/linear.nft")
t_ipt=$(time_load iptables-nft-restore "$TMP/iptables.rules")
printf '%-34s %10s %8s\n' "" "ms" "ratio"
printf '%-34s %10s %8s\n' "nftfwd apply" "$t_nftfwd" "$(ratio "$t_nftfwd" "$t_map")"
printf '%-34s %10s %8s\n' "nft -f (same map table) [baseline]" "$t_map" "1.00"
printf '%-34s %10s %8s\n' "nft -f (linear rules)" "$t_linear" "$(ratio "$t_linear" "$t_map")"
printf '%-34s %10s %8s\n' "iptables-nft-restore (linear)" "$t_ipt" "$(ratio "$t_ipt" "$t_map")"
fi

# --- 2. one more mapping --------------------------------------------------------------------
ADDS=5
time_adds() { # ns, then a function name taking (ns, port): median ms of ADDS adds
    local ns=$1 fn=$2 samples=()
    for i in $(seq "$ADDS"); do
        local port=$((40000 + i)) t0 t1
        t0=$(now_ns); "$fn" "$ns" "$port" >/dev/null; t1=$(now_ns)
        samples+=("$(( (t1 - t0) / 1000 ))")
    done
    printf '%s\n' "${samples[@]}" | awk '{print $1/1000}' | median
}
add_nftfwd() { ip netns exec "$1" "$NFTFWD" add "$2" 198.18.2.2:80; }
add_element() { ip netns exec "$1" nft add element inet nftfwd dnat4_any "{ tcp . $2 counter comment \"$2/tcp -> 198.18.2.2:80\" : 198.18.2.2 . 80 }"; }
add_rule() { ip netns exec "$1" nft add rule ip nat DOCKER tcp dport "$2" dnat to 198.18.2.2:80; }
add_iptables() { ip netns exec "$1" iptables-nft -t nat -A DOCKER -p tcp --dport "$2" -j DNAT --to-destination 198.18.2.2:80; }
if [[ $SECTIONS == *2* ]]; then
echo
echo "== 2. add one mapping when some exist (ms, median of $ADDS adds)"
printf '%-10s %12s %16s %16s %16s\n' "existing" "nftfwd add" "nft add element" "nft add rule" "iptables-nft -A"
declare -A at
for existing in 0 1000 "$N"; do
    gen_json "$existing" 10000 > "$TMP/e.json"
    ns=$(fresh_ns); ip netns exec "$ns" "$NFTFWD" apply "$TMP/e.json" >/dev/null; a=$(time_adds "$ns" add_nftfwd); drop_ns "$ns"
    # nft's own table with the same map and elements (apply of [] makes no table at all).
    ns=$(fresh_ns); gen_map_nft "$existing" 10000 | ip netns exec "$ns" nft -f -; b=$(time_adds "$ns" add_element); drop_ns "$ns"
    ns=$(fresh_ns); gen_linear_nft "$existing" 10000 | ip netns exec "$ns" nft -f -; c=$(time_adds "$ns" add_rule); drop_ns "$ns"
    ns=$(fresh_ns); gen_iptables "$existing" 10000 | ip netns exec "$ns" iptables-nft-restore; d=$(time_adds "$ns" add_iptables); drop_ns "$ns"
    at[$existing]=$a
    printf '%-10s %12s %16s %16s %16s\n' "$existing" "$a" "$b" "$c" "$d"
done
echo "nftfwd add at $N vs at 0: $(ratio "${at[$N]}" "${at[0]}")x"
fi
if [[ $SECTIONS != *3* ]]; then
    [[ $SECTIONS != *4* ]] || scale_section
    exit 0
fi

# --- 3. new connections per second ----------------------------------------------------------
echo
echo "== 3. new TCP connections/s through DNAT (wrk -t2 -c50 -d${WRK_SECONDS}s, Connection: close, median of $RUNS)"
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
lab() { # builds client -- host -- target; echoes the host namespace name
    local c h t
    c=$(fresh_ns bare); h=$(fresh_ns bare); t=$(fresh_ns bare)
    ip link add "$h-a" netns "$c" type veth peer name "$h-b" netns "$h"
    ip link add "$h-c" netns "$h" type veth peer name "$h-d" netns "$t"
    ip -n "$c" addr add 198.18.1.2/24 dev "$h-a"; ip -n "$c" link set "$h-a" up
    ip -n "$h" addr add 198.18.1.1/24 dev "$h-b"; ip -n "$h" link set "$h-b" up
    ip -n "$h" addr add 198.18.2.1/24 dev "$h-c"; ip -n "$h" link set "$h-c" up
    ip -n "$t" addr add 198.18.2.2/24 dev "$h-d"; ip -n "$t" link set "$h-d" up
    ip -n "$c" route add default via 198.18.1.1
    ip -n "$t" route add default via 198.18.2.1
    ip netns exec "$h" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$c" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
    ip netns exec "$t" sysctl -qw net.core.somaxconn=4096
    ip netns exec "$t" nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log"
    for _ in $(seq 100); do ip netns exec "$t" ss -ltn | grep -q '198.18.2.2:80 ' && break; sleep 0.1; done
    echo "$c $h $t"
}
conn_rate_once() { # layout count -> requests/s of one wrk run in a fresh lab
    local layout=$1 count=$2 c h t
    read -r c h t < <(lab)
    if [ "$layout" = map ]; then
        gen_json "$count" 10000 > "$TMP/w.json"; ip netns exec "$h" "$NFTFWD" apply "$TMP/w.json" >/dev/null
    elif [ "$layout" = allow ]; then
        gen_json_allow "$count" 10000 > "$TMP/w.json"; ip netns exec "$h" "$NFTFWD" apply "$TMP/w.json" >/dev/null
    else
        gen_linear_nft "$count" 10000 | ip netns exec "$h" nft -f -
    fi
    local port=$((10000 + count - 1)) rps
    rps=$(ip netns exec "$c" timeout $((WRK_SECONDS + 20)) wrk -t2 -c50 -d"${WRK_SECONDS}s" -H 'Connection: close' "http://198.18.1.1:$port/" | awk '/Requests\/sec/ {print $2}')
    [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
    drop_ns "$c"; drop_ns "$h"; drop_ns "$t"
    echo "${rps:-0}"
}
# The layouts take turns in every round, so a noisy moment hits them alike.
for _ in $(seq "$RUNS"); do
    for layout in $CONN_LAYOUTS; do
        conn_rate_once "$layout" 1 >> "$TMP/$layout-1"; conn_rate_once "$layout" "$N" >> "$TMP/$layout-N"
    done
done
printf '%-24s %14s %14s %10s\n' "" "1 mapping" "$N mappings" "N/1"
declare -A conn_label=([map]="nftfwd (map)" [allow]="nftfwd, all --allow'ed" [linear]="linear rules (Docker)")
declare -A at1 atN
for layout in $CONN_LAYOUTS; do
    at1[$layout]=$(median < "$TMP/$layout-1"); atN[$layout]=$(median < "$TMP/$layout-N")
    printf '%-24s %14s %14s %10s\n' "${conn_label[$layout]}" "${at1[$layout]}" "${atN[$layout]}" "$(ratio "${atN[$layout]}" "${at1[$layout]}")"
    # Every run's figures, in run order, to see the spread a loaded machine gives a median.
    echo "    runs: 1: $(paste -sd ' ' "$TMP/$layout-1")  $N: $(paste -sd ' ' "$TMP/$layout-N")"
done
[[ " $CONN_LAYOUTS " != *" map "* || " $CONN_LAYOUTS " != *" linear "* ]] || echo "nftfwd at $N vs linear at $N: $(ratio "${atN[map]}" "${atN[linear]}")x"

echo
[[ $SECTIONS != *4* ]] || scale_section
