#!/usr/bin/env bash
# Builds the libFuzzer targets (Sources/nftfwd-fuzz, with AddressSanitizer) and runs each for
# SECONDS (default 20), two at a time, on a temporary copy of its seed corpus (contrib/fuzz/corpus/<target>),
# so runs never change the tree. One line per target with its executions; exits 1 if any
# target crashed, leaked, hit a timeout or ran out of memory, and keeps that input in
# .build-fuzz/crashes/ (replay it with: NFTFWD_FUZZ_TARGET=<target> .build-fuzz/release/nftfwd-fuzz FILE).
#   bash contrib/fuzz/run.sh [SECONDS]        NFTFWD_FUZZ_TARGETS="json netlink": only those
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"   # cds to the repository
find_swift
seconds="${1:-20}"
case "$seconds" in ''|*[!0-9]*) echo "usage: contrib/fuzz/run.sh [SECONDS]" >&2; exit 1 ;; esac
read -r -a targets <<< "${NFTFWD_FUZZ_TARGETS:-json state mapping iptables proxyflags netlink conntrack nftnl}"
scratch=.build-fuzz
# lld: gold fails on the -sanitize=fuzzer link of a SwiftPM executable (an internal error
# while reporting a symbol clash with libFuzzer's main).
flags=(-c release --product nftfwd-fuzz --scratch-path "$scratch"
       -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld)
started=$(date +%s)
log="$scratch/build.log"
mkdir -p "$scratch"
if ! swift build "${flags[@]}" >"$log" 2>&1; then
    grep -E 'error:' "$log" | sort -u | head -n 20 >&2
    echo "fuzz: the build failed (whole log: $log)" >&2
    exit 2
fi
bin="$(swift build "${flags[@]}" --show-bin-path)/nftfwd-fuzz"
echo "==> fuzzing ${#targets[@]} target(s), ${seconds}s each (build took $(( $(date +%s) - started ))s)"

work="$(mktemp -d /tmp/nftfwd-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# Two targets at a time by default: each is one process on one core.
jobs="${NFTFWD_FUZZ_JOBS:-2}"

fuzz_one() { # target: runs it, leaves its log and exit status in $work
    local target="$1" status=0
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a parser that balloons fails.
    NFTFWD_FUZZ_TARGET="$target" "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$target.artifacts/" "$work/$target" \
        >"$work/$target.log" 2>&1 || status=$?
    echo "$status" >"$work/$target.status"
}

for target in "${targets[@]}"; do
    seeds="$target"
    [ "$target" = nftnl ] && seeds=netlink   # the same datagrams, through libnftnl
    [ -d "contrib/fuzz/corpus/$seeds" ] || { echo "fuzz $target: no corpus contrib/fuzz/corpus/$seeds" >&2; exit 1; }
    cp -r "contrib/fuzz/corpus/$seeds" "$work/$target"
    mkdir "$work/$target.artifacts"
    ls "$work/$target" | wc -l >"$work/$target.seeds"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    fuzz_one "$target" &
done
wait

failed=0
for target in "${targets[@]}"; do
    status=$(cat "$work/$target.status")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -n 1)
    if [ "$status" = 0 ]; then
        echo "fuzz $target: ${execs:-?} executions in ${seconds}s, corpus $(cat "$work/$target.seeds") -> $(ls "$work/$target" | wc -l) inputs, no crash"
    else
        failed=1
        mkdir -p "$scratch/crashes"
        kept=""
        for f in "$work/$target.artifacts"/*; do
            [ -e "$f" ] || continue
            cp "$f" "$scratch/crashes/$target-$(basename "$f")"
            kept="$kept $scratch/crashes/$target-$(basename "$f")"
        done
        echo "fuzz $target: FAILED (status $status) after ${execs:-?} executions; input kept:${kept:- none}"
        grep -E 'ERROR|SUMMARY|Fatal error|failed:|#[0-9]+ 0x' "$work/$target.log" | head -n 12 | sed 's/^/    /'
    fi
done
exit "$failed"
