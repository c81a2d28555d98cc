#!/usr/bin/env bash
# End-to-end test of a docker-proxy drop-in with a real Docker engine.
#
#   docker-engine.sh PROXY_PATH            run the test with dockerd --userland-proxy-path PROXY_PATH
#   docker-engine.sh --genuine-proxy-path  print the path of Debian's genuine docker-proxy
#                                          (fetched and extracted first if needed)
#   docker-engine.sh --capture-nat DIR PROXY_PATH|none
#                                          publish ports and save the engine's nat table into DIR
#                                          (none: dockerd --userland-proxy=false); see below
#   docker-engine.sh --publish PROXY_PATH NFTFWD_PATH
#                                          dockerd --iptables=false with NFTFWD_PROXY_PUBLISH=1:
#                                          the proxies publish in nftfwd's table; see below
#   docker-engine.sh --time-ports PROXY_PATH NFTFWD_PATH|iptables
#                                          one line: seconds for docker run -p 9000-9099:9000-9099
#                                          and for its docker rm -f, with the proxies publishing
#                                          (NFTFWD_PATH) or with the engine's iptables rules
#
# Environment: NFTFWD_TEST_CACHE (default /var/cache/nftfwd-test), NFTFWD_TEST_TIMEOUT (bound on
# the run once the cache is ready, cleanup excluded; default 150 s), NFTFWD_TEST_LOGS (a directory
# to copy containerd's and dockerd's logs into).
#
# Debian's docker.io (20.10), containerd and runc are downloaded with `apt-get download` and
# unpacked with `dpkg -x` into $NFTFWD_TEST_CACHE (default /var/cache/nftfwd-test): never
# installed, so nothing starts a daemon on the host or touches its firewall. A tiny image
# (busybox-static's busybox, a static C UDP echo server, one web page) is built once into the
# same cache. Missing host tools (iptables, gcc, libc6-dev, curl, python3) are installed with
# apt-get; nothing else is.
#
# Each run creates its own network namespace and starts containerd and dockerd in it, inside a
# private mount namespace (a tmpfs over /run, so containerd's hard-wired /run/containerd stays
# private) and a private PID namespace (when its init goes, every daemon, shim, proxy and
# container goes with it), with all their state in a temporary directory. Docker's bridge and
# iptables rules therefore exist only in that network namespace; all traffic is to 127.0.0.1
# and [::1] inside it. Everything is removed on exit, also on failure or SIGTERM.
#
# It runs one container publishing 8080:80 (busybox httpd) and 8081:81/udp (echo server) and
# checks, from inside the namespace:
#   - the page over http://127.0.0.1:8080/ and http://[::1]:8080/
#   - a UDP echo over 127.0.0.1:8081 and [::1]:8081
#   - the proxy processes dockerd started are PROXY_PATH (one per port and family)
#   - a second container asking for 8080 is refused
#   - a container asking for a port some other program listens on fails with the proxy's
#     bind error ("address already in use") in `docker run`'s error text
#   - the first container still serves afterwards
# One line per check ("ok ..." / "FAIL ..."); exit status 0 only if every check passed.
#
# With --capture-nat it runs one container publishing 8080:80, 127.0.0.1:8081:81/udp and the
# range 9000-9002:9000-9002, checks the page through 8080, and writes into DIR what
# `nftfwd import iptables` is tested against: nat.txt (`iptables-save -t nat` in the engine's
# namespace), ports.txt (`docker port`) and container-ip.txt.
#
# With --publish (dockerd --iptables=false, NFTFWD_PROXY_PUBLISH=1 in its environment, which it
# passes on to the proxies) a client namespace is linked to the engine's (192.168.92.2 ->
# 192.168.92.1), and it checks: docker run -p 8080:80 -p 8081:81/udp adds no iptables rule and
# `nftfwd ls` shows both mappings (owner nftfwd-proxy:PID); the client reaches both through the
# kernel's DNAT (the mapping's packet counter moves); 127.0.0.1 is still served (by the proxy);
# docker stop removes both mappings; a proxy killed with -9 leaves its mapping, which the next
# docker run on that port takes over.
set -uo pipefail

SELF=$(realpath "$0")

CACHE=${NFTFWD_TEST_CACHE:-/var/cache/nftfwd-test}
DEBS=$CACHE/docker                 # docker.io + containerd + runc + busybox-static, unpacked
IMAGE_TAR=$CACHE/image/nftfwd-test-rootfs-v1.tar
IMAGE=nftfwd-test:v1
PAGE='nftfwd docker-engine test page'
TOTAL_LIMIT=${NFTFWD_TEST_TIMEOUT:-150}   # seconds; the engine part of a run (after the cached setup)

say() { printf '%s\n' "$*"; }
die() { printf 'FAIL %s\n' "$*"; exit 1; }

# Polls `"$@"` every 0.1 s until it succeeds or $1 seconds pass.
wait_for() {
    local limit=$1; shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.1
    done
}

# ---------------------------------------------------------------------------------------------
# Inner mode: runs as PID 1 of the private PID namespace, inside the test's network namespace
# and a private mount namespace. Starts containerd and dockerd, then waits for SIGTERM.
# ---------------------------------------------------------------------------------------------
if [[ ${1:-} == --inner ]]; then
    RUN=$2 PROXY=$3 CGPARENT=$4 MODE=${5:-}
    # "none": no userland proxy; dockerd then DNATs 127.0.0.1 itself (route_localnet on its bridge).
    if [[ $PROXY == none ]]; then PROXY_FLAGS=(--userland-proxy=false); else PROXY_FLAGS=(--userland-proxy-path "$PROXY"); fi
    # publish: no iptables rules; the proxies (which get dockerd's environment) publish in nftfwd.
    if [[ $MODE == publish ]]; then PROXY_FLAGS+=(--iptables=false); export NFTFWD_PROXY_PUBLISH=1; fi
    mount -n -t tmpfs -o mode=755 nftfwd-test-run /run || exit 1   # -n: no /run/mount/utab on the host
    # Kernel modules are host-wide: dockerd finds a modprobe that declines (it only warns).
    mkdir -p "$RUN/bin" && printf '#!/bin/sh\nexit 1\n' >"$RUN/bin/modprobe" && chmod 755 "$RUN/bin/modprobe"
    export PATH=$RUN/bin:$DEBS/usr/bin:$DEBS/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    containerd --config "$RUN/containerd.toml" >"$RUN/containerd.log" 2>&1 &
    cpid=$!
    dpid=
    stop() {
        # Graceful first (dockerd stops its containers and proxies), bounded; whatever is left
        # is killed by the kernel when this PID-namespace init exits.
        local pid
        for pid in $dpid $cpid; do
            kill -TERM "$pid" 2>/dev/null
            wait_for 15 eval "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null
        done
        exit 0
    }
    trap stop TERM INT
    if ! wait_for 20 test -S "$RUN/containerd.sock"; then
        echo "containerd did not create its socket in 20 s" >&2
        stop
    fi
    dockerd --config-file "$RUN/daemon.json" \
        --data-root "$RUN/data" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
        -H "unix://$RUN/docker.sock" --containerd "$RUN/containerd.sock" \
        --storage-driver vfs --cgroup-parent "$CGPARENT" \
        "${PROXY_FLAGS[@]}" >"$RUN/dockerd.log" 2>&1 &
    dpid=$!
    wait "$dpid"   # returns early for the trap
    echo "dockerd exited" >&2
    stop
fi

# ---------------------------------------------------------------------------------------------
# Setup shared by both modes: host tools and the cached Debian binaries and image.
# ---------------------------------------------------------------------------------------------
[[ $(id -u) == 0 ]] || { echo "docker-engine.sh: needs root (network namespaces, dockerd)" >&2; exit 2; }

apt_install() {   # installs the packages given, with a bounded apt-get; only called when missing
    say "# installing $*"
    export DEBIAN_FRONTEND=noninteractive
    timeout 120 apt-get install -y -q --no-install-recommends "$@" >/dev/null ||
        { timeout 120 apt-get update -q >/dev/null && timeout 120 apt-get install -y -q --no-install-recommends "$@" >/dev/null; } ||
        die "apt-get install $* failed"
}

ensure_host_tools() {
    local missing=()
    command -v iptables >/dev/null || missing+=(iptables)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    command -v gcc >/dev/null || missing+=(gcc)
    [[ -e /usr/include/stdio.h ]] || missing+=(libc6-dev)
    command -v nsenter >/dev/null && command -v unshare >/dev/null || missing+=(util-linux)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v ps >/dev/null || missing+=(procps)
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# docker.io, containerd, runc and busybox-static: downloaded and unpacked, never installed.
ensure_debs() {
    [[ -e $DEBS/.complete ]] && return 0
    mkdir -p "$CACHE"
    local dl=$CACHE/.download.$$
    SETUP_TMP+=("$dl" "$DEBS.tmp.$$")
    rm -rf "$dl" "$DEBS.tmp.$$" && mkdir -p "$dl" "$DEBS.tmp.$$"
    say "# fetching docker.io containerd runc busybox-static into $DEBS (apt-get download + dpkg -x)"
    ( cd "$dl" && { timeout 120 apt-get download docker.io containerd runc busybox-static >/dev/null 2>&1 ||
        { timeout 120 apt-get update -q >/dev/null 2>&1 &&
          timeout 120 apt-get download docker.io containerd runc busybox-static >/dev/null 2>&1; }; } ) ||
        { rm -rf "$dl" "$DEBS.tmp.$$"; die "apt-get download docker.io containerd runc busybox-static failed"; }
    local deb
    for deb in "$dl"/*.deb; do
        dpkg -x "$deb" "$DEBS.tmp.$$" || { rm -rf "$dl" "$DEBS.tmp.$$"; die "dpkg -x $deb failed"; }
        dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$DEBS.tmp.$$/.complete"
    done
    rm -rf "$dl" "$DEBS"
    mv "$DEBS.tmp.$$" "$DEBS"
}

# The image's root file system: busybox, a static UDP echo server and one page.
ensure_image_tar() {
    [[ -e $IMAGE_TAR ]] && return 0
    local dir=$CACHE/.image.$$
    SETUP_TMP+=("$dir")
    rm -rf "$dir" && mkdir -p "$dir/root/bin" "$dir/root/www" "$dir/root/tmp" "$(dirname "$IMAGE_TAR")"
    cat >"$dir/udpecho.c" <<'EOF'
/* udpecho PORT: echoes every UDP datagram back to its sender (IPv4, 0.0.0.0:PORT). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 81);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) return 1;
    for (;;) {
        char buf[65536];
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n >= 0) sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}
EOF
    gcc -static -O2 -o "$dir/root/bin/udpecho" "$dir/udpecho.c" || { rm -rf "$dir"; die "gcc -static udpecho.c failed"; }
    cp "$DEBS/bin/busybox" "$dir/root/bin/busybox"
    ln -s busybox "$dir/root/bin/sh"
    printf '%s\n' "$PAGE" >"$dir/root/www/index.html"
    tar -C "$dir/root" -cf "$dir/rootfs.tar" . || { rm -rf "$dir"; die "tar of the image failed"; }
    mv "$dir/rootfs.tar" "$IMAGE_TAR"
    rm -rf "$dir"
}

SETUP_TMP=()   # half-built cache entries, removed on exit whatever happens
setup() {
    trap 'rm -rf "${SETUP_TMP[@]}"' EXIT
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock -w 300 9 || die "cache lock $CACHE/.lock busy for 300 s"
    ensure_host_tools
    ensure_debs
    ensure_image_tar
    flock -u 9
    exec 9>&-
}

if [[ ${1:-} == --genuine-proxy-path ]]; then
    setup >&2
    echo "$DEBS/usr/sbin/docker-proxy"
    exit 0
fi

CAPTURE=
PUBLISH=
TIME_PORTS=
NFTFWD=
if [[ ${1:-} == --capture-nat && $# == 3 ]]; then
    CAPTURE=$(realpath -e "$2" 2>/dev/null) && [[ -d $CAPTURE ]] || { echo "docker-engine.sh: $2 is not a directory" >&2; exit 2; }
    shift 2
elif [[ (${1:-} == --publish || ${1:-} == --time-ports) && $# == 3 ]]; then
    [[ $1 == --publish ]] && PUBLISH=1 || TIME_PORTS=1
    if [[ $3 != iptables || -n $PUBLISH ]]; then
        NFTFWD=$(realpath -e "$3" 2>/dev/null) && [[ -x $NFTFWD ]] || { echo "docker-engine.sh: $3 is not an executable" >&2; exit 2; }
        PUBLISH=${PUBLISH:-time}
    fi
    set -- "$2"
elif [[ $# != 1 || $1 == -* ]]; then
    echo "usage: docker-engine.sh PROXY_PATH | --genuine-proxy-path | --capture-nat DIR PROXY_PATH|none | --publish PROXY_PATH NFTFWD_PATH | --time-ports PROXY_PATH NFTFWD_PATH|iptables" >&2
    exit 2
fi
if [[ -n $CAPTURE && $1 == none ]]; then
    PROXY=none
else
    PROXY=$(realpath -e "$1" 2>/dev/null) && [[ -x $PROXY ]] || { echo "docker-engine.sh: $1 is not an executable" >&2; exit 2; }
fi

# ---------------------------------------------------------------------------------------------
# The test.
# ---------------------------------------------------------------------------------------------
FAILURES=0
ok() { say "ok $*"; }
fail() { say "FAIL $*"; FAILURES=$((FAILURES + 1)); }

ID=nftfwd-dkr-$$-$RANDOM
WATCHDOG=
NS=$ID
CGPARENT=$ID
RUN=
INNER=
HOLDER=
NS_CREATED=
CLIENT_NS=
LOGS_SHOWN=

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' TERM INT   # cleanup runs to its end (each step is bounded), whatever arrives meanwhile
    [[ -n $WATCHDOG ]] && { kill -TERM "$WATCHDOG" 2>/dev/null; wait "$WATCHDOG" 2>/dev/null; }
    [[ -n $HOLDER ]] && { kill -KILL "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; }
    ((rc != 0)) && [[ -z $LOGS_SHOWN && -n $RUN ]] && daemon_logs
    if [[ -n $INNER ]] && kill -0 "$INNER" 2>/dev/null; then
        # Remove containers while dockerd is up (bounded), then stop the namespace's init.
        local ids
        ids=$(dk ps -aq 2>/dev/null)
        [[ -n $ids ]] && dk rm -f $ids >/dev/null 2>&1
        local init
        init=$(cat "/proc/$INNER/task/$INNER/children" 2>/dev/null)
        for pid in $init; do kill -TERM "$pid" 2>/dev/null; done
        if ! wait_for 40 eval "! kill -0 $INNER 2>/dev/null"; then
            for pid in $init; do kill -KILL "$pid" 2>/dev/null; done   # takes the whole PID namespace
            kill -KILL "$INNER" 2>/dev/null
        fi
        wait "$INNER" 2>/dev/null
    fi
    # Nothing may be left in the namespace (proxies, shims): kill what is, by pid.
    if [[ -n $NS_CREATED ]]; then
        local left
        left=$(ip netns pids "$NS" 2>/dev/null)
        if [[ -n $left ]]; then
            for pid in $left; do say "# warning: process left in $NS, killed: $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"; done
            kill -KILL $left 2>/dev/null
            wait_for 10 eval '[[ -z $(ip netns pids "$NS" 2>/dev/null) ]]'
        fi
        ip netns del "$NS" 2>/dev/null || say "# warning: ip netns del $NS failed"
    fi
    [[ -n $CLIENT_NS ]] && { ip netns pids "$CLIENT_NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null; ip netns del "$CLIENT_NS" 2>/dev/null; }
    # Container cgroups under our own parent (cgroupfs driver), deepest first.
    local dirs
    dirs=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name "$CGPARENT" 2>/dev/null)
    if [[ -n $dirs ]]; then
        wait_for 10 eval 'find $dirs -depth -type d -exec rmdir {} + 2>/dev/null; ! find $dirs -maxdepth 0 2>/dev/null | grep -q .' ||
            say "# warning: cgroups left: $dirs"
    fi
    if [[ -n ${NFTFWD_TEST_LOGS:-} && -n $RUN ]]; then   # keep the daemons' logs for a post-mortem
        mkdir -p "$NFTFWD_TEST_LOGS" && cp "$RUN"/*.log "$NFTFWD_TEST_LOGS/" 2>/dev/null
    fi
    if [[ -n $RUN && -d $RUN ]]; then
        # Mounts happen in the private mount namespace only; if any shows here, unmount it first.
        local m
        for m in $(awk -v r="$RUN" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
            umount -l "$m" 2>/dev/null
        done
        if awk -v r="$RUN" 'index($5, r) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
            say "# warning: mounts left under $RUN, not removing it"
        else
            rm -rf "$RUN"
        fi
    fi
    rm -rf "${SETUP_TMP[@]}"
    exit "$rc"
}
trap 'exit 143' TERM
trap 'exit 130' INT

setup
trap cleanup EXIT
START=$SECONDS

# A watchdog bounds the rest of the run: its SIGTERM makes the EXIT trap clean up.
(
    trap 'kill -TERM $sleeper 2>/dev/null; exit 0' TERM
    sleep "$TOTAL_LIMIT" & sleeper=$!
    wait $sleeper
    echo "FAIL run exceeded ${TOTAL_LIMIT} s (NFTFWD_TEST_TIMEOUT), stopping"
    kill -TERM $$
) 2>/dev/null &
WATCHDOG=$!

RUN=$(mktemp -d /tmp/nftfwd-dkr.XXXXXX) || die "mktemp failed"
chmod 755 "$RUN"

# The Docker client from the same package, talking only to our daemon, with its own config dir.
dk() { timeout "${DK_TIMEOUT:-30}" env DOCKER_CONFIG="$RUN/client" "$DEBS/usr/bin/docker" -H "unix://$RUN/docker.sock" "$@"; }
inns() { nsenter --net="/run/netns/$NS" -- "$@"; }

ip netns add "$NS" || die "ip netns add $NS failed"
NS_CREATED=1
ip -n "$NS" link set lo up || die "cannot bring lo up in $NS"
# The kernel path forwards to the containers whatever dockerd decides about ip_forward.
[[ -n $PUBLISH ]] && { ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1 || die "cannot enable forwarding in $NS"; }

cat >"$RUN/containerd.toml" <<EOF
version = 2
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$RUN/containerd/opt"
EOF
cat >"$RUN/daemon.json" <<EOF
{ "deprecated-key-path": "$RUN/key.json" }
EOF

nsenter --net="/run/netns/$NS" -- \
    unshare --mount --propagation private --pid --fork --mount-proc --kill-child -- \
    bash "$SELF" --inner "$RUN" "$PROXY" "$CGPARENT" "${PUBLISH:+publish}" >"$RUN/inner.log" 2>&1 &
INNER=$!

daemon_logs() {
    LOGS_SHOWN=1
    say "# --- inner.log"; sed 's/^/#   /' "$RUN/inner.log" 2>/dev/null
    say "# --- containerd.log (tail)"; tail -n 15 "$RUN/containerd.log" 2>/dev/null | sed 's/^/#   /'
    say "# --- dockerd.log (tail, without grpc chatter)"; grep -v "module=grpc" "$RUN/dockerd.log" 2>/dev/null | tail -n 30 | sed 's/^/#   /'
}

if wait_for 60 eval 'DK_TIMEOUT=5 dk version >/dev/null 2>&1 || ! kill -0 $INNER 2>/dev/null' && kill -0 "$INNER" 2>/dev/null &&
   DK_TIMEOUT=5 dk version >/dev/null 2>&1; then
    ok "dockerd $(dk version -f '{{.Server.Version}}' 2>/dev/null) up in namespace $NS ($((SECONDS - START)) s) with $( [[ $PROXY == none ]] && echo --userland-proxy=false || echo "--userland-proxy-path $PROXY")${PUBLISH:+ --iptables=false NFTFWD_PROXY_PUBLISH=1}"
else
    fail "dockerd did not answer within 60 s"
    daemon_logs
    exit 1
fi

if out=$(dk import "$IMAGE_TAR" "$IMAGE" 2>&1); then
    ok "image $IMAGE imported"
else
    fail "docker import: $out"; daemon_logs; exit 1
fi

http_get() { inns curl -sS -g --max-time 5 "$1" 2>&1; }

# Sends one datagram to HOST PORT from inside the namespace ($UDP_NS, default the engine's) and
# prints the reply (1 s per try, 3 tries: a first datagram can race the container's echo server
# coming up).
udp_ask() {
    nsenter --net="/run/netns/${UDP_NS:-$NS}" -- timeout 10 python3 - "$1" "$2" <<'EOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(1.0)
for attempt in range(3):
    s.sendto(b"nftfwd-udp-probe", (host, port))
    try:
        data, peer = s.recvfrom(65536)
        print(data.decode(errors="replace"), "from", peer[0])
        sys.exit(0)
    except (socket.timeout, ConnectionRefusedError):
        continue
print("no reply")
sys.exit(1)
EOF
}

# Seconds (to 0.1) that "$@" takes; its output goes to $RUN/timed.out.
timed() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >"$RUN/timed.out" 2>&1 || { cat "$RUN/timed.out"; return 1; }
    t1=$(date +%s%N)
    awk -v n=$(( (t1 - t0) / 1000000 )) 'BEGIN { printf "%.2f", n / 1000 }'
}

# --time-ports: one container publishing 100 ports, timed; the engine's rules counted.
if [[ -n $TIME_PORTS ]]; then
    [[ -n $NFTFWD ]] && inns "$NFTFWD" add 9999 10.255.255.1:9 >/dev/null 2>&1 && inns "$NFTFWD" rm 9999 >/dev/null 2>&1
    rules_before=$(inns nft -j list ruleset 2>/dev/null | grep -o '{"rule":' | wc -l)
    run_s=$(DK_TIMEOUT=120 timed dk run -d -p 9000-9099:9000-9099 "$IMAGE" /bin/busybox httpd -f -p 80 -h /www) || { fail "docker run -p 9000-9099: $run_s"; daemon_logs; exit 1; }
    CID=$(cat "$RUN/timed.out")
    rules_after=$(inns nft -j list ruleset 2>/dev/null | grep -o '{"rule":' | wc -l)
    published=0
    [[ -n $NFTFWD ]] && published=$(inns "$NFTFWD" ls --json 2>/dev/null | grep -c '"proto"')
    rm_s=$(DK_TIMEOUT=120 timed dk rm -f "$CID") || { fail "docker rm -f: $rm_s"; daemon_logs; exit 1; }
    say "time-ports mode=$([[ -n $NFTFWD ]] && echo nftfwd || echo iptables) run=$run_s rm=$rm_s rules_added=$((rules_after - rules_before)) nftfwd_mappings=$published"
    exit 0
fi

# --publish: the proxies publish through nftfwd, dockerd writes no rule.
if [[ -n $PUBLISH ]]; then
    CLIENT_NS=$NS-c
    ip netns add "$CLIENT_NS" || { CLIENT_NS=; die "ip netns add $NS-c failed"; }
    ip -n "$CLIENT_NS" link set lo up
    veth=nfp$$
    ip link add "${veth}a" netns "$NS" type veth peer name "${veth}b" netns "$CLIENT_NS" &&
        ip -n "$NS" addr add 192.168.92.1/24 dev "${veth}a" && ip -n "$NS" link set "${veth}a" up &&
        ip -n "$CLIENT_NS" addr add 192.168.92.2/24 dev "${veth}b" && ip -n "$CLIENT_NS" link set "${veth}b" up ||
        die "cannot link the client namespace"
    client_get() { nsenter --net="/run/netns/$CLIENT_NS" -- curl -sS -g --max-time 5 "$1" 2>&1; }
    # "TARGET PACKETS COMMENT" of the published mapping PROTO PORT (nothing if none).
    mapping() {
        inns "$NFTFWD" ls --json 2>/dev/null | python3 -c '
import json, sys
for m in json.load(sys.stdin)["mappings"]:
    if m["proto"] == sys.argv[1] and m["host"] == sys.argv[2] and m["family"] == "ipv4":
        print(m["target"], m["packets"], m["comment"])' "$1" "$2"
    }
    rules() { inns nft -j list ruleset 2>/dev/null | grep -o '{"rule":' | wc -l; }
    # nftfwd's table (its fixed chains) first, so the count shows what publishing adds.
    inns "$NFTFWD" add 9999 10.255.255.1:9 >/dev/null 2>&1 && inns "$NFTFWD" rm 9999 >/dev/null 2>&1
    rules_before=$(rules)
    if CID=$(DK_TIMEOUT=60 dk run -d -p 8080:80 -p 8081:81/udp "$IMAGE" \
            /bin/sh -c '/bin/udpecho 81 & exec /bin/busybox httpd -f -p 80 -h /www' 2>&1); then
        ok "docker run -d -p 8080:80 -p 8081:81/udp"
    else
        fail "docker run -d -p 8080:80 -p 8081:81/udp: $CID"; daemon_logs; exit 1
    fi
    CIP=$(dk inspect -f '{{.NetworkSettings.IPAddress}}' "$CID" 2>/dev/null)
    rules_after=$(rules)
    if ((rules_after == rules_before)) && ! inns iptables-save 2>/dev/null | grep -q DNAT; then
        ok "no rule added ($rules_after nft rules, no iptables DNAT)"
    else
        fail "rules added: $rules_before -> $rules_after; $(inns iptables-save 2>/dev/null | grep DNAT)"
    fi
    tcp=$(mapping tcp 8080) udp=$(mapping udp 8081)
    if [[ $tcp == "$CIP:80 "*" nftfwd-proxy:"* && $udp == "$CIP:81 "*" nftfwd-proxy:"* ]]; then
        ok "nftfwd ls: 8080/tcp -> $CIP:80 and 8081/udp -> $CIP:81, owned by their proxies"
    else
        fail "nftfwd ls: 8080/tcp '$tcp', 8081/udp '$udp' (expected $CIP:80 and $CIP:81, owner nftfwd-proxy:PID)"
    fi
    if wait_for 20 eval '[[ $(client_get "http://192.168.92.1:8080/") == "$PAGE" ]]'; then
        packets=$(mapping tcp 8080 | awk '{print $2}')
        if ((packets > 0)); then ok "the client reaches http://192.168.92.1:8080/ through the kernel's DNAT ($packets packets counted)"
        else fail "the client got the page, but the mapping counted no packet (served by the proxy?)"; fi
    else
        fail "client: curl http://192.168.92.1:8080/: $(client_get "http://192.168.92.1:8080/")"
    fi
    if got=$(UDP_NS=$CLIENT_NS udp_ask 192.168.92.1 8081) && [[ $got == "nftfwd-udp-probe from 192.168.92.1" ]]; then
        ok "client: UDP echo through 192.168.92.1:8081 ($got)"
    else
        fail "client: UDP echo through 192.168.92.1:8081: $got"
    fi
    got=$(http_get "http://127.0.0.1:8080/")
    if [[ $got == "$PAGE" ]]; then ok "curl http://127.0.0.1:8080/ returns the page (the proxy)"; else fail "curl http://127.0.0.1:8080/: $got"; fi
    if out=$(DK_TIMEOUT=60 dk stop "$CID" 2>&1) && wait_for 10 eval '[[ -z $(mapping tcp 8080)$(mapping udp 8081) ]]'; then
        ok "docker stop removes both mappings"
    else
        fail "after docker stop ($out): 8080/tcp '$(mapping tcp 8080)', 8081/udp '$(mapping udp 8081)'"
    fi
    dk rm -f "$CID" >/dev/null 2>&1
    # A proxy killed with -9 cannot remove its mapping; the next proxy for the port takes it over.
    if CID=$(DK_TIMEOUT=60 dk run -d -p 8085:80 "$IMAGE" /bin/busybox httpd -f -p 80 -h /www 2>&1); then
        victim=
        for pid in $(ip netns pids "$NS" 2>/dev/null); do
            tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '-host-ip 0.0.0.0 -host-port 8085' && victim=$pid
        done
        before=$(mapping tcp 8085)
        [[ -n $victim ]] && kill -KILL "$victim"
        dk rm -f "$CID" >/dev/null 2>&1
        left=$(mapping tcp 8085)
        if [[ -n $victim && -n $left && $left == "${before%% *} "*"${before##* }" ]]; then
            ok "proxy $victim killed with -9: its mapping stays (${left##* })"
        else
            fail "after kill -9 of proxy '$victim' and docker rm -f: 8085/tcp '$left' (was '$before')"
        fi
        if CID=$(DK_TIMEOUT=60 dk run -d -p 8085:80 "$IMAGE" /bin/busybox httpd -f -p 80 -h /www 2>&1); then
            CIP=$(dk inspect -f '{{.NetworkSettings.IPAddress}}' "$CID" 2>/dev/null)
            now=$(mapping tcp 8085)
            if [[ $now == "$CIP:80 "* && ${now##* } != "${left##* }" ]] &&
               wait_for 20 eval '[[ $(client_get "http://192.168.92.1:8085/") == "$PAGE" ]]'; then
                ok "the next docker run -p 8085:80 takes the mapping over (${left##* } -> ${now##* }) and serves the client"
            else
                fail "after the next docker run -p 8085:80: 8085/tcp '$now' (left by the killed proxy: '$left'); client: $(client_get "http://192.168.92.1:8085/")"
            fi
        else
            fail "the next docker run -p 8085:80 failed: $CID"
        fi
    else
        fail "docker run -d -p 8085:80: $CID"
    fi
    ((FAILURES > 0)) && { daemon_logs; say "FAIL $FAILURES check(s) failed ($((SECONDS - START)) s)"; exit 1; }
    say "ok all publish checks passed with $PROXY ($((SECONDS - START)) s)"
    exit 0
fi

# The nat table of a Docker host publishing a port, a loopback-bound UDP port and a range.
if [[ -n $CAPTURE ]]; then
    publish=(-p 8080:80 -p 127.0.0.1:8081:81/udp -p 9000-9002:9000-9002)
    if CID=$(DK_TIMEOUT=60 dk run -d "${publish[@]}" "$IMAGE" \
            /bin/sh -c '/bin/udpecho 81 & exec /bin/busybox httpd -f -p 80 -h /www' 2>&1); then
        ok "docker run -d ${publish[*]}"
    else
        fail "docker run -d ${publish[*]}: $CID"; daemon_logs; exit 1
    fi
    # Served through 8080 (DNAT from the host's bridge address; the proxy or DNAT of
    # 127.0.0.1 is not what is checked here): the rules were in place when they were saved.
    GW=$(inns ip -4 -o addr show dev docker0 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
    if [[ -n $GW ]] && wait_for 20 eval '[[ $(http_get "http://$GW:8080/") == "$PAGE" ]]'; then
        ok "curl http://$GW:8080/ returns the page"
    else
        fail "curl http://$GW:8080/ (bridge gateway '$GW'): $(http_get "http://$GW:8080/")"
    fi
    if inns iptables-save -t nat >"$CAPTURE/nat.txt" 2>"$CAPTURE/nat.err" &&
       dk port "$CID" >"$CAPTURE/ports.txt" 2>&1 &&
       dk inspect -f '{{.NetworkSettings.IPAddress}}' "$CID" >"$CAPTURE/container-ip.txt" 2>&1; then
        ok "saved iptables-save -t nat ($(grep -c -- '^-A' "$CAPTURE/nat.txt") rules) and docker port ($(wc -l <"$CAPTURE/ports.txt") lines) into $CAPTURE"
    else
        fail "saving the nat table or docker port: $(cat "$CAPTURE/nat.err" "$CAPTURE/ports.txt" 2>/dev/null)"
    fi
    ((FAILURES > 0)) && { daemon_logs; say "FAIL $FAILURES check(s) failed ($((SECONDS - START)) s)"; exit 1; }
    say "ok capture done ($((SECONDS - START)) s)"
    exit 0
fi

if CID=$(DK_TIMEOUT=60 dk run -d -p 8080:80 -p 8081:81/udp "$IMAGE" \
        /bin/sh -c '/bin/udpecho 81 & exec /bin/busybox httpd -f -p 80 -h /www' 2>&1); then
    ok "docker run -d -p 8080:80 -p 8081:81/udp"
else
    fail "docker run -d -p 8080:80 -p 8081:81/udp: $CID"; daemon_logs; exit 1
fi
CIP=$(dk inspect -f '{{.NetworkSettings.IPAddress}}' "$CID" 2>/dev/null)


# The container itself, directly on the bridge: it must be serving before the proxies are judged.
if [[ -n $CIP ]] && wait_for 20 eval '[[ $(http_get "http://$CIP:80/") == "$PAGE" ]]' &&
   udp_ask "$CIP" 81 >/dev/null; then
    ok "container $CIP serves TCP 80 and UDP 81 directly"
else
    fail "container (address '${CIP}') does not serve TCP 80 / UDP 81 within 20 s"
fi

# Through the proxies. No retries: the proxy was serving when `docker run` returned (it reports
# on fd 3), and the container was checked above.
check_http() {
    local url=$1 got
    got=$(http_get "$url")
    if [[ $got == "$PAGE" ]]; then ok "curl $url returns the page"; else fail "curl $url: $got"; fi
}
check_udp() {
    local host=$1 port=$2 got
    # The reply must come back from the address the client sent to, as docker-proxy's does.
    if got=$(udp_ask "$host" "$port") && [[ $got == "nftfwd-udp-probe from $host" ]]; then
        ok "UDP echo through [$host]:$port ($got)"
    else
        fail "UDP echo through [$host]:$port: $got"
    fi
}
check_http "http://127.0.0.1:8080/"
check_http "http://[::1]:8080/"
check_udp 127.0.0.1 8081
check_udp ::1 8081

# The proxies dockerd started: every one of them is PROXY_PATH; one per port and family.
proxies() {
    local pid
    for pid in $(ip netns pids "$NS" 2>/dev/null); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '-container-port' || continue
        printf '%s %s %s\n' "$pid" "$(readlink "/proc/$pid/exe" 2>/dev/null)" "$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    done
}
list=$(proxies)
wrong=$(awk -v p="$PROXY" '$2 != p' <<<"$list")
want_ok=1
for want in "-proto tcp -host-ip 0.0.0.0 -host-port 8080" "-proto tcp -host-ip :: -host-port 8080" \
            "-proto udp -host-ip 0.0.0.0 -host-port 8081" "-proto udp -host-ip :: -host-port 8081"; do
    grep -q -- "$want" <<<"$list" || { want_ok=; fail "no proxy process with '$want'"; }
done
if [[ -n $list && -z $wrong ]]; then
    ok "$(wc -l <<<"$list") proxy processes, all $PROXY"
else
    fail "proxy processes not all $PROXY:"
fi
[[ -n $wrong || -z $want_ok ]] && sed 's/^/#   /' <<<"$list"
[[ -n $want_ok ]] && ok "one proxy per port and family (tcp/udp x 0.0.0.0/::)"

# Error paths. A second container on 8080: refused (dockerd's own port allocator answers first).
if out=$(DK_TIMEOUT=60 dk run -d -p 8080:80 "$IMAGE" /bin/busybox httpd -f -p 80 -h /www 2>&1); then
    fail "second docker run -p 8080:80 succeeded: $out"
else
    ok "second docker run -p 8080:80 fails (dockerd's port allocator): $(tail -n 1 <<<"$out")"
fi

# A port another program listens on: only the proxy can find that out, and its bind error must
# reach `docker run`'s error text. (nsenter, called directly rather than through a function,
# execs python3, so $HOLDER is python3's own pid.)
nsenter --net="/run/netns/$NS" -- python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("0.0.0.0", 8082)); s.listen(1)
open(sys.argv[1], "w").close()
time.sleep(120)' "$RUN/holder-ready" &
HOLDER=$!
if wait_for 10 test -e "$RUN/holder-ready"; then
    if out=$(DK_TIMEOUT=60 dk run -d -p 8082:80 "$IMAGE" /bin/busybox httpd -f -p 80 -h /www 2>&1); then
        fail "docker run -p 8082:80 succeeded although 0.0.0.0:8082 is taken: $out"
    elif grep -q 'listen tcp4 0.0.0.0:8082: bind: address already in use' <<<"$out"; then
        ok "docker run -p 8082:80 on a taken port fails with the proxy's error: $(tail -n 1 <<<"$out")"
    else
        fail "docker run -p 8082:80 on a taken port fails without the proxy's bind error (listen tcp4 0.0.0.0:8082: bind: address already in use): $out"
    fi
else
    fail "could not hold 0.0.0.0:8082 for the error-path check"
fi
kill -KILL "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null; HOLDER=

# The failures above must not have disturbed the first container's proxies.
check_http "http://127.0.0.1:8080/"
check_udp 127.0.0.1 8081

if ((FAILURES > 0)); then
    daemon_logs
    say "FAIL $FAILURES check(s) failed ($((SECONDS - START)) s)"
    exit 1
fi
say "ok all checks passed with $PROXY ($((SECONDS - START)) s)"
exit 0
