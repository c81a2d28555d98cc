#!/usr/bin/env bash
# nftfwd demo: a "host" with a bridge and two "containers" publishes a web server to a
# "client" on its LAN; the containers reach it too (hairpin) and reach the client (masquerade);
# the host reaches it over 127.0.0.1 through the relay. Everything happens in network
# namespaces this script creates and removes: nothing of the machine's own network or ruleset
# is touched.
#   sudo bash contrib/demo.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
need_root "the demo"
install_packages
find_swift
# NFTFWD_SAVE from the calling shell would make the nftfwd commands run in namespaces here
# also write the host's /etc/nftfwd (ip netns exec shares /etc).
unset NFTFWD_SAVE
build --product nftfwd
NFTFWD="$(swift build --show-bin-path)/nftfwd"

id=$$
HOST="nftfwd-demo-$id-host" C1="nftfwd-demo-$id-c1" C2="nftfwd-demo-$id-c2" CLIENT="nftfwd-demo-$id-client"
WEB="$(mktemp -d)"
cleanup() {
    for ns in "$CLIENT" "$C1" "$C2" "$HOST"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WEB"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '    $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }
in_host() { ip netns exec "$HOST" "$@"; }
wait_listening() { # NS PORT
    for _ in $(seq 100); do ip netns exec "$1" ss -ltnH "sport = :$2" | grep -q . && return; sleep 0.1; done
}

step "namespaces: client 198.18.1.2 -- 198.18.1.1 host br0 198.18.2.1 -- c1 198.18.2.2, c2 198.18.2.3"
for ns in "$HOST" "$C1" "$C2" "$CLIENT"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$HOST" link add br0 type bridge
ip -n "$HOST" addr add 198.18.2.1/24 dev br0
ip -n "$HOST" link set br0 up
for pair in "$C1:198.18.2.2:1" "$C2:198.18.2.3:2"; do
    IFS=: read -r ns addr n <<< "$pair"
    ip link add d$id-c$n netns "$ns" type veth peer name d$id-p$n netns "$HOST"
    ip -n "$ns" addr add "$addr/24" dev d$id-c$n; ip -n "$ns" link set d$id-c$n up
    ip -n "$ns" route add default via 198.18.2.1
    ip -n "$HOST" link set d$id-p$n master br0 up
    ip netns exec "$HOST" bridge link set dev d$id-p$n hairpin on   # as a container runtime does
done
ip link add d$id-l netns "$CLIENT" type veth peer name d$id-h netns "$HOST"
ip -n "$CLIENT" addr add 198.18.1.2/24 dev d$id-l; ip -n "$CLIENT" link set d$id-l up
ip -n "$HOST" addr add 198.18.1.1/24 dev d$id-h;   ip -n "$HOST" link set d$id-h up
in_host sysctl -qw net.ipv4.ip_forward=1

step "c1 serves HTTP on port 80; the client serves HTTP on port 8000"
echo "hello from c1" > "$WEB/index.html"
mkdir "$WEB/client" && echo "hello from the client" > "$WEB/client/index.html"
ip netns exec "$C1" python3 -m http.server 80 --directory "$WEB" > "$WEB/c1.log" 2>&1 &
ip netns exec "$CLIENT" python3 -m http.server 8000 --directory "$WEB/client" > "$WEB/client.log" 2>&1 &
wait_listening "$C1" 80; wait_listening "$CLIENT" 8000

step "before publishing, the client cannot reach c1 through the host"
run ip netns exec "$CLIENT" curl -sS --max-time 3 http://198.18.1.1:8080/ || true

step "publish host port 8080 to c1:80"
run ip netns exec "$HOST" "$NFTFWD" add 8080 198.18.2.2:80 --comment "demo web"

step "the client fetches the page through the host (kernel DNAT, no proxy process)"
run ip netns exec "$CLIENT" curl -sS --max-time 5 http://198.18.1.1:8080/
echo "    c1's access log shows the client's own address:"
tail -n 1 "$WEB/c1.log" | sed 's/^/      /'

step "the host itself reaches it on its own address (output chain)"
run ip netns exec "$HOST" curl -sS --max-time 5 http://198.18.1.1:8080/

step "hairpin: c2, and c1 itself, reach it through the host's address"
run ip netns exec "$C2" curl -sS --max-time 5 http://198.18.1.1:8080/
run ip netns exec "$C1" curl -sS --max-time 5 http://198.18.1.1:8080/
echo "    c1 saw the host's bridge address for both (hairpin is masqueraded, so replies come back through the host):"
tail -n 2 "$WEB/c1.log" | sed 's/^/      /'

step "the containers' subnet reaches the client only once it is masqueraded"
run ip netns exec "$C1" curl -sS --max-time 3 http://198.18.1.2:8000/ || true
run ip netns exec "$HOST" "$NFTFWD" masquerade add 198.18.2.0/24 --out-not br0
run ip netns exec "$C1" curl -sS --max-time 5 http://198.18.1.2:8000/

step "loopback needs the userland relay (the kernel cannot NAT 127.0.0.1): start it"
in_host "$NFTFWD" relay > "$WEB/relay.log" 2>&1 &
for _ in $(seq 100); do
    in_host "$NFTFWD" ls --json | grep -q '"state": "listening"' && break; sleep 0.1
done
sed 's/^/    /' "$WEB/relay.log"
run ip netns exec "$HOST" curl -sS --max-time 5 http://127.0.0.1:8080/

step "what is published, with live counters (kernel DNAT and relay side by side)"
run ip netns exec "$HOST" "$NFTFWD" ls

step "what the kernel holds"
run ip netns exec "$HOST" nft list map inet nftfwd dnat4_any
run ip netns exec "$HOST" nft list chain inet nftfwd hairpin

step "remove it: the kernel mapping goes at once, the relay follows within a second"
run ip netns exec "$HOST" "$NFTFWD" rm 8080
for _ in $(seq 30); do
    [ -z "$(in_host ss -ltnH 'sport = :8080')" ] && break; sleep 0.1
done
sed -n '3,$s/^/    /p' "$WEB/relay.log"
run ip netns exec "$CLIENT" curl -sS --max-time 3 http://198.18.1.1:8080/ || true
run ip netns exec "$HOST" curl -sS --max-time 3 http://127.0.0.1:8080/ || true

step "done: removing the namespaces"
