#!/usr/bin/env bash
# End-to-end test of nftfwd-cni with a real runtime: Debian's podman 4.3 (rootful, CNI backend),
# its conflist naming nftfwd-cni where portmap would be.
#
#   podman-cni.sh NFTFWD_CNI_PATH NFTFWD_PATH
#
# podman runs inside a network namespace of this script's (nsenter, not `ip netns exec`, which
# hides the cgroup mounts), with every path of its own in a temporary directory (root, runroot,
# tmpdir, containers.conf, storage.conf, the CNI config and plugin directories), the cgroupfs
# manager under a cgroup parent of its own, and the image of contrib/testing/docker-engine.sh
# (busybox httpd and a UDP echo server) imported offline. A client namespace is linked to it
# (192.168.93.2 -> 192.168.93.1). It checks, one line each ("ok ..." / "FAIL ..."):
#   - podman run -p 8080:80 -p 8081:81/udp gets an address of the conflist's subnet (podman
#     falls back to its default network, and the stock portmap, when a conflist fails its checks)
#   - nftfwd ls shows both mappings, owned by cni:ID:eth0; the client reaches both through DNAT
#   - route_localnet stays 0 on the bridge
#   - a container publishing 50 ports adds no nft rule, and 50 mappings
#   - podman rm -f removes a container's mappings
#   - with `nftfwd relay --loopback-redirect` running, 127.0.0.1:8080 (TCP) and 127.0.0.1:8081
#     (UDP) reach the container although conmon binds and holds both ports itself: the kernel
#     redirects loopback clients of published ports to the relay's own sockets (no bind per
#     port; a UDP flow's destination read from its conntrack entry), route_localnet still 0
# Exit status 0 only if every check passed. Environment: NFTFWD_TEST_TIMEOUT (default 240 s).
set -uo pipefail
say() { printf '%s\n' "$*"; }
[[ $(id -u) == 0 ]] || { echo "podman-cni.sh: needs root" >&2; exit 2; }
[[ $# == 2 ]] || { echo "usage: podman-cni.sh NFTFWD_CNI_PATH NFTFWD_PATH" >&2; exit 2; }
CNI_BIN=$(realpath -e "$1") && NFTFWD=$(realpath -e "$2") || { echo "podman-cni.sh: $1 or $2 missing" >&2; exit 2; }
command -v podman >/dev/null && [[ -x /usr/lib/cni/bridge ]] || { echo "podman-cni.sh: needs podman and containernetworking-plugins (apt-get install podman)" >&2; exit 2; }
HERE=$(dirname "$(realpath "$0")")
IMAGE_TAR=$(bash "$HERE/docker-engine.sh" --genuine-proxy-path >/dev/null && echo "${NFTFWD_TEST_CACHE:-/var/cache/nftfwd-test}/image/nftfwd-test-rootfs-v1.tar")
[[ -f $IMAGE_TAR ]] || { echo "podman-cni.sh: no image tar ($IMAGE_TAR)" >&2; exit 2; }
PAGE='nftfwd docker-engine test page'

FAILURES=0
RELAY_PID=
ok() { say "ok $*"; }
fail() { say "FAIL $*"; FAILURES=$((FAILURES + 1)); }
wait_for() { local limit=$1; shift; local deadline=$((SECONDS + limit)); until "$@"; do ((SECONDS >= deadline)) && return 1; sleep 0.1; done; }

ID=nftfwd-pod-$$
NS=$ID CLIENT=$ID-c CGPARENT=/$ID NETWORK=nftfwdpod$$
DIR=$(mktemp -d /tmp/nftfwd-pod.XXXXXX) || exit 2
# podman and libcni write there whatever their paths say: removed after, if they were not there before.
CACHE_EXISTED=; [[ -e /var/lib/containers ]] && CACHE_EXISTED=1
CNI_EXISTED=; [[ -e /var/lib/cni ]] && CNI_EXISTED=1
cleanup() {
    local rc=$?
    trap - EXIT; trap '' TERM INT
    # The relay first, with TERM, so it removes its status socket and its redirect ports.
    [[ -n $RELAY_PID ]] && { kill -TERM "$RELAY_PID" 2>/dev/null; timeout 10 tail --pid="$RELAY_PID" -f /dev/null; }
    timeout 60 pod rm -af -t 0 >/dev/null 2>&1
    # The relay's status socket and lock file are named after its namespace's inode: once every
    # process of the namespace is gone, no relay holds them.
    local ino
    ino=$(stat -L -c %i "/run/netns/$NS" 2>/dev/null)
    for ns in "$NS" "$CLIENT"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    [[ -n $ino ]] && rm -f /run/nftfwd/relay-*-"$ino"-*
    local m
    for m in $(awk -v r="$DIR" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done
    rm -rf "$DIR" /var/lib/cni/results/"$NETWORK"-* 2>/dev/null
    [[ -z $CACHE_EXISTED ]] && rm -rf /var/lib/containers
    [[ -z $CNI_EXISTED ]] && rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
    find /sys/fs/cgroup -depth -type d -path "*$CGPARENT*" -exec rmdir {} + 2>/dev/null
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
( sleep "${NFTFWD_TEST_TIMEOUT:-240}"; echo "FAIL run exceeded ${NFTFWD_TEST_TIMEOUT:-240} s"; kill -TERM $$ ) 2>/dev/null & WATCHDOG=$!

mkdir -p "$DIR"/{root,runroot,libpod,tmp,cni,cni-bin}
for p in bridge host-local loopback; do ln -s "/usr/lib/cni/$p" "$DIR/cni-bin/$p"; done
ln -s "$CNI_BIN" "$DIR/cni-bin/nftfwd-cni"
cat >"$DIR/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["$DIR/cni-bin"]
network_config_dir = "$DIR/cni"
[engine]
lock_type = "file"
runtime = "runc"
EOF
cat >"$DIR/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$DIR/runroot"
graphroot = "$DIR/root"
EOF
cat >"$DIR/cni/$NETWORK.conflist" <<EOF
{ "cniVersion": "0.4.0", "name": "$NETWORK",
  "plugins": [
    { "type": "bridge", "bridge": "cnipod0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$DIR/ipam", "routes": [{ "dst": "0.0.0.0/0" }],
                "ranges": [[{ "subnet": "10.90.0.0/24", "gateway": "10.90.0.1" }]] } },
    { "type": "nftfwd-cni", "capabilities": { "portMappings": true } } ] }
EOF
pod() {
    nsenter --net="/run/netns/$NS" -- env CONTAINERS_CONF="$DIR/containers.conf" CONTAINERS_STORAGE_CONF="$DIR/storage.conf" TMPDIR="$DIR/tmp" \
        podman --root "$DIR/root" --runroot "$DIR/runroot" --tmpdir "$DIR/libpod" --cgroup-manager cgroupfs \
        --events-backend file --storage-driver vfs "$@"
}
inns() { nsenter --net="/run/netns/$NS" -- "$@"; }
rules() { inns nft -j list ruleset 2>/dev/null | grep -o '{"rule":' | wc -l; }
# "TARGET COMMENT" of each published mapping PROTO PORT (IPv4).
mapping() {
    inns "$NFTFWD" ls --json 2>/dev/null | python3 -c '
import json, sys
for m in json.load(sys.stdin)["mappings"]:
    if m["proto"] == sys.argv[1] and m["host"] == sys.argv[2] and m["family"] == "ipv4":
        print(m["target"], m["comment"])' "$1" "$2"
}
count() { inns "$NFTFWD" ls --json 2>/dev/null | grep -c '"proto"'; }
client_get() { nsenter --net="/run/netns/$CLIENT" -- curl -sS --max-time 3 "$1" 2>&1; }
client_udp() { udp_probe "$CLIENT" "$@"; }
host_udp() { udp_probe "$NS" "$@"; }
udp_probe() {   # $1: namespace, $2: address, $3: port
    local ns=$1; shift
    nsenter --net="/run/netns/$ns" -- timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
for _ in range(3):
    s.sendto(b"nftfwd-udp-probe", (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recvfrom(65536)[0].decode()); sys.exit(0)
    except socket.timeout:
        pass
print("no reply"); sys.exit(1)' "$1" "$2"
}

ip netns add "$NS" && ip netns add "$CLIENT" || exit 2
ip -n "$NS" link set lo up && ip -n "$CLIENT" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1
ip link add "nfq$$a" netns "$NS" type veth peer name "nfq$$b" netns "$CLIENT" &&
    ip -n "$NS" addr add 192.168.93.1/24 dev "nfq$$a" && ip -n "$NS" link set "nfq$$a" up &&
    ip -n "$CLIENT" addr add 192.168.93.2/24 dev "nfq$$b" && ip -n "$CLIENT" link set "nfq$$b" up || { fail "cannot link the client"; exit 1; }
# nftfwd's table (its fixed chains) first, so rule counts show what publishing adds.
inns "$NFTFWD" add 9999 10.255.255.1:9 >/dev/null 2>&1 && inns "$NFTFWD" rm 9999 >/dev/null 2>&1

if out=$(pod import "$IMAGE_TAR" nftfwd-test:v1 2>&1); then ok "image imported"; else fail "podman import: $out"; exit 1; fi
start=$SECONDS
rules_before=$(rules)
if CID=$(pod run -d --cgroup-parent "$CGPARENT" --network "$NETWORK" -p 8080:80 -p 8081:81/udp nftfwd-test:v1 \
        /bin/sh -c '/bin/udpecho 81 & exec /bin/busybox httpd -f -p 80 -h /www' 2>"$DIR/run.err"); then
    ok "podman run -d -p 8080:80 -p 8081:81/udp ($((SECONDS - start)) s)"
else
    fail "podman run: $(cat "$DIR/run.err")"; exit 1
fi
CIP=$(pod inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$CID" 2>&1)
if [[ $CIP == 10.90.0.* ]]; then ok "the container is on the conflist's network ($CIP)"; else fail "container address '$CIP' is not in 10.90.0.0/24 (podman fell back to another network?)"; exit 1; fi
tcp=$(mapping tcp 8080) udp=$(mapping udp 8081)
if [[ $tcp == "$CIP:80 cni:${CID:0:12}~"*":eth0" && $udp == "$CIP:81 cni:${CID:0:12}~"*":eth0" ]]; then
    ok "nftfwd ls: 8080/tcp and 8081/udp -> $CIP, owned by ${tcp#* }"
else
    fail "nftfwd ls: 8080/tcp '$tcp', 8081/udp '$udp'"
fi
((rules_before == $(rules))) && ok "no rule added ($rules_before nft rules)" || fail "rules: $rules_before -> $(rules)"
if wait_for 20 eval '[[ $(client_get http://192.168.93.1:8080/) == "$PAGE" ]]'; then ok "client: the page through 192.168.93.1:8080"; else fail "client: curl 192.168.93.1:8080: $(client_get http://192.168.93.1:8080/)"; fi
if got=$(client_udp 192.168.93.1 8081) && [[ $got == nftfwd-udp-probe ]]; then ok "client: UDP echo through 192.168.93.1:8081"; else fail "client: UDP 8081: $got"; fi
rl=$(inns sysctl -n net.ipv4.conf.cnipod0.route_localnet net.ipv4.conf.all.route_localnet 2>&1 | tr '\n' ' ')
[[ $rl == "0 0 " ]] && ok "route_localnet 0 on cnipod0 and all" || fail "route_localnet: $rl"

# 127.0.0.1 through the relay: conmon holds 8080 and 8081, so the relay cannot bind them; the
# kernel redirects loopback clients of published ports to the relay's own sockets instead.
inns "$NFTFWD" relay --loopback-redirect >"$DIR/relay.log" 2>&1 & RELAY_PID=$!
host_get() { inns curl -sS --max-time 3 http://127.0.0.1:8080/ 2>&1; }
if wait_for 20 eval '[[ $(host_get) == "$PAGE" ]]'; then ok "host: the page through 127.0.0.1:8080 (the relay, conmon holding the port)"
else fail "host: curl 127.0.0.1:8080: $(host_get); relay: $(tail -3 "$DIR/relay.log" | tr '\n' ' ')"; fi
if got=$(host_udp 127.0.0.1 8081) && [[ $got == nftfwd-udp-probe ]]; then ok "host: UDP echo through 127.0.0.1:8081 (the relay, conmon holding the port)"
else fail "host: UDP 127.0.0.1:8081: $got; relay: $(tail -3 "$DIR/relay.log" | tr '\n' ' ')"; fi
rl=$(inns sysctl -n net.ipv4.conf.cnipod0.route_localnet net.ipv4.conf.all.route_localnet net.ipv4.conf.lo.route_localnet 2>&1 | tr '\n' ' ')
[[ $rl == "0 0 0 " ]] && ok "route_localnet still 0 with the relay serving 127.0.0.1" || fail "route_localnet with the relay: $rl"

# 50 published ports: no rule, 50 mappings; the time against the first container's is printed.
before=$(count) rules_before=$(rules) start=$(date +%s%N)
if CID50=$(pod run -d --cgroup-parent "$CGPARENT" --network "$NETWORK" -p 9000-9049:9000-9049 nftfwd-test:v1 /bin/busybox httpd -f -p 9000 -h /www 2>"$DIR/run.err"); then
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    after=$(count)
    if ((after - before == 50 && $(rules) == rules_before)); then ok "podman run -p 9000-9049:9000-9049: 50 mappings, no rule added ($ms ms)"
    else fail "50 ports: mappings $before -> $after, rules $rules_before -> $(rules)"; fi
    if wait_for 20 eval '[[ $(client_get http://192.168.93.1:9000/) == "$PAGE" ]]'; then ok "client: the page through 192.168.93.1:9000"; else fail "client: 9000: $(client_get http://192.168.93.1:9000/)"; fi
    if pod rm -f -t 0 "$CID50" >/dev/null 2>&1 && ((($(count)) == before)); then ok "podman rm -f removes its 50 mappings"; else fail "after podman rm -f: $(count) mappings (want $before)"; fi
else
    fail "podman run -p 9000-9049: $(cat "$DIR/run.err")"
fi
if pod rm -f -t 0 "$CID" >/dev/null 2>&1 && [[ -z $(mapping tcp 8080)$(mapping udp 8081) ]]; then ok "podman rm -f removes 8080 and 8081"; else fail "after podman rm -f: '$(mapping tcp 8080)' '$(mapping udp 8081)'"; fi
kill "$WATCHDOG" 2>/dev/null
((FAILURES == 0)) && { say "ok all podman checks passed"; exit 0; }
say "FAIL $FAILURES check(s) failed"; exit 1
