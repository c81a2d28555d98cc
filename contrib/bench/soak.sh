#!/usr/bin/env bash
# Relay soak: `nftfwd relay --restore-from FILE` under mixed traffic while its mappings churn
# and its table is flushed and restored. Everything happens in two network namespaces this
# script creates and removes (the relay's, and a target's behind a veth); nothing of the host's
# network, ruleset or /etc/nftfwd is touched.
#
#   sudo bash contrib/bench/soak.sh [MINUTES]     (default 10)
#   sudo SOAK_SECONDS=60 bash contrib/bench/soak.sh  (CI: a minute)
#
# Traffic (several client threads, contrib/bench/soak_drive.py): short TCP connections, long
# transfers ended by a half-close (the client shuts its write side, reads the echo to EOF),
# resets (SO_LINGER 0 mid-transfer) and UDP flows, to loopback addresses the relay serves
# (127.0.0.1:PORT, wildcard PORT, [::1]:PORT to the IPv4 target, a range). Every byte that
# comes back is compared with what was sent, and each answer names the target port, so a
# connection relayed to a stale target is caught. Meanwhile mappings are added and removed
# (`nftfwd add/rm --save`) and the table is deleted or the ruleset flushed (`nft`), which the
# relay must put back from FILE.
#
# Exit 0 when nothing unexpected happened, 1 otherwise (a corrupted or cut transfer, a hang,
# a refused connection on a port that was served, an fd left open, the relay dead), 2 when the
# soak itself could not run. The report says what each failure was.
#
# Environment: SOAK_SECONDS (overrides MINUTES), SOAK_CLIENTS (client threads, default 6),
#   SOAK_SEED (random seed, default: time), NFTFWD (the binary; default: the debug build,
#   `swift build --product nftfwd`, made when missing), SOAK_LOG (keep the relay's log there).
set -euo pipefail

[[ $EUID -eq 0 ]] || { echo "soak: run as root (network namespaces, nftables)" >&2; exit 2; }
MINUTES=${1:-10}
[[ $MINUTES =~ ^[1-9][0-9]*$ ]] || { echo "soak: MINUTES must be a whole number of minutes, at least 1 (got '$MINUTES')" >&2; exit 1; }
SECONDS_TOTAL=${SOAK_SECONDS:-$((MINUTES * 60))}
[[ $SECONDS_TOTAL =~ ^[1-9][0-9]*$ ]] || { echo "soak: SOAK_SECONDS must be a whole number of seconds, at least 1 (got '$SECONDS_TOTAL')" >&2; exit 1; }
CLIENTS=${SOAK_CLIENTS:-6}
SEED=${SOAK_SEED:-$(date +%s)}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

if [[ -z ${NFTFWD:-} ]]; then
    source "$REPO/contrib/setup.sh"   # find_swift and build; cds to the repository
    find_swift
    NFTFWD="$(swift build --show-bin-path)/nftfwd"
    [[ -x $NFTFWD ]] || build --product nftfwd >&2 || { echo "soak: cannot build nftfwd" >&2; exit 2; }
fi
# Nothing from the calling shell may redirect what the relay or the CLI write: the saved file
# is ours (NFTFWD_SAVE below), and the log is read as plain "nftfwd relay: ..." lines.
unset NFTFWD_SAVE JOURNAL_STREAM

id=$$
RNS="nftfwd-soak-$id-relay" SNS="nftfwd-soak-$id-target"
WORK=$(mktemp -d /tmp/nftfwd-soak.XXXXXX)
FILE=$WORK/state/mappings.json
cleanup() {
    for ns in "$RNS" "$SNS"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    done
    for ns in "$RNS" "$SNS"; do
        for _ in $(seq 50); do [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break; sleep 0.1; done
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    [[ -n ${SOAK_LOG:-} && -f $WORK/relay.log ]] && cp "$WORK/relay.log" "$SOAK_LOG"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Relay side 198.18.7.1, target 198.18.7.2 (benchmarking range, only inside these namespaces).
ip netns add "$RNS"
ip netns add "$SNS"
ip -n "$RNS" link set lo up
ip -n "$SNS" link set lo up
ip link add "sk$id-r" netns "$RNS" type veth peer name "sk$id-t" netns "$SNS"
ip -n "$RNS" addr add 198.18.7.1/24 dev "sk$id-r"
ip -n "$SNS" addr add 198.18.7.2/24 dev "sk$id-t"
ip -n "$RNS" link set "sk$id-r" up
ip -n "$SNS" link set "sk$id-t" up

ip netns exec "$SNS" python3 "$HERE/soak_echo.py" 198.18.7.2 30001-30004 "$WORK/echo.ready" $((SECONDS_TOTAL + 300)) \
    >"$WORK/echo.log" 2>&1 &
for _ in $(seq 100); do [[ -f $WORK/echo.ready ]] && break; sleep 0.1; done
[[ -f $WORK/echo.ready ]] || { echo "soak: the echo server did not start: $(cat "$WORK/echo.log")" >&2; exit 2; }

# The mappings that stay are saved to FILE before the relay starts (--restore-from needs it).
in_relay() { ip netns exec "$RNS" env NFTFWD_SAVE="$FILE" "$@"; }
T=198.18.7.2
in_relay python3 "$HERE/soak_drive.py" setup --nftfwd "$NFTFWD" --target "$T" || exit 2

# ip netns exec forks: the shell writes its own pid, then becomes the relay.
ip netns exec "$RNS" sh -c 'echo $$ >"$1/relay.pid"; exec "$2" relay --restore-from "$3" --udp-timeout 5' \
    sh "$WORK" "$NFTFWD" "$FILE" >"$WORK/relay.log" 2>&1 &
for _ in $(seq 100); do [[ -s $WORK/relay.pid ]] && break; sleep 0.05; done
RELAY_PID=$(cat "$WORK/relay.pid")

echo "soak: ${SECONDS_TOTAL} s, $CLIENTS clients, seed $SEED, relay pid $RELAY_PID ($NFTFWD)"
# In the background and waited for: a signal to this script then runs the cleanup at once
# (bash runs traps only between foreground commands); the cleanup ends the driver too.
in_relay python3 "$HERE/soak_drive.py" run --nftfwd "$NFTFWD" --file "$FILE" --relay-pid "$RELAY_PID" \
    --relay-log "$WORK/relay.log" --target "$T" --seconds "$SECONDS_TOTAL" --clients "$CLIENTS" --seed "$SEED" &
rc=0
wait $! || rc=$?
exit $rc
