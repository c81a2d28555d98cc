#!/usr/bin/env bash
# nftfwd demo: publishes a "container"'s web server on a "host" and fetches the page from a
# "client", all in network namespaces this script creates and removes. Nothing of the
# machine's own network or ruleset is touched.
#   sudo bash contrib/demo.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
need_root "the demo"
install_packages
find_swift
build --product nftfwd
NFTFWD="$(swift build --show-bin-path)/nftfwd"

id=$$
HOST="nftfwd-demo-$id-host" CONTAINER="nftfwd-demo-$id-container" CLIENT="nftfwd-demo-$id-client"
WEB="$(mktemp -d)"
cleanup() {
    for ns in "$CLIENT" "$CONTAINER" "$HOST"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$WEB"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '    $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }

step "creating namespaces: $CLIENT (198.18.1.2) -- $HOST (198.18.1.1 | 198.18.2.1) -- $CONTAINER (198.18.2.2)"
for ns in "$HOST" "$CONTAINER" "$CLIENT"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add d$id-c netns "$CLIENT" type veth peer name d$id-h netns "$HOST"
ip link add d$id-t netns "$CONTAINER" type veth peer name d$id-u netns "$HOST"
ip -n "$CLIENT" addr add 198.18.1.2/24 dev d$id-c;     ip -n "$CLIENT" link set d$id-c up
ip -n "$HOST" addr add 198.18.1.1/24 dev d$id-h;       ip -n "$HOST" link set d$id-h up
ip -n "$HOST" addr add 198.18.2.1/24 dev d$id-u;       ip -n "$HOST" link set d$id-u up
ip -n "$CONTAINER" addr add 198.18.2.2/24 dev d$id-t;  ip -n "$CONTAINER" link set d$id-t up
ip -n "$CLIENT" route add default via 198.18.1.1
ip -n "$CONTAINER" route add default via 198.18.2.1
ip netns exec "$HOST" sysctl -qw net.ipv4.ip_forward=1

step "the container serves HTTP on 198.18.2.2:80"
echo "hello from the container ($CONTAINER)" > "$WEB/index.html"
ip netns exec "$CONTAINER" python3 -m http.server 80 --bind 198.18.2.2 --directory "$WEB" >/dev/null 2>&1 &
for _ in $(seq 100); do ip netns exec "$CONTAINER" ss -ltn | grep -q ':80 ' && break; sleep 0.1; done

step "before publishing, the client cannot reach it through the host"
run ip netns exec "$CLIENT" curl -sS --max-time 3 http://198.18.1.1:8080/ || true

step "publish host port 8080 to the container"
run ip netns exec "$HOST" "$NFTFWD" add 8080 198.18.2.2:80 --comment "demo web"

step "the client fetches the page through the host (kernel DNAT, no proxy process)"
run ip netns exec "$CLIENT" curl -sS --max-time 5 http://198.18.1.1:8080/

step "the host itself reaches it on its own address (output chain)"
run ip netns exec "$HOST" curl -sS --max-time 5 http://198.18.2.1:8080/

step "loopback needs the userland relay (the kernel cannot NAT 127.0.0.1): start it"
ip netns exec "$HOST" "$NFTFWD" relay > "$WEB/relay.log" 2>&1 &
for _ in $(seq 100); do
    ip netns exec "$HOST" "$NFTFWD" ls --json | grep -q '"state": "listening"' && break; sleep 0.1
done
sed 's/^/    /' "$WEB/relay.log"
run ip netns exec "$HOST" curl -sS --max-time 5 http://127.0.0.1:8080/

step "what is published, with live counters (kernel DNAT and relay side by side)"
run ip netns exec "$HOST" "$NFTFWD" ls

step "what the kernel holds"
run ip netns exec "$HOST" nft list map inet nftfwd dnat4_any

step "remove it: the kernel mapping goes at once, the relay follows within a second"
run ip netns exec "$HOST" "$NFTFWD" rm 8080
for _ in $(seq 30); do
    [ -z "$(ip netns exec "$HOST" ss -ltnH 'sport = :8080')" ] && break; sleep 0.1
done
sed -n '3,$s/^/    /p' "$WEB/relay.log"
run ip netns exec "$CLIENT" curl -sS --max-time 3 http://198.18.1.1:8080/ || true
run ip netns exec "$HOST" curl -sS --max-time 3 http://127.0.0.1:8080/ || true

step "done: removing the namespaces"
